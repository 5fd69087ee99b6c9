"""A bidirectional SimpleRNN classifier in plain NumPy, with backpropagation through time by hand.

This module is meant to be read next to the equations. Everything is float64 and every loop
over time is written out. For a batch of already-embedded inputs ``x`` of shape (N, T, D):

    forward direction   h^f_t = tanh(x_t W^f + h^f_{t-1} U^f + b^f),  t = 1..T,  h^f_0     = 0
    backward direction  h^b_t = tanh(x_t W^b + h^b_{t+1} U^b + b^b),  t = T..1,  h^b_{T+1} = 0

    merge               m = [h^f_T, h^b_1]          ("concat", M = 2H)
                        m = h^f_T + h^b_1           ("sum",    M = H)
                        m = (h^f_T + h^b_1) / 2     ("ave",    M = H)

    head                p = sigmoid(m w_y + b_y)
    loss                L = -(1/N) sum_n [ y_n log p_n + (1 - y_n) log(1 - p_n) ]

Each direction keeps only its *last* state: the forward direction's last state is h^f_T (it
has read x_1..x_T), the backward direction's last state is h^b_1 (it has read x_T..x_1). This is
exactly what ``keras.layers.Bidirectional(keras.layers.SimpleRNN(H))`` returns when
``return_sequences=False``.

Arrays are indexed from 0 in the code: ``h_f[:, t]`` is h^f_{t+1} in the equations, and
``h_b[:, t]`` is the backward state *at input position t* (h^b_{t+1}), so ``h_b[:, 0]`` is h^b_1.

Keras conventions (checked against Keras 3): ``SimpleRNN`` weights are ``kernel`` (D, H),
``recurrent_kernel`` (H, H), ``bias`` (H,) and compute ``tanh(x_t kernel + h_{t-1}
recurrent_kernel + bias)``; ``Bidirectional.get_weights()`` lists the forward layer's three
weights, then the backward layer's three; ``Dense(1)`` has ``kernel`` (M, 1) and ``bias`` (1,).
So the Keras order of the 8 arrays is ``W_f, U_f, b_f, W_b, U_b, b_b, w_y, b_y`` (`KERAS_ORDER`).

Public functions:

- `init_params`, `params_from_keras`, `params_to_keras_weights`, `build_keras_model`
- `forward`, `loss`, `backward`
- `numerical_gradient`, `relative_error`, `tf_gradients`
"""

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

# absolute, not `from .maths`: a copy of this file next to a notebook (notebook 02, exercises 1
# and 4) imports as it is
from utils.maths import sigmoid

#: The parameter names, in the order Keras stores the weights.
KERAS_ORDER = ("W_f", "U_f", "b_f", "W_b", "U_b", "b_b", "w_y", "b_y")

#: The merges this reference implements: `utils.layers.MERGE_MODES` but "mul", which exercise
#: 02-E1 adds (its product rule is the exercise).
BPTT_MERGES = ("concat", "sum", "ave")


def _check_merge(merge: str) -> None:
    if merge not in BPTT_MERGES:
        raise ValueError(f"merge must be one of {BPTT_MERGES}, got {merge!r}")


def _merged_size(H: int, merge: str) -> int:
    """M, the size of the merged vector m: 2H for "concat", H for "sum" and "ave"."""
    _check_merge(merge)
    return 2 * H if merge == "concat" else H


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


def init_params(D: int, H: int, merge: str = "concat", seed: int = 0, scale: float = 0.5) -> dict:
    """Small random float64 parameters for inputs of size D and H units per direction.

    Returns a dict with the shapes Keras uses::

        W_f (D, H)  U_f (H, H)  b_f (H,)     forward direction
        W_b (D, H)  U_b (H, H)  b_b (H,)     backward direction
        w_y (M, 1)  b_y (1,)                 head, M = 2H for "concat", H for "sum"/"ave"

    Every entry, biases included, is drawn from N(0, scale^2) so that no gradient is trivially
    zero (Keras would start the biases at zero).
    """
    M = _merged_size(H, merge)
    rng = np.random.default_rng(seed)
    shapes = {
        "W_f": (D, H), "U_f": (H, H), "b_f": (H,),
        "W_b": (D, H), "U_b": (H, H), "b_b": (H,),
        "w_y": (M, 1), "b_y": (1,),
    }  # fmt: skip
    return {name: scale * rng.standard_normal(shape) for name, shape in shapes.items()}


def _check_shapes(params: dict, merge: str | None = None) -> None:
    """Raise ValueError if the arrays do not have the shapes of one bidirectional classifier."""
    D, H = params["W_f"].shape
    expected = {
        "W_f": (D, H), "U_f": (H, H), "b_f": (H,),
        "W_b": (D, H), "U_b": (H, H), "b_b": (H,),
        "b_y": (1,),
    }  # fmt: skip
    for name, shape in expected.items():
        if params[name].shape != shape:
            raise ValueError(f"{name} has shape {params[name].shape}, expected {shape}")
    M = params["w_y"].shape[0]
    allowed = [_merged_size(H, merge)] if merge is not None else [H, 2 * H]
    if params["w_y"].shape != (M, 1) or M not in allowed:
        raise ValueError(
            f"w_y has shape {params['w_y'].shape}, expected (M, 1) with M in {allowed} "
            f"(merge={merge!r}, H={H})"
        )


def params_from_keras(model_or_weights, merge: str | None = None) -> dict:
    """The parameter dict (float64 copies) of a Keras bidirectional classifier.

    ``model_or_weights`` is either

    - a Keras model made of Input -> a bidirectional layer wrapping a SimpleRNN -> Dense(1): the
      bidirectional layer is found as the one layer whose ``get_weights()`` gives 6 arrays
      (forward kernel, recurrent kernel, bias, then the same for the backward direction), so
      ``keras.layers.Bidirectional`` and the project's own ``utils.layers.HandmadeBidirectional``
      both work; the head is the one ``keras.layers.Dense`` layer; or
    - a list of the 8 arrays in Keras order ``W_f, U_f, b_f, W_b, U_b, b_b, w_y, b_y``
      (what ``model.get_weights()`` returns for such a model).

    ``merge``, if given, is used to check the head's shape (w_y is (2H, 1) for "concat" and
    (H, 1) for "sum" and "ave"); the parameters themselves do not depend on it.
    """
    if isinstance(model_or_weights, list | tuple):
        weights = list(model_or_weights)
    else:
        layers = model_or_weights.layers
        birnn = [layer for layer in layers if len(layer.get_weights()) == 6]
        heads = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
        if len(birnn) != 1 or len(heads) != 1:
            raise ValueError(
                "expected exactly one layer with 6 weights (the bidirectional SimpleRNN) and "
                f"one Dense layer, found {len(birnn)} and {len(heads)}"
            )
        weights = birnn[0].get_weights() + heads[0].get_weights()
    if len(weights) != len(KERAS_ORDER):
        raise ValueError(f"expected {len(KERAS_ORDER)} weight arrays, got {len(weights)}")
    params = {
        name: np.array(w, dtype=np.float64) for name, w in zip(KERAS_ORDER, weights, strict=True)
    }
    _check_shapes(params, merge)
    return params


def params_to_keras_weights(params: dict) -> list:
    """The 8 arrays in Keras order, ready for ``model.set_weights(...)``."""
    return [np.array(params[name]) for name in KERAS_ORDER]


# --------------------------------------------------------------------------------------------
# Forward pass and loss
# --------------------------------------------------------------------------------------------


def forward(params: dict, x: np.ndarray, merge: str = "concat") -> tuple[np.ndarray, dict]:
    """Run both directions over x (N, T, D), merge their last states, apply the head.

    Returns ``(p, cache)``: p (N,) are the predicted probabilities and cache holds

    - ``h_f`` (N, T, H): ``h_f[:, t]`` = h^f_{t+1} = tanh(x_{t+1} W^f + h^f_t U^f + b^f)
    - ``h_b`` (N, T, H): ``h_b[:, t]`` = h^b_{t+1} = tanh(x_{t+1} W^b + h^b_{t+2} U^b + b^b)
    - ``m`` (N, M), M = 2H for concat and H otherwise: the merged summary of h^f_T =
      ``h_f[:, -1]`` and h^b_1 = ``h_b[:, 0]``
    - ``p`` (N,): sigmoid(m w_y + b_y)
    """
    _check_merge(merge)
    x = np.asarray(x, dtype=np.float64)
    N, T, _ = x.shape
    H = params["U_f"].shape[0]

    # Forward direction reads x_1, x_2, ..., x_T.
    h_f = np.zeros((N, T, H))
    h_prev = np.zeros((N, H))  # h^f_0 = 0
    for t in range(T):
        h_prev = np.tanh(x[:, t] @ params["W_f"] + h_prev @ params["U_f"] + params["b_f"])
        h_f[:, t] = h_prev

    # Backward direction reads x_T, x_{T-1}, ..., x_1.
    h_b = np.zeros((N, T, H))
    h_next = np.zeros((N, H))  # h^b_{T+1} = 0
    for t in reversed(range(T)):
        h_next = np.tanh(x[:, t] @ params["W_b"] + h_next @ params["U_b"] + params["b_b"])
        h_b[:, t] = h_next

    # Each direction's summary is its last state: h^f_T and h^b_1.
    last_f, last_b = h_f[:, -1], h_b[:, 0]
    if merge == "concat":
        m = np.concatenate([last_f, last_b], axis=1)
    elif merge == "sum":
        m = last_f + last_b
    else:  # "ave"
        m = (last_f + last_b) / 2

    p = sigmoid(m @ params["w_y"] + params["b_y"])[:, 0]
    return p, {"h_f": h_f, "h_b": h_b, "m": m, "p": p}


def loss(p: np.ndarray, y: np.ndarray) -> float:
    """Mean binary cross-entropy L = -(1/N) sum_n [y_n log p_n + (1 - y_n) log(1 - p_n)].

    No clipping: the reference needs the exact function to check gradients (Keras clips
    probabilities to [1e-7, 1 - 1e-7] only when it cannot recover the logit, see `tf_gradients`).
    """
    p = np.asarray(p, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


# --------------------------------------------------------------------------------------------
# Backward pass: backpropagation through time, by hand
# --------------------------------------------------------------------------------------------


def backward(
    params: dict, cache: dict, x: np.ndarray, y: np.ndarray, merge: str = "concat"
) -> tuple[dict, dict]:
    """Gradients of the one loss L for every parameter, by backpropagation through time.

    Returns ``(grads, dh)``:

    - ``grads``: dict with the keys of params, ``grads[k]`` = dL/d params[k] (same shape);
    - ``dh``: ``{"dh_f": (N, T, H), "dh_b": (N, T, H)}``, the total gradient dL/dh reaching
      each state of each direction (``dh["dh_f"][:, t]`` = dL/dh^f_{t+1}, ``dh["dh_b"][:, t]``
      = dL/dh^b_{t+1}), e.g. to plot how the gradient fades with distance from the head.

    The chain rule, from the loss down:

        dL/dz    = (p - y) / N                      z = m w_y + b_y  (sigmoid + cross-entropy)
        dL/dw_y  = m^T dL/dz,  dL/db_y = sum_n dL/dz,  dL/dm = dL/dz w_y^T
        dL/dh^f_T (direct) = dL/dm[:, :H] ("concat"), dL/dm ("sum"), dL/dm / 2 ("ave")
        dL/dh^b_1 (direct) = dL/dm[:, H:] ("concat"), dL/dm ("sum"), dL/dm / 2 ("ave")

    and then, in each direction, with a_t the pre-activation (h_t = tanh(a_t)):

        dL/da_t = dL/dh_t * (1 - h_t^2)
        dL/dW  += x_t^T dL/da_t,   dL/dU += h_prev^T dL/da_t,   dL/db += sum_n dL/da_t
        dL/dh_prev = dL/da_t U^T   (h_prev = h^f_{t-1} forward, h^b_{t+1} backward)

    Each direction's error flows opposite to its reading order: the forward direction's from
    t = T down to t = 1, the backward direction's from t = 1 up to t = T.
    """
    _check_merge(merge)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    N, T, _ = x.shape
    H = params["U_f"].shape[0]
    h_f, h_b, m, p = cache["h_f"], cache["h_b"], cache["m"], cache["p"]

    # Head: for sigmoid followed by binary cross-entropy, dL/dz = (p - y) / N.
    dz = ((p - y) / N)[:, None]  # (N, 1)
    grads = {"w_y": m.T @ dz, "b_y": dz.sum(axis=0)}
    dm = dz @ params["w_y"].T  # (N, M): M = 2H for concat, H for sum and ave

    # Merge: how much of dL/dm reaches each direction's last state.
    if merge == "concat":
        dlast_f, dlast_b = dm[:, :H], dm[:, H:]
    elif merge == "sum":
        dlast_f, dlast_b = dm, dm
    else:  # "ave"
        dlast_f, dlast_b = dm / 2, dm / 2

    # Forward direction: it read t = 1..T, so its error flows from t = T down to t = 1.
    # Only h^f_T gets the loss directly; every earlier h^f_t only through h^f_{t+1} (via U^f).
    dW, dU, db = np.zeros_like(params["W_f"]), np.zeros_like(params["U_f"]), np.zeros(H)
    dh_f = np.zeros((N, T, H))
    dh = dlast_f  # dL/dh^f_T
    for t in reversed(range(T)):
        dh_f[:, t] = dh
        da = dh * (1 - h_f[:, t] ** 2)  # through tanh
        h_prev = h_f[:, t - 1] if t > 0 else np.zeros((N, H))  # h^f_{t-1}, h^f_0 = 0
        dW += x[:, t].T @ da
        dU += h_prev.T @ da
        db += da.sum(axis=0)
        dh = da @ params["U_f"].T  # dL/dh^f_{t-1}, passed one step back in time
    grads.update(W_f=dW, U_f=dU, b_f=db)

    # Backward direction: it read t = T..1, so its error flows from t = 1 up to t = T.
    # Only h^b_1 gets the loss directly; every later h^b_t only through h^b_{t-1} (via U^b).
    dW, dU, db = np.zeros_like(params["W_b"]), np.zeros_like(params["U_b"]), np.zeros(H)
    dh_b = np.zeros((N, T, H))
    dh = dlast_b  # dL/dh^b_1
    for t in range(T):
        dh_b[:, t] = dh
        da = dh * (1 - h_b[:, t] ** 2)  # through tanh
        h_prev = h_b[:, t + 1] if t < T - 1 else np.zeros((N, H))  # h^b_{t+1}, h^b_{T+1} = 0
        dW += x[:, t].T @ da
        dU += h_prev.T @ da
        db += da.sum(axis=0)
        dh = da @ params["U_b"].T  # dL/dh^b_{t+1}, passed one step further in the sequence
    grads.update(W_b=dW, U_b=dU, b_b=db)

    grads = {name: grads[name] for name in KERAS_ORDER}
    return grads, {"dh_f": dh_f, "dh_b": dh_b}


# --------------------------------------------------------------------------------------------
# Checks: finite differences and TensorFlow
# --------------------------------------------------------------------------------------------


def numerical_gradient(
    params: dict, x: np.ndarray, y: np.ndarray, merge: str = "concat", eps: float = 1e-6
) -> dict:
    """dL/dθ for every entry θ of every parameter, by central finite differences:

        dL/dθ ≈ (L(θ + eps) - L(θ - eps)) / (2 eps)

    The error is O(eps^2) from truncation plus about 1e-16 * L / eps from rounding, so
    eps = 1e-6 gives about 10 correct digits in float64. Two forward passes per entry: only
    for tiny sizes.
    """
    grads = {}
    for name in KERAS_ORDER:
        shifted = {k: v.astype(np.float64, copy=True) for k, v in params.items()}
        theta = shifted[name]  # modified in place below
        g = np.zeros_like(theta)
        for idx in np.ndindex(theta.shape):
            original = theta[idx]
            theta[idx] = original + eps
            loss_plus = loss(forward(shifted, x, merge)[0], y)
            theta[idx] = original - eps
            loss_minus = loss(forward(shifted, x, merge)[0], y)
            theta[idx] = original
            g[idx] = (loss_plus - loss_minus) / (2 * eps)
        grads[name] = g
    return grads


def build_keras_model(params: dict, merge: str = "concat") -> keras.Model:
    """The Keras model computing the same function as `forward`, weights loaded from params.

    Input(shape=(None, D)) -> Bidirectional(SimpleRNN(H), merge_mode=merge) -> Dense(1,
    "sigmoid"), every layer in float64 (``dtype="float64"``), so it accepts any length T.
    """
    _check_shapes(params, merge)
    D, H = params["W_f"].shape
    inputs = keras.Input(shape=(None, D), dtype="float64")
    h = keras.layers.Bidirectional(
        keras.layers.SimpleRNN(H, dtype="float64"), merge_mode=merge, dtype="float64"
    )(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float64")(h)
    model = keras.Model(inputs, outputs)
    model.set_weights(params_to_keras_weights(params))
    return model


def tf_gradients(
    params: dict, x: np.ndarray, y: np.ndarray, merge: str = "concat"
) -> tuple[float, dict]:
    """The loss and its gradients computed by TensorFlow's automatic differentiation.

    Builds the Keras model with `build_keras_model` (all layers in float64), computes
    ``keras.losses.BinaryCrossentropy(dtype="float64")`` on its output inside a
    ``tf.GradientTape`` and returns ``(loss, grads)`` with grads keyed like params.

    About clipping: given probabilities, Keras's binary cross-entropy clips them to
    [1e-7, 1 - 1e-7] (``keras.config.epsilon()``), which would change the loss and zero the
    gradient of saturated examples. With the TensorFlow backend, though, the output of a
    sigmoid activation remembers its logit (``_keras_logits``) and the loss is computed from
    the logit with ``tf.nn.sigmoid_cross_entropy_with_logits``, without clipping. Either way,
    for predictions inside [1e-7, 1 - 1e-7] (all predictions of small random weights) the
    result is the exact cross-entropy that `loss` computes.
    """
    model = build_keras_model(params, merge)
    x = tf.constant(np.asarray(x, dtype=np.float64))
    y = tf.constant(np.asarray(y, dtype=np.float64).reshape(-1, 1))
    bce = keras.losses.BinaryCrossentropy(dtype="float64")
    with tf.GradientTape() as tape:
        value = bce(y, model(x))
    # model.trainable_weights follows the order of model.get_weights(): KERAS_ORDER.
    grads = tape.gradient(value, model.trainable_weights)
    return float(value), {name: g.numpy() for name, g in zip(KERAS_ORDER, grads, strict=True)}


def gradient_norm_frame(dh_f, dh_b) -> pd.DataFrame:
    """A long table of ||dL/dh_t||, one row per example, time step and direction.

    ``dh_f`` and ``dh_b`` are (N, T, H) arrays, as in the ``dh`` returned by
    `utils.reference.backward`; the columns are ``example``, ``t`` (1..T), ``direction``
    ("forward" or "backward") and ``norm`` (the Euclidean norm over the H units).
    """
    frames = []
    for direction, dh in (("forward", dh_f), ("backward", dh_b)):
        N, T, _ = dh.shape
        frames.append(pd.DataFrame({
            "example": np.repeat(np.arange(N), T),
            "t": np.tile(np.arange(1, T + 1), N),
            "direction": direction,
            "norm": np.linalg.norm(dh, axis=2).ravel(),
        }))
    return pd.concat(frames, ignore_index=True)
