"""The mechanisms, one package each, on one contract.

Each mechanism package (``pareto``, ``price_and_choose``, ``reinsurance``, ``distortion``,
``taxation``, ``equilibrium``) registers a :class:`Mechanism`: its name (the ``[model] mechanism``
of a card), the spec dataclass it solves (:mod:`riskopt.spec`: the spec also reads and documents
the card), the methods it offers (``"fast"``: closed forms and specialised solvers; ``"program"``:
the declarative program on a backend) and its ``solve``. :func:`solve` dispatches on the paper's type::

    result = riskopt.mechanisms.solve(spec, method="auto", backend="cvxpy", solver=None)

and returns a :class:`~riskopt.result.Result`. No module outside a mechanism's package imports its
internals: the package's ``__init__`` is its public face.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ModelError
from ..result import Result

__all__ = ["METHODS", "Mechanism", "mechanism_of", "mechanisms", "register_mechanism", "solve"]

METHODS = ("auto", "fast", "program")


@dataclass(frozen=True)
class Mechanism:
    """A registered mechanism: ``solve(spec, *, method, backend, solver, **options) -> Result``."""

    name: str
    spec: type[Any]
    solve: Callable[..., Result]
    methods: tuple[str, ...]
    summary: str = ""


_REGISTRY: dict[str, Mechanism] = {}


def register_mechanism(mechanism: Mechanism) -> Mechanism:
    """Make a mechanism reachable by name (cards) and by spec type (:func:`solve`)."""
    _REGISTRY[mechanism.name] = mechanism
    return mechanism


def mechanisms() -> dict[str, Mechanism]:
    """Registered mechanisms by name (every package is imported first)."""
    _load()
    return dict(_REGISTRY)


def mechanism_of(spec: Any) -> Mechanism:
    """The mechanism whose spec type ``spec`` is."""
    _load()
    for m in _REGISTRY.values():
        if isinstance(spec, m.spec):
            return m
    raise ModelError("spec", type(spec).__name__, f"a mechanism spec: one of "
                     f"{sorted(m.spec.__name__ for m in _REGISTRY.values())}")


def solve(spec: Any, *, method: str = "auto", backend: str = "cvxpy", solver: str | None = None,
          **options: Any) -> Result:
    """Solve a mechanism's spec: ``method`` is ``"auto"`` (the mechanism's default), ``"fast"``
    or ``"program"`` where the mechanism offers it."""
    mech = mechanism_of(spec)
    if method not in METHODS:
        raise ModelError("method", method, f"one of {list(METHODS)}")
    if method != "auto" and method not in mech.methods:
        raise ModelError("method", method, f"one of {['auto', *mech.methods]} for the "
                         f"'{mech.name}' mechanism")
    return mech.solve(spec, method=method, backend=backend, solver=solver, **options)


def _load() -> None:
    """Import every mechanism package (each registers itself)."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
