"""Run the benchmark families and print results side by side (``python -m benchmarks.run``).

``--quick`` runs the small sizes once (a smoke pass); results go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from pathlib import Path

from .harness import REGISTRY, run, save, table

# every benchmarks/bench_*.py registers its families on import
for _info in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _info.name.startswith("bench_"):
        importlib.import_module(f"{__package__}.{_info.name}")

COLUMNS = ["size", "runner", "status", "total_s", "compile_s", "solve_s", "polish_s", "iterations",
           "W_rel_err", "density_L1P_err", "density_maxrel_err", "alloc_err_mod_const", "ratio"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--family", choices=sorted(REGISTRY), action="append")
    args = ap.parse_args(argv)
    for name in args.family or sorted(REGISTRY):
        fam = REGISTRY[name]
        rows = run(fam, quick=args.quick, repeat=args.repeat)
        base = {r["size"]: r["total_s"] for r in rows if r["runner"].startswith("hand-written")}
        for r in rows:  # riskopt's total time over the hand-written model of the same program
            if r["runner"].startswith("riskopt clarabel") and r["size"] in base:
                r["ratio"] = r["total_s"] / base[r["size"]]
        print(f"\n== {fam.name}: {fam.description}\n")
        print(table(rows, COLUMNS))
        path = save(fam.name + ("_quick" if args.quick else ""), rows, COLUMNS,
                    notes=fam.notes + "\nTimings: median over repeats (seconds), BLAS pinned to one thread; "
                          "ratio = riskopt total / hand-written cvxpy total for the same program; errors "
                          "vs the closed form on the unpruned law (density: E_P-norm, and max relative "
                          "error over atoms of probability >= 1e-12).")
        print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
