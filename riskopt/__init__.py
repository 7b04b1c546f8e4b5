"""riskopt: optimisation modelling for risk sharing and insurance mechanism design.

Declare agents (risks and preferences), an aggregate risk, the allowed allocations and a mechanism;
riskopt writes the convex/linear program, solves it on a pluggable backend and reads allocations and
equilibrium prices from the duals.
"""

from . import laws, measures
from .allocation import (
    AnchoredComonotone,
    Budget,
    Comonotone,
    IndividualRationality,
    LimitedLiability,
    NoSabotage,
    SignRestriction,
)
from .certificate import Certificate
from .errors import ModelError, RiskoptWarning, SolveError
from .program import Agent, Program, SharingProgram
from .solution import Solution
from .space import Scenarios

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AnchoredComonotone",
    "Budget",
    "Certificate",
    "Comonotone",
    "IndividualRationality",
    "LimitedLiability",
    "ModelError",
    "NoSabotage",
    "Program",
    "RiskoptWarning",
    "Scenarios",
    "SharingProgram",
    "SignRestriction",
    "Solution",
    "SolveError",
    "laws",
    "measures",
]
