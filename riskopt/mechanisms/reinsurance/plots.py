"""Figures of a reinsurance market: each insurer's indemnities ``I_ij(x)`` (the paper's Figures 1
and 3) and the capacities ``alpha_i``, ``tau_ij``, ``tau-bar_i`` of the upper sets ``{X_i > z}``
(Figure 2)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...plots import figure_function, finish_figure, pyplot

__all__ = ["market_figure"]


@figure_function
def market_figure(*, insurers: Sequence[str], reinsurers: Sequence[str], layer_bound: float,
                  indemnity: Callable[[int, np.ndarray], np.ndarray],
                  curves: Callable[[int, np.ndarray], np.ndarray], title: str = "",
                  max_insurers: int = 4) -> Any:
    """A matplotlib Figure, one column per insurer (the first ``max_insurers``): ``indemnity(i, x)``
    (``(m, len(x))``) on top, ``curves(i, z)`` (``alpha_i, tau_i1..tau_im``) and their second lowest
    below; one colour per reinsurer throughout, one legend for the figure."""
    plt = pyplot()
    shown = list(range(min(len(insurers), max_insurers)))
    fig, axes = plt.subplots(2, len(shown), figsize=(3.6 * len(shown) + 2.4, 6.6), squeeze=False)
    colours = [f"C{j % 7}" for j in range(len(reinsurers))]
    z = np.linspace(0.0, layer_bound, 801)
    zc = np.linspace(0.0, layer_bound, 800, endpoint=False)  # the curves live on [0, M)
    for col, i in enumerate(shown):
        ax = axes[0, col]
        ind = indemnity(i, z)
        for j, name in enumerate(reinsurers):
            ax.plot(z, ind[j], color=colours[j], label=f"{name}: indemnity I_ij / tau_ij")
        ax.plot(z, ind.sum(axis=0), color="black", lw=1, ls=":", label="total ceded (top row)")
        ax.set_title(f"{insurers[i]}: indemnities")
        ax.set_xlabel("loss x (loss units)")
        ax.set_ylabel("indemnity I_ij(x) (loss units)")
        ax = axes[1, col]
        vals = curves(i, zc)
        ax.plot(zc, vals[0], color="black", label="alpha_i: the insurer's capacity (bottom row)")
        for j in range(len(reinsurers)):
            ax.plot(zc, vals[j + 1], color=colours[j])
        ax.plot(zc, np.partition(vals, 1, axis=0)[1], ls="--", color="0.45",
                label="tau-bar_i: second lowest (bottom row)")
        ax.set_title(f"{insurers[i]}: capacities of {{X_i > z}}")
        ax.set_xlabel("layer z (loss units)")
        ax.set_ylabel("capacity (weight of the layer)")
    handles = [h for ax in axes[:, 0] for h in ax.get_lines() if not h.get_label().startswith("_")]
    fig.legend(handles=handles, loc="outside right center")
    if len(shown) < len(insurers):
        title = f"{title} (first {len(shown)} of {len(insurers)} insurers)".strip()
    return finish_figure(fig, title)
