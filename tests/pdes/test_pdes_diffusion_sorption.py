"""Tests of pdesolve.pdes' diffusion-sorption: retardation, pointwise residual, finite-difference PDE."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdesolve import InvalidInputError
from pdesolve.integrators import solve_method_of_lines
from pdesolve.pdes import DiffusionSorption, diffusion_sorption_residual, retardation_factor

SORPTION = (1 - 0.29) / 0.29 * 2880.0 * 3.5e-4 * 0.874  # PDEBench's (1 - phi)/phi rho_s k n


def test_retardation_factor_values_and_floor():
    u = jnp.asarray([1.0, 0.25, 0.01, 0.0, -1.0])
    expected = 1.0 + SORPTION * np.maximum(np.asarray(u), 0.01) ** (0.874 - 1.0)
    np.testing.assert_allclose(retardation_factor(u), expected, rtol=1e-14)
    assert float(retardation_factor(1.0)) == pytest.approx(1.0 + SORPTION, rel=1e-14)
    assert float(retardation_factor(-1.0)) == float(retardation_factor(0.01))  # frozen below the floor
    # the PDE's method uses its own (array) parameters
    pde = DiffusionSorption(8, freundlich_exponent=1.0)
    assert float(pde.retardation(0.3)) == pytest.approx(1.0 + (1 - 0.29) / 0.29 * 2880.0 * 3.5e-4, rel=1e-14)


def test_pointwise_residual_vanishes_on_a_manufactured_solution():
    """u = exp(-t) (1 + x^2) solves u_t = kappa u_xx / R(u) with the source it implies; the residual
    then equals minus that source, and vanishes where it does (the exact derivatives by jax)."""
    kappa = 0.25

    def u(x, t):
        return jnp.exp(-t) * (1.0 + x**2)

    x, t = jnp.linspace(0.0, 1.0, 7), jnp.linspace(0.0, 1.0, 7)
    u_t = jax.vmap(jax.grad(u, argnums=1))(x, t)
    u_xx = jax.vmap(jax.grad(jax.grad(u)))(x, t)
    values = u(x, t)
    source = u_t - kappa * u_xx / retardation_factor(values)
    np.testing.assert_allclose(diffusion_sorption_residual(values, u_t, u_xx, kappa), source, rtol=1e-14)
    # the steady linear profile of the Robin problem: u_t = 0 and u_xx = 0, so no residual at all
    line = 1.0 - x / (1.0 + 5e-4)
    assert float(jnp.max(jnp.abs(diffusion_sorption_residual(line, 0 * x, 0 * x, kappa)))) == 0.0


def test_linear_steady_state_is_a_fixed_point_of_the_semi_discretisation():
    """u = 1 - x/(1 + D) satisfies u(0) = 1 and u + D u_x = 0 at x = 1, and the three-point stencil and
    the one-sided Robin elimination are exact for it: rhs = 0 at every node."""
    pde = DiffusionSorption(32, time_scale=500.0)
    line = 1.0 - pde.nodes() / (1.0 + 5e-4)
    assert float(jnp.max(jnp.abs(pde.rhs(0.0, line[None])))) < 1e-12
    assert float(pde.boundary_value(line[-2])) == pytest.approx(float(line[-1]), rel=1e-13)
    full = pde.with_boundaries(line[None])
    assert full.shape == (33,) and float(full[0]) == 1.0


def test_semi_discretisation_matches_the_operator_on_a_quadratic():
    """The stencil is exact on a quadratic, so at the interior nodes away from the Robin node the rates
    equal T D u''/R(u) to round-off."""
    pde = DiffusionSorption(16, time_scale=500.0)
    x = pde.nodes()
    u = 1.0 - 0.6 * x**2  # u(0) = 1 (the Dirichlet value), u'' = -1.2
    rates = pde.rhs(0.0, u[None])[0]
    expected = 5e-4 * 500.0 * (-1.2) / retardation_factor(u)
    np.testing.assert_allclose(rates[:-2], expected[:-2], rtol=1e-12)
    assert float(rates[-1]) == 0.0  # the algebraic Robin node


def test_finite_difference_solution_converges_at_second_order():
    """Successive refinements of the method-of-lines solution at tau = 0.1 (t = 50) shrink their
    differences about fourfold (second order in space)."""
    profiles = {}
    for n in (8, 16, 32):
        pde = DiffusionSorption(n, time_scale=500.0)
        states = solve_method_of_lines(pde, jnp.full((1, n), 0.1), 0.1, rtol=1e-10, atol=1e-12)
        profiles[n] = pde.with_boundaries(states)[0][:: n // 8]  # on the 9 nodes of the coarse grid
    coarse = float(jnp.linalg.norm(profiles[8] - profiles[16]))
    fine = float(jnp.linalg.norm(profiles[16] - profiles[32]))
    assert 3.0 < coarse / fine < 6.0, (coarse, fine)  # about 3.8 (first order would give about 2)
    front = profiles[32]  # from the Dirichlet value 1 down to ~D/h at the (nearly absorbing) Robin node
    assert float(front[0]) == 1.0 and bool(jnp.all(jnp.diff(front) < 0)) and 0.0 < float(front[-1]) < 1e-3


def test_bad_input_is_rejected():
    with pytest.raises(InvalidInputError, match="num_nodes"):
        DiffusionSorption(2)
    with pytest.raises(InvalidInputError, match="diffusivity"):
        DiffusionSorption(8, diffusivity=-1.0)
    with pytest.raises(InvalidInputError, match="dtype"):
        DiffusionSorption(8, dtype=jnp.int32)
    with pytest.raises(InvalidInputError, match="shape"):
        solve_method_of_lines(DiffusionSorption(8), jnp.zeros((1, 7)), 0.1)
