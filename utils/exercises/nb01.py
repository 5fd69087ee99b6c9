"""Checks of the exercises of notebook 01 (a bidirectional RNN by hand).

Each check builds the Keras layers itself, for several sizes, and compares them with what the
student derived:

1. `weights_per_direction(cell, D, H)`: the weight count of one direction, against
   `count_params()` of `SimpleRNN`, `GRU` and `LSTM` layers.
2. `head_parameters(merge_mode, H)`: the parameters of the `Dense(1)` head, against real heads.
3. `merged_width(merge_mode, forward_units, backward_units)`: the width of the merged output,
   or None where the merge fails, against `HandmadeBidirectional` run on a small batch.
4. `swapped_bidirectional`, `swapped_twin`: the layer pickers that give the *forward* layer
   random weights; the check runs the experiment and asserts the coupling it must show.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from utils.layers import MERGE_MODES, HandmadeBidirectional
from utils.models import CELLS
from utils.two_losses import backward_weights_effect

from . import expect

SIZES = ((3, 2), (8, 5), (32, 32))  # (D, H) pairs tried by the checks


def exercise_1(weights_per_direction) -> None:
    """`weights_per_direction(cell, D, H)` for cell "simple_rnn", "gru" and "lstm"."""
    for cell, layer_class in CELLS.items():
        for D, H in SIZES:
            layer = layer_class(H)
            layer.build((None, None, D))
            derived, actual = weights_per_direction(cell, D, H), layer.count_params()
            hint = (
                " (the difference is a multiple of H: count the bias vectors)"
                if (derived - actual) % H == 0
                else ""
            )
            expect(
                derived == actual,
                f"{cell} with D = {D}, H = {H}: your formula gives {derived}, "
                f"the Keras layer has {actual} weights{hint}.",
            )


def exercise_2(head_parameters) -> None:
    """`head_parameters(merge_mode, H)` for every merge mode of `HandmadeBidirectional`."""
    for mode in MERGE_MODES:
        for _, H in SIZES:
            head = keras.layers.Dense(1)
            head.build((None, 2 * H if mode == "concat" else H))
            derived = head_parameters(mode, H)
            expect(
                derived == head.count_params(),
                f"merge_mode={mode!r}, H = {H}: your count "
                f"{derived} is not the head's; how many numbers does the head read, and what "
                "else does a Dense unit have?",
            )


def _actual_width(mode, forward_units, backward_units):
    """The width HandmadeBidirectional gives, or None if the merge fails."""
    layer = HandmadeBidirectional(
        keras.layers.SimpleRNN(forward_units),
        merge_mode=mode,
        backward_layer=keras.layers.SimpleRNN(backward_units, go_backwards=True),
    )
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    try:
        return int(layer(x).shape[-1])
    except (ValueError, tf.errors.InvalidArgumentError):  # shapes that do not broadcast
        return None


def exercise_3(merged_width) -> None:
    """`merged_width(merge_mode, forward_units, backward_units)`: an int, or None if it fails."""
    for mode in MERGE_MODES:
        for units in ((4, 8), (5, 5), (6, 3)):
            derived, actual = merged_width(mode, *units), _actual_width(mode, *units)
            expect(
                derived == actual,
                f"merge_mode={mode!r} with {units[0]} forward and {units[1]} "
                f"backward units: you say {derived}, the layer gives "
                f"{'an error' if actual is None else actual}. Which merges work number by number?",
            )


def exercise_4(swapped_bidirectional, swapped_twin, model, twin, x, y, seed=1) -> dict:
    """The pickers return `(layer whose gradients are reported, layer given random weights)`,
    as `backward_weights_effect` reads them. Runs it on `model` and `twin`, returns both."""
    for name, picker, m in (
        ("swapped_bidirectional", swapped_bidirectional, model),
        ("swapped_twin", swapped_twin, twin),
    ):
        observed, randomized = picker(m)
        expect(
            observed.go_backwards and not randomized.go_backwards,
            f"`{name}` should return the backward layer first (its gradients are reported), "
            "then the forward one (it gets random weights).",
        )
    one = backward_weights_effect(model, swapped_bidirectional, x, y, seed=seed)
    two = backward_weights_effect(twin, swapped_twin, x, y, seed=seed)
    for effect in (one, two):
        expect(
            effect["loss after"] != effect["loss before"],
            "the random forward weights should change the loss.",
        )
    changes = [v for k, v in one.items() if k.startswith("forward")]
    expect(
        min(changes) > 1e-3, "with one loss, every gradient of the backward layer should change."
    )
    expect(
        all(v == 0 for k, v in two.items() if k.startswith("forward")),
        "with one loss per direction, the backward layer's gradients should not move at all.",
    )
    return {"one loss (bidirectional)": one, "one loss per direction (twin)": two}
