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

from ...plots import draw_top_k, figure_function, finish_figure, pyplot, readable_log, save_figure
from .layers import TaxLayers

__all__ = ["layers_figure", "plot_layers", "plot_storm", "storm_figure"]

MONEY = "money units"


def _layer_axes(axes: Sequence[Any], rule: TaxLayers, names: Sequence[str], upper: float) -> None:
    """T_i(lambda) (and s(lambda) for up to three regions), Lambda(s), T_i(s) with the starts C_i: the
    regions paying the most at ``s = upper`` by name, the others as a band."""
    ax1, ax2, ax3 = axes
    curve = rule.curve()
    s = np.linspace(0.0, upper, 400)
    T = rule.taxes(s)
    scores = T[:, -1]
    shown = draw_top_k(ax1, curve["lambda"], curve["T"], names, scores=scores)
    if len(names) <= 3:  # the paper's Figure 5: the sum on the same scale
        ax1.plot(curve["lambda"], curve["s"], color="black", lw=2, label="s(λ) = Σ T_i(λ)")
    ax1.set_xscale("log")
    readable_log(ax1, "x")
    ax1.set_xlabel("λ (multiplier, log scale)")
    ax1.set_ylabel(f"tax T_i(λ) ({MONEY})")
    ax1.set_title("tax layers in λ")
    ax1.legend(loc="best")
    ax2.plot(s, rule.lam(s), color="black")
    ax2.set_yscale("log")
    readable_log(ax2)
    ax2.set_xlabel(f"residual claim s ({MONEY})")
    ax2.set_ylabel("Λ(s) (log scale)")
    ax2.set_title("multiplier Λ(s), the inverse of s(λ)")
    draw_top_k(ax3, s, T, names, scores=scores)
    colours = {line.get_label(): line.get_color() for line in ax3.get_lines()}
    for i in shown:
        C = rule.layer_start[i]
        if upper >= C:
            ax3.axvline(C, color=colours[names[i]], lw=0.8, ls=":")
    ax3.set_xlabel(f"residual claim s ({MONEY})")
    ax3.set_ylabel(f"tax T_i(s) ({MONEY})")
    ax3.set_title("tax layers (dotted: layer starts C_i)" if len(shown) == len(names) else
                  f"tax layers: {len(shown)} of {len(names)} regions paying most")
    ax3.legend(loc="best")


def plot_layers(rule: TaxLayers, names: Sequence[str], upper: float, path: str | Path, *,
                title: str = "") -> Path:
    """Write :func:`layers_figure` to ``path``."""
    return save_figure(layers_figure(rule, names, upper, title=title), path)


@figure_function
def layers_figure(rule: TaxLayers, names: Sequence[str], upper: float, *, title: str = "") -> Any:
    """Three panels as the paper's Figure 5 (Niakh, Charpentier, Hillairet & Ratz)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    _layer_axes(axes, rule, names, upper)
    return finish_figure(fig, title)


def plot_storm(xy: np.ndarray, names: Sequence[str], panels: dict[str, np.ndarray], rule: TaxLayers,
               upper: float, path: str | Path, *, title: str = "") -> Path:
    """Write :func:`storm_figure` to ``path``."""
    return save_figure(storm_figure(xy, names, panels, rule, upper, title=title), path)


@figure_function
def storm_figure(xy: np.ndarray, names: Sequence[str], panels: dict[str, np.ndarray], rule: TaxLayers,
                 upper: float, *, title: str = "") -> Any:
    """Top row: one map of the regions per entry of ``panels`` (title -> values; the title names the
    quantity, the colour bar its values); bottom row: the hybrid rule's layers. Diverging values use a
    symmetric scale clipped at the 95th percentile of ``|v|`` (the colour bar marks the clipping)."""
    from matplotlib.colors import TwoSlopeNorm

    plt = pyplot()
    fig = plt.figure(figsize=(4.2 * max(len(panels), 3), 8.4))
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.0, 1.0])
    maps = np.atleast_1d(top.subplots(1, len(panels)))
    for ax, (label, values) in zip(maps, panels.items(), strict=True):
        v = np.asarray(values, float)
        diverging = v.min() < 0 < v.max()
        norm, extend = None, "neither"
        if diverging:
            lim = float(np.quantile(np.abs(v), 0.95)) or float(np.max(np.abs(v)))
            norm = TwoSlopeNorm(0.0, -lim, lim)
            extend = "both" if np.max(np.abs(v)) > lim else "neither"
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=v, s=14, cmap="RdBu_r" if diverging else "cividis", norm=norm,
                        label="region")
        bar = top.colorbar(sc, ax=ax, shrink=0.85, extend=extend)
        bar.set_label("difference in E[v] (< 0: hybrid better)" if label.startswith("E[v") else MONEY)
        bar.ax.yaxis.set_major_locator(plt.MaxNLocator(5))
        ax.set_title(label)
        ax.set_xlabel("longitude (°E)")
        ax.set_ylabel("latitude (°N)")
    _layer_axes(bottom.subplots(1, 3), rule, names, upper)
    return finish_figure(fig, title)
