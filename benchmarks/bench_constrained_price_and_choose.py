"""Price-and-choose with a capped share (issue 13): 500 farmers, one farmer's share capped, <= 30 s,
welfare to 1e-8 relative of an independent route.

**constrained_price_and_choose** (n = 500: the instance of ``models/hurricane_pool_500.toml``, seed
2505, credal own-hit intervals [0.5 p_i, 1.5 p_i], max-min entropic utilities, 118 kept atoms of X;
quick: the same card at n = 50). The least risk-averse farmer's share of the aggregate loss is capped
at half of his unconstrained average share, ``f_j(x_k) >= r x_k`` on every kept atom (``what =
"share_of_aggregate"``): the cap binds on the atoms that carry the mass.

* *riskopt (method = "auto")*: a constrained spec runs the conic program over C on the kept atoms
  (``pareto.welfare`` over AnchoredComonotone, Clarabel at riskopt's defaults; riskopt's KKT polish
  is tried, and kept at n = 50, rejected at n = 500)
  with the credal sets as the worst-case (all-high) laws on C (``[welfare] credal_program = "auto"``:
  the same program as the max-min epigraphs on C, one exponential cone per atom and farmer instead of
  one per vertex), certified with the cap's dual in the stationarity rows. Target: <= 30 s.
* *hand-written cvxpy*: the same program written directly in cvxpy (``F`` with the anchor column at
  0, budget and monotonicity rows, one vectorised ``log_sum_exp`` of ``log pi^i - gamma_i F_i``, the
  cap row), Clarabel at tight tolerances (1e-10, which it reports as optimal_inaccurate at n = 500):
  an independent formulation of the program.
  ``W_rel_err`` is riskopt's welfare against it (target 1e-8); ``dual_max_rel_err`` the largest
  difference of the cap's duals over atoms, relative to the largest dual.
* *log-price Newton (unconstrained)*: the fast path without the cap (W* of the unconstrained pool,
  an upper bound), for the price of the cap.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import cvxpy as cp
import numpy as np

from riskopt.cards import parse_card, read_card_data, set_path
from riskopt.constraints import ConstraintSpec
from riskopt.mechanisms import price_and_choose as pc

from .harness import Family, Runner, register

CARD = Path(__file__).resolve().parents[1] / "models" / "hurricane_pool_500.toml"
#: the cap as a fraction of the farmer's unconstrained average share (binding: < 1)
CAP_FRACTION = 0.5
#: Clarabel's tolerances for the hand-written reference (tighter than the 1e-8 it is compared at)
TIGHT = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10, "tol_ktratio": 1e-8}


def case(n: int) -> dict[str, Any]:
    data, source = read_card_data(CARD)
    set_path(data, "pool.count", n)
    set_path(data, "space.p", {"uniform": [0.02, 0.2], "n": n})
    spec = dataclasses.replace(parse_card(data, source).spec, menu=None)
    fast = pc.solve(spec, method="fast")
    j = int(np.argmin(spec.pool.gammas))
    cap = ConstraintSpec(name="share cap", agent=spec.pool.names[j], what="share_of_aggregate", sense=">=",
                         rhs=CAP_FRACTION * float(fast.optimum.optimum.average_shares[j]))
    po = fast.optimum
    return {"spec": spec.add_constraint(cap), "cap": cap, "j": j, "atoms": po.atoms, "laws": po.laws.worst,
            "gammas": spec.pool.gammas, "unconstrained": fast.welfare}


def riskopt_auto(inp: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    res = pc.solve(inp["spec"])
    total = time.perf_counter() - t0
    c = res.constraints[inp["cap"].name]
    sol = res.optimum.optimum.solution
    assert sol is not None
    inp["riskopt"] = res  # for the reference runner's comparison
    return {"total_s": total, "compile_s": sol.solver.compile_s, "solve_s": sol.solver.solve_s,
            "status": str(res.status), "method": res.method, "W": res.welfare,
            "binding_atoms": int(np.sum(c.binding[1:])), "dW_dshare": float(c.dual @ res.optimum.atoms.X),
            "residual": res.residual}


def hand_written(inp: dict[str, Any]) -> dict[str, Any]:
    """The welfare program over C with the cap, written directly in cvxpy (module docstring)."""
    X, g, laws, j = inp["atoms"].X, inp["gammas"], inp["laws"], inp["j"]
    n, S = laws.shape
    t0 = time.perf_counter()
    free = cp.Variable((n, S - 1))
    F = cp.hstack([np.zeros((n, 1)), free])
    logpi = np.log(laws)
    values = -cp.multiply(1.0 / g, cp.log_sum_exp(logpi - cp.multiply(g[:, None], F), axis=1))
    cap = F[j, :] >= inp["cap"].rhs * X
    rows = [cp.sum(free, axis=0) == X[1:], F[:, 1:] <= F[:, :-1], cap]
    problem = cp.Problem(cp.Maximize(cp.sum(values)), rows)
    problem.solve(solver="CLARABEL", **TIGHT)
    total = time.perf_counter() - t0
    out: dict[str, Any] = {"total_s": total, "status": problem.status, "W": problem.value,
                           "solve_s": problem.solver_stats.solve_time}
    res = inp.get("riskopt")
    if res is not None and problem.value is not None:
        out["W_rel_err"] = abs(res.welfare - problem.value) / abs(problem.value)
        dual = np.asarray(cap.dual_value, float)  # cvxpy's >= dual in a maximisation: -dW*/d rhs
        ours = res.constraints[inp["cap"].name].dual
        out["dual_max_rel_err"] = float(np.max(np.abs(ours[1:] + dual[1:])) / np.max(np.abs(dual[1:])))
    return out


def newton_unconstrained(inp: dict[str, Any]) -> dict[str, Any]:
    spec = dataclasses.replace(inp["spec"], constraints=())
    t0 = time.perf_counter()
    res = pc.solve(spec, method="fast")
    return {"total_s": time.perf_counter() - t0, "status": str(res.status), "method": res.method,
            "W": res.welfare}


FAMILY = register(Family(
    name="constrained_price_and_choose",
    case=case,
    sizes=[500],
    quick_sizes=[50],
    description="price-and-choose, 500 farmers (credal own-hit), the least risk-averse farmer's share "
                "capped: riskopt's constrained program vs the same program hand-written in cvxpy",
    notes=__doc__,
    columns=["size", "runner", "status", "method", "total_s", "compile_s", "solve_s", "W", "W_rel_err",
             "dual_max_rel_err", "binding_atoms", "dW_dshare", "residual"],
    repeat=1,
    runners=[Runner("riskopt (method = auto: program + cap)", riskopt_auto),
             Runner("hand-written cvxpy + cap (Clarabel 1e-10)", hand_written),
             Runner("log-price Newton (unconstrained)", newton_unconstrained)],
))
