"""Checks of the exercises of notebook 03 (the hand-made Bidirectional against Keras's).

1. `cells_table`: per cell, the weights and gates of one direction and the work of a step,
   recounted here from freshly built Keras layers.
2. `wide`: output shapes (or errors) and weight counts with a backward layer of 2 x units,
   against the widths that add up and the weights of the two layers built here.
3. `shapes`: the shape each wrapper declares and the real one, recomputed here, and whether
   `fit` ran, which must follow from them (it holds whatever Keras's version declares).
4. `epoch_seconds`: seconds per epoch at `maxlen` and twice it: the form of the measurement,
   and that the data timed really had those lengths; the growth and the ratio are reported,
   not graded.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from utils.exercises import expect
from utils.models import CELLS


def _built(rnn_class, units, features):
    """A recurrent layer of `units`, built for inputs of `features`."""
    layer = rnn_class(units)
    layer.build((None, None, features))
    return layer


def exercise_1(cells_table: pd.DataFrame, units: int, embed_dim: int) -> None:
    """`cells_table`: indexed by the names of `utils.models.CELLS`, columns `gates`,
    `weights per direction`, `FLOPs per step` (per sequence and direction) and `largest
    difference` (hand-made against Keras, outputs and gradients)."""
    expect(set(cells_table.index) == set(CELLS), f"one row per cell: {sorted(CELLS)}")
    for cell, rnn_class in CELLS.items():
        layer = _built(rnn_class, units, embed_dim)
        kernel, recurrent = layer.cell.kernel.shape, layer.cell.recurrent_kernel.shape
        row = cells_table.loc[cell]
        expect(row["gates"] == recurrent[1] // units,
               f"{cell}: the gates are the weight sets side by side in the recurrent kernel")
        expect(row["weights per direction"] == layer.count_params(),
               f"{cell}: the weights of one direction do not match a built {rnn_class.__name__}; "
               "count every bias (look at the bias's shape in the weights table)")
        expect(row["FLOPs per step"] == 2 * (np.prod(kernel) + np.prod(recurrent)),
               f"{cell}: a step multiplies the input by the kernel and the state by the "
               "recurrent kernel, 2 FLOPs per weight")
    expect((cells_table["largest difference"] < 1e-5).all(),
           "the two wrappers must give the same outputs and gradients (same weights copied?)")


def exercise_2(wide: pd.DataFrame, units: int, embed_dim: int, batch: int, steps: int) -> None:
    """`wide`: indexed by (`merge_mode`, `return_sequences`), columns `handmade` and `keras`
    (the output shape as a tuple, or the name of the error) and `weights` (of each wrapper)."""
    modes = set(wide.index.get_level_values("merge_mode"))
    expect(modes == {"concat", "sum", "ave", "mul"}, "one row per merge mode and return_sequences")
    sequences = set(wide.index.get_level_values("return_sequences"))
    expect(sequences == {True, False}, "one row per merge mode and return_sequences: both True "
           "and False")
    weights = _built(keras.layers.SimpleRNN, units, embed_dim).count_params() + _built(
        keras.layers.SimpleRNN, 2 * units, embed_dim).count_params()
    for (mode, sequences), row in wide.iterrows():
        width = units + 2 * units  # the two directions' widths, side by side
        expected = (batch, steps, width) if sequences else (batch, width)
        for wrapper in ("handmade", "keras"):
            if mode == "concat":
                expect(tuple(row[wrapper]) == expected,
                       f"concat, return_sequences={sequences}, {wrapper}: the shape should be "
                       "measured on a real output; what are the two widths side by side?")
            else:
                expect(isinstance(row[wrapper], str),
                       f"{mode}: can {mode} combine two vectors of different widths "
                       "element by element?")
        expect(list(row["weights"]) == [weights, weights],
               f"{mode}: the weights are those of the forward layer plus those of the (wider) "
               "backward layer")


def exercise_3(shapes: pd.DataFrame, units: int, maxlen: int, embed_dim: int) -> None:
    """`shapes`: indexed by wrapper (`handmade`, `keras`), columns `declared`
    (`compute_output_shape((None, maxlen, embed_dim))`), `real` (the shape of an output
    computed on a batch) and `fit` (True if one epoch of `fit` ran, False if it raised)."""
    from utils import HandmadeBidirectional

    wrappers = {"handmade": HandmadeBidirectional, "keras": keras.layers.Bidirectional}
    expect(set(shapes.index) == set(wrappers), "one row per wrapper: handmade and keras")
    for name, wrapper in wrappers.items():
        layer = wrapper(keras.layers.SimpleRNN(units),
                        backward_layer=keras.layers.SimpleRNN(2 * units, go_backwards=True))
        declared = tuple(layer.compute_output_shape((None, maxlen, embed_dim)))
        real = tuple(layer(np.zeros((2, maxlen, embed_dim), "float32")).shape)
        row = shapes.loc[name]
        expect(tuple(row["declared"]) == declared,
               f"{name}: `declared` is what compute_output_shape returns, not what you expect")
        expect(tuple(row["real"])[1:] == real[1:],
               f"{name}: `real` must be measured on an output computed from a batch (a symbolic "
               "`model.output.shape` is the declared shape, not a computed one)")
        expect(bool(row["fit"]) == (declared[-1] == real[-1]),
               f"{name}: the Dense layer builds its kernel from the declared width; does `fit` "
               "then run on the real width? Run it and record what happened")


def exercise_4(epoch_seconds: pd.DataFrame, maxlen: int) -> None:
    """`epoch_seconds`: indexed by the reviews' length, `maxlen` and `2 * maxlen`, columns
    `handmade` and `keras` (the typical CPU seconds of an IMDB epoch, warm-up left out) and
    `tokens per review` (the width of the training data that was timed). The growth and the
    ratio are measurements: a quick run on a busy machine is mostly fixed costs, so neither
    is graded."""
    expect(list(epoch_seconds.index) == [maxlen, 2 * maxlen],
           f"time the epochs at maxlen = {maxlen} and at twice that")
    expect({"handmade", "keras", "tokens per review"} <= set(epoch_seconds.columns),
           "columns: handmade, keras and tokens per review")
    values = epoch_seconds[["handmade", "keras"]].to_numpy(dtype=float)
    expect(np.isfinite(values).all() and (values > 0).all(), "seconds must be positive numbers")
    expect((epoch_seconds["tokens per review"] == epoch_seconds.index).all(),
           "the data timed at each length must have that many tokens per review: run load_imdb "
           "with the new maxlen, and rebuild the models for it")
