"""The taxation rule as ONE declarative convex program (the framework path).

On a discrete law of ``S_eps`` (atoms ``s_k > 0`` with probabilities ``p_k``; the atom at zero pays
nothing) the variable is the tax table ``T[i, k] = T_i(s_k)`` and the named constraint groups are

* ``"budget"``:   ``sum_i T[i, k] == s_k``  (one row per atom),
* ``"caps"``:     ``T >= 0`` and ``T <= c_i`` (indemnity and limited liability),
* ``"fairness"``: ``sum_k p_k T[i, k] == e_i`` (AFPO only).

Objectives (``kind``):

Prices are read through the one sign rule, :func:`riskopt.duals.value_derivative`: the budget row
of atom ``k`` prices one more unit of residual claim there, ``d f*/d s_k``.

* ``"weights"``, ``form="disutility"``: ``min E[sum_i alpha_i v_i(T_i)]`` for fixed weights (a
  Parameter): ``d f*/d s_k = p_k Lambda(s_k)``, so ``Lambda(s_k) = value_derivative(y)_k / p_k``;
* ``"weights"``, ``form="log"``: ``min E[sum_i Psi_i(T_i) + a_i T_i]`` with ``a = ln alpha`` (a QP for
  CARA): same rule, ``d f*/d s_k = p_k ln Lambda(s_k)``;
* ``"afpo"``: ``min E[sum_i Psi_i(T_i)]`` subject to fairness (targets are a Parameter):
  ``d f*/d s_k = p_k ln Lambda(s_k)`` and ``d f*/d e_i = -ln alpha_i`` up to a common constant.

For CARA disutilities ``Psi_i(t) = (t^2/2 + h_i t)/g_i``: the AFPO and log-form programs are QPs that
the ``"cvxpy"`` (Clarabel), ``"highs"`` and ``"pyomo"`` backends solve; power disutilities give
entropy terms (exponential cone, cvxpy only). The atoms are those of any finite law: quantile bins
of a law economy's law, or the scenarios with a default of the storm study (its residual ``S_eps``).
The modeler's constraints of a card (``[[constraints]]``: ``tax``, ``tax_share_of_wealth``, per atom
or in expectation) enter through :meth:`TaxationProgram.add_constraints` and come back priced by
:meth:`TaxationProgram.constraint_duals` (``d f*/d rhs``); in Python, any linear constraint on ``T``
by region name (tax floors, regional groupings)::

    prog.add_constraint(lambda t: t["north"] >= 0.1 * t.s)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import cvxpy as cp
import numpy as np
from scipy.special import logsumexp

from ...checks import real_array
from ...constraints import ConstraintSpec
from ...duals import Prices, value_derivative
from ...errors import ModelError
from ...program import Program
from ...space import Scenarios
from ...status import Status
from .constrained import TaxTarget, check_region_constraints
from .disutility import TaxFamily
from .law import describe, nodes

__all__ = ["TaxView", "TaxationProgram"]


class TaxView(Mapping[str, cp.Expression]):
    """What a user constraint receives: ``t["name"]`` (that region's taxes over the atoms), ``t.s``
    (atom values), ``t.p`` (probabilities) and ``t.matrix`` (the whole ``n x K`` variable)."""

    def __init__(self, names: Sequence[str], T: cp.Variable, s: np.ndarray, p: np.ndarray):
        self._index = {nm: i for i, nm in enumerate(names)}
        self.matrix = T
        self.s = s
        self.p = p

    def __getitem__(self, name: str) -> cp.Expression:
        try:
            return self.matrix[self._index[name]]
        except KeyError:
            raise ModelError("region", name, f"one of {list(self._index)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


class TaxationProgram(Program):
    """Taxation rule on a discrete law as a named-block cvxpy program (see the module docstring)."""

    mechanism = "disaster_taxation"

    def __init__(self, family: TaxFamily, law: Scenarios, *, kind: str = "afpo", targets: Any = None,
                 weights: Any = None, form: str = "disutility", names: Sequence[str] | None = None):
        if kind not in ("afpo", "weights"):
            raise ModelError("kind", kind, "'afpo' or 'weights'")
        if form not in ("disutility", "log"):
            raise ModelError("form", form, "'disutility' or 'log'")
        if not isinstance(law, Scenarios):
            raise ModelError("law", type(law).__name__, "a finite law (a Scenarios; use binned(law, k) "
                             "for continuous laws)")
        super().__init__(f"taxation_{kind}" + ("" if kind == "afpo" else f"_{form}"), "min")
        n = family.n
        self.family = family
        self.law = law
        self.kind = kind
        self.form = form
        self.names = tuple(names) if names is not None else tuple(f"region {i + 1}" for i in range(n))
        if len(self.names) != n or len(set(self.names)) != n:
            raise ModelError("names", list(self.names), f"{n} distinct region names")
        s, p = nodes(law)
        if s.size == 0:
            raise ModelError("law", describe(law), "a residual claim positive with positive probability")
        if s.max() > family.caps.sum() * (1 + 1e-12):
            raise ModelError("caps", float(family.caps.sum()),
                             f"total capacity >= max S_eps = {s.max():.10g}")
        self.s, self.p = s, p
        tax = self.variable("taxes", (n, s.size))
        self.constrain("budget", [cp.sum(tax, axis=0) == s], "sum_i T_i(s_k) = s_k; Lambda(s_k) = -dual/p_k")
        self.constrain("caps", [tax >= 0, tax <= family.caps[:, None]], "0 <= T_i <= c_i")
        if kind == "afpo":
            if targets is None:
                raise ModelError("targets", None, "fairness targets E[eps_i] for kind = 'afpo'")
            e = real_array("targets", targets, f"{n} finite targets")
            if e.shape != (n,) or not np.all(np.isfinite(e)):
                raise ModelError("targets", targets, f"{n} finite targets")
            self.targets = self.parameter("targets", n, value=e)
            self.constrain("fairness", [tax @ p == self.targets], "E[T_i] = E[eps_i]; dual = ln alpha_i + c")
            self.set_objective(cp.sum(family.cvx_psi(tax) @ p))
        else:
            if weights is None:
                raise ModelError("weights", None, "fixed weights alpha for kind = 'weights'")
            wts = real_array("weights", weights, f"{n} positive finite weights")
            if wts.shape != (n,) or not np.all(np.isfinite(wts)) or (wts <= 0).any():
                raise ModelError("weights", weights, f"{n} positive finite weights")
            if form == "disutility":
                self.weights = self.parameter("weights", n, value=wts, nonneg=True)
                self.set_objective(self.weights @ (family.cvx_value(tax) @ p))
            else:
                self.weights = self.parameter("log_weights", n, value=np.log(wts))
                self.set_objective(cp.sum(family.cvx_psi(tax) @ p) + self.weights @ (tax @ p))
        self.view = TaxView(self.names, tax, s, p)

    def user_view(self) -> TaxView:
        return self.view

    def add_constraints(self, constraints: Sequence[ConstraintSpec], wealth: Any) -> None:
        """The modeler's constraints (:mod:`.constrained`: ``tax``, ``tax_share_of_wealth`` per atom or
        in expectation), one named group ``constraint:<name>`` each."""
        check_region_constraints(constraints, self.names)
        w = np.asarray(wealth, float)
        if w.shape != (len(self.names),):
            raise ModelError("wealth", w, f"{len(self.names)} wealths, one per region")
        self.declare(constraints, TaxTarget(self.names, self.variables["taxes"], self.s, self.p, w))

    def solver_defaults(self, backend: str, solver: str) -> dict[str, Any]:
        """Tolerances tight enough for ``alpha`` to ~1e-10 (the caller's options win).

        The objective is flat to second order in weakly curved directions (atoms of small
        probability), so default tolerances leave ``T`` wrong by ~1e-5 and ``alpha`` by ~2e-6: HiGHS's
        QP regularisation (default 1e-7) is lowered to 1e-12; Clarabel's gap/feasibility tolerances
        to 1e-12 for QPs (1e-10 for conic forms).
        """
        if backend in ("highs", "pyomo"):
            return {"qp_regularization_value": 1e-12}
        if solver == "CLARABEL":
            tol = 1e-12 if self.kind == "afpo" or self.form == "log" else 1e-10
            return {"tol_gap_abs": tol, "tol_gap_rel": tol, "tol_feas": tol, "tol_ktratio": 1e-10}
        return {}

    def _hint(self, status: Status) -> str:
        if Status(status).base is Status.INFEASIBLE:
            return ("no rule meets the budget, caps, fairness and user constraints together: check the "
                    "attainability of the targets (check_targets) and the user constraints")
        return super()._hint(status)

    def interpret(self, fields: dict[str, Any]) -> dict[str, Any]:
        T = np.asarray(self.variables["taxes"].value, float)
        p = self.p
        y = fields["duals"].get("budget")
        # d f*/d s_k = p_k Lambda(s_k) (disutility form) or p_k ln Lambda(s_k) (log and AFPO forms)
        level = None if y is None else value_derivative(self.sense, np.asarray(y, float).ravel()) / p
        fields["allocation"] = {nm: T[i] for i, nm in enumerate(self.names)}
        fields["aggregate"] = self.s
        ET = T @ p
        extra: dict[str, Any] = {"expected_tax": ET}
        if self.kind == "afpo":
            z = fields["duals"].get("fairness")
            # d f*/d e_i = -ln alpha_i + const: raising region i's fair share saves its weighted cost
            a = None if z is None else -value_derivative(self.sense, np.asarray(z, float).ravel())
            alpha = None if a is None else np.exp(a - logsumexp(a))
            e = np.asarray(self.targets.value, float)
            pos = e > 0
            extra["fairness_residual"] = float(np.max(np.abs(ET - e)[pos] / e[pos], initial=0.0))
            extra["alpha"] = alpha
            lam = None if (level is None or a is None) else np.exp(level - logsumexp(a))
        elif self.form == "disutility":
            wts = np.asarray(self.weights.value, float)
            alpha = wts / wts.sum()
            lam = None if level is None else level / wts.sum()
        else:
            a = np.asarray(self.weights.value, float)
            alpha = np.exp(a - logsumexp(a))
            lam = None if level is None else np.exp(level - logsumexp(a))
        extra["Lambda"] = lam
        fields["prices"] = Prices(note="Lambda(s_k) = d f*/d s_k / p_k from the budget duals (disutility "
                                  "form), exp of it for the log and AFPO forms; weights normalised to "
                                  "sum to 1",
                                  extra={"Lambda": lam, "atoms": self.s})
        fields["values"] = {nm: float(ET[i]) for i, nm in enumerate(self.names)}
        fields["agents"] = tuple({"name": nm, "cap": float(self.family.caps[i]), "expected_tax": float(ET[i]),
                                  "alpha": None if alpha is None else float(alpha[i])}
                                 for i, nm in enumerate(self.names))
        fields["extra"] = extra
        return fields
