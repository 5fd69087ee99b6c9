"""Put `HandmadeBidirectional` next to `keras.layers.Bidirectional`: numbers, training, time.

Notebook 03 uses these helpers to check that the hand-made layer *is* Keras's layer, piece
by piece:

    from utils.benchmark import compare_layers, train_side_by_side, seconds_per_epoch_ratio

- `weights_side_by_side(hand, keras_bi)`: the two layers' weight lists, row by row.
- `compare_layers(hand, keras_bi, inputs, mask)`: how far apart their outputs and
  gradients are, for one input.
- `train_side_by_side(build_model, data, epochs, ...)`: two models, one per layer, trained
  from the same initial weights on the same batches, epoch by epoch in turn, with the
  metrics and the seconds of every epoch.
- `seconds_per_epoch_ratio(history)`: the typical seconds per epoch of each, and how many
  times slower (or faster) the hand-made layer is.
- `on_cores(cores)`: a block run on some of the machine's cores only (as `taskset -c`).
- `batches(x, y, batch_size, seed)`: the data as a `tf.data` pipeline with autotuning off,
  which `train_side_by_side` trains on (why: its docstring).
- `graph_op_counts(function, *specs)` and `training_step_op_counts(model)`: how many times
  each TensorFlow operation appears in a traced graph (notebook 03: both layers build the same).
- `matmul_rate()`: the FLOPs per second of one large matrix product, the reference against
  which notebook 08 sets the layers.

Timing on a shared machine is noisy: another program may take a CPU core for a while. The
training therefore alternates between the two models every epoch (a slow phase hits both),
swaps which of the two goes first every epoch (neither is always first), leaves the first
epoch out of the timing (it also traces and compiles the graph), and uses medians (one
unusually slow epoch does not move them).
"""

import collections
import contextlib
import gc
import os
import time
from collections.abc import Callable

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from .layers import HandmadeBidirectional
from .notebook import build_training_state, quiet_retracing, set_seed


@contextlib.contextmanager
def on_cores(cores):
    """Run the block on these CPU cores only, as `taskset -a -c` would: every thread of this
    process (TensorFlow's included) and those it starts; the fused layers built inside choose
    their loops for them. The affinity is put back afterwards. Yields False, and changes
    nothing, where the system has no affinity call (macOS, Windows) or lacks these cores."""
    threads = "/proc/self/task"
    if (not hasattr(os, "sched_setaffinity") or not os.path.isdir(threads)
            or not set(cores) <= os.sched_getaffinity(0)):
        yield False
        return
    before = os.sched_getaffinity(0)

    def pin(allowed):
        for tid in os.listdir(threads):
            with contextlib.suppress(ProcessLookupError):  # a thread that has ended
                os.sched_setaffinity(int(tid), allowed)

    pin(set(cores))
    try:
        yield True
    finally:
        pin(before)


class StepTimer(keras.callbacks.Callback):
    """Wall-clock seconds inside the training steps of one `fit` call (batch begin to batch
    end, summed): the layer's own work, without the time between steps (fetching the next
    batch, callbacks), which on a busy or virtual machine can vary from one epoch to the
    next whatever the model. Also keeps the running loss `fit` reports after each batch
    (`losses`), to see where two models that should train alike part."""

    def on_train_begin(self, logs=None):
        self.seconds, self.losses = 0.0, []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds += time.perf_counter() - self._start
        self.losses.append(float((logs or {}).get("loss", np.nan)))


def batches(x, y, batch_size, seed=None):
    """`(x, y)` as a `tf.data.Dataset` of batches, in an order fixed by `seed` (None: as given).

    Why not `fit(x, y)` on the arrays: Keras then builds a `tf.data` pipeline with autotuning
    on, and when `fit` returns, deleting that pipeline waits for its autotuning thread to
    finish, which can take a second or more after the last batch (on this project's 2-core
    machine, with the CPU busy all along). With autotuning off, an epoch's time is the time
    of its batches (notebook 08 measures both).
    """
    order = np.arange(len(x)) if seed is None else np.random.default_rng(seed).permutation(len(x))
    options = tf.data.Options()
    options.autotune.enabled = False
    dataset = tf.data.Dataset.from_tensor_slices((np.asarray(x)[order], np.asarray(y)[order]))
    return dataset.batch(batch_size).with_options(options)


#: The two layers compared, under the names used in every table: hand-made first.
WRAPPERS = {"handmade": HandmadeBidirectional, "keras": keras.layers.Bidirectional}


def _relative_path(weight, layer):
    """A weight's path inside its layer: 'forward_rnn/simple_rnn_cell/kernel'."""
    prefix = f"{layer.name}/"
    return weight.path.removeprefix(prefix) if weight.path.startswith(prefix) else weight.path


def weights_side_by_side(hand_layer, keras_layer) -> pd.DataFrame:
    """The weights of the two layers, one row per position in `get_weights()` order.

    Columns: the weight's path inside each layer (without the layer's own name), its
    shape in each, and the largest absolute difference between the two values (0 once
    `hand_layer.set_weights(keras_layer.get_weights())` has copied them).
    """
    if len(hand_layer.weights) != len(keras_layer.weights):
        raise ValueError(
            f"The layers hold different numbers of weights: {len(hand_layer.weights)} "
            f"(hand-made) and {len(keras_layer.weights)} (Keras)."
        )
    rows = []
    for hand_w, keras_w in zip(hand_layer.weights, keras_layer.weights, strict=True):
        hand_value = np.asarray(hand_w.numpy())
        keras_value = np.asarray(keras_w.numpy())
        same_shape = hand_value.shape == keras_value.shape
        rows.append({
            "handmade weight": _relative_path(hand_w, hand_layer),
            "handmade shape": tuple(hand_value.shape),
            "keras weight": _relative_path(keras_w, keras_layer),
            "keras shape": tuple(keras_value.shape),
            "max abs difference": (
                float(np.abs(hand_value - keras_value).max()) if same_shape else np.nan
            ),
        })
    return pd.DataFrame(rows)


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _outputs_and_gradients(layer, inputs, mask, loss_weights):
    """The layer's outputs, and the gradients of one scalar loss of them.

    The loss is sum(output * loss_weight) over every output: with fixed random
    `loss_weights`, every single output value changes it, so every gradient is tested.
    """
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = _as_list(layer(inputs, mask=mask))
        if loss_weights is None:  # first call: the loss weights are made to fit the outputs
            rng = np.random.default_rng(0)
            loss_weights = [rng.normal(size=o.shape).astype("float32") for o in outputs]
        loss = sum(tf.reduce_sum(o * w) for o, w in zip(outputs, loss_weights, strict=True))
    gradients = tape.gradient(loss, [*layer.trainable_weights, inputs])
    return outputs, gradients, loss_weights


def compare_layers(hand_layer, keras_layer, inputs, mask=None) -> pd.DataFrame:
    """How far apart the two layers' outputs and gradients are, for the same inputs.

    Args:
        hand_layer, keras_layer: built layers holding the same weights (copy them with
            `hand_layer.set_weights(keras_layer.get_weights())` first).
        inputs: a float array or tensor of shape (batch, time, features). It is copied into
            a fresh tensor, so a mask it may carry from an `Embedding(mask_zero=True)` is
            dropped: only `mask` counts.
        mask: optional boolean (batch, time) array, True at the real (unpadded) steps,
            passed to both layers.

    Returns:
        One row per compared quantity: each output (`output`, or `output 1` and
        `output 2` for `merge_mode=None`), then the gradient of a scalar loss of the
        outputs with respect to each weight (named by its path inside the layer) and to
        the inputs. Columns: `kind` ("output" or "gradient"), `name`, `shape`,
        `max abs difference` between the two layers, and `max abs value` (the Keras
        layer's), which shows the compared numbers are not all zero.
    """
    inputs = tf.constant(np.asarray(inputs, dtype="float32"))
    mask = None if mask is None else tf.constant(np.asarray(mask, dtype=bool))
    keras_outputs, keras_grads, loss_weights = _outputs_and_gradients(
        keras_layer, inputs, mask, None
    )
    hand_outputs, hand_grads, _ = _outputs_and_gradients(hand_layer, inputs, mask, loss_weights)
    if len(hand_outputs) != len(keras_outputs) or len(hand_grads) != len(keras_grads):
        raise ValueError("The two layers return different numbers of outputs or weights.")

    output_names = ["output"] if len(keras_outputs) == 1 else [
        f"output {i}" for i in range(1, len(keras_outputs) + 1)
    ]
    grad_names = [_relative_path(w, keras_layer) for w in keras_layer.trainable_weights]
    rows = []
    pairs = [("output", n, h, k) for n, h, k in zip(output_names, hand_outputs, keras_outputs,
                                                      strict=True)]
    pairs += [("gradient", n, h, k) for n, h, k in zip([*grad_names, "inputs"], hand_grads,
                                                         keras_grads, strict=True)]
    for kind, name, hand_value, keras_value in pairs:
        hand_value, keras_value = np.asarray(hand_value), np.asarray(keras_value)
        if hand_value.shape != keras_value.shape:
            raise AssertionError(f"{name}: shapes differ, {hand_value.shape} and "
                                 f"{keras_value.shape}: the two layers are not the same function "
                                 "(a shape () gradient: the loss does not reach that weight).")
        rows.append({
            "kind": kind,
            "name": name,
            "shape": tuple(keras_value.shape),
            "max abs difference": float(np.abs(hand_value - keras_value).max()),
            "max abs value": float(np.abs(keras_value).max()),
        })
    return pd.DataFrame(rows)


def train_side_by_side(
    build_model_fn: Callable[[type], keras.Model],
    data,
    epochs: int,
    batch_size: int = 128,
    seed: int = 0,
    validation: bool = True,
    verbose: bool = True,
) -> tuple[pd.DataFrame, dict[str, keras.Model]]:
    """Train a hand-made-layer model and a Keras-layer model in turn, from the same start.

    Args:
        build_model_fn: `build_model_fn(wrapper)` returns a new *compiled* model whose
            bidirectional layer is `wrapper(...)`; it is called once with
            `HandmadeBidirectional` and once with `keras.layers.Bidirectional`.
        data: anything with `x_train, y_train` (and `x_val, y_val` if `validation`), such
            as an `ImdbData`.
        epochs: epochs of each model. The first one is the warm-up (see below).
        batch_size: batch size of both.
        seed: seeds the initial weights, and the order of the batches of every epoch.
        validation: evaluate on `x_val, y_val` after every epoch (inside the timed call).
        verbose: print one line per model and epoch.

    How the comparison is kept fair:

    - *Same start*: the Keras model gets a copy of the hand-made model's initial weights
      (`set_weights`), so any difference comes from the layers, not from the luck of the
      initialization.
    - *Same batches*: each epoch shuffles the training set with the seed `seed + epoch`,
      the same order for both (`batches`, which also keeps `tf.data`'s autotuning out of the
      timing).
    - *Alternating*: epoch 1 of one model, epoch 1 of the other, epoch 2 of the first...
      and the model that goes first swaps every epoch. A slow phase of a shared machine
      then hits both, and neither always runs first.
    - *Warm-up*: the first `fit` call of a model also traces and compiles its graph, so
      its epoch 1 is slower. It is reported (column `warm_up`) but
      `seconds_per_epoch_ratio` leaves it out.

    Returns:
        `(history, models)`. `history` is a tidy DataFrame, one row per (layer, epoch):
        `layer` ("handmade" or "keras"), `epoch` (from 1), the metrics `fit` reports
        (`loss`, `accuracy`, `val_loss`, `val_accuracy`, ...), `seconds` (wall-clock time
        of that epoch's `fit` call), `cpu_seconds` (CPU time this process used during it,
        all threads: less sensitive than wall time to other programs on the machine),
        `step_seconds` (wall time inside the training steps only, `StepTimer`),
        `batch_losses` (the running loss after each batch of the epoch, a tuple),
        `warm_up` (True for epoch 1) and `run_order` (1, 2, 3, ... in the order the calls
        ran). `models` maps "handmade" and "keras" to the two trained models.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs!r}.")
    set_seed(seed)
    models = {name: build_model_fn(wrapper) for name, wrapper in WRAPPERS.items()}
    # The same initial weights in both (set_weights checks that the shapes agree).
    models["keras"].set_weights(models["handmade"].get_weights())
    for model in models.values():
        build_training_state(model, data.x_train, data.y_train)  # the warm-up traces each step once
    validation_data = batches(data.x_val, data.y_val, batch_size) if validation else None

    rows = []
    for epoch in range(1, epochs + 1):
        order = list(models) if epoch % 2 else list(models)[::-1]  # who goes first swaps
        for name in order:
            set_seed(seed + epoch)  # the same global random state for both epochs
            training = batches(data.x_train, data.y_train, batch_size, seed=seed + epoch)
            gc.collect()  # no garbage collection of the previous fit inside the timing
            steps = StepTimer()
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            fit = models[name].fit(
                training, validation_data=validation_data, initial_epoch=epoch - 1,
                epochs=epoch, verbose=0, callbacks=[steps], shuffle=False,  # shuffled already
            )
            seconds = time.perf_counter() - wall_start
            cpu_seconds = time.process_time() - cpu_start
            metrics = {key: float(values[-1]) for key, values in fit.history.items()}
            rows.append({
                "layer": name, "epoch": epoch, **metrics, "seconds": seconds,
                "cpu_seconds": cpu_seconds, "step_seconds": steps.seconds,
                "batch_losses": tuple(steps.losses), "warm_up": epoch == 1,
                "run_order": len(rows) + 1,
            })
            if verbose:
                shown = ", ".join(f"{key} {value:.4f}" for key, value in metrics.items())
                print(f"epoch {epoch}/{epochs}  {name:<8}  {seconds:5.1f} s  {shown}")
    history = pd.DataFrame(rows).sort_values(["layer", "epoch"], ignore_index=True)
    return history, models


def seconds_per_epoch_ratio(history: pd.DataFrame, column: str = "seconds") -> pd.Series:
    """Median seconds per epoch of each layer, leaving out the warm-up epoch, and their ratio.

    Args:
        history: a DataFrame with columns `layer` ("handmade" and "keras"), `epoch` and
            `column`, as `train_side_by_side` returns.
        column: the time to use: `"seconds"` (wall clock), `"cpu_seconds"` or
            `"step_seconds"` (wall clock inside the training steps).

    Returns:
        A Series with `handmade` and `keras` (median of `column` over the epochs after the
        first; the first also traces the graph, and the median ignores a few slow epochs),
        `ratio` = handmade / keras (1.0: equally fast; 1.1: the hand-made layer takes 10 %
        longer), `paired_ratio` (the median over epochs of the same-epoch ratio, whose
        two epochs ran one right after the other), and `timed_epochs`.
    """
    first = history["epoch"].min()
    timed = history[history["epoch"] > first]
    per_epoch = timed.pivot(index="epoch", columns="layer", values=column)
    missing = {"handmade", "keras"} - set(per_epoch.columns)
    if missing or per_epoch.empty:
        raise ValueError(
            "Need at least two epochs of both layers ('handmade' and 'keras'): the first "
            f"one is the warm-up and is not timed. Got epochs {sorted(history['epoch'])} "
            f"for layers {sorted(set(history['layer']))}."
        )
    per_epoch = per_epoch.dropna()
    handmade, keras_ = per_epoch["handmade"].median(), per_epoch["keras"].median()
    return pd.Series({
        "handmade": handmade,
        "keras": keras_,
        "ratio": handmade / keras_,
        "paired_ratio": (per_epoch["handmade"] / per_epoch["keras"]).median(),
        "timed_epochs": len(per_epoch),
    }, name=column)


def graph_op_counts(function, *input_signature) -> pd.Series:
    """How many times each TensorFlow operation appears in the graph of `function`.

    Args:
        function: a Python function of tensors (it is wrapped in `tf.function` and traced).
        input_signature: one `tf.TensorSpec` per argument of `function`.

    Returns:
        A Series of counts indexed by operation type (`"MatMul"`, `"While"`, ...), sorted by
        type. The bodies of loops and branches (`tf.while_loop`, `tf.cond`: the functions of
        the graph's library) count too: a loop op (`While`, `StatelessWhile`) counts once,
        and so does each op of its body.
    """
    graph = tf.function(function).get_concrete_function(*input_signature).graph.as_graph_def()
    nodes = [*graph.node, *(node for f in graph.library.function for node in f.node_def)]
    return pd.Series(collections.Counter(node.op for node in nodes), dtype=int).sort_index()


def training_step_op_counts(model, loss=keras.losses.binary_crossentropy) -> pd.Series:
    """`graph_op_counts` of one training step of `model`: the forward pass, the mean `loss` and
    its gradients with respect to the trainable weights, for inputs shaped as the model's
    (first) input and float targets shaped as its (first) output, the batch size left open.
    The optimizer's update is not part of it."""
    def step(x, y):
        with tf.GradientTape() as tape:
            value = keras.ops.mean(loss(y, model(x, training=True)))
        return tape.gradient(value, model.trainable_weights)

    x_spec = tf.TensorSpec(model.inputs[0].shape, model.inputs[0].dtype)
    return graph_op_counts(step, x_spec, tf.TensorSpec(model.outputs[0].shape, tf.float32))


def matmul_rate(size: int = 2048, repeats: int = 10) -> float:
    """Floating-point operations per second of one large float32 matrix product on this machine.

    Times `tf.matmul` of two random `size` x `size` matrices in a `tf.function` (traced and
    run once first, untimed), `repeats` times, and returns 2 size**3 (one multiply and one add
    per term) over the median seconds: about the most this machine's TensorFlow computes per
    second, the reference against which notebook 08 sets the FLOPs of an epoch.
    """
    a, b = tf.random.normal((size, size)), tf.random.normal((size, size))
    product = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    product(a, b)  # trace and warm up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).numpy()
        seconds.append(time.perf_counter() - start)
    return 2 * size**3 / float(np.median(seconds))


def _median_seconds(functions: dict, repeats: int) -> dict:
    """Median wall-clock seconds of each zero-argument function, called in turn `repeats` times
    after one untimed call each (which traces it: one function per model, by design, so
    TensorFlow's retracing warning is hidden); each call waits for its results."""
    with quiet_retracing():
        for function in functions.values():
            _wait(function())
    seconds = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            _wait(function())
            seconds[name].append(time.perf_counter() - start)
    return {name: float(np.median(s)) for name, s in seconds.items()}


def _wait(result):
    for tensor in tf.nest.flatten(result):
        if hasattr(tensor, "numpy"):
            tensor.numpy()


def _training_functions(model, x, y) -> dict:
    """One training step of the compiled `model` on the batch (x, y), and its pieces, as
    zero-argument `tf.function`s (see `step_parts`)."""
    x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y, tf.float32)
    loss_fn, variables = keras.losses.BinaryCrossentropy(), model.trainable_variables

    def loss():
        return loss_fn(y, model(x, training=True))

    def gradients():
        with tf.GradientTape() as tape:
            value = loss()
        return tape.gradient(value, variables)

    fixed = gradients()  # (eager: builds the model) the optimizer's input when timed alone
    if not model.optimizer.built:
        model.optimizer.build(variables)
    embedding, rnn = model.layers[0], model.layers[1]
    embedded, mask = embedding(x), embedding.compute_mask(x)
    return {"forward": tf.function(loss),
            "recurrent forward": tf.function(lambda: rnn(embedded, mask=mask, training=True)),
            "forward and backward": tf.function(gradients),
            "optimizer": tf.function(lambda: model.optimizer.apply(fixed, variables)),
            "step": tf.function(lambda: model.optimizer.apply(gradients(), variables))}


def step_seconds(model, x, y, repeats: int = 20):
    """Median seconds of one training step (forward pass, backward pass and the optimizer's
    update, in one `tf.function`) of the compiled `model` on the batch `(x, y)`.

    Given a dict {name: model}, the models' steps are timed in turn, one of each per round, so
    a slow moment of the machine falls on all of them alike (a paired comparison): returns a
    Series of medians by name."""
    if isinstance(model, dict):
        return pd.Series(_median_seconds(
            {name: _training_functions(m, x, y)["step"] for name, m in model.items()}, repeats))
    return _median_seconds({"step": _training_functions(model, x, y)["step"]}, repeats)["step"]


#: The parts of a training step that `step_parts` reports, in the order of the step.
STEP_PARTS = ("embedding, head and loss", "input projection and moves", "loops, forward pass",
              "loops, backward pass", "rest of the backward pass", "optimizer")


def step_parts(model, x, y, repeats: int = 20) -> pd.Series:
    """Seconds of one training step of `model` on the batch `(x, y)`, split into its parts.

    `model` is compiled (its optimizer is used) and made of an embedding, a recurrent layer,
    then the rest (pooling, head). Each piece runs alone as its own `tf.function`, timed in turn
    with the others (medians of `repeats`): the model's forward pass and its recurrent layer's
    alone, the forward and backward pass (one `tf.GradientTape`), the optimizer's update, and,
    for a fused layer, its loops alone (forward, then forward and hand-written backward) on
    inputs of the same shape. The parts (`STEP_PARTS`) are differences of those medians:

    - embedding, head and loss: the model's forward pass minus its recurrent layer's;
    - input projection and moves: the recurrent layer's forward pass minus its loops (for a
      Keras layer, its whole forward pass: its loop cannot be timed alone);
    - loops, forward pass and loops, backward pass: NaN for a Keras layer (its loop is inside
      the other parts);
    - rest of the backward pass: the backward pass minus the loops' backward;
    - optimizer: one update of every weight.

    Then `sum` (of the parts) and `step` (forward, backward and update in one function, as
    `step_seconds`): they differ by what one function saves or adds over separate ones. Noise
    can make a small part slightly negative.
    """
    from .fused import _block_diagonal, _FusedRNN, _parallel_recurrence

    functions = _training_functions(model, x, y)
    rnn = model.layers[1]
    if isinstance(rnn, _FusedRNN):
        recurrents = [tf.convert_to_tensor(weights[1]) for weights in rnn.direction_weights]
        u = recurrents[0] if len(recurrents) == 1 else _block_diagonal(*recurrents)
        batch, steps = np.shape(x)[:2]
        z = tf.random.normal((steps, batch, u.shape[0]), seed=0)
        m = tf.ones((steps, batch, 1))

        def states():
            return _parallel_recurrence(z, m, u, rnn.parallel_loops, rnn.steps_per_iteration)

        def loop_gradients():
            with tf.GradientTape() as tape:
                tape.watch([z, u])
                total = tf.reduce_sum(states())
            return tape.gradient(total, [z, u])

        functions |= {"loops forward": tf.function(states),
                      "loops forward and backward": tf.function(loop_gradients)}
    t = _median_seconds(functions, repeats)
    loops_forward = t.get("loops forward", np.nan)
    loops_backward = t.get("loops forward and backward", np.nan) - loops_forward
    parts = pd.Series({
        "embedding, head and loss": t["forward"] - t["recurrent forward"],
        "input projection and moves": t["recurrent forward"] - np.nan_to_num(loops_forward),
        "loops, forward pass": loops_forward,
        "loops, backward pass": loops_backward,
        "rest of the backward pass": (t["forward and backward"] - t["forward"]
                                      - np.nan_to_num(loops_backward)),
        "optimizer": t["optimizer"],
    })
    return pd.concat([parts, pd.Series({"sum": parts.sum(), "step": t["step"]})])
