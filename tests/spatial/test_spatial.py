import jax.numpy as jnp
import numpy as np
import pytest

from pdesolve import InvalidInputError
from pdesolve.spatial import (
    PeriodicGrid,
    irfft,
    rfft,
    dealiasing_mask,
    poisson_solve,
    spectral_derivative,
    spectral_gradient,
    spectral_laplacian,
    velocity_from_vorticity_hat,
)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_spectral_derivatives_exact_on_trig(ndim):
    grid = PeriodicGrid(16, ndim=ndim)
    x = grid.coordinates()
    u = jnp.sin(2 * x[0])[None]
    if ndim > 1:
        u = u * jnp.cos(3 * x[-1])[None]
    du = spectral_derivative(u, grid, axis=0)
    expected = 2 * jnp.cos(2 * x[0])[None] * (jnp.cos(3 * x[-1])[None] if ndim > 1 else 1)
    assert jnp.max(jnp.abs(du - expected)) < 1e-12
    lap = spectral_laplacian(u, grid)
    k2 = 4 + (9 if ndim > 1 else 0)
    assert jnp.max(jnp.abs(lap + k2 * u)) < 1e-11
    grad = spectral_gradient(u, grid)
    assert grad.shape == (1, ndim) + grid.shape
    assert jnp.max(jnp.abs(grad[:, 0] - du)) < 1e-12


def test_second_derivative_and_nonsquare_box():
    grid = PeriodicGrid((16, 12), extent=(1.0, 3.0))
    x, y = grid.coordinates()
    u = jnp.sin(2 * jnp.pi * x)[None] * jnp.cos(2 * jnp.pi * y / 3)[None]
    d2 = spectral_derivative(u, grid, axis=1, order=2)
    assert jnp.max(jnp.abs(d2 + (2 * jnp.pi / 3) ** 2 * u)) < 1e-10


def test_poisson_solve_inverts_laplacian():
    grid = PeriodicGrid(32, ndim=2)
    x, y = grid.coordinates()
    phi = (jnp.sin(x) * jnp.cos(2 * y) + 0.3 * jnp.cos(5 * x))[None]
    recovered = poisson_solve(spectral_laplacian(phi, grid), grid)
    assert jnp.max(jnp.abs(recovered - phi)) < 1e-12


def test_dealiasing_mask_two_thirds():
    grid = PeriodicGrid(12, ndim=1)
    mask = np.asarray(dealiasing_mask(grid))
    # modes 0..3 kept (|m| < 4), 4..6 zeroed
    assert mask.tolist() == [1, 1, 1, 1, 0, 0, 0]


@pytest.mark.parametrize("bad", [0, -4, 1])
def test_non_positive_grid_size_is_rejected(bad):
    with pytest.raises(InvalidInputError, match="grid size|at least 2"):
        PeriodicGrid(bad, ndim=2)


def test_bad_extent_and_dtype_rejected():
    with pytest.raises(InvalidInputError, match="extent"):
        PeriodicGrid(8, extent=-1.0)
    with pytest.raises(InvalidInputError, match="dtype"):
        PeriodicGrid(8, dtype=jnp.int32)
    with pytest.raises(InvalidInputError, match="ndim"):
        PeriodicGrid(8, ndim=4)


def test_velocity_from_vorticity_exact_on_a_nonsquare_box():
    # psi = sin(x) cos(y / 2) on [0, 2 pi) x [0, 4 pi): omega = -lap psi = 1.25 psi,
    # u = d_y psi = -0.5 sin(x) sin(y / 2), v = -d_x psi = -cos(x) cos(y / 2).
    grid = PeriodicGrid((16, 24), extent=(2 * np.pi, 4 * np.pi), dtype=jnp.float64)
    x, y = grid.coordinates()
    psi = jnp.sin(x) * jnp.cos(y / 2)
    omega = 1.25 * psi
    batch = jnp.stack([omega, 2 * omega])  # leading batch axis
    velocity = irfft(velocity_from_vorticity_hat(rfft(batch, grid), grid), grid)
    assert velocity.shape == (2, 2, 16, 24)
    expected = jnp.stack([-0.5 * jnp.sin(x) * jnp.sin(y / 2), -jnp.cos(x) * jnp.cos(y / 2)])
    np.testing.assert_allclose(velocity[0], expected, atol=1e-13)
    np.testing.assert_allclose(velocity[1], 2 * expected, atol=1e-13)
    # the mean of omega induces no velocity
    still = irfft(velocity_from_vorticity_hat(rfft(omega + 3.0, grid), grid), grid)
    np.testing.assert_allclose(still, expected, atol=1e-13)


def test_velocity_from_vorticity_needs_a_2d_grid():
    grid = PeriodicGrid(8, ndim=3)
    with pytest.raises(InvalidInputError, match="2D"):
        velocity_from_vorticity_hat(jnp.zeros(grid.spectral_shape, jnp.complex64), grid)
