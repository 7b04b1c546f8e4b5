"""Solver discovery, capability matching and the per-(instance, solver) measurement of
``riskopt bench --solvers auto|all|LIST``.

* **Discovery** (:func:`discover`): ``all`` is every solver cvxpy reports installed
  (``cvxpy.installed_solvers()``) plus riskopt's own backends other than cvxpy (``highs:HIGHS``, the
  standard form straight into highspy; ``pyomo:HIGHS``, the same through a Pyomo model); ``LIST`` is
  comma-separated names (case-insensitive; ``cvxpy:NAME`` is the same as ``NAME``). A listed name
  that is not installed is kept, to be reported as a reason row.
* **Capability** (:func:`capabilities`): the cone types a solver accepts, read from cvxpy's own
  metadata (``SOLVER_MAP_CONIC[name].SUPPORTED_CONSTRAINTS``, ``supports_quad_obj()``, and
  membership of ``SOLVER_MAP_QP``: a QP interface takes linear constraints and a quadratic
  objective), in :func:`riskopt.backends.base.cone_types`'s words; riskopt's backends declare theirs
  (``Backend.cones``). A quadratic objective is also accepted by a conic solver with second-order
  cones (cvxpy rewrites it as one).
* **Measurement** (:func:`run_matrix`): for each instance of a family's :class:`SolverMatrix` and
  each solver, a row: skipped with its reason (not installed, a cone it does not take, above the
  size limit of its licence once it refused a smaller instance), or solved ``repeat`` times, each in
  a forked child process (a solver that crashes the interpreter or ignores its time limit costs
  its row, never the run), with riskopt's status (the solver's word gated by the KKT certificate),
  the certificate's residuals, the objective error against the family's reference, build / compile /
  solve times and iterations. A licence refusal is told from the solver's own message (cvxpy's
  generic "Solver 'X' failed" is followed by one verbose re-run whose log is read).
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib.metadata
import math
import multiprocessing
import os
import re
import signal
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from riskopt.certificate import relative
from riskopt.status import Status, worst

from .harness import Family, SolverMatrix, warning_note, with_medians

#: cone sets of the families' programs (riskopt.backends.base.cone_types's vocabulary)
LP = frozenset({"zero", "nonneg"})
QP = LP | {"quadratic"}
EXP = LP | {"exp"}
EXP_POW = EXP | {"pow"}

#: short labels of cone types, for tables
CONE_LABELS = {"zero": "LP", "nonneg": "LP", "soc": "SOC", "exp": "EXP", "pow": "POW", "psd": "PSD",
               "quadratic": "QP"}

#: cvxpy's constraint classes -> cone types (the names riskopt's backends use)
_CONE_OF = {"Zero": "zero", "NonNeg": "nonneg", "SOC": "soc", "ExpCone": "exp", "PowCone3D": "pow",
            "PowConeND": "pow", "SvecPSD": "psd", "PSD": "psd"}

#: the distribution that carries each solver (its version is reported)
PACKAGES = {"CLARABEL": "clarabel", "SCS": "scs", "ECOS": "ecos", "ECOS_BB": "ecos", "OSQP": "osqp",
            "HIGHS": "highspy", "CVXOPT": "cvxopt", "GLPK": "cvxopt", "GLPK_MI": "cvxopt", "GLOP": "ortools",
            "PDLP": "ortools", "SCIP": "PySCIPOpt", "SCIPY": "scipy", "QOCO": "qoco", "PIQP": "piqp",
            "PROXQP": "proxsuite", "QPALM": "qpalm", "DAQP": "daqp", "GUROBI": "gurobipy", "CPLEX": "cplex",
            "COPT": "coptpy", "XPRESS": "xpress", "MOSEK": "Mosek", "DIFFCP": "diffcp", "CBC": "cylp",
            "MOREAU": "moreau", "SDPA": "sdpa-python", "NAG": "naginterfaces", "KNITRO": "knitro",
            "MPAX": "mpax", "CUCLARABEL": "cuclarabel", "CUOPT": "cuopt", "COSMO": "cosmopy",
            "highs:HIGHS": "highspy", "pyomo:HIGHS": "pyomo"}


def _seconds(key: str) -> Callable[[float], dict[str, Any]]:
    return lambda t: {key: t}


def _nested(key: str, inner: str, scale: float = 1.0,
            cast: Callable[[float], Any] = float) -> Callable[[float], dict[str, Any]]:
    return lambda t: {key: {inner: cast(t * scale)}}


#: each solver's own time-limit option, as cvxpy's interface (or riskopt's backend) passes it on;
#: solvers absent here have none through cvxpy (ECOS, CVXOPT, QOCO, PIQP, PROXQP, DAQP, DIFFCP, CBC's
#: LP path): the harness's hard limit stops them
TIME_LIMITS: dict[str, Callable[[float], dict[str, Any]]] = {
    "CLARABEL": _seconds("time_limit"), "SCS": _seconds("time_limit_secs"), "OSQP": _seconds("time_limit"),
    "HIGHS": _seconds("time_limit"), "highs:HIGHS": _seconds("time_limit"),
    "pyomo:HIGHS": _seconds("time_limit"), "QPALM": _seconds("time_limit"),
    "GLOP": _seconds("time_limit_sec"), "PDLP": _seconds("time_limit_sec"),
    "GUROBI": _seconds("TimeLimit"), "COPT": _seconds("TimeLimit"), "XPRESS": _seconds("timelimit"),
    "SCIP": _nested("scip_params", "limits/time"), "SCIPY": _nested("scipy_options", "time_limit"),
    "CPLEX": _nested("cplex_params", "timelimit"),
    "MOSEK": _nested("mosek_params", "MSK_DPAR_OPTIMIZER_MAX_TIME"),
    "GLPK": _nested("glpk", "tm_lim", 1000.0, lambda v: max(1, int(v))),
    "GLPK_MI": _nested("glpk", "tm_lim", 1000.0, lambda v: max(1, int(v))),
}

#: reasons of rows that were not solved as asked
NOT_INSTALLED = "not installed"
UNKNOWN = "not a solver cvxpy or riskopt knows"
CONES = "cone not supported"
SIZE_LICENCE = "above its size-limited licence"
NO_LICENCE = "no licence"
KILLED = "ended by the harness"
OVER_LIMIT = "over the time limit"
NO_DUALS = "no duals"
OFF_REFERENCE = "objective off the reference"
#: a solved instance's objective within this relative distance of the family's reference (the
#: certificate's tight tolerance is 1e-7 in scaled units; 1e-6 relative leaves room for the
#: reference's own rounding and for objectives near 0 in the problem's units)
OBJECTIVE_TOL = 1e-6
MESSAGE_CHARS = 160
GRACE_S = 5.0  # seconds a solve's process is given beyond 1.2 times the time limit
DIED = "the solver's process died"

#: a solver's own words for a size-limited licence refusing an instance (CPLEX Community Edition:
#: "Problem size limits exceeded"; Xpress community: "too many rows and columns. The maximum is 5000";
#: COPT without a licence file: "LP size is limited to 10000 variables"; Gurobi's pip licence says only
#: "Restricted license - for non-production use only" in its log, its refusal being swallowed by cvxpy)
_SIZE_WORDS = re.compile(r"size (is )?limited to|limits exceeded|too large|too many (rows|columns|variables"
                         r"|constraints)|maximum is \d+", re.IGNORECASE)
#: ... and the banner of a solver running under such a licence (read only when it failed)
_BANNER_WORDS = re.compile(r"size[- ]limit|size restricted|restricted licen[cs]e"
                           r"|community (edition|licen[cs]e)", re.IGNORECASE)
#: ... and for no licence at all (MOSEK without a licence file: "err_missing_license_file ... License
#: cannot be located"); COPT's "[WARN] no license files in <folder>" banner is not one (it runs, limited)
_NO_LICENCE_WORDS = re.compile(r"missing_licen[cs]e|licen[cs]e cannot be located|no valid licen[cs]e"
                               r"|licen[cs]e (has )?(expired|is invalid)"
                               r"|failed to (get|obtain|check ?out) (a )?licen[cs]e", re.IGNORECASE)
#: cvxpy's message for any failed solve (the solver's own reason is only in a verbose log)
_GENERIC = re.compile(r"Solver '[A-Z_]+' failed")


@dataclass(frozen=True)
class Solver:
    """One solver as the benchmark names it: ``name`` (cvxpy's, or ``backend:SOLVER`` for riskopt's
    own backends), the riskopt ``backend`` and ``solver`` it runs as, the cone types it accepts, its
    package version and whether it is installed."""

    name: str
    backend: str
    solver: str
    cones: frozenset[str]
    version: str = ""
    installed: bool = True
    reason: str = ""  # why it cannot run at all (not installed, unknown)

    @property
    def cone_label(self) -> str:
        return ", ".join(dict.fromkeys(CONE_LABELS.get(c, c) for c in sorted(self.cones, key=_cone_order)))

    def time_limit_options(self, seconds: float) -> dict[str, Any]:
        """The solver's own options for a time limit of ``seconds`` ({} where it has none)."""
        make = TIME_LIMITS.get(self.name)
        return {} if make is None else make(seconds)

    @property
    def has_time_limit(self) -> bool:
        return self.name in TIME_LIMITS

    def missing(self, needed: frozenset[str]) -> frozenset[str]:
        """Cone types of ``needed`` this solver does not accept."""
        return frozenset(needed - self.cones)


def _cone_order(c: str) -> int:
    order = ["zero", "nonneg", "soc", "exp", "pow", "psd", "quadratic"]
    return order.index(c) if c in order else len(order)


def version(name: str) -> str:
    """The installed version of the package that carries solver ``name`` ("" if unknown)."""
    package = PACKAGES.get(name)
    if package is None:
        return ""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return ""


def capabilities(name: str) -> frozenset[str]:
    """The cone types cvxpy's interface(s) to solver ``name`` accept (its own metadata): the conic
    interface's ``SUPPORTED_CONSTRAINTS`` (plus ``quadratic`` where it takes a quadratic objective,
    natively or as a second-order cone), and a QP interface's linear constraints and quadratic
    objective. Empty for a name cvxpy does not know."""
    from cvxpy.reductions.solvers.defines import SOLVER_MAP_CONIC, SOLVER_MAP_QP

    cones: set[str] = set()
    conic = SOLVER_MAP_CONIC.get(name)
    if conic is not None:
        cones |= {_CONE_OF.get(c.__name__, c.__name__) for c in conic.SUPPORTED_CONSTRAINTS}
        if conic.supports_quad_obj() or "soc" in cones:
            cones.add("quadratic")
    qp = SOLVER_MAP_QP.get(name)
    if qp is not None:
        cones |= {_CONE_OF.get(c.__name__, c.__name__) for c in qp.SUPPORTED_CONSTRAINTS} | {"quadratic"}
    return frozenset(cones)


def _known_cvxpy() -> set[str]:
    from cvxpy.reductions.solvers.defines import SOLVER_MAP_CONIC, SOLVER_MAP_QP

    return set(SOLVER_MAP_CONIC) | set(SOLVER_MAP_QP)


def _own_backends() -> list[Solver]:
    """riskopt's backends other than cvxpy, one entry per solver they drive (installed or not)."""
    from riskopt.backends import backends

    out = []
    for bname, cls in sorted(backends().items()):
        if bname == "cvxpy":
            continue
        b = cls()
        # importing Pyomo loads its solver plugins (Xpress's deprecation warnings, whatever the filters)
        with warnings.catch_warnings(record=True):
            available = b.available()
        for solver in b.solvers():
            name = f"{bname}:{solver}"
            out.append(Solver(name, bname, solver, frozenset(cls.cones), version(name) if available else "",
                              available, "" if available else NOT_INSTALLED))
    return out


def discover(spec: str = "all") -> list[Solver]:
    """The solvers ``--solvers spec`` names (``all`` or a comma-separated list), installed or not
    (a solver with a ``reason`` cannot run: its rows say why). ``auto`` is not a discovery (the
    families' fixed runners): it gives []."""
    import cvxpy as cp

    spec = spec.strip()
    if spec.lower() == "auto":
        return []
    installed = list(cp.installed_solvers())
    own = _own_backends()

    def cvxpy_solver(name: str) -> Solver:
        if name in installed:
            return Solver(name, "cvxpy", name, capabilities(name), version(name))
        reason = NOT_INSTALLED if name in _known_cvxpy() else UNKNOWN
        return Solver(name, "cvxpy", name, capabilities(name), "", False, reason)

    if spec.lower() == "all":
        return [cvxpy_solver(n) for n in installed] + [s for s in own if s.installed]
    by_name = {s.name.lower(): s for s in own}
    upper = {n.upper(): n for n in [*installed, *_known_cvxpy()]}
    chosen: list[Solver] = []
    for raw in (part.strip() for part in spec.split(",")):
        if not raw:
            continue
        key = raw.lower().removeprefix("cvxpy:")
        own_match = by_name.get(key)
        solver = own_match if own_match is not None else cvxpy_solver(upper.get(key.upper(), raw))
        if solver.name not in {s.name for s in chosen}:
            chosen.append(solver)
    return chosen


def describe(solvers: list[Solver]) -> str:
    """One line per solver: name, version, cone types (for stderr and the report)."""
    return "\n".join(f"  {s.name:<12} {s.version or '-':<10} {s.cone_label or '-'}"
                     + (f"  ({s.reason})" if s.reason else "") for s in solvers)


# ----------------------------------------------------------------------- classifying a failure
def licence_reason(message: str) -> str:
    """``SIZE_LICENCE`` or ``NO_LICENCE`` when a solver's message says its licence refused the
    instance, else ``""`` (a size limit named wins: COPT says "No license found. LP size is limited
    to ...")."""
    if _SIZE_WORDS.search(message) or _BANNER_WORDS.search(message):
        return SIZE_LICENCE
    if _NO_LICENCE_WORDS.search(message):
        return NO_LICENCE
    return ""


def licence_line(log: str) -> str:
    """The first line of a solver's log naming a size limit it met, else its size-limited licence's
    banner, else a line saying it has no licence ("" if none)."""
    lines = [line.strip() for line in log.splitlines()]
    for words in (_SIZE_WORDS, _BANNER_WORDS, _NO_LICENCE_WORDS):
        found = next((line for line in lines if words.search(line)), "")
        if found:
            return found
    return ""


# ------------------------------------------------------------------------- isolated solves
def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


@contextlib.contextmanager
def _captured_output(path: Path) -> Iterator[None]:
    """Send the process's C-level stdout and stderr to ``path`` (solver logs, licence banners)."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "wb") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _child(fn: Callable[[], dict[str, Any]], conn: Any, log: str) -> None:  # pragma: no cover (a child)
    faulthandler.disable()  # a solver's crash is reported as its row, not as a traceback dump
    try:
        with _captured_output(Path(log)):
            out = fn()
    except BaseException as exc:  # whatever escapes is the solver's failure, reported as such
        out = {"status": Status.SOLVER_ERROR, "message": f"{type(exc).__name__}: {exc}"}
    try:
        conn.send(out)
    finally:
        conn.close()
        os._exit(0)  # no atexit handlers, no flush of the parent's buffers


def isolated(fn: Callable[[], dict[str, Any]], hard_limit: float) -> tuple[dict[str, Any], str]:
    """``fn()`` in a forked child (its result and its captured output). A child that answers
    nothing within ``hard_limit`` seconds is killed (status ``time_limit``, reason ``KILLED``); one
    that dies (a segfault in a solver) is a ``solver_error`` (reason ``DIED``). Without ``fork``
    (not POSIX) ``fn`` runs in this process and nothing is captured."""
    if not can_fork():
        return fn(), ""
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    with tempfile.NamedTemporaryFile(prefix="riskopt-bench-", suffix=".log", delete=False) as tmp:
        log = Path(tmp.name)
    t0 = time.perf_counter()
    proc = ctx.Process(target=_child, args=(fn, send, str(log)), daemon=True)
    proc.start()
    send.close()
    out: dict[str, Any] | None = None
    try:
        if recv.poll(hard_limit):
            out = recv.recv()
    except (EOFError, OSError):
        out = None
    finally:
        recv.close()
    waited = time.perf_counter() - t0
    proc.join(timeout=5.0 if out is not None else 0.1)
    if proc.is_alive():
        proc.kill()
        proc.join()
    try:
        text = log.read_text(encoding="utf-8", errors="replace")[-20_000:]
    finally:
        log.unlink(missing_ok=True)
    if out is None:
        if waited >= hard_limit:
            out = {"status": Status.TIME_LIMIT, "reason": KILLED,
                   "message": f"no answer within {hard_limit:.3g} s: the process was ended"}
        else:
            code = proc.exitcode
            what = (f"signal {-code} ({signal.Signals(-code).name})" if code is not None and code < 0
                    else f"exit code {code}")
            out = {"status": Status.SOLVER_ERROR, "reason": DIED, "message": f"{DIED}: {what}"}
        out["total_s"] = waited
    return out, text


# ------------------------------------------------------------------------------ one solve
def solve_once(matrix: SolverMatrix, inputs: dict[str, Any], solver: Solver, reference: float,
               options: dict[str, Any]) -> dict[str, Any]:
    """Build the family's program, solve it on ``solver`` (no polish: the solver's own point) and
    measure it: times, iterations, riskopt's status and certificate, objective error."""
    t0 = time.perf_counter()
    prog = matrix.program(inputs)
    build = time.perf_counter() - t0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sol = prog.solve(backend=solver.backend, solver=solver.solver, check=False, polish=False,
                             **options)
        except Exception as exc:  # the solve raised: the solver's failure (riskopt refused it, or a crash)
            return {"status": Status.SOLVER_ERROR, "message": f"{type(exc).__name__}: {exc}",
                    "build_s": build, "total_s": time.perf_counter() - t0, "note": warning_note(caught)}
    total = time.perf_counter() - t0
    rep = sol.solver
    out: dict[str, Any] = {"status": sol.status, "build_s": build, "compile_s": rep.compile_s,
                           "solve_s": rep.solve_s, "time_s": rep.compile_s + rep.solve_s, "total_s": total,
                           "iterations": rep.iterations, "objective": sol.objective,
                           "note": warning_note(caught)}
    if not sol.status.has_point:
        out["message"] = rep.raw_status
    else:  # a point without duals has no dual certificate (cvxpy's CBC, GLPK_MI)
        out["duals"] = bool(sol.duals) and all(d is not None for d in sol.duals.values())
    cert = sol.certificate
    if cert is not None:
        out.update(primal_residual=cert.primal_residual, dual_residual=cert.dual_residual,
                   gap=cert.complementarity, certificate=cert.max_residual)
    if sol.objective is not None:
        out["objective_error"] = relative(abs(sol.objective - reference), abs(reference))
    return out


def accuracy(row: dict[str, Any]) -> float:
    """A row's accuracy: the larger of its certificate's largest residual and its objective error
    (``inf`` without a point or without a certificate)."""
    status = row.get("status")
    if status is None or not Status(status).has_point:
        return math.inf
    parts = [row.get("certificate"), row.get("objective_error")]
    values = [float(v) for v in parts if isinstance(v, (int, float))]
    if len(values) < len(parts) or any(math.isnan(v) for v in values):
        return math.inf
    return max(values)


def hard_limit(time_limit: float) -> float:
    """When the harness ends a solve's process: 1.2 times the limit plus :data:`GRACE_S` (the build,
    the compile and the certificate run in the same process; a solver told its limit stops itself
    before)."""
    return 1.2 * time_limit + GRACE_S


# ------------------------------------------------------------------------------ the matrix
@dataclass
class MatrixRun:
    """The rows of one family's solver matrix and the licence limits met on the way."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    #: solver -> (smallest size it could not do, why): its licence refused it, or it met the time limit
    given_up: dict[str, tuple[int, str]] = field(default_factory=dict)


def matrix_sizes(family: Family, quick: bool) -> list[int]:
    m = family.solvers
    assert m is not None
    if quick:
        return list(m.quick_sizes if m.quick_sizes is not None else family.quick_sizes)
    return list(m.sizes if m.sizes is not None else family.sizes)


def run_matrix(family: Family, solvers: list[Solver], *, quick: bool = False, repeat: int = 3,
               time_limit: float = 60.0, progress: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """Every solver on every instance of ``family``'s solver matrix: one row per (instance,
    solver), a result or a reason (see the module docstring). Repeats: ``1`` with ``quick``, else
    ``family.repeat or repeat``; timings are medians with their min-max spread, the status the worst
    over the repeats."""
    matrix = family.solvers
    if matrix is None:
        raise ValueError(f"family {family.name} has no solver matrix")
    case = matrix.case or family.case
    repeats = 1 if quick else (family.repeat or repeat)
    state = MatrixRun()
    with threadpool_limits(limits=1, user_api="blas"):
        for size in matrix_sizes(family, quick):
            with warnings.catch_warnings(record=True) as case_warnings:
                warnings.simplefilter("always")
                inputs = case(size)
                reference = float(matrix.reference(inputs))
            case_note = warning_note(case_warnings)
            for solver in solvers:
                row = _cell(family, matrix, size, inputs, reference, solver, repeats, time_limit, state)
                if case_note:
                    row["note"] = "; ".join(p for p in (case_note, str(row.get("note") or "")) if p)
                state.rows.append(row)
                if progress is not None:
                    progress()
    return state.rows


def short(message: str, limit: int = MESSAGE_CHARS) -> str:
    """A message on one line, at most ``limit`` characters."""
    one = " ".join(message.split())
    return one if len(one) <= limit else one[: limit - 3] + "..."


def _base(family: Family, size: int, solver: Solver, reference: float) -> dict[str, Any]:
    return {"family": family.name, "size": size, "instance": f"{family.name}[{size}]", "runner": solver.name,
            "backend": solver.backend, "version": solver.version, "status": None, "solved": False,
            "reason": "", "reference": reference}


def _cell(family: Family, matrix: SolverMatrix, size: int, inputs: dict[str, Any], reference: float,
          solver: Solver, repeats: int, time_limit: float, state: MatrixRun) -> dict[str, Any]:
    row = _base(family, size, solver, reference)
    if not solver.installed:
        row["reason"] = solver.reason or NOT_INSTALLED
        return row
    missing = solver.missing(matrix.cones)
    if missing:
        names = dict.fromkeys(CONE_LABELS.get(c, c) for c in sorted(missing, key=_cone_order))
        row["reason"] = f"{CONES}: " + ", ".join(names)
        return row
    if solver.name in state.given_up and size > state.given_up[solver.name][0]:
        smaller, why = state.given_up[solver.name]
        row["reason"] = f"{why} (at size {smaller})"
        return row
    options = solver.time_limit_options(time_limit)
    limit = hard_limit(time_limit)
    samples: list[dict[str, Any]] = []
    log = ""
    for _ in range(repeats):
        out, log = isolated(lambda: solve_once(matrix, inputs, solver, reference, options), limit)
        samples.append(out)
        if not Status(out["status"]).has_point:
            break  # a failure is not timed again
    last = samples[-1]
    row.update({k: v for k, v in last.items() if not k.endswith("_s")})
    if row.get("message"):
        row["message"] = short(str(row["message"]))
    row["status"] = worst(*(s["status"] for s in samples))
    with_medians(row, samples)
    if not row["status"].has_point and row["status"] is not Status.TIME_LIMIT:
        _explain(row, solver, matrix, inputs, reference, options, limit, log)
    row["time_s"] = row.get("time_s", row.get("total_s"))
    row["accuracy"] = accuracy(row)
    t = row.get("time_s")
    within = isinstance(t, (int, float)) and t <= time_limit
    error = row.get("objective_error")
    on_reference = not isinstance(error, (int, float)) or math.isnan(error) or error <= OBJECTIVE_TOL
    row["solved"] = bool(row["status"].ok and within and row.get("duals") and on_reference)
    if row["status"].ok and not within:
        row["reason"] = f"{OVER_LIMIT} ({time_limit:g} s)"
    elif row["status"].ok and not row.get("duals"):
        row["reason"] = NO_DUALS
    elif row["status"].ok and not on_reference:
        row["reason"] = f"{OFF_REFERENCE} ({error:.1e} > {OBJECTIVE_TOL:g})"
    if row["reason"] == SIZE_LICENCE:
        state.given_up.setdefault(solver.name, (size, SIZE_LICENCE))
    elif not row["solved"] and not within:
        state.given_up.setdefault(solver.name, (size, OVER_LIMIT))
    return row


def _explain(row: dict[str, Any], solver: Solver, matrix: SolverMatrix, inputs: dict[str, Any],
             reference: float, options: dict[str, Any], limit: float, log: str) -> None:
    """Say why a solve gave no point: its licence (from its message, else from a verbose re-run's
    log when cvxpy only said "Solver 'X' failed"), or the failure as reported."""
    message = str(row.get("message") or "")
    reason = licence_reason(message) or licence_reason(licence_line(log))
    if not reason and _GENERIC.search(message) and can_fork():
        _, verbose_log = isolated(lambda: solve_once(matrix, inputs, solver, reference,
                                                     {**options, "verbose": True}), limit)
        line = licence_line(verbose_log)
        if line:
            reason = licence_reason(line) or SIZE_LICENCE
            row["message"] = short(f"{message} [log: {line}]", 2 * MESSAGE_CHARS)
    if reason:
        row["reason"] = reason
