"""A modeler's own constraints on the taxation rule: the quantities, the program target, the
decomposition.

Quantities (``what``; role ``region``; rows = the positive atoms ``s_k`` of ``S_eps``, the storm's
scenarios with a default, in increasing order):

* ``tax``: ``T_i(s_k)``; ``expected_tax`` = ``E[T_i(S_eps)]`` (scope ``expectation``);
* ``tax_share_of_wealth``: ``T_i(s_k) / w_i`` ("no region pays more than 5 % of its wealth":
  ``rhs = 0.05``); ``expected_tax_share_of_wealth`` = ``E[T_i] / w_i``.

The program path writes them into :class:`~.program.TaxationProgram` (:class:`TaxTarget`). The
decomposition :data:`DECOMPOSITION` exploits two facts:

* the rule is pointwise in ``S_eps``: a per-scenario cap ``T_i(s) <= r_i`` (or ``<= r_i w_i``),
  the same in every scenario, is one more cap of the layer rule, ``c_i -> min(c_i, r_i)``; the AFPO
  Newton of :mod:`.fast` then solves the capped problem exactly (no ``n x N`` program). Its rows'
  duals follow from KKT: with ``u_k = ln Lambda(s_k)`` and ``a = ln alpha``, the multiplier of the
  cap at atom ``k`` is ``p_k (u_k - a_i - phi_i(c_i))^+``, so with the objective
  ``V = E[sum_i Psi_i(T_i)]`` (minimised) ``dV/dr_i = -p_k (u_k - a_i - phi_i(r_i))^+`` per row;
* fairness pins every region's expected tax, ``E[T_i] = E[eps_i]``: a constraint on a group's
  expected tax is a fixed number under AFPO, so it is either slack (dual 0) or infeasible; no
  extra coupling multiplier is needed (the AFPO Newton's multipliers are the fairness ones).

Anything else (floors, per-scenario caps varying by scenario, caps on a group's tax per scenario)
runs on the program.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from ...constraints import ConstraintDual, ConstraintSpec, check_constraints, make_dual
from ...errors import ModelError, SolveError
from ...status import Status
from .disutility import ExponentialFamily, PowerFamily, StackedFamily, TaxFamily
from .fast import AfpoResult
from .law import ResidualLaw, nodes

__all__ = ["DECOMPOSITION", "QUANTITIES", "CapFold", "TaxTarget", "check_region_constraints",
           "decomposition_duals", "fold_caps", "infeasibility", "with_caps"]

#: the name of the structured decomposition (``Result.method``)
DECOMPOSITION = "capped_afpo_newton"
#: what a taxation constraint may read (``what``; ``expected_*`` forms in expectation)
QUANTITIES: Mapping[str, str] = {
    "tax": "T_i(s): the region's tax at each positive atom (scenario with a default) of S_eps",
    "tax_share_of_wealth": "T_i(s) / w_i: the region's tax as a share of its wealth",
}


def check_region_constraints(constraints: Sequence[ConstraintSpec], names: Sequence[str]) -> None:
    """Unknown regions, quantities, a law other than P (regions have no own law): ``ModelError``."""
    check_constraints(constraints, {"region": list(names)}, QUANTITIES)
    for k, c in enumerate(constraints):
        if c.law != "P":
            raise ModelError(f"constraints[{k}].law", c.law, '"P" (regions have no law of their own)')


class TaxTarget:
    """The :class:`~riskopt.constraints.ConstraintTarget` of a taxation program: ``T`` (regions x
    positive atoms), the atoms' probabilities, the wealths."""

    quantities = QUANTITIES

    def __init__(self, names: Sequence[str], T: cp.Variable, s: np.ndarray, p: np.ndarray,
                 wealth: np.ndarray):
        self.roles = {"region": tuple(names)}
        self._index = {nm: i for i, nm in enumerate(names)}
        self.T, self.s, self.p, self.wealth = T, s, p, np.asarray(wealth, float)

    def quantity(self, what: str, role: str, name: str) -> cp.Expression:
        i = self._index[name]
        row = self.T[i]
        return row if what == "tax" else row / float(self.wealth[i])

    def law(self, role: str, name: str, law: str) -> np.ndarray:
        return self.p

    def aggregate(self) -> np.ndarray:
        return self.s


@dataclass(frozen=True)
class CapFold:
    """Per-scenario caps folded into the rule: ``caps`` (the tighter of capacity and user caps) and,
    per folded constraint, the region and ``d cap / d rhs``."""

    caps: np.ndarray
    folded: Mapping[str, tuple[int, float]]
    expectations: tuple[ConstraintSpec, ...]


def fold_caps(constraints: Sequence[ConstraintSpec], names: Sequence[str], wealth: np.ndarray,
              caps: np.ndarray) -> CapFold | None:
    """The constraints as caps of the layer rule, or ``None`` when one is not a per-region cap
    constant across scenarios (``sense "<="``, one region, a positive coefficient, one number as
    ``rhs``, no aggregate multiple) nor an expectation (pinned by fairness)."""
    index = {nm: i for i, nm in enumerate(names)}
    out = np.array(caps, float)
    folded: dict[str, tuple[int, float]] = {}
    expectations = []
    for c in constraints:
        if c.rows == "expectation":
            expectations.append(c)
            continue
        members = c.members(list(names))
        coef = 1.0 if c.coefficients is None else float(c.coefficients[0])
        if (c.sense != "<=" or len(members) != 1 or coef <= 0 or np.ndim(c.rhs) != 0
                or c.aggregate_multiple != 0.0 or c.what not in QUANTITIES):
            return None
        i = index[members[0]]
        scale = coef / (float(wealth[i]) if c.quantity == "tax_share_of_wealth" else 1.0)
        folded[c.name] = (i, 1.0 / scale)  # cap = rhs / scale
        out[i] = min(out[i], float(c.rhs) / scale)  # type: ignore[arg-type]
    return CapFold(out, folded, tuple(expectations))


def with_caps(family: TaxFamily, caps: np.ndarray) -> TaxFamily | None:
    """``family`` with other caps, where the caps are only bounds of the tax (exponential and power
    families; ``None`` for utility families, whose disutility depends on the cap)."""
    if isinstance(family, (ExponentialFamily, PowerFamily)):
        if isinstance(family, PowerFamily) and np.any(caps >= family.B):
            return None
        out = copy.copy(family)
        out.caps = np.asarray(caps, float)
        return out
    if isinstance(family, StackedFamily):
        parts = [with_caps(m, caps[g]) for m, g in zip(family.members, family.groups, strict=True)]
        if any(p is None for p in parts):
            return None
        return StackedFamily([p for p in parts if p is not None], family.groups)
    return None


def infeasibility(why: str, constraints: Sequence[ConstraintSpec]) -> SolveError:
    """The decomposition's infeasibility (exit 3), naming the user constraints."""
    return SolveError(Status.INFEASIBLE, backend="riskopt", solver=DECOMPOSITION,
                      hint=f"{why}; your constraints: " + ", ".join(c.name for c in constraints))


def _expectation_duals(fold: CapFold, names: Sequence[str], wealth: np.ndarray, expected_tax: np.ndarray,
                       constraints: Sequence[ConstraintSpec]) -> dict[str, ConstraintDual]:
    """Expectation constraints at the AFPO: fixed numbers (fairness pins ``E[T_i]``), so slack with
    dual 0, or infeasible."""
    index = {nm: i for i, nm in enumerate(names)}
    out = {}
    for c in fold.expectations:
        members = c.members(list(names))
        coef = np.ones(len(members)) if c.coefficients is None else np.asarray(c.coefficients, float)
        idx = np.array([index[m] for m in members])
        scale = 1.0 / wealth[idx] if c.quantity == "tax_share_of_wealth" else np.ones(idx.size)
        lhs = float(np.sum(coef * scale * expected_tax[idx]))
        rhs = float(c.rhs)  # type: ignore[arg-type]
        if c.aggregate_multiple:
            rhs += c.aggregate_multiple * float(expected_tax.sum())
        slack = lhs - rhs if c.sense == ">=" else rhs - lhs
        tol = 1e-9 * max(1.0, abs(rhs))  # the AFPO's fairness accuracy (residual <= 1e-11 relative)
        if (slack < -tol) or (c.sense == "==" and abs(slack) > tol):
            raise infeasibility(f"constraint '{c.name}' asks {c.what} {c.sense} {rhs:.10g} but fairness "
                             f"fixes it at {lhs:.10g} (E[T_i] = E[eps_i])", constraints)
        out[c.name] = make_dual(c, np.zeros(1), np.array([slack]), np.array([max(1.0, abs(rhs))]))
    return out


def decomposition_duals(fold: CapFold, res: AfpoResult, names: Sequence[str], wealth: np.ndarray,
                        law: ResidualLaw, constraints: Sequence[ConstraintSpec]) -> dict[str, ConstraintDual]:
    """Every constraint's dual ``d V / d rhs`` (``V = E[sum_i Psi_i(T_i)]``, minimised) and slack
    at the capped AFPO ``res`` (see the module docstring), rows = the positive atoms of ``law`` (for a
    continuous law, its quadrature nodes between the rule's kinks: their sum is exact)."""
    s, p = nodes(law, res.rule.s)  # exact for the rule's piecewise-smooth integrands
    u = res.rule.log_lambda(s)
    T = res.rule.taxes(s)
    fam = res.family
    phi_cap = fam.phi(fam.caps)
    out: dict[str, ConstraintDual] = {}
    for c in constraints:
        if c.name not in fold.folded:
            continue
        i, per = fold.folded[c.name]  # cap_i = rhs * per
        cap = float(c.rhs) * per  # type: ignore[arg-type]
        owns = cap <= fam.caps[i] * (1 + 1e-15)  # the user's cap is the rule's cap of region i
        nu = np.maximum(u - res.a[i] - phi_cap[i], 0.0) * p if owns else np.zeros(s.size)
        slack = (cap - T[i]) / per
        out[c.name] = make_dual(c, -nu * per, slack, np.maximum(1.0, abs(float(c.rhs))))  # type: ignore[arg-type]
    out.update(_expectation_duals(fold, names, wealth, res.expected_tax, constraints))
    return {c.name: out[c.name] for c in constraints}
