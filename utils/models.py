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

import keras

from .layers import MERGE_MODES, HandmadeBidirectional

CELLS = {"simple_rnn": keras.layers.SimpleRNN, "gru": keras.layers.GRU, "lstm": keras.layers.LSTM}
DIRECTIONS = ("both", "forward", "backward")
POOLINGS = {
    None: None,
    "max": keras.layers.GlobalMaxPooling1D,
    "avg": keras.layers.GlobalAveragePooling1D,
}


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
    name: str | None = None,
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
            merged output at every step and pools it over time (padding excluded).
        name: the model's name (default: built from the arguments).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}.")
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}.")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be None, 'max' or 'avg', got {pooling!r}.")
    if wrapper not in ("handmade", "keras"):
        raise ValueError(f"wrapper must be 'handmade' or 'keras', got {wrapper!r}.")
    if direction == "both" and (merge_mode is None or merge_mode not in MERGE_MODES):
        raise ValueError(
            f"merge_mode must be one of 'concat', 'sum', 'ave', 'mul' for a bidirectional "
            f"classifier, got {merge_mode!r}."
        )
    rnn = CELLS[cell](units, return_sequences=pooling is not None,
                      go_backwards=direction == "backward")
    if direction == "both":
        wrap = HandmadeBidirectional if wrapper == "handmade" else keras.layers.Bidirectional
        rnn = wrap(rnn, merge_mode=merge_mode)
    layers = [
        keras.Input((maxlen,), dtype="int32", name="token_ids"),
        keras.layers.Embedding(vocab_size, embed_dim, mask_zero=mask, name="embedding"),
        rnn,
    ]
    if pooling is not None:
        layers.append(POOLINGS[pooling](name=f"{pooling}_pool"))
    layers.append(keras.layers.Dense(1, activation="sigmoid", name="head"))
    if name is None:
        name = f"{direction}_{merge_mode}" if direction == "both" else direction
    return keras.Sequential(layers, name=name)
