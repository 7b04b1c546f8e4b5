"""The layer LP of the reinsurance market: Pareto optima, duals as layer values, VCG prices,
best responses, and reinsurer capacity limits (the coupled extension only the LP can do).

On the layer grid of :mod:`.layers` (cells ``c`` of width ``w_c`` for each insurer),
the variable ``y_cj >= 0`` is the amount of cell c ceded to reinsurer j (``gamma = y / w``):

    minimise   sum_i rho_i(X_i) + sum_{c, j} cost_cj y_cj
    subject to sum_j y_cj <= w_c            (row "layer", dual mu_c >= 0)
               y_cj >= 0                    (row "ceded_nonneg", dual = reduced cost)
               sum_c a_cj y_cj <= K_j       (row "capacity", dual lambda_j >= 0; optional)

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
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np

from ...duals import value_derivative
from ...errors import ModelError
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
from .spec import CELLS, NODES
from .verification import MarketVerification, verify_cells

__all__ = ["CAPACITY_WEIGHTS", "FACE_TOL", "LayerLP", "best_response_lp", "capacity_prices", "pareto"]

#: reduced costs and layer duals below this count as zero (the HiGHS tolerances)
FACE_TOL = 1e-9
CAPACITY_WEIGHTS = ("limit", "expected")


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

    def hint(self, status: Status) -> str:
        return {Status.INFEASIBLE: "the layer LP is always feasible (y = 0): report this",
                Status.UNBOUNDED: "a cost is not finite"}.get(Status(status).base, super().hint(status))


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


@dataclass
class _Solved:
    """A solved layer LP read back on its cells."""

    cells: _Cells
    program: LayerLP
    solution: Solution
    cost: np.ndarray
    cap_col: int | None

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
           options: dict[str, Any]) -> _Solved:
    """The aggregate-risk LP on ``table`` (cost: cell averages of tau - alpha)."""
    m = market.m
    cells_ = _Cells(table)
    A, T, w = cells_.ints[:, 0], cells_.ints[:, 1:m + 1], cells_.w
    cost = (T - A[:, None]) / w[:, None]
    capacity = None
    if np.isfinite(market.capacities).any():
        capacity = (_capacity_weights(cells_, cap_col, m), market.capacities)
    prog = LayerLP(w, cost, constant=float(A.sum()), capacity=capacity, name="pareto_layers")
    return _Solved(cells_, prog, prog.solve(backend=backend, solver=solver, polish=False, **options),
                   cost, cap_col)


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
           exact_capacity: bool = True, **options: Any) -> MarketOutcome:
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
    m, n = market.m, market.n
    cap_col = m + 1 if (capped.any() and capacity_weight == "expected") else None
    bank = market.bank if cap_col is None else CurveBank(
        [[*market.bank.curves[i], DistortedSurvival(market.loss_law(i))] for i in range(n)])
    group = [list(range(m + 1))]
    table = tabulate(bank, np.arange(n), cells=cells, nodes=nodes, groups=group, bound=market.layer_bound,
                     span=market.bound)
    lp = _solve(market, table, cap_col, backend, solver, options)
    checks: dict[str, float | bool] = {}
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
        checks["Lagrangian value at the LP multipliers - V*"] = lagrangian - lp.value
    cells_, y, mu = lp.cells, lp.y, lp.mu
    A, T, w = cells_.ints[:, 0], cells_.ints[:, 1:m + 1], cells_.w
    shares = y / w[:, None]
    gains = float(mu @ w + (lp.lam(m)[capped] * market.capacities[capped]).sum())
    checks = {"V* (LP)": lp.value,
              "sum of layer values and capacity rents - gains from trade": gains - (A.sum() - lp.value),
              **checks}
    layer_value_sums = {ins.name: float(v) for ins, v in
                        zip(market.insurers, cells_.per_insurer(mu * w, n), strict=True)}
    if rule == "vcg":
        surplus, prem, unit = _vcg(lp, backend, solver, options, n, m)
        vcg_surplus = {re.name: float(surplus[j]) for j, re in enumerate(market.reinsurers)}
        source = -5
    else:
        unit = T / w[:, None] + rent[None, :] * _capacity_weights(cells_, cap_col, m)
        prem = cells_.per_insurer(y * unit, n)
        source = -4
    winner = _winner(shares)
    if not capped.any():
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
    return MarketOutcome(market, "pareto (capacity)" if capped.any() else "pareto", f"lp ({backend})",
                         cells_.per_insurer(A, n), prem, cells_.per_insurer(A * shares.sum(axis=1), n),
                         cells_.per_insurer(T * shares, n), layers, prices, "program", checks=checks,
                         grid=GridInfo(cells, nodes, table.breakpoints, lp_variables=int(y.size)),
                         seconds=time.perf_counter() - t0, solver=SolverInfo.of(lp.solution),
                         premiums_rule=rule, layer_values=layer_value_sums, vcg_surplus=vcg_surplus,
                         scarcity_prices=scarcity, scarcity_prices_lp=scarcity_lp, solution=lp.solution,
                         program=lp.program, tabulation=table)


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
