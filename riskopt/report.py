"""Plain-text tables of solutions (what ``riskopt run`` prints by default)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from .backends.base import SolveReport
from .certificate import Certificate
from .duals import Prices
from .status import Status

__all__ = ["SolutionView", "format_table", "solution_table"]


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


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.10g}" if np.isfinite(v) else "-"
    return str(v)


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Left-aligned text columns with a header rule."""
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[j]) for row in cells)) if cells else len(c)
              for j, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([line, rule, *body])


def solution_table(sol: SolutionView, *, title: str = "", max_states: int = 12) -> str:
    """Summary, per-agent table and (for small spaces) the state-price density."""
    out = []
    if title:
        out.append(title)
    rep = sol.solver
    out.append(f"status     {sol.status}: {sol.status.meaning}")
    out.append(f"objective  {_fmt(sol.objective)}  ({sol.sense}imise {sol.program})")
    out.append(f"solver     {rep.backend}/{rep.solver}  build {rep.build_s:.3f}s  compile "
               f"{rep.compile_s:.3f}s  solve {rep.solve_s:.3f}s  iterations {_fmt(rep.iterations)}")
    if sol.certificate is not None:
        c = sol.certificate
        stat = "-" if c.stationarity is None else f"{c.stationarity:.1e}"
        obj = "-" if c.objective_error is None else f"{c.objective_error:.1e}"
        out.append(f"KKT        relative residuals: primal {c.primal_residual:.1e}  "
                   f"dual {c.dual_residual:.1e}  "
                   f"complementarity {c.complementarity:.1e}  stationarity {stat}  objective {obj}  "
                   f"({'within' if c.passed else 'BEYOND'} {c.tolerances.tight:g})")
    if sol.agents:
        cols = [k for k in sol.agents[0] if k != "allocation"]
        out.append("")
        out.append(format_table(sol.agents, cols))
    pr = sol.prices
    if (pr.state_density is not None and pr.state_density.size <= max_states and pr.state_probs is not None
            and pr.state_prices is not None and pr.determined is not None):
        out.append("")
        rows = [{"state": s, "P": float(p), "density": (float(d) if ok else None),
                 "price": (float(q) if ok else None)}
                for s, (p, d, q, ok) in enumerate(zip(pr.state_probs, pr.state_density, pr.state_prices,
                                                      pr.determined, strict=True))]
        out.append(format_table(rows, ["state", "P", "price", "density"]))
    elif pr.state_density is not None:
        d = pr.state_density[pr.determined]
        out.append("")
        out.append(f"state-price density over {pr.state_density.size} states: min {d.min():.6g}, "
                   f"max {d.max():.6g} (E_P[density] = 1)")
    cert = pr.certified
    if cert is not None and pr.determined is not None:
        unique = {True: "unique", False: "NOT unique (see prices.lower/upper)", None: "uniqueness unknown"}
        out.append(f"prices certified to 1e-6 relative at {int(cert.sum())} of {int(pr.determined.sum())} "
                   f"determined states; {unique[pr.all_unique]}")
    if pr.note:
        out.append(f"note: {pr.note}")
    check = sol.extra.get("closed_form")
    if check:
        out.append(f"closed form: |W - W*| / |W*| = {check['welfare_rel_error']:.1e}, "
                   f"E_P|density - Esscher| = {check['density_l1_error']:.1e}")
    return "\n".join(out)

