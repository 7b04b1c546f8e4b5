"""Equilibria of smooth expected-utility exchanges: Bühlmann's closed form and Negishi's method.

Agents ``i`` with priors ``q_i`` (full support), wealth ``w_i`` and utility ``u_i`` (CARA with
absolute risk aversion ``a_i``, or CRRA with relative risk aversion ``eta_i`` and shift ``h_i``)
own endowments ``e_i``; ``W = sum_i e_i``. At state prices ``psi`` (``sum_s psi_s = 1``, density
``phi_s = psi_s / p_s``) agent ``i`` maximises ``E_{q_i}[u_i(w_i + xi_i)]`` subject to
``psi . xi_i = psi . e_i``; markets clear when ``sum_i xi_i = W``.

**Negishi.** The equilibrium is the welfare optimum ``max sum_i lambda_i E_{q_i} u_i`` whose weights
make every budget balance. For given ``theta = log lambda`` the optimum solves, state by state,
``theta_i + log q_is + log u_i'(z_is) = l_s`` (``z = w + xi``, ``l = log psi``) with clearing
``sum_i xi_is = W_s``: one monotone equation in ``l_s`` (:func:`welfare_optimum`). The budget
excess ``B_i(theta) = psi . (xi_i - e_i)`` is homogeneous of degree 0 in ``lambda`` and
``sum_i B_i = 0`` (Walras); Newton's method with a backtracking line search on ``|B|`` solves
``B = 0`` (:func:`negishi`) with the exact Jacobian: with risk tolerances ``r_is = -u'/u''``,
``R_s = sum_i r_is`` and ``pi_js = r_js / R_s``,
``dl_s/dtheta_j = pi_js`` and ``dxi_is/dtheta_j = r_is (delta_ij - pi_js)``.

**Bühlmann (1980), "An economic premium principle".** With CARA utilities under a common prior the
weights drop out: ``1/a = sum_i 1/a_i``, ``phi = exp(-a W) / E[exp(-a W)]`` (the Esscher density) and
``xi_i = (a/a_i) W + c_i`` with ``c_i = E[phi e_i] - (a/a_i) E[phi W]`` (:func:`buhlmann`). Under
subjective priors the same steps give ``log phi_s = a sum_i beta_is / a_i - a W_s + const`` with
``beta_is = log(q_is / p_s)``.

Everything runs in the log domain, so exponents in the thousands neither overflow nor underflow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from ...measures import Entropic, ExpectedUtility, Measure
from ...measures.utility import CARA, CRRA

__all__ = ["Preferences", "Smooth", "buhlmann", "consumption", "negishi", "preferences", "tolerances",
           "welfare_optimum"]

#: Newton on the weights stops once the largest budget excess is below this fraction of the value
#: of the trades (a few ulps of the sums psi . xi_i, which carry S roundings each)
NEWTON_RTOL = 1e-14
#: a state's clearing equation is solved to this fraction of its scale (total tolerance times n)
STATE_RTOL = 4 * np.finfo(float).eps


@dataclass(frozen=True)
class Preferences:
    """Smooth agents as arrays: ``cara[i]`` (True: CARA, False: CRRA), ``aversion`` (``a_i`` or
    ``eta_i``), ``shift`` (CRRA's ``h_i``, 0 for CARA), ``wealth`` and ``log_q`` (``(n, S)``)."""

    cara: np.ndarray
    aversion: np.ndarray
    shift: np.ndarray
    wealth: np.ndarray
    log_q: np.ndarray

    @property
    def n(self) -> int:
        return int(self.aversion.size)


def preferences(measures: Sequence[Measure], p: np.ndarray) -> Preferences | None:
    """The smooth agents' arrays, or None if some measure is not entropic / expected CARA or CRRA.

    An entropic agent is an expected-CARA agent with wealth 0 (the two rank gains alike)."""
    cara, aversion, shift, wealth, log_q = [], [], [], [], []
    for m in measures:
        law = getattr(m, "law", None)
        q = p if law is None else np.asarray(law, float) / float(np.sum(law))
        if isinstance(m, Entropic):
            row = (True, m.gamma, 0.0, 0.0)
        elif isinstance(m, ExpectedUtility) and isinstance(m.u, CARA):
            row = (True, m.u.gamma, 0.0, m.wealth)
        elif isinstance(m, ExpectedUtility) and isinstance(m.u, CRRA):
            row = (False, m.u.eta, m.u.shift, m.wealth)
        else:
            return None
        cara.append(row[0])
        aversion.append(row[1])
        shift.append(row[2])
        wealth.append(row[3])
        with np.errstate(divide="ignore"):
            log_q.append(np.log(q))
    return Preferences(np.array(cara, bool), np.array(aversion, float), np.array(shift, float),
                       np.array(wealth, float), np.vstack(log_q))


def consumption(prefs: Preferences, c: np.ndarray, ell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Allocations ``xi_is`` and risk tolerances ``r_is`` where ``log u_i'(w_i + xi_is) = l_s - c_is``.

    CARA: ``z = (c - l)/a``, ``r = 1/a``; CRRA: ``z + h = exp((c - l)/eta)``, ``r = (z + h)/eta``."""
    a = prefs.aversion[:, None]
    t = (c - ell[None, :]) / a
    with np.errstate(over="ignore"):
        y = np.exp(np.where(prefs.cara[:, None], 0.0, t))
    z = np.where(prefs.cara[:, None], t, y - prefs.shift[:, None])
    r = np.where(prefs.cara[:, None], 1.0 / a, y / a)
    return z - prefs.wealth[:, None], np.broadcast_to(r, z.shape).copy()


def tolerances(prefs: Preferences, xi: np.ndarray) -> np.ndarray:
    """Risk tolerances ``r_is = -u_i'/u_i''`` at ``z = w + xi``: ``1/a`` (CARA), ``(z + h)/eta`` (CRRA)."""
    z = prefs.wealth[:, None] + xi
    a = prefs.aversion[:, None]
    out: np.ndarray = np.where(prefs.cara[:, None], 1.0 / a, (z + prefs.shift[:, None]) / a)
    return out


def welfare_optimum(prefs: Preferences, theta: np.ndarray, W: np.ndarray,
                    start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The optimum of ``max sum_i e^theta_i E_{q_i} u_i(w_i + xi_i)`` s.t. ``sum_i xi_i = W``: returns
    ``(l, xi, r)`` with ``l_s = log psi_s`` (unnormalised prices).

    Each state's clearing ``F(l) = sum_i xi_i(l) - W = 0`` is convex and decreasing in ``l``: Newton
    from a point where ``F >= 0`` climbs monotonically to the root (no overshoot); a bracket found
    by doubling steps keeps every iterate inside it."""
    c = theta[:, None] + prefs.log_q
    S = W.size
    ell = np.zeros(S) if start is None else np.array(start, float)
    if start is None and not prefs.cara.all():
        # where every CRRA agent's z + h is at most the state's total wealth K, no term overflows
        K = W + prefs.wealth.sum() + prefs.shift[~prefs.cara].sum()
        Kpos = np.maximum(K, np.finfo(float).tiny)
        crra = ~prefs.cara
        ell = np.max(c[crra] - prefs.aversion[crra, None] * np.log(Kpos)[None, :], axis=0)

    def excess(x: np.ndarray) -> np.ndarray:
        xi, _ = consumption(prefs, c, x)
        with np.errstate(invalid="ignore"):
            out: np.ndarray = np.sum(xi, axis=0) - W
        return out

    def bracket(sign: float) -> np.ndarray:
        """From ``ell``, doubling steps in direction ``sign`` until ``sign F <= 0`` in every state
        (the excess demand falls in x): ``lo`` with ``F >= 0`` (sign -1), ``hi`` with ``F <= 0``."""
        x, F, step = ell.copy(), excess(ell), np.ones(S)
        for _ in range(200):
            need = ~(sign * F <= 0)
            if not need.any():
                break
            x = np.where(need, x + sign * step, x)
            step = np.where(need, 2 * step, step)
            F = np.where(need, excess(x), F)
        return x

    lo, hi = bracket(-1.0), bracket(1.0)
    x = lo.copy()
    for _ in range(200):
        xi, r = consumption(prefs, c, x)
        F = np.sum(xi, axis=0) - W
        slope = -np.sum(r, axis=0)
        scale = np.sum(np.abs(xi), axis=0) + np.abs(W)
        new = x - F / slope
        outside = ~((new >= lo) & (new <= hi))
        new = np.where(outside, 0.5 * (lo + hi), new)
        lo = np.where(F >= 0, np.maximum(lo, x), lo)
        hi = np.where(F <= 0, np.minimum(hi, x), hi)
        done = np.abs(F) <= STATE_RTOL * prefs.n * scale
        if done.all():
            break
        x = np.where(done, x, new)
    xi, r = consumption(prefs, c, x)
    return x, xi, r


@dataclass(frozen=True)
class Smooth:
    """An equilibrium of smooth agents: allocation ``xi`` ``(n, S)``, normalised prices ``psi``
    (``sum = 1``), log Negishi weights ``theta`` (``lambda_i q_i u_i' = psi``), the budget excess
    history, Newton steps and whether the budgets balanced."""

    xi: np.ndarray
    psi: np.ndarray
    theta: np.ndarray
    residuals: tuple[float, ...]
    iterations: int
    converged: bool
    note: str = ""
    #: ``log psi`` (finite where ``psi`` underflows to 0: exponents beyond -745)
    log_psi: np.ndarray | None = None


def _normalise(ell: np.ndarray) -> tuple[np.ndarray, float]:
    """``psi = exp(l - LSE(l))`` and ``LSE(l)`` (prices summing to one, in the log domain)."""
    top = float(logsumexp(ell))
    with np.errstate(under="ignore"):
        return np.exp(ell - top), top


def buhlmann(prefs: Preferences, p: np.ndarray, E: np.ndarray) -> Smooth:
    """Bühlmann's equilibrium of CARA agents (subjective priors allowed): see the module docstring.

    ``prefs`` must be all CARA; ``E`` is ``(n, S)`` endowments. Exact up to rounding."""
    a_i = prefs.aversion
    a = 1.0 / float(np.sum(1.0 / a_i))
    W = E.sum(axis=0)
    beta = prefs.log_q - np.log(p)[None, :]
    tilt = a * np.sum(beta / a_i[:, None], axis=0)  # 0 under a common prior
    log_psi = np.log(p) + tilt - a * W
    psi, top = _normalise(log_psi)
    log_psi = log_psi - top
    shares = a / a_i
    # xi_is = (a/a_i) W_s + (beta_is - sum_j a beta_js / a_j) / a_i + k_i, k_i from the budgets
    xi = shares[:, None] * W[None, :] + (beta - tilt[None, :]) / a_i[:, None]
    xi = xi + (psi @ E.T - xi @ psi)[:, None]
    theta = _log_weights(prefs, xi, psi)
    return Smooth(xi, psi, theta, (0.0,), 0, True, "Bühlmann's closed form", log_psi)


def _log_weights(prefs: Preferences, xi: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """``theta_i = log lambda_i`` with ``lambda_i sum_s q_is u_i'(z_is) = sum_s psi_s = 1``."""
    z = prefs.wealth[:, None] + xi
    with np.errstate(divide="ignore", invalid="ignore"):
        log_mu = np.where(prefs.cara[:, None], -prefs.aversion[:, None] * z,
                          -prefs.aversion[:, None] * np.log(z + prefs.shift[:, None]))
    return -np.asarray(logsumexp(prefs.log_q + log_mu, axis=1), float)


def negishi(prefs: Preferences, p: np.ndarray, E: np.ndarray, *, max_iterations: int = 100,
            tolerance: float = 1e-10,
            optimum: Callable[[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray, np.ndarray]]
            | None = None) -> Smooth:
    """Negishi's method: Newton on ``theta = log lambda`` for ``B(theta) = 0`` (module docstring).

    ``optimum(theta, start) -> (l, xi, r)`` is the welfare optimum for the weights (default: the
    state-by-state solution :func:`welfare_optimum`; the program route passes a solver). Starts
    from ``lambda_i = 1 / E_{q_i}[u_i'(w_i + e_i)]`` (autarky's marginal utility of wealth).
    Converged when the largest budget excess is within ``tolerance`` of the value of the trades."""
    W = E.sum(axis=0)
    solve = optimum or (lambda th, st: welfare_optimum(prefs, th, W, st))
    theta = _log_weights(prefs, E, p)
    theta -= theta.mean()
    history: list[float] = []
    ell, xi, r = solve(theta, None)

    def measure(ell: np.ndarray, xi: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        psi, _ = _normalise(ell)
        B = xi @ psi - E @ psi
        scale = float(np.max(np.abs(xi) @ psi + np.abs(E) @ psi, initial=0.0)) or 1.0
        return psi, B, float(np.max(np.abs(B))) / scale, scale

    psi, B, res, scale = measure(ell, xi)
    history.append(res)
    it = 0
    note = ""
    while it < max_iterations and res > NEWTON_RTOL:
        it += 1
        R = r.sum(axis=0)
        pi = r / R[None, :]                       # dl_s / dtheta_j, (n, S)
        Pi = pi @ psi                             # psi-mean of dl/dtheta_j
        D = xi - E                                # (n, S)
        J = (D * psi[None, :]) @ (pi - Pi[:, None]).T          # price effects
        J += np.diag((r * psi[None, :]).sum(axis=1))           # own weight
        J -= (r * psi[None, :]) @ pi.T                         # through the price of each state
        step = -np.linalg.lstsq(J / scale, B / scale, rcond=None)[0]
        step -= step.mean()
        alpha, accepted = 1.0, False
        for _ in range(40):
            trial = theta + alpha * step
            ell_t, xi_t, r_t = solve(trial, ell)
            psi_t, B_t, res_t, scale_t = measure(ell_t, xi_t)
            if np.isfinite(res_t) and res_t <= (1 - 1e-4 * alpha) * res:
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            note = f"the line search stalled at budget residual {res:.3g} after {it} Newton steps"
            break
        theta, ell, xi, r, psi, B, res, scale = trial, ell_t, xi_t, r_t, psi_t, B_t, res_t, scale_t
        history.append(res)
    psi, top = _normalise(ell)
    converged = bool(res <= tolerance)
    if not converged and not note:
        note = f"budget residual {res:.3g} after {it} Newton steps (max_iterations = {max_iterations})"
    return Smooth(xi, psi, theta - top, tuple(history), it, converged, note, ell - top)
