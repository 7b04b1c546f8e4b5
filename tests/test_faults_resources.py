"""Resource faults (issue "Nothing lost under faults and limits"): cards and sweeps that would not fit
in memory are refused from their parsed size, before anything big is allocated.

Each case runs ``riskopt`` in a subprocess under an address-space limit (``ulimit -v``, so the
budget's default limit comes from it) and checks: exit 2, one line on stderr naming the card fields
and the estimate, nothing on stdout, and the peak resident memory beyond the interpreter's under
:data:`PEAK_LIMIT_MB`. Before the budget these cases allocated until the kernel killed them (7.5 GB
for the 5,000-farmer pool, 6.9 GB for the 5,000,000-state law).
"""

from __future__ import annotations

import copy
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from _cardkit import bundled, write

#: the issue's bound on what a refusal may take: peak resident memory beyond the interpreter with
#: riskopt and the solvers cvxpy imports (123 MB with the default solvers, 281 MB with MOSEK and Xpress)
PEAK_LIMIT_MB = 500
#: the address-space limit the cases run under (the interpreter with numpy/cvxpy maps ~0.4 GB)
ADDRESS_SPACE = 3 * 2**30
#: wall-clock bound of a refusal (the issue asks for 2 s on a quiet machine: docs/reliability.md
#: reports the measured times; this bound only catches a run that starts allocating)
WALL_LIMIT_S = 20

_RUN = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
import cvxpy, riskopt.cli
cvxpy.installed_solvers()  # the solvers cvxpy finds are imported: part of the interpreter's base
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
code = riskopt.cli.main(sys.argv[1:])
print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base, file=sys.stderr)
sys.exit(code)
"""


def _refused(*args: str, limit: int = ADDRESS_SPACE) -> tuple[str, float]:
    """Run ``riskopt ARGS`` under the limit; assert a clean refusal; return its line and peak MB."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _RUN.format(limit=limit), *args], capture_output=True,
                          text=True, timeout=120)
    elapsed = time.perf_counter() - t0
    lines = done.stderr.splitlines()
    peak_mb = int(lines[-1].split()[1]) / 1024
    said = lines[:-1]
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and len(said) == 1 and said[0].startswith("riskopt: error: "), done.stderr
    assert peak_mb < PEAK_LIMIT_MB, (peak_mb, said)
    assert elapsed < WALL_LIMIT_S, elapsed
    return said[0], peak_mb


def _pool(count: int, pattern: str = "farmer {i}") -> dict[str, Any]:
    card = bundled("hurricane_pool")
    card["pool"]["count"] = count
    card["pool"]["name"] = pattern
    card["space"] = {"kind": "bernoulli_hits", "p": {"uniform": [0.02, 0.2], "n": count}, "loss": 1.0}
    return card


@pytest.mark.parametrize(("count", "pattern"), [(2_000, "farmer {i}"), (5_000, "{i:0>99}"),
                                                (20_000, "farmer {i}")])
def test_a_pool_too_large_for_memory_is_refused_before_its_program(tmp_path: Path, count: int,
                                                                     pattern: str) -> None:
    line, _ = _refused("run", write(tmp_path / "pool.toml", _pool(count, pattern)))
    assert f"agents, space = '{count} agents x {count + 1} states'" in line
    assert "the address-space limit (ulimit -v)" in line and "--max-memory" in line


def test_raising_the_limit_lets_the_user_decide(tmp_path: Path) -> None:
    path = write(tmp_path / "pool.toml", _pool(2_000))
    line, _ = _refused("run", path, "--max-memory", "1G")
    assert "fit in 1.0 GiB (set by --max-memory)" in line
    with pytest.raises(AssertionError):  # 'none' takes the check off: the run starts (and is cut short)
        _refused("run", path, "--max-memory", "none", limit=ADDRESS_SPACE // 2)


def test_a_law_of_five_million_bins_is_refused(tmp_path: Path) -> None:
    card = bundled("hurricane_pool")
    card["space"] = {"kind": "law", "law": {"name": "exponential", "rate": 1.0}, "n": 5_000_000}
    card["pool"]["count"] = 2
    line, _ = _refused("run", write(tmp_path / "law.toml", card))
    assert "'2 agents x 5000000 states'" in line


def test_a_storm_of_two_million_scenarios_is_refused(tmp_path: Path) -> None:
    card = bundled("niakh_storm212")
    card["storm"]["scenarios"] = 2_000_000
    line, _ = _refused("run", write(tmp_path / "storm.toml", card))
    assert line.startswith("riskopt: error: storm.regions, storm.scenarios = "
                           "'212 regions x 2000000 scenarios'")


def test_a_reinsurance_grid_of_billions_of_cells_is_refused(tmp_path: Path) -> None:
    card = bundled("andraos2025_capacity")
    card["market"]["cells"] = 100_000
    card["insurers"] = [dict(copy.deepcopy(card["insurers"][0]), name=f"insurer {k}") for k in range(200)]
    card["reinsurers"] = [dict(copy.deepcopy(card["reinsurers"][1]), name=f"reinsurer {k}")
                          for k in range(200)]
    line, _ = _refused("run", write(tmp_path / "grid.toml", card))
    assert "insurers, reinsurers, market.cells = '200 insurers x 200 reinsurers x 100064 cells'" in line


def test_a_sweep_grid_beyond_the_point_limit_is_refused_before_it_is_built() -> None:
    line, _ = _refused("sweep", "hurricane_pool", "--grid", "pool.measure.gamma=0.5:2:100000",
                          "--grid", "space.loss=0.5:2:100000")
    assert "--grid = '10000000000 points': expected at most 1000000 points" in line


def test_a_sweep_whose_concurrent_points_do_not_fit_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "pool.toml", _pool(400))  # about 1 GB a point: four at once do not fit 3 GB
    line, _ = _refused("sweep", path, "--grid", "pool.measure.gamma=0.5,1,2,3", "--runner", "processes:4")
    assert "4 concurrent points of 400 agents x 401 states" in line


def test_endowments_of_many_agents_on_a_large_law_are_refused_before_they_are_read(tmp_path: Path) -> None:
    card = bundled("buhlmann_equilibrium")
    card["space"] = {"kind": "law", "law": {"name": "exponential", "rate": 1.0}, "n": 5_000_000}
    card["agents"] = [{"name": f"a{k}", "measure": {"name": "entropic", "gamma": 1.0}, "endowment": "-X"}
                      for k in range(2_000)]
    line, _ = _refused("run", write(tmp_path / "endowments.toml", card))
    assert "agents, space = '2000 agents x 5000000 states': expected the agents' endowments to fit" in line
