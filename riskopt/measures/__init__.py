"""Preference functionals: each a small registered class with ``value`` and a cvxpy form.

``create(name, **params)`` builds one by name (model cards); ``registry()`` lists the names.
"""

from .base import Form, Measure, create, oriented_forms, registry
from .choquet import Capacity, Choquet
from .credal import MaxMin
from .distortion import (
    ES,
    Distortion,
    DistortionFunction,
    VaR,
    check_distortion,
    distortion_function,
)
from .entropic import Entropic
from .expectation import Expectation
from .utility import CARA, CRRA, ExpectedUtility, utility_function

__all__ = [
    "CARA",
    "CRRA",
    "ES",
    "Capacity",
    "Choquet",
    "Distortion",
    "DistortionFunction",
    "Entropic",
    "Expectation",
    "ExpectedUtility",
    "Form",
    "MaxMin",
    "Measure",
    "VaR",
    "check_distortion",
    "create",
    "distortion_function",
    "oriented_forms",
    "registry",
    "utility_function",
]
