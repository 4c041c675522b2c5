"""Smoke test of ``experiments/hard_constraints.py`` at toy size (slow: several compilations).

Runs the script in a subprocess (it sets process-wide JAX options) with all four models on the
1D heat problem and checks the JSON it writes: every model trains to a finite error, the hard
layers hold their constraints (the coupled mixture's interface conditions included) and the
side-by-side layer timings are there.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_hard_constraints_experiment_heat_all_models(tmp_path):
    out = tmp_path / "heat.json"
    command = [
        sys.executable, str(ROOT / "experiments" / "hard_constraints.py"), "--problem", "heat", "--steps", "3",
        "--points", "32", "--interior", "32", "--boundary", "8", "--width", "16", "--depth", "1",
        "--models", "soft", "hard", "moe", "coupled", "--interface-points", "4", "--json", str(out),
    ]
    subprocess.run(command, check=True, cwd=ROOT, timeout=900)
    summary = json.loads(out.read_text())
    rows = {row["model"]: row for row in summary["results"]}
    assert set(rows) == {"soft", "hard", "moe", "coupled"}
    for row in rows.values():
        assert math.isfinite(row["rel_l2"])
    for kind in ("hard", "moe", "coupled"):
        assert rows[kind]["constraint_residual_max"] < 1e-8
    assert rows["coupled"]["experts"] == 4
    assert set(summary["solve_only_seconds"]) == {"hard", "moe", "coupled"}
    assert summary["coupled_solve_speedup"] > 0


@pytest.mark.slow
def test_hard_constraints_experiment_diffusion_sorption_default_layers(tmp_path):
    """The nonlinear problem's default solves (global: anchored minimum-norm Gauss-Newton with KKT
    gradients; independent experts: line-searched Gauss-Newton with tangent gradients) hold the
    constraints, with gradient clipping on."""
    out = tmp_path / "ds.json"
    command = [
        sys.executable, str(ROOT / "experiments" / "hard_constraints.py"), "--steps", "3", "--points", "64",
        "--interior", "32", "--boundary", "8", "--width", "16", "--depth", "1", "--models", "hard", "moe",
        "--json", str(out),
    ]
    subprocess.run(command, check=True, cwd=ROOT, timeout=900)
    summary = json.loads(out.read_text())
    assert summary["gradient"] == "kkt" and summary["solve_steps"] == 30
    assert summary["expert_gradient"] == "tangent" and summary["expert_solve_steps"] == 12
    assert summary["solve_method"] == "gauss_newton" and summary["clip_norm"] == 1.0
    for row in summary["results"]:
        assert math.isfinite(row["rel_l2"])
        assert row["constraint_residual_max"] < 1e-8 and row["final_solve_converged"]
