"""Tasks other than IMDB sentiment, built from the same reviews or from random bits.

**Sentence boundaries in IMDB reviews**: a word-level task (notebook 06).

The punctuation that ends sentences is stripped from the reviews, and every word is tagged
with whether it sits at a sentence boundary. Which words count is the `target`:

- `"end"`: a sentence ends after this word (the cue is mostly the *next* word: "i", "the");
- `"start"`: a sentence starts at this word (the cue is mostly the *previous* word);
- `"edge"`: either (the word ends a sentence or starts one): the union of the two.

Only boundaries *between two words* count: the first word of a review does not "start" a
sentence and its last word does not "end" one (both are trivial: one direction would know them
from the padding alone). Labels are computed after truncation to `maxlen` words, so a label
never depends on a word the model cannot see.

    from utils.tasks import load_tagging
    data = load_tagging(n_train=4000, n_val=1000, n_test=2000, maxlen=120, target="edge")
    data.x_train.shape, data.y_train.shape     # (4000, 120), (4000, 120): ids, 0/1 labels

Splits: test reviews come from `aclImdb/test` only; training and validation reviews from
`aclImdb/train`, split *by movie* (the `urls_*.txt` files name each review's movie), so no
movie has reviews on both sides of the validation split. `boundary_tagger` builds a tagger
(one direction or both, merged); `fit_and_score` trains it and scores it with the word-level
F1 (`utils.maths.f1_score`) at a threshold chosen on validation.

**The needs-both task** (notebook 07): `neighbour_xor_data` draws random bit sequences whose
label at step t is x[t-1] XOR x[t+1]; neither direction alone can predict it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .data import Splits, ensure_imdb, movie_ids
from .maths import accuracy, best_threshold, f1_score

TARGETS = ("end", "start", "edge")

_BREAK = re.compile(r"<br\s*/?>")
# A run of sentence-ending marks ("...", "?!"), except a period between two digits (7.5/10)
# or after a common abbreviation (mr. dr. ...): those do not end a sentence.
_ABBREVIATIONS = ("mr", "mrs", "ms", "dr", "st", "vs", "jr", "sr", "etc")
_SENTENCE_END = re.compile(r"[.!?]+")
_NOT_A_WORD = re.compile(r"[^a-z0-9']+")


def _sentence_pieces(text: str) -> list[str]:
    """Split lower-cased `text` at runs of . ! ? (not a decimal point, not after mr. etc.)."""
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        run = match.group()
        before = text[max(0, match.start() - 1): match.start()]
        after = text[match.end(): match.end() + 1]
        if run == "." and before.isdigit() and after.isdigit():
            continue  # 7.5: a decimal point
        words_before = _NOT_A_WORD.split(text[start: match.start()].strip())
        if run == "." and words_before and words_before[-1] in _ABBREVIATIONS:
            continue  # "mr. smith": not the end of a sentence
        pieces.append(text[start: match.start()])
        start = match.end()
    pieces.append(text[start:])
    return pieces


def split_sentences(text: str) -> list[list[str]]:
    """The sentences of a review as lists of words: lower case, `<br />` removed, runs of
    . ! ? end a sentence, every other punctuation mark dropped (apostrophes kept), empty
    sentences dropped."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}; decode bytes first.")
    text = _BREAK.sub(" ", text.lower())
    sentences = []
    for piece in _sentence_pieces(text):
        words = [w for w in _NOT_A_WORD.split(piece) if w.strip("'")]
        if words:
            sentences.append(words)
    return sentences


def tag_words(text: str, target: str = "end", maxlen: int | None = None):
    """The words of a review (punctuation stripped) and one 0/1 label per word.

    `target` is "end", "start" or "edge" (see the module docstring). With `maxlen`, only the
    first `maxlen` words are kept, and the labels are those of the kept words alone.
    Returns (words, labels) with labels an int8 array as long as words.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}.")
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, int)
                               or maxlen < 1):
        raise ValueError(f"maxlen must be a positive integer or None, got {maxlen!r}.")
    sentences = split_sentences(text)
    words = [w for sentence in sentences for w in sentence]
    ends = np.zeros(len(words), np.int8)  # 1 where a sentence ends after the word
    position = 0
    for sentence in sentences:
        position += len(sentence)
        ends[position - 1] = 1
    if maxlen is not None:
        words, ends = words[:maxlen], ends[:maxlen]
    if len(ends):
        ends[-1] = 0  # the review's last (kept) word: no word follows, not a boundary
    starts = np.zeros_like(ends)
    starts[1:] = ends[:-1]  # a sentence starts right after one ends
    labels = {"end": ends, "start": starts, "edge": ends | starts}[target]
    return words, labels


# ---------------------------------------------------------------------------------------
# Reading and splitting the raw reviews
# ---------------------------------------------------------------------------------------


def review_table(folder: Path, split: str):
    """Every labelled review file of `folder/split` with its movie, as a DataFrame
    (columns path, sentiment, movie); the movie is the IMDb id that `utils.data.movie_ids`
    reads from the review's line of `urls_<label>.txt`."""
    import pandas as pd

    paths = [(str(path), sentiment) for sentiment in ("neg", "pos")
             for path in sorted((Path(folder) / split / sentiment).glob("*.txt"))]
    table = pd.DataFrame(paths, columns=["path", "sentiment"])
    table["movie"] = movie_ids(Path(folder) / split, list(table.path))
    return table


def split_by_movie(movies, n_train: int, n_val: int, rng: np.random.Generator):
    """Row indices (train, val): movies are shuffled and dealt whole to validation until it
    holds at least `n_val` reviews; then `n_train` and `n_val` reviews are drawn from each side."""
    movies = np.asarray(movies)
    unique = rng.permutation(np.unique(movies))
    counts = dict(zip(*np.unique(movies, return_counts=True), strict=True))
    val_movies, total = set(), 0
    for movie in unique:
        if total >= n_val:
            break
        val_movies.add(movie)
        total += counts[movie]
    is_val = np.isin(movies, list(val_movies))
    train_pool, val_pool = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    if n_train > len(train_pool):
        raise ValueError(f"n_train={n_train} is more than the {len(train_pool)} training "
                         "reviews left after validation; lower n_train or n_val.")
    return (rng.choice(train_pool, n_train, replace=False),
            rng.choice(val_pool, n_val, replace=False))


@dataclass
class TaggingData(Splits):
    """Padded word ids (0 = padding) and per-word 0/1 labels for train, val and test, with
    the words of every test review (for plots) and the vocabulary (index 0 padding, 1 [UNK])."""

    test_words: list
    test_ends: np.ndarray  # the test words after which a sentence ends ("end" labels)
    vocabulary: list
    params: dict = field(default_factory=dict)

    def summary(self):
        """One row per split: reviews, real words, boundary words and their share."""
        import pandas as pd

        rows = []
        for name in ("train", "val", "test"):
            x, y = getattr(self, f"x_{name}"), getattr(self, f"y_{name}")
            words = int((x > 0).sum())
            rows.append({"split": name, "reviews": len(x), "words": words,
                         "boundary words": int(y.sum()), "share": y.sum() / words})
        return pd.DataFrame(rows).set_index("split")


def _check_counts(**counts):
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def encode(tagged, vocabulary: list, maxlen: int):
    """Word ids and labels, post-padded to `maxlen` (0 = padding, 1 = [UNK])."""
    index = {word: i for i, word in enumerate(vocabulary)}
    x = np.zeros((len(tagged), maxlen), np.int32)
    y = np.zeros((len(tagged), maxlen), np.int8)
    for row, (words, labels) in enumerate(tagged):
        x[row, : len(words)] = [index.get(w, 1) for w in words]
        y[row, : len(words)] = labels
    return x, y


def load_tagging(n_train=4000, n_val=1000, n_test=2000, maxlen=120, vocab_size=10_000,
                 target="end", seed=0, data_dir=None, verbose=True) -> TaggingData:
    """The tagging task's data: `n_train`/`n_val` reviews from aclImdb/train (split by movie),
    `n_test` from aclImdb/test, each cut to its first `maxlen` words and tagged (`tag_words`).
    The vocabulary (`TextVectorization`, `vocab_size` entries) is adapted on training words only."""
    import keras

    _check_counts(n_train=n_train, n_val=n_val, n_test=n_test, maxlen=maxlen,
                  vocab_size=vocab_size)
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}.")
    folder = ensure_imdb(data_dir)
    rng = np.random.default_rng(seed)
    train_table, test_table = review_table(folder, "train"), review_table(folder, "test")
    train_rows, val_rows = split_by_movie(train_table["movie"], n_train, n_val, rng)
    test_rows = rng.choice(len(test_table), min(n_test, len(test_table)), replace=False)

    def tagged(table, rows):
        return [tag_words(Path(table["path"][i]).read_text(encoding="utf-8"), target, maxlen)
                for i in rows]

    parts = {"train": tagged(train_table, train_rows), "val": tagged(train_table, val_rows),
             "test": tagged(test_table, test_rows)}
    vectorizer = keras.layers.TextVectorization(max_tokens=vocab_size, standardize=None,
                                                split="whitespace")
    vectorizer.adapt([" ".join(words) for words, _ in parts["train"]], batch_size=512)
    vocabulary = list(vectorizer.get_vocabulary())
    arrays = {name: encode(part, vocabulary, maxlen) for name, part in parts.items()}
    test_words = [words for words, _ in parts["test"]]
    ends = [tag_words(Path(test_table["path"][i]).read_text(encoding="utf-8"), "end", maxlen)
            for i in test_rows]
    data = TaggingData(*arrays["train"], *arrays["val"], *arrays["test"], test_words=test_words,
                       test_ends=encode(ends, vocabulary, maxlen)[1], vocabulary=vocabulary,
                       params=dict(n_train=n_train, n_val=n_val, n_test=n_test, maxlen=maxlen,
                                   vocab_size=vocab_size, target=target, seed=seed))
    if verbose:
        print(f"{n_train:,} train / {n_val:,} validation reviews (split by movie), "
              f"{len(test_rows):,} test reviews; target {target!r}, maxlen {maxlen}, "
              f"vocabulary {len(vocabulary):,}")
    return data


# ---------------------------------------------------------------------------------------
# Training and scoring a tagger
# ---------------------------------------------------------------------------------------


def boundary_tagger(variant: str, vocab_size: int, embed_dim: int, units: int,
                    cell: str = "simple_rnn", fused: bool = False):
    """A word-level tagger: embedding, the recurrent part `variant` names, a sigmoid per word.

    `variant` is "forward only", "backward only" (its outputs flipped back into reading order
    by `ReverseTime`, so output t belongs to word t) or a merge mode of the hand-made wrapper
    ("concat", "sum", "ave", "mul"); `cell` names the recurrent layer (`utils.models.CELLS`);
    `fused=True` (SimpleRNN only) trains on notebook 08's engine, which computes the same.
    """
    import keras

    from .layers import ReverseTime
    from .models import recurrent_part

    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(vocab_size, embed_dim, mask_zero=True)(inputs)
    direction = {"forward only": "forward", "backward only": "backward"}.get(variant, "both")
    x = recurrent_part(direction, units, merge_mode=variant if direction == "both" else None,
                       cell=cell, return_sequences=True, fused=fused)(x)
    if direction == "backward":
        x = ReverseTime()(x)  # outputs back into reading order
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))



def fit_and_score(model, data: TaggingData, epochs: int, batch_size: int = 64,
                  learning_rate: float = 1e-3):
    """Train `model` (Adam, gradients clipped to norm 1, binary cross-entropy on the real
    words only: padding has sample weight 0), choose its threshold on validation (the F1-best
    of `best_threshold`), then predict the test reviews once.

    Returns (row, test probabilities): row holds val_f1, threshold, test_f1, test_accuracy
    (at that threshold), params and seconds (training time)."""
    import time

    import keras

    from .notebook import build_training_state, quiet_retracing

    model.compile(keras.optimizers.Adam(learning_rate, clipnorm=1.0), "binary_crossentropy")
    build_training_state(model)  # fit traces its step once, not twice (no metrics to build)
    start = time.perf_counter()
    model.fit(data.x_train, data.y_train[..., None].astype("float32"),
              sample_weight=(data.x_train > 0).astype("float32"), epochs=epochs,
              batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - start
    with quiet_retracing():
        p_val = model.predict(data.x_val, batch_size=512, verbose=0)[..., 0]
        threshold, val_f1 = best_threshold(data.y_val, p_val, data.x_val > 0)
        p_test = model.predict(data.x_test, batch_size=512, verbose=0)[..., 0]
    mask = data.x_test > 0
    row = dict(val_f1=val_f1, threshold=threshold,
               test_f1=f1_score(data.y_test, p_test, mask, threshold),
               test_accuracy=accuracy(data.y_test, p_test, mask, threshold),
               params=model.count_params(), seconds=round(seconds, 1))
    return row, p_test


def recall_by_kind(data: TaggingData, probabilities, threshold) -> dict:
    """Share of the test sentence ends (last words) and of the sentence starts (first words)
    that a model tags as boundaries: which side of a boundary it finds."""
    ends = data.test_ends.astype(bool)
    starts = np.zeros_like(ends)
    starts[:, 1:] = ends[:, :-1]
    tagged = np.asarray(probabilities) >= threshold
    return {"ends found": float(tagged[ends].mean()), "starts found": float(tagged[starts].mean())}


def gap_table(results, one_direction=("forward only", "backward only")):
    """Per seed: the test F1 of the best bidirectional and of the best one-direction variant
    and their difference, `gap`. Best = the highest mean **validation** F1 over seeds (`val_f1`):
    the test reviews pick nothing, they only score the two picked."""
    means = results.groupby("variant")["val_f1"].mean()
    one = means[means.index.isin(one_direction)].idxmax()
    both = means[~means.index.isin(one_direction)].idxmax()
    table = results.pivot(index="seed", columns="variant", values="test_f1")[[both, one]]
    table["gap"] = table[both] - table[one]
    return table, both, one


# ---------------------------------------------------------------------------------------
# The needs-both task: each step's label is the XOR of its two neighbours (notebook 07)
# ---------------------------------------------------------------------------------------


def neighbour_xor_data(length: int = 30, n_train: int = 2000, n_val: int = 500,
                       n_test: int = 1000, seed: int = 0) -> SimpleNamespace:
    """Random bit sequences whose label at each step needs both sides together.

    Each sequence has `length + 2` random bits `x_0 ... x_{T+1}` (T = `length`), shape
    `(n, T + 2, 1)`. The labels are for the T inner steps: `y_t = x_{t-1} XOR x_{t+1}`, shape
    `(n, T, 1)`. The forward direction at step t has read `x_0 ... x_t`: it knows the left
    neighbour but not the right one, and the label is independent of everything it has read
    (`x_{t+1}` is a fair coin). The backward direction at step t, likewise, knows only the right
    neighbour. A model must crop the first and last step of its per-step outputs (e.g.
    `keras.layers.Cropping1D((1, 1))`) to line them up with the labels.

    Returns an object with x_/y_ train, val and test arrays (float32), and `length`.
    """
    for name, value in (("length", length), ("n_train", n_train), ("n_val", n_val),
                        ("n_test", n_test)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}: pass e.g. "
                             f"{name}=30.")
    rng = np.random.default_rng(seed)

    def split(n):
        x = rng.integers(0, 2, size=(n, length + 2)).astype("float32")
        y = np.logical_xor(x[:, :-2], x[:, 2:]).astype("float32")
        return x[..., None], y[..., None]

    (xt, yt), (xv, yv), (xs, ys) = split(n_train), split(n_val), split(n_test)
    return SimpleNamespace(x_train=xt, y_train=yt, x_val=xv, y_val=yv, x_test=xs, y_test=ys,
                           length=length)


def neighbours(x) -> tuple[np.ndarray, np.ndarray]:
    """For `neighbour_xor_data` inputs: the left and the right neighbour bit of every inner
    step, each of shape `(n, T)` (so that `left XOR right` is the label)."""
    bits = np.asarray(x)[..., 0]
    return bits[:, :-2], bits[:, 2:]
