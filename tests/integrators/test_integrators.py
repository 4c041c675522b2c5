import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdesolve import InvalidInputError, NonFiniteError, StabilityError
from pdesolve.integrators import (
    ETDRK4,
    CrankNicolsonEuler,
    CrankNicolsonRK3,
    ExplicitRK,
    MethodOfLines,
    advance,
    etdrk,
    rollout,
    rollout_with_progress,
    solve_method_of_lines,
)
from pdesolve.metrics import observed_order, relative_l2
from pdesolve.pdes import Burgers, Heat, NavierStokes2D, cole_hopf_burgers, heat_fourier_mode
from pdesolve.spatial import PeriodicGrid
from pdesolve.verification import etdrk_temporal_errors

NU = 0.1


@pytest.fixture(scope="module")
def burgers():
    grid = PeriodicGrid(64, ndim=1)
    x = grid.coordinates()[0]
    return Burgers(grid, NU), cole_hopf_burgers(x, 0.0, NU), cole_hopf_burgers(x, 1.0, NU)


def _errors(make, burgers, counts=(10, 20, 40)):
    pde, u0, exact = burgers
    return [float(relative_l2(advance(make(pde, 1.0 / n), u0, n), exact)) for n in counts], [1.0 / n for n in counts]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_etdrk_observed_order_on_burgers(order, burgers):
    errors, dts = _errors(lambda p, dt: etdrk(p, dt, order), burgers)
    assert abs(observed_order(errors, dts) - order) < 0.3


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_etdrk_observed_order_on_stiff_allen_cahn(order):
    dts, errors = etdrk_temporal_errors(order, step_counts=(20, 40), resolution=32, final_time=1.0)
    assert abs(observed_order(errors, dts) - order) < 0.3


@pytest.mark.parametrize("cls, order", [(CrankNicolsonEuler, 1), (CrankNicolsonRK3, 2)])
def test_imex_observed_order(cls, order, burgers):
    errors, dts = _errors(cls, burgers)
    assert abs(observed_order(errors, dts) - order) < 0.3


def test_method_of_lines_adaptive_and_whole_interval(burgers):
    pde, u0, exact = burgers
    assert relative_l2(MethodOfLines(pde, 1.0, rtol=1e-10, atol=1e-12)(u0), exact) < 1e-9
    ys = solve_method_of_lines(pde, u0, 1.0, save_times=[0.5, 1.0])
    assert ys.shape == (2,) + u0.shape
    assert relative_l2(ys[-1], exact) < 1e-6


def test_explicit_rk4_accurate_and_stability_checked(burgers):
    pde, u0, exact = burgers
    limit = 2.7853 / pde.stability_radius()
    assert relative_l2(advance(ExplicitRK(pde, 0.01 if 0.01 < limit else limit, "rk4"), u0, 100), exact) < 1e-8
    with pytest.raises(StabilityError, match="stability limit"):
        ExplicitRK(pde, 1.5 * limit, "rk4")
    with pytest.raises(StabilityError):
        ExplicitRK(pde, 1.1 * 2.0 / pde.stability_radius(), "euler")
    ExplicitRK(pde, 1.5 * limit, "rk4", check_stability=False)  # opt-out allowed


def test_heat_is_exact_in_time():
    grid = PeriodicGrid(16, ndim=2)
    modes = ((1, 1), (0, 3))
    u0 = heat_fourier_mode(grid, 0.0, 0.2, modes)
    u = advance(ETDRK4(Heat(grid, 0.2), 0.5), u0, 2)
    assert jnp.max(jnp.abs(u - heat_fourier_mode(grid, 1.0, 0.2, modes))) < 1e-13


def test_rollout_shapes_and_saving(burgers):
    pde, u0, _ = burgers
    stepper = ETDRK4(pde, 0.01)
    traj = rollout(stepper, u0, 10, save_every=3)
    assert traj.shape == (4,) + u0.shape  # u0 + 3 saved frames
    assert jnp.allclose(traj[1], advance(stepper, u0, 3))
    assert rollout(stepper, u0, 10, include_initial=False).shape == (10,) + u0.shape
    chunked = rollout_with_progress(stepper, u0, 10, save_every=3, progress=False, num_chunks=2)
    assert jnp.allclose(chunked, traj)
    # generic (non-spectral) steppers roll out in physical space
    mol = rollout(MethodOfLines(pde, 0.01), u0, 4)
    assert mol.shape == (5,) + u0.shape


def test_blow_up_raises_with_step_and_time():
    grid = PeriodicGrid(32, ndim=1)
    pde = Burgers(grid, 1e-3)
    x = grid.coordinates()[0]
    u0 = (10.0 * jnp.sin(x))[None]
    stepper = ExplicitRK(pde, 0.5, "euler", check_stability=False)
    with pytest.raises(NonFiniteError, match=r"step \d+ \(t = ") as info:
        rollout(stepper, u0, 200)
    assert 1 <= info.value.step <= 200
    assert info.value.time == pytest.approx(info.value.step * 0.5)
    with pytest.raises(NonFiniteError):
        advance(stepper, u0, 200)
    with pytest.raises(NonFiniteError, match="step"):
        rollout_with_progress(stepper, u0, 200, progress=False)
    # the check can be switched off
    traj = rollout(stepper, u0, 200, check_finite=False)
    assert not bool(jnp.all(jnp.isfinite(traj[-1])))


def test_blow_up_inside_jit_is_a_runtime_error():
    grid = PeriodicGrid(16, ndim=1)
    pde = Burgers(grid, 1e-3)
    stepper = ExplicitRK(pde, 0.5, "euler", check_stability=False)
    u0 = (10.0 * jnp.sin(grid.coordinates()[0]))[None]
    with pytest.raises(Exception, match="non-finite"):
        jax.block_until_ready(jax.jit(lambda u: advance(stepper, u, 100))(u0))


def test_bad_state_shape_and_dtype(burgers):
    pde, u0, _ = burgers
    stepper = ETDRK4(pde, 0.01)
    with pytest.raises(InvalidInputError, match="shape"):
        rollout(stepper, u0[0], 2)
    with pytest.raises(InvalidInputError, match="shape"):
        rollout(stepper, jnp.zeros((1, 32)), 2)
    with pytest.raises(InvalidInputError, match="floating"):
        rollout(stepper, jnp.zeros((1, 64), dtype=jnp.int32), 2)
    with pytest.raises(InvalidInputError, match="num_steps"):
        rollout(stepper, u0, -1)
    # One step, called directly: a wrong shape would broadcast through the FFTs silently.
    with pytest.raises(InvalidInputError, match="shape"):
        stepper(jnp.zeros((1, 32)))
    with pytest.raises(InvalidInputError, match="jax.vmap"):
        stepper(jnp.stack([u0, u0]))
    with pytest.raises(InvalidInputError, match="shape"):
        ExplicitRK(pde, 1e-3, "rk4")(u0[0])
    assert jax.vmap(stepper)(jnp.stack([u0, u0])).shape == (2, *u0.shape)
    with pytest.raises(InvalidInputError, match="dt"):
        ETDRK4(pde, 0.0)
    with pytest.raises(InvalidInputError, match="order"):
        etdrk(pde, 0.1, order=5)


def test_gradients_match_finite_differences():
    """d(loss)/d(u0) along a direction and d(loss)/d(nu) against central differences."""
    grid = PeriodicGrid(16, ndim=2)
    x, y = grid.coordinates()
    w0 = (jnp.sin(x) * jnp.cos(y) + 0.5 * jnp.cos(2 * x + y))[None]
    target = jnp.cos(x + y)[None]

    def loss(w_init, nu):
        stepper = ETDRK4(NavierStokes2D(grid, viscosity=nu, drag=0.05), 0.05)
        return jnp.mean((advance(stepper, w_init, 10) - target) ** 2)

    nu = 0.02
    g_w, g_nu = jax.grad(loss, argnums=(0, 1))(w0, nu)
    eps = 1e-6
    direction = (jnp.cos(x + y) + 0.3 * jnp.sin(3 * x - y))[None]
    fd_w = (loss(w0 + eps * direction, nu) - loss(w0 - eps * direction, nu)) / (2 * eps)
    fd_nu = (loss(w0, nu + eps) - loss(w0, nu - eps)) / (2 * eps)
    assert jnp.vdot(g_w, direction) == pytest.approx(float(fd_w), rel=1e-6)
    assert float(g_nu) == pytest.approx(float(fd_nu), rel=1e-6)
    assert abs(float(g_nu)) > 1e-3 and abs(float(fd_w)) > 1e-3  # the test is not vacuous


def test_vmap_over_initial_conditions(burgers):
    pde, u0, _ = burgers
    stepper = ETDRK4(pde, 0.01)
    batch = jnp.stack([u0, 0.5 * u0])
    out = jax.vmap(stepper)(batch)
    assert jnp.allclose(out[1], stepper(0.5 * u0))
    np.testing.assert_allclose(out[0], stepper(u0))
