"""End-to-end check of ``experiments/hybrid_kolmogorov.py --quick``: data, both trainings, scoring, figures, JSON.

The library pieces are tested in tests/hybrid/test_hybrid.py; this checks the wiring and that the
scores order the direct simulations as resolution says they must.
"""

from __future__ import annotations

import json
import math

import pytest
from _experiments import load_experiment


@pytest.fixture(scope="module")
def experiment():
    return load_experiment("hybrid_kolmogorov")


def test_bad_override_is_refused(experiment):
    with pytest.raises(SystemExit):
        experiment.main(["--quick", "--set", "no_such_key=1"])
    with pytest.raises(SystemExit):
        experiment.main(["--quick", "--set", "correction=nope"])
    with pytest.raises(SystemExit):
        experiment.main(["--quick", "--set", "score_every=0.3"])


@pytest.mark.slow
def test_quick_run_writes_rows_curves_figures_and_provenance(experiment, tmp_path):
    assert experiment.main(["--quick", "--out", str(tmp_path), "--steps", "6"]) == 0
    record = json.loads((tmp_path / "hybrid_kolmogorov.json").read_text())
    assert record["seed"] == 0 and "commit" in record and "--quick" in record["command"]
    rows = {(row["method"], row["resolution"]): row for row in record["results"]}
    assert set(rows) == {("direct", 16), ("direct", 32), ("direct", 64), ("learned", 16), ("learned-one-step", 16)}
    for row in rows.values():
        assert row["finite"] and row["wall_s_per_time_unit"] > 0
        assert 0 <= row["high_correlation_time"] <= record["times"][-1]
        assert len(record["curves"][f"{row['method']}-{row['resolution']}"]["band"]) == len(record["times"])
    # A finer direct simulation stays correlated at least as long; the 64^2 run is the reference grid in float32.
    assert rows[("direct", 64)]["high_correlation_time"] >= rows[("direct", 16)]["high_correlation_time"]
    assert rows[("direct", 64)]["high_correlation_time"] == record["times"][-1]
    assert record["training"]["learned"]["steps"] == record["training"]["learned-one-step"]["steps"] == 6
    assert record["training"]["learned"]["unroll"] == 8 and record["training"]["learned-one-step"]["unroll"] == 1
    assert record["reference_check"]["min_correlation"] > 0.999
    assert math.isfinite(record["reference_wall_s_per_time_unit"])
    for name in ("correlation.png", "snapshots.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
