"""The first cell of every notebook: versions, seeds and one plotting style.

    from utils import setup_notebook
    setup_notebook(seed)

prints the versions the notebook runs on, makes every run with the same seed give
the same numbers on the same machine, and sets the style of all figures.
"""

import contextlib
import os
import platform


@contextlib.contextmanager
def _quiet_native_stderr():
    """Hide what C++ code writes to file descriptor 2 (Python errors still show).

    On import, TensorFlow 2.21 logs harmless notes on a CPU-only machine (no CUDA driver,
    oneDNN on) before its log level applies, and Jupyter shows them as red output.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (some embedded interpreters): nothing to hide
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # later C++ notes and warnings too
with _quiet_native_stderr():
    import tensorflow as tf

import keras  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

#: The versions this collection was tested with (see requirements.txt).
TESTED_VERSIONS = {"tensorflow": "2.21", "keras": "3.15"}


def versions() -> dict:
    """Versions of Python and the libraries a notebook depends on."""
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "matplotlib": matplotlib.__version__,
        "seaborn": sns.__version__,
    }


def cpu_model() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux), or what `platform` knows."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown processor"


def machine() -> dict:
    """What a timing or a result depends on besides the code and the seed: the processor, the
    number of cores and the library versions. The same seed can give other numbers on
    another processor or with other versions (other floating-point kernels, other rounding,
    and a training run amplifies such differences), so the notebooks print this next to
    their numbers and `make run` records it in `results/machine.csv`."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), **versions()}


def set_seed(seed: int) -> None:
    """Fix Python's, NumPy's and TensorFlow's random generators, and make ops deterministic
    (unless `BIRNN_DETERMINISTIC=0`, for a GPU op that has no deterministic kernel).

    `keras.utils.set_random_seed` seeds the three generators; op determinism makes
    TensorFlow pick deterministic kernels, so the same seed gives the same numbers
    run after run on the same machine (Keras's fit then becomes slightly slower).
    """
    keras.utils.set_random_seed(seed)
    if os.environ.get("BIRNN_DETERMINISTIC", "1") != "0":  # "0": a GPU op without a
        tf.config.experimental.enable_op_determinism()     # deterministic kernel (README)


@contextlib.contextmanager
def quiet_retracing():
    """Hide TensorFlow's "triggered tf.function retracing" warnings inside the block.

    Every new Keras model traces its own predict function once; code that builds small
    helper models (one per trained model) triggers the warning by design.
    """
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def build_training_state(model, x=None, y=None) -> None:
    """Create, before `fit`, the variables Keras's TensorFlow trainer would otherwise create
    while it traces the first training step: the optimizer's (Adam's moments) and, given a
    training input `x` and its labels `y`, the compiled metrics' (`accuracy`'s total and count).

    A `tf.function` whose first trace created variables traces again: without this, every new
    model traces its training step twice. The metrics are chosen from the shapes of the labels
    and of the model's output, as `fit` chooses them; the first example of `x` and `y` is
    enough. The same numbers either way (`tests/test_experiments.py` checks the weights and the
    history). Nothing happens for a model not compiled or not built; the metrics are left for
    `fit` to build when the model has several outputs.
    """
    optimizer = getattr(model, "optimizer", None)  # None: not compiled
    if not model.built or optimizer is None:
        return
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    outputs = getattr(model, "outputs", None) or []  # a functional model's output tensors
    if y is None or len(outputs) != 1 or all(getattr(m, "built", True) for m in model.metrics):
        return
    shape = (1, *(size or 1 for size in outputs[0].shape[1:]))  # one example
    first = None if x is None else np.asarray(x)[:1]
    model.compute_metrics(first, np.asarray(y)[:1], np.zeros(shape, "float32"))
    model.reset_metrics()  # built, and counting nothing yet


def setup_notebook(seed: int = 42, quiet: bool = False) -> None:
    """Seed everything, set the plotting style, and print the versions in use.

    Warns (it does not fail) when TensorFlow or Keras differ from the tested versions,
    since the numbers in the committed outputs may then differ slightly.
    """
    set_seed(seed)
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    matplotlib.rcParams.update({"figure.figsize": (7, 4), "figure.dpi": 100, "savefig.dpi": 120})
    info = versions()
    if not quiet:
        print("  ".join(f"{name} {version}" for name, version in info.items()))
        if os.environ.get("BIRNN_DETERMINISTIC", "1") != "0":
            print(f"{cpu_model()}, {os.cpu_count()} cores; seed {seed}, deterministic ops on "
                  "(the same seed gives the same numbers on the same machine and versions)")
        else:
            print(f"{cpu_model()}, {os.cpu_count()} cores; seed {seed}, deterministic ops OFF "
                  "(BIRNN_DETERMINISTIC=0: runs are not repeatable to the last digit)")
    for lib, tested in TESTED_VERSIONS.items():
        if not info[lib].startswith(tested):
            print(f"Warning: tested with {lib} {tested}, running {info[lib]}; numbers may differ.")


# ---------------------------------------------------------------------------------------
# Parameters checked at the door: the first cell after `parameters` calls this
# ---------------------------------------------------------------------------------------

#: The recurrent cells and merge modes the notebooks know by name.
from .layers import MERGE_MODES  # noqa: E402  (after TensorFlow is quieted)
from .models import CELLS as _CELL_LAYERS  # noqa: E402

CELLS = tuple(_CELL_LAYERS)

_POSITIVE = ("epochs", "units", "embed_dim", "batch_size", "maxlen", "vocab_size",
             "timing_epochs", "timing_reviews")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


def _refuse(name, value, rule, fix):
    raise ValueError(
        f"{name} must be {rule}, got {value!r} (type {type(value).__name__}): {fix}."
    )


def _check_one(name, value):
    """Raise a ValueError naming `name`, the value and the fix, if `value` is wrong for it."""
    edit = "or edit the parameters cell"
    if name == "seeds":
        if (isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple))
                or not value or not all(_is_int(s) and s >= 0 for s in value)):
            _refuse(name, value, "a non-empty list of non-negative integers",
                    f"pass -p seeds '[0, 1]' with YAML list syntax, {edit}")
    elif name == "timing_epochs":  # the first epoch is a warm-up, left out of every median
        if not (_is_int(value) and value >= 2):
            _refuse(name, value, "an integer of at least 2 (the first epoch is the warm-up)",
                    f"pass e.g. -p {name} 3, {edit}")
    elif name in ("seed", "patience"):
        if not (_is_int(value) and value >= 0):
            _refuse(name, value, "a non-negative integer", f"pass e.g. -p {name} 0, {edit}")
    elif name in _POSITIVE or name == "subset":
        if name == "subset" and value is None:
            return
        if not (_is_int(value) and value >= 1):
            also = " (or None for all reviews)" if name == "subset" else ""
            _refuse(name, value, f"a positive integer{also}", f"pass e.g. -p {name} 1, {edit}")
    elif name == "cell":
        if value not in CELLS:
            _refuse(name, value, f"one of {CELLS}", f"pass e.g. -p cell simple_rnn, {edit}")
    elif name in ("merge_mode", "merge_modes"):
        values = value if name == "merge_modes" and isinstance(value, (list, tuple)) else None
        if name == "merge_mode":
            values = [value]
        if not values or not all(isinstance(v, str) and v in MERGE_MODES for v in values):
            rule = f"one of {MERGE_MODES}" if name == "merge_mode" else (
                f"a non-empty list of names from {MERGE_MODES}")
            _refuse(name, value, rule, f"pick from {MERGE_MODES}, {edit}")
    elif name == "merge":  # notebook 02's NumPy reference
        from .reference import BPTT_MERGES

        if value not in BPTT_MERGES:
            _refuse(name, value, f"one of {BPTT_MERGES} (the merges of utils/reference.py)",
                    f"pass e.g. -p merge concat, {edit}; exercise 1 adds mul to your own copy")
    elif name == "learning_rate":
        if not (_is_real(value) and np.isfinite(value) and value > 0):
            _refuse(name, value, "a number > 0", f"pass e.g. -p learning_rate 0.001, {edit}")
    elif name == "validation_split" or name.endswith("fraction"):
        if not (_is_real(value) and 0 <= value < 1):
            _refuse(name, value, "a number in [0, 1)", f"pass e.g. -p {name} 0.2, {edit}")
    elif name in ("quick", "fused"):
        if not isinstance(value, (bool, np.bool_)):
            _refuse(name, value, "True or False", f"pass -p {name} True, {edit}")
    else:
        known = sorted({"seeds", "seed", "patience", "subset", "cell", "merge", "merge_mode",
                        "merge_modes", "learning_rate", "validation_split", "quick",
                        "fused", "<name>_fraction", *_POSITIVE})
        raise TypeError(f"check_parameters does not know {name!r}; it checks {known}.")


def check_parameters(**values) -> None:
    """Check a notebook's knobs by name, before any work starts.

        check_parameters(seeds=seeds, epochs=epochs, units=units, subset=subset)

    Each name has one rule: `seeds` a non-empty list of non-negative integers; `seed` and
    `patience` non-negative integers; `epochs`, `units`, `embed_dim`, `batch_size`,
    `maxlen`, `vocab_size`, `timing_reviews` positive integers, and `subset` too (or None);
    `timing_epochs` at least 2 (the first is the warm-up);
    `cell` one of `CELLS`; `merge_mode` one of `MERGE_MODES` (`merge_modes` a non-empty list
    of them); `merge` one of `utils.reference.BPTT_MERGES`; `learning_rate` > 0;
    `validation_split` and any `*_fraction` in [0, 1);
    `quick` and `fused` bools. The first wrong value raises a ValueError naming the parameter, the
    value received and the fix; an unknown name raises a TypeError.
    """
    for name, value in values.items():
        _check_one(name, value)
