"""Figures of a price-and-choose run: the share simplex (seed 000, Figure 1) and the state prices.

Left panel: for three players, the simplex of marginal shares ``q = (q_1, q_2, q_3)`` (barycentric
coordinates: ``q_1 = 1`` bottom left, ``q_2 = 1`` bottom right, ``q_3 = 1`` top) with every share
column of the menu (grey) and the optimum's columns (one star per gap; a single point ``q* = w`` for
a proportional rule, the paper's Figure 1). For other ``n``: the optimum's allocations ``f_i(x)``.

Right panel: the state-price density ``nu_k / P_k`` read from the optimum against the Esscher tilt
``exp(-lam X) / E_P[exp(-lam X)]`` of the reference law (equal under a common prior; they differ
under heterogeneous or credal beliefs).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...plots import finish_figure, pyplot, save_figure
from .pools import lattice_steps

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .report import PriceAndChooseView

__all__ = ["plot_result", "result_figure", "simplex_xy"]

MAX_LINES = 12


def simplex_xy(q: np.ndarray) -> np.ndarray:
    """Barycentric ``(q_1, q_2, q_3)`` -> plane: ``q_2 (1, 0) + q_3 (1/2, sqrt(3)/2)``."""
    q = np.asarray(q, float)
    return np.stack([q[..., 1] + 0.5 * q[..., 2], (np.sqrt(3) / 2) * q[..., 2]], axis=-1)


def plot_result(result: PriceAndChooseView, path: str | Path, title: str = "") -> Path:
    """Write the two-panel figure of ``result`` to ``path``."""
    return save_figure(result_figure(result, title), path, dpi=120)


def result_figure(result: PriceAndChooseView, title: str = "") -> Figure:
    """The two-panel matplotlib figure of ``result`` (see the module docstring)."""
    plt = pyplot()
    opt = result.optimum.optimum
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.6))
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
        ax1.legend(loc="upper left", fontsize=8, frameon=False)
    else:
        names = result.spec.pool.names
        shown = range(opt.n) if opt.n <= MAX_LINES else range(0, opt.n, max(1, opt.n // MAX_LINES))
        for i in shown:
            ax1.plot(opt.x, opt.F[i], marker=".", label=names[i])
        ax1.plot(opt.x, opt.x, ":", color="black", lw=0.8, label="X")
        ax1.set_xlabel("aggregate X")
        ax1.set_ylabel("allocation f_i(X)")
        ax1.set_title("optimum over C" + ("" if opt.n <= MAX_LINES else f" ({len(shown)} of {opt.n})"))
        if opt.n <= MAX_LINES:
            ax1.legend(fontsize=7)
    steps = lattice_steps(result.optimum.atoms)
    ax2.semilogy(steps, opt.density, "o", label="state-price density (optimum)")
    ax2.semilogy(steps, result.optimum.esscher_density, "-", lw=1, label="Esscher tilt of P")
    ax2.set_xlabel("number of hits" if result.spec.pool.tick is None else "loss / tick")
    ax2.set_ylabel("dQ/dP")
    ax2.set_title("state prices")
    ax2.legend(fontsize=8)
    figure: Figure = finish_figure(fig, title)
    return figure
