"""Checks of the exercises of notebook 07 (two losses or one).

1. `cases`, `hesitating`: the labels must be left OR right; the per-case table is recomputed
   from the two trained models on the test sequences; the hesitating case is found from the
   training labels (the case where neither neighbour alone decides y), and the models must
   show it: every case where a neighbour decides is right, and the plan's summed logit is
   lowest on the hesitating case (both hold with a wide margin at quick size, for every cell).
2. `averaged_at_test_time`, `table`, `unchanged`: the averaged model must output
   sigmoid((z_f + z_b) / 2), with z_f and z_b read from the two models, also when their heads'
   biases are moved far from 0 (a short training leaves them near 0); the table is
   recomputed from the probabilities; the columns that cannot change are found by rescaling
   the logits (a column unchanged by every positive rescaling depends on the sign alone).
3. `reach`, `forward_s`, `backward_s`: the two models must share their embedding's weights
   and nothing else; which loss reaches which group of weights is found with the check's own
   `tf.GradientTape`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import expect

CASE_COLUMNS = ["y", "mean z_f", "mean z_b", "mean z_f + z_b", "plan right"]
SUM, AVERAGE = "sum (the plan)", "average"
METRICS = ["accuracy", "loss", "ECE", "share p < 0.05 or p > 0.95"]
GROUPS = ["shared embedding", "forward RNN and head", "backward RNN and head"]
LOSSES = ["L_f", "L_b", "L_f + L_b"]


def _has(table, index, columns, name: str) -> None:
    expect(isinstance(table, pd.DataFrame), f"`{name}` must be a pandas DataFrame.")
    expect(set(index) <= set(table.index), f"`{name}` must have the rows {list(index)}.")
    expect(set(columns) <= set(table.columns), f"`{name}` must have the columns {list(columns)}.")


# ---------------------------------------------------------------------------------------
# Exercise 1
# ---------------------------------------------------------------------------------------


def _step_logits(model, x) -> np.ndarray:
    """The head's logit at every inner step: the input of the layer named "probability"."""
    from utils.notebook import quiet_retracing
    from utils.probes import sub_model

    with quiet_retracing():
        return sub_model(model, "probability").predict(x, batch_size=256, verbose=0)[..., 0]


def _undecided_case(data) -> tuple[int, int]:
    """The (left, right) case where each neighbour alone leaves y uncertain, from the training
    labels: P(y = 1 | left) and P(y = 1 | right) both far from 0 and 1."""
    from utils.tasks import neighbours

    left, right = neighbours(data.x_train)
    y = data.y_train[..., 0] > 0.5

    def unsure(bits):
        return {a for a in (0, 1) if 0.1 < y[bits == a].mean() < 0.9}

    cases = [(a, b) for a in unsure(left) for b in unsure(right)]
    expect(len(cases) == 1, "The training labels do not have exactly one (left, right) case "
                            "where neither neighbour alone decides y: are they left OR right?")
    return cases[0]


def _recomputed_cases(forward, backward, data) -> pd.DataFrame:
    from utils.tasks import neighbours

    z_f, z_b = _step_logits(forward, data.x_test), _step_logits(backward, data.x_test)
    left, right = neighbours(data.x_test)
    y = data.y_test[..., 0] > 0.5
    rows = {}
    for a in (0, 1):
        for b in (0, 1):
            m = (left == a) & (right == b)
            z = z_f[m] + z_b[m]
            rows[a, b] = {"y": y[m].mean(), "mean z_f": z_f[m].mean(), "mean z_b": z_b[m].mean(),
                          "mean z_f + z_b": z.mean(), "plan right": np.mean((z > 0) == y[m])}
    return pd.DataFrame(rows).T


def exercise_1(cases, hesitating, forward, backward, data) -> None:
    """`cases`: rows (left, right) for the 4 cases, columns "y", "mean z_f", "mean z_b",
    "mean z_f + z_b" (over the test steps of that case) and "plan right" (the share of them
    the glued plan, z_f + z_b > 0, gets right); `hesitating`: the (left, right) case where
    the plan hesitates; `forward`, `backward`: the two trained models of the plan (the head's
    logit feeds the layer "probability"); `data`: the bits with the new labels."""
    from utils.tasks import neighbours

    for split in ("train", "val", "test"):
        left, right = neighbours(getattr(data, f"x_{split}"))
        labels = getattr(data, f"y_{split}")[..., 0] > 0.5
        expect(np.array_equal(labels, (left > 0.5) | (right > 0.5)),
               f"The {split} labels of the data are not the left neighbour OR the right one.")
    expected = _recomputed_cases(forward, backward, data)
    _has(cases, expected.index, CASE_COLUMNS, "cases")
    for column in CASE_COLUMNS:
        given = cases.loc[expected.index, column].to_numpy(float)
        expect(np.allclose(given, expected[column].to_numpy(float), rtol=1e-3, atol=1e-3),
               f"The column '{column}' of `cases` is not what the two models give on the test "
               "steps of each case: the plan's logit is the two heads' logits added up.")
    case = _undecided_case(data)
    expect(tuple(int(v) for v in np.ravel(hesitating)) == case,
           "`hesitating` is not the case where the plan hesitates: for each value of its one "
           "neighbour, what has each head learned to say, and where do the two add up to "
           "little?")
    decided = expected.drop(index=[case])
    expect((decided["plan right"] >= 0.9).all(),
           "The plan misses cases where one neighbour alone decides y: were the two models "
           "trained on the new labels, with the notebook's budget?")
    expect((decided["mean z_f + z_b"] > expected.loc[case, "mean z_f + z_b"] + 0.1).all(),
           "The plan's logit is not lowest on the case where neither neighbour decides: were "
           "the two models trained on the new labels?")


# ---------------------------------------------------------------------------------------
# Exercise 2
# ---------------------------------------------------------------------------------------


def _metrics(p, y) -> dict:
    """The table's columns, from the probabilities `p` of the labels `y`."""
    from utils.maths import expected_calibration_error

    q = np.clip(p, 1e-7, 1 - 1e-7)
    return {"accuracy": np.mean((p > 0.5) == (y > 0.5)),
            "loss": -np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)),
            "ECE": expected_calibration_error(p, y),
            "share p < 0.05 or p > 0.95": np.mean(np.abs(p - 0.5) > 0.45)}


def _sign_only(z, y) -> set:
    """The columns that no positive rescaling of the logits `z` changes (the largest |z| is
    taken from 0.01 to 100, so that a nearly untrained model's logits count too)."""
    from utils.maths import sigmoid

    unit = z / max(float(np.abs(z).max()), 1e-12)
    scaled = [_metrics(sigmoid(k * unit), y) for k in np.logspace(-2, 2, 9)]
    return {c for c in METRICS if np.ptp([s[c] for s in scaled]) == 0}


def _averaged_probabilities(averaged_at_test_time, forward, backward, x, shift=(0.0, 0.0)):
    """The averaged model's probabilities on `x`, built while the two heads' biases are moved
    by `shift` (then put back): a bias far from 0 shows what the model does with it."""
    from utils.notebook import quiet_retracing

    heads = [m.get_layer("head") for m in (forward, backward)]
    kept = [head.get_weights() for head in heads]
    try:
        for head, (w, b), s in zip(heads, kept, shift, strict=True):
            head.set_weights([w, b + s])
        with quiet_retracing():
            model = averaged_at_test_time(forward, backward)
            p = model.predict(x, batch_size=512, verbose=0)
    finally:
        for head, weights in zip(heads, kept, strict=True):
            head.set_weights(weights)
    return np.asarray(p, dtype="float64").reshape(-1)


def exercise_2(averaged_at_test_time, table, unchanged, forward, backward, data) -> None:
    """`averaged_at_test_time(forward, backward)`: (b)'s test-time model with the head's
    weights and bias halved; `table`: rows "sum (the plan)" and "average", the columns of
    `METRICS` on the validation reviews of `data`; `unchanged`: the names of the columns that
    cannot change; `forward`, `backward`: the two trained models of (b) (heads named "head").
    The function is also tried on the two models with their biases moved by (2, 1), so that a
    bias that training left near 0 cannot hide a mistake."""
    from utils.maths import sigmoid
    from utils.probes import logits

    z = (logits(forward, data.x_val).astype("float64")
         + logits(backward, data.x_val).astype("float64"))  # z_f + z_b, the plan's logit
    for shift in ((2.0, 1.0), (0.0, 0.0)):
        p_avg = _averaged_probabilities(averaged_at_test_time, forward, backward, data.x_val,
                                        shift)
        expect(np.allclose(p_avg, sigmoid((z + sum(shift)) / 2), rtol=1e-4, atol=1e-5),
               "The averaged model's probabilities are not those of (b)'s combined head with "
               "its weights and its bias halved: what does your model average, and which "
               "parameters of the head did you halve?")
    _has(table, [SUM, AVERAGE], METRICS, "table")
    y = np.asarray(data.y_val, dtype="float64").reshape(-1)
    slack = 2.0 / len(y) + 1e-6  # a probability on a bin's edge may land on either side
    for row, p in ((SUM, sigmoid(z)), (AVERAGE, p_avg)):
        for column, value in _metrics(p, y).items():
            given = float(table.loc[row, column])
            close = (abs(given - value) <= 1e-3 * abs(value) + 1e-6 if column == "loss"
                     else abs(given - value) <= slack)
            expect(close, f"`table`: '{column}' of the row '{row}' is not what the model gives "
                          "on the validation reviews.")
    names = {unchanged} if isinstance(unchanged, str) else set(unchanged)
    expected = _sign_only(z, y)
    expect(not names - set(METRICS), f"`unchanged` must name columns of the table: {METRICS}.")
    expect(names <= expected,
           "`unchanged` names a column that does change: moving every probability towards 0.5 "
           "moves it.")
    expect(names >= expected,
           "`unchanged` misses a column that cannot change: which columns depend only on the "
           "side of 0.5 each probability falls on?")


# ---------------------------------------------------------------------------------------
# Exercise 3
# ---------------------------------------------------------------------------------------


def _weight_groups(forward, backward) -> dict:
    """The shared embedding's weights and each model's own weights."""
    import keras

    embeddings = [[layer for layer in m.layers if isinstance(layer, keras.layers.Embedding)]
                  for m in (forward, backward)]
    expect(all(len(found) == 1 for found in embeddings),
           "Each model must read its words through one `keras.layers.Embedding` layer.")
    own = [{id(v) for v in m.trainable_weights} for m in (forward, backward)]
    shared = own[0] & own[1]
    table = [{id(v) for v in found[0].trainable_weights} for found in embeddings]
    expect(bool(shared) and table[0] == table[1],
           "The two models do not share their embedding: each reads its words through its own "
           "word vectors (look at which variables the two models have in common).")
    expect(shared == table[0],
           "The two models share weights beyond the embedding: only the word vectors should be "
           "common to both.")
    return {GROUPS[0]: embeddings[0][0].trainable_weights,
            GROUPS[1]: [v for v in forward.trainable_weights if id(v) not in shared],
            GROUPS[2]: [v for v in backward.trainable_weights if id(v) not in shared]}


def exercise_3(reach, forward_s, backward_s, x, y) -> None:
    """`reach`: rows "shared embedding", "forward RNN and head", "backward RNN and head",
    columns "L_f", "L_b", "L_f + L_b", True where the loss reaches every weight of the group;
    `forward_s`, `backward_s`: the two models of (b) built around one embedding; `x`, `y`: a
    batch of reviews and labels to take the gradients on."""
    import keras
    import tensorflow as tf

    groups = _weight_groups(forward_s, backward_s)
    y = np.asarray(y, dtype="float32").reshape(-1, 1)
    bce = keras.losses.BinaryCrossentropy()
    with tf.GradientTape(persistent=True) as tape:
        l_f, l_b = bce(y, forward_s(x, training=True)), bce(y, backward_s(x, training=True))
        losses = dict(zip(LOSSES, (l_f, l_b, l_f + l_b), strict=True))
    expected = pd.DataFrame({loss: {group: all(g is not None for g in tape.gradient(value, w))
                                    for group, w in groups.items()}
                             for loss, value in losses.items()})
    del tape
    _has(reach, GROUPS, LOSSES, "reach")
    for group in GROUPS:
        for loss in LOSSES:
            expect(bool(reach.loc[group, loss]) == bool(expected.loc[group, loss]),
                   f"`reach` is wrong for the loss {loss} and the weights '{group}': is there a "
                   "path from those weights to that loss?")
