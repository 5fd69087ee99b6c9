"""Shared code for the bidirectional-RNN notebooks.

Modules, named for what they hold:

- `utils.paths`: where the data cache, results and figures live.
- `utils.notebook`: `setup_notebook(seed)`, the first call of every notebook.
- `utils.data`: `load_imdb(...)`, the IMDB reviews as padded integer arrays.
- `utils.plots`: `save_figure(fig, name)` and the figures used by several notebooks.
"""

from .notebook import set_seed, setup_notebook  # first: it quiets TensorFlow's C++ logs
from .paths import DATA_DIR, FIGURES_DIR, RESULTS_DIR, ROOT

from .layers import HandmadeBidirectional  # isort: skip (after .notebook: it quiets TF)

__all__ = [
    "DATA_DIR",
    "FIGURES_DIR",
    "RESULTS_DIR",
    "ROOT",
    "HandmadeBidirectional",
    "set_seed",
    "setup_notebook",
]
