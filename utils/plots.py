"""Figures: saving every figure a notebook shows under results/figures/."""

from pathlib import Path

import matplotlib.pyplot as plt

from .paths import FIGURES_DIR


def save_figure(fig: plt.Figure, name: str, folder: Path | None = None) -> Path:
    """Save `fig` as `results/figures/<name>.png` (tight bounding box) and return the path.

    Call it just before the figure is shown, so the saved file is what the reader sees.
    """
    folder = Path(folder) if folder is not None else FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, bbox_inches="tight")
    return path
