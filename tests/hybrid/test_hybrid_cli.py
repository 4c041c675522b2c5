"""``pdesolve train hybrid`` on a file of ``pdesolve generate``: the spec builds the coarse solver from the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pdesolve import InvalidInputError
from pdesolve.hybrid import coarse_stepper


def test_coarse_stepper_reads_the_file_attributes():
    attrs = {"pde": "navier-stokes", "nu": 0.01, "drag": 0.1, "forcing": "kolmogorov", "forcing_wavenumber": 4,
             "forcing_amplitude": 1.0, "extent": 2 * np.pi}
    stepper = coarse_stepper(attrs, 16, 0.05, np.float64)
    assert stepper.dt == 0.05 and stepper.pde.grid.shape == (16, 16)
    assert float(stepper.pde.viscosity) == 0.01 and float(stepper.pde.drag) == 0.1
    with pytest.raises(InvalidInputError, match="Navier-Stokes"):
        coarse_stepper({"pde": "heat"}, 16, 0.05, np.float64)


def test_unknown_correction_is_refused():
    from pdesolve.hybrid._plugin import _options  # the spec's option check, tested in its own package

    assert _options({"correction": "flux"})["correction"] == "flux"
    with pytest.raises(InvalidInputError, match="correction must be one of"):
        _options({"correction": "mlp"})


@pytest.mark.slow
@pytest.mark.parametrize("correction", ["conv", "flux"])
def test_pdesolve_train_hybrid_on_a_generated_file(tmp_path, capsys, correction):
    from pdesolve.cli import main
    from pdesolve.datasets import generate

    path = tmp_path / "ns.h5"
    generate("ns-kolmogorov", 4, 16, path, progress=False, solve_resolution=32, t_final=1.0, dt_save=0.05)
    out = tmp_path / "run"
    assert main(["train", "hybrid", "--data", str(path), "--out", str(out), "--epochs", "2", "--batch-size", "2",
                 "--rollout-steps", "4", "--splits", "0.5,0.0,0.5", "--width", "4", "--depth", "1", "--json",
                 "--correction", correction,
                 "--no-figures", "--no-progress"]) == 0
    payload = json.loads(capsys.readouterr().out)
    metrics = payload["metrics"]
    assert payload["steps"] == 2 and metrics["samples"] == 2 and metrics["rollout_steps"] == 20
    assert 0 < metrics["rollout_rel_l2"] < 0.5 and 0 < metrics["high_correlation_time"] <= 1.0
    assert (out / "checkpoint.eqx").is_file()
