"""Checks of the exercises of notebook 04 (merge modes on IMDB).

1. `read_at`: the steps whose states the head reads with `pooling = None`, checked against
   the model's own computation (`final_states` against `step_states_model`).
2. `steps`: one Adam step of the sum and the ave twins, checked against what Adam's first
   step does (every weight moves by the learning rate, against its gradient) and against the
   halved gradient of ave.
3. `interval_of_three` and `coverage`: the bootstrap interval of three per-seed differences
   without resampling, checked against `bootstrap_ci` on random triples; and the simulated
   coverage, checked against what follows from the interval of three (1 - 2 / 2**3).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from utils.exercises import expect
from utils.experiments import bootstrap_ci
from utils.models import final_states
from utils.probes import step_states_model


def exercise_1(read_at: pd.DataFrame, model, x) -> None:
    """`read_at`: one row per review of `x` (token ids), columns `forward step` and
    `backward step`: the step whose forward state, and whose backward state, the head of
    `model` (built with `pooling=None`) reads."""
    expect(len(read_at) == len(x), "one row per review of x")
    head_input = np.asarray(final_states(model).predict(x, verbose=0))
    h_f, h_b = (np.asarray(h) for h in step_states_model(model).predict(x, verbose=0))
    rows, units = np.arange(len(x)), h_f.shape[-1]
    forward = read_at["forward step"].to_numpy(dtype=int)
    backward = read_at["backward step"].to_numpy(dtype=int)
    expect(np.allclose(head_input[:, :units], h_f[rows, forward], atol=1e-6),
           "the forward state the head reads is not at those steps: where does the forward "
           "layer stop updating its state in a padded review?")
    expect(np.allclose(head_input[:, units:], h_b[rows, backward], atol=1e-6),
           "the backward state the head reads is not at those steps: in which order does the "
           "backward layer read, and which step does it read last?")


def exercise_2(steps: dict, learning_rate: float) -> None:
    """`steps`: for `"sum"` and `"ave"`, `{weight path: (gradient, change)}` of one Adam step
    of the twin models on the same batch (every trainable weight but the embedding)."""
    expect(set(steps) == {"sum", "ave"}, "one entry per merge mode: sum and ave")
    expect(len(steps["sum"]) == len(steps["ave"]), "the same weights in both twins")
    for mode, weights in steps.items():
        gradient = np.concatenate([np.ravel(g) for g, _ in weights.values()])
        change = np.concatenate([np.ravel(c) for _, c in weights.values()])
        big = np.abs(gradient) > 1e-4  # well above Adam's epsilon
        expect(big.sum() > 0, f"{mode}: no gradient above 1e-4; is the loss that of this batch?")
        expect(np.allclose(change[big], -learning_rate * np.sign(gradient[big]), rtol=0.04),
               f"{mode}: the changes are not those of Adam's first step (read how Adam scales "
               "a gradient, and check the sign of `change` = after - before)")
    head = {mode: np.linalg.norm(np.concatenate([np.ravel(g) for path, (g, _) in w.items()
                                                 if "head" in path and "kernel" in path]))
            for mode, w in steps.items()}
    expect(0.3 < head["ave"] / head["sum"] < 0.7,
           "ave's gradient at the head's kernel should be about half of sum's: do the twins "
           "start from the same weights, on the same batch?")


def exercise_3(interval_of_three, coverage: pd.Series) -> None:
    """`interval_of_three(d)`: the interval `bootstrap_ci(d)` gives for three per-seed
    differences, computed without resampling. `coverage`: indexed by the number of seeds
    (3 and 5 at least), the share of simulated sets of seeds whose bootstrap interval
    contains the true mean difference."""
    rng = np.random.default_rng(12345)
    for d in rng.normal(0.005, 0.01, size=(30, 3)):
        expect(np.allclose(interval_of_three(d), bootstrap_ci(d), rtol=1e-12, atol=0),
               "interval_of_three differs from bootstrap_ci: how likely is a resample made of "
               "one value three times, against the 2.5 % cut?")
    expect({3, 5} <= set(coverage.index), "simulate 3 and 5 seeds at least")
    expect(abs(coverage[3] - (1 - 2 / 2**3)) < 0.05,
           "with three seeds: when does an interval that is the range of the draws miss the "
           "true mean? (simulate the intervals that contain it, from draws around it)")
    # the check's own simulation: 1,000 sets of five seeds (the coverage does not depend on the
    # true mean or the spread), so a student's estimate from 1,000 sets or more is within 0.05
    own = np.mean([low < 0 < high for low, high in map(bootstrap_ci, rng.normal(0, 1, (1000, 5)))])
    expect(coverage[3] + 0.04 < coverage[5] and abs(coverage[5] - own) < 0.05,
           "with five seeds the interval is no longer the range; its coverage should be "
           "simulated from the intervals of bootstrap_ci")
