"""End-to-end check of ``experiments/teng_gpu.sh`` (the GPU-slot script) at toy sizes on the CPU:
one shared initial fit, then three budgeted TENG marches, each recorded with how far it got."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_script_quick_mode_writes_budgeted_marches(tmp_path):
    env = dict(os.environ, QUICK="1", OUT=str(tmp_path), PYTHON=sys.executable, JAX_PLATFORMS="cpu")
    run = subprocess.run(["bash", str(ROOT / "experiments" / "teng_gpu.sh")], env=env, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    fit = json.loads((tmp_path / "teng_initial_fit_paper_quick.json").read_text())
    assert fit["parameters"] == 8361 and fit["device"].startswith("cpu") and fit["command"].startswith("python")
    marches = json.loads((tmp_path / "teng_paper_quick.json").read_text())
    assert marches["device"].startswith("cpu") and marches["commit"]
    assert [r["problem"] for r in marches["results"]] == ["heat", "allen-cahn", "burgers"]
    for record in marches["results"]:
        assert record["initial_fit"].endswith("teng_initial_paper_quick.npz") and record["parameters"] == 8361
        assert 0 < record["final_time_reached"] <= 0.1 + 1e-12
        assert record["stopped_early"] == (record["final_time_reached"] < 0.1 - 1e-12)
        assert record["times"][-1] == pytest.approx(record["final_time_reached"])
        assert math.isfinite(record["error"]) and record["error"] == record["errors"][-1]
