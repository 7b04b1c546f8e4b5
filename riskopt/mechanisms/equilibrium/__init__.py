"""Competitive equilibria of risk exchanges: the ``equilibrium`` mechanism.

Agents own endowments ``e_i`` (random gains), trade claims on the states at prices ``psi`` and
markets clear: ``sum_i xi_i = W = sum_i e_i`` with each ``xi_i`` best for agent ``i`` among the
allocations of the same value ``E[phi xi_i] = E[phi e_i]`` (``phi = psi / p``, ``E[phi] = 1``). By
the welfare theorems the equilibrium is the Pareto optimum whose weights balance every budget
(Negishi). ``solve(spec, method=...)``:

* ``"fast"``: Bühlmann's closed form when every agent is CARA (entropic or expected CARA utility;
  Bühlmann (1980), "An economic premium principle"); Negishi's method with the welfare optimum
  solved state by state when some agent has CRRA utility (:mod:`.fast`);
* ``"program"``: cash-invariant preferences (entropic, expectation, ES and concave distortions,
  max-min): the welfare optimum of one :class:`~riskopt.program.SharingProgram` plus the side
  payments the budgets fix; expected CRRA utility: Negishi's Newton iteration, each step one
  welfare program re-solved with new weights (a cvxpy Parameter: compiled once);
* ``"auto"``: ``"fast"`` where it applies, else ``"program"``.

Whatever the route, the status comes from the equilibrium conditions checked afresh
(:mod:`.verify`): clearing, every budget, every agent's optimality at the prices.
"""

from __future__ import annotations

import time
from typing import Any

from ...cardschema import CardMechanism
from ...errors import ModelError
from ...status import from_convergence
from .. import Mechanism, register_mechanism
from .fast import Preferences, Smooth, buhlmann, negishi, preferences, welfare_optimum
from .program import monetary, negishi_program, solver_options
from .result import Equilibrium, assemble
from .spec import EquilibriumSpec

__all__ = ["CARD", "METHODS", "Equilibrium", "EquilibriumSpec", "Preferences", "Smooth", "buhlmann",
           "fast_applies",
           "negishi", "preferences", "solve", "welfare_optimum"]


#: the routes :func:`solve` takes by name (besides ``"auto"``)
METHODS = ("fast", "program")


def fast_applies(spec: EquilibriumSpec) -> bool:
    """The fast routes apply: every agent is smooth (CARA or CRRA kind)."""
    return all(k in ("cara", "crra") for k in spec.kinds)


def solve(spec: EquilibriumSpec, *, method: str = "auto", backend: str = "cvxpy", solver: str | None = None,
          **options: Any) -> Equilibrium:
    """The competitive equilibrium of ``spec`` (module docstring for the routes)."""
    if not isinstance(spec, EquilibriumSpec):
        raise ModelError("spec", type(spec).__name__, "an EquilibriumSpec")
    if method not in ("auto", *METHODS):
        raise ModelError("method", method, f"one of {['auto', *METHODS]}")
    if method == "fast" and not fast_applies(spec):
        raise ModelError("method", method, "'program' for this spec: the fast routes need smooth "
                         "agents (entropic or expected CARA/CRRA utility)")
    t0 = time.perf_counter()
    if method in ("auto", "fast") and fast_applies(spec):
        return _fast(spec, t0)
    options = solver_options(backend, solver, options)
    if "crra" in spec.kinds:
        return negishi_program(spec, t0, backend, solver, options)
    return monetary(spec, t0, backend, solver, options)


def _fast(spec: EquilibriumSpec, t0: float) -> Equilibrium:
    p, E = spec.space.p, spec.endowments
    prefs = preferences([a.measure for a in spec.agents], p)
    assert prefs is not None  # fast_applies
    if prefs.cara.all():
        eq = buhlmann(prefs, p, E)
        route = "buhlmann"
    else:
        eq = negishi(prefs, p, E, max_iterations=spec.max_iterations)
        route = "negishi"
    base = from_convergence(eq.converged)
    return assemble(spec, base, "fast", route, eq.xi, eq.psi, t0, eq.log_psi, iterations=eq.iterations,
                    residuals=eq.residuals, explanation="" if eq.converged else eq.note)


CARD = CardMechanism.of("equilibrium", EquilibriumSpec, solve,
                        "Competitive equilibrium of a risk exchange: allocations and state prices from "
                        "endowments (Negishi; Bühlmann's closed form for CARA).")
MECHANISM = register_mechanism(Mechanism("equilibrium", EquilibriumSpec, solve, METHODS,
                                         "Competitive equilibria of risk exchanges"))
