"""Tests for `utils.layers.HandmadeBidirectional`, checked against `keras.layers.Bidirectional`.

Each comparison builds both wrappers, gives the hand-made one the Keras one's weights
with `set_weights` (after filling them with random values, biases included, so a
wrong weight order would show), and runs both on small random inputs.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from utils.layers import MERGE_MODES_OR_NONE, HandmadeBidirectional  # noqa: E402

CELLS = {"SimpleRNN": keras.layers.SimpleRNN, "GRU": keras.layers.GRU, "LSTM": keras.layers.LSTM}
N_STATES = {"SimpleRNN": 1, "GRU": 1, "LSTM": 2}
MERGE_MODES = MERGE_MODES_OR_NONE  # every merge_mode the wrapper takes, None included
BATCH, TIME, FEATURES, UNITS = 3, 5, 4, 3
VOCAB, LENGTHS = 9, (5, 3, 1)  # token ids 1..8 (0 is padding); one length per sequence
ATOL = 1e-5


# ---------------------------------------------------------------------------- helpers


def random_inputs(seed=0, shape=(BATCH, TIME, FEATURES)):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def randomize_weights(layer, seed=1):
    """Random weights everywhere (biases too), so that no two weights are alike."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()])


def make_pair(cell, merge_mode="concat", input_shape=(BATCH, TIME, FEATURES), **rnn_kwargs):
    """A Keras Bidirectional and a HandmadeBidirectional holding the same weights."""
    keras_bi = keras.layers.Bidirectional(CELLS[cell](UNITS, **rnn_kwargs), merge_mode=merge_mode)
    hand = HandmadeBidirectional(CELLS[cell](UNITS, **rnn_kwargs), merge_mode=merge_mode)
    keras_bi.build(input_shape)
    hand.build(input_shape)
    randomize_weights(keras_bi)
    hand.set_weights(keras_bi.get_weights())
    return keras_bi, hand


def as_list(outputs):
    """The layer's outputs as a list of NumPy arrays (one item if a single tensor)."""
    if isinstance(outputs, (list, tuple)):
        return [keras.ops.convert_to_numpy(o) for o in outputs]
    return [keras.ops.convert_to_numpy(outputs)]


def assert_outputs_close(expected, got):
    assert isinstance(got, (list, tuple)) == isinstance(expected, (list, tuple))
    expected, got = as_list(expected), as_list(got)
    assert len(got) == len(expected)
    for e, g in zip(expected, got, strict=True):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, atol=ATOL)


def padded_tokens(padding):
    """Integer sequences of LENGTHS, zero-padded to TIME steps at the start ('pre') or end."""
    rng = np.random.default_rng(2)
    sequences = [rng.integers(1, VOCAB, size=n).tolist() for n in LENGTHS]
    return keras.utils.pad_sequences(sequences, maxlen=TIME, padding=padding)


def lengths_mask(padding):
    """Boolean (batch, time) mask, True at the real steps of sequences of LENGTHS."""
    steps = np.arange(TIME)
    lengths = np.array(LENGTHS)[:, None]
    return steps >= TIME - lengths if padding == "pre" else steps < lengths


def gradients(layer, x, loss_weights):
    """Gradients of a scalar loss of the outputs, w.r.t. the trainable weights and the input."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = layer(x)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        loss = sum(tf.reduce_sum(o * w) for o, w in zip(outputs, loss_weights, strict=True))
    return tape.gradient(loss, [*layer.trainable_weights, x])


# ------------------------------------------------------------- outputs and gradients


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
def test_outputs_match_keras(merge_mode, cell, return_sequences):
    keras_bi, hand = make_pair(cell, merge_mode, return_sequences=return_sequences)
    x = random_inputs()
    assert_outputs_close(keras_bi(x), hand(x))


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_return_state_matches_keras(merge_mode, cell, return_sequences):
    kwargs = {"return_sequences": return_sequences, "return_state": True}
    keras_bi, hand = make_pair(cell, merge_mode, **kwargs)
    x = random_inputs()
    expected, got = keras_bi(x), hand(x)
    n_outputs = 1 if merge_mode else 2
    assert len(got) == n_outputs + 2 * N_STATES[cell]
    assert_outputs_close(expected, got)

    # The order is: output(s), then the forward layer's states, then the backward layer's.
    states = as_list(got)[n_outputs:]
    forward_states = as_list(hand.forward_layer(x))[1:]
    backward_states = as_list(hand.backward_layer(x))[1:]
    for state, own_state in zip(states, forward_states + backward_states, strict=True):
        np.testing.assert_allclose(state, own_state, atol=ATOL)


@pytest.mark.parametrize("cell", CELLS)
def test_states_are_the_ends_of_the_sequences(cell):
    """Forward h = forward output at the last step; backward h = backward output at step 0."""
    _, hand = make_pair(cell, "concat", return_sequences=True, return_state=True)
    output, *states = as_list(hand(random_inputs()))
    forward_h, backward_h = states[0], states[N_STATES[cell]]  # h comes first (LSTM: h, c)
    np.testing.assert_allclose(output[:, -1, :UNITS], forward_h, atol=ATOL)
    np.testing.assert_allclose(output[:, 0, UNITS:], backward_h, atol=ATOL)


@pytest.mark.parametrize("cell", CELLS)
def test_initial_state_is_split_forward_then_backward(cell):
    keras_bi, hand = make_pair(cell, return_sequences=True, return_state=True)
    rng = np.random.default_rng(3)
    initial_state = [
        tf.constant(rng.normal(size=(BATCH, UNITS)).astype("float32"))
        for _ in range(2 * N_STATES[cell])
    ]
    x = random_inputs()
    expected = keras_bi(x, initial_state=initial_state)
    got = hand(x, initial_state=initial_state)
    assert_outputs_close(expected, got)
    assert not np.allclose(as_list(got)[0], as_list(hand(x))[0])  # the states were used


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
def test_gradients_match_keras(merge_mode, cell, return_sequences):
    keras_bi, hand = make_pair(cell, merge_mode, return_sequences=return_sequences)
    x = random_inputs()
    # A fixed random weighting of the outputs makes the loss sensitive to every output value.
    rng = np.random.default_rng(4)
    loss_weights = [rng.normal(size=o.shape).astype("float32") for o in as_list(keras_bi(x))]

    expected = gradients(keras_bi, x, loss_weights)
    got = gradients(hand, x, loss_weights)
    assert len(got) == len(expected) == len(hand.trainable_weights) + 1
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g, e, atol=ATOL)
    # One loss trains both directions: every weight, forward and backward, gets a gradient.
    for g in got:
        assert np.abs(g).max() > 1e-6


# ------------------------------------------------------------------------------ masks


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("cell", CELLS)
def test_embedding_mask_matches_keras(cell, padding, return_sequences):
    keras_bi, hand = make_pair(
        cell, return_sequences=return_sequences, return_state=True, input_shape=(BATCH, TIME, 4)
    )
    embedding = keras.layers.Embedding(VOCAB, FEATURES, mask_zero=True)
    embedded = embedding(padded_tokens(padding))  # carries the mask (tokens != 0)
    expected, got = keras_bi(embedded), hand(embedded)
    assert_outputs_close(expected, got)

    if return_sequences:
        output = as_list(got)[0]
        real = lengths_mask(padding)
        assert np.all(output[~real] == 0)  # padded steps: zero outputs, both halves
        assert np.all(np.abs(output[real]).max(axis=-1) > 0)  # real steps are not


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
def test_explicit_mask_argument_matches_keras(merge_mode, cell):
    keras_bi, hand = make_pair(cell, merge_mode, return_sequences=True)
    x = random_inputs()
    mask = lengths_mask("post")
    expected, got = keras_bi(x, mask=mask), hand(x, mask=mask)
    assert_outputs_close(expected, got)
    for output in as_list(got):
        assert np.all(output[~mask] == 0)
        assert np.all(np.abs(output[mask]).max(axis=-1) > 0)
    # The mask changed something: without it, the padded steps are read like the others.
    assert not np.allclose(as_list(got)[0], as_list(hand(x))[0])


@pytest.mark.parametrize("cell", CELLS)
def test_final_states_do_not_depend_on_padding_side(cell):
    _, hand = make_pair(cell, return_sequences=True, return_state=True)
    _, hand_last = make_pair(cell, return_sequences=False, return_state=True)
    hand_last.set_weights(hand.get_weights())
    embedding = keras.layers.Embedding(VOCAB, FEATURES, mask_zero=True)
    pre = as_list(hand(embedding(padded_tokens("pre"))))
    post = as_list(hand(embedding(padded_tokens("post"))))

    # The final states are the same whichever side the padding is on ...
    for state_pre, state_post in zip(pre[1:], post[1:], strict=True):
        np.testing.assert_allclose(state_pre, state_post, atol=ATOL)
    # ... and equal to running each sequence alone, without padding or mask.
    tokens = padded_tokens("post")
    for i, n in enumerate(LENGTHS):
        alone = as_list(hand(embedding(tokens[i : i + 1, :n])))
        for state, state_alone in zip(post[1:], alone[1:], strict=True):
            np.testing.assert_allclose(state[i : i + 1], state_alone, atol=ATOL)
        # The real steps' outputs are the same too, only shifted in time.
        np.testing.assert_allclose(pre[0][i, TIME - n :], alone[0][0], atol=ATOL)
        np.testing.assert_allclose(post[0][i, :n], alone[0][0], atol=ATOL)

    # Without sequences, the output is the last real step's, not a padded step's zeros.
    last_pre = as_list(hand_last(embedding(padded_tokens("pre"))))
    last_post = as_list(hand_last(embedding(padded_tokens("post"))))
    for a, b in zip(last_pre, last_post, strict=True):
        np.testing.assert_allclose(a, b, atol=ATOL)
    assert np.all(np.abs(last_post[0]).max(axis=-1) > 0)


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
def test_compute_mask_matches_keras(merge_mode, return_sequences):
    keras_bi, hand = make_pair("GRU", merge_mode, return_sequences=return_sequences)
    x, mask = random_inputs(), lengths_mask("pre")
    expected, got = keras_bi.compute_mask(x, mask), hand.compute_mask(x, mask)
    assert isinstance(got, tuple) == isinstance(expected, tuple)
    expected = expected if isinstance(expected, tuple) else [expected]
    got = got if isinstance(got, tuple) else [got]
    for e, g in zip(expected, got, strict=True):
        assert (g is None) == (e is None)
        if e is not None:
            np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_compute_mask_with_states_has_one_mask_per_output(merge_mode, cell):
    # (Keras's Bidirectional returns the output mask alone here, without the states' Nones.)
    _, hand = make_pair(cell, merge_mode, return_sequences=True, return_state=True)
    x, mask = random_inputs(), lengths_mask("pre")
    masks = hand.compute_mask(x, mask)
    n_outputs = 1 if merge_mode else 2
    assert len(masks) == len(hand(x, mask=mask)) == n_outputs + 2 * N_STATES[cell]
    for output_mask in masks[:n_outputs]:
        np.testing.assert_array_equal(output_mask, mask)
    assert all(state_mask is None for state_mask in masks[n_outputs:])


def masked_pooling_model(wrapper, return_state):
    """Tokens -> Embedding(mask_zero) -> wrapper -> average over time of the first output."""
    tokens = keras.Input(shape=(TIME,), dtype="int32")
    embedded = keras.layers.Embedding(VOCAB, FEATURES, mask_zero=True)(tokens)
    outputs = wrapper(embedded)
    sequence = outputs[0] if return_state else outputs
    return keras.Model(tokens, keras.layers.GlobalAveragePooling1D()(sequence))


@pytest.mark.parametrize("return_state", [True, False])
def test_next_layer_receives_the_mask(return_state):
    keras_bi, hand = make_pair("LSTM", return_sequences=True, return_state=return_state)
    keras_model = masked_pooling_model(keras_bi, return_state)
    hand_model = masked_pooling_model(hand, return_state)
    hand_model.set_weights(keras_model.get_weights())
    tokens = padded_tokens("post")
    pooled = keras.ops.convert_to_numpy(hand_model(tokens))
    np.testing.assert_allclose(pooled, keras.ops.convert_to_numpy(keras_model(tokens)), atol=ATOL)

    # The pooling averaged over the real steps only (an unmasked average would differ).
    sequence = as_list(hand(hand_model.layers[1](tokens)))[0]
    real = lengths_mask("post")[..., None]
    masked_mean = (sequence * real).sum(axis=1) / real.sum(axis=1)
    np.testing.assert_allclose(pooled, masked_mean, atol=ATOL)
    assert not np.allclose(pooled, sequence.mean(axis=1), atol=ATOL)


# -------------------------------------------------------------- weights and shapes


def describe_weights(layer):
    """(direction, variable name, shape) per weight, e.g. ('forward', 'kernel', (4, 12))."""
    return [
        (w.path.split("/")[1].split("_")[0], w.path.split("/")[-1], tuple(w.shape))
        for w in layer.weights
    ]


@pytest.mark.parametrize("cell", CELLS)
def test_weights_in_the_same_order_as_keras(cell):
    keras_bi, hand = make_pair(cell)
    assert describe_weights(hand) == describe_weights(keras_bi)
    assert hand.count_params() == keras_bi.count_params()
    n = len(hand.weights) // 2
    assert [w.path for w in hand.weights[:n]] == [w.path for w in hand.forward_layer.weights]
    assert [w.path for w in hand.weights[n:]] == [w.path for w in hand.backward_layer.weights]


@pytest.mark.parametrize("return_state", [True, False])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("cell", ["SimpleRNN", "LSTM"])
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
def test_output_shapes_match_keras(merge_mode, cell, return_sequences, return_state):
    kwargs = {"return_sequences": return_sequences, "return_state": return_state}
    keras_bi = keras.layers.Bidirectional(CELLS[cell](UNITS, **kwargs), merge_mode=merge_mode)
    hand = HandmadeBidirectional(CELLS[cell](UNITS, **kwargs), merge_mode=merge_mode)
    shape = (None, TIME, FEATURES)
    assert hand.compute_output_shape(shape) == keras_bi.compute_output_shape(shape)

    # In a functional model, the symbolic shapes are those of the real outputs.
    symbolic = hand(keras.Input(shape=shape[1:]))
    symbolic = symbolic if isinstance(symbolic, (list, tuple)) else [symbolic]
    real = as_list(hand(random_inputs()))
    assert [(BATCH, *s.shape[1:]) for s in symbolic] == [r.shape for r in real]


def test_summary_of_a_model_using_the_layer():
    inputs = keras.Input(shape=(TIME, FEATURES))
    outputs = HandmadeBidirectional(keras.layers.SimpleRNN(UNITS, return_sequences=True))(inputs)
    model = keras.Model(inputs, outputs)
    lines = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    text = "\n".join(lines)
    assert "HandmadeBidirectional" in text
    assert f"(None, {TIME}, {2 * UNITS})" in text
    n_params = 2 * (FEATURES * UNITS + UNITS * UNITS + UNITS)
    assert model.count_params() == n_params
    assert f"{n_params}" in text


# --------------------------------------------------------- construction and saving


def test_sublayers_are_fresh_copies():
    layer = keras.layers.GRU(UNITS, return_sequences=True, name="gru_in")
    hand = HandmadeBidirectional(layer)
    assert hand.forward_layer is not layer and hand.backward_layer is not layer
    assert hand.forward_layer.name == "forward_gru_in"
    assert hand.backward_layer.name == "backward_gru_in"
    assert (hand.forward_layer.go_backwards, hand.backward_layer.go_backwards) == (False, True)
    assert hand.forward_layer.units == hand.backward_layer.units == UNITS
    assert hand.return_sequences and not hand.return_state
    # Zero outputs at masked steps are forced on when returning sequences, as in Bidirectional.
    assert hand.forward_layer.zero_output_for_mask and hand.backward_layer.zero_output_for_mask
    plain = HandmadeBidirectional(keras.layers.GRU(UNITS))
    assert not plain.forward_layer.zero_output_for_mask


def test_given_backward_layer_is_used_as_is():
    backward = keras.layers.SimpleRNN(
        UNITS + 1, activation="relu", go_backwards=True, return_sequences=True
    )
    hand = HandmadeBidirectional(
        keras.layers.SimpleRNN(UNITS, return_sequences=True), backward_layer=backward
    )
    assert hand.backward_layer is backward
    assert hand(random_inputs()).shape == (BATCH, TIME, 2 * UNITS + 1)
    # The symbolic shape counts both widths (Keras's Bidirectional counts the forward one
    # twice, (None, 5, 6) here, and a Dense layer after it then fails).
    inputs = keras.Input(shape=(TIME, FEATURES))
    outputs = keras.layers.Dense(2)(hand(inputs))
    assert hand.compute_output_shape((None, TIME, FEATURES)) == (None, TIME, 2 * UNITS + 1)
    assert keras.Model(inputs, outputs)(random_inputs()).shape == (BATCH, TIME, 2)


@pytest.mark.parametrize("cell", CELLS)
def test_config_round_trip(cell):
    backward = CELLS[cell](UNITS, activation="relu", go_backwards=True, return_sequences=True)
    hand = HandmadeBidirectional(
        CELLS[cell](UNITS, return_sequences=True), merge_mode="sum", backward_layer=backward
    )
    x = random_inputs()
    hand.build(x.shape)
    randomize_weights(hand)
    config = hand.get_config()
    clone = HandmadeBidirectional.from_config(config)
    clone.build(x.shape)  # (the built sublayers' configs also record their input shape)
    assert clone.get_config() == config
    assert clone.merge_mode == "sum"
    assert clone.backward_layer.get_config()["activation"] == "relu"
    clone.set_weights(hand.get_weights())
    assert_outputs_close(hand(x), clone(x))


# Keras's own saving code calls np.array on TF variables, which NumPy 2 warns about.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize("with_custom_objects", [True, False])
def test_saved_model_loads_with_identical_predictions(tmp_path, with_custom_objects):
    inputs = keras.Input(shape=(TIME,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, FEATURES, mask_zero=True)(inputs)
    x = HandmadeBidirectional(keras.layers.LSTM(UNITS, return_sequences=True), merge_mode="ave")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    randomize_weights(model)
    path = tmp_path / "model.keras"
    model.save(path)

    # Without custom_objects, Keras finds the class by the name it was registered under.
    assert keras.saving.get_registered_name(HandmadeBidirectional) == "birnn>HandmadeBidirectional"
    custom_objects = None
    if with_custom_objects:
        custom_objects = {"HandmadeBidirectional": HandmadeBidirectional}
    loaded = keras.saving.load_model(path, custom_objects=custom_objects)
    assert isinstance(loaded.layers[2], HandmadeBidirectional)
    assert loaded.layers[2].merge_mode == "ave"
    tokens = padded_tokens("post")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(tokens)), keras.ops.convert_to_numpy(model(tokens))
    )


def test_unknown_merge_mode_is_an_error():
    with pytest.raises(ValueError, match=r"merge_mode='avg'.*'concat', 'sum', 'ave', 'mul', None"):
        HandmadeBidirectional(keras.layers.SimpleRNN(UNITS), merge_mode="avg")


def test_backward_layer_reading_forwards_is_an_error():
    with pytest.raises(ValueError, match=r"same direction.*go_backwards=True"):
        HandmadeBidirectional(
            keras.layers.SimpleRNN(UNITS), backward_layer=keras.layers.SimpleRNN(UNITS)
        )
    with pytest.raises(ValueError, match="same direction"):  # both copies would read backwards
        HandmadeBidirectional(keras.layers.SimpleRNN(UNITS, go_backwards=True))


@pytest.mark.parametrize("attribute", ["return_sequences", "return_state"])
def test_mismatched_sublayers_are_an_error(attribute):
    backward = keras.layers.GRU(UNITS, go_backwards=True, **{attribute: True})
    with pytest.raises(ValueError, match=f"same {attribute}; got False .* and True"):
        HandmadeBidirectional(keras.layers.GRU(UNITS), backward_layer=backward)


# ---------------------------------------------------------------- why the flip


def test_backward_layer_alone_returns_outputs_last_step_first():
    hand = HandmadeBidirectional(keras.layers.SimpleRNN(UNITS, return_sequences=True))
    x = random_inputs()
    hand.build(x.shape)
    backward = keras.ops.convert_to_numpy(hand.backward_layer(x))

    # Its output at index 0 is the state after reading only the last input step x_T ...
    after_last_step_only = keras.ops.convert_to_numpy(hand.backward_layer(x[:, -1:]))[:, 0]
    np.testing.assert_allclose(backward[:, 0], after_last_step_only, atol=ATOL)
    # ... not after reading only the first step x_1 (that is the forward layer's order).
    after_first_step_only = keras.ops.convert_to_numpy(hand.backward_layer(x[:, :1]))[:, 0]
    assert not np.allclose(backward[:, 0], after_first_step_only, atol=1e-3)

    # The wrapper flips it back: the backward half at step t summarises x_t..x_T.
    merged = keras.ops.convert_to_numpy(hand(x))
    np.testing.assert_allclose(merged[:, ::-1, UNITS:], backward, atol=ATOL)
    np.testing.assert_allclose(merged[:, -1, UNITS:], after_last_step_only, atol=ATOL)
    for t in range(TIME):
        from_t = keras.ops.convert_to_numpy(hand.backward_layer(x[:, t:]))[:, -1]
        np.testing.assert_allclose(merged[:, t, UNITS:], from_t, atol=ATOL)


def test_bidirectional_layer_finds_the_one_wrapper_and_refuses_others():
    from utils.layers import bidirectional_layer
    from utils.models import sentiment_model

    small = dict(units=3, embed_dim=4, vocab_size=30, maxlen=6)
    for wrapper in ("handmade", "keras"):
        model = sentiment_model("both", wrapper=wrapper, **small)
        assert bidirectional_layer(model) is model.layers[1]
    with pytest.raises(ValueError, match="0 bidirectional layers"):
        bidirectional_layer(sentiment_model("forward", **small))


# ------------------------------------------------------------- drop-in for Bidirectional
# (Keras's own Bidirectional tests also run against the wrapper: test_keras_bidirectional_suite.)


@pytest.mark.parametrize("return_state", [True, False])
@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_dtype_policy_on_the_wrapper_sets_the_output_dtype(merge_mode, return_state):
    kwargs = {"return_sequences": True, "return_state": return_state}
    keras_bi = keras.layers.Bidirectional(
        keras.layers.GRU(UNITS, **kwargs), merge_mode=merge_mode, dtype="mixed_float16")
    hand = HandmadeBidirectional(
        keras.layers.GRU(UNITS, **kwargs), merge_mode=merge_mode, dtype="mixed_float16")
    for layer in (keras_bi, hand):
        layer.build((BATCH, TIME, FEATURES))
    randomize_weights(keras_bi)
    hand.set_weights(keras_bi.get_weights())
    x = random_inputs()
    expected, got = as_list(keras_bi(x)), as_list(hand(x))
    assert [g.dtype for g in got] == [e.dtype for e in expected]
    n_outputs = 1 if merge_mode else 2
    # The outputs in float16, not float32: the wrapper's policy rules. The final states keep
    # the recurrent layers' float32, in Bidirectional as here.
    assert [g.dtype for g in got[:n_outputs]] == [np.float16] * n_outputs
    assert all(g.dtype == np.float32 for g in got[n_outputs:])
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(g, e)
    assert all(w.dtype == "float32" for w in hand.weights)  # the weights stay in float32


def stateful_pair(cell="LSTM"):
    kwargs = {"stateful": True, "return_sequences": True}
    keras_bi = keras.layers.Bidirectional(CELLS[cell](UNITS, **kwargs))
    hand = HandmadeBidirectional(CELLS[cell](UNITS, **kwargs))
    for layer in (keras_bi, hand):
        layer.build((BATCH, TIME, FEATURES))
    randomize_weights(keras_bi)
    hand.set_weights(keras_bi.get_weights())
    return keras_bi, hand


def state_values(layer):
    return [keras.ops.convert_to_numpy(state) for state in layer.states]


# Keras converts its variables with np.array, which NumPy 2 warns about.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize("reset", ["reset_state", "reset_states"])
def test_stateful_wrapper_carries_and_resets_its_states(reset):
    keras_bi, hand = stateful_pair()
    x = random_inputs()
    assert hand.stateful and len(hand.states) == len(keras_bi.states) == 4
    first, second = as_list(hand(x))[0], as_list(hand(x))[0]
    assert not np.allclose(first, second, atol=1e-3)  # the second call started from the first
    np.testing.assert_allclose(keras_bi(x), first, atol=ATOL)
    np.testing.assert_allclose(keras_bi(x), second, atol=ATOL)
    # The states are the forward layer's then the backward layer's, as in Bidirectional.
    for got, expected in zip(state_values(hand), state_values(keras_bi), strict=True):
        np.testing.assert_allclose(got, expected, atol=ATOL)
    assert all(np.abs(state).max() > 0 for state in state_values(hand))

    getattr(hand, reset)()
    assert all(np.all(state == 0) for state in state_values(hand))
    np.testing.assert_allclose(as_list(hand(x))[0], first, atol=ATOL)  # as on the first call


def test_reset_state_of_a_stateless_wrapper_is_an_error():
    hand = HandmadeBidirectional(keras.layers.SimpleRNN(UNITS))
    hand.build((BATCH, TIME, FEATURES))
    assert hand.states is None
    with pytest.raises(AttributeError, match="stateful=True"):
        hand.reset_state()
    with pytest.raises(AttributeError, match="stateful=True"):
        hand.reset_states()


def two_wrapper_model(wrapper):
    """Tokens -> Embedding -> wrapper(LSTM, sequences) -> wrapper(SimpleRNN) -> Dense."""
    tokens = keras.Input(shape=(TIME,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, FEATURES, mask_zero=True)(tokens)
    x = wrapper(keras.layers.LSTM(UNITS, return_sequences=True), merge_mode="sum")(x)
    x = wrapper(keras.layers.SimpleRNN(UNITS))(x)
    return keras.Model(tokens, keras.layers.Dense(2)(x))


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize("to", ["handmade", "keras"])
def test_weights_file_converts_between_the_wrappers(tmp_path, to):
    from utils.layers import convert_weights_file

    wrappers = {"keras": keras.layers.Bidirectional, "handmade": HandmadeBidirectional}
    source_kind = "keras" if to == "handmade" else "handmade"
    source, target = two_wrapper_model(wrappers[source_kind]), two_wrapper_model(wrappers[to])
    randomize_weights(source)
    saved, converted = tmp_path / "source.weights.h5", tmp_path / "converted.weights.h5"
    source.save_weights(saved)

    # As saved, the file does not load: Keras files each layer under its class name.
    with pytest.raises(ValueError, match="could not be loaded"):
        target.load_weights(saved)
    # Converted (one line), it loads, and the two models predict the same.
    assert convert_weights_file(saved, converted, to=to) == 2  # the two wrappers renamed
    target.load_weights(converted)
    tokens = padded_tokens("post")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(target(tokens)),
                                  keras.ops.convert_to_numpy(source(tokens)))
    for got, expected in zip(target.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_weights_file_conversion_refuses_wrong_files(tmp_path):
    from utils.layers import convert_weights_file

    saved, out = tmp_path / "hand.weights.h5", tmp_path / "out.weights.h5"
    two_wrapper_model(HandmadeBidirectional).save_weights(saved)
    with pytest.raises(ValueError, match="no 'bidirectional' group.*keras.layers.Bidirectional"):
        convert_weights_file(saved, out, to="handmade")  # it is hand-made already
    with pytest.raises(ValueError, match="to='handmade' or to='keras'"):
        convert_weights_file(saved, out, to="Keras")
    assert not out.exists()  # nothing written on error

    # A model mixing the two wrappers: renaming would clash.
    tokens = keras.Input(shape=(TIME, FEATURES))
    x = keras.layers.Bidirectional(keras.layers.GRU(UNITS, return_sequences=True))(tokens)
    x = HandmadeBidirectional(keras.layers.GRU(UNITS))(x)
    keras.Model(tokens, x).save_weights(mixed := tmp_path / "mixed.weights.h5")
    with pytest.raises(ValueError, match="mixes the two wrappers"):
        convert_weights_file(mixed, out, to="handmade")
    assert not out.exists()


@pytest.mark.parametrize("parameter", ["layer", "backward_layer"])
@pytest.mark.parametrize(
    "value, problem",
    [("lstm", r"'lstm' of type str"),
     (keras.layers.LSTM, "the class LSTM, not an instance"),
     (keras.layers.Dense(UNITS), "a Dense layer, which is not recurrent")],
)
def test_non_recurrent_layer_argument_is_a_clear_error(parameter, value, problem):
    kwargs = {"layer": keras.layers.LSTM(UNITS), parameter: value}
    with pytest.raises(ValueError, match=f"`{parameter}` must be a recurrent layer .*{problem}"):
        HandmadeBidirectional(**kwargs)


@pytest.mark.parametrize("cell", ["SimpleRNN", "LSTM"])
def test_two_dimensional_input_is_a_clear_error(cell):
    hand = HandmadeBidirectional(CELLS[cell](UNITS))
    with pytest.raises(ValueError, match=r"3 axes, \(batch, time, features\).*\(None, 10\).*"
                                         r"Embedding layer"):
        hand(keras.Input(shape=(10,)))
    assert not hand.built  # refused before any weight was made
    hand(random_inputs())  # the same layer then works on 3-D inputs ...
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
        hand(random_inputs()[:, :, 0])  # ... and, built, refuses 2-D as Bidirectional does


@pytest.mark.parametrize("cell, n_given", [("LSTM", 2), ("LSTM", 3), ("SimpleRNN", 1),
                                           ("SimpleRNN", 4)])
def test_initial_state_of_the_wrong_length_is_a_clear_error(cell, n_given):
    hand = HandmadeBidirectional(CELLS[cell](UNITS))
    states = [tf.zeros((BATCH, UNITS))] * n_given
    n = 2 * N_STATES[cell]
    with pytest.raises(ValueError, match=rf"`initial_state` must hold {n} tensors.*got {n_given}"):
        hand(random_inputs(), initial_state=states)
