"""3D plots of hand skeletons (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from diffuhand.io.files import atomic_path
from diffuhand.kinematics.skeleton import FINGERS, PARENTS

FINGER_COLOURS = ("#d62728", "#2ca02c", "#1f77b4", "#9467bd", "#ff7f0e")  # thumb .. pinky


def new_figure(size: tuple[float, float]):
    """A matplotlib figure of ``size`` inches drawn by Agg, outside pyplot: the caller's backend and open figures
    are left alone (no global ``matplotlib.use``), and the figure is freed with its last reference."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def _bone_colour(child: int) -> str:
    return FINGER_COLOURS[(child - 1) // 4]


def draw_skeleton(ax, joints: np.ndarray, *, alpha: float = 1.0, lw: float = 2.0) -> None:
    """Draw one (21, 3) canonical-order skeleton on a 3D axis, each finger in its colour."""
    for j in range(1, 21):
        p, c = joints[PARENTS[j]], joints[j]
        ax.plot([p[0], c[0]], [p[1], c[1]], [p[2], c[2]], color=_bone_colour(j), lw=lw, alpha=alpha)


def plot_fits(
    path: str | Path,
    fitted: np.ndarray,
    given: np.ndarray | None = None,
    titles: Sequence[str] | None = None,
    unit: str = "mm",
    cols: int = 4,
) -> None:
    """Write a PNG with one 3D panel per pose: the fitted skeleton (lines) and the given joints (black dots).

    Args:
        fitted: (N, 21, 3) fitted joints; given: (N, 21, 3) input joints or None. Camera frame: the view looks
            along +z with y down, as the camera sees the hand.
    """
    from matplotlib.lines import Line2D

    n = len(fitted)
    cols = min(cols, n)
    rows = (n + cols - 1) // cols
    fig = new_figure((3.4 * cols, 3.4 * rows + 0.4))
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1, projection="3d")
        pts = fitted[i] if given is None else np.concatenate([fitted[i], given[i]])
        centre = (pts.max(0) + pts.min(0)) / 2
        half = max(float((pts.max(0) - pts.min(0)).max()) / 2, 1e-6) * 1.05
        draw_skeleton(ax, fitted[i])
        if given is not None:
            ax.scatter(*given[i].T, c="k", s=7, depthshade=False)
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_zlim(centre[2] - half, centre[2] + half)
        ax.view_init(elev=-70, azim=-90)  # roughly the camera's view: y down, z away
        ax.tick_params(labelsize=5, pad=0)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9, pad=12)
    handles = [Line2D([], [], color=c, lw=2, label=f) for c, f in zip(FINGER_COLOURS, FINGERS)]
    if given is not None:
        handles.append(Line2D([], [], color="k", marker="o", ls="", ms=3, label="input joints"))
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=len(handles),
        fontsize=8,
        frameon=False,
        title=f"camera frame, {unit}; seen along +z with y down",
        title_fontsize=8,
    )
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
