"""End-to-end check of ``experiments/teng_initial_fit.py`` at toy size, in-process.

The geodesic LM is tested in tests/optim/test_optim_second_order.py and the file format in
tests/neural_fields/test_fitted_networks.py; this checks the wiring: the fit lowers the error,
the saved network reproduces the reported errors, and the JSON records provenance and the curve.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _experiments import load_experiment

from pdesolve import problems
from pdesolve.neural_fields import load_fitted_network


@pytest.fixture(scope="module")
def experiment():
    return load_experiment("teng_initial_fit")


# the full-Jacobian path costs ~3x the subset one here; geodesic LM on full Jacobians is tested in tests/optim
@pytest.mark.parametrize("subset", [pytest.param(None, marks=pytest.mark.slow), 40])
def test_toy_fit_writes_a_loadable_network_and_its_curve(experiment, tmp_path, subset):
    args = ["--points", "12", "--adam-steps", "50", "--lm-steps", "12", "--network-out", str(tmp_path / "net.npz"),
            "--out", str(tmp_path / "fit.json")]
    experiment.main(args + (["--subset", str(subset)] if subset else ["--full"]))
    record = json.loads((tmp_path / "fit.json").read_text())
    assert record["command"].startswith("python experiments/teng_initial_fit.py --points 12")
    assert record["seed"] == 0 and record["parameters"] == 1297 and record["subset"] == subset
    residuals = [row["relative_residual"] for row in record["curve"]]
    assert len(residuals) == 13 and all(b <= a * (1 + 1e-12) for a, b in zip(residuals, residuals[1:]))  # LM only descends
    assert residuals[-1] < 0.8 * residuals[0]
    net, metadata = load_fitted_network(tmp_path / "net.npz")
    assert metadata["relative_l2_fit"] == record["relative_l2_fit"]
    np.testing.assert_allclose(record["relative_l2_fit"], residuals[-1], rtol=1e-10)
    points, _ = problems.grid_points(24)
    target = problems.get("teng-heat").initial_values(points)
    fine = float(jnp.linalg.norm(jax.vmap(net)(points) - target) / jnp.linalg.norm(target))
    np.testing.assert_allclose(fine, record["relative_l2_fine"], rtol=1e-10)
