"""A hand-made bidirectional wrapper, to see what `keras.layers.Bidirectional` does inside.

A bidirectional RNN (Schuster & Paliwal, 1997, "Bidirectional recurrent neural
networks", IEEE Transactions on Signal Processing 45(11)) runs two recurrent layers
over the same sequence:

- the *forward* layer reads x_1, x_2, ..., x_T, so its output at step t summarises
  the past x_1..x_t;
- the *backward* layer reads x_T, x_{T-1}, ..., x_1, so its output at step t
  summarises the future x_t..x_T.

Putting the two side by side gives, at every step, a summary of the whole sequence.

    from utils.layers import HandmadeBidirectional
    layer = HandmadeBidirectional(keras.layers.SimpleRNN(16, return_sequences=True))

`HandmadeBidirectional` gives the same numbers as `keras.layers.Bidirectional` (same
weights in the same order, so `set_weights` carries over), but its `call` is short
enough to read in one go. It is a drop-in replacement: Keras's own tests of
`Bidirectional` pass against it (tests/test_keras_bidirectional_suite.py), and
`convert_weights_file` turns a `.weights.h5` file saved with one wrapper into one
that loads into the same model built with the other.

Also here: `merge_directions` and `MERGE_MODES` (the four merges, one definition for the
collection; `MERGE_MODES_OR_NONE` adds the wrapper's None), `ReverseTime` (flips a sequence in
time), and the small pieces notebook 01 takes
apart: `merge_all` (the four merges as Keras layers), `running_sum_rnn` (a one-unit RNN whose
state is the running sum of its inputs) and `direction_weights` (each direction's kernels).
"""

import re
import shutil

import h5py
import keras
import numpy as np
from keras import ops

#: The ways of combining the forward and backward outputs into one (the collection's one list).
MERGE_MODES = ("concat", "sum", "ave", "mul")
#: The `merge_mode` values a bidirectional wrapper takes: a merge, or None (keeps both, unmerged).
MERGE_MODES_OR_NONE = (*MERGE_MODES, None)


def merge_directions(forward, backward, merge_mode):
    """Merge the two directions' outputs (same shapes) as `merge_mode` says: `"concat"` puts
    them side by side on the last axis, `"sum"` adds them, `"ave"` averages them and `"mul"`
    multiplies them element by element."""
    if merge_mode == "concat":
        return ops.concatenate([forward, backward], axis=-1)
    if merge_mode == "sum":
        return forward + backward
    if merge_mode == "ave":
        return (forward + backward) / 2
    if merge_mode == "mul":
        return forward * backward
    raise ValueError(f"merge_mode must be 'concat', 'sum', 'ave' or 'mul', got {merge_mode!r}.")


@keras.saving.register_keras_serializable(package="birnn")
class HandmadeBidirectional(keras.layers.Layer):
    """Runs a recurrent layer forwards and a copy of it backwards, then merges the two.

    Args:
        layer: a recurrent layer such as `SimpleRNN`, `GRU` or `LSTM`. It is not used
            itself: the wrapper builds a fresh copy of it from its config (new weights),
            named `forward_<name>`.
        merge_mode: how the two outputs are combined: `"concat"` (side by side, the
            default), `"sum"`, `"ave"` (average), `"mul"` (element-wise product), or
            `None` to return both outputs unmerged, as a tuple.
        backward_layer: optional recurrent layer for the backward direction, used as
            is (not copied). It must read the other way (`go_backwards=True`) and agree
            with `layer` on `return_sequences`, `return_state` and `stateful`. By
            default it is another copy of `layer`, with `go_backwards=True`, named
            `backward_<name>`.
        **kwargs: passed to `keras.layers.Layer` (for example `name`).

    Attributes:
        forward_layer, backward_layer: the two recurrent layers. Their weights are the
            wrapper's weights, forward layer's first, as in `Bidirectional`.
        merge_mode, return_sequences, return_state: as above / as in `layer`.

    Why flip the backward outputs? A layer built with `go_backwards=True` reads the
    sequence from its last step to its first, and with `return_sequences=True` it
    hands back its outputs in the order it produced them: its first output is about
    x_T only, its last one about the whole sequence. Reversing them along the time axis
    puts them back in reading order, so that step t of the backward output lines up
    with step t of the forward output (and of the input) before merging.

    Training: the merged output feeds the rest of the model, so a single loss sends
    gradients through the merge into both layers; the two directions are trained
    together, each with its own weights.

    Masks (from `Embedding(mask_zero=True)` or `mask=`) are passed to both layers:
    they skip the padded steps, keeping their state unchanged, so the final states do
    not depend on whether the padding is at the start or the end. When returning
    sequences, the outputs at padded steps are zeros, and the mask is passed on to the
    next layer.

    Returns, for inputs of shape `(batch, time, features)` and `units` units:
    the merged output, `(batch, time, 2 * units)` for `"concat"` with
    `return_sequences=True` (`(batch, 2 * units)` without); with `return_state=True`
    it is followed by the forward layer's final states then the backward layer's.
    With `merge_mode=None` the forward and backward outputs come first, then the states.

    As in `Bidirectional`: a dtype policy given to the wrapper (`dtype="mixed_float16"`)
    sets the dtype of its outputs, and a stateful wrapper has `states`, `reset_state()`
    and `reset_states()`.

    Reference: M. Schuster and K. K. Paliwal, "Bidirectional recurrent neural networks",
    IEEE Transactions on Signal Processing 45(11), 1997.
    """

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        _check_is_recurrent_layer(layer, "layer")
        if backward_layer is not None:
            _check_is_recurrent_layer(backward_layer, "backward_layer")
        if merge_mode not in MERGE_MODES_OR_NONE:
            raise ValueError(
                f"Unknown merge_mode={merge_mode!r}. "
                f"Use one of: {', '.join(repr(mode) for mode in MERGE_MODES_OR_NONE)}."
            )
        super().__init__(**kwargs)
        # The forward layer is a fresh copy of `layer` (same settings, new weights). It is
        # assigned first, so its weights come first in `self.weights`, as in Bidirectional.
        name = layer.name.removeprefix("forward_")  # (a reloaded layer is already prefixed)
        self.forward_layer = _copy_layer(layer, name=f"forward_{name}")
        # The backward layer is another copy that reads the sequence the other way.
        if backward_layer is None:
            name = layer.name.removeprefix("backward_")
            backward_layer = _copy_layer(layer, name=f"backward_{name}", go_backwards=True)
        self.backward_layer = backward_layer
        self._check_layers_match()

        # Outputs at masked (padded) steps are zeros when returning sequences. Without
        # sequences, the output is the last step's: it must then be the last *unmasked*
        # step's output (zero_output_for_mask=False), or post-padding would zero it.
        for sublayer in (self.forward_layer, self.backward_layer):
            if hasattr(sublayer, "zero_output_for_mask"):
                sublayer.zero_output_for_mask = sublayer.return_sequences

        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = layer.stateful
        self.supports_masking = True

    def _check_layers_match(self):
        forward, backward = self.forward_layer, self.backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(
                "The forward and backward layers read the sequence in the same direction "
                f"(both have go_backwards={forward.go_backwards}). Give the backward layer "
                "go_backwards=True and `layer` go_backwards=False, or leave "
                "backward_layer=None to get a reversed copy of `layer`."
            )
        for attribute in ("return_sequences", "return_state", "stateful"):
            forward_value = getattr(forward, attribute)
            backward_value = getattr(backward, attribute)
            if forward_value != backward_value:
                raise ValueError(
                    f"The forward and backward layers must have the same {attribute}; got "
                    f"{forward_value} for the forward layer and {backward_value} for the "
                    "backward layer."
                )

    def build(self, sequences_shape, initial_state_shape=None):
        self._check_sequences_shape(sequences_shape)
        # Create both layers' weights now, so that e.g. `set_weights` works before a call.
        for sublayer in (self.forward_layer, self.backward_layer):
            if not sublayer.built:
                sublayer.build(sequences_shape)

    def call(self, sequences, initial_state=None, mask=None, training=None):
        # An initial state, if given, is the forward layer's states then the backward's.
        forward_state, backward_state = self._split_initial_state(initial_state)

        # 1. Run the forward layer: it reads x_1, x_2, ..., x_T.
        forward = self.forward_layer(
            sequences, initial_state=forward_state, mask=mask, training=training
        )
        # 2. Run the backward layer on the same inputs: it reads x_T, ..., x_1, so its
        #    outputs come out last-step-first.
        backward = self.backward_layer(
            sequences, initial_state=backward_state, mask=mask, training=training
        )

        # 3. With return_state each layer returns [output, *final_states]: keep the
        #    states aside, forward layer's first.
        states = ()
        if self.return_state:
            states = (*forward[1:], *backward[1:])
            forward, backward = forward[0], backward[0]

        # (Both outputs take the wrapper's dtype, e.g. float16 under "mixed_float16".)
        forward, backward = self._to_compute_dtype(forward, backward)

        # 4. Flip the backward outputs back along the time axis, so that step t of both
        #    directions lines up. (Without sequences there is one output: nothing to flip.)
        if self.return_sequences:
            backward = ops.flip(backward, axis=1)

        # 5. Merge the two directions (or, with merge_mode=None, return both).
        if self.merge_mode is None:
            return (forward, backward, *states)
        output = self._merge(forward, backward)
        return (output, *states) if self.return_state else output

    # ------------------------------------------------------------------ plumbing
    # Small helpers that keep `call` readable: checks with clear errors, dtype casts,
    # and the stateful API of `Bidirectional`.

    def _check_sequences_shape(self, sequences_shape):
        # The recurrent layers want (batch, time, features); say so before they fail
        # deep inside `build` ("Shapes used to initialize variables must be fully-defined").
        spec = self.forward_layer.input_spec
        ndim = getattr(spec, "ndim", None) or 3
        if len(sequences_shape) != ndim:
            raise ValueError(
                f"{self.__class__.__name__} expects `sequences` with {ndim} axes, (batch, time, "
                f"features) for SimpleRNN/GRU/LSTM; got shape {tuple(sequences_shape)}. "
                "Token ids need an Embedding layer first; one number per step needs "
                "reshaping to (batch, time, 1), e.g. with keras.layers.Reshape((-1, 1))."
            )

    def _split_initial_state(self, initial_state):
        """(forward states, backward states) from the list given as `initial_state`."""
        if initial_state is None:
            return None, None
        initial_state = list(initial_state)
        n_forward = len(self.forward_layer.state_size)
        n_backward = len(self.backward_layer.state_size)
        if len(initial_state) != n_forward + n_backward:
            raise ValueError(
                f"`initial_state` must hold {n_forward + n_backward} tensors: the forward "
                f"layer's {n_forward} state(s) then the backward layer's {n_backward} (an "
                f"{type(self.forward_layer).__name__} has {n_forward}); got "
                f"{len(initial_state)}."
            )
        return initial_state[:n_forward], initial_state[n_forward:]

    def _to_compute_dtype(self, *outputs):
        # Each recurrent layer computes in its own dtype; the wrapper's dtype policy
        # (e.g. "mixed_float16") decides the dtype of what it returns, as in Bidirectional.
        return tuple(ops.cast(output, self.compute_dtype) for output in outputs)

    @property
    def states(self):
        """The stateful layers' current states, forward layer's first (None if none)."""
        if self.forward_layer.states and self.backward_layer.states:
            return (*self.forward_layer.states, *self.backward_layer.states)
        return None

    def reset_state(self):
        """Resets the states of both layers (the wrapper must be stateful)."""
        if not self.stateful:
            raise AttributeError(
                "reset_state() needs a stateful layer: build the wrapper from a recurrent "
                "layer created with stateful=True."
            )
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def reset_states(self):
        """Alias of `reset_state()`, as in `Bidirectional`."""
        self.reset_state()

    def _merge(self, forward, backward):
        return merge_directions(forward, backward, self.merge_mode)

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        forward = self.forward_layer.compute_output_shape(sequences_shape)
        backward = self.backward_layer.compute_output_shape(sequences_shape)
        forward_states = backward_states = ()
        if self.return_state:  # each layer gives (output shape, *state shapes)
            (forward, *forward_states), (backward, *backward_states) = forward, backward
        states = (*forward_states, *backward_states)

        if self.merge_mode is None:
            return (tuple(forward), tuple(backward), *states)
        if self.merge_mode == "concat":  # the two outputs side by side
            output = (*forward[:-1], forward[-1] + backward[-1])
        else:  # sum, ave, mul: same shape as each output
            output = tuple(forward)
        return (output, *states) if self.return_state else output

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        # Only an output with a time axis (return_sequences) keeps the mask.
        output_mask = mask if self.return_sequences else None
        output_masks = (output_mask,) if self.merge_mode else (output_mask, output_mask)
        if not self.return_state:
            return output_masks[0] if self.merge_mode else output_masks
        # The final states have no time axis, so no mask.
        n_states = len(self.forward_layer.state_size) + len(self.backward_layer.state_size)
        return (*output_masks, *(None,) * n_states)

    def get_config(self):
        config = {
            "layer": keras.saving.serialize_keras_object(self.forward_layer),
            "merge_mode": self.merge_mode,
            "backward_layer": keras.saving.serialize_keras_object(self.backward_layer),
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("layer", "backward_layer"):
            config[key] = keras.saving.deserialize_keras_object(
                config[key], custom_objects=custom_objects
            )
        return cls(**config)


def _check_is_recurrent_layer(layer, parameter):
    """A clear error when `layer` is a string, a class or a non-recurrent layer."""
    if isinstance(layer, type) and issubclass(layer, keras.layers.Layer):
        problem = f"the class {layer.__name__}, not an instance"
    elif not isinstance(layer, keras.layers.Layer):
        problem = f"{layer!r} of type {type(layer).__name__}"
    elif not all(hasattr(layer, a) for a in ("go_backwards", "return_sequences", "return_state")):
        problem = f"a {type(layer).__name__} layer, which is not recurrent"
    else:
        return
    raise ValueError(
        f"`{parameter}` must be a recurrent layer instance such as "
        f"keras.layers.SimpleRNN(16); got {problem}. Create the layer first, e.g. "
        f"HandmadeBidirectional(keras.layers.SimpleRNN(16, return_sequences=True))."
    )


def _copy_layer(layer, name, **changes):
    """A fresh, unbuilt copy of `layer`: same config (with `changes`), new weights."""
    copy = layer.__class__.from_config({**layer.get_config(), **changes, "name": name})
    # `use_cudnn` (GRU, LSTM) is not part of the config: carry it over, as Bidirectional does.
    if hasattr(layer, "use_cudnn"):
        copy.use_cudnn = layer.use_cudnn
    return copy


@keras.saving.register_keras_serializable(package="birnn")
class ReverseTime(keras.layers.Layer):
    """Flips a sequence along the time axis and passes the mask on unchanged.

    Step t becomes step T+1-t. A recurrent layer with `go_backwards=True` and
    `return_sequences=True` returns its outputs in the order it produced them, last token
    first, while the padding mask it passes on is still in reading order. Flipping the
    outputs back lines them up with the mask again: this is the flip a bidirectional RNN
    applies to its backward half (notebook 01 wires it by hand), and what a backward-only
    model needs before a masked pooling layer.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return ops.flip(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return input_shape


def bidirectional_layer(model: keras.Model) -> keras.layers.Layer:
    """The one bidirectional layer of `model`: a `HandmadeBidirectional`, a
    `keras.layers.Bidirectional` or a `utils.fused.FusedBidirectionalSimpleRNN` (any layer with
    a `forward_layer` and a `backward_layer`)."""
    found = [layer for layer in model.layers
             if hasattr(layer, "forward_layer") and hasattr(layer, "backward_layer")]
    if len(found) != 1:
        raise ValueError(f"{model.name} has {len(found)} bidirectional layers (layers with a "
                         "forward_layer and a backward_layer); expected exactly 1.")
    return found[0]


#: How Keras names the group of each wrapper in a `.weights.h5` file: its class name in
#: snake case, numbered when a model holds several (`bidirectional`, `bidirectional_1`, ...).
_WEIGHTS_GROUP = {"keras": "bidirectional", "handmade": "handmade_bidirectional"}


def convert_weights_file(source, destination, to="handmade"):
    """Writes a copy of the `.weights.h5` file `source` that loads into the other wrapper.

    A model built with `keras.layers.Bidirectional` and the same model built with
    `HandmadeBidirectional` hold the same weights, laid out alike in a `.weights.h5`
    file (`forward_layer/...`, `backward_layer/...`), except for one name: Keras files
    each layer of a model under its class name (`layers/bidirectional/...` against
    `layers/handmade_bidirectional/...`). This renames those groups, nothing else:

        convert_weights_file("keras.weights.h5", "hand.weights.h5", to="handmade")
        hand_model.load_weights("hand.weights.h5")

    Args:
        source: a file written by `model.save_weights(...)`.
        destination: where to write the converted copy (a new `.weights.h5` path).
        to: `"handmade"` (from a model using `keras.layers.Bidirectional`) or `"keras"`
            (from a model using `HandmadeBidirectional`).

    Returns: the number of wrappers renamed. (With both models in memory, no file is
    needed: `hand_model.set_weights(keras_model.get_weights())`.)
    """
    if to not in _WEIGHTS_GROUP:
        raise ValueError(f"Unknown to={to!r}. Use to='handmade' or to='keras'.")
    old_name = _WEIGHTS_GROUP["keras" if to == "handmade" else "handmade"]
    new_name = _WEIGHTS_GROUP[to]
    with h5py.File(source, "r") as file:
        renames = {path: _renamed(path, old_name, new_name) for path in
                   _wrapper_groups(file, old_name)}
        both = [(old, new) for old, new in renames.items() if new in file]
    if not renames:
        wrapper = "keras.layers.Bidirectional" if to == "handmade" else "HandmadeBidirectional"
        raise ValueError(
            f"{source} holds no {old_name!r} group: it was not saved from a model using "
            f"{wrapper}, which to={to!r} converts from."
        )
    if both:
        raise ValueError(
            f"{source} holds both {both[0][0]!r} and {both[0][1]!r}: the model mixes the two "
            "wrappers. Convert files of models that use only one of them."
        )

    shutil.copyfile(source, destination)
    with h5py.File(destination, "r+") as file:
        for path in sorted(renames, key=lambda path: -path.count("/")):  # deepest first
            file.move(path, renames[path])
    return len(renames)


def _renamed(path, old_name, new_name):
    """`layers/bidirectional_1` -> `layers/handmade_bidirectional_1` (and back)."""
    parent, _, name = path.rpartition("/")
    return f"{parent}/{new_name}{name.removeprefix(old_name)}".lstrip("/")


def _wrapper_groups(file, name):
    """Paths of the groups called `name` (or `name_<n>`) that hold both directions."""
    pattern = re.compile(rf"(.*/)?{name}(_\d+)?")
    found = []

    def visit(path, item):
        if isinstance(item, h5py.Group) and pattern.fullmatch(path):
            if {"forward_layer", "backward_layer"} <= set(item):
                found.append(path)

    file.visititems(visit)
    return found


#: Keras merge layers for the merge modes of `keras.layers.Bidirectional`.
# ---------------------------------------------------------------------------------------
# The four merges as Keras layers, and the small RNNs notebook 01 takes apart
# ---------------------------------------------------------------------------------------


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
