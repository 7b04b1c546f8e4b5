"""One status vocabulary for every result, and the only place a status is decided.

A status is a claim about what was *checked*, never a label written by hand. Every result of every
mechanism carries one :class:`Status`, computed by the functions below from checks actually made:

* :func:`from_solver`: what the solver said (cvxpy's statuses; HiGHS model statuses);
* :func:`from_certificate`: the solver's word gated by the KKT certificate in the problem's own
  units (:mod:`riskopt.certificate`). A certificate beyond its tolerance never leaves ``optimal``;
* :func:`from_verification`: a mechanism's own verification (an SPNE check, a fixed-point residual,
  a closed form's optimality conditions) on top of a solved point;
* :func:`from_convergence`: an iterative fast path (Newton in log prices, a fixed point) that
  stopped at its residual tolerance or did not;
* :func:`worst`: the status of a result made of several checked parts.

``Status.ok`` is what a user may rely on without reading further (``optimal`` or ``verified``); the
CLI exits 0 for it and 3 for every other status of a finished run (:attr:`Status.exit_code`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["STATUSES", "Check", "Status", "Tolerances", "from_certificate", "from_checks", "from_convergence",
           "from_highs", "from_solver", "from_verification", "worst"]


class Status(StrEnum):
    """The outcome of a solve or a mechanism run (a ``str``: ``Status.OPTIMAL == "optimal"``)."""

    OPTIMAL = "optimal"
    VERIFIED = "verified"
    OPTIMAL_INACCURATE = "optimal_inaccurate"
    VERIFICATION_FAILED = "verification_failed"
    CERTIFICATE_FAILED = "certificate_failed"
    NOT_CONVERGED = "not_converged"
    INFEASIBLE = "infeasible"
    INFEASIBLE_INACCURATE = "infeasible_inaccurate"
    UNBOUNDED = "unbounded"
    UNBOUNDED_INACCURATE = "unbounded_inaccurate"
    TIME_LIMIT = "time_limit"
    ITERATION_LIMIT = "iteration_limit"
    SOLVER_ERROR = "solver_error"
    ERROR = "error"

    @property
    def ok(self) -> bool:
        """Every check made passed: the numbers can be used as they are."""
        return self in _OK

    @property
    def usable(self) -> bool:
        """``ok``, or ``optimal_inaccurate``: a point to use with the care its status asks for.
        ``Program.solve(check=True)`` raises for every other status."""
        return self in _OK or self is Status.OPTIMAL_INACCURATE

    @property
    def has_point(self) -> bool:
        """A primal (and dual) point was returned, whatever its quality (``ok`` or flagged)."""
        return self in _POINT

    @property
    def exit_code(self) -> int:
        """The CLI's exit code for a run that ended with this status: 0 if ok, else 3."""
        return 0 if self.ok else 3

    @classmethod
    def of(cls, error: BaseException) -> Status:
        """The status of a run that raised: a failed solve's own, else ``error``."""
        status = getattr(error, "status", None)
        return cls(str(status)) if status in cls._value2member_map_ else cls.ERROR

    @property
    def base(self) -> Status:
        """The status without its ``_inaccurate`` qualifier (``infeasible_inaccurate`` -> ``infeasible``)."""
        return Status(self.value.removesuffix("_inaccurate")) if self in _INACCURATE else self

    @property
    def meaning(self) -> str:
        """One sentence a user can read (the docs' table is made from these)."""
        return _MEANING[self]


_OK = frozenset({Status.OPTIMAL, Status.VERIFIED})
_POINT = frozenset({Status.OPTIMAL, Status.VERIFIED, Status.OPTIMAL_INACCURATE, Status.VERIFICATION_FAILED,
                    Status.CERTIFICATE_FAILED, Status.NOT_CONVERGED})
_INACCURATE = frozenset({Status.OPTIMAL_INACCURATE, Status.INFEASIBLE_INACCURATE,
                         Status.UNBOUNDED_INACCURATE})
#: severity order used by :func:`worst` (later is worse)
_SEVERITY = (Status.VERIFIED, Status.OPTIMAL, Status.OPTIMAL_INACCURATE, Status.NOT_CONVERGED,
             Status.VERIFICATION_FAILED, Status.CERTIFICATE_FAILED, Status.ITERATION_LIMIT,
             Status.TIME_LIMIT, Status.INFEASIBLE_INACCURATE, Status.UNBOUNDED_INACCURATE,
             Status.INFEASIBLE, Status.UNBOUNDED, Status.SOLVER_ERROR, Status.ERROR)

_MEANING = {
    Status.OPTIMAL: "the solver reported an optimum and the KKT certificate, in the problem's own "
                    "units, is within the tight tolerance",
    Status.VERIFIED: "an optimum (or equilibrium) whose mechanism-specific verification passed",
    Status.OPTIMAL_INACCURATE: "a point whose certificate is within the loose tolerance only (or the "
                               "solver said so): usable with care, not to the last digits",
    Status.VERIFICATION_FAILED: "a point was computed but the mechanism's own verification failed",
    Status.CERTIFICATE_FAILED: "the solver claimed an optimum but the KKT certificate is beyond even "
                               "the loose tolerance: do not use the numbers",
    Status.NOT_CONVERGED: "an iterative method stopped before its residual tolerance",
    Status.INFEASIBLE: "the constraints admit no point",
    Status.INFEASIBLE_INACCURATE: "probably infeasible (the solver's certificate is inaccurate)",
    Status.UNBOUNDED: "the objective improves without limit",
    Status.UNBOUNDED_INACCURATE: "probably unbounded (the solver's certificate is inaccurate)",
    Status.TIME_LIMIT: "the solver stopped at its time limit",
    Status.ITERATION_LIMIT: "the solver stopped at its iteration limit",
    Status.SOLVER_ERROR: "the solver failed (numerically, or it refused the problem)",
    Status.ERROR: "the run raised before a result existed (a value the model refuses, or a bug): the "
                  "message says which",
}

#: every status value, in severity order (for docs and schema)
STATUSES: tuple[str, ...] = tuple(s.value for s in _SEVERITY)


@dataclass(frozen=True)
class Tolerances:
    """Certificate tolerances, relative to the data (see :mod:`riskopt.certificate`).

    ``tight``: a certificate within it confirms the solver's ``optimal``. ``loose``: within it the
    point is ``optimal_inaccurate``; beyond it, ``certificate_failed``.
    """

    tight: float = 1e-7
    loose: float = 1e-4


DEFAULT_TOLERANCES = Tolerances()


# ------------------------------------------------------------------ from the solver's word
def _cvxpy_map() -> dict[str, Status]:
    import cvxpy as cp

    return {cp.OPTIMAL: Status.OPTIMAL, cp.OPTIMAL_INACCURATE: Status.OPTIMAL_INACCURATE,
            cp.INFEASIBLE: Status.INFEASIBLE, cp.INFEASIBLE_INACCURATE: Status.INFEASIBLE_INACCURATE,
            cp.UNBOUNDED: Status.UNBOUNDED, cp.UNBOUNDED_INACCURATE: Status.UNBOUNDED_INACCURATE,
            cp.USER_LIMIT: Status.TIME_LIMIT, cp.SOLVER_ERROR: Status.SOLVER_ERROR}


def from_solver(status: str | None, *, iterations: int | None = None, max_iterations: int | None = None,
                raw: str = "") -> Status:
    """cvxpy's status -> :class:`Status`. cvxpy reports every solver limit as ``user_limit``; an
    iteration count at the cap, or a raw status naming iterations, makes it ``iteration_limit``.
    Anything unknown (or ``None``: no solve happened) is a ``solver_error``."""
    out = _cvxpy_map().get(status or "", Status.SOLVER_ERROR)
    if out is Status.TIME_LIMIT and ("iteration" in raw.lower() or (
            iterations is not None and max_iterations is not None and iterations >= max_iterations)):
        return Status.ITERATION_LIMIT
    return out


#: HiGHS model statuses (``HighsModelStatus.name``) -> Status; others are solver errors
_HIGHS = {"kOptimal": Status.OPTIMAL, "kInfeasible": Status.INFEASIBLE, "kUnbounded": Status.UNBOUNDED,
          "kTimeLimit": Status.TIME_LIMIT, "kIterationLimit": Status.ITERATION_LIMIT}


def from_highs(model_status: str) -> Status:
    """A HiGHS model status name (``"kOptimal"``, ...) -> :class:`Status`."""
    return _HIGHS.get(model_status, Status.SOLVER_ERROR)


# ------------------------------------------------------------------ from checks
def from_certificate(solver: Status, residual: float | None,
                     tolerances: Tolerances = DEFAULT_TOLERANCES) -> Status:
    """Gate the solver's status by the certificate's largest scaled residual.

    Only a status with a point is gated. ``residual`` within ``tight`` gives ``optimal`` (also for a
    solver that said ``optimal_inaccurate``: the certificate is the check); within ``loose``,
    ``optimal_inaccurate``; beyond, or not finite, ``certificate_failed``. ``None`` (no certificate
    could be computed) keeps at most ``optimal_inaccurate``.
    """
    if solver not in (Status.OPTIMAL, Status.OPTIMAL_INACCURATE):
        return solver
    if residual is None:
        return Status.OPTIMAL_INACCURATE
    if not residual <= tolerances.loose:  # NaN fails too
        return Status.CERTIFICATE_FAILED
    return Status.OPTIMAL if residual <= tolerances.tight else Status.OPTIMAL_INACCURATE


def from_verification(base: Status, passed: bool | None) -> Status:
    """A mechanism's verification on top of a solved point: ``verified`` only if the point was ok
    and the verification passed; a failed verification is ``verification_failed`` whatever the
    solve said; ``None`` (nothing verified) keeps ``base``."""
    if not base.has_point or passed is None:
        return base
    if not passed:
        return Status.VERIFICATION_FAILED
    return Status.VERIFIED if base.ok else base


@dataclass(frozen=True)
class Check:
    """One verification a mechanism made: a residual against its tolerance, or a yes/no fact.

    ``Check("budget", 3e-16, 1e-12)`` passes; ``Check("spne", False)`` fails; a NaN residual fails.
    """

    name: str
    residual: float | bool
    tolerance: float = 0.0
    note: str = ""

    @property
    def passed(self) -> bool:
        if isinstance(self.residual, bool):
            return self.residual
        return bool(abs(self.residual) <= self.tolerance)  # NaN compares False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "passed": self.passed}
        if isinstance(self.residual, bool):
            out["value"] = self.residual
        else:
            out["residual"] = float(self.residual) if self.residual == self.residual else None
            out["tolerance"] = self.tolerance
        if self.note:
            out["note"] = self.note
        return out


def from_checks(base: Status, checks: list[Check] | tuple[Check, ...]) -> Status:
    """:func:`from_verification` over a list of checks (none made: ``base`` stands)."""
    return from_verification(base, all(c.passed for c in checks) if checks else None)


def from_convergence(converged: bool) -> Status:
    """An iterative method's own stopping test: ``optimal`` at its tolerance, else ``not_converged``."""
    return Status.OPTIMAL if converged else Status.NOT_CONVERGED


def worst(*statuses: Any) -> Status:
    """The most severe of several statuses (a result is as good as its weakest checked part)."""
    if not statuses:
        raise ValueError("worst() needs at least one status")
    return max((Status(s) for s in statuses), key=_SEVERITY.index)
