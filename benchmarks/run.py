"""Run the benchmark families and print results side by side (``riskopt bench``,
``python -m benchmarks.run``).

``--quick`` runs the small sizes once (a smoke pass). Tables go to stdout; CSV, markdown and plots
to ``--out``: by default ``benchmarks/results`` when run from the riskopt repository (the committed
results), else ``./riskopt-bench`` in the current directory. Where they went is said on stderr;
library warnings (cvxpy's "Solution may be inaccurate") become the row's ``note``.

``--solvers all`` (or ``--solvers CLARABEL,HIGHS,highs:HIGHS,...``) benchmarks solvers instead: each
family that declares a solver matrix runs its program on every solver found (cone types matched,
a reason row for each solver skipped, every crash a row), one row per (instance, solver), and the
run ends with the shifted geometric means and the performance and accuracy profiles over all
instances (``solvers[_quick].md`` / ``.csv`` / ``_profiles.png``). ``--solvers auto`` (the default)
runs the families' own runners, as without the option. See docs/benchmarking.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from riskopt.data import jsonable, write_atomic
from riskopt.progress import bar

from .harness import REGISTRY, RESULTS, Family, plot, run, save, table

# every benchmarks/bench_*.py registers its families on import
for _info in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _info.name.startswith("bench_"):
        importlib.import_module(f"{__package__}.{_info.name}")

OUTSIDE_REPOSITORY = Path("riskopt-bench")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line and exit 2, like the riskopt command
        print(f"riskopt bench: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def default_out(cwd: Path | None = None) -> Path:
    """``benchmarks/results`` inside the riskopt repository (its root is the working directory),
    else ``riskopt-bench`` (both relative to the working directory)."""
    here = Path.cwd() if cwd is None else cwd
    in_repository = (here / "benchmarks" / "harness.py").is_file() and (here / "riskopt" / "cli.py").is_file()
    return RESULTS if in_repository else OUTSIDE_REPOSITORY


def main(argv: list[str] | None = None) -> int:
    ap = _Parser(prog="riskopt bench", description=__doc__,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat (a CI smoke pass)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is reported")
    ap.add_argument("--family", choices=sorted(REGISTRY), action="append", help="run only these")
    ap.add_argument("--out", help="directory for CSV, markdown and plots (default: benchmarks/results "
                                  "in the riskopt repository, else ./riskopt-bench)")
    ap.add_argument("--solvers", default="auto", metavar="auto|all|LIST",
                    help="auto: each family's own runners (default); all: every installed solver on the "
                         "families' solver matrices; LIST: comma-separated solver names (cvxpy's, or "
                         "highs:HIGHS / pyomo:HIGHS for riskopt's direct backends)")
    ap.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                    help="per-solve time limit with --solvers, passed to each solver that takes one "
                         "(default: 10 with --quick, else 300); unsolved instances count at it")
    ap.add_argument("--export", metavar="DIR",
                    help="write every family's instances (its solver-matrix programs) as MPS/LP/CBF into "
                         "DIR with a README.md of sizes and known optimal values, instead of timing")
    args = ap.parse_args(argv)
    out = Path(args.out) if args.out else default_out()
    if out.exists() and not out.is_dir():
        ap.error(f"--out {out}: expected a directory")
    if args.time_limit is not None and not (args.time_limit > 0 and args.time_limit < float("inf")):
        ap.error(f"--time-limit {args.time_limit}: expected a number of seconds > 0")
    if not args.solvers.strip():
        ap.error("--solvers: expected auto, all or a comma-separated list of solver names")
    if args.export:
        from .instances import export_instances

        families = [REGISTRY[n] for n in args.family or sorted(REGISTRY)]
        readme = export_instances(families, Path(args.export), quick=args.quick)
        print(f"riskopt bench: wrote the instances and {readme}", file=sys.stderr)
        return 0
    print(f"riskopt bench: writing results to {out}{'/' if not str(out).endswith('/') else ''}",
          file=sys.stderr)
    if args.solvers.strip().lower() != "auto":
        limit = args.time_limit or (QUICK_LIMIT_S if args.quick else LIMIT_S)
        return bench_solvers(args.solvers, [REGISTRY[n] for n in args.family or sorted(REGISTRY)], out,
                             quick=args.quick, repeat=args.repeat, time_limit=limit)
    for name in args.family or sorted(REGISTRY):
        fam = REGISTRY[name]
        with bar(1, f"bench {fam.name}", unit="family", delay=0.0) as meter:  # stderr, terminals only
            rows = run(fam, quick=args.quick, repeat=args.repeat)
            meter.update(1)
        columns = fam.columns + (["ratio"] if fam.ratio_to else []) + \
            (["note"] if any(r.get("note") for r in rows) and "note" not in fam.columns else [])
        print(f"\n== {fam.name}: {fam.description}\n")
        print(table(rows, columns))
        stem = fam.name + ("_quick" if args.quick else "")
        path = save(stem, rows, columns, out=out, notes=fam.notes + NOTE)
        figure = plot(fam, rows, out / f"{stem}.png")
        print(f"riskopt bench: wrote {path}" + (f" and {figure}" if figure else ""), file=sys.stderr)
    return 0


QUICK_LIMIT_S = 10.0
LIMIT_S = 300.0


def bench_solvers(spec: str, families: list[Family], out: Path, *, quick: bool, repeat: int,
                  time_limit: float) -> int:
    """``--solvers spec``: every family with a solver matrix on every solver named, then the
    aggregates (shifted geometric means, performance and accuracy profiles) over all instances."""
    from .profiles import SHIFT_S, SUMMARY_COLUMNS, plot_profiles, summary
    from .solvers import OBJECTIVE_TOL, describe, discover, matrix_sizes, run_matrix

    solvers = discover(spec)
    if not solvers:
        print(f"riskopt bench: error: --solvers {spec}: no solver named", file=sys.stderr)
        return 2
    print(f"riskopt bench: {sum(s.installed for s in solvers)} solvers (name, version, cone types):\n"
          + describe(solvers), file=sys.stderr)
    suffix = "_quick" if quick else ""
    rows: list[dict[str, Any]] = []
    for fam in families:
        if fam.solvers is None:
            print(f"riskopt bench: {fam.name}: no solver matrix (its runners are fixed): skipped",
                  file=sys.stderr)
            continue
        cells = len(matrix_sizes(fam, quick)) * len(solvers)
        with bar(cells, f"bench {fam.name} x {len(solvers)} solvers", unit="solve", delay=0.0) as meter:
            def step() -> None:
                meter.update(1)

            fam_rows = run_matrix(fam, solvers, quick=quick, repeat=repeat, time_limit=time_limit,
                                  progress=step)
        rows += fam_rows
        columns = SOLVER_COLUMNS + (["note"] if any(r.get("note") for r in fam_rows) else [])
        print(f"\n== {fam.name} x solvers: {fam.description}\n")
        print(table(fam_rows, columns))
        stem = f"{fam.name}_solvers{suffix}"
        rule = SOLVER_NOTE.format(limit=time_limit, tol=OBJECTIVE_TOL)
        notes = f"{fam.solvers.note or fam.description}\n\n{rule}"
        path = save(stem, fam_rows, columns, out=out, notes=notes)
        figure = plot_profiles(fam_rows, out / f"{stem}.png", title=fam.name)
        print(f"riskopt bench: wrote {path}" + (f" and {figure}" if figure else ""), file=sys.stderr)
    if not rows:
        print("riskopt bench: no family with a solver matrix was run", file=sys.stderr)
        return 0
    table_rows = summary(rows, time_limit)
    print(f"\n== solvers: shifted geometric mean of time (shift {SHIFT_S:g} s, unsolved at the "
          f"{time_limit:g} s limit), number solved, rho(2)\n")
    print(table(table_rows, SUMMARY_COLUMNS))
    env = "\n".join(f"- {s.name}: {s.version or '-'} ({s.cone_label or '-'})"
                     + (f": {s.reason}" if s.reason else "") for s in solvers)
    settings = environment(1 if quick else repeat, time_limit)
    notes = (f"{SUMMARY_NOTE.format(limit=time_limit, shift=SHIFT_S, tol=OBJECTIVE_TOL)}\n\n{settings}\n\n"
             f"Solvers:\n\n{env}\n\n{limits_hit(rows)}")
    path = save(f"solvers{suffix}", table_rows, SUMMARY_COLUMNS, out=out, notes=notes)
    lines = "".join(json.dumps(jsonable(r), sort_keys=True) + "\n" for r in rows)
    write_atomic(out / f"solvers{suffix}.jsonl", lines)
    figure = plot_profiles(rows, out / f"solvers{suffix}_profiles.png",
                           title=f"{len({r['instance'] for r in rows})} instances")
    print(f"riskopt bench: wrote {path}" + (f" and {figure}" if figure else ""), file=sys.stderr)
    return 0


def environment(repeat: int, time_limit: float) -> str:
    """The run's machine and settings, for the report."""
    import platform

    import cvxpy

    return (f"Environment: Python {platform.python_version()} on {platform.machine()} "
            f"({os.cpu_count()} cores), cvxpy {cvxpy.__version__}, numpy {np.__version__}; BLAS pinned "
            f"to one thread; time limit {time_limit:g} s per solve; median of {repeat} run(s) per cell.")


def limits_hit(rows: list[dict[str, Any]]) -> str:
    """The size-limited licences' refusals of the run: solver, first instance refused, its words."""
    from .solvers import SIZE_LICENCE

    first: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.get("reason") == SIZE_LICENCE and r.get("status") is not None:
            first.setdefault(r["runner"], r)
    if not first:
        return "Licence size limits hit: none."
    items = "\n".join(f"- {name}: refused {r['instance']} ({short_message(r.get('message'))})"
                      for name, r in first.items())
    return f"Licence size limits hit (the first instance refused; larger ones were skipped):\n\n{items}"


def short_message(message: Any, limit: int = 140) -> str:
    text = " ".join(str(message or "no message").split()).replace("|", "/")
    return text if len(text) <= limit else text[: limit - 3] + "..."


SOLVER_COLUMNS = ["size", "runner", "status", "solved", "time_s", "build_s", "compile_s", "solve_s",
                  "iterations", "duals", "primal_residual", "dual_residual", "gap", "objective_error",
                  "reason", "message"]

SOLVER_NOTE = ("One row per (instance, solver). status: riskopt's (the solver's word gated by the KKT"
               " certificate); solved: status ok (certificate within its tight tolerance), duals "
               "returned, objective within {tol:g} of the reference and time_s <= {limit:g} s; time_s = "
               "compile_s + solve_s (median over repeats; build_s is riskopt's model build, the same "
               "for every solver); primal_residual, dual_residual, gap: the certificate's scaled "
               "residuals; objective_error: |objective - reference| / |reference|; reason: why a "
               "solver was skipped or did not solve (message: its own words). Each solver at "
               "riskopt's defaults (riskopt's tolerances for CLARABEL, ECOS, SCS and HiGHS, the "
               "solver's own elsewhere), no KKT polish.")

SUMMARY_NOTE = ("Per solver, over every instance of the run: solved (status ok, duals returned, "
                "objective within {tol:g} of the reference and within the {limit:g} s limit), sgm_s: "
                "shifted geometric mean of time_s with shift {shift:g} s, an instance not solved "
                "(skipped included) counted at the limit; sgm_ratio: over the best solver's; rho(2): "
                "fraction of instances solved within twice the fastest solver's time (performance "
                "profile at tau = 2). The figure: performance profiles (tau on a log2 axis) and "
                "accuracy profiles.")

NOTE = ("\nTimings: median over repeats (seconds), BLAS pinned to one thread; ratio = this runner's total "
        "time / the reference runner's total time for the same size.")


if __name__ == "__main__":
    raise SystemExit(main())
