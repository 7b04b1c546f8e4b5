"""The distortion mechanisms' declarative programs (``method="program"``).

* :class:`ComonotoneLayerLP`: the comonotone inf-convolution as an LP in layers on the sorted atoms
  (:mod:`~riskopt.mechanisms.distortion.layers`): variable ``"layers"`` (agent ``i``'s share of
  layer ``k``), constraint group ``"budget"`` (every layer held), whose multipliers are the layer
  prices, read through :func:`riskopt.duals.value_derivative`.
* :class:`TailProgram`: the tail-probability program of risk-seeking agents (Theorem 3).
* :func:`unconstrained_program`: the sharing program over all allocations of risk-averse agents
  (the LP form of concave distortions on :class:`~riskopt.allocation.Budget`).

**User constraints** (``[[constraints]]``, :mod:`riskopt.constraints`) are written on the rows of
the space's states, ``allocation`` being agent ``i``'s loss there:

* the sharing program: ``X_i(s)`` itself (:class:`riskopt.program.SharingTarget`);
* the layer LP (:meth:`ComonotoneLayerLP.function_rows`): ``f_i(X(s))``, the cumulated layer
  shares of agent ``i`` up to the atom ``X(s)`` (``sum_{0 < x_j <= X(s)} L_ij`` above 0,
  ``-sum_{X(s) <= x_j < 0} L_ij`` below);
* the tail program (:meth:`TailProgram.loss_rows`): the jackpot's loss averaged over the lottery that
  decides who bears the atom, ``E[X_i | X = x] = x P(A_i | X = x) = x (T_ik - T_i,k-1) / P(|X| =
  y_k)``. Its expectation under ``P`` is ``E[X_i] = sum_k w_k T_ik``: constraints on expected
  losses keep the program exact over all nonnegative allocations (the jackpot improvement of
  Theorem 1 is a convex-order improvement, which keeps every ``E[X_i]``), while per-state rows
  constrain the jackpot class (the conditional mean losses).

**Tail-probability program (solver cross-check).** On the jackpot class the unknowns are the tail
probabilities ``T_ik = P(A_i ∩ {|X| >= y_k})`` (atoms ``y_1 > ... > y_K`` of ``|X|``): with layer
widths ``w_k = y_k - y_{k+1}``,

    minimise  sum_ik w_k phi_i(T_ik)   s.t.  sum_i T_ik = P(|X| >= y_k),  T_ik - T_i,k-1 >= 0,

``phi_i = h_i`` for ``X >= 0`` and ``phi_i(T) = h_i(1 - T) - h_i(1)`` for ``X <= 0``: a separable
convex program (power / exponential cones, or an LP for piecewise-linear ``h_i``) whose optimum is
the closed form ``rho_{h~}(X)`` of Theorem 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sps
from scipy import special

from ...allocation import Budget
from ...constraints import ConstraintSpec, RowsTarget
from ...duals import value_derivative
from ...errors import ModelError
from ...measures.distortion import (
    Distortion,
    DistortionFunction,
    DualPower,
    ExponentialDistortion,
    MixtureDistortion,
    Power,
)
from ...program import Agent, Program, SharingProgram
from ...space import Scenarios
from .convolution import is_convex
from .jackpot import Jackpot, jackpot_from_pieces, one_sided, pieces_from_split, tail_levels
from .layers import AtomLayers

__all__ = ["QUANTITIES", "TIGHT_CLARABEL", "ComonotoneLayerLP", "TailProgram", "convex_form",
           "layer_program", "tail_program", "unconstrained_program"]

#: what a distortion_sharing constraint may read (``allocation``: losses, per state of the space)
QUANTITIES = {"allocation": "agent i's loss X_i(s) in each state of the space (risk-seeking agents: "
                            "its jackpot loss averaged over the lottery, E[X_i | X = X(s)])"}

#: Clarabel options for the tail-probability cross-check (see :meth:`TailProgram.solver_defaults`)
TIGHT_CLARABEL = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}


# ------------------------------------------------------------------------ the comonotone layer LP
class ComonotoneLayerLP(Program):
    """The comonotone layer LP as a riskopt :class:`Program` (variable ``"layers"``, constraint group
    ``"budget"``: one row per layer, its multiplier the layer price)."""

    mechanism = "distortion_comonotone"

    def __init__(self, layers: AtomLayers, names: Sequence[str], probs: np.ndarray | None = None,
                 aggregate: np.ndarray | None = None):
        super().__init__("comonotone_layers", "min")
        self.layers = layers
        self.names = list(names)
        #: the rows of user constraints: the states (given their probabilities), else the atoms
        states = probs is not None
        self.row_atom = layers.state_atom if states else np.arange(layers.size)
        self.probs = np.asarray(probs, float) if states else layers.probs
        self.aggregate = layers.atoms[self.row_atom] if aggregate is None else np.asarray(aggregate, float)
        if self.probs.shape != self.row_atom.shape:
            raise ModelError("probs", self.probs.shape, f"{self.row_atom.size} state probabilities")
        n, K = layers.W.shape
        L = self.variable("layers", n * K, nonneg=True)  # agent-major: column k of agent i at i K + k
        A = sps.csr_matrix((np.ones(n * K), (np.tile(np.arange(K), n), np.arange(n * K))), shape=(K, n * K))
        self.constrain("budget", [layers.width == A @ L],
                       "sum_i L_ik = width_k: every layer of X is held (dual: the layer price)")
        self.set_objective(layers.W.ravel() @ L)

    def add_constraints(self, constraints: Sequence[ConstraintSpec]) -> None:
        """Declared constraints on the agents' losses ``f_i(X(s))`` per state (their cumulated layer
        shares, :meth:`function_rows`), ``P`` for every law."""
        rows = RowsTarget("agent", self.names, QUANTITIES, lambda what, i: self.function_rows(i),
                          self.probs, self.aggregate)
        self.declare(constraints, rows)

    def shares(self) -> np.ndarray:
        """The solver's layer shares ``L`` (``(n, K)``), projected on the budget rows (user
        constraints' slacks are read at the solver's point)."""
        lay = self.layers
        return lay.feasible(np.asarray(self.variables["layers"].value, float).reshape(lay.W.shape))

    def function_rows(self, i: int) -> cp.Expression:
        """``f_i(X(s))`` on the rows (states, or atoms) as an affine expression of agent ``i``'s layer
        shares."""
        lay = self.layers
        K = lay.size
        Li = self.variables["layers"][i * K:(i + 1) * K]
        above = lay.above.astype(float)
        up = cp.cumsum(cp.multiply(above, Li))
        down = cp.cumsum(cp.multiply(1.0 - above, Li)[::-1])[::-1]
        return (up - down)[self.row_atom]

    def interpret(self, fields: dict[str, Any]) -> dict[str, Any]:
        lay = self.layers
        L = self.shares()
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


def layer_program(layers: AtomLayers, names: Sequence[str] | None = None, *, probs: np.ndarray | None = None,
                  aggregate: np.ndarray | None = None) -> ComonotoneLayerLP:
    """The comonotone layer LP as a Program (solve on any backend: ``.solve(backend="highs")``);
    ``probs``/``aggregate``: the states' (the rows of user constraints)."""
    names = list(names) if names is not None else [f"agent {i + 1}" for i in range(layers.n_agents)]
    return ComonotoneLayerLP(layers, names, probs, aggregate)


# ------------------------------------------------------------------ tail-probability program
def convex_form(h: DistortionFunction, T: cp.Expression, field: str = "h") -> cp.Expression:
    """A convex cvxpy expression of ``h(T)`` for a convex distortion ``h`` (elementwise)."""
    if isinstance(h, Power) and h.a >= 1:
        return cp.power(T, h.a, approx=False) if h.a > 1 else T  # power cones, not SOC rationals
    if isinstance(h, ExponentialDistortion) and h.b > 0:
        return (cp.exp(h.b * T) - 1.0) / special.expm1(h.b)
    if isinstance(h, DualPower) and h.b <= 1:
        return 1.0 - cp.power(1.0 - T, h.b, approx=False) if h.b < 1 else T
    if isinstance(h, MixtureDistortion):
        return sum(w * convex_form(c, T, field) for c, w in zip(h.components, h.weights, strict=True))
    kn = h.knots()
    if kn is not None and is_convex(h):
        t, v = kn
        slopes = np.diff(v) / np.diff(t)
        pieces = [slopes[j] * (T - t[j]) + v[j] for j in range(slopes.size)]
        return pieces[0] if len(pieces) == 1 else cp.maximum(*pieces)
    raise ModelError(field, h.describe(), "a convex distortion with a cvxpy form (power a >= 1, "
                     "exponential b > 0, dual_power b <= 1, convex piecewise_linear, or mixtures)",
                     detail="the tail-probability program needs h_i as a convex expression")


class TailProgram(Program):
    """The separable convex program in tail probabilities ``T_ik`` (variable ``"tail"``; groups
    ``"levels"``: ``sum_i T_ik = P(|X| >= y_k)`` and ``"nested"``: ``T_ik >= T_i,k-1``)."""

    mechanism = "distortion_jackpot"

    def __init__(self, space: Scenarios, hs: Sequence[DistortionFunction], aggregate: str = "X",
                 field: str = "agents", names: Sequence[str] | None = None):
        super().__init__("tail_probabilities", "min")
        self.names = list(names) if names is not None else [f"agent {i + 1}" for i in range(len(hs))]
        x = space[aggregate]
        self.side = one_sided(x, aggregate)
        self.hs = list(hs)
        for i, h in enumerate(self.hs):
            if not is_convex(h):
                raise ModelError(f"{field}[{i}].h", h.describe(), "a convex (risk-seeking) distortion")
        self.space, self.aggregate = space, aggregate
        y = np.abs(x)
        self.atoms, self.masses, S = tail_levels(y, space.p)
        #: each state's atom in the program's (decreasing) order
        self.state_atom = self.atoms.size - 1 - np.unique(y, return_inverse=True)[1].ravel()
        self.levels = S[1:]
        K, n = self.atoms.size, len(self.hs)
        self.width = self.atoms - np.append(self.atoms[1:], 0.0)
        T = self.variable("tail", (n, K))
        self.constrain("levels", [cp.sum(T, axis=0) == self.levels], "sum_i T_ik = P(|X| >= y_k)")
        nested = [T[:, 0] >= 0]
        if K > 1:
            nested.append(T[:, 1:] - T[:, :-1] >= 0)
        self.constrain("nested", nested, "T_ik >= T_i,k-1 >= 0: the events A_i ∩ {|X| >= y_k} grow")
        terms = []
        for i, h in enumerate(self.hs):  # one expression per agent (a loop over agents, not states)
            arg = T[i] if self.side == "nonnegative" else 1.0 - T[i]
            phi = convex_form(h, arg, f"{field}[{i}].h")
            if self.side == "nonpositive":
                phi = phi - float(h(1.0))
            terms.append(self.width @ phi)
        # the objective in units of its value at the equal split T_ik = P(|X| >= y_k) / n: with many
        # agents the optimum is tiny (2e-6 for 200 agents), below the solver's absolute tolerances
        self.scale = abs(self.exact_value(np.tile(self.levels / n, (n, 1)))) or 1.0
        self.objective_unit = self.scale
        self.set_objective(cp.sum(cp.hstack(terms)) / self.scale)

    def add_constraints(self, constraints: Sequence[ConstraintSpec]) -> None:
        """Declared constraints on the jackpot's loss averaged over the lottery in each state
        (:meth:`loss_rows`), ``P`` for every law."""
        self.declare(constraints, RowsTarget("agent", self.names, QUANTITIES,
                                             lambda what, i: self.loss_rows(i), self.space.p,
                                             self.space[self.aggregate]))

    def loss_rows(self, i: int) -> cp.Expression:
        """``E[X_i | X = X(s)] = X(s) (T_ik - T_i,k-1) / P(|X| = y_k)`` on the states (``k`` the
        state's atom): agent ``i``'s jackpot loss averaged over the lottery within the atom."""
        T = self.variables["tail"][i]
        pieces = T - cp.hstack([np.zeros(1), T[:-1]]) if self.atoms.size > 1 else T
        sign = 1.0 if self.side == "nonnegative" else -1.0
        mass = np.where(self.masses > 0, self.masses, 1.0)
        return cp.multiply(sign * self.atoms / mass, pieces)[self.state_atom]

    def solver_defaults(self, backend: str, solver: str) -> dict[str, Any]:
        """On Clarabel the gap and feasibility tolerances default to 1e-10 (at Clarabel's 1e-8 the
        value agrees with the closed form to ~2e-8; at 1e-10, to ~4e-10)."""
        return dict(TIGHT_CLARABEL) if backend == "cvxpy" and solver == "CLARABEL" else {}

    def feasible_tails(self) -> np.ndarray:
        """The solver's ``T`` projected on the constraints (nonnegative increments summing to the
        atom masses), with the exact value recomputed there."""
        T = np.asarray(self.variables["tail"].value, float)
        split = np.hstack([np.zeros((T.shape[0], 1)), T])
        pieces = pieces_from_split(split, self.masses)
        return np.cumsum(pieces, axis=0).T

    def exact_value(self, T: np.ndarray) -> float:
        total = 0.0
        for i, h in enumerate(self.hs):
            if self.side == "nonnegative":
                total += float(self.width @ np.asarray(h(T[i]), float))
            else:
                total += float(self.width @ (np.asarray(h(1.0 - T[i]), float) - float(h(1.0))))
        return total

    def interpret(self, fields: dict[str, Any]) -> dict[str, Any]:
        T = self.feasible_tails()
        fields["objective"] = self.exact_value(T)
        fields["extra"] = {**fields.get("extra", {}), "tails": T}
        return fields

    def jackpot(self, randomisation: bool = True, field: str = "randomisation") -> Jackpot:
        """The jackpot allocation whose events have the solved tail probabilities."""
        T = self.feasible_tails()
        pieces = np.diff(np.hstack([np.zeros((T.shape[0], 1)), T]), axis=1).T
        return jackpot_from_pieces(self.space, np.maximum(pieces, 0.0), randomisation=randomisation,
                                   aggregate=self.aggregate, field=field)


def tail_program(space: Scenarios, hs: Sequence[DistortionFunction], aggregate: str = "X",
                 names: Sequence[str] | None = None) -> TailProgram:
    """The tail-probability program (a Program: ``.solve()`` on a conic backend, or ``highs`` when
    every ``h_i`` is piecewise linear)."""
    return TailProgram(space, hs, aggregate, names=names)


# ------------------------------------------------------------- the unconstrained sharing program
def unconstrained_program(space: Scenarios, agents: Sequence[Agent], aggregate: str = "X") -> SharingProgram:
    """``min sum_i rho_{h_i}(X_i)`` over all allocations ``sum_i X_i = X`` of risk-averse agents: a
    convex program on :class:`~riskopt.allocation.Budget` (the LP form of concave distortions, which
    must exist on this space: the error names the agent's measure otherwise)."""
    for i, a in enumerate(agents):
        try:
            if isinstance(a.measure, Distortion):  # every agent's is (distortions_of)
                a.measure.lp_knots(space.p)
        except ModelError as err:
            raise err.with_prefix(f"agents[{i}].measure") from None
    return SharingProgram(space, list(agents), allocation=Budget(), objective="total_risk",
                          aggregate=aggregate)
