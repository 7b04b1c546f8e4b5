"""Run the benchmark families and print results side by side (``riskopt bench``,
``python -m benchmarks.run``).

``--quick`` runs the small sizes once (a smoke pass). Tables go to stdout; CSV, markdown and plots
to ``--out``: by default ``benchmarks/results`` when run from the riskopt repository (the committed
results), else ``./riskopt-bench`` in the current directory. Where they went is said on stderr;
library warnings (cvxpy's "Solution may be inaccurate") become the row's ``note``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from riskopt.progress import bar

from .harness import REGISTRY, RESULTS, plot, run, save, table

# every benchmarks/bench_*.py registers its families on import
for _info in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _info.name.startswith("bench_"):
        importlib.import_module(f"{__package__}.{_info.name}")

OUTSIDE_REPOSITORY = Path("riskopt-bench")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 2, like the riskopt command
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
    args = ap.parse_args(argv)
    out = Path(args.out) if args.out else default_out()
    if out.exists() and not out.is_dir():
        ap.error(f"--out {out}: expected a directory")
    print(f"riskopt bench: writing results to {out}{'/' if not str(out).endswith('/') else ''}",
          file=sys.stderr)
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


NOTE = ("\nTimings: median over repeats (seconds), BLAS pinned to one thread; ratio = this runner's total "
        "time / the reference runner's total time for the same size.")


if __name__ == "__main__":
    raise SystemExit(main())
