"""Declarative programs: named variables, parameters and constraint groups over one cvxpy Problem.

:class:`Program` is a thin layer over cvxpy. Builders (the sharing program below, the reinsurance
layer LP, the taxation program) declare variables and *named* constraint groups, so that a dual is
looked up by its meaning (``solution.duals["budget"]``). The cvxpy Problem is built once, on the
first solve; knobs that sweeps change are cvxpy Parameters (DPP), so re-solving after
``program.set(weights=...)`` reuses the compiled problem.

:class:`SharingProgram` is the risk-sharing container: a scenario space, agents with measures, an
aggregate ``X``, an allowed allocation set, restrictions and an objective,

* ``"welfare"``:   maximise ``sum_i w_i U_i(xi_i)`` over gains ``xi`` with ``sum_i xi_i = X``;
* ``"total_risk"``: minimise ``sum_i w_i rho_i(xi_i)`` over losses ``xi`` with ``sum_i xi_i = X``.

Users add their own constraints on the allocation::

    prog.add_constraint(lambda xi: xi["farmer 0"] >= 0.6 * pool.X)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import cvxpy as cp
import numpy as np

from .agent import Agent
from .allocation import AllocationBlock, AllocationSet, AnchoredComonotone, Restriction
from .backends import run
from .certificate import Certificate, certify_problem
from .checks import integer, real_array
from .constraints import ConstraintDual, ConstraintSpec, ConstraintTarget, add_constraints, read_constraints
from .degeneracy import allocation_unique, price_intervals
from .duals import RowUniqueness, state_prices
from .errors import ModelError, SolveError
from .kkt import KKTSystem
from .measures.base import Measure, in_agent_order, oriented_forms
from .polish import flat_directions, polish
from .protocols import ConstraintGroup
from .solution import Solution, build_solution
from .space import Scenarios
from .status import Status

__all__ = ["Agent", "ConstraintGroup", "Program", "SharingProgram"]

Sense = Literal["min", "max"]
Objective = Literal["welfare", "total_risk"]


class Program:
    """A named-block optimisation program compiled once to a ``cvxpy.Problem``."""

    mechanism = "program"
    #: the reported objective is ``objective_unit`` times the cvxpy objective, and the reported duals
    #: (``solution.duals``) are the cvxpy duals times it (builders that solve in scaled units set it;
    #: the certificate compares the two objectives; sharing programs solve with their weights over
    #: the largest)
    objective_unit: float = 1.0

    def __init__(self, name: str, sense: Sense = "min"):
        if sense not in ("min", "max"):
            raise ModelError("sense", sense, "'min' or 'max'")
        self.name = name
        self.sense: Sense = sense
        self.variables: dict[str, cp.Variable] = {}
        self.parameters: dict[str, cp.Parameter] = {}
        self.groups: dict[str, ConstraintGroup] = {}
        self._objective: cp.Expression | None = None
        self._problem: cp.Problem | None = None
        self._build_s = 0.0
        self._user_count = 0
        self.user_specs: tuple[ConstraintSpec, ...] = ()  # declared constraints ([[constraints]])
        self.user_target: ConstraintTarget | None = None  # what they read
        self._dpp = False  # becomes True once a parameter is changed: compile once, re-solve fast

    # ------------------------------------------------------------ declaration
    def variable(self, name: str, shape: int | tuple[int, ...] = (), **attrs: Any) -> cp.Variable:
        """Declare a named variable (cvxpy attributes such as ``nonneg=True`` allowed)."""
        if name in self.variables:
            raise ModelError("variable", name, "a name not used yet in this program")
        v = cp.Variable(_shape(shape), name=name, **attrs)
        self.variables[name] = v
        self._problem = None
        return v

    def parameter(self, name: str, shape: int | tuple[int, ...] = (), value: Any = None,
                  **attrs: Any) -> cp.Parameter:
        """Declare a named Parameter: changing it re-solves without recompiling."""
        if name in self.parameters:
            raise ModelError("parameter", name, "a name not used yet in this program")
        p = cp.Parameter(_shape(shape), name=name, **attrs)
        if value is not None:
            _assign(p, name, value)
        self.parameters[name] = p
        self._problem = None
        return p

    def constrain(self, name: str, constraints: Iterable[cp.Constraint], meaning: str = "") -> None:
        """Add a named group of constraints (extends the group if it exists)."""
        cons = tuple(constraints)
        old = self.groups.get(name)
        if old is not None:
            cons = old.constraints + cons
            meaning = meaning or old.meaning
        self.groups[name] = ConstraintGroup(name, cons, meaning)
        self._problem = None

    def set_objective(self, expr: cp.Expression) -> None:
        self._objective = expr
        self._problem = None

    def user_view(self) -> Any:
        """What a callable passed to :meth:`add_constraint` receives (the variables by default)."""
        return self.variables

    def add_constraint(self, constraint: Any, name: str | None = None) -> str:
        """Add a user's constraint(s): a cvxpy constraint, a list, or ``fn(view) -> constraint(s)``
        where ``view`` is :meth:`user_view` (for sharing programs: the allocation by agent name).
        Returns the group name (``"user[k]"`` unless given) under which its dual is reported."""
        made = constraint(self.user_view()) if callable(constraint) else constraint
        items = list(made) if isinstance(made, (list, tuple)) else [made]
        if not items or not all(isinstance(c, cp.Constraint) for c in items):
            raise ModelError("constraint", made, "a cvxpy constraint (e.g. xi['a'] >= 0) or a list")
        gname = name or f"user[{self._user_count}]"
        self._user_count += 1
        self.constrain(gname, items, "user constraint")
        return gname

    def declare(self, constraints: Sequence[ConstraintSpec], target: ConstraintTarget) -> None:
        """Add declared constraints (:class:`~riskopt.constraints.ConstraintSpec`, ``[[constraints]]``)
        reading the program's quantities through ``target``: one named group each, their duals read
        back by :meth:`constraint_duals`."""
        add_constraints(self, constraints, target)
        self.user_specs = (*self.user_specs, *constraints)
        self.user_target = target

    def constraint_duals(self, solution: Solution) -> dict[str, ConstraintDual]:
        """Each declared constraint's dual (``d objective / d rhs``), slack and binding rows."""
        if not self.user_specs or self.user_target is None:
            return {}
        return read_constraints(self, solution, self.user_specs, self.user_target)

    def set(self, **values: Any) -> Program:
        """Set parameter values (``program.set(weights=[...])``); no recompilation."""
        for k, v in values.items():
            if k not in self.parameters:
                raise ModelError("parameter", k, f"one of {sorted(self.parameters)}")
            _assign(self.parameters[k], k, v)
        self._dpp = True
        return self

    # ------------------------------------------------------------------- build
    @property
    def problem(self) -> cp.Problem:
        """The cvxpy Problem, built on first use and cached."""
        if self._problem is None:
            if self._objective is None:
                raise ModelError("objective", None, "an objective (set_objective)")
            t0 = time.perf_counter()
            obj = cp.Maximize(self._objective) if self.sense == "max" else cp.Minimize(self._objective)
            cons = [c for g in self.groups.values() for c in g.constraints]
            self._problem = cp.Problem(obj, cons)
            self._build_s = time.perf_counter() - t0
        return self._problem

    def solve(self, backend: str = "cvxpy", solver: str | None = None, *, check: bool = True,
              polish: bool | str = "auto", certify: bool = False, **options: Any) -> Solution:
        """Solve on a backend and return a :class:`~riskopt.solution.Solution`.

        The status is the solver's word gated by the KKT certificate (:mod:`riskopt.certificate`).
        ``check=True`` raises :class:`~riskopt.errors.SolveError` unless the status is ``usable``
        (``optimal``, or ``optimal_inaccurate`` reported as such); the solution rides on the error.
        ``polish``: ``"auto"`` refines smooth programs of moderate size by Newton on the KKT system
        (:mod:`riskopt.polish`), ``True`` forces it, ``False`` skips it. ``certify=True`` adds the
        stationarity residual to the certificate of programs that do not compute it by default.
        """
        if polish not in (True, False, "auto"):
            raise ModelError("polish", polish, "True, False or 'auto'")
        self._before_solve()
        problem = self.problem
        report = run(problem, backend=backend, solver=solver, options=options, build_s=self._build_s,
                     dpp=self._dpp, defaults=self.solver_defaults)
        self._fresh_solve()
        if polish and report.status.has_point:
            self.refine(report, force=polish is True)
        solution = build_solution(self, report, certify=certify)
        if check and not solution.status.usable:
            from .errors import SolveError

            raise SolveError(solution.status, backend=report.backend, solver=report.solver,
                             hint=self.hint(solution.status), solution=solution)
        return solution

    def _before_solve(self) -> None:
        """Bring derived parameters up to date with the declared ones (builders that solve in
        scaled units)."""

    def _fresh_solve(self) -> None:
        """Forget what was derived from the previous solve's values (builders with caches)."""

    def certify(self, *, stationarity: bool = False) -> Certificate:
        """The KKT certificate of the current primal-dual values (scaled; :mod:`riskopt.certificate`).
        Builders with exact gradients override it."""
        return certify_problem(self.problem, stationarity=stationarity)

    def solver_defaults(self, backend: str, solver: str) -> dict[str, Any]:
        """This program's own solver options (e.g. tighter tolerances): applied over the backend's
        defaults and under the caller's options. Builders override it."""
        return {}

    def refine(self, report: Any, *, force: bool = False) -> None:
        """Improve a solved point in place (builders with a polish override this)."""

    def hint(self, status: Status) -> str:
        """What a failed status most likely means for this program, naming the user constraints
        (those a solver's infeasibility certificate involves, where it gives one)."""
        text = self._hint(status)
        user = [g for g in self.groups if g.startswith("constraint:") or self.groups[g].meaning ==
                "user constraint"]
        if Status(status).base is Status.INFEASIBLE and user:
            involved = [g for g in user if _certificate_weight(self.groups[g]) > 0]
            names = [g.removeprefix("constraint:") for g in (involved or user)]
            text += ("; the solver's infeasibility certificate involves your constraints " if involved
                     else "; your constraints: ") + ", ".join(names)
        return text

    def _hint(self, status: Status) -> str:
        """The general hint of a failed status (builders override it)."""
        return {
            Status.INFEASIBLE: "the constraints admit no allocation; check caps, user constraints and bounds",
            Status.UNBOUNDED: "the objective can be improved without limit; a constraint is missing",
            Status.ITERATION_LIMIT: "the solver hit its iteration cap: raise max_iter (Clarabel) / "
                                    "max_iters, or try another solver",
            Status.TIME_LIMIT: "the solver hit its time limit: raise time_limit, or try another solver",
            Status.SOLVER_ERROR: "the solver failed numerically: try another solver (e.g. solver='ECOS' or "
                                 "'SCS' for conic programs, backend='highs' for LPs) or rescale the data",
            Status.CERTIFICATE_FAILED: "the solver's answer fails its KKT certificate (see "
                                       "solution.certificate): try another solver, or rescale the data",
        }.get(Status(status).base, "")

    def interpret(self, solution_fields: dict[str, Any]) -> dict[str, Any]:
        """Builders add their economic fields (allocation, values, prices) to a solution."""
        return solution_fields


def _shape(shape: Any) -> tuple[int, ...]:
    """A cvxpy shape: a count or a tuple of counts >= 0."""
    dims = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if not all(integer("shape", d, "a count or a tuple of counts >= 0") >= 0 for d in dims):
        raise ModelError("shape", shape, "a count or a tuple of counts >= 0")
    return tuple(int(d) for d in dims)


def _assign(param: cp.Parameter, name: str, value: Any) -> None:
    """``param.value = value`` (broadcast to its shape), with cvxpy's own checks (sign, NaN) as a
    ModelError naming the parameter."""
    allowed = f"numbers of shape {param.shape} (or broadcastable to it)"
    arr = real_array(name, value, allowed)
    try:
        param.value = np.broadcast_to(arr, param.shape)
    except ValueError as exc:
        raise ModelError(name, value, allowed, detail=str(exc)) from None


def _certificate_weight(group: ConstraintGroup) -> float:
    """How much a group's rows weigh in an infeasibility certificate (0 without one)."""
    total = 0.0
    for c in group.constraints:
        d = c.dual_value
        if d is not None:
            arr = np.asarray(d, float)
            total += float(np.nansum(np.abs(arr))) if arr.size else 0.0
    return total


class AllocationView(Mapping[str, cp.Expression]):
    """The allocation by agent name: ``xi["farmer 0"]`` is that agent's expression over the states."""

    def __init__(self, names: Sequence[str], xi: cp.Expression):
        self._index = {n: i for i, n in enumerate(names)}
        self.matrix = xi

    def __getitem__(self, name: str) -> cp.Expression:
        try:
            return self.matrix[self._index[name]]
        except KeyError:
            raise ModelError("agent", name, f"one of {list(self._index)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


#: LP sharing programs up to this many scalar variables get their price intervals and allocation
#: uniqueness checked after a solve (:mod:`riskopt.degeneracy`; about one more HiGHS solve)
UNIQUENESS_MAX_VARIABLES = 20_000
#: a curved program's multiplier interval narrower than this fraction of the multipliers' size is a
#: point (the interval's LPs run at HiGHS's 1e-7 feasibility tolerance in units of the dual scale)
MULTIPLIER_UNIQUE_RTOL = 1e-6


class SharingTarget:
    """What a sharing program offers to user constraints (:mod:`riskopt.constraints`): the role
    ``agent``, the quantity ``allocation`` per state (gains in a welfare program, losses in a
    total-risk one), ``P`` or the agent's own law, and the aggregate ``X``."""

    def __init__(self, program: SharingProgram):
        self.program = program
        self.roles = {"agent": [a.name for a in program.agents]}
        gains = "gains" if program.orientation == "utility" else "losses"
        self.quantities = {"allocation": f"the agent's allocation xi_i(s) per state ({gains})"}

    def quantity(self, what: str, role: str, name: str) -> cp.Expression:
        return self.program.block.xi[self.roles["agent"].index(name), :]

    def law(self, role: str, name: str, law: str) -> np.ndarray:
        if law == "own":
            measure = self.program.agents[self.roles["agent"].index(name)].measure
            weights = getattr(measure, "weights", None)
            if weights is not None:
                return np.asarray(weights(self.program.space), float)
        return np.asarray(self.program.probs, float)

    def aggregate(self) -> np.ndarray:
        return np.asarray(self.program.aggregate, float)


class SharingProgram(Program):
    """Risk sharing among agents: weighted welfare (or total risk) over an allocation set."""

    mechanism = "pareto"

    def __init__(self, space: Scenarios, agents: Sequence[Agent], *,
                 allocation: AllocationSet | None = None, aggregate: str | np.ndarray = "X",
                 objective: Objective = "welfare", weights: Any = None,
                 restrictions: Sequence[Restriction] = (), name: str = "sharing"):
        if objective not in ("welfare", "total_risk"):
            raise ModelError("objective", objective, "'welfare' or 'total_risk'")
        super().__init__(name, "max" if objective == "welfare" else "min")
        if not isinstance(space, Scenarios):
            raise ModelError("space", space, "a riskopt.Scenarios")
        agents = list(agents)
        if len(agents) < 1:
            raise ModelError("agents", agents, "at least one agent")
        names = [a.name for a in agents]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ModelError("agents.name", dup, "distinct agent names")
        for a in agents:
            if a.endowment is not None and a.endowment.size != space.size:
                raise ModelError(f"agents['{a.name}'].endowment", f"{a.endowment.size} values",
                                 f"one per state ({space.size})")
        if isinstance(aggregate, str) and aggregate not in space:
            raise ModelError("aggregate", aggregate, f"a variable of the space, one of {space.names}, "
                             "or an array of values, one per state")
        X = space[aggregate] if isinstance(aggregate, str) else real_array(
            "aggregate", aggregate, f"finite values, one per state ({space.size})")
        if X.ndim != 1 or X.size != space.size or not np.all(np.isfinite(X)):
            raise ModelError("aggregate", X, f"finite values, one per state ({space.size})")
        self.space = space
        self.probs = space.p
        self.agents = agents
        self.objective_kind: Objective = objective
        self.orientation = "utility" if objective == "welfare" else "risk"
        self.aggregate = X
        self.allocation_set = allocation or AnchoredComonotone()
        self.restrictions = list(restrictions)
        n = len(agents)
        w = np.ones(n) if weights is None else real_array(
            "weights", weights, f"{n} finite nonnegative weights, not all zero")
        if w.shape != (n,) or np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ModelError("weights", weights, f"{n} finite nonnegative weights, not all zero")
        self.weights = self.parameter("weights", n, value=w, nonneg=True)
        # the solver sees the weights normalised by their largest (1e-20 and 1e12 alike): the
        # objective in units of objective_unit = max w, its value and every dual scaled back on
        # the way out (solution.build_solution); kept in step with ``weights`` before every solve
        self._solver_weights = cp.Parameter(n, name="solver_weights", value=w / float(w.max()), nonneg=True)
        self.objective_unit = float(w.max())
        self.block: AllocationBlock = self.allocation_set.build(self, n, X)
        self.values = self._agent_values()
        losses = -self.block.xi if self.orientation == "utility" else self.block.xi
        context = {"allocation": self.allocation_set, "aggregate": X, "orientation": self.orientation,
                   "values": self.values, "agents": agents, "evaluate": self.evaluate}
        for r in self.restrictions:
            r.build(self, self.block, losses, context)
        self.set_objective(self._solver_weights @ self.values)
        self.view = AllocationView(names, self.block.xi)
        self._kkt: KKTSystem | str | None = None

    def add_constraints(self, constraints: Sequence[ConstraintSpec],
                        target: SharingTarget | None = None) -> None:
        """Declared constraints on the allocation (:meth:`Program.declare`); ``target`` (default
        :class:`SharingTarget`) says what they may read: a mechanism with laws of its own passes a
        subclass."""
        self.declare(constraints, target or SharingTarget(self))

    def constraint_duals(self, solution: Solution) -> dict[str, ConstraintDual]:
        """As :meth:`Program.constraint_duals`. On an anchored set the rows of the anchor's states
        read a constant (``f_i(anchor) = 0``): no right-hand side there moves the optimum (one that
        excludes 0 empties the set), so their arbitrary solver duals are reported as 0."""
        out = super().constraint_duals(solution)
        if self.block.anchored:
            anchor = getattr(self.allocation_set, "anchor", 0.0)  # anchored blocks come from Comonotone
            pinned = self.block.atom_values[self.block.state_atom] == anchor
            for c in self.user_specs:
                d = out[c.name]
                if c.rows == "every_state" and d.dual.size == pinned.size and np.any(pinned):
                    out[c.name] = dataclasses.replace(d, dual=np.where(pinned, 0.0, d.dual))
        return out

    def _before_solve(self) -> None:
        """The solver's weights from the declared ones (``program.set(weights=...)`` or a direct
        assignment to ``program.weights.value``): ``w / max w``, with ``objective_unit = max w``."""
        w = np.asarray(self.weights.value, float)
        if np.any(~np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise ModelError("weights", w.tolist(), f"{w.size} finite nonnegative weights, not all zero")
        unit = float(w.max())
        self._solver_weights.value = w / unit
        self.objective_unit = unit

    # ------------------------------------------------------------------ forms
    def _agent_values(self) -> cp.Expression:
        """Vector of the agents' values; linear on sorted atoms where the allocation is comonotone
        and the measure is comonotone-additive (subjective laws pushed forward to the atoms),
        otherwise the measures' convex forms on the states."""
        measures = [a.measure for a in self.agents]
        n = len(measures)
        block = self.block
        on_atoms = [self._on_atoms(m) for m in measures] if block.comonotone else [None] * n
        linear = [i for i in range(n) if on_atoms[i] is not None]
        other = [i for i in range(n) if on_atoms[i] is None]
        parts = []
        self.linear_rows: dict[int, np.ndarray] = {}
        if linear:
            W = np.vstack([self._monotone_row(m) for i in linear if (m := on_atoms[i]) is not None])
            self.linear_rows = {i: W[k] for k, i in enumerate(linear)}
            assert block.F is not None  # comonotone blocks carry F
            F = block.F if len(linear) == n else block.F[linear, :]
            parts.append((linear, cp.sum(cp.multiply(W, F), axis=1)))
        if other:
            xi = block.xi if len(other) == n else block.xi[other, :]
            form = oriented_forms([measures[i] for i in other], xi, self.space,
                                  "utility" if self.orientation == "utility" else "risk")
            for group, by_agent in form.constraints.items():
                for pos, c in sorted(by_agent.items()):
                    name = self.agents[other[pos]].name
                    self.constrain(f"{group}:{name}", [c], f"{group} rows of agent {name}")
            parts.append((other, form.expr))
        if len(parts) == 1:
            return parts[0][1]
        return in_agent_order(parts)

    def _on_atoms(self, m: Measure) -> Measure | None:
        """The measure seen on the atoms of X when it is linear on comonotone allocations there."""
        if not m.comonotone_additive:
            return None
        try:
            return m.pushforward(self.block.state_atom, self.block.atom_values.size)
        except ModelError:
            return None

    def _monotone_row(self, m: Measure) -> np.ndarray:
        """``U(f(X)) = w @ F`` (welfare: gains nondecreasing in X) or ``rho(f(X)) = w @ F``."""
        probs = self.block.atom_probs
        if self.orientation == "utility":
            if m.orientation == "utility":
                return m.monotone_weights(probs, increasing=True)
            return m.monotone_weights(probs, increasing=False)  # U(xi) = -rho(-xi), -xi decreasing
        if m.orientation == "risk":
            return m.monotone_weights(probs, increasing=True)
        return m.monotone_weights(probs, increasing=False)

    def evaluate(self, agent: Agent, x: np.ndarray) -> float:
        """Exact value of ``agent`` at ``x`` (gains for welfare, losses for total risk)."""
        m = agent.measure
        return m.utility(x, self.space) if self.orientation == "utility" else m.risk(x, self.space)

    def refine(self, report: Any, *, force: bool = False) -> None:
        """Newton polish of the KKT point (:mod:`riskopt.polish`); it replaces the solver's point
        only when its certificate is within tolerance and no worse (the report says why not)."""
        t0 = time.perf_counter()
        info = polish(self, force=force).to_dict()
        info["seconds"] = time.perf_counter() - t0
        report.polish = info

    def kkt(self) -> KKTSystem | str:
        """The KKT system at the current values (:mod:`riskopt.kkt`), or why there is none; built
        once per solve (the polish, the certificate and the prices share it)."""
        if self._kkt is None:
            self._kkt = KKTSystem.of(self)
        return self._kkt

    def _budget_accuracy(self) -> np.ndarray | None:
        kkt = self.kkt()
        if isinstance(kkt, str) or "budget" not in self.groups:
            return None
        z, y = kkt.point()
        return kkt.price_accuracy("budget", z, y)

    def _fresh_solve(self) -> None:
        self._kkt = None

    def _uniqueness(self) -> tuple[RowUniqueness | None, bool | None]:
        """Which budget multipliers (prices) are unique, and whether the allocation is.

        An LP (every agent linear on the atoms, or LP forms such as ES on a budget set) is checked
        by :mod:`riskopt.degeneracy` (ranging, then one-sided derivatives only where the vertex is
        degenerate: about one more HiGHS solve) up to :data:`UNIQUENESS_MAX_VARIABLES`. A smooth
        program identifies a price wherever an agent with curvature there touches the row; a
        near-null direction (:func:`riskopt.polish.flat_directions`) leaves the allocation
        unidentified (``None``).
        """
        if "budget" not in self.groups:
            return None, None
        size = sum(v.size for v in self.problem.variables())
        kkt = self.kkt()
        if not isinstance(kkt, str) and kkt.smooth:
            z, _ = kkt.point()
            D, _, c = kkt.curvature(z)
            if D.count_nonzero() or np.any(c != 0):  # some curvature: not an LP
                return self._smooth_uniqueness(kkt)
        if size > UNIQUENESS_MAX_VARIABLES:
            return RowUniqueness([None] * self.groups_size("budget"),
                                 note=f"price uniqueness not checked: {size:,} variables exceed "
                                      f"{UNIQUENESS_MAX_VARIABLES:,} (riskopt.degeneracy.price_intervals "
                                      "checks it on demand)"), None
        try:
            intervals = price_intervals(self, "budget")
            allocation = allocation_unique(self)
        except (ModelError, SolveError):  # not an LP (conic forms) or HiGHS cannot settle it
            return RowUniqueness([None] * self.groups_size("budget")), None
        note = "" if intervals.all_unique else (
            "prices are not unique where lower < upper: the LP's optimal duals form a face (any "
            "price in the interval supports the optimum); the point reported is the solver's")
        return RowUniqueness([bool(u) for u in intervals.unique], intervals.lower, intervals.upper,
                             note, independent=True), allocation

    def _smooth_uniqueness(self, kkt: KKTSystem) -> tuple[RowUniqueness, bool | None]:
        """A curved program: a budget row touching a variable with curvature has a unique price,
        unless other active rows touch its variables and span it with it (LICQ fails there: the
        ``xi_i(s) = 0`` rows of a sign restriction at ``X(s) = 0``, binding losses ``>= 0`` at
        ``X(s) = 0`` under limited liability); then its multiplier moves along the interval that
        stationarity leaves it, with the active inequality multipliers ``>= 0``
        (:meth:`riskopt.kkt.KKTSystem.multiplier_intervals`). Intervals are reported when some price
        is not unique: the computed interval on coupled rows, ``y (1 -+ accuracy)`` on the others
        (the point, to its estimated accuracy; unbounded where that is unknown)."""
        z, y = kkt.point()
        D, U, c = kkt.curvature(z)
        curved = D.diagonal() != 0
        rows = kkt.group_rows("budget")
        touched = kkt.M_abs[rows].tocsr()
        touched.data = np.ones_like(touched.data)
        identified = [bool(v) for v in touched @ curved.astype(float) > 0]
        unique: list[bool | None] = [True if i else None for i in identified]
        lower, upper, coupled = kkt.multiplier_intervals("budget", z, y)
        free = np.zeros(rows.size, bool)
        for k in np.flatnonzero(coupled):
            lo, hi = lower[k], upper[k]
            if not (np.isfinite(lo) or lo == -np.inf) or not (np.isfinite(hi) or hi == np.inf):  # NaN
                unique[k] = None
                lower[k], upper[k] = -np.inf, np.inf
                continue
            size = max([abs(float(y[rows[k]])), *(abs(float(v)) for v in (lo, hi) if np.isfinite(v))])
            if hi - lo > MULTIPLIER_UNIQUE_RTOL * size:
                unique[k], free[k] = False, True
        flat = flat_directions(D, U, c).shape[1]
        allocation = True if curved.all() and not flat else None
        note = "" if all(identified) else ("prices at atoms where no agent has curvature are not "
                                           "identified by the program (unique: null there)")
        if flat:
            note += ("; " if note else "") + (f"{flat} near-null directions (constant shifts of shares "
                                              "whose anchor atom is rare): the allocation is determined "
                                              "only modulo them")
        if not free.any():
            return RowUniqueness(unique, note=note), allocation
        note += ("; " if note else "") + (
            f"{int(free.sum())} prices are not unique: active restriction rows span the budget row there "
            "(e.g. xi_i(s) = 0 at X(s) = 0), so any multiplier in [lower, upper] satisfies the optimality "
            "conditions; the point reported is the solver's")
        acc = kkt.price_accuracy("budget", z, y)
        pad = np.where(np.isfinite(acc), np.maximum(acc, 0.0), np.inf) * np.abs(y[rows])
        with np.errstate(invalid="ignore"):  # inf * 0: an unknown accuracy of a zero price
            pad = np.where(np.isnan(pad), np.inf, pad)
        lower = np.where(free, lower, y[rows] - pad)
        upper = np.where(free, upper, y[rows] + pad)
        unit = self.objective_unit  # kkt's multipliers are in the solver's units
        return RowUniqueness(unique, lower * unit, upper * unit, note), allocation

    def groups_size(self, name: str) -> int:
        """Number of rows in a named constraint group."""
        return sum(c.size for c in self.groups[name].constraints)

    def certify(self, *, stationarity: bool = False) -> Certificate:
        """Smooth programs with affine rows: the certificate from the measures' exact gradients
        (stationarity included); otherwise cvxpy's generic one."""
        kkt = self.kkt()
        if isinstance(kkt, str):
            cert = super().certify(stationarity=stationarity)
            return dataclasses.replace(cert, note=f"{cert.note}; no exact KKT system: {kkt}")
        z, y = kkt.point()
        return kkt.certificate(z, y)

    # ------------------------------------------------------------- user hooks
    def user_view(self) -> AllocationView:
        return self.view

    def _hint(self, status: Status) -> str:
        base = Status(status).base
        w = np.asarray(self.weights.value)
        monetary = all(a.measure.monetary for a in self.agents)
        if base is Status.UNBOUNDED and monetary and not np.allclose(w, w[0]):
            return ("with cash-invariant (monetary) utilities, unequal weights let side payments move "
                    "cash towards the heavier-weighted agent without limit; every Pareto optimum "
                    "maximises the unweighted sum, so use equal weights")
        if base is Status.INFEASIBLE and any(r.name == "limited_liability" for r in self.restrictions):
            return "limited liability leaves no allocation: total capacity below the aggregate loss?"
        return super()._hint(status)

    def interpret(self, fields: dict[str, Any]) -> dict[str, Any]:
        xi = np.asarray(self.block.xi.value, float)
        fields["allocation"] = {a.name: xi[i] for i, a in enumerate(self.agents)}
        fields["aggregate"] = self.aggregate
        fields["values"] = {a.name: self.evaluate(a, xi[i]) for i, a in enumerate(self.agents)}
        weights = np.asarray(self.weights.value, float)
        # the objective re-evaluated exactly at the returned allocation (not the solver's estimate)
        fields["objective"] = float(weights @ np.array([fields["values"][a.name] for a in self.agents]))
        values = np.array([fields["values"][a.name] for a in self.agents])
        fields["objective_magnitude"] = float(np.abs(weights) @ np.abs(values))
        uniqueness, fields["allocation_unique"] = self._uniqueness()
        if uniqueness is not None:  # the solver's prices against the LP's optimal dual set (certificate)
            fields["dual_error"] = uniqueness.dual_error(fields["duals"].get("budget"), float(weights.max()))
        fields["prices"] = state_prices(self, fields["duals"].get("budget"), self._budget_accuracy(),
                                        uniqueness)
        key = "utility" if self.orientation == "utility" else "risk"
        fields["agents"] = tuple(
            {"name": a.name, "measure": a.measure.describe(), "weight": float(weights[i]),
             key: fields["values"][a.name]} for i, a in enumerate(self.agents))
        return fields

