"""Two losses or one? A learner's plan for training a bidirectional RNN, as an experiment.

The learner's plan: train the forward RNN with its own head and its own loss, train the
backward RNN with its own head and its own loss, and only concatenate their hidden states
at test time. This module builds, trains and compares three setups and two controls on the
same data, with the same budget and the same seeds (notebook 07):

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
- **(d) and (e), the controls**: two models trained apart and `glued` are an ensemble,
  whatever their losses: (d) sums the logits of (b)'s forward model and a second forward
  model, as the plan sums its two; (e) averages the logits of (a) and a second one-loss model.

Then the reason (a) is different, in numbers (the probes live in `utils.probes`):
`nudged` changes only the backward weights; `calibration_table` compares how trustworthy the
setups' probabilities are.

The demonstration of notebook 01 (section 7), on a small bidirectional classifier:
`loss_and_gradients` (one loss, one backward pass, the gradient each direction gets),
`backward_weights_effect` (does the forward gradient move when only the backward weights
change? yes with one loss, no with one loss per direction) and `two_loss_twin` (the plan as
a model: each direction with its own head and its own loss).

    from utils.two_losses import run_two_losses
    results, models = run_two_losses(imdb, seeds=[0, 1, 2], epochs=3, units=32, embed_dim=32)
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from types import SimpleNamespace

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import ops
from tqdm import tqdm  # the text bar: it works in JupyterLab and in saved outputs

from .experiments import COLUMNS, TqdmEpochs, save_results, train_and_keep
from .layers import direction_weights
from .maths import expected_calibration_error, relative_change, sigmoid
from .models import final_states, sentiment_model
from .notebook import quiet_retracing
from .probes import joint_states
from .reference import loss as binary_cross_entropy

#: The names of the three setups (the `variant` column).
ONE_LOSS, TWO_LOSSES, FROZEN = "one loss (a)", "two losses (b)", "frozen + new head (c)"
#: The plan's exact test-time architecture (two embeddings, two RNNs, the two heads' logits
#: summed), trained as one model with one loss: the control that isolates the training.
TWO_EMBEDDINGS = "two embeddings, one loss (a')"
#: The controls for the plan's two models: any two models trained apart and glued are an
#: ensemble. (d) is (b)'s forward model and a second forward model, their logits summed as the
#: plan sums them; (e) is (a) and a second one-loss model, their logits averaged. (d) has the
#: plan's weights exactly, (e) two bidirectional RNNs instead of one (the embeddings dominate).
TWO_FORWARD = "two forward, summed (d)"
TWO_ONE_LOSS = "two one-loss, averaged (e)"
#: The second member of each pair in (d) and (e) starts from this seed plus the row's seed.
SECOND_MEMBER = 1_000
#: The two halves of (b), each evaluated on its own, for reference.
FORWARD, BACKWARD = "forward alone", "backward alone"
VARIANTS = (ONE_LOSS, TWO_EMBEDDINGS, TWO_LOSSES, FROZEN, TWO_FORWARD, TWO_ONE_LOSS, FORWARD,
            BACKWARD)


# ---------------------------------------------------------------------------------------
# 1. The models
# ---------------------------------------------------------------------------------------


def _joined(members, head, name):
    """Token ids -> each member model's final states, side by side -> head."""
    inputs = keras.Input(members[0].inputs[0].shape[1:], dtype="int32", name="token_ids")
    # Each encoder is a nested model (the members' layers have the same names).
    encoders = [final_states(member) for member in members]
    merged = keras.layers.Concatenate(name="concat")([encoder(inputs) for encoder in encoders])
    return keras.Model(inputs, head(merged), name=name)


def glued(members, scale: float = 1.0, name: str = "glued") -> keras.Model:
    """Trained classifiers glued at test time: their final states side by side, read by their
    own heads side by side, so the logit is `scale * (z_1 + z_2 + ...)` (`scale=1` sums the
    members' logits, `1 / len(members)` averages them). Nothing is trained here."""
    weights = [member.get_layer("head").get_weights() for member in members]
    head = keras.layers.Dense(1, activation="sigmoid", name="head")
    model = _joined(members, head, name=name)
    head.set_weights([scale * np.concatenate([w for w, _ in weights]),
                      scale * sum(b for _, b in weights)])
    return model


def combine_at_test_time(forward: keras.Sequential, backward: keras.Sequential) -> keras.Model:
    """The plan's test-time model: [h_f; h_b] -> the two trained heads, side by side.

    The head's weights are the forward head's on top of the backward head's,
    `W_y = [w_f; w_b]`, each learned separately, so `[h_f; h_b] W_y = z_f - b_f + z_b - b_b`.
    The bias is `b_f + b_b`: the combined logit is then exactly the sum of the two models'
    logits, `z = z_f + z_b` (adding the two log-odds; averaging them instead would halve
    every logit, which changes the loss but not a single predicted class).
    Nothing is trained here: the layers are `forward`'s and `backward`'s own.
    """
    return glued([forward, backward], name="two_losses_combined")


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
        return _joined(copies, head, name="frozen_new_head")

    return build


def two_embeddings_one_loss(**sizes) -> keras.Model:
    """The plan's test-time model, `combine_at_test_time`'s architecture, built fresh and
    meant to be trained as a whole with one loss: a forward and a backward
    `sentiment_model`, each with its own embedding and RNN, their final states side by side
    into one `Dense(1, sigmoid)` head. `[h_f; h_b] [w_f; w_b] + b = (h_f w_f + b_f) +
    (h_b w_b + b_b)` with `b = b_f + b_b`: the two heads' logits summed, as in the plan, but
    one loss trains everything. `sizes` go to `sentiment_model`."""
    head = keras.layers.Dense(1, activation="sigmoid", name="head")
    return _joined([sentiment_model("forward", **sizes), sentiment_model("backward", **sizes)],
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
    model = _joined([forward, backward], head, name="frozen_new_head")
    head.set_weights(head_weights)
    return model


# ---------------------------------------------------------------------------------------
# 2. Training the three setups with the same budget
# ---------------------------------------------------------------------------------------


def _loss_and_accuracy(p, y) -> tuple[float, float]:
    """Binary cross-entropy and accuracy of the probabilities `p` for the labels `y`, computed
    as Keras computes them (in float64; the loss clips p to [1e-7, 1 - 1e-7])."""
    p, y = np.asarray(p, dtype="float64"), np.asarray(y, dtype="float64")
    return binary_cross_entropy(np.clip(p, 1e-7, 1 - 1e-7), y), float(np.mean((p > 0.5) == y))


def _scores(states, y, head_weights) -> tuple[float, float]:
    """Binary cross-entropy and accuracy of a sigmoid head with `head_weights` on `states`."""
    w, b = head_weights
    return _loss_and_accuracy(sigmoid((states @ w + b)[:, 0].astype("float64")), y)


def _glued_row(model, member_rows, data, seed) -> dict:
    """The results row of a glued model (never trained): scored once on the validation and the
    test reviews; epochs, weights and seconds per epoch are its members' added up."""
    scores = {}
    for split in ("val", "test"):
        p = model.predict(getattr(data, f"x_{split}"), batch_size=512, verbose=0)[:, 0]
        scores[f"{split}_loss"], scores[f"{split}_accuracy"] = _loss_and_accuracy(
            p, getattr(data, f"y_{split}"))
    return dict(seed=seed, epochs_run=sum(r["epochs_run"] for r in member_rows),
                best_epoch=np.nan, **scores, params=sum(r["params"] for r in member_rows),
                seconds_per_epoch=sum(r["seconds_per_epoch"] for r in member_rows), history=[])


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
    cell: str = "simple_rnn",
) -> tuple[pd.DataFrame, dict]:
    """Train setups (a), (a'), (b) and (c) and the controls (d) and (e) once per seed; return
    the results and the models.

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
    5. The controls: a second forward model and a second one-loss model are trained, from
       seed `seed + SECOND_MEMBER`. (d) glues (b)'s forward model and the second forward
       model as the plan glues its two (logits summed); (e) averages the logits of (a) and
       the second one-loss model. Each is scored once, as (b) is.

    `cell` ("simple_rnn", the default, "gru" or "lstm") is the recurrent layer of every
    model: it goes to `sentiment_model`, as do `units`, `embed_dim`, `vocab_size` and `maxlen`.

    Returns:
        results: one row per (variant, seed) with `utils.experiments.COLUMNS`; the variants
            are `VARIANTS`. The row of (b) describes the combined model, which is never
            trained itself: `epochs_run` counts both halves' epochs, `seconds_per_epoch` is
            the sum of both halves' (one epoch of the plan), `best_epoch` is empty and
            `history` is `[]`. The row of (c) counts all its weights, frozen ones included,
            and its `seconds_per_epoch` are those of the head's training alone.
        models: `models[seed]` is a dict with keys "one_loss", "two_embeddings", "forward",
            "backward", "combined", "frozen", "two_forward" and "two_one_loss" (the glued
            controls) and "forward_2" and "one_loss_2" (their second members).
    """
    vocab_size = vocab_size or getattr(data, "vocab_size", None) or int(data.x_train.max()) + 1
    maxlen = maxlen or data.x_train.shape[1]
    sizes = dict(units=units, embed_dim=embed_dim, vocab_size=vocab_size, maxlen=maxlen,
                 cell=cell)
    budget = dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                  patience=epochs if patience is None else patience)
    rows, models = [], {}
    with tqdm(total=7 * len(seeds), desc="training", unit="run", disable=not progress) as bar:

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
            second = seed + SECOND_MEMBER
            row_f2, forward_2 = train(
                lambda: sentiment_model("forward", name="forward_2", **sizes), data, second,
                "(d) second forward")
            row_a2, one_loss_2 = train(
                lambda: sentiment_model("both", "concat", name="one_loss_2", **sizes), data,
                second, "(e) second one-loss")
            two_forward = glued([forward, forward_2], name="two_forward_summed")
            two_one_loss = glued([one_loss, one_loss_2], scale=0.5, name="two_one_loss_averaged")
            row_d = _glued_row(two_forward, [row_f, row_f2], data, seed)
            row_e = _glued_row(two_one_loss, [row_a, row_a2], data, seed)
            for variant, row in ((ONE_LOSS, row_a), (TWO_EMBEDDINGS, row_two_emb),
                                 (TWO_LOSSES, row_two), (FROZEN, row_c), (TWO_FORWARD, row_d),
                                 (TWO_ONE_LOSS, row_e), (FORWARD, row_f), (BACKWARD, row_b)):
                rows.append({"variant": variant, **row})
            models[seed] = dict(one_loss=one_loss, two_embeddings=two_emb, forward=forward,
                                backward=backward, combined=combined, frozen=frozen,
                                two_forward=two_forward, two_one_loss=two_one_loss,
                                forward_2=forward_2, one_loss_2=one_loss_2)
    results = pd.DataFrame(rows, columns=COLUMNS)
    if name is not None:
        save_results(results, name)
    return results, models


# ---------------------------------------------------------------------------------------
# 3. Why (a) is different: the error signal, and the gradient's dependence
# ---------------------------------------------------------------------------------------


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
# 4. Calibration: are the probabilities trustworthy, not only on the right side of 0.5?
# ---------------------------------------------------------------------------------------


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
                loss, accuracy = _loss_and_accuracy(p, y)
                rows.append({
                    "seed": seed, "variant": variant, "accuracy": accuracy, "loss": loss,
                    "ECE": expected_calibration_error(p, y),
                    "share p < 0.05 or p > 0.95": float(np.mean(np.abs(p - 0.5) > 0.45)),
                })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------
# 5. One loss couples the directions: the demonstration of notebook 01 (section 7)
# ---------------------------------------------------------------------------------------


def loss_and_gradients(model, x, y, weights: dict, loss_fn=None):
    """One forward pass, one scalar loss, one backward pass (`tf.GradientTape`).

    Returns `(loss, gradients)`: the loss as a float and `{key: gradient}` (NumPy arrays)
    for the variables in `weights` (e.g. from `direction_weights`). The loss is
    `loss_fn(y, output)` (binary cross-entropy by default); a model with several outputs
    gets one such loss per output, summed, as Keras does when it compiles one loss per
    output. The model runs with `training=True`, as in `fit`.
    """
    loss_fn = loss_fn or keras.losses.BinaryCrossentropy()
    with tf.GradientTape() as tape:
        outputs = model(x, training=True)
        if isinstance(outputs, (list, tuple)):
            loss = ops.sum(ops.stack([loss_fn(y, output) for output in outputs]))
        else:
            loss = loss_fn(y, outputs)
    grads = tape.gradient(loss, list(weights.values()))
    return float(loss), {
        key: (np.zeros(w.shape, "float32") if g is None else ops.convert_to_numpy(g))
        for (key, w), g in zip(weights.items(), grads, strict=True)
    }


def randomize_weights(layer, seed: int, scale: float = 0.5) -> None:
    """Give every weight of `layer` new values drawn from N(0, scale^2), biases included."""
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [rng.normal(0.0, scale, w.shape).astype("float32") for w in layer.get_weights()]
    )


def copy_model(model):
    """A new model with the same architecture and the same weights (separate variables)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def two_loss_twin(model, bidirectional: str = "birnn"):
    """The plan "each direction with its own loss", made from a bidirectional classifier.

    `model` is `Input -> Embedding -> bidirectional layer (merge_mode "concat", one output
    per sequence) -> Dense(1)`, and `bidirectional` the name of its bidirectional layer.
    The twin has the same embedding and copies of the same forward and backward layers,
    with the same weights, but no merge: each direction gets its own `Dense(1)` head,
    initialised with its half of the classifier's head, so the twin has two outputs
    `[p_forward, p_backward]` and is trained with two losses, one per direction.
    The recurrent layers of the twin are named "forward_rnn" and "backward_rnn".
    """
    bi = model.get_layer(bidirectional)
    embedding = next(layer for layer in model.layers if isinstance(layer, keras.layers.Embedding))
    head = model.layers[-1]
    units = bi.forward_layer.units

    inputs = keras.Input(shape=model.input_shape[1:], dtype=model.inputs[0].dtype)
    twin_embedding = keras.layers.Embedding.from_config(
        {**embedding.get_config(), "name": "embedding"})
    embedded = twin_embedding(inputs)
    outputs = []
    for direction, layer in (("forward", bi.forward_layer), ("backward", bi.backward_layer)):
        rnn = layer.__class__.from_config({**layer.get_config(), "name": f"{direction}_rnn"})
        outputs.append(keras.layers.Dense(1, activation="sigmoid", name=f"{direction}_head")(
            rnn(embedded)))
    twin = keras.Model(inputs, outputs, name="two_loss_twin")

    twin_embedding.set_weights(embedding.get_weights())
    twin.get_layer("forward_rnn").set_weights(bi.forward_layer.get_weights())
    twin.get_layer("backward_rnn").set_weights(bi.backward_layer.get_weights())
    kernel, bias = head.get_weights()
    twin.get_layer("forward_head").set_weights([kernel[:units], bias])
    twin.get_layer("backward_head").set_weights([kernel[units:], bias])
    return twin


def backward_weights_effect(model, layers, x, y, seed: int) -> dict:
    """What giving the backward direction other weights changes in `model`'s loss and gradients.

    `layers(model)` returns `(forward_layer, backward_layer)` of `model` (or of a copy of
    it). The loss and the direction gradients are computed once on `model`, then on a copy
    of it whose backward layer has random weights (`randomize_weights(..., seed)`).

    Returns `{"loss before": ..., "loss after": ..., "forward kernel": ..., ...}`: the two
    losses, then, for each weight of the forward direction, the `relative_change` of its
    gradient. `model` itself is not modified.
    """
    changed = copy_model(model)
    randomize_weights(layers(changed)[1], seed=seed)
    loss_before, before = loss_and_gradients(model, x, y, direction_weights(*layers(model)))
    loss_after, after = loss_and_gradients(changed, x, y, direction_weights(*layers(changed)))
    effect = {"loss before": loss_before, "loss after": loss_after}
    for key in before:
        if key.startswith("forward"):
            effect[key] = relative_change(before[key], after[key])
    return effect
