"""Every figure the notebooks share, and `save_figure`, which keeps a copy of each.

- `save_figure(fig, name)`: `results/figures/<name>.png`, the file a reader sees in the notebook.
- Pictures of the network: `draw_unrolled_birnn(T)`, the network unrolled over T steps with
  the one loss and the paths its gradient takes back into both directions (notebooks 01, 02);
  `plot_gradient_norms(frame)`, the size of dL/dh_t at every step of each direction (02).
- Results: `plot_accuracies` and `plot_needs_both` (07), `plot_error_signals` (07),
  `plot_direction_predictions`, `plot_accuracy_by_fraction` and `plot_padding_grid` (05),
  `plot_review` and `plot_f1` (06).
- `ReviewExplorer` (05): pick or type a review and see each direction's prediction so far and
  the model's verdict, word by word (ipywidgets; its callback `show` is a plain method).

The colours follow seaborn's "colorblind" palette, which `setup_notebook` sets: blue for the
forward direction, orange for the backward direction, vermilion for gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path as MplPath

from . import probes
from .experiments import mean_and_std
from .models import DIRECTION_NAMES
from .paths import FIGURES_DIR

FORWARD_COLOR = "#0173B2"  # seaborn colorblind blue
BACKWARD_COLOR = "#DE8F05"  # seaborn colorblind orange
GRADIENT_COLOR = "#D55E00"  # seaborn colorblind vermilion
INPUT_COLOR = "0.45"
HEAD_COLOR = "0.15"

#: How the merge box is labelled for each merge mode (mathtext; T is filled in).
MERGE_LABELS = {
    "concat": r"$m = [\,h^f_{%(T)s}\,;\,h^b_{1}\,]$",
    "sum": r"$m = h^f_{%(T)s} + h^b_{1}$",
    "ave": r"$m = (h^f_{%(T)s} + h^b_{1})\,/\,2$",
    "mul": r"$m = h^f_{%(T)s} \odot h^b_{1}$",
}

# Layout, in data units: column t sits at x = DX * (t - 1); rows are at these heights.
DX = 1.8
Y_INPUT, Y_FWD, Y_BWD, Y_MERGE, Y_HEAD, Y_LOSS = 0.0, 1.7, 3.5, 5.2, 6.3, 7.4
BOX_W, BOX_H = 0.8, 0.56


def _box(ax, xy, text, color, gid, width=BOX_W, fill="white", fontsize=13):
    """A rounded box centred at xy with a mathtext label; the label's gid is `gid`."""
    x, y = xy
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - BOX_H / 2), width, BOX_H,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=fill, edgecolor=color, linewidth=1.8, zorder=3,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=4, gid=gid)


def _arrow(ax, points, color, gid, dashed=False, lw=1.6, rad=None):
    """An arrow along the polyline `points` (or an arc between two points if `rad` is set)."""
    style = dict(
        arrowstyle="-|>", mutation_scale=13, color=color, linewidth=lw,
        linestyle=(0, (4, 2.5)) if dashed else "-", zorder=2 if not dashed else 5,
        shrinkA=0, shrinkB=0, gid=gid,
    )
    if rad is not None:
        patch = FancyArrowPatch(points[0], points[-1], connectionstyle=f"arc3,rad={rad}", **style)
    else:
        patch = FancyArrowPatch(path=MplPath(points), **style)
    ax.add_patch(patch)
    return patch


def draw_unrolled_birnn(T=4, ax=None, show_gradients=True, merge="concat"):
    """Draw a bidirectional RNN unrolled over ``T`` time steps and return the matplotlib Axes.

    Read it from the bottom up:

    - the inputs x_1 .. x_T (grey), each read by *both* directions;
    - the forward row h^f_1 .. h^f_T (blue), computed left to right from h^f_0 = 0;
    - the backward row h^b_1 .. h^b_T (orange), computed right to left from h^b_{T+1} = 0;
    - the merge m of each direction's *last* state: h^f_T (it has read x_1 .. x_T) and h^b_1
      (it has read x_T .. x_1). This is what ``keras.layers.Bidirectional`` returns with
      ``return_sequences=False``; the other states reach the head only through these two;
    - the head y-hat = sigmoid(m w_y + b_y) and the one loss L.

    With ``show_gradients=True`` the dashed vermilion arrows show backpropagation through time:
    the gradient of L goes down through the head and the merge, splits between h^f_T and h^b_1,
    then runs along each row *against* that row's reading order: right to left (t = T -> 1) in
    the forward row, left to right (t = 1 -> T) in the backward row.

    Every state label is a text artist with gid ``"state:f:<t>"`` or ``"state:b:<t>"``; the
    arrows carry gids such as ``"rnn:f"``, ``"rnn:b"``, ``"grad:f"``, ``"grad:b"`` (one per
    step between two states), so tests and curious readers can find them.

    ``merge`` ("concat", "sum", "ave" or "mul") only changes the label of the merge box.
    """
    if T < 2:
        raise ValueError(f"T must be at least 2, got {T}")
    if merge not in MERGE_LABELS:
        raise ValueError(f"merge must be one of {tuple(MERGE_LABELS)}, got {merge!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(1.45 * DX * T + 3.5, 6.2))
    xs = [DX * t for t in range(T)]  # xs[t - 1] is the column of time step t
    x_mid, x_right = (xs[0] + xs[-1]) / 2, xs[-1]
    half_w, half_h = BOX_W / 2, BOX_H / 2
    off = 0.11  # vertical offset between a computation arrow and its gradient twin

    # Inputs, and the two rows of states.
    for t, x in enumerate(xs, start=1):
        _box(ax, (x, Y_INPUT), f"$x_{{{t}}}$", INPUT_COLOR, f"input:{t}", fill="0.95")
        _box(ax, (x, Y_FWD), f"$h^f_{{{t}}}$", FORWARD_COLOR, f"state:f:{t}", fill="#E6F1F8")
        _box(ax, (x, Y_BWD), f"$h^b_{{{t}}}$", BACKWARD_COLOR, f"state:b:{t}", fill="#FCF1DE")
        _arrow(ax, [(x, Y_INPUT + half_h), (x, Y_FWD - half_h)], INPUT_COLOR, "input", lw=1.2)
        # To h^b_t: an arc that crosses the forward row halfway between two of its states.
        _arrow(
            ax, [(x + 0.18, Y_INPUT + half_h), (x + 0.18, Y_BWD - half_h)], INPUT_COLOR,
            "input", lw=1.2, rad=0.5,
        )

    # Recurrence (solid) and, just below it, the gradient going the other way (dashed).
    for x0, x1 in zip(xs[:-1], xs[1:], strict=True):
        left, right = x0 + half_w, x1 - half_w
        _arrow(ax, [(left, Y_FWD + off), (right, Y_FWD + off)], FORWARD_COLOR, "rnn:f")
        _arrow(ax, [(right, Y_BWD + off), (left, Y_BWD + off)], BACKWARD_COLOR, "rnn:b")
        if show_gradients:
            _arrow(ax, [(right, Y_FWD - off), (left, Y_FWD - off)], GRADIENT_COLOR, "grad:f",
                   dashed=True)
            _arrow(ax, [(left, Y_BWD - off), (right, Y_BWD - off)], GRADIENT_COLOR, "grad:b",
                   dashed=True)

    # Initial states: h^f_0 = 0 on the left, h^b_{T+1} = 0 on the right.
    x_init_f, x_init_b = xs[0] - 1.25, x_right + 1.25
    ax.text(x_init_f, Y_FWD, r"$h^f_0 = 0$", ha="center", va="center", fontsize=11,
            color=FORWARD_COLOR, gid="init:f")
    ax.text(x_init_b, Y_BWD, rf"$h^b_{{{T + 1}}} = 0$", ha="center", va="center", fontsize=11,
            color=BACKWARD_COLOR, gid="init:b")
    _arrow(ax, [(x_init_f + 0.5, Y_FWD + off), (xs[0] - half_w, Y_FWD + off)], FORWARD_COLOR,
           "init")
    _arrow(ax, [(x_init_b - 0.55, Y_BWD + off), (x_right + half_w, Y_BWD + off)], BACKWARD_COLOR,
           "init")

    # Merge, head and loss, stacked above the middle of the sequence.
    merge_w = 2.6
    _box(ax, (x_mid, Y_MERGE), MERGE_LABELS[merge] % {"T": T}, HEAD_COLOR, "merge",
         width=merge_w, fontsize=12)
    _box(ax, (x_mid, Y_HEAD), r"$\hat y = \sigma(m\,w_y + b_y)$", HEAD_COLOR, "head",
         width=merge_w, fontsize=12)
    _box(ax, (x_mid, Y_LOSS), r"$L = \mathrm{BCE}(\hat y,\, y)$", GRADIENT_COLOR, "loss",
         width=merge_w, fill="#FBE9E0", fontsize=12)
    for y0, y1 in ((Y_MERGE, Y_HEAD), (Y_HEAD, Y_LOSS)):
        _arrow(ax, [(x_mid - 0.2, y0 + half_h), (x_mid - 0.2, y1 - half_h)], HEAD_COLOR, "head")

    # Only the last state of each direction enters the merge: h^f_T (routed round the right
    # side, outside h^b_{T+1} = 0) and h^b_1 (straight up).
    x_route = x_right + 2.25
    m_left, m_right = x_mid - merge_w / 2, x_mid + merge_w / 2
    _arrow(ax, [(x_right + half_w, Y_FWD + off), (x_route, Y_FWD + off), (x_route, Y_MERGE + off),
                (m_right, Y_MERGE + off)], FORWARD_COLOR, "merge:f", lw=2)
    _arrow(ax, [(xs[0] - 0.12, Y_BWD + half_h), (xs[0] - 0.12, Y_MERGE + off),
                (m_left, Y_MERGE + off)], BACKWARD_COLOR, "merge:b", lw=2)

    if show_gradients:
        for y0, y1 in ((Y_LOSS, Y_HEAD), (Y_HEAD, Y_MERGE)):
            _arrow(ax, [(x_mid + 0.2, y0 - half_h), (x_mid + 0.2, y1 + half_h)], GRADIENT_COLOR,
                   "grad:head", dashed=True)
        g = x_route - 0.22
        _arrow(ax, [(m_right, Y_MERGE - off), (g, Y_MERGE - off), (g, Y_FWD - off),
                    (x_right + half_w, Y_FWD - off)], GRADIENT_COLOR, "grad:merge",
               dashed=True)
        _arrow(ax, [(m_left, Y_MERGE - off), (xs[0] + 0.12, Y_MERGE - off),
                    (xs[0] + 0.12, Y_BWD + half_h)], GRADIENT_COLOR, "grad:merge",
               dashed=True)
        ax.text(x_mid + merge_w / 2 + 0.2, Y_LOSS, "one loss,\none backward pass", ha="left",
                va="center", color=GRADIENT_COLOR, fontsize=10.5, style="italic")

    # Row names on the left; under each, the direction of its BPTT sweep.
    x_names = x_init_f - 0.6
    rows = (
        (Y_INPUT, "inputs", INPUT_COLOR, None),
        (Y_FWD, "forward RNN\n" + rf"reads $x_1 \rightarrow x_{{{T}}}$", FORWARD_COLOR,
         rf"gradient flows $t = {T} \rightarrow 1$"),
        (Y_BWD, "backward RNN\n" + rf"reads $x_{{{T}}} \rightarrow x_1$", BACKWARD_COLOR,
         rf"gradient flows $t = 1 \rightarrow {T}$"),
    )
    for y, name, color, sweep in rows:
        ax.text(x_names, y + 0.08, name, ha="right", va="center", fontsize=11, color=color,
                fontweight="bold")
        if show_gradients and sweep is not None:
            ax.text(x_names, y - 0.42, sweep, ha="right", va="top", fontsize=10.5,
                    color=GRADIENT_COLOR, style="italic")

    handles = [
        Line2D([], [], color=FORWARD_COLOR, lw=2, label="forward direction"),
        Line2D([], [], color=BACKWARD_COLOR, lw=2, label="backward direction"),
        Line2D([], [], color=INPUT_COLOR, lw=1.2, label="input, read by both"),
    ]
    if show_gradients:
        handles.append(Line2D([], [], color=GRADIENT_COLOR, lw=1.6, ls=(0, (4, 2.5)),
                              label=r"gradient of $L$ (BPTT)"))
    ax.legend(handles=handles, loc="upper left", frameon=False, fontsize=10)

    ax.set_xlim(x_names - 2.3, x_route + 0.4)
    ax.set_ylim(Y_INPUT - 0.7, Y_LOSS + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def plot_gradient_norms(frame: pd.DataFrame, ax=None, title=None):
    """Plot ||dL/dh_t|| against t for both directions (log scale) and return the Axes.

    Thin lines are single examples, thick lines with dots the batch mean. Two annotations mark
    where the loss's gradient enters each direction (t = T forward, t = 1 backward) and the
    arrow of each BPTT sweep.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    palette = {"forward": FORWARD_COLOR, "backward": BACKWARD_COLOR}
    sns.lineplot(data=frame, x="t", y="norm", hue="direction", units="example", estimator=None,
                 palette=palette, lw=0.7, alpha=0.25, legend=False, ax=ax)
    sns.lineplot(data=frame, x="t", y="norm", hue="direction", palette=palette, errorbar=None,
                 lw=2.5, marker="o", markersize=5, ax=ax)
    ax.set_yscale("log")
    T = int(frame.t.max())
    mean = frame.groupby(["direction", "t"]).norm.mean()
    notes = (
        ("forward", T, f"forward: enters at $t={T}$,\nflows toward $t=1$", -0.12, "right"),
        ("backward", 1, f"backward: enters at $t=1$,\nflows toward $t={T}$", 0.12, "left"),
    )
    top = frame.norm.max()
    for direction, t, text, dx, ha in notes:
        ax.annotate(text, xy=(t, mean[(direction, t)]), xytext=(t + dx * T, top * 10**0.9), ha=ha,
                    va="center", color=palette[direction], fontsize=10,
                    arrowprops=dict(arrowstyle="->", color=palette[direction]))
    ax.set_ylim(top=top * 10**1.6)
    ax.set(xlabel="time step $t$", ylabel=r"$\|\partial L / \partial h_t\|$ (log scale)",
           title=title or "Two sweeps, one loss")
    ax.set_xlim(0.5, T + 0.5)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.6", lw=0.7))
    labels.append("one sequence each")
    ax.legend(handles, labels, title=None, loc="lower center", ncols=3, frameon=False)
    return ax


def save_figure(fig: plt.Figure, name: str, folder: Path | None = None) -> Path:
    """Save `fig` as `results/figures/<name>.png` (tight bounding box) and return the path.

    Call it just before the figure is shown, so the saved file is what the reader sees.
    """
    folder = Path(folder) if folder is not None else FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, bbox_inches="tight")
    return path


def plot_accuracies(results: pd.DataFrame, metric: str = "test_accuracy",
                    order: Sequence[str] | None = None):
    """Every seed as a dot, and each variant's mean with its 95 % t interval (black); the
    variants in `order` (default: as they first appear in `results`)."""
    summary = mean_and_std(results, metric, ci=True)[metric]
    order = [v for v in (order or summary.index) if v in summary.index]
    fig, ax = plt.subplots(figsize=(8, 4))
    sns.stripplot(data=results, y="variant", x=metric, hue="seed", order=order, ax=ax,
                  palette="colorblind", size=7, jitter=0.15, alpha=0.8)
    summary = summary.loc[order]
    ax.errorbar(summary["mean"], np.arange(len(order)), fmt="D", color="k", capsize=4,
                xerr=[summary["mean"] - summary["ci_low"], summary["ci_high"] - summary["mean"]],
                label="mean, 95 % CI")
    ax.set(ylabel="", xlabel=metric.replace("_", " "))
    ax.legend(title="seed", loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return fig


def plot_error_signals(long: pd.DataFrame):
    """Scatter of one-loss error vs own-loss error, one panel per direction, with y = x."""
    grid = sns.relplot(data=long, x="own loss", y="one loss", col="direction",
                       hue="other direction",
                       hue_order=["not confident or wrong", "confidently right"],
                       s=12, alpha=0.5, height=3.6, aspect=1.1)
    for ax in grid.axes.flat:
        ax.plot([-1, 1], [-1, 1], "k--", lw=1)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set(xlim=(-1.02, 1.02), ylim=(-1.02, 1.02))
    grid.set_axis_labels("error from its own head, p_dir - y  (b)",
                         "error from one loss, p - y")
    return grid.figure


def plot_needs_both(results: pd.DataFrame, order: Sequence[str]):
    """Test accuracy per variant on the needs-both task, one dot per seed, chance at 0.5."""
    fig, ax = plt.subplots(figsize=(7, 3))
    sns.stripplot(data=results, y="variant", x="test_accuracy", hue="seed", order=order,
                  ax=ax, palette="colorblind", size=8, jitter=0.15)
    ax.axvline(0.5, color="grey", ls="--", lw=1, label="chance")
    ax.set(xlim=(0.4, 1.02), ylabel="", xlabel="test accuracy (per step)")
    ax.legend(title="seed", loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return fig


def plot_review(words, labels, probabilities: dict, threshold: dict | None = None, title=""):
    """Each model's probability of a boundary at every word of one review, the true boundary
    words shaded; `probabilities` maps a model's name to its per-word values."""
    import matplotlib.pyplot as plt

    n = len(words)
    fig, axes = plt.subplots(len(probabilities), 1, figsize=(max(8, 0.22 * n), 1.6 * len(
        probabilities) + 1.2), sharex=True, squeeze=False)
    for ax, (name, p) in zip(axes[:, 0], probabilities.items(), strict=True):
        for t in np.flatnonzero(labels):
            ax.axvspan(t - 0.5, t + 0.5, color="tab:green", alpha=0.25, lw=0)
        ax.bar(np.arange(n), p[:n], color="tab:blue", width=0.7)
        if threshold and name in threshold:
            ax.axhline(threshold[name], color="black", lw=0.8, ls="--")
        ax.set_ylim(0, 1)
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
    axes[-1, 0].set_xticks(np.arange(n), words, rotation=90, fontsize=8)
    axes[-1, 0].set_xlim(-0.5, n - 0.5)
    axes[0, 0].set_title(title or "P(boundary) per word; true boundary words shaded green")
    fig.tight_layout()
    return fig


def plot_f1(results, order=None):
    """Test F1 of every variant, one dot per seed, the mean as a bar."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    order = order or list(results.groupby("variant")["test_f1"].mean().sort_values().index)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    sns.barplot(results, x="variant", y="test_f1", order=order, errorbar=None, alpha=0.5, ax=ax)
    sns.stripplot(results, x="variant", y="test_f1", order=order, color="black", ax=ax)
    ax.set_ylabel("test F1 (boundary words)")
    ax.set_xlabel("")
    fig.tight_layout()
    return fig


def plot_direction_predictions(words: Sequence[str], p_f, p_b, p_model: float, title: str = ""):
    """Each direction's prediction so far along one review's words: lines, and a heatmap."""
    n = len(words)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(max(8.0, 0.17 * n), 5.5), sharex=True,
        gridspec_kw={"height_ratios": [3, 1]},
    )
    x = np.arange(n) + 0.5
    frame = pd.DataFrame({"position": np.tile(x, 2), "P(positive)": np.concatenate([p_f, p_b]),
                          "direction": np.repeat(["forward (read 1..t)", "backward (read t..T)"],
                                                 n)})
    sns.lineplot(data=frame, x="position", y="P(positive)", hue="direction", marker="o",
                 markersize=3, ax=top)
    top.axhline(0.5, color="grey", lw=0.8, ls=":")
    top.axhline(p_model, color="k", lw=1, ls="--", label=f"the model (both): {p_model:.2f}")
    top.legend(loc="best", fontsize=8)
    top.set(ylim=(0, 1), title=title, ylabel="prediction so far")
    sns.heatmap(np.vstack([p_f, p_b]), ax=bottom, cmap="vlag", vmin=0, vmax=1, center=0.5,
                cbar=False, yticklabels=["forward", "backward"])
    bottom.set_xticks(x)
    bottom.set_xticklabels(words, rotation=90, fontsize=7)
    bottom.tick_params(axis="y", rotation=0)
    bottom.set_xlabel("")
    fig.tight_layout()
    return fig


def plot_accuracy_by_fraction(frame: pd.DataFrame, model_accuracy: float):
    """Accuracy of each direction alone against the fraction of the review it has read."""
    fig, ax = plt.subplots()
    sns.lineplot(data=frame, x="fraction read", y="accuracy", hue="direction", marker="o", ax=ax)
    ax.axhline(model_accuracy, color="k", ls="--", lw=1, label="the model (both, all words)")
    ax.axhline(0.5, color="grey", ls=":", lw=0.8, label="chance")
    ax.legend(loc="lower right")
    ax.set(title="What each direction alone would predict, as it reads",
           xlabel="fraction of the review this direction has read",
           ylabel="accuracy of its prediction so far")
    return fig


def plot_padding_grid(results: pd.DataFrame):
    """Test accuracy of the 12 variants: model kind x padding side, masked or not."""
    grid = sns.catplot(data=results, kind="bar", x="direction", y="test_accuracy",
                       hue="padding", col="mask", col_order=["masked", "not masked"],
                       sharex=False,
                       order=list(DIRECTION_NAMES.values()), hue_order=["post", "pre"],
                       errorbar=("pi", 100) if results.seed.nunique() > 1 else None,
                       alpha=0.6,
                       height=3.8, aspect=1.2)
    grid.set_titles("{col_name}")
    for ax in grid.axes.flat:
        ax.axhline(0.5, color="grey", ls=":", lw=1)
        ax.set(ylim=(0.4, 1), xlabel="", ylabel="test accuracy")
    grid.figure.suptitle("Padding side x masking, for each kind of RNN", y=1.03)
    return grid.figure


class ReviewExplorer:
    """Pick a test review or type one: each direction's prediction so far, and the verdict.

    `widget` holds a dropdown of `examples` (name -> review text), a text box (picking a
    review copies its text there; a typed text is read when the box loses focus), the
    verdict line and the figure of `plot_direction_predictions`. The callback is `show(text)`:
    it reads `text` with `probes.read_review` (the model's `vocabulary`, so a word it does not
    know becomes `[UNK]`), keeps the result in `reading` (None for a text without words),
    writes `verdict` and puts the figure, as a PNG, in the `picture` widget (an image, not an
    `Output` widget: a notebook runner such as papermill answers an `Output` widget's updates
    while the cell runs, and nbclient can then hang; jupyter/nbclient#312). The first example
    is shown at once. Where widgets do not render (GitHub, papermill), `figure()` draws the
    same as a plain figure.
    """

    def __init__(self, model, vocabulary, examples: dict, stand_in: dict | None = None,
                 maxlen: int | None = None):
        import ipywidgets as w

        self.model, self.vocabulary, self.examples = model, vocabulary, dict(examples)
        self.stand_in, self.maxlen, self.reading = stand_in, maxlen, None
        self.choice = w.Dropdown(options=list(self.examples), description="review",
                                 layout=w.Layout(width="95%"))
        self.text = w.Textarea(placeholder="type a review; it is read when you click outside",
                               continuous_update=False, layout=w.Layout(width="95%", height="7em"))
        self.verdict, self.picture = w.HTML(), w.Image(format="png")
        self.widget = w.VBox([self.choice, self.text, self.verdict, self.picture])
        self.choice.observe(lambda change: self.pick(change["new"]), names="value")
        self.text.observe(lambda change: self.show(change["new"]), names="value")
        self.pick(self.choice.value)

    def pick(self, name: str) -> None:
        """Copy the example's text into the text box, which shows it."""
        if self.text.value == self.examples[name]:
            self.show(self.text.value)  # the same text: no change event, show it anyway
        else:
            self.text.value = self.examples[name]

    def show(self, text: str) -> probes.ReviewReading | None:
        """The callback: read `text`, then update the verdict line and the figure."""
        import io

        try:
            self.reading = probes.read_review(self.model, text, self.vocabulary,
                                              stand_in=self.stand_in, maxlen=self.maxlen)
        except ValueError as error:
            self.reading = None
            self.verdict.value = f"<b>{error}</b>"
            self.picture.value = b""
            return None
        self.verdict.value = f"<b>{self.reading.verdict}</b>"
        fig, png = self.figure(), io.BytesIO()
        fig.savefig(png, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)  # shown in the widget only (the inline backend would show it again)
        self.picture.value = png.getvalue()
        return self.reading

    def show_widget(self) -> None:
        """Display the widget. Its plain-text form (what GitHub and papermill show) is a short
        note instead of the widget's repr; ipywidgets 7 (older runtimes) has no mime bundle
        to edit and displays itself."""
        from IPython.display import display

        bundle = getattr(self.widget, "_repr_mimebundle_", None)
        if bundle is None:
            display(self.widget)
            return
        display({**bundle(), "text/plain": "(the interactive explorer: it needs a live kernel)"},
                raw=True)

    def figure(self, title: str = "") -> plt.Figure:
        """The current reading as a plain figure (`plot_direction_predictions`)."""
        r = self.reading
        if r is None:
            raise ValueError(probes.EMPTY_REVIEW)
        return plot_direction_predictions(r.words, r.p_f, r.p_b, r.p_model,
                                          title=title or "Each direction's prediction so far")
