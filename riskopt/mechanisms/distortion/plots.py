"""Figures of the distortion mechanisms' results (matplotlib: the ``plots`` extra).

The functions take what they draw (the results call them), so this module imports no result.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...measures.distortion import DistortionFunction
from ...plots import draw_top_k, figure_function, finish_figure, pyplot, save_figure
from .comonotone import ComonotoneResult
from .convolution import PointwiseMin, Representative
from .jackpot import Jackpot, jackpot_events

__all__ = ["plot_portfolio", "plot_sharing", "portfolio_figure", "sharing_figure"]


def plot_sharing(path: str | Path, title: str, *, names: Sequence[str], hs: Sequence[DistortionFunction],
                 representative: Representative | None, jackpot: Jackpot | None,
                 comonotone: ComonotoneResult) -> None:
    """Write :func:`sharing_figure` to ``path``."""
    save_figure(sharing_figure(title, names=names, hs=hs, representative=representative, jackpot=jackpot,
                               comonotone=comonotone), path)


@figure_function
def sharing_figure(title: str, *, names: Sequence[str], hs: Sequence[DistortionFunction],
                   representative: Representative | None, jackpot: Jackpot | None,
                   comonotone: ComonotoneResult) -> Any:
    """Left: ``h_i``, ``min h_i`` and ``h~``; right: the jackpot events of Lemma 3 on the ``(W, V)``
    square (one colour per agent, named in the legend), or the comonotone allocation ``f_i(x)``."""
    plt = pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    t = np.linspace(0.0, 1.0, 401)
    for nm, h in zip(names, hs, strict=True):
        ax1.plot(t, h(t), lw=1, label=f"{nm}: {h.describe()}")
    ax1.plot(t, PointwiseMin(hs)(t), "k--", lw=1.5, label="min h_i (comonotone)")
    if representative is not None:
        ax1.plot(t, representative(t), color="C3", lw=2, label="h~ (Theorem 3, not normalised)")
    ax1.set_xlabel("t (probability level)")
    ax1.set_ylabel("distortion h(t)")
    ax1.set_title("distortion functions")
    ax1.legend(loc="best")
    if representative is not None and jackpot is not None:
        w, v = np.meshgrid(np.linspace(0, 1, 301), np.linspace(0, 1, 301))
        ev = jackpot_events(representative, w, v)
        n = len(names)
        colours = [f"C{i % 7}" for i in range(n)]
        ax2.pcolormesh(w, v, ev, shading="auto", cmap=ListedColormap(colours), vmin=-0.5, vmax=n - 0.5)
        if jackpot.atoms.size <= 20:  # the atoms' W-intervals (few atoms only)
            for s in np.cumsum(jackpot.pieces.sum(axis=1))[:-1]:
                ax2.axvline(s, color="w", lw=0.8, ls=":")
        ax2.set_xlabel("W: tail level of the loss (1 - U_X)")
        ax2.set_ylabel("V: independent uniform")
        ax2.set_title("jackpot events A_i (Lemma 3): who pays")
        payers = [Patch(color=c, label=f"{nm} pays X") for c, nm in zip(colours, names, strict=True)]
        ax2.legend(handles=payers, loc="upper left", framealpha=0.9)
    else:
        co = comonotone
        draw_top_k(ax2, np.asarray(co.layers.atoms, float), np.asarray(co.functions, float), names, step=True)
        ax2.set_xlabel("aggregate loss x (loss units)")
        ax2.set_ylabel("allocation f_i(x) (loss units)")
        ax2.set_title("comonotone allocation f_i(x)")
        ax2.legend(loc="best")
    return finish_figure(fig, title)


def plot_portfolio(path: str | Path, title: str, *, names: Sequence[str], hs: Sequence[DistortionFunction],
                   attitude: str, grid: np.ndarray, curve: np.ndarray, lambda_closed: float,
                   g: DistortionFunction, endowment: float, rho_g: float, cost: float,
                   kappa_max: float) -> None:
    """Write :func:`portfolio_figure` to ``path``."""
    save_figure(portfolio_figure(title, names=names, hs=hs, attitude=attitude, grid=grid, curve=curve,
                                 lambda_closed=lambda_closed, g=g, endowment=endowment, rho_g=rho_g,
                                 cost=cost, kappa_max=kappa_max), path)


@figure_function
def portfolio_figure(title: str, *, names: Sequence[str], hs: Sequence[DistortionFunction], attitude: str,
                     grid: np.ndarray, curve: np.ndarray, lambda_closed: float, g: DistortionFunction,
                     endowment: float, rho_g: float, cost: float, kappa_max: float) -> Any:
    """The inner value against ``lambda``, the gain distortion ``g`` and ``lambda*`` against the cost."""
    plt = pyplot()
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4))
    ax1.plot(grid, curve, label="inner value (general machinery)")
    ax1.axvline(lambda_closed, color="C3", ls="--", label=f"closed form λ* = {lambda_closed:.4f}")
    ax1.set_xlabel("λ: proportion invested in the risky asset")
    ax1.set_ylabel("min total risk of -W_λ (wealth units)")
    ax1.set_title("value against λ")
    ax1.legend(loc="best")
    t = np.linspace(0, 1, 401)
    ax2.plot(t, t, ":", color="black", label="identity")
    ax2.plot(t, g(t), color="C3", lw=2, label=f"g ({'h^RA' if attitude == 'risk_averse' else 'h_RS'})")
    for k, (nm, h) in enumerate(zip(names, hs, strict=True)):
        ax2.plot(t, h.dual()(t), lw=1, color=f"C{k % 3}", label=f"dual of {nm}")
    ax2.set_xlabel("t (probability level)")
    ax2.set_ylabel("distortion g(t)")
    ax2.set_title("gain distortion of the group")
    ax2.legend(loc="best")
    kappas = np.linspace(kappa_max / 50, kappa_max, 50)
    ax3.plot(kappas, np.clip(endowment * (rho_g - 1) / (2 * kappas), 0, 1), label="λ*(κ), Proposition 4")
    ax3.axvline(cost, color="C3", ls="--", label=f"the card's κ = {cost:g}")
    ax3.set_xlabel("κ (cost c = κ λ², feasible κ ≤ w min ξ)")
    ax3.set_ylabel("optimal proportion λ*")
    ax3.set_title("λ* against the cost")
    ax3.legend(loc="best")
    return finish_figure(fig, title)
