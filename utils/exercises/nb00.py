"""Checks of the exercises of notebook 00 (a tour of the IMDB reviews).

1. `loop`: truncation and padding shares per `maxlen`, recomputed from the reviews' lengths.
2. `unk_shares`: the share of [UNK] tokens per vocabulary size, recomputed from the encoded
   reviews.
3. `fading`: the trace of 50 leading zeros in an RNN's final state, checked against what any
   Keras `SimpleRNN` guarantees (orthogonal recurrent kernel, tanh: distances never grow).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import expect

LOOP_COLUMNS = ("truncated reviews", "padding share of the steps", "words read per review")


def _close(a, b, tol=1e-9) -> bool:
    return bool(np.isclose(float(a), float(b), rtol=tol, atol=tol))


def exercise_1(loop: pd.DataFrame, n_tokens) -> None:
    """`loop`, indexed by `maxlen` (100, 200, 400 at least), has the columns of `LOOP_COLUMNS`;
    `n_tokens` are the lengths of the training reviews it was computed from."""
    n = np.asarray(n_tokens)
    expect(isinstance(loop, pd.DataFrame), "`loop` should be a pandas DataFrame indexed by maxlen.")
    missing = [c for c in LOOP_COLUMNS if c not in loop.columns]
    expect(not missing, f"`loop` lacks the column(s) {missing}.")
    expect(
        {100, 200, 400} <= set(loop.index),
        "index `loop` by maxlen, with at least 100, 200 and 400.",
    )
    for maxlen, row in loop.iterrows():
        padding = row["padding share of the steps"]
        expect(
            0 <= padding <= 1,
            f"maxlen {maxlen}: a padding share of {padding:.3f} is not a share "
            "of the steps; how many steps can one review fill, at most?",
        )
        expect(
            _close(row["truncated reviews"], (n > maxlen).mean()),
            f"maxlen {maxlen}: 'truncated reviews' is not the share of reviews that lose words "
            "(which reviews lose words: those longer than maxlen, or also those exactly as long?)",
        )
        words = np.minimum(n, maxlen).mean()
        expect(
            _close(row["words read per review"], words),
            f"maxlen {maxlen}: 'words read per review' is not the mean number of words a padded "
            "row holds.",
        )
        expect(
            _close(padding, 1 - words / maxlen),
            f"maxlen {maxlen}: 'padding share of the steps' should count padded steps among all "
            "steps of all rows, not padded reviews among the reviews.",
        )


def _unk_share(x: np.ndarray, vocab_size: int) -> float:
    """Share of the non-padding tokens that are [UNK] with the `vocab_size` most frequent words."""
    return float(((x == 1) | (x >= vocab_size)).sum() / (x != 0).sum())


def exercise_2(unk_shares: dict, imdb) -> None:
    """`unk_shares` maps vocabulary sizes (20,000 and 2,000) to the share of the training tokens
    that are [UNK]; `imdb` is `load_imdb(...)` with the largest of these sizes. A smaller
    vocabulary keeps the first words of the same ranking, so every id at or above its size
    becomes [UNK] (solutions 00 checks that, token for token)."""
    expect(
        isinstance(unk_shares, dict) and len(unk_shares) >= 2,
        "`unk_shares` should be a dict {vocab_size: share of [UNK]} for at least two sizes.",
    )
    expect(
        max(unk_shares) == imdb.vocab_size,
        f"`imdb` should be loaded with the largest size of `unk_shares` ({max(unk_shares)}).",
    )
    for size, share in unk_shares.items():
        expect(0 < share < 1, f"vocab_size {size}: {share} is not a share.")
        expect(
            _close(share, _unk_share(imdb.x_train, size)),
            f"vocab_size {size}: the share is not the one of the training tokens; count the "
            "[UNK] ids among the tokens of the reviews, and leave the padding out of both counts.",
        )
    sizes = sorted(unk_shares)
    expect(
        unk_shares[sizes[0]] > unk_shares[sizes[-1]],
        "a smaller vocabulary cannot have fewer [UNK].",
    )


def exercise_3(fading: pd.DataFrame) -> None:
    """`fading`: one row per random RNN (3 or more), one column per number of words read after
    the 50 zeros (5, 25 and 150), the distance between the final states with and without them."""
    expect(
        isinstance(fading, pd.DataFrame),
        "`fading` should be a DataFrame: RNNs x words after the padding.",
    )
    expect(
        {5, 25, 150} <= set(fading.columns),
        "`fading` needs the columns 5, 25 and 150 (words after the zeros).",
    )
    expect(len(fading) >= 3, "one random RNN can be unlucky: use at least three (one row each).")
    d = fading[sorted(fading.columns)].to_numpy(dtype=float)
    expect(
        np.isfinite(d).all() and (d[:, 0] > 1e-6).all(),
        "after only 5 words the padding should still show: is it masked, or not read at all?",
    )
    expect(
        (np.diff(d, axis=1) <= 1e-6 + 1e-5 * d[:, :-1]).all(),
        "the difference grows with the words read in some RNN, which a tanh RNN with Keras's "
        "orthogonal recurrent kernel cannot do: are the zeros placed before the words?",
    )
    ratio = fading[150] / fading[5]
    expect(
        ratio.median() < 0.25,
        f"the typical RNN keeps {ratio.median():.0%} of its difference after 150 words: the "
        "zeros should come before the words, and both runs read the same words afterwards.",
    )
