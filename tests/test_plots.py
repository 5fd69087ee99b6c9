"""Tests of the figures in `utils.diagrams`: what they draw, not only that they draw."""

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402
from matplotlib.path import Path  # noqa: E402

from utils.plots import draw_unrolled_birnn, plot_gradient_norms  # noqa: E402
from utils.reference import gradient_norm_frame  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def texts(ax):
    return [t.get_text() for t in ax.texts]


def arrows(ax, gid):
    return [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_gid() == gid]


def points_right(arrow) -> bool:
    """True if the arrow points to the right: its path starts at its leftmost point."""
    path = arrow.get_path()
    keep = np.ones(len(path.vertices), bool) if path.codes is None else path.codes != Path.CLOSEPOLY
    x = path.vertices[keep, 0]  # the shaft and the head, without the closing vertex
    if np.isclose(x[0], x.min()):
        return True
    assert np.isclose(x[0], x.max()), "arrow is neither left- nor right-pointing"
    return False


@pytest.mark.parametrize("T", [2, 4, 7])
def test_one_label_per_state_in_each_row(T):
    ax = draw_unrolled_birnn(T)
    for row in ("f", "b"):
        labels = [s for s in texts(ax) if re.fullmatch(rf"\$h\^{row}_\{{\d+\}}\$", s)]
        assert labels == [f"$h^{row}_{{{t}}}$" for t in range(1, T + 1)]
        gids = [t.get_gid() for t in ax.texts if (t.get_gid() or "").startswith(f"state:{row}:")]
        assert gids == [f"state:{row}:{t}" for t in range(1, T + 1)]
    assert sum(s == f"$x_{{{t}}}$" for t in range(1, T + 1) for s in texts(ax)) == T


@pytest.mark.parametrize("T", [2, 5])
def test_recurrence_and_gradient_arrows_run_opposite_ways(T):
    ax = draw_unrolled_birnn(T)
    ax.figure.canvas.draw()
    expected_right = {"rnn:f": True, "grad:f": False, "rnn:b": False, "grad:b": True}
    for gid, right in expected_right.items():
        found = arrows(ax, gid)
        assert len(found) == T - 1, gid
        assert all(points_right(a) == right for a in found), gid
    assert all(a.get_linestyle() != "-" for a in arrows(ax, "grad:f") + arrows(ax, "grad:b"))
    # Two inputs per time step (one into each direction), one gradient path into each last state.
    assert len(arrows(ax, "input")) == 2 * T
    assert len(arrows(ax, "grad:merge")) == 2


def test_merge_label_names_the_two_last_states():
    ax = draw_unrolled_birnn(6, merge="sum")
    (merge,) = [t.get_text() for t in ax.texts if t.get_gid() == "merge"]
    assert "h^f_{6}" in merge and "h^b_{1}" in merge and "+" in merge


def test_without_gradients_only_the_forward_computation_is_drawn():
    ax = draw_unrolled_birnn(4, show_gradients=False)
    gids = {p.get_gid() for p in ax.patches if isinstance(p, FancyArrowPatch)}
    assert not any(g.startswith("grad") for g in gids)
    assert len(arrows(ax, "rnn:f")) == len(arrows(ax, "rnn:b")) == 3


def test_draws_on_a_given_axes_and_rejects_bad_arguments():
    fig, ax = plt.subplots()
    assert draw_unrolled_birnn(3, ax=ax) is ax
    with pytest.raises(ValueError):
        draw_unrolled_birnn(1)
    with pytest.raises(ValueError):
        draw_unrolled_birnn(3, merge="max")


def test_gradient_norm_frame_and_plot():
    rng = np.random.default_rng(0)
    dh_f, dh_b = rng.standard_normal((2, 3, 5, 4))  # N=3 examples, T=5 steps, H=4 units
    frame = gradient_norm_frame(dh_f, dh_b)
    assert len(frame) == 2 * 3 * 5
    row = frame.query("direction == 'backward' and example == 2 and t == 4").norm.item()
    assert row == pytest.approx(np.linalg.norm(dh_b[2, 3]))
    ax = plot_gradient_norms(frame)
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "time step $t$"
