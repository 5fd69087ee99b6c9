"""Two losses or one? A learner's plan for training a bidirectional RNN, as an experiment.

The learner's plan: train the forward RNN with its own head and its own loss, train the
backward RNN with its own head and its own loss, and only concatenate their hidden states
at test time. This module builds, trains and compares three setups on the same data, with
the same budget and the same seeds (notebook 08):

- **(a) one loss**: the real thing, one model `Embedding -> HandmadeBidirectional(SimpleRNN,
  concat) -> Dense(1, sigmoid)` trained with one binary cross-entropy.
- **(b) two losses**: the plan. Two fully separate models, `sentiment_model("forward")` and
  `sentiment_model("backward")`, each with its own embedding, RNN and head, each trained on
  its own loss. `combine_at_test_time` then concatenates their final states and uses the two
  heads side by side: head weights `[w_f; w_b]` and bias `b_f + b_b`, so the combined logit
  is the sum of the two models' logits, `z = z_f + z_b`.
- **(c) frozen + new head**: the two RNNs of (b), frozen, and one new head trained on the
  concatenation of their final states (`new_head` trained on `joint_states`, which is the
  same as training `frozen_with_new_head`, only faster).

Then the reason (a) is different, in numbers:

- `error_signals`: per review, the error `dL/dz = p - y` that reaches each direction. Under
  the plan the forward RNN gets `sigmoid(z_f) - y`, from its own head only; under one loss
  both directions get `sigmoid(z_f + z_b) - y`, which depends on both.
- `forward_gradient_one_loss` / `forward_gradient_two_losses` with `nudged`: the gradient
  of the loss with respect to the forward RNN's weights, before and after changing only the
  backward weights.

    from utils.two_losses import run_two_losses
    results, models = run_two_losses(imdb, seeds=[0, 1, 2], epochs=3, units=32, embed_dim=32)
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import tensorflow as tf
from tqdm import tqdm  # the text bar: it works in JupyterLab and in saved outputs

from .experiments import COLUMNS, TqdmEpochs, save_results, train_one
from .layers import bidirectional_layer
from .models import final_states, sentiment_model
from .notebook import quiet_retracing
from .reference import loss as binary_cross_entropy

#: The names of the three setups (the `variant` column), in the order they are shown.
ONE_LOSS, TWO_LOSSES, FROZEN = "one loss (a)", "two losses (b)", "frozen + new head (c)"
SETUPS = (ONE_LOSS, TWO_LOSSES, FROZEN)
#: The plan's exact test-time architecture (two embeddings, two RNNs, the two heads' logits
#: summed), trained as one model with one loss: the control that isolates the training.
TWO_EMBEDDINGS = "two embeddings, one loss (a')"
#: The two halves of (b), each evaluated on its own, for reference.
FORWARD, BACKWARD = "forward alone", "backward alone"
VARIANTS = (ONE_LOSS, TWO_EMBEDDINGS, TWO_LOSSES, FROZEN, FORWARD, BACKWARD)


# ---------------------------------------------------------------------------------------
# 1. The models
# ---------------------------------------------------------------------------------------


def _joined(forward, backward, head, name):
    """Token ids -> forward model's final state and backward model's, side by side -> head."""
    inputs = keras.Input(forward.inputs[0].shape[1:], dtype="int32", name="token_ids")
    # Each encoder is a nested model (the two models' layers have the same names).
    encoders = [final_states(forward), final_states(backward)]
    merged = keras.layers.Concatenate(name="concat")([encoder(inputs) for encoder in encoders])
    return keras.Model(inputs, head(merged), name=name)


def combine_at_test_time(forward: keras.Sequential, backward: keras.Sequential) -> keras.Model:
    """The plan's test-time model: [h_f; h_b] -> the two trained heads, side by side.

    The head's weights are the forward head's on top of the backward head's,
    `W_y = [w_f; w_b]`, each learned separately, so `[h_f; h_b] W_y = z_f - b_f + z_b - b_b`.
    The bias is `b_f + b_b`: the combined logit is then exactly the sum of the two models'
    logits, `z = z_f + z_b` (adding the two log-odds; averaging them instead would halve
    every logit, which changes the loss but not a single predicted class).
    Nothing is trained here: the layers are `forward`'s and `backward`'s own.
    """
    w_f, b_f = forward.get_layer("head").get_weights()
    w_b, b_b = backward.get_layer("head").get_weights()
    head = keras.layers.Dense(1, activation="sigmoid", name="head")
    model = _joined(forward, backward, head, name="two_losses_combined")
    head.set_weights([np.concatenate([w_f, w_b]), b_f + b_b])
    return model


def frozen_with_new_head(forward: keras.Sequential, backward: keras.Sequential):
    """A builder for setup (c): the RNNs (and embeddings) of `forward` and `backward`, frozen,
    and one new, randomly initialised `Dense(1, sigmoid)` head on `[h_f; h_b]`.

    Each call copies the two models (same weights, new layers) and sets `trainable = False`
    on every layer of the copies, so `forward` and `backward` themselves stay untouched and
    only the new head's `2 * units + 1` weights are trained.
    """

    def build() -> keras.Model:
        # The head draws its initial weights first, exactly as `new_head` does.
        head = keras.layers.Dense(1, activation="sigmoid", name="head")
        head.build((None, sum(m.get_layer("head").kernel.shape[0] for m in (forward, backward))))
        copies = []
        for model in (forward, backward):
            copy = keras.models.clone_model(model)
            copy.set_weights(model.get_weights())
            copy.trainable = False
            copies.append(copy)
        return _joined(*copies, head, name="frozen_new_head")

    return build


def two_embeddings_one_loss(**sizes) -> keras.Model:
    """The plan's test-time model, `combine_at_test_time`'s architecture, built fresh and
    meant to be trained as a whole with one loss: a forward and a backward
    `sentiment_model`, each with its own embedding and RNN, their final states side by side
    into one `Dense(1, sigmoid)` head. `[h_f; h_b] [w_f; w_b] + b = (h_f w_f + b_f) +
    (h_b w_b + b_b)` with `b = b_f + b_b`: the two heads' logits summed, as in the plan, but
    one loss trains everything. `sizes` go to `sentiment_model`."""
    head = keras.layers.Dense(1, activation="sigmoid", name="head")
    return _joined(sentiment_model("forward", **sizes), sentiment_model("backward", **sizes),
                   head, name="two_embeddings_one_loss")


def new_head(width: int) -> keras.Model:
    """Setup (c)'s trainable part alone: `Dense(1, sigmoid)` on `width` numbers (the final
    states of the two frozen RNNs, side by side)."""
    return keras.Sequential([keras.Input((width,), name="final_states"),
                             keras.layers.Dense(1, activation="sigmoid", name="head")],
                            name="new_head")


def with_trained_head(forward, backward, head_weights) -> keras.Model:
    """Setup (c) as one model: (b)'s two encoders (shared, not copied) and a head with
    `head_weights` (those `new_head` learned). Used for predictions; nothing trains it."""
    head = keras.layers.Dense(1, activation="sigmoid", name="head")
    model = _joined(forward, backward, head, name="frozen_new_head")
    head.set_weights(head_weights)
    return model


def joint_states(forward, backward, x, batch_size: int = 512) -> np.ndarray:
    """`[h_f; h_b]` for every review of `x`: the two models' final states side by side."""
    with quiet_retracing():
        return np.concatenate([final_states(model).predict(x, batch_size=batch_size, verbose=0)
                               for model in (forward, backward)], axis=1)


def logits(model: keras.Sequential, x, batch_size: int = 512) -> np.ndarray:
    """The head's input times its weights plus its bias, before the sigmoid: one per review."""
    with quiet_retracing():
        states = final_states(model).predict(x, batch_size=batch_size, verbose=0)
    w, b = model.get_layer("head").get_weights()
    return (states @ w + b)[:, 0]


# ---------------------------------------------------------------------------------------
# 2. Training the three setups with the same budget
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


def _scores(states, y, head_weights) -> tuple[float, float]:
    """Binary cross-entropy and accuracy of a sigmoid head with `head_weights` on `states`,
    computed as Keras computes them (the loss clips p to [1e-7, 1 - 1e-7])."""
    w, b = head_weights
    p = _sigmoid((states @ w + b)[:, 0].astype("float64"))
    y = np.asarray(y, dtype="float64")
    loss = binary_cross_entropy(np.clip(p, 1e-7, 1 - 1e-7), y)
    return loss, float(np.mean((p > 0.5) == y))


def run_two_losses(
    data,
    seeds: Sequence[int],
    epochs: int,
    batch_size: int = 128,
    units: int = 32,
    embed_dim: int = 32,
    vocab_size: int | None = None,
    maxlen: int | None = None,
    learning_rate: float = 1e-3,
    patience: int | None = None,
    name: str | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """Train setups (a), (a'), (b) and (c) once per seed; return the results and the models.

    Every training run goes through `utils.experiments.train_one`, so all of them share the
    data, Adam with `learning_rate`, `batch_size` and `set_seed(seed)` before the model is
    built. The same number of passes for every setup: each network is trained for exactly
    `epochs` epochs, so every weight of every setup is updated on `epochs` passes over the
    training reviews (`patience=None`, the default, sets patience to `epochs`, so early
    stopping never cuts a run short; the weights of the epoch with the lowest validation
    loss are kept). Per seed:

    1. (a) is trained, then (a') (`two_embeddings_one_loss`: the plan's architecture, one
       loss).
    2. The forward and the backward model of (b) are trained, each on its own loss and with
       the same budget as (a). Both start from the same seed, so from the same initial
       values; they differ because they read the reviews in opposite orders.
    3. Their final states `[h_f; h_b]` are computed once for the training, validation and
       test reviews (`joint_states`). The plan's test-time model (`combine_at_test_time`)
       is scored on them.
    4. (c): a new head (`new_head`) is trained on those states, with the same budget again.
       Since (c)'s RNNs are frozen, their final states never change during its training, so
       training the head on states computed once is the same as training it inside the
       frozen model (`frozen_with_new_head`), only faster. `models[seed]["frozen"]` is the
       whole model of (c), with the trained head (`with_trained_head`).

    Returns:
        results: one row per (variant, seed) with `utils.experiments.COLUMNS`; the variants
            are `VARIANTS`. The row of (b) describes the combined model, which is never
            trained itself: `epochs_run` counts both halves' epochs, `seconds_per_epoch` is
            the sum of both halves' (one epoch of the plan), `best_epoch` is empty and
            `history` is `[]`. The row of (c) counts all its weights, frozen ones included,
            and its `seconds_per_epoch` are those of the head's training alone.
        models: `models[seed]` is a dict with keys "one_loss", "two_embeddings", "forward",
            "backward", "combined" and "frozen", the trained Keras models.
    """
    vocab_size = vocab_size or getattr(data, "vocab_size", None) or int(data.x_train.max()) + 1
    maxlen = maxlen or data.x_train.shape[1]
    sizes = dict(units=units, embed_dim=embed_dim, vocab_size=vocab_size, maxlen=maxlen)
    budget = dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                  patience=epochs if patience is None else patience)
    rows, models = [], {}
    with tqdm(total=5 * len(seeds), desc="training", unit="run", disable=not progress) as bar:

        def train(build, on, seed, label):
            callbacks = [TqdmEpochs(bar, f"{label} seed {seed}")] if progress else []
            row, model = train_and_keep(build, on, seed, budget, callbacks)
            bar.update()
            return row, model

        for seed in seeds:
            row_a, one_loss = train(lambda: sentiment_model("both", "concat", **sizes), data,
                                    seed, "(a)")
            row_two_emb, two_emb = train(lambda: two_embeddings_one_loss(**sizes), data, seed,
                                         "(a')")
            row_f, forward = train(lambda: sentiment_model("forward", **sizes), data, seed,
                                   "forward")
            row_b, backward = train(lambda: sentiment_model("backward", **sizes), data, seed,
                                    "backward")
            combined = combine_at_test_time(forward, backward)
            # One pass over all the reviews, then cut back into train, val and test.
            splits = [data.x_train, data.x_val, data.x_test]
            ends = np.cumsum([len(x) for x in splits])[:-1]
            train_s, val_s, test_s = np.split(
                joint_states(forward, backward, np.concatenate(splits)), ends)
            states = SimpleNamespace(x_train=train_s, x_val=val_s, x_test=test_s,
                                     y_train=data.y_train, y_val=data.y_val, y_test=data.y_test)
            plan_head = combined.get_layer("head").get_weights()
            val_loss, val_accuracy = _scores(states.x_val, data.y_val, plan_head)
            test_loss, test_accuracy = _scores(states.x_test, data.y_test, plan_head)
            row_two = dict(
                seed=seed, epochs_run=row_f["epochs_run"] + row_b["epochs_run"],
                best_epoch=np.nan, val_accuracy=val_accuracy, val_loss=val_loss,
                test_accuracy=test_accuracy, test_loss=test_loss,
                params=row_f["params"] + row_b["params"],
                seconds_per_epoch=row_f["seconds_per_epoch"] + row_b["seconds_per_epoch"],
                history=[],
            )
            row_c, head = train(lambda: new_head(2 * units), states, seed, "(c)")
            frozen = with_trained_head(forward, backward, head.get_layer("head").get_weights())
            row_c["params"] = int(frozen.count_params())
            for variant, row in ((ONE_LOSS, row_a), (TWO_EMBEDDINGS, row_two_emb),
                                 (TWO_LOSSES, row_two), (FROZEN, row_c), (FORWARD, row_f),
                                 (BACKWARD, row_b)):
                rows.append({"variant": variant, **row})
            models[seed] = dict(one_loss=one_loss, two_embeddings=two_emb, forward=forward,
                                backward=backward, combined=combined, frozen=frozen)
    results = pd.DataFrame(rows, columns=COLUMNS)
    if name is not None:
        save_results(results, name)
    return results, models


# ---------------------------------------------------------------------------------------
# 3. Honest summaries over a few seeds
# ---------------------------------------------------------------------------------------

# 97.5 % quantiles of Student's t distribution, by degrees of freedom (for 95 % intervals).
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


def t_quantile_975(df: int) -> float:
    """Student's t 97.5 % quantile for `df` degrees of freedom (a table; conservative between
    its entries, 1.96 beyond 30)."""
    if df < 1:
        return np.nan
    known = [d for d in _T975 if d <= df]
    return _T975[max(known)] if df <= 30 else 1.96


def summarize(results: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """Per variant: mean, standard deviation over seeds, n, and a 95 % t confidence interval
    of the mean (`mean ± t * std / sqrt(n)`; with 2 or 3 seeds it is wide, as it should be)."""
    grouped = results.groupby("variant", sort=False)[metric]
    table = pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=1),
                          "n": grouped.count()})
    half = table["n"].map(lambda n: t_quantile_975(n - 1)) * table["std"] / np.sqrt(table["n"])
    table["ci_low"], table["ci_high"] = table["mean"] - half, table["mean"] + half
    return table


def verdicts(differences: pd.DataFrame, baseline: str = ONE_LOSS) -> pd.Series:
    """Read `utils.experiments.paired_differences` output: one sentence per variant."""

    def read(row):
        if row["seeds"] < 2:
            return "a single seed: no verdict"
        if row["max"] < 0:
            side = "below"
        elif row["min"] > 0:
            side = "above"
        else:
            return f"the sign changes from seed to seed: no clear difference from {baseline}"
        size = "larger" if abs(row["mean difference"]) > row["std over seeds"] else "smaller"
        return (f"{side} {baseline} for every seed (mean difference {size} than its "
                f"spread over seeds)")

    return differences.apply(read, axis=1).rename("verdict")


def plot_accuracies(results: pd.DataFrame, metric: str = "test_accuracy"):
    """Every seed as a dot, and each variant's mean with its 95 % t interval (black)."""
    summary = summarize(results, metric)
    order = [v for v in VARIANTS if v in summary.index]
    fig, ax = plt.subplots(figsize=(8, 4))
    sns.stripplot(data=results, y="variant", x=metric, hue="seed", order=order, ax=ax,
                  palette="colorblind", size=7, jitter=0.15, alpha=0.8)
    summary = summary.loc[order]
    ax.errorbar(summary["mean"], np.arange(len(order)), fmt="D", color="k", capsize=4,
                xerr=[summary["mean"] - summary["ci_low"], summary["ci_high"] - summary["mean"]],
                label="mean, 95 % CI")
    ax.set(ylabel="", xlabel=metric.replace("_", " "))
    ax.legend(title="seed", loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return fig


# ---------------------------------------------------------------------------------------
# 4. Why (a) is different: the error signal, and the gradient's dependence
# ---------------------------------------------------------------------------------------


def _sigmoid(z):
    """The plain formula 1 / (1 + exp(-z)), whose float32 rounding the tests reproduce;
    `utils.reference.sigmoid` is the overflow-safe form, which rounds differently."""
    return 1 / (1 + np.exp(-z))


def error_signals(forward, backward, x, y, batch_size: int = 512) -> pd.DataFrame:
    """The error `dL/dz = p - y` each direction receives, per review, under each loss.

    `forward` and `backward` are the two trained models of (b). With their logits `z_f`
    and `z_b` on the same reviews:

    - *own loss* (the plan): the forward RNN receives `sigmoid(z_f) - y`, the backward RNN
      `sigmoid(z_b) - y`; each depends on one direction only.
    - *one loss* (as in (a), for the same two RNNs joined by the concat and the two heads
      side by side, i.e. `combine_at_test_time`): both receive `sigmoid(z_f + z_b) - y`.

    The gradient that reaches a direction's final state is this number times that
    direction's half of the head, `(p - y) w_f` (divided by the batch size for a mean loss).
    Returns one row per review: label, both logits, and the three signals.
    """
    y = np.asarray(y, dtype=float).reshape(-1)
    z_f, z_b = logits(forward, x, batch_size), logits(backward, x, batch_size)
    return pd.DataFrame({
        "label": y.astype(int), "z_forward": z_f, "z_backward": z_b,
        "own loss, forward": _sigmoid(z_f) - y,
        "own loss, backward": _sigmoid(z_b) - y,
        "one loss, both": _sigmoid(z_f + z_b) - y,
    })


def signals_long(signals: pd.DataFrame, confident: float = 0.9) -> pd.DataFrame:
    """`error_signals` as one row per (review, direction), for a scatter plot.

    Columns: review (the row of `signals`), label, direction, `own loss` (what that
    direction receives under the plan), `one loss` (what it receives under one loss), and
    `other direction` ("confidently right" when the *other* direction alone gives the true
    class a probability above `confident`).
    """
    frames = []
    for direction, other in (("forward", "backward"), ("backward", "forward")):
        p_other_true = 1 - np.abs(signals[f"own loss, {other}"])  # probability of the label
        frames.append(pd.DataFrame({
            "review": signals.index, "label": signals["label"], "direction": direction,
            "own loss": signals[f"own loss, {direction}"],
            "one loss": signals["one loss, both"],
            "other direction": np.where(p_other_true > confident, "confidently right",
                                        "not confident or wrong"),
        }))
    long = pd.concat(frames, ignore_index=True)
    # The rarer "confidently right" dots last, so that they are drawn on top.
    return long.sort_values("other direction", key=lambda s: s == "confidently right",
                            kind="stable", ignore_index=True)


def starved(long: pd.DataFrame, own_above: float = 0.5, one_below: float = 0.25) -> pd.DataFrame:
    """The rows of `signals_long` where one loss hardly trains a direction that its own loss
    would push hard: the direction alone is wrong (`|own loss| > own_above`, 0.5 means it
    puts the review on the wrong side) but the joint prediction is nearly right
    (`|one loss| < one_below`), because the other direction carries the review."""
    return long[(long["own loss"].abs() > own_above) & (long["one loss"].abs() < one_below)]


def plot_error_signals(long: pd.DataFrame):
    """Scatter of one-loss error vs own-loss error, one panel per direction, with y = x."""
    grid = sns.relplot(data=long, x="own loss", y="one loss", col="direction",
                       hue="other direction",
                       hue_order=["not confident or wrong", "confidently right"],
                       s=12, alpha=0.5, height=3.6, aspect=1.1)
    for ax in grid.axes.flat:
        ax.plot([-1, 1], [-1, 1], "k--", lw=1)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set(xlim=(-1.02, 1.02), ylim=(-1.02, 1.02))
    grid.set_axis_labels("error from its own head, p_dir - y  (b)",
                         "error from one loss, p - y")
    return grid.figure


def _rnn_layer(model):
    """The one recurrent layer of a one-direction `sentiment_model`."""
    return model.layers[1]


@dataclass
class GradientProbe:
    """One loss evaluation: the loss, the probabilities, and d loss / d forward RNN weights."""

    loss: float
    probabilities: np.ndarray
    gradients: list[np.ndarray]


def _bce(y, p):
    return keras.ops.mean(keras.losses.binary_crossentropy(y, p))


def forward_gradient_one_loss(model, x, y) -> GradientProbe:
    """Setup (a): the one loss and its gradient w.r.t. the forward RNN's weights."""
    forward_rnn = bidirectional_layer(model).forward_layer
    y = tf.reshape(tf.cast(y, "float32"), (-1, 1))
    with tf.GradientTape() as tape:
        p = model(x, training=True)
        loss = _bce(y, p)
    grads = tape.gradient(loss, forward_rnn.trainable_weights)
    return GradientProbe(float(loss), keras.ops.convert_to_numpy(p)[:, 0],
                         [keras.ops.convert_to_numpy(g) for g in grads])


def forward_gradient_two_losses(forward, backward, x, y) -> GradientProbe:
    """Setup (b): the plan's objective, `L_f + L_b` (two separate models trained on their own
    losses minimise exactly this sum), and its gradient w.r.t. the forward RNN's weights.

    `probabilities` are the forward model's. Also checks that the sum has no path at all
    to the backward model's weights through the forward loss: `L_f`'s gradient w.r.t. them
    is `None`.
    """
    forward_rnn = _rnn_layer(forward)
    y = tf.reshape(tf.cast(y, "float32"), (-1, 1))
    with tf.GradientTape(persistent=True) as tape:
        p_f = forward(x, training=True)
        loss_f = _bce(y, p_f)
        loss = loss_f + _bce(y, backward(x, training=True))
    grads = tape.gradient(loss, forward_rnn.trainable_weights)
    unconnected = tape.gradient(loss_f, backward.trainable_weights)
    del tape
    if any(g is not None for g in unconnected):
        raise AssertionError("the forward loss reached the backward model's weights")
    return GradientProbe(float(loss), keras.ops.convert_to_numpy(p_f)[:, 0],
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



# ---------------------------------------------------------------------------------------
# 5. Calibration: are the probabilities trustworthy, not only on the right side of 0.5?
# ---------------------------------------------------------------------------------------


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


def calibration_table(models: dict, keys: dict, x, y, batch_size: int = 512) -> pd.DataFrame:
    """Per seed and variant, on the reviews `x` (use the validation set: the test set is
    read once per model, by `run_two_losses`): accuracy, binary cross-entropy, expected
    calibration error and the share of very confident predictions (p < 0.05 or p > 0.95).

    `models` is `run_two_losses`'s second result; `keys` maps a variant name to a key of
    `models[seed]`, e.g. `{ONE_LOSS: "one_loss", TWO_LOSSES: "combined"}`.
    """
    y = np.asarray(y).reshape(-1)
    rows = []
    with quiet_retracing():
        for seed, kept in models.items():
            for variant, key in keys.items():
                p = kept[key].predict(x, batch_size=batch_size, verbose=0).reshape(-1)
                rows.append({
                    "seed": seed, "variant": variant,
                    "accuracy": float(np.mean((p > 0.5) == y)),
                    "loss": binary_cross_entropy(np.clip(p.astype("float64"), 1e-7, 1 - 1e-7),
                                                 y.astype("float64")),
                    "ECE": expected_calibration_error(p, y),
                    "share p < 0.05 or p > 0.95": float(np.mean(np.abs(p - 0.5) > 0.45)),
                })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------
# 6. A task that needs both sides together: each step's label is the XOR of its neighbours
# ---------------------------------------------------------------------------------------


def neighbour_xor_data(length: int = 30, n_train: int = 2000, n_val: int = 500,
                       n_test: int = 1000, seed: int = 0) -> SimpleNamespace:
    """Random bit sequences whose label at each step needs both sides together.

    Each sequence has `length + 2` random bits `x_0 ... x_{T+1}` (T = `length`), shape
    `(n, T + 2, 1)`. The labels are for the T inner steps: `y_t = x_{t-1} XOR x_{t+1}`, shape
    `(n, T, 1)`. The forward direction at step t has read `x_0 ... x_t`: it knows the left
    neighbour but not the right one, and the label is independent of everything it has read
    (`x_{t+1}` is a fair coin). The backward direction at step t, likewise, knows only the right
    neighbour. A model must crop the first and last step of its per-step outputs (e.g.
    `keras.layers.Cropping1D((1, 1))`) to line them up with the labels.

    Returns an object with x_/y_ train, val and test arrays (float32), and `length`.
    """
    for name, value in (("length", length), ("n_train", n_train), ("n_val", n_val),
                        ("n_test", n_test)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}: pass e.g. "
                             f"{name}=30.")
    rng = np.random.default_rng(seed)

    def split(n):
        x = rng.integers(0, 2, size=(n, length + 2)).astype("float32")
        y = np.logical_xor(x[:, :-2], x[:, 2:]).astype("float32")
        return x[..., None], y[..., None]

    (xt, yt), (xv, yv), (xs, ys) = split(n_train), split(n_val), split(n_test)
    return SimpleNamespace(x_train=xt, y_train=yt, x_val=xv, y_val=yv, x_test=xs, y_test=ys,
                           length=length)


def neighbours(x) -> tuple[np.ndarray, np.ndarray]:
    """For `neighbour_xor_data` inputs: the left and the right neighbour bit of every inner
    step, each of shape `(n, T)` (so that `left XOR right` is the label)."""
    bits = np.asarray(x)[..., 0]
    return bits[:, :-2], bits[:, 2:]


def sub_model(model: keras.Model, layer: str, trainable: bool = True) -> keras.Model:
    """The part of the functional `model` from its input to the *input* of its layer named
    `layer` (e.g. `"logit"`'s input is the hidden layer; use it to read states or logits).
    Shares `model`'s layers; `trainable=False` freezes them (in `model` too; the default
    leaves them as they are)."""
    part = keras.Model(model.inputs, model.get_layer(layer).input, name=f"{model.name}_{layer}")
    if not trainable:
        part.trainable = False
    return part


def evaluate_once(model: keras.Model, data, batch_size: int = 512) -> float:
    """Accuracy of `model` on `data.x_test` (one pass; call it once per model)."""
    with quiet_retracing():
        p = model.predict(data.x_test, batch_size=batch_size, verbose=0)
    return float(np.mean((p > 0.5) == (np.asarray(data.y_test) > 0.5)))


def linear_probe(states_train, target_train, states_val, target_val) -> float:
    """How well a *linear* read-out recovers `target` (0/1) from `states`: least squares
    with a bias on the training states, thresholded at 0.5, accuracy on the validation
    states. `states_*` have shape `(..., units)`, `target_*` the same leading shape."""
    def design(states):
        states = np.asarray(states, dtype="float64")
        flat = states.reshape(-1, states.shape[-1])
        return np.c_[flat, np.ones(len(flat))]

    w = np.linalg.lstsq(design(states_train), np.asarray(target_train).reshape(-1),
                        rcond=None)[0]
    return float(np.mean((design(states_val) @ w > 0.5) == (np.asarray(target_val).reshape(-1)
                                                            > 0.5)))


def plot_needs_both(results: pd.DataFrame, order: Sequence[str]):
    """Test accuracy per variant on the needs-both task, one dot per seed, chance at 0.5."""
    fig, ax = plt.subplots(figsize=(7, 3))
    sns.stripplot(data=results, y="variant", x="test_accuracy", hue="seed", order=order,
                  ax=ax, palette="colorblind", size=8, jitter=0.15)
    ax.axvline(0.5, color="grey", ls="--", lw=1, label="chance")
    ax.set(xlim=(0.4, 1.02), ylabel="", xlabel="test accuracy (per step)")
    ax.legend(title="seed", loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return fig
