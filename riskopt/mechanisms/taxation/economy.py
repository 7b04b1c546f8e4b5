"""Regions, an insurer that can default, residual claims, and the study of the four schemes.

The insurer charges ``pi_i = (1 + theta) E[X_i] + eta sd[X_i]``, collects ``k = sum pi``,
holds ``K = k + k0`` and pays ``X_i + s_i (k - S)`` on ``Omega_+`` (``S < k``), ``X_i`` on ``Omega_=``
and ``K X_i / S`` on ``Omega_-`` (``S > K``). The residual claims ``eps_i = X_i (1 - K/S)`` on
``Omega_-`` sum to ``S_eps = (S - K)^+``; the government taxes them ex post with the AFPO rule of
``S_eps`` (caps ``c_i = w_i - pi_i``, targets ``E[eps_i]``). With no insurer the same machinery gives
pure risk sharing (``S_eps = S``, caps ``w_i``, targets ``E[X_i]``).

:func:`run_economy` runs the whole study from a *source of loss blocks* (regions x scenarios):
:class:`MatrixSource` (a sample in memory) or :class:`StormSource` (blocks drawn on demand from a
:class:`~.storm.StormModel`, each with its own seeded generator). Every pass is a map over
blocks through a sweep runner (``runner(fn, items) -> list``: serial, local processes or dask,
:mod:`riskopt.sweep`) followed by a reduction in block order, with BLAS on one thread inside each
block task (a multithreaded ``X @ p`` splits the sum by thread count and changes the last bits), so
a study split across workers gives exactly the numbers of the single-process run on the same seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import numpy as np

from ...checks import integer, nonnegative, real_array
from ...errors import ModelError, SolveError
from ...status import Status
from ...sweep import serial
from .constrained import DECOMPOSITION, with_caps
from .disutility import ExponentialPayments, PaymentDisutility, regionwise, taxation_family
from .fast import DEFAULT_METHOD, DEFAULT_TOL, AfpoResult, single_thread_blas, solve_afpo
from .law import residual_law
from .schemes import (
    InsuranceSums,
    SchemeComparison,
    SingleEvent,
    compare_schemes,
    insurance_sums,
    sharing_sums,
    single_event,
)
from .storm import StormModel

__all__ = ["STUDY_INSURER", "DefaultableInsurer", "Economy", "MatrixSource", "Runner", "StormSource",
           "run_economy"]

#: a sweep runner: ``runner(fn, items) -> [fn(item) for item in items]`` (serial, processes, dask)
Runner = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]


@dataclass(frozen=True)
class DefaultableInsurer:
    """Premium principle ``(1 + theta) E[X_i] + eta sd[X_i]``; total capital ``capital`` (``K``) or
    own capital ``own_capital`` (``k0``, ``K = k + k0``; default 0); surplus shares ``s_i`` of
    ``k - S`` paid back on ``Omega_+`` (the paper leaves them unspecified: default 0)."""

    theta: float = 0.0
    eta: float = 0.0
    capital: float | None = None
    own_capital: float | None = None
    surplus_shares: Any = 0.0

    def __post_init__(self) -> None:
        nonnegative("insurer.theta", self.theta, "safety loading")
        nonnegative("insurer.eta", self.eta, "standard-deviation loading")
        if self.capital is not None and self.own_capital is not None:
            raise ModelError("insurer.capital", self.capital,
                             "either capital (K) or own_capital (k0), not both")
        if self.capital is not None:
            nonnegative("insurer.capital", self.capital)
        if self.own_capital is not None:
            nonnegative("insurer.own_capital", self.own_capital)
        allowed = "shares >= 0 summing to at most 1: one, or one per region"
        shares = real_array("insurer.surplus_shares", self.surplus_shares, allowed)
        if shares.ndim > 1 or not np.all(np.isfinite(shares)) or (shares < 0).any() \
                or shares.sum() > 1 + 1e-12:
            raise ModelError("insurer.surplus_shares", self.surplus_shares, allowed)


#: the storm study's insurer: premiums 1.3 E[X_i], capital K = 1000
STUDY_INSURER = DefaultableInsurer(theta=0.3, capital=1000.0)


class _ScenarioBlocks:
    """Scenarios ``0..scenarios-1`` served in column blocks of ``block``: block ``j`` is
    ``[j block, min((j + 1) block, scenarios))``."""

    scenarios: int
    block: int

    @property
    def count(self) -> int:
        return -(-self.scenarios // self.block)

    def bounds(self, j: int) -> tuple[int, int]:
        return j * self.block, min((j + 1) * self.block, self.scenarios)


class MatrixSource(_ScenarioBlocks):
    """Losses in memory, ``X[i, s]`` (regions x scenarios), served in column blocks."""

    def __init__(self, X: np.ndarray, probs: Any = None, *, block: int = 8192, validate: bool = True):
        X = real_array("losses", X, "a (regions x scenarios) array of losses")
        if X.ndim != 2 or X.size == 0:
            raise ModelError("losses", f"shape {X.shape}", "a (regions x scenarios) array")
        bad = ~np.isfinite(X) if validate else np.zeros((1, 1), bool)
        if bad.any():
            i, s = np.argwhere(bad)[0]
            raise ModelError(f"losses[{i}, {s}]", float(X[i, s]), "finite losses (no NaN)")
        if validate and (X < 0).any():
            i, s = np.argwhere(X < 0)[0]
            raise ModelError(f"losses[{i}, {s}]", float(X[i, s]), "losses >= 0")
        self.X = X
        N = X.shape[1]
        if probs is None:
            self.p = np.full(N, 1.0 / N)
        else:
            p = real_array("probs", probs, f"{N} probabilities >= 0 summing to 1")
            if p.shape != (N,) or not np.all(np.isfinite(p)) or (p < 0).any() or abs(p.sum() - 1) > 1e-9:
                raise ModelError("probs", probs, f"{N} probabilities >= 0 summing to 1")
            self.p = p / p.sum()
        self.block = integer("block", block, "a number of scenarios per block >= 1")
        if self.block < 1:
            raise ModelError("block", block, "a number of scenarios per block >= 1")
        self.scenarios = int(N)

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def probs(self) -> np.ndarray:
        return self.p

    def get(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.bounds(j)
        return self.X[:, a:b], self.p[a:b]

    def column(self, s: int) -> np.ndarray:
        return self.X[:, s].copy()


@dataclass(frozen=True)
class StormSource(_ScenarioBlocks):
    """Blocks of ``model`` drawn on demand: block ``j`` from ``SeedSequence(seed, spawn_key=(j,))``
    (equally likely scenarios). Picklable: dask workers regenerate their blocks."""

    model: StormModel
    scenarios: int
    seed: int
    block: int = 4096

    @property
    def n(self) -> int:
        return self.model.n

    @property
    def probs(self) -> np.ndarray:
        """Equally likely scenarios."""
        return np.full(self.scenarios, 1.0 / self.scenarios)

    def get(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.bounds(j)
        with single_thread_blas():  # the copula product: the same bits in every process
            X = self.model.draw_block(self.model.block_generator(self.seed, j), b - a)
        return X, np.full(b - a, 1.0 / self.scenarios)

    def column(self, s: int) -> np.ndarray:
        j = s // self.block
        return self.get(j)[0][:, s - j * self.block].copy()


# ----------------------------------------------------------------------------- block tasks
@dataclass(frozen=True)
class _LossTask:
    source: Any
    second_moment: bool = False

    def __call__(self, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X, p = self.source.get(j)
        second = np.einsum("is,is,s->i", X, X, p) if self.second_moment else np.zeros(X.shape[0])
        with single_thread_blas():
            return X @ p, second, X.sum(axis=0)


@dataclass(frozen=True)
class _InsuranceTask:
    source: Any
    premiums: np.ndarray
    k: float
    K: float
    surplus: np.ndarray
    disutility: PaymentDisutility
    wealth: np.ndarray

    def __call__(self, j: int) -> tuple[InsuranceSums, np.ndarray]:
        X, p = self.source.get(j)
        with single_thread_blas():
            sums = insurance_sums(X, p, self.premiums, self.k, self.K, self.surplus, self.disutility,
                                  self.wealth)
        return sums, X.sum(axis=0)


@dataclass(frozen=True)
class _SharingTask:
    k: float
    K: float
    pure: Any
    hybrid: Any
    premiums: np.ndarray
    disutility: PaymentDisutility
    wealth: np.ndarray

    def __call__(self, item: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        S, p = item
        with single_thread_blas():
            return sharing_sums(S, p, self.k, self.K, self.pure, self.hybrid, self.premiums,
                                self.disutility, self.wealth)


# ------------------------------------------------------------------------------- economy
@dataclass
class Economy:
    """The outcome of a study: insurer figures, scenario sets, both AFPO rules, the comparison."""

    names: tuple[str, ...]
    wealth: np.ndarray
    insurer: DefaultableInsurer
    disutility: PaymentDisutility
    premiums: np.ndarray
    k: float
    K: float
    caps: np.ndarray
    surplus: np.ndarray
    expected_loss: np.ndarray
    expected_residual_claim: np.ndarray
    S: np.ndarray
    probs: np.ndarray
    hybrid: AfpoResult | None
    pure: AfpoResult | None
    comparison: SchemeComparison | None
    event: SingleEvent | None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def expected_residual(self) -> float:
        return float(self.probs @ np.maximum(self.S - self.K, 0.0))


def _combine(parts: list[Any]) -> Any:
    return reduce(lambda x, y: x + y, parts)


def run_economy(source: Any, names: Sequence[str], wealth: Any, *, insurer: DefaultableInsurer | None = None,
                disutility: PaymentDisutility | Sequence[PaymentDisutility] | None = None,
                premium_basis: str = "sample", expected_losses: Any = None, loss_sd: Any = None,
                runner: Runner | None = None, method: str = DEFAULT_METHOD, tol: float = DEFAULT_TOL,
                schemes: Sequence[str] = ("pure", "hybrid"), event: str | int = "median_default",
                chunk: int = 20_000, tax_caps: Any = None) -> Economy:
    """DefaultableInsurer, residual claims, AFPO rules (pure sharing and hybrid) and the scheme comparison.

    ``premium_basis``: ``"sample"`` (premiums from the sample's means and standard deviations: one
    extra pass over the blocks) or ``"expected"`` (from ``expected_losses`` / ``loss_sd``, e.g. the
    storm model's exact Beta moments: the insurer "estimates E[X_i] exactly"). ``runner`` maps the
    block tasks (default: serial). ``schemes`` selects the AFPO problems solved. ``tax_caps`` (one
    per region, ``inf`` for none) caps the hybrid taxes in every scenario on top of the capacities
    ``w_i - pi_i`` (a modeler's per-scenario caps, :mod:`.constrained`): when they leave no AFPO,
    :class:`~riskopt.errors.SolveError` with status ``infeasible``.
    """
    timings: dict[str, float] = {}
    run = runner or serial
    names = tuple(str(x) for x in names)
    n = source.n
    if len(names) != n or len(set(names)) != n:
        dup = next((x for x in names if names.count(x) > 1), None)
        raise ModelError("regions.name", dup if dup is not None else f"{len(names)} names",
                         f"{n} distinct region names")
    w = real_array("regions.wealth", wealth, f"{n} finite wealths > 0")
    if w.shape != (n,) or not np.all(np.isfinite(w)) or (w <= 0).any():
        raise ModelError("regions.wealth", w, f"{n} finite wealths > 0")
    ins = insurer if insurer is not None else DefaultableInsurer(capital=0.0)
    disp = disutility if disutility is not None else ExponentialPayments()
    dlist = list(disp) if isinstance(disp, Sequence) else [disp] * n
    if len(dlist) != n:
        raise ModelError("disutility", f"{len(dlist)} disutilities", f"one, or one per region ({n})")
    if premium_basis not in ("sample", "expected"):
        raise ModelError("premium_basis", premium_basis, "'sample' or 'expected'")
    if integer("chunk", chunk, "a number of scenarios per chunk >= 1") < 1:
        raise ModelError("chunk", chunk, "a number of scenarios per chunk >= 1")
    if tax_caps is not None:
        tax_caps = _tax_caps(tax_caps, n)
    blocks = list(range(source.count))
    t0 = time.perf_counter()
    no_insurer = insurer is None
    if premium_basis == "sample" or no_insurer:
        parts = run(_LossTask(source, ins.eta > 0), blocks)
        mean = _combine([p[0] for p in parts])
        second = _combine([p[1] for p in parts])
        S = np.concatenate([p[2] for p in parts])
        sd = np.sqrt(np.maximum(second - mean * mean, 0.0))
    else:
        if expected_losses is None:
            raise ModelError("expected_losses", None, "the regions' expected losses for premium_basis = "
                             "'expected'")
        mean = np.asarray(expected_losses, float)
        sd = np.zeros(n) if loss_sd is None else np.asarray(loss_sd, float)
        S = None
    timings["losses"] = time.perf_counter() - t0
    premiums = np.zeros(n) if no_insurer else (1 + ins.theta) * mean + ins.eta * sd
    k = float(premiums.sum())
    caps = w - premiums
    for i in range(n):
        if caps[i] <= 0:
            raise ModelError(f"regions[{names[i]}].wealth", float(w[i]),
                             f"a wealth above the premium {premiums[i]:.6g}",
                             detail="the tax-bearing capacity w_i - pi_i is <= 0")
    if no_insurer:
        K = 0.0
    elif ins.capital is not None:
        K = float(ins.capital)
        if k > K:
            raise ModelError("insurer.capital", K, f"a capital K >= the premium income k = {k:.6g}",
                             detail="K = k + k0 with own capital k0 >= 0")
    else:
        K = k + float(ins.own_capital or 0.0)
    total_w = float(w.sum())
    if not no_insurer and total_w <= K:
        raise ModelError("insurer.capital", K, f"a capital below the total wealth {total_w:.6g}",
                         detail="no default possible: the insurer always pays (P(S > K) = 0), so there "
                         "is no residual claim to tax")
    surplus = np.asarray(ins.surplus_shares, float)
    if surplus.size not in (1, n) or surplus.ndim > 1:
        raise ModelError("insurer.surplus_shares", f"{surplus.size} shares",
                         f"one share, or one per region ({n})")
    surplus = np.broadcast_to(surplus.reshape(-1), (n,)).astype(float)
    if not np.all(np.isfinite(surplus)) or (surplus < 0).any() or surplus.sum() > 1 + 1e-12:
        raise ModelError("insurer.surplus_shares", ins.surplus_shares, "shares >= 0 summing to at most 1")
    t0 = time.perf_counter()
    task = _InsuranceTask(source, premiums, k, K, surplus, regionwise(dlist), w)
    parts = run(task, blocks)
    sums = _combine([p[0] for p in parts])
    if S is None:
        S = np.concatenate([p[1] for p in parts])
    probs = source.probs
    timings["insurance"] = time.perf_counter() - t0
    if surplus.any():
        gap = float(k - S.min())
        worst = surplus * max(gap, 0.0) - premiums
        if worst.max() > 1e-12:
            i = int(np.argmax(worst))
            raise ModelError(f"insurer.surplus_shares[{names[i]}]", float(surplus[i]),
                             "no free enrichment: s_i (k - S) <= pi_i on Omega_+")
    expected_loss = sums.loss
    eps = sums.eps
    comparison = ev = None
    pure = hybrid = None
    t0 = time.perf_counter()
    if "hybrid" in schemes and not no_insurer:
        if not (S > K).any():
            raise ModelError("insurer.capital", K, "a capital that the sample's largest loss exceeds",
                             detail=f"no scenario has S > K (max S = {S.max():.6g}): nothing to tax")
        fam = taxation_family(dlist, premiums, caps)
        law = residual_law(np.maximum(S - K, 0.0), probs)
        if tax_caps is None:
            hybrid = solve_afpo(fam, law, eps, method=method, tol=tol, names=names)
        else:
            hybrid = _capped_afpo(fam, law, eps, tax_caps, method, tol, names)
    if "pure" in schemes or no_insurer:
        fam_p = taxation_family(dlist, np.zeros(n), w)
        pure = solve_afpo(fam_p, residual_law(S, probs), expected_loss, method=method, tol=tol, names=names)
    timings["afpo"] = time.perf_counter() - t0
    if pure is not None and hybrid is not None:
        t0 = time.perf_counter()
        chunks = [(S[a:a + chunk], probs[a:a + chunk]) for a in range(0, S.size, chunk)]
        share = _SharingTask(k, K, pure.rule, hybrid.rule, premiums, task.disutility, w)
        out = run(share, chunks)
        pure_sums = _combine([o[0] for o in out])
        hyb_sums = _combine([o[1] for o in out])
        comparison = compare_schemes(names, sums, pure_sums, hyb_sums, task.disutility)
        idx = _event_index(S, K, event)
        ev = single_event(idx, source.column(idx), premiums, k, K, surplus, pure.rule, hybrid.rule,
                          task.disutility, w)
        timings["comparison"] = time.perf_counter() - t0
    return Economy(names, w, ins, task.disutility, premiums, k, K, caps, surplus, expected_loss, eps, S,
                   probs, hybrid, pure, comparison, ev, timings)


def _capped_afpo(fam: Any, law: Any, eps: np.ndarray, tax_caps: np.ndarray, method: str, tol: float,
                 names: tuple[str, ...]) -> AfpoResult:
    """The hybrid AFPO with the taxes also capped by ``tax_caps`` (the rule is pointwise in
    ``S_eps``: a cap constant across scenarios is one more cap of the layer rule)."""
    capped = with_caps(fam, np.minimum(fam.caps, tax_caps))
    if capped is None:
        raise ModelError("constraints", "per-scenario tax caps", "exponential or power disutilities for "
                         "the capped AFPO (method = 'program' takes the others)")
    try:
        return solve_afpo(capped, law, eps, method=method, tol=tol, names=names)
    except ModelError as err:  # the caps leave no fair rule: infeasible, not a bad card
        raise SolveError(Status.INFEASIBLE, backend="riskopt", solver=DECOMPOSITION,
                         hint=f"the per-scenario tax caps leave no AFPO rule: {err}") from None


def _tax_caps(tax_caps: Any, n: int) -> np.ndarray:
    """Per-scenario caps on the hybrid taxes: one for every region or one per region, finite >= 0."""
    allowed = f"tax caps >= 0: one for every region or one per region ({n})"
    caps = real_array("tax_caps", tax_caps, allowed)
    if caps.ndim > 1 or caps.size not in (1, n) or np.isnan(caps).any() or (caps < 0).any():
        raise ModelError("tax_caps", tax_caps, allowed)
    return caps


def _event_index(S: np.ndarray, K: float, event: str | int) -> int:
    if isinstance(event, (int, np.integer)) and not isinstance(event, bool):
        if not 0 <= event < S.size:
            raise ModelError("comparison.event", event, f"a scenario index in [0, {S.size})")
        return int(event)
    if not isinstance(event, str):
        raise ModelError("comparison.event", event, "'median_default', 'largest' or a scenario index")
    if event == "median_default":
        idx = np.flatnonzero(S > K)
        if idx.size == 0:
            return int(np.argmax(S))
        order = idx[np.argsort(S[idx], kind="stable")]
        return int(order[(order.size - 1) // 2])
    if event == "largest":
        return int(np.argmax(S))
    raise ModelError("comparison.event", event, "'median_default', 'largest' or a scenario index")
