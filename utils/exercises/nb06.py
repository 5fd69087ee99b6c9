"""Checks of the exercises of notebook 06 (sentence boundaries).

1, 2. `closer`, `scores`, `probs` on the target "end" (1) or "start" (2): every test F1 is
   recomputed from the test probabilities at the row's threshold; the one-direction tagger
   named must be the one that has read the word that tells the label, which the check finds
   from the training reviews (which neighbour, the next or the previous word, carries more
   information about the label); at full size, two seeds or more, and whether that tagger
   leads the other one in every seed is printed (`measured`: an outcome, not a check).
3. `gap`: recomputed from `edge_scores` (concat minus the better one-direction tagger, per
   cell and seed); at full size, whether the GRU's gap stays clearly positive in every seed is
   printed.
4. `at_half`: F1 at 0.5, the share of real words marked at 0.5 and the true share, recomputed
   from the test probabilities; at full size, whether every tagger marks fewer words than
   there are boundaries is printed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import expect, measured

ONE_DIRECTION = ("forward only", "backward only")


def _mutual_information(labels, words) -> float:
    """I(label; word) in nats, from the joint counts."""
    joint = pd.crosstab(words, labels).to_numpy(float)
    joint = joint / joint.sum()
    outer = joint.sum(axis=1, keepdims=True) @ joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return float((joint[nonzero] * np.log(joint[nonzero] / outer[nonzero])).sum())


def _reader_of_the_cue(data) -> str:
    """The one-direction tagger that has read the more informative neighbour of each word."""
    x, y = data.x_train, data.y_train
    inner = (x[:, 1:-1] != 0) & (x[:, 2:] != 0)  # words with a real word on both sides
    labels = y[:, 1:-1][inner]
    previous, following = x[:, :-2][inner], x[:, 2:][inner]
    if _mutual_information(labels, following) > _mutual_information(labels, previous):
        return "backward only"  # h^b_t has read the next word
    return "forward only"  # h^f_t has read the previous word


def _f1_recomputed(scores, probs, data) -> None:
    from utils import maths

    expect(isinstance(scores, pd.DataFrame) and {"threshold", "test_f1"} <= set(scores.columns),
           "The scores must be a DataFrame with the columns 'threshold' and 'test_f1'.")
    mask = data.x_test > 0
    for key, row in scores.iterrows():
        expect(key in probs, f"No test probabilities for {key} in `probs`.")
        f1 = maths.f1_score(data.y_test, probs[key], mask, row["threshold"])
        expect(abs(f1 - row["test_f1"]) < 1e-6,
               f"The test F1 of {key} is not the F1 of the boundary class over the real words of "
               "the test reviews at that row's threshold.")


def _one_direction_answer(closer, scores, probs, data, target: str, full_size: bool) -> None:
    expect(data.params.get("target") == target,
           f"Train and score the taggers on target '{target}'.")
    _f1_recomputed(scores, probs, data)
    variants = set(scores.index.get_level_values(0))
    expect(set(ONE_DIRECTION) | {"concat"} <= variants,
           "The scores must be indexed by (variant, seed), with forward only, backward only and "
           "concat.")
    reader = _reader_of_the_cue(data)
    expect(closer == reader,
           f"`closer` is not the one-direction tagger that sees the cue of the target "
           f"'{target}': which word tells it, and which direction has read that word at step t?")
    if full_size:
        f1 = scores["test_f1"]
        other = next(v for v in ONE_DIRECTION if v != reader)
        lead = (f1.xs(reader) - f1.xs(other)).dropna()
        expect(len(lead) >= 2, "Train both one-direction taggers from the same two seeds or "
               "more.")
        measured((lead > 0.03).all(), f"{reader} minus {other}, test F1, every seed", "> 0.03 "
                 "(if not, is each tagger's output aligned with its word: ReverseTime after the "
                 "backward RNN?)", ", ".join(f"{v:+.3f}" for v in lead))


def exercise_1(closer, scores, probs, data, full_size: bool) -> None:
    """Target "end". `closer`: the name of the one-direction tagger that comes close to the
    bidirectional ones; `scores`: index (variant, seed), columns 'threshold' and 'test_f1';
    `probs`: {(variant, seed): test probabilities}; `data`: the tagging data it used."""
    _one_direction_answer(closer, scores, probs, data, "end", full_size)


def exercise_2(closer, scores, probs, data, full_size: bool) -> None:
    """Target "start": as exercise 1."""
    _one_direction_answer(closer, scores, probs, data, "start", full_size)


def exercise_3(gap, edge_scores, full_size: bool) -> None:
    """`edge_scores`: index (cell, variant, seed), column 'test_f1', on target "edge", for the
    cells "simple_rnn" and "gru"; `gap`: a Series indexed by (cell, seed), concat's test F1
    minus the better one-direction tagger's."""
    expect(isinstance(gap, pd.Series), "`gap` must be a pandas Series indexed by (cell, seed).")
    f1 = edge_scores["test_f1"]
    expect({"simple_rnn", "gru"} <= set(f1.index.get_level_values(0)),
           "`edge_scores` must hold both cells, 'simple_rnn' and 'gru'.")
    table = f1.unstack("variant")
    expected = table["concat"] - table[list(ONE_DIRECTION)].max(axis=1)
    given = gap.reindex(expected.index)
    expect(np.allclose(given.to_numpy(float), expected.to_numpy(float), atol=1e-9),
           "`gap` is not concat's test F1 minus that of the better one-direction tagger, for "
           "each cell and seed of `edge_scores`.")
    if full_size:
        gru = gap.xs("gru")
        expect(len(gru) >= 2, "Train the GRU taggers from two seeds or more.")
        measured((gru > 0.03).all(), "the GRU taggers' gap, every seed", "> 0.03 (the "
                 "solutions' run)", ", ".join(f"{v:+.3f}" for v in gru))


def exercise_4(at_half, probs, data, full_size: bool) -> None:
    """`at_half`: one row per variant, columns 'F1 at 0.5', 'marked at 0.5' (share of the
    real test words with p >= 0.5) and 'true share' (of boundary words among them), from
    `probs` ({variant: test probabilities}) on `data`."""
    from utils import maths

    columns = ["F1 at 0.5", "marked at 0.5", "true share"]
    expect(isinstance(at_half, pd.DataFrame) and set(columns) <= set(at_half.columns),
           f"`at_half` must be a DataFrame with the columns {columns}.")
    mask = data.x_test > 0
    share = data.y_test[mask].mean()
    for variant, p in probs.items():
        row = at_half.loc[variant]
        expect(abs(row["F1 at 0.5"] - maths.f1_score(data.y_test, p, mask, 0.5)) < 1e-6,
               f"'F1 at 0.5' of {variant}: the F1 of the boundary class over all the real words "
               "of the test reviews, pooled, at the threshold 0.5.")
        expect(abs(row["marked at 0.5"] - (p[mask] >= 0.5).mean()) < 1e-9,
               f"'marked at 0.5' of {variant}: the share of the real test words with p >= 0.5.")
        expect(abs(row["true share"] - share) < 1e-9,
               "'true share': the share of boundary words among the real test words.")
    if full_size:
        fewer = at_half["marked at 0.5"] < at_half["true share"]
        measured(fewer.all(), "taggers marking fewer words at 0.5 than there are boundaries",
                 f"all {len(fewer)}", f"{int(fewer.sum())} of {len(fewer)}")
