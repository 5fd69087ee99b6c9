"""The experiment runner, on a tiny synthetic task (never IMDB)."""

from types import SimpleNamespace

import keras
import numpy as np
import pandas as pd
import pytest

from utils.experiments import (
    COLUMNS,
    history_frame,
    load_results,
    paired_differences,
    run_grid,
)
from utils.notebook import build_training_state, set_seed


@pytest.fixture(scope="module")
def tiny():
    """Sequences of 8 tokens; the label says whether token 3 occurs. Easy, but not instant."""
    rng = np.random.default_rng(0)

    def split(n):
        x = rng.integers(1, 10, size=(n, 8)).astype("int32")
        return x, np.any(x == 3, axis=1).astype("int32")

    (xt, yt), (xv, yv), (xs, ys) = split(96), split(32), split(32)
    return SimpleNamespace(x_train=xt, y_train=yt, x_val=xv, y_val=yv, x_test=xs, y_test=ys)


def build(cell=keras.layers.SimpleRNN):
    def builder():
        return keras.Sequential([
            keras.Input((8,), dtype="int32"),
            keras.layers.Embedding(10, 4),
            keras.layers.Bidirectional(cell(4)),
            keras.layers.Dense(1, activation="sigmoid"),
        ])
    return builder


@pytest.fixture(scope="module")
def grid(tiny, tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    builders = {"simple": build(), "gru": build(keras.layers.GRU)}
    import utils.experiments as ex

    original = ex.RESULTS_DIR
    ex.RESULTS_DIR = folder
    try:
        results = run_grid(builders, tiny, seeds=[0, 1], epochs=3, batch_size=32,
                           name="tiny", progress=False)
    finally:
        ex.RESULTS_DIR = original
    return results, folder


def check_schema_one_row_per_variant_and_seed(tiny, grid):
    results, _ = grid
    assert list(results.columns) == COLUMNS
    assert sorted(zip(results.variant, results.seed, strict=True)) == [
        ("gru", 0), ("gru", 1), ("simple", 0), ("simple", 1)]
    assert (results.epochs_run >= 1).all() and (results.epochs_run <= 3).all()
    assert (results.best_epoch <= results.epochs_run).all()
    assert results.test_accuracy.between(0, 1).all()
    assert (results.seconds_per_epoch > 0).all()
    gru, simple = (results.query(f"variant == '{v}'").params.iloc[0] for v in ("gru", "simple"))
    assert gru > simple  # a GRU cell has three times the recurrent weights


def check_best_epoch_is_the_lowest_validation_loss(tiny, grid):
    results, _ = grid
    for row in results.itertuples():
        losses = [epoch["val_loss"] for epoch in row.history]
        assert row.best_epoch == int(np.argmin(losses)) + 1
        assert row.val_loss == pytest.approx(min(losses))


def check_same_seed_same_numbers(tiny, grid):
    results, _ = grid
    again = run_grid({"simple": build()}, tiny, seeds=[1], epochs=3, batch_size=32,
                     progress=False)
    first = results.query("variant == 'simple' and seed == 1").iloc[0]
    assert again.test_accuracy[0] == first.test_accuracy
    assert again.test_loss[0] == first.test_loss
    assert [e["loss"] for e in again.history[0]] == [e["loss"] for e in first.history]


def check_different_seeds_differ(tiny, grid):
    results, _ = grid
    simple = results.query("variant == 'simple'")
    assert simple.history.iloc[0][0]["loss"] != simple.history.iloc[1][0]["loss"]


def check_results_files_round_trip(tiny, grid):
    results, folder = grid
    back = load_results("tiny", folder)
    pd.testing.assert_frame_equal(back.drop(columns="history"), results.drop(columns="history"))
    assert back.history.tolist() == results.history.tolist()
    long = pd.read_csv(folder / "tiny_history.csv")
    assert len(long) == results.epochs_run.sum()
    assert {"epoch", "loss", "val_accuracy", "seconds", "variant", "seed"} <= set(long.columns)


def check_history_frame_is_long(tiny, grid):
    results, _ = grid
    long = history_frame(results)
    assert len(long) == results.epochs_run.sum()
    assert long.groupby(["variant", "seed"]).epoch.max().tolist() == (
        results.sort_values(["variant", "seed"]).epochs_run.tolist())


def test_run_grid_on_a_tiny_task(tiny, grid, subtests):
    """`run_grid` trained once (the grid takes 15 s; one test, not one per check, so that
    `make test`'s workers do not each train it again), then each property as a subtest."""
    for check in (check_schema_one_row_per_variant_and_seed,
                  check_best_epoch_is_the_lowest_validation_loss,
                  check_same_seed_same_numbers,
                  check_different_seeds_differ,
                  check_results_files_round_trip,
                  check_history_frame_is_long):
        with subtests.test(check.__name__.removeprefix("check_")):
            check(tiny, grid)


def test_a_training_state_built_before_fit_traces_the_step_once_to_the_same_numbers(tiny):
    """`build_training_state` (what `train_one`, `fit_and_score` and `train_side_by_side` call
    before `fit`): with the optimizer and the `accuracy` metric built first, the training step
    is traced once instead of twice, and training ends at exactly the weights, losses and
    accuracies it reaches without it."""
    def trained(prebuild):
        set_seed(0)
        model = build()()
        model.compile(keras.optimizers.Adam(1e-2, clipnorm=1.0), "binary_crossentropy",
                      metrics=["accuracy"])
        if prebuild:
            build_training_state(model, tiny.x_train, tiny.y_train)
        traces, step = [], model.train_step
        model.train_step = lambda data: traces.append(1) or step(data)
        fit = model.fit(tiny.x_train, tiny.y_train, epochs=2, batch_size=32, verbose=0,
                        validation_data=(tiny.x_val, tiny.y_val))
        return len(traces), model.get_weights(), fit.history

    (once, built, history), (twice, lazy, lazy_history) = trained(True), trained(False)
    assert (once, twice) == (1, 2)  # Keras alone traces twice: the saving is real
    for a, b in zip(built, lazy, strict=True):
        np.testing.assert_array_equal(a, b)
    assert history == lazy_history and set(history) >= {"accuracy", "val_accuracy"}
    model = build()()
    build_training_state(model, tiny.x_train, tiny.y_train)  # not compiled: nothing to build


def test_paired_differences_by_seed():
    results = pd.DataFrame({
        "variant": ["a", "a", "a", "b", "b", "b"],
        "seed": [0, 1, 2, 0, 1, 2],
        "test_accuracy": [0.80, 0.82, 0.84, 0.81, 0.84, 0.83],
    })
    diff = paired_differences(results, baseline="a")
    assert list(diff.index) == ["b"]
    assert diff.loc["b", "mean difference"] == pytest.approx(0.0066666, abs=1e-6)
    assert diff.loc["b", "min"] == pytest.approx(-0.01)
    assert diff.loc["b", "max"] == pytest.approx(0.02)
    assert diff.loc["b", "seeds"] == 3


def test_empty_grid_is_refused(tiny):
    with pytest.raises(ValueError, match="at least one variant"):
        run_grid({}, tiny, seeds=[0], epochs=1)


# ---------------------------------------------------------------------------------------
# Issue #12 item 3: parameters checked at the door, before any training
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [  # the papermill cases of issue #12: -p epochs 0, seeds: [], -p seeds '[0]'
        (dict(epochs=0), r"epochs must be a positive integer, got 0 \(type int\)"),
        (dict(seeds=[]), r"seeds must be a non-empty list of non-negative integers, got \[\]"),
        (dict(seeds="[0]"), r"seeds must be .*got '\[0\]' \(type str\): pass -p seeds "
                            r"'\[0, 1\]' with YAML list syntax"),
        (dict(seeds=[0, -1]), "seeds must be a non-empty list of non-negative integers"),
        (dict(batch_size=0), "batch_size must be a positive integer"),
        (dict(learning_rate=0.0), "learning_rate must be a number > 0"),
        (dict(patience=-1), "patience must be a non-negative integer"),
    ],
)
def test_run_grid_refuses_bad_parameters_before_training(tiny, kwargs, message, monkeypatch):
    import utils.experiments as ex

    def no_training(*args, **kw):
        raise AssertionError("training started")

    monkeypatch.setattr(ex, "train_one", no_training)
    grid = dict(builders={"simple": build()}, data=tiny, seeds=[0], epochs=1, progress=False)
    with pytest.raises(ValueError, match=message):
        run_grid(**{**grid, **kwargs})


def test_empty_validation_set_is_refused_before_training(tiny):
    from types import SimpleNamespace

    from utils.experiments import train_one

    empty_val = SimpleNamespace(**{**vars(tiny), "x_val": tiny.x_val[:0], "y_val": tiny.y_val[:0]})
    with pytest.raises(ValueError, match=r"data\.x_val has 0 rows.*validation loss"):
        train_one(build(), empty_val, seed=0, epochs=1)  # used to be KeyError: 'val_loss'
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        train_one(build(), tiny, seed=-1, epochs=1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(seeds=(0, 1), seed=3, epochs=2, units=8, embed_dim=8, batch_size=64, maxlen=40,
              vocab_size=2000, subset=None, cell="gru", merge_mode="ave",
              merge_modes=["concat", "mul"], learning_rate=1e-3, validation_split=0.0,
              test_fraction=0.5, quick=True, timing_epochs=3, patience=0, merge="sum"), None),
        (dict(seeds=[0, 1.0]), r"seeds must be .*got \[0, 1.0\] \(type list\)"),
        (dict(seeds=[True]), "seeds must be a non-empty list"),
        (dict(seed=1.5), r"seed must be a non-negative integer, got 1.5 \(type float\)"),
        (dict(units="8"), r"units must be a positive integer, got '8' \(type str\)"),
        (dict(subset=0), r"subset must be a positive integer \(or None"),
        (dict(cell="SimpleRNN"), r"cell must be one of \('simple_rnn', 'gru', 'lstm'\)"),
        (dict(merge_mode="max"), r"merge_mode must be one of \('concat', 'sum', 'ave', 'mul'\)"),
        (dict(merge_modes=[]), "merge_modes must be a non-empty list of names"),
        (dict(merge="mul"), r"merge must be one of \('concat', 'sum', 'ave'\)"),
        (dict(learning_rate=float("nan")), "learning_rate must be a number > 0"),
        (dict(validation_split=1.0), r"validation_split must be a number in \[0, 1\)"),
        (dict(val_fraction=-0.1), r"val_fraction must be a number in \[0, 1\)"),
        (dict(quick="yes"), "quick must be True or False"),
        (dict(timing_epochs=1), r"timing_epochs must be an integer of at least 2 \(the first"),
    ],
)
def test_check_parameters(kwargs, message):
    from utils.notebook import check_parameters

    if message is None:
        check_parameters(**kwargs)  # every good value passes
    else:
        with pytest.raises(ValueError, match=message) as error:
            check_parameters(**kwargs)
        assert "edit the parameters cell" in str(error.value)  # the fix is always named


def test_check_parameters_refuses_unknown_names():
    from utils.notebook import check_parameters

    with pytest.raises(TypeError, match="does not know 'epoch'"):
        check_parameters(epoch=3)  # a typo is not silently accepted
