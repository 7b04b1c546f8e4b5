"""Run the benchmark families and print results side by side (``python -m benchmarks.run``).

``--quick`` runs the small sizes once (a smoke pass); results go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from .harness import REGISTRY, RESULTS, plot, run, save, table

# every benchmarks/bench_*.py registers its families on import
for _info in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _info.name.startswith("bench_"):
        importlib.import_module(f"{__package__}.{_info.name}")

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 2, like the riskopt command
        print(f"riskopt bench: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    ap = _Parser(prog="riskopt bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat (a CI smoke pass)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is reported")
    ap.add_argument("--family", choices=sorted(REGISTRY), action="append", help="run only these")
    ap.add_argument("--out", default=str(RESULTS), help="directory for CSV, markdown and plots")
    args = ap.parse_args(argv)
    out = Path(args.out)
    for name in args.family or sorted(REGISTRY):
        fam = REGISTRY[name]
        rows = run(fam, quick=args.quick, repeat=args.repeat)
        columns = fam.columns + (["ratio"] if fam.ratio_to else [])
        print(f"\n== {fam.name}: {fam.description}\n")
        print(table(rows, columns))
        stem = fam.name + ("_quick" if args.quick else "")
        path = save(stem, rows, columns, out=out, notes=fam.notes + NOTE)
        figure = plot(fam, rows, out / f"{stem}.png")
        print(f"\nwritten {path}" + (f" and {figure}" if figure else ""))
    return 0


NOTE = ("\nTimings: median over repeats (seconds), BLAS pinned to one thread; ratio = this runner's total "
        "time / the reference runner's total time for the same size.")


if __name__ == "__main__":
    raise SystemExit(main())
