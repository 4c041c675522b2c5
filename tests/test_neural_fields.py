"""Neural-field solvers: TENG projection and steps, TDVP via Diffrax, OBTI, PINN, INSR, grid baseline."""

from __future__ import annotations

import warnings
from pathlib import Path

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
    TENG,
    AdvectionField,
    HeatField,
    InnerSolveWarning,
    PeriodicMLP,
    Siren,
    advection_pulse,
    fit_initial_condition,
    grid_advection_crank_nicolson,
    grid_points,
    heat_exact,
    parameter_count,
    project_onto_target,
    tdvp_solve,
    teng_initial_condition,
    teng_problem,
    train_pinn,
)
from pdesolve.neural_fields._equations import AllenCahnField, BurgersField, laplacian


@pytest.fixture(scope="module")
def small():
    """An 8x8 collocation grid and a tiny periodic network."""
    pts, w = grid_points(8)
    net = PeriodicMLP(jax.random.PRNGKey(0), 2, (6,))
    return pts, w, net


def _perturbed(net, scale, seed=1):
    flat, unravel = ravel_pytree(net)
    return unravel(flat + scale * jax.random.normal(jax.random.PRNGKey(seed), flat.shape))


def test_projection_reaches_representable_target_to_machine_precision(small):
    pts, w, net = small
    target = jax.vmap(_perturbed(net, 1e-3))(pts)
    start = float(jnp.linalg.norm(jax.vmap(net)(pts) - target) / jnp.linalg.norm(target))
    fitted, res, its = project_onto_target(net, target, pts, w, jax.random.PRNGKey(0), max_iterations=8)
    assert start > 1e-4
    assert float(res) < 1e-12, float(res)
    assert int(its) <= 8


def test_rows_and_jvp_jacobians_give_the_same_subset_step(small):
    """The row-built subset Jacobian and pdesolve.optim.tangent_space_projection agree."""
    pts, w, net = small
    target = jax.vmap(_perturbed(net, 1e-2))(pts)
    kwargs = dict(subset_size=40, max_iterations=1)
    a, _, _ = project_onto_target(net, target, pts, w, jax.random.PRNGKey(3), jacobian="rows", **kwargs)
    b, _, _ = project_onto_target(net, target, pts, w, jax.random.PRNGKey(3), jacobian="jvp", **kwargs)
    da = ravel_pytree(a)[0] - ravel_pytree(net)[0]
    db = ravel_pytree(b)[0] - ravel_pytree(net)[0]
    assert int(jnp.sum(da != 0)) == 40
    np.testing.assert_allclose(da, db, rtol=1e-8, atol=1e-12)


def test_euler_step_lands_on_its_function_space_target(small):
    pts, w, net = small
    eq = HeatField(0.1)
    solver = TENG(eq, pts, w, dt=0.01, scheme="euler", max_inner_iterations=10, tolerance=1e-13)
    new, (res, _) = solver.step(net, jax.random.PRNGKey(0))
    u_n = jax.vmap(net)(pts)
    target = u_n + 0.01 * eq.rhs_on(net, pts)
    # the increment dt*N[u] is 1e-3-ish of u; the step must remove almost all of it
    increment = float(jnp.linalg.norm(target - u_n) / jnp.linalg.norm(target))
    assert increment > 1e-4
    assert float(res) < 1e-2 * increment, (float(res), increment)
    missed = float(jnp.linalg.norm(jax.vmap(new)(pts) - target) / jnp.linalg.norm(target))
    assert missed == pytest.approx(float(res), rel=1e-6)


def test_lbfgs_stage_of_the_initial_fit_lowers_the_misfit():
    """fit_initial_condition's L-BFGS stage beats the same number of Adam steps."""
    pts, w = grid_points(8)
    net = PeriodicMLP(jax.random.PRNGKey(4), 2, (6,))
    u0 = teng_initial_condition(pts)
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


@pytest.fixture(scope="module")
def heat_fit():
    """A 12x12 collocation grid and a random smooth periodic network as the initial condition."""
    pts, w = grid_points(12)
    net = PeriodicMLP(jax.random.PRNGKey(2), 2, (8, 8))
    return pts, w, net


def _heat_semigroup_error(net0, net_t, t, dt=None, nu=0.1, n=48, every=4):
    """Relative L2 error of ``net_t`` against the heat evolution of the field ``net0``, at the
    12x12 collocation points (every ``every``-th point of an n x n grid).

    The reference evolves ``net0`` sampled on the n x n grid in Fourier space: exactly
    (``dt=None``), or with Heun's method of step ``dt`` (amplification 1 + z + z^2/2 per step,
    z = -nu |k|^2 dt), which isolates the spatial projection error of a Heun-based solver.
    """
    grid_axis = np.arange(n) * 2 * np.pi / n
    xx, yy = np.meshgrid(grid_axis, grid_axis, indexing="ij")
    pts = jnp.asarray(np.stack([xx.ravel(), yy.ravel()], axis=1))
    u0 = np.asarray(jax.vmap(net0)(pts)).reshape(n, n)
    k = np.fft.fftfreq(n, 1.0 / n)
    z = -nu * (k[:, None] ** 2 + k[None, :] ** 2)
    if dt is None:
        amp = np.exp(z * t)
    else:
        steps = int(round(t / dt))
        amp = (1 + z * dt + 0.5 * (z * dt) ** 2) ** steps
    ref = np.real(np.fft.ifft2(np.fft.fft2(u0) * amp))[::every, ::every].ravel()
    sub = pts.reshape(n, n, 2)[::every, ::every].reshape(-1, 2)
    return float(np.linalg.norm(np.asarray(jax.vmap(net_t)(sub)) - ref) / np.linalg.norm(ref))


def test_teng_heat_steps_follow_the_exact_evolution(heat_fit):
    pts, w, net = heat_fit
    solver = TENG(HeatField(0.1), pts, w, dt=0.05, scheme="heun", max_inner_iterations=4, tolerance=1e-7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnerSolveWarning)
        result = solver.solve(net, 4, progress=False)
    error = _heat_semigroup_error(net, result.state, 0.2, dt=0.05)
    change = _heat_semigroup_error(net, net, 0.2, dt=0.05)  # doing nothing: the size of the evolution
    assert change > 1e-2
    # measured ~0.025: each stage's projection misses its target by ~1e-4 relative on this tiny net
    assert error < 0.06 * change, (error, change)
    # the wrong sign of N[u] is far off


def test_failed_inner_solve_warns_with_the_step_number(heat_fit):
    pts, w, net = heat_fit
    solver = TENG(HeatField(0.1), pts, w, dt=0.05, scheme="euler", max_inner_iterations=1, tolerance=1e-30)
    with pytest.warns(InnerSolveWarning, match=r"step 1 \(t = 0.05\)"):
        result = solver.solve(net, 2, progress=False)
    assert result.failed_steps == [1, 2]


def test_tdvp_with_diffrax_runs_and_tracks_the_solution(heat_fit):
    pts, w, net = heat_fit
    result = tdvp_solve(net, HeatField(0.1), pts, w, final_time=0.2, dt=0.1, solver="heun", save_times=[0.0, 0.2])
    error = _heat_semigroup_error(net, result.state, 0.2, dt=0.1)
    change = _heat_semigroup_error(net, net, 0.2, dt=0.1)
    # TDVP on this underdetermined tiny problem is poor (measured ~0.7 of the change) but must
    # beat doing nothing and stay finite; its accuracy is compared in experiments/teng.py
    assert np.isfinite(error)
    assert error < 0.9 * change, (error, change)
    assert result.residuals == [2.0]  # two accepted Diffrax steps
    with pytest.raises(InvalidInputError, match="solver"):
        tdvp_solve(net, HeatField(0.1), pts, w, final_time=0.2, dt=0.1, solver="rk99")


def test_obti_adam_step_moves_towards_target(heat_fit):
    pts, w, net = heat_fit
    solver = OBTI(HeatField(0.1), pts, w, dt=0.05, scheme="euler", iterations=5, learning_rate=1e-4)
    target = jax.vmap(net)(pts) + 0.05 * HeatField(0.1).rhs_on(net, pts)
    start = float(jnp.sqrt(jnp.sum(w * (jax.vmap(net)(pts) - target) ** 2) / jnp.sum(w * target**2)))
    _, (res, its) = solver.step(net, jax.random.PRNGKey(0))
    assert int(its) == 5
    assert float(res) < start


def test_pinn_trains_and_keeps_the_initial_condition():
    u, info = train_pinn(HeatField(0.1), teng_initial_condition, final_time=0.5, iterations=3, batch_size=16, width=4,
                         depth=1)
    x = jnp.array([0.4, 2.0])
    assert float(u(x, 0.0)) == pytest.approx(float(teng_initial_condition(x)), abs=1e-14)
    assert np.isfinite(info["loss"])


def test_insr_step_reduces_the_time_integrator_residual():
    net = Siren(jax.random.PRNGKey(0), 1, (16, 16), bounds=(-2.0, 2.0), omega0=5.0)
    solver = INSR(AdvectionField(0.25), -2.0, 2.0, dt=0.05, num_samples=200, max_iterations=60,
                  learning_rate=1e-3)
    x = solver.sample(jax.random.PRNGKey(9), 1000)
    before = float(jnp.sqrt(jnp.mean(solver.residual(net, net, x) ** 2)))
    new, (rms, its) = solver.step(net, jax.random.PRNGKey(1))
    after = float(jnp.sqrt(jnp.mean(solver.residual(new, net, x) ** 2)))
    assert after < 0.5 * before, (before, after)
    assert 1 <= int(its) <= 60
    assert float(rms) == pytest.approx(after, rel=0.3)


def test_insr_inflow_condition_pins_the_boundary_value():
    """Without inflow data the implicit advection step has a zero-residual boundary mode
    e^{-2x/(a dt)}; with u(-2) = 0 held, the finished step puts u(-2) near 0."""
    net = Siren(jax.random.PRNGKey(0), 1, (12, 12), bounds=(-2.0, 2.0), omega0=5.0)
    opts = dict(dt=0.05, num_samples=100, max_iterations=2, learning_rate=1e-3, finish_steps=6,
                finish_method="levenberg_marquardt", num_finish_points=200)
    free = INSR(AdvectionField(0.25), -2.0, 2.0, **opts)
    held = INSR(AdvectionField(0.25), -2.0, 2.0, boundary_points=[[-2.0]], boundary_values=[0.0], **opts)
    left = jnp.array([-2.0])
    start = abs(float(net(left)))
    u_free = abs(float(free.step(net, jax.random.PRNGKey(1))[0](left)))
    u_held = abs(float(held.step(net, jax.random.PRNGKey(1))[0](left)))
    assert u_held < 5e-3 < start, (u_held, u_free, start)
    assert u_held < 0.1 * u_free
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


def test_pointwise_jacobian_matches_forward_mode_for_vector_outputs():
    net = Siren(jax.random.PRNGKey(4), 2, (6,), num_outputs=2, bounds=(0.0, 1.0), omega0=3.0)
    params, static = eqx.partition(net, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(params)
    x = jax.random.uniform(jax.random.PRNGKey(5), (7, 2), jnp.float64)
    exact = jax.jacfwd(lambda f: jax.vmap(eqx.combine(unravel(f), static))(x).ravel())(flat)
    rows = pointwise_jacobian(lambda q, y: eqx.combine(q, static)(y), params, x)
    assert rows.shape == (14, flat.size)
    np.testing.assert_allclose(rows, exact, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "argv",
    [
        ["advection", "--method", "insr", "--steps", "2", "--iterations", "5", "--finish-steps", "2",
         "--ic-steps", "50", "--resolution", "101", "--tolerance", "1e-12"],
        ["heat", "--method", "teng", "--steps", "2", "--resolution", "8", "--width", "6", "--depth", "2",
         "--ic-steps", "50", "--ic-lbfgs-steps", "20", "--inner-iterations", "1"],
    ],
    ids=["insr-advection", "teng-heat"],
)
def test_cli_neural_solve_writes_summary_and_figures(argv, tmp_path, capsys):
    import json

    from pdesolve.cli import main

    assert main(["solve", *argv, "--snapshots", "2", "--out", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["steps"] == 2 and np.isfinite(summary["final_error"])
    assert len(summary["errors"]) >= 2 and summary["errors"][0] < 1.0
    for path in summary["outputs"].values():
        assert Path(path).stat().st_size > 0
    # every step that misses the inner-solve tolerance is named, in the summary and on stderr
    assert len(summary["warnings"]) == len(summary["failed_steps"])
    if "--tolerance" in argv:
        assert summary["failed_steps"] == [1, 2]
        assert "step 1 " in summary["warnings"][0] and "step 1 " in captured.err
    assert main(["solve", *argv[:3], "--ic-lbfgs-steps", "-1", "--out", str(tmp_path)]) == 2
    assert main(["solve", *argv[:3], "--tolerance", "0", "--out", str(tmp_path)]) == 2


def test_grid_crank_nicolson_converges_to_the_exact_pulse():
    errors = []
    for n in (100, 200, 400):
        x, u = grid_advection_crank_nicolson(n, 20, 0.05, scheme="fd2")
        exact = np.asarray(advection_pulse(x, 1.0))
        errors.append(np.linalg.norm(u - exact) / np.linalg.norm(exact))
    assert errors[0] > errors[1] > errors[2]
    _, u_spec = grid_advection_crank_nicolson(400, 20, 0.05, scheme="spectral")
    assert np.linalg.norm(u_spec - exact) / np.linalg.norm(exact) < errors[2]


def test_networks_shapes_and_parameter_counts():
    net = PeriodicMLP(jax.random.PRNGKey(0), 2, (5, 4))
    # embedding 3*2*5, layer 1 (no bias) 5*10, layer 2 4*5+4, output 4+1
    assert parameter_count(net) == 30 + 50 + 24 + 5
    x = jnp.array([0.1, 0.2])
    assert float(net(x)) == pytest.approx(float(net(x + 2 * jnp.pi)), abs=1e-12)
    siren = Siren(jax.random.PRNGKey(0), 2, (8,), num_outputs=2, bounds=(0.0, 1.0), periodic=True)
    assert siren(jnp.array([0.2, 0.3])).shape == (2,)
    np.testing.assert_allclose(siren(jnp.array([0.0, 0.3])), siren(jnp.array([1.0, 0.3])), atol=1e-12)


def test_heat_exact_solves_the_heat_equation():
    x = jnp.array([0.7, 2.1])
    t = 0.3
    u_t = jax.grad(lambda s: heat_exact(x, s))(t)
    lap = laplacian(lambda y: heat_exact(y, t), x)
    assert float(u_t) == pytest.approx(float(0.1 * lap), rel=1e-10)


def test_bad_inputs_raise(small):
    pts, w, net = small
    with pytest.raises(InvalidInputError, match="shape"):
        net(jnp.zeros(3))
    with pytest.raises(InvalidInputError, match="weights"):
        TENG(HeatField(0.1), pts, w[:-1])
    with pytest.raises(InvalidInputError, match="scheme"):
        TENG(HeatField(0.1), pts, w, scheme="rk4")
    with pytest.raises(InvalidInputError, match="points"):
        TENG(HeatField(0.1), pts[:, :, None], w)
    with pytest.raises(InvalidInputError, match="target"):
        project_onto_target(net, jnp.zeros(3), pts, w, jax.random.PRNGKey(0))
    with pytest.raises(InvalidInputError, match="subset_size"):
        project_onto_target(net, jnp.zeros(pts.shape[0]), pts, w, jax.random.PRNGKey(0), subset_size=10**6)
    with pytest.raises(InvalidInputError, match="integrator"):
        INSR(AdvectionField(0.25), -2.0, 2.0, integrator="rk4")
    with pytest.raises(InvalidInputError, match="lower < upper"):
        INSR(AdvectionField(0.25), 2.0, -2.0)
    with pytest.raises(InvalidInputError, match="diffusivity"):
        HeatField(-1.0)
    with pytest.raises(InvalidInputError, match="TENG problem"):
        teng_problem("wave")
    with pytest.raises(InvalidInputError, match="hidden"):
        PeriodicMLP(jax.random.PRNGKey(0), 2, ())


@pytest.mark.slow
def test_teng_heat_cpu_accuracy():
    """Long run: TENG-Heun on heat to T=1 from a good initial fit keeps the error near the fit error."""
    pts, w = grid_points(24)
    net = PeriodicMLP(jax.random.PRNGKey(0), 2, (16, 16))
    net, _ = fit_initial_condition(net, teng_initial_condition(pts), pts, w, adam_steps=4000, iterations=300)
    problem = teng_problem("heat", reference_resolution=48)
    e0 = problem.error(net, 0.0)
    solver = TENG(problem.equation, pts, w, dt=0.01, scheme="heun", max_inner_iterations=4, tolerance=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnerSolveWarning)
        result = solver.solve(net, 100, error_fn=problem.error, error_every=100, progress=False)
    assert result.final_error < 2 * e0 + 1e-5
