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

**Nothing finished is lost.** With ``journal=PATH`` every finished chunk's rows are appended to a
JSON-lines file (flushed and fsync'd) as they arrive, and ``resume=True`` skips the points already
there. A worker that dies (an abort, the OOM killer, SIGKILL) loses only its chunk, which is run
again point by point; a point that kills its worker a second time becomes a row with status
``error`` and the message ``worker died``. An interrupt (Ctrl-C, SIGTERM) stops the workers and
leaves every finished row in the journal.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import itertools
import json
import logging
import math
import os
import signal
import threading
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError
from .progress import bar, enabled
from .progress import quiet as quiet_progress
from .status import Status

__all__ = ["Compiled", "Dask", "Journal", "Processes", "SweepResult", "WorkerLost", "grid", "pointwise",
           "runner_from", "serial", "sweep"]

Point = dict[str, Any]
Row = dict[str, Any]
#: called with an item's index and its result when the runner has finished it
Done = Callable[[int, Any], None]


@dataclass(frozen=True)
class WorkerLost:
    """What a runner returns for an item whose worker died before answering (never raised)."""

    message: str


#: the most points one sweep takes (each point keeps a row: about a kilobyte, more with many agents)
MAX_POINTS = 1_000_000


def grid(**axes: Iterable[Any]) -> list[Point]:
    """Cartesian product of named axes: ``grid(a=[1, 2], b=[0.1, 0.2])`` gives 4 points (at most
    :data:`MAX_POINTS`, counted before any point is built)."""
    names = list(axes)
    values = []
    for name, axis in axes.items():
        if isinstance(axis, (str, bytes, Mapping)) or not isinstance(axis, Iterable):
            raise ModelError(f"grid.{name}", axis, "a list of values")
        values.append(list(axis))
        if not values[-1]:
            raise ModelError(f"grid.{name}", values[-1], "at least one value")
    count = math.prod(len(v) for v in values)
    if count > MAX_POINTS:
        sizes = " x ".join(f"{len(v)} ({name})" for name, v in zip(names, values, strict=True))
        raise ModelError("--grid", f"{count} points", f"at most {MAX_POINTS} points in one sweep",
                         detail=sizes)
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
            done(i, out[-1])
    return out


@dataclass
class Processes:
    """Local processes (``concurrent.futures.ProcessPoolExecutor``); the task must be picklable.

    A worker that dies makes the pool unusable: the items it had not answered come back as
    :class:`WorkerLost` (the sweep runs them again). An interrupt terminates the workers (no
    orphans) before it propagates."""

    workers: int | None = None

    def __call__(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
                 done: Done | None = None) -> list[Any]:
        out: list[Any] = [None] * len(items)
        pool = ProcessPoolExecutor(max_workers=self.workers)
        try:
            futures = {pool.submit(fn, x): i for i, x in enumerate(items)}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    out[i] = fut.result()
                except BrokenProcessPool as err:
                    out[i] = WorkerLost(f"worker died: {err}"[:200])
                if done is not None:
                    done(i, out[i])
        except BaseException:  # KeyboardInterrupt, SystemExit from a signal: stop every worker
            _terminate(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return out


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's worker processes (an interrupted sweep leaves no orphans)."""
    processes = getattr(pool, "_processes", None) or {}
    for proc in list(processes.values()):
        if proc.is_alive():
            proc.terminate()
    for proc in list(processes.values()):
        proc.join(timeout=5)


#: how long a sweep waits to reach a dask scheduler given by address
SCHEDULER_TIMEOUT_S = 10


@dataclass
class Dask:
    """A dask.distributed cluster: ``Dask("tcp://host:8786")`` connects to a scheduler, ``Dask()``
    starts a ``LocalCluster`` of ``workers`` processes for the duration of the call.

    An interrupt (Ctrl-C, SIGTERM) kills the local workers at once and closes the cluster with
    distributed's logging off: nothing of distributed's reaches the terminal and no worker process
    outlives the call (:func:`_start_local`, :func:`_stopping`)."""

    address: str | None = None
    workers: int = 2
    threads_per_worker: int = 1

    def __call__(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
                 done: Done | None = None) -> list[Any]:
        try:
            from distributed import Client
        except ImportError:
            raise ModelError("runner", "dask", "dask.distributed installed: "
                             "pip install 'riskopt[dask]'") from None
        if self.address:
            try:
                client = Client(self.address, timeout=f"{SCHEDULER_TIMEOUT_S}s")
            except OSError as err:  # unreachable, refused, not a scheduler
                raise ModelError("scheduler", self.address, f"a dask scheduler reachable within "
                                 f"{SCHEDULER_TIMEOUT_S} s", detail=str(err)) from None
            with _stopping(client):
                return self._map(client, fn, items, done)
        cluster, client = _start_local(self.workers, self.threads_per_worker)
        with _stopping(client, cluster):
            return self._map(client, fn, items, done)

    @staticmethod
    def _map(client: Any, fn: Callable[[Any], Any], items: Sequence[Any], done: Done | None) -> list[Any]:
        """Scatter the task and the items first (large arrays then travel once, not inside the
        task graph), then map; ``done`` hears of each future as it completes."""
        from distributed import as_completed as completed

        task = client.scatter(fn, broadcast=True)
        data = client.scatter(list(items))
        futures = client.map(lambda f, x: f(x), [task] * len(data), data, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        out: list[Any] = [None] * len(futures)
        for fut in completed(futures, raise_errors=False):
            i = index[fut.key]
            try:  # the task records a point's own errors: an exception here is the cluster's
                out[i] = fut.result()
            except Exception as err:  # KilledWorker, a cancelled future
                if fut.status == "finished":  # not the future's: an interrupt raised by a signal handler
                    raise
                out[i] = WorkerLost(f"worker died: {type(err).__name__}: {err}"[:200])
            if done is not None:
                done(i, out[i])
        return out


def _start_local(workers: int, threads_per_worker: int) -> tuple[Any, Any]:
    """A ``LocalCluster`` of ``workers`` processes and a ``Client`` on it.

    The worker processes are spawned while this process ignores SIGINT, so they inherit the
    ignored disposition (it survives ``exec``, and Python then installs no KeyboardInterrupt
    handler): a Ctrl-C at the terminal, which signals the whole foreground process group, reaches
    this process only, which stops the workers itself (:func:`_stopping`), instead of every worker
    printing tracebacks. The handler is back as soon as the workers are spawned (the cluster starts
    in a thread, so that the wait for its workers can be interrupted); an interrupt while they
    start waits for them, then stops them (no orphans)."""
    import multiprocessing.process

    from distributed import Client, LocalCluster

    made: dict[str, Any] = {}

    def start() -> None:
        try:
            made["cluster"] = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker,
                                           processes=True, dashboard_address=None)
            made["client"] = Client(made["cluster"])
        except BaseException as err:  # raised again in the calling thread
            made["failure"] = err

    def spawned() -> int:  # the processes multiprocessing has started from this one (read only)
        return len(getattr(multiprocessing.process, "_children", ()))

    before = spawned()
    restore: Any = None
    if threading.current_thread() is threading.main_thread():
        restore = signal.signal(signal.SIGINT, signal.SIG_IGN)
        restore = signal.SIG_DFL if restore is None else restore
    starter = threading.Thread(target=start, name="riskopt-dask-start", daemon=True)
    starter.start()
    try:
        while starter.is_alive():
            if restore is not None and spawned() - before >= workers:
                signal.signal(signal.SIGINT, restore)
                restore = None
            starter.join(0.02)
    except BaseException:  # interrupted while the workers start
        with _quietly():
            starter.join()
            _stop(made.get("client"), made.get("cluster"), now=True)
        raise
    finally:
        if restore is not None:
            signal.signal(signal.SIGINT, restore)
    if "failure" in made:
        _stop(made.get("client"), made.get("cluster"), now=False)
        raise made["failure"]
    return made["cluster"], made["client"]


@contextlib.contextmanager
def _stopping(client: Any, cluster: Any = None) -> Iterator[None]:
    """Close ``client`` (and the local ``cluster``) after the block. On an exception (an interrupt)
    the local workers are killed at once rather than closed gracefully (a solve in progress cannot
    be cancelled: the nanny would wait for it, then kill the worker, while the worker logs its
    cancelled task), with distributed's logging off (:func:`_quietly`)."""
    try:
        yield
    except BaseException:
        with _quietly():
            _stop(client, cluster, now=True)
        raise
    _stop(client, cluster, now=False)


def _stop(client: Any, cluster: Any, *, now: bool) -> None:
    """Close a client and a local cluster (either may be ``None``); ``now``: kill the cluster's
    worker processes first, telling their nannies not to restart them."""
    if now and cluster is not None:
        for nanny in list(getattr(cluster, "workers", {}).values()):
            with contextlib.suppress(Exception):
                nanny.close_gracefully(reason="riskopt sweep interrupted")  # no restart
            pid = getattr(nanny, "pid", None)
            if pid:
                with contextlib.suppress(OSError):
                    os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    if client is not None:
        client.close()
    if cluster is not None:
        cluster.close()


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    """For the block: logging off (distributed logs from the main process too: its scheduler and
    nannies run here) and, in the main thread, SIGINT and SIGTERM ignored, so that stopping after an
    interrupt prints nothing and is not itself interrupted by a second Ctrl-C."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    handlers: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, signal.SIG_IGN)
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        logging.disable(previous)


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
        """Write the rows as CSV, atomically (an existing file is replaced whole or not at all)."""
        import io

        from .data import write_atomic

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns())
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: _cell(v) for k, v in r.items()})
        write_atomic(path, buffer.getvalue())
        return Path(path)

    def table(self) -> str:
        """The rows as text (:func:`riskopt.report.format_table`: long sweeps cut, wide ones split)."""
        from .report import format_table

        return format_table(self.rows, self.columns(), noun="points")


def _cell(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    return v


class Journal:
    """Rows appended to a JSON-lines file as they finish (flushed and fsync'd, so a crash keeps
    them); :meth:`done_rows` reads back what a previous run finished (``--resume``)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @staticmethod
    def key(point: Point, names: Sequence[str]) -> str:
        """A point's identity: its parameters as sorted JSON."""
        return json.dumps({k: point.get(k) for k in names}, sort_keys=True, default=str)

    def done_rows(self, names: Sequence[str]) -> dict[str, Row]:
        """The rows already in the journal by point key. A last line a crash cut short is cut off
        the file (the rows appended next start on a line of their own)."""
        if not self.path.is_file():
            return {}
        with self.path.open("rb+") as fh:
            data = fh.read()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                fh.truncate(end)
        rows: dict[str, Row] = {}
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # the line a crash cut short
                    continue
                if isinstance(row, dict):
                    rows[self.key(row, names)] = row
        return rows

    def append(self, rows: Sequence[Row]) -> None:
        from .data import jsonable

        with self.path.open("a", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(jsonable(row), allow_nan=False, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _lost_rows(piece: Sequence[Point], lost: WorkerLost) -> list[Row]:
    return [{"status": Status.ERROR, "message": lost.message} for _ in piece]


def sweep(task: Callable[[Sequence[Point]], list[Row]] | Callable[[Point], Mapping[str, Any]],
          points: Sequence[Point], *, runner: Any = None, chunks: int | None = None,
          progress: bool | None = None, quiet: bool = False, journal: str | Path | None = None,
          resume: bool = False) -> SweepResult:
    """Evaluate ``task`` on every point and return the rows in the order of ``points``.

    ``task`` is a chunk task (:func:`pointwise`, :class:`Compiled`) or a plain per-point function
    (wrapped by :func:`pointwise`). ``chunks`` (default: one per worker, at least the number of
    points divided by 50) splits the points into contiguous chunks. ``runner`` is a callable
    ``runner(fn, items)`` or a spec for :func:`runner_from`. A progress bar on stderr counts the
    points as their chunks complete, on every bundled runner (a runner of your own reports at the
    end); it shows when ``progress`` is true, or by default when stderr is a terminal and not
    ``quiet``. ``journal``: a JSON-lines file each finished row is appended to at once;
    ``resume=True`` takes the rows already there and evaluates only the other points. Chunks whose
    worker died are run again point by point (module docstring).
    """
    points = [dict(p) for p in points]
    if not points:
        return SweepResult([], 0.0)
    if not isinstance(task, (_Pointwise, Compiled)):
        task = pointwise(typing.cast(Callable[[Point], Mapping[str, Any]], task))
    run = runner if callable(runner) else runner_from(runner)
    names = list(dict.fromkeys(k for p in points for k in p))
    book = None if journal is None else Journal(journal)
    if book is not None and not resume and book.path.exists():
        book.path.unlink()  # a fresh sweep starts a fresh journal
    finished = book.done_rows(names) if book is not None and resume else {}
    todo = [p for p in points if Journal.key(p, names) not in finished]
    t0 = time.perf_counter()
    computed: dict[str, Row] = {}
    if todo:
        computed = _evaluate(task, todo, run, chunks, names, book,
                             show=False if quiet and progress is None else enabled(progress))
    rows = [finished.get(k) or computed[k] for k in (Journal.key(p, names) for p in points)]
    return SweepResult(rows, time.perf_counter() - t0)


def _evaluate(task: Callable[[Sequence[Point]], list[Row]], points: list[Point], run: Any,
              chunks: int | None, names: list[str], book: Journal | None, *, show: bool) -> dict[str, Row]:
    """The rows of ``points`` by point key; chunks whose worker died are run again point by point."""
    n = len(points)
    workers = getattr(run, "workers", None) or 1
    k = chunks or max(workers, math.ceil(n / 50))
    k = max(1, min(k, n))
    bounds = [round(i * n / k) for i in range(k + 1)]
    pieces = [points[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    work = _Quietly(task)
    rows: dict[str, Row] = {}
    lost: list[Point] = []

    with bar(n, "sweep", unit="point", show=show, delay=0.0) as meter:
        def take(piece: Sequence[Point], out: Any, final: bool) -> None:
            if isinstance(out, WorkerLost) and not final:
                lost.extend(piece)  # run again, one point per item: only the culprit fails
                return
            out = _lost_rows(piece, out) if isinstance(out, WorkerLost) else out
            if len(out) != len(piece):
                raise RuntimeError(f"a chunk task returned {len(out)} rows for {len(piece)} points")
            merged = []
            for p, r in zip(piece, out, strict=True):
                rest = {key: v for key, v in r.items() if key != "status"}
                merged.append({**p, **({"status": r["status"]} if "status" in r else {}), **rest})
            if book is not None:
                book.append(merged)
            rows.update({Journal.key(p, names): m for p, m in zip(piece, merged, strict=True)})
            meter.update(len(piece))

        def drive(items: list[list[Point]], final: bool) -> None:
            if run is serial or isinstance(run, (Processes, Dask)):
                run(work, items, done=lambda i, out: take(items[i], out, final))
            else:  # a runner of its own: no word until it returns
                for piece, out in zip(items, run(work, items), strict=True):
                    take(piece, out, final)

        drive(pieces, final=False)
        if lost:
            drive([[p] for p in lost], final=True)
        meter.refresh()  # the final count is drawn, even when every chunk finished within one interval
    return rows
