import jax.numpy as jnp
import pytest

from pdesolve import InvalidInputError
from pdesolve.integrators import ETDRK4, advance
from pdesolve.metrics import relative_l2
from pdesolve.pdes import (
    Advection,
    AllenCahn,
    Burgers,
    Heat,
    NavierStokes2D,
    cole_hopf_burgers,
    fno_forcing,
    kolmogorov_forcing,
    taylor_green_vorticity,
)
from pdesolve.spatial import PeriodicGrid, spectral_derivative


def test_navier_stokes_velocity_is_divergence_free_and_matches_vorticity():
    grid = PeriodicGrid(32, ndim=2)
    pde = NavierStokes2D(grid, viscosity=0.01)
    w = taylor_green_vorticity(grid, 0.0, 0.01) + 0.1 * jnp.sin(jnp.sum(grid.coordinates(), axis=0))[None]
    u, v = pde.velocity(w)
    div = spectral_derivative(u[None], grid, 0) + spectral_derivative(v[None], grid, 1)
    curl = spectral_derivative(v[None], grid, 0) - spectral_derivative(u[None], grid, 1)
    assert jnp.max(jnp.abs(div)) < 1e-12
    assert jnp.max(jnp.abs(curl - w)) < 1e-12


def test_kolmogorov_forcing_is_curl_of_body_force():
    grid = PeriodicGrid(32, ndim=2)
    f = kolmogorov_forcing(grid, wavenumber=4, amplitude=2.0)
    y = grid.coordinates()[1]
    fx = 2.0 * jnp.sin(4 * y)[None]
    assert jnp.max(jnp.abs(f + spectral_derivative(fx, grid, 1))) < 1e-11


def test_fno_forcing_formula():
    grid = PeriodicGrid(16, extent=1.0, ndim=2)
    x, y = grid.coordinates()
    f = fno_forcing(grid)
    assert jnp.allclose(f[0], 0.1 * (jnp.sin(2 * jnp.pi * (x + y)) + jnp.cos(2 * jnp.pi * (x + y))))


def test_nonlinear_rhs_of_burgers_matches_physical_formula():
    grid = PeriodicGrid(64, ndim=1)
    x = grid.coordinates()[0]
    u = cole_hopf_burgers(x, 0.3, 0.1)
    pde = Burgers(grid, 0.1, dealiasing_fraction=1.0)
    ux = spectral_derivative(u, grid)
    uxx = spectral_derivative(u, grid, order=2)
    assert jnp.max(jnp.abs(pde.rhs(0.0, u) - (-u * ux + 0.1 * uxx))) < 1e-9


def test_vector_burgers_2d_rhs():
    grid = PeriodicGrid(32, ndim=2)
    x, y = grid.coordinates()
    u = jnp.stack([jnp.sin(x), jnp.cos(y)])
    pde = Burgers(grid, 0.0, dealiasing_fraction=1.0)
    expected = -jnp.stack([u[0] * jnp.cos(x), u[1] * (-jnp.sin(y))])
    assert jnp.max(jnp.abs(pde.rhs(0.0, u) - expected)) < 1e-10


def test_allen_cahn_rhs():
    grid = PeriodicGrid(32, ndim=1)
    x = grid.coordinates()[0]
    u = (0.5 * jnp.sin(x))[None]
    pde = AllenCahn(grid, 0.01, dealiasing_fraction=1.0)
    expected = 0.01 * (-u) + u - u**3
    assert jnp.max(jnp.abs(pde.rhs(0.0, u) - expected)) < 1e-12


def test_advection_translates_exactly():
    grid = PeriodicGrid(32, ndim=2)
    x, y = grid.coordinates()
    pde = Advection(grid, (1.0, -0.5))
    u0 = (jnp.sin(x) * jnp.cos(2 * y))[None]
    u = advance(ETDRK4(pde, 0.1), u0, 10)
    expected = (jnp.sin(x - 1.0) * jnp.cos(2 * (y + 0.5)))[None]
    assert relative_l2(u, expected) < 1e-12


@pytest.mark.parametrize("make", [
    lambda g: Heat(g, -0.1),
    lambda g: Burgers(g, -1.0),
    lambda g: NavierStokes2D(g, viscosity=-1e-3),
    lambda g: NavierStokes2D(g, viscosity=1e-3, drag=-0.1),
])
def test_negative_viscosity_is_rejected(make):
    grid = PeriodicGrid(8, ndim=2)
    with pytest.raises(InvalidInputError, match="non-negative"):
        make(grid)


def test_navier_stokes_needs_2d_grid_and_matching_forcing():
    with pytest.raises(InvalidInputError, match="2D"):
        NavierStokes2D(PeriodicGrid(8, ndim=1))
    with pytest.raises(InvalidInputError, match="forcing"):
        NavierStokes2D(PeriodicGrid(8, ndim=2), forcing=jnp.zeros((4, 4)))


def test_gaussian_random_field_is_isotropic_with_the_prescribed_spectrum():
    """Mode power of the GRF: sigma^2 (|k|^2 + tau^2)^-alpha on every axis (the ky = 0 plane included)."""
    import jax
    import numpy as np

    from pdesolve.initial_conditions import gaussian_random_field

    grid = PeriodicGrid(16, ndim=2, extent=1.0, dtype=jnp.float64)
    keys = jax.random.split(jax.random.PRNGKey(0), 2000)
    fields = jax.vmap(lambda k: gaussian_random_field(k, grid)[0])(keys)
    power = np.mean(np.abs(np.fft.fft2(np.asarray(fields))) ** 2, axis=0) / grid.shape[0] ** 2 / grid.shape[1] ** 2
    sigma, tau, alpha = 7.0**1.5, 7.0, 2.5
    expected = sigma**2 * (4 * np.pi**2 + tau**2) ** (-alpha)  # |m| = 1
    for mode in ((1, 0), (0, 1), (15, 0), (0, 15)):  # (m, 0) modes had half the power before the fix
        np.testing.assert_allclose(power[mode], expected, rtol=0.1)
    assert power[0, 0] < 1e-20
