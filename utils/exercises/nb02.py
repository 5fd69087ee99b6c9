"""Checks of the exercises of notebook 02 (backpropagation through time, in both directions).

The gradient checks (exercises 1, 3 and 4) take the student's `forward` and `backward`
functions, run them on random float64 weights and inputs of their own, and compare the
gradients with central finite differences of a loss the check computes itself (its own forward
pass, independent of the student's); exercise 1 also compares with `tf.GradientTape` on
`keras.layers.Bidirectional(..., merge_mode="mul")`. Each returns its table of relative errors.

1. `forward, backward` with the `mul` merge.
2. `sweeps`: where each direction's mean gradient norm peaks, and how much survives a sweep,
   for several `u_norm`: what the bound ||delta_{t-1}|| <= ||delta_t|| max|1 - h^2| ||U||_2
   forces when `u_norm` <= 1, and the direction of the change with `u_norm`.
3. `forward, backward` with a loss at every step.
4. `forward, backward` with ReLU instead of tanh.
5. `predict_dh_b(dh_b, p, p_new, y)`: the backward gradients after only the forward weights
   change, predicted, against `reference.backward` run on the changed weights.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from utils import reference
from utils.maths import relative_error, sigmoid

from . import expect

T, D, H, N = 5, 3, 4, 4  # the sizes of the notebook's gradient checks
EPS = 1e-6


def _data(seed: int, labels_per_step: bool = False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, D))
    y = rng.integers(0, 2, (N, T) if labels_per_step else N).astype(float)
    return x, y


def _states(params: dict, x: np.ndarray, activation=np.tanh):
    """Both directions' states (N, T, H), and the smallest |pre-activation|."""
    h_f, h_b, smallest = np.zeros((N, T, H)), np.zeros((N, T, H)), np.inf
    h_prev, h_next = np.zeros((N, H)), np.zeros((N, H))
    for t in range(T):
        a_f = x[:, t] @ params["W_f"] + h_prev @ params["U_f"] + params["b_f"]
        a_b = x[:, T - 1 - t] @ params["W_b"] + h_next @ params["U_b"] + params["b_b"]
        h_f[:, t], h_b[:, T - 1 - t] = h_prev, h_next = activation(a_f), activation(a_b)
        smallest = min(smallest, np.abs(a_f).min(), np.abs(a_b).min())
    return h_f, h_b, smallest


def _bce(p, y) -> float:
    """Mean binary cross-entropy over the sequences, summed over the steps if p is (N, T)."""
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p), axis=0).sum())


def _finite_differences(loss_of, params: dict) -> dict:
    grads = {}
    for name, value in params.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            shifted = {k: v.copy() for k, v in params.items()}
            shifted[name][idx] += EPS
            plus = loss_of(shifted)
            shifted[name][idx] -= 2 * EPS
            g[idx] = (plus - loss_of(shifted)) / (2 * EPS)
        grads[name] = g
    return grads


def _compare(grads: dict, expected: dict, against: str, tolerance: float, where: str) -> pd.Series:
    expect(
        isinstance(grads, dict) and set(expected) <= set(grads),
        f"`backward` should return a dict of gradients with the keys {sorted(expected)}.",
    )
    errors = pd.Series({k: relative_error(grads[k], expected[k]) for k in expected}, name=against)
    worst = errors.idxmax()
    expect(
        errors[worst] < tolerance,
        f"dL/d{worst} disagrees with {against} (relative error {errors[worst]:.1e}): {where}",
    )
    return errors


def _mul_p(params, x):
    h_f, h_b, _ = _states(params, x)
    return sigmoid((h_f[:, -1] * h_b[:, 0]) @ params["w_y"] + params["b_y"])[:, 0]


def _keras_mul_gradients(params, x, y) -> dict:
    """dL/dtheta from tf.GradientTape on Bidirectional(SimpleRNN, merge_mode="mul")."""
    inputs = keras.Input(shape=(None, D), dtype="float64")
    merged = keras.layers.Bidirectional(
        keras.layers.SimpleRNN(H, dtype="float64"), merge_mode="mul", dtype="float64"
    )(inputs)
    model = keras.Model(
        inputs, keras.layers.Dense(1, activation="sigmoid", dtype="float64")(merged)
    )
    model.set_weights(reference.params_to_keras_weights(params))
    with tf.GradientTape() as tape:
        value = keras.losses.BinaryCrossentropy(dtype="float64")(y[:, None], model(tf.constant(x)))
    grads = tape.gradient(value, model.trainable_weights)
    return {k: g.numpy() for k, g in zip(reference.KERAS_ORDER, grads, strict=True)}


def exercise_1(forward, backward, seed: int = 0) -> pd.DataFrame:
    """`forward(params, x, "mul") -> (p, cache)` and `backward(params, cache, x, y, "mul") ->
    (grads, dh)`, with the signatures of `utils.reference` and `w_y` of shape (H, 1)."""
    params, (x, y) = reference.init_params(D, H, "sum", seed=seed), _data(seed)
    p, cache = forward(params, x, "mul")
    expect(
        np.allclose(p, _mul_p(params, x), rtol=1e-12, atol=0),
        "`forward` with merge 'mul' does not compute p from m = h^f_T * h^b_1 (entry by entry).",
    )
    grads, _ = backward(params, cache, x, y, "mul")
    where = "look at how dL/dm reaches each direction's last state at the mul merge."
    numeric = _finite_differences(lambda q: _bce(_mul_p(q, x), y), params)
    errors = [
        _compare(grads, numeric, "finite differences", 1e-7, where),
        _compare(grads, _keras_mul_gradients(params, x, y), "tf.GradientTape", 1e-5, where),
    ]
    return pd.concat(errors, axis=1)


def exercise_2(sweeps: pd.DataFrame, T_long: int) -> None:
    """`sweeps`: one row per `u_norm`, random draw and direction ("forward", "backward"), with
    the columns `survives` (mean gradient norm at the far end of the sweep / at its entry
    point) and `peak at t` (the step, 1 to T_long, where the mean gradient norm is largest)."""
    missing = {"u_norm", "draw", "direction", "survives", "peak at t"} - set(sweeps.columns)
    expect(not missing, f"`sweeps` lacks the column(s) {sorted(missing)}.")
    expect(
        set(sweeps.direction) == {"forward", "backward"}, "`direction` is 'forward' or 'backward'."
    )
    expect(
        sweeps.groupby("u_norm").draw.nunique().min() >= 3, "try at least three draws per u_norm."
    )
    u = sorted(sweeps.u_norm.unique())
    expect(u[0] < 1 < u[-1], "try values of u_norm below and above 1.")
    peak = sweeps["peak at t"]
    expect(
        peak.between(1, T_long).all() and (peak == peak.round()).all(),
        f"`peak at t` is a step from 1 to T_long = {T_long}, as on the notebook's plot.",
    )
    small = sweeps[sweeps.u_norm <= 1]
    entry = np.where(small.direction == "forward", T_long, 1)
    expect(
        (small["peak at t"] == entry).all(),
        "with u_norm <= 1 the bound forbids any growth along "
        "a sweep: where does each direction's sweep start?",
    )
    expect(
        (small.survives > 0).all() and (small.survives <= 1).all(),
        "with u_norm <= 1, `survives` (far end / entry point) cannot exceed 1.",
    )
    median = sweeps[sweeps.u_norm <= 1.5].groupby("u_norm").survives.median()
    expect(
        (median.diff().dropna() > 0).all() and median.iloc[-1] > 100 * median.iloc[0],
        "the share that survives a sweep should grow, by orders of magnitude, with u_norm up to "
        "1.5: is u_norm really applied to U^f and U^b?",
    )


def _per_step_p(params, x):
    h_f, h_b, _ = _states(params, x)
    return sigmoid(np.concatenate([h_f, h_b], axis=2) @ params["w_y"] + params["b_y"])[..., 0]


def exercise_3(forward, backward, seed: int = 0) -> pd.DataFrame:
    """`forward(params, x) -> (p, cache)` with p (N, T), a concat head on every step, and
    `backward(params, cache, x, y) -> grads` for L = sum over t of the mean cross-entropy."""
    params, (x, y) = (
        reference.init_params(D, H, "concat", seed=seed),
        _data(seed, labels_per_step=True),
    )
    p, cache = forward(params, x)
    expect(
        np.shape(p) == (N, T) and np.allclose(p, _per_step_p(params, x), rtol=1e-12, atol=0),
        "`forward` should give p (N, T): the head on m_t = [h^f_t ; h^b_t] at every step.",
    )
    numeric = _finite_differences(lambda q: _bce(_per_step_p(q, x), y), params)
    where = (
        "which states receive a gradient directly from a loss L_t, and which only along the row?"
    )
    return _compare(
        backward(params, cache, x, y), numeric, "finite differences", 1e-7, where
    ).to_frame()


def _relu_p(params, x):
    h_f, h_b, _ = _states(params, x, lambda a: np.maximum(0, a))
    return sigmoid(np.concatenate([h_f[:, -1], h_b[:, 0]], axis=1) @ params["w_y"] + params["b_y"])[
        :, 0
    ]


def exercise_4(forward, backward, seed: int = 0) -> pd.DataFrame:
    """`forward(params, x, "concat")` and `backward(params, cache, x, y, "concat")` with ReLU
    states, the signatures of `utils.reference`. Draws weights and inputs until no
    pre-activation lies within 1e-3 of ReLU's kink and some units are off."""
    for draw in range(seed, seed + 100):
        params, (x, y) = reference.init_params(D, H, "concat", seed=draw), _data(draw)
        h_f, _, smallest = _states(params, x, lambda a: np.maximum(0, a))
        if smallest > 1e-3 and 0 < (h_f > 0).mean() < 1:
            break
    p, cache = forward(params, x, "concat")
    expect(
        np.allclose(p, _relu_p(params, x), rtol=1e-12, atol=0),
        "`forward` does not compute ReLU states, h = max(0, a), in both directions.",
    )
    grads, _ = backward(params, cache, x, y, "concat")
    numeric = _finite_differences(lambda q: _bce(_relu_p(q, x), y), params)
    where = "the chain rule through the activation: what is ReLU's slope, written with h?"
    return _compare(grads, numeric, "finite differences", 1e-7, where).to_frame()


def exercise_5(predict_dh_b, seeds=(0, 1, 2)) -> None:
    """`predict_dh_b(dh_b, p, p_new, y)`: from the backward direction's dL/dh^b (N, T, H) and the
    predictions before (`p`) and after (`p_new`) only the forward weights W_f, U_f, b_f change,
    the new dL/dh^b. Compared with `reference.backward` run on the changed weights."""
    for seed in seeds:
        (x, y), params = _data(seed), reference.init_params(D, H, "concat", seed=seed)
        other = reference.init_params(D, H, "concat", seed=seed + 100)
        changed = {**params, **{k: other[k] for k in ("W_f", "U_f", "b_f")}}
        (p, cache), (p_new, cache_new) = reference.forward(params, x), reference.forward(changed, x)
        dh = reference.backward(params, cache, x, y)[1]["dh_b"]
        dh_new = reference.backward(changed, cache_new, x, y)[1]["dh_b"]
        predicted = np.asarray(predict_dh_b(dh.copy(), p, p_new, y))
        expect(
            not np.allclose(predicted, dh) or np.allclose(dh_new, dh),
            "your prediction leaves dL/dh^b as it was, but the forward weights reach the "
            "backward sweep through the one loss: where does that sweep start?",
        )
        expect(
            predicted.shape == dh.shape and np.allclose(predicted, dh_new, rtol=1e-9, atol=1e-15),
            "the prediction is not the new dL/dh^b: which number, per sequence, starts the "
            "backward sweep, and what is the sweep's dependence on it?",
        )
