"""Tests for `utils.benchmark`, on tiny random data (a few seconds in all)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from types import SimpleNamespace  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from utils.benchmark import (  # noqa: E402
    batches,
    compare_layers,
    graph_op_counts,
    matmul_rate,
    seconds_per_epoch_ratio,
    train_side_by_side,
    training_step_op_counts,
    weights_side_by_side,
)
from utils.layers import HandmadeBidirectional  # noqa: E402

BATCH, TIME, FEATURES, UNITS, VOCAB = 4, 6, 3, 5, 20


def matched_pair(merge_mode="concat", return_sequences=True, layer=keras.layers.SimpleRNN):
    """Both wrappers, built, holding the same random weights (biases included)."""
    rnn = layer(UNITS, return_sequences=return_sequences, name="rnn")
    hand = HandmadeBidirectional(rnn, merge_mode=merge_mode)
    ref = keras.layers.Bidirectional(rnn, merge_mode=merge_mode)
    hand.build((BATCH, TIME, FEATURES))
    ref.build((BATCH, TIME, FEATURES))
    rng = np.random.default_rng(1)
    ref.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in ref.get_weights()])
    hand.set_weights(ref.get_weights())
    return hand, ref


def random_inputs():
    return np.random.default_rng(0).normal(size=(BATCH, TIME, FEATURES)).astype("float32")


def post_padding_mask():
    return np.arange(TIME)[None, :] < np.array([TIME, 4, 2, 1])[:, None]


# ----------------------------------------------------------------- weights_side_by_side


def test_weights_side_by_side_lists_the_same_weights_in_order():
    hand, ref = matched_pair()
    table = weights_side_by_side(hand, ref)
    assert list(table["handmade weight"]) == list(table["keras weight"])
    assert table["keras weight"][0] == "forward_rnn/simple_rnn_cell/kernel"
    assert table["keras weight"].iloc[-1] == "backward_rnn/simple_rnn_cell/bias"
    assert list(table["handmade shape"]) == [w.shape for w in ref.get_weights()]
    assert (table["max abs difference"] == 0).all()

    # A changed weight shows up in its own row only.
    weights = hand.get_weights()
    weights[4] = weights[4] + 0.25
    hand.set_weights(weights)
    differences = weights_side_by_side(hand, ref)["max abs difference"]
    np.testing.assert_allclose(differences[4], 0.25, rtol=1e-5)
    assert (differences.drop(index=4) == 0).all()


def test_weights_side_by_side_refuses_layers_with_different_weights():
    _, ref = matched_pair(layer=keras.layers.SimpleRNN)
    no_bias = HandmadeBidirectional(keras.layers.SimpleRNN(UNITS, use_bias=False))
    no_bias.build((BATCH, TIME, FEATURES))
    with pytest.raises(ValueError, match="different numbers of weights"):
        weights_side_by_side(no_bias, ref)
    lstm, _ = matched_pair(layer=keras.layers.LSTM)  # as many weights, other shapes
    assert weights_side_by_side(lstm, ref)["max abs difference"].isna().all()


# ---------------------------------------------------------------------- compare_layers


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("merge_mode", ["concat", "mul", None])
def test_compare_layers_finds_no_difference_between_matched_layers(merge_mode, masked):
    hand, ref = matched_pair(merge_mode)
    mask = post_padding_mask() if masked else None
    table = compare_layers(hand, ref, random_inputs(), mask=mask)
    outputs = ["output"] if merge_mode else ["output 1", "output 2"]
    weights = [row for row in weights_side_by_side(hand, ref)["keras weight"]]
    assert list(table["name"]) == [*outputs, *weights, "inputs"]
    assert list(table["kind"]) == ["output"] * len(outputs) + ["gradient"] * (len(weights) + 1)
    assert table.loc[table["name"] == "inputs", "shape"].item() == (BATCH, TIME, FEATURES)
    assert (table["max abs difference"] < 1e-6).all()
    assert (table["max abs value"] > 1e-3).all()


def test_compare_layers_sees_a_difference_in_outputs_and_gradients():
    hand, ref = matched_pair()
    weights = ref.get_weights()
    weights[3] = weights[3] * 1.1  # the backward kernel only
    hand.set_weights(weights)
    table = compare_layers(hand, ref, random_inputs()).set_index("name")
    assert table.loc["output", "max abs difference"] > 1e-3
    assert table.loc["inputs", "max abs difference"] > 1e-3
    assert table.loc["backward_rnn/simple_rnn_cell/kernel", "max abs difference"] > 1e-3
    # The forward layer's weights are untouched and its gradients do not depend on them.
    assert table.loc["forward_rnn/simple_rnn_cell/kernel", "max abs difference"] < 1e-6


def test_compare_layers_uses_only_the_mask_it_is_given():
    hand, ref = matched_pair()
    tokens = np.where(post_padding_mask(), 3, 0)
    embedding = keras.layers.Embedding(VOCAB, FEATURES, mask_zero=True)
    embedded = embedding(tokens)  # carries its own mask (tokens != 0)
    mask = keras.ops.convert_to_numpy(embedding.compute_mask(tokens))
    without = compare_layers(hand, ref, embedded)
    plain = compare_layers(hand, ref, keras.ops.convert_to_numpy(embedded))  # no mask attached
    with_mask = compare_layers(hand, ref, embedded, mask=mask)
    pd.testing.assert_frame_equal(without, plain)  # the mask the tensor carried was dropped
    assert not np.allclose(with_mask["max abs value"], without["max abs value"])


# ------------------------------------------------------------------ train_side_by_side


def tiny_data(n=48):
    rng = np.random.default_rng(0)
    x = rng.integers(1, VOCAB, size=(n, TIME)).astype("int32")
    x[::3, TIME // 2 :] = 0  # some padding
    y = (x[:, 0] > VOCAB // 2).astype("float32")
    return SimpleNamespace(x_train=x[:32], y_train=y[:32], x_val=x[32:], y_val=y[32:])


def build_tiny_model(wrapper):
    tokens = keras.Input(shape=(TIME,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, FEATURES, mask_zero=True)(tokens)
    x = wrapper(keras.layers.SimpleRNN(UNITS))(x)
    model = keras.Model(tokens, keras.layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_train_side_by_side_gives_identical_histories_and_weights():
    history, models = train_side_by_side(
        build_tiny_model, tiny_data(), epochs=3, batch_size=8, seed=3, verbose=False
    )
    assert list(history.columns) == [
        "layer", "epoch", "accuracy", "loss", "val_accuracy", "val_loss",
        "seconds", "cpu_seconds", "step_seconds", "batch_losses", "warm_up", "run_order",
    ]
    assert list(history["layer"]) == ["handmade"] * 3 + ["keras"] * 3
    assert list(history["epoch"]) == [1, 2, 3] * 2
    assert list(history["warm_up"]) == [True, False, False] * 2
    assert (history["seconds"] > 0).all() and (history["cpu_seconds"] >= 0).all()
    # the steps are a part of the epoch: more than nothing, less than the whole fit call
    assert ((history["step_seconds"] > 0) & (history["step_seconds"] < history["seconds"])).all()

    # Alternating, and who goes first swaps every epoch: H K | K H | H K.
    order = history.sort_values("run_order")[["epoch", "layer"]].values.tolist()
    assert order == [[1, "handmade"], [1, "keras"], [2, "keras"], [2, "handmade"],
                     [3, "handmade"], [3, "keras"]]

    # 32 rows in batches of 8: four running losses an epoch, the last one the epoch's loss
    assert (history["batch_losses"].map(len) == 4).all()
    np.testing.assert_allclose(history["batch_losses"].map(lambda losses: losses[-1]),
                               history["loss"], rtol=1e-6)

    # Same start, same batches, same layers: the same numbers, bit for bit.
    metrics = ["accuracy", "loss", "val_accuracy", "val_loss"]
    by_layer = {name: frame[metrics].to_numpy() for name, frame in history.groupby("layer")}
    np.testing.assert_array_equal(by_layer["handmade"], by_layer["keras"])
    per_batch = {name: np.stack(frame["batch_losses"].to_list())
                 for name, frame in history.groupby("layer")}
    np.testing.assert_array_equal(per_batch["handmade"], per_batch["keras"])
    assert not np.allclose(by_layer["handmade"][0], by_layer["handmade"][-1])  # it trained
    for w_hand, w_keras in zip(models["handmade"].get_weights(), models["keras"].get_weights(),
                               strict=True):
        np.testing.assert_array_equal(w_hand, w_keras)
    assert any(isinstance(layer, HandmadeBidirectional) for layer in models["handmade"].layers)
    assert any(isinstance(layer, keras.layers.Bidirectional) for layer in models["keras"].layers)


def test_batches_hold_every_row_once_in_an_order_fixed_by_the_seed():
    data = tiny_data()
    x, y = data.x_train, data.y_train

    def rows(seed):
        parts = list(batches(x, y, batch_size=5, seed=seed).as_numpy_iterator())
        assert [len(bx) for bx, _ in parts] == [5] * 6 + [2]  # 32 rows, the last batch short
        return np.concatenate([bx for bx, _ in parts]), np.concatenate([by for _, by in parts])

    in_order, labels = rows(None)
    np.testing.assert_array_equal(in_order, x)
    np.testing.assert_array_equal(labels, y)
    first, first_labels = rows(1)
    np.testing.assert_array_equal(first, rows(1)[0])  # the same seed, the same order
    assert not np.array_equal(first, rows(2)[0])  # another seed, another order
    assert not np.array_equal(first, x)
    order = [np.flatnonzero((x == row).all(axis=1))[0] for row in first]
    assert sorted(order) == list(range(len(x)))  # a permutation: every row once
    np.testing.assert_array_equal(first_labels, y[order])  # labels moved with their rows
    assert batches(x, y, 5).options().autotune.enabled is False


def test_train_side_by_side_needs_an_epoch():
    # (validation=False, used by notebook 03's timing run, is run by the notebook test.)
    with pytest.raises(ValueError, match="at least 1"):
        train_side_by_side(build_tiny_model, tiny_data(), epochs=0)


# ------------------------------------------------------------- seconds_per_epoch_ratio


def timing_frame(handmade, keras_):
    return pd.DataFrame({
        "layer": ["handmade"] * len(handmade) + ["keras"] * len(keras_),
        "epoch": [*range(1, len(handmade) + 1), *range(1, len(keras_) + 1)],
        "seconds": [*handmade, *keras_],
        "cpu_seconds": [s / 2 for s in [*handmade, *keras_]],
    })


def test_seconds_per_epoch_ratio_takes_medians_after_the_first_epoch():
    # Epoch 1 (the warm-up) is far slower and must not count; epoch 3 of keras is an outlier.
    history = timing_frame(handmade=[50, 6, 4, 5], keras_=[40, 4, 99, 5])
    result = seconds_per_epoch_ratio(history)
    assert result["handmade"] == 5 and result["keras"] == 5  # medians of (6, 4, 5), (4, 99, 5)
    assert result["ratio"] == 1
    assert result["paired_ratio"] == 1  # median of 6/4, 4/99, 5/5
    assert result["timed_epochs"] == 3
    cpu = seconds_per_epoch_ratio(history, "cpu_seconds")
    assert cpu["handmade"] == 2.5 and cpu["ratio"] == 1


def test_seconds_per_epoch_ratio_is_handmade_over_keras():
    result = seconds_per_epoch_ratio(timing_frame(handmade=[9, 3, 3], keras_=[9, 2, 2]))
    assert result["ratio"] == pytest.approx(1.5)
    assert result["paired_ratio"] == pytest.approx(1.5)


def test_seconds_per_epoch_ratio_needs_a_timed_epoch_of_both():
    with pytest.raises(ValueError, match="warm-up"):
        seconds_per_epoch_ratio(timing_frame(handmade=[9], keras_=[9]))
    history = timing_frame(handmade=[9, 3], keras_=[9, 3])
    with pytest.raises(ValueError, match="both layers"):
        seconds_per_epoch_ratio(history[history["layer"] == "handmade"])


def test_on_cores_pins_every_thread_and_puts_the_affinity_back():
    """As `taskset -a -c 0`: threads started before the block (TensorFlow's pools) and during
    it run on core 0 only; afterwards every thread has its old cores again."""
    import os
    import threading

    from utils.benchmark import on_cores

    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this system")
    before = os.sched_getaffinity(0)
    seen, go, done = {}, threading.Event(), threading.Event()

    def worker():  # started before the block, reads its own affinity inside it
        go.wait()
        seen["old thread"] = os.sched_getaffinity(0)
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    with on_cores({0}) as pinned:
        assert pinned
        go.set()
        done.wait(5)
        new = threading.Thread(target=lambda: seen.update({"new thread": os.sched_getaffinity(0)}))
        new.start()
        new.join()
    thread.join()
    assert seen == {"old thread": {0}, "new thread": {0}}
    assert os.sched_getaffinity(0) == before
    with on_cores({10_000}) as pinned:  # a core the machine does not have: nothing changes
        assert not pinned and os.sched_getaffinity(0) == before


# ------------------------------------------------------------ graph_op_counts, matmul_rate


def test_graph_op_counts_counts_every_op_loop_bodies_included():
    def two_products_and_a_loop(a):
        b = tf.matmul(tf.matmul(a, a), a)
        return tf.while_loop(lambda i, h: i < 3, lambda i, h: (i + 1, tf.tanh(h)), (0, b))[1]

    counts = graph_op_counts(two_products_and_a_loop, tf.TensorSpec((2, 2), tf.float32))
    assert counts["MatMul"] == 2 and counts["StatelessWhile"] == 1  # a loop without state ops
    assert counts["Tanh"] == 1  # inside the loop's body, counted once
    assert list(counts.index) == sorted(counts.index) and counts.dtype == int
    assert "Tanh" not in graph_op_counts(lambda a: tf.matmul(a, a), tf.TensorSpec((2, 2)))


def test_training_step_op_counts_are_equal_for_the_two_wrappers():
    hand, ref = (training_step_op_counts(build_tiny_model(w)) for w in
                 (HandmadeBidirectional, keras.layers.Bidirectional))
    pd.testing.assert_series_equal(hand, ref)
    assert hand["While"] >= 2 and hand["TanhGrad"] >= 2  # two loops over time, differentiated
    lstm = training_step_op_counts(build_tiny_model(
        lambda rnn: keras.layers.Bidirectional(keras.layers.LSTM(UNITS))))
    assert lstm.get("Sigmoid", 0) > hand.get("Sigmoid", 0)  # another cell, another graph


def test_matmul_rate_is_a_positive_rate():
    rate = matmul_rate(size=64, repeats=3)
    assert np.isfinite(rate) and rate > 1e6  # any CPU multiplies 64 x 64 matrices in < 0.5 s


def test_step_parts_split_a_training_step_of_each_engine():
    from utils.benchmark import STEP_PARTS, step_parts, step_seconds
    from utils.models import sentiment_model

    rng = np.random.default_rng(0)
    x = rng.integers(1, 30, (8, 12)).astype("int32")
    x[:4, 7:] = 0  # padding, masked
    y = rng.integers(0, 2, (8, 1)).astype("float32")
    for spec, has_loops in ((dict(fused=True), True), (dict(wrapper="keras"), False)):
        model = sentiment_model("both", units=4, embed_dim=4, vocab_size=30, maxlen=12, **spec)
        model.compile(optimizer="adam", loss="binary_crossentropy")
        before = [w.copy() for w in model.get_weights()]
        parts = step_parts(model, x, y, repeats=2)
        assert list(parts.index) == [*STEP_PARTS, "sum", "step"]
        loops = parts[["loops, forward pass", "loops, backward pass"]]
        assert (np.isfinite(loops).all() and loops["loops, forward pass"] > 0) if has_loops \
            else loops.isna().all()
        assert parts["step"] > 0 and parts["optimizer"] > 0
        after = model.get_weights()
        assert any(np.abs(a - b).max() > 0 for a, b in zip(after, before, strict=True))
        assert 0 < step_seconds(model, x, y, repeats=2) < 60
        paired = step_seconds({"this": model, "again": model}, x, y, repeats=2)
        assert list(paired.index) == ["this", "again"] and ((paired > 0) & (paired < 60)).all()
