"""``experiments/mp_pde.py``: the configurations, and the E1 nx = 40 learning-curve wiring at toy size
(data made as the paper's authors make it, test error recorded after every epoch, curve JSON)."""

from __future__ import annotations

import json
import math

import h5py
import pytest
from _experiments import load_experiment

from pdesolve.datasets import NeighbourAverage, PointSubsampling


@pytest.fixture(scope="module")
def experiment():
    return load_experiment("mp_pde", "mp_pde_experiment")


def test_configurations(experiment):
    keys = {"experiments", "resolutions", "num_train", "num_valid", "num_test", "epochs", "iterations_per_epoch",
            "batch_size", "learning_rate", "hidden", "num_layers", "max_unroll", "lr_milestones"}
    for name, config in experiment.CONFIGS.items():
        assert keys <= set(config), name
        assert config.get("downsampling", "points") in experiment.DOWNSAMPLING, name
    nx40 = experiment.CONFIGS["e1-nx40"]
    # about one paper epoch: every start frame of every one of the 512 trajectories once (250 * 512 / 16 steps)
    assert nx40["num_train"] >= 512 and nx40["epochs"] * nx40["iterations_per_epoch"] == 250 * 512 // 16
    assert experiment.DOWNSAMPLING["average"] == NeighbourAverage(5)
    assert experiment.DOWNSAMPLING["points"] == PointSubsampling()


@pytest.mark.slow
def test_toy_curve_on_averaged_data(experiment, tmp_path):
    curve = tmp_path / "curve.json"
    assert experiment.main(["--config", "toy", "--data-dir", str(tmp_path / "data"), "--json", str(tmp_path / "r.json"),
                            "--curve", str(curve)]) == 0
    with h5py.File(tmp_path / "data" / "toy" / "E1_train_nx40.h5") as f:
        assert "mean of 5 neighbouring fine points" in f.attrs["config"]
    record = json.loads(curve.read_text())
    assert record["kind"] == "learning_curve" and record["commit"] and record["seed"] == 0
    assert (record["error_anchor"], record["paper_weno5"], record["goal"]) == (1.47, 9.63, 3.0)
    rows = record["results"]
    assert [(r["train_samples"], r["steps"]) for r in rows] == [(4, 2), (4, 4)]
    assert all(math.isfinite(r["error"]) and r["error"] > 0 for r in rows)
    run = record["run"]
    assert run["downsampling"] == "mean of 5 neighbouring fine points" and run["train_steps"] == 4
    assert record["error_ours"] == run["mp_pde_error"] and run["solver_error"] < run["persistence_error"]
    assert curve.with_suffix(".png").stat().st_size > 0
