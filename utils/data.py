"""The IMDB movie reviews (Maas et al., 2011) as padded integer arrays, in one call.

    from utils.data import load_imdb
    imdb = load_imdb(vocab_size=20_000, maxlen=200, padding="post")
    imdb.x_train.shape, imdb.y_train.shape      # (20000, 200), (20000,)
    imdb.decode(imdb.x_train[0])                # the first review, back in words

What happens, in order:

1. **Find the raw reviews.** `data/aclImdb/` is used as it is if present (that is how you
   work offline: extract the archive there). Otherwise the official archive is downloaded
   into `data/` with `keras.utils.get_file`, its MD5 checked, and extracted.
   `train/unsup` holds unlabelled reviews, not a class: it is ignored.
2. **Read them** with `keras.utils.text_dataset_from_directory` (label 0 = neg, 1 = pos),
   optionally keep a balanced `subset`, and split a validation set off the training
   reviews (stratified, seeded). The test set is kept apart.
3. **Vectorize** with `keras.layers.TextVectorization`, adapted on the training text only
   (the validation and test reviews never influence the vocabulary): lower case, `<br />`
   tags and punctuation removed, the `vocab_size` most frequent words kept (index 0 is
   padding, 1 is `[UNK]` for every other word).
4. **Truncate and pad** every review to `maxlen` tokens with `keras.utils.pad_sequences`;
   `padding="post"` puts the zeros after the words, `"pre"` before them.
5. **Cache** the arrays in `data/imdb_cache/` (a NumPy `.npz`, no pickle, one file per
   combination of parameters, written atomically), so the next call takes a second or two.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .paths import DATA_DIR, ROOT

if TYPE_CHECKING:
    import pandas as pd

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_MD5 = "7c2ac02c03563afcf9b574c7e56c153a"
ARCHIVE_NAME = "aclImdb_v1.tar.gz"
FOLDER_NAME = "aclImdb"
CLASS_NAMES = ("neg", "pos")  # label 0, label 1
CACHE_VERSION = 1  # bump when the vectorization changes, so old caches are not reused


class ImdbDataError(RuntimeError):
    """The IMDB data is missing, incomplete or corrupt; the message says how to fix it."""


@dataclass
class ImdbData:
    """Integer-encoded, padded IMDB reviews and the vocabulary that encodes them.

    `x_*` have shape (reviews, maxlen) and dtype int32, 0 meaning padding;
    `y_*` hold 0 (negative) or 1 (positive); `vocabulary[i]` is the word with index i.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    vocabulary: list[str]
    params: dict

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    @property
    def maxlen(self) -> int:
        return self.x_train.shape[1]

    def decode(self, ids, show_padding: bool = False) -> str:
        """Turn one row of token ids back into words (padding dropped unless asked for)."""
        return decode(ids, self.vocabulary, show_padding=show_padding)

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{name} {len(getattr(self, 'y_' + name)):,}" for name in ("train", "val", "test")
        )
        return (
            f"ImdbData({sizes} reviews; vocab_size {self.vocab_size:,}, "
            f"maxlen {self.maxlen}, padding {self.params['padding']!r})"
        )


def decode(ids, vocabulary, show_padding: bool = False) -> str:
    """Words for the token ids in `ids`; padding (0) is dropped, or shown as `_` if asked."""
    words = []
    for i in np.asarray(ids).tolist():
        if i == 0 and not show_padding:
            continue
        words.append("_" if i == 0 else vocabulary[i])
    return " ".join(words)


# ---------------------------------------------------------------------------------------
# 1. Finding (or downloading) the raw reviews
# ---------------------------------------------------------------------------------------


def _shown(path: Path) -> str:
    """A path as the user should read it: relative to the project when inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _count_reviews(folder: Path) -> int:
    return sum(1 for _ in folder.glob("*.txt")) if folder.is_dir() else 0


def check_imdb_folder(folder: Path) -> dict:
    """Check that `folder` (an `aclImdb/`) holds all four labelled class folders.

    Returns the review count of each, e.g. `{"train/neg": 12500, ...}`. Raises
    `ImdbDataError` if one is missing or empty, or if the counts differ (the dataset is
    balanced, so unequal counts mean an interrupted extraction).
    """
    counts = {
        f"{split}/{label}": _count_reviews(folder / split / label)
        for split in ("train", "test")
        for label in CLASS_NAMES
    }
    problem = None
    if any(n == 0 for n in counts.values()):
        missing = [name for name, n in counts.items() if n == 0]
        problem = f"{', '.join(missing)} missing or empty"
    elif len(set(counts.values())) > 1:
        problem = "unequal class folders " + ", ".join(f"{k}: {v:,}" for k, v in counts.items())
    if problem:
        raise ImdbDataError(
            f"The IMDB folder {_shown(folder)} looks incomplete ({problem}), probably an "
            f"interrupted extraction. Delete that folder and run again: the archive "
            f"{ARCHIVE_NAME} is then extracted afresh (or downloaded from {IMDB_URL})."
        )
    return counts


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_archive(data_dir: Path, url: str | None = None, md5: str | None = None) -> Path:
    """Download the IMDB archive into `data_dir` (unless a verified copy is there) and check it.

    A cached archive whose checksum is wrong is downloaded again by `keras.utils.get_file`;
    a freshly downloaded one that fails the check is deleted, never reused.
    """
    import keras

    url, md5 = url or IMDB_URL, md5 or IMDB_MD5
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / ARCHIVE_NAME
    if target.exists() and _md5(target) != md5:
        print(f"{_shown(target)} failed its MD5 check (a half-finished or corrupt download): "
              "deleting it and downloading it again.")
        target.unlink()
    try:
        path = keras.utils.get_file(
            fname=ARCHIVE_NAME, origin=url, file_hash=md5, hash_algorithm="md5",
            cache_dir=str(data_dir), cache_subdir="",
        )
    except ValueError as error:  # downloaded, but the checksum is wrong
        target.unlink(missing_ok=True)
        raise ImdbDataError(
            f"The downloaded {ARCHIVE_NAME} failed its MD5 check (expected {md5}); it has "
            f"been deleted. Run again to download it afresh, or download {url} by hand "
            f"into {_shown(data_dir)}/."
        ) from error
    except Exception as error:  # no network, server down, interrupted download
        raise ImdbDataError(
            f"Could not download the IMDB reviews from {url} ({error}). Without network, "
            f"download that file elsewhere and put it in {_shown(data_dir)}/, or extract it "
            f"there so that {_shown(data_dir / FOLDER_NAME)}/train exists; then run again."
        ) from None
    return Path(path)


def _extract(archive: Path, data_dir: Path) -> Path:
    """Extract `archive` next to the data, atomically: a half-done extraction never stays."""
    folder = data_dir / FOLDER_NAME
    print(f"Extracting {_shown(archive)} ...")
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".extracting-") as tmp:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError, EOFError) as error:
            archive.unlink(missing_ok=True)
            raise ImdbDataError(
                f"{_shown(archive)} could not be extracted ({error}); it has been deleted. "
                "Run again to download it afresh."
            ) from None
        check_imdb_folder(Path(tmp) / FOLDER_NAME)
        os.replace(Path(tmp) / FOLDER_NAME, folder)  # appears complete, or not at all
    return folder


def ensure_imdb(data_dir: Path | str | None = None, url: str | None = None, md5: str | None = None):
    """Return the `aclImdb/` folder in `data_dir`, downloading and extracting it if needed.

    `url` and `md5` default to the official archive's (`IMDB_URL`, `IMDB_MD5`).
    """
    data_dir = Path(data_dir if data_dir is not None else DATA_DIR).resolve()
    folder = data_dir / FOLDER_NAME
    if not folder.exists():
        archive = download_archive(data_dir, url=url, md5=md5)
        folder = _extract(archive, data_dir)
    check_imdb_folder(folder)
    return folder


# ---------------------------------------------------------------------------------------
# 2.-4. Reading, splitting, vectorizing and padding
# ---------------------------------------------------------------------------------------


def standardize(text):
    """Lower case, `<br />` tags and punctuation replaced by spaces (apostrophes kept)."""
    import tensorflow as tf

    text = tf.strings.lower(text)
    text = tf.strings.regex_replace(text, r"<br\s*/?>", " ")
    return tf.strings.regex_replace(text, r"[^a-z0-9']+", " ")


def read_reviews(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """All reviews of one split folder (`train/` or `test/`) as (texts, labels), in file order."""
    import keras

    dataset = keras.utils.text_dataset_from_directory(
        folder, labels="inferred", class_names=list(CLASS_NAMES),
        batch_size=1024, shuffle=False, verbose=False,
    )
    texts, labels = [], []
    for text_batch, label_batch in dataset.as_numpy_iterator():
        texts.append(text_batch)
        labels.append(label_batch)
    return np.concatenate(texts), np.concatenate(labels).astype(np.int32)


def balanced_indices(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` indices, half from each class, drawn at random; returned in random order."""
    picked = [rng.choice(np.flatnonzero(labels == c), n // 2, replace=False) for c in (0, 1)]
    return rng.permutation(np.concatenate(picked))


def _stratified_split(labels, fraction, rng):
    """Indices (train, validation): `fraction` of each class goes to validation."""
    val = np.concatenate([
        rng.permutation(np.flatnonzero(labels == c))[: round(fraction * np.sum(labels == c))]
        for c in (0, 1)
    ])
    is_val = np.zeros(len(labels), bool)
    is_val[val] = True
    return rng.permutation(np.flatnonzero(~is_val)), rng.permutation(val)


def _check_params(vocab_size, maxlen, padding, truncating, subset, validation_split):
    def positive_int(name, value, least):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"{name} must be an integer of at least {least}, got {value!r}.")

    positive_int("vocab_size", vocab_size, 3)
    positive_int("maxlen", maxlen, 1)
    for name, value in (("padding", padding), ("truncating", truncating)):
        if value not in ("post", "pre"):
            raise ValueError(f"{name} must be 'post' or 'pre', got {value!r}.")
    if subset is not None:
        positive_int("subset", subset, 4)
        if subset % 2 or subset > 25_000:
            raise ValueError(
                f"subset must be an even number of reviews up to 25,000 (half of each class), "
                f"got {subset!r}; use None for all of them."
            )
    if not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be between 0 and 1, got {validation_split!r}.")


def _vectorize(splits: dict, vocab_size, maxlen, padding, truncating):
    """Adapt TextVectorization on the training text, then encode and pad every split."""
    import keras
    import tensorflow as tf

    vectorizer = keras.layers.TextVectorization(
        max_tokens=vocab_size, standardize=standardize, output_mode="int", ragged=True
    )
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(splits["train"]).batch(512))
    arrays = {}
    for name, texts in splits.items():
        ragged = vectorizer(tf.constant(texts))
        arrays[name] = keras.utils.pad_sequences(
            ragged.to_list(), maxlen=maxlen, padding=padding, truncating=truncating,
            dtype="int32", value=0,
        )
    return arrays, vectorizer.get_vocabulary()


# ---------------------------------------------------------------------------------------
# 5. The cache, and the one function a notebook calls
# ---------------------------------------------------------------------------------------


def _cache_path(data_dir: Path, params: dict) -> Path:
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return data_dir / "imdb_cache" / f"imdb_{key}.npz"


def _save_npz(path: Path, arrays: dict) -> None:
    """Write `arrays` to `path` atomically: a crash leaves the old file or none, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_npz(path: Path, params: dict) -> ImdbData | None:
    """The cached data, or None (and the file deleted) if it is unreadable or mismatched."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if json.loads(str(f["params"])) != params:
                raise ValueError("parameters differ")
            names = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
            arrays = {name: f[name] for name in names}
            vocabulary = f["vocabulary"].tolist()
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        warnings.warn(
            f"Ignoring the corrupt cache file {_shown(path)} ({error}); rebuilding it.",
            stacklevel=3,
        )
        path.unlink(missing_ok=True)
        return None
    return ImdbData(**arrays, vocabulary=vocabulary, params=params)


def load_imdb(
    vocab_size: int = 20_000,
    maxlen: int = 200,
    padding: str = "post",
    truncating: str = "post",
    subset: int | None = None,
    validation_split: float = 0.2,
    seed: int = 0,
    data_dir: Path | str | None = None,
    use_cache: bool = True,
    verbose: bool = True,
) -> ImdbData:
    """The IMDB reviews as integer-encoded, padded train / validation / test arrays.

    Args:
        vocab_size: size of the vocabulary, padding (0) and `[UNK]` (1) included.
        maxlen: every review is cut or padded to this many tokens.
        padding: `"post"` (zeros after the words) or `"pre"` (zeros before them).
        truncating: which end of a long review is cut: `"post"` keeps its beginning,
            `"pre"` its end.
        subset: if given, a balanced random sample of this many training reviews and as
            many test reviews (half positive, half negative), for quick experiments.
        validation_split: fraction of the training reviews held out for validation.
        seed: seeds the subset and the validation split (not the models).
        data_dir: the data folder (default: the project's `data/`).
        use_cache: read and write the `.npz` cache in `data_dir/imdb_cache/`.
        verbose: print what is happening.

    Returns:
        An `ImdbData` with `x_train, y_train, x_val, y_val, x_test, y_test`, the
        `vocabulary` and `decode(ids)`.
    """
    _check_params(vocab_size, maxlen, padding, truncating, subset, validation_split)
    data_dir = Path(data_dir if data_dir is not None else DATA_DIR).resolve()
    params = dict(
        vocab_size=int(vocab_size), maxlen=int(maxlen), padding=padding, truncating=truncating,
        subset=None if subset is None else int(subset), validation_split=float(validation_split),
        seed=int(seed), version=CACHE_VERSION,
    )
    cache = _cache_path(data_dir, params)
    if use_cache and cache.exists():
        data = _load_npz(cache, params)
        if data is not None:
            if verbose:
                print(f"Loaded {data} from the cache.")
            return data

    folder = ensure_imdb(data_dir)
    if verbose:
        print(f"Reading the reviews in {_shown(folder)} ...")
    texts, labels = {}, {}
    for split in ("train", "test"):
        texts[split], labels[split] = read_reviews(folder / split)
    rng = np.random.default_rng(seed)
    if subset is not None:
        for split in ("train", "test"):
            keep = balanced_indices(labels[split], min(subset, len(labels[split])), rng)
            texts[split], labels[split] = texts[split][keep], labels[split][keep]
    train_idx, val_idx = _stratified_split(labels["train"], validation_split, rng)
    splits = {
        "train": texts["train"][train_idx],
        "val": texts["train"][val_idx],
        "test": texts["test"],
    }
    ys = {"train": labels["train"][train_idx], "val": labels["train"][val_idx],
          "test": labels["test"]}
    if verbose:
        print(f"Vectorizing {sum(len(t) for t in splits.values()):,} reviews ...")
    xs, vocabulary = _vectorize(splits, vocab_size, maxlen, padding, truncating)
    data = ImdbData(
        x_train=xs["train"], y_train=ys["train"], x_val=xs["val"], y_val=ys["val"],
        x_test=xs["test"], y_test=ys["test"], vocabulary=list(vocabulary), params=params,
    )
    if use_cache:
        _save_npz(cache, {
            **{f"x_{k}": v for k, v in xs.items()}, **{f"y_{k}": v for k, v in ys.items()},
            "vocabulary": np.array(vocabulary, dtype=str), "params": json.dumps(params),
        })
    if verbose:
        print(f"Built {data}" + (f", cached in {_shown(cache.parent)}/." if use_cache else "."))
    return data


def clear_cache(data_dir: Path | str | None = None) -> None:
    """Delete the vectorized-array cache (not the reviews)."""
    data_dir = Path(data_dir if data_dir is not None else DATA_DIR)
    shutil.rmtree(data_dir / "imdb_cache", ignore_errors=True)


def reviews_frame(data_dir: Path | str | None = None) -> pd.DataFrame:
    """Every labelled review as a row: split, label (0/1), sentiment, text and n_tokens.

    `n_tokens` counts the words after `standardize`, i.e. what `TextVectorization` sees
    before any truncation or padding.
    """
    import pandas as pd
    import tensorflow as tf

    folder = ensure_imdb(data_dir)
    frames = []
    for split in ("train", "test"):
        texts, labels = read_reviews(folder / split)
        tokens = tf.strings.split(standardize(tf.constant(texts)))
        frames.append(pd.DataFrame({
            "split": split,
            "label": labels,
            "sentiment": np.array(CLASS_NAMES)[labels],
            "text": [t.decode("utf-8") for t in texts],
            "n_tokens": tokens.row_lengths().numpy(),
        }))
    return pd.concat(frames, ignore_index=True)
