"""The four financing schemes of the storm study and their comparison (paper Fig. 12-13).

Payments ``l_i`` per scenario (``pi_i`` premiums, ``k`` premium income, ``K`` capital, ``s_i``
surplus shares, ``eps_i`` residual claims):

1. **baseline** (no insurance, no tax): ``l_i = X_i``;
2. **insurance**: ``pi_i - s_i (k - S)`` on ``Omega_+`` (``S < k``), ``pi_i`` on ``Omega_=``
   (``k <= S <= K``), ``pi_i + eps_i`` on ``Omega_-`` (``S > K``: the insurer pays ``K X_i / S``);
3. **pure** risk sharing (no insurer): ``l_i = T_i^pure(S)``, the AFPO rule of ``S`` with caps
   ``w_i`` and targets ``E[X_i]``;
4. **hybrid**: insurance, plus the AFPO taxation of ``S_eps = (S - K)^+`` with caps ``w_i - pi_i`` and
   targets ``E[eps_i]``: ``l_i = pi_i + T_i(S_eps)`` on ``Omega_-``.

For each scheme, region and scenario set ``A`` the comparison reports ``E[v(l_i) | A]`` and the
differences insurance - baseline, pure - baseline, hybrid - insurance (0 outside ``Omega_-``).

Everything is computed from *additive block sums* (:func:`insurance_sums`, :func:`sharing_sums`), so
the same code serves an in-memory sample and a study split into blocks across processes or dask
workers (:mod:`.economy`): block partial sums combined in block order give identical results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .disutility import PaymentDisutility
from .layers import TaxLayers

__all__ = ["SETS", "InsuranceSums", "SchemeComparison", "SingleEvent", "compare_schemes", "insurance_sums",
           "scenario_sets", "sharing_sums", "single_event"]

SETS = ("favourable", "intermediate", "default")  # Omega_+, Omega_=, Omega_-
SET_SYMBOLS = ("Omega_+", "Omega_=", "Omega_-")
SCHEMES = ("baseline", "insurance", "pure", "hybrid")


def scenario_sets(total: np.ndarray, k: float, K: float) -> np.ndarray:
    """0 on ``Omega_+`` (``S < k``), 1 on ``Omega_=`` (``k <= S <= K``), 2 on ``Omega_-`` (``S > K``)."""
    return np.where(total < k, 0, np.where(total <= K, 1, 2)).astype(np.int8)


def _set_weights(code: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``(m, 3)`` matrix ``p_s 1{s in A}``."""
    W = np.zeros((code.size, 3))
    W[np.arange(code.size), code] = p
    return W


@dataclass
class InsuranceSums:
    """Additive sums over scenarios (one block or all): set masses, ``sum p X``, ``sum p eps``
    and ``sum p v(l) 1_A`` for the baseline and insurance schemes (n x 3)."""

    mass: np.ndarray
    loss: np.ndarray
    eps: np.ndarray
    baseline: np.ndarray
    insurance: np.ndarray

    def __add__(self, other: InsuranceSums) -> InsuranceSums:
        return InsuranceSums(*(getattr(self, f) + getattr(other, f) for f in
                               ("mass", "loss", "eps", "baseline", "insurance")))


def insurance_sums(X: np.ndarray, p: np.ndarray, premiums: np.ndarray, k: float, K: float,
                   surplus: np.ndarray, disutility: PaymentDisutility, wealth: np.ndarray) -> InsuranceSums:
    """Block sums of the baseline and insurance schemes for losses ``X`` (n x m), weights ``p``."""
    S = X.sum(axis=0)
    code = scenario_sets(S, k, K)
    Wt = _set_weights(code, p)
    base = disutility.value(X, wealth) @ Wt
    n = X.shape[0]
    ins = np.zeros((n, 3))
    mass = Wt.sum(axis=0)
    fav = code == 0
    if fav.any() and np.any(surplus != 0):
        lf = premiums[:, None] - surplus[:, None] * (k - S[fav])[None, :]
        ins[:, 0] = disutility.value(lf, wealth) @ p[fav]
    else:
        ins[:, 0] = disutility.value(premiums, wealth) * mass[0]
    ins[:, 1] = disutility.value(premiums, wealth) * mass[1]
    eps = np.zeros(n)
    dflt = code == 2
    if dflt.any():
        e = X[:, dflt] * (1.0 - K / S[dflt])[None, :]
        eps = e @ p[dflt]
        ins[:, 2] = disutility.value(premiums[:, None] + e, wealth, overwrite=True) @ p[dflt]
    return InsuranceSums(mass, X @ p, eps, base, ins)


def sharing_sums(S: np.ndarray, p: np.ndarray, k: float, K: float, pure: TaxLayers, hybrid: TaxLayers,
                 premiums: np.ndarray, disutility: PaymentDisutility, wealth: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Block sums ``sum p v(l) 1_A`` (n x 3) of the pure and hybrid schemes: functions of ``S`` only.

    The hybrid equals insurance outside ``Omega_-``; those two columns are filled by the caller."""
    code = scenario_sets(S, k, K)
    Wt = _set_weights(code, p)
    pure_sums = disutility.value(pure.taxes(S), wealth, overwrite=True) @ Wt
    hyb = np.zeros((premiums.size, 3))
    dflt = code == 2
    if dflt.any():
        T = hybrid.taxes(S[dflt] - K)
        T += premiums[:, None]
        hyb[:, 2] = disutility.value(T, wealth, overwrite=True) @ p[dflt]
    return pure_sums, hyb


@dataclass(frozen=True)
class SchemeComparison:
    """``means[scheme]``: ``E[v(l_i) | A]`` (n x 3, ``None`` rows never occur: empty sets give 0
    with ``probability = 0``); ``differences``: the paper's three maps."""

    names: tuple[str, ...]
    probability: np.ndarray
    means: dict[str, np.ndarray]
    disutility: str

    @property
    def differences(self) -> dict[str, np.ndarray]:
        m = self.means
        return {"insurance - baseline": m["insurance"] - m["baseline"],
                "pure - baseline": m["pure"] - m["baseline"],
                "hybrid - insurance": m["hybrid"] - m["insurance"]}

    def summary(self) -> list[dict[str, Any]]:
        """Per set and difference: mean over regions and share of regions better off (< 0)."""
        rows = []
        for j, name in enumerate(SETS):
            for label, diff in self.differences.items():
                d = diff[:, j]
                rows.append({"set": SET_SYMBOLS[j], "name": name, "probability": float(self.probability[j]),
                             "difference": label, "mean_over_regions": float(d.mean()),
                             "share_better_off": float(np.mean(d < 0)),
                             "share_worse_off": float(np.mean(d > 0))})
        return rows

    def to_dict(self) -> dict[str, Any]:
        from ...data import jsonable

        out: dict[str, Any] = jsonable({"disutility": self.disutility,
                         "sets": {s: {"symbol": SET_SYMBOLS[j], "probability": self.probability[j]}
                                  for j, s in enumerate(SETS)},
                         "summary": self.summary(),
                         "per_region": {name: {sch: dict(zip(SETS, self.means[sch][i], strict=True))
                                               for sch in SCHEMES}
                                        for i, name in enumerate(self.names)}})
        return out


def compare_schemes(names: tuple[str, ...], ins: InsuranceSums, pure_sums: np.ndarray,
                    hybrid_default: np.ndarray, disutility: PaymentDisutility) -> SchemeComparison:
    """Conditional means from the summed blocks."""
    mass = ins.mass
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(mass > 0, 1.0 / np.where(mass > 0, mass, 1.0), 0.0)
    hybrid = ins.insurance.copy()
    hybrid[:, 2] = hybrid_default[:, 2]
    means = {"baseline": ins.baseline * scale, "insurance": ins.insurance * scale,
             "pure": pure_sums * scale, "hybrid": hybrid * scale}
    return SchemeComparison(names, mass.copy(), means, disutility.describe())


@dataclass(frozen=True)
class SingleEvent:
    """One scenario in detail (the paper's Figure 13): losses, insurer payments, residual claims,
    taxes and payments per region, and the net transfer ``T_i - eps_i`` (> 0: pays into the pool)."""

    index: int
    S: float
    S_eps: float
    scenario_set: str
    table: dict[str, np.ndarray] = field(default_factory=dict)

    def rows(self, names: tuple[str, ...]) -> list[dict[str, Any]]:
        keys = list(self.table)
        return [{"name": nm, **{k: float(self.table[k][i]) for k in keys}} for i, nm in enumerate(names)]


def single_event(index: int, x: np.ndarray, premiums: np.ndarray, k: float, K: float, surplus: np.ndarray,
                 pure: TaxLayers, hybrid: TaxLayers, disutility: PaymentDisutility,
                 wealth: np.ndarray) -> SingleEvent:
    """Payments of every scheme in the scenario with losses ``x`` (one column)."""
    S = float(x.sum())
    code = int(scenario_sets(np.array([S]), k, K)[0])
    s_eps = max(S - K, 0.0)
    paid = x * K / S if code == 2 else x.copy()
    eps = x - paid
    tax = hybrid.taxes(np.array([s_eps]))[:, 0] if code == 2 else np.zeros_like(x)
    pure_tax = pure.taxes(np.array([S]))[:, 0]
    ins = premiums - surplus * (k - S) if code == 0 else premiums + eps
    hyb = premiums + tax if code == 2 else ins
    v = {name: disutility.value(pay, wealth) for name, pay in
         (("baseline", x), ("insurance", ins), ("pure", pure_tax), ("hybrid", hyb))}
    table = {"loss": x, "insurer_pays": paid, "residual_claim": eps, "tax_hybrid": tax,
             "net_transfer_hybrid": tax - eps, "tax_pure": pure_tax, "net_transfer_pure": pure_tax - x,
             "payment_baseline": x, "payment_insurance": ins, "payment_pure": pure_tax, "payment_hybrid": hyb,
             "v_hybrid_minus_insurance": v["hybrid"] - v["insurance"],
             "v_pure_minus_baseline": v["pure"] - v["baseline"]}
    return SingleEvent(index, S, s_eps, SETS[code], table)
