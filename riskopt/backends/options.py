"""Solver options checked against their documented ranges before any solve.

A solver handed ``max_iter = -1`` panics, ``1e20`` overflows its integer, ``eps_abs = -1`` is
refused deep inside its interface: each would surface as a failed solve (exit 3) or a crash, not as
the user's mistake it is. :func:`check_options` refuses them up front with a
:class:`~riskopt.errors.ModelError` naming the option (exit 2). Options riskopt does not know are
left to the solver, whose own refusal is reported the same way by the backends.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import ModelError

__all__ = ["MAX_ITERATIONS", "check_options"]

#: the largest iteration cap accepted (solvers keep it in a 32-bit integer)
MAX_ITERATIONS = 10**9
#: iteration caps of at least one iteration (Clarabel, ECOS, SCS, OSQP)
_CAPS = {"max_iter", "max_iters", "maxiter", "max_iterations"}
#: HiGHS's iteration limits, where 0 is allowed (stop after presolve)
_LIMITS = {"simplex_iteration_limit", "ipm_iteration_limit", "pdlp_iteration_limit", "qp_iteration_limit"}
_TOLERANCES = {"feastol", "abstol", "reltol", "feastol_inacc", "abstol_inacc", "reltol_inacc", "mip_rel_gap"}


def _is_time(key: str) -> bool:
    """A time limit in seconds (HiGHS's and SCS's ``time_limit...``, ``max_time``, ``timelimit``)."""
    k = key.lower()
    return "time" in k and ("limit" in k or k.startswith("max_"))


def _is_tolerance(key: str) -> bool:
    k = key.lower()
    return k in _TOLERANCES or k.startswith(("tol_", "eps_", "eps")) or k.endswith(("_tol", "_tolerance"))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf


def check_options(options: Mapping[str, Any], field: str = "options") -> None:
    """Refuse iteration caps, time limits and tolerances outside their documented ranges."""
    for key, value in options.items():
        path, v = f"{field}.{key}", _number(value)
        if key in _CAPS or key in _LIMITS:
            low = 0 if key in _LIMITS else 1
            if v is None or not v.is_integer() or not low <= v <= MAX_ITERATIONS:
                raise ModelError(path, value, f"an iteration limit: an integer in [{low}, 10^9]")
        elif _is_time(key):
            if v is None or math.isnan(v) or not v > 0:
                raise ModelError(path, value, "a time limit in seconds: a number > 0")
        elif _is_tolerance(key) and (v is None or not math.isfinite(v) or not 0 <= v < 1):
            raise ModelError(path, value, "a tolerance: a finite number in [0, 1)")
