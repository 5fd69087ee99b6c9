"""Checks of the exercises of notebook 08 (a fused bidirectional SimpleRNN).

None of them counts TensorFlow's graph operations or grades a speed: those change with the
version and the machine. They check what follows from the code of `utils/fused.py` and from
the layers' sizes:

1. `work`: loop iterations and FLOPs of a time step, for both layers, recounted from the
   recurrences (the fused layer's constants are read from `utils.fused`).
2. `steps_table`: for each value of `steps_per_iteration`, the equality with Keras and the
   loop iterations.
3. `limits`: the FLOPs of a training batch recomputed, and the share of the matmul rate
   consistent with them; the time must grow far less than the FLOPs (a wide margin).
4. `autodiff_recurrence`: the states of the loop, with TensorFlow's own gradient: the same
   states and the same gradients as the hand-written BPTT where it matters, and not the
   hand-written gradient itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from utils import fused
from utils.exercises import expect


def _iterations(steps: int, k: int) -> int:
    return -(-steps // k)  # the first chunk is filled with zero steps


def exercise_1(work: pd.DataFrame, units: int, embed_dim: int, maxlen: int) -> None:
    """`work`: indexed by layer (`fused`, `keras`), columns `loop iterations` (of the
    forward pass over `maxlen` steps, all loops together) and `FLOPs per step` (of the
    matrix products of one time step, per review, the input projection included wherever
    it runs)."""
    layer = fused.FusedBidirectionalSimpleRNN(units)  # the loop the notebook's layer runs
    d, h, k, loops = embed_dim, units, layer.steps_per_iteration, layer.parallel_loops
    expected = {"fused": [loops * _iterations(maxlen, k), 2 * d * 2 * h + 2 * (2 * h) ** 2],
                "keras": [2 * maxlen, 2 * 2 * (d * h + h * h)]}
    expect(set(work.index) == set(expected), "one row per layer: fused and keras")
    hints = {"loop iterations": "how many steps does one iteration take, and how many loops run "
                                "(the layer's steps_per_iteration and parallel_loops)?",
             "FLOPs per step": "2 FLOPs per multiply-add, for the input and the recurrent "
                               "products; does a block-diagonal product skip its zeros?"}
    for layer, values in expected.items():
        for column, value in zip(hints, values, strict=True):
            expect(work.loc[layer, column] == value, f"{layer}, {column}: {hints[column]}")


def exercise_2(steps_table: pd.DataFrame, maxlen: int) -> None:
    """`steps_table`: indexed by `steps per iteration` (at least 1, 2 and 8), columns `largest
    difference` (from `Bidirectional(SimpleRNN)`), `iterations` (over `maxlen` steps) and
    `CPU ms` (of a training batch)."""
    expect({1, 2, 8} <= set(steps_table.index), "time at least 1, 2 and 8 steps per iteration")
    expect((steps_table["largest difference"] < 1e-5).all(),
           "the fused layer must still equal Bidirectional(SimpleRNN) at every value")
    for k, row in steps_table.iterrows():
        expect(row["iterations"] == _iterations(maxlen, k),
               f"{k} steps per iteration: how many iterations cover {maxlen} steps (what fills "
               "the first chunk)?")
    cpu = steps_table["CPU ms"].to_numpy(dtype=float)
    expect(np.isfinite(cpu).all() and (cpu > 0).all(), "CPU ms must be positive numbers")


def exercise_3(limits: pd.DataFrame, maxlen: int, batch_size: int, embed_dim: int) -> None:
    """`limits`: indexed by `units` (smallest to largest), columns `MFLOP per batch` (forward
    and backward pass of a training batch), `wall ms` and `% of the matmul rate`."""
    u = limits.index.to_numpy()
    expect(len(u) >= 2 and (np.diff(u) > 0).all(), "index: the units, from smallest to largest")
    flops = 3 * 2 * maxlen * batch_size * 2 * (embed_dim * u + u**2)  # as in section 4
    expect(np.allclose(limits["MFLOP per batch"], flops / 1e6, rtol=1e-9),
           "MFLOP per batch: 2 directions, 2 FLOPs per multiply-add, the input and the "
           "recurrent product at every step of every review, and the backward pass twice the "
           "forward")
    share = limits["% of the matmul rate"].to_numpy(dtype=float)
    expect(((share > 0) & (share < 100)).all(),
           "a share of the matmul rate lies between 0 and 100 %")
    rate = limits["MFLOP per batch"] / limits["wall ms"] / share  # the same peak in every row
    expect(np.allclose(rate, rate.iloc[0], rtol=1e-6),
           "% of the matmul rate: the FLOPs per second of each row over one reference rate")
    time_growth = limits["wall ms"].iloc[-1] / limits["wall ms"].iloc[0]
    expect(time_growth < (flops[-1] / flops[0]) / 4,
           "the time grew almost as fast as the FLOPs: is each row timed with its own units?")


def _random_loop_inputs(seed=0, steps=9, batch=3, width=6, padding=3):
    """z, m, u as the fused layer passes them: padding first (zero inputs), a block-diagonal u."""
    rng = np.random.default_rng(seed)
    m = np.ones((1, batch, 1), "float32") * (np.arange(steps) >= padding)[:, None, None]
    m = m.astype("float32")
    z = rng.normal(size=(steps, batch, width)).astype("float32") * m
    half = width // 2
    u = np.zeros((width, width), "float32")
    u[:half, :half], u[half:, half:] = (rng.normal(0, 0.5, (half, half)) for _ in range(2))
    upstream = rng.normal(size=(steps, batch, width)).astype("float32")
    return [tf.constant(a) for a in (z, m, u, upstream)]


def _states_and_gradients(recurrence, z, m, u, upstream):
    with tf.GradientTape() as tape:
        tape.watch([z, u])
        states = recurrence(z, m, u)
        loss = tf.reduce_sum(states * upstream)
    return states, *tape.gradient(loss, [z, u])


def exercise_4(autodiff_recurrence) -> None:
    """`autodiff_recurrence(z, m, u)`: the states of `utils.fused._recurrence`, computed by
    its loop, with the gradient left to TensorFlow (no `tf.custom_gradient`)."""
    z, m, u, upstream = _random_loop_inputs()
    hand = _states_and_gradients(fused._recurrence, z, m, u, upstream)
    try:
        auto = _states_and_gradients(autodiff_recurrence, z, m, u, upstream)
    except (TypeError, ValueError, AttributeError) as error:
        expect(False, "autodiff_recurrence(z, m, u) must return the states tensor (TensorFlow "
               f"could not use what it returned: {type(error).__name__})")
    expect(tuple(auto[0].shape) == tuple(hand[0].shape),
           f"the states have shape {tuple(hand[0].shape)} (steps, batch, 2 units): return the "
           "states only")
    expect(np.allclose(auto[0], hand[0], atol=1e-6),
           "not the states of the loop h_t = tanh(z_t + h_(t-1) u)")
    expect(all(g is not None for g in auto[1:]), "TensorFlow found no gradient to z or u")
    real = m.numpy() > 0
    dz_auto, dz_hand = auto[1].numpy(), hand[1].numpy()
    same = np.allclose(dz_auto * real, dz_hand * real, atol=1e-5)
    expect(same and np.allclose(auto[2], hand[2], atol=1e-5),
           "the gradients at the real steps, and of u, must equal the hand-written BPTT's")
    expect(np.abs(dz_auto[~real[..., 0]]).max() > 0,
           "this is still the hand-written gradient (it is 0 at the padding in front, where "
           "TensorFlow's own is not): differentiate the undecorated loop")
