"""Types checked at the edge of the Python API (issue 18, item 5).

Every public constructor or function that takes numbers or arrays is called with a valid set of
arguments and then with one hostile value in one numeric/array argument at a time: a string (also a
numeric one), a dict, a complex number (alone and in a list), None, a ragged nested list, a 3-d array,
an empty list, a bool, NaN, inf and a bare ``object()``. Each call must either succeed or raise
:class:`riskopt.ModelError` whose field names the argument (or, for a consistency check between two
arguments, the other one) and says what is allowed -- never a raw ValueError, TypeError, IndexError,
numpy or cvxpy error, and never a complex number silently cut to its real part.

The checks live in :mod:`riskopt.checks` (``real``, ``real_array``, ``integer``, ``generator``) and,
for spec dataclasses built in Python, :func:`riskopt.spec.check_fields` (the card's own field checks).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import riskopt as ro
from riskopt import ModelError, RiskoptWarning
from riskopt import laws as lw
from riskopt import measures as ms
from riskopt import mechanisms as mech
from riskopt.constraints import ConstraintSpec
from riskopt.degeneracy import dual_range, price_intervals
from riskopt.mechanisms import distortion as dist
from riskopt.mechanisms import equilibrium as eq
from riskopt.mechanisms import pareto as par
from riskopt.mechanisms import price_and_choose as pc
from riskopt.mechanisms import reinsurance as rei
from riskopt.mechanisms import taxation as tax
from riskopt.sweep import grid

#: the hostile values tried in every numeric or array argument
BAD: dict[str, Any] = {
    "str": "abc",
    "numeric_str": "1.5",
    "dict": {"a": 1.0},
    "complex": 1 + 2j,
    "complex_list": [0.5 + 1j, 0.5],
    "none": None,
    "ragged": [[1.0, 2.0], [3.0]],
    "3d": np.ones((2, 2, 2)),
    "empty": [],
    "bool": True,
    "nan": math.nan,
    "inf": math.inf,
    "object": object(),
}


@dataclass(frozen=True)
class Edge:
    """A public callable, a valid call of it and the numeric/array arguments to attack.

    ``fields`` maps an argument to words one of which the ModelError's field may contain instead of
    the argument's name (``variables.X`` for ``X``)."""

    name: str
    call: Callable[..., Any]
    valid: Mapping[str, Any]
    attack: tuple[str, ...]
    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# ------------------------------------------------------------------------------ shared inputs
P3 = [0.25, 0.5, 0.25]
X3 = [1.0, 2.0, 3.0]
SPACE = ro.Scenarios.discrete([-1.0, 0.0, 2.0], P3)
LOSSES = ro.Scenarios.discrete([0.0, -1.0, -2.0], P3)
ES = ms.ES(0.5)
AGENTS = [ro.Agent("a", ms.Entropic(1.0)), ro.Agent("b", ms.Entropic(2.0))]
ENDOWED = (ro.Agent("a", ms.Entropic(1.0), np.array([-1.0, 0.0, 1.0])),
           ro.Agent("b", ms.Entropic(2.0), np.array([0.0, 0.0, 1.0])))
LP_AGENTS = [ro.Agent("a", ms.Expectation(law=[0.2, 0.3, 0.5])),
             ro.Agent("b", ms.Expectation(law=[0.5, 0.3, 0.2]))]
LP_PROGRAM = par.welfare(LOSSES, LP_AGENTS, allocation=ro.Budget(),
                         restrictions=[ro.LimitedLiability([3.0, 3.0])])
DIST_AGENTS = [ro.Agent("a", ms.Distortion("power", a=0.5)), ro.Agent("b", ES)]
POOL = pc.Pool.independent([1.0, 2.0], 0.1)
CE = lw.censored_exponential(2.0, 5.0)
INSURERS = [rei.InsurerSpec("i", CE, ms.ES(0.1))]
REINSURERS = [rei.ReinsurerSpec("r", 0.1, lw.censored_exponential(2.5, 5.0))]
MARKET = rei.Market(INSURERS, REINSURERS, bound=5.0)
CARA_V = tax.ExponentialPayments(1.0)
MATRIX = np.random.default_rng(0).uniform(0.0, 3.0, (3, 400))
INSURER = tax.DefaultableInsurer(theta=0.3, capital=7.0)
STORM_INSURER = tax.DefaultableInsurer(theta=0.3, capital=20.0)
FAMILY = tax.ExponentialFamily([1.0, 1.0], 0.0, [4.0, 4.0])
LAW3 = tax.residual_law([0.0, 1.0, 2.0])
REGIONS = (tax.RegionSpec(wealth=8.0, expected_loss=0.5, disutility=CARA_V),
           tax.RegionSpec(wealth=8.0, expected_loss=0.5, disutility=CARA_V))
POWER = ms.distortion_function("power", a=0.5)
CAPACITY = [{"states": [0], "value": 0.3}, {"states": [1], "value": 0.6}]


def _value_of(measure: ms.Measure) -> Callable[..., Any]:
    def call(x: Any, space: Any) -> Any:
        return measure.value(x, space)
    return call


MEASURES: dict[str, ms.Measure] = {
    "ES": ES, "VaR": ms.VaR(0.5), "Entropic": ms.Entropic(1.0), "Expectation": ms.Expectation(),
    "EU.cara": ms.ExpectedUtility("cara", gamma=1.0),
    "EU.crra": ms.ExpectedUtility("crra", eta=2.0, shift=3.0),
    "Distortion": ms.Distortion("wang", lam=0.3),
    "MaxMin": ms.MaxMin(ms.Expectation(), [P3, [0.5, 0.25, 0.25]]),
}

SPECS: dict[str, tuple[Any, Any]] = {  # a mechanism module and a spec it solves
    "mechanisms": (mech, par.ParetoSpec(agents=tuple(AGENTS), space=SPACE)),
    "pareto": (par, par.ParetoSpec(agents=tuple(AGENTS), space=SPACE)),
    "price_and_choose": (pc, pc.PriceAndChoose(POOL)),
    "reinsurance": (rei, rei.ReinsuranceSpec(insurers=tuple(INSURERS), reinsurers=tuple(REINSURERS),
                                             market=rei.MarketOptions(bound=5.0, pareto_check=False))),
    "distortion": (dist, dist.SharingSpec(agents=tuple(DIST_AGENTS), space=SPACE)),
    "equilibrium": (eq, eq.EquilibriumSpec(space=SPACE, agents=ENDOWED)),
    "taxation": (tax, tax.LawEconomySpec(regions=REGIONS, law=LAW3)),
}

E = Edge
EDGES: list[Edge] = [
    # ---------------------------------------------------------------- riskopt.Scenarios
    E("Scenarios", ro.Scenarios, {"probs": P3, "variables": {"X": X3}, "pruned_mass": 0.0},
      ("probs", "variables", "pruned_mass")),
    E("Scenarios.variable", lambda probs, X: ro.Scenarios(probs, {"X": X}), {"probs": P3, "X": X3}, ("X",),
      {"X": ("variables.X",)}),
    E("Scenarios.discrete", ro.Scenarios.discrete, {"values": [1.0, 2.0], "probs": [0.5, 0.5]},
      ("values", "probs")),
    E("Scenarios.equally_weighted", ro.Scenarios.equally_weighted, {"samples": [1.0, 2.0, 4.0]}, ("samples",),
      {"samples": ("samples", "variables")}),
    E("Scenarios.equally_weighted.mapping", lambda X: ro.Scenarios.equally_weighted({"X": X}),
      {"X": [1.0, 2.0]}, ("X",), {"X": ("samples",)}),
    E("Scenarios.from_law", ro.Scenarios.from_law, {"law": lw.Exponential(1.0), "n": 4}, ("n",)),
    E("Scenarios.bernoulli_hits", ro.Scenarios.bernoulli_hits, {"p": [0.1, 0.2], "loss": 1.0, "tick": None},
      ("p", "loss", "tick")),
    E("Scenarios.common_shock_hits", ro.Scenarios.common_shock_hits,
      {"p_storm": [0.3, 0.4], "p_calm": [0.05, 0.1], "storm_prob": 0.2, "loss": 1.0},
      ("p_storm", "p_calm", "storm_prob", "loss")),
    E("Scenarios.bernoulli_atoms", ro.Scenarios.bernoulli_atoms, {"p": [0.1, 0.2], "loss": 1.0},
      ("p", "loss")),
    E("Scenarios.gaussian_copula", ro.Scenarios.gaussian_copula,
      {"marginals": [lw.Exponential(1.0), lw.Exponential(2.0)], "corr": [[1.0, 0.5], [0.5, 1.0]], "n": 5,
       "seed": 0}, ("corr", "n", "seed")),
    E("Scenarios.prune", lambda tol: SPACE.prune(tol), {"tol": 0.1}, ("tol",)),
    E("Scenarios.expect", lambda values: SPACE.expect(values), {"values": X3}, ("values",)),
    E("Scenarios.with_variables", lambda Y: SPACE.with_variables(Y=Y), {"Y": X3}, ("Y",),
      {"Y": ("variables.Y",)}),
    E("Scenarios.sf", lambda x: SPACE.sf(x), {"x": 0.5}, ("x",)),
    E("Scenarios.ppf", lambda u: SPACE.ppf(u), {"u": 0.5}, ("u",)),
    # ---------------------------------------------------------------- riskopt.laws
    E("laws.Exponential", lw.Exponential, {"rate": 1.0}, ("rate",)),
    E("laws.Uniform", lw.Uniform, {"lo": 0.0, "hi": 1.0}, ("lo", "hi")),
    E("laws.Dirac", lw.Dirac, {"value": 1.0}, ("value",)),
    E("laws.Discrete", lw.Discrete, {"values": [0.0, 1.0], "probs": [0.5, 0.5]}, ("values", "probs")),
    E("laws.Censored", lw.Censored, {"base": lw.Exponential(1.0), "cap": 2.0}, ("cap",)),
    E("laws.censored_exponential", lw.censored_exponential, {"rate": 1.0, "cap": 2.0}, ("rate", "cap")),
    E("laws.Mixture", lw.Mixture,
      {"components": [lw.Dirac(0.0), lw.Uniform(0.0, 1.0)], "weights": [0.3, 0.7]}, ("weights",)),
    E("laws.FromSurvival", lw.FromSurvival, {"survival": lambda x: (1 - x / 2) ** 2, "lo": 0.0, "hi": 2.0},
      ("lo", "hi", "kink_points", "check_points")),
    E("laws.Exponential.sf", lambda x: lw.Exponential(1.0).sf(x), {"x": 0.5}, ("x",)),
    E("laws.Exponential.ppf", lambda u: lw.Exponential(1.0).ppf(u), {"u": 0.5}, ("u",)),
    E("laws.Uniform.cdf", lambda x: lw.Uniform(0.0, 1.0).cdf(x), {"x": 0.5}, ("x",)),
    # ---------------------------------------------------------------- riskopt.measures
    E("measures.CARA", ms.CARA, {"gamma": 1.0}, ("gamma",)),
    E("measures.CRRA", ms.CRRA, {"eta": 2.0, "shift": 1.0}, ("eta", "shift")),
    E("measures.ES", ms.ES, {"level": 0.1}, ("level",)),
    E("measures.VaR", ms.VaR, {"level": 0.1}, ("level",)),
    E("measures.Entropic", ms.Entropic, {"gamma": 1.0, "law": None}, ("gamma", "law")),
    E("measures.Entropic.law", lambda law: ms.Entropic(1.0, law=law).value(X3, SPACE), {"law": P3}, ("law",)),
    E("measures.Expectation", lambda law: ms.Expectation(law=law).value(X3, SPACE), {"law": P3}, ("law",)),
    E("measures.ExpectedUtility", ms.ExpectedUtility, {"utility": "cara", "wealth": 0.0, "gamma": 1.0},
      ("wealth", "gamma")),
    E("measures.ExpectedUtility.law",
      lambda law: ms.ExpectedUtility("cara", gamma=1.0, law=law).value(X3, SPACE),
      {"law": P3}, ("law",)),
    E("measures.Distortion.power", lambda a: ms.Distortion("power", a=a), {"a": 0.5}, ("a",)),
    E("measures.Distortion.wang", lambda lam: ms.Distortion("wang", lam=lam), {"lam": 0.5}, ("lam",)),
    E("measures.Distortion.dual_power", lambda b: ms.Distortion("dual_power", b=b), {"b": 2.0}, ("b",)),
    E("measures.Distortion.ph", lambda r: ms.Distortion("ph", r=r), {"r": 2.0}, ("r",)),
    E("measures.Distortion.exponential", lambda b: ms.Distortion("exponential", b=b), {"b": 2.0}, ("b",)),
    E("measures.Distortion.piecewise_linear",
      lambda t, h: ms.Distortion(ms.distortion_function("piecewise_linear", t=t, h=h)),
      {"t": [0.0, 0.5, 1.0], "h": [0.0, 0.8, 1.0]}, ("t", "h")),
    E("measures.Distortion.mixture", lambda weights: ms.Distortion(
        "mixture", components=[{"name": "es", "level": 0.1}, {"name": "power", "a": 0.5}], weights=weights),
      {"weights": [0.5, 0.5]}, ("weights",)),
    E("measures.MaxMin", lambda priors: ms.MaxMin(ms.Expectation(), priors).value(X3, SPACE),
      {"priors": [P3, [0.5, 0.25, 0.25]]}, ("priors",)),
    E("measures.MaxMin.prior", lambda prior: ms.MaxMin(ms.Expectation(), [P3, prior]).value(X3, SPACE),
      {"prior": [0.5, 0.25, 0.25]}, ("prior",), {"prior": ("priors",)}),
    E("measures.Choquet", lambda value: ms.Choquet([{"states": [0], "value": value}, CAPACITY[1]], 2),
      {"value": 0.3}, ("value",), {"value": ("capacity",)}),
    E("measures.Choquet.states",
      lambda states: ms.Choquet([{"states": states, "value": 0.3}, CAPACITY[1]], 2),
      {"states": [0]}, ("states",), {"states": ("capacity",)}),
    E("measures.Choquet.n_states", lambda n_states: ms.Choquet(CAPACITY, n_states), {"n_states": 2},
      ("n_states",), {"n_states": ("n_states", "capacity")}),
    E("measures.create", lambda gamma: ms.create("entropic", gamma=gamma), {"gamma": 1.0}, ("gamma",)),
    E("measures.distortion_function", lambda level: ms.distortion_function("es", level=level), {"level": 0.2},
      ("level",)),
    E("measures.utility_function", lambda eta: ms.utility_function("crra", eta=eta), {"eta": 2.0}, ("eta",)),
    *[E(f"measures.{name}.value", _value_of(m), {"x": X3, "space": SPACE}, ("x", "space"))
      for name, m in MEASURES.items()],
    # ---------------------------------------------------------------- Agent, allocation sets, programs
    E("Agent", ro.Agent, {"name": "a", "measure": ES, "endowment": X3}, ("endowment",)),
    E("Comonotone", ro.Comonotone, {"anchor": 0.0}, ("anchor",)),
    E("LimitedLiability", ro.LimitedLiability, {"caps": [1.0, 2.0]}, ("caps",)),
    E("SharingProgram", ro.SharingProgram, {"space": SPACE, "agents": AGENTS, "weights": [1.0, 2.0],
                                            "aggregate": "X"}, ("weights", "aggregate")),
    E("SharingProgram.set", lambda weights: par.welfare(SPACE, AGENTS).set(weights=weights),
      {"weights": [1.0, 2.0]}, ("weights",)),
    E("Program.variable", lambda shape: ro.Program("p").variable("x", shape), {"shape": 3}, ("shape",)),
    E("Program.parameter", lambda value: ro.Program("p").parameter("q", 3, value=value), {"value": X3},
      ("value",), {"value": ("q",)}),
    # ---------------------------------------------------------------- pareto
    E("pareto.welfare", par.welfare,
      {"space": SPACE, "agents": AGENTS, "weights": [1.0, 2.0], "aggregate": X3}, ("weights", "aggregate")),
    E("pareto.frontier", par.frontier, {"space": SPACE, "agents": AGENTS, "points": 2, "weights": (0.0, 1.0)},
      ("points", "weights")),
    E("pareto.entropic_closed_form", par.entropic_closed_form, {"space": SPACE, "gammas": [1.0, 2.0]},
      ("gammas",)),
    E("pareto.supporting_weights", lambda a: par.supporting_weights(SPACE, AGENTS, {"a": a, "b": [0.0] * 3}),
      {"a": [-1.0, 0.0, 2.0]}, ("a",), {"a": ("allocation",)}),
    E("pareto.ObjectiveSpec", par.ObjectiveSpec, {"kind": "welfare", "weights": (1.0, 2.0)}, ("weights",)),
    E("pareto.RestrictionSpec", par.RestrictionSpec, {"kind": "limited_liability", "caps": (1.0, 2.0)},
      ("caps",)),
    E("pareto.ParetoSpec.objective", lambda weights: par.ParetoSpec(
        agents=tuple(AGENTS), space=SPACE, objective=par.ObjectiveSpec(weights=weights)),
      {"weights": (1.0, 2.0)}, ("weights",)),
    E("pareto.ParetoSpec.caps", lambda caps: par.ParetoSpec(
        agents=tuple(LP_AGENTS), space=LOSSES, allocation=par.AllocationSpec(
            set="budget", restrictions=(par.RestrictionSpec("limited_liability", caps),))),
      {"caps": (3.0, 3.0)}, ("caps",)),
    # ---------------------------------------------------------------- constraints, degeneracy
    E("ConstraintSpec", ConstraintSpec, {"name": "c", "what": "allocation", "sense": "<=", "rhs": 1.0,
                                         "aggregate_multiple": 0.0, "agent": "a"},
      ("rhs", "aggregate_multiple")),
    E("ConstraintSpec.coefficients", ConstraintSpec, {"name": "c", "what": "allocation", "sense": "<=",
                                                      "agents": ("a", "b"), "coefficients": (1.0, 2.0)},
      ("coefficients",)),
    E("degeneracy.dual_range", dual_range,
      {"program": LP_PROGRAM, "group": "budget", "weights": [1.0, 0.0, 0.0]}, ("weights",)),
    E("degeneracy.price_intervals", price_intervals,
      {"program": LP_PROGRAM, "group": "budget", "rows": [0, 2]}, ("rows",)),
    # ---------------------------------------------------------------- price_and_choose
    E("pc.Pool.independent", pc.Pool.independent, {"gammas": [1.0, 2.0], "p": 0.1, "loss": 1.0, "tick": None,
                                                   "prune": 1e-16},
      ("gammas", "p", "loss", "tick", "prune"), {"gammas": ("gamma",)}),
    E("pc.Pool.common_shock", pc.Pool.common_shock, {"gammas": [1.0, 2.0], "p_storm": 0.3, "p_calm": 0.05,
                                                     "storm_prob": 0.2, "loss": 1.0},
      ("gammas", "p_storm", "p_calm", "storm_prob", "loss"), {"gammas": ("gamma",)}),
    E("pc.Beliefs.own_hit_prior", lambda q: pc.PriceAndChoose(POOL, pc.Beliefs.own_hit_prior(q)),
      {"q": [0.2, 0.3]}, ("q",), {"q": ("own",)}),
    E("pc.Beliefs.credal", lambda low, high: pc.PriceAndChoose(POOL, pc.Beliefs.credal(low, high)),
      {"low": [0.05, 0.05], "high": [0.2, 0.2]}, ("low", "high")),
    E("pc.MenuSpec", pc.MenuSpec, {"kind": "lattice", "m": 2}, ("m",)),
    E("pc.MenuSpec.dirichlet", pc.MenuSpec, {"kind": "dirichlet", "size": 10, "seed": 1}, ("size", "seed")),
    E("pc.GameSpec", pc.GameSpec,
      {"l_cap": 1.5, "iota": 0.5, "epsilons": (0.01,), "deviations": 10, "seed": 0,
                                   "pair_work": 1000},
      ("l_cap", "iota", "epsilons", "deviations", "seed", "pair_work")),
    E("pc.WelfareSpec", pc.WelfareSpec, {"tail_tol": 1e-12}, ("tail_tol",)),
    E("pc.HitSpace", pc.HitSpace,
      {"kind": "bernoulli_hits", "p": np.array([0.1]), "tick": None, "prune": 1e-16},
      ("p", "loss", "tick", "prune")),
    E("pc.pool_optimum", pc.pool_optimum, {"pool": POOL, "prune": 1e-16, "tail_tol": 1e-12},
      ("prune", "tail_tol")),
    # ---------------------------------------------------------------- reinsurance
    E("rei.LawSpec.censored_exponential",
      lambda rate, cap: rei.LawSpec("censored_exponential", rate=rate, cap=cap).build(),
      {"rate": 2.0, "cap": 5.0}, ("rate", "cap")),
    E("rei.LawSpec.uniform", lambda lo, hi: rei.LawSpec("uniform", lo=lo, hi=hi).build(),
      {"lo": 0.0, "hi": 2.0}, ("lo", "hi")),
    E("rei.LawSpec.discrete", lambda values,
      probs: rei.LawSpec("discrete", values=values, probs=probs).build(),
      {"values": (0.0, 1.0), "probs": (0.5, 0.5)}, ("values", "probs")),
    E("rei.InsurerSpec",
      lambda loss: rei.Market([rei.InsurerSpec("i", loss, ms.ES(0.1))], REINSURERS, bound=5.0),
      {"loss": CE}, ("loss",)),
    E("rei.ReinsurerSpec", lambda loading, capacity: rei.Market(INSURERS, [rei.ReinsurerSpec(
        "r", loading, lw.censored_exponential(2.5, 5.0), capacity=capacity)], bound=5.0),
      {"loading": 0.1, "capacity": 1.0}, ("loading", "capacity")),
    E("rei.ReinsurerSpec.beliefs",
      lambda beliefs: rei.Market(INSURERS, [rei.ReinsurerSpec("r", 0.1, beliefs)], bound=5.0),
      {"beliefs": lw.censored_exponential(2.5, 5.0)}, ("beliefs",)),
    E("rei.Market", rei.Market, {"insurers": INSURERS, "reinsurers": REINSURERS, "bound": 5.0}, ("bound",)),
    E("rei.MarketOptions", rei.MarketOptions, {"bound": 5.0, "cells": 16, "nodes": 4},
      ("bound", "cells", "nodes")),
    E("rei.MarketOptions.flags", rei.MarketOptions, {"comonotone": False, "pareto_check": True},
      ("comonotone", "pareto_check")),
    E("rei.ReinsuranceSpec", lambda bound: rei.ReinsuranceSpec(
        insurers=tuple(INSURERS), reinsurers=tuple(REINSURERS), market=rei.MarketOptions(bound=bound)),
      {"bound": 5.0}, ("bound",)),
    E("rei.pareto", rei.pareto, {"market": MARKET, "cells": 16, "nodes": 4}, ("cells", "nodes")),
    # ---------------------------------------------------------------- distortion
    E("dist.SharingOptions", dist.SharingOptions, {"randomisation": True, "cross_check": False},
      ("randomisation", "cross_check")),
    E("dist.PortfolioOptions", dist.PortfolioOptions, {"endowment": 1.0, "cost": 0.5, "grid": 11},
      ("endowment", "cost", "grid")),
    E("dist.power_lottery", dist.power_lottery, {"exponents": [2.0, 3.0]}, ("exponents",)),
    E("dist.var_jackpot", dist.var_jackpot, {"space": SPACE, "levels": [0.1, 0.2]}, ("levels",)),
    E("dist.manage", dist.manage,
      {"payoff": ro.Scenarios.discrete([0.5, 2.0], [0.5, 0.5]), "agents": DIST_AGENTS,
                                   "endowment": 1.0, "cost": 0.5, "grid": 11, "method": "fast"},
      ("endowment", "cost", "grid")),
    E("dist.derivative", lambda t: dist.derivative(POWER, t), {"t": 0.5}, ("t",)),
    E("dist.is_subadditive", lambda points, tol: dist.is_subadditive(POWER, points, tol),
      {"points": 11, "tol": 1e-10}, ("points", "tol")),
    # ---------------------------------------------------------------- taxation
    E("tax.ExponentialPayments", tax.ExponentialPayments, {"tolerance": 1.0}, ("tolerance",)),
    E("tax.PowerPayments", tax.PowerPayments, {"p": 0.5, "shift": 1.0}, ("p", "shift")),
    E("tax.UtilityPayments", lambda gamma: tax.UtilityPayments("cara", gamma=gamma), {"gamma": 1.0},
      ("gamma",)),
    E("tax.DefaultableInsurer", tax.DefaultableInsurer, {"theta": 0.1, "eta": 0.1, "capital": 10.0,
                                                         "own_capital": None, "surplus_shares": 0.0},
      ("theta", "eta", "capital", "own_capital", "surplus_shares")),
    E("tax.RegionSpec", tax.RegionSpec,
      {"name": "r", "wealth": 10.0, "expected_loss": 1.0, "disutility": CARA_V}, ("wealth", "expected_loss")),
    E("tax.UniformAtomLaw", tax.UniformAtomLaw, {"p0": 0.1, "upper": 10.0}, ("p0", "upper")),
    E("tax.residual_law", tax.residual_law, {"values": [0.0, 1.0, 3.0], "probs": P3}, ("values", "probs"),
      {"values": ("S_eps",)}),
    E("tax.proposition4", tax.proposition4,
      {"w1": 8.0, "w2": 8.0, "g1": 1.0, "g2": 2.0, "p0": 0.1, "mu1": 3.0,
                                             "mu2": 4.2}, ("w1", "w2", "g1", "g2", "p0", "mu1", "mu2")),
    E("tax.AfpoSpec", tax.AfpoSpec, {"tol": 1e-11}, ("tol",)),
    E("tax.OutputSpec", tax.OutputSpec, {"grid": 9}, ("grid",)),
    E("tax.ProgramSpec", tax.ProgramSpec, {"bins": 10}, ("bins",)),
    E("tax.ComparisonSpec", tax.ComparisonSpec, {"event": 0}, ("event",)),
    E("tax.StormTrack", tax.StormTrack, {"start": (-10.0, 44.0), "end": (30.0, 60.0), "unit": 1.5},
      ("start", "end", "unit"), {"start": ("track",), "end": ("track",)}),
    E("tax.StormSpec", tax.StormSpec, {"regions": 5, "scenarios": 100, "beta_b": 0.5},
      ("regions", "scenarios", "beta_b")),
    E("tax.StormStudySpec", tax.StormStudySpec, {"storm": tax.StormSpec(regions=5, scenarios=200), "seed": 1},
      ("seed",)),
    E("tax.LawEconomySpec", lambda wealth, expected_loss: tax.LawEconomySpec(
        regions=(tax.RegionSpec(wealth=wealth, expected_loss=expected_loss, disutility=CARA_V), REGIONS[1]),
        law=LAW3), {"wealth": 8.0, "expected_loss": 0.5}, ("wealth", "expected_loss")),
    E("tax.synthetic_regions", tax.synthetic_regions, {"n": 3, "seed": 1}, ("n", "seed"),
      {"n": ("regions",)}),
    E("tax.gamma_sweep_points", tax.gamma_sweep_points, {"gammas": [1.0, 2.0], "p0": 0.1}, ("gammas", "p0")),
    E("tax.mu_sweep_points", tax.mu_sweep_points, {"mus": [1.0, 2.0], "p0": 0.2}, ("mus", "p0")),
    E("tax.law_economy", tax.law_economy, {"names": ["r1", "r2"], "wealth": [8.0, 8.0],
                                           "disutilities": [CARA_V, tax.ExponentialPayments(2.0)],
                                           "law": LAW3, "expected_losses": [0.4, 0.6], "tol": 1e-11,
                                           "grid_points": 5},
      ("wealth", "expected_losses", "tol", "grid_points"),
      {"expected_losses": ("expected_losses", "targets")}),  # the AFPO's fairness targets
    E("tax.ExponentialFamily", tax.ExponentialFamily,
      {"tolerance": [1.0, 2.0], "offset": 0.0, "caps": [4.0, 4.0]}, ("tolerance", "offset", "caps")),
    E("tax.MatrixSource", tax.MatrixSource, {"X": MATRIX, "probs": None, "block": 100},
      ("X", "probs", "block"),
      {"X": ("losses",)}),
    E("tax.run_economy", tax.run_economy, {"source": tax.MatrixSource(MATRIX), "names": ["a", "b", "c"],
                                           "wealth": [10.0, 10.0, 10.0], "insurer": INSURER, "tol": 1e-11,
                                           "chunk": 1000, "event": 0},
      ("wealth", "expected_losses", "loss_sd", "tol", "chunk", "tax_caps", "event")),
    E("tax.storm_study", tax.storm_study,
      {"regions": 5, "scenarios": 200, "seed": 1, "insurer": STORM_INSURER,
                                           "block": 64, "tol": 1e-11},
      ("regions", "scenarios", "seed", "block", "tol", "beta_b", "quantile_step")),
    E("tax.solve_afpo", tax.solve_afpo, {"family": FAMILY, "law": LAW3, "targets": [0.5, 0.5], "tol": 1e-11,
                                         "max_iter": 50, "a0": None, "time_limit": None},
      ("targets", "tol", "max_iter", "a0", "time_limit")),
    E("tax.check_targets", tax.check_targets,
      {"family": FAMILY, "law": LAW3, "targets": [0.5, 0.5], "rtol": 1e-9}, ("targets", "rtol")),
    E("tax.binned", tax.binned, {"law": tax.UniformAtomLaw(0.2, 3.0), "bins": 5}, ("bins",)),
    E("tax.excess", tax.excess, {"law": LAW3, "t": [0.5, 1.0]}, ("t",)),
    E("tax.truncated_mean", tax.truncated_mean, {"law": LAW3, "c": [0.5, 1.0]}, ("c",)),
    E("tax.TaxationProgram", tax.TaxationProgram, {"family": FAMILY, "law": LAW3, "targets": [0.5, 0.5]},
      ("targets",)),
    E("tax.TaxationProgram.weights", tax.TaxationProgram, {"family": FAMILY, "law": LAW3, "kind": "weights",
                                                           "weights": [1.0, 2.0]}, ("weights",)),
    # ---------------------------------------------------------------- equilibrium
    E("eq.EquilibriumSpec", eq.EquilibriumSpec, {"space": SPACE, "agents": ENDOWED, "max_iterations": 10},
      ("max_iterations",)),
    # ---------------------------------------------------------------- each mechanism's solve
    *[E(f"{name}.solve", module.solve, {"spec": spec, "method": "fast"}, ("spec",))
      for name, (module, spec) in SPECS.items()],
    # ---------------------------------------------------------------- sweeps
    E("sweep.grid", lambda a: grid(a=a), {"a": [1.0, 2.0]}, ("a",), {"a": ("grid.a",)}),
]

CASES = [pytest.param(e, arg, label, id=f"{e.name}-{arg}-{label}")
         for e in EDGES for arg in e.attack for label in BAD]


def _call(edge: Edge, **change: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RiskoptWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # ppf(1) = inf and the like: values, not errors
        # a complex number cut to its real part is a silent raw error
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        return edge.call(**{**edge.valid, **change})


@pytest.mark.parametrize("edge", [pytest.param(e, id=e.name) for e in EDGES])
def test_valid_call(edge: Edge) -> None:
    """Each edge starts from a call that works."""
    _call(edge)


@pytest.mark.parametrize(("edge", "arg", "label"), CASES)
def test_hostile_value(edge: Edge, arg: str, label: str) -> None:
    try:
        _call(edge, **{arg: BAD[label]})
    except ModelError as err:
        words = (*edge.fields.get(arg, (arg,)), *(a for a in edge.valid if a != arg))
        assert any(w in err.field for w in words), f"{err.field!r} names no argument of the call: {err}"
        assert err.allowed, f"no 'expected ...' in {err}"


def test_case_count() -> None:
    """Broad coverage: a thousand and more (callable, argument, value) cases."""
    assert len(EDGES) >= 140 and len(CASES) >= 3000
