"""Shared code for the bidirectional-RNN notebooks: what two or more notebooks (or the tests) use.

Module map (every module, named for what it holds; the notebooks using it in brackets):

Data and models
- `utils.data`: `load_imdb(...)`, the IMDB reviews as padded integer arrays, with a
  movie-disjoint validation split; the download, its checks and the cache (00, 01, 03-06, 07).
- `utils.tasks`: tasks built for a lesson: sentence-boundary tagging (06) and the needs-both
  XOR task (07).
- `utils.layers`: `HandmadeBidirectional`, the wrapper the collection studies, the merges and
  `ReverseTime` (01, 03-08).
- `utils.fused`: `FusedBidirectionalSimpleRNN` and `FusedSimpleRNN`, the fast engine whose
  equality with `Bidirectional(SimpleRNN)` and `SimpleRNN` notebooks 08 and 04 assert (08;
  04-07 through `utils.models.recurrent_part`).
- `utils.models`: `sentiment_model(...)`, the classifiers every IMDB notebook trains,
  `recurrent_part(...)`, the recurrent layer of every model, and the cell names (`CELLS`)
  (01, 03-08).

Maths and experiments
- `utils.maths`: sigmoid, relative error and change, word-level scores, calibration error
  (02, 06, and the modules below).
- `utils.reference`: the NumPy forward pass and backpropagation through time, both
  directions, checked against TensorFlow (02; 01, 03 and the tests use its loss).
- `utils.experiments`: training variants over seeds the same way, tidy results, and the
  statistics that read them (04, 05, 07).
- `utils.probes`: reading inside trained models: each direction's states and predictions,
  error signals, linear probes (05, 07).
- `utils.two_losses`: the learner's plan as code: one loss, two losses, frozen + new head, and
  the gradient-coupling demonstration (01, 07).
- `utils.benchmark`: seconds per epoch side by side, paired and alternating (03, 08).

Figures and running
- `utils.plots`: `save_figure` and every shared figure, the unrolled network included (all).
- `utils.notebook`: `setup_notebook(seed)`, `check_parameters(...)`, the machine (all).
- `utils.colab`: the Colab set-up cell every notebook carries and the README's badges, from
  the one address of the repository.
- `utils.paths`: where the data cache, results and figures live.
- `utils.run_notebooks`: `make run`, `make lab-run` and the tests' quick settings.
- `utils.report`: the README's results section, from `results/`.
"""

from .paths import DATA_DIR, FIGURES_DIR, RESULTS_DIR, ROOT

#: Imported on first use (PEP 562), so that `utils.paths` or `utils.run_notebooks` (make run's
#: process for each notebook) do not import TensorFlow, which costs seconds. A notebook's first
#: import, `from utils import setup_notebook`, loads `utils.notebook`, which quiets
#: TensorFlow's C++ start-up notes as it imports it.
_LAZY = {"set_seed": "notebook", "setup_notebook": "notebook", "HandmadeBidirectional": "layers"}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'utils' has no attribute {name!r}")
    import importlib

    from . import notebook  # noqa: F401  (first: it quiets TensorFlow's C++ logs)

    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)


__all__ = [
    "DATA_DIR",
    "FIGURES_DIR",
    "RESULTS_DIR",
    "ROOT",
    "HandmadeBidirectional",
    "set_seed",
    "setup_notebook",
]
