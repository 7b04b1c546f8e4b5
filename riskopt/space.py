"""Finite probability spaces (``Scenarios``) and random variables as arrays on them.

A :class:`Scenarios` holds state probabilities ``p`` (validated: finite, >= 0, summing to one within
1e-12) and named random variables, each a numpy array whose first axis runs over the states. The
constructors cover what the mechanisms need: equally weighted samples, discrete laws, quantile
discretisation of a law on the line, independent Bernoulli hits summed exactly (Poisson-binomial),
a one-factor common shock, the atom-level space of n hits, and a Gaussian-copula sampler.

Atoms with negligible mass are dropped only through :meth:`Scenarios.prune`, which takes an explicit
tolerance and records the total probability dropped in ``pruned_mass``.

Probability vectors and cumulated probabilities are checked and summed in :mod:`riskopt.probability`
(re-exported here).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import special

from .checks import generator, nonnegative, positive, real, real_array
from .errors import ModelError, RiskoptWarning
from .probability import (
    LEVEL_RTOL,
    Law,
    accurate_sum,
    cumulated,
    group_sums,
    search_cumulated,
    validate_probabilities,
)

__all__ = ["LEVEL_RTOL", "Scenarios", "accurate_sum", "cumulated", "group_sums", "nearest_correlation",
           "poisson_binomial", "search_cumulated", "validate_probabilities"]

#: a correlation matrix whose smallest eigenvalue is >= -PSD_TOL is positive semidefinite
PSD_TOL = 1e-12


def _as_state_array(values: Any, n_states: int, name: str) -> np.ndarray:
    arr = np.array(real_array(f"variables.{name}", values))  # a copy: made read-only below
    if arr.ndim == 0 or arr.shape[0] != n_states:
        shape = arr.shape if arr.ndim else "a scalar"
        raise ModelError(f"variables.{name}", f"shape {shape}",
                         f"an array whose first axis has one entry per state ({n_states})")
    if not np.all(np.isfinite(arr)):
        raise ModelError(f"variables.{name}", arr, "finite values")
    arr.setflags(write=False)
    return arr


class Scenarios(Law):
    """A finite probability space with named random variables -- and the one finite law.

    ``Scenarios(p, {"X": x})``: ``p[s]`` is the probability of state ``s`` and ``x[s]`` the value of
    ``X`` there. ``space["X"]`` (or ``space.X``) returns the array; ``space.expect(y)`` is ``p @ y``.
    As a :class:`~riskopt.probability.Law` it is the law of ``X``: ``sf(x) = P(X > x)`` (compensated
    tail sums, exactly 0 beyond the top atom), ``ppf(u) = inf{x : F(x) >= u}`` (levels placed exactly,
    :func:`~riskopt.probability.search_cumulated`), ``atoms()``, ``support()``, ``mean()``.
    """

    __slots__ = ("_law", "_p", "_vars", "pruned_mass")

    def __init__(self, probs: Any, variables: Mapping[str, Any] | None = None, *,
                 normalise: bool = False, pruned_mass: float = 0.0):
        p = validate_probabilities(probs, normalise=normalise)
        p.setflags(write=False)
        self._p = p
        if variables is not None and not isinstance(variables, Mapping):
            raise ModelError("variables", variables, "a mapping of names to arrays (one entry per state)")
        self._vars = {str(k): _as_state_array(v, p.size, str(k)) for k, v in (variables or {}).items()}
        self.pruned_mass = nonnegative("pruned_mass", pruned_mass, "the probability mass pruned")
        self._law: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------ the law of X
    def _sorted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``X``'s states in ascending order, their probabilities and the tail masses above each."""
        if self._law is None:
            order = np.argsort(self.X, kind="stable")
            v, p = self.X[order], self._p[order]
            self._law = (v, p, cumulated(p[::-1])[::-1])  # tail[i]: the mass of states i, i + 1, ...
        return self._law

    def sf(self, x: np.ndarray | float) -> np.ndarray:
        v, _, tail = self._sorted()
        tail = np.append(tail, 0.0)
        return tail[np.searchsorted(v, real_array("x", x), side="right")]

    def ppf(self, u: np.ndarray | float) -> np.ndarray:
        """``u <= 0`` gives the smallest value, NaN gives NaN."""
        v, p, _ = self._sorted()
        u = real_array("u", u)
        flat = u.ravel()
        idx, _, _ = search_cumulated(p, flat, "left", values=v)
        out = v[np.where(flat > 0, idx, 0)]
        return np.where(np.isnan(flat), np.nan, out).reshape(u.shape)

    def atoms(self) -> tuple[np.ndarray, np.ndarray]:
        """The values of ``X`` in ascending order with their probabilities (ties kept apart)."""
        v, p, _ = self._sorted()
        return v.copy(), p.copy()

    def support(self) -> tuple[float, float]:
        v, _, _ = self._sorted()
        return float(v[0]), float(v[-1])

    def mean(self) -> float:
        return float(self._p @ self.X)

    # ----------------------------------------------------------------- access
    @property
    def p(self) -> np.ndarray:
        """State probabilities (read-only)."""
        return self._p

    @property
    def size(self) -> int:
        """Number of states."""
        return self._p.size

    @property
    def names(self) -> list[str]:
        return list(self._vars)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._vars[name]
        except KeyError:
            raise ModelError("variable", name, f"one of {self.names}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._vars

    @property
    def X(self) -> np.ndarray:  # noqa: N802 - the aggregate risk is called X throughout the papers
        """The aggregate risk, the variable named ``"X"``."""
        return self["X"]

    def __repr__(self) -> str:
        pruned = f", pruned_mass={self.pruned_mass:.3g}" if self.pruned_mass else ""
        return f"Scenarios(states={self.size}, variables={self.names}{pruned})"

    def expect(self, values: Any) -> float | np.ndarray:
        """``E[Y] = sum_s p_s Y(s)`` (along the state axis for arrays of several columns)."""
        y = real_array("values", values)
        if y.ndim == 0 or y.shape[0] != self.size:
            raise ModelError("values", values, f"one entry per state ({self.size}) along the first axis")
        expectation: float | np.ndarray = self._p @ y
        return expectation

    def with_variables(self, **variables: Any) -> Scenarios:
        """A copy with extra (or replaced) variables."""
        merged = {**self._vars, **variables}
        return Scenarios(self._p, merged, pruned_mass=self.pruned_mass)

    # ----------------------------------------------------------- derived spaces
    def law_of(self, name: str = "X") -> tuple[Scenarios, np.ndarray]:
        """Push-forward to the distinct values of a variable, sorted ascending.

        Returns the atom space (variable ``name`` holds the distinct values) and ``index`` with
        ``values[index] == space[name]``, so any function of the variable maps back to the states.
        """
        x = self[name]
        if x.ndim != 1:
            raise ModelError("variable", name, "a one-dimensional random variable")
        values, index = np.unique(x, return_inverse=True)
        probs = group_sums(index, self._p, values.size)  # renormalised (fsum) by the constructor
        return Scenarios(probs, {name: values}, pruned_mass=self.pruned_mass), index

    def prune(self, tol: float, *, keep: np.ndarray | None = None) -> Scenarios:
        """Drop states with probability below ``tol`` and renormalise.

        The total mass dropped is added to ``pruned_mass``: it bounds the probability of every event
        the pruned space cannot see. ``keep`` (boolean mask) protects states from pruning.
        """
        if not 0 <= real("tol", tol, "a pruning tolerance in [0, 1)") < 1:
            raise ModelError("tol", tol, "a pruning tolerance in [0, 1)")
        mask = self._p >= tol
        if keep is not None:
            mask |= np.asarray(keep, bool)
        dropped = float(self._p[~mask].sum())
        if not mask.any():
            raise ModelError("tol", tol, "a tolerance that keeps at least one state")
        kept = self._p[mask]
        return Scenarios(kept / accurate_sum(kept), {k: v[mask] for k, v in self._vars.items()},
                         pruned_mass=self.pruned_mass + dropped)

    # ------------------------------------------------------------- constructors
    @classmethod
    def equally_weighted(cls, samples: Any, name: str = "X") -> Scenarios:
        """Each of the ``S`` samples (rows) is a state with probability ``1/S``.

        ``samples`` is an array (``(S,)`` or ``(S, d)``, stored under ``name``) or a mapping of
        names to arrays with a common first axis.
        """
        variables = dict(samples) if isinstance(samples, Mapping) else {name: samples}
        if not variables:
            raise ModelError("samples", samples, "at least one variable")
        key, first = next(iter(variables.items()))
        first = real_array(f"samples.{key}" if isinstance(samples, Mapping) else "samples", first)
        if first.ndim == 0 or first.shape[0] == 0:
            raise ModelError("samples", samples, "at least one sample")
        n = first.shape[0]
        return cls(np.full(n, 1.0 / n), variables)

    @classmethod
    def discrete(cls, values: Any, probs: Any, name: str = "X", *, normalise: bool = False) -> Scenarios:
        """A finite law: state ``s`` has ``X = values[s]`` with probability ``probs[s]``."""
        p = validate_probabilities(probs, normalise=normalise)
        v = real_array("values", values)
        if v.ndim == 0 or v.shape[0] != p.size:
            raise ModelError("values", values, f"{p.size} values, one per probability")
        return cls(p, {name: v})

    @classmethod
    def from_law(cls, law: Law, n: int, *, method: str = "midpoint", name: str = "X") -> Scenarios:
        """Quantile discretisation of a law on the line on ``n`` equal-probability bins.

        Bins are ``[(j-1)/n, j/n]`` in probability, refined at the jumps of the CDF so that every
        atom of the law is a state of its own with its exact mass. Each bin's value is the quantile
        at its midpoint (``method="midpoint"``) or the conditional mean of the law on it
        (``method="mean"``, Gauss quadrature of the quantile, in ``-log(1 - u)`` near a tail where it
        may blow up; preserves E[X] to ~1e-13 for exponential-type tails).
        """
        if isinstance(n, bool) or not (isinstance(n, (int, np.integer)) and n >= 1):
            raise ModelError("n", n, "a positive integer number of bins")
        if method not in ("midpoint", "mean"):
            raise ModelError("method", method, "'midpoint' or 'mean'")
        atom_x, atom_m = law.atoms()
        cuts = [np.linspace(0.0, 1.0, n + 1)]
        atom_bins = []
        for x, m in zip(atom_x, atom_m, strict=True):  # the CDF jumps from F(x-) to F(x) at an atom
            after = float(law.cdf(x))
            before = after - float(m)
            cuts.append(np.array([before, after]))
            atom_bins.append((float(x), float(m), before, after))
        u: np.ndarray = cuts[0]
        if atom_bins:  # a continuous law keeps the uniform grid (and its memory: n may be millions)
            u = np.unique(np.clip(np.concatenate(cuts), 0.0, 1.0))
            for _, _, a, b in atom_bins:  # grid points inside an atom would split it into several states
                u = u[(u <= a + 1e-15) | (u >= b - 1e-15)]
            u = u[np.concatenate([[True], np.diff(u) > 1e-15])]
        lo, hi = u[:-1], u[1:]
        probs = hi - lo
        if method == "midpoint":
            mid = lo + hi
            mid *= 0.5
            vals = np.asarray(law.ppf(mid), float)
            del mid
        else:
            vals = _bin_integrals(law, lo, hi) / probs
        # an atom's bin gets its exact mass and value (1 - F(x-) loses digits for small masses)
        for x, m, a, b in atom_bins:
            j = int(np.searchsorted(u, 0.5 * (a + b), side="right")) - 1
            if m > 0 and 0 <= j < probs.size and abs(probs[j] - m) <= 4e-15:
                probs[j], vals[j] = m, x
        return cls(probs / probs.sum(), {name: np.asarray(vals, float)})

    @classmethod
    def bernoulli_hits(cls, p: Sequence[float], loss: float | Sequence[float] = 1.0, *,
                       tick: float | None = None) -> Scenarios:
        """Law of ``X = -sum_j L_j 1{H_j}`` for independent hits ``P(H_j) = p_j``.

        With a common loss ``L`` the states are the numbers of hits ``k = 0..n`` (variable ``N``) and
        ``X = -L k``; their law is Poisson-binomial, computed by the stable recursion
        ``pi <- pi (1 - p_j) + shift(pi) p_j`` (O(n^2), no cancellation). With heterogeneous losses
        ``L_j`` on a common ``tick`` the same recursion runs on the lattice ``{0, -tick, -2 tick, ...}``.
        States are ordered by increasing total loss (X = 0 first).
        """
        pj = _hit_probabilities(p)
        losses = _hit_losses(loss, pj.size)
        if np.max(losses) > np.finfo(float).max / (losses.size + 1):
            raise ModelError("loss", loss, "losses whose total over the pool is finite")
        if tick is None:
            if not np.allclose(losses, losses[0], rtol=0, atol=0):
                raise ModelError("tick", None, "a common tick when the losses differ")
            probs = poisson_binomial(pj)
            k = np.arange(pj.size + 1, dtype=float)
            return cls(probs, {"X": -losses[0] * k, "N": k})
        tick = positive("tick", tick, "the lattice step of the losses")
        steps = losses / tick
        if np.any(np.abs(steps - np.round(steps)) > 1e-9 * np.maximum(1, steps)):
            raise ModelError("loss", loss, f"multiples of the tick {tick}")
        probs = poisson_binomial(pj, np.round(steps).astype(int))
        j = np.arange(probs.size, dtype=float)
        support = probs > 0
        return cls(probs[support], {"X": -tick * j[support]})

    @classmethod
    def common_shock_hits(cls, p_storm: Sequence[float], p_calm: Sequence[float], storm_prob: float,
                          loss: float = 1.0) -> Scenarios:
        """One-factor common shock: a storm regime with probability ``storm_prob``; given the regime,
        hits are independent with ``p_storm`` or ``p_calm``. The law of the number of hits is the
        mixture ``s PB(p_storm) + (1 - s) PB(p_calm)``."""
        ps, pc = _hit_probabilities(p_storm, "p_storm"), _hit_probabilities(p_calm, "p_calm")
        if ps.shape != pc.shape:
            raise ModelError("p_calm", p_calm, f"{ps.size} probabilities, like p_storm")
        if not 0 <= real("storm_prob", storm_prob, "a probability in [0, 1]") <= 1:
            raise ModelError("storm_prob", storm_prob, "a probability in [0, 1]")
        loss = positive("loss", loss, "the loss of a hit")
        probs = storm_prob * poisson_binomial(ps) + (1 - storm_prob) * poisson_binomial(pc)
        k = np.arange(ps.size + 1, dtype=float)
        return cls(probs / probs.sum(), {"X": -loss * k, "N": k})

    @classmethod
    def bernoulli_atoms(cls, p: Sequence[float], loss: float | Sequence[float] = 1.0) -> Scenarios:
        """The atom-level space ``{0,1}^n`` of independent hits (small n only: 2^n states).

        Variables: ``hits`` (0/1 matrix, states x farmers), ``endowments`` (``-L_j`` where hit) and
        the aggregate ``X``. State ``s`` has farmer ``j`` hit iff bit ``j`` of ``s`` is set.
        """
        pj = _hit_probabilities(p)
        if pj.size > 20:
            raise ModelError("p", f"{pj.size} farmers", "at most 20 farmers for the atom-level space "
                             "(2^n states); use bernoulli_hits for the law of the aggregate")
        losses = _hit_losses(loss, pj.size)
        states = np.arange(2 ** pj.size)
        hits = ((states[:, None] >> np.arange(pj.size)[None, :]) & 1).astype(float)
        probs = np.prod(np.where(hits == 1, pj, 1 - pj), axis=1)
        endow = -hits * losses
        return cls(probs / probs.sum(), {"hits": hits, "endowments": endow, "X": endow.sum(axis=1)})

    @classmethod
    def gaussian_copula(cls, marginals: Sequence[Law] | Callable[[np.ndarray], np.ndarray],
                        corr: Any, n: int, *, seed: int | None = None, name: str = "X",
                        psd: str = "repair") -> Scenarios:
        """``n`` equally weighted samples of a vector with a Gaussian copula and given marginals.

        ``Z = G L^T`` with ``G`` standard normal and ``L`` the Cholesky factor of ``corr``; ``U =
        Phi(Z)``; column ``i`` is ``marginals[i].ppf(U[:, i])`` (or ``marginals(U)`` for a vectorised
        callable). A correlation matrix that is not positive semidefinite is repaired by eigenvalue
        clipping with a warning (``psd="repair"``) or refused (``psd="raise"``).
        """
        u = gaussian_copula_uniforms(corr, n, seed=seed, psd=psd)
        if callable(marginals):
            values = np.asarray(marginals(u), float)
        else:
            if len(marginals) != u.shape[1]:
                raise ModelError("marginals", f"{len(marginals)} laws",
                                 f"one law per dimension of corr ({u.shape[1]})")
            values = np.column_stack([m.ppf(u[:, i]) for i, m in enumerate(marginals)])
        return cls.equally_weighted(values, name=name)


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)
_LAG_NODES, _LAG_WEIGHTS = np.polynomial.laguerre.laggauss(32)


def _bin_integrals(law: Law, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``int_lo^hi ppf(u) du`` for every probability bin ``[lo, hi]``.

    16-point Gauss-Legendre in ``u``, except near an end of [0, 1] where the quantile may blow up
    (``-log(1 - u) / rate`` for the exponential, also inside [0, 1) when a censoring point sits at
    ``1 - 1e-7``): there the bin is integrated in ``s = -log(1 - u)`` (``s = -log(u)`` at the bottom),
    ``int q(1 - e^-s) e^-s ds``, in which such quantiles are smooth: Gauss-Legendre on a finite range,
    32-point Gauss-Laguerre when the bin reaches an end where the support is unbounded.
    """
    lo_sup, hi_sup = law.support()
    width = hi - lo
    top = ((1.0 - hi) < width) & ~((hi >= 1.0) & np.isfinite(hi_sup))
    bottom = (lo < width) & ~((lo <= 0.0) & np.isfinite(lo_sup))
    both = top & bottom
    if both.any():  # a wide bin near both ends: split at its midpoint, each half is near one end only
        mid = 0.5 * (lo + hi)
        left_hi = np.where(both, mid, hi)
        parts = _bin_integrals(law, np.concatenate([lo, mid[both]]), np.concatenate([left_hi, hi[both]]))
        out = parts[: lo.size].copy()
        out[both] += parts[lo.size:]
        return out
    out = np.empty(lo.size)
    plain = ~(top | bottom)
    if plain.any():
        us = 0.5 * (lo + hi)[plain, None] + 0.5 * width[plain, None] * _GL_NODES[None, :]
        out[plain] = 0.5 * width[plain] * (np.asarray(law.ppf(us), float) @ _GL_WEIGHTS)
    for near, at_top in ((top, True), (bottom, False)):
        if not near.any():
            continue
        # distances to the end: e in [e_near, e_far] with s = -log(e)
        e_far = (1.0 - lo[near]) if at_top else hi[near]
        e_near = (1.0 - hi[near]) if at_top else lo[near]
        s_a = -np.log(e_far)
        res = np.empty(e_far.size)
        fin = e_near > 0
        if fin.any():
            s_b = -np.log(e_near[fin])
            half = 0.5 * (s_b - s_a[fin])
            s = 0.5 * (s_a[fin] + s_b)[:, None] + half[:, None] * _GL_NODES[None, :]
            u = -np.expm1(-s) if at_top else np.exp(-s)
            res[fin] = half * ((np.asarray(law.ppf(u), float) * np.exp(-s)) @ _GL_WEIGHTS)
        if (~fin).any():  # up to the end: e^-s_a int_0^inf q(u(s_a + r)) e^-r dr
            s = s_a[~fin, None] + _LAG_NODES[None, :]
            u = -np.expm1(-s) if at_top else np.exp(-s)
            ok = (u > 0) & (u < 1)  # nodes beyond double precision carry weights below 1e-16
            q = np.where(ok, np.asarray(law.ppf(np.where(ok, u, 0.5)), float), 0.0)
            res[~fin] = e_far[~fin] * (q @ _LAG_WEIGHTS)
        out[near] = res
    return out


def _hit_losses(loss: Any, n: int) -> np.ndarray:
    """The loss of each of ``n`` hits: one positive finite number for all, or one per hit."""
    allowed = f"positive finite losses: one for every hit or one per hit ({n})"
    losses = np.atleast_1d(real_array("loss", loss, allowed))
    if losses.ndim != 1 or losses.size not in (1, n):
        raise ModelError("loss", loss, allowed)
    if np.any(~np.isfinite(losses)) or np.any(losses <= 0):
        raise ModelError("loss", loss, allowed)
    return np.broadcast_to(losses, (n,))


def _hit_probabilities(p: Any, field: str = "p") -> np.ndarray:
    pj = np.atleast_1d(real_array(field, p, "a list of hit probabilities"))
    if pj.ndim != 1 or pj.size == 0:
        raise ModelError(field, p, "a non-empty list of hit probabilities")
    bad = ~(np.isfinite(pj) & (pj >= 0) & (pj <= 1))
    if bad.any():
        k = int(np.argmax(bad))
        raise ModelError(f"{field}[{k}]", float(pj[k]), "a probability in [0, 1]")
    return pj


def poisson_binomial(p: np.ndarray, steps: np.ndarray | None = None) -> np.ndarray:
    """Law of ``sum_j steps_j 1{H_j}`` for independent hits: ``pi[k] = P(sum = k)``.

    Stable recursion ``pi <- (1 - p_j) pi + p_j shift(pi, steps_j)``: every update is a convex
    combination of nonnegative numbers, so there is no cancellation (unlike FFT or DFT formulas).
    """
    p = np.asarray(p, float)
    steps = np.ones(p.size, int) if steps is None else np.asarray(steps, int)
    pi = np.zeros(int(steps.sum()) + 1)
    pi[0] = 1.0
    top = 0
    for pj, sj in zip(p, steps, strict=True):
        new = pi[: top + sj + 1] * (1 - pj)
        new[sj:] += pj * pi[: top + 1]
        pi[: top + sj + 1] = new
        top += sj
    return pi


def nearest_correlation(corr: np.ndarray, floor: float = 1e-10, *,
                        eig: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, float]:
    """Eigenvalue-clipping repair: clip eigenvalues at ``floor``, rescale to unit diagonal.

    Returns the repaired matrix and the smallest eigenvalue of the input. ``eig`` passes an
    eigendecomposition ``(w, v)`` of the symmetrised matrix already at hand (a 2,000 x 2,000 one
    costs seconds).
    """
    w, v = np.linalg.eigh(0.5 * (corr + corr.T)) if eig is None else eig
    fixed = (v * np.maximum(w, floor)) @ v.T
    d = np.sqrt(np.diag(fixed))
    return fixed / np.outer(d, d), float(w.min())


def gaussian_copula_uniforms(corr: Any, n: int, *, seed: int | None = None,
                             psd: str = "repair") -> np.ndarray:
    """``n x d`` uniforms ``Phi(G L^T)`` with a Gaussian copula of correlation ``corr``."""
    r = real_array("corr", corr, "a square correlation matrix")
    if r.ndim != 2 or r.shape[0] != r.shape[1]:
        raise ModelError("corr", r, "a square correlation matrix")
    if not np.all(np.isfinite(r)) or not np.allclose(np.diag(r), 1.0) or not np.allclose(r, r.T):
        raise ModelError("corr", r, "a finite symmetric matrix with unit diagonal")
    if psd not in ("repair", "raise"):
        raise ModelError("psd", psd, "'repair' or 'raise'")
    if isinstance(n, bool) or not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ModelError("n", n, "a positive integer number of samples")
    try:
        chol = np.linalg.cholesky(r)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(0.5 * (r + r.T))
        if w.min() >= -PSD_TOL:  # singular but PSD (perfect correlation): a factor F with F F' = r
            chol = v * np.sqrt(np.maximum(w, 0.0))
        else:
            repaired, min_eig = nearest_correlation(r, eig=(w, v))
            if psd == "raise":
                raise ModelError("corr", f"min eigenvalue {min_eig:.3g}",
                                 "a positive semidefinite correlation matrix") from None
            warnings.warn(f"corr is not positive semidefinite (min eigenvalue {min_eig:.3g}); "
                          "repaired by eigenvalue clipping", RiskoptWarning, stacklevel=3)
            chol = np.linalg.cholesky(repaired)
    rng = generator("seed", seed)
    z = rng.standard_normal((n, r.shape[0])) @ chol.T
    uniforms: np.ndarray = special.ndtr(z)
    return uniforms
