"""Tests of the NumPy bidirectional-RNN reference (`utils.reference`).

The reference is checked three independent ways: against Keras's own layers (forward pass),
against central finite differences and against TensorFlow's automatic differentiation
(gradients). Sizes are tiny so that the whole file runs in a few seconds.
"""

import keras
import numpy as np
import pytest

from utils import maths
from utils import reference as ref

N, T, D, H = 3, 4, 3, 2
MERGES = ["concat", "sum", "ave"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(123)
    x = rng.standard_normal((N, T, D))
    y = np.array([0.0, 1.0, 1.0])
    return x, y


def keras_classifier(merge, dtype="float64"):
    """Input -> keras.layers.Bidirectional(SimpleRNN(H)) -> Dense(1, sigmoid), built here and
    not with `ref.build_keras_model`, so that the reference is compared with plain Keras.
    Returns (model, model returning the bidirectional layer's output too)."""
    inputs = keras.Input(shape=(T, D), dtype=dtype)
    merged = keras.layers.Bidirectional(
        keras.layers.SimpleRNN(H, dtype=dtype), merge_mode=merge, dtype=dtype
    )(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype=dtype)(merged)
    return keras.Model(inputs, outputs), keras.Model(inputs, [merged, outputs])


def max_relative_error(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(maths.relative_error(a[k], b[k]) for k in a)


def head_to_direction_factors(params, merge):
    """The weights through which dL/dz reaches h^f_T and h^b_1, written from the merge
    equations: m = [h^f_T, h^b_1], h^f_T + h^b_1 or (h^f_T + h^b_1) / 2."""
    w = params["w_y"][:, 0]
    if merge == "concat":
        return w[:H], w[H:]
    if merge == "sum":
        return w, w
    return w / 2, w / 2


# ------------------------------------------------------------------------------------------
# Parameters and Keras conventions
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("merge, M", [("concat", 2 * H), ("sum", H), ("ave", H)])
def test_init_params_shapes(merge, M):
    params = ref.init_params(D, H, merge, seed=0)
    assert list(params) == list(ref.KERAS_ORDER)
    shapes = {k: v.shape for k, v in params.items()}
    assert shapes == {
        "W_f": (D, H), "U_f": (H, H), "b_f": (H,),
        "W_b": (D, H), "U_b": (H, H), "b_b": (H,),
        "w_y": (M, 1), "b_y": (1,),
    }  # fmt: skip
    assert all(v.dtype == np.float64 for v in params.values())
    with pytest.raises(ValueError):
        ref.init_params(D, H, "mul")


def test_keras_round_trip():
    model, _ = keras_classifier("concat")
    params = ref.init_params(D, H, "concat", seed=5)
    model.set_weights(ref.params_to_keras_weights(params))
    # From the model, and from the list of its weights.
    for source in (model, model.get_weights()):
        back = ref.params_from_keras(source, merge="concat")
        assert back.keys() == params.keys()
        for k in params:
            np.testing.assert_array_equal(back[k], params[k])
            assert back[k].dtype == np.float64
    for w, w_back in zip(model.get_weights(), ref.params_to_keras_weights(back), strict=True):
        np.testing.assert_array_equal(w, w_back)
    # The head of a "concat" model is (2H, 1): not a "sum" model.
    with pytest.raises(ValueError):
        ref.params_from_keras(model, merge="sum")


@pytest.mark.parametrize("merge", MERGES)
def test_params_from_keras_reproduces_a_float32_keras_model(data, merge):
    """A Keras model with its own (Glorot/orthogonal) initial weights, in the default float32:
    the reference with the extracted weights predicts what the model predicts."""
    x, _ = data
    model, _ = keras_classifier(merge, dtype="float32")
    params = ref.params_from_keras(model, merge=merge)
    p, _ = ref.forward(params, x, merge)
    np.testing.assert_allclose(p, model(x.astype("float32")).numpy()[:, 0], atol=1e-6)


# ------------------------------------------------------------------------------------------
# Forward pass
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("merge", MERGES)
def test_forward_matches_keras(data, merge):
    x, _ = data
    params = ref.init_params(D, H, merge, seed=1)
    model, inner = keras_classifier(merge)
    model.set_weights(ref.params_to_keras_weights(params))
    merged_keras, p_keras = (t.numpy() for t in inner(x))

    p, cache = ref.forward(params, x, merge)
    assert p.shape == (N,)
    assert cache["h_f"].shape == cache["h_b"].shape == (N, T, H)
    np.testing.assert_allclose(cache["m"], merged_keras, rtol=0, atol=1e-13)
    np.testing.assert_allclose(p, p_keras[:, 0], rtol=0, atol=1e-13)
    # model.predict casts NumPy inputs to keras.config.floatx() (float32) before the float64
    # layers see them, hence the float32-sized difference.
    np.testing.assert_allclose(p, model.predict(x, verbose=0)[:, 0], rtol=0, atol=1e-6)


def test_forward_summaries_are_the_two_last_states(data):
    """h^f_T has read x_1..x_T, h^b_1 has read x_T..x_1; the forward direction's first state
    only depends on x_1, the backward direction's state at T only on x_T."""
    x, _ = data
    params = ref.init_params(D, H, "concat", seed=2)
    _, cache = ref.forward(params, x, "concat")
    np.testing.assert_array_equal(cache["m"][:, :H], cache["h_f"][:, -1])
    np.testing.assert_array_equal(cache["m"][:, H:], cache["h_b"][:, 0])
    np.testing.assert_allclose(
        cache["h_f"][:, 0], np.tanh(x[:, 0] @ params["W_f"] + params["b_f"]), atol=1e-15
    )
    np.testing.assert_allclose(
        cache["h_b"][:, -1], np.tanh(x[:, -1] @ params["W_b"] + params["b_b"]), atol=1e-15
    )


def test_loss_is_mean_binary_cross_entropy():
    p = np.array([0.9, 0.2, 0.5])
    y = np.array([1.0, 0.0, 1.0])
    expected = -(np.log(0.9) + np.log(0.8) + np.log(0.5)) / 3
    assert ref.loss(p, y) == pytest.approx(expected, rel=1e-14)


def test_relative_error():
    assert maths.relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert maths.relative_error([1.0, 2.0], [1.0, 2.5]) == pytest.approx(0.5 / 4.5)
    assert maths.relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert maths.relative_error([1e-3], [-1e-3]) == pytest.approx(1.0)


def test_relative_change_of_an_array_and_of_a_list_of_arrays():
    a = np.array([3.0, 4.0])
    assert maths.relative_change(a, a) == 0
    assert maths.relative_change(a, 2 * a) == pytest.approx(1.0)
    # a list counts as one long vector: ||(0, 0, 1)|| / ||(3, 4, 0)|| = 1 / 5
    assert maths.relative_change([a, np.zeros(1)], [a, np.ones(1)]) == pytest.approx(0.2)


# ------------------------------------------------------------------------------------------
# Backward pass
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("merge", MERGES)
def test_backward_matches_finite_differences(data, merge):
    x, y = data
    params = ref.init_params(D, H, merge, seed=3)
    p, cache = ref.forward(params, x, merge)
    grads, _ = ref.backward(params, cache, x, y, merge)
    numeric = ref.numerical_gradient(params, x, y, merge, eps=1e-6)
    for k in params:
        assert grads[k].shape == params[k].shape
    assert max_relative_error(grads, numeric) < 1e-7


@pytest.mark.parametrize("merge", MERGES)
def test_backward_matches_tensorflow(data, merge):
    x, y = data
    params = ref.init_params(D, H, merge, seed=4)
    p, cache = ref.forward(params, x, merge)
    grads, _ = ref.backward(params, cache, x, y, merge)
    tf_loss, tf_grads = ref.tf_gradients(params, x, y, merge)
    assert tf_loss == pytest.approx(ref.loss(p, y), rel=1e-12)
    assert max_relative_error(grads, tf_grads) < 1e-5


def test_directions_are_coupled_through_the_one_loss(data):
    """Both directions receive a gradient, and the forward direction's gradient depends on
    the backward direction's weights (they meet in p, hence in dL/dz), although the forward
    direction's states do not."""
    x, y = data
    params = ref.init_params(D, H, "concat", seed=6)
    p, cache = ref.forward(params, x, "concat")
    grads, _ = ref.backward(params, cache, x, y, "concat")
    for k in ref.KERAS_ORDER:
        assert np.abs(grads[k]).max() > 1e-6, k

    changed = dict(params)
    rng = np.random.default_rng(7)
    for k in ("W_b", "U_b", "b_b"):
        changed[k] = params[k] + 0.5 * rng.standard_normal(params[k].shape)
    p2, cache2 = ref.forward(changed, x, "concat")
    grads2, _ = ref.backward(changed, cache2, x, y, "concat")

    np.testing.assert_array_equal(cache2["h_f"], cache["h_f"])  # forward states unchanged
    assert not np.allclose(p2, p)
    for k in ("W_f", "U_f", "b_f"):
        assert maths.relative_error(grads[k], grads2[k]) > 1e-3, k


@pytest.mark.parametrize("merge", MERGES)
def test_loss_gradient_enters_at_the_last_state_of_each_direction(data, merge):
    """dL/dh^f_T and dL/dh^b_1 are exactly the head's contribution (p - y)/N * w (w the part
    of w_y that the merge gives to that direction); they are the only direct entries."""
    x, y = data
    params = ref.init_params(D, H, merge, seed=8)
    p, cache = ref.forward(params, x, merge)
    _, dh = ref.backward(params, cache, x, y, merge)
    assert dh["dh_f"].shape == dh["dh_b"].shape == (N, T, H)

    w_f, w_b = head_to_direction_factors(params, merge)
    dz = (p - y) / N
    np.testing.assert_allclose(dh["dh_f"][:, T - 1], dz[:, None] * w_f, rtol=1e-14, atol=0)
    np.testing.assert_allclose(dh["dh_b"][:, 0], dz[:, None] * w_b, rtol=1e-14, atol=0)

    # Without recurrent weights, nothing else reaches the other steps: the forward direction
    # only gets a gradient at t = T, the backward direction only at t = 1.
    no_recurrence = dict(params, U_f=np.zeros((H, H)), U_b=np.zeros((H, H)))
    _, cache0 = ref.forward(no_recurrence, x, merge)
    _, dh0 = ref.backward(no_recurrence, cache0, x, y, merge)
    assert np.all(dh0["dh_f"][:, : T - 1] == 0) and np.abs(dh0["dh_f"][:, T - 1]).min() > 0
    assert np.all(dh0["dh_b"][:, 1:] == 0) and np.abs(dh0["dh_b"][:, 0]).min() > 0


def loss_from_state(params, x, y, merge, cache, direction, t, h):
    """The loss when the state of one direction at index t is replaced by h and the rest of
    that direction is recomputed from it (written here independently of `ref.backward`)."""
    last_f, last_b = cache["h_f"][:, -1], cache["h_b"][:, 0]
    if direction == "f":  # continue reading x_{t+1}, ..., x_T
        for s in range(t + 1, T):
            h = np.tanh(x[:, s] @ params["W_f"] + h @ params["U_f"] + params["b_f"])
        last_f = h
    else:  # continue reading x_{t-1}, ..., x_1
        for s in range(t - 1, -1, -1):
            h = np.tanh(x[:, s] @ params["W_b"] + h @ params["U_b"] + params["b_b"])
        last_b = h
    m = {
        "concat": np.concatenate([last_f, last_b], axis=1),
        "sum": last_f + last_b,
        "ave": (last_f + last_b) / 2,
    }[merge]
    p = 1 / (1 + np.exp(-(m @ params["w_y"] + params["b_y"])[:, 0]))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


@pytest.mark.parametrize("merge", MERGES)
def test_per_step_state_gradients_match_finite_differences(data, merge):
    x, y = data
    params = ref.init_params(D, H, merge, seed=9)
    _, cache = ref.forward(params, x, merge)
    _, dh = ref.backward(params, cache, x, y, merge)
    eps = 1e-6
    for direction, states in (("f", cache["h_f"]), ("b", cache["h_b"])):
        numeric = np.zeros((N, T, H))
        for t in range(T):
            for n, j in np.ndindex(N, H):
                plus, minus = states[:, t].copy(), states[:, t].copy()
                plus[n, j] += eps
                minus[n, j] -= eps
                numeric[n, t, j] = (
                    loss_from_state(params, x, y, merge, cache, direction, t, plus)
                    - loss_from_state(params, x, y, merge, cache, direction, t, minus)
                ) / (2 * eps)
        assert maths.relative_error(dh[f"dh_{direction}"], numeric) < 1e-7, direction


@pytest.mark.parametrize("merge", MERGES)
def test_params_from_keras_with_handmade_bidirectional(data, merge):
    """The project's own wrapper stores its weights in Bidirectional's order too."""
    layers = pytest.importorskip("utils.layers")
    if not hasattr(layers, "HandmadeBidirectional"):
        pytest.skip("utils.layers.HandmadeBidirectional not written yet")
    x, _ = data
    inputs = keras.Input(shape=(T, D), dtype="float64")
    merged = layers.HandmadeBidirectional(
        keras.layers.SimpleRNN(H, dtype="float64"), merge_mode=merge, dtype="float64"
    )(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float64")(merged)
    model = keras.Model(inputs, outputs)

    # Its own initial weights, read by params_from_keras ...
    params = ref.params_from_keras(model, merge=merge)
    np.testing.assert_allclose(ref.forward(params, x, merge)[0], model(x).numpy()[:, 0], atol=1e-13)
    # ... and the reference's weights, loaded into it.
    params = ref.init_params(D, H, merge, seed=10)
    model.set_weights(ref.params_to_keras_weights(params))
    np.testing.assert_allclose(ref.forward(params, x, merge)[0], model(x).numpy()[:, 0], atol=1e-13)


def test_a_copy_next_to_a_notebook_imports(tmp_path, monkeypatch, data):
    """Notebook 02's exercises 1 and 4 copy utils/reference.py next to the notebook and import
    the copy as a module of its own: it must import there and compute what the original does."""
    import importlib
    import shutil

    shutil.copy(ref.__file__, tmp_path / "my_reference.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    copy = importlib.import_module("my_reference")
    assert copy.__file__ != ref.__file__
    x, y = data
    params = ref.init_params(D, H, "concat", seed=3)
    np.testing.assert_array_equal(copy.forward(params, x)[0], ref.forward(params, x)[0])
