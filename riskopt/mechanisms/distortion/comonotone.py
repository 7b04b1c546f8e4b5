"""The comonotone inf-convolution ``□^+ rho_{h_i}(X) = rho_{min_i h_i}(X)`` by the layer LP.

:func:`comonotone_inf_convolution` solves the layer LP of :mod:`~riskopt.mechanisms.distortion.layers`
one of three ways (``"direct"``: matrices into highspy, :func:`~riskopt.mechanisms.distortion.fast.
solve_layers_highs`; ``"program"``: the :class:`~riskopt.mechanisms.distortion.program.
ComonotoneLayerLP` on any backend; ``"closed_form"``: every layer on its cheapest agent) and checks
the answer: the allocation holds every layer exactly and its value equals ``rho_{min h_i}(X)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...certificate import ZERO_DATA
from ...constraints import ConstraintDual, ConstraintSpec
from ...errors import ModelError
from ...measures.distortion import DistortionFunction
from ...space import Scenarios
from ...status import DEFAULT_TOLERANCES, Check, Status, from_checks
from .fast import solve_layers_highs
from .layers import AtomLayers, layers_of
from .program import layer_program

__all__ = ["ComonotoneResult", "comonotone_inf_convolution"]


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
    layers: AtomLayers
    method: str
    build_s: float
    compile_s: float
    solve_s: float
    solved: Status = Status.OPTIMAL
    checks: tuple[Check, ...] = ()
    #: the user constraints' duals (the layer LP took them: ``value`` is then the constrained one)
    constraints: Mapping[str, ConstraintDual] = field(default_factory=dict)

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
                               constraints: Sequence[ConstraintSpec] = (),
                               **options: Any) -> ComonotoneResult:
    """``□^+ rho_{h_i}(X)`` by the layer LP, with ``rho_{min h_i}(X)`` as the reference.

    ``method``: ``"direct"`` (matrices into highspy), ``"program"`` (a riskopt Program on
    ``backend``/``solver``) or ``"closed_form"`` (every layer on its cheapest agent, no solver).
    The value is re-evaluated exactly at the returned (projected) allocation. ``constraints``
    (method ``"program"`` only) are written on ``f_i(X(s))`` per state: the value is then the
    constrained comonotone inf-convolution, checked to be no lower than ``rho_{min h_i}(X)``.
    """
    if method not in ("direct", "program", "closed_form"):
        raise ModelError("method", method, "'direct', 'program' or 'closed_form'")
    if constraints and method != "program":
        raise ModelError("method", method, "'program' for a layer LP with user constraints")
    lay = layers_of(space, hs, aggregate=aggregate)
    duals: dict[str, ConstraintDual] = {}
    compile_s = solve_s = 0.0
    solved = Status.OPTIMAL  # the closed form: every layer on its cheapest agent (exact arithmetic)
    prices: np.ndarray | None
    if method == "closed_form":
        L = lay.cheapest()
        prices = lay.prices()
    elif method == "direct":
        rep = solve_layers_highs(lay, **options)
        L, prices, solved = lay.feasible(rep.L), rep.prices, rep.status
        compile_s, solve_s = rep.compile_s, rep.solve_s
    else:
        states = space if isinstance(space, Scenarios) else None
        prog = layer_program(lay, names, probs=None if states is None else states.p,
                             aggregate=None if states is None else states[aggregate])
        prog.add_constraints(constraints)
        # raises SolveError unless usable (infeasible user constraints: the hint names them)
        sol = prog.solve(backend=backend, solver=solver, polish=False, **options)
        if constraints:
            duals = prog.constraint_duals(sol)
        L = prog.shares()
        prices, solved = sol.extra.get("layer_prices"), sol.status
        compile_s, solve_s = sol.solver.compile_s + sol.solver.build_s, sol.solver.solve_s
    values = (lay.W * L).sum(axis=1)
    value, closed = float(values.sum()), lay.closed_form()
    # the value's scale: what the layers hold (sum_k width_k max_i |W_ik|); 1 when X is identically 0
    scale = float(lay.width @ np.max(np.abs(lay.W), axis=0)) or ZERO_DATA
    held = Check("layers_held", float(np.max(np.abs(L.sum(axis=0) - lay.width), initial=0.0)),
                 1e-12 * (float(np.max(lay.width, initial=0.0)) or ZERO_DATA))
    tol = DEFAULT_TOLERANCES.tight * scale
    # constrained: the closed form is the unconstrained minimum, a lower bound only
    closeness = (Check("value_minus_rho_of_min_h", value - closed, tol) if not constraints
                 else Check("rho_of_min_h_minus_constrained_value", max(closed - value, 0.0), tol))
    return ComonotoneResult(value, closed, lay.functions(L), values, prices, lay,
                            method, lay.build_s, compile_s, solve_s, solved, (held, closeness), duals)
