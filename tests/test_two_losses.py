"""The three setups of notebook 07 and the gradient-coupling measurement, on tiny models."""

import contextlib
import dataclasses
import functools
import json
from pathlib import Path
from types import SimpleNamespace

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import utils.experiments as experiments
import utils.two_losses as two_losses
from utils.experiments import compare_to_baseline, evaluate_once, mean_and_std
from utils.maths import expected_calibration_error, relative_change, t_quantile_975
from utils.models import sentiment_model
from utils.plots import plot_accuracies, plot_error_signals
from utils.probes import (
    error_signals,
    joint_states,
    linear_probe,
    logits,
    signals_long,
    starved,
    sub_model,
)
from utils.tasks import neighbour_xor_data, neighbours
from utils.two_losses import (
    BACKWARD,
    FORWARD,
    FROZEN,
    ONE_LOSS,
    TWO_EMBEDDINGS,
    TWO_FORWARD,
    TWO_LOSSES,
    TWO_ONE_LOSS,
    VARIANTS,
    calibration_table,
    combine_at_test_time,
    frozen_with_new_head,
    glued,
    new_head,
    run_two_losses,
    with_trained_head,
)

SMALL = dict(units=3, embed_dim=4, vocab_size=10, maxlen=8)
NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "07_two_losses_or_one.ipynb"


def notebook_setups(**sizes):
    """Notebook 07's own `members` and `glue` (the cells that build the IMDB setups), run with
    these `sizes`: the tests train what the notebook trains."""
    cells = {c.get("id"): "".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"]}
    namespace = {**vars(two_losses), "sizes": sizes}
    for cell_id in ("7a1e0b01", "7a1e0b02"):
        exec(cells[cell_id], namespace)
    return namespace["members"], namespace["glue"]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.fixture(scope="module")
def tiny():
    """Sequences of 8 tokens (1..9, some padded); the label says whether token 3 occurs."""
    rng = np.random.default_rng(0)

    def split(n):
        x = rng.integers(1, 10, size=(n, 8)).astype("int32")
        x[: n // 4, 6:] = 0  # post-padding on a quarter of them
        return x, np.any(x == 3, axis=1).astype("int32")

    (xt, yt), (xv, yv), (xs, ys) = split(96), split(32), split(32)
    return SimpleNamespace(x_train=xt, y_train=yt, x_val=xv, y_val=yv, x_test=xs, y_test=ys)


@pytest.fixture(scope="module")
def pair():
    """A forward and a backward model with random (but non-zero) heads."""
    keras.utils.set_random_seed(0)
    forward = sentiment_model("forward", **SMALL)
    backward = sentiment_model("backward", **SMALL)
    for model, bias in ((forward, 0.3), (backward, -0.2)):
        w, _ = model.get_layer("head").get_weights()
        model.get_layer("head").set_weights([3 * w, np.array([bias], "float32")])
    return forward, backward


@pytest.fixture(scope="module")
def grid(tiny, tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    original = experiments.RESULTS_DIR
    experiments.RESULTS_DIR = folder
    try:
        members, glue = notebook_setups(**SMALL)
        results, models = run_two_losses(tiny, [0], 2, members, glue, batch_size=32,
                                          name="tiny_two_losses", progress=False)
    finally:
        experiments.RESULTS_DIR = original
    return results, models, folder


def test_combined_logit_is_the_sum_of_the_two_logits(tiny, pair):
    forward, backward = pair
    combined = combine_at_test_time(forward, backward)
    z_f, z_b = logits(forward, tiny.x_test), logits(backward, tiny.x_test)
    np.testing.assert_allclose(forward.predict(tiny.x_test, verbose=0)[:, 0], sigmoid(z_f),
                               rtol=1e-5)
    np.testing.assert_allclose(combined.predict(tiny.x_test, verbose=0)[:, 0],
                               sigmoid(z_f + z_b), rtol=1e-5)
    w, b = combined.get_layer("head").get_weights()
    w_f, b_f = forward.get_layer("head").get_weights()
    w_b, b_b = backward.get_layer("head").get_weights()
    np.testing.assert_array_equal(w, np.concatenate([w_f, w_b]))
    np.testing.assert_allclose(b, b_f + b_b)


def test_glued_sums_or_averages_the_members_logits(tiny, pair):
    forward, backward = pair
    z = logits(forward, tiny.x_test) + logits(backward, tiny.x_test)
    for scale in (1.0, 0.5):
        p = glued([forward, backward], scale=scale).predict(tiny.x_test, verbose=0)[:, 0]
        np.testing.assert_allclose(p, sigmoid(scale * z), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(  # the plan's test-time model is the sum
        combine_at_test_time(forward, backward).predict(tiny.x_test, verbose=0)[:, 0],
        sigmoid(z), rtol=1e-5, atol=1e-6)


def trained(build, data, seed):
    """train_one, also returning the model it trained."""
    built = []
    row = experiments.train_one(lambda: built.append(build()) or built[-1], data, seed,
                                epochs=1, batch_size=32, learning_rate=0.01)
    return row, built[-1]


def test_frozen_model_trains_only_its_head_as_a_head_on_states_computed_once(tiny, pair):
    forward, backward = pair
    before = [w.copy() for w in forward.get_weights() + backward.get_weights()]
    row, frozen = trained(frozen_with_new_head(forward, backward), tiny, seed=5)
    assert sum(int(np.prod(w.shape)) for w in frozen.trainable_weights) == 2 * 3 + 1
    for old, new in zip(before, forward.get_weights() + backward.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)  # the originals are untouched
    # The frozen RNNs' states never change, so a head trained on states computed once, with
    # the same seed, learns exactly the same weights and scores.
    states = SimpleNamespace(
        **{f"x_{split}": joint_states(forward, backward, getattr(tiny, f"x_{split}"))
           for split in ("train", "val", "test")},
        y_train=tiny.y_train, y_val=tiny.y_val, y_test=tiny.y_test,
    )
    row_fast, head = trained(lambda: new_head(6), states, seed=5)
    for slow, fast in zip(frozen.get_layer("head").get_weights(),
                          head.get_layer("head").get_weights(), strict=True):
        np.testing.assert_allclose(slow, fast, atol=1e-6)
    assert row["test_loss"] == pytest.approx(row_fast["test_loss"], abs=1e-6)
    rebuilt = with_trained_head(forward, backward, head.get_layer("head").get_weights())
    np.testing.assert_allclose(rebuilt.predict(tiny.x_test, verbose=0),
                               frozen.predict(tiny.x_test, verbose=0), atol=1e-5)


def check_run_two_losses_rows_models_and_files(tiny, grid):
    results, models, folder = grid
    assert list(results.columns) == experiments.COLUMNS
    assert sorted(results.variant.unique()) == sorted(VARIANTS)
    assert len(results) == len(VARIANTS)
    assert results.test_accuracy.between(0, 1).all()
    by = results.set_index(["variant", "seed"])
    for seed in (0,):
        assert by.loc[(TWO_LOSSES, seed), "params"] == (
            by.loc[(FORWARD, seed), "params"] + by.loc[(BACKWARD, seed), "params"])
        assert by.loc[(TWO_LOSSES, seed), "epochs_run"] == (
            by.loc[(FORWARD, seed), "epochs_run"] + by.loc[(BACKWARD, seed), "epochs_run"])
        assert by.loc[(TWO_LOSSES, seed), "history"] == []
        assert by.loc[(FROZEN, seed), "params"] == by.loc[(TWO_LOSSES, seed), "params"] - 1
        # (a') is the plan's test-time model, weight for weight, trained with one loss.
        assert by.loc[(TWO_EMBEDDINGS, seed), "params"] == by.loc[(FROZEN, seed), "params"]
        shapes = [[w.shape for w in models[seed][k].weights]
                  for k in ("two_embeddings", "combined")]
        assert shapes[0] == shapes[1]
        encoders = [layer for layer in models[seed]["frozen"].layers
                    if isinstance(layer, keras.Model)]
        assert len(encoders) == 2  # (c) reads (b)'s own two RNNs
        assert set(models[seed]) == {"one_loss", "two_embeddings", "forward", "backward",
                                     "combined", "frozen", "two_forward", "two_one_loss",
                                     "forward_2", "one_loss_2"}
        # (d) is the plan's architecture with two forward models: the same weights' shapes
        shapes = [[w.shape for w in models[seed][k].weights] for k in ("two_forward", "combined")]
        assert shapes[0] == shapes[1]
        assert by.loc[(TWO_FORWARD, seed), "params"] == by.loc[(TWO_LOSSES, seed), "params"]
        assert by.loc[(TWO_ONE_LOSS, seed), "params"] == 2 * by.loc[(ONE_LOSS, seed), "params"]
        # each glued control holds (a)'s or (b)'s forward model and a second, different one
        f1, f2 = [layer for layer in models[seed]["two_forward"].layers
                  if isinstance(layer, keras.Model)]
        embeddings = [f.get_layer("embedding") for f in (f1, f2)]
        assert embeddings[0] is models[seed]["forward"].get_layer("embedding")
        assert not np.array_equal(embeddings[0].get_weights()[0], embeddings[1].get_weights()[0])
    # The same number of passes for every trained network: early stopping never cuts one.
    trained = results[~results.variant.isin([TWO_LOSSES, TWO_FORWARD, TWO_ONE_LOSS])]
    assert (trained.epochs_run == 2).all()
    assert (by.loc[[(v, 0) for v in (TWO_LOSSES, TWO_FORWARD, TWO_ONE_LOSS)], "epochs_run"]
            == 4).all()
    assert (folder / "tiny_two_losses.csv").exists()
    assert (folder / "tiny_two_losses_history.csv").exists()


def check_reported_test_accuracy_is_the_returned_models(tiny, grid):
    results, models, _ = grid
    by = results.set_index(["variant", "seed"])
    for variant, key in ((ONE_LOSS, "one_loss"), (TWO_LOSSES, "combined"), (FROZEN, "frozen"),
                         (TWO_FORWARD, "two_forward"), (TWO_ONE_LOSS, "two_one_loss")):
        p = models[0][key].predict(tiny.x_test, verbose=0)[:, 0]
        accuracy = np.mean((p > 0.5) == tiny.y_test)
        assert by.loc[(variant, 0), "test_accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_error_signals_formulas_and_the_law(tiny, pair):
    forward, backward = pair
    signals = error_signals(forward, backward, tiny.x_train, tiny.y_train)
    z_f, z_b, y = signals.z_forward, signals.z_backward, tiny.y_train
    np.testing.assert_allclose(signals["own loss, forward"], sigmoid(z_f) - y, atol=1e-12)
    np.testing.assert_allclose(signals["one loss, both"], sigmoid(z_f + z_b) - y, atol=1e-12)
    # Whenever the backward logit points the right way, one loss sends the forward RNN a
    # smaller error than its own loss would.
    right = (2 * y - 1) * z_b > 0
    assert right.any() and (~right).any()
    assert (signals["one loss, both"].abs()[right]
            <= signals["own loss, forward"].abs()[right] + 1e-12).all()
    assert (signals["one loss, both"].abs()[~right]
            >= signals["own loss, forward"].abs()[~right] - 1e-12).all()
    long = signals_long(signals, confident=0.5)
    assert len(long) == 2 * len(signals)
    assert set(long.direction) == {"forward", "backward"}
    hungry = starved(long, own_above=0.1, one_below=0.9)
    assert ((hungry["own loss"].abs() > 0.1) & (hungry["one loss"].abs() < 0.9)).all()
    plt.close(plot_error_signals(long))


@dataclasses.dataclass
class GradientProbe:
    """One loss evaluation: the loss, the probabilities, and d loss / d forward RNN weights."""

    loss: float
    probabilities: np.ndarray
    gradients: list[np.ndarray]


def _bce(y, p):
    return keras.ops.mean(keras.losses.binary_crossentropy(y, p))


def forward_gradient_one_loss(model, x, y) -> GradientProbe:
    """Setup (a): the one loss and its gradient w.r.t. the forward RNN's weights."""
    forward_rnn = model.layers[1].forward_layer
    y = tf.reshape(tf.cast(y, "float32"), (-1, 1))
    with tf.GradientTape() as tape:
        p = model(x, training=True)
        loss = _bce(y, p)
    grads = tape.gradient(loss, forward_rnn.trainable_weights)
    return GradientProbe(float(loss), keras.ops.convert_to_numpy(p)[:, 0],
                         [keras.ops.convert_to_numpy(g) for g in grads])


@contextlib.contextmanager
def nudged(layers, scale: float = 0.1, seed: int = 0):
    """Temporarily add Gaussian noise (std `scale`) to every weight of `layers`; restore after.

        with nudged([bi.backward_layer]):
            ...  # here only the backward weights are different
    """
    layers = list(layers) if isinstance(layers, list | tuple) else [layers]
    rng = np.random.default_rng(seed)
    saved = [layer.get_weights() for layer in layers]
    for layer, weights in zip(layers, saved, strict=True):
        layer.set_weights([w + scale * rng.standard_normal(w.shape).astype(w.dtype)
                           for w in weights])
    try:
        yield
    finally:
        for layer, weights in zip(layers, saved, strict=True):
            layer.set_weights(weights)


def test_one_loss_couples_the_directions(tiny):
    keras.utils.set_random_seed(0)
    model = sentiment_model("both", "concat", **SMALL)
    x, y = tiny.x_train[:16], tiny.y_train[:16]
    bidirectional = model.layers[1]
    before = forward_gradient_one_loss(model, x, y)
    saved = bidirectional.backward_layer.get_weights()
    with nudged(bidirectional.backward_layer, scale=0.5):
        after = forward_gradient_one_loss(model, x, y)
    for old, new in zip(saved, bidirectional.backward_layer.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)  # nudged restores the weights
    assert relative_change(before.gradients, after.gradients) > 1e-3


def test_one_review_gradient_is_rescaled_by_the_ratio_of_errors(tiny):
    keras.utils.set_random_seed(2)
    model = sentiment_model("both", "concat", **SMALL)
    x, y = tiny.x_train[:1], tiny.y_train[:1]
    before = forward_gradient_one_loss(model, x, y)
    with nudged(model.layers[1].backward_layer, scale=0.5, seed=3):
        after = forward_gradient_one_loss(model, x, y)
    ratio = (after.probabilities[0] - y[0]) / (before.probabilities[0] - y[0])
    assert abs(ratio - 1) > 1e-3
    for g0, g1 in zip(before.gradients, after.gradients, strict=True):
        np.testing.assert_allclose(g1, ratio * g0, rtol=1e-3, atol=1e-7)


def t_coverage(q, df):
    """P(-q < t < q) for Student's t with `df` degrees of freedom, by integrating its density
    (the gamma functions of its normalising constant from `math`), independent of the table."""
    import math

    x = np.linspace(-q, q, 200_001)
    log_c = (math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) - 0.5 * math.log(df * math.pi)
    density = np.exp(log_c - (df + 1) / 2 * np.log1p(x**2 / df))
    return float(np.sum((density[1:] + density[:-1]) / 2 * np.diff(x)))


@pytest.mark.parametrize("df", [1, 2, 3, 5, 9, 10, 11, 14, 29, 30, 31, 100])
def test_t_quantile_covers_95_percent_and_never_less(df):
    """The typed table is checked against the t density: each entry covers 95 % (to the table's
    three decimals), and between entries the value used covers at least 95 % (conservative)."""
    coverage = t_coverage(t_quantile_975(df), df)
    assert coverage >= 0.95 - 2e-4
    if df <= 30 and df in (1, 2, 3, 5, 10, 30):  # table entries: 95 %, not more
        assert coverage == pytest.approx(0.95, abs=2e-4)
    assert np.isnan(t_quantile_975(0))


def test_summaries_and_verdicts():
    results = pd.DataFrame({
        "variant": [ONE_LOSS] * 3 + [TWO_LOSSES] * 3 + [FROZEN] * 3,
        "seed": [0, 1, 2] * 3,
        "test_accuracy": [0.80, 0.82, 0.84, 0.70, 0.72, 0.74, 0.81, 0.80, 0.86],
    })
    table = mean_and_std(results, "test_accuracy", ci=True)["test_accuracy"]
    assert table.loc[ONE_LOSS, "mean"] == pytest.approx(0.82)
    half = 4.303 * 0.02 / np.sqrt(3)
    assert table.loc[ONE_LOSS, "ci_low"] == pytest.approx(0.82 - half, abs=1e-4)
    assert table.loc[ONE_LOSS, "ci_high"] == pytest.approx(0.82 + half, abs=1e-4)
    read = compare_to_baseline(results, ONE_LOSS)["verdict"]
    assert read[TWO_LOSSES] == "lower, beyond the seed spread"  # -0.1 in every seed
    assert read[FROZEN] == "within the seed spread"  # the sign changes from seed to seed
    plt.close(plot_accuracies(results))


def test_expected_calibration_error():
    y = np.array([1, 0, 1, 0])
    assert expected_calibration_error([1.0, 0.0, 1.0, 0.0], y) == 0.0  # sure and right
    assert expected_calibration_error([0.0, 1.0, 0.0, 1.0], y) == pytest.approx(1.0)
    # One bin of confidence 0.8 with accuracy 0.5: the gap is 0.3.
    assert expected_calibration_error([0.8, 0.8, 0.2, 0.2], np.array([1, 0, 0, 1])) == \
        pytest.approx(0.3)
    with pytest.raises(ValueError, match="same length"):
        expected_calibration_error([0.5], [1, 0])
    with pytest.raises(ValueError, match="bins"):
        expected_calibration_error([0.5], [1], bins=0)


def check_calibration_table_reads_the_models_it_is_given(tiny, grid):
    _, models, _ = grid
    table = calibration_table(models, {ONE_LOSS: "one_loss", TWO_LOSSES: "combined"},
                              tiny.x_val, tiny.y_val)
    assert list(table.variant) == [ONE_LOSS, TWO_LOSSES]
    p = models[0]["combined"].predict(tiny.x_val, verbose=0)[:, 0]
    row = table.set_index("variant").loc[TWO_LOSSES]
    assert row["accuracy"] == pytest.approx(np.mean((p > 0.5) == tiny.y_val))
    assert row["ECE"] == pytest.approx(expected_calibration_error(p, tiny.y_val))
    assert row["share p < 0.05 or p > 0.95"] == pytest.approx(np.mean(np.abs(p - 0.5) > 0.45))


def test_run_two_losses_on_a_tiny_task(tiny, grid, subtests):
    """`run_two_losses` trained once (20 s; one test, not one per check, so that `make test`'s
    workers do not each train it again), then each property as a subtest."""
    for check in (check_run_two_losses_rows_models_and_files,
                  check_reported_test_accuracy_is_the_returned_models,
                  check_calibration_table_reads_the_models_it_is_given):
        with subtests.test(check.__name__.removeprefix("check_")):
            check(tiny, grid)


def test_neighbour_xor_data_needs_both_sides():
    bits = neighbour_xor_data(length=6, n_train=400, n_val=3, n_test=5, seed=1)
    assert bits.x_train.shape == (400, 8, 1) and bits.y_train.shape == (400, 6, 1)
    assert bits.x_test.shape == (5, 8, 1) and bits.length == 6
    left, right = neighbours(bits.x_train)
    y = bits.y_train[..., 0]
    np.testing.assert_array_equal(y, np.logical_xor(left, right))
    np.testing.assert_array_equal(left, bits.x_train[:, :-2, 0])
    np.testing.assert_array_equal(right, bits.x_train[:, 2:, 0])
    # One neighbour alone says nothing: the label is a coin flip given either bit.
    for side in (left, right):
        for value in (0, 1):
            assert abs(y[side == value].mean() - 0.5) < 0.05
    with pytest.raises(ValueError, match="length must be a positive integer"):
        neighbour_xor_data(length=0)


def test_sub_model_linear_probe_and_evaluate_once():
    keras.utils.set_random_seed(0)
    x = keras.Input((5, 1))
    inner = keras.layers.Cropping1D((1, 1))(x)  # the 3 labelled steps of length-3 data
    hidden = keras.layers.Dense(3, activation="relu", name="hidden")(inner)
    z = keras.layers.Dense(1, name="logit")(hidden)
    model = keras.Model(x, keras.layers.Activation("sigmoid", name="probability")(z))
    bits = neighbour_xor_data(length=3, n_train=8, n_val=4, n_test=6)
    logit = sub_model(model, "probability").predict(bits.x_test, verbose=0)
    np.testing.assert_allclose(sigmoid(logit), model.predict(bits.x_test, verbose=0),
                               rtol=1e-5)
    frozen = sub_model(model, "logit", trainable=False)
    assert not model.get_layer("hidden").trainable and frozen.output.shape[-1] == 3
    p = model.predict(bits.x_test, verbose=0)
    assert evaluate_once(model, bits) == pytest.approx(np.mean((p > 0.5) == bits.y_test))
    # A probe reads a bit stored linearly in the states, and cannot read one that is not.
    rng = np.random.default_rng(0)
    target = rng.integers(0, 2, 400)
    states = np.c_[target + 0.1 * rng.standard_normal(400), rng.standard_normal(400)]
    assert linear_probe(states[:300], target[:300], states[300:], target[300:]) == 1.0
    noise = rng.standard_normal((400, 2))
    assert linear_probe(noise[:300], target[:300], noise[300:], target[300:]) < 0.7


def test_the_taggers_glued_and_frozen_as_the_plan_says():
    keras.utils.set_random_seed(0)
    sizes = dict(length=4, units=2, hidden=3)
    forward, backward = (two_losses.one_direction(b, **sizes) for b in (False, True))
    bits = neighbour_xor_data(length=4, n_train=16, n_val=8, n_test=8, seed=0)
    z_f, z_b = (sub_model(m, "probability").predict(bits.x_test, verbose=0)
                for m in (forward, backward))
    glued_plan = combine_at_test_time(forward, backward)  # the plan at test time: z_f + z_b
    np.testing.assert_allclose(glued_plan.predict(bits.x_test, verbose=0), sigmoid(z_f + z_b),
                               rtol=1e-5, atol=1e-6)
    frozen = frozen_with_new_head(forward, backward)()  # only the new head is trainable
    assert sum(int(np.prod(w.shape)) for w in frozen.trainable_weights) == (4 * 3 + 3) + (3 + 1)
    assert frozen.output_shape == two_losses.one_loss_tagger(**sizes).output_shape == (None, 4, 1)


@pytest.mark.parametrize("build", ["one_loss", "forward", "backward"])
def test_the_fused_taggers_compute_what_the_layers_compute(build):
    sizes = dict(length=4, units=3, hidden=5)
    make = {"one_loss": two_losses.one_loss_tagger,
            "forward": functools.partial(two_losses.one_direction, False),
            "backward": functools.partial(two_losses.one_direction, True)}[build]
    keras.utils.set_random_seed(5)
    plain, fused = make(**sizes), make(**sizes, fused=True)
    fused.set_weights([w * 3 for w in plain.get_weights()])
    plain.set_weights(fused.get_weights())
    bits = np.random.default_rng(0).integers(0, 2, (6, 6, 1)).astype("float32")
    np.testing.assert_allclose(fused(bits), plain(bits), atol=1e-5)
