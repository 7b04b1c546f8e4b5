"""Plain-text tables of the distortion mechanisms' results (``riskopt run CARD``).

The functions take the numbers they print (the results call them), so this module imports no result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ...measures.distortion import DistortionFunction
from ...report import fit, format_table, number, plural, rounded

__all__ = ["portfolio_table", "sharing_table"]


def sharing_table(title: str, *, names: Sequence[str], hs: Sequence[DistortionFunction], attitude: str,
                  side: str, states: int, values: Mapping[str, float | None], methods: Mapping[str, str],
                  agent_values: np.ndarray, probabilities: np.ndarray | None, comonotone_values: np.ndarray,
                  checks: Mapping[str, float | str], notes: Sequence[str]) -> str:
    """The three values (in the order of ``values``) with what decided them, one row per agent, the
    checks and the notes."""
    lines = [title] if title else []
    sign = {"nonnegative": "never negative", "nonpositive": "never positive"}.get(side, "of either sign")
    lines.append(f"distortion risk sharing: {plural(len(names), 'agent')}, {attitude.replace('_', '-')}; "
                 f"the total X is {sign} on {plural(states, 'state')}")
    rows = [{"problem": k.replace("_", "-"), "value": "undetermined" if v is None else v,
             "decided_by": methods[k]} for k, v in values.items()]
    lines += ["", format_table(rows, ["problem", "value", "decided_by"])]
    agents = [{"agent": nm, "distortion": hs[i].describe(), "value": float(agent_values[i]),
               "probability": None if probabilities is None else float(probabilities[i]),
               "comonotone": float(comonotone_values[i])} for i, nm in enumerate(names)]
    lines += ["", format_table(agents, ["agent", "distortion", "value", "probability", "comonotone"],
                               noun="agents"), ""]
    lines += _checks(checks)
    lines += [f"note: {rounded(n)}" for n in notes]
    return fit("\n".join(lines))


def _checks(checks: Mapping[str, float | str]) -> list[str]:
    return [f"check {k}: {number(c, 3)}" if isinstance(c, float) else f"check {k}: {c}"
            for k, c in checks.items()]


def portfolio_table(title: str, *, agents: int, attitude: str, endowment: float, cost: float,
                    g: DistortionFunction, rho_g: float, scale: float, lambda_closed: float,
                    lambda_brute: float, value_closed: float, value_brute: float,
                    checks: Mapping[str, float | str]) -> str:
    """``lambda*`` by the closed form and by brute force, the optimal value and the checks."""
    lines = [title] if title else []
    lines += [f"portfolio manager: {plural(agents, 'agent')}, {attitude.replace('_', '-')}; "
              f"w = {number(endowment)}, c(lambda) = {number(cost)} lambda^2 (reconstructed wealth)",
              f"  g = {g.describe()}",
              f"  rho_g(xi)            {number(rho_g)}",
              f"  G(1)                 {number(scale)}",
              f"  lambda* closed form  {number(lambda_closed)}",
              f"  lambda* brute force  {number(lambda_brute)}",
              f"  optimal total risk   {number(value_closed)} (brute force {number(value_brute)})"]
    lines += ["  " + c for c in _checks(checks)]
    return fit("\n".join(lines))
