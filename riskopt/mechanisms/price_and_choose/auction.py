"""The first-mover auction (Ogaku 2025, Section 5; Echenique and Nunez's equal-rebate auction).

Every player bids ``b_i >= 0``; a winner is drawn uniformly from the highest bidders, pays his bid
and moves first; each of the ``n - 1`` others receives ``b / (n - 1)``. Transfers are cash, so by cash
invariance they add to the P&C payoffs: winning is worth ``Avg_i + eta - b``, losing
``Avg_i + b / (n - 1)``. The value of winning, ``eta``, is the same for every player, so indifference
gives the symmetric bid ``b* = (n - 1) eta / n`` and expected payoffs ``Avg_i + eta / n`` (summing to
W*). Every bid at most ``b*`` is a best reply to the others at ``b*`` (the equilibrium is weak);
:func:`first_mover_auction` checks unilateral deviations by evaluating the auction's rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DEVIATION_FACTORS", "Auction", "expected_payoff", "expected_payoffs", "first_mover_auction"]

#: bids tried against the others' b*: b* times these factors
DEVIATION_FACTORS = (0.0, 0.5, 0.9, 0.999, 1.0, 1.001, 1.1, 2.0)


def expected_payoff(i: int, bids: np.ndarray, avg: np.ndarray, eta: float) -> float:
    """Player ``i``'s expected payoff under the auction's rules for the bid vector ``bids``: a
    winner ``w`` drawn uniformly among the highest bidders pays ``b_w`` and gets ``Avg_w + eta``
    (he moves first); everyone else receives ``b_w / (n - 1)`` on top of his ``Avg``."""
    bids = np.asarray(bids, float)
    n = bids.size
    winners = np.flatnonzero(bids >= bids.max())
    rebates = bids[winners] / (n - 1)
    as_loser = avg[i] + rebates[winners != i]
    total = float(as_loser.sum())
    if i in winners:
        total += avg[i] + eta - bids[i]
    return total / winners.size


def expected_payoffs(bids: np.ndarray, avg: np.ndarray, eta: float) -> np.ndarray:
    """Every player's expected payoff (:func:`expected_payoff`)."""
    return np.array([expected_payoff(i, bids, avg, eta) for i in range(len(avg))])


@dataclass(frozen=True)
class Auction:
    """The symmetric equilibrium and its deviation check."""

    bid: float
    payoffs: np.ndarray
    loser_receives: float
    deviation_factors: tuple[float, ...]
    deviation_gains: np.ndarray

    @property
    def max_deviation_gain(self) -> float:
        return float(self.deviation_gains.max())

    def to_dict(self) -> dict[str, Any]:
        return {"bid": self.bid, "payoffs": self.payoffs, "loser_receives": self.loser_receives,
                "deviation_factors": list(self.deviation_factors),
                "max_deviation_gain": self.max_deviation_gain}


def first_mover_auction(avg: np.ndarray, eta: float,
                        factors: tuple[float, ...] = DEVIATION_FACTORS) -> Auction:
    """``b* = (n-1) eta / n``, payoffs ``Avg_i + eta / n``, and every player's gain from bidding
    ``b* x factor`` while the others bid ``b*`` (never positive beyond rounding)."""
    avg = np.asarray(avg, float)
    n = avg.size
    bid = (n - 1) * eta / n
    equal = np.full(n, bid)
    base = expected_payoffs(equal, avg, eta)
    gains = np.zeros((n, len(factors)))
    for i in range(n):
        for j, f in enumerate(factors):
            bids = equal.copy()
            bids[i] = bid * f
            gains[i, j] = expected_payoff(i, bids, avg, eta) - base[i]
    return Auction(bid, base, bid / (n - 1), tuple(factors), gains)
