"""Figures of the distortion mechanisms' results (matplotlib: the ``plots`` extra).

The functions take what they draw (the results call them), so this module imports no result.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...measures.distortion import DistortionFunction
from ...plots import finish_figure, pyplot, save_figure
from .comonotone import ComonotoneResult
from .convolution import PointwiseMin, Representative
from .jackpot import Jackpot, jackpot_events

__all__ = ["plot_portfolio", "plot_sharing"]


def plot_sharing(path: str | Path, title: str, *, names: Sequence[str], hs: Sequence[DistortionFunction],
                 representative: Representative | None, jackpot: Jackpot | None,
                 comonotone: ComonotoneResult) -> None:
    """Left: ``h_i``, ``min h_i`` and ``h~``; right: the jackpot events of Lemma 3 on the ``(W, V)``
    square, or the comonotone allocation ``f_i(x)``."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    t = np.linspace(0.0, 1.0, 401)
    for nm, h in zip(names, hs, strict=True):
        ax1.plot(t, h(t), lw=1, label=f"{nm}: {h.describe()}")
    ax1.plot(t, PointwiseMin(hs)(t), "k--", lw=1.5, label="min h_i (comonotone)")
    if representative is not None:
        ax1.plot(t, representative(t), "r", lw=2, label="h~ (Theorem 3, not normalised)")
    ax1.set_xlabel("t")
    ax1.set_title("distortions")
    ax1.legend(fontsize=7)
    if representative is not None and jackpot is not None:
        w, v = np.meshgrid(np.linspace(0, 1, 301), np.linspace(0, 1, 301))
        ev = jackpot_events(representative, w, v)
        ax2.pcolormesh(w, v, ev, shading="auto", cmap="tab10", vmin=0, vmax=9)
        if jackpot.atoms.size <= 20:  # the atoms' W-intervals (few atoms only)
            for s in np.cumsum(jackpot.pieces.sum(axis=1))[:-1]:
                ax2.axvline(s, color="w", lw=0.8, ls=":")
        ax2.set_xlabel("W = tail level (1 - U_X for X >= 0)")
        ax2.set_ylabel("V (independent uniform)")
        ax2.set_title("jackpot events A_i (Lemma 3; colour = agent)")
    else:
        co = comonotone
        for nm, f in zip(names, co.functions, strict=True):
            ax2.step(co.layers.atoms, f, where="post", label=nm)
        ax2.set_xlabel("x")
        ax2.set_title("comonotone allocation f_i(x)")
        ax2.legend(fontsize=7)
    save_figure(finish_figure(fig, title), path, dpi=100)


def plot_portfolio(path: str | Path, title: str, *, names: Sequence[str], hs: Sequence[DistortionFunction],
                   attitude: str, grid: np.ndarray, curve: np.ndarray, lambda_closed: float,
                   g: DistortionFunction, endowment: float, rho_g: float, cost: float,
                   kappa_max: float) -> None:
    """The inner value against ``lambda``, the gain distortion ``g`` and ``lambda*`` against the cost."""
    plt = pyplot()
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4))
    ax1.plot(grid, curve, label="inner value (general machinery)")
    ax1.axvline(lambda_closed, color="r", ls="--", label=f"lambda* = {lambda_closed:.4f}")
    ax1.set_xlabel("lambda")
    ax1.set_ylabel("min total risk of -W_lambda")
    ax1.legend(fontsize=8)
    t = np.linspace(0, 1, 401)
    ax2.plot(t, t, "k:", label="identity")
    ax2.plot(t, g(t), "r", label=f"g ({'h^RA' if attitude == 'risk_averse' else 'h_RS'})")
    for nm, h in zip(names, hs, strict=True):
        ax2.plot(t, h.dual()(t), lw=0.8, label=f"dual of {nm}")
    ax2.set_xlabel("t")
    ax2.legend(fontsize=7)
    kappas = np.linspace(kappa_max / 50, kappa_max, 50)
    ax3.plot(kappas, np.clip(endowment * (rho_g - 1) / (2 * kappas), 0, 1))
    ax3.axvline(cost, color="r", ls="--", label=f"kappa = {cost:g}")
    ax3.set_xlabel("kappa (cost c = kappa lambda^2)")
    ax3.set_ylabel("lambda*")
    ax3.set_title("lambda* curve (feasible kappa <= w min xi)")
    ax3.legend(fontsize=8)
    save_figure(finish_figure(fig, title), path, dpi=100)
