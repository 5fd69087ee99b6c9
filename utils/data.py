"""The IMDB movie reviews (Maas et al., 2011) as padded integer arrays, in one call.

    from utils.data import load_imdb
    imdb = load_imdb(vocab_size=20_000, maxlen=200, padding="post")
    imdb.x_train.shape, imdb.y_train.shape      # (20000, 200), (20000,)
    imdb.decode(imdb.x_train[0])                # the first review, back in words

What happens, in order:

1. **Find the raw reviews.** `data/aclImdb/` is used as it is if present (that is how you
   work offline: extract the archive there), once its four class folders are checked to
   hold 12,500 reviews each. Otherwise an archive in `data/` is used, or the official one
   downloaded with `keras.utils.get_file`; its MD5 is checked and it is extracted under a
   lock, atomically. Nothing a user placed is ever deleted: an archive with an unknown
   checksum is moved aside (and the message says where), one with an alternative checksum
   listed in the environment variable `BIRNN_IMDB_ALTERNATIVE_MD5` is used with a warning.
   `train/unsup` holds unlabelled reviews: ignored.
2. **Read them**: the bytes and order of `keras.utils.text_dataset_from_directory` (label
   0 = neg, 1 = pos), read as plain files; optionally keep a balanced `subset`, and split a
   validation set off the training reviews, seeded and balanced. By default
   (`split="movie"`) all reviews of one movie (named by `train/urls_*.txt`) fall on the
   same side, so validation never scores a model on movies it was trained on;
   `split="review"` is the plain random split. The test set is kept apart (Maas et al.
   drew its movies apart from the training movies: one IMDb id of the 3,581 in test also
   names training reviews).
3. **Vectorize** with `keras.layers.TextVectorization`, adapted on the training text only
   (the validation and test reviews never influence the vocabulary): lower case, `<br />`
   tags and punctuation removed, the `vocab_size` most frequent words kept (index 0 is
   padding, 1 is `[UNK]` for every other word).
4. **Truncate and pad** every review to `maxlen` tokens with `keras.utils.pad_sequences`;
   `padding="post"` puts the zeros after the words, `"pre"` before them.
5. **Cache** the arrays in `data/imdb_cache/` (a NumPy `.npz`, no pickle, one file per
   combination of parameters, written atomically), so the next call takes a second or two.
   Each file also records a fingerprint of the review files (names, sizes, modification
   times): edited or replaced reviews rebuild it, never reuse it. A read-only data folder
   works without the cache, with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
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
#: Names an environment variable: MD5s (comma-separated) of archives that hold the same labelled
#: reviews as the official one, repacked (a CI machine's offline copy): used, with a warning.
ALTERNATIVE_MD5_VARIABLE = "BIRNN_IMDB_ALTERNATIVE_MD5"
CLASS_NAMES = ("neg", "pos")  # label 0, label 1
#: Reviews in each class folder of each split of the real dataset (tests patch it).
REVIEWS_PER_CLASS = 12_500
SPLITS = ("movie", "review")  # how the validation reviews are drawn (see `load_imdb`)
CACHE_VERSION = 2  # bump when the vectorization changes, so old caches are not reused


class ImdbDataError(RuntimeError):
    """The IMDB data is missing, incomplete or corrupt; the message says how to fix it."""


@dataclass
class Splits:
    """Inputs `x_*` and labels `y_*` of the training, validation and test splits (the fields
    every dataset of the collection starts with: `ImdbData`, `utils.tasks.TaggingData`)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass
class ImdbData(Splits):
    """Integer-encoded, padded IMDB reviews and the vocabulary that encodes them.

    `x_*` have shape (reviews, maxlen) and dtype int32, 0 meaning padding;
    `y_*` hold 0 (negative) or 1 (positive); `vocabulary[i]` is the word with index i.
    """

    vocabulary: list[str]
    params: dict
    movie_train: np.ndarray | None = None  # the IMDb id (e.g. "tt0453418") of each review
    movie_val: np.ndarray | None = None

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
            f"maxlen {self.maxlen}, padding {self.params['padding']!r}, "
            f"split {self.params.get('split', 'review')!r})"
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


def _folder_problem(folder: Path) -> tuple[dict, str | None]:
    """The review count of each class folder, and what is wrong with them (or None)."""
    counts = {
        f"{split}/{label}": _count_reviews(folder / split / label)
        for split in ("train", "test")
        for label in CLASS_NAMES
    }
    missing = [name for name, n in counts.items() if n == 0]
    if missing:
        return counts, f"{', '.join(missing)} missing or empty"
    wrong = [f"{name} has {n:,}" for name, n in counts.items() if n != REVIEWS_PER_CLASS]
    if wrong:
        return counts, f"{', '.join(wrong)} of the {REVIEWS_PER_CLASS:,} reviews expected"
    return counts, None


def check_imdb_folder(folder: Path) -> dict:
    """Check that `folder` (an `aclImdb/`) holds all four labelled class folders, complete.

    Returns the review count of each, e.g. `{"train/neg": 12500, ...}`. Raises
    `ImdbDataError` if one is missing, empty, or does not hold `REVIEWS_PER_CLASS`
    reviews (12,500 in the real dataset): an interrupted extraction, or files removed.
    """
    counts, problem = _folder_problem(folder)
    if problem:
        raise ImdbDataError(
            f"The IMDB folder {_shown(folder)} is incomplete ({problem}), perhaps an "
            f"interrupted extraction or deleted files. Nothing was changed. Move that folder "
            f"aside (rename it, e.g. to {FOLDER_NAME}.incomplete) and run again: the archive "
            f"{ARCHIVE_NAME} is then extracted afresh (or downloaded from {IMDB_URL})."
        )
    return counts


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _accepted(path: Path, md5: str) -> tuple[bool, str]:
    """Whether the archive at `path` may be used, and its MD5. Warns for an alternative."""
    got = _md5(path)
    if got == md5:
        return True, got
    alternatives = os.environ.get(ALTERNATIVE_MD5_VARIABLE, "").replace(" ", "").split(",")
    if md5 == IMDB_MD5 and got in alternatives:
        warnings.warn(
            f"{_shown(path)} has MD5 {got}, not the official {IMDB_MD5}: it is a known "
            f"alternative (listed in {ALTERNATIVE_MD5_VARIABLE}) with the same labelled "
            "reviews. Using it.", stacklevel=4,
        )
        return True, got
    return False, got


def _move_aside(path: Path) -> Path:
    """Rename `path` to `<name>.rejected` (or `.rejected-2`, ...) in its folder; return it."""
    aside, n = path.with_name(path.name + ".rejected"), 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.rejected-{n}")
    os.replace(path, aside)  # a rename in the same folder: nothing copied, nothing lost
    return aside


def download_archive(data_dir: Path, url: str | None = None, md5: str | None = None) -> Path:
    """The IMDB archive in `data_dir`: the one already there if its checksum is right,
    else a fresh download, checked.

    An archive already in `data_dir` (placed by the user, or a half-finished download)
    is never deleted: if its MD5 is neither the expected one nor a known alternative
    (listed in the environment variable `BIRNN_IMDB_ALTERNATIVE_MD5`, used with a warning)
    it is moved aside to
    `aclImdb_v1.tar.gz.rejected` and the messages say so. A file this function downloaded
    itself that fails the check is deleted.
    """
    import keras

    url, md5 = url or IMDB_URL, md5 or IMDB_MD5
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / ARCHIVE_NAME
    moved = ""
    if target.exists():
        ok, got = _accepted(target, md5)
        if ok:
            return target
        aside = _move_aside(target)
        moved = (f" The {ARCHIVE_NAME} that was in {_shown(data_dir)}/ had MD5 {got}, not "
                 f"{md5}, so it was moved aside to {_shown(aside)} (not deleted): if it is "
                 f"a copy you trust, check where it came from.")
        warnings.warn(f"{_shown(target)} failed its MD5 check.{moved} Downloading a fresh "
                      "copy.", stacklevel=3)
    try:
        path = Path(keras.utils.get_file(
            fname=ARCHIVE_NAME, origin=url, file_hash=None, cache_dir=str(data_dir),
            cache_subdir="",
        ))
    except Exception as error:  # no network, server down, interrupted download
        raise ImdbDataError(
            f"Could not download the IMDB reviews from {url} ({error}).{moved} Without "
            f"network, download that file elsewhere and put it in {_shown(data_dir)}/, or "
            f"extract it there so that {_shown(data_dir / FOLDER_NAME)}/train exists; then "
            "run again."
        ) from None
    ok, got = _accepted(path, md5)
    if not ok:  # our own download, corrupt: not worth keeping
        path.unlink(missing_ok=True)
        raise ImdbDataError(
            f"The downloaded {ARCHIVE_NAME} failed its MD5 check (got {got}, expected "
            f"{md5}); this download has been deleted.{moved} Run again to download it "
            f"afresh, or download {url} by hand into {_shown(data_dir)}/."
        )
    return path


@contextlib.contextmanager
def file_lock(lock: Path, waiting: str):
    """Hold an exclusive lock on the file `lock` (created if needed) for the `with` block.

    Two runs at once (two notebooks, two terminals, two test workers) then take turns, the
    second printing `waiting` (if given) while it waits. Without `fcntl` (Windows) or a
    writable folder there is no lock: each run still writes atomically, at worst doing the
    work twice.
    """
    try:
        import fcntl

        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock, "a")  # noqa: SIM115 (closed below)
    except (ImportError, OSError):
        yield
        return
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                print(waiting)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        handle.close()  # releases the lock


def _extract(archive: Path, data_dir: Path) -> Path:
    """Extract `archive` next to the data, atomically: a half-done extraction never stays.

    The archive is never deleted: if it cannot be extracted or lacks reviews, the error
    names it and says what to do.
    """
    folder = data_dir / FOLDER_NAME
    print(f"Extracting {_shown(archive)} ...")
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".extracting-") as tmp:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError, EOFError) as error:
            reason = str(error).replace(str(Path(tmp)) + os.sep, "")  # no temporary path
            raise ImdbDataError(
                f"{_shown(archive)} could not be extracted into {_shown(data_dir)}/ "
                f"({reason}). The archive is kept. If it is corrupt, move it aside or "
                f"delete it and run again to download a fresh copy from {IMDB_URL}; if the "
                "disk is full, free some space and run again."
            ) from None
        _, problem = _folder_problem(Path(tmp) / FOLDER_NAME)
        if problem:
            raise ImdbDataError(
                f"{_shown(archive)} does not hold the complete IMDB reviews ({problem}); "
                f"nothing was extracted into {_shown(data_dir)}/ and the archive is kept. "
                f"Replace it with the official archive ({IMDB_URL}, MD5 {IMDB_MD5}) and "
                "run again."
            )
        try:
            os.replace(Path(tmp) / FOLDER_NAME, folder)  # appears complete, or not at all
        except OSError as error:
            if _folder_problem(folder)[1] is None:  # another run got there first: use it
                return folder
            raise ImdbDataError(
                f"Could not move the extracted reviews to {_shown(folder)} "
                f"({error.strerror or error}). Move whatever is at {_shown(folder)} aside "
                "and run again."
            ) from None
    return folder


def ensure_imdb(data_dir: Path | str | None = None, url: str | None = None, md5: str | None = None):
    """Return the `aclImdb/` folder in `data_dir`, downloading and extracting it if needed.

    `url` and `md5` default to the official archive's (`IMDB_URL`, `IMDB_MD5`).
    """
    data_dir = Path(data_dir if data_dir is not None else DATA_DIR).resolve()
    folder = data_dir / FOLDER_NAME
    if not folder.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(data_dir / ".aclImdb.lock", "Waiting for another process extracting "
                        f"the reviews into {_shown(data_dir)}/ ..."):
            if not folder.exists():  # made by another run while this one waited?
                archive = download_archive(data_dir, url=url, md5=md5)
                folder = _extract(archive, data_dir)
    check_imdb_folder(folder)
    return folder


def reviews_fingerprint(folder: Path | str) -> str:
    """A short hash of the labelled review files' names, sizes and modification times.

    Cheap (no file is read: one `stat` per file, well under a second for 50,000 files
    once the file system has them cached) and it changes when a review is edited, added,
    removed or replaced, or when a `urls_*.txt` file changes.
    """
    folder = Path(folder)
    digest = hashlib.sha256()
    for split in ("train", "test"):
        for label in CLASS_NAMES:
            entries = []
            with contextlib.suppress(FileNotFoundError), os.scandir(folder / split / label) as it:
                for entry in it:
                    if entry.name.endswith(".txt"):
                        st = entry.stat()
                        entries.append(f"{entry.name}\t{st.st_size}\t{st.st_mtime_ns}")
            digest.update(f"{split}/{label}\n".encode())
            digest.update("\n".join(sorted(entries)).encode())
            urls = folder / split / f"urls_{label}.txt"
            if urls.exists():
                st = urls.stat()
                digest.update(f"\n{urls.name}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------
# 2.-4. Reading, splitting, vectorizing and padding
# ---------------------------------------------------------------------------------------


def standardize(text):
    """Lower case, `<br />` tags and punctuation replaced by spaces (apostrophes kept)."""
    import tensorflow as tf

    text = tf.strings.lower(text)
    text = tf.strings.regex_replace(text, r"<br\s*/?>", " ")
    return tf.strings.regex_replace(text, r"[^a-z0-9']+", " ")


def review_files(folder: Path) -> list[str]:
    """The paths of one split folder's labelled reviews, in the order `read_reviews` uses:
    `keras.utils.text_dataset_from_directory` with `shuffle=False` reads the class folders in
    the order of `class_names`, each one's `.txt` files sorted by name (a test checks that the
    two orders agree)."""
    return [os.path.join(folder, name, file) for name in CLASS_NAMES
            for file in sorted(os.listdir(os.path.join(folder, name)))
            if file.lower().endswith(".txt")]


def review_labels(folder: Path, paths: list[str] | None = None) -> np.ndarray:
    """The label of each review of one split folder (0 = neg, 1 = pos), in file order, read
    from the folder names alone (no review is opened). `paths` defaults to
    `review_files(folder)`."""
    paths = review_files(folder) if paths is None else paths
    return np.array([CLASS_NAMES.index(Path(path).parent.name) for path in paths],
                    dtype=np.int32)


def read_reviews(folder: Path, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All reviews of one split folder (`train/` or `test/`) as (texts, labels), in file order;
    with `keep` (indices into that order), only those reviews, in the order of `keep`, and only
    their files are read (a subset of a few hundred reviews then takes a fraction of a second).
    The bytes and the order are those of `keras.utils.text_dataset_from_directory` with
    `shuffle=False` (a test compares them), read as plain files: about twice as fast as
    its dataset.

    Every review must be UTF-8 text: one that is not raises `ImdbDataError` naming it.
    """
    paths = review_files(folder)
    keep = np.arange(len(paths)) if keep is None else np.asarray(keep, dtype=int)
    texts = np.array([Path(paths[i]).read_bytes() for i in keep], dtype=object)
    labels = review_labels(folder, paths)[keep]
    for i, text in zip(keep, texts, strict=True):
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as error:
            path = paths[i]
            raise ImdbDataError(
                f"The review {_shown(Path(path))} is not UTF-8 text ({error.reason} at byte "
                f"{error.start}). Save it again as UTF-8, or restore the original: move "
                f"{_shown(Path(folder).parent)} aside and run again to extract the archive."
            ) from None
    return texts, labels


def movie_ids(folder: Path, paths: list[str] | None = None) -> np.ndarray:
    """The IMDb movie id (e.g. `"tt0453418"`) of each review in one split folder.

    In aclImdb, line i of `urls_pos.txt` is the URL of the movie of review `pos/i_*.txt`
    (likewise for neg). `paths` defaults to `review_files(folder)`: one id per review,
    in that order.
    """
    folder = Path(folder)
    paths = review_files(folder) if paths is None else paths
    urls = {}
    for label in CLASS_NAMES:
        file = folder / f"urls_{label}.txt"
        if not file.exists():
            raise ImdbDataError(
                f"{_shown(file)} is missing: it names each review's movie, which the "
                "movie-disjoint validation split needs. Restore it from the archive, or "
                "pass split='review' (a random split: reviews of one movie may then land "
                "in training and validation both)."
            )
        urls[label] = file.read_text(encoding="utf-8").splitlines()
    ids = []
    for path in map(Path, paths):
        lines = urls[path.parent.name]
        index = path.stem.split("_")[0]
        found = (re.search(r"tt\d+", lines[int(index)])
                 if index.isdigit() and int(index) < len(lines) else None)
        if found is None:
            raise ImdbDataError(
                f"No movie for the review {_shown(path)} in "
                f"{_shown(folder / f'urls_{path.parent.name}.txt')} (line {index} should "
                "hold its IMDb URL). Restore both files from the archive, or pass "
                "split='review'."
            )
        ids.append(found.group())
    return np.array(ids, dtype=str)


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


def _movie_split(labels, movies, fraction, rng):
    """Indices (train, validation), all reviews of a movie on one side.

    Movies are visited in a seeded random order, and one joins validation if it does not
    overshoot the target (`fraction` of each class); a second pass then takes any movie
    that brings the two counts closer to it. So the split is as balanced as whole movies
    allow (IMDb shows at most 30 reviews per movie).
    """
    unique, group = np.unique(movies, return_inverse=True)
    per_movie = np.zeros((len(unique), 2), int)
    np.add.at(per_movie, (group, labels), 1)
    target = np.array([round(fraction * np.sum(labels == c)) for c in (0, 1)])
    got, take = np.zeros(2, int), np.zeros(len(unique), bool)
    order = rng.permutation(len(unique))
    for strict in (True, False):
        for g in order:
            if take[g] or np.array_equal(got, target):
                continue
            new = got + per_movie[g]
            closer = np.abs(target - new).sum() < np.abs(target - got).sum()
            if np.all(new <= target) if strict else closer:
                take[g], got = True, new
    is_val = take[group]
    return rng.permutation(np.flatnonzero(~is_val)), rng.permutation(np.flatnonzero(is_val))


def split_indices(labels, fraction, seed_or_rng, split="movie", movies=None):
    """Indices (train, validation) of the training reviews, as `load_imdb` splits them."""
    rng = np.random.default_rng(seed_or_rng)
    if split == "movie":
        return _movie_split(labels, movies, fraction, rng)
    return _stratified_split(labels, fraction, rng)


def _smallest_subset(validation_split: float) -> int | None:
    """The smallest even subset leaving reviews of both classes on both sides, if any."""
    for subset in range(4, 2 * REVIEWS_PER_CLASS + 1, 2):
        n_val = round(validation_split * (subset // 2))
        if 1 <= n_val <= subset // 2 - 1:
            return subset
    return None


def _check_params(vocab_size, maxlen, padding, truncating, subset, validation_split, seed,
                  split):
    from .notebook import check_parameters

    check_parameters(vocab_size=vocab_size, maxlen=maxlen, subset=subset, seed=seed)
    if vocab_size < 3:
        raise ValueError(f"vocab_size must be an integer of at least 3 (padding, [UNK] and "
                         f"one word), got {vocab_size!r}.")
    for name, value in (("padding", padding), ("truncating", truncating)):
        if value not in ("post", "pre"):
            raise ValueError(f"{name} must be 'post' or 'pre', got {value!r}.")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}: 'movie' keeps each "
                         "movie's reviews on one side, 'review' splits at random.")
    if subset is not None and (subset % 2 or subset < 4 or subset > 2 * REVIEWS_PER_CLASS):
        raise ValueError(
            f"subset must be an even number of reviews from 4 up to "
            f"{2 * REVIEWS_PER_CLASS:,} (half of each class), got {subset!r}; use None for "
            "all of them."
        )
    if isinstance(validation_split, bool) or not isinstance(
            validation_split, (int, float, np.integer, np.floating)) or not (
            0 < validation_split < 1):
        raise ValueError(f"validation_split must be between 0 and 1 (exclusive), got "
                         f"{validation_split!r}; 0.2 holds out a fifth of the training reviews.")
    per_class = REVIEWS_PER_CLASS if subset is None else subset // 2
    n_val = round(validation_split * per_class)
    if not 1 <= n_val <= per_class - 1:
        side = "no validation review" if n_val < 1 else "no training review"
        smallest = _smallest_subset(validation_split)
        fix = (f"use subset={smallest} or more" if smallest and subset is not None
               else "use a validation_split such as 0.2")
        raise ValueError(
            f"subset={subset!r} with validation_split={validation_split!r} leaves {side} "
            f"of each class ({per_class:,} per class, {n_val:,} of them for validation): "
            f"{fix}."
        )


def _check_both_classes(ys: dict, subset, validation_split, split) -> None:
    """After the split: each of train and validation must hold both classes."""
    for name in ("train", "val"):
        present = set(np.unique(ys[name]).tolist())
        if present != {0, 1}:
            raise ValueError(
                f"The {split}-wise split with subset={subset!r} and validation_split="
                f"{validation_split!r} left the {name} set with classes {sorted(present)} "
                f"({len(ys[name])} reviews): use a larger subset, or split='review'."
            )


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


_ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "movie_train",
           "movie_val")


def _load_npz(path: Path, params: dict, fingerprint: str | None) -> ImdbData | None:
    """The cached data, or None if the file is unreadable, mismatched or stale.

    Stale: built from review files whose fingerprint differs from `fingerprint` (None
    when the reviews folder is absent: the cache is then the only copy, and is used).
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            if json.loads(str(f["params"])) != params:
                raise ValueError("parameters differ")
            built_from = str(f["fingerprint"])
            arrays = {name: f[name] for name in _ARRAYS}
            vocabulary = f["vocabulary"].tolist()
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        warnings.warn(
            f"Ignoring the corrupt cache file {_shown(path)} ({error}); rebuilding it.",
            stacklevel=3,
        )
        return None
    if fingerprint is not None and built_from != fingerprint:
        warnings.warn(
            f"The cached arrays {_shown(path)} were built from other review files "
            f"(fingerprint {built_from}, now {fingerprint}: reviews edited, added or "
            "replaced); rebuilding them.", stacklevel=3,
        )
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
    split: str = "movie",
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
        split: `"movie"` (default) keeps all reviews of one movie on the same side of the
            train / validation split, balanced as closely as whole movies allow;
            `"review"` draws validation reviews at random (stratified), so a movie's
            reviews may land on both sides and validation then overrates the model.

    Returns:
        An `ImdbData` with `x_train, y_train, x_val, y_val, x_test, y_test`, the
        `vocabulary`, `decode(ids)`, and the movie of each training and validation review
        (`movie_train`, `movie_val`).

    Every parameter is checked first: a wrong one raises a ValueError naming it and the
    fix, before any file is read.
    """
    _check_params(vocab_size, maxlen, padding, truncating, subset, validation_split, seed,
                  split)
    data_dir = Path(data_dir if data_dir is not None else DATA_DIR).resolve()
    params = dict(
        vocab_size=int(vocab_size), maxlen=int(maxlen), padding=padding, truncating=truncating,
        subset=None if subset is None else int(subset), validation_split=float(validation_split),
        seed=int(seed), split=split, version=CACHE_VERSION,
    )
    cache = _cache_path(data_dir, params)
    folder = data_dir / FOLDER_NAME
    fingerprint = reviews_fingerprint(folder) if folder.is_dir() else None
    if use_cache and cache.exists():
        data = _load_npz(cache, params, fingerprint)
        if data is not None:
            if verbose:
                print(f"Loaded {data} from the cache.")
            return data
    if not use_cache:
        return _build(data_dir, params, None, verbose)
    # One process builds a given cache file; another that needs it meanwhile waits, then loads.
    with file_lock(cache.with_suffix(".lock"), f"Waiting for another process building "
                    f"{_shown(cache)} ..."):
        if cache.exists() and (data := _load_npz(cache, params, fingerprint)) is not None:
            if verbose:
                print(f"Loaded {data} from the cache (built meanwhile by another process).")
            return data
        return _build(data_dir, params, cache, verbose)


def _build(data_dir: Path, params: dict, cache: Path | None, verbose: bool) -> ImdbData:
    """Read, split and vectorize the reviews for `params`; write them to `cache` unless None."""
    subset, seed, split = params["subset"], params["seed"], params["split"]
    validation_split = params["validation_split"]
    vocab_size, maxlen = params["vocab_size"], params["maxlen"]
    padding, truncating = params["padding"], params["truncating"]
    folder = ensure_imdb(data_dir)
    fingerprint = reviews_fingerprint(folder)
    if verbose:
        print(f"Reading the reviews in {_shown(folder)} ...")
    rng = np.random.default_rng(seed)
    texts, labels, kept = {}, {}, {}
    for name in ("train", "test"):  # a subset: a balanced sample, and only its files are read
        if subset is not None:
            all_labels = review_labels(folder / name)
            kept[name] = balanced_indices(all_labels, min(subset, len(all_labels)), rng)
        texts[name], labels[name] = read_reviews(folder / name, kept.get(name))
    try:  # the random split needs no movies, but records them when it can
        movies = movie_ids(folder / "train")
    except ImdbDataError:
        if split == "movie":
            raise
        movies = np.full(len(review_files(folder / "train")), "", dtype=str)
    if subset is not None:
        movies = movies[kept["train"]]
    train_idx, val_idx = split_indices(labels["train"], validation_split, rng, split, movies)
    splits = {
        "train": texts["train"][train_idx],
        "val": texts["train"][val_idx],
        "test": texts["test"],
    }
    ys = {"train": labels["train"][train_idx], "val": labels["train"][val_idx],
          "test": labels["test"]}
    _check_both_classes(ys, subset, validation_split, split)
    if verbose:
        print(f"Vectorizing {sum(len(t) for t in splits.values()):,} reviews ...")
    xs, vocabulary = _vectorize(splits, vocab_size, maxlen, padding, truncating)
    data = ImdbData(
        x_train=xs["train"], y_train=ys["train"], x_val=xs["val"], y_val=ys["val"],
        x_test=xs["test"], y_test=ys["test"], vocabulary=list(vocabulary), params=params,
        movie_train=movies[train_idx], movie_val=movies[val_idx],
    )
    if cache is not None:
        try:
            _save_npz(cache, {
                **{f"x_{k}": v for k, v in xs.items()}, **{f"y_{k}": v for k, v in ys.items()},
                "movie_train": data.movie_train, "movie_val": data.movie_val,
                "vocabulary": np.array(vocabulary, dtype=str), "params": json.dumps(params),
                "fingerprint": fingerprint,
            })
        except OSError as error:  # a read-only data folder, a full disk
            warnings.warn(
                f"Could not write the cache in {_shown(cache.parent)}/ "
                f"({error.strerror or error}); continuing without it, so the next call reads "
                "and vectorizes the reviews again. Make that folder writable, or pass "
                "use_cache=False to skip the cache.", stacklevel=3,
            )
            cache = None
    if verbose:
        print(f"Built {data}" + (f", cached in {_shown(cache.parent)}/." if cache else "."))
    return data


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
