"""The classifier builder: shapes, parameter counts, directions and errors."""

import keras
import numpy as np
import pytest

from utils import HandmadeBidirectional
from utils.models import ReverseTime, sentiment_model

SMALL = dict(units=3, embed_dim=4, vocab_size=20, maxlen=6)


def rnn_params(model):
    return sum(layer.count_params() for layer in model.layers
               if layer.name not in ("embedding", "head"))


@pytest.mark.parametrize("merge_mode, head_inputs", [("concat", 6), ("sum", 3), ("ave", 3),
                                                      ("mul", 3)])
def test_merge_mode_sets_the_head_width(merge_mode, head_inputs):
    model = sentiment_model("both", merge_mode=merge_mode, **SMALL)
    assert model.get_layer("head").kernel.shape == (head_inputs, 1)
    assert model(np.ones((2, 6), "int32")).shape == (2, 1)


def test_one_direction_has_half_the_recurrent_parameters():
    both = sentiment_model("both", **SMALL)
    forward = sentiment_model("forward", **SMALL)
    backward = sentiment_model("backward", **SMALL)
    assert rnn_params(both) == 2 * rnn_params(forward) == 2 * rnn_params(backward)
    assert backward.layers[1].go_backwards and not forward.layers[1].go_backwards


def test_wrappers_agree_with_the_same_weights():
    hand = sentiment_model("both", wrapper="handmade", **SMALL)
    ours = [layer for layer in hand.layers if isinstance(layer, HandmadeBidirectional)]
    assert len(ours) == 1
    keras_model = sentiment_model("both", wrapper="keras", **SMALL)
    assert isinstance(keras_model.layers[1], keras.layers.Bidirectional)
    keras_model.set_weights(hand.get_weights())
    x = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9]], "int32")
    np.testing.assert_allclose(hand(x), keras_model(x), atol=1e-6)


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_pooling_ignores_padding(pooling):
    model = sentiment_model("both", pooling=pooling, **SMALL)
    short = np.array([[5, 6, 7, 0, 0, 0]], "int32")
    # the same words with other padding length: with the mask, padding must not matter
    other = sentiment_model("both", pooling=pooling, **{**SMALL, "maxlen": 9})
    other.set_weights(model.get_weights())
    np.testing.assert_allclose(model(short), other(np.pad(short, ((0, 0), (0, 3)))), atol=1e-6)


@pytest.mark.parametrize("direction", ["both", "forward", "backward"])
def test_avg_pooling_sees_only_the_real_tokens_in_every_direction(direction):
    # A review shorter than half of maxlen, padded, against the same words with no padding
    # at all. A backward RNN returns its outputs last token first: unless they are flipped
    # back into reading order, the mask picks padding outputs and the pooled value differs.
    model = sentiment_model(direction, pooling="avg", **SMALL)
    unpadded = sentiment_model(direction, pooling="avg", **{**SMALL, "maxlen": 2})
    unpadded.set_weights(model.get_weights())
    words = np.array([[5, 6]], "int32")
    np.testing.assert_allclose(model(np.pad(words, ((0, 0), (0, 4)))), unpadded(words), atol=1e-6)


def test_reverse_time_flips_and_keeps_the_mask():
    x = np.arange(12, dtype="float32").reshape(1, 4, 3)
    mask = np.array([[True, True, False, False]])
    layer = ReverseTime()
    np.testing.assert_array_equal(layer(x), x[:, ::-1])
    np.testing.assert_array_equal(layer.compute_mask(x, mask), mask)


@pytest.mark.parametrize("kwargs, message", [
    (dict(direction="sideways"), "direction must be one of"),
    (dict(cell="transformer"), "cell must be one of"),
    (dict(pooling="sum"), "pooling must be None"),
    (dict(merge_mode="avg"), "merge_mode must be one of"),
    (dict(wrapper="torch"), "wrapper must be"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sentiment_model(**{**SMALL, **kwargs})


def test_masked_pooling_skips_padding_and_empty_reviews():
    from utils.models import MaskedPooling1D

    x = np.array([[[1.0, -5.0], [3.0, -1.0], [100.0, 100.0]],
                  [[-2.0, -3.0], [9.0, 9.0], [9.0, 9.0]]], "float32")
    mask = np.array([[True, True, False], [False, False, False]])
    avg = np.asarray(MaskedPooling1D("avg")(x, mask=mask))
    top = np.asarray(MaskedPooling1D("max")(x, mask=mask))
    np.testing.assert_allclose(avg, [[2.0, -3.0], [0.0, 0.0]])
    np.testing.assert_allclose(top, [[3.0, -1.0], [0.0, 0.0]])  # padding (100) never wins
    with pytest.raises(ValueError, match="mode must be"):
        MaskedPooling1D("sum")


def test_masked_average_equals_keras_on_real_reviews():
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    mask = np.array([[True, True, True, False], [True, True, True, True]])
    from utils.models import MaskedPooling1D

    ours = MaskedPooling1D("avg")(x, mask=mask)
    theirs = keras.layers.GlobalAveragePooling1D()(x, mask=mask)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def outputs_and_gradients(model, ids, labels):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        p = model(ids)
        loss = keras.ops.mean(keras.losses.binary_crossentropy(labels, p))
    return [p, *map(tf.convert_to_tensor, tape.gradient(loss, model.trainable_weights))]


@pytest.mark.parametrize("pooling", [None, "avg"])
@pytest.mark.parametrize("direction, merge_mode", [("both", "concat"), ("both", "mul"),
                                                   ("forward", None), ("backward", None)])
def test_the_fused_engine_computes_what_the_layers_compute(direction, merge_mode, pooling):
    keras.utils.set_random_seed(3)
    ids = np.array([[5, 6, 7, 0, 0, 0], [4, 9, 3, 2, 11, 12], [8, 0, 0, 0, 0, 0]], "int32")
    labels = np.array([[1.0], [0.0], [1.0]], "float32")
    plain, fused = (sentiment_model(direction, merge_mode, pooling=pooling, fused=f, **SMALL)
                    for f in (False, True))
    assert type(fused.layers[1]).__name__.startswith("Fused")
    fused.set_weights([w * 3 for w in plain.get_weights()])  # weights that make states differ
    plain.set_weights(fused.get_weights())
    for ours, theirs in zip(outputs_and_gradients(fused, ids, labels),
                            outputs_and_gradients(plain, ids, labels), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("kwargs", [dict(cell="gru"), dict(wrapper="keras")])
def test_the_fused_engine_is_refused_where_it_does_not_exist(kwargs):
    with pytest.raises(ValueError, match="fused=True needs cell='simple_rnn'"):
        sentiment_model("both", fused=True, **kwargs, **SMALL)
