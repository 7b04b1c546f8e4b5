"""matplotlib figures (optional extra ``riskopt[plots]``): the one style, the shared helpers and the
figure of a solved sharing program.

Every riskopt figure is drawn under the style sheet ``riskopt/riskopt.mplstyle`` (an Okabe-Ito
colour cycle, constrained layout, light grid) by :func:`styled`; many agents are drawn as the
``TOP_K`` most visible ones by name and the others as one grey band (:func:`draw_top_k`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np

from .data import write_atomic
from .errors import ModelError
from .report import SolutionView

__all__ = ["STYLE", "TOP_K", "draw_top_k", "finish_figure", "keep_figures", "plot_sharing", "pyplot",
           "readable_log", "save_figure", "sharing_figure", "styled", "top_k"]

#: the style sheet of every riskopt figure
STYLE = Path(__file__).with_name("riskopt.mplstyle")
#: agents drawn by name; the others are one band
TOP_K = 6
#: the colour of the "others" band and of secondary marks
OTHERS = "0.75"

P = ParamSpec("P")
R = TypeVar("R")

_kept: list[list[Any]] = []


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


@contextmanager
def styled() -> Iterator[None]:
    """Draw under the riskopt style sheet (matplotlib's ``style.context``)."""
    pyplot()
    import matplotlib.style

    with matplotlib.style.context(str(STYLE)):
        yield


def figure_function(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator: ``func`` builds its figure under :func:`styled`."""
    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with styled():
            return func(*args, **kwargs)
    return wrapper


@contextmanager
def keep_figures() -> Iterator[list[Any]]:
    """Within the block :func:`save_figure` still writes each figure but keeps it open and appends
    it to the yielded list (tests inspect them; a notebook shows them)."""
    kept: list[Any] = []
    _kept.append(kept)
    try:
        yield kept
    finally:
        _kept.remove(kept)


def finish_figure(fig: Any, title: str = "") -> Any:
    """The common tail of every riskopt figure: a suptitle when given, a constrained layout."""
    if title:
        fig.suptitle(title)
    if fig.get_layout_engine() is None:
        fig.set_layout_engine("constrained")
    return fig


def save_figure(fig: Any, path: str | Path, *, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` atomically (:func:`riskopt.data.write_atomic`) and close it
    (figures are not kept open across a sweep), unless inside :func:`keep_figures`. The figure is
    rendered in memory first: a failing write is an :class:`OSError` of the write alone (matplotlib's
    PDF writer turns a failing file into an AttributeError) and leaves nothing behind."""
    out = Path(path)
    buffer = io.BytesIO()
    try:
        with styled():
            fig.savefig(buffer, dpi=dpi, format=out.suffix.lstrip(".").lower() or None)
    finally:
        if _kept:
            _kept[-1].append(fig)
        else:
            pyplot().close(fig)
    write_atomic(out, buffer.getvalue())
    return out


def top_k(scores: Sequence[float] | np.ndarray, k: int = TOP_K) -> tuple[list[int], list[int]]:
    """(the indices of the ``k`` largest scores, largest first; the other indices in order)."""
    s = np.asarray(scores, float)
    order = [int(i) for i in np.argsort(-s, kind="stable")]
    shown = order[:k] if len(order) > k + 1 else order  # never a band of one
    rest = sorted(set(order) - set(shown))
    return shown, rest


def draw_top_k(ax: Any, x: np.ndarray, Y: np.ndarray, names: Sequence[str], *,
               scores: Sequence[float] | np.ndarray | None = None, k: int = TOP_K,
               step: bool = False, marker: str | None = None) -> list[int]:
    """Rows of ``Y`` against ``x``: the ``k`` rows with the largest ``scores`` (default: the range
    ``max - min`` of the row) as named lines, the others as one grey min-max band "others (n)".
    Returns the indices drawn by name."""
    Y = np.asarray(Y, float)
    shown, rest = top_k(np.ptp(Y, axis=1) if scores is None else scores, k)
    if rest:
        lo, hi = Y[rest].min(axis=0), Y[rest].max(axis=0)
        ax.fill_between(x, lo, hi, color=OTHERS, alpha=0.7, lw=0, step="post" if step else None,
                        label=f"others ({len(rest)}), min to max")
    for i in shown:
        if step:
            ax.step(x, Y[i], where="post", label=names[i])
        else:
            ax.plot(x, Y[i], marker=marker, label=names[i])
    return shown


def readable_log(ax: Any, which: str = "y") -> None:
    """Tick labels on a log axis that never crowd: a few rounded values under two decades, else
    at most six powers of ten; no minor labels."""
    from matplotlib import ticker

    axis = ax.yaxis if which == "y" else ax.xaxis
    lo, hi = sorted(ax.get_ylim() if which == "y" else ax.get_xlim())
    if lo <= 0 or hi / lo >= 100:
        axis.set_major_locator(ticker.LogLocator(numticks=6))
        axis.set_minor_formatter(ticker.NullFormatter())
        return
    decades = range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
    ticks: list[float] = []
    for mantissas in ((1, 2, 5), (1, 2, 3, 5, 7), (1, 1.5, 2, 3, 4, 5, 6, 8)):
        ticks = [float(f"{m * 10.0 ** e:.3g}") for e in decades for m in mantissas]
        ticks = [t for t in ticks if lo <= t <= hi]
        if len(ticks) >= 3:
            break
    if len(ticks) < 3:  # less than a factor 2 between the limits
        ticks = [float(t) for t in ticker.MaxNLocator(nbins=4).tick_values(lo, hi) if lo <= t <= hi]
    axis.set_major_locator(ticker.FixedLocator(ticks))
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(ticker.NullLocator())


def plot_sharing(sol: SolutionView, path: str | Path, *, reference_density: np.ndarray | None = None,
                 title: str = "") -> Path:
    """Write :func:`sharing_figure` to ``path``."""
    return save_figure(sharing_figure(sol, reference_density=reference_density, title=title), path)


@figure_function
def sharing_figure(sol: SolutionView, *, reference_density: np.ndarray | None = None,
                   title: str = "") -> Any:
    """Each agent's allocation f_i(x) against the aggregate x (the ``TOP_K`` agents bearing the most
    risk by name, the others as a band) and, when the program has budget rows, the state-price
    density (``reference_density``, per state, e.g. the Esscher tilt of a closed form, next to it).
    """
    if sol.aggregate is None or not sol.allocation:
        raise ModelError("plot", sol.program, "a solved sharing program")
    plt = pyplot()
    X = np.asarray(sol.aggregate)
    order = np.argsort(X, kind="stable")
    pr = sol.prices
    prices = pr.state_density is not None
    fig, axes = plt.subplots(1, 2 if prices else 1, figsize=(11 if prices else 6, 4.4), squeeze=False)
    ax1 = axes[0, 0]
    names = list(sol.allocation)
    Y = np.array([np.asarray(sol.allocation[nm], float)[order] for nm in names])
    shown = draw_top_k(ax1, X[order], Y, names, marker="." if X.size <= 60 else None)
    ax1.set_xlabel("aggregate outcome x (loss units, losses < 0)")
    ax1.set_ylabel("allocation f_i(x) (loss units)")
    ax1.set_title("allocations" + (f": {len(shown)} of {len(names)} agents with the widest range"
                                   if len(shown) < len(names) else ""))
    ax1.legend(loc="best")
    if prices:
        assert pr.state_density is not None
        ax2 = axes[0, 1]
        ok = pr.determined
        ax2.plot(X[ok], pr.state_density[ok], "o", label="from the budget duals")
        if reference_density is not None:
            ax2.plot(X[order], np.asarray(reference_density)[order], "-", color="black", lw=1,
                     label="closed form (reference)")
        ax2.set_yscale("log")
        readable_log(ax2)
        ax2.set_xlabel("aggregate outcome x (loss units, losses < 0)")
        ax2.set_ylabel("state-price density dQ/dP (log scale)")
        ax2.set_title("state prices")
        ax2.legend(loc="best")
    return finish_figure(fig, title)
