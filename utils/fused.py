"""A bidirectional SimpleRNN in one loop: `FusedBidirectionalSimpleRNN`; and `FusedSimpleRNN`,
one direction on the same machinery.

    from utils.fused import FusedBidirectionalSimpleRNN, FusedSimpleRNN
    layer = FusedBidirectionalSimpleRNN(32)           # = Bidirectional(SimpleRNN(32))
    layer = FusedSimpleRNN(32, go_backwards=True)     # = SimpleRNN(32, go_backwards=True)

It computes exactly what `keras.layers.Bidirectional(keras.layers.SimpleRNN(units))` computes,
with the same weights in the same order (`set_weights(bidirectional.get_weights())` carries
over), with less work on a CPU, where a SimpleRNN step is a tiny matrix product and most of the
time goes to the per-step overhead of the loop. Four changes (notebook 08 times the result):

1. *One input projection for every step.* x_t W + b does not depend on the state, so it is
   computed for all t and both directions in one matrix product before the loop; the loop
   only adds h_{t-1} U.
2. *Both directions in one loop.* Step t of the loop advances the forward state on x_t and
   the backward state on x_{T+1-t}. The two states sit side by side, [h^f ; h^b], and the two
   recurrent matrices on the diagonal of one block-diagonal matrix, so a step is one matrix
   product and one tanh for both directions.
3. *No mask inside the loop.* A masked step keeps the state, which is the same as skipping
   it. So before the loop each row's real steps are moved to its end, in each direction's
   reading order, and its padding to the start as zero inputs, which keep h = h_0 = 0
   (`_packing`). The loop is then h_t = tanh(z_t + h_{t-1} U) with no mask; the states are
   moved back to their steps' places afterwards. The moves are gathers of rows whose
   gradient is written by hand (`move_rows`): no row is read twice, so the gradient is the
   reverse move, where TensorFlow's own gradient of a gather must add rows into zeros.
   Without a mask nothing moves: the projections are only put time first, the backward
   direction's reversed.
4. *A hand-written backward pass* (`tf.custom_gradient`): backpropagation through time as in
   notebook 02, one loop running backwards with one matrix product per step (tanh' for all
   steps is computed before it); the gradient of the recurrent matrices is then one matrix
   product over all steps at once.

The equations, with the mask mu_t = 1 at a real step and 0 at padding (a padded step keeps
the state; notebook 08 writes it as the Greek letter mu):

    a_t = x_t W + b + h_{t-1} U,      h_t = mu_t tanh(a_t) + (1 - mu_t) h_{t-1},    h_0 = 0

The backward direction runs the same recurrence on the reversed sequence with its own W, U, b.

Two choices are the machine's: the loop does `steps_per_iteration` steps per iteration (fewer
iterations, less overhead per step) and runs as `parallel_loops` independent loops, each over
a slice of the batch (TensorFlow runs independent loops at the same time, one per core, as it
runs Bidirectional's two direction loops). Both are constructor arguments; their defaults are
`DEFAULT_STEPS_PER_ITERATION` and one loop per core this process may use, at most two
(`default_parallel_loops`). Notebook 08 times the layer on one core and on two, and solutions
08 (exercises 2 and 4) time the other choices on the machine at hand: other step counts, and
TensorFlow's own gradient of the loop instead of the hand-written one.

`FusedSimpleRNN` is one direction on the same functions (changes 1, 3 and 4; the loop's matrix
is U itself) and computes exactly what `keras.layers.SimpleRNN(units, go_backwards=...,
return_sequences=...)` computes, with the same weights. It follows Keras 3 where Keras is
surprising (measured, Keras 3.15): with `go_backwards=True` the sequence of outputs comes in
reading order, output i after x_T..x_{T-i}, while the mask passed on is the one given, not
reversed; and a masked step outputs the state it carries (zeros before the first real step),
where `Bidirectional` outputs zeros there.
"""

from __future__ import annotations

import functools
import os

import keras
import tensorflow as tf

from .layers import MERGE_MODES, merge_directions  # the four merges (not None)


def _block_diagonal(a, b):
    """[[a, 0], [0, b]] for two square matrices of the same size."""
    zeros = tf.zeros_like(a)
    return tf.concat([tf.concat([a, zeros], 1), tf.concat([zeros, b], 1)], 0)


#: Time steps per iteration of the loops when the layer is not given `steps_per_iteration` (the
#: first chunk is filled with zero steps in front). Solutions 08, exercise 2, times 1, 2, 4, 8.
DEFAULT_STEPS_PER_ITERATION = 4


def usable_cores() -> int:
    """The cores this process may run on: those of its CPU affinity (`taskset`, a container's
    cpuset) where the system says, else all of the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def default_parallel_loops() -> int:
    """Independent loops over slices of the batch, when the layer is not given
    `parallel_loops`: one per usable core, at most two (the most the collection has measured;
    notebook 08 times one and two cores)."""
    return min(usable_cores(), 2)


def _chunks(x, steps, padded, k):
    """(T, ...) -> a TensorArray of (k, ...) chunks, zero-padded at the START to `padded` steps
    (zero inputs before the first step keep the state at h_0 = 0, so they change nothing)."""
    x = tf.pad(x, [[padded - steps, 0]] + [[0, 0]] * (len(x.shape) - 1))
    x = tf.reshape(x, tf.concat([[padded // k, k], tf.shape(x)[1:]], 0))
    return tf.TensorArray(x.dtype, size=padded // k).unstack(x)


def _unchunk(ta, steps):
    """The inverse of `_chunks`: a TensorArray of (k, ...) chunks -> the last `steps` steps."""
    x = ta.stack()
    x = tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))
    return x[tf.shape(x)[0] - steps:]


def _parallel_recurrence(z, m, u, parts, k=DEFAULT_STEPS_PER_ITERATION):
    """The loop's states on `parts` slices of the batch (axis 1), run as independent loops of
    `k` steps per iteration."""
    recurrence = _traced(_recurrence if k == DEFAULT_STEPS_PER_ITERATION else _recurrence_with(k))
    if parts == 1:
        return recurrence(z, m, u)
    batch = tf.shape(z)[1]
    sizes = [batch // parts] * (parts - 1)
    sizes = tf.stack([*sizes, batch - (parts - 1) * (batch // parts)])
    slices = zip(tf.split(z, sizes, axis=1, num=parts), tf.split(m, sizes, axis=1, num=parts),
                 strict=True)
    return tf.concat([recurrence(z_i, m_i, u) for z_i, m_i in slices], axis=1)


def _loop(z, m, u, k):
    """The states of the loop: h_t = tanh(z_t + h_{t-1} u), h_0 = 0.

    z: (T, B, 2U) the projected inputs of both directions (or (T, B, U), one direction's),
    packed (see `_packing`: padding first, as zeros); m: (T, B, 1) the packed mask (0 at that
    padding, then 1), used only by the gradient; u: (2U, 2U) block-diagonal (or U itself, (U,
    U)); k: steps per loop iteration (zero steps are added at the start to fill the first one).
    Returns the states h_1..h_T, of z's shape, and their gradient function: BPTT written out
    by hand. `_recurrence` is this with `tf.custom_gradient`.
    """
    steps = tf.shape(z)[0]
    padded = (steps + k - 1) // k * k
    iterations = padded // k
    z_ta = _chunks(z, steps, padded, k)

    def step(i, h, h_ta):
        hs = []
        for z_t in tf.unstack(z_ta.read(i), k):  # one operation splits the chunk into steps
            h = tf.tanh(z_t + tf.matmul(h, u))
            hs.append(h)
        return i + 1, h, h_ta.write(i, tf.stack(hs))

    h0 = tf.zeros_like(z[0])
    _, _, h_ta = tf.while_loop(lambda i, *_: i < iterations, step,
                               (0, h0, tf.TensorArray(z.dtype, size=iterations)))
    states = _unchunk(h_ta, steps)

    def grad(d_states):
        u_t = tf.transpose(u)
        d_ta = _chunks(d_states, steps, padded, k)
        # tanh' at every step, at once, and 0 at the padding in front: the states there are the
        # constant 0, so nothing flows further back (else 250 products with U^T could overflow).
        c_ta = _chunks((1.0 - states * states) * m, steps, padded, k)

        def back_step(i, g, dz_ta):
            das = [None] * k
            d_steps, c_steps = tf.unstack(d_ta.read(i), k), tf.unstack(c_ta.read(i), k)
            for j in reversed(range(k)):
                das[j] = (g + d_steps[j]) * c_steps[j]  # dL/da_t = (output + t + 1) tanh'
                g = tf.matmul(das[j], u_t)  # dL/dh_{t-1} through the recurrence
            return i - 1, g, dz_ta.write(i, tf.stack(das))

        _, _, dz_ta = tf.while_loop(lambda i, *_: i >= 0, back_step,
                                    (iterations - 1, h0, tf.TensorArray(z.dtype,
                                                                        size=iterations)))
        dz = _unchunk(dz_ta, steps)
        previous = tf.concat([h0[None], states[:-1]], 0)  # h_0..h_{T-1}
        width = tf.shape(z)[-1]
        du = tf.matmul(tf.reshape(previous, (-1, width)), tf.reshape(dz, (-1, width)),
                       transpose_a=True)  # sum over t and the batch of h_{t-1}^T da_t
        return dz, tf.zeros_like(m), du

    return states, grad


@tf.custom_gradient
def _recurrence(z, m, u):
    """The states of the loop, h_t = tanh(z_t + h_{t-1} u) (see `_loop`), at the default
    `DEFAULT_STEPS_PER_ITERATION` steps per iteration, with the hand-written gradient."""
    return _loop(z, m, u, DEFAULT_STEPS_PER_ITERATION)


@functools.cache
def _traced(recurrence):
    """`recurrence` as a `tf.function`, one per function: traced once per kind of input
    (`reduce_retracing`: then once for all lengths and batches), and that graph, with its
    gradient, reused by every layer and model of the process. Inline, the loops were traced
    again in every model, for each of the training, test and prediction functions and each of
    the `parallel_loops`: the largest part of tracing a small model. The same operations,
    so the same numbers, bit for bit (`tests/test_fused.py`). The cache holds the function
    itself, so a replaced `_recurrence` (solutions 08, exercise 4) gets its own."""
    return tf.function(recurrence, reduce_retracing=True)


@functools.cache
def _recurrence_with(k):
    """`_recurrence` with `k` steps per iteration (one function per k, made once)."""
    return tf.custom_gradient(lambda z, m, u: _loop(z, m, u, k))


@tf.custom_gradient
def move_rows(rows, index, inverse):
    """`rows[index]` with a zero row at `index == len(rows)`, where no row is read twice.

    rows: (N, W); index: any shape, values in [0, N]; inverse: (N,), for each row the flat
    position in `index` that reads it, or `index.size` if none does. The gradient is then the
    same kind of move backwards (TensorFlow's own gradient of a gather adds rows into a zero
    matrix, several times slower, as it must allow a row to be read twice).
    """
    zero_row = tf.zeros_like(rows[:1])
    moved = tf.gather(tf.concat([rows, zero_row], 0), index)

    def grad(d_moved):
        d_rows = tf.reshape(d_moved, (-1, tf.shape(rows)[1]))
        return tf.gather(tf.concat([d_rows, zero_row], 0), inverse), None, None

    return moved, grad


def _packing(mask, backwards=(False, True)):
    """Where each direction's loop steps read from, so that the loop needs no mask.

    A masked step keeps the state: it is as if the step were not there. So each row's real
    steps are moved to the end, in reading order (forward: x_1..x_T; backward: x_T..x_1), and
    its padding to the start, where zero inputs keep the state at h_0 = 0.

    mask: (B, T) bool; backwards: one flag per direction wanted, True for the one that reads
    x_T first. Returns, for each direction, a pair for `move_rows` over the (B T) rows of the
    inputs (row b T + t is step t of sequence b): `index`, (T, B), the row each loop step
    reads (time first; `B T`, a zero row, at padding), and `inverse`, (B T,), the loop step
    that reads each row (`B T` for padded rows); and the packed mask, (T, B, 1) bool (False
    then True, the same for every direction).
    """
    as_int = tf.cast(mask, tf.int32)
    batch, steps = tf.shape(mask)[0], tf.shape(mask)[1]
    rows = batch * steps
    real = tf.transpose(tf.sort(as_int, axis=1)) > 0  # (T, B), padding first
    real_rows = tf.reshape(mask, (-1,))
    offsets = tf.range(batch)[None, :] * steps  # first row of each sequence
    pairs = []
    for backward in backwards:
        if backward:  # x_T..x_1's real steps
            source = steps - 1 - tf.argsort(tf.reverse(as_int, [1]), axis=1, stable=True)
        else:  # x_1..x_T's real steps
            source = tf.argsort(as_int, axis=1, stable=True)
        order = tf.transpose(source) + offsets  # (T, B): the row read by each loop step
        inverse = tf.math.invert_permutation(tf.reshape(order, (-1,)))
        pairs.append((tf.where(real, order, rows), tf.where(real_rows, inverse, rows)))
    return pairs, real[..., None]


def _concat(parts, axis):
    """`tf.concat`, without an operation for a single part (the one-direction layer's)."""
    return parts[0] if len(parts) == 1 else tf.concat(parts, axis)


def _split(x, parts, axis=-1):
    """`tf.split` into `parts` equal parts, without an operation for a single part."""
    return [x] if parts == 1 else tf.split(x, parts, axis=axis)


class _FusedRNN(keras.layers.Layer):
    """What the fused layers share: the arguments, the weights, and the loop up to its states.

    `backwards` holds the `_packing` flag of each direction, in weight order. A subclass sets
    `_PREFIXES` (the directions' weight-name prefixes) and `_SEED_DRAWS` (how many times the
    Keras layer it equals draws seeds), and turns `_states`'s states into its outputs.
    """

    _PREFIXES = ("",)
    _SEED_DRAWS = 1

    def __init__(self, units, backwards, return_sequences=False, dropout=0.0, use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", seed=None, steps_per_iteration=None,
                 parallel_loops=None, **kwargs):
        for name, value in (("units", units), ("steps_per_iteration", steps_per_iteration),
                            ("parallel_loops", parallel_loops)):
            if (value is not None or name == "units") and (
                    not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}"
                                 + (" (None: the default)." if name != "units" else "."))
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        super().__init__(**kwargs)
        self._backwards = tuple(backwards)
        self.units = units
        self.return_sequences = bool(return_sequences)
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.seed = seed
        self._loop_arguments = {"steps_per_iteration": steps_per_iteration,
                                "parallel_loops": parallel_loops}  # as given: None travels
        self.steps_per_iteration = steps_per_iteration or DEFAULT_STEPS_PER_ITERATION
        self.parallel_loops = parallel_loops or default_parallel_loops()
        # A SimpleRNN draws seeds from Python's random module for a SeedGenerator (dropout),
        # the kernel and the recurrent kernel, in that order; Bidirectional(SimpleRNN(...))
        # does it three times (for the layer given, then for its forward and its backward
        # copy). The same draws in the same order start this layer, and the layers built after
        # it, from the same weights after the same seed. The last draws are the directions';
        # the first direction's generator draws the dropout masks.
        made = [(keras.random.SeedGenerator(seed),
                 [keras.initializers.get(i) for i in (kernel_initializer, recurrent_initializer,
                                                       bias_initializer)])
                for _ in range(self._SEED_DRAWS)]
        made = made[len(made) - len(self._backwards):]
        self.seed_generator = made[0][0]
        self._initializers = [initializers for _, initializers in made]  # one per direction
        self.input_spec = keras.layers.InputSpec(ndim=3)
        self.supports_masking = True

    def build(self, input_shape):
        features = input_shape[-1]
        self.direction_weights = []
        for prefix, (kernel_init, recurrent_init, bias_init) in zip(
                self._PREFIXES, self._initializers, strict=True):
            kernel = self.add_weight(shape=(features, self.units), name=f"{prefix}kernel",
                                     initializer=kernel_init)
            recurrent = self.add_weight(shape=(self.units, self.units),
                                        name=f"{prefix}recurrent_kernel",
                                        initializer=recurrent_init)
            bias = (self.add_weight(shape=(self.units,), name=f"{prefix}bias",
                                    initializer=bias_init) if self.use_bias else None)
            self.direction_weights.append((kernel, recurrent, bias))

    def _states(self, x, mask, training):
        """The loop's states, (T, B, directions x units), packed (see `_packing`: each row's
        real steps at the end, in each direction's reading order), and the moves (`index`,
        `inverse`) of each direction; without a mask, no moves (None): the states are in each
        direction's reading order, time first."""
        kernels, recurrents, biases = zip(*self.direction_weights, strict=True)
        directions, features = len(kernels), x.shape[-1]
        batch, steps = tf.shape(x)[0], tf.shape(x)[1]
        if training and self.dropout > 0:  # one mask per direction, sequence and feature
            keep = keras.random.dropout(tf.ones((directions, batch, 1, features), x.dtype),
                                        self.dropout, seed=self.seed_generator)
            projected = _concat([tf.matmul(x * keep[i], w) for i, w in enumerate(kernels)], -1)
            projected = tf.reshape(projected, (-1, directions * self.units))
        else:  # x_t W for every t and direction, one (B T, features) matrix product
            projected = tf.matmul(tf.reshape(x, (-1, features)), _concat(kernels, 1))
        if self.use_bias:
            projected = tf.nn.bias_add(projected, _concat(biases, 0))
        # tf.split, not slicing: here the slices' gradient took a fifth of the layer's time
        if mask is None:  # every step is real: nothing to pack, time first, backwards reversed
            z = tf.transpose(tf.reshape(projected, (batch, steps, -1)), [1, 0, 2])
            z = _concat([tf.reverse(p, [0]) if backwards else p for p, backwards in
                         zip(_split(z, directions), self._backwards, strict=True)], -1)
            moves, packed = None, tf.ones((steps, batch, 1), tf.bool)
        else:
            moves, packed = _packing(mask, self._backwards)
            z = _concat([move_rows(p, index, inverse) for p, (index, inverse) in
                         zip(_split(projected, directions), moves, strict=True)], -1)  # (T, B, .)
        # a tensor, not the variable itself: tf.custom_gradient refuses a function that reads one
        u = tf.convert_to_tensor(recurrents[0]) if directions == 1 else _block_diagonal(*recurrents)
        return _parallel_recurrence(z, tf.cast(packed, x.dtype), u, self.parallel_loops,
                                    self.steps_per_iteration), moves

    def _width(self):
        return self.units

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self._width())
        return (input_shape[0], self._width())

    def get_config(self):
        kernel_init, recurrent_init, bias_init = (
            keras.initializers.serialize(i) for i in self._initializers[0])
        return {**super().get_config(), "units": self.units,
                "return_sequences": self.return_sequences, "dropout": self.dropout,
                "use_bias": self.use_bias, "kernel_initializer": kernel_init,
                "recurrent_initializer": recurrent_init, "bias_initializer": bias_init,
                "seed": self.seed, **self._loop_arguments}


@keras.saving.register_keras_serializable(package="birnn")
class FusedBidirectionalSimpleRNN(_FusedRNN):
    """`Bidirectional(SimpleRNN(units, return_sequences=...), merge_mode=...)` in one fused loop.

    Args:
        units: units of each direction.
        merge_mode: `"concat"` ([h^f ; h^b], the default), `"sum"`, `"ave"` or `"mul"`.
        return_sequences: return the merged output at every step, `(batch, time, ...)`
            (zeros at padded steps, and the mask is passed on), instead of the merged final
            states `[h^f_T ; h^b_1]`.
        dropout: the share of input features dropped during training, as SimpleRNN's
            `dropout`: one mask per sequence and feature, the same at every step, drawn
            separately for each direction; never at prediction.
        use_bias: as in SimpleRNN.
        kernel_initializer, recurrent_initializer, bias_initializer: as in SimpleRNN
            (defaults `"glorot_uniform"`, `"orthogonal"`, `"zeros"`).
        seed: seeds the dropout masks.
        steps_per_iteration: time steps per iteration of the loop (None:
            `DEFAULT_STEPS_PER_ITERATION`); the same numbers, in other time.
        parallel_loops: independent loops, each over a slice of the batch (None: one per
            usable core, at most two); the same numbers, in other time.
        **kwargs: passed to `keras.layers.Layer` (for example `name`).

    The activation is tanh. Masks come from `Embedding(mask_zero=True)` or `mask=`: a padded
    step keeps the previous state, and a row with no real step gives zeros.
    """

    _PREFIXES = ("forward_", "backward_")
    _SEED_DRAWS = 3

    def __init__(self, units, merge_mode="concat", return_sequences=False, dropout=0.0,
                 **kwargs):
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f"merge_mode must be one of {MERGE_MODES}, got {merge_mode!r} (merge_mode=None, "
                "two separate outputs, needs keras.layers.Bidirectional)."
            )
        super().__init__(units, (False, True), return_sequences=return_sequences,
                         dropout=dropout, **kwargs)
        self.merge_mode = merge_mode

    def call(self, inputs, mask=None, training=False):
        x = tf.convert_to_tensor(inputs)
        states, moves = self._states(x, mask, training)
        if not self.return_sequences:
            forward, backward = tf.split(states[-1], 2, axis=-1)
            return merge_directions(forward, backward, self.merge_mode)
        if moves is None:  # no mask: batch first again, the backward states in reading order
            s_f, s_b = tf.split(states, 2, axis=-1)
            forward = tf.transpose(s_f, [1, 0, 2])
            backward = tf.transpose(tf.reverse(s_b, [0]), [1, 0, 2])
            return merge_directions(forward, backward, self.merge_mode)
        # back to the steps' own places, zeros at padding: the same moves, reversed
        (index_f, inverse_f), (index_b, inverse_b) = moves
        s_f, s_b = (tf.reshape(s, (-1, self.units)) for s in tf.split(states, 2, axis=-1))
        shape = (tf.shape(x)[0], tf.shape(x)[1], self.units)
        forward = tf.reshape(move_rows(s_f, inverse_f, index_f), shape)
        backward = tf.reshape(move_rows(s_b, inverse_b, index_b), shape)
        return merge_directions(forward, backward, self.merge_mode)

    def _width(self):
        return 2 * self.units if self.merge_mode == "concat" else self.units

    @property
    def forward_layer(self):
        """A `keras.layers.SimpleRNN` holding a copy of the forward direction's current
        weights, as `Bidirectional.forward_layer` holds it: for reading what a direction
        computes (the probes of notebook 05), not for training (a copy, not these variables)."""
        return self._direction_copy(0)

    @property
    def backward_layer(self):
        """As `forward_layer`, for the backward direction (`go_backwards=True`)."""
        return self._direction_copy(1)

    def _direction_copy(self, i):
        if not self.built:
            raise ValueError(f"{self.name} is not built yet: call it on an input first.")
        rnn = keras.layers.SimpleRNN(self.units, go_backwards=i == 1, use_bias=self.use_bias,
                                     return_sequences=self.return_sequences,
                                     name=f"{self.name}_{self._PREFIXES[i]}copy")
        kernel = self.direction_weights[i][0]
        rnn.build((None, None, kernel.shape[0]))
        rnn.set_weights([w.numpy() for w in self.direction_weights[i] if w is not None])
        return rnn

    def get_config(self):
        return {**super().get_config(), "merge_mode": self.merge_mode}


@keras.saving.register_keras_serializable(package="birnn")
class FusedSimpleRNN(_FusedRNN):
    """`SimpleRNN(units, go_backwards=..., return_sequences=...)` on the fused layer's machinery:
    one input projection, the mask out of the loop, the hand-written BPTT; one direction, so
    the loop's matrix is U itself (no block-diagonal).

    Args:
        units: units of the layer.
        go_backwards: read the sequence from its last step to its first. As in Keras, the
            outputs of `return_sequences=True` are then in that reading order: output i is
            the state after reading x_T..x_{T-i} (the mask passed on is not reversed,
            as Keras's is not).
        return_sequences: return the state at every step, `(batch, time, units)`, instead of
            the final state. As in Keras, a masked step outputs the state it carries (the last
            real step's, or zeros before the first).
        dropout, use_bias, kernel_initializer, recurrent_initializer, bias_initializer, seed,
            steps_per_iteration, parallel_loops, **kwargs: as in
            `FusedBidirectionalSimpleRNN` and SimpleRNN (with one dropout mask per sequence and
            feature).

    The activation is tanh; weights `kernel`, `recurrent_kernel`, `bias`, as in SimpleRNN
    (`set_weights(simple_rnn.get_weights())` carries over).
    """

    def __init__(self, units, go_backwards=False, return_sequences=False, dropout=0.0,
                 **kwargs):
        super().__init__(units, (bool(go_backwards),), return_sequences=return_sequences,
                         dropout=dropout, **kwargs)
        self.go_backwards = bool(go_backwards)

    def call(self, inputs, mask=None, training=False):
        x = tf.convert_to_tensor(inputs)
        states, _ = self._states(x, mask, training)
        if not self.return_sequences:
            return states[-1]  # zeros for a row with no real step: its loop read zeros only
        if mask is None:  # every step real: the packed states are in reading order already
            return tf.transpose(states, [1, 0, 2])
        # Output i (reading order) is the state after the real steps read by then: c of them,
        # at packed step T - length + c - 1 (padding first), or zeros if c = 0. A state is
        # read at several masked steps, so this is a gather (whose gradient adds), not a move.
        batch, steps = tf.shape(x)[0], tf.shape(x)[1]
        reading = tf.cast(tf.reverse(mask, [1]) if self.go_backwards else mask, tf.int32)
        read = tf.cumsum(reading, axis=1)  # (B, T)
        row = (steps - read[:, -1:] + read - 1) * batch + tf.range(batch)[:, None]
        rows = tf.concat([tf.reshape(states, (-1, self.units)), tf.zeros_like(states[0, :1])], 0)
        return tf.gather(rows, tf.where(read > 0, row, steps * batch))

    def get_config(self):
        return {**super().get_config(), "go_backwards": self.go_backwards}
