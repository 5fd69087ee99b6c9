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

from .notebook import check_parameters, set_seed
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
