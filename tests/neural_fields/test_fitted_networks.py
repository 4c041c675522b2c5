"""Fitted TENG networks as versioned .npz files: save, load, the shipped fit."""

from __future__ import annotations

import numpy as np
import jax
import jax.numpy as jnp
import pytest
from jax.flatten_util import ravel_pytree

from pdesolve import InvalidInputError, problems
from pdesolve.neural_fields import PeriodicMLP, TENGNetwork, load_fitted_network, save_fitted_network, teng_config


def test_save_then_load_gives_the_same_network(tmp_path):
    net = TENGNetwork(jax.random.PRNGKey(3), 2, width=6, depth=4, embedding_size=5, extent=(2.0, 3.0))
    path = save_fitted_network(tmp_path / "small", net, relative_l2=1.5e-7, command="python fit.py")
    assert path.name == "small.npz"
    loaded, metadata = load_fitted_network(path)
    assert metadata == {"relative_l2": 1.5e-7, "command": "python fit.py"}
    assert loaded.extent == (2.0, 3.0) and loaded.amplitude.shape == (2, 5)
    assert jax.tree.structure(loaded) == jax.tree.structure(net)
    np.testing.assert_array_equal(ravel_pytree(loaded)[0], ravel_pytree(net)[0])
    x = jnp.array([0.3, 1.7])
    assert float(loaded(x)) == float(net(x))


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(InvalidInputError, match="name_or_path: no file 'no-such-fit'"):
        load_fitted_network("no-such-fit")
    net = TENGNetwork(jax.random.PRNGKey(0), 2, width=4, depth=3)
    path = save_fitted_network(tmp_path / "a.npz", net)
    with np.load(path) as data:
        fields = dict(data)
    np.savez(tmp_path / "version.npz", **{**fields, "format_version": np.int64(99)})
    with pytest.raises(InvalidInputError, match="format version 99"):
        load_fitted_network(tmp_path / "version.npz")
    np.savez(tmp_path / "size.npz", **{**fields, "theta": fields["theta"][:-1]})
    with pytest.raises(InvalidInputError, match="parameters stored"):
        load_fitted_network(tmp_path / "size.npz")
    with pytest.raises(InvalidInputError, match="net must be a TENGNetwork"):
        save_fitted_network(tmp_path / "b.npz", PeriodicMLP(jax.random.PRNGKey(0), 2, (4,)))


def test_shipped_cpu_fit_reproduces_its_recorded_error():
    """The shipped initial network fits the paper's u0 to the error recorded with it, on the fit
    grid and on the 2x finer grid."""
    net, metadata = load_fitted_network("teng_initial_cpu")
    problem = problems.get("teng-heat")
    for n, key in ((metadata["fit_points"], "relative_l2_fit"), (metadata["evaluation_points"], "relative_l2_fine")):
        points, _ = problems.grid_points(n)
        target = problem.initial_values(points)
        error = float(jnp.linalg.norm(jax.vmap(net)(points) - target) / jnp.linalg.norm(target))
        np.testing.assert_allclose(error, metadata[key], rtol=1e-6)


def test_cpu_configuration_starts_from_the_shipped_fit_only_where_it_fits():
    """``teng_config("cpu")`` hands out the shipped network for the problems with the paper's u0
    and a network of its shape; another shape, another u0 or the paper configuration: ``None``."""
    cpu = teng_config("cpu")
    shipped, _ = load_fitted_network("teng_initial_cpu")
    for name in ("teng-heat", "teng-burgers"):
        problem = problems.get(name)
        net = cpu.shipped_initial_network(problem, cpu.network(problem, jax.random.PRNGKey(3)))
        np.testing.assert_array_equal(ravel_pytree(net)[0], ravel_pytree(shipped)[0])
    heat = problems.get("teng-heat")
    narrow = TENGNetwork(jax.random.PRNGKey(0), 2, 20, 4, extent=heat.extent)
    assert cpu.shipped_initial_network(heat, narrow) is None
    assert cpu.shipped_initial_network(heat, PeriodicMLP(jax.random.PRNGKey(0), 2, (24, 24))) is None
    legacy = problems.get("teng-heat-legacy")
    assert cpu.shipped_initial_network(legacy, cpu.network(legacy, jax.random.PRNGKey(0))) is None
    paper = teng_config("paper")
    assert paper.initial_fit is None
    assert paper.shipped_initial_network(heat, paper.network(heat, jax.random.PRNGKey(0))) is None
