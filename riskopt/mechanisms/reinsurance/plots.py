"""Figures of a reinsurance market: each insurer's indemnities ``I_ij(x)`` (the paper's Figures 1
and 3) and the capacities ``alpha_i``, ``tau_ij``, ``tau-bar_i`` of the upper sets ``{X_i > z}``
(Figure 2)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...plots import finish_figure, pyplot

__all__ = ["market_figure"]


def market_figure(*, insurers: Sequence[str], reinsurers: Sequence[str], layer_bound: float,
                  indemnity: Callable[[int, np.ndarray], np.ndarray],
                  curves: Callable[[int, np.ndarray], np.ndarray], title: str = "",
                  max_insurers: int = 4) -> Any:
    """A matplotlib Figure, one column per insurer (the first ``max_insurers``): ``indemnity(i, x)``
    (``(m, len(x))``) on top, ``curves(i, z)`` (``alpha_i, tau_i1..tau_im``) and their second lowest
    below."""
    plt = pyplot()
    shown = list(range(min(len(insurers), max_insurers)))
    fig, axes = plt.subplots(2, len(shown), figsize=(4.2 * len(shown), 7.2), squeeze=False)
    z = np.linspace(0.0, layer_bound, 801)
    zc = np.linspace(0.0, layer_bound, 800, endpoint=False)  # the curves live on [0, M)
    for col, i in enumerate(shown):
        ax = axes[0, col]
        ind = indemnity(i, z)
        for j, name in enumerate(reinsurers):
            ax.plot(z, ind[j], label=f"I from {name}")
        ax.plot(z, ind.sum(axis=0), color="black", lw=0.8, ls=":", label="total")
        ax.set_title(f"{insurers[i]}: indemnities")
        ax.set_xlabel("loss x")
        ax.legend(fontsize=7)
        ax = axes[1, col]
        vals = curves(i, zc)
        ax.plot(zc, vals[0], color="black", label="alpha (insurer)")
        for j, name in enumerate(reinsurers):
            ax.plot(zc, vals[j + 1], label=f"tau ({name})")
        ax.plot(zc, np.partition(vals, 1, axis=0)[1], ls="--", color="grey", label="tau-bar")
        ax.set_xlabel("layer z")
        ax.set_title("capacities of {X > z}")
        ax.legend(fontsize=7)
    return finish_figure(fig, title)
