"""matplotlib figures (optional extra ``riskopt[plots]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .report import SolutionView

__all__ = ["finish_figure", "plot_sharing", "pyplot", "save_figure"]

MAX_LINES = 12


def pyplot() -> Any:
    """pyplot, with the non-interactive Agg backend unless pyplot is already in use or we run in an
    IPython kernel (a notebook, or the documentation build, keeps its inline backend and shows
    the figures)."""
    import sys

    try:
        import matplotlib

        if "matplotlib.pyplot" not in sys.modules and "ipykernel" not in sys.modules:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ModelError("plot", "matplotlib", "matplotlib installed: pip install 'riskopt[plots]'") from None
    return plt


def finish_figure(fig: Any, title: str = "") -> Any:
    """The common tail of every riskopt figure: a suptitle when given, then a tight layout."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_figure(fig: Any, path: str | Path, *, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` and close it (figures are not kept open across a sweep)."""
    out = Path(path)
    fig.savefig(out, dpi=dpi)
    pyplot().close(fig)
    return out


def plot_sharing(sol: SolutionView, path: str | Path, *, reference_density: np.ndarray | None = None,
                 title: str = "") -> Path:
    """Two panels: each agent's share f_i(x) of the aggregate, and the state-price density.

    ``reference_density`` (per state, e.g. the Esscher tilt of a closed form) is drawn for comparison.
    """
    if sol.aggregate is None or not sol.allocation:
        raise ModelError("plot", sol.program, "a solved sharing program")
    plt = pyplot()
    X = np.asarray(sol.aggregate)
    order = np.argsort(X, kind="stable")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = list(sol.allocation)
    shown = names if len(names) <= MAX_LINES else names[:: max(1, len(names) // MAX_LINES)]
    for name in shown:
        ax1.plot(X[order], np.asarray(sol.allocation[name])[order], marker=".", label=name)
    ax1.plot(X[order], X[order], color="black", lw=0.8, ls=":", label="X")
    ax1.set_xlabel("aggregate X")
    ax1.set_ylabel("allocation f_i(X)")
    ax1.set_title("allocations" + ("" if len(shown) == len(names) else f" ({len(shown)} of {len(names)})"))
    if len(shown) <= MAX_LINES:
        ax1.legend(fontsize=7)
    pr = sol.prices
    if pr.state_density is not None:
        ok = pr.determined
        ax2.semilogy(X[ok], pr.state_density[ok], "o", label="budget duals")
        if reference_density is not None:
            ax2.semilogy(X[order], np.asarray(reference_density)[order], "-", lw=1, label="reference")
        ax2.set_xlabel("aggregate X")
        ax2.set_ylabel("state-price density dQ/dP")
        ax2.set_title("state prices")
        ax2.legend(fontsize=8)
    else:
        ax2.text(0.5, 0.5, pr.note or "no state prices", ha="center", va="center", wrap=True)
    return save_figure(finish_figure(fig, title), path, dpi=120)


