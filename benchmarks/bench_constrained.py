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
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .harness import Family, Runner, register

Metrics = dict[str, Any]


@dataclass(frozen=True)
class ConstrainedCase:
    """One mechanism's instance and how to solve and summarise it.

    ``prepare(quick)`` gives ``{"instance": label, "free": spec, "constrained": spec}``;
    ``solve(spec, method)`` the result; ``metrics(result)`` its row (``status``, ``objective`` and,
    where they exist, ``compile_s``, ``solve_s``, ``constraint_dual``, ``binding``); ``methods`` the
    methods of the three paths (fast, program, program with the constraint)."""

    mechanism: str
    prepare: Callable[[bool], dict[str, Any]]
    solve: Callable[[Any, str], Any]
    metrics: Callable[[Any], Metrics]
    methods: tuple[str, str, str] = ("fast", "program", "program")


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


def _path(index: int) -> Callable[[dict[str, Any]], Metrics]:
    """The runner of path ``index`` (0 fast, 1 program, 2 program with the constraint): the solve
    timed, the mechanism's metrics added."""
    def run(inputs: dict[str, Any]) -> Metrics:
        c: ConstrainedCase = inputs["_case"]
        spec = inputs["constrained" if index == 2 else "free"]
        t0 = time.perf_counter()
        result = c.solve(spec, c.methods[index])
        total = time.perf_counter() - t0
        return {"mechanism": c.mechanism, "instance": inputs.get("instance", ""), "total_s": total,
                **c.metrics(result)}

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
    runners=[Runner("fast (unconstrained)", _path(0), min_size=-math.inf),
             Runner("program (unconstrained)", _path(1), min_size=-math.inf),
             Runner("program + constraint", _path(2), min_size=-math.inf)],
))
