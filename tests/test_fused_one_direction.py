"""FusedSimpleRNN computes what SimpleRNN (forwards or with go_backwards) computes, with its
weights: outputs and gradients over the cases tests/test_fused.py runs for the bidirectional
layer, the same start after the same seed, saving, dropout and bad inputs."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_fused import MASKS, SHAPES, TOLERANCE, make_mask

from utils import set_seed
from utils.benchmark import compare_layers
from utils.fused import FusedSimpleRNN


def matched_pair(units, width, go_backwards, return_sequences, seed=0, use_bias=True):
    """A SimpleRNN with random weights (biases too) and the fused layer holding a copy."""
    keras_layer = keras.layers.SimpleRNN(units, go_backwards=go_backwards,
                                         return_sequences=return_sequences, use_bias=use_bias)
    fused = FusedSimpleRNN(units, go_backwards=go_backwards, return_sequences=return_sequences,
                           use_bias=use_bias)
    keras_layer.build((None, None, width))
    fused.build((None, None, width))
    rng = np.random.default_rng(seed)
    keras_layer.set_weights([rng.normal(0, 0.6, w.shape).astype("float32")
                             for w in keras_layer.get_weights()])
    fused.set_weights(keras_layer.get_weights())
    return fused, keras_layer


def assert_same(fused, keras_layer, x, mask, gradients=4):
    table = compare_layers(fused, keras_layer, x, mask)
    # the output, the weights' gradients and the input gradient are all compared
    assert list(table["kind"]).count("gradient") == gradients
    assert table["max abs difference"].max() < TOLERANCE, table.to_string()
    return table


# Shapes cycle with the cases: every (units, width, length, batch) value appears many times.
CASES = [(*SHAPES[i % len(SHAPES)], backwards, seqs, mask) for i, (backwards, seqs, mask) in
         enumerate(itertools.product([False, True], [False, True], MASKS))]


@pytest.mark.parametrize("units, width, steps, batch, go_backwards, return_sequences, mask",
                         CASES)
def test_outputs_and_gradients_agree_with_simple_rnn(units, width, steps, batch, go_backwards,
                                                     return_sequences, mask):
    rng = np.random.default_rng(units * 100 + steps)
    fused, keras_layer = matched_pair(units, width, go_backwards, return_sequences)
    x = rng.normal(size=(batch, steps, width)).astype("float32")
    table = assert_same(fused, keras_layer, x, make_mask(mask, batch, steps, rng))
    assert table["max abs value"].max() > 0.01  # real numbers were compared, not zeros


@pytest.mark.parametrize("go_backwards", [False, True])
def test_sequences_are_in_reading_order_and_carry_the_state_at_masked_steps(go_backwards):
    """What Keras 3 does, measured: with go_backwards the outputs come in reading order
    (output 0 after x_T); a masked step outputs the state carried (zeros before the first real
    step), not zeros; the mask passed on is the mask given, not reversed."""
    fused, keras_layer = matched_pair(3, 2, go_backwards, True, seed=1)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 6, 2)).astype("float32")
    mask = np.array([[False, True, False, True, True, False], [True] * 6])
    y = fused(x, mask=mask).numpy()
    np.testing.assert_allclose(y, keras_layer(x, mask=mask).numpy(), atol=TOLERANCE)
    reading = mask[:, ::-1] if go_backwards else mask
    forward = FusedSimpleRNN(3, return_sequences=True)
    forward.build((None, None, 2))
    forward.set_weights(fused.get_weights())
    x_read = x[:, ::-1] if go_backwards else x
    np.testing.assert_allclose(forward(x_read, mask=reading).numpy(), y, atol=1e-6)
    for i in range(6):  # row 0: masked steps repeat the previous output, or are zeros
        if not reading[0, i]:
            np.testing.assert_array_equal(y[0, i], y[0, i - 1] if i else np.zeros(3))
    np.testing.assert_array_equal(np.asarray(fused.compute_mask(x, tf.constant(mask))), mask)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_long_padding_with_a_large_recurrent_matrix_keeps_gradients_finite(go_backwards,
                                                                            return_sequences):
    """As in tests/test_fused.py: the padding moved in front of the real steps must not carry
    the gradient back through 250 products with a large U^T (float32 overflow, NaN)."""
    fused, keras_layer = matched_pair(4, 3, go_backwards, return_sequences, seed=5)
    rng = np.random.default_rng(6)
    kernel, _, bias = keras_layer.get_weights()
    recurrent = 1.5 * np.linalg.qr(rng.normal(size=(4, 4)))[0].astype("float32")
    weights = [0.1 * kernel, recurrent, bias]  # |h U| grows 1.5x a step; tanh not saturated
    keras_layer.set_weights(weights)
    fused.set_weights(weights)
    x = rng.normal(size=(4, 260, 3)).astype("float32")
    mask = np.arange(260)[None, :] < np.array([10, 3, 20, 40])[:, None]  # post-padding
    table = compare_layers(fused, keras_layer, x, mask)
    assert np.isfinite(table[["max abs difference", "max abs value"]].to_numpy()).all()
    assert (table["max abs difference"] <= 1e-5 * table["max abs value"]).all(), table.to_string()


def test_a_fully_masked_row_gives_zeros_and_no_gradient():
    for go_backwards, return_sequences in itertools.product([False, True], [False, True]):
        fused, _ = matched_pair(3, 2, go_backwards, return_sequences)
        x = tf.constant(np.random.default_rng(1).normal(size=(2, 4, 2)).astype("float32"))
        mask = tf.constant([[False] * 4, [True] * 4])
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fused(x, mask=mask)
            loss = tf.reduce_sum(y * y)
        dx = tape.gradient(loss, x).numpy()
        assert np.all(y.numpy()[0] == 0) and np.abs(y.numpy()[1]).max() > 0
        assert np.all(dx[0] == 0) and np.abs(dx[1]).max() > 0


@pytest.mark.parametrize("go_backwards", [False, True])
def test_same_weights_in_the_same_order_and_the_same_start_after_the_same_seed(go_backwards):
    set_seed(0)
    keras_layer = keras.layers.SimpleRNN(5, go_backwards=go_backwards)
    keras_layer.build((None, 7, 3))
    after_keras = keras.layers.Dense(2)  # the draws that follow are the same too
    after_keras.build((None, 5))
    set_seed(0)
    fused = FusedSimpleRNN(5, go_backwards=go_backwards)
    fused.build((None, 7, 3))
    after_fused = keras.layers.Dense(2)
    after_fused.build((None, 5))
    assert [w.shape for w in fused.get_weights()] == [(3, 5), (5, 5), (5,)]
    assert [w.path.split("/")[-1] for w in fused.weights] == ["kernel", "recurrent_kernel",
                                                              "bias"]
    for ours, theirs in zip(fused.get_weights() + after_fused.get_weights(),
                            keras_layer.get_weights() + after_keras.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    u = fused.get_weights()[1]  # not trivially equal: the recurrent kernel is orthogonal
    np.testing.assert_allclose(u @ u.T, np.eye(5), atol=1e-5)
    assert np.abs(fused.get_weights()[0]).max() > 0


@pytest.mark.parametrize("go_backwards", [False, True])
def test_without_bias(go_backwards):
    fused, keras_layer = matched_pair(4, 2, go_backwards, True, use_bias=False)
    assert len(fused.get_weights()) == 2
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 5, 2)).astype("float32")
    assert_same(fused, keras_layer, x, make_mask("holes", 3, 5, rng), gradients=3)


def test_mask_is_passed_on_only_with_sequences():
    ids = np.array([[3, 4, 0, 0], [5, 0, 0, 0]])
    embed = keras.layers.Embedding(10, 3, mask_zero=True)
    for return_sequences, go_backwards in itertools.product([True, False], [False, True]):
        layer = FusedSimpleRNN(2, go_backwards=go_backwards, return_sequences=return_sequences)
        reference = keras.layers.SimpleRNN(2, go_backwards=go_backwards,
                                           return_sequences=return_sequences)
        vectors = embed(ids)
        layer(vectors), reference(vectors)
        mask = layer.compute_mask(vectors, embed.compute_mask(ids))
        theirs = reference.compute_mask(vectors, embed.compute_mask(ids))
        if return_sequences:
            np.testing.assert_array_equal(np.asarray(mask), ids != 0)
            np.testing.assert_array_equal(np.asarray(theirs), ids != 0)
        else:
            assert mask is None and theirs is None
        assert layer.compute_output_shape((2, 4, 3)) == reference.compute_output_shape((2, 4, 3))


@pytest.mark.parametrize("go_backwards", [False, True])
def test_dropout_mask_is_one_per_sequence_and_feature_in_training_only(go_backwards):
    set_seed(0)
    layer = FusedSimpleRNN(8, go_backwards=go_backwards, return_sequences=True, dropout=0.5,
                           use_bias=False)
    layer.build((None, 9, 8))
    # no recurrence and W = I / 10: h_t = tanh((x_t * keep) / 10), so keep can be read back
    layer.set_weights([np.eye(8, dtype="float32") / 10, np.zeros((8, 8), "float32")])
    x = np.tile(np.random.default_rng(3).normal(size=(16, 1, 8)), (1, 9, 1)).astype("float32")
    y = layer(x, training=True).numpy()
    np.testing.assert_allclose(y, y[:, :1].repeat(9, 1), atol=1e-6)  # the same at every step
    plain = np.tanh(x / 10)
    np.testing.assert_allclose(layer(x, training=False).numpy(), plain, atol=1e-6)  # no dropout
    np.testing.assert_allclose(layer(x).numpy(), plain, atol=1e-6)
    # each feature of each sequence dropped, or kept and scaled by 1 / (1 - rate) as in Keras
    keep = np.arctanh(y[:, 0]) * 10 / x[:, 0]
    dropped = np.isclose(keep, 0, atol=1e-3)
    assert np.all(dropped | np.isclose(keep, 2, atol=1e-3))
    assert 0.3 < dropped.mean() < 0.7
    again = np.arctanh(layer(x, training=True).numpy()[:, 0]) * 10 / x[:, 0]
    assert (np.isclose(again, 0, atol=1e-3) != dropped).any()  # a new mask for each call


def test_dropout_trains():
    set_seed(0)
    model = keras.Sequential([keras.Input((9, 3)),
                              FusedSimpleRNN(4, go_backwards=True, dropout=0.3),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(16, 9, 3)).astype("float32"), rng.normal(size=(16, 1))
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    moved = [np.abs(a - b).max() for a, b in zip(model.get_weights(), before, strict=True)]
    assert min(moved) > 0 and all(np.isfinite(w).all() for w in model.get_weights())
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("go_backwards, return_sequences", [(False, False), (True, True)])
def test_a_model_starts_equal_and_trains_equal_in_a_compiled_graph(go_backwards,
                                                                   return_sequences):
    """Embedding(mask_zero) -> the layer -> (masked average) -> Dense, as fit runs it."""
    models = []
    for layer_class in (FusedSimpleRNN, keras.layers.SimpleRNN):
        set_seed(0)
        models.append(keras.Sequential([
            keras.Input((8,), dtype="int32"), keras.layers.Embedding(30, 3, mask_zero=True),
            layer_class(4, go_backwards=go_backwards, return_sequences=return_sequences),
            *([keras.layers.GlobalAveragePooling1D()] if return_sequences else []),
            keras.layers.Dense(1)]))
    fused, reference = models
    for ours, theirs in zip(fused.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)  # same seed, same start
    rng = np.random.default_rng(4)
    ids = rng.integers(1, 30, (16, 8))
    ids[:8, 5:] = 0  # post-padding
    ids[8:, :3] = 0  # pre-padding
    ids[4, [1, 6]] = 0  # holes
    y = rng.integers(0, 2, 16).astype("float32")
    for model in models:
        model.compile(keras.optimizers.SGD(0.5), "binary_crossentropy")
        model.fit(ids, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    moved = [np.abs(a - b).max() for a, b in zip(fused.get_weights(), reference.get_weights(),
                                                strict=True)]
    assert max(moved) < TOLERANCE
    np.testing.assert_allclose(fused.predict(ids, verbose=0), reference.predict(ids, verbose=0),
                               atol=TOLERANCE)


def test_config_and_saving_round_trip(tmp_path):
    model = keras.Sequential([
        keras.Input((6,), dtype="int32"), keras.layers.Embedding(20, 4, mask_zero=True),
        FusedSimpleRNN(3, go_backwards=True, return_sequences=True, dropout=0.2, seed=3),
        keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1),
    ])
    ids = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9]])
    layer = model.layers[1]
    config = layer.get_config()
    assert {k: config[k] for k in ("units", "go_backwards", "return_sequences", "dropout",
                                   "seed")} == {
        "units": 3, "go_backwards": True, "return_sequences": True, "dropout": 0.2, "seed": 3}
    copy = FusedSimpleRNN.from_config(config)
    assert copy.get_config() == config
    path = tmp_path / "fused.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.layers[1], FusedSimpleRNN) and loaded.layers[1].go_backwards
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0),
                               atol=1e-6)


@pytest.mark.parametrize("kwargs, word", [
    ({"units": 0}, "units"), ({"units": 2.5}, "units"), ({"units": True}, "units"),
    ({"units": 4, "dropout": 1.0}, "dropout"), ({"units": 4, "dropout": -0.1}, "dropout"),
])
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        FusedSimpleRNN(**kwargs)


def test_a_2d_input_is_refused_clearly():
    with pytest.raises(ValueError, match="ndim=3"):
        FusedSimpleRNN(2)(np.zeros((4, 3), "float32"))
