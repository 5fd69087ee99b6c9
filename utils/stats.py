"""Honest comparisons of a few training runs: paired differences, bootstrap intervals, verdicts.

    from utils.stats import compare_to_baseline
    table = compare_to_baseline(results, baseline="concat")   # results from run_grid
    table["verdict"]     # per variant: "identical", "within the seed spread", ...

With three or five seeds per variant, a difference of a few tenths of a percent between two
mean accuracies can be luck: another seed gives other initial weights, another batch order,
and another accuracy. Two habits keep the reading honest:

1. **Pair by seed.** Seed `s` of variant A and seed `s` of the baseline share the same data
   order and, where their layers coincide, the same initial weights; the per-seed difference
   A(s) - baseline(s) removes what they share (`utils.experiments.paired_differences`).
2. **Put an interval on the mean difference.** `bootstrap_ci` resamples the per-seed
   differences with replacement (Efron, 1979, "Bootstrap methods: another look at the
   jackknife") and reads the interval off the resampled means. With three seeds it is a crude
   interval (it excludes zero only when every seed agrees on the sign), which is exactly
   the honest message: three seeds can only show a difference that all of them agree on.

`compare_to_baseline` combines both with a third check: is the mean difference larger than
the seed-to-seed standard deviation of either variant? Only then is it called "beyond the
seed spread".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .experiments import paired_differences

#: The verdicts `compare_to_baseline` gives, from "no difference at all" to "a real one".
VERDICTS = (
    "identical",
    "within the seed spread",
    "higher, beyond the seed spread",
    "lower, beyond the seed spread",
)


def bootstrap_ci(values, n_boot: int = 10_000, level: float = 0.95, seed: int = 0):
    """Percentile bootstrap interval `(low, high)` for the mean of `values`.

    Draws `n_boot` samples of the same size as `values`, with replacement, and returns
    the `(1 - level) / 2` and `(1 + level) / 2` quantiles of their means. The generator is
    seeded, so the same values give the same interval.
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        raise ValueError("bootstrap_ci needs at least one value.")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}.")
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(n_boot, values.size), replace=True).mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def compare_to_baseline(
    results: pd.DataFrame,
    baseline: str,
    metric: str = "test_accuracy",
    n_boot: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
    tolerance: float = 1e-6,
) -> pd.DataFrame:
    """Each variant against `baseline`, paired by seed, with a bootstrap interval and a verdict.

    Args:
        results: one row per (variant, seed), as `run_grid` returns.
        baseline: the variant every other one is compared with.
        metric: the column compared (higher is better).
        n_boot, level, seed: passed to `bootstrap_ci` for the mean paired difference.
        tolerance: per-seed differences all smaller than this mean "identical".

    Returns a DataFrame indexed by variant with the columns of `paired_differences`
    (mean difference, std over seeds, min, max, seeds), then `ci low` and `ci high` (the
    bootstrap interval of the mean difference), `spread` (the larger of the two variants'
    standard deviations over seeds), `same sign` (every seed's difference has the sign of
    the mean) and `verdict`, one of `VERDICTS`:

    - "identical": every seed gives the same number, up to `tolerance`;
    - "higher/lower, beyond the seed spread": the interval excludes zero AND the mean
      difference is larger than `spread`;
    - "within the seed spread": anything else (the data cannot rank the two).
    """
    table = paired_differences(results, baseline, metric)
    wide = results.pivot_table(index="seed", columns="variant", values=metric)
    diff = wide.sub(wide[baseline], axis=0)
    std = wide.std(ddof=1).fillna(0.0)
    rows = []
    for variant in table.index:
        d = diff[variant].dropna()
        low, high = bootstrap_ci(d, n_boot=n_boot, level=level, seed=seed)
        spread = float(max(std[variant], std[baseline]))
        mean = float(d.mean())
        if (d.abs() <= tolerance).all():
            verdict = VERDICTS[0]
        elif (low > 0 or high < 0) and abs(mean) > spread:
            verdict = VERDICTS[2] if mean > 0 else VERDICTS[3]
        else:
            verdict = VERDICTS[1]
        rows.append({
            "ci low": low, "ci high": high, "spread": spread,
            "same sign": bool((np.sign(d) == np.sign(mean)).all() and mean != 0),
            "verdict": verdict,
        })
    return table.join(pd.DataFrame(rows, index=table.index))


def mean_and_std(results: pd.DataFrame, metrics, order=None) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each metric, one row per variant.

    The columns are a two-level index (metric, "mean" | "std"); `order` sets the row order
    (default: the order in which the variants first appear in `results`).
    """
    order = list(dict.fromkeys(results["variant"])) if order is None else list(order)
    table = results.groupby("variant")[list(metrics)].agg(["mean", "std"])
    return table.loc[order]
