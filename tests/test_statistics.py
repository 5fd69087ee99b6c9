"""The comparison helpers, on hand-made results whose answers are known."""

import numpy as np
import pandas as pd
import pytest

from utils.experiments import VERDICTS, bootstrap_ci, compare_to_baseline, mean_and_std


def fake_results(per_variant: dict) -> pd.DataFrame:
    """One row per (variant, seed) with the given test accuracies, seeds 0, 1, 2, ..."""
    return pd.DataFrame([
        {"variant": variant, "seed": seed, "test_accuracy": acc, "seconds_per_epoch": 1.0 + seed}
        for variant, accs in per_variant.items() for seed, acc in enumerate(accs)
    ])


def test_bootstrap_ci_contains_the_mean_and_is_reproducible():
    values = [0.80, 0.82, 0.81, 0.79, 0.83]
    low, high = bootstrap_ci(values, seed=1)
    assert low < np.mean(values) < high
    assert min(values) <= low and high <= max(values)
    assert bootstrap_ci(values, seed=1) == (low, high)


def test_bootstrap_ci_of_a_constant_is_that_constant():
    assert bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)


def test_bootstrap_ci_narrows_with_a_lower_level():
    values = np.random.default_rng(0).normal(size=20)
    low95, high95 = bootstrap_ci(values, level=0.95)
    low50, high50 = bootstrap_ci(values, level=0.5)
    assert low95 < low50 < high50 < high95


def test_bootstrap_ci_rejects_bad_input():
    with pytest.raises(ValueError):
        bootstrap_ci([])
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], level=1.5)


def test_verdicts_identical_clear_and_unclear():
    results = fake_results({
        "base": [0.85, 0.86, 0.87],
        "copy": [0.85, 0.86, 0.87],            # the same numbers, seed by seed
        "better": [0.90, 0.91, 0.92],          # +0.05 every seed, seed spread 0.01
        "worse": [0.70, 0.72, 0.71],           # about -0.15 every seed
        "noisy": [0.88, 0.84, 0.875],          # signs disagree across seeds
        "small": [0.853, 0.863, 0.873],        # +0.003 every seed, smaller than the spread
    })
    table = compare_to_baseline(results, "base")
    assert "base" not in table.index
    assert table.loc["copy", "verdict"] == "identical"
    assert table.loc["better", "verdict"] == "higher, beyond the seed spread"
    assert table.loc["worse", "verdict"] == "lower, beyond the seed spread"
    assert table.loc["noisy", "verdict"] == "within the seed spread"
    assert table.loc["small", "verdict"] == "within the seed spread"
    assert set(table["verdict"]) <= set(VERDICTS)
    np.testing.assert_allclose(table.loc["better", "mean difference"], 0.05)
    assert table.loc["better", "ci low"] > 0 and table.loc["worse", "ci high"] < 0
    assert table.loc["small", "same sign"] and not table.loc["noisy", "same sign"]
    np.testing.assert_allclose(table.loc["small", "spread"], 0.01)


def test_mean_and_std_keeps_the_order():
    results = fake_results({"b": [0.1, 0.3], "a": [0.5, 0.5]})
    table = mean_and_std(results, ["test_accuracy"])
    assert list(table.index) == ["b", "a"]
    np.testing.assert_allclose(table.loc["b", ("test_accuracy", "mean")], 0.2)
    np.testing.assert_allclose(table.loc["b", ("test_accuracy", "std")], np.std([0.1, 0.3], ddof=1))
    assert table.loc["a", ("test_accuracy", "std")] == 0
    assert list(mean_and_std(results, ["test_accuracy"], order=["a", "b"]).index) == ["a", "b"]
