"""The equilibrium verifier of the reinsurance market, layer by layer.

Objectives are additive over layers, so a layer-by-layer check is a global check:
:func:`verify_cells` asks, on cell integrals, whether any reinsurer gains by re-pricing a layer
against the others' prices (the insurers best-responding with generous tie-breaking), whether every
insurer best-responds, and whether ties were broken generously; :class:`MarketVerification` holds
the answers (with the pointwise order gap of :func:`.layers.order_gap`) and turns them into the
:class:`~riskopt.status.Check` s that decide a result's status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...data import jsonable
from ...status import Check
from .layers import lowest_two

__all__ = ["SHARE_TOL", "VERIFY_BLOCK", "MarketVerification", "verify_cells"]

#: entries of the (insurers x reinsurers x cells) arrays the verifier handles at once (cache)
VERIFY_BLOCK = 100_000
#: shares within this of 0 or 1 count as bang-bang
SHARE_TOL = 1e-9


@dataclass(frozen=True)
class MarketVerification:
    """Equilibrium checks, layer by layer (objectives are additive over layers, so a layer-by-layer
    check is a global check).

    ``reinsurer_gain[j]``: the most reinsurer j could add to its payoff by re-pricing any layers
    against the others' prices, the insurers best-responding with generous tie-breaking (a
    supremum; <= 0 up to rounding in an equilibrium). ``insurer_gap[i]``: how much insurer i loses
    against its best response to the posted prices. ``generous_violations``: cells where a tie
    between equally cheap options was not broken towards the lowest true preference.
    """

    reinsurer_gain: np.ndarray
    insurer_gap: np.ndarray
    generous_violations: int
    tolerance: float
    #: per insurer: how far the allocation read from cell integrals is from the pointwise rule, the
    #: curves themselves evaluated on a grid of the check's own (:func:`.layers.order_gap`).
    #: The three checks above compare cell integrals with cell integrals *on the same grid*, so a
    #: grid too coarse to hold every crossing passes them with a wrong answer; this one does not.
    order_gap: np.ndarray | None = None

    @property
    def total_order_gap(self) -> float:
        """The pointwise order gap summed over insurers (compared with the tolerance, a total too)."""
        return 0.0 if self.order_gap is None else float(np.sum(self.order_gap))

    @property
    def max_reinsurer_gain(self) -> float:
        return float(np.max(self.reinsurer_gain, initial=0.0))

    @property
    def max_insurer_gap(self) -> float:
        return float(np.max(self.insurer_gap, initial=0.0))

    def checks(self) -> tuple[Check, ...]:
        """The four equilibrium checks (a NaN fails)."""
        return (Check("no reinsurer gains by re-pricing a layer", self.max_reinsurer_gain, self.tolerance),
                Check("every insurer best-responds", self.max_insurer_gap, self.tolerance),
                Check("generous distribution of ties", bool(self.generous_violations == 0),
                      note=f"{self.generous_violations} violations"),
                Check("pointwise order gap", self.total_order_gap, self.tolerance,
                      note="the allocation against the pointwise rule on an independent grid"))

    @property
    def ok(self) -> bool:
        """Every equilibrium check passed."""
        return all(c.passed for c in self.checks())

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: ok, the worst re-pricing gain and best-response gap, violations, order gap."""
        out: dict[str, Any] = jsonable({"ok": self.ok, "max_reinsurer_gain": self.max_reinsurer_gain,
                                        "max_insurer_gap": self.max_insurer_gap,
                                        "generous_violations": self.generous_violations,
                                        "pointwise_order_gap": self.total_order_gap,
                                        "tolerance": self.tolerance})
        return out


def verify_cells(A: np.ndarray, T: np.ndarray, N: np.ndarray, S: np.ndarray, widths: np.ndarray,
                 *, rel_tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray, int]:
    """Layer-by-layer equilibrium check on cell integrals.

    ``A`` (r, G): insurer capacity; ``T`` (r, m, G): true preferences; ``N`` (r, m, G): posted
    prices; ``S`` (r, m, G): ceded shares. Option 0 (retention) has price and true preference ``A``.

    * insurer gap: its cost ``sum_j S_j (N_j - A)`` minus the best, ``min(0, min_j N_j - A)``;
    * generous distribution: every chosen option is among the cheapest (within ``rel_tol``) and
      has the lowest true preference among them;
    * reinsurer j re-pricing a cell can at best undercut the cheapest other option
      ``q_j = min(A, min_{k != j} N_k)``: its supremum payoff is ``(q_j - T_j)^+`` (attained or
      approached, depending on the tie-break), against ``S_j (N_j - T_j)`` now.

    Returns ``(reinsurer_gain (m,), insurer_gap (r,), generous_violations)``. Rows are checked
    in blocks that stay in cache (the arithmetic is a chain of memory-bound passes).
    """
    r, m, G = T.shape
    block = max(1, int(VERIFY_BLOCK // max(1, m * G)))
    gain, gap, bad = np.zeros(m), np.empty(r), 0
    for s in range(0, r, block):
        sl = slice(s, s + block)
        g_, gap[sl], b_ = _verify_block(A[sl], T[sl], N[sl], S[sl], widths[sl], rel_tol)
        gain += g_
        bad += b_
    return gain, gap, bad


def _verify_block(A: np.ndarray, T: np.ndarray, N: np.ndarray, S: np.ndarray, widths: np.ndarray,
                  rel_tol: float) -> tuple[np.ndarray, np.ndarray, int]:
    tol = rel_tol * (np.abs(A) + widths)
    best = np.minimum(A, N.min(axis=1))
    ceded = S.sum(axis=1)
    cost = np.einsum("rjg,rjg->rg", S, N) - A * ceded
    gap = (cost - np.minimum(best - A, 0.0)).sum(axis=1)
    limit = best + tol
    tied_n = limit[:, None, :] >= N
    tied_0 = limit >= A
    best_true = np.minimum(np.where(tied_0, A, np.inf), np.where(tied_n, T, np.inf).min(axis=1))
    worst_ok = best_true + tol
    bad = ((1.0 - ceded > SHARE_TOL) & (~tied_0 | (worst_ok < A))).sum()
    bad += ((S > SHARE_TOL) & (~tied_n | (worst_ok[:, None, :] < T))).sum()
    m = N.shape[1]
    lo, lo_i, sec, _ = lowest_two(N, axis=1)
    others = np.where(np.arange(m)[None, :, None] == lo_i[:, None, :], sec[:, None, :], lo[:, None, :])
    sup = np.maximum(np.minimum(A[:, None, :], others) - T, 0.0)
    gain = (sup - S * (N - T)).sum(axis=(0, 2))
    return gain, gap, int(bad)
