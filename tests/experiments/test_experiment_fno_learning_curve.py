"""``experiments/fno_learning_curve.py`` (FNO-2D Navier-Stokes learning curves) and
``experiments/fno_ns_gpu.sh`` (its GPU-slot run): the power-law fit and extrapolation, and the
wiring at toy sizes (runs merged into one JSON, zero-shot error on the finer grid, provenance)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _experiments import load_experiment

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def curve():
    return load_experiment("fno_learning_curve")


def test_power_law_fit_and_extrapolation(curve):
    fit = curve.power_law([100, 1000, 10000], [2.0 * x**-0.5 for x in (100, 1000, 10000)])
    assert fit["a"] == pytest.approx(2.0) and fit["b"] == pytest.approx(0.5)
    assert fit["x_for_goal"] == pytest.approx((2.0 / 0.03) ** 2)
    assert fit["x_for_paper"] == pytest.approx((2.0 / 0.0128) ** 2)
    assert curve.power_law([5, 5], [0.1, 0.2]) is None  # one x value: nothing to fit
    flat = curve.power_law([1, 10], [0.5, 0.6])  # error growing with x never reaches the targets
    assert flat["b"] < 0 and flat["x_for_goal"] is None and flat["x_for_paper"] is None


def test_fits_group_runs_by_what_they_share(curve):
    rows = [{"resolution": 32, "train_samples": n, "steps": s, "error": e, "curve": []}
            for n, s, e in ((100, 500, 0.4), (1000, 500, 0.1), (1000, 2000, 0.05))]
    rows.append({"resolution": 32, "train_samples": 300, "steps": 495, "steps_requested": 500, "error": 0.2,
                 "curve": []})  # whole epochs: 495 steps for a 500-step run
    by = {(f["against"], f.get("steps", f.get("train_samples"))): f for f in curve.fits(rows)}
    assert set(by) == {("train_samples", 500), ("steps", 1000)}
    assert by[("train_samples", 500)]["points"] == 3
    assert by[("steps", 1000)]["b"] == pytest.approx(0.5)


@pytest.mark.slow
def test_quick_runs_merge_into_one_learning_curve(curve, tmp_path):
    out = tmp_path / "curve.json"
    common = ["--quick", "--cache-dir", str(tmp_path / "cache"), "--json", str(out), "--no-progress"]
    curve.main([*common, "--runs", "16:16:8", "16:8:8"])
    payload = curve.main([*common, "--runs", "16:16:8", "32:16:4"])  # the repeated run replaces its row
    record = json.loads(out.read_text())
    assert record["kind"] == "learning_curve" and record["commit"] and record["seed"] == 0
    assert record["command"].startswith("python experiments/fno_learning_curve.py --quick")
    rows = record["results"]
    assert [(r["resolution"], r["train_samples"], r["steps"]) for r in rows] == [(16, 8, 8), (16, 16, 8), (32, 16, 4)]
    for row in rows:
        assert 0 < row["error"] < 1.5 and [p["step"] for p in row["curve"]] == list(range(4, row["steps"] + 1, 4))
        assert row["curve"][-1]["test_rel_l2"] == pytest.approx(row["error"])
        assert row["commit"] == record["commit"]
    assert "error_at_32" in rows[1] and "error_at_32" not in rows[2]
    assert record["error_ours"] == min(r["error"] for r in rows) == payload["error_ours"]
    assert [(f["against"], f["resolution"]) for f in record["fits"]] == [("train_samples", 16)]
    assert out.with_suffix(".png").stat().st_size > 0

    from pdesolve.report import record_kind, select_figures

    assert record_kind(record) == "learning_curve"
    (figure,) = select_figures("learning_curve", record)
    assert figure.series[0].x == [8.0, 16.0] and figure.reference == (0.0128, "paper")


@pytest.mark.slow
def test_gpu_script_quick_mode(tmp_path):
    env = dict(os.environ, QUICK="1", OUT=str(tmp_path), CACHE=str(tmp_path / "cache"), PYTHON=sys.executable,
               JAX_PLATFORMS="cpu")
    run = subprocess.run(["bash", str(ROOT / "experiments" / "fno_ns_gpu.sh")], env=env, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    record = json.loads((tmp_path / "fno_ns_gpu_quick.json").read_text())
    assert record["devices"][0].startswith("cpu") and record["command"].startswith("python")
    (row,) = record["results"]
    assert (row["resolution"], row["train_samples"], row["steps"], row["stopped_by_time"]) == (32, 16, 8, False)
    assert [p["step"] for p in row["curve"]] == [4, 8] and math.isfinite(row["error"])


@pytest.mark.slow
def test_fno_navier_stokes_runs_on_the_shared_helpers(tmp_path):
    """``fno_navier_stokes.py`` (whose data, config and model the curves reuse) still runs end to end."""
    spec = importlib.util.spec_from_file_location("fno_navier_stokes", ROOT / "experiments" / "fno_navier_stokes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    payload = module.main(["--train", "4", "--test", "2", "--resolution", "16", "--solve-resolution", "16",
                           "--t-final", "12", "--epochs", "2", "--step-epochs", "1", "--batch-size", "2", "--modes", "4",
                           "--width", "4", "--out", str(tmp_path), "--no-progress"])
    assert (tmp_path / "ns_fno_nu1e-3_n6_r16_s16_T12.h5").exists()
    config = payload["config"]
    assert (config["train"], config["test"], config["rollout_steps"], config["step_epochs"]) == (4, 2, 2, 1)
    assert (config["optimizer"], config["weight_decay"], config["first_frame"]) == ("adam", 1e-4, 1)
    assert 0 < payload["error_ours"] < 1.5 and not payload["comparable_to_anchor"]
    assert json.loads((tmp_path / "results.json").read_text())["command"].startswith("python experiments/")
