"""Figures of a price-and-choose run: the share simplex (Ogaku 2025, Figure 1) and the state prices.

Left panel: for three players, the simplex of marginal shares ``q = (q_1, q_2, q_3)`` (barycentric
coordinates: ``q_1 = 1`` bottom left, ``q_2 = 1`` bottom right, ``q_3 = 1`` top) with every share
column of the menu (grey) and the optimum's columns (one star per gap; a single point ``q* = w`` for
a proportional rule, the paper's Figure 1). For other ``n``: the optimum's allocations ``f_i(x)``
against the aggregate loss (the ``TOP_K`` agents bearing the most risk by name, the others as a band).

Right panel: the state-price density ``nu_k / P_k`` read from the optimum against the Esscher tilt
``exp(-lam X) / E_P[exp(-lam X)]`` of the reference law (equal under a common prior; they differ
under heterogeneous or credal beliefs).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...plots import draw_top_k, figure_function, finish_figure, pyplot, readable_log, save_figure
from .pools import lattice_steps

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .report import PriceAndChooseView

__all__ = ["plot_result", "result_figure", "simplex_xy"]


def simplex_xy(q: np.ndarray) -> np.ndarray:
    """Barycentric ``(q_1, q_2, q_3)`` -> plane: ``q_2 (1, 0) + q_3 (1/2, sqrt(3)/2)``."""
    q = np.asarray(q, float)
    return np.stack([q[..., 1] + 0.5 * q[..., 2], (np.sqrt(3) / 2) * q[..., 2]], axis=-1)


def plot_result(result: PriceAndChooseView, path: str | Path, title: str = "") -> Path:
    """Write the two-panel figure of ``result`` to ``path``."""
    return save_figure(result_figure(result, title), path)


@figure_function
def result_figure(result: PriceAndChooseView, title: str = "") -> Figure:
    """The two-panel matplotlib figure of ``result`` (see the module docstring)."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    opt = result.optimum.optimum
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.6))
    steps_label = "number of hits" if result.spec.pool.tick is None else "aggregate loss (ticks)"
    if opt.n == 3:
        corners = simplex_xy(np.eye(3))
        ax1.fill(corners[:, 0], corners[:, 1], facecolor="none", edgecolor="black", lw=1)
        for (x, y), label in zip(corners, ("q1 = 1", "q2 = 1", "q3 = 1"), strict=True):
            ax1.annotate(label, (x, y), textcoords="offset points", xytext=(0, 6 if y > 0 else -14),
                         ha="center")
        if result.menu is not None:
            A = result.menu.allocations
            shares = -np.diff(A, axis=2) / opt.gaps[None, None, :]          # (M, n, K)
            cols = np.unique(np.round(shares.transpose(0, 2, 1).reshape(-1, 3), 12), axis=0)
            pts = simplex_xy(cols)
            ax1.plot(pts[:, 0], pts[:, 1], ".", color="0.55", ms=7 if len(cols) < 50 else 3,
                     label=f"menu share columns ({len(cols)})")
        star = simplex_xy(opt.shares.T)
        ax1.plot(star[:, 0], star[:, 1], "*", color="crimson", ms=13, label="optimum q*")
        if np.ptp(opt.shares, axis=1).max() > 1e-9:
            for k, (x, y) in enumerate(star, start=1):
                ax1.annotate(f"gap {k}", (x, y), textcoords="offset points", xytext=(6, 4), fontsize=7)
        ax1.set_aspect("equal")
        ax1.axis("off")
        ax1.set_title("simplex of marginal shares")
        ax1.legend(loc="upper right", frameon=False)
    else:
        names = result.spec.pool.names
        shown = draw_top_k(ax1, np.asarray(opt.x, float), np.asarray(opt.F, float), names,
                           marker="." if len(opt.x) <= 60 else None)
        ax1.set_xlabel("aggregate outcome x (loss units, losses < 0)")
        ax1.set_ylabel("allocation f_i(x) (loss units)")
        ax1.set_title("optimum over C" + ("" if len(shown) == opt.n else
                                          f": {len(shown)} of {opt.n} agents with the widest range"))
        ax1.legend(loc="best")
    steps = lattice_steps(result.optimum.atoms)
    ax2.plot(steps, opt.density, "o", label="optimum (budget duals)")
    ax2.plot(steps, result.optimum.esscher_density, "-", color="black", lw=1, label="Esscher tilt of P")
    ax2.set_yscale("log")
    readable_log(ax2)
    ax2.set_xlabel(steps_label)
    ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set_ylabel("state-price density dQ/dP (log scale)")
    ax2.set_title("state prices")
    ax2.legend(loc="best")
    figure: Figure = finish_figure(fig, title)
    return figure
