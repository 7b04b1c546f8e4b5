"""Plain-text tables of a reinsurance market: the per-agent table (the paper's Tables 1 and 2), the
equilibrium checks, the prices read from the LP, a side-by-side comparison of two markets (Table 2's
layout) and every insurer's layer pattern."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...report import fit, format_table, number
from .verification import MarketVerification

__all__ = ["comparison_table", "market_table"]

#: the per-agent columns (insurers pay premiums, reinsurers receive them)
COLUMNS = ["name", "initial_risk", "premium_paid", "premium_received", "post_transfer_risk", "welfare_gain"]


def market_table(*, heading: str, rows: Sequence[Mapping[str, Any]], aggregate_risk: float,
                 individually_rational: bool, equilibrium: MarketVerification | None,
                 checks: Mapping[str, float | bool], prices: Sequence[tuple[str, Mapping[str, float]]],
                 comparison: str | None, layers: Sequence[tuple[str, Sequence[Mapping[str, Any]]]],
                 title: str = "") -> str:
    """The report: ``heading`` (what was solved, status), the per-agent ``rows``, the aggregate risk,
    the equilibrium check, the named ``checks``, the ``prices`` (label, values by name), a
    ``comparison`` table and the ``layers`` of each insurer (name, segments)."""
    lines = [title] if title else []
    lines.append(heading)
    lines += ["", format_table(rows, COLUMNS, noun="agents")]
    lines.append(f"\naggregate risk (sum of post-transfer risks): {number(aggregate_risk)}; "
                 f"individually rational: {individually_rational}")
    if equilibrium is not None:
        v = equilibrium
        lines.append(f"equilibrium check: max reinsurer re-pricing gain "
                     f"{float(np.max(v.reinsurer_gain, initial=0)):.1e}, max insurer best-response gap "
                     f"{float(np.max(v.insurer_gap, initial=0)):.1e}, generous-distribution "
                     f"violations {v.generous_violations}, pointwise order gap "
                     f"{v.total_order_gap:.1e}: {'ok' if v.ok else 'FAILED'}")
    for key, val in checks.items():
        lines.append(f"{key}: {_short(val)}")
    for label, values in prices:
        if values:
            lines.append(f"{label}: {_short(values)}")
    if comparison is not None:
        lines += ["", comparison]
    for name, segments in layers:
        rows_ = [{"from": s["from"], "to": s["to"],
                  "held_by": "retained" if s["reinsurer"] is None else s["reinsurer"],
                  "price": "-" if s["reinsurer"] is None else s["price"]} for s in segments]
        lines += ["", f"layers of {name}", format_table(rows_, ["from", "to", "held_by", "price"],
                                                         noun="layers")]
    return fit("\n".join(lines))


def comparison_table(one_kind: str, one: Sequence[Mapping[str, Any]], two_kind: str,
                     two: Sequence[Mapping[str, Any]]) -> str:
    """The paper's Table 2 layout: each agent's risks and gains in two markets side by side."""
    a, b = {r["name"]: r for r in one}, {r["name"]: r for r in two}
    rows = []
    for name in b:
        for key, label in (("initial_risk", "initial risk"), ("post_transfer_risk", "post-transfer risk"),
                           ("welfare_gain", "welfare gain")):
            if key == "initial_risk" and b[name]["role"] == "reinsurer":
                continue
            left = a.get(name, {}).get(key)
            rows.append({"agent": name, "quantity": label, one_kind: left, two_kind: b[name][key]})
    head = f"comparison ({one_kind} | {two_kind})\n"
    return head + format_table(rows, ["agent", "quantity", one_kind, two_kind])


def _short(v: Any) -> str:
    if isinstance(v, float):
        return number(v)
    if isinstance(v, Mapping):
        return ", ".join(f"{k} {_short(x)}" for k, x in v.items())
    return str(v)
