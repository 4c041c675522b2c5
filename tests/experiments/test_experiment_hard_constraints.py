"""End-to-end check of ``experiments/hard_constraints.py``: ``main`` runs a preset at toy size in-process.

The library pieces it wires are tested in tests/constraints/test_constraints.py, tests/constraints/test_constraints_models.py
and tests/pdes/test_pdes_diffusion_sorption.py; this checks the wiring: the presets build, every model
trains and is evaluated, the hard layers hold their constraints, and the JSON records the
provenance and the layer timings.
"""

from __future__ import annotations

import json
import math

import pytest
from _experiments import load_experiment


@pytest.fixture(scope="module")
def experiment():
    return load_experiment("hard_constraints")


TOY = {"width": 16, "depth": 1, "interior": 32, "boundary": 8, "points": 32, "bases": 128, "reference_nodes": 32}


def test_presets_are_complete(experiment):
    for name, cfg in experiment.PRESETS.items():
        assert {"problem", "steps", "points", "bases", "hard", "moe", "coupled", "models"} <= set(cfg), name
        assert cfg["hard"][0] in experiment.LAYERS and cfg["moe"][0] in experiment.LAYERS, name
    with pytest.raises(SystemExit):
        experiment.main(["--preset", "no-such-preset"])


@pytest.mark.slow
def test_heat_preset_all_models_at_toy_size(experiment, tmp_path, monkeypatch):
    monkeypatch.setitem(experiment.PRESETS, "toy-heat", {**experiment.PRESETS["heat-quick"], **TOY,
                                                          "coupled": (20, 1e-10, 4)})
    out = tmp_path / "heat.json"
    assert experiment.main(["--preset", "toy-heat", "--steps", "3", "--json", str(out),
                            "--figure", str(tmp_path / "heat.png")]) == 0
    assert (tmp_path / "heat.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads(out.read_text())
    assert summary["preset"] == "toy-heat" and summary["seed"] == 0 and "commit" in summary
    assert "--preset toy-heat" in summary["command"] and summary["config"]["steps"] == 3
    rows = {row["model"]: row for row in summary["results"]}
    assert set(rows) == {"soft", "hard", "moe", "coupled"}
    for row in rows.values():
        assert math.isfinite(row["rel_l2"]) and row["rel_l2"] < 2.0
    for kind in ("hard", "moe", "coupled"):
        assert rows[kind]["constraint_residual_max"] < 1e-8 and rows[kind]["final_solve_converged"], kind
    assert rows["coupled"]["experts"] == 4 and rows["hard"]["bases_per_solve"] == 128
    assert set(summary["solve_only_seconds"]) == {"hard", "moe", "coupled"} and summary["coupled_solve_speedup"] > 0


@pytest.mark.slow
def test_navier_stokes_lift_preset_at_toy_size(experiment, tmp_path, monkeypatch):
    """The lifted Navier-Stokes preset: every model's error at t = 0 is round-off (the lift makes the
    initial condition exact) and the hard layers hold their PDE constraints."""
    monkeypatch.setitem(experiment.PRESETS, "toy-ns", {**experiment.PRESETS["ns-lift"], **TOY, "interior": 16,
                                                        "resolution": 32})
    out = tmp_path / "ns.json"
    assert experiment.main(["--preset", "toy-ns", "--steps", "2", "--json", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["persistence"]["rel_l2_by_time"][0] == 0.0 and 0.0 < summary["persistence"]["rel_l2"] < 2.0
    rows = {row["model"]: row for row in summary["results"]}
    assert set(rows) == {"soft", "hard", "moe"}
    for row in rows.values():
        assert row["rel_l2_by_time"][0] < 1e-10 and math.isfinite(row["rel_l2"]), row["model"]
    for kind in ("hard", "moe"):
        assert rows[kind]["constraint_residual_max"] < 1e-8 and rows[kind]["final_solve_converged"], kind
