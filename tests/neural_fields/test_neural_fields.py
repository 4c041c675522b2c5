"""Neural-field solvers: the solver protocol, TENG projections and steps, OBTI, TDVP (Diffrax), PINN, INSR, CLI."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from pdesolve import InvalidInputError
from pdesolve.linalg import pointwise_jacobian
from pdesolve.neural_fields import (
    INSR,
    OBTI,
    PINN,
    TDVP,
    TENG,
    AbstractFieldSolver,
    AdvectionField,
    AllenCahnField,
    BurgersField,
    Euler,
    HeatField,
    Heun,
    ImplicitEuler,
    InnerSolveWarning,
    JVPJacobian,
    LeastSquaresFinish,
    MarchResult,
    PeriodicMLP,
    PointwiseJacobian,
    Siren,
    SpaceTimeMLP,
    TENGNetwork,
    fit_initial_condition,
    grid_advection_crank_nicolson,
    laplacian,
    parameter_count,
    project_onto_target,
)
from pdesolve.optim import levenberg_marquardt
from pdesolve.problems import FieldProblem, get, grid_points

TENG_HEAT = get("teng-heat", FieldProblem)


@pytest.fixture(scope="module")
def small():
    """An 8x8 collocation grid and a tiny periodic network."""
    pts, w = grid_points(8)
    net = PeriodicMLP(jax.random.PRNGKey(0), 2, (6,))
    return pts, w, net


def _perturbed(net, scale, seed=1):
    flat, unravel = ravel_pytree(net)
    return unravel(flat + scale * jax.random.normal(jax.random.PRNGKey(seed), flat.shape))


def _relative(a, b):
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


# --------------------------------------------------------------------------------------------
# TENG's projection
# --------------------------------------------------------------------------------------------


def test_projection_reaches_representable_target_to_machine_precision(small):
    pts, w, net = small
    target = jax.vmap(_perturbed(net, 1e-3))(pts)
    start = _relative(jax.vmap(net)(pts), target)
    fitted, res, its = project_onto_target(net, target, pts, w, jax.random.PRNGKey(0), max_iterations=8,
                                           jacobian=PointwiseJacobian(damping=None))
    assert start > 1e-4
    assert float(res) < 1e-12, float(res)
    assert int(its) <= 8
    assert _relative(jax.vmap(fitted)(pts), target) == pytest.approx(float(res), rel=1e-6, abs=1e-15)


def test_pointwise_and_jvp_jacobians_give_the_same_subset_step(small):
    """The row-built subset Jacobian and pdesolve.optim.tangent_space_projection agree."""
    pts, w, net = small
    target = jax.vmap(_perturbed(net, 1e-2))(pts)
    kwargs = dict(subset_size=40, max_iterations=1)
    a, _, _ = project_onto_target(net, target, pts, w, jax.random.PRNGKey(3), jacobian=PointwiseJacobian(None),
                                  **kwargs)
    b, _, _ = project_onto_target(net, target, pts, w, jax.random.PRNGKey(3), jacobian=JVPJacobian(), **kwargs)
    da = ravel_pytree(a)[0] - ravel_pytree(net)[0]
    db = ravel_pytree(b)[0] - ravel_pytree(net)[0]
    assert int(jnp.sum(da != 0)) == 40
    np.testing.assert_allclose(da, db, rtol=1e-8, atol=1e-12)


def test_damping_safeguard_keeps_the_best_trial_and_never_increases_the_residual(small):
    """Far from the target the plain step overshoots; the safeguard takes a damped one or none."""
    pts, w, net = small
    target = jax.vmap(_perturbed(net, 0.5, seed=2))(pts)
    start = _relative(jax.vmap(net)(pts), target)
    key = jax.random.PRNGKey(0)
    _, plain, _ = project_onto_target(net, target, pts, w, key, max_iterations=1, jacobian=PointwiseJacobian(None))
    _, safe, _ = project_onto_target(net, target, pts, w, key, max_iterations=1, jacobian=PointwiseJacobian())
    _, only_plain, _ = project_onto_target(net, target, pts, w, key, max_iterations=1,
                                           jacobian=PointwiseJacobian(damping=(0.0,)))
    assert float(safe) <= min(start, float(plain)) + 1e-15
    # with the single filter 0 the safeguard is the plain step, or no step where that overshoots
    assert float(only_plain) == pytest.approx(min(start, float(plain)), rel=1e-10)
    with pytest.raises(InvalidInputError, match="damping"):
        PointwiseJacobian(damping=(-1.0,))


@pytest.mark.slow
def test_euler_step_lands_on_its_function_space_target(small):
    """(Slow: one more TENG compilation; by default the Euler target is checked in
    test_neural_fields_schemes.py, the projection's landing in the test above, and TENG-Euler
    runs in the CLI test.)"""
    pts, w, net = small
    eq = HeatField(0.1)
    solver = TENG(eq, pts, w, dt=0.01, scheme=Euler(), max_inner_iterations=10, tolerance=1e-13)
    new, (residuals, _) = solver.step(net, jax.random.PRNGKey(0))
    assert residuals.shape == (1,)  # one Euler stage
    res = residuals[0]
    u_n = jax.vmap(net)(pts)
    target = u_n + 0.01 * eq.rhs_on(net, pts)
    # the increment dt*N[u] is 1e-3-ish of u; the step must remove almost all of it
    increment = _relative(target, u_n)
    assert increment > 1e-4
    assert float(res) < 1e-2 * increment, (float(res), increment)
    assert _relative(jax.vmap(new)(pts), target) == pytest.approx(float(res), rel=1e-6)


def test_lbfgs_stage_of_the_initial_fit_lowers_the_misfit():
    """fit_initial_condition's L-BFGS stage beats the same number of Adam steps."""
    pts, w = grid_points(8)
    net = PeriodicMLP(jax.random.PRNGKey(4), 2, (6,))
    u0 = TENG_HEAT.initial_values(pts)
    _, res_adam = fit_initial_condition(net, u0, pts, w, adam_steps=150, iterations=0)
    _, res_lbfgs = fit_initial_condition(net, u0, pts, w, adam_steps=0, lbfgs_steps=150, iterations=0)
    assert np.isfinite(float(res_lbfgs))
    assert float(res_lbfgs) < 0.5 * float(res_adam), (float(res_lbfgs), float(res_adam))
    with pytest.raises(InvalidInputError, match="lbfgs"):
        fit_initial_condition(net, u0, pts, w, adam_steps=0, lbfgs_steps=-1, iterations=0)


def test_autodiff_rhs_match_closed_forms():
    u = lambda x: jnp.sin(x[0]) * jnp.cos(2 * x[1])  # noqa: E731
    x = jnp.array([0.3, 1.1])
    lap = -5 * u(x)
    assert float(laplacian(u, x)) == pytest.approx(float(lap), rel=1e-12)
    assert float(AllenCahnField(0.005).rhs(u, x)) == pytest.approx(float(0.005 * lap + u(x) - u(x) ** 3), rel=1e-12)
    grad_sum = jnp.cos(x[0]) * jnp.cos(2 * x[1]) - 2 * jnp.sin(x[0]) * jnp.sin(2 * x[1])
    expected = -u(x) * grad_sum + 0.01 * lap
    assert float(BurgersField(0.01).rhs(u, x)) == pytest.approx(float(expected), rel=1e-12)


# --------------------------------------------------------------------------------------------
# The solver protocol: step and solve -> MarchResult
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def heat_fit():
    """A 12x12 collocation grid and a random smooth periodic network as the initial condition."""
    pts, w = grid_points(12)
    net = PeriodicMLP(jax.random.PRNGKey(2), 2, (8, 8))
    return pts, w, net


def _tiny_solvers(pts, w):
    """One configuration per solver, shared by the tests below so that each step compiles once.

    TENG and INSR get an unreachable tolerance, so every step reports a failed inner solve."""
    heat = HeatField(0.1)
    return {
        "teng": TENG(heat, pts, w, dt=0.05, scheme=Heun(), max_inner_iterations=4, tolerance=1e-30),
        "obti": OBTI(heat, pts, w, dt=0.05, scheme=Euler(), iterations=5, learning_rate=1e-4),
        "tdvp": TDVP(heat, pts, w, dt=0.05, solver=diffrax.Heun()),
        "insr": INSR(heat, (0.0, 0.0), (2 * np.pi, 2 * np.pi), dt=0.05, num_samples=32, max_iterations=3,
                     learning_rate=1e-3, scheme=ImplicitEuler(), tolerance=1e-30),
    }


@pytest.mark.parametrize("name", ["teng", "obti", "tdvp", "insr"])
def test_every_solver_marches_by_its_step_and_reports_a_march_result(name, heat_fit):
    """``solve`` is ``step`` applied with one key per step, with per-step residuals, the error
    curve at t = 0, every ``error_every`` steps and the end, and snapshots; a step whose inner
    solve misses the tolerance is named in an InnerSolveWarning and in ``failed_steps``."""
    pts, w, net = heat_fit
    solver = _tiny_solvers(pts, w)[name]
    assert isinstance(solver, AbstractFieldSolver)
    reference = TENG_HEAT.reference(16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InnerSolveWarning)
        result = solver.solve(net, 3, key=jax.random.PRNGKey(5), error_fn=reference.error, error_every=2,
                              snapshot_every=2, progress=False)
    messages = [str(c.message) for c in caught if issubclass(c.category, InnerSolveWarning)]
    assert isinstance(result, MarchResult)
    assert len(result.residuals) == len(result.iterations) == 3
    assert all(np.isfinite(result.residuals)) and all(i >= 1 for i in result.iterations)
    assert result.times == pytest.approx([0.0, 0.1, 0.15])
    assert [t for t, _ in result.snapshots] == pytest.approx([0.0, 0.1, 0.15])
    assert result.final_error == pytest.approx(reference.error(result.state, 0.15), rel=1e-12)
    if solver.tolerance is None:  # TDVP: no inner solve to miss
        assert result.failed_steps == [] and messages == []
    else:
        assert result.failed_steps == [1, 2, 3] and len(messages) == 3
        assert messages[0].startswith(f"{solver.name}: step 1 (t = 0.05): inner solve stopped at residual")
        assert messages[2].startswith(f"{solver.name}: step 3 (t = 0.15)")
    # one residual per stage of the step (TENG-Heun: two; OBTI-Euler, TDVP, INSR: one), the worst is the step's
    stages = 2 if name == "teng" else 1
    assert [len(r) for r in result.stage_residuals] == [stages] * 3
    assert [max(r) for r in result.stage_residuals] == result.residuals
    if name == "teng":
        assert result.iterations == [8, 8, 8]  # two Heun stages of max_inner_iterations each
    if name == "tdvp":
        # one Heun step per output step; the TDVP evolution beats doing nothing (measured ~0.7 of
        # the change on this underdetermined tiny problem; accuracy is compared in experiments/teng.py)
        assert result.iterations == [1, 1, 1]
        error = _heat_semigroup_error(net, result.state, 0.15)
        assert error < 0.9 * _heat_semigroup_error(net, net, 0.15), error
    # step by step with the keys solve draws reproduces the march (TDVP's one diffeqsolve to
    # rounding, the others exactly)
    state = net
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnerSolveWarning)
        for n, key in enumerate(jax.random.split(jax.random.PRNGKey(5), 3)):
            state, (residual, iterations) = solver.step(state, key)
            assert float(jnp.max(residual)) == pytest.approx(result.residuals[n], rel=1e-9)
            assert int(iterations) == result.iterations[n]
    np.testing.assert_allclose(ravel_pytree(state)[0], ravel_pytree(result.state)[0], rtol=1e-9, atol=1e-10)


def test_teng_heat_steps_follow_the_exact_evolution(heat_fit):
    pts, w, net = heat_fit
    solver = _tiny_solvers(pts, w)["teng"]  # Heun, dt = 0.05, 4 projections per stage
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnerSolveWarning)
        result = solver.solve(net, 4, progress=False)
    error = _heat_semigroup_error(net, result.state, 0.2, dt=0.05)
    change = _heat_semigroup_error(net, net, 0.2, dt=0.05)  # doing nothing: the size of the evolution
    assert change > 1e-2
    # measured ~0.025: each stage's projection misses its target by ~1e-4 relative on this tiny net
    assert error < 0.06 * change, (error, change)


def _heat_semigroup_error(net0, net_t, t, dt=None, nu=0.1, n=48, every=4):
    """Relative L2 error of ``net_t`` against the heat evolution of the field ``net0``, at the
    12x12 collocation points (every ``every``-th point of an n x n grid).

    The reference evolves ``net0`` sampled on the n x n grid in Fourier space: exactly
    (``dt=None``), or with Heun's method of step ``dt`` (amplification 1 + z + z^2/2 per step,
    z = -nu |k|^2 dt), which isolates the spatial projection error of a Heun-based solver.
    """
    pts = grid_points(n)[0]
    u0 = np.asarray(jax.vmap(net0)(pts)).reshape(n, n)
    k = np.fft.fftfreq(n, 1.0 / n)
    z = -nu * (k[:, None] ** 2 + k[None, :] ** 2)
    amp = np.exp(z * t) if dt is None else (1 + z * dt + 0.5 * (z * dt) ** 2) ** int(round(t / dt))
    ref = np.real(np.fft.ifft2(np.fft.fft2(u0) * amp))[::every, ::every].ravel()
    sub = pts.reshape(n, n, 2)[::every, ::every].reshape(-1, 2)
    return float(np.linalg.norm(np.asarray(jax.vmap(net_t)(sub)) - ref) / np.linalg.norm(ref))


@pytest.mark.slow
def test_tdvp_with_an_adaptive_diffrax_controller_tracks_the_solution(heat_fit):
    """Adaptive Bosh3 steps inside each output step; the error is then the tangent-space error alone.

    (Slow: one more Diffrax compilation of ~12 s; the default march test covers TDVP with a
    constant step, its accuracy against the heat evolution and its bad input.)"""
    pts, w, net = heat_fit
    solver = TDVP(HeatField(0.1), pts, w, dt=0.1, solver=diffrax.Bosh3(),
                  stepsize_controller=diffrax.PIDController(rtol=1e-4, atol=1e-7))
    result = solver.solve(net, 2, progress=False)
    error = _heat_semigroup_error(net, result.state, 0.2)
    change = _heat_semigroup_error(net, net, 0.2)
    # TDVP on this underdetermined tiny problem is poor (measured ~0.7 of the change) but must
    # beat doing nothing; its accuracy is compared in experiments/teng.py
    assert error < 0.9 * change, (error, change)
    assert len(result.iterations) == 2 and all(i >= 2 for i in result.iterations)
    # the residual is the relative misfit of the TDVP least-squares problem: between 0 and 1
    assert all(0.0 < r < 1.0 for r in result.residuals)
    with pytest.raises(InvalidInputError, match="solver"):
        TDVP(HeatField(0.1), pts, w, dt=0.1, solver="tsit5")
    with pytest.raises(InvalidInputError, match="stepsize_controller"):
        TDVP(HeatField(0.1), pts, w, dt=0.1, stepsize_controller="adaptive")


def test_obti_adam_step_moves_towards_target(heat_fit):
    pts, w, net = heat_fit
    solver = _tiny_solvers(pts, w)["obti"]  # Euler, 5 Adam iterations at learning rate 1e-4
    target = jax.vmap(net)(pts) + 0.05 * HeatField(0.1).rhs_on(net, pts)
    start = float(jnp.sqrt(jnp.sum(w * (jax.vmap(net)(pts) - target) ** 2) / jnp.sum(w * target**2)))
    _, (res, its) = solver.step(net, jax.random.PRNGKey(0))
    assert int(its) == 5
    assert res.shape == (1,) and float(res[0]) < start  # one Euler stage


@pytest.mark.slow
def test_obti_heun_counts_the_iterations_of_both_stages(heat_fit):
    """(Slow: one more OBTI compilation; the stage count of the shared ``advance`` is checked in
    test_neural_fields_schemes.py.)"""
    pts, w, net = heat_fit
    heun = OBTI(HeatField(0.1), pts, w, dt=0.05, scheme=Heun(), iterations=5, learning_rate=1e-4)
    _, (_, its) = heun.step(net, jax.random.PRNGKey(0))
    assert int(its) == 10  # two stages


def test_pinn_trains_keeps_the_initial_condition_and_reports_per_step_residuals():
    problem = TENG_HEAT
    solver = PINN(HeatField(0.1), problem.initial_condition, problem.lower, problem.upper, dt=0.25, iterations=3,
                  batch_size=16)
    net = SpaceTimeMLP(jax.random.PRNGKey(1), 2, 4, 1, final_time=0.5)
    reference = problem.reference(8)
    result = solver.solve(net, 2, key=jax.random.PRNGKey(2), error_fn=reference.error, error_every=1)
    x = jnp.array([0.4, 2.0])
    assert float(result.state(x, 0.0)) == float(problem.initial_values(x))
    assert result.times == [0.0, 0.25, 0.5]
    assert result.errors[0] < 1e-15  # u(x, 0) = u0(x)
    assert result.final_error == pytest.approx(reference.error(result.state.at(0.5), 0.5), rel=1e-12)
    # the residual at t is the PDE residual u_t - 0.1 Δu of the trained field, in RMS
    assert len(result.residuals) == 2 and result.iterations == [0, 0]
    u = result.state
    r = solver.pde_residual(u, x, 0.5)
    u_t = jax.grad(lambda t: u(x, t))(0.5)
    assert float(r) == pytest.approx(float(u_t - 0.1 * laplacian(lambda y: u(y, 0.5), x)), rel=1e-10)
    assert result.residuals[1] > 0
    with pytest.raises(InvalidInputError, match="final_time"):
        solver.solve(net, 3)


# --------------------------------------------------------------------------------------------
# INSR
# --------------------------------------------------------------------------------------------


def test_insr_step_reduces_the_time_integrator_residual():
    net = Siren(jax.random.PRNGKey(0), 1, (16, 16), bounds=(-2.0, 2.0), omega0=5.0)
    solver = INSR(AdvectionField(0.25), -2.0, 2.0, dt=0.05, num_samples=200, max_iterations=60, learning_rate=1e-3)
    x = solver.sample(jax.random.PRNGKey(9), 1000)
    before = float(jnp.sqrt(jnp.mean(solver.residual(net, net, x) ** 2)))
    new, (rms, its) = solver.step(net, jax.random.PRNGKey(1))
    after = float(jnp.sqrt(jnp.mean(solver.residual(new, net, x) ** 2)))
    assert after < 0.5 * before, (before, after)
    assert 1 <= int(its) <= 60
    assert float(rms) == pytest.approx(after, rel=0.3)


def test_insr_residual_is_the_implicit_schemes_definition():
    """r = u - u_n - dt N[v], v = u (implicit Euler) or (u + u_n)/2 (midpoint), for N = -a u_x."""
    u = Siren(jax.random.PRNGKey(0), 1, (6,), bounds=(-2.0, 2.0), omega0=5.0)
    u_n = Siren(jax.random.PRNGKey(1), 1, (6,), bounds=(-2.0, 2.0), omega0=5.0)
    x = jnp.linspace(-1.5, 1.5, 7)[:, None]
    du = jax.vmap(jax.grad(lambda y: u(y)))(x)[:, 0]
    du_n = jax.vmap(jax.grad(lambda y: u_n(y)))(x)[:, 0]
    diff = jax.vmap(u)(x) - jax.vmap(u_n)(x)
    euler = INSR(AdvectionField(0.25), -2.0, 2.0, dt=0.1, scheme=ImplicitEuler())
    midpoint = INSR(AdvectionField(0.25), -2.0, 2.0, dt=0.1)
    np.testing.assert_allclose(euler.residual(u, u_n, x), diff + 0.1 * 0.25 * du, rtol=1e-12)
    np.testing.assert_allclose(midpoint.residual(u, u_n, x), diff + 0.1 * 0.25 * 0.5 * (du + du_n), rtol=1e-12)
    assert midpoint.name == "INSR-midpoint" and euler.name == "INSR-implicit_euler"


def _inflow_solvers():
    net = Siren(jax.random.PRNGKey(0), 1, (12, 12), bounds=(-2.0, 2.0), omega0=5.0)
    opts = dict(dt=0.05, num_samples=100, max_iterations=2, learning_rate=1e-3,
                finish=LeastSquaresFinish(levenberg_marquardt(), steps=6, num_points=200))
    free = INSR(AdvectionField(0.25), -2.0, 2.0, **opts)
    held = INSR(AdvectionField(0.25), -2.0, 2.0, boundary_points=[[-2.0]], boundary_values=[0.0], **opts)
    return net, free, held


def test_insr_inflow_condition_pins_the_boundary_value():
    """Without inflow data the implicit advection step has a zero-residual boundary mode
    e^{-2x/(a dt)}; with u(-2) = 0 held, the finished step puts u(-2) near 0."""
    net, free, held = _inflow_solvers()
    left = jnp.array([-2.0])
    start = abs(float(net(left)))
    stepped, (_, its) = held.step(net, jax.random.PRNGKey(1))
    u_held = abs(float(stepped(left)))
    assert u_held < 5e-3 < start, (u_held, start)
    assert int(its) == 2 + 6  # Adam iterations plus the finish
    # the boundary misfit is part of the residual vector the finisher minimises, and the
    # per-point Jacobian the finisher uses equals forward-mode differentiation of that vector
    x = held.sample(jax.random.PRNGKey(2), 50)
    assert eqx.filter_jit(held.scaled_residuals)(net, net, x).shape == (51,)
    assert eqx.filter_jit(free.scaled_residuals)(net, net, x).shape == (50,)
    params, static = eqx.partition(net, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(params)
    prev = jax.tree_util.tree_map(lambda a: a * 1.01 if eqx.is_inexact_array(a) else a, net)
    exact = jax.jit(jax.jacfwd(lambda f: held.scaled_residuals(eqx.combine(unravel(f), static), prev, x)))(flat)
    rows = eqx.filter_jit(held.scaled_jacobian)(params, static, prev, x)
    np.testing.assert_allclose(rows, exact, rtol=1e-10, atol=1e-12)
    with pytest.raises(InvalidInputError, match="boundary"):
        INSR(AdvectionField(0.25), -2.0, 2.0, boundary_points=[[-2.0]])
    with pytest.raises(InvalidInputError, match="boundary"):
        INSR(AdvectionField(0.25), -2.0, 2.0, boundary_points=[[-2.0], [2.0]], boundary_values=[0.0])


@pytest.mark.slow
def test_insr_without_inflow_data_leaves_the_boundary_free():
    """The same step without the boundary term leaves u(-2) at least 10x further from 0 (slow: a
    second compilation of the finished INSR step; the default test above checks the held value)."""
    net, free, held = _inflow_solvers()
    left = jnp.array([-2.0])
    u_held = abs(float(held.step(net, jax.random.PRNGKey(1))[0](left)))
    u_free = abs(float(free.step(net, jax.random.PRNGKey(1))[0](left)))
    assert u_held < 0.1 * u_free, (u_held, u_free)


def test_pointwise_jacobian_matches_forward_mode_for_vector_outputs():
    net = Siren(jax.random.PRNGKey(4), 2, (6,), num_outputs=2, bounds=(0.0, 1.0), omega0=3.0)
    params, static = eqx.partition(net, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(params)
    x = jax.random.uniform(jax.random.PRNGKey(5), (7, 2), jnp.float64)
    exact = jax.jacfwd(lambda f: jax.vmap(eqx.combine(unravel(f), static))(x).ravel())(flat)
    rows = pointwise_jacobian(lambda q, y: eqx.combine(q, static)(y), params, x)
    assert rows.shape == (14, flat.size)
    np.testing.assert_allclose(rows, exact, rtol=1e-12, atol=1e-14)
    for chunk in (1, 3, 7, 50):  # ragged last chunk, exact fit, larger than the point count
        np.testing.assert_allclose(pointwise_jacobian(lambda q, y: eqx.combine(q, static)(y), params, x,
                                                      chunk_size=chunk), rows, rtol=1e-15, atol=1e-15)
    columns = jnp.array([5, 0, 17])
    np.testing.assert_allclose(pointwise_jacobian(lambda q, y: eqx.combine(q, static)(y), params, x, chunk_size=3,
                                                  columns=columns), rows[:, columns], rtol=1e-15, atol=1e-15)
    for bad in (0, 2.5, True):
        with pytest.raises(InvalidInputError, match="chunk_size"):
            pointwise_jacobian(lambda q, y: eqx.combine(q, static)(y), params, x, chunk_size=bad)


def test_chunked_projection_equals_unchunked(small):
    """A subset projection with chunked Jacobian rows takes the same step as the unchunked one."""
    pts, w, net = small
    target = jnp.sin(pts[:, 0]) * jnp.cos(pts[:, 1])
    key = jax.random.PRNGKey(7)
    runs = [project_onto_target(net, target, pts, w, key, subset_size=20, max_iterations=2,
                                jacobian=PointwiseJacobian(chunk_size=chunk)) for chunk in (None, 5, 64)]
    flat = [ravel_pytree(r[0])[0] for r in runs]
    assert float(runs[0][1]) < 0.9 * float(project_onto_target(net, target, pts, w, key, max_iterations=0)[1])
    for other in flat[1:]:
        np.testing.assert_allclose(other, flat[0], rtol=1e-12, atol=1e-13)
    with pytest.raises(InvalidInputError, match="chunk_size"):
        PointwiseJacobian(chunk_size=0)


def test_grid_crank_nicolson_converges_to_the_exact_pulse():
    problem = get("insr-advection", FieldProblem)
    errors = []
    for n in (100, 200, 400):
        x, u = grid_advection_crank_nicolson(problem, n, 20)
        exact = np.asarray(problem.exact_values(x[:, None], 1.0))
        errors.append(np.linalg.norm(u - exact) / np.linalg.norm(exact))
    assert errors[0] > errors[1] > errors[2]
    _, u_spec = grid_advection_crank_nicolson(problem, 400, 20, scheme="spectral")
    assert np.linalg.norm(u_spec - exact) / np.linalg.norm(exact) < errors[2]
    with pytest.raises(InvalidInputError, match="1D advection"):
        grid_advection_crank_nicolson(TENG_HEAT, 100, 20)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        # the INSR path costs ~4x the TENG one (fits and steps on 2000-4000 points); its solver is
        # checked directly in the INSR tests above
        pytest.param(["advection", "--method", "insr", "--steps", "2", "--iterations", "5", "--finish-steps", "1",
                      "--ic-steps", "300", "--resolution", "101", "--tolerance", "1e-12"], marks=pytest.mark.slow),
        ["heat", "--method", "teng", "--steps", "2", "--resolution", "16", "--width", "6", "--depth", "2",
         "--ic-steps", "50", "--ic-lbfgs-steps", "0", "--ic-iterations", "20", "--inner-iterations", "1", "--scheme", "euler",
         "--tolerance", "1e-12"],
    ],
    ids=["insr-advection", "teng-heat"],
)
def test_cli_neural_solve_writes_summary_and_figures(argv, tmp_path, capsys, monkeypatch):
    from pdesolve.cli import _neural_solve, main

    # no Levenberg-Marquardt stage in INSR's initial fit (50 SVDs of 4000 x 481) keeps the test cheap
    monkeypatch.setattr(_neural_solve, "_INSR_FIT_LM_STEPS", {})
    assert main(["solve", *argv, "--snapshots", "2", "--out", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["steps"] == 2 and summary["final_time"] == pytest.approx(2 * summary["dt"])
    assert summary["times"] == pytest.approx([0.0, summary["dt"], 2 * summary["dt"]])
    for path in summary["outputs"].values():
        assert Path(path).stat().st_size > 0
    # the error curve starts at the initial fit's error against the registered problem's reference
    if summary["method"] == "teng":
        assert summary["errors"][0] == pytest.approx(summary["ic_fit_residual"], rel=0.2)
        assert summary["warnings"][0].startswith("TENG-euler: step 1 ")
    else:
        # measured: 6.6e-3 after the fit, 8.8e-3 after two steps against the translated pulse
        assert summary["errors"][0] < 1e-2 and summary["final_error"] < 2e-2
    assert summary["errors"][-1] == summary["final_error"] and np.isfinite(summary["final_error"])
    # every step that misses the inner-solve tolerance is named, in the summary and on stderr
    assert len(summary["warnings"]) == len(summary["failed_steps"])
    if "--tolerance" in argv:
        assert summary["failed_steps"] == [1, 2]
        assert "step 1 " in summary["warnings"][0] and "step 1 " in captured.err
    assert main(["solve", *argv[:3], "--ic-lbfgs-steps", "-1", "--out", str(tmp_path)]) == 2
    assert main(["solve", *argv[:3], "--ic-iterations", "-1", "--out", str(tmp_path)]) == 2
    assert main(["solve", *argv[:3], "--tolerance", "0", "--out", str(tmp_path)]) == 2
    assert main(["solve", *argv[:3], "--width", "-3", "--out", str(tmp_path)]) == 2
    assert main(["solve", *argv[:3], "--depth", "0", "--out", str(tmp_path)]) == 2


def test_cli_insr_takes_width_and_depth(tmp_path, capsys, monkeypatch):
    import jax

    from pdesolve import neural_fields as nf
    from pdesolve.cli import _neural_solve, main
    from pdesolve.problems import FieldProblem, get

    monkeypatch.setattr(_neural_solve, "_INSR_FIT_LM_STEPS", {})
    argv = ["advection", "--method", "insr", "--steps", "1", "--iterations", "2", "--finish-steps", "0",
            "--ic-steps", "5", "--width", "8", "--depth", "2", "--snapshots", "2", "--out", str(tmp_path), "--json"]
    assert main(["solve", *argv]) == 0
    summary = json.loads(capsys.readouterr().out)
    expected = nf.build_network(get("insr-advection", FieldProblem), jax.random.PRNGKey(0), hidden=(8, 8))
    assert summary["parameters"] == nf.parameter_count(expected)


def test_cli_neural_methods_name_their_pdes(tmp_path, capsys):
    from pdesolve.cli import main

    assert main(["solve", "navier-stokes", "--method", "teng", "--out", str(tmp_path)]) == 2
    assert "supports the PDEs ('heat', 'allen-cahn', 'burgers')" in capsys.readouterr().err


def test_cli_teng_contract_writes_the_final_field_and_its_error(tmp_path, capsys):
    """``solve heat --method teng --config cpu --eval-resolution N --json``: final_field.npy is the
    final network on x_i = 2 pi i / N ([i, j], x first, float64) and relative_l2 its error."""
    from pdesolve.cli import main
    from pdesolve.problems import TENGInitialCondition

    argv = ["solve", "heat", "--method", "teng", "--config", "cpu", "--eval-resolution", "10", "--out", str(tmp_path),
            "--json", "--steps", "2", "--resolution", "8", "--width", "6", "--depth", "1", "--ic-steps", "30",
            "--ic-lbfgs-steps", "0", "--ic-iterations", "10", "--inner-iterations", "1", "--snapshots", "2"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["problem"] == "teng-heat" and summary["method"] == "teng" and summary["config"] == "cpu"
    assert summary["final_time"] == pytest.approx(0.01) and summary["dt"] == 0.005 and summary["wall_s"] > 0
    field = np.load(tmp_path / "final_field.npy")
    assert field.shape == (10, 10) and field.dtype == np.float64
    net = eqx.tree_deserialise_leaves(tmp_path / "final_network.eqx", TENGNetwork(jax.random.PRNGKey(0), 2, 6, 3))
    x = 2 * np.pi * np.arange(10) / 10
    grid = np.stack(np.meshgrid(x, x, indexing="ij"), axis=-1)
    np.testing.assert_allclose(field, np.asarray(jax.vmap(jax.vmap(net))(jnp.asarray(grid))), rtol=1e-13, atol=1e-15)
    exact = np.asarray(TENGInitialCondition().heat_solution(jnp.asarray(grid), 0.01, 0.1))
    assert summary["relative_l2"] == pytest.approx(np.linalg.norm(field - exact) / np.linalg.norm(exact), rel=1e-10)
    assert summary["relative_l2"] > 0  # a 30-step fit: the value, not its size, is checked
    assert main(["solve", "heat", "--method", "tdvp", "--eval-resolution", "10", "--out", str(tmp_path)]) == 2


def test_cli_teng_cpu_configuration_starts_from_the_shipped_fit(tmp_path, capsys):
    """``--config cpu`` with its own network starts from ``teng_initial_cpu``: the error at t = 0 is
    the shipped fit's (7.2e-8, recorded on the 2x finer grid), not a fresh fit's."""
    from pdesolve.cli import main
    from pdesolve.neural_fields import load_fitted_network

    _, metadata = load_fitted_network("teng_initial_cpu")
    argv = ["solve", "heat", "--method", "teng", "--config", "cpu", "--out", str(tmp_path), "--json", "--steps", "1",
            "--resolution", "12", "--subset", "20", "--inner-iterations", "1", "--snapshots", "2"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["initial_fit"] == "teng_initial_cpu" and summary["parameters"] == metadata["parameters"]
    assert summary["times"][0] == 0.0
    assert summary["errors"][0] == pytest.approx(metadata["relative_l2_fine"], rel=1e-6)


# --------------------------------------------------------------------------------------------
# Networks and bad input
# --------------------------------------------------------------------------------------------


def test_networks_shapes_and_parameter_counts():
    net = PeriodicMLP(jax.random.PRNGKey(0), 2, (5, 4))
    # embedding 3*2*5, layer 1 (no bias) 5*10, layer 2 4*5+4, output 4+1
    assert parameter_count(net) == 30 + 50 + 24 + 5
    x = jnp.array([0.1, 0.2])
    assert float(net(x)) == pytest.approx(float(net(x + 2 * jnp.pi)), abs=1e-12)
    siren = Siren(jax.random.PRNGKey(0), 2, (8,), num_outputs=2, bounds=(0.0, 1.0), periodic=True)
    assert siren(jnp.array([0.2, 0.3])).shape == (2,)
    np.testing.assert_allclose(siren(jnp.array([0.0, 0.3])), siren(jnp.array([1.0, 0.3])), atol=1e-12)


def _jacobian_rank(net, points, rcond=1e-10):
    flat, unravel = ravel_pytree(net)
    singular = np.linalg.svd(np.asarray(pointwise_jacobian(lambda p, x: unravel(p)(x), flat, points)), compute_uv=False)
    return flat.size, int(np.sum(singular > rcond * singular[0]))


def test_teng_network_jacobian_has_full_column_rank_and_the_raw_embedding_mlp_does_not():
    """tanh after the periodic embedding keeps every parameter effective; feeding the embedding
    straight into a linear layer collapses each neuron's same-frequency cosines into one."""
    points = grid_points(32)[0]  # 1024 rows, several times the parameter count
    key = jax.random.PRNGKey(0)
    teng = TENGNetwork(key, 2, width=8, depth=4)  # embedding 2*4*3, two 8x8 layers, output 9
    assert parameter_count(teng) == 24 + 2 * 72 + 9
    assert _jacobian_rank(teng, points) == (177, 177)
    size, rank = _jacobian_rank(PeriodicMLP(key, 2, (8, 8), embedding_size=4), points)
    # per first-layer neuron and coordinate, the 4 weights act on 4 cosines of one frequency, which
    # span only {cos, sin}: 2 redundant directions each, 8 x 2 x 2 = 32 at least
    assert size == 169 and rank <= size - 32


def test_teng_network_is_periodic_and_sized_like_the_paper():
    net = TENGNetwork(jax.random.PRNGKey(1))
    assert parameter_count(net) == 8361  # 2*20*3 embedding, 5 x (40*40 + 40), output 41
    x = jnp.array([0.4, 1.3])
    assert float(net(x)) == pytest.approx(float(net(x + jnp.array([2 * jnp.pi, -2 * jnp.pi]))), abs=1e-12)
    assert parameter_count(TENGNetwork(jax.random.PRNGKey(1), 2, width=6, depth=2, embedding_size=5)) == 30 + 11
    for kwargs, match in ((dict(depth=1), "depth"), (dict(width=0), "width"), (dict(embedding_size=0), "embedding"),
                          (dict(extent=(1.0,)), "extent")):
        with pytest.raises(InvalidInputError, match=match):
            TENGNetwork(jax.random.PRNGKey(0), 2, **kwargs)


def test_bad_inputs_raise(small):
    pts, w, net = small
    with pytest.raises(InvalidInputError, match="shape"):
        net(jnp.zeros(3))
    with pytest.raises(InvalidInputError, match="weights"):
        TENG(HeatField(0.1), pts, w[:-1])
    with pytest.raises(InvalidInputError, match="scheme"):
        TENG(HeatField(0.1), pts, w, scheme="heun")
    with pytest.raises(InvalidInputError, match="scheme"):
        OBTI(HeatField(0.1), pts, w, scheme=ImplicitEuler())
    with pytest.raises(InvalidInputError, match="jacobian"):
        TENG(HeatField(0.1), pts, w, jacobian="rows")
    with pytest.raises(InvalidInputError, match="points"):
        TENG(HeatField(0.1), pts[:, :, None], w)
    with pytest.raises(InvalidInputError, match="target"):
        project_onto_target(net, jnp.zeros(3), pts, w, jax.random.PRNGKey(0))
    with pytest.raises(InvalidInputError, match="subset_size"):
        project_onto_target(net, jnp.zeros(pts.shape[0]), pts, w, jax.random.PRNGKey(0), subset_size=10**6)
    with pytest.raises(InvalidInputError, match="scheme"):
        INSR(AdvectionField(0.25), -2.0, 2.0, scheme=Heun())
    with pytest.raises(InvalidInputError, match="finish"):
        INSR(AdvectionField(0.25), -2.0, 2.0, finish="levenberg_marquardt")
    with pytest.raises(InvalidInputError, match="steps"):
        LeastSquaresFinish(steps=0)
    with pytest.raises(InvalidInputError, match="lower < upper"):
        INSR(AdvectionField(0.25), 2.0, -2.0)
    with pytest.raises(InvalidInputError, match="diffusivity"):
        HeatField(-1.0)
    with pytest.raises(InvalidInputError, match="hidden"):
        PeriodicMLP(jax.random.PRNGKey(0), 2, ())
    with pytest.raises(InvalidInputError, match="num_steps"):
        TDVP(HeatField(0.1), pts, w, dt=0.1).solve(net, 0)
    with pytest.raises(InvalidInputError, match="solver"):
        TDVP(HeatField(0.1), pts, w, dt=0.1, solver="tsit5")
    with pytest.raises(InvalidInputError, match="stepsize_controller"):
        TDVP(HeatField(0.1), pts, w, dt=0.1, stepsize_controller="adaptive")


@pytest.mark.slow
def test_teng_heat_cpu_accuracy():
    """Long run: TENG-Heun on heat to T=1 from a good initial fit keeps the error near the fit error."""
    pts, w = TENG_HEAT.collocation(24)
    net = PeriodicMLP(jax.random.PRNGKey(0), 2, (16, 16))
    net, _ = fit_initial_condition(net, TENG_HEAT.initial_values(pts), pts, w, adam_steps=4000, iterations=300)
    reference = TENG_HEAT.reference(48)
    e0 = reference.error(net, 0.0)
    solver = TENG(HeatField(0.1), pts, w, dt=0.01, scheme=Heun(), max_inner_iterations=4, tolerance=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnerSolveWarning)
        result = solver.solve(net, 100, error_fn=reference.error, error_every=100, progress=False)
    assert result.final_error < 2 * e0 + 1e-5


def test_march_wall_clock_budget_stops_at_a_prefix_and_scores_it():
    """``max_wall_s``: the march stops after the first step past the budget, evaluates the error
    there, and says how far it got; without a budget it reaches T."""
    import time

    from pdesolve.neural_fields import march

    def step(state, key):
        time.sleep(0.02)
        return state + 1.0, (jnp.asarray(0.0), jnp.asarray(1))

    def error(state, t):
        return float(state) - t / 0.1  # zero exactly when the state counts the steps

    result = march(step, 0.0, 200, 0.1, key=jax.random.PRNGKey(0), error_fn=error, error_every=50,
                   max_wall_s=0.3, progress=False)
    steps = len(result.residuals)
    assert result.stopped_early and 1 <= steps < 200
    assert result.final_time == pytest.approx(steps * 0.1) and result.times[-1] == pytest.approx(result.final_time)
    assert result.errors[-1] == pytest.approx(0.0) and result.state == steps
    full = march(step, 0.0, 4, 0.1, key=jax.random.PRNGKey(0), error_fn=error, progress=False)
    assert not full.stopped_early and full.final_time == pytest.approx(0.4) and len(full.residuals) == 4
    with pytest.raises(InvalidInputError, match="max_wall_s"):
        march(step, 0.0, 4, 0.1, key=jax.random.PRNGKey(0), max_wall_s=0.0)
