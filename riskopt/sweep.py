"""Parameter sweeps that scale out: serial, local processes, or a dask.distributed cluster.

A sweep evaluates a *task* on a list of parameter points (dicts) and returns one row per point.
The unit of work sent to a worker is a **chunk** of points, so that a worker can build one
parametrised (DPP) program from the first point and re-solve it for the rest, instead of
recompiling for every point:

* :func:`pointwise` wraps ``fn(params) -> dict`` (a fresh evaluation per point);
* :class:`Compiled` wraps ``build(params) -> state`` and ``solve(state, params) -> dict`` (build once
  per chunk, re-solve per point), e.g. a welfare program whose weights are a Parameter.

A **runner** is any callable ``runner(fn, items) -> list`` that applies ``fn`` to every item:
:func:`serial` (default), :class:`Processes` (``concurrent.futures``), :class:`Dask`
(``dask.distributed``: a scheduler address such as ``tcp://host:8786``, or a local cluster). The
bundled runners also take ``done=callback``, called with an item's index as soon as it completes
(whatever the order), which drives the progress bar (:mod:`riskopt.progress`) on every runner.

A failure at one point is recorded in its row (``status``: the failed solve's status, or ``error``,
with the message under ``message``) and does not lose the others. Results come back in the order of
the points, whatever the runner.
"""

from __future__ import annotations

import csv
import functools
import itertools
import math
import time
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError
from .progress import bar, enabled
from .progress import quiet as quiet_progress
from .status import Status

__all__ = ["Compiled", "Dask", "Processes", "SweepResult", "grid", "pointwise", "runner_from", "serial",
           "sweep"]

Point = dict[str, Any]
Row = dict[str, Any]
#: called with an item's index when the runner has finished it
Done = Callable[[int], None]


def grid(**axes: Iterable[Any]) -> list[Point]:
    """Cartesian product of named axes: ``grid(a=[1, 2], b=[0.1, 0.2])`` gives 4 points."""
    names = list(axes)
    values = [list(v) for v in axes.values()]
    for name, v in zip(names, values, strict=True):
        if not v:
            raise ModelError(f"grid.{name}", v, "at least one value")
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def row_status(row: Row) -> Status | None:
    """A row's status when it is one of riskopt's (a task may report anything else)."""
    value = row.get("status")
    return Status(str(value)) if value in Status._value2member_map_ else None


# ------------------------------------------------------------------------------- tasks
def _error_row(err: BaseException) -> Row:
    msg = f"{type(err).__name__}: {err}".replace("\n", " ")
    return {"status": Status.of(err), "message": msg[:300]}


@dataclass(frozen=True)
class _Pointwise:
    fn: Callable[[Point], Mapping[str, Any]]

    def __call__(self, points: Sequence[Point]) -> list[Row]:
        rows = []
        for p in points:
            t0 = time.perf_counter()
            try:
                out = dict(self.fn(p))
            except Exception as err:  # one failing point must not lose the others
                out = _error_row(err)
            out.setdefault("seconds", time.perf_counter() - t0)
            rows.append(out)
        return rows


def pointwise(fn: Callable[[Point], Mapping[str, Any]]) -> Callable[[Sequence[Point]], list[Row]]:
    """A chunk task that evaluates ``fn`` afresh at every point."""
    return _Pointwise(fn)


@dataclass(frozen=True)
class Compiled:
    """A chunk task that builds once per chunk and re-solves per point.

    ``build(first_point) -> state`` (e.g. a program whose knobs are cvxpy Parameters) and
    ``solve(state, point) -> dict`` (set the Parameters, solve, report). If ``build`` fails the
    whole chunk is recorded as failed; if one ``solve`` fails only its point is.
    """

    build: Callable[[Point], Any]
    solve: Callable[[Any, Point], Mapping[str, Any]]

    def __call__(self, points: Sequence[Point]) -> list[Row]:
        if not points:
            return []
        try:
            state = self.build(points[0])
        except Exception as err:
            return [_error_row(err) for _ in points]
        return _Pointwise(functools.partial(self.solve, state))(points)


@dataclass(frozen=True)
class _Quietly:
    """A chunk task run without progress bars of its own (a sweep shows one bar for all points)."""

    task: Callable[[Sequence[Point]], list[Row]]

    def __call__(self, points: Sequence[Point]) -> list[Row]:
        with quiet_progress():
            return self.task(points)


# ----------------------------------------------------------------------------- runners
def serial(fn: Callable[[Any], Any], items: Sequence[Any], *, done: Done | None = None) -> list[Any]:
    """Apply ``fn`` to every item in this process."""
    out = []
    for i, x in enumerate(items):
        out.append(fn(x))
        if done is not None:
            done(i)
    return out


@dataclass
class Processes:
    """Local processes (``concurrent.futures.ProcessPoolExecutor``); the task must be picklable."""

    workers: int | None = None

    def __call__(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
                 done: Done | None = None) -> list[Any]:
        with ProcessPoolExecutor(max_workers=self.workers) as pool:
            futures = {pool.submit(fn, x): i for i, x in enumerate(items)}
            out: list[Any] = [None] * len(futures)
            for fut in as_completed(futures):
                out[futures[fut]] = fut.result()
                if done is not None:
                    done(futures[fut])
            return out


@dataclass
class Dask:
    """A dask.distributed cluster: ``Dask("tcp://host:8786")`` connects to a scheduler, ``Dask()``
    starts a ``LocalCluster`` of ``workers`` processes for the duration of the call."""

    address: str | None = None
    workers: int = 2
    threads_per_worker: int = 1

    def __call__(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
                 done: Done | None = None) -> list[Any]:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ModelError("runner", "dask", "dask.distributed installed: "
                             "pip install 'riskopt[dask]'") from None
        if self.address:
            with Client(self.address) as client:
                return self._map(client, fn, items, done)
        with LocalCluster(n_workers=self.workers, threads_per_worker=self.threads_per_worker,
                          processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
            return self._map(client, fn, items, done)

    @staticmethod
    def _map(client: Any, fn: Callable[[Any], Any], items: Sequence[Any], done: Done | None) -> list[Any]:
        """Scatter the task and the items first (large arrays then travel once, not inside the
        task graph), then map; ``done`` hears of each future as it completes."""
        from distributed import as_completed as completed

        task = client.scatter(fn, broadcast=True)
        data = client.scatter(list(items))
        futures = client.map(lambda f, x: f(x), [task] * len(data), data, pure=False)
        if done is not None:
            index = {f.key: i for i, f in enumerate(futures)}
            for fut in completed(futures):
                done(index[fut.key])
        gathered: list[Any] = client.gather(futures)
        return gathered


#: at most this many local workers per core (``processes:N``, ``dask:N``): more only thrashes
WORKERS_PER_CORE = 4


def max_workers() -> int:
    """The largest ``N`` of ``processes:N`` / ``dask:N``: :data:`WORKERS_PER_CORE` per usable core."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return WORKERS_PER_CORE * max(cores, 1)


def _workers(spec: str, count: str) -> int:
    limit = max_workers()
    if not count.isdigit() or not 1 <= int(count) <= limit:
        raise ModelError("runner", spec, f"a worker count N in [1, {limit}] ({WORKERS_PER_CORE} per core "
                         "on this machine) after the colon")
    return int(count)


def runner_from(spec: str | None) -> Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]:
    """``None``/``"serial"``, ``"processes"``/``"processes:N"``, ``"dask"``/``"dask:N"`` (a local
    cluster of N workers, ``1 <= N <=`` :func:`max_workers`) or a scheduler address
    ``"tcp://host:port"``."""
    if spec is None or spec == "serial":
        return serial
    kind, colon, count = spec.partition(":")
    if kind == "processes":
        return Processes(_workers(spec, count) if colon else None)
    if kind == "dask":
        return Dask(workers=_workers(spec, count) if colon else 2)
    if spec.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        return Dask(address=spec)
    raise ModelError("runner", spec, "'serial', 'processes[:N]', 'dask[:N]' or a scheduler address tcp://...")


# ------------------------------------------------------------------------------ sweep
@dataclass
class SweepResult:
    """One row per point: the point's parameters, then what the task returned (``status`` first)."""

    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[Row]:
        """Rows whose point raised or whose solve returned no point."""
        return [r for r in self.rows if (s := row_status(r)) is not None and not s.has_point]

    @property
    def not_ok(self) -> list[Row]:
        """Rows whose status says a check did not pass (failed rows included)."""
        return [r for r in self.rows if (s := row_status(r)) is not None and not s.ok]

    def columns(self) -> list[str]:
        return list(dict.fromkeys(k for r in self.rows for k in r))

    def to_csv(self, path: str | Path) -> Path:
        out = Path(path)
        with open(out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns())
            writer.writeheader()
            for r in self.rows:
                writer.writerow({k: _cell(v) for k, v in r.items()})
        return out

    def table(self) -> str:
        """The rows as text (:func:`riskopt.report.format_table`: long sweeps cut, wide ones split)."""
        from .report import format_table

        return format_table(self.rows, self.columns(), noun="points")


def _cell(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    return v


def sweep(task: Callable[[Sequence[Point]], list[Row]] | Callable[[Point], Mapping[str, Any]],
          points: Sequence[Point], *, runner: Any = None, chunks: int | None = None,
          progress: bool | None = None, quiet: bool = False) -> SweepResult:
    """Evaluate ``task`` on every point and return the rows in the order of ``points``.

    ``task`` is a chunk task (:func:`pointwise`, :class:`Compiled`) or a plain per-point function
    (wrapped by :func:`pointwise`). ``chunks`` (default: one per worker, at least the number of
    points divided by 50) splits the points into contiguous chunks. ``runner`` is a callable
    ``runner(fn, items)`` or a spec for :func:`runner_from`. A progress bar on stderr counts the
    points as their chunks complete, on every bundled runner (a runner of your own reports at the
    end); it shows when ``progress`` is true, or by default when stderr is a terminal and not
    ``quiet``.
    """
    points = [dict(p) for p in points]
    if not points:
        return SweepResult([], 0.0)
    if not isinstance(task, (_Pointwise, Compiled)):
        task = pointwise(typing.cast(Callable[[Point], Mapping[str, Any]], task))
    run = runner if callable(runner) else runner_from(runner)
    n = len(points)
    workers = getattr(run, "workers", None) or 1
    k = chunks or max(workers, math.ceil(n / 50))
    k = max(1, min(k, n))
    bounds = [round(i * n / k) for i in range(k + 1)]
    pieces = [points[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    show = False if quiet and progress is None else enabled(progress)
    t0 = time.perf_counter()
    work = _Quietly(task)
    with bar(n, "sweep", unit="point", show=show, delay=0.0) as meter:
        if run is serial or isinstance(run, (Processes, Dask)):
            def done(i: int) -> None:
                meter.update(len(pieces[i]))

            results = run(work, pieces, done=done)
        else:  # a runner of its own: no word until it returns
            results = run(work, pieces)
            meter.update(n)
    rows = []
    for piece, out in zip(pieces, results, strict=True):
        if len(out) != len(piece):
            raise RuntimeError(f"a chunk task returned {len(out)} rows for {len(piece)} points")
        for p, r in zip(piece, out, strict=True):
            rest = {k: v for k, v in r.items() if k != "status"}
            rows.append({**p, **({"status": r["status"]} if "status" in r else {}), **rest})
    return SweepResult(rows, time.perf_counter() - t0)

