"""FusedBidirectionalSimpleRNN computes what Bidirectional(SimpleRNN) computes, with its weights."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from utils import set_seed
from utils.benchmark import compare_layers
from utils.fused import FusedBidirectionalSimpleRNN
from utils.layers import MERGE_MODES
from utils.models import sentiment_model

MERGES = list(MERGE_MODES)
MASKS = ["none", "post", "pre", "holes", "empty rows"]
TOLERANCE = 1e-5


def make_mask(kind, batch, steps, rng):
    """True at real steps. 'empty rows' also has a row with no real step at all."""
    if kind == "none":
        return None
    lengths = rng.integers(1, steps + 1, batch)
    index = np.arange(steps)[None, :]
    if kind == "post":
        return index < lengths[:, None]
    if kind == "pre":
        return index >= steps - lengths[:, None]
    mask = rng.random((batch, steps)) < 0.6
    if kind == "empty rows":
        mask[0] = False
        mask[-1] = False
    return mask


def matched_pair(units, width, merge_mode, return_sequences, seed=0):
    """A Keras layer with random weights (biases too) and the fused layer holding a copy."""
    keras_layer = keras.layers.Bidirectional(
        keras.layers.SimpleRNN(units, return_sequences=return_sequences), merge_mode=merge_mode)
    fused = FusedBidirectionalSimpleRNN(units, merge_mode=merge_mode,
                                        return_sequences=return_sequences)
    keras_layer.build((None, None, width))
    fused.build((None, None, width))
    rng = np.random.default_rng(seed)
    keras_layer.set_weights([rng.normal(0, 0.6, w.shape).astype("float32")
                             for w in keras_layer.get_weights()])
    fused.set_weights(keras_layer.get_weights())
    return fused, keras_layer


def assert_same(fused, keras_layer, x, mask):
    table = compare_layers(fused, keras_layer, x, mask)
    # outputs, 6 weight gradients and the input gradient are all compared
    assert list(table["kind"]).count("gradient") == 7
    worst = table["max abs difference"].max()
    assert worst < TOLERANCE, table.to_string()
    return table


# Shapes cycle with the modes: every (units, width, length, batch) value appears many times.
SHAPES = [(4, 3, 7, 5), (1, 1, 1, 1), (3, 5, 1, 4), (6, 2, 12, 3), (2, 4, 2, 6)]
CASES = [(*SHAPES[i % len(SHAPES)], merge, seqs, mask) for i, (merge, seqs, mask) in
         enumerate(itertools.product(MERGES, [False, True], MASKS))]


@pytest.mark.parametrize("units, width, steps, batch, merge_mode, return_sequences, mask", CASES)
def test_outputs_and_gradients_agree_with_bidirectional(units, width, steps, batch, merge_mode,
                                                        return_sequences, mask):
    rng = np.random.default_rng(units * 100 + steps)
    fused, keras_layer = matched_pair(units, width, merge_mode, return_sequences)
    x = rng.normal(size=(batch, steps, width)).astype("float32")
    table = assert_same(fused, keras_layer, x, make_mask(mask, batch, steps, rng))
    assert table["max abs value"].max() > 0.01  # real numbers were compared, not zeros


@pytest.mark.parametrize("return_sequences", [False, True])
def test_long_padding_with_a_large_recurrent_matrix_keeps_gradients_finite(return_sequences):
    """Padding moved in front of the real steps must not carry the gradient back through it:
    there, 250 products with a large U^T overflowed float32 and turned the weights' gradients
    into NaN (seen when notebook 04 trained the mul merge). Keras passes the gradient
    unchanged through masked steps; the fused layer must agree with it."""
    fused, keras_layer = matched_pair(4, 3, "mul", return_sequences, seed=5)
    rng = np.random.default_rng(6)
    weights = keras_layer.get_weights()
    for i in (1, 4):  # the recurrent kernels: 1.5 times a rotation, so |h U| grows 1.5x a step
        weights[i] = 1.5 * np.linalg.qr(rng.normal(size=(4, 4)))[0].astype("float32")
    for i in (0, 3):  # small input kernels: the few real steps stay far from tanh's saturation
        weights[i] *= 0.1
    keras_layer.set_weights(weights)
    fused.set_weights(weights)
    x = rng.normal(size=(4, 260, 3)).astype("float32")
    mask = np.arange(260)[None, :] < np.array([10, 3, 20, 40])[:, None]  # post-padding
    table = compare_layers(fused, keras_layer, x, mask)
    assert np.isfinite(table[["max abs difference", "max abs value"]].to_numpy()).all()
    assert (table["max abs difference"] <= 1e-5 * table["max abs value"]).all(), table.to_string()


def test_a_fully_masked_row_gives_zeros_and_no_gradient():
    fused, _ = matched_pair(3, 2, "concat", True)
    x = tf.constant(np.random.default_rng(1).normal(size=(2, 4, 2)).astype("float32"))
    mask = tf.constant([[False] * 4, [True] * 4])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fused(x, mask=mask)
        loss = tf.reduce_sum(y * y)
    dx = tape.gradient(loss, x).numpy()
    assert np.all(y.numpy()[0] == 0) and np.abs(y.numpy()[1]).max() > 0
    assert np.all(dx[0] == 0) and np.abs(dx[1]).max() > 0


def test_same_weights_in_the_same_order_and_the_same_start_after_the_same_seed():
    set_seed(0)
    keras_layer = keras.layers.Bidirectional(keras.layers.SimpleRNN(5))
    keras_layer.build((None, 7, 3))
    set_seed(0)
    fused = FusedBidirectionalSimpleRNN(5)
    fused.build((None, 7, 3))
    shapes = [w.shape for w in keras_layer.get_weights()]
    assert [w.shape for w in fused.get_weights()] == shapes == [(3, 5), (5, 5), (5,)] * 2
    for ours, theirs in zip(fused.get_weights(), keras_layer.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    # not trivially equal: kernels differ between directions, and the recurrent one is orthogonal
    assert not np.allclose(fused.get_weights()[0], fused.get_weights()[3])
    u = fused.get_weights()[1]
    np.testing.assert_allclose(u @ u.T, np.eye(5), atol=1e-5)


def test_without_bias():
    fused = FusedBidirectionalSimpleRNN(4, use_bias=False)
    keras_layer = keras.layers.Bidirectional(keras.layers.SimpleRNN(4, use_bias=False))
    x = np.random.default_rng(2).normal(size=(3, 5, 2)).astype("float32")
    fused(x), keras_layer(x)
    assert len(fused.get_weights()) == 4
    fused.set_weights(keras_layer.get_weights())
    assert compare_layers(fused, keras_layer, x)["max abs difference"].max() < TOLERANCE


def test_mask_is_passed_on_only_with_sequences():
    ids = np.array([[3, 4, 0, 0], [5, 0, 0, 0]])
    embed = keras.layers.Embedding(10, 3, mask_zero=True)
    for return_sequences in (True, False):
        layer = FusedBidirectionalSimpleRNN(2, return_sequences=return_sequences)
        vectors = embed(ids)
        layer(vectors)
        mask = layer.compute_mask(vectors, embed.compute_mask(ids))
        if return_sequences:
            np.testing.assert_array_equal(np.asarray(mask), ids != 0)
        else:
            assert mask is None


def test_dropout_mask_is_one_per_sequence_and_feature_and_direction():
    set_seed(0)
    layer = FusedBidirectionalSimpleRNN(6, return_sequences=True, dropout=0.5, use_bias=False)
    layer.build((None, 9, 8))
    w = layer.get_weights()[0]
    # no recurrence and the same kernel both ways: h_t = tanh((x_t * keep) W) per direction
    layer.set_weights([w, np.zeros((6, 6)), w, np.zeros((6, 6))])
    x = np.tile(np.random.default_rng(3).normal(size=(4, 1, 8)), (1, 9, 1)).astype("float32")
    y = layer(x, training=True).numpy()
    forward, backward = y[..., :6], y[..., 6:]
    np.testing.assert_allclose(forward, forward[:, :1].repeat(9, 1), atol=1e-6)  # every step
    np.testing.assert_allclose(backward, backward[:, :1].repeat(9, 1), atol=1e-6)
    assert np.abs(forward - backward).max() > 1e-3  # separate masks per direction
    plain = layer(x, training=False).numpy()
    np.testing.assert_allclose(plain[..., :6], plain[..., 6:], atol=1e-6)  # no dropout
    assert np.abs(plain - y).max() > 1e-3


def test_config_and_saving_round_trip(tmp_path):
    model = keras.Sequential([
        keras.Input((6,), dtype="int32"), keras.layers.Embedding(20, 4, mask_zero=True),
        FusedBidirectionalSimpleRNN(3, merge_mode="ave", return_sequences=True, dropout=0.2),
        keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1),
    ])
    ids = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9]])
    config = model.layers[1].get_config()
    assert {k: config[k] for k in ("units", "merge_mode", "return_sequences", "dropout")} == {
        "units": 3, "merge_mode": "ave", "return_sequences": True, "dropout": 0.2}
    path = tmp_path / "fused.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.layers[1], FusedBidirectionalSimpleRNN)
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0),
                               atol=1e-6)


@pytest.mark.parametrize("steps_per_iteration, parallel_loops", [(1, 1), (2, 3), (8, 2), (5, 4)])
def test_every_loop_shape_computes_the_same(steps_per_iteration, parallel_loops):
    """Steps per iteration and loops over the batch change the time, not the numbers: 7 steps
    (which 2, 5 and 8 do not divide), 5 sequences (which 2, 3 and 4 loops split unevenly),
    holes in the mask and an empty row."""
    rng = np.random.default_rng(steps_per_iteration)
    for merge_mode, return_sequences in (("concat", False), ("sum", True)):
        keras_layer = matched_pair(4, 3, merge_mode, return_sequences)[1]
        fused = FusedBidirectionalSimpleRNN(4, merge_mode, return_sequences=return_sequences,
                                            steps_per_iteration=steps_per_iteration,
                                            parallel_loops=parallel_loops)
        fused.build((None, None, 3))
        fused.set_weights(keras_layer.get_weights())
        x = rng.normal(size=(5, 7, 3)).astype("float32")
        assert_same(fused, keras_layer, x, make_mask("empty rows", 5, 7, rng))


def test_the_loop_defaults_come_from_the_machine_and_travel_as_given(tmp_path):
    from utils import fused as fused_module
    from utils.benchmark import on_cores

    layer = FusedBidirectionalSimpleRNN(3)
    assert layer.steps_per_iteration == fused_module.DEFAULT_STEPS_PER_ITERATION
    assert layer.parallel_loops == min(fused_module.usable_cores(), 2) >= 1
    before = fused_module.usable_cores()
    with on_cores({0}) as pinned:  # as taskset -c 0: one core, so one loop
        if pinned:
            assert fused_module.usable_cores() == 1
            assert FusedBidirectionalSimpleRNN(3).parallel_loops == 1
    assert fused_module.usable_cores() == before  # put back
    given = FusedBidirectionalSimpleRNN(3, steps_per_iteration=2, parallel_loops=3)
    assert (given.steps_per_iteration, given.parallel_loops) == (2, 3)
    config = layer.get_config()  # None travels: a loaded layer chooses for its own machine
    assert config["steps_per_iteration"] is None and config["parallel_loops"] is None
    assert FusedBidirectionalSimpleRNN.from_config(given.get_config()).parallel_loops == 3


@pytest.mark.parametrize("kwargs, word", [
    ({"units": 0}, "units"), ({"units": 4, "merge_mode": None}, "merge_mode"),
    ({"units": 4, "merge_mode": "max"}, "merge_mode"), ({"units": 4, "dropout": 1.0}, "dropout"),
    ({"units": 4, "steps_per_iteration": 0}, "steps_per_iteration"),
    ({"units": 4, "parallel_loops": 1.5}, "parallel_loops"),
])
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        FusedBidirectionalSimpleRNN(**kwargs)


def tiny_model_pair(pooling, merge_mode="concat"):
    args = dict(merge_mode=merge_mode, units=4, embed_dim=3, vocab_size=30, maxlen=8,
                pooling=pooling)
    set_seed(0)
    fused = sentiment_model("both", fused=True, **args)
    set_seed(0)
    hand = sentiment_model("both", **args)
    return fused, hand


@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_sentiment_model_fused_starts_equal_and_trains_equal(pooling):
    fused, hand = tiny_model_pair(pooling, merge_mode="mul" if pooling else "concat")
    assert isinstance(fused.layers[1], FusedBidirectionalSimpleRNN)
    for ours, theirs in zip(fused.get_weights(), hand.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)  # same seed, same start
    rng = np.random.default_rng(4)
    ids = rng.integers(1, 30, (16, 8))
    ids[:8, 5:] = 0  # post-padding
    ids[8:, :3] = 0  # pre-padding
    y = rng.integers(0, 2, 16).astype("float32")
    for model in (fused, hand):  # one SGD step in a compiled graph, as fit runs it
        model.compile(keras.optimizers.SGD(0.5), "binary_crossentropy")
        model.fit(ids, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    moved = [np.abs(a - b).max() for a, b in zip(fused.get_weights(), hand.get_weights(),
                                                strict=True)]
    assert max(moved) < TOLERANCE
    np.testing.assert_allclose(fused.predict(ids, verbose=0), hand.predict(ids, verbose=0),
                               atol=TOLERANCE)


def test_sentiment_model_passes_dropout_and_sequences_on():
    model = sentiment_model("both", fused=True, pooling="avg", dropout=0.4, units=4,
                            vocab_size=30, maxlen=8)
    layer = model.layers[1]
    assert layer.dropout == 0.4 and layer.return_sequences
    assert not sentiment_model("both", fused=True, units=4).layers[1].return_sequences


def test_the_direction_copies_are_the_keras_layers_halves():
    keras.utils.set_random_seed(6)
    ref = keras.layers.Bidirectional(keras.layers.SimpleRNN(3, return_sequences=True))
    fused = FusedBidirectionalSimpleRNN(3, return_sequences=True)
    ref.build((None, None, 2)), fused.build((None, None, 2))
    fused.set_weights(ref.get_weights())
    x = np.random.default_rng(1).normal(size=(2, 5, 2)).astype("float32")
    for ours, theirs in ((fused.forward_layer, ref.forward_layer),
                         (fused.backward_layer, ref.backward_layer)):
        assert type(ours) is keras.layers.SimpleRNN and ours.go_backwards == theirs.go_backwards
        np.testing.assert_allclose(ours(x), theirs(x), atol=1e-6)
    fused.set_weights([w * 2 for w in fused.get_weights()])  # a copy follows the weights
    assert not np.allclose(fused.forward_layer(x), ref.forward_layer(x), atol=1e-3)
    with pytest.raises(ValueError, match="not built"):
        _ = FusedBidirectionalSimpleRNN(3).forward_layer


def test_the_loops_are_traced_once_for_every_model_and_compute_what_they_computed_inline(
        monkeypatch):
    """`fused._traced`: the loops (and their hand-written gradient) are traced by the first model
    that trains, then reused by the next one of the same width; a model trained that way ends at
    exactly the weights it reaches with the loops traced inline in its own graph."""
    from utils import fused as module

    rng = np.random.default_rng(5)
    ids = rng.integers(1, 30, (32, 8))
    ids[:16, 5:] = 0
    y = rng.integers(0, 2, 32).astype("float32")
    traces = []
    loop = module._loop
    monkeypatch.setattr(module, "_loop", lambda *args: traces.append(1) or loop(*args))

    def trained():
        set_seed(0)
        model = sentiment_model("both", fused=True, pooling="avg", dropout=0.3, units=4,
                                embed_dim=3, vocab_size=30, maxlen=8)
        model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
        model.fit(ids, y, batch_size=16, epochs=1, verbose=0)
        return model.get_weights(), model.predict(ids, verbose=0)

    module._traced.cache_clear()  # no graph left from an earlier test
    first = trained()
    after_first = len(traces)
    second = trained()
    assert after_first > 0 and len(traces) == after_first  # the second model traced no loop
    monkeypatch.setattr(module, "_traced", lambda recurrence: recurrence)  # inline, as before
    inline = trained()
    assert len(traces) > after_first
    for a, b, c in zip(first[0] + [first[1]], second[0] + [second[1]], inline[0] + [inline[1]],
                       strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
