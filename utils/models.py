"""The sentiment classifiers the experiments compare, built by one function.

    from utils.models import sentiment_model
    model = sentiment_model("both", merge_mode="concat", units=32)     # bidirectional
    model = sentiment_model("forward", units=32)                       # left to right only

Every model is: token ids -> `Embedding(mask_zero=True)` -> recurrent part -> (optional
masked pooling over time) -> `Dense(1, sigmoid)`, the probability that a review is
positive. Only the recurrent part changes between variants, so differences in accuracy
come from it.
"""

from __future__ import annotations

import weakref

import keras

from .layers import MERGE_MODES, HandmadeBidirectional, ReverseTime

CELLS = {"simple_rnn": keras.layers.SimpleRNN, "gru": keras.layers.GRU, "lstm": keras.layers.LSTM}
DIRECTIONS = ("both", "forward", "backward")
#: How tables and figures name each direction's model.
DIRECTION_NAMES = {"forward": "forward only", "backward": "backward only", "both": "bidirectional"}
POOLINGS = (None, "max", "avg")


@keras.saving.register_keras_serializable(package="birnn")
class MaskedPooling1D(keras.layers.Layer):
    """Average (`"avg"`) or maximum (`"max"`) over the time steps that are not padding.

    Keras's `GlobalMaxPooling1D` ignores the mask (padding takes part in the maximum) and
    `GlobalAveragePooling1D` divides by the number of real steps, which is 0/0 for an empty
    review. Here padding never counts, and a review with no real step pools to zeros.
    """

    def __init__(self, mode="avg", **kwargs):
        if mode not in ("avg", "max"):
            raise ValueError(f"mode must be 'avg' or 'max', got {mode!r}.")
        super().__init__(**kwargs)
        self.mode = mode
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            mask = keras.ops.ones(keras.ops.shape(inputs)[:2], dtype="bool")
        real = keras.ops.expand_dims(keras.ops.cast(mask, inputs.dtype), -1)  # 1 = a word
        count = keras.ops.sum(real, axis=1)  # real steps per review
        if self.mode == "avg":
            return keras.ops.sum(inputs * real, axis=1) / keras.ops.maximum(count, 1.0)
        lowest = keras.ops.min(inputs) - 1.0  # below every real value
        largest = keras.ops.max(keras.ops.where(real > 0, inputs, lowest), axis=1)
        return keras.ops.where(count > 0, largest, keras.ops.zeros_like(largest))

    def compute_mask(self, inputs, mask=None):
        return None  # no time axis left

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def sentiment_model(
    direction: str = "both",
    merge_mode: str | None = "concat",
    wrapper: str = "handmade",
    cell: str = "simple_rnn",
    units: int = 32,
    embed_dim: int = 32,
    vocab_size: int = 20_000,
    maxlen: int = 200,
    mask: bool = True,
    pooling: str | None = None,
    dropout: float = 0.0,
    name: str | None = None,
    fused: bool = False,
) -> keras.Model:
    """A new, uncompiled review classifier.

    Args:
        direction: `"both"` (bidirectional), `"forward"` (reads left to right only) or
            `"backward"` (reads right to left only, `go_backwards=True`).
        merge_mode: how the bidirectional model merges the two directions (`"concat"`,
            `"sum"`, `"ave"`, `"mul"`); ignored for one direction.
        wrapper: `"handmade"` (`utils.HandmadeBidirectional`) or `"keras"`
            (`keras.layers.Bidirectional`); they compute the same thing.
        cell: `"simple_rnn"`, `"gru"` or `"lstm"`.
        units: units of each direction's RNN (a one-direction model has the same width
            per direction, so half the recurrent parameters of the bidirectional one).
        embed_dim, vocab_size, maxlen: the embedding and input sizes.
        mask: `Embedding(mask_zero=True)`: padded steps are skipped by the RNNs.
        pooling: `None` uses each direction's final state; `"max"` or `"avg"` returns the
            merged output at every step and pools it over time (`MaskedPooling1D`: padding
            excluded, an empty review pools to zeros). A
            backward-only model first flips its outputs back into reading order
            (`ReverseTime`), so that they line up with the padding mask.
        dropout: the share of each RNN's input features (the word vectors) dropped during
            training, the recurrent layer's own `dropout` argument (one mask per review,
            the same at every step); 0 turns it off. Prediction never drops anything.
        name: the model's name (default: built from the arguments).
        fused: train on notebook 08's fused engine, which computes the same function
            faster: `utils.fused.FusedBidirectionalSimpleRNN` in place of the wrapper around
            `SimpleRNN` (`direction="both"`, `wrapper="handmade"`), `utils.fused.FusedSimpleRNN`
            in place of a one-direction `SimpleRNN`; only for `cell="simple_rnn"`.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}.")
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}.")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be None, 'max' or 'avg', got {pooling!r}.")
    if wrapper not in ("handmade", "keras"):
        raise ValueError(f"wrapper must be 'handmade' or 'keras', got {wrapper!r}.")
    if direction == "both" and merge_mode not in MERGE_MODES:
        raise ValueError(
            f"merge_mode must be one of 'concat', 'sum', 'ave', 'mul' for a bidirectional "
            f"classifier, got {merge_mode!r}."
        )
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
    rnn = recurrent_part(direction, units, merge_mode=merge_mode, cell=cell, wrapper=wrapper,
                         return_sequences=pooling is not None, dropout=dropout, fused=fused)
    layers = [
        keras.Input((maxlen,), dtype="int32", name="token_ids"),
        keras.layers.Embedding(vocab_size, embed_dim, mask_zero=mask, name="embedding"),
        rnn,
    ]
    if pooling is not None:
        if direction == "backward":  # outputs come last token first: back to reading order
            layers.append(ReverseTime(name="reading_order"))
        layers.append(MaskedPooling1D(pooling, name=f"{pooling}_pool"))
    layers.append(keras.layers.Dense(1, activation="sigmoid", name="head"))
    if name is None:
        name = f"{direction}_{merge_mode}" if direction == "both" else direction
    return keras.Sequential(layers, name=name)


def recurrent_part(direction: str, units: int, merge_mode: str | None = "concat",
                   cell: str = "simple_rnn", wrapper: str = "handmade",
                   return_sequences: bool = False, dropout: float = 0.0, fused: bool = False,
                   name: str | None = None) -> keras.layers.Layer:
    """The recurrent layer of a model reading in `direction` (`"both"`, `"forward"`,
    `"backward"`; arguments as in `sentiment_model`). A backward layer's sequence output
    comes last step first, as Keras's `go_backwards` gives it.

    With `fused=True` (SimpleRNN only) it is notebook 08's engine, proven equal to the layer it
    replaces in outputs and gradients: `utils.fused.FusedBidirectionalSimpleRNN` for the
    hand-made wrapper around two SimpleRNNs, `utils.fused.FusedSimpleRNN` for one SimpleRNN.
    """
    if fused and (cell != "simple_rnn" or (direction == "both" and wrapper != "handmade")):
        raise ValueError(
            "fused=True needs cell='simple_rnn' (and wrapper='handmade' for direction='both'), "
            f"got cell={cell!r}, wrapper={wrapper!r}; use fused=False for the others."
        )
    named = {} if name is None else {"name": name}
    if fused:
        from .fused import FusedBidirectionalSimpleRNN, FusedSimpleRNN

        if direction == "both":
            return FusedBidirectionalSimpleRNN(units, merge_mode=merge_mode, dropout=dropout,
                                               return_sequences=return_sequences, **named)
        return FusedSimpleRNN(units, go_backwards=direction == "backward", dropout=dropout,
                              return_sequences=return_sequences, **named)
    one_way = {} if direction == "both" else named  # a wrapper takes the name, not its RNN
    rnn = CELLS[cell](units, return_sequences=return_sequences, dropout=dropout,
                      go_backwards=direction == "backward", **one_way)
    if direction != "both":
        return rnn
    wrap = HandmadeBidirectional if wrapper == "handmade" else keras.layers.Bidirectional
    return wrap(rnn, merge_mode=merge_mode, **named)


_FINAL_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def final_states(model: keras.Sequential) -> keras.Model:
    """A model from token ids to what `model`'s head reads: for a bidirectional classifier
    without pooling, the two final states side by side, `[h^f_T ; h^b_1]`.

    It applies `model`'s own layers (every one but the head), so it shares their weights and
    always agrees with `model`. It is built once per model and then reused: a new Keras model
    per call would trace its predict function again.
    """
    if model not in _FINAL_STATES:
        inputs = keras.Input(model.inputs[0].shape[1:], dtype="int32", name="token_ids")
        x = inputs
        for layer in model.layers[:-1]:
            x = layer(x)
        _FINAL_STATES[model] = keras.Model(inputs, x, name=f"{model.name}_states")
    return _FINAL_STATES[model]
