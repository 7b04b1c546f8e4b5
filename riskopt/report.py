"""Plain-text tables (what ``riskopt run`` prints by default): numbers to a set number of significant
digits, long tables cut the same way everywhere, wide tables split into blocks of columns, long lines
wrapped. :func:`table_options` sets the digits and whether every row is printed (``riskopt run
--digits N --all``); every column a table prints is explained in docs/tables.md.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from .backends.base import SolveReport
from .certificate import Certificate
from .duals import Prices
from .status import Status

__all__ = ["SolutionView", "TableOptions", "fit", "format_table", "number", "plural", "rounded",
           "solution_table", "table_options", "table_settings"]


@dataclass(frozen=True)
class TableOptions:
    """How tables print: ``digits`` significant digits, every row (``all_rows``) or the first
    ``head`` and last ``tail`` of a longer table, lines at most ``width`` characters."""

    digits: int = 6
    all_rows: bool = False
    width: int = 110
    head: int = 10
    tail: int = 5


DEFAULT_OPTIONS = TableOptions()
_OPTIONS: ContextVar[TableOptions] = ContextVar("riskopt_table_options", default=DEFAULT_OPTIONS)


def table_settings() -> TableOptions:
    """The options in force."""
    return _OPTIONS.get()


@contextmanager
def table_options(*, digits: int | None = None, all_rows: bool | None = None) -> Iterator[TableOptions]:
    """Tables printed inside the block use these ``digits`` (significant) and print every row when
    ``all_rows``; ``None`` keeps the setting in force."""
    now = _OPTIONS.get()
    opts = replace(now, digits=now.digits if digits is None else digits,
                   all_rows=now.all_rows if all_rows is None else all_rows)
    token = _OPTIONS.set(opts)
    try:
        yield opts
    finally:
        _OPTIONS.reset(token)


def number(v: float | None, digits: int | None = None) -> str:
    """``v`` to the options' significant digits (at most ``digits`` when given); ``-`` for none or
    not finite; ``-0`` prints as ``0``."""
    if v is None or not np.isfinite(v):
        return "-"
    d = table_settings().digits if digits is None else min(digits, table_settings().digits)
    return f"{float(v) + 0.0:.{d}g}"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 state``, ``2 states`` (``many`` for an irregular plural)."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"


_LONG_NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d+(?:e[-+]?\d+)?(?![\w.])")


def rounded(text: str) -> str:
    """Free text (a note) with every decimal number in it printed to the options' digits."""
    return _LONG_NUMBER.sub(lambda m: number(float(m.group())), text)


def fit(text: str) -> str:
    """Every line longer than the width wrapped at word boundaries (continuations indented)."""
    width = table_settings().width
    out: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        label = re.match(r"\s*\S.{0,18}?\s{2,}(?=\S)", line)  # "KKT        ..." hangs under its text
        indent = " " * (label.end() if label else len(line) - len(line.lstrip()) + 4)
        out += textwrap.wrap(line, width=width, subsequent_indent=indent, break_long_words=True,
                             break_on_hyphens=False)
    return "\n".join(out)


class SolutionView(Protocol):
    """What the solution table and figure read (a :class:`~riskopt.solution.Solution` is one)."""

    @property
    def status(self) -> Status: ...

    @property
    def objective(self) -> float | None: ...

    @property
    def program(self) -> str: ...

    @property
    def sense(self) -> str: ...

    @property
    def solver(self) -> SolveReport: ...

    @property
    def certificate(self) -> Certificate | None: ...

    @property
    def agents(self) -> tuple[dict[str, Any], ...]: ...

    @property
    def prices(self) -> Prices: ...

    @property
    def aggregate(self) -> np.ndarray | None: ...

    @property
    def allocation(self) -> Mapping[str, np.ndarray]: ...

    @property
    def extra(self) -> Mapping[str, Any]: ...


#: the longest a text cell grows before it wraps onto further lines
CELL_WIDTH = 40
#: a number this small relative to the largest of its column is rounding noise and prints as 0
NOISE = 1e-12


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        return number(float(v))
    return str(v)


def _denoised(v: Any, noise: float) -> Any:
    """0.0 for a number at most ``noise`` in size, else ``v``."""
    return 0.0 if _numeric(v) and abs(float(v)) <= noise else v


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, noun: str = "rows",
                 units: Mapping[str, str] | None = None) -> str:
    """Text columns under a header and a rule: numbers right-aligned to the options' significant
    digits, text left-aligned (long text wrapped onto further lines). A table of more than
    ``head + tail`` rows shows its first ``head`` and last ``tail`` and a line ``... N more <noun>
    (use --all)`` unless the options ask for every row. A table wider than the options' width is
    split into blocks of columns, each repeating the first column. ``units`` adds a line of units
    under the header for the columns that have one. A number below ``NOISE`` times the largest of
    its column prints as 0."""
    opts = table_settings()
    shown = list(rows)
    hidden = 0
    if not opts.all_rows and len(shown) > opts.head + opts.tail:
        hidden = len(shown) - opts.head - opts.tail
        shown = shown[:opts.head] + shown[-opts.tail:]
    columns = list(columns)
    numeric = [bool(shown) and all(_numeric(r.get(c)) or r.get(c) is None for r in shown) for c in columns]
    noise = [NOISE * max((abs(float(r[c])) for r in rows if _numeric(r.get(c)) and np.isfinite(r[c])),
                         default=0.0) for c in columns]
    cells = [[textwrap.wrap(_fmt(_denoised(r.get(c), noise[j])), CELL_WIDTH) or [""]
              for j, c in enumerate(columns)] for r in shown]
    unit_row = [f"({units[c]})" if units and c in units else "" for c in columns]
    widths = [max(len(c), len(unit_row[j]), *(len(x) for row in cells for x in row[j]))
              for j, c in enumerate(columns)]
    blocks, block = [], [0]
    used = widths[0]
    for j in range(1, len(columns)):
        if used + 2 + widths[j] > opts.width and len(block) > 1:
            blocks.append(block)
            block, used = [0], widths[0]
        block.append(j)
        used += 2 + widths[j]
    blocks.append(block)

    def line(parts: Sequence[str], block: Sequence[int]) -> str:
        return "  ".join((parts[j].rjust(widths[j]) if numeric[j] else parts[j].ljust(widths[j]))
                         for j in block).rstrip()

    out: list[str] = []
    for b in blocks:
        if out:
            out.append("")
        out.append(line(columns, b))
        if any(unit_row[j] for j in b):
            out.append(line(unit_row, b))
        out.append("  ".join("-" * widths[j] for j in b))
        for row in cells:
            height = max(len(row[j]) for j in b)
            for k in range(height):
                out.append(line([row[j][k] if k < len(row[j]) else "" for j in range(len(columns))], b))
    if hidden:
        out.append(f"... {hidden} more {noun} (use --all)")
    return "\n".join(out)


def solution_table(sol: SolutionView, *, title: str = "", max_states: int = 12) -> str:
    """Summary, per-agent table and (for small spaces) the state-price density."""
    out = []
    if title:
        out.append(title)
    rep = sol.solver
    out.append(f"status     {sol.status}: {sol.status.meaning}")
    out.append(f"objective  {number(sol.objective)}  ({sol.sense}imise {sol.program})")
    out.append(f"solver     {rep.backend}/{rep.solver}  build {rep.build_s:.3f}s  compile "
               f"{rep.compile_s:.3f}s  solve {rep.solve_s:.3f}s  iterations {_fmt(rep.iterations)}")
    if sol.certificate is not None:
        c = sol.certificate
        stat = "not computed" if c.stationarity is None else f"{c.stationarity:.1e}"
        obj = "not computed" if c.objective_error is None else f"{c.objective_error:.1e}"
        out.append(f"KKT        relative residuals: primal {c.primal_residual:.1e}  "
                   f"dual {c.dual_residual:.1e}  "
                   f"complementarity {c.complementarity:.1e}  stationarity {stat}  objective {obj}  "
                   f"({'within' if c.passed else 'BEYOND'} {c.tolerances.tight:g})")
    if sol.agents:
        cols = [k for k in sol.agents[0] if k != "allocation"]
        out.append("")
        out.append(format_table(sol.agents, cols, noun="agents"))
    pr = sol.prices
    if (pr.state_density is not None and pr.state_density.size <= max_states and pr.state_probs is not None
            and pr.state_prices is not None and pr.determined is not None):
        out.append("")
        rows = [{"state": s, "P": float(p), "density": (float(d) if ok else None),
                 "price": (float(q) if ok else None)}
                for s, (p, d, q, ok) in enumerate(zip(pr.state_probs, pr.state_density, pr.state_prices,
                                                      pr.determined, strict=True))]
        out.append(format_table(rows, ["state", "P", "price", "density"], noun="states"))
    elif pr.state_density is not None:
        d = pr.state_density[pr.determined]
        out.append("")
        out.append(f"state-price density over {plural(pr.state_density.size, 'state')}: min "
                   f"{number(d.min())}, max {number(d.max())} (E_P[density] = 1)")
    cert = pr.certified
    if cert is not None and pr.determined is not None:
        unique = {True: "unique", False: "NOT unique (see prices.lower/upper)", None: "uniqueness unknown"}
        out.append(f"prices certified to 1e-6 relative at {int(cert.sum())} of "
                   f"{plural(int(pr.determined.sum()), 'determined state')}; {unique[pr.all_unique]}")
    if pr.note:
        out.append(f"note: {rounded(pr.note)}")
    check = sol.extra.get("closed_form")
    if check:
        out.append(f"closed form: |W - W*| / |W*| = {check['welfare_rel_error']:.1e}, "
                   f"E_P|density - Esscher| = {check['density_l1_error']:.1e}")
    return fit("\n".join(out))

