"""Every bundled card's figure, checked for structure: each panel with data has labelled axes (colour
bars a label), a legend where more than one series is drawn, no two tick labels of an axis overlap
(window extents after a draw), no empty panels, and no internal jargon in the text.

The cards run at the cheap sizes of ``_cardkit.CHEAP``; the figure is the one ``result.plot`` writes,
kept open by :func:`riskopt.plots.keep_figures`.
"""

from __future__ import annotations

from typing import Any

import matplotlib
import pytest

matplotlib.use("Agg")

from _cardkit import MODELS, cheap, runnable

from riskopt.cards import parse_card, run_card
from riskopt.plots import keep_figures, pyplot

CARDS = sorted(p.stem for p in MODELS.glob("*.toml"))
JARGON = ("seed 000", "seed 001", "seed 002", "seed 003")


def all_axes(fig: Any) -> list[Any]:
    """The axes of ``fig`` and of its subfigures, once each."""
    out = list(fig.axes)
    for sub in getattr(fig, "subfigs", []):
        out += [ax for ax in all_axes(sub) if ax not in out]
    return out


def legends(fig: Any) -> list[Any]:
    out = list(fig.legends)
    for sub in getattr(fig, "subfigs", []):
        out += legends(sub)
    return out


def _overlaps(a: Any, b: Any, tol: float = 0.5) -> bool:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w > tol and h > tol


def tick_label_clashes(ax: Any, renderer: Any) -> list[str]:
    """Pairs of drawn tick labels (major and minor) of one axis whose boxes overlap."""
    out = []
    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        lo, hi = sorted(axis.get_view_interval())
        span = (hi - lo) or 1.0
        boxes = []
        for minor in (False, True):
            locs = axis.get_ticklocs(minor=minor)
            labels = axis.get_ticklabels(minor=minor)
            for loc, label in zip(locs, labels, strict=False):
                inside = lo - 1e-9 * span <= loc <= hi + 1e-9 * span
                if inside and label.get_visible() and label.get_text().strip():
                    boxes.append((label.get_text(), label.get_window_extent(renderer)))
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                if _overlaps(boxes[i][1], boxes[j][1]):
                    out.append(f"{name} tick labels {boxes[i][0]!r} and {boxes[j][0]!r} overlap")
    return out


def figure_problems(fig: Any) -> list[str]:
    """What keeps ``fig`` off a slide (an empty list: nothing)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = []
    has_figure_legend = bool(legends(fig))
    for k, ax in enumerate(all_axes(fig)):
        where = f"panel {k} ({ax.get_title() or 'untitled'})"
        if not ax.get_visible():
            problems.append(f"{where}: hidden panel (an empty slot)")
            continue
        colorbar = getattr(ax, "_colorbar", None)
        if colorbar is not None:
            label = ax.get_ylabel() if colorbar.orientation == "vertical" else ax.get_xlabel()
            if not label.strip():
                problems.append(f"{where}: colour bar without a label")
            problems += [f"{where}: {p}" for p in tick_label_clashes(ax, renderer)]
            continue
        if not ax.has_data():
            problems.append(f"{where}: empty panel")
            continue
        if ax.axison:
            if not ax.get_xlabel().strip():
                problems.append(f"{where}: no x label")
            if not ax.get_ylabel().strip():
                problems.append(f"{where}: no y label")
        elif not ax.get_title().strip():
            problems.append(f"{where}: a panel without axes needs a title")
        series = len(ax.lines) + len(ax.collections) + len(ax.images)
        if series > 1 and ax.get_legend() is None and not has_figure_legend:
            problems.append(f"{where}: {series} series and no legend")
        problems += [f"{where}: {p}" for p in tick_label_clashes(ax, renderer)]
    texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    problems += [f"jargon {j!r} in the figure" for j in JARGON if any(j in t for t in texts)]
    return problems


# ------------------------------------------------------------------------------ the checker
def test_the_checker_sees_what_is_wrong():
    plt = pyplot()
    fig, (a, b, _empty) = plt.subplots(1, 3, figsize=(6, 2))
    a.plot([0, 1], [0, 1])
    a.plot([0, 1], [1, 0])
    a.set_xticks([0.0, 0.01], ["a long label", "another long label"])
    mesh = b.pcolormesh([[0, 1], [1, 0]])
    fig.colorbar(mesh, ax=b)
    b.set_xlabel("x")
    problems = figure_problems(fig)
    plt.close(fig)
    assert any("no x label" in p for p in problems)
    assert any("no legend" in p for p in problems)
    assert any("overlap" in p for p in problems)
    assert any("no y label" in p and "panel 1" in p for p in problems)
    assert any("colour bar without a label" in p for p in problems)
    assert any("empty panel" in p and "panel 2" in p for p in problems)  # the third panel, left empty


def test_a_clean_figure_passes():
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1], label="up")
    ax.plot([0, 1], [1, 0], label="down")
    ax.set_xlabel("x (units)")
    ax.set_ylabel("y (units)")
    ax.legend()
    assert figure_problems(fig) == []
    plt.close(fig)


# --------------------------------------------------------------------------- every bundled card
def test_every_bundled_card_is_covered():
    """The cards checked here are the cards ``riskopt list`` ships (13 at the time of writing)."""
    from importlib import resources

    models = resources.files("riskopt.models").iterdir()
    shipped = sorted(p.name[:-5] for p in models if p.name.endswith(".toml"))
    assert shipped == CARDS
    assert len(CARDS) >= 13


@pytest.mark.parametrize("name", [pytest.param(c, marks=pytest.mark.skipif(
    not runnable([c]), reason="needs the climada extra")) for c in CARDS])
def test_bundled_card_figure(name, tmp_path):
    card = parse_card(cheap(name), source=name)
    result = run_card(card)
    path = tmp_path / f"{name}.png"
    with keep_figures() as figures:
        result.plot(path, title=card.name)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(figures) == 1
    fig = figures[0]
    try:
        assert figure_problems(fig) == []
        assert fig.get_layout_engine() is not None  # constrained layout: nothing clipped
    finally:
        pyplot().close(fig)


# ------------------------------------------------------------------------------- benchmarks
def test_benchmark_plot_is_readable(tmp_path):
    """Times over three decades of sizes and errors over twelve: no crowded log tick labels."""
    from benchmarks.harness import Family, plot

    family = Family("demo", case=lambda n: {}, sizes=[10, 100, 1000, 10_000], quick_sizes=[10],
                    accuracy="value_err")
    rows = [{"size": n, "runner": runner, "total_s": n * k * 1e-4, "value_err": 1e-16 * n ** (2 * k)}
            for n in family.sizes for k, runner in enumerate(["direct", "cvxpy", "pyomo"], start=1)]
    with keep_figures() as figures:
        path = plot(family, rows, tmp_path / "demo.png")
    assert path is not None and path.stat().st_size > 5_000
    try:
        assert figure_problems(figures[0]) == []
    finally:
        pyplot().close(figures[0])
