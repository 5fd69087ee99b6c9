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
  heads side by side: head weights `[w_f; w_b]` and bias `c_f + c_b` (the heads' biases), so
  the combined logit is the sum of the two models' logits, `z = z_f + z_b`.
- **(c) frozen + new head**: the two RNNs of (b), frozen, and one new head trained on the
  concatenation of their final states (`new_head` trained on `joint_states`, which is the
  same as training `frozen_with_new_head`, only faster).
- **(d) and (e), the controls**: two models trained apart and `glued` are an ensemble,
  whatever their losses: (d) sums the logits of (b)'s forward model and a second forward
  model, as the plan sums its two; (e) averages the logits of (a) and a second one-loss model.

The notebook builds the IMDB models (its `members` and `glue`, passed to `run_two_losses`,
which trains, records and scores them). For the needs-both task (notebook 07, section 1),
`one_loss_tagger` and `one_direction` are (a) and half of (b); `combine_at_test_time` and
`frozen_with_new_head` glue or freeze them too.

Also here: `calibration_table` compares how trustworthy the setups' probabilities are (the
probes live in `utils.probes`).

The demonstration of notebook 01 (section 7), on a small bidirectional classifier:
`loss_and_gradients` (one loss, one backward pass, the gradient each direction gets),
`backward_weights_effect` (does the forward gradient move when only the backward weights
change? yes with one loss, no with one loss per direction) and `two_loss_twin` (the plan as
a model: each direction with its own head and its own loss).

    from utils.two_losses import run_two_losses
    results, models = run_two_losses(imdb, [0, 1, 2], 3, members, glue)  # as notebook 07
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import ops
from tqdm import tqdm  # the text bar: it works in JupyterLab and in saved outputs

from .experiments import COLUMNS, TqdmEpochs, save_results, train_and_keep
from .layers import ReverseTime, direction_weights
from .maths import expected_calibration_error, relative_change, sigmoid
from .models import final_states, recurrent_part, sentiment_model
from .notebook import quiet_retracing
from .probes import joint_states, sub_model
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


def combine_at_test_time(forward: keras.Model, backward: keras.Model) -> keras.Model:
    """The plan's test-time model: the two trained heads side by side, their logits summed,
    `z = z_f + z_b`. Nothing is trained here: the layers are `forward`'s and `backward`'s own.

    IMDB classifiers (`sentiment_model`, head named "head"): `[h_f; h_b]` into one head with
    the forward head's weights on top of the backward head's, `W_y = [w_f; w_b]`, and the
    bias `c_f + c_b`, so that the logit is exactly `z_f + z_b` (adding the two log-odds;
    averaging them instead would halve every logit, which changes the loss but not a single
    predicted class). Taggers of the needs-both task (`one_direction`): at every step, the
    two heads' logits (the inputs of their layers "probability") added up.
    """
    if not _is_tagger(forward):
        return glued([forward, backward], name="two_losses_combined")
    x = keras.Input(forward.inputs[0].shape[1:], name="bits")
    z = keras.layers.Add(name="sum_of_logits")(
        [sub_model(m, "probability")(x) for m in (forward, backward)])  # each head's logit
    return keras.Model(x, keras.layers.Activation("sigmoid")(z), name="glued")


def frozen_with_new_head(forward: keras.Model, backward: keras.Model):
    """A builder for setup (c): the RNNs of `forward` and `backward`, frozen, their states
    side by side, and one new, randomly initialised head on them; only the head is trained.

    IMDB classifiers: each call copies the two models (same weights, new layers, every layer
    frozen), so `forward` and `backward` themselves stay untouched, and puts a new
    `Dense(1, sigmoid)` on `[h_f; h_b]` (`2 * units + 1` trainable weights). Taggers of the
    needs-both task: the two models' states `[h^f_t ; h^b_t]` (their layers "hidden"'s
    inputs, frozen) into a new head of the shape of `one_loss_tagger`'s.
    """
    if _is_tagger(forward):
        def build() -> keras.Model:
            x = keras.Input(forward.inputs[0].shape[1:], name="bits")
            states = [sub_model(m, "hidden", trainable=False)(x) for m in (forward, backward)]
            h = keras.layers.Concatenate(name="merged")(states)
            width = forward.get_layer("hidden").units
            hidden = keras.layers.Dense(width, activation="relu", name="hidden")(h)
            p = keras.layers.Dense(1, activation="sigmoid", name="p")(hidden)
            return keras.Model(x, p, name="frozen_new_head")

        return build

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
    into one `Dense(1, sigmoid)` head. `[h_f; h_b] [w_f; w_b] + c = (h_f w_f + c_f) +
    (h_b w_b + c_b)` with `c = c_f + c_b`: the two heads' logits summed, as in the plan, but
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
# 1b. The taggers of the needs-both task (notebook 07, section 1)
# ---------------------------------------------------------------------------------------


def _is_tagger(model) -> bool:
    return any(layer.name == "probability" for layer in model.layers)


def one_loss_tagger(length: int, units: int, hidden: int, cell: str = "simple_rnn",
                    fused: bool = False):
    """(a) on sequences of `length + 2` bits: one bidirectional RNN (the hand-made wrapper,
    concat, `return_sequences=True`; with `fused=True` notebook 08's engine, which computes the
    same), a nonlinear head (a ReLU layer of `hidden` units, then a sigmoid) on
    `[h^f_t ; h^b_t]` at each of the `length` inner steps, one loss."""
    x = keras.Input((length + 2, 1), name="bits")
    h = recurrent_part("both", units, cell=cell, return_sequences=True, fused=fused,
                       name="birnn")(x)
    h = keras.layers.Cropping1D((1, 1), name="inner_steps")(h)  # steps 1..length
    hidden_layer = keras.layers.Dense(hidden, activation="relu", name="hidden")(h)
    p = keras.layers.Dense(1, activation="sigmoid", name="p")(hidden_layer)
    return keras.Model(x, p, name="one_loss")


def one_direction(backwards: bool, length: int, units: int, hidden: int,
                  cell: str = "simple_rnn", fused: bool = False):
    """Half of the plan on the same bits: its own RNN (reading backwards if `backwards`, its
    states put back in reading order) and its own head, the same as `one_loss_tagger`'s on its
    half of the state, trained alone on its own loss. The head's logit feeds the layer
    "probability"."""
    x = keras.Input((length + 2, 1), name="bits")
    h = recurrent_part("backward" if backwards else "forward", units, cell=cell,
                       return_sequences=True, fused=fused)(x)
    if backwards:
        h = ReverseTime(name="reading_order")(h)  # h^b_t back at position t
    h = keras.layers.Cropping1D((1, 1), name="inner_steps")(h)
    hidden_layer = keras.layers.Dense(hidden, activation="relu", name="hidden")(h)
    z = keras.layers.Dense(1, name="logit")(hidden_layer)
    p = keras.layers.Activation("sigmoid", name="probability")(z)
    return keras.Model(x, p, name="backward" if backwards else "forward")


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


def _glued_row(model, member_rows, data, seed, scores=None) -> dict:
    """The results row of a glued model (never trained): scored once on the validation and the
    test reviews (unless `scores` are given); epochs, weights and seconds per epoch are its
    members' added up."""
    if scores is None:
        scores = {}
        for split in ("val", "test"):
            p = model.predict(getattr(data, f"x_{split}"), batch_size=512, verbose=0)[:, 0]
            scores[f"{split}_loss"], scores[f"{split}_accuracy"] = _loss_and_accuracy(
                p, getattr(data, f"y_{split}"))
    return dict(seed=seed, epochs_run=sum(r["epochs_run"] for r in member_rows),
                best_epoch=np.nan, **scores, params=sum(r["params"] for r in member_rows),
                seconds_per_epoch=sum(r["seconds_per_epoch"] for r in member_rows), history=[])


#: The networks `run_two_losses` trains per seed, in this order ("forward_2" and "one_loss_2"
#: from seed `seed + SECOND_MEMBER`), and the glued models its `glue` must return.
FIRST_MEMBERS = ("one_loss", "two_embeddings", "forward", "backward")
SECOND_MEMBERS = ("forward_2", "one_loss_2")
GLUED = {"combined": ("forward", "backward"), "two_forward": ("forward", "forward_2"),
         "two_one_loss": ("one_loss", "one_loss_2")}
_LABELS = {"one_loss": "(a)", "two_embeddings": "(a')", "forward": "forward",
           "backward": "backward", "forward_2": "(d) second forward",
           "one_loss_2": "(e) second one-loss"}


def run_two_losses(
    data,
    seeds: Sequence[int],
    epochs: int,
    members: dict,
    glue,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    patience: int | None = None,
    name: str | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """Train setups (a), (a'), (b) and (c) and the controls (d) and (e) once per seed; return
    the results and the models. The caller builds the models (notebook 07 shows them):

    - `members`: a builder (no arguments, returns a fresh model) for each name of
      `FIRST_MEMBERS` and `SECOND_MEMBERS`: (a) "one_loss", (a') "two_embeddings", the two
      models of (b) "forward" and "backward", and the controls' second members "forward_2"
      and "one_loss_2". Each is trained on its own, with one `fit` and its own loss.
    - `glue(trained)`: from the trained members of one seed, the models glued at test time
      (never trained), under the keys of `GLUED`: "combined" (b), "two_forward" (d) and
      "two_one_loss" (e); `GLUED` names the members each one holds.

    Every training run goes through `utils.experiments.train_one`, so all of them share the
    data, Adam with `learning_rate`, `batch_size` and `set_seed(seed)` before the model is
    built. The same number of passes for every setup: each network is trained for exactly
    `epochs` epochs, so every weight of every setup is updated on `epochs` passes over the
    training reviews (`patience=None`, the default, sets patience to `epochs`, so early
    stopping never cuts a run short; the weights of the epoch with the lowest validation
    loss are kept). Per seed:

    1. The members of `FIRST_MEMBERS` are trained, from the same seed (so the two models of
       (b) start from the same initial values; they differ because they read the reviews in
       opposite orders).
    2. (b)'s final states `[h_f; h_b]` are computed once for the training, validation and
       test reviews (`joint_states`); the plan's test-time model is scored on them.
    3. (c): a new head (`new_head`) is trained on those states, with the same budget again.
       Since (c)'s RNNs are frozen, their final states never change during its training, so
       training the head on states computed once is the same as training it inside the
       frozen model (`frozen_with_new_head`), only faster. `models[seed]["frozen"]` is the
       whole model of (c), with the trained head (`with_trained_head`).
    4. The second members are trained from seed `seed + SECOND_MEMBER`; (d) and (e) are
       glued and scored once, as (b) is.

    Returns:
        results: one row per (variant, seed) with `utils.experiments.COLUMNS`; the variants
            are `VARIANTS`. A glued model's row is never trained itself: `epochs_run`,
            `params` and `seconds_per_epoch` add up its members', `best_epoch` is empty and
            `history` is `[]`. The row of (c) counts all its weights, frozen ones included,
            and its `seconds_per_epoch` are those of the head's training alone.
        models: `models[seed]` holds the trained members, the glued models and "frozen" (c).
    """
    missing = set(FIRST_MEMBERS + SECOND_MEMBERS) - set(members)
    if missing:
        raise ValueError(f"`members` has no builder for {sorted(missing)}")
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
            row, m = {}, {}
            for key in FIRST_MEMBERS:
                row[key], m[key] = train(members[key], data, seed, _LABELS[key])
            forward, backward = m["forward"], m["backward"]
            # One pass over all the reviews, then cut back into train, val and test.
            splits = [data.x_train, data.x_val, data.x_test]
            ends = np.cumsum([len(x) for x in splits])[:-1]
            train_s, val_s, test_s = np.split(
                joint_states(forward, backward, np.concatenate(splits)), ends)
            states = SimpleNamespace(x_train=train_s, x_val=val_s, x_test=test_s,
                                     y_train=data.y_train, y_val=data.y_val, y_test=data.y_test)
            width = train_s.shape[1]
            row_c, head = train(lambda w=width: new_head(w), states, seed, "(c)")
            m["frozen"] = with_trained_head(forward, backward, head.get_layer("head").get_weights())
            row_c["params"] = int(m["frozen"].count_params())
            for key in SECOND_MEMBERS:
                row[key], m[key] = train(members[key], data, seed + SECOND_MEMBER, _LABELS[key])
            glued_models = glue(m)
            missing = set(GLUED) - set(glued_models)
            if missing:
                raise ValueError(f"`glue` returned no model for {sorted(missing)}")
            m.update({key: glued_models[key] for key in GLUED})
            plan_head = m["combined"].get_layer("head").get_weights()
            scores = {}
            for split, s in (("val", val_s), ("test", test_s)):
                scores[f"{split}_loss"], scores[f"{split}_accuracy"] = _scores(
                    s, getattr(data, f"y_{split}"), plan_head)
            row_two = _glued_row(None, [row["forward"], row["backward"]], data, seed, scores)
            row_d = _glued_row(m["two_forward"], [row[k] for k in GLUED["two_forward"]], data, seed)
            row_e = _glued_row(m["two_one_loss"], [row[k] for k in GLUED["two_one_loss"]], data,
                               seed)
            for variant, r in ((ONE_LOSS, row["one_loss"]), (TWO_EMBEDDINGS, row["two_embeddings"]),
                               (TWO_LOSSES, row_two), (FROZEN, row_c), (TWO_FORWARD, row_d),
                               (TWO_ONE_LOSS, row_e), (FORWARD, row["forward"]),
                               (BACKWARD, row["backward"])):
                rows.append({"variant": variant, **r})
            models[seed] = m
    results = pd.DataFrame(rows, columns=COLUMNS)
    if name is not None:
        save_results(results, name)
    return results, models


# ---------------------------------------------------------------------------------------
# 3. Calibration: are the probabilities trustworthy, not only on the right side of 0.5?
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
# 4. One loss couples the directions: the demonstration of notebook 01 (section 7)
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
