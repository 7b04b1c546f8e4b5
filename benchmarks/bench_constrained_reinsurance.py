"""Reinsurance market with a modeler's constraints at the issue's size: n = 100 insurers, m = 10
reinsurers, G = 2000 layer cells per insurer (the instance of ``bench_reinsurance``), a capacity per
reinsurer and a retention floor per insurer, target <= 30 s.

Constraints (``riskopt.constraints.ConstraintSpec``, as ``[[constraints]]`` would give them): every
insurer keeps at least 30 % of its expected loss (``expected_retention >= 0.3 E[X_i]``, n rows), and
every reinsurer writes a total limit of at most 70 % of what it writes unconstrained (``limit <=
K_j``, m rows; a reinsurer that writes nothing gets none). Runners: the pointwise SPNE (no
constraints), the Pareto layer LP without constraints (dual premiums: one solve), and with them.
``binding`` counts the binding constraints; ``constraint_dual`` is the first insurer's floor's
``dV*/d rhs``. The coupling rows take away what makes the unconstrained LP fast (presolve solves its
cells one by one): on every cell HiGHS' simplex pivots about once per layer cell (n = 10: 30 s).
The constrained runner is the working-set solve (``pareto``'s default for one-row constraints):
the LP on merged cells, split where the duals say a fine cell is not optimal, until every one is;
``compile_s``/``solve_s`` are its last round's, ``rounds``/``lp_cells`` say how far it refined. At
n = 10 the runner "... on every cell" is the reference it equals (``V_diff``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from riskopt.constraints import ConstraintSpec
from riskopt.mechanisms.reinsurance import pareto

from .bench_reinsurance import G, market
from .harness import Family, Runner, register

FLOOR, CAPACITY_SHARE = 0.3, 0.7


def case(n: int, m: int = 10) -> dict[str, Any]:
    mk = market(n, m)
    free = pareto(mk, cells=G, nodes=2, premiums="dual")
    widths = np.diff(free.layers.edges, axis=1)
    written = np.einsum("img,ig->m", np.stack([free.layers.shares(i, m) for i in range(n)]), widths)
    cons = [ConstraintSpec(name=f"retention {ins.name}", insurer=ins.name, what="expected_retention",
                           sense=">=", rhs=0.0, aggregate_multiple=FLOOR) for ins in mk.insurers]
    cons += [ConstraintSpec(name=f"capacity {re.name}", reinsurer=re.name, what="limit", sense="<=",
                            rhs=float(CAPACITY_SHARE * written[j]))
             for j, re in enumerate(mk.reinsurers) if written[j] > 0]
    return {"market": mk, "constraints": cons}


def spne(inp: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    out = inp["market"].spne(cells=G, nodes=2, verify=False)
    return {"total_s": time.perf_counter() - t0, "status": "pointwise", "objective": out.aggregate_risk}


def layer_lp(constrained: bool, working_set: bool = True) -> Any:
    def run(inp: dict[str, Any]) -> dict[str, Any]:
        cons = inp["constraints"] if constrained else ()
        t0 = time.perf_counter()
        out = pareto(inp["market"], cells=G, nodes=2, premiums="dual", constraints=cons,
                     working_set=working_set)
        row: dict[str, Any] = {"total_s": time.perf_counter() - t0, "status": out.status.value,
                               "objective": out.objective}
        assert out.solver is not None and out.grid is not None
        row.update(compile_s=out.solver.compile_s, solve_s=out.solver.solve_s,
                   iterations=out.solver.iterations, variables=out.grid.lp_variables)
        if cons:
            binding = sum(bool(np.any(c.binding)) for c in out.constraints.values())
            row.update(constraints=len(cons), binding=binding,
                       constraint_dual=float(out.constraints[cons[0].name].dual[0]),
                       rounds=out.checks.get("working-set rounds"),
                       lp_cells=out.checks.get("working-set LP cells"))
            inp.setdefault("values", {})[working_set] = out.objective
            if len(inp["values"]) == 2:
                row["V_diff"] = abs(inp["values"][True] - inp["values"][False])
        return row

    return run


CONSTRAINED_REINSURANCE = register(Family(
    name="constrained_reinsurance",
    case=case,
    sizes=[10, 100],
    quick_sizes=[2],
    description="reinsurance layer LP with a capacity per reinsurer and a retention floor per insurer, "
                "m = 10, G = 2000 (target: n = 100 in <= 30 s)",
    notes=__doc__,
    columns=["size", "runner", "status", "total_s", "compile_s", "solve_s", "iterations", "variables",
             "rounds", "lp_cells", "objective", "V_diff", "constraints", "binding", "constraint_dual"],
    ratio_to="pointwise spne (unconstrained)",
    repeat=1,
    runners=[Runner("pointwise spne (unconstrained)", spne),
             Runner("layer LP (unconstrained)", layer_lp(False)),
             Runner("layer LP + capacities + retention floors", layer_lp(True)),
             Runner("layer LP + capacities + retention floors, on every cell", layer_lp(True, False),
                    max_size=10, note="n = 100: far beyond 30 s (HiGHS pivots once per cell)")],
))
