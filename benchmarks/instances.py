"""An instance library from the benchmark families: ``riskopt bench --export DIR``.

Every family with a solver matrix (:class:`~benchmarks.harness.SolverMatrix`) writes the program of
each of its sizes in the standard formats that fit it (:mod:`riskopt.export`: MPS and LP for linear
programs and QPs, CBF for linear and exponential-cone programs), solves it once with riskopt (HiGHS
for LPs, Clarabel with the KKT certificate and polish for QPs and cones) for its **known optimal
value**, and
lists every file in ``DIR/README.md``: family, size, kind, variables, standard-form rows, files,
optimum and riskopt's status, with the family's reference value (a closed form or an independent
fast path, in the family's units) beside it. Like CBLIB's tables, the optimum is the value of the
file's own objective (its sense and constant term included).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from riskopt.data import write_atomic
from riskopt.export import formats_for, standard_data, write_cbf, write_highs

from .harness import Family, fmt

COLUMNS = ["instance", "kind", "variables", "rows", "files", "optimum", "status", "reference"]


def export_family(family: Family, out: Path, *, quick: bool) -> list[dict[str, Any]]:
    """Write ``family``'s instances (its matrix sizes) into ``out``; one row per instance."""
    from .solvers import matrix_sizes

    matrix = family.solvers
    assert matrix is not None
    rows = []
    for size in matrix_sizes(family, quick):
        inputs = (matrix.case or family.case)(size)
        program = matrix.program(inputs)
        data = standard_data(program.problem)
        stem = f"{family.name}_{size}"
        files = []
        for kind in formats_for(data.kind):
            path = out / f"{stem}.{kind}"
            (write_cbf if kind == "cbf" else write_highs)(data, path)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            files.append(f"{path.name} ({digest})")
        # the most accurate route riskopt has: HiGHS's simplex for LPs and QPs (Clarabel's interior
        # point, certified at 1e-7, was 4e-8 off the closed form on distortion_lp), Clarabel for cones
        # the most accurate route riskopt has: HiGHS's simplex for LPs (Clarabel's interior point,
        # certified at 1e-7, was 4e-8 off the closed form on distortion_lp), Clarabel for QPs (HiGHS's
        # QP solver takes minutes on the taxation QPs) and cones
        solution = program.solve(backend="highs" if data.kind == "lp" else "cvxpy", check=False)
        optimum = program.problem.value if solution.status.has_point else None  # the file's objective
        rows.append({"instance": stem, "kind": data.kind, "variables": data.n_vars, "rows": data.n_rows,
                     "files": ", ".join(files) or f"none ({', '.join(data.other)} cones: no format yet)",
                     "optimum": _exact(optimum), "status": str(solution.status),
                     "reference": _exact(matrix.reference(inputs))})
    return rows


def export_instances(families: list[Family], out: Path, *, quick: bool) -> Path:
    """Every family with a solver matrix into ``out``, and ``out/README.md`` listing them."""
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for family in families:
        if family.solvers is not None:
            rows += export_family(family, out, quick=quick)
    readme = ("# riskopt instance library\n\n"
              "Written by `riskopt bench --export DIR`"
              f"{' --quick' if quick else ''}: each benchmark family's programs in standard formats "
              "(MPS/LP: linear programs and convex QPs; CBF version 3: linear and exponential-cone "
              "programs). optimum: the file's own objective at riskopt's certified solution (status); "
              "reference: the family's closed form or independent fast path, in the family's units "
              "(it equals the optimum where the program is written in those units). The hash in "
              "parentheses is the file's sha256 prefix.\n\n" + markdown(rows) + "\n")
    return write_atomic(out / "README.md", readme)


def _exact(value: float | None) -> str:
    """A known optimal value to 12 significant digits (the tables' 3 digits are for reading)."""
    return "-" if value is None else f"{float(value):.12g}"


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table of :data:`COLUMNS`."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)
