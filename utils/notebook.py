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


def set_seed(seed: int) -> None:
    """Fix Python's, NumPy's and TensorFlow's random generators, and make ops deterministic.

    `keras.utils.set_random_seed` seeds the three generators; op determinism makes
    TensorFlow pick deterministic kernels, so the same seed gives the same numbers
    run after run on the same machine (Keras's fit then becomes slightly slower).
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


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
        print(f"seed {seed}, deterministic ops on")
    for lib, tested in TESTED_VERSIONS.items():
        if not info[lib].startswith(tested):
            print(f"Warning: tested with {lib} {tested}, running {info[lib]}; numbers may differ.")
