"""Pictures of a bidirectional RNN and of the gradients flowing through it.

- `draw_unrolled_birnn(T)`: the network unrolled over T time steps, with the one loss and the
  paths its gradient takes back into both directions (notebook 02).
- `gradient_norm_frame(dh_f, dh_b)` and `plot_gradient_norms(frame)`: how large the gradient
  dL/dh_t is at every time step of each direction, for the ``dh`` that
  `utils.reference.backward` returns.

The colours follow seaborn's "colorblind" palette, which `setup_notebook` sets: blue for the
forward direction, orange for the backward direction, vermilion for gradients.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path

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
        patch = FancyArrowPatch(path=Path(points), **style)
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
