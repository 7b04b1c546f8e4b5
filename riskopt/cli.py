"""Command line: ``riskopt run CARD``, ``riskopt demo``, ``riskopt sweep``, ``riskopt export``,
``riskopt list``.

Exit codes (:data:`EXIT_CODES`): 0 the result's status is ok (``optimal`` or ``verified``); 2 a
user error (a bad card, flag or value: one line on stderr naming the field); 3 the run finished
but its status is not ok (a failed verification, an inaccurate or failed certificate, infeasible,
unbounded, a solver limit): the result is still printed (``--format json``: one JSON object with
its status) and one line on stderr says why; 1 an internal error (a bug: one line asking for a
report). Only the result goes to stdout. Output files are written only after a solve.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from .budget import SAFE_FRACTION
from .data import jsonable, pinned_threads, without_timings, write_atomic
from .errors import ModelError, RiskoptError, RiskoptWarning, SolveError
from .status import Status
from .terminal import safe, safe_stderr

__all__ = ["main"]

DEMO_CARD = "hurricane_pool"
SAFE_PERCENT = round(100 * SAFE_FRACTION)
EXIT_CODES = {0: "the result's status is ok (optimal or verified)",
              1: "internal error (please report it with the card)",
              2: "user error: a bad card, flag or value (one line naming the field)",
              3: "the run finished but its status is not ok (the result is printed with its status)",
              141: "stdout was closed before the result was written (riskopt demo | head -3): the output "
                   "is cut, nothing is reported, like any Unix tool stopped by SIGPIPE"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage + 2 lines)
        print(f"riskopt: error: {message} (see riskopt --help)", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    epilog = "exit codes:\n" + "\n".join(f"  {k}  {v}" for k, v in sorted(EXIT_CODES.items()))
    p = _Parser(prog="riskopt", description="Risk sharing and insurance mechanism design: solve model cards.",
                epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"riskopt {_version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, help_ in (("run", "solve a model card (TOML file or bundled card name)"),
                        ("demo", f"solve the bundled demo card ({DEMO_CARD})")):
        s = sub.add_parser(name, help=help_)
        if name == "run":
            s.add_argument("card", help="path to a TOML model card, or a bundled card name")
        s.add_argument("--backend", help="cvxpy | highs | pyomo (default: the card's)")
        s.add_argument("--solver", help="solver name, e.g. CLARABEL, ECOS, SCS, HIGHS")
        s.add_argument("--format", choices=("table", "json", "csv"), default="table",
                       help="table (for people), json (everything, one object) or csv (the per-agent "
                            "table: one header row, one row per agent)")
        s.add_argument("--output", metavar="FILE", help="write the result to FILE (atomically) instead of "
                                                        "stdout")
        s.add_argument("--plot", metavar="FILE", help="write a figure (PNG/PDF/SVG) of the result")
        s.add_argument("--reproducible", action="store_true",
                       help="leave wall-clock timings out of the JSON and pin the BLAS/OpenMP thread "
                            "pools to one thread: the same card and seed then give byte-identical "
                            "output, whatever the core count or OPENBLAS_NUM_THREADS")
        _view_flags(s)
    sw = sub.add_parser("sweep", help="solve a model card over a grid of parameter values")
    sw.add_argument("card", help="path to a TOML model card, or a bundled card name")
    sw.add_argument("--grid", action="append", required=True, metavar="PATH=VALUES",
                    help="a card field and its values: 'pool.measure.gamma=0.5,1,2', "
                         "'space.loss=0.5:2:7' (lo:hi:count) or a JSON list '[[1,1],[1,2]]'; repeatable")
    sw.add_argument("--runner", default="serial",
                    help="serial | processes[:N] | dask[:N] (a local cluster) | a scheduler address")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="dask scheduler, e.g. tcp://10.0.0.1:8786")
    sw.add_argument("--chunks", type=int, help="number of chunks (default: one per worker, >= points/50)")
    sw.add_argument("--out", metavar="FILE", help="write the rows: FILE.csv (CSV, written at the end; "
                    "finished rows are kept meanwhile in FILE.csv.partial.jsonl) or FILE.jsonl (JSON "
                    "lines, each row appended as it finishes)")
    sw.add_argument("--resume", action="store_true",
                    help="keep the rows a previous run of the same --out finished, solve only the rest")
    sw.add_argument("--backend", help="override the card's backend")
    sw.add_argument("--solver", help="override the card's solver")
    _view_flags(sw)
    ex = sub.add_parser("export", help="write a model card's program as MPS, LP (linear programs and QPs) "
                                       "or CBF (conic programs)")
    ex.add_argument("card", help="path to a TOML model card, or a bundled card name")
    ex.add_argument("--format", required=True, choices=("mps", "lp", "cbf"),
                    help="mps or lp (linear programs, convex QPs) or cbf (Conic Benchmark Format: linear "
                         "and exponential-cone programs)")
    ex.add_argument("--out", metavar="DIR", default=".",
                    help="the folder of the file <card stem>.<format> (default: the current directory)")
    sub.add_parser("bench", add_help=False,
                   help="benchmark solvers and backends: --quick, --family NAME, --repeat N, --out DIR, "
                        "--solvers auto|all|LIST, --time-limit S (riskopt bench --help)")
    sub.add_parser("list", help="registered measures, backends and solvers, and bundled cards")
    return p


def _digits(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 17:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer from 1 to 17")
    return value


def _view_flags(s: argparse.ArgumentParser) -> None:
    """How tables and progress show (docs/tables.md explains every column), and the memory budget."""
    s.add_argument("--max-memory", metavar="SIZE",
                   help="the memory a run may plan to use, e.g. 16G or 500M, or 'none' (default: "
                        f"{SAFE_PERCENT}%% of the memory available to this process; docs/reliability.md)")
    s.add_argument("--digits", type=_digits, default=6, help="significant digits in tables (default 6)")
    s.add_argument("--all", action="store_true", dest="all_rows",
                   help="print every row of long tables (default: the first 10 and the last 5)")
    s.add_argument("--quiet", action="store_true", help="no progress bars on stderr")


def _bench(argv: list[str]) -> int:
    import importlib

    try:  # the benchmarks ship as riskopt.benchmarks (package-dir) and import riskopt themselves
        bench_main = importlib.import_module("riskopt.benchmarks.run").main
    except ImportError as err:  # pragma: no cover - the benchmarks package is part of riskopt
        print(f"riskopt: error: benchmarks unavailable: {err}", file=sys.stderr)
        return 2
    try:
        return int(bench_main(argv))
    except SystemExit as exit_:  # argparse's own usage errors
        return int(exit_.code or 0)


def _grid_values(spec: str) -> tuple[str, list[Any]]:
    """``PATH=VALUES`` -> (path, values): comma list, ``lo:hi:count`` or a JSON list."""
    import numpy as np

    path, sep, text = spec.partition("=")
    if not sep or not path or not text:
        raise ModelError("--grid", spec, "PATH=VALUES, e.g. pool.measure.gamma=0.5,1,2")
    text = text.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            raise ModelError("--grid", spec, "a JSON list of values", detail=str(err)) from None
        if not isinstance(values, list) or not values:
            raise ModelError("--grid", spec, "a non-empty JSON list of values")
        return path, values
    parts = text.split(":")
    if len(parts) == 3:
        try:
            lo, hi, count = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ModelError("--grid", spec, "lo:hi:count with numbers and an integer count") from None
        if not (1 <= count <= 100_000):
            raise ModelError("--grid", spec, "a count between 1 and 100000")
        return path, np.linspace(lo, hi, count).tolist()
    return path, [_scalar(v.strip()) for v in text.split(",") if v.strip()]


def _scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text, text)


def _sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .cards import CardPoint, parse_card, read_card_data
    from .sweep import grid, runner_from, sweep

    data, source = read_card_data(_card_path(args.card))
    parse_check = CardPoint(data, source, args.backend, args.solver)
    axes = dict(_grid_values(g) for g in args.grid)
    points = grid(**axes)
    runner = runner_from(args.scheduler or args.runner)
    _check_sweep_memory(parse_card(data, source), len(points), runner)
    journal = _sweep_journal(args.out, args.resume) if args.out else None
    if args.resume and journal is None:
        raise ModelError("--resume", True, "an --out file to resume from")
    try:
        with _signals_as_interrupts():
            result = sweep(parse_check, points, runner=runner, chunks=args.chunks, progress=None,
                           journal=journal, resume=args.resume)
    except _InterruptError as stop:
        kept = ("" if journal is None else f"; the finished rows are in {journal} (--resume continues)"
                if journal.exists() else "; no point had finished")
        print(f"riskopt: interrupted by {stop.name}{kept}", file=sys.stderr)
        return 128 + stop.signum
    except OSError as err:  # the journal could not be written (points' own errors are rows)
        if journal is None:
            raise
        raise ModelError("--out", args.out, "a writable file", detail=_kept(err, journal)) from None
    if journal is not None and journal != Path(args.out):  # a CSV: written whole, its journal retired
        try:
            result.to_csv(args.out)
        except OSError as err:
            raise ModelError("--out", args.out, "a writable file", detail=_kept(err, journal)) from None
        journal.unlink(missing_ok=True)  # the CSV now holds every row
    failed, not_ok = len(result.failed), len(result.not_ok)
    if failed == len(result.rows) and all(r.get("status") == Status.ERROR for r in result.rows):
        # nothing ran: the grid itself is refused; report it as a user error, on one line
        raise ModelError("sweep", f"all {failed} points failed", "a grid the card accepts",
                         detail=str(result.rows[0].get("message", "")))
    print(safe(result.table()))
    print(f"{len(result.rows)} points in {result.seconds:.2f} s; {failed} failed, {not_ok} not ok"
          + (f"; rows written to {args.out}" if args.out else ""), file=sys.stderr)
    return 3 if not_ok else 0


def _sweep_journal(out_arg: str, resume: bool) -> Any:
    """The JSON-lines file a sweep's rows go to as they finish: ``FILE.jsonl`` itself, or
    ``FILE.csv.partial.jsonl`` beside a CSV (written whole at the end). Checked before any point runs:
    the name, its folder, and an existing ``FILE.jsonl``, which only ``--resume`` may continue (a
    fresh sweep would lose the rows it holds)."""
    from pathlib import Path

    out = Path(out_arg)
    if out.suffix not in (".csv", ".jsonl"):
        raise ModelError("--out", out_arg, "a file name ending in .csv or .jsonl")
    try:
        if not out.resolve().parent.is_dir() or out.is_dir():
            raise ModelError("--out", out_arg, "a file in an existing directory")
        taken = out.suffix == ".jsonl" and (out.exists() or out.is_symlink())
    except (OSError, ValueError) as err:  # a name too long, a NUL byte
        raise ModelError("--out", out_arg, "a file in an existing directory", detail=str(err)) from None
    if taken and not resume:
        raise ModelError("--out", out_arg, "a new file, or --resume to continue the rows it holds",
                         detail="it exists")
    return out if out.suffix == ".jsonl" else out.with_name(out.name + ".partial.jsonl")


def _kept(err: OSError, journal: Any) -> str:
    """An output error's reason, and where the finished rows are."""
    where = f"the finished rows are in {journal} (--resume continues)" if journal.exists() else "no row kept"
    return f"{err.strerror or err}; {where}"


#: memory one sweep row keeps in the main process (a dict of about 20 numbers and strings)
ROW_BYTES = 2048


def _check_sweep_memory(card: Any, points: int, runner: Any) -> None:
    """Refuse a sweep whose concurrent points (one per local worker; each point checks its own size
    again where it runs) and rows would not fit (:mod:`riskopt.budget`)."""
    from .budget import Footprint, require
    from .cards import card_footprint
    from .sweep import serial

    local = getattr(runner, "address", None) is None  # a scheduler's workers have memory of their own
    workers = getattr(runner, "workers", None) or os.cpu_count() or 1
    copies = min(workers, points) if local and runner is not serial else 1
    rows = Footprint(points * ROW_BYTES, ("--grid",), f"{points} rows")
    require(card_footprint(card).times(copies) + rows, workers=copies if copies > 1 else 0,
            what="the sweep")


class _InterruptError(BaseException):
    """SIGINT or SIGTERM during a sweep (the workers are stopped, finished rows kept); a
    BaseException, like KeyboardInterrupt, so that no ``except Exception`` (a point's own error
    handling) records it as that point's failure."""

    def __init__(self, signum: int):
        import signal

        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


@contextlib.contextmanager
def _signals_as_interrupts() -> Iterator[None]:
    """Within the block SIGINT and SIGTERM raise :class:`_InterruptError` (the main thread only)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _InterruptError(signum)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def _run(card_ref: str, args: argparse.Namespace, *, title: str = "") -> int:
    """Solve and print one card; ``--reproducible`` runs it all with one BLAS/OpenMP thread
    (:func:`riskopt.data.pinned_threads`): the same bits whatever the thread count."""
    with pinned_threads() if args.reproducible else contextlib.nullcontext():
        return _solve_and_print(card_ref, args, title=title)


def _solve_and_print(card_ref: str, args: argparse.Namespace, *, title: str = "") -> int:
    from .cards import load_card, run_card

    if args.plot:
        _check_plot_path(args.plot)  # before the solve, which may be long
    if args.output:
        _check_output_path(args.output)
    card = load_card(_card_path(card_ref))
    try:
        result = run_card(card, backend=args.backend, solver=args.solver)
    except SolveError as err:  # no usable point: still one JSON object (or line) with the status
        _print_failed(err, card, args)
        return Status.of(err).exit_code
    status = Status(result.status)
    if args.plot:
        try:
            result.plot(args.plot, title=card.name)  # written atomically (riskopt.plots.save_figure)
        except OSError as err:
            raise ModelError("--plot", args.plot, "a writable file", detail=str(err)) from None
        print(f"riskopt: wrote {args.plot}", file=sys.stderr)
    if args.format == "json":
        out = result.to_dict()
        out["model"] = {"name": card.name, "source": card.source, "seed": card.seed}
        if card.units:
            out["model"]["units"] = card.units
        _print_json(out, args.reproducible, output=args.output)
    elif args.format == "csv":  # exact strings into a file or a pipe, escaped on a terminal
        _emit(_agents_csv(result.agent_rows()), args.output, exact=not sys.stdout.isatty())
    else:
        heading = title or f"{card.name} ({card.source})"
        if card.units:
            heading += f"\namounts (losses, allocations, premiums, taxes) in {card.units}"
        _emit(result.table(title=heading), args.output)
    if not status.ok:
        print(f"riskopt: not ok: status '{status}': {status.meaning}", file=sys.stderr)
    return status.exit_code


def _print_json(out: dict[str, Any], reproducible: bool, *, output: str | None = None) -> None:
    if reproducible:

        out = without_timings(out)
    _emit(json.dumps(out, allow_nan=False), output, exact=True)


def _emit(text: str, output: str | None, *, exact: bool = False) -> None:
    """The result: on stdout, or written atomically to ``--output`` (said on stderr). On stdout,
    text is terminal-safe (:mod:`riskopt.terminal`) unless ``exact`` (JSON escapes its own)."""
    if output is None:
        print(text if exact else safe(text))
        return
    try:
        write_atomic(output, text + "\n")
    except OSError as err:
        raise ModelError("--output", output, "a writable file", detail=str(err)) from None
    print(f"riskopt: wrote {output}", file=sys.stderr)


def _agents_csv(rows: list[dict[str, Any]]) -> str:
    """``--format csv``: the per-agent table (``name`` first, one column per scalar field, in the
    rows' order; arrays such as allocations left out), one header row."""
    import csv
    import io

    import numpy as np

    scalar = [{k: jsonable(v) for k, v in r.items() if np.ndim(v) == 0} for r in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(dict.fromkeys(k for r in scalar for k in r)),
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(scalar)
    return buffer.getvalue().rstrip("\n")


def _check_output_path(path: str) -> None:
    from pathlib import Path

    try:
        p = Path(path)
        bad = p.is_dir() or not p.parent.is_dir() or "\0" in path
    except (OSError, ValueError) as err:  # a name too long
        raise ModelError("--output", path, "a file in an existing directory", detail=str(err)) from None
    if bad:
        raise ModelError("--output", path, "a file in an existing directory")


def _card_path(card_ref: str) -> str:
    """The card file to read (:func:`riskopt.cards.resolve_card`); a note on stderr when ambiguous."""
    from .cards import resolve_card

    path, note = resolve_card(card_ref)
    if note:
        print(f"riskopt: note: {note}", file=sys.stderr)
    return str(path)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("riskopt")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without installing
        return "unknown (not installed)"


def _print_failed(err: SolveError, card: object, args: argparse.Namespace) -> None:
    """A solve without a usable point: its status on stdout (JSON) or nothing (table), the reason on
    stderr."""
    if args.format == "json":

        out = (err.solution.to_dict() if err.solution is not None
               else {"status": Status.of(err), "status_meaning": Status.of(err).meaning})
        out["message"] = _one_line(str(err))
        out["model"] = {"name": getattr(card, "name", ""), "source": getattr(card, "source", ""),
                        "seed": getattr(card, "seed", None)}
        _print_json(jsonable(out), args.reproducible, output=args.output)
    print(f"riskopt: not ok: {_one_line(str(err))}", file=sys.stderr)


def _check_plot_path(path: str) -> None:
    from pathlib import Path

    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise ModelError("--plot", path, "matplotlib installed: pip install 'riskopt[plots]'") from None
    kinds = sorted(FigureCanvasBase.get_supported_filetypes())
    p = Path(path)
    if p.suffix.lower().lstrip(".") not in kinds:
        raise ModelError("--plot", path, f"a file name ending in one of {kinds}")
    try:
        bad = p.is_dir() or not p.parent.is_dir() or "\0" in path
    except (OSError, ValueError) as err:  # a name too long
        raise ModelError("--plot", path, "a file in an existing directory", detail=str(err)) from None
    if bad:
        raise ModelError("--plot", path, "a file in an existing directory")


def _export(args: argparse.Namespace) -> int:
    """``riskopt export CARD --format F [--out DIR]``: the file written is named on stderr."""
    from .cards import load_card
    from .export import export_card

    card = load_card(_card_path(args.card))
    done = export_card(card, args.format, args.out)
    print(safe(f"riskopt: wrote {done.path} ({done.format}: {done.kind.upper()} with {done.variables} "
               f"variables and {done.rows} standard-form rows)"), file=sys.stderr)
    return 0


def _list() -> int:
    import cvxpy as cp

    from .backends import backends
    from .cards import MECHANISMS
    from .measures import registry

    print("measures:   " + ", ".join(sorted(registry())))
    print("backends:   " + ", ".join(f"{n} ({'/'.join(sorted(c.cones - {'zero', 'nonneg'})) or 'LP'})"
                                     for n, c in sorted(backends().items())))
    print("solvers:    " + ", ".join(sorted(cp.installed_solvers())) + " (cvxpy); HIGHS (highs, pyomo)")
    print("mechanisms: " + ", ".join(sorted(MECHANISMS)))
    from importlib import resources

    bundled = resources.files("riskopt.models").iterdir()
    cards = sorted(p.name[:-5] for p in bundled if p.name.endswith(".toml"))
    print("cards:      " + ", ".join(cards))
    return 0


def _one_line(text: str) -> str:
    """Messages may quote card text (keys, values, solver output) holding line breaks."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``riskopt`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["bench"]:  # the harness parses its own options
            code = _bench(argv[1:])
            sys.stdout.flush()
            return code
        args = _parser().parse_args(argv)
        from .progress import quiet
        from .report import table_options

        # warnings are collected and printed as one line after a success (an error line stands alone)
        with (safe_stderr(), warnings.catch_warnings(record=True) as caught,
              quiet(getattr(args, "quiet", False)), _memory_limit(getattr(args, "max_memory", None)),
              table_options(digits=getattr(args, "digits", None), all_rows=getattr(args, "all_rows", None))):
            code = _main(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except BrokenPipeError:
        return _closed_pipe()
    messages = list(dict.fromkeys(_one_line(str(w.message)) for w in caught))
    if code in (0, 3) and messages:
        print(safe("riskopt: warning: " + "; ".join(messages)), file=sys.stderr)
    return code


@contextlib.contextmanager
def _memory_limit(size: str | None) -> Iterator[None]:
    """``--max-memory``: the limit of :mod:`riskopt.budget` for the command (a bad size is a user
    error, reported by :func:`_main` like any other)."""
    from .budget import max_memory, parse_size

    try:
        limit = None if size is None else parse_size(size)
    except ModelError as err:
        print(f"riskopt: error: {_one_line(str(err))}", file=sys.stderr)
        raise SystemExit(2) from None
    with max_memory(limit):
        yield


def _closed_pipe() -> int:
    """The reader of stdout went away (``riskopt demo | head -3``): stop quietly with 141 (128 +
    SIGPIPE), the status a shell reports for any Unix tool cut off by a closed pipe."""
    import os

    try:  # the interpreter flushes stdout at exit: let that write go nowhere
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout without a file descriptor
        pass
    return 141


def _main(args: argparse.Namespace) -> int:
    try:
        if args.command == "list":
            return _list()
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "export":
            return _export(args)

        if args.command == "demo":
            return _run(DEMO_CARD, args, title="riskopt demo: a hurricane pool of 50 farmers")
        return _run(args.card, args)
    except SolveError as err:  # a solve outside `run` (a sweep's parse check): its status decides
        print(f"riskopt: not ok: {_one_line(str(err))}", file=sys.stderr)
        return Status.of(err).exit_code
    except (ModelError, RiskoptError, RiskoptWarning) as err:  # RiskoptWarning: -W error
        print(f"riskopt: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # stdout closed early: not a bug (main stops quietly)
        raise
    except KeyboardInterrupt:  # pragma: no cover
        print("riskopt: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        print(_one_line(f"riskopt: internal error: {type(err).__name__}: {err} "
                        "(please report this with the card that caused it)"), file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
