"""The smoke subset: one check per layer of the stack, against exact values.

This file is self-contained (no conftest, no test helpers) so that it can run from a directory
outside the checkout against an installed wheel, and against the lowest declared dependency
versions (``make test-lowest``, ``make test-wheel``). It runs in the default suite too.
"""

import math

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pdesolve as ps  # noqa: E402
from pdesolve.integrators import ETDRK4, advance  # noqa: E402
from pdesolve.pdes import Heat  # noqa: E402
from pdesolve.spatial import PeriodicGrid  # noqa: E402


def test_heat_solve_matches_the_exact_decay_and_differentiates():
    """One solve: u = sin(3x) decays as exp(-9 nu t), and d/dnu of the result is exact."""
    grid = PeriodicGrid(16)
    x = grid.coordinates()
    u0 = jnp.sin(3.0 * x)

    def final(nu):
        return advance(ETDRK4(Heat(grid, nu), dt=0.05), u0, 20)

    u1 = final(0.1)
    np.testing.assert_allclose(u1, math.exp(-0.9) * u0, atol=1e-13)
    grad = jax.grad(lambda nu: final(nu)[0, 3])(0.1)
    np.testing.assert_allclose(grad, -9.0 * math.exp(-0.9) * float(u0[0, 3]), rtol=1e-10)


def test_dataset_round_trip_is_bitwise(tmp_path):
    """One dataset round trip: a generated file reads back bitwise equal to a re-solve of its seeds."""
    from pdesolve.datasets import generate, open_dataset, regenerate_samples

    path = tmp_path / "heat.h5"
    info = generate("heat1d", 3, 16, path, seed=5, progress=False)
    assert info.num_samples == 3
    with open_dataset(path) as data:
        stored = data.read_batch([0, 2])
    np.testing.assert_array_equal(stored, regenerate_samples(path, [0, 2]).reshape(stored.shape))


def test_one_training_step_lowers_the_loss():
    """One training step: an Adam step on an FNO lowers its loss on the batch it was taken on."""
    import equinox as eqx
    import optax

    from pdesolve.operators import FNO

    key = jax.random.PRNGKey(0)
    model = FNO(1, 1, width=8, modes=4, key=key)
    x = jax.random.normal(jax.random.PRNGKey(1), (4, 1, 16))
    y = jnp.roll(x, 1, axis=-1)

    @eqx.filter_jit
    def loss(m):
        return jnp.mean((jax.vmap(m)(x) - y) ** 2)

    tx = optax.adam(1e-3)
    state = tx.init(eqx.filter(model, eqx.is_inexact_array))
    before, grads = eqx.filter_jit(eqx.filter_value_and_grad(loss))(model)
    updates, state = tx.update(grads, state)
    after = loss(eqx.apply_updates(model, updates))
    assert after < before


def test_one_optimizer_step_matches_its_definition():
    """One step of pdesolve's own diffGrad against its formula, and a Gauss-Newton fit to the exact answer."""
    import pdesolve.optim as po

    g = jnp.array([0.5, -2.0])
    tx = po.diffgrad(0.1)
    state = tx.init(jnp.zeros(2))
    updates, _ = tx.update(g, state)
    # Step 1: m = (1-b1) g, v = (1-b2) g^2, bias-corrected to g and g^2; friction 1/(1+e^{-|g - 0|}).
    friction = 1.0 / (1.0 + jnp.exp(-jnp.abs(g)))
    np.testing.assert_allclose(updates, -0.1 * friction * g / (jnp.abs(g) + 1e-8), rtol=1e-6)

    x = jnp.linspace(0.0, 1.0, 20)
    params, norm = po.least_squares_solve(
        lambda p: p["a"] * jnp.exp(-p["b"] * x) - 2.0 * jnp.exp(-3.0 * x),
        {"a": jnp.array(1.0), "b": jnp.array(1.0)}, 20, "levenberg_marquardt")
    np.testing.assert_allclose([params["a"], params["b"]], [2.0, 3.0], rtol=1e-8)
    assert norm < 1e-10


def test_constraint_layer_conserves_mass_and_differentiates():
    """One constraint layer: a mass projection makes an FNO conserve mass to rounding, with gradients."""
    import equinox as eqx

    from pdesolve.constraints import ConstrainedModel, MassProjection
    from pdesolve.operators import FNO

    grid = PeriodicGrid(16, extent=1.0)
    projection = MassProjection(grid.cell_volume, shape=grid.shape)
    model = ConstrainedModel(FNO(1, 1, width=8, modes=4, key=jax.random.PRNGKey(0)), projection,
                             projection.mass)
    u0 = 1.0 + jnp.sin(2 * jnp.pi * grid.coordinates())
    np.testing.assert_allclose(projection.mass(eqx.filter_jit(model)(u0)), projection.mass(u0), atol=1e-13)
    grads = eqx.filter_jit(eqx.filter_grad(lambda m: jnp.sum(m(u0) ** 2)))(model)
    leaves = jax.tree_util.tree_leaves(eqx.filter(grads, eqx.is_inexact_array))
    assert leaves and all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in leaves)
    assert any(float(jnp.max(jnp.abs(leaf))) > 0 for leaf in leaves)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ps.InvalidInputError, match="diffusivity"):
        Heat(PeriodicGrid(8), -1.0)


def test_the_shipped_teng_initial_network_loads_and_fits_the_paper_initial_condition():
    """Package data ships: the fitted TENG network reproduces u0 = cosh(3 sin x) sinh(sin y) / 25."""
    from pdesolve import problems
    from pdesolve.neural_fields import load_fitted_network

    net, metadata = load_fitted_network("teng_initial_cpu")
    points, _ = problems.grid_points(metadata["evaluation_points"])
    x, y = points[:, 0], points[:, 1]
    target = jnp.cosh(3 * jnp.sin(x)) * jnp.sinh(jnp.sin(y)) / 25
    error = jnp.linalg.norm(jax.vmap(net)(points) - target) / jnp.linalg.norm(target)
    assert error < 1e-7
