"""Plain-text tables of the distortion mechanisms' results (``riskopt run CARD``).

The functions take the numbers they print (the results call them), so this module imports no result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ...measures.distortion import DistortionFunction

__all__ = ["portfolio_table", "sharing_table"]


def sharing_table(title: str, *, names: Sequence[str], hs: Sequence[DistortionFunction], attitude: str,
                  side: str, states: int, values: Mapping[str, float | None], methods: Mapping[str, str],
                  agent_values: np.ndarray, probabilities: np.ndarray | None, comonotone_values: np.ndarray,
                  checks: Mapping[str, float | str], notes: Sequence[str]) -> str:
    """The three values (in the order of ``values``) with what decided them, one row per agent, the
    checks and the notes."""
    lines = [title] if title else []
    lines.append(f"distortion risk sharing: {len(names)} agents, {attitude}, X {side} on {states} states")
    for k, v in values.items():
        lines.append(f"  {k:<17} {'undetermined' if v is None else f'{v:.10g}':>18}   {methods[k]}")
    head = f"  {'agent':<14} {'distortion':<28} {'value':>14} {'probability':>12} {'comonotone':>14}"
    lines += ["", head, "  " + "-" * (len(head) - 2)]
    for i, nm in enumerate(names):
        prob = "" if probabilities is None else f"{probabilities[i]:.6f}"
        lines.append(f"  {nm:<14} {hs[i].describe():<28} {agent_values[i]:>14.8g} "
                     f"{prob:>12} {comonotone_values[i]:>14.8g}")
    for k, c in checks.items():
        lines.append(f"  check {k}: {c:.3g}" if isinstance(c, float) else f"  check {k}: {c}")
    lines += [f"  note: {n}" for n in notes]
    return "\n".join(lines)


def portfolio_table(title: str, *, agents: int, attitude: str, endowment: float, cost: float,
                    g: DistortionFunction, rho_g: float, scale: float, lambda_closed: float,
                    lambda_brute: float, value_closed: float, value_brute: float,
                    checks: Mapping[str, float | str]) -> str:
    """``lambda*`` by the closed form and by brute force, the optimal value and the checks."""
    lines = [title] if title else []
    lines += [f"portfolio manager: {agents} agents, {attitude}; "
              f"w = {endowment:g}, c(lambda) = {cost:g} lambda^2 (reconstructed wealth)",
              f"  g = {g.describe()}",
              f"  rho_g(xi)            {rho_g:.10g}",
              f"  G(1)                 {scale:.10g}",
              f"  lambda* closed form  {lambda_closed:.10g}",
              f"  lambda* brute force  {lambda_brute:.10g}",
              f"  optimal total risk   {value_closed:.10g} (brute force {value_brute:.10g})"]
    lines += [f"  check {k}: {v:.3g}" if isinstance(v, float) else f"  check {k}: {v}"
              for k, v in checks.items()]
    return "\n".join(lines)
