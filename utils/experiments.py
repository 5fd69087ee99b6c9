"""Train several model variants over several seeds, the same way, and collect tidy results.

    from utils.experiments import run_grid
    results = run_grid({"concat": build_concat, "sum": build_sum}, imdb, seeds=[0, 1, 2],
                       epochs=4, name="merge_modes")

Every (variant, seed) pair is trained identically: the same training and validation data,
the same optimizer (Adam, gradients clipped to norm 1), batch size and epochs, early
stopping on the validation loss (the weights of the best epoch are kept), and the test set
is evaluated exactly once, at the end, with those best weights. `utils.set_seed(seed)` is
called before each model is built, so the same seed gives the same initial weights, the
same shuffling and the same numbers.

The result is a pandas DataFrame with one row per (variant, seed); `history_frame(results)`
turns the per-epoch histories into a long table for learning curves. Both are also written
to `results/<name>.csv` and `results/<name>_history.csv`.

Reading a few seeds honestly (the README's statistics glossary): `paired_differences` pairs
each variant with a baseline seed by seed; `bootstrap_ci` puts a bootstrap interval (Efron,
1979) on the mean paired difference; `compare_to_baseline` turns them into one verdict per
variant; `mean_and_std` gives the mean and the spread (`ci=True`: a 95 % t interval of the
mean). With three seeds an interval excludes zero only when every seed agrees on the sign,
and that is the honest message: three seeds can only show a difference that all of them agree on.

Also here: `train_and_keep` / `evaluate_once` (a fixed budget, then the test set once) and the
padding grid of notebook 05 (`run_padding_grid`: 3 kinds of model x 2 padding sides x mask).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from tqdm import tqdm  # the text bar: it works in JupyterLab and in saved outputs

from .maths import t_quantile_975
from .models import DIRECTION_NAMES, sentiment_model
from .notebook import build_training_state, check_parameters, quiet_retracing, set_seed
from .paths import RESULTS_DIR

#: Columns of the DataFrame `run_grid` returns, in order.
COLUMNS = [
    "variant", "seed", "epochs_run", "best_epoch", "val_accuracy", "val_loss",
    "test_accuracy", "test_loss", "params", "seconds_per_epoch", "history",
]


class EpochTimer(keras.callbacks.Callback):
    """Records the wall-clock seconds of every training epoch in `self.seconds`."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class TqdmEpochs(keras.callbacks.Callback):
    """Shows the current epoch and validation accuracy on a tqdm bar's right-hand side."""

    def __init__(self, bar, label):
        super().__init__()
        self.bar, self.label = bar, label

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.bar.set_postfix_str(
            f"{self.label} epoch {epoch + 1}: val_accuracy {logs.get('val_accuracy', 0):.3f}"
        )


def _check_training_inputs(data, clipnorm) -> None:
    """Refuse, before any training, what would fail deep inside `fit` or early stopping."""
    if clipnorm is not None and not (isinstance(clipnorm, (int, float)) and clipnorm > 0):
        raise ValueError(f"clipnorm must be a number > 0 or None, got {clipnorm!r}.")
    for split in ("train", "val", "test"):
        x, y = getattr(data, f"x_{split}", None), getattr(data, f"y_{split}", None)
        if x is None or y is None:
            raise ValueError(f"data has no x_{split} / y_{split}: pass an ImdbData from "
                             "load_imdb, or an object with those six arrays.")
        if len(x) == 0 or len(x) != len(y):
            raise ValueError(
                f"data.x_{split} has {len(x)} rows and data.y_{split} {len(y)}: every split "
                "needs at least one review (early stopping reads the validation loss); "
                "load more reviews (a larger subset, or a validation_split that leaves "
                "reviews on both sides)."
            )


def train_one(
    build: Callable[[], keras.Model],
    data,
    seed: int,
    epochs: int,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    patience: int = 1,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    clipnorm: float | None = 1.0,
) -> dict:
    """Build, train and test one model; return one row of results (see `COLUMNS`).

    `build()` returns an uncompiled model whose output is a probability (sigmoid);
    it is compiled here with Adam and binary cross-entropy, so all variants share them.
    `clipnorm` rescales each gradient whose norm exceeds it (Pascanu, Mikolov & Bengio,
    2013): a plain tanh RNN's gradients can explode and wreck a run, which clipping
    prevents without changing ordinary steps. `None` turns it off.
    """
    check_parameters(seed=seed, epochs=epochs, batch_size=batch_size,
                     learning_rate=learning_rate, patience=patience)
    _check_training_inputs(data, clipnorm)
    set_seed(seed)
    model = build()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, clipnorm=clipnorm),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    build_training_state(model, data.x_train, data.y_train)  # fit traces its step once, not twice
    timer = EpochTimer()
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )
    fit = model.fit(
        data.x_train, data.y_train, validation_data=(data.x_val, data.y_val),
        epochs=epochs, batch_size=batch_size, callbacks=[timer, stop, *callbacks], verbose=0,
    )
    history = pd.DataFrame(fit.history)
    best = int(history["val_loss"].idxmin())  # the epoch whose weights were kept
    test_loss, test_accuracy = model.evaluate(
        data.x_test, data.y_test, batch_size=batch_size, verbose=0
    )
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    history["seconds"] = timer.seconds
    return {
        "seed": seed,
        "epochs_run": len(history),
        "best_epoch": best + 1,
        "val_accuracy": float(history["val_accuracy"][best]),
        "val_loss": float(history["val_loss"][best]),
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "params": int(model.count_params()),
        # The first epoch also traces the graph: the median of all epochs is robust to it.
        "seconds_per_epoch": float(np.median(timer.seconds)),
        "history": history.to_dict(orient="records"),
    }


def run_grid(
    builders: dict[str, Callable[[], keras.Model]],
    data,
    seeds: Sequence[int],
    epochs: int,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    patience: int = 1,
    name: str | None = None,
    progress: bool = True,
    clipnorm: float | None = 1.0,
) -> pd.DataFrame:
    """Train every variant in `builders` once per seed; return one row per (variant, seed).

    Args:
        builders: variant name -> function returning a new, uncompiled Keras model.
        data: an `ImdbData` (or anything with x_/y_ train, val and test arrays).
        seeds: one training run per seed and variant.
        epochs: the most epochs a run may take; early stopping may end it sooner.
        batch_size, learning_rate: shared by all runs (Adam).
        patience: epochs without a lower validation loss before stopping.
        name: if given, write `results/<name>.csv` and `results/<name>_history.csv`.
        progress: show a tqdm bar over the grid, with the epoch being trained.
        clipnorm: gradient-norm clipping for Adam (see `train_one`), the same for all runs.
    """
    if not builders:
        raise ValueError("run_grid needs at least one variant in `builders`, got none.")
    check_parameters(seeds=list(seeds) if isinstance(seeds, range) else seeds,
                     epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                     patience=patience)
    _check_training_inputs(data, clipnorm)
    rows = []
    grid = [(variant, seed) for variant in builders for seed in seeds]
    with tqdm(grid, desc="training", unit="run", disable=not progress) as bar:
        for variant, seed in bar:
            callbacks = [TqdmEpochs(bar, f"{variant} seed {seed}")] if progress else []
            row = train_one(builders[variant], data, seed, epochs, batch_size,
                            learning_rate, patience, callbacks, clipnorm)
            rows.append({"variant": variant, **row})
    results = pd.DataFrame(rows, columns=COLUMNS)
    if name is not None:
        save_results(results, name)
    return results


def history_frame(results: pd.DataFrame) -> pd.DataFrame:
    """The per-epoch histories of `run_grid`'s results as one long table (one row an epoch)."""
    return pd.concat(
        [pd.DataFrame(row.history).assign(variant=row.variant, seed=row.seed)
         for row in results.itertuples()],
        ignore_index=True,
    )


def save_results(results: pd.DataFrame, name: str, folder=None) -> None:
    """Write `results/<name>.csv` (histories as JSON text) and `results/<name>_history.csv`."""
    folder = RESULTS_DIR if folder is None else Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    flat = results.assign(history=results["history"].map(json.dumps))
    flat.to_csv(folder / f"{name}.csv", index=False)
    history_frame(results).to_csv(folder / f"{name}_history.csv", index=False)


def load_results(name: str, folder=None) -> pd.DataFrame:
    """Read back what `save_results` wrote, histories included."""
    folder = RESULTS_DIR if folder is None else Path(folder)
    results = pd.read_csv(folder / f"{name}.csv")
    results["history"] = results["history"].map(json.loads)
    return results


# ---------------------------------------------------------------------------------------
# Honest comparisons over a few seeds: paired differences, intervals, verdicts
# ---------------------------------------------------------------------------------------


def paired_differences(results: pd.DataFrame, baseline: str, metric: str = "test_accuracy"):
    """Each variant minus `baseline`, seed by seed (a paired comparison), with its spread.

    Returns a DataFrame indexed by variant: mean difference, standard deviation over
    seeds, and the smallest and largest per-seed difference. A difference whose sign is
    the same for every seed and whose mean is larger than its spread is worth reading;
    one that changes sign from seed to seed is not.
    """
    wide = results.pivot_table(index="seed", columns="variant", values=metric)
    diff = wide.sub(wide[baseline], axis=0).drop(columns=baseline)
    return pd.DataFrame({
        "mean difference": diff.mean(), "std over seeds": diff.std(ddof=1),
        "min": diff.min(), "max": diff.max(), "seeds": diff.count(),
    })


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


def mean_and_std(results: pd.DataFrame, metrics, order=None, ci: bool = False) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each metric, one row per variant: the
    collection's one summary of results over seeds (`compare_to_baseline` is its one verdict).

    The columns are a two-level index (metric, "mean" | "std"); with `ci=True` each metric also
    gets "n" and a 95 % t confidence interval of the mean, "ci_low" and "ci_high"
    (`mean ± t * std / sqrt(n)`: with 2 or 3 seeds it is wide, as it should be). `order` sets
    the row order (default: the order in which the variants first appear in `results`).
    """
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    order = list(dict.fromkeys(results["variant"])) if order is None else list(order)
    table = results.groupby("variant")[metrics].agg(["mean", "std", "count"]).loc[order]
    for metric in metrics:
        n = table[(metric, "count")]
        half = n.map(lambda k: t_quantile_975(k - 1) if k > 1 else np.nan)
        half = half * table[(metric, "std")] / np.sqrt(n)
        table[(metric, "ci_low")] = table[(metric, "mean")] - half
        table[(metric, "ci_high")] = table[(metric, "mean")] + half
    table = table.rename(columns={"count": "n"}, level=1)
    keep = ["mean", "std", "n", "ci_low", "ci_high"] if ci else ["mean", "std"]
    return table.loc[:, [(m, s) for m in metrics for s in keep]]


# ---------------------------------------------------------------------------------------
# Training one model for a fixed budget, then testing it once
# ---------------------------------------------------------------------------------------


def train_and_keep(build, data, seed, budget, callbacks=()):
    """`train_one(build, data, seed, callbacks=callbacks, **budget)`, also returning the
    trained model (train_one builds it inside)."""
    built = []

    def keep():
        built.append(build())
        return built[-1]

    row = train_one(keep, data, seed, callbacks=callbacks, **budget)
    return row, built[-1]


def evaluate_once(model: keras.Model, data, batch_size: int = 512) -> float:
    """Accuracy of `model` on `data.x_test` (one pass; call it once per model)."""
    with quiet_retracing():
        p = model.predict(data.x_test, batch_size=batch_size, verbose=0)
    return float(np.mean((p > 0.5) == (np.asarray(data.y_test) > 0.5)))


# ---------------------------------------------------------------------------------------
# The padding grid (notebook 05): 3 kinds of model x 2 padding sides x mask or not
# ---------------------------------------------------------------------------------------


def variant_name(direction: str, padding: str, mask: bool) -> str:
    return f"{DIRECTION_NAMES[direction]} | {padding} | {'masked' if mask else 'not masked'}"


def padding_builders(padding: str, models: dict | None = None, masked: bool = True,
                     **sizes) -> dict:
    """Builders (name -> fn) for the 3 kinds of model, unmasked and (if `masked`) masked, for
    one padding side.

    `sizes` go to `sentiment_model` (units, embed_dim, vocab_size, maxlen, cell). If
    `models` is a dict, each builder also appends the model it builds to the list
    `models[variant name]`, so after `run_grid` it holds the trained models, one per seed,
    in the order of the seeds.
    """
    def builder(direction, mask, name):
        def build():
            model = sentiment_model(direction, mask=mask, **sizes)
            if models is not None:
                models.setdefault(name, []).append(model)
            return model
        return build

    masks = (True, False) if masked else (False,)
    return {name: builder(direction, mask, name)
            for direction in DIRECTION_NAMES for mask in masks
            for name in [variant_name(direction, padding, mask)]}


def run_padding_grid(data_by_padding: dict, seeds: Sequence[int], epochs: int,
                     batch_size: int = 128, name: str | None = "padding", progress: bool = True,
                     masked_sides: Sequence[str] = ("post", "pre"),
                     **sizes) -> tuple[pd.DataFrame, dict]:
    """Train every (model kind, padding side, mask) variant with `run_grid`.

    `data_by_padding` maps "post"/"pre" to the same reviews padded on that side. Masked
    models are trained on the sides in `masked_sides` only: a masked model computes the same
    function whichever side the padding is on (`padding_side_gap` checks it), so one side
    may be enough. Returns the
    results (run_grid's columns plus `direction`, `padding`, `mask`), written to
    `results/<name>.csv`, and the trained models: variant name -> one model per seed.
    """
    models, frames = {}, []
    for padding, data in data_by_padding.items():
        builders = padding_builders(padding, models, masked=padding in masked_sides, **sizes)
        frames.append(run_grid(builders, data, seeds, epochs, batch_size=batch_size,
                               progress=progress))
    results = pd.concat(frames, ignore_index=True)
    parts = results.variant.str.split(" | ", regex=False)
    results.insert(1, "direction", parts.str[0])
    results.insert(2, "padding", parts.str[1])
    results.insert(3, "mask", parts.str[2])
    if name is not None:
        save_results(results, name)
    return results, models


def padding_side_gap(model: keras.Model, ids_a, ids_b, batch_size: int = 512) -> float:
    """Largest difference between `model`'s predictions on `ids_a` and on `ids_b`.

    With the same reviews padded on the two sides, a masked model gives 0 (up to rounding):
    padded steps are skipped, so the side the zeros are on cannot matter.
    """
    with quiet_retracing():
        a = model.predict(ids_a, batch_size=batch_size, verbose=0)
        b = model.predict(ids_b, batch_size=batch_size, verbose=0)
    return float(np.abs(a - b).max())


def padding_table(results: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """The grid as a table: one row per model kind, columns (mask, padding), mean over seeds."""
    table = results.pivot_table(index="direction", columns=["mask", "padding"], values=metric)
    return table.reindex(list(DIRECTION_NAMES.values()))


def padding_costs(results: pd.DataFrame) -> pd.DataFrame:
    """What leaving the mask out costs, seed by seed: one row per seed, one column per kind of
    model and padding side, `masked accuracy - unmasked accuracy` (a paired difference: the
    same seed, the same reviews). A masked model computes the same function on either side, so
    where only one side was trained masked, that model is the reference for both sides."""
    wide = results.pivot_table(index="seed", columns="variant", values="test_accuracy")
    costs = {}
    for kind in DIRECTION_NAMES.values():
        trained = [side for side in ("post", "pre") if f"{kind} | {side} | masked" in wide]
        for side in ("post", "pre"):
            reference = side if side in trained else trained[0]
            costs[f"{kind}, {side}"] = (wide[f"{kind} | {reference} | masked"]
                                        - wide[f"{kind} | {side} | not masked"])
    return pd.DataFrame(costs)
