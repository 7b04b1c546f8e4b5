"""``riskopt bench --export DIR``: the families' instances in standard formats with known optima."""

from __future__ import annotations

from pathlib import Path

import highspy
import pytest
from riskopt.benchmarks.instances import export_family, export_instances
from riskopt.benchmarks.run import REGISTRY  # importing the runner registers every family


def test_export_writes_each_instance_and_a_readme_of_known_optima(tmp_path: Path) -> None:
    families = [REGISTRY["distortion_lp"], REGISTRY["hurricane_pool"]]
    readme = export_instances(families, tmp_path, quick=True)
    text = readme.read_text()
    for stem in ("distortion_lp_100", "hurricane_pool_3"):
        assert f"| {stem} |" in text
    assert (tmp_path / "distortion_lp_100.mps").exists() and (tmp_path / "hurricane_pool_3.cbf").exists()


def test_the_known_optimum_is_the_files_own_and_agrees_with_the_reference(tmp_path: Path) -> None:
    rows = export_family(REGISTRY["distortion_lp"], tmp_path, quick=True)
    for row in rows:
        assert row["status"] == "optimal"
        # the LP is written in the family's units: its optimum (HiGHS's simplex) is the closed form's
        # to the simplex's rounding
        assert float(row["optimum"]) == pytest.approx(float(row["reference"]), rel=1e-10)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.readModel(str(tmp_path / f"{row['instance']}.mps"))
        h.run()
        assert h.getInfo().objective_function_value == pytest.approx(float(row["optimum"]), rel=1e-10)
