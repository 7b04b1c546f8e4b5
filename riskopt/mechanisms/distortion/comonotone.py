"""Comonotone inf-convolution of distortion risk measures: an LP in layers on the sorted atoms of X.

A comonotone allocation is ``X_i = f_i(X)`` with ``f_i`` nondecreasing and ``sum_i f_i = id``.
Anchor every ``f_i`` at 0 (for distortions with ``h_i(1) = 1`` constants cost ``sum_i c_i = 0``, so
nothing is lost) and cut ``X`` into **layers** between consecutive atoms ``x_0 < ... < x_{K-1}``
and 0: above 0 the layer ``(max(x_{k-1}, 0), x_k]`` is paid when ``X >= x_k``; below 0 the layer
``(x_k, min(x_{k+1}, 0)]`` is taken away when ``X <= x_k``. Agent ``i`` holds a share
``L_ik >= 0`` of every layer, ``sum_i L_ik = width_k``, and by comonotonic additivity

    rho_{h_i}(f_i(X)) = sum_{k above} L_ik h_i(P(X >= x_k)) - sum_{k below} L_ik h~_i(P(X <= x_k)),

linear in ``L`` for ANY distortion (VaR included). So the comonotone inf-convolution is the LP

    minimise  sum_ik W_ik L_ik   subject to   sum_i L_ik = width_k,  L >= 0,

whose optimum puts each layer on the agent with the smallest weight: ``rho_{min_i h_i}(X)``
(Embrechts-Liu-Wang; seed 002, §4). The budget multiplier of layer ``k`` is its **price**
``min_i W_ik`` (``h_min(P(X >= x_k))`` above 0): the marginal cost of one more unit of that layer.

Build cost: one sort of the states (``np.unique``, ``S log S``) and ``n K`` weights; the constraint
matrix has one nonzero per variable (no ``S x S`` block). Two ways to solve the same LP data:

* :func:`layer_program`: a :class:`~riskopt.program.Program` (any backend, duals by name);
* :func:`solve_layers_highs`: the same LP (or its dual) passed straight to highspy as matrices,
  the sign constraints as column bounds. At ``n = 20, S = 100,000`` (2 million variables) cvxpy's
  canonicalisation alone takes ~4 s and its standard form carries the 2 million sign constraints as
  rows, so the direct path is the one that scales (see ``benchmarks/bench_distortion_sharing.py``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sps

from ..certificate import ZERO_DATA
from ..duals import value_derivative
from ..errors import ModelError, SolveError
from ..measures.distortion import DistortionFunction, check_distortion, cumulated
from ..program import Program
from ..space import Scenarios
from ..status import DEFAULT_TOLERANCES, Check, Status, from_checks, from_highs

__all__ = ["ComonotoneResult", "LayerProgram", "Layers", "comonotone_inf_convolution", "layer_program",
           "layers_of", "solve_layers_highs"]


@dataclass(frozen=True)
class Layers:
    """The layer decomposition of ``X`` (anchored at 0) and the agents' weights on it.

    ``atoms`` (ascending) with ``probs``; ``state_atom[s]`` maps states to atoms. Layer ``k``
    belongs to atom ``k``: ``width[k] >= 0``, ``above[k]`` (True: paid when ``X >= x_k``; False:
    taken away when ``X <= x_k``). ``W[i, k]`` is agent ``i``'s cost per unit of layer ``k``.
    """

    atoms: np.ndarray
    probs: np.ndarray
    state_atom: np.ndarray
    width: np.ndarray
    above: np.ndarray
    W: np.ndarray
    build_s: float = 0.0

    @property
    def n_agents(self) -> int:
        return self.W.shape[0]

    @property
    def size(self) -> int:
        return self.atoms.size

    def closed_form(self) -> float:
        """``rho_{min_i h_i}(X)``: every layer on its cheapest agent."""
        return float(self.width @ self.W.min(axis=0))

    def prices(self) -> np.ndarray:
        """The layer prices ``min_i W_ik`` (the budget multipliers of the LP)."""
        return self.W.min(axis=0)

    def price_intervals(self) -> tuple[np.ndarray, np.ndarray]:
        """Every optimal layer price, in closed form: the LP separates by layer and its value is
        ``sum_k width_k min_i W_ik`` for widths >= 0. A layer of positive width has the one price
        ``min_i W_ik``; a layer of width 0 (an atom at X = 0) has the right derivative ``min_i W_ik``
        and the left one ``-inf`` (a negative width is infeasible): every price ``<= min_i W_ik``
        supports the optimum, which is why solvers disagree there."""
        upper = self.prices()
        lower = np.where(self.width > 0, upper, -np.inf)
        return lower, upper

    def functions(self, L: np.ndarray) -> np.ndarray:
        """``f_i(x_k)`` on the atoms from layer shares ``L`` (``(n, K)``): cumulated upwards above 0,
        downwards below 0."""
        up = np.where(self.above, L, 0.0)
        down = np.where(self.above, 0.0, L)
        return np.cumsum(up, axis=1) - np.cumsum(down[:, ::-1], axis=1)[:, ::-1]

    def feasible(self, L: np.ndarray) -> np.ndarray:
        """``L`` projected on the constraints (nonnegative, columns summing to the widths exactly)."""
        L = np.maximum(np.asarray(L, float), 0.0)
        col = L.sum(axis=0)
        even = np.full(L.shape, 1.0 / L.shape[0])
        share = np.where(col > 0, L / np.where(col > 0, col, 1.0), even)
        return share * self.width[None, :]


def layers_of(space: Scenarios | tuple[np.ndarray, np.ndarray], hs: Sequence[DistortionFunction], *,
              aggregate: str = "X", field: str = "agents") -> Layers:
    """Sort the atoms of ``X`` and tabulate every agent's layer weights (``O(S log S + n K)``).

    ``space`` is a :class:`Scenarios` (``X`` read from ``aggregate``) or a pair ``(x, p)``.
    Distortions must be normalised (``h(1) = 1``): layers are anchored at 0.
    """
    t0 = time.perf_counter()
    if isinstance(space, Scenarios):
        x, p = space[aggregate], space.p
    else:
        x, p = (np.asarray(v, float) for v in space)
    if x.ndim != 1 or x.shape != p.shape or not np.all(np.isfinite(x)):
        raise ModelError("aggregate", x, "finite values, one per state")
    hs = list(hs)
    if not hs:
        raise ModelError(field, hs, "at least one agent")
    for i, h in enumerate(hs):
        check_distortion(h, normalised=True, field=f"{field}[{i}].h")
    atoms, state_atom = np.unique(x, return_inverse=True)
    probs = np.bincount(state_atom, weights=p, minlength=atoms.size)
    ge = cumulated(probs[::-1])[::-1][:-1]   # P(X >= x_k)
    gt = np.append(ge[1:], 0.0)              # P(X > x_k)
    above = atoms > 0
    prev = np.concatenate([[-np.inf], atoms[:-1]])
    nxt = np.concatenate([atoms[1:], [np.inf]])
    width = np.where(above, atoms - np.maximum(prev, 0.0), np.minimum(nxt, 0.0) - atoms)
    width = np.maximum(width, 0.0)
    level = np.where(above, ge, gt)
    W = np.empty((len(hs), atoms.size))
    for i, h in enumerate(hs):  # a loop over agents; every weight row is one vectorised call
        hv = np.asarray(h(level), float)
        W[i] = np.where(above, hv, -(1.0 - hv))  # below 0: -h~(P(X <= x_k)) = -(1 - h(P(X > x_k)))
    return Layers(atoms, probs, state_atom, width, above, W, time.perf_counter() - t0)


# ----------------------------------------------------------------------------- the program
class LayerProgram(Program):
    """The comonotone layer LP as a riskopt :class:`Program` (variable ``"layers"``, constraint group
    ``"budget"``: one row per layer, its multiplier the layer price)."""

    mechanism = "distortion_comonotone"

    def __init__(self, layers: Layers, names: Sequence[str]):
        super().__init__("comonotone_layers", "min")
        self.layers = layers
        self.names = list(names)
        n, K = layers.W.shape
        L = self.variable("layers", n * K, nonneg=True)  # agent-major: column k of agent i at i K + k
        A = sps.csr_matrix((np.ones(n * K), (np.tile(np.arange(K), n), np.arange(n * K))), shape=(K, n * K))
        self.constrain("budget", [layers.width == A @ L],
                       "sum_i L_ik = width_k: every layer of X is held (dual: the layer price)")
        self.set_objective(layers.W.ravel() @ L)

    def interpret(self, fields: dict[str, Any]) -> dict[str, Any]:
        lay = self.layers
        raw = np.asarray(self.variables["layers"].value, float).reshape(lay.W.shape)
        L = lay.feasible(raw)
        F = lay.functions(L)
        fields["allocation"] = {nm: F[i, lay.state_atom] for i, nm in enumerate(self.names)}
        values = (lay.W * L).sum(axis=1)
        fields["values"] = dict(zip(self.names, values.tolist(), strict=True))
        fields["objective"] = float(values.sum())  # exact at the projected allocation
        budget = fields["duals"].get("budget")
        # the layer price is d f*/d width_k, read through the one sign rule
        prices = None if budget is None else value_derivative(self.sense, budget)
        fields["extra"] = {**fields.get("extra", {}), "layer_prices": prices}
        fields["agents"] = tuple({"name": nm, "risk": float(values[i])} for i, nm in enumerate(self.names))
        return fields


def layer_program(layers: Layers, names: Sequence[str] | None = None) -> LayerProgram:
    """The comonotone layer LP as a Program (solve on any backend: ``.solve(backend="highs")``)."""
    names = list(names) if names is not None else [f"agent {i + 1}" for i in range(layers.n_agents)]
    return LayerProgram(layers, names)


# ------------------------------------------------------------------------ the direct path
@dataclass(frozen=True)
class DirectReport:
    """What the direct highspy solve did (matrices -> HiGHS, no modelling layer)."""

    status: Status
    objective: float
    L: np.ndarray
    prices: np.ndarray
    compile_s: float
    solve_s: float
    iterations: int
    options: dict[str, Any] = field(default_factory=dict)


def solve_layers_highs(layers: Layers, form: str = "dual", **options: Any) -> DirectReport:
    """Solve the layer LP by passing matrices straight to highspy (no modelling layer).

    ``form="primal"``: the LP as stated (``n K`` columns with bounds ``L >= 0``, one budget row per
    layer). ``form="dual"`` (default): its dual ``max sum_k width_k y_k`` s.t. ``y_k <= W_ik``
    (``K`` free columns, ``n K`` singleton rows); the allocation is read from the row multipliers
    (``L_ik = -row dual``, which sum to the widths by stationarity) and the layer prices are the
    columns. Both give the same optimum; HiGHS's presolve empties either, but the dual keeps the
    tiny widths out of the feasibility tolerance: at S = 100,000 its value agrees with the closed
    form to ~1e-14 against ~1e-9 for the primal. ``options`` are HiGHS options (checked by name).
    """
    import highspy

    from ..backends.base import HIGHS_OPTIONS
    from ..backends.highs_backend import set_options
    from ..backends.quiet import new_highs, quiet_stdout

    if form not in ("primal", "dual"):
        raise ModelError("form", form, "'primal' or 'dual'")
    t0 = time.perf_counter()
    n, K = layers.W.shape
    inf = highspy.kHighsInf
    h = new_highs()
    opts = {**HIGHS_OPTIONS, **options}
    set_options(h, opts)
    lp = highspy.HighsLp()
    costs = np.ascontiguousarray(layers.W.T).ravel()  # entry k n + i: agent i on layer k
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.value_ = np.ones(n * K)
    if form == "primal":  # column k n + i in the budget row k
        lp.num_col_, lp.num_row_ = n * K, K
        lp.col_cost_ = costs
        lp.col_lower_ = np.zeros(n * K)
        lp.col_upper_ = np.full(n * K, inf)
        lp.row_lower_ = lp.row_upper_ = layers.width
        lp.a_matrix_.start_ = np.arange(0, n * K + 1, dtype=np.int32)
        lp.a_matrix_.index_ = np.repeat(np.arange(K, dtype=np.int32), n)
    else:  # column k (the price y_k) in the rows k n .. k n + n - 1 (y_k <= W_ik)
        lp.num_col_, lp.num_row_ = K, n * K
        lp.col_cost_ = -layers.width
        lp.col_lower_ = np.full(K, -inf)
        lp.col_upper_ = np.full(K, inf)
        lp.row_lower_ = np.full(n * K, -inf)
        lp.row_upper_ = costs
        lp.a_matrix_.start_ = np.arange(0, n * K + 1, n, dtype=np.int32)
        lp.a_matrix_.index_ = np.arange(n * K, dtype=np.int32)
    h.passModel(lp)
    t1 = time.perf_counter()
    with quiet_stdout():
        h.run()
    solve_s = time.perf_counter() - t1
    status = from_highs(h.getModelStatus().name)
    if not status.ok:
        raise SolveError(status, backend="highs-direct", solver="HIGHS",
                         hint="the layer LP is always feasible and bounded: report this")
    sol = h.getSolution()
    info = h.getInfo()
    iters = int(info.simplex_iteration_count + info.ipm_iteration_count)
    if form == "primal":
        L = np.asarray(sol.col_value, float).reshape(K, n).T
        prices = np.asarray(sol.row_dual, float)  # d objective / d row bound: the layer prices
        value = float(info.objective_function_value)
    else:
        L = -np.asarray(sol.row_dual, float).reshape(K, n).T
        prices = np.asarray(sol.col_value, float)
        value = -float(info.objective_function_value)
    return DirectReport(status, value, L, prices, t1 - t0, solve_s, iters, opts)


# ------------------------------------------------------------------------------ the result
@dataclass(frozen=True)
class ComonotoneResult:
    """Comonotone inf-convolution: value, allocation on the atoms, layer prices and timings.

    ``status`` is the solve's (``solved``) verified by ``checks``: the allocation splits every
    layer exactly, and the value equals the closed form ``rho_(min h_i)(X)`` (Theorem 2(iii)).
    """

    value: float
    closed_form: float
    functions: np.ndarray          # (n, K): f_i(x_k) on the sorted atoms
    agent_values: np.ndarray       # rho_{h_i}(f_i(X))
    layer_prices: np.ndarray | None
    layers: Layers
    method: str
    build_s: float
    compile_s: float
    solve_s: float
    solved: Status = Status.OPTIMAL
    checks: tuple[Check, ...] = ()

    @property
    def status(self) -> Status:
        return from_checks(self.solved, self.checks)

    @property
    def gap(self) -> float:
        return abs(self.value - self.closed_form)

    @property
    def prices_unique(self) -> bool:
        """Every layer's price is determined (no layer of zero width)."""
        return bool(np.all(self.layers.width > 0))

    def allocation(self) -> np.ndarray:
        """``X_i = f_i(X)`` on the states of the space (``(n, S)``)."""
        return self.functions[:, self.layers.state_atom]


def comonotone_inf_convolution(space: Scenarios | tuple[np.ndarray, np.ndarray],
                               hs: Sequence[DistortionFunction], *, method: str = "direct",
                               backend: str = "highs", solver: str | None = None,
                               names: Sequence[str] | None = None, aggregate: str = "X",
                               **options: Any) -> ComonotoneResult:
    """``□^+ rho_{h_i}(X)`` by the layer LP, with ``rho_{min h_i}(X)`` as the reference.

    ``method``: ``"direct"`` (matrices into highspy), ``"program"`` (a riskopt Program on
    ``backend``/``solver``) or ``"closed_form"`` (every layer on its cheapest agent, no solver).
    The value is re-evaluated exactly at the returned (projected) allocation.
    """
    if method not in ("direct", "program", "closed_form"):
        raise ModelError("method", method, "'direct', 'program' or 'closed_form'")
    lay = layers_of(space, hs, aggregate=aggregate)
    compile_s = solve_s = 0.0
    solved = Status.OPTIMAL  # the closed form: every layer on its cheapest agent (exact arithmetic)
    if method == "closed_form":
        L = np.zeros(lay.W.shape)
        L[np.argmin(lay.W, axis=0), np.arange(lay.size)] = lay.width
        prices = lay.prices()
    elif method == "direct":
        rep = solve_layers_highs(lay, **options)
        L, prices, solved = lay.feasible(rep.L), rep.prices, rep.status
        compile_s, solve_s = rep.compile_s, rep.solve_s
    else:
        prog = layer_program(lay, names)
        sol = prog.solve(backend=backend, solver=solver, polish=False, **options)
        L = lay.feasible(np.asarray(prog.variables["layers"].value, float).reshape(lay.W.shape))
        prices, solved = sol.extra.get("layer_prices"), sol.status
        compile_s, solve_s = sol.solver.compile_s + sol.solver.build_s, sol.solver.solve_s
    values = (lay.W * L).sum(axis=1)
    value, closed = float(values.sum()), lay.closed_form()
    # the value's scale: what the layers hold (sum_k width_k max_i |W_ik|); 1 when X is identically 0
    scale = float(lay.width @ np.max(np.abs(lay.W), axis=0)) or ZERO_DATA
    checks = (Check("layers_held", float(np.max(np.abs(L.sum(axis=0) - lay.width), initial=0.0)),
                    1e-12 * (float(np.max(lay.width, initial=0.0)) or ZERO_DATA)),
              Check("value_minus_rho_of_min_h", value - closed, DEFAULT_TOLERANCES.tight * scale))
    return ComonotoneResult(value, closed, lay.functions(L), values, prices, lay,
                            method, lay.build_s, compile_s, solve_s, solved, checks)
