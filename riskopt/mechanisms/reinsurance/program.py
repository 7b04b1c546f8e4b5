"""The layer LP of the reinsurance market: Pareto optima, duals as layer values, VCG prices,
best responses, and reinsurer capacity limits (the coupled extension only the LP can do).

On the layer grid of :mod:`.layers` (cells ``c`` of width ``w_c`` for each insurer),
the variable ``y_cj >= 0`` is the amount of cell c ceded to reinsurer j (``gamma = y / w``):

    minimise   sum_i rho_i(X_i) + sum_{c, j} cost_cj y_cj
    subject to sum_j y_cj <= w_c            (row "layer", dual mu_c >= 0)
               y_cj >= 0                    (row "ceded_nonneg", dual = reduced cost)
               sum_c a_cj y_cj <= K_j       (row "capacity", dual lambda_j >= 0; optional)
               the modeler's own rows           (groups "constraint:<name>", :class:`LayerTarget`)

with ``cost_cj`` the cell average of ``tau_ij - alpha_i`` (aggregate risk: Lemma A.1) or of
``nu_ij - alpha_i`` (an insurer's best response to prices nu). Costs are cell averages and the
variables ceded amounts, so coefficients are O(1) on any grid; there is no ``y <= w`` bound (it is
implied by the layer row, and adding it makes the multipliers non-unique). Duals follow riskopt's
convention (docs/duality.md): ``mu_c = -dV*/dw_c >= 0`` is the **marginal value of a unit of
layer**, ``(alpha_i - min_j tau_ij)^+`` averaged over the cell without capacity limits, so
``sum_c mu_c w_c`` is insurer i's gain from trade; ``lambda_j = -dV*/dK_j`` is the **scarcity price
of reinsurer j's capacity**.

The duals are not the SPNE prices. Those come from m more solves of the same compiled program
(the cost is a cvxpy Parameter: removing reinsurer j sets its column to +1), by the VCG identities

    surplus_j = V*_{-j} - V*,     pi_ij = int tau_ij gamma_ij + (V*_{i,-j} - V*_i),

and the price of a layer won by j is ``alpha_i - mu^{(-j)}``, which is tau-bar_i.

User constraints (``[[constraints]]``, :mod:`riskopt.constraints`) are linear rows on ``y``
(:class:`LayerTarget`: ceded and retained shares per layer cell, expected ceded and retained losses,
limits): the LP stays an LP, each constraint's dual is ``dV*/d rhs``, and premiums are the
competitive (dual) prices, where a reinsurer's own constraints add their scarcity rents
``-dV*/d rhs * d lhs/d y_cj`` to its price per unit of layer (the VCG identities are not used: see
:func:`pareto`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np

from ...constraints import ConstraintDual, ConstraintSpec, add_constraints, read_constraints
from ...duals import value_derivative
from ...errors import ModelError, SolveError
from ...program import Program
from ...solution import Solution
from ...status import Status
from .layers import (
    Combination,
    CurveBank,
    DistortedSurvival,
    LayerAllocation,
    LayerCurve,
    LayerTable,
    order_gap,
    tabulate,
)
from .market import Market
from .result import GridInfo, MarketOutcome, MarketPrices, SolverInfo
from .spec import CELLS, NODES, QUANTITIES, SCALAR_QUANTITIES
from .verification import MarketVerification, verify_cells

__all__ = ["CAPACITY_WEIGHTS", "FACE_TOL", "LayerLP", "LayerTarget", "best_response_lp", "capacity_prices",
           "pareto"]

#: reduced costs and layer duals below this count as zero (the HiGHS tolerances)
FACE_TOL = 1e-9
CAPACITY_WEIGHTS = ("limit", "expected")
#: why a run with user constraints has no VCG premiums (the result and its JSON say it)
VCG_SKIPPED = ("VCG premiums not computed: user constraints couple the insurers and change each "
               "reinsurer's marginal value, so the VCG split is not defined and the SPNE "
               "characterisation does not apply; premiums are the dual (competitive) prices")


class LayerLP(Program):
    """``min constant + sum(cost * y)`` over ceded amounts ``y >= 0`` with ``sum_j y_cj <= w_c``
    (and capacity rows). ``cost`` is a cvxpy Parameter: re-pricing re-solves without recompiling."""

    mechanism = "reinsurance_market"

    def __init__(self, widths: np.ndarray, cost: np.ndarray, *, constant: float = 0.0,
                 capacity: tuple[np.ndarray, np.ndarray] | None = None, name: str = "layer_lp") -> None:
        super().__init__(name, "min")
        C, m = cost.shape
        y = self.variable("ceded", (C, m))
        self.cost = self.parameter("cost", (C, m), value=cost)
        self.constrain("ceded_nonneg", [y >= 0], "reduced cost of ceding the cell to the reinsurer")
        self.constrain("layer", [cp.sum(y, axis=1) <= widths], "marginal value of a unit of layer")
        if capacity is not None:
            weights, limits = capacity
            J = np.flatnonzero(np.isfinite(limits))
            if J.size:
                rows = cp.sum(cp.multiply(weights[:, J], y[:, J]), axis=0)
                self.constrain("capacity", [rows <= limits[J]], "scarcity price of reinsurer capacity")
            self.capacity_index = J
        else:
            self.capacity_index = np.empty(0, int)
        # an inner product of vectors, not sum(multiply(cost, y)): cvxpy's DPP form of an elementwise
        # product with a Parameter grows with the square of the size (2 GB at 16,000 cells x
        # reinsurers, 48 GB at 80,000); vec(cost) @ vec(y) compiles in 0.05 s at 40,000
        self.set_objective(cp.vec(self.cost, order="F") @ cp.vec(y, order="F") + constant)

    def _hint(self, status: Status) -> str:
        if any(g.startswith("constraint:") for g in self.groups):
            infeasible = ("the layer LP alone is feasible (y = 0): your constraints ask for more than the "
                          "layers allow (a share above 1, a retention above the loss, a floor above a cap)")
        else:
            infeasible = "the layer LP is always feasible (y = 0): report this"
        return {Status.INFEASIBLE: infeasible,
                Status.UNBOUNDED: "a cost is not finite"}.get(Status(status).base, super()._hint(status))


def layer_values(solution: Solution) -> np.ndarray:
    """``mu`` per cell: a unit more of layer width lowers the aggregate risk by ``mu`` (the layer rows'
    duals read through the one sign rule: ``dV*/dw = -mu``)."""
    return -value_derivative(solution.sense, solution.duals["layer"], row="<=")


def scarcity_prices(solution: Solution, m: int, index: np.ndarray) -> np.ndarray:
    """``lambda_j = -dV*/dK_j >= 0`` of the capacity rows of reinsurers ``index`` (0 for the others)."""
    lam = np.zeros(m)
    if index.size:
        derivative = value_derivative(solution.sense, solution.duals["capacity"], row="<=")
        lam[index] = np.maximum(-derivative.ravel(), 0.0)
    return lam


def reduced_costs(solution: Solution) -> np.ndarray:
    """``dV*/d(lower bound)`` of every ceded amount ``y_cj >= 0``: what forcing a unit of cell c on
    reinsurer j would cost."""
    return value_derivative(solution.sense, solution.duals["ceded_nonneg"], row=">=")


class _Cells:
    """The live cells of a layer table, flattened: insurer, cell index, width, integrals."""

    def __init__(self, table: LayerTable):
        w = table.widths
        self.row, self.g = np.nonzero(w > 0)
        self.w = w[self.row, self.g]
        self.ints = table.integrals[self.row, :, self.g]  # (C, K)
        self.shape = w.shape

    def merged(self, starts: np.ndarray) -> _Cells:
        """Consecutive cells of one insurer summed into one from each of ``starts`` (sorted, holding
        every insurer's first cell): widths and cell integrals are additive."""
        out = _Cells.__new__(_Cells)
        out.row, out.g, out.shape = self.row[starts], starts, self.shape
        out.w = np.add.reduceat(self.w, starts)
        out.ints = np.add.reduceat(self.ints, starts, axis=0)
        return out

    def scatter(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Cell values (``(C,)`` or ``(C, m)``) back onto the padded grid (``(n, G)``/``(n, m, G)``)."""
        n, G = self.shape
        if values.ndim == 1:
            out = np.full((n, G), fill)
            out[self.row, self.g] = values
            return out
        out = np.full((n, values.shape[1], G), fill)
        out[self.row, :, self.g] = values
        return out

    def per_insurer(self, values: np.ndarray, n: int) -> np.ndarray:
        if values.ndim == 1:
            return np.bincount(self.row, weights=values, minlength=n)
        return np.asarray(np.vstack([np.bincount(self.row, weights=values[:, j], minlength=n)
                                     for j in range(values.shape[1])]).T)


class LayerTarget:
    """What the layer LP offers to user constraints (:mod:`riskopt.constraints`): the roles
    ``insurer`` and ``reinsurer`` and the quantities of :data:`~.spec.QUANTITIES`, linear in ``y``.

    Rows: insurer i's live cells (contiguous in the flattened cells), or every cell for a
    reinsurer. Per cell, ``ceded`` is ``sum_j y_cj / w_c`` (insurer) or ``y_cj / w_c`` (reinsurer j),
    ``retention`` ``1 - sum_j y_cj / w_c``; ``limit`` is ``sum y`` over the insurer's cells (or
    reinsurer j's column), one number. Expectation weights are the cell integrals ``int_c P(X_i > z)
    dz`` (law P; an insurer's own law) or ``int_c tau_ij / (1 + theta_j) dz`` (a reinsurer's own
    belief or capacity), so that ``weights @ share = E[I(X_i)]``. :meth:`view` gives the
    :class:`~riskopt.constraints.ConstraintTarget` of one constraint (its rows fix the aggregate, the
    whole layer: share 1 per row)."""

    quantities: Mapping[str, str] = QUANTITIES

    def __init__(self, market: Market, cells: _Cells, y: cp.Variable, survival: np.ndarray,
                 tau: np.ndarray) -> None:
        self.roles: dict[str, list[str]] = {"insurer": [ins.name for ins in market.insurers],
                                            "reinsurer": [re.name for re in market.reinsurers]}
        self.cells, self.y, self.survival = cells, y, survival
        self.own = tau / (1.0 + np.array([re.loading for re in market.reinsurers]))[None, :]
        ends = np.searchsorted(cells.row, np.arange(market.n + 1))
        self.span = [slice(int(a), int(b)) for a, b in itertools.pairwise(ends)]

    def _rows(self, role: str, name: str) -> slice:
        return self.span[self.roles["insurer"].index(name)] if role == "insurer" else slice(None)

    def _column(self, name: str) -> int:
        return self.roles["reinsurer"].index(name)

    def quantity(self, what: str, role: str, name: str) -> cp.Expression:
        """``Q(name)`` over its rows (``limit``: a scalar)."""
        if role == "insurer":
            rows = self._rows(role, name)
            block = self.y[rows, :]
            if what == "limit":
                return cp.sum(block)
            share = cp.sum(block, axis=1) / self.cells.w[rows]
            return 1.0 - share if what == "retention" else share
        column = self.y[:, self._column(name)]
        return cp.sum(column) if what == "limit" else column / self.cells.w

    def law(self, role: str, name: str, law: str) -> np.ndarray:
        """Cell integrals of ``P(X_i > z)`` (an insurer's own law is P) or of ``tau_ij / (1 +
        theta_j)`` (``law = "own"`` for reinsurer j)."""
        if role == "reinsurer" and law == "own":
            return np.asarray(self.own[:, self._column(name)])
        return np.asarray(self.survival[self._rows(role, name)])

    def view(self, c: ConstraintSpec) -> _ConstraintView:
        return _ConstraintView(self, c)

    def add(self, program: LayerLP, constraints: Sequence[ConstraintSpec]) -> None:
        """Write each constraint into ``program`` (one group ``constraint:<name>``)."""
        for k, c in enumerate(constraints):
            view = self.view(c)
            if isinstance(c.rhs, tuple) and len(c.rhs) != view.rows:
                raise ModelError(f"constraints[{k}].rhs", f"{len(c.rhs)} values", f"{view.rows} values, one "
                                 "per layer cell of the LP (or one number)")
            add_constraints(program, [c], view)

    def read(self, program: LayerLP, solution: Solution,
             constraints: Sequence[ConstraintSpec]) -> dict[str, ConstraintDual]:
        """Each constraint's dual ``dV*/d rhs``, slack and binding rows."""
        out: dict[str, ConstraintDual] = {}
        for c in constraints:
            out.update(read_constraints(program, solution, [c], self.view(c)))
        return out

    def add_gradient(self, out: np.ndarray, c: ConstraintSpec, scale: float) -> None:
        """``out += scale * d lhs / d y`` (``(C, m)``) for a one-row constraint (``limit``, or an
        expectation), in place: an insurer's rows touch its cells only."""
        w = self.cells.w
        members = c.members(self.roles[c.role])
        coef = np.ones(len(members)) if c.coefficients is None else np.asarray(c.coefficients, float)
        for a, name in zip(coef, members, strict=True):
            rows = self._rows(c.role, name)
            g = np.ones(w[rows].size) if c.quantity == "limit" else self.law(c.role, name, c.law) / w[rows]
            if c.role == "insurer":
                out[rows, :] += ((-a if c.quantity == "retention" else a) * scale * g)[:, None]
            else:
                out[:, self._column(name)] += a * scale * g

    def gradient(self, c: ConstraintSpec) -> np.ndarray:
        """``d lhs / d y_cj`` (``(C, m)``) of a one-row constraint (``limit``, or an expectation)."""
        out = np.zeros((self.cells.w.size, len(self.roles["reinsurer"])))
        self.add_gradient(out, c, 1.0)
        return out

    def rents(self, c: ConstraintSpec, dual: np.ndarray) -> np.ndarray:
        """``-dV*/d rhs * d lhs / d y_cj`` (``(C, m)``): the scarcity rent per unit of layer a
        constraint on reinsurers adds to their competitive prices (0 for an insurer's constraint: its
        shadow cost is the insurer's own)."""
        w = self.cells.w
        if c.role != "reinsurer":
            return np.zeros((w.size, len(self.roles["reinsurer"])))
        if c.quantity == "limit" or c.rows == "expectation":
            return np.asarray(-dual[0] * self.gradient(c))
        out = np.zeros((w.size, len(self.roles["reinsurer"])))
        members = c.members(self.roles["reinsurer"])
        coef = np.ones(len(members)) if c.coefficients is None else np.asarray(c.coefficients, float)
        for a, name in zip(coef, members, strict=True):
            out[:, self._column(name)] -= a * dual / w
        return out


@dataclass
class _ConstraintView:
    """One constraint's :class:`~riskopt.constraints.ConstraintTarget`: the layer target with the
    aggregate on that constraint's rows (the whole layer, share 1 per cell)."""

    target: LayerTarget
    spec: ConstraintSpec
    roles: Mapping[str, Sequence[str]] = field(init=False)
    quantities: Mapping[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.roles, self.quantities = self.target.roles, self.target.quantities

    @property
    def scalar(self) -> bool:
        return self.spec.quantity in SCALAR_QUANTITIES

    @property
    def rows(self) -> int:
        """The constraint's rows: 1 (a scalar, or an expectation) or its member's layer cells."""
        if self.scalar or self.spec.rows == "expectation":
            return 1
        first = self.spec.members(self.roles[self.spec.role])[0]
        return int(self.target.survival[self.target._rows(self.spec.role, first)].size)

    def quantity(self, what: str, role: str, name: str) -> cp.Expression:
        return self.target.quantity(what, role, name)

    def law(self, role: str, name: str, law: str) -> np.ndarray:
        return np.ones(1) if self.scalar else self.target.law(role, name, law)

    def aggregate(self) -> np.ndarray:
        if self.scalar:  # aggregate_multiple is refused for scalars (spec): the aggregate is unused
            return np.zeros(1)
        first = self.spec.members(self.roles[self.spec.role])[0]
        return np.ones(self.target.survival[self.target._rows(self.spec.role, first)].size)


@dataclass
class _Solved:
    """A solved layer LP read back on its cells."""

    cells: _Cells
    program: LayerLP
    solution: Solution
    cost: np.ndarray
    cap_col: int | None
    target: LayerTarget | None = None
    constraints: dict[str, ConstraintDual] = field(default_factory=dict)

    @property
    def y(self) -> np.ndarray:
        return np.asarray(np.maximum(self.solution.variables["ceded"], 0.0))

    @property
    def mu(self) -> np.ndarray:
        return layer_values(self.solution)

    @property
    def value(self) -> float:
        return float(_objective(self.solution))

    def lam(self, m: int) -> np.ndarray:
        return scarcity_prices(self.solution, m, self.program.capacity_index)

    def blocks(self, n: int, cost: np.ndarray | None = None, y: np.ndarray | None = None) -> np.ndarray:
        """Each insurer's block of the aggregate risk: ``rho_i(X_i) + sum_{c in i} cost . y``."""
        cost = self.cost if cost is None else cost
        y = self.y if y is None else y
        return self.cells.per_insurer(self.cells.ints[:, 0] + (cost * y).sum(axis=1), n)


def _objective(solution: Solution) -> float:
    if solution.objective is None:  # pragma: no cover - a solve without a point raises before
        raise ModelError("objective", None, "a solved layer LP")
    return solution.objective


def _solve(market: Market, table: LayerTable, cap_col: int | None, backend: str, solver: str | None,
           options: dict[str, Any], constraints: Sequence[ConstraintSpec] = ()) -> _Solved:
    """The aggregate-risk LP on ``table`` (cost: cell averages of tau - alpha), with the user's
    ``constraints`` (the table then holds ``P(X_i > z)`` in column ``m + 1``)."""
    return _solve_cells(market, _Cells(table), cap_col, backend, solver, options, constraints)


def _solve_cells(market: Market, cells_: _Cells, cap_col: int | None, backend: str, solver: str | None,
                 options: dict[str, Any], constraints: Sequence[ConstraintSpec] = ()) -> _Solved:
    """The aggregate-risk LP on the cells ``cells_`` (see :func:`_solve`)."""
    m = market.m
    A, T, w = cells_.ints[:, 0], cells_.ints[:, 1:m + 1], cells_.w
    cost = (T - A[:, None]) / w[:, None]
    capacity = None
    if np.isfinite(market.capacities).any():
        capacity = (_capacity_weights(cells_, cap_col, m), market.capacities)
    prog = LayerLP(w, cost, constant=float(A.sum()), capacity=capacity, name="pareto_layers")
    target = None
    if constraints:
        target = LayerTarget(market, cells_, prog.variables["ceded"], cells_.ints[:, m + 1], T)
        target.add(prog, constraints)
    solution = prog.solve(backend=backend, solver=solver, polish=False, **options)
    duals = {} if target is None else target.read(prog, solution, constraints)
    return _Solved(cells_, prog, solution, cost, cap_col, target, duals)


@dataclass
class _Refined(_Solved):
    """A working-set solve read back on the fine cells: the merged cells' shares, and the layer
    values ``mu_c = -min(0, min_j shifted cost_cj)`` of the fine LP."""

    fine_y: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    fine_mu: np.ndarray = field(default_factory=lambda: np.empty(0))
    rounds: int = 0
    merged_cells: int = 0
    gap: float = 0.0
    optimal: bool = True

    @property
    def y(self) -> np.ndarray:
        return self.fine_y

    @property
    def mu(self) -> np.ndarray:
        return self.fine_mu


#: fine cells merged per block in the first round of the working-set solve, and into how many pieces
#: a block whose fine cells are not all optimal is split for the next round (n = 100, m = 10,
#: G = 2000 with 110 constraints: 128/16 solves 1,600 then 7,900 cells in 26 s, 64/8 in 32 s,
#: 32/32 in 52 s; every cell at once: far beyond 30 s)
BLOCK, SPLIT = 128, 16
#: a fine cell is optimal when its chosen cost is within this (times the cost scale) of the
#: pointwise minimum of the shifted costs (HiGHS solves to 1e-9)
OPTIMALITY_TOL = 1e-9


def working_set_applies(market: Market, constraints: Sequence[ConstraintSpec]) -> bool:
    """The working-set solve takes constraints of one row each (``limit``, expectations) on a market
    without built-in capacities (every-state rows are cell by cell, which keeps the LP easy)."""
    return bool(constraints) and not np.isfinite(market.capacities).any() and all(
        c.quantity in SCALAR_QUANTITIES or c.rows == "expectation" for c in constraints)


def _working_set(market: Market, fine: _Cells, backend: str, solver: str | None, options: dict[str, Any],
                 constraints: Sequence[ConstraintSpec]) -> _Solved:
    """The constrained layer LP on the fine cells, solved on merged cells (exact: widths and cell
    integrals add up, so shares constant on a merged cell are a feasible point of the fine LP with the
    same value and constraint rows).

    The constraints couple the cells only through their multipliers: at the LP's duals ``d_k`` every
    fine cell must pick a cheapest option of its shifted costs ``cost_cj - sum_k d_k dlhs_k/dy_cj``
    (retention costing 0). That is checked cell by cell; a merged cell holding a fine cell that does
    not is split (``SPLIT`` pieces) and the LP re-solved, until every fine cell is optimal: the point
    and the duals then satisfy the fine LP's optimality conditions (``mu_c`` as the layer duals).
    A merged LP that fails (its feasible set is the fine one's restricted to constant shares per
    merged cell) hands over to the LP on every cell, which decides."""
    m, C = market.m, fine.w.size
    cost = (fine.ints[:, 1:m + 1] - fine.ints[:, :1]) / fine.w[:, None]
    target = LayerTarget(market, fine, cp.Variable((C, m)), fine.ints[:, m + 1], fine.ints[:, 1:m + 1])
    first = np.searchsorted(fine.row, np.arange(market.n))
    offset = np.arange(C) - first[fine.row]
    starts_mask = offset % BLOCK == 0
    tol = OPTIMALITY_TOL * max(1.0, float(np.abs(cost).max()))
    rounds = 0
    while True:
        starts = np.flatnonzero(starts_mask)
        coarse = fine.merged(starts)
        try:
            lp = _solve_cells(market, coarse, None, backend, solver, options, constraints)
        except SolveError:  # merged cells may miss a point only the fine cells have: decide there
            return _solve_cells(market, fine, None, backend, solver, options, constraints)
        rounds += 1
        group = np.cumsum(starts_mask) - 1
        shares = (lp.y / coarse.w[:, None])[group]
        shifted = cost.copy()
        for c in constraints:
            target.add_gradient(shifted, c, -lp.constraints[c.name].dual[0])
        best = np.minimum(shifted.min(axis=1), 0.0)
        gap = (shares * shifted).sum(axis=1) - best
        bad = gap > tol
        size = np.diff(np.append(starts, C))[group]
        split = np.isin(group, np.unique(group[bad & (size > 1)]))
        piece = np.maximum(size // SPLIT, 1)
        more = split & ((np.arange(C) - starts[group]) % piece == 0) & ~starts_mask
        if not more.any():
            break
        starts_mask |= more
    return _Refined(fine, lp.program, lp.solution, cost, None, target, lp.constraints,
                    fine_y=shares * fine.w[:, None], fine_mu=-best, rounds=rounds,
                    merged_cells=int(coarse.w.size), gap=float(gap.max(initial=0.0)),
                    optimal=bool(not bad.any()))


def _capacity_weights(cells_: _Cells, cap_col: int | None, m: int) -> np.ndarray:
    """``a_cj`` per unit ceded: 1 (limit) or the cell average of P(X_i > z) (expected claims)."""
    if cap_col is None:
        return np.ones((cells_.w.size, m))
    return np.repeat((cells_.ints[:, cap_col] / cells_.w)[:, None], m, axis=1)


def _winner(shares: np.ndarray) -> np.ndarray:
    """-1 retained, j when reinsurer j takes the whole cell, -2 when the cell is shared."""
    total = shares.sum(axis=1)
    full = shares.max(axis=1) >= 1 - 1e-7
    return np.where(total <= 1e-7, -1, np.where(full, shares.argmax(axis=1), -2))


def pareto(market: Market, *, backend: str = "highs", solver: str | None = None, cells: int = CELLS,
           nodes: int = NODES, premiums: str | None = None, capacity_weight: str = "limit",
           exact_capacity: bool = True, constraints: Sequence[ConstraintSpec] = (),
           working_set: bool = True, **options: Any) -> MarketOutcome:
    """A Pareto optimum by the aggregate-risk LP on ``backend`` ("highs", "cvxpy", "pyomo"), with
    its layer values (duals) and premiums.

    ``premiums="vcg"`` (default without capacity limits): the SPNE premiums, from ``m`` more solves
    of the same compiled program by the VCG identities. ``premiums="dual"`` (default, and the only
    rule, with capacity limits, which couple the insurers so that the VCG split of premiums among
    them is not defined): competitive prices ``tau_ij + lambda_j a_ij`` per unit of layer
    (``= alpha_i - mu`` where j cedes, by complementary slackness): reinsurers earn their scarcity
    rents ``lambda_j K_j`` and nothing else.

    ``capacity_weight``: ``"limit"`` (``sum_i I_ij(M) <= K_j``) or ``"expected"`` (``sum_i
    E_P[I_ij(X_i)] <= K_j``). With limits the optimum is pointwise in the shifted preferences
    ``tau_ij + lambda_j a_ij`` but not in the ``tau_ij``: ``exact_capacity`` finds the continuum
    prices ``lambda*`` (:func:`capacity_prices`) and re-solves on a grid holding the crossings of
    the shifted curves, where the LP is exact.

    ``constraints``: the modeler's own rows (:class:`LayerTarget`), solved on the layer grid (the
    optimum of the grid's piecewise-constant shares; ``exact_capacity`` is not used, its continuum
    prices ignore them). ``working_set``: constraints of one row each are solved on merged cells,
    refined where the duals say a fine cell is not optimal (:func:`_working_set`: the same optimum,
    a far smaller LP; ``False``: the LP on every cell). Premiums are the dual rule, where the duals
    of constraints on reinsurers add their scarcity rents to the price per unit of layer
    (:meth:`LayerTarget.rents`). The VCG rule is refused: its identities split ``V*`` insurer by
    insurer, which coupled rows break, and nothing says the SPNE of a market with these
    constraints is its VCG outcome.
    """
    t0 = time.perf_counter()
    capped = np.isfinite(market.capacities)
    if capacity_weight not in CAPACITY_WEIGHTS:
        raise ModelError("capacity_weight", capacity_weight, f"one of {list(CAPACITY_WEIGHTS)}")
    rule = premiums or ("dual" if capped.any() else "vcg")
    if rule not in ("vcg", "dual"):
        raise ModelError("premiums", premiums, "'vcg' or 'dual'")
    if rule == "vcg" and capped.any():
        raise ModelError("premiums", "vcg", "'dual' with capacity limits",
                         detail="capacity rows couple the insurers: the VCG split of premiums among "
                                "insurers is not defined")
    constraints = tuple(constraints)
    if constraints:
        if premiums == "vcg":
            raise ModelError("premiums", "vcg", "'dual' with user constraints",
                             detail="the VCG identities split V* insurer by insurer and price each "
                                    "reinsurer by its marginal value; user constraints change both")
        rule, exact_capacity = "dual", False
    m, n = market.m, market.n
    cap_col = m + 1 if (capped.any() and capacity_weight == "expected") else None
    bank = market.bank if cap_col is None and not constraints else CurveBank(
        [[*market.bank.curves[i], DistortedSurvival(market.loss_law(i))] for i in range(n)])
    group = [list(range(m + 1))]
    table = tabulate(bank, np.arange(n), cells=cells, nodes=nodes, groups=group, bound=market.layer_bound,
                     span=market.bound)
    if working_set and working_set_applies(market, constraints):
        lp: _Solved = _working_set(market, _Cells(table), backend, solver, options, constraints)
    else:
        lp = _solve(market, table, cap_col, backend, solver, options, constraints)
    checks: dict[str, float | bool] = {}
    if isinstance(lp, _Refined):
        checks.update({"working-set rounds": lp.rounds, "working-set LP cells": lp.merged_cells,
                       "working-set max optimality gap": lp.gap,
                       "working-set point optimal on every cell": lp.optimal})
    scarcity: dict[str, float] | None = None
    scarcity_lp: dict[str, float] | None = None
    vcg_surplus: dict[str, float] | None = None
    rent = lp.lam(m)
    if capped.any():
        named = {re.name: j for j, re in enumerate(market.reinsurers) if capped[j]}
        if exact_capacity:
            lam_star, dual_value = capacity_prices(market, capacity_weight=capacity_weight, cells=cells,
                                                   nodes=nodes, start=rent)
            extra_edges = _shifted_crossings(market, lam_star, capacity_weight, cells, nodes)
            table = tabulate(bank, np.arange(n), cells=cells, nodes=nodes,
                             groups=group, extra_edges=extra_edges, bound=market.layer_bound,
                             span=market.bound)
            lp = _solve(market, table, cap_col, backend, solver, options)
            rent = lam_star
            scarcity = {k: float(lam_star[j]) for k, j in named.items()}
            checks["pointwise dual value - V*"] = dual_value - lp.value
        lam = lp.lam(m)
        scarcity_lp = {k: float(lam[j]) for k, j in named.items()}
        a = _capacity_weights(lp.cells, cap_col, m)
        lagrangian = lp.cells.ints[:, 0].sum() + float(
            np.minimum((lp.cost + lam[None, :] * a).min(axis=1), 0.0) @ lp.cells.w) - float(
            lam[capped] @ market.capacities[capped])
        if not constraints:  # the Lagrangian of the capacity rows alone
            checks["Lagrangian value at the LP multipliers - V*"] = lagrangian - lp.value
    cells_, y, mu = lp.cells, lp.y, lp.mu
    A, T, w = cells_.ints[:, 0], cells_.ints[:, 1:m + 1], cells_.w
    shares = y / w[:, None]
    gains = float(mu @ w + (lp.lam(m)[capped] * market.capacities[capped]).sum())
    checks = {"V* (LP)": lp.value, **({} if constraints else {
        "sum of layer values and capacity rents - gains from trade": gains - (A.sum() - lp.value)}),
              **checks}
    layer_value_sums = {ins.name: float(v) for ins, v in
                        zip(market.insurers, cells_.per_insurer(mu * w, n), strict=True)}
    if rule == "vcg":
        surplus, prem, unit = _vcg(lp, backend, solver, options, n, m)
        vcg_surplus = {re.name: float(surplus[j]) for j, re in enumerate(market.reinsurers)}
        source = -5
    else:
        unit = T / w[:, None] + rent[None, :] * _capacity_weights(cells_, cap_col, m)
        for c in constraints:
            assert lp.target is not None  # built with the constraints
            unit = unit + lp.target.rents(c, lp.constraints[c.name].dual)
        prem = cells_.per_insurer(y * unit, n)
        source = -4
    winner = _winner(shares)
    if not capped.any() and not constraints:
        # the grid must hold every crossing of the curves (bang-bang cells; shared ones are ties)
        lowest = cells_.scatter(np.where(winner == -2, -1.0, winner + 1.0), -1.0).astype(int)
        gaps = order_gap(market.bank, np.arange(n), table.edges, list(range(m + 1)), lowest,
                         top=market.layer_bound)
        checks["pointwise order gap"] = float(gaps.sum())
    price = (shares * unit).sum(axis=1) * w
    layers = LayerAllocation(table.edges, cells_.scatter(winner.astype(float), -1).astype(np.int32),
                             cells_.scatter(np.where(winner != -1, price, 0.0)),
                             cells_.scatter(np.where(winner != -1, source, -1.0), -1).astype(np.int32),
                             share_matrix=cells_.scatter(shares))
    prices = MarketPrices(layers.price, layer_value=cells_.scatter(mu), scarcity=lp.lam(m))
    kind = "pareto (constrained)" if constraints else "pareto (capacity)" if capped.any() else "pareto"
    return MarketOutcome(market, kind, f"lp ({backend})",
                         cells_.per_insurer(A, n), prem, cells_.per_insurer(A * shares.sum(axis=1), n),
                         cells_.per_insurer(T * shares, n), layers, prices, "program", checks=checks,
                         grid=GridInfo(cells, nodes, table.breakpoints, lp_variables=int(y.size)),
                         seconds=time.perf_counter() - t0, solver=SolverInfo.of(lp.solution),
                         premiums_rule=rule, layer_values=layer_value_sums, vcg_surplus=vcg_surplus,
                         scarcity_prices=scarcity, scarcity_prices_lp=scarcity_lp, solution=lp.solution,
                         program=lp.program, tabulation=table, constraints=lp.constraints,
                         notes=(VCG_SKIPPED,) if constraints else ())


def _shifted_bank(market: Market, lam: np.ndarray, capacity_weight: str) -> CurveBank:
    """Columns ``alpha_i, tau_i1 + lambda_1 a_i1, ..., tau_im + lambda_m a_im, a_i``: the
    Lagrangian costs of the capacity-limited LP (``a = 1`` or ``P(X_i > z)``)."""
    rows = []
    for i in range(market.n):
        S = DistortedSurvival(market.loss_law(i))
        a: LayerCurve
        if capacity_weight == "limit":
            shifted = [Combination((market.tau[i][j],), (1.0,), float(lam[j])) for j in range(market.m)]
            a = Combination((), (), 1.0)
        else:
            shifted = [Combination((market.tau[i][j], S), (1.0, float(lam[j]))) for j in range(market.m)]
            a = S
        rows.append([market.alpha[i], *shifted, a])
    return CurveBank(rows)


def _lagrangian(market: Market, lam: np.ndarray, capacity_weight: str, cells: int,
                nodes: int) -> tuple[float, np.ndarray, Any]:
    """Pointwise Lagrangian of the capacity-limited problem at multipliers ``lam``: its value
    ``sum_i rho_i - sum_i int (alpha_i - min_j (tau_ij + lam_j a_ij))^+ - lam . K`` and every
    reinsurer's usage ``sum_i int a_ij gamma_ij`` at the pointwise minimiser."""
    m, n = market.m, market.n
    bank = _shifted_bank(market, lam, capacity_weight)
    t = tabulate(bank, np.arange(n), cells=cells, nodes=nodes,
                 groups=[list(range(m + 1))], bound=market.layer_bound, span=market.bound)
    lo, lo_i, _, _ = t.orders[0]
    A, a = t.integrals[:, 0], t.integrals[:, m + 1]
    won = lo_i > 0
    usage = np.bincount(lo_i[won] - 1, weights=a[won], minlength=m)
    K = np.where(np.isfinite(market.capacities), market.capacities, 0.0)
    value = float(A.sum() - np.where(won, A - lo, 0.0).sum() - lam @ K)
    return value, usage, t


def capacity_prices(market: Market, *, capacity_weight: str = "limit", cells: int = CELLS,
                    nodes: int = NODES, start: np.ndarray | None = None, sweeps: int = 30,
                    xtol: float = 1e-14) -> tuple[np.ndarray, float]:
    """Scarcity prices of the reinsurers' capacities from the pointwise Lagrangian.

    The dual function ``g(lambda)`` (see :func:`_lagrangian`) is concave with gradient
    ``usage(lambda) - K``; each capacity-limited reinsurer's price solves ``usage_j = K_j`` (or is
    0 when the limit is slack at 0), found by bracketing root finding, cycling over the reinsurers
    until the prices settle. Returns the prices and ``max g = V*`` (strong duality)."""
    from scipy.optimize import brentq

    m = market.m
    capped = np.flatnonzero(np.isfinite(market.capacities))
    lam = np.zeros(m) if start is None else np.maximum(np.asarray(start, float), 0.0).copy()
    lam[~np.isfinite(market.capacities)] = 0.0
    K = market.capacities
    for _ in range(sweeps):
        before = lam.copy()
        for j in capped.tolist():
            def excess(x: float, j: int = j) -> float:
                trial = lam.copy()
                trial[j] = x
                return float(_lagrangian(market, trial, capacity_weight, cells, nodes)[1][j] - K[j])

            if excess(0.0) <= 0:
                lam[j] = 0.0
                continue
            hi = max(lam[j], 1e-3)
            while excess(hi) > 0:
                hi *= 4.0
                if hi > 1e12:
                    raise ModelError(f"reinsurers[{j}].capacity", K[j], "a capacity the market can meet")
            lam[j] = brentq(excess, 0.0, hi, xtol=xtol, rtol=4 * np.finfo(float).eps)
        if np.max(np.abs(lam - before), initial=0.0) <= 1e-13 * max(1.0, float(np.abs(lam).max())):
            break
    return lam, _lagrangian(market, lam, capacity_weight, cells, nodes)[0]


def _shifted_crossings(market: Market, lam: np.ndarray, capacity_weight: str, cells: int,
                       nodes: int) -> list[np.ndarray]:
    """Edges where ``alpha_i`` and the shifted preferences ``tau_ij + lambda_j a_ij`` cross."""
    t = _lagrangian(market, lam, capacity_weight, cells, nodes)[2]
    return list(t.edges)


def _vcg(lp: _Solved, backend: str, solver: str | None, options: dict[str, Any], n: int,
         m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """m re-solves of the compiled program without each reinsurer (its cost column set to +1, so it
    is never used): ``surplus_j = V_{-j} - V``, ``pi_ij = cost_ij + V_{i,-j} - V_i``, and the
    price per unit of a cell won by j, ``alpha - mu^{(-j)}`` (= tau-bar)."""
    cells_, prog = lp.cells, lp.program
    A, T, w = cells_.ints[:, 0], cells_.ints[:, 1:m + 1], cells_.w
    y = lp.y
    blocks = lp.blocks(n)
    unit = np.zeros_like(T)
    surplus = np.zeros(m)
    prem = cells_.per_insurer(T * (y / w[:, None]), n)
    for j in range(m):
        c = lp.cost.copy()
        c[:, j] = 1.0
        prog.set(cost=c)
        sol_j = prog.solve(backend=backend, solver=solver, polish=False, **options)
        y_j = np.maximum(sol_j.variables["ceded"], 0.0)
        surplus[j] = _objective(sol_j) - lp.value
        prem[:, j] += lp.blocks(n, c, y_j) - blocks
        # alpha - mu^(-j): the layer's value in the market without j (dV*_{-j}/dw = -mu^(-j))
        unit[:, j] = A / w + value_derivative(sol_j.sense, sol_j.duals["layer"], row="<=")
    prog.set(cost=lp.cost)
    return surplus, prem, unit


def best_response_lp(market: Market, prices: Sequence[Sequence[LayerCurve]], *, backend: str = "highs",
                     solver: str | None = None, cells: int = CELLS, nodes: int = NODES,
                     **options: Any) -> MarketOutcome:
    """Every insurer's best response to ``prices`` by the layer LP (cost ``nu - alpha``), then
    generous distribution on the LP's optimal face: options with zero reduced cost, retention only
    where the layer dual is zero; among them the lowest true preference."""
    posted = market.check_prices(prices)
    t0 = time.perf_counter()
    m, n = market.m, market.n
    bank = CurveBank([[market.alpha[i], *posted[i], *market.tau[i]] for i in range(n)])
    groups = [list(range(m + 1)), [0, *range(m + 1, 2 * m + 1)]]
    table = tabulate(bank, np.arange(n), cells=cells, nodes=nodes, groups=groups, bound=market.layer_bound,
                     span=market.bound)
    cells_ = _Cells(table)
    A, N, T, w = cells_.ints[:, 0], cells_.ints[:, 1:m + 1], cells_.ints[:, m + 1:], cells_.w
    cost = (N - A[:, None]) / w[:, None]
    prog = LayerLP(w, cost, constant=float(A.sum()), name="best_response_layers")
    solution = prog.solve(backend=backend, solver=solver, polish=False, **options)
    reduced = reduced_costs(solution)
    mu = layer_values(solution)
    allowed = np.concatenate([(mu <= FACE_TOL)[:, None], reduced <= FACE_TOL], axis=1)
    true_pref = np.concatenate([A[:, None], T], axis=1)
    choice = np.argmin(np.where(allowed, true_pref, np.inf), axis=1)
    winner = choice - 1
    S = np.zeros_like(N)
    won = winner >= 0
    S[won, winner[won]] = 1.0
    safe = np.maximum(winner, 0)[:, None]
    price = np.where(won, np.take_along_axis(N, safe, 1)[:, 0], 0.0)
    premium = cells_.per_insurer(S * N, n)
    costs = cells_.per_insurer(S * T, n)
    ceded = cells_.per_insurer(A * S.sum(axis=1), n)
    initial = cells_.per_insurer(A, n)
    lp_value = _objective(solution)
    chosen_value = float(A.sum() + (S * (N - A[:, None])).sum())
    ints = table.integrals
    gain, gap, bad = verify_cells(ints[:, 0], ints[:, m + 1:], ints[:, 1:m + 1], cells_.scatter(S),
                                  table.widths)
    chosen = cells_.scatter(winner + 1.0, 0.0).astype(int)
    ver = MarketVerification(gain, gap, bad, market.tolerance,
                             order_gap(bank, np.arange(n), table.edges, list(range(m + 1)), chosen,
                                       top=market.layer_bound))
    layers = LayerAllocation(table.edges, cells_.scatter(winner.astype(float), -1).astype(np.int32),
                             cells_.scatter(price),
                             cells_.scatter(np.where(won, -3.0, -1.0), -1).astype(np.int32))
    return MarketOutcome(market, "best response", f"lp ({backend})", initial, premium, ceded, costs, layers,
                         MarketPrices(layers.price, layer_value=cells_.scatter(mu)), "program", ver,
                         checks={"LP value - generous selection value": lp_value - chosen_value},
                         seconds=time.perf_counter() - t0, solver=SolverInfo.of(solution), solution=solution,
                         program=prog, tabulation=table)
