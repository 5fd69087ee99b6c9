"""Tests for `utils.birnn_demo`, the helpers of notebook 01 (one loss, two directions)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from utils.layers import (  # noqa: E402
    MERGE_LAYERS,
    HandmadeBidirectional,  # noqa: E402
    ReverseTime,
    direction_weights,
    merge_all,
    running_sum_rnn,
)
from utils.two_losses import (  # noqa: E402
    backward_weights_effect,
    copy_model,
    loss_and_gradients,
    randomize_weights,
    two_loss_twin,
)

VOCAB, MAXLEN, EMBED, UNITS, BATCH = 20, 7, 4, 3, 6


def small_classifier(seed=0):
    """Embedding -> HandmadeBidirectional(SimpleRNN) -> Dense(1), with random weights."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(shape=(MAXLEN,), dtype="int32"),
        keras.layers.Embedding(VOCAB, EMBED, mask_zero=True),
        HandmadeBidirectional(keras.layers.SimpleRNN(UNITS), name="birnn"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    randomize_weights(model.get_layer("birnn"), seed=seed + 10)
    randomize_weights(model.layers[-1], seed=seed + 20)
    return model


def small_batch(seed=0):
    """Padded token ids (post padding, lengths 2..MAXLEN) and 0/1 labels of both classes."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, MAXLEN + 1, size=BATCH)
    ids = [rng.integers(1, VOCAB, size=n).tolist() for n in lengths]
    x = keras.utils.pad_sequences(ids, maxlen=MAXLEN, padding="post")
    y = np.array([0, 1] * (BATCH // 2), dtype="float32")
    return x, y


def bi_layers(model):
    bi = model.get_layer("birnn")
    return bi.forward_layer, bi.backward_layer


def twin_layers(model):
    return model.get_layer("forward_rnn"), model.get_layer("backward_rnn")


def test_reverse_time_flips_the_time_axis_only():
    x = np.arange(2 * 4 * 3, dtype="float32").reshape(2, 4, 3)
    np.testing.assert_array_equal(ReverseTime()(x), x[:, ::-1, :])
    assert ReverseTime().compute_output_shape((None, 4, 3)) == (None, 4, 3)
    assert not ReverseTime().weights


def test_merge_all_on_the_two_states_of_the_question():
    merged = merge_all([[0.1, -0.3]], [[0.2, 0.1]])
    assert set(merged) == set(MERGE_LAYERS) == {"concat", "sum", "ave", "mul"}
    np.testing.assert_allclose(merged["concat"], [[0.1, -0.3, 0.2, 0.1]], atol=1e-7)
    np.testing.assert_allclose(merged["sum"], [[0.3, -0.2]], atol=1e-7)
    np.testing.assert_allclose(merged["ave"], [[0.15, -0.1]], atol=1e-7)
    np.testing.assert_allclose(merged["mul"], [[0.02, -0.03]], atol=1e-7)


def test_merge_all_keeps_the_time_axis():
    forward = np.ones((2, 5, 3))
    merged = merge_all(forward, 2 * forward)
    assert merged["concat"].shape == (2, 5, 6)
    assert all(merged[mode].shape == (2, 5, 3) for mode in ("sum", "ave", "mul"))


def test_running_sum_rnn_in_both_directions():
    x = np.array([1, 2, 3, 4, 5], dtype="float32").reshape(1, 5, 1)
    forward = keras.ops.convert_to_numpy(running_sum_rnn()(x))[0, :, 0]
    raw_backward = keras.ops.convert_to_numpy(running_sum_rnn(go_backwards=True)(x))[0, :, 0]
    np.testing.assert_allclose(forward, [1, 3, 6, 10, 15])
    np.testing.assert_allclose(raw_backward, [5, 9, 12, 14, 15])  # last step first
    last = keras.ops.convert_to_numpy(running_sum_rnn(return_sequences=False)(x))
    np.testing.assert_allclose(last, [[15]])


def test_running_sum_rnn_with_tanh_and_a_smaller_recurrent_weight():
    x = np.array([0.1, 0.2], dtype="float32").reshape(1, 2, 1)
    h = running_sum_rnn(activation="tanh", recurrent=0.5)(x)
    h1 = np.tanh(0.1)
    np.testing.assert_allclose(h[0, :, 0], [h1, np.tanh(0.2 + 0.5 * h1)], rtol=1e-6)


def test_direction_weights_names_every_weight_of_both_directions():
    model = small_classifier()
    weights = direction_weights(*bi_layers(model))
    assert list(weights) == [
        f"{d} {w}" for d in ("forward", "backward") for w in ("kernel", "recurrent_kernel", "bias")
    ]
    assert weights["backward bias"] is model.get_layer("birnn").backward_layer.trainable_weights[2]


def test_loss_and_gradients_gives_the_binary_cross_entropy_and_its_gradient():
    model = small_classifier()
    x, y = small_batch()
    weights = direction_weights(*bi_layers(model))
    loss, grads = loss_and_gradients(model, x, y, weights)
    p = keras.ops.convert_to_numpy(model(x))[:, 0].astype("float64")
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert loss == pytest.approx(expected, rel=1e-5)
    assert set(grads) == set(weights)
    assert all(grads[k].shape == tuple(weights[k].shape) for k in grads)
    assert all(np.linalg.norm(g) > 0 for g in grads.values())


def test_loss_and_gradients_matches_a_finite_difference():
    model = small_classifier()
    x, y = small_batch()
    weights = direction_weights(*bi_layers(model))
    _, grads = loss_and_gradients(model, x, y, weights)
    bias = weights["backward bias"]
    eps, values = 1e-2, bias.numpy()
    losses = []
    for sign in (1, -1):
        shifted = values.copy()
        shifted[0] += sign * eps
        bias.assign(shifted)
        losses.append(loss_and_gradients(model, x, y, weights)[0])
    bias.assign(values)
    numeric = (losses[0] - losses[1]) / (2 * eps)
    assert grads["backward bias"][0] == pytest.approx(numeric, rel=2e-2, abs=1e-5)


def test_randomize_weights_changes_every_weight():
    layer = keras.layers.Dense(3)
    layer.build((None, 2))
    before = layer.get_weights()  # the bias starts at zero
    randomize_weights(layer, seed=0)
    after = layer.get_weights()
    assert all(not np.allclose(b, a) for b, a in zip(before, after, strict=True))
    randomize_weights(layer, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(after, layer.get_weights(), strict=True))


def test_copy_model_has_the_same_outputs_and_its_own_weights():
    model = small_classifier()
    x, _ = small_batch()
    copy = copy_model(model)
    np.testing.assert_allclose(copy(x), model(x), atol=1e-6)
    randomize_weights(bi_layers(copy)[1], seed=5)
    assert not np.allclose(copy(x), model(x))
    np.testing.assert_allclose(copy_model(model)(x), model(x), atol=1e-6)  # model unchanged


def test_two_loss_twin_has_the_same_weights_and_splits_the_logit():
    model = small_classifier()
    x, _ = small_batch()
    twin = two_loss_twin(model)
    p_forward, p_backward = (keras.ops.convert_to_numpy(p)[:, 0] for p in twin(x))

    def logit(p):
        return np.log(p) - np.log1p(-p)

    bias = model.layers[-1].get_weights()[1][0]
    p = keras.ops.convert_to_numpy(model(x))[:, 0]
    # w_f.h_f + w_b.h_b + b = (w_f.h_f + b) + (w_b.h_b + b) - b
    np.testing.assert_allclose(logit(p), logit(p_forward) + logit(p_backward) - bias, atol=1e-4)
    for twin_layer, layer in zip(twin_layers(twin), bi_layers(model), strict=True):
        for a, b in zip(twin_layer.get_weights(), layer.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert twin_layers(twin)[1].go_backwards and not twin_layers(twin)[0].go_backwards


def test_backward_weights_change_the_forward_gradient_only_with_one_loss():
    model = small_classifier()
    x, y = small_batch()
    one = backward_weights_effect(model, bi_layers, x, y, seed=3)
    two = backward_weights_effect(two_loss_twin(model), twin_layers, x, y, seed=3)
    forward_keys = ["forward kernel", "forward recurrent_kernel", "forward bias"]
    assert list(one) == list(two) == ["loss before", "loss after", *forward_keys]
    assert one["loss after"] != one["loss before"] and two["loss after"] != two["loss before"]
    assert all(one[k] > 1e-3 for k in forward_keys)
    assert all(two[k] == 0 for k in forward_keys)
    # the model given is not modified
    assert backward_weights_effect(model, bi_layers, x, y, seed=3) == one
