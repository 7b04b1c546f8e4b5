"""The synthetic year loss table of the bundled card ``ylt_example`` (``models/ylt_example.csv``).

Five regions along a stylised coast (exposure values in EUR m, positions along the coast in units of
100 km): north_coast (900, 0), bay (1500, 1), delta (700, 2), south_coast (1100, 3) and inland
(2000, 1.5, a tenth as exposed to wind). 300 storms, each with an annual rate of 1.5 / 300 (1.5
storms a year in all), a landfall uniform on [-0.5, 3.5] and an intensity ``I`` Pareto with index
2.5 (``I >= 1``). A storm's mean damage ratio in region ``r`` is
``min(0.6, 0.03 I exp(-|x_r - landfall| / 0.7))`` within 1.5 of the landfall, 0 beyond (x 0.1
inland), its mean loss the exposure value times that ratio; the storm's total loss has a secondary
uncertainty (sd = 0.5 x mean, a beta on [0, 4 x mean]). The event loss table is simulated to 2,000
years (riskopt.losstables, seed 2025, annual aggregates) and written with 6 significant digits.

``python -m benchmarks.make_ylt_example`` (from the repository root) writes the file again;
tests/test_losstables.py checks that the committed file is what this script makes.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

from riskopt.losstables import EventLossTable, LossTable

REGIONS = ("north_coast", "bay", "delta", "south_coast", "inland")
EXPOSURE = np.array([900.0, 1500.0, 700.0, 1100.0, 2000.0])
POSITION = np.array([0.0, 1.0, 2.0, 3.0, 1.5])
WIND_SHARE = np.array([1.0, 1.0, 1.0, 1.0, 0.1])
EVENTS, TOTAL_RATE, YEARS, SEED = 300, 1.5, 2000, 2025
CSV = Path(__file__).resolve().parents[1] / "models" / "ylt_example.csv"


def example_elt() -> EventLossTable:
    """The storms of the example (module docstring)."""
    rng = np.random.default_rng(SEED)
    landfall = rng.uniform(-0.5, 3.5, EVENTS)
    intensity = (1.0 - rng.random(EVENTS)) ** (-1 / 2.5)
    distance = np.abs(POSITION[None, :] - landfall[:, None])
    ratio = np.minimum(0.6, 0.03 * intensity[:, None] * np.exp(-distance / 0.7)) * WIND_SHARE
    ratio[distance > 1.5] = 0.0
    losses = ratio * EXPOSURE
    total = losses.sum(axis=1)
    return EventLossTable(np.arange(1, EVENTS + 1), np.full(EVENTS, TOTAL_RATE / EVENTS), losses, REGIONS,
                          exposure=EXPOSURE, loss_sd=0.5 * total, max_loss=4.0 * total,
                          info={"source": "benchmarks/make_ylt_example.py", "units": "EUR m"})


def example_table() -> LossTable:
    """The example's year loss table (2,000 simulated years)."""
    return example_elt().simulate(YEARS, seed=SEED, view="aggregate")


def csv_text() -> str:
    """The CSV file: a ``year`` column (1..2000), then one column per region."""
    table = example_table()
    out = io.StringIO()
    out.write(",".join(("year", *REGIONS)) + "\n")
    for s in range(table.n_states):
        out.write(",".join([str(s + 1), *(f"{v:.6g}" for v in table.losses[:, s])]) + "\n")
    return out.getvalue()


def main() -> int:
    from riskopt.data import write_atomic

    write_atomic(CSV, csv_text())
    print(f"wrote {CSV} ({CSV.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
