"""Finite-difference operators and the Dirichlet heat equation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdesolve import InvalidInputError, StabilityError
from pdesolve.integrators import ExplicitRK, advance
from pdesolve.metrics import observed_order
from pdesolve.pdes import DirichletHeat, dirichlet_heat_sine_modes
from pdesolve.spatial import (
    PeriodicGrid,
    fd_derivative_periodic,
    fd_laplacian_dirichlet,
    fd_laplacian_dirichlet_matrix,
    fd_laplacian_eigenvalue_bound,
    fd_laplacian_periodic,
)
from pdesolve.verification._dirichlet_heat import verify_dirichlet_heat_order

jax.config.update("jax_enable_x64", True)


# A smooth periodic test function with many harmonics: u = prod_i f(x_i + shift_i).
# Reference values are computed with numpy (no per-shape compilation).
def _f(x):
    return np.exp(np.sin(x))


def _df(x):
    return np.cos(x) * np.exp(np.sin(x))


def _d2f(x):
    return (np.cos(x) ** 2 - np.sin(x)) * np.exp(np.sin(x))


def _product(factors):
    out = factors[0]
    for factor in factors[1:]:
        out = out * factor
    return out


def _periodic_case(n, ndim):
    grid = PeriodicGrid(n, ndim=ndim, dtype=jnp.float64)
    xs = [x + 0.3 * i for i, x in enumerate(np.asarray(grid.coordinates()))]
    u = _product([_f(x) for x in xs])[None]
    lap = sum(
        _product([_d2f(x) if j == i else _f(x) for j, x in enumerate(xs)]) for i in range(ndim)
    )[None]
    grads = [_product([_df(x) if j == i else _f(x) for j, x in enumerate(xs)])[None] for i in range(ndim)]
    return grid, jnp.asarray(u), lap, grads


_PERIODIC_SIZES = {1: (32, 64), 2: (32, 64), 3: (24, 48)}


@pytest.mark.parametrize("order", [2, 4])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_periodic_laplacian_order(ndim, order):
    spacings, errors = [], []
    for n in _PERIODIC_SIZES[ndim]:
        grid, u, lap, _ = _periodic_case(n, ndim)
        out = fd_laplacian_periodic(u, grid.spacing, order)
        assert out.shape == u.shape and out.dtype == u.dtype
        spacings.append(grid.spacing[0])
        errors.append(float(np.max(np.abs(np.asarray(out) - lap))))
    assert abs(observed_order(errors, spacings) - order) <= 0.2


@pytest.mark.parametrize("order", [2, 4])
@pytest.mark.parametrize("ndim", [1, 2])
def test_periodic_derivative_order(ndim, order):
    for axis in range(ndim):
        spacings, errors = [], []
        for n in (32, 64):
            grid, u, _, grads = _periodic_case(n, ndim)
            out = fd_derivative_periodic(u, grid.spacing, axis, order)
            spacings.append(grid.spacing[0])
            errors.append(float(np.max(np.abs(np.asarray(out) - grads[axis]))))
        assert abs(observed_order(errors, spacings) - order) <= 0.2


def test_periodic_operators_on_nonsquare_grid_and_nyquist_mode():
    grid = PeriodicGrid((16, 12), extent=(1.0, 3.0), dtype=jnp.float64)
    x, y = grid.coordinates()
    u = (jnp.sin(2 * jnp.pi * x) * jnp.cos(2 * jnp.pi * y / 3))[None]
    for order, tol in ((2, 0.1), (4, 0.01)):
        lap = fd_laplacian_periodic(u, grid.spacing, order)
        expected = -((2 * jnp.pi) ** 2 + (2 * jnp.pi / 3) ** 2) * u
        assert float(jnp.max(jnp.abs(lap - expected))) < tol * float(jnp.max(jnp.abs(expected)))
    # The checkerboard (Nyquist) mode attains the eigenvalue bound exactly.
    checker = ((-1.0) ** (jnp.arange(16)[:, None] + jnp.arange(12)[None, :]))[None]
    for order in (2, 4):
        bound = fd_laplacian_eigenvalue_bound(grid.spacing, order)
        np.testing.assert_allclose(fd_laplacian_periodic(checker, grid.spacing, order), -bound * checker, rtol=1e-12)


def _poly_1d(x, degree):
    return sum((k + 1) * (x - 0.3) ** k for k in range(degree + 1))


def _poly_1d_xx(x, degree):
    return sum((k + 1) * k * (k - 1) * (x - 0.3) ** (k - 2) for k in range(2, degree + 1))


@pytest.mark.parametrize("order, degree", [(2, 3), (4, 5)])
def test_dirichlet_laplacian_exact_on_polynomials_1d(order, degree):
    n, length = 9, 1.7
    h = length / n
    x = jnp.arange(1, n, dtype=jnp.float64) * h
    u = _poly_1d(x, degree)[None]
    bc = (float(_poly_1d(0.0, degree)), float(_poly_1d(length, degree)))
    out = fd_laplacian_dirichlet(u, (h,), bc, order)
    np.testing.assert_allclose(out, _poly_1d_xx(x, degree)[None], rtol=0, atol=1e-9)
    # Same through the nested ((low, high),) form, and not exact one degree higher.
    np.testing.assert_allclose(fd_laplacian_dirichlet(u, (h,), (bc,), order), out, atol=1e-12)
    u_hi = _poly_1d(x, degree + 1)[None]
    bc_hi = (float(_poly_1d(0.0, degree + 1)), float(_poly_1d(length, degree + 1)))
    error = jnp.max(jnp.abs(fd_laplacian_dirichlet(u_hi, (h,), bc_hi, order) - _poly_1d_xx(x, degree + 1)[None]))
    assert float(error) > 1e-6


@pytest.mark.parametrize("order, degree", [(2, 3), (4, 5)])
def test_dirichlet_laplacian_exact_on_polynomials_2d(order, degree):
    nx, ny, lx, ly = 7, 9, 1.0, 2.0
    hx, hy = lx / nx, ly / ny
    xi = jnp.arange(1, nx, dtype=jnp.float64) * hx
    yi = jnp.arange(1, ny, dtype=jnp.float64) * hy

    def p(x, y):  # mixed terms of total degree <= degree
        return _poly_1d(x, degree) + 0.5 * _poly_1d(y, degree) + x ** (degree - 2) * y**2 - x * y

    def lap_p(x, y):
        return (
            _poly_1d_xx(x, degree)
            + 0.5 * _poly_1d_xx(y, degree)
            + (degree - 2) * (degree - 3) * x ** max(degree - 4, 0) * y**2
            + 2 * x ** (degree - 2)
        )

    X, Y = jnp.meshgrid(xi, yi, indexing="ij")
    u = p(X, Y)[None]
    faces = ((p(0.0, yi)[None], p(lx, yi)[None]), (p(xi, 0.0)[None], p(xi, ly)[None]))
    out = fd_laplacian_dirichlet(u, (hx, hy), faces, order)
    assert out.shape == (1, nx - 1, ny - 1)
    np.testing.assert_allclose(out, lap_p(X, Y)[None], rtol=0, atol=1e-8)


def test_dirichlet_constants_and_jit():
    # A constant field equal to its boundary value has zero Laplacian, in 1D, 2D and 3D.
    for ndim in (1, 2, 3):
        u = jnp.full((2,) + (6,) * ndim, 2.5)
        for order in (2, 4):
            out = jax.jit(fd_laplacian_dirichlet, static_argnums=(1, 3))(u, (0.1,) * ndim, 2.5, order)
            assert float(jnp.max(jnp.abs(out))) < 1e-9


@pytest.mark.parametrize("order", [2, 4])
def test_eigenvalue_bound_covers_dirichlet_matrices(order):
    for n in (5, 6, 9, 33):
        h = 1.0 / n
        matrix = np.asarray(fd_laplacian_dirichlet_matrix(n - 1, h, order, dtype=jnp.float64))
        eigenvalues = np.linalg.eigvals(matrix)
        bound = fd_laplacian_eigenvalue_bound((h,), order)
        assert np.max(np.abs(eigenvalues)) <= bound * (1 + 1e-12)
        assert np.max(np.abs(eigenvalues.imag)) < 1e-6 * bound  # real spectrum
        assert np.max(eigenvalues.real) < 0  # and negative: the semi-discrete problem is stable
    assert fd_laplacian_eigenvalue_bound((0.5, 0.25), 2) == pytest.approx(4 / 0.25 + 4 / 0.0625)
    assert fd_laplacian_eigenvalue_bound((0.5,), 4) == pytest.approx(16 / 3 / 0.25)


@pytest.mark.parametrize("order", [2, 4])
def test_dirichlet_heat_convergence_order(order):
    result = verify_dirichlet_heat_order(order)
    assert result.passed, result
    assert abs(result.order - order) <= 0.2
    assert result.design_order == order
    assert result.error < (1e-3 if order == 2 else 1e-5)


def test_dirichlet_heat_state_and_coordinates():
    pde = DirichletHeat(8, 0.5, ndim=2, length=2.0, order=4, dtype=jnp.float64)
    assert pde.state_shape == (1, 7, 7)
    assert pde.spacing == (0.25, 0.25)
    coords = pde.interior_coordinates()
    assert coords.shape == (2, 7, 7)
    np.testing.assert_allclose(coords[0, :, 0], 0.25 * np.arange(1, 8))
    np.testing.assert_allclose(coords[1, 0, :], 0.25 * np.arange(1, 8))
    assert pde.stability_radius() == pytest.approx(0.5 * 2 * (16 / 3) / 0.25**2)
    # Constant boundary data: the matching constant is a steady state; a linear profile in 1D too.
    steady = DirichletHeat(8, 1.0, ndim=2, boundary_values=3.0, dtype=jnp.float64)
    assert float(jnp.max(jnp.abs(steady.rhs(0.0, jnp.full(steady.state_shape, 3.0))))) < 1e-10
    for order in (2, 4):
        linear = DirichletHeat(10, 1.0, order=order, boundary_values=(1.0, 3.0), dtype=jnp.float64)
        x = linear.interior_coordinates()
        assert float(jnp.max(jnp.abs(linear.rhs(0.0, 1.0 + 2.0 * x)))) < 1e-9


def test_explicit_rk_stability_limit_and_stable_run():
    nu, n = 0.2, 10
    pde = DirichletHeat(n, nu, ndim=2, order=4, dtype=jnp.float64)
    limit = 2.7853 / pde.stability_radius()
    with pytest.raises(StabilityError):
        ExplicitRK(pde, 1.05 * limit, "rk4")
    with pytest.raises(StabilityError):
        ExplicitRK(pde, 1.05 * 2.0 / pde.stability_radius(), "euler")
    x, y = pde.interior_coordinates()
    u0 = (jnp.sin(jnp.pi * x) * jnp.sin(jnp.pi * y))[None]
    final_time = 0.5
    steps = math.ceil(final_time / (0.9 * limit))
    u = advance(ExplicitRK(pde, final_time / steps, "rk4"), u0, steps)
    exact = u0 * jnp.exp(-2 * nu * jnp.pi**2 * final_time)
    assert float(jnp.max(jnp.abs(u - exact))) < 1e-4


def test_bound_is_not_vacuous_beyond_the_limit():
    # Forward Euler at 1.2x its limit: the real spectrum reaches 0.99 * bound at N = 32, so it blows up.
    pde = DirichletHeat(32, 1.0, dtype=jnp.float64)
    dt = 1.2 * 2.0 / pde.stability_radius()
    u0 = jax.random.normal(jax.random.PRNGKey(0), pde.state_shape, dtype=jnp.float64)
    u = advance(ExplicitRK(pde, dt, "euler", check_stability=False), u0, 200, check_finite=False)
    assert not bool(jnp.all(jnp.abs(u) < 1e3))


def test_gradient_with_respect_to_diffusivity():
    def final_mass(nu):
        pde = DirichletHeat(12, nu, order=4, dtype=jnp.float64)
        x = pde.interior_coordinates()[0]
        u0 = dirichlet_heat_sine_modes(x, 0.0, 0.0, (1,))
        return jnp.sum(advance(ExplicitRK(pde, 1e-3, "rk4"), u0, 50, check_finite=False))

    nu, eps = 0.3, 1e-5
    grad = jax.grad(final_mass)(jnp.asarray(nu))
    fd = (final_mass(nu + eps) - final_mass(nu - eps)) / (2 * eps)
    assert float(grad) == pytest.approx(float(fd), rel=1e-6)
    assert float(grad) < 0  # faster diffusion, less mass left


@pytest.mark.parametrize("n", [0, -4, 1, 2])
def test_invalid_grid_size(n):
    with pytest.raises(InvalidInputError, match="grid size"):
        DirichletHeat(n)
    if n <= 0:
        with pytest.raises(InvalidInputError, match="positive"):
            DirichletHeat(n)


def test_invalid_inputs():
    with pytest.raises(InvalidInputError, match="non-negative"):
        DirichletHeat(8, -0.1)
    with pytest.raises(InvalidInputError):
        DirichletHeat(8.0)
    with pytest.raises(InvalidInputError):
        DirichletHeat(4, order=4)  # the one-sided closure needs N >= 5
    with pytest.raises(InvalidInputError):
        DirichletHeat(8, order=3)
    with pytest.raises(InvalidInputError):
        DirichletHeat(8, ndim=4)
    with pytest.raises(InvalidInputError):
        DirichletHeat(8, length=-1.0)
    with pytest.raises(InvalidInputError):
        DirichletHeat(8, ndim=2, boundary_values=(1.0, 2.0, 3.0))
    u = jnp.ones((1, 8))
    for bad_order in (1, 3, 6):
        with pytest.raises(InvalidInputError, match="order"):
            fd_laplacian_periodic(u, (0.1,), bad_order)
        with pytest.raises(InvalidInputError, match="order"):
            fd_derivative_periodic(u, (0.1,), 0, bad_order)
        with pytest.raises(InvalidInputError, match="order"):
            fd_laplacian_dirichlet(u, (0.1,), 0.0, bad_order)
        with pytest.raises(InvalidInputError, match="order"):
            fd_laplacian_eigenvalue_bound((0.1,), bad_order)
    with pytest.raises(InvalidInputError):
        fd_laplacian_periodic(u, (0.0,))
    with pytest.raises(InvalidInputError):
        fd_derivative_periodic(u, (0.1,), axis=1)
    with pytest.raises(InvalidInputError):
        fd_laplacian_dirichlet(jnp.ones((1, 3)), (0.1,), 0.0, 4)  # too few interior points
    with pytest.raises(InvalidInputError):
        fd_laplacian_dirichlet(u, (0.1,), (jnp.ones(3), 0.0))  # face value of the wrong shape
    with pytest.raises(InvalidInputError):
        fd_laplacian_periodic(jnp.ones((1, 8), dtype=jnp.int32), (0.1,))
