"""Benchmark harness: a registry of cases, repeated runs, median (min-max), table/CSV/markdown.

A *case* is a function ``case(size) -> dict`` of prepared inputs; a *runner* is
``runner(inputs) -> dict`` of metrics (``total_s`` required; ``compile_s``, ``solve_s``,
``iterations``, ``status`` and accuracy columns optional). ``run(family, sizes, runners, repeat)``
times every runner on every size and keeps the median of each timing over the repeats.
BLAS is pinned to one thread (multi-threaded BLAS on two cores made small dense solves far slower).
Warnings raised while a case is prepared or a runner runs (cvxpy's "Solution may be inaccurate")
are not printed: they land in the row's ``note`` column, where they belong to the measurement.
Every file is written atomically (:func:`riskopt.data.write_atomic`).

A family may also declare a :class:`SolverMatrix`: its program built from a case, the cone types it
needs and its reference optimal value. ``riskopt bench --solvers all|LIST`` then runs that program
on every solver discovered (:mod:`benchmarks.solvers`) instead of the family's fixed runners, and
aggregates the rows the way the solver-benchmarking literature does (:mod:`benchmarks.profiles`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from riskopt.data import write_atomic

RESULTS = Path("benchmarks") / "results"  # relative to the working directory (the repo root)
TIMINGS = ("total_s", "build_s", "compile_s", "solve_s", "polish_s")


@dataclass
class Runner:
    name: str
    fn: Callable[[dict[str, Any]], dict[str, Any]]
    max_size: float = float("inf")  # skip larger sizes (too slow or pointless)
    min_size: float = 0  # skip smaller sizes (a fixed-budget baseline worth one run at the top size)
    note: str = ""


@dataclass
class SolverMatrix:
    """A family's program on any solver (``riskopt bench --solvers``).

    ``program(inputs)`` builds a fresh riskopt :class:`~riskopt.program.Program` from the inputs of
    ``case(size)`` (the family's own case unless given); ``reference(inputs)`` is the family's
    reference optimal value (a closed form or an independent fast path), against which the
    objective error of every solver is measured. ``cones`` are the cone types its programs need, in
    :func:`riskopt.backends.base.cone_types`'s words (``benchmarks.solvers.LP``, ``QP``, ``EXP``...):
    a solver lacking one is skipped with that reason. ``sizes`` / ``quick_sizes`` default to the
    family's.
    """

    program: Callable[[dict[str, Any]], Any]
    reference: Callable[[dict[str, Any]], float]
    cones: frozenset[str]
    case: Callable[[int], dict[str, Any]] | None = None
    sizes: list[int] | None = None
    quick_sizes: list[int] | None = None
    note: str = ""  # what the instances are, copied into the report


@dataclass
class Family:
    name: str
    case: Callable[[int], dict[str, Any]]
    sizes: list[int]
    quick_sizes: list[int]
    runners: list[Runner] = field(default_factory=list)
    description: str = ""
    notes: str = ""  # formulation and reading notes, copied into the markdown report
    columns: list[str] = field(default_factory=lambda: ["size", "runner", "status", "total_s", "compile_s",
                                                        "solve_s", "iterations"])
    accuracy: str | None = None  # the error column plotted against time
    repeat: int | None = None  # overrides the command's --repeat (for long families)
    ratio_to: str | None = None  # runner whose total time is the denominator of the "ratio" column
    solvers: SolverMatrix | None = None  # its program on any solver (``--solvers``)


REGISTRY: dict[str, Family] = {}


def register(family: Family) -> Family:
    REGISTRY[family.name] = family
    return family


def run(family: Family, *, quick: bool = False, repeat: int = 3) -> list[dict[str, Any]]:
    """Run every runner on every size; timings are medians over ``repeat`` runs (min-max kept)."""
    rows = []
    sizes = family.quick_sizes if quick else family.sizes
    repeat = family.repeat or repeat
    with threadpool_limits(limits=1, user_api="blas"):
        for size in sizes:
            with warnings.catch_warnings(record=True) as case_warnings:
                warnings.simplefilter("always")
                inputs = family.case(size)
            for runner in family.runners:
                if not runner.min_size <= size <= runner.max_size:
                    continue
                samples = []
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    for _ in range(1 if quick else repeat):
                        t0 = time.perf_counter()
                        try:
                            out = runner.fn(inputs)
                        except Exception as err:  # a failing runner is a result too
                            out = {"status": f"error: {type(err).__name__}: {err}"[:80]}
                        out.setdefault("total_s", time.perf_counter() - t0)
                        samples.append(out)
                row = {"family": family.name, "size": size, "runner": runner.name, **samples[-1]}
                note = warning_note([*case_warnings, *caught])
                if note:
                    row["note"] = "; ".join(p for p in (str(row.get("note") or ""), note) if p)
                rows.append(with_medians(row, samples))
    if family.ratio_to:
        base = {r["size"]: r["total_s"] for r in rows if r["runner"] == family.ratio_to}
        for r in rows:
            if r["size"] in base and r["runner"] != family.ratio_to and r.get("total_s"):
                r["ratio"] = r["total_s"] / base[r["size"]]
    return rows


def fresh_process(code: str, setup: str = "") -> dict[str, Any]:
    """Run ``code``, which sets the dict ``out``, in a fresh interpreter with BLAS pinned to one thread,
    after ``setup`` (lines of imports, not timed): ``out`` with ``total_s`` (the time of ``code``) and
    ``peak_MB`` (the process's peak resident memory, ``ru_maxrss``), or ``{"status": "error: ..."}``
    with the last line of its standard error."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    prog = ("import json, resource, time\n" + setup +
            "t0 = time.perf_counter()\n" + code +
            "\nout['total_s'] = time.perf_counter() - t0\n"
            "out['peak_MB'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
            "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        return {"status": "error: " + (done.stderr.strip().splitlines() or ["?"])[-1][:70]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def with_medians(row: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """``row`` with every timing (``*_s``) the median over ``samples`` and its spread as
    ``<key>_range`` (``"min-max"``)."""
    timing_keys = dict.fromkeys([*TIMINGS, *(k for s in samples for k in s if k.endswith("_s"))])
    for key in timing_keys:
        vals = [s[key] for s in samples if isinstance(s.get(key), (int, float))]
        if vals:
            row[key] = statistics.median(vals)
            row[f"{key}_range"] = f"{min(vals):.3g}-{max(vals):.3g}"
    return row


def warning_note(caught: list[warnings.WarningMessage]) -> str:
    """The distinct messages of caught warnings (their first sentence) on one line
    (``"warning: ..."``), or ``""``."""
    messages = dict.fromkeys(" ".join(str(w.message).split()).split(". ")[0][:100] for w in caught)
    return "; ".join(f"warning: {m}" for m in messages)


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"
    return "-" if v is None else str(v)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(x[j]) for x in cells)]) for j, c in enumerate(columns)]
    out = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)


def save(name: str, rows: list[dict[str, Any]], columns: list[str], notes: str = "",
         out: Path = RESULTS) -> Path:
    """Write ``<out>/<name>.csv`` and ``<out>/<name>.md``."""
    out.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buffer = io.StringIO()
    w = csv.DictWriter(buffer, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    write_atomic(out / f"{name}.csv", buffer.getvalue())
    md = out / f"{name}.md"
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join("| " + " | ".join(fmt(r.get(c)) for c in columns) + " |\n" for r in rows)
    write_atomic(md, f"# {name}\n\n{notes}\n\n{head}{body}")
    return md


def plot(family: Family, rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Time vs size per runner (log-log) and, with an accuracy column, error vs time, in the riskopt
    figure style (tick labels that never crowd, one colour-blind-safe colour per runner)."""
    from riskopt.errors import ModelError
    from riskopt.plots import pyplot, readable_log, save_figure, styled

    try:
        plt = pyplot()
    except ModelError:  # matplotlib is not installed
        return None
    panels = 2 if family.accuracy else 1
    with styled():
        fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4.2), squeeze=False)
        ax = axes[0][0]
        for runner in dict.fromkeys(r["runner"] for r in rows):
            pts = sorted((r["size"], r["total_s"]) for r in rows if r["runner"] == runner
                         and isinstance(r.get("total_s"), float) and r["total_s"] > 0
                         and r["size"] > 0)  # a log axis: signed sizes (quick instances) are labels
            if pts:
                ax.loglog(*zip(*pts, strict=True), marker="o", label=runner)
        ax.set_xlabel("problem size")
        ax.set_ylabel("total time (s, log scale)")
        ax.set_title(f"{family.name}: time against size")
        if ax.has_data():
            readable_log(ax, "x")
            readable_log(ax, "y")
            ax.legend(loc="best")
        if family.accuracy:
            ax = axes[0][1]
            for runner in dict.fromkeys(r["runner"] for r in rows):
                pts = [(r["total_s"], max(r[family.accuracy], 1e-17)) for r in rows
                       if r["runner"] == runner and isinstance(r.get(family.accuracy), float)
                       and isinstance(r.get("total_s"), float)]
                if pts:
                    ax.loglog(*zip(*pts, strict=True), marker="o", ls="", label=runner)
            ax.set_xlabel("total time (s, log scale)")
            ax.set_ylabel(f"{family.accuracy} (log scale)")
            ax.set_title("accuracy against time")
            if ax.has_data():
                readable_log(ax, "x")
                readable_log(ax, "y")
            ax.legend(loc="best")
        fig.set_layout_engine("constrained")
    return save_figure(fig, path)
