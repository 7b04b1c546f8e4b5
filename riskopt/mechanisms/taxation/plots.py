"""Figures of the taxation mechanism (matplotlib, the ``plots`` extra; Agg backend).

* :func:`plot_layers`: the paper's Figure 5: ``T_i(lambda)`` and ``s(lambda)``, ``Lambda(s)``, and the
  tax layers ``T_i(s)`` with the layer starts ``C_i``;
* :func:`plot_storm`: map-like scatters of the regions coloured by expected loss, the single event's
  loss, its net transfer under the hybrid scheme and the disutility difference hybrid - insurance on
  ``Omega_-``, next to the tax layers of the hybrid rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...plots import finish_figure, pyplot, save_figure
from .layers import TaxLayers

__all__ = ["plot_layers", "plot_storm"]

MAX_LINES = 10


def _shown(names: Sequence[str], order: np.ndarray | None = None) -> list[int]:
    idx = list(range(len(names))) if order is None else [int(i) for i in order]
    if len(idx) <= MAX_LINES:
        return idx
    step = max(1, len(idx) // MAX_LINES)
    return idx[::step][:MAX_LINES]


def _layer_axes(axes: Sequence[Any], rule: TaxLayers, names: Sequence[str], upper: float) -> None:
    ax1, ax2, ax3 = axes
    curve = rule.curve()
    shown = _shown(names, np.argsort(rule.layer_start, kind="stable"))
    for i in shown:
        ax1.plot(curve["lambda"], curve["T"][i], lw=1, label=names[i])
    ax1.plot(curve["lambda"], curve["s"], color="black", lw=2, label="s(lambda)")
    ax1.set_xscale("log")
    ax1.set_xlabel("lambda")
    ax1.set_ylabel("T_i(lambda), s(lambda)")
    ax1.set_title("layers in lambda")
    s = np.linspace(0.0, upper, 400)
    ax2.plot(s, rule.lam(s), color="black")
    ax2.set_yscale("log")
    ax2.set_xlabel("s (residual claim)")
    ax2.set_ylabel("Lambda(s)")
    ax2.set_title("Lambda(s)")
    T = rule.taxes(s)
    for i in shown:
        line = ax3.plot(s, T[i], lw=1, label=names[i])[0]
        C = rule.layer_start[i]
        if upper >= C:
            ax3.axvline(C, color=line.get_color(), lw=0.6, ls=":")
    ax3.set_xlabel("s (residual claim)")
    ax3.set_ylabel("T_i(s)")
    ax3.set_title("tax layers (dotted: C_i)" + ("" if len(shown) == len(names) else f", {len(shown)} of "
                                                                                    f"{len(names)} regions"))
    ax3.legend(fontsize=7)


def plot_layers(rule: TaxLayers, names: Sequence[str], upper: float, path: str | Path, *,
                title: str = "") -> Path:
    """Three panels as the paper's Figure 5."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    _layer_axes(axes, rule, names, upper)
    return save_figure(finish_figure(fig, title), path)


def plot_storm(xy: np.ndarray, names: Sequence[str], panels: dict[str, np.ndarray], rule: TaxLayers,
               upper: float, path: str | Path, *, title: str = "") -> Path:
    """Map-like scatters (one per entry of ``panels``) and the hybrid rule's layers."""
    plt = pyplot()
    k = len(panels)
    fig, axes = plt.subplots(2, max(k, 3), figsize=(4.3 * max(k, 3), 8))
    from matplotlib.colors import SymLogNorm, TwoSlopeNorm

    for ax, (label, values) in zip(axes[0], panels.items(), strict=False):
        v = np.asarray(values, float)
        diverging = v.min() < 0 < v.max()
        norm = None
        if diverging:
            lim = float(np.max(np.abs(v)))
            typical = float(np.median(np.abs(v[v != 0]))) if np.any(v != 0) else lim
            # heavy-tailed differences (e^l disutilities): symmetric log scale around 0
            norm = SymLogNorm(typical, vmin=-lim, vmax=lim) if lim > 100 * typical else \
                TwoSlopeNorm(0.0, -lim, lim)
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=v, s=18, cmap="coolwarm" if diverging else "viridis", norm=norm)
        fig.colorbar(sc, ax=ax, shrink=0.8)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("lon")
        ax.set_ylabel("lat")
    for ax in axes[0][k:]:
        ax.axis("off")
    _layer_axes(axes[1][:3], rule, names, upper)
    for ax in axes[1][3:]:
        ax.axis("off")
    return save_figure(finish_figure(fig, title), path, dpi=100)
