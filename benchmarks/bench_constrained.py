"""User constraints on every mechanism: fast path, program path, program path with a binding constraint.

One row per mechanism and path at the mechanism's paper size (``size`` is the mechanism's index in
``MECHANISMS``; the ``instance`` column says what was solved). Runners:

* ``fast (unconstrained)``: the mechanism's fast path (closed form, Newton, pointwise rule);
* ``program (unconstrained)``: the declarative program on a backend (``method="program"``);
* ``program + constraint``: the program with the card's binding user constraint
  (``models/<mechanism>_constrained.toml``'s kind), its dual and whether it binds.

``ratio`` is each runner's total time over the fast path's. ``--quick`` runs the small instance of
every mechanism once (``size`` negative).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .harness import Family, Runner, register

Metrics = dict[str, Any]


@dataclass(frozen=True)
class ConstrainedCase:
    """One mechanism's instance and its three paths (each ``fn(inputs) -> metrics``)."""

    mechanism: str
    prepare: Callable[[bool], dict[str, Any]]  # prepare(quick) -> inputs (with an "instance" label)
    fast: Callable[[dict[str, Any]], Metrics]
    program: Callable[[dict[str, Any]], Metrics]
    constrained: Callable[[dict[str, Any]], Metrics]


#: the mechanisms in ``size`` order (module ``benchmarks.constrained.<name>`` defines ``CASE``)
MECHANISMS = ("pareto", "price_and_choose", "reinsurance", "distortion", "taxation")


def _case(name: str) -> ConstrainedCase:
    module = importlib.import_module(f"{__package__}.constrained.{name}")
    case: ConstrainedCase = module.CASE
    return case


def case(size: int) -> dict[str, Any]:
    c = _case(MECHANISMS[abs(size) - 1])
    inputs = c.prepare(size < 0)
    inputs["_case"] = c
    return inputs


def _path(kind: str) -> Callable[[dict[str, Any]], Metrics]:
    def run(inputs: dict[str, Any]) -> Metrics:
        c: ConstrainedCase = inputs["_case"]
        out = getattr(c, kind)(inputs)
        return {"mechanism": c.mechanism, "instance": inputs.get("instance", ""), **out}

    return run


CONSTRAINED = register(Family(
    name="constrained",
    case=case,
    sizes=list(range(1, len(MECHANISMS) + 1)),
    quick_sizes=[-k for k in range(1, len(MECHANISMS) + 1)],
    description=__doc__.split("\n")[0],
    notes=__doc__,
    columns=["mechanism", "instance", "runner", "status", "total_s", "compile_s", "solve_s", "objective",
             "constraint_dual", "binding"],
    ratio_to="fast (unconstrained)",
    # sizes are signed mechanism indices (negative: the quick instance), so no size is out of range
    runners=[Runner("fast (unconstrained)", _path("fast"), min_size=-math.inf),
             Runner("program (unconstrained)", _path("program"), min_size=-math.inf),
             Runner("program + constraint", _path("constrained"), min_size=-math.inf)],
))
