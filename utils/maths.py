"""The small NumPy maths the notebooks and the other modules share.

- `sigmoid`: the logistic function, overflow-safe.
- `relative_error(a, b)`, `relative_change(before, after)`: one number for how far two arrays
  are apart (gradient checks, notebooks 02 and 03) or how much one changed (notebook 01).
- `accuracy`, `f1_score`, `best_threshold`: word-level scores over a mask (notebook 06).
- `expected_calibration_error(p, y)`: how far predicted probabilities are from observed
  frequencies (Guo et al., 2017, "On calibration of modern neural networks"; notebook 07).
- `t_quantile_975(df)`: the Student t quantile behind a 95 % interval of a mean over seeds.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """sigmoid(z) = 1 / (1 + exp(-z)), written so that large |z| does not overflow."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def relative_error(a, b, tiny: float = 1e-30) -> float:
    """max |a - b| / max(|a| + |b|), over all entries, the denominator floored at ``tiny``.

    One number per pair of arrays, scaled by the largest entry rather than entry by entry, so
    that entries that are nearly zero in both arrays do not blow it up. 0 means identical,
    ~1e-16 is float64 rounding, ~1 means unrelated. The floor only avoids 0/0 when both
    arrays are zero (the result is then 0).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a) + np.abs(b)), tiny))


def relative_change(before, after) -> float:
    """`||after - before|| / ||before||`: how much an array (or a list of arrays, taken
    together as one long vector) changed. 0 means unchanged; Frobenius norms."""
    def flat(arrays):
        arrays = arrays if isinstance(arrays, list | tuple) else [arrays]
        return np.concatenate([np.ravel(a) for a in arrays])

    b, a = flat(before), flat(after)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def expected_calibration_error(p, y, bins: int = 10) -> float:
    """Expected calibration error (Naeini, Cooper & Hauskrecht, 2015): the predictions are
    cut into `bins` equal-width bins of confidence `max(p, 1 - p)`; in each bin, the gap
    between the mean confidence and the accuracy, weighted by the bin's share of examples.
    0 for perfectly calibrated probabilities."""
    p = np.asarray(p, dtype="float64").reshape(-1)
    y = np.asarray(y).reshape(-1)
    if len(p) != len(y) or len(p) == 0:
        raise ValueError(f"p and y must be non-empty and of the same length, got {len(p)} "
                         f"and {len(y)}: pass one probability per label.")
    if not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}: pass e.g. bins=10.")
    confidence = np.maximum(p, 1 - p)
    correct = (p > 0.5) == (y > 0.5)
    which = np.minimum(((confidence - 0.5) * 2 * bins).astype(int), bins - 1)
    gaps = [abs(confidence[which == k].mean() - correct[which == k].mean())
            * np.mean(which == k) for k in range(bins) if np.any(which == k)]
    return float(np.sum(gaps))


_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


def t_quantile_975(df: int) -> float:
    """Student's t 97.5 % quantile for `df` degrees of freedom (a table; between its entries
    and beyond 30, the entry below, which is conservative: the quantile falls as df grows)."""
    if df < 1:
        return np.nan
    return _T975[max(d for d in _T975 if d <= df)]


def f1_score(labels, probabilities, mask, threshold=0.5) -> float:
    """F1 of class 1 over the real words (`mask` true): 2 TP / (2 TP + FP + FN)."""
    labels = np.asarray(labels)[np.asarray(mask, bool)].astype(bool)
    predicted = np.asarray(probabilities)[np.asarray(mask, bool)] >= threshold
    tp = np.sum(labels & predicted)
    denominator = 2 * tp + np.sum(~labels & predicted) + np.sum(labels & ~predicted)
    return float(2 * tp / denominator) if denominator else 0.0


def accuracy(labels, probabilities, mask, threshold=0.5) -> float:
    """Share of the real words whose 0/1 prediction is right."""
    mask = np.asarray(mask, bool)
    predicted = np.asarray(probabilities)[mask] >= threshold
    return float(np.mean(predicted == np.asarray(labels)[mask].astype(bool)))


def best_threshold(labels, probabilities, mask, grid=None) -> tuple[float, float]:
    """The threshold of `grid` (default 0.05, 0.10, ..., 0.95) with the highest F1, and that F1."""
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2) if grid is None else grid
    scores = [f1_score(labels, probabilities, mask, t) for t in grid]
    best = int(np.argmax(scores))
    return float(grid[best]), float(scores[best])
