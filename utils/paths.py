"""Where things live: the project root, the data cache and the results folder.

Every path is absolute and derived from this file's location, so a notebook finds
`data/` and `results/` whether it runs from `notebooks/`, from the project root or
from a temporary copy made by the tests.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"  # download cache, git-ignored (see data/README.md)
# CSV files written by the experiments. The tests point BIRNN_RESULTS_DIR at a temporary
# folder, so a quick test run never overwrites the committed results.
RESULTS_DIR = Path(os.environ.get("BIRNN_RESULTS_DIR", ROOT / "results")).resolve()
FIGURES_DIR = RESULTS_DIR / "figures"  # every figure a notebook shows, as PNG
