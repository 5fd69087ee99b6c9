"""Small helpers for notebook 01, "a bidirectional RNN by hand": one loss, two directions.

    from utils.birnn_demo import ReverseTime, merge_all, running_sum_rnn, loss_and_gradients

- `ReverseTime`: a named layer that flips a sequence along its time axis, so that the
  backward RNN's outputs line up with the forward RNN's in a hand-wired model.
- `merge_all`: the four ways of merging the two directions (concat, sum, ave, mul),
  computed with the Keras merge layers.
- `running_sum_rnn`: a one-unit `SimpleRNN` whose state is the running sum of its inputs,
  so that what each direction has read can be seen in its outputs.
- `direction_weights`, `loss_and_gradients`, `relative_change`, `randomize_weights`,
  `copy_model`: one loss, one backward pass, and the gradients it gives each direction.
- `backward_weights_effect`: does the forward direction's gradient change when only the
  backward direction's weights change? (Yes with one loss; no with one loss per direction.)
- `two_loss_twin`: the plan "each direction trained with its own loss" as a model: the
  same embedding and the same two recurrent layers as a bidirectional classifier, but each
  direction with its own output head (and so its own loss) instead of a merge.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from .layers import ReverseTime as ReverseTime  # re-exported: the flip notebook 01 wires
from .reference import relative_change

#: Keras merge layers for the merge modes of `keras.layers.Bidirectional`.
MERGE_LAYERS = {
    "concat": keras.layers.Concatenate,
    "sum": keras.layers.Add,
    "ave": keras.layers.Average,
    "mul": keras.layers.Multiply,
}


def merge_all(forward, backward) -> dict:
    """The forward and backward outputs merged in each of the four ways, as NumPy arrays.

    Both inputs have the same shape `(..., units)`; "concat" joins them on the last axis
    (`2 * units`), "sum", "ave" and "mul" combine them element by element (`units`).
    """
    forward = ops.convert_to_tensor(np.asarray(forward, dtype="float32"))
    backward = ops.convert_to_tensor(np.asarray(backward, dtype="float32"))
    return {
        mode: ops.convert_to_numpy(layer()([forward, backward]))
        for mode, layer in MERGE_LAYERS.items()
    }


def running_sum_rnn(go_backwards: bool = False, return_sequences: bool = True,
                    activation=None, recurrent: float = 1.0, name=None):
    """A built one-unit `SimpleRNN` whose state is (by default) the running sum of its inputs.

    With kernel 1, recurrent weight `recurrent` and bias 0 the state update is
    `h_t = activation(x_t + recurrent * h_{t-1})`; with no activation and `recurrent=1` the
    output after reading some steps is their sum. Inputs have shape `(batch, time, 1)`.
    """
    rnn = keras.layers.SimpleRNN(
        1, activation=activation, go_backwards=go_backwards,
        return_sequences=return_sequences, name=name,
    )
    rnn.build((None, None, 1))
    rnn.set_weights([np.ones((1, 1)), np.full((1, 1), recurrent), np.zeros(1)])
    return rnn


def direction_weights(forward_layer, backward_layer) -> dict:
    """The trainable weights of the two directions, keyed "forward kernel", "backward bias", ...

    The keys do not depend on the layers' names, so the same key picks the same weight in
    a bidirectional model, in a copy of it, and in its `two_loss_twin`.
    """
    return {
        f"{direction} {weight.name}": weight
        for direction, layer in (("forward", forward_layer), ("backward", backward_layer))
        for weight in layer.trainable_weights
    }


def loss_and_gradients(model, x, y, weights: dict, loss_fn=None):
    """One forward pass, one scalar loss, one backward pass (`tf.GradientTape`).

    Returns `(loss, gradients)`: the loss as a float and `{key: gradient}` (NumPy arrays)
    for the variables in `weights` (e.g. from `direction_weights`). The loss is
    `loss_fn(y, output)` (binary cross-entropy by default); a model with several outputs
    gets one such loss per output, summed, as Keras does when it compiles one loss per
    output. The model runs with `training=True`, as in `fit`.
    """
    loss_fn = loss_fn or keras.losses.BinaryCrossentropy()
    with tf.GradientTape() as tape:
        outputs = model(x, training=True)
        if isinstance(outputs, (list, tuple)):
            loss = ops.sum(ops.stack([loss_fn(y, output) for output in outputs]))
        else:
            loss = loss_fn(y, outputs)
    grads = tape.gradient(loss, list(weights.values()))
    return float(loss), {
        key: (np.zeros(w.shape, "float32") if g is None else ops.convert_to_numpy(g))
        for (key, w), g in zip(weights.items(), grads, strict=True)
    }


def randomize_weights(layer, seed: int, scale: float = 0.5) -> None:
    """Give every weight of `layer` new values drawn from N(0, scale^2), biases included."""
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [rng.normal(0.0, scale, w.shape).astype("float32") for w in layer.get_weights()]
    )


def copy_model(model):
    """A new model with the same architecture and the same weights (separate variables)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def two_loss_twin(model, bidirectional: str = "birnn"):
    """The plan "each direction with its own loss", made from a bidirectional classifier.

    `model` is `Input -> Embedding -> bidirectional layer (merge_mode "concat", one output
    per sequence) -> Dense(1)`, and `bidirectional` the name of its bidirectional layer.
    The twin has the same embedding and copies of the same forward and backward layers,
    with the same weights, but no merge: each direction gets its own `Dense(1)` head,
    initialised with its half of the classifier's head, so the twin has two outputs
    `[p_forward, p_backward]` and is trained with two losses, one per direction.
    The recurrent layers of the twin are named "forward_rnn" and "backward_rnn".
    """
    bi = model.get_layer(bidirectional)
    embedding = next(layer for layer in model.layers if isinstance(layer, keras.layers.Embedding))
    head = model.layers[-1]
    units = bi.forward_layer.units

    inputs = keras.Input(shape=model.input_shape[1:], dtype=model.inputs[0].dtype)
    twin_embedding = keras.layers.Embedding.from_config(
        {**embedding.get_config(), "name": "embedding"})
    embedded = twin_embedding(inputs)
    outputs = []
    for direction, layer in (("forward", bi.forward_layer), ("backward", bi.backward_layer)):
        rnn = layer.__class__.from_config({**layer.get_config(), "name": f"{direction}_rnn"})
        outputs.append(keras.layers.Dense(1, activation="sigmoid", name=f"{direction}_head")(
            rnn(embedded)))
    twin = keras.Model(inputs, outputs, name="two_loss_twin")

    twin_embedding.set_weights(embedding.get_weights())
    twin.get_layer("forward_rnn").set_weights(bi.forward_layer.get_weights())
    twin.get_layer("backward_rnn").set_weights(bi.backward_layer.get_weights())
    kernel, bias = head.get_weights()
    twin.get_layer("forward_head").set_weights([kernel[:units], bias])
    twin.get_layer("backward_head").set_weights([kernel[units:], bias])
    return twin


def backward_weights_effect(model, layers, x, y, seed: int) -> dict:
    """What giving the backward direction other weights changes in `model`'s loss and gradients.

    `layers(model)` returns `(forward_layer, backward_layer)` of `model` (or of a copy of
    it). The loss and the direction gradients are computed once on `model`, then on a copy
    of it whose backward layer has random weights (`randomize_weights(..., seed)`).

    Returns `{"loss before": ..., "loss after": ..., "forward kernel": ..., ...}`: the two
    losses, then, for each weight of the forward direction, the `relative_change` of its
    gradient. `model` itself is not modified.
    """
    changed = copy_model(model)
    randomize_weights(layers(changed)[1], seed=seed)
    loss_before, before = loss_and_gradients(model, x, y, direction_weights(*layers(model)))
    loss_after, after = loss_and_gradients(changed, x, y, direction_weights(*layers(changed)))
    effect = {"loss before": loss_before, "loss after": loss_after}
    for key in before:
        if key.startswith("forward"):
            effect[key] = relative_change(before[key], after[key])
    return effect
