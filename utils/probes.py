"""Probes: what each direction of a trained model has read, and what it would predict.

A bidirectional classifier `Embedding -> Bidirectional(RNN, concat) -> Dense(1, sigmoid)`
trained with `return_sequences=False` only ever shows its head two vectors: the forward
RNN's final state h^f_T (it has read tokens 1..T) and the backward RNN's final state
h^b_1 (it has read T..1). The head computes

    p = sigmoid(w_f . h^f_T + w_b . h^b_1 + b),    head kernel = [w_f ; w_b].

This module opens the model up (notebook 05, and the separately trained directions of 07):

- `step_states_model(model)`: the same two RNNs (copies with the same weights) with
  `return_sequences=True`, so every step's state comes out: h^f_t has read tokens 1..t,
  h^b_t has read tokens t..T (the backward outputs are flipped into reading order).
- `direction_predictions`: what each direction *alone* would predict so far,
  p^f_t = sigmoid(w_f . h^f_t + b + c_b) and p^b_t = sigmoid(w_b . h^b_t + b + c_f), using
  the head's own half for that direction. With a mask, h^f_t is exactly the final state
  the forward RNN would have reached on a review that stops at word t, so p^f_t is the
  forward half's verdict on that shorter review. The approximation is the other half: it
  is absent, and its term is replaced by a stand-in c (0, or its average over reviews,
  `mean_terms`), a situation the head never saw during training.
- `reading_check`, `late_turn_candidates`, `accuracy_by_fraction_read`: checks and summaries.
- One review, picked or typed (the explorer of notebook 05, `utils.plots.ReviewExplorer`):
  `encode_text` (a text to token ids, as `utils.data` encodes the reviews) and `read_review`
  (each direction's running prediction and the model's verdict on it).
- Two separately trained directions (notebook 07): `logits`, `joint_states` (their final
  states side by side), `error_signals` (the error p - y each direction receives, under its
  own loss and under one loss), `sub_model` and `linear_probe` (can a linear model read a
  quantity from frozen states?).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from .data import standardize
from .layers import bidirectional_layer
from .maths import sigmoid
from .models import final_states
from .notebook import quiet_retracing

#: Phrases of a review whose sentiment may turn late (searched in the decoded test reviews).
LATE_TURN_PHRASES = (
    "but the ending", "until the end", "the ending ruin", "ending ruined", "ruins it",
    "ruined it", "ruined the", "but then", "fell apart", "went downhill",
)

# ---------------------------------------------------------------------------------------
# 1. Per-step states of each direction
# ---------------------------------------------------------------------------------------


def _sequence_copy(layer, input_dim: int):
    """A copy of the recurrent `layer` returning every step's output, with the same weights."""
    config = {**layer.get_config(), "return_sequences": True, "return_state": False,
              "zero_output_for_mask": True, "name": f"{layer.name}_steps"}
    copy = layer.__class__.from_config(config)
    copy.build((None, None, input_dim))
    copy.set_weights(layer.get_weights())
    return copy


# Models built once per trained model and reused: a new Keras model per call would trace
# its predict function again (slow, and TensorFlow warns about retracing).
_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def step_states_model(model: keras.Model) -> keras.Model:
    """Token ids (any length) -> (h_f, h_b): each direction's state at every step.

    Both outputs have shape (reviews, time, units) and are in reading order: `h_f[:, t]`
    has read tokens 0..t, `h_b[:, t]` has read tokens t..T-1 (the backward RNN's outputs
    come out last-step-first and are flipped back, as the wrapper does). The embedding is
    `model`'s own layer, and the two RNNs are copies of the wrapper's forward_layer and
    backward_layer with their weights, so nothing is retrained. If the embedding masks
    padding, padded steps keep the state unchanged (their outputs are zeros).
    """
    bi = bidirectional_layer(model)
    if model in _STEPS:  # reuse it, with the model's current weights
        steps, forward, backward = _STEPS[model]
        forward.set_weights(bi.forward_layer.get_weights())
        backward.set_weights(bi.backward_layer.get_weights())
        return steps
    embedding = model.get_layer("embedding")
    forward = _sequence_copy(bi.forward_layer, embedding.output_dim)
    backward = _sequence_copy(bi.backward_layer, embedding.output_dim)
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    x = embedding(ids)
    h_f = forward(x)
    h_b = keras.ops.flip(backward(x), axis=1)
    steps = keras.Model(ids, [h_f, h_b], name=f"{model.name}_steps")
    _STEPS[model] = (steps, forward, backward)
    return steps


def head_halves(model: keras.Model) -> tuple[np.ndarray, np.ndarray, float]:
    """The head's weights split by direction: (w_f, w_b, b) for a concat bidirectional model."""
    kernel, bias = model.get_layer("head").get_weights()
    units = kernel.shape[0] // 2
    if bidirectional_layer(model).merge_mode != "concat":
        raise ValueError("Splitting the head by direction needs merge_mode='concat'.")
    return kernel[:units, 0], kernel[units:, 0], float(bias[0])


def word_positions(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the index of the first and of the last non-padding token."""
    words = np.asarray(ids) != 0
    first = words.argmax(axis=1)
    last = words.shape[1] - 1 - words[:, ::-1].argmax(axis=1)
    return first, last


def direction_predictions(model: keras.Model, ids: np.ndarray, stand_in: dict | None = None,
                          batch_size: int = 512):
    """What each direction alone would predict so far, at every step of every review.

    Returns `(p_f, p_b)`, arrays of shape (reviews, time), NaN at padded positions:

        p_f[i, t] = sigmoid(w_f . h^f_t + b + c_b),   p_b[i, t] = sigmoid(w_b . h^b_t + b + c_f),

    where `c_b` and `c_f` stand in for the other direction's term, which is absent:
    `stand_in = {"forward": c_f, "backward": c_b}` (e.g. `mean_terms(model, some_ids)`, the
    average of each term over reviews), or `None` for 0.
    """
    b = head_halves(model)[2]
    stand_in = stand_in or {"forward": 0.0, "backward": 0.0}
    z_f, z_b = running_terms(model, ids, batch_size)
    p_f = sigmoid(z_f + b + stand_in["backward"])
    p_b = sigmoid(z_b + b + stand_in["forward"])
    padding = np.asarray(ids) == 0
    p_f[padding], p_b[padding] = np.nan, np.nan
    return p_f, p_b


def running_terms(model: keras.Model, ids: np.ndarray, batch_size: int = 512):
    """Each direction's term in the head's logit at every step: `(w_f . h^f_t, w_b . h^b_t)`,
    arrays of shape (reviews, time). At the last word and at the first word they are the
    terms the head adds up (`final_contributions`)."""
    w_f, w_b, _ = head_halves(model)
    ids = np.asarray(ids, dtype="int32")
    steps = step_states_model(model)
    z_f, z_b = np.empty(ids.shape), np.empty(ids.shape)
    with quiet_retracing():
        for start in range(0, len(ids), batch_size):  # in batches: the states are large
            rows = slice(start, start + batch_size)
            h_f, h_b = steps.predict_on_batch(ids[rows])
            z_f[rows] = np.asarray(h_f, dtype="float64") @ w_f
            z_b[rows] = np.asarray(h_b, dtype="float64") @ w_b
    return z_f, z_b


def final_contributions(model: keras.Model, ids, batch_size: int = 512):
    """Each direction's term in the head's logit, `w_f . h^f_T` and `w_b . h^b_1`, per review."""
    w_f, w_b, _ = head_halves(model)
    with quiet_retracing():
        states = final_states(model).predict(ids, batch_size=batch_size, verbose=0)
    units = len(w_f)
    return states[:, :units] @ w_f, states[:, units:] @ w_b


def model_predictions(model: keras.Model, ids, batch_size: int = 512) -> np.ndarray:
    """The model's own predictions, rebuilt from its two terms: sigmoid(z_f + z_b + b)."""
    z_f, z_b = final_contributions(model, ids, batch_size)
    return sigmoid(z_f + z_b + head_halves(model)[2])


def mean_terms(model: keras.Model, ids, batch_size: int = 512) -> dict:
    """Each direction's term in the logit, averaged over the reviews `ids`.

    `{"forward": mean of w_f . h^f_T, "backward": mean of w_b . h^b_1}`: what a direction
    contributes on a typical review, a neutral stand-in when that direction is left out.
    """
    z_f, z_b = final_contributions(model, ids, batch_size)
    return {"forward": float(z_f.mean()), "backward": float(z_b.mean())}


def half_accuracies(model: keras.Model, x, y, stand_in: dict | None = None,
                    terms: tuple | None = None, batch_size: int = 512) -> dict:
    """Accuracy of the full head, and of each direction's half alone, on reviews `x`.

    A half alone is `sigmoid(w . h + b + c)`, the other direction's term replaced by `c`
    from `stand_in` (as in `direction_predictions`; None: 0). `terms`, if given, is
    `final_contributions(model, x)` computed before (it saves a pass over `x`).
    """
    stand_in = stand_in or {"forward": 0.0, "backward": 0.0}
    z_f, z_b = terms if terms is not None else final_contributions(model, x, batch_size)
    b = head_halves(model)[2]
    y = np.asarray(y)

    def accuracy(z):
        return float(((z > 0) == y).mean())

    return {
        "both (the model)": accuracy(z_f + z_b + b),
        "forward half alone": accuracy(z_f + b + stand_in["backward"]),
        "backward half alone": accuracy(z_b + b + stand_in["forward"]),
    }


class HalfAccuracyHistory(keras.callbacks.Callback):
    """After every training epoch, the accuracy on `(x, y)` of the whole head and of each
    direction's half alone (`half_accuracies`, with the mean stand-in computed on `x`).

    `rows` then holds one dict per epoch: it shows *when* a direction starts to carry the
    verdict, and whether the other one ever joins it.
    """

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y, self.rows = x, y, []

    def on_epoch_end(self, epoch, logs=None):
        terms = final_contributions(self.model, self.x)
        stand_in = {"forward": float(terms[0].mean()), "backward": float(terms[1].mean())}
        self.rows.append({"epoch": epoch + 1, **half_accuracies(self.model, self.x, self.y,
                                                                stand_in=stand_in, terms=terms)})


def reading_check(model: keras.Model, words: np.ndarray, positions: Sequence[int]):
    """Show, for a few steps t, what each direction's state there has read; and check it.

    `words` is one review's token ids without padding. For each 0-based t, the table gives
    the largest difference between
    - `h^f_t` and the forward RNN's last state on the words 0..t alone (expected 0);
    - `h^b_t` and the backward RNN's last state on the words t..T-1 alone (expected 0);
    - `h^f_t` before and after replacing every word after t by another word (expected 0:
      the forward state has not read them), and the same for `h^b_t` (expected > 0).
    """
    steps = step_states_model(model)
    words = np.asarray(words, dtype="int32")[None]
    h_f, h_b = (keras.ops.convert_to_numpy(h) for h in steps(words))
    rows = []
    for t in positions:
        prefix_f = keras.ops.convert_to_numpy(steps(words[:, : t + 1])[0])[0, -1]
        suffix_b = keras.ops.convert_to_numpy(steps(words[:, t:])[1])[0, 0]
        changed = words.copy()
        changed[0, t + 1:] = np.where(changed[0, t + 1:] == 2, 3, 2)  # other common words
        c_f, c_b = (keras.ops.convert_to_numpy(h) for h in steps(changed))
        rows.append({
            "t": t + 1,
            "forward has read": f"words 1..{t + 1}",
            "backward has read": f"words {t + 1}..{words.shape[1]}",
            "|h^f_t - forward on 1..t alone|": float(np.abs(h_f[0, t] - prefix_f).max()),
            "|h^b_t - backward on t..T alone|": float(np.abs(h_b[0, t] - suffix_b).max()),
            "h^f_t moves if later words change": float(np.abs(h_f[0, t] - c_f[0, t]).max()),
            "h^b_t moves if later words change": float(np.abs(h_b[0, t] - c_b[0, t]).max()),
        })
    return pd.DataFrame(rows).set_index("t")


# ---------------------------------------------------------------------------------------
# 2. Summaries over many reviews, and finding a review whose sentiment turns late
# ---------------------------------------------------------------------------------------


def accuracy_by_fraction_read(p_f, p_b, ids, labels, fractions=None) -> pd.DataFrame:
    """Accuracy of each direction alone after it has read a fraction of each review.

    For a fraction f and a review of n words, the forward direction has read its first
    ceil(f n) words (its prediction at that step) and the backward direction its last
    ceil(f n) words. Returns a long table: direction, fraction read, accuracy, reviews.
    """
    fractions = np.linspace(0.1, 1.0, 10) if fractions is None else np.asarray(fractions)
    ids, labels = np.asarray(ids), np.asarray(labels)
    first, last = word_positions(ids)
    n = last - first + 1
    rows = np.arange(len(ids))
    out = []
    for f in fractions:
        k = np.clip(np.ceil(f * n).astype(int), 1, n)
        for direction, p in (("forward", p_f[rows, first + k - 1]),
                             ("backward", p_b[rows, last - k + 1])):
            out.append({"direction": direction, "fraction read": float(f),
                        "accuracy": float(((p > 0.5) == labels).mean()), "reviews": len(ids)})
    return pd.DataFrame(out)


def _turn_point(p: np.ndarray) -> int:
    """Index after which `p` stays below 0.5 for good (len(p) if it ends above 0.5)."""
    above = np.flatnonzero(p >= 0.5)
    return 0 if len(above) == 0 else int(above[-1]) + 1


def late_turn_pool(ids, labels, min_words: int = 20, max_words: int = 120,
                   least: int = 20) -> np.ndarray:
    """Indices of the negative reviews worth searching for a late turn.

    Those read whole (they end in padding or start with it, so nothing was cut) with
    `min_words`..`max_words` words; if fewer than `least` qualify (tiny data, short
    `maxlen`), every negative review.
    """
    ids, labels = np.asarray(ids), np.asarray(labels)
    first, last = word_positions(ids)
    n = last - first + 1
    negative = labels == 0
    pool = np.flatnonzero(negative & (ids == 0).any(axis=1) & (n >= min_words) & (n <= max_words))
    return pool if len(pool) >= least else np.flatnonzero(negative)


def late_turn_candidates(ids, labels, p_f, p_model, decode: Callable, phrases=LATE_TURN_PHRASES,
                         min_words: int = 20, max_words: int = 120,
                         opening_share: float = 0.75) -> pd.DataFrame:
    """Negative reviews ranked by how long the forward view stays positive, then turns.

    For every negative review (label 0): `positive share` is the share of the steps in the
    first two thirds of its words where the forward direction's prediction is above 0.5,
    `forward at 2/3` that prediction after two thirds of the words, `forward at end` after
    all of them, `late drop` their difference, `turns at` the fraction of the review after
    which the forward prediction stays below 0.5, `phrase` the first of `phrases` found in
    the text. Four criteria make a good example (`criteria met` counts them): the whole
    review fits (it has padding, so nothing was cut), it has `min_words`..`max_words` words
    (readable in a figure), its opening reads positive (`positive share` >= `opening_share`
    and `forward at 2/3` > 0.5) and the model gets it right (`model` < 0.5). Rows are sorted
    by `criteria met`, then by `has phrase` (a review with one of the phrases first), then by
    `late drop`.
    """
    ids, labels = np.asarray(ids), np.asarray(labels)
    first, last = word_positions(ids)
    rows = []
    for i in np.flatnonzero(labels == 0):
        n = int(last[i] - first[i] + 1)
        p = p_f[i, first[i]: last[i] + 1]
        two_thirds = max(1, int(np.ceil(2 * n / 3)))
        text = decode(ids[i])
        found = [phrase for phrase in phrases if phrase in text]
        rows.append({
            "review": int(i), "words": n,
            "phrase": found[0] if found else "",
            "positive share": float((p[:two_thirds] > 0.5).mean()),
            "forward at 2/3": float(p[two_thirds - 1]),
            "forward at end": float(p[-1]),
            "model": float(p_model[i]),
            "turns at": _turn_point(p) / n,
        })
    frame = pd.DataFrame(rows)
    frame["late drop"] = frame["forward at 2/3"] - frame["forward at end"]
    criteria = pd.DataFrame({
        "fully read": (ids[frame.review] == 0).any(axis=1),
        "short": frame.words.between(min_words, max_words).to_numpy(),
        "positive opening": ((frame["positive share"] >= opening_share)
                             & (frame["forward at 2/3"] > 0.5)).to_numpy(),
        "model right": (frame.model < 0.5).to_numpy(),
    }, index=frame.index)
    frame = pd.concat([frame, criteria], axis=1)
    frame["criteria met"] = criteria.sum(axis=1)
    frame["has phrase"] = frame.phrase != ""
    return frame.sort_values(["criteria met", "has phrase", "late drop"], ascending=False,
                             ignore_index=True)


# ---------------------------------------------------------------------------------------
# 3. One review, picked or typed: what the explorer of notebook 05 shows
# ---------------------------------------------------------------------------------------

UNKNOWN = 1  #: the index of `[UNK]`, for every word outside the vocabulary (0 is padding)


def encode_text(text: str, vocabulary: Sequence[str], maxlen: int | None = None) -> np.ndarray:
    """The token ids of `text`, encoded as `utils.data` encodes the reviews.

    The same standardization (`utils.data.standardize`: lower case, `<br />` tags and
    punctuation replaced by spaces), split on whitespace, each word replaced by its index in
    `vocabulary` (the model's own, `ImdbData.vocabulary`), `UNKNOWN` (1) for a word not in it;
    `[UNK]` in the text (as `decode` writes it) is 1 too. With `maxlen`, only the first
    `maxlen` words are kept, as `load_imdb` truncates (`truncating="post"`). No padding.
    """
    index = {word: i for i, word in enumerate(vocabulary) if word}
    ids = []
    for k, piece in enumerate(re.split(r"\[UNK\]", text)):
        if k:
            ids.append(UNKNOWN)
        words = standardize(tf.constant(piece)).numpy().decode().split()
        ids += [index.get(word, UNKNOWN) for word in words]
    return np.array(ids[:maxlen], dtype="int32")


@dataclass
class ReviewReading:
    """One review read by the model: its words, each direction's running prediction (with the
    stand-in of `direction_predictions`) and the model's own prediction."""

    words: list[str]
    ids: np.ndarray
    p_f: np.ndarray  # p_f[t]: the forward half alone, having read words 1..t+1
    p_b: np.ndarray  # p_b[t]: the backward half alone, having read words t+1..T
    p_model: float  # sigmoid(w_f . h^f_T + w_b . h^b_1 + b): the merged verdict

    @property
    def verdict(self) -> str:
        """One line: the model's verdict, each half's at its full read, the unknown words."""
        unknown = int((self.ids == UNKNOWN).sum())
        return (f"the model (both directions, merged): "
                f"{'positive' if self.p_model > 0.5 else 'negative'}, p = {self.p_model:.2f} | "
                f"forward alone after the last word: {self.p_f[-1]:.2f} | backward alone at the "
                f"first word: {self.p_b[0]:.2f} | {len(self.ids)} words, {unknown} not in the "
                f"vocabulary ([UNK])")


EMPTY_REVIEW = "No words to read: type a review (letters or digits), or pick one from the list."


def read_review(model: keras.Model, text: str, vocabulary: Sequence[str],
                stand_in: dict | None = None, maxlen: int | None = None) -> ReviewReading:
    """Encode `text` with the model's `vocabulary` (`encode_text`) and read it: each
    direction's prediction so far at every word, and the model's prediction, rebuilt from
    the two terms at the ends (the same number as `model.predict` on the padded review).
    Raises ValueError (`EMPTY_REVIEW`) if the text holds no word."""
    ids = encode_text(text, vocabulary, maxlen)
    if len(ids) == 0:
        raise ValueError(EMPTY_REVIEW)
    b = head_halves(model)[2]
    stand_in = stand_in or {"forward": 0.0, "backward": 0.0}
    z_f, z_b = (z[0] for z in running_terms(model, ids[None]))
    return ReviewReading(
        words=[vocabulary[i] for i in ids], ids=ids,
        p_f=sigmoid(z_f + b + stand_in["backward"]), p_b=sigmoid(z_b + b + stand_in["forward"]),
        p_model=float(sigmoid(z_f[-1] + z_b[0] + b)),
    )


# ---------------------------------------------------------------------------------------
# 4. Two separately trained directions (notebook 07): logits, states, error signals, probes
# ---------------------------------------------------------------------------------------


def logits(model: keras.Sequential, x, batch_size: int = 512) -> np.ndarray:
    """The head's input times its weights plus its bias, before the sigmoid: one per review."""
    with quiet_retracing():
        states = final_states(model).predict(x, batch_size=batch_size, verbose=0)
    w, b = model.get_layer("head").get_weights()
    return (states @ w + b)[:, 0]


def joint_states(forward, backward, x, batch_size: int = 512) -> np.ndarray:
    """`[h_f; h_b]` for every review of `x`: the two models' final states side by side."""
    with quiet_retracing():
        return np.concatenate([final_states(model).predict(x, batch_size=batch_size, verbose=0)
                               for model in (forward, backward)], axis=1)


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


def sub_model(model: keras.Model, layer: str, trainable: bool = True) -> keras.Model:
    """The part of the functional `model` from its input to the *input* of its layer named
    `layer` (e.g. `"logit"`'s input is the hidden layer; use it to read states or logits).
    Shares `model`'s layers; `trainable=False` freezes them (in `model` too; the default
    leaves them as they are)."""
    part = keras.Model(model.inputs, model.get_layer(layer).input, name=f"{model.name}_{layer}")
    if not trainable:
        part.trainable = False
    return part


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
    z_f, z_b = (logits(model, x, batch_size).astype("float64") for model in (forward, backward))
    return pd.DataFrame({
        "label": y.astype(int), "z_forward": z_f, "z_backward": z_b,
        "own loss, forward": sigmoid(z_f) - y,
        "own loss, backward": sigmoid(z_b) - y,
        "one loss, both": sigmoid(z_f + z_b) - y,
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
