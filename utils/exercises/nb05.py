"""Checks of the exercises of notebook 05 (what each direction sees).

1. `moves`: how each direction's running prediction moves when the stand-in for the other
   direction's term is 0 instead of its mean; recomputed from the model, line by line.
2. `probe` and `curves`: the probe must be a fitted logistic regression of the label on the
   forward states (its log-loss is compared with the optimum, found by Newton's method on
   every step of the training reviews), and the accuracy-by-fraction table is recomputed
   from the model, the probe and the test reviews.
3. `gru_bi`, `x_pre`, `bad_side`: section 2's reading checks are rerun on the GRU model;
   the pre-padded reviews must hold the same words in the same order; the masked model must
   not see the padding side and the unmasked ones must; at full size, whether the masked GRU
   beats the unmasked one by far in every seed is printed (a measured outcome, not a check).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from utils.maths import sigmoid

from . import expect, measured

LINES = ("forward", "backward")
READERS = ("head's forward half", "linear probe")
BAD_SIDE = ("GRU, no mask", "SimpleRNN, no mask", "GRU, masked")


def _logit(p):
    return np.log(p) - np.log1p(-p)


def _has(table, index, columns, name: str) -> None:
    expect(isinstance(table, pd.DataFrame), f"`{name}` must be a pandas DataFrame.")
    expect(set(index) <= set(table.index), f"`{name}` must have the rows {list(index)}.")
    expect(set(columns) <= set(table.columns), f"`{name}` must have the columns {list(columns)}.")


def exercise_1(moves, model, ids, stand_in) -> None:
    """`moves`: rows "forward", "backward" (the two lines); columns "shift of the logit" (the
    line's logit with the stand-in 0 minus with the mean stand-in `stand_in`) and "steps that
    change side" (real words of `ids` whose prediction is on the other side of 0.5)."""
    from utils import probes

    _has(moves, LINES, ["shift of the logit", "steps that change side"], "moves")
    real = np.asarray(ids) != 0
    mean = probes.direction_predictions(model, ids, stand_in=stand_in)
    zero = probes.direction_predictions(model, ids)
    for line, p_mean, p_zero in zip(LINES, mean, zero, strict=True):
        shift = float(np.median(_logit(p_zero[real]) - _logit(p_mean[real])))
        given = float(moves.loc[line, "shift of the logit"])
        expect(abs(given - shift) <= 1e-3 * max(1.0, abs(shift)),
               f"The {line} line's shift of the logit is not what the model gives. Which "
               "direction's term does the stand-in replace in that line, and in which order "
               "did you subtract (stand-in 0 minus mean stand-in)?")
        flips = int(((p_mean[real] > 0.5) != (p_zero[real] > 0.5)).sum())
        expect(int(moves.loc[line, "steps that change side"]) == flips,
               f"The {line} line's count of steps that change side of 0.5 does not match the "
               "model: count the real words (ids != 0) whose prediction is above 0.5 with one "
               "stand-in and not with the other.")


_STATES: dict = {}


def _forward_states(model, ids):
    """The forward states at every step of `ids` (kept for the last model and arrays asked)."""
    from utils import probes
    from utils.notebook import quiet_retracing

    ids = np.asarray(ids)
    key = (id(model), ids.shape, int(ids.sum()), int(ids[:, ::7].sum()))  # model and reviews
    if key not in _STATES:
        if len(_STATES) > 2:
            _STATES.clear()
        with quiet_retracing():
            states = probes.step_states_model(model).predict(ids, batch_size=256, verbose=0)[0]
        _STATES[key] = np.asarray(states)
    return _STATES[key]


def _best_log_loss(states, labels, weights, steps: int = 25) -> float:
    """The lowest weighted log-loss of a logistic regression of `labels` on `states`, by
    Newton's method (a tiny ridge keeps it defined when the classes separate)."""
    x = np.hstack([states.astype("float64"), np.ones((len(states), 1))])
    theta, w = np.zeros(x.shape[1]), weights / weights.sum()
    for _ in range(steps):
        p = sigmoid(x @ theta)
        gradient = x.T @ (w * (p - labels)) + 1e-6 * theta
        hessian = (x * (w * p * (1 - p))[:, None]).T @ x + 1e-6 * np.eye(x.shape[1])
        theta -= np.linalg.solve(hessian, gradient)
    return _log_loss(sigmoid(x @ theta), labels, w)


def _log_loss(p, labels, weights) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    log_likelihood = labels * np.log(p) + (1 - labels) * np.log1p(-p)
    return float(-(weights * log_likelihood).sum() / weights.sum())


def exercise_2(probe, curves, model, imdb, stand_in) -> None:
    """`probe`: a model from a forward state (`units` numbers) to p(positive), fitted on
    forward states at random steps of `imdb`'s training reviews; `curves`: rows "fraction
    read" 0.1, ..., 1.0, columns "head's forward half" and "linear probe", the accuracy of
    each reader on the test reviews (the head's half with the mean stand-in `stand_in`)."""
    import keras

    from utils import probes

    units = probes.head_halves(model)[0].shape[0]
    expect(isinstance(probe, keras.Model), "`probe` must be a Keras model (e.g. keras.Sequential "
           f"of an Input of {units} numbers and a Dense(1, activation='sigmoid')), fitted with "
           "`fit`; another library's logistic regression can become one by copying its weights.")
    shapes = tuple(probe.input_shape), tuple(probe.output_shape)
    expect(shapes == ((None, units), (None, 1)),
           f"`probe` must read one forward state ({units} numbers) and return one probability.")
    _has(curves, [], READERS, "curves")
    h_test = _forward_states(model, imdb.x_test)
    w_f, _, b = probes.head_halves(model)
    p_head = sigmoid(h_test @ w_f + b + stand_in["backward"])
    p_probe = probe.predict(h_test.reshape(-1, units), batch_size=8192, verbose=0)
    p_probe = p_probe.reshape(p_head.shape)
    for reader, p in zip(READERS, (p_head, p_probe), strict=True):
        table = probes.accuracy_by_fraction_read(p, p, imdb.x_test, imdb.y_test)
        expected = table.query("direction == 'forward'").set_index("fraction read")["accuracy"]
        given = curves[reader].reindex(expected.index, method="nearest", tolerance=1e-6)
        one_review = 1.5 / len(imdb.x_test)  # a prediction at 0.5 may round either way
        expect(np.allclose(given.to_numpy(float), expected.to_numpy(), atol=one_review),
               f"The column '{reader}' of `curves` is not that reader's accuracy on the test "
               "reviews after reading 10 %, ..., 100 % of each review (forward direction).")
    x_some = imdb.x_train[:800]  # every step of 800 training reviews
    h_train = _forward_states(model, x_some)
    real = x_some != 0
    states = h_train[real]
    labels = np.repeat(np.asarray(imdb.y_train[:800], "float64"), real.sum(axis=1))
    weights = np.repeat(1 / real.sum(axis=1), real.sum(axis=1))  # every review counts once
    p_states = probe.predict(states, batch_size=8192, verbose=0)[:, 0]
    fitted = _log_loss(p_states, labels, weights)
    best = _best_log_loss(states, labels, weights)
    expect(fitted <= best + 0.02,
           f"`probe` is not a fitted logistic regression of the label on the forward states of "
           f"every step: its log-loss there is {fitted:.3f}, the best linear read-out's "
           f"{best:.3f}. Which states did you fit it on, and did the fit converge?")


def _pre_padding_ok(x_pre, x_test) -> bool:
    """Each row of `x_pre` is its row of `x_test` with the zeros moved before the words."""
    x_pre, x_test = np.asarray(x_pre), np.asarray(x_test)
    if x_pre.shape != x_test.shape:
        return False
    words_last = np.argsort(x_test != 0, axis=1, kind="stable")  # zeros first, order kept
    return bool(np.array_equal(x_pre, np.take_along_axis(x_test, words_last, axis=1)))


def exercise_3(gru_bi, bad_side, x_pre, x_test, full_size: bool) -> None:
    """`gru_bi`: the notebook's bidirectional model with `cell="gru"`; `x_pre`: the test
    reviews `x_test` with their padding moved before the words; `bad_side`: one row per
    variant and seed, index (variant, seed), variants "GRU, no mask", "SimpleRNN, no mask",
    "GRU, masked" (forward only, post-padding), columns "test accuracy" and "post vs pre gap"
    (largest |p(x_test) - p(x_pre)|). `full_size`: the run is large enough for the models to
    learn (the solutions' full mode)."""
    import keras

    from utils import probes

    bi = probes.bidirectional_layer(gru_bi)
    grus = [isinstance(layer, keras.layers.GRU) for layer in (bi.forward_layer, bi.backward_layer)]
    expect(all(grus),
           "`gru_bi` must be the notebook's bidirectional model built with cell='gru'.")
    words = np.asarray(x_test[0])[np.asarray(x_test[0]) != 0][:30]
    reading = probes.reading_check(gru_bi, words, positions=[0, len(words) // 2])
    expect(reading.iloc[:, 2:4].to_numpy().max() < 1e-5 and reading.iloc[:, 4].max() < 1e-6
           and (reading.iloc[:, 5] > 0).all(), "Section 2's reading checks fail on `gru_bi`.")
    expect(_pre_padding_ok(x_pre, x_test),
           "`x_pre` must hold each test review's words in the same order, with all of its "
           "padding before them (compare a row of `x_pre` with the same row of `x_test`).")
    _has(bad_side, [], ["test accuracy", "post vs pre gap"], "bad_side")
    indexed = isinstance(bad_side.index, pd.MultiIndex)
    expect(indexed and set(bad_side.index.get_level_values(0)) == set(BAD_SIDE),
           f"`bad_side` must be indexed by (variant, seed), with the variants {list(BAD_SIDE)}.")
    gap = bad_side["post vs pre gap"]
    expect((gap.xs("GRU, masked") < 1e-4).all(),
           "The masked GRU sees the padding side: is its embedding built with mask_zero=True?")
    expect((gap.drop(index="GRU, masked", level=0) > 1e-4).all(),
           "An unmasked model gives the same predictions whichever side the padding is on: "
           "was it built without the mask (`sentiment_model` masks by default)?")
    accuracy = bad_side["test accuracy"]
    expect(accuracy.between(0, 1).all(), "`test accuracy` must be a share of the test reviews.")
    if full_size:
        lead = (accuracy.xs("GRU, masked") - accuracy.xs("GRU, no mask")).dropna()
        expect(len(lead) >= 2, "Train both GRUs from the same two seeds or more: the masked "
               "one's lead is read seed by seed.")
        measured((lead > 0.1).all(), "masked GRU minus unmasked GRU, test accuracy, every seed",
                 "> 0.1 (the solutions' run)", ", ".join(f"{v:+.3f}" for v in lead))
