"""Non-unique prices and allocations of LP programs, said out loud.

**Why an LP's price is an interval.** cvxpy's conic standard form of an LP (the one every backend
solves) is ``min c'x  s.t.  A x + s = b,  s in {0}^E x R_+^I``. Its optimal value ``p(b)`` is convex
and piecewise linear in the right-hand side, and its subdifferential is the optimal dual set:
``dp(b) = {-z : z in D*}`` with ``D* = {z : A'z + c = 0, z_I >= 0, -b'z = p(b)}``. Where ``p`` has a
*kink* in ``b_r`` (dual degeneracy) the one-sided derivatives differ,

    p'(b; +e_r) = max_{z in D*} -z_r = -min_{D*} z_r,      p'(b; -e_r) = max_{D*} z_r,

and every ``z_r`` in between is an optimal dual: a price that supports the optimum. A simplex solver
(HiGHS) returns a *vertex* of ``D*``, typically an endpoint of the interval; an interior-point solver
(Clarabel) returns a point near the *centre* of the face (for a bounded interval close to its
midpoint, for an unbounded one wherever its iterates stopped). Neither is "the" price.

Economics: the budget row ``sum_i xi_i(s) = X(s)`` prices one more unit of aggregate in state ``s``.
If the cheap agent holds exactly its liability cap there, a unit *less* loss is taken from the cheap
agent and a unit *more* goes to the expensive one: the left and right derivatives are the two agents'
marginal valuations, and any price between them clears the market. At ``X(s) = 0`` under limited
liability a gain cannot be shared at all (losses are >= 0): the value drops to ``-inf`` on that side
and the price interval is unbounded (Clarabel then reports some negative "price").

**Convention.** Intervals are reported for the numbers ``solution.duals[group]`` holds (cvxpy's
``constraint.dual_value``, see :mod:`riskopt.duals`): ``lower[r] <= y_r <= upper[r]`` over all
optimal duals. For ``lhs == rhs`` rows of a minimisation ``y = -d p/d rhs``, of a maximisation
``y = dW/d rhs``; so ``[lower, upper]`` is ``[-p'(+), -p'(-)]`` resp. ``[W'(+), W'(-)]`` with
``f'(+)``, ``f'(-)`` the right and left derivatives in ``rhs``. Rows are in the group's order
(each constraint's entries in Fortran order, constraints concatenated), as in ``solution.duals``.

**Algorithm** (what LP codes do; only the degenerate rows pay):

1. compile to cvxpy's standard form (``get_problem_data(CLARABEL)``, as the highs backend does);
   map the group's entries to standard-form rows by a probe through cvxpy's own inverse chain
   (``z = 1..m`` in, dual values out: row and sign read off; checked by a second, random probe);
2. solve on HiGHS's simplex for a vertex and an optimal basis (single-entry inequality rows moved
   into column bounds, as the highs backend does; never the queried rows);
3. certificates of uniqueness: a *primal nondegenerate* vertex (no basic variable at a bound) has a
   unique dual, so every price is a point; otherwise HiGHS *ranging*: a row whose right-hand side
   moves both ways by a positive amount with the basis staying optimal has ``p`` linear around
   ``b_r``, so its price is a point;
4. for the remaining rows, only on the side whose range is zero, the *directional-derivative LP*
   ``p'(b; d) = min {c'y : A_E y = d_E, A_act y <= d_act, y in the cone of the active bounds}``
   (``act``: rows and bounds active at the vertex), the LP dual of ``max_{z in D*} -d'z``. It is the
   original LP with its bounds shifted, so the optimal basis is dual feasible for it and HiGHS's
   dual simplex restarts from it (a few pivots). Infeasible means an infinite endpoint. Jobs are
   batched (:func:`_directional`): rows in different connected components of this LP move in one
   run; inside a component a batch's basis is verified job by job (sparse LU), so a HiGHS run's
   fixed cost is paid per batch, not per row.

**Cost** (measured on a 2-core machine; sharing LPs with integer losses so that many caps bind
exactly). Three risk-neutral agents with their own laws and caps, ``Budget`` allocation, S = 6,000
states (18,000 variables, 2,553 non-unique prices): 0.3-0.6 s, about twice ``solve(backend="highs")``
(the LP separates by state: 4 HiGHS runs in all). With two ES agents the VaR variables couple the
states: S = 1,000 takes 1.3-3 s and S = 3,000 8-22 s (1,297 non-unique prices, ~630 warm HiGHS runs:
rows whose batch does not verify are re-solved one at a time), against 0.3-1 s for the solve; a
comonotone allocation of the same (7 atoms) takes 0.1-0.2 s. ``rows=`` limits the work to the rows
asked for.

:func:`primal_uniqueness` (and :func:`allocation_unique`) does the same for the primal side: a dual
nondegenerate basis (no nonbasic variable with zero reduced cost) has a unique optimum; otherwise
the optimal face (nonbasic variables with nonzero reduced cost fixed at their bounds: complementary
slackness with the returned dual) is probed by minimising and maximising a random linear functional
of the program's declared variables over it; two distinct optima are exhibited when they exist.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sps

from .backends.base import CONE_NAMES, HIGHS_OPTIONS
from .backends.highs_backend import pass_lp, single_entry_rows
from .backends.quiet import new_highs
from .backends.standard_form import extract
from .checks import real_array
from .errors import ModelError, SolveError
from .protocols import NamedProgram
from .status import from_highs

__all__ = ["PriceIntervals", "PrimalUniqueness", "allocation_unique", "dual_range", "price_intervals",
           "primal_uniqueness"]

#: an interval is a point when its width is at most ``UNIQUE_RTOL * max(|c|_inf, |y_r|)`` (the dual
#: scale of the data): endpoints come from separate simplex solves at HiGHS's 1e-9 tolerances on
#: ``c / |c|_inf``, so widths below ~1e-8 of the scale are round-off; 1e-7 leaves a decade of margin
UNIQUE_RTOL = 1e-7
#: a basic variable within ``ACTIVE_RTOL * max(1, |b|_inf, |x|_inf)`` of a bound counts as at it
#: (HiGHS's primal feasibility tolerance, set to 1e-9 below). Counting a barely slack bound as
#: active can only widen an interval, never hide a kink
ACTIVE_RTOL = 1e-9
#: a reduced cost (or row dual) at most ``ZERO_RTOL * |c|_inf`` counts as zero (HiGHS's dual
#: feasibility tolerance; HiGHS is given ``c / |c|_inf``): such a variable may move along the optimal face
ZERO_RTOL = 1e-9
#: a ranging interval shorter than ``RANGE_RTOL * max(1, |b|_inf)`` is treated as zero (degenerate)
RANGE_RTOL = 1e-9
#: two optima closer than ``DISTANCE_RTOL * max(1, |x|_inf)`` (declared variables) count as one
DISTANCE_RTOL = 1e-7

_HIGHS_OPTIONS: dict[str, Any] = {"solver": "simplex", **HIGHS_OPTIONS}
#: every cone type of cvxpy's standard form (the compile refuses none: the LP check is this module's)
_ANY_CONE = frozenset({"zero", "nonneg", *CONE_NAMES})


def _new_highs() -> Any:
    h = new_highs()
    for k, v in _HIGHS_OPTIONS.items():
        h.setOptionValue(k, v)
    return h


# ------------------------------------------------------------------------------------ results
def _json_float(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


@dataclass(frozen=True)
class PriceIntervals:
    """The interval ``[lower[r], upper[r]]`` of every optimal dual of the group's rows.

    ``lower``/``upper`` may be infinite (the value function is ``-inf``/``+inf`` on one side: moving
    the right-hand side that way is infeasible). ``unique[r]``: width ``<= tolerance[r]``
    (``UNIQUE_RTOL`` times the dual scale). ``point``: the dual at HiGHS's optimal vertex (one point of
    each interval). ``rows``: the positions in the group's row order these arrays refer to.
    """

    lower: np.ndarray
    upper: np.ndarray
    unique: np.ndarray
    method: str
    group: str = ""
    rows: np.ndarray | None = None
    point: np.ndarray | None = None
    tolerance: np.ndarray | None = None
    seconds: float = 0.0
    solves: int = 0
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def width(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):  # inf - inf on a doubly unbounded row: nan
            return np.asarray(self.upper - self.lower, float)

    @property
    def all_unique(self) -> bool:
        return bool(np.all(self.unique))

    def contains(self, values: Any, atol: Any = None) -> np.ndarray:
        """Per row: does ``values`` (e.g. ``solution.duals[group]``, in the group's full row order
        when ``rows`` was a subset) lie in the interval, up to ``atol`` (default ``tolerance``)?"""
        v = np.ravel(np.asarray(values, float), order="F")
        if self.rows is not None and v.size != self.lower.size:
            v = v[self.rows]
        tol = self.tolerance if atol is None else np.broadcast_to(np.asarray(atol, float), v.shape)
        tol = np.zeros(v.shape) if tol is None else tol
        return np.asarray((v >= self.lower - tol) & (v <= self.upper + tol))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: an infinite endpoint is ``None`` (``lower: None`` is ``-inf``, ``upper: None``
        is ``+inf``)."""
        return {
            "group": self.group,
            "rows": None if self.rows is None else [int(r) for r in self.rows],
            "lower": [_json_float(v) for v in self.lower],
            "upper": [_json_float(v) for v in self.upper],
            "unique": [bool(u) for u in self.unique],
            "point": None if self.point is None else [_json_float(v) for v in self.point],
            "tolerance": None if self.tolerance is None else [float(t) for t in self.tolerance],
            "method": self.method,
            "seconds": float(self.seconds),
            "solves": int(self.solves),
            "stats": {k: (v if isinstance(v, (str, bool)) else float(v)) for k, v in self.stats.items()},
        }


@dataclass(frozen=True)
class PrimalUniqueness:
    """Is the LP's optimal point unique in the program's declared variables?

    ``unique``: True (proved: dual nondegenerate basis, or the optimal face is a point in the declared
    variables), False (``points`` holds two optimal points, by variable name, ``distance`` apart in
    the max norm, with objectives ``objectives``), None (the solver could not settle it).
    """

    unique: bool | None
    method: str
    distance: float = 0.0
    points: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None
    objectives: tuple[float, float] | None = None
    seconds: float = 0.0
    solves: int = 0

    def to_dict(self) -> dict[str, Any]:
        pts = None
        if self.points is not None:
            pts = [{k: [_json_float(x) for x in np.ravel(v)] for k, v in p.items()} for p in self.points]
        return {"unique": self.unique, "method": self.method, "distance": float(self.distance),
                "points": pts,
                "objectives": None if self.objectives is None else [float(o) for o in self.objectives],
                "seconds": float(self.seconds), "solves": int(self.solves)}


# ---------------------------------------------------------------------------- standard form
class _StandardLP:
    """cvxpy's conic standard form of an LP program, on HiGHS (rows = kept standard-form rows)."""

    def __init__(self, program: NamedProgram):
        problem = program.problem
        # a fresh Problem over the same objective and constraints (same ids): the program's own
        # compiled cache, values and duals are left untouched
        self.problem = cp.Problem(problem.objective, problem.constraints)
        self.name = program.name
        try:  # every cone accepted here: the LP check below names what else the program has
            form = extract(self.problem, _ANY_CONE, "degeneracy")
        except (cp.error.SolverError, cp.error.DCPError, cp.error.DPPError) as exc:
            raise ModelError("program", program.name, "an LP (linear objective, affine constraints)",
                             detail="cvxpy cannot compile it to a continuous conic program (integer "
                             f"variables or a non-DCP expression?): {exc}") from None
        reasons = []
        if form.P is not None:
            reasons.append("a quadratic objective")
        if form.n_rows != form.n_eq + form.n_nonneg:
            reasons.append("cones other than equalities and inequalities (second-order, exponential, "
                           "power or semidefinite)")
        if reasons:
            raise ModelError("program", program.name, "an LP (linear objective, only equality and "
                             "inequality rows)", detail=f"it has {' and '.join(reasons)}: its duals are "
                             "unique where the program is strictly convex, this check is for LPs")
        self.form = form
        self.compile_s = form.compile_s
        self.chain, self.inverse = form.chain, form.inverse_data
        if getattr(self.inverse[-1], "solver_options", None) is None:
            self.inverse[-1].solver_options = {}
        self.c = form.c
        # HiGHS sees c / max|c|: its absolute dual tolerance (1e-9) becomes relative to the data
        cmax = float(np.max(np.abs(self.c), initial=0.0))
        self.cost_scale = cmax if cmax > 0 else 1.0
        self.b = form.b
        self.n_eq = form.n_eq
        self.h: Any = None
        self.extra_iterations = 0
        self.extra_solves = 0

    @property
    def n(self) -> int:
        return self.c.size

    @property
    def m(self) -> int:
        return self.b.size

    # ----------------------------------------------------------------------- maps to cvxpy
    def _invert(self, x: np.ndarray, z: np.ndarray, obj_val: float = 0.0) -> Any:
        raw = SimpleNamespace(x=x, z=z, s=np.zeros(self.m), status="Solved", obj_val=obj_val,
                              solve_time=0.0, iterations=0)
        return self.chain.invert(raw, self.inverse)

    def user_objective(self, x: np.ndarray) -> float:
        """The program's objective at the standard-form point ``x`` (constant and sense restored)."""
        return float(self._invert(x, np.zeros(self.m), float(self.c @ x)).opt_val)

    def dual_rows(self, constraints: Sequence[cp.Constraint]) -> tuple[np.ndarray, np.ndarray]:
        """Standard-form row and sign of every entry of ``constraints`` (group order): the entry's
        dual value is ``sign * z[row]``. Read off cvxpy's inverse chain by a probe."""
        probe = np.arange(1, self.m + 1, dtype=float)
        check = np.random.default_rng(12345).standard_normal(self.m)
        got = self._invert(np.zeros(self.n), probe).dual_vars
        got2 = self._invert(np.zeros(self.n), check).dual_vars
        rows, signs = [], []
        for con in constraints:
            if con.id not in got or got[con.id] is None:
                raise ModelError("group", str(con), "constraints that reach the solver",
                                 detail="cvxpy eliminated this constraint (no rows in the standard form)")
            v = np.ravel(np.asarray(got[con.id], float), order="F")
            r = np.rint(np.abs(v)).astype(int) - 1
            s = np.sign(v)
            v2 = np.ravel(np.asarray(got2[con.id], float), order="F")
            ok = bool(np.allclose(np.abs(v), r + 1, rtol=0, atol=1e-9) and np.all(s != 0)
                      and np.all((r >= 0) & (r < self.m)) and v2.shape == v.shape)
            ok = ok and bool(np.allclose(v2, s * check[np.clip(r, 0, self.m - 1)], rtol=0, atol=1e-12))
            if not ok:
                raise ModelError("group", str(con), "constraints whose duals are standard-form rows",
                                 detail="cvxpy maps this constraint's duals through a non-trivial "
                                 "linear map; price intervals are not available for it")
            rows.append(r)
            signs.append(s)
        return np.concatenate(rows), np.concatenate(signs)

    def primal_columns(self, variables: Mapping[str, cp.Variable]) -> dict[str, np.ndarray]:
        """Standard-form column of every entry of each declared variable (Fortran order)."""
        probe = np.arange(1, self.n + 1, dtype=float)
        sol = self._invert(probe, np.zeros(self.m))
        out = {}
        for name, var in variables.items():
            val = sol.primal_vars.get(var.id)
            if val is None:
                continue
            v = np.ravel(np.asarray(val, float), order="F")
            cols = np.rint(v).astype(int) - 1
            if not np.allclose(v, cols + 1, rtol=0, atol=1e-9) or np.any(cols < 0):
                raise ModelError("variables", name, "variables stored as standard-form columns",
                                 detail="cvxpy maps this variable through a non-trivial linear map")
            out[name] = cols
        return out

    # ------------------------------------------------------------------------ HiGHS model
    def prepare(self, protect: np.ndarray | None = None) -> None:
        """Single-entry inequality rows ``a x_j <= b`` become column bounds when the column has no
        other bound on that side (cvxpy writes ``x >= 0`` as one row per entry); ``protect``ed rows
        stay rows (their duals are read)."""
        bounds = single_entry_rows(self.form, protect)
        self.lower, self.upper = bounds.lower, bounds.upper
        self.Ak = bounds.A
        self.kept = bounds.keep
        self.row_pos = np.full(self.m, -1)
        self.row_pos[self.kept] = np.arange(self.kept.size)
        self.is_eq = self.kept < self.n_eq

    def solve(self) -> None:
        """Pass the LP to HiGHS, run the simplex, keep the vertex, its basis and its duals."""
        import highspy

        h = _new_highs()
        bk = self.b[self.kept]
        pass_lp(h, self.c / self.cost_scale, self.Ak, np.where(self.is_eq, bk, -np.inf), bk, self.lower,
                self.upper)
        t0 = time.perf_counter()
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kUnboundedOrInfeasible:
            h.setOptionValue("presolve", "off")
            h.run()
            status = h.getModelStatus()
            h.setOptionValue("presolve", "choose")
        self.solve_s = time.perf_counter() - t0
        if status != highspy.HighsModelStatus.kOptimal:
            raise SolveError(from_highs(status.name), backend="highs", solver="HIGHS",
                             hint=f"program '{self.name}' has no optimum, hence no optimal duals "
                                  f"(HiGHS: {status.name})")
        self.h = h
        sol = h.getSolution()
        basis = h.getBasis()
        self.x = np.asarray(sol.col_value, float)
        self.act = np.asarray(sol.row_value, float)
        self.col_dual = np.asarray(sol.col_dual, float) * self.cost_scale
        self.row_dual = np.asarray(sol.row_dual, float) * self.cost_scale
        self.col_status = np.fromiter(map(int, basis.col_status), int, self.n)
        self.row_status = np.fromiter(map(int, basis.row_status), int, self.kept.size)
        self.basis = basis
        self.objective = float(h.getInfo().objective_function_value) * self.cost_scale
        self.iterations = int(h.getInfo().simplex_iteration_count)
        # activity of the bounds at the vertex (basic variables within tolerance count as at them)
        tol = ACTIVE_RTOL * max(1.0, float(np.max(np.abs(self.b), initial=0.0)),
                                float(np.max(np.abs(self.x), initial=0.0)))
        self.active_tol = tol
        basic = int(highspy.HighsBasisStatus.kBasic)
        at_lower = self.col_status == int(highspy.HighsBasisStatus.kLower)
        at_upper = self.col_status == int(highspy.HighsBasisStatus.kUpper)
        self.col_at_lower = np.isfinite(self.lower) & (at_lower | (self.x - self.lower <= tol))
        self.col_at_upper = np.isfinite(self.upper) & (at_upper | (self.upper - self.x <= tol))
        self.row_active = self.is_eq | (self.row_status != basic) | (bk - self.act <= tol)
        self.basic_col = self.col_status == basic
        self.basic_row = self.row_status == basic

    def primal_degenerate(self) -> bool:
        """A basic variable (column or row activity) sits at one of its bounds."""
        cols = self.basic_col & (self.col_at_lower | self.col_at_upper)
        rows = self.basic_row & self.row_active
        return bool(cols.any() or rows.any())

    def run_counted(self) -> Any:
        self.h.run()
        info = self.h.getInfo()
        self.extra_iterations += int(info.simplex_iteration_count)
        self.extra_solves += 1
        return self.h.getModelStatus()


# ------------------------------------------------------------------------------ price intervals
def _group_constraints(program: NamedProgram, group: str) -> tuple[cp.Constraint, ...]:
    if group not in program.groups:
        raise ModelError("group", group, f"one of {sorted(program.groups)}")
    return program.groups[group].constraints


def price_intervals(program: NamedProgram, group: str, *, rows: Sequence[int] | np.ndarray | None = None
                    ) -> PriceIntervals:
    """The interval of every optimal dual of the rows of constraint group ``group`` of an LP program.

    ``[lower[r], upper[r]]`` is the set of values ``solution.duals[group][r]`` takes over all optimal
    duals (cvxpy's convention), i.e. the two one-sided derivatives of the optimal value in that row's
    right-hand side (``[-p'(+), -p'(-)]`` for a minimisation, ``[W'(+), W'(-)]`` for a maximisation).
    ``rows`` restricts the work to those positions of the group's row order. The program is compiled
    and solved here on HiGHS (its own solution, if any, is neither needed nor touched).
    Raises :class:`ModelError` unless the program is an LP, :class:`SolveError` if it has no optimum.
    """
    import highspy

    t0 = time.perf_counter()
    constraints = _group_constraints(program, group)
    lp = _StandardLP(program)
    std_rows, signs = lp.dual_rows(constraints)
    total = std_rows.size
    if rows is None:
        sel = np.arange(total)
    else:
        allowed = f"integer positions in the group's {total} rows"
        given = real_array("rows", rows, allowed)
        if given.ndim > 1 or not np.all(np.isfinite(given)) or np.any(given != np.round(given)):
            raise ModelError("rows", rows, allowed)
        sel = np.atleast_1d(given).astype(int)
        if sel.size and (sel.min() < -total or sel.max() >= total):
            raise ModelError("rows", rows, allowed)
        sel = np.where(sel < 0, sel + total, sel)
    protect = np.zeros(lp.m, bool)
    protect[std_rows[sel]] = True
    lp.prepare(protect)
    lp.solve()
    pos = lp.row_pos[std_rows[sel]]          # HiGHS row of each selected entry
    z_point = -lp.row_dual[pos]              # standard-form dual at the vertex
    zl = z_point.copy()
    zu = z_point.copy()
    need_up = np.zeros(sel.size, bool)      # p'(b; +e) unknown -> min z
    need_dn = np.zeros(sel.size, bool)      # p'(b; -e) unknown -> max z
    basic_rows = lp.basic_row[pos]
    inactive = basic_rows & ~lp.row_active[pos]  # a slack inequality: its dual is 0, uniquely
    degenerate = lp.primal_degenerate()
    ranging_s = 0.0
    if degenerate:
        t1 = time.perf_counter()
        status, rg = lp.h.getRanging()
        ranging_s = time.perf_counter() - t1
        b_sel = lp.b[std_rows[sel]]
        if status != highspy.HighsStatus.kOk:  # no ranging: every active row gets the extra work
            need_up[:] = need_dn[:] = ~inactive
        else:
            up = np.asarray(rg.row_bound_up.value_, float)[pos]
            dn = np.asarray(rg.row_bound_dn.value_, float)[pos]
            delta = RANGE_RTOL * max(1.0, float(np.max(np.abs(lp.b), initial=0.0)))
            need_up = ~inactive & ((up - b_sel <= delta) | basic_rows)
            need_dn = ~inactive & ((b_sel - dn <= delta) | basic_rows)
    components = 0
    if need_up.any() or need_dn.any():
        components = _directional(lp, pos, need_up, need_dn, zl, zu)
    zl = np.minimum(zl, z_point)
    zu = np.maximum(zu, z_point)
    s = signs[sel]
    lower = np.where(s > 0, zl, -zu)
    upper = np.where(s > 0, zu, -zl)
    point = s * z_point
    scale = np.maximum(lp.cost_scale, np.abs(point))
    tolerance = UNIQUE_RTOL * np.maximum(scale, np.finfo(float).tiny)
    with np.errstate(invalid="ignore"):
        width = upper - lower
    unique = np.asarray(np.isfinite(width) & (width <= tolerance))
    # in the units of solution.duals: a program solved in scaled units (objective_unit, e.g. a
    # sharing program's weights normalised by their largest) reports its duals scaled back
    unit = float(getattr(program, "objective_unit", 1.0))
    lower, upper, point, tolerance = lower * unit, upper * unit, point * unit, tolerance * unit
    extra = int(need_up.sum() + need_dn.sum())
    if not degenerate:
        method = ("HiGHS simplex vertex is primal nondegenerate: the optimal dual is unique "
                  "(every interval is a point)")
    else:
        method = (f"HiGHS simplex vertex is primal degenerate; ranging certified "
                  f"{int(np.sum(~need_up & ~need_dn))} of {sel.size} rows unique; "
                  f"{extra} directional derivatives for the rest, by LPs warm-started from the optimal "
                  f"basis, batched over {components} independent blocks into {lp.extra_solves} HiGHS runs")
    stats = {"compile_s": lp.compile_s, "solve_s": lp.solve_s, "ranging_s": ranging_s,
             "iterations": lp.iterations, "extra_iterations": lp.extra_iterations,
             "rows_checked": int(np.sum(need_up | need_dn)), "blocks": components,
             "primal_degenerate": degenerate}
    return PriceIntervals(lower, upper, unique, method, group=group,
                          rows=None if rows is None else sel, point=point, tolerance=tolerance,
                          seconds=time.perf_counter() - t0, solves=1 + lp.extra_solves, stats=stats)


def dual_range(program: NamedProgram, group: str, weights: Any) -> tuple[np.ndarray, np.ndarray]:
    """``[min, max]`` of ``w @ y`` over every optimal dual ``y`` of the rows of group ``group`` of an
    LP program (cvxpy's convention, in the units of ``solution.duals``), for each row ``w`` of
    ``weights`` (one vector, or a matrix of them: the LP is compiled and solved once for all).

    The range of a linear function of the prices, not the box of their intervals: with
    ``w'y = sum_r w_r s_r z_r`` (``s`` the rows' signs) and ``d = -s w`` on the rows,
    ``max_{D*} w'y = max_{D*} -d'z = p'(b; d)`` and ``min = -p'(b; -d)``, two directional-derivative
    LPs warm-started from the optimal basis (module docstring). An infinite end means the right-hand
    side cannot move that way. Where the prices are unique both ends equal ``w'y``.
    """
    constraints = _group_constraints(program, group)
    lp = _StandardLP(program)
    std_rows, signs = lp.dual_rows(constraints)
    allowed = f"{std_rows.size} finite weights, one per row of group {group!r} (or a matrix of such rows)"
    W = np.atleast_2d(real_array("weights", weights, allowed))
    if W.ndim != 2 or W.shape[1] != std_rows.size or not np.all(np.isfinite(W)):
        raise ModelError("weights", weights, allowed)
    protect = np.zeros(lp.m, bool)
    protect[std_rows] = True
    lp.prepare(protect)
    lp.solve()
    pos = lp.row_pos[std_rows]
    _shift_to_active_cone(lp)
    moving = lp.is_eq[pos] | lp.row_active[pos]  # a slack row's dual is 0 at every optimum
    unit = float(getattr(program, "objective_unit", 1.0))
    lower, upper = np.empty(W.shape[0]), np.empty(W.shape[0])
    for k, w in enumerate(W):
        d = np.bincount(pos[moving], weights=(-w * signs)[moving], minlength=lp.kept.size)
        lower[k], upper[k] = -_direction_value(lp, -d) * unit, _direction_value(lp, d) * unit
    return lower, upper


def _direction_value(lp: _StandardLP, d: np.ndarray) -> float:
    """``p'(b; d)`` for a right-hand-side direction ``d`` per HiGHS row, on the shifted model
    (:func:`_shift_to_active_cone`); ``+inf`` where the LP cannot move that way."""
    import highspy

    inf = highspy.kHighsInf
    rows = np.flatnonzero(d)
    for r in rows.tolist():
        lp.h.changeRowBounds(r, float(d[r]) if lp.is_eq[r] else -inf, float(d[r]))
    status = lp.run_counted()
    if status == highspy.HighsModelStatus.kOptimal:
        y = np.asarray(lp.h.getSolution().col_value, float)[: lp.n]
        value = float(lp.c @ y)
    elif status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        value = np.inf
    else:
        value = np.nan
    for r in rows.tolist():
        lp.h.changeRowBounds(r, 0.0 if lp.is_eq[r] else -inf, 0.0)
    return value


def _shift_to_active_cone(lp: _StandardLP) -> None:
    """Turn the HiGHS model into the directional LP's feasible cone: active bounds at 0, inactive
    bounds dropped, equality rows at 0. The optimal basis stays valid and dual feasible."""
    import highspy

    inf = highspy.kHighsInf
    h = lp.h
    cols = np.arange(lp.n, dtype=np.int32)
    h.changeColsBounds(lp.n, cols, np.where(lp.col_at_lower, 0.0, -inf), np.where(lp.col_at_upper, 0.0, inf))
    nr = lp.kept.size
    rws = np.arange(nr, dtype=np.int32)
    h.changeRowsBounds(nr, rws, np.where(lp.is_eq, 0.0, -inf), np.where(lp.row_active, 0.0, inf))
    h.setBasis(lp.basis)


def _components(lp: _StandardLP) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of the directional LP: its rows are the active rows (the others are
    free), its movable columns those not fixed at 0. Labels per HiGHS row and per column (-1: none)."""
    from scipy.sparse.csgraph import connected_components

    rows = np.flatnonzero(lp.row_active)
    movable = np.flatnonzero(~(lp.col_at_lower & lp.col_at_upper))
    M = sps.csr_matrix(lp.Ak.tocsr()[rows][:, movable])
    graph = sps.bmat([[sps.csr_matrix((rows.size, rows.size)), M],
                      [M.T, sps.csr_matrix((movable.size, movable.size))]], format="csr")
    _, labels = connected_components(graph, directed=False)
    row_comp = np.full(lp.kept.size, -1)
    row_comp[rows] = labels[: rows.size]
    col_comp = np.full(lp.n, -1)
    col_comp[movable] = labels[rows.size:]
    return row_comp, col_comp


def _directional(lp: _StandardLP, pos: np.ndarray, need_up: np.ndarray, need_dn: np.ndarray,
                 zl: np.ndarray, zu: np.ndarray) -> int:
    """Fill ``zl`` (min z_r over D*) where ``need_up`` and ``zu`` (max z_r) where ``need_dn`` from
    ``p'(b; +e_r) = -min z_r`` and ``p'(b; -e_r) = max z_r``: one *job* (row, side) each.

    Jobs are batched: the rows of several jobs move at once (rhs ``D = sum_j d_j``) and HiGHS solves
    that one LP warm. The directional LP separates into connected components (:func:`_components`):
    a component holding a single job gets its exact value ``c'y`` summed over its columns. Within a
    component holding several jobs, the batch's optimal basis (dual feasible for every job, being
    the same LP up to the right-hand side) is *verified* job by job: if its basic solution for
    ``d_j`` alone is primal feasible (one sparse LU of the basis, one solve per job) it is optimal
    for job ``j`` and ``p'(b; d_j) = -d_j' z`` with ``z`` the batch's dual; otherwise the job waits
    for a smaller batch (a component's next batch is twice the number that verified, half the last
    one when none did; a batch of one is a plain re-solve, always exact). A batch HiGHS finds
    infeasible is split by a phase-1 LP (one elastic column per job, ``min sum a``: ``a_j = 1``
    exactly where job ``j`` is infeasible).
    Returns the number of components holding jobs."""
    row_comp, col_comp = _components(lp)
    pending: dict[int, list[tuple[int, float]]] = {}
    for job in np.flatnonzero(need_up | need_dn).tolist():
        for side, wanted in ((1.0, need_up[job]), (-1.0, need_dn[job])):
            if wanted:
                pending.setdefault(int(row_comp[pos[job]]), []).append((job, side))
    n_components = len(pending)
    _shift_to_active_cone(lp)
    runner = _BatchRunner(lp, pos, col_comp)
    limit = {comp: len(jobs) for comp, jobs in pending.items()}
    while pending:
        batch: list[tuple[int, int, float]] = []  # (component, k, side)
        for comp, jobs in pending.items():
            rows_used: set[int] = set()
            for k, side in jobs:
                if len(rows_used) >= limit[comp]:
                    break
                if int(pos[k]) not in rows_used:
                    rows_used.add(int(pos[k]))
                    batch.append((comp, k, side))
        values = runner.run(batch)
        done: dict[int, int] = {}
        for (comp, k, side), value in zip(batch, values, strict=True):
            if value is None:
                continue
            if side > 0:
                zl[k] = -value
            else:
                zu[k] = value
            pending[comp].remove((k, side))
            done[comp] = done.get(comp, 0) + 1
        for comp in {c for c, _, _ in batch}:
            settled = done.get(comp, 0)
            if not pending[comp]:
                del pending[comp]
            else:  # a batch about twice what verified last time; halve when nothing did
                limit[comp] = max(1, limit[comp] // 2 if settled == 0 else min(limit[comp], 2 * settled))
    return n_components


class _BatchRunner:
    """Runs batches of directional jobs on the shifted HiGHS model (see :func:`_directional`)."""

    def __init__(self, lp: _StandardLP, pos: np.ndarray, col_comp: np.ndarray):
        self.lp, self.pos, self.col_comp = lp, pos, col_comp
        self.elastic: dict[int, int] = {}  # HiGHS row -> its elastic column (added on first need)

    def _set_rhs(self, row: int, value: float) -> None:
        import highspy

        lp = self.lp
        lp.h.changeRowBounds(row, value if lp.is_eq[row] else -highspy.kHighsInf, value)

    def _component_values(self, comps: list[int]) -> np.ndarray:
        lp = self.lp
        y = np.asarray(lp.h.getSolution().col_value, float)[: lp.n]
        movable = self.col_comp >= 0
        sums = np.bincount(self.col_comp[movable], weights=lp.c[movable] * y[movable],
                           minlength=max(comps) + 1)
        return np.asarray(sums[comps], float)

    def run(self, batch: list[tuple[int, int, float]]) -> list[float | None]:
        """Values ``p'(b; d_j)`` of the batch's jobs (None: not settled by this run)."""
        import highspy

        lp = self.lp
        infeasible = {highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible}
        rows = [int(self.pos[k]) for _, k, _ in batch]
        for r, (_, _, side) in zip(rows, batch, strict=True):
            self._set_rhs(r, side)
        status = lp.run_counted()
        out: list[float | None]
        if status == highspy.HighsModelStatus.kOptimal:
            out = self._settle(batch, rows)
        elif status in infeasible and len(batch) == 1:
            out = [np.inf]  # the right-hand side cannot move that way: an infinite endpoint
        elif status in infeasible:
            out = self._infeasible_jobs(batch, rows)
        elif len(batch) == 1:
            out = [np.nan]  # HiGHS failed on a single job: reported as unknown
        else:
            out = [None] * len(batch)
        for r in rows:
            self._set_rhs(r, 0.0)
        return out

    def _settle(self, batch: list[tuple[int, int, float]], rows: list[int]) -> list[float | None]:
        """Exact values for single-job components; basis verification for the others."""
        lp = self.lp
        comps = [comp for comp, _, _ in batch]
        count: dict[int, int] = {}
        for comp in comps:
            count[comp] = count.get(comp, 0) + 1
        sums = self._component_values(comps)
        out: list[float | None] = [float(v) if count[c] == 1 else None
                                   for c, v in zip(comps, sums, strict=True)]
        shared = [i for i, c in enumerate(comps) if count[c] > 1]
        if shared:
            row_dual = np.asarray(lp.h.getSolution().row_dual, float) * lp.cost_scale
            ok = self._verify([rows[i] for i in shared], [batch[i][2] for i in shared])
            for i, good in zip(shared, ok, strict=True):
                if good:  # p'(b; s e_r) = -s z_r = s * (HiGHS row dual), at the verified basis
                    out[i] = float(batch[i][2] * row_dual[rows[i]])
        return out

    def _verify(self, rows: list[int], sides: list[float]) -> np.ndarray:
        """Is the current basis primal feasible for the directional LP of each job alone?

        With ``[A, -I] (y, r) = 0`` (``r`` the row activities), every nonbasic variable of a job's
        LP sits at 0 except the job's row activity at ``s``: the basic values solve
        ``B v = s e_row``. They must lie in the cone's bounds (0 where a bound is active)."""
        import highspy
        from scipy.sparse.linalg import splu

        lp, h = self.lp, self.lp.h
        status, basic_vars = h.getBasicVariables()
        if status != highspy.HighsStatus.kOk:
            return np.zeros(len(rows), bool)
        basic_vars = np.asarray(basic_vars, int)
        n_all = lp.n + len(self.elastic)
        col_basic = np.zeros(n_all, bool)
        col_basic[basic_vars[basic_vars >= 0]] = True
        row_basic = np.zeros(lp.kept.size, bool)
        row_basic[-1 - basic_vars[basic_vars < 0]] = True
        rows_arr = np.asarray(rows)
        ok = np.asarray(~row_basic[rows_arr], bool)  # a job row left basic cannot be verified this way
        if not ok.any():
            return ok
        A = lp.Ak
        if n_all > lp.n:  # elastic columns (unit columns; fixed at 0 outside phase 1)
            el_rows = sorted(self.elastic, key=self.elastic.__getitem__)
            E = sps.csc_matrix((np.ones(len(el_rows)), (el_rows, np.arange(len(el_rows)))),
                               shape=(lp.kept.size, len(el_rows)))
            A = sps.hstack([A, E], format="csc")
        bc = np.flatnonzero(col_basic)
        br = np.flatnonzero(row_basic)
        B = sps.hstack([A[:, bc], -sps.eye(lp.kept.size, format="csc")[:, br]], format="csc")
        try:
            lu = splu(B)
        except RuntimeError:  # singular to working precision: nothing verified
            return np.zeros(len(rows), bool)
        # cone bounds of the basic variables (columns, then row activities)
        lo_c = np.where(lp.col_at_lower, 0.0, -np.inf)
        up_c = np.where(lp.col_at_upper, 0.0, np.inf)
        lo_c = np.concatenate([lo_c, np.zeros(n_all - lp.n)])
        up_c = np.concatenate([up_c, np.zeros(n_all - lp.n)])
        lo_r = np.where(lp.is_eq, 0.0, -np.inf)
        up_r = np.where(lp.row_active, 0.0, np.inf)
        lo = np.concatenate([lo_c[bc], lo_r[br]])
        up = np.concatenate([up_c[bc], up_r[br]])
        bounded = np.isfinite(lo) | np.isfinite(up)
        idx = np.flatnonzero(ok)
        for start in range(0, idx.size, 256):
            chunk = idx[start:start + 256]
            rhs = np.zeros((lp.kept.size, chunk.size))
            rhs[rows_arr[chunk], np.arange(chunk.size)] = np.asarray(sides)[chunk]
            V = lu.solve(rhs)[bounded]
            tol = ACTIVE_RTOL * np.maximum(1.0, np.max(np.abs(V), axis=0, initial=0.0))
            good = np.all((lo[bounded, None] - tol <= V) & (up[bounded, None] + tol >= V), axis=0)
            ok[chunk] = good
        return np.asarray(ok, bool)

    def _infeasible_jobs(self, batch: list[tuple[int, int, float]], rows: list[int]) -> list[float | None]:
        """Phase 1 with elastic columns ``A_r y + s a = s``, ``0 <= a <= 1``, ``min sum a`` (zero
        costs elsewhere): ``a_j`` is 0 or 1 (the problem is homogeneous in ``(y, 1 - a)``), 1 exactly
        where job ``j`` is infeasible. Those get ``+inf``; the others wait for the next batch."""
        import highspy

        lp, h = self.lp, self.lp.h
        new = [r for r in dict.fromkeys(rows) if r not in self.elastic]
        if new:
            start = lp.n + len(self.elastic)
            h.addCols(len(new), np.zeros(len(new)), np.zeros(len(new)), np.zeros(len(new)), len(new),
                      np.arange(len(new), dtype=np.int32), np.asarray(new, dtype=np.int32), np.ones(len(new)))
            for i, r in enumerate(new):
                self.elastic[r] = start + i
        cols = np.array([self.elastic[r] for r in rows], dtype=np.int32)
        for r, col, (_, _, side) in zip(rows, cols, batch, strict=True):
            h.changeCoeff(r, int(col), side)
        allc = np.arange(lp.n, dtype=np.int32)
        h.changeColsCost(lp.n, allc, np.zeros(lp.n))
        h.changeColsCost(cols.size, cols, np.ones(cols.size))
        h.changeColsBounds(cols.size, cols, np.zeros(cols.size), np.ones(cols.size))
        status = lp.run_counted()
        out: list[float | None] = [None] * len(batch)
        if status == highspy.HighsModelStatus.kOptimal:
            a = np.asarray(h.getSolution().col_value, float)[cols]
            out = [np.inf if v > 0.5 else None for v in a]
        h.changeColsCost(lp.n, allc, lp.c / lp.cost_scale)
        h.changeColsCost(cols.size, cols, np.zeros(cols.size))
        h.changeColsBounds(cols.size, cols, np.zeros(cols.size), np.zeros(cols.size))
        for r, col in zip(rows, cols, strict=True):
            h.changeCoeff(r, int(col), 1.0)
        return out


# ------------------------------------------------------------------------ primal uniqueness
def primal_uniqueness(program: NamedProgram) -> PrimalUniqueness:
    """Is the LP's optimum unique in the program's declared variables (``program.variables``: for a
    sharing program the allocation)? See :class:`PrimalUniqueness` and the module docstring."""
    import highspy

    t0 = time.perf_counter()
    lp = _StandardLP(program)
    columns = lp.primal_columns(program.variables)
    lp.prepare()
    lp.solve()
    h = lp.h
    zero = ZERO_RTOL * lp.cost_scale
    nonbasic_col = ~lp.basic_col
    fixed = np.isfinite(lp.lower) & np.isfinite(lp.upper) & (lp.upper - lp.lower <= lp.active_tol)
    free_col = nonbasic_col & ~fixed & (np.abs(lp.col_dual) <= zero)
    free_row = ~lp.basic_row & ~lp.is_eq & (np.abs(lp.row_dual) <= zero)
    if not (free_col.any() or free_row.any()):
        return PrimalUniqueness(True, "HiGHS optimal basis is dual nondegenerate (every nonbasic variable "
                                "has a nonzero reduced cost): the optimum is unique",
                                seconds=time.perf_counter() - t0, solves=1)
    idx = np.concatenate(list(columns.values())) if columns else np.arange(lp.n)
    if idx.size == 0:
        return PrimalUniqueness(True, "the program declares no variables that reach the solver",
                                seconds=time.perf_counter() - t0, solves=1)
    # the optimal face: complementary slackness with the returned dual fixes every nonbasic
    # variable with a nonzero reduced cost at its bound (and every priced inequality row at its bound)
    pin = nonbasic_col & ~free_col
    if pin.any():
        cols = np.flatnonzero(pin).astype(np.int32)
        h.changeColsBounds(cols.size, cols, lp.x[pin], lp.x[pin])
    pin_row = ~lp.basic_row & ~lp.is_eq & ~free_row
    if pin_row.any():
        rws = np.flatnonzero(pin_row).astype(np.int32)
        bk = lp.b[lp.kept][pin_row]
        h.changeRowsBounds(rws.size, rws, bk, bk)
    # a box around the vertex on the declared columns keeps the face LP bounded (an unbounded optimal
    # face then shows as a second point on the box) without excluding the vertex
    radius = max(1.0, float(np.max(np.abs(lp.x[idx]), initial=0.0)))
    keep = ~pin[idx]
    box = idx[keep].astype(np.int32)
    if box.size:
        h.changeColsBounds(box.size, box, np.maximum(lp.lower[box], lp.x[box] - radius),
                           np.minimum(lp.upper[box], lp.x[box] + radius))
    g = np.zeros(lp.n)
    g[idx] = np.random.default_rng(2024).standard_normal(idx.size)
    allc = np.arange(lp.n, dtype=np.int32)
    points, values = [], []
    for sign in (1.0, -1.0):
        h.changeColsCost(lp.n, allc, sign * g)
        status = lp.run_counted()
        if status != highspy.HighsModelStatus.kOptimal:
            return PrimalUniqueness(None, f"the optimal-face LP ended with status {status.name}",
                                    seconds=time.perf_counter() - t0, solves=1 + lp.extra_solves)
        x = np.asarray(h.getSolution().col_value, float)
        points.append(x)
        values.append(lp.user_objective(x))
    diff = points[0][idx] - points[1][idx]
    distance = float(np.max(np.abs(diff), initial=0.0))
    tol = DISTANCE_RTOL * max(1.0, float(np.max(np.abs(lp.x[idx]), initial=0.0)))
    solves = 1 + lp.extra_solves
    if distance <= tol:
        return PrimalUniqueness(True, "the optimal face (complementary slackness with HiGHS's dual) "
                                f"is a point in the declared variables: a random functional has "
                                f"min = max (to {tol:.1e})", distance=distance,
                                seconds=time.perf_counter() - t0, solves=solves)
    named = tuple({name: _reshape(x[cols], program.variables[name]) for name, cols in columns.items()}
                  for x in points)
    return PrimalUniqueness(False, "two optimal points on the optimal face (complementary slackness with "
                            "HiGHS's dual), found by minimising and maximising a random linear "
                            "functional of the declared variables over it", distance=distance,
                            points=(named[0], named[1]),
                            objectives=(values[0], values[1]),
                            seconds=time.perf_counter() - t0, solves=solves)


def _reshape(v: np.ndarray, var: cp.Variable) -> np.ndarray:
    return np.reshape(v, var.shape, order="F") if var.shape else v.reshape(())


def allocation_unique(program: NamedProgram) -> bool | None:
    """True when the LP's optimal allocation (the program's declared variables) is unique, False
    when an alternative optimum exists (:func:`primal_uniqueness` exhibits it), None when the solver
    could not settle it."""
    return primal_uniqueness(program).unique
