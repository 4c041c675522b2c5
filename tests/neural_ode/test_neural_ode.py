"""Neural ODEs: adjoint gradients, solver-heuristic regulariser, closure models, reduction, bench."""

from __future__ import annotations

import math
import os

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _training_checks import check_nan_policy, leaves

from pdesolve import InvalidInputError
from pdesolve.neural_ode import (
    NEURAL_ODE_SPEC,
    ClosureVectorField,
    FourierModes,
    GlobalErrorRegulariser,
    LocalErrorRegulariser,
    MLPVectorField,
    NeuralODE,
    NeuralODELoss,
    PeriodicConvCorrection,
    TrajectoryWindows,
    WindowBatch,
    evaluate_rollouts,
    fit_neural_ode,
    function_evaluations,
)
from pdesolve.training import NonFiniteLossError, TrainConfig, train
from pdesolve.training import load_checkpoint, read_checkpoint_header
from pdesolve.pdes import Burgers
from pdesolve.spatial import PeriodicGrid


class _Linear(eqx.Module):
    """dy/dt = -a y + b (componentwise), exact solution known."""

    a: jax.Array
    b: jax.Array

    def __call__(self, t, y, args):
        return -self.a * y + self.b


def _exact_loss(a, b, y0, t1):
    decay = jnp.exp(-a * t1)
    y = y0 * decay + (b / a) * (1 - decay)
    return jnp.sum(y**2)


_A, _B = jnp.asarray([0.7, 1.3]), jnp.asarray([0.2, -0.4])
_Y0, _TS = jnp.asarray([1.0, 2.0]), jnp.asarray([0.0, 1.5])


def _solver_loss(field, adjoint):
    model = NeuralODE(field, adjoint=adjoint, adaptive=False, dt0=0.015, max_steps=100)
    return jnp.sum(model(_Y0, _TS)[-1] ** 2)


@pytest.fixture(scope="module")
def finite_difference_gradient():
    """Central differences of the solver's loss in a[0] (the forward pass is the same for every adjoint)."""
    jitted = eqx.filter_jit(_solver_loss)
    eps = 1e-5
    plus = jitted(_Linear(_A.at[0].add(eps), _B), diffrax.RecursiveCheckpointAdjoint())
    minus = jitted(_Linear(_A.at[0].add(-eps), _B), diffrax.RecursiveCheckpointAdjoint())
    return (plus - minus) / (2 * eps)


# DirectAdjoint passes gradients through the same discretisation as RecursiveCheckpointAdjoint (the
# default check); its instance of the same check is slow.
ADJOINTS = (diffrax.RecursiveCheckpointAdjoint(), diffrax.BacksolveAdjoint(),
            pytest.param(diffrax.DirectAdjoint(), marks=pytest.mark.slow))


@pytest.mark.parametrize("adjoint", ADJOINTS, ids=lambda a: type(a).__name__)
def test_adjoint_gradient_matches_exact_and_finite_differences(adjoint, finite_difference_gradient):
    grad = eqx.filter_jit(eqx.filter_grad(_solver_loss))(_Linear(_A, _B), adjoint)
    exact_a, exact_b = jax.grad(_exact_loss, argnums=(0, 1))(_A, _B, _Y0, 1.5)
    np.testing.assert_allclose(grad.a, exact_a, rtol=1e-6)
    np.testing.assert_allclose(grad.b, exact_b, rtol=1e-6)
    np.testing.assert_allclose(grad.a[0], finite_difference_gradient, rtol=1e-6)


@pytest.mark.slow  # a second backsolve-vs-exact check; the default one is test_adjoint_gradient_...[BacksolveAdjoint]
def test_backsolve_agrees_with_checkpoint_on_a_rotation():
    """Non-dissipative dynamics: the continuous adjoint matches the discrete one."""

    class Rotation(eqx.Module):
        omega: jax.Array

        def __call__(self, t, y, args):
            return self.omega * jnp.stack([-y[1], y[0]]) + 0.1 * jnp.sin(y[::-1])

    y0, ts, target = jnp.asarray([1.0, 0.0]), jnp.linspace(0.0, 4.0, 5), jnp.asarray([0.3, -0.5])

    def grad_for(adjoint):
        def loss(field):
            model = NeuralODE(field, adjoint=adjoint, adaptive=False, dt0=0.02, max_steps=200)
            return jnp.sum((model(y0, ts)[-1] - target) ** 2)

        return eqx.filter_jit(eqx.filter_grad(loss))(Rotation(jnp.asarray(1.3))).omega

    g_checkpoint, g_backsolve = grad_for(diffrax.RecursiveCheckpointAdjoint()), grad_for(diffrax.BacksolveAdjoint())
    assert abs(float(g_checkpoint)) > 1e-3
    np.testing.assert_allclose(g_backsolve, g_checkpoint, rtol=1e-5)


@pytest.fixture(scope="module")
def mlp_model():
    field = MLPVectorField(3, 16, 2, key=jax.random.PRNGKey(1), final_scale=3.0, activation=jnp.tanh)
    return NeuralODE(field, rtol=1e-6, atol=1e-8)


def test_solve_with_stats_records_error_estimates(mlp_model):
    y0, ts = jnp.asarray([0.5, -1.0, 0.3]), jnp.linspace(0.0, 2.0, 5)
    ys, stats = eqx.filter_jit(lambda m: m.solve_with_stats(y0, ts, sample_time=0.7))(mlp_model)
    plain = eqx.filter_jit(lambda m: m.solve(y0, ts))(mlp_model)
    np.testing.assert_allclose(ys, plain.ys, rtol=1e-12, atol=1e-14)  # same steps, same answer
    assert int(stats.num_steps) == int(plain.stats["num_steps"])
    assert float(stats.error_sum) > 0 and float(stats.error_at_sample) > 0
    assert float(stats.error_at_sample) < float(stats.error_sum) / (2.0 / int(stats.num_accepted_steps)) * 10
    nfe = function_evaluations(mlp_model.solver, stats.num_steps)
    assert int(nfe) == 6 * int(stats.num_steps) + 1  # Tsit5: 7 stages, first same as last


@pytest.mark.slow
def test_regulariser_lowers_step_count(mlp_model):
    """Minimising R_E alone makes the learned dynamics cheaper to integrate."""
    y0s = jax.random.normal(jax.random.PRNGKey(2), (4, 3))
    ts = jnp.linspace(0.0, 2.0, 3)
    params, static = eqx.partition(mlp_model, eqx.is_inexact_array)

    def reg(params):
        model = eqx.combine(params, static)
        _, stats = jax.vmap(lambda y0: model.solve_with_stats(y0, ts))(y0s)
        return jnp.mean(stats.error_sum), jnp.mean(stats.num_steps.astype(float))

    step_fn = eqx.filter_jit(eqx.filter_value_and_grad(reg, has_aux=True))
    optimizer = optax.adam(1e-2)
    state = optimizer.init(params)
    (r0, steps0), _ = step_fn(params)
    for _ in range(60):
        (_, _), grads = step_fn(params)
        updates, state = optimizer.update(grads, state, params)
        params = eqx.apply_updates(params, updates)
    (r1, steps1), _ = step_fn(params)
    assert float(r1) < 0.5 * float(r0)
    assert float(steps1) < float(steps0)


@pytest.fixture(scope="module")
def burgers_data():
    """A few coarse Burgers trajectories from a finer spectral solve, truncated to 16 points."""
    from pdesolve.datasets import spectral_truncate
    from pdesolve.integrators import ETDRK4, rollout

    fine = PeriodicGrid(64, extent=1.0, dtype=jnp.float64)
    stepper = ETDRK4(Burgers(fine, 0.003), 0.005)
    x = jnp.arange(64) / 64
    frames = jnp.stack([rollout(stepper, 1.0 * jnp.sin(2 * jnp.pi * (x + s))[None], 20, save_every=10)
                        for s in (0.0, 0.3, 0.6)])  # (3 samples, 3 times, 1, 64)
    return spectral_truncate(frames, (16,)), jnp.asarray([0.0, 0.05, 0.1])


def test_closure_model_shapes_and_training_lowers_loss(burgers_data, tmp_path):
    data, ts = burgers_data
    assert data.shape == (3, 3, 1, 16)
    coarse = Burgers(PeriodicGrid(16, extent=1.0, dtype=jnp.float64), 0.003)
    correction = PeriodicConvCorrection(1, 1, width=8, depth=1, key=jax.random.PRNGKey(0))
    assert correction(data[0, 0]).shape == (1, 16)
    np.testing.assert_array_equal(correction(data[0, 0]), 0.0)  # starts as the coarse solver
    model = NeuralODE(ClosureVectorField(coarse, correction), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        model.vector_field(0.0, data[0, 0]), coarse.rhs(0.0, data[0, 0]), atol=1e-12
    )  # an untrained closure model is the coarse solver
    checkpoint = str(tmp_path / "closure.eqx")
    trained, history = fit_neural_ode(
        model, data, ts, num_steps=6, learning_rate=3e-3, batch_size=3, checkpoint=checkpoint, checkpoint_every=3
    )
    assert history["loss"][-1] < history["loss"][0]
    assert os.path.exists(checkpoint)
    assert read_checkpoint_header(checkpoint)["step"] == 6  # the shared pdesolve.training checkpoint format
    assert trained.vector_field.correction(data[0, 0]).shape == (1, 16)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    field = MLPVectorField(2, 8, 1, key=jax.random.PRNGKey(0))
    model = NeuralODE(field, adaptive=False, dt0=0.1)
    data = jnp.stack([jnp.stack([jnp.ones(2) * math.exp(-t) for t in (0.0, 0.5, 1.0)])] * 2)
    ts = jnp.asarray([0.0, 0.5, 1.0])

    def poison():  # a valid update at step 1, NaN from step 2 on
        def init(params):
            return jnp.zeros((), jnp.int32)

        def update(grads, count, params=None):
            scale = jnp.where(count >= 1, jnp.nan, -1e-3)
            return jax.tree_util.tree_map(lambda g: scale * g, grads), count + 1

        return optax.GradientTransformation(init, update)

    checkpoint = str(tmp_path / "nan.eqx")
    optimizer = poison()
    with pytest.raises(NonFiniteLossError, match="step 3") as info:
        fit_neural_ode(model, data, ts, num_steps=10, optimizer=optimizer, checkpoint=checkpoint)
    assert info.value.step == 3 and info.value.checkpoint == checkpoint
    saved, _, _, header = load_checkpoint(checkpoint, model=model, opt_state=optimizer.init(None),
                                          key=jax.random.PRNGKey(0))
    # The last parameters that gave a finite loss (at step 2) are those after step 1: one clean step.
    assert header["step"] == 1 and header["stopped"] == "non-finite loss at step 3"
    one_step, _ = fit_neural_ode(model, data, ts, num_steps=1, optimizer=optimizer)
    for a, b in zip(leaves(saved), leaves(one_step)):
        np.testing.assert_array_equal(a, b)
    assert all(np.all(np.isfinite(leaf)) for leaf in leaves(saved))
    scores = evaluate_rollouts(saved, data, ts, repeats=1)
    assert scores["predictions"].shape == data.shape
    assert len(scores["relative_l2_per_time"]) == 3 and scores["relative_l2_per_time"][0] == 0.0
    assert scores["nfe"] == 6 * scores["num_steps"] + 1 and scores["num_steps"] == 10  # dt0 = 0.1 over [0, 1]


def test_fourier_modes_round_trip_is_spectral_truncation():
    rng = np.random.default_rng(0)
    for shape in [(16,), (12, 10)]:
        reduction = FourierModes(shape, 2)
        u = jnp.asarray(rng.standard_normal((1,) + shape))
        z = reduction.encode(u)
        assert z.shape == (reduction.size,)
        freqs = np.meshgrid(*[np.fft.fftfreq(n, 1 / n) for n in shape], indexing="ij")
        mask = np.all([np.abs(k) <= 2 for k in freqs], axis=0)
        expected = np.fft.ifftn(np.fft.fftn(np.asarray(u[0])) * mask).real
        np.testing.assert_allclose(reduction.decode(z)[0], expected, atol=1e-12)
    assert FourierModes((16, 16), 3).size == 2 * (4 + 3 * 7) - 1


def test_bench_adjoint_quick_keys():
    from pdesolve.bench import format_adjoint_table, run_adjoint_benchmark

    result = run_adjoint_benchmark(problems=("advection",), adjoints=("backsolve",), steps=(10,), size=16, repeats=1)
    rows = result["results"]
    assert [r["adjoint"] for r in rows] == ["backsolve"]
    for r in rows:
        for key in ("name", "ours_s", "anchor", "anchor_s", "ratio", "error_ours", "error_anchor",
                    "temp_bytes_ours", "temp_bytes_anchor", "memory_ratio", "steps"):
            assert key in r
        assert r["anchor"] == "recursive-checkpoint"
        assert r["ratio"] == pytest.approx(r["anchor_s"] / r["ours_s"])
        assert 0 <= r["error_anchor"] < 1e-2  # 10 Tsit5 steps of a smooth linear ODE
    assert "backsolve" in format_adjoint_table(result)


@pytest.mark.slow
def test_cli_bench_adjoint_quick_json(capsys):
    import json

    from pdesolve.cli._main import main

    assert main(["bench", "adjoint", "--quick", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    names = {r["problem"] for r in payload["results"]}
    assert names == {"advection", "burgers"}
    burgers_backsolve = [r for r in payload["results"] if r["problem"] == "burgers" and r["adjoint"] == "backsolve"]
    assert all(r["error_ours"] is None or r["error_ours"] > 100 * r["error_anchor"] for r in burgers_backsolve)


def test_bad_inputs():
    field = MLPVectorField(2, 4, 1, key=jax.random.PRNGKey(0))
    with pytest.raises(InvalidInputError, match="Diffrax adjoint object"):
        NeuralODE(field, adjoint="backsolve")
    with pytest.raises(InvalidInputError, match="no error estimate"):
        NeuralODE(field, solver=diffrax.Euler())
    with pytest.raises(InvalidInputError, match="dt0"):
        NeuralODE(field, adaptive=False)
    with pytest.raises(InvalidInputError, match="max_steps"):
        NeuralODE(field, max_steps=0)
    with pytest.raises(InvalidInputError, match="callable"):
        NeuralODE(3.0)
    model = NeuralODE(field)
    with pytest.raises(InvalidInputError, match="strictly increasing"):
        model(jnp.ones(2), jnp.asarray([0.0, 1.0, 0.5]))
    with pytest.raises(InvalidInputError, match="at least 2"):
        model(jnp.ones(2), jnp.asarray([0.0]))
    with pytest.raises(InvalidInputError, match="finite"):
        model(jnp.asarray([1.0, jnp.nan]), jnp.asarray([0.0, 1.0]))
    with pytest.raises(InvalidInputError, match="floating"):
        model(jnp.asarray([1, 2]), jnp.asarray([0.0, 1.0]))
    with pytest.raises(InvalidInputError, match=r"cannot take y0 shaped \(3,\)"):
        model(jnp.ones(3), jnp.asarray([0.0, 1.0]))
    with pytest.raises(InvalidInputError, match=r"maps y0 shaped \(2,\) to \(1,\)"):
        NeuralODE(lambda t, y, args: y[:1])(jnp.ones(2), jnp.asarray([0.0, 1.0]))
    with pytest.raises(InvalidInputError, match="BacksolveAdjoint"):
        NeuralODE(field, adjoint=diffrax.BacksolveAdjoint()).solve_with_stats(jnp.ones(2), jnp.asarray([0.0, 1.0]))
    ts = jnp.asarray([0.0, 1.0])
    with pytest.raises(InvalidInputError, match="samples, times"):
        fit_neural_ode(model, jnp.ones((2, 2)), ts)
    with pytest.raises(InvalidInputError, match="ts has shape"):
        fit_neural_ode(model, jnp.ones((2, 3, 2)), ts)
    with pytest.raises(InvalidInputError, match="NaN"):
        fit_neural_ode(model, jnp.full((2, 2, 2), jnp.nan), ts)
    with pytest.raises(InvalidInputError, match="regulariser"):
        fit_neural_ode(model, jnp.ones((2, 2, 2)), ts, regulariser="strong")
    with pytest.raises(InvalidInputError, match="window"):
        fit_neural_ode(model, jnp.ones((2, 2, 2)), ts, window=5)
    with pytest.raises(InvalidInputError, match="max_mode"):
        FourierModes((8, 8), 4)
    with pytest.raises(InvalidInputError, match="expected"):
        FourierModes((8, 8), 2).encode(jnp.ones((1, 8, 6)))
    with pytest.raises(InvalidInputError, match="kernel_size"):
        PeriodicConvCorrection(1, 1, kernel_size=4, key=jax.random.PRNGKey(0))
    conv = PeriodicConvCorrection(1, 2, width=4, depth=1, key=jax.random.PRNGKey(0))
    for shape in ((2, 8, 8), (1, 8)):  # another channel count, another dimension
        with pytest.raises(InvalidInputError, match=r"expected a field shaped \(1, \*grid\) with 2 spatial axes"):
            conv(jnp.ones(shape))
    with pytest.raises(InvalidInputError, match="PDE"):
        ClosureVectorField(lambda t, u: u, None)
    from pdesolve.bench import run_adjoint_benchmark

    with pytest.raises(InvalidInputError, match="problem"):
        run_adjoint_benchmark(problems=("poisson",))


def test_neural_ode_spec_builds_a_closure_model(burgers_data):
    data, ts = burgers_data
    windows = TrajectoryWindows(np.asarray(data), np.asarray(ts))
    config = TrainConfig(window=1, rollout_steps=2, batch_size=2, dtype="float64", splits=(1.0, 0.0, 0.0))
    options = {"reference": "burgers", "viscosity": 0.003, "extent": 1.0, "ode_width": 4, "ode_depth": 1,
               "adjoint": "direct", "regulariser": "global", "regularisation_weight": 1e-3}
    model = NEURAL_ODE_SPEC.build(options, windows, config, key=jax.random.PRNGKey(0))
    assert isinstance(model, NeuralODE) and isinstance(model.adjoint, diffrax.DirectAdjoint)
    assert isinstance(model.vector_field, ClosureVectorField)
    # the untrained correction is zero, so the model is the coarse Burgers solve
    pred = eqx.filter_jit(lambda m: m(data[0, 0], ts))(model)
    np.testing.assert_allclose(pred[1:], data[0, 1:], rtol=0.2, atol=0.05)
    loss = NEURAL_ODE_SPEC.make_loss(options, windows, config)
    assert isinstance(loss.regulariser, GlobalErrorRegulariser) and loss.regulariser.weight == 1e-3
    assert loss.kind == "relative_l2"  # the config's loss
    with pytest.raises(InvalidInputError, match="reference"):
        NEURAL_ODE_SPEC.build({"reference": "navier"}, windows, config, key=jax.random.PRNGKey(0))
    with pytest.raises(InvalidInputError, match="unknown neural-ode option"):
        NEURAL_ODE_SPEC.build({"depth": 3}, windows, config, key=jax.random.PRNGKey(0))
    with pytest.raises(InvalidInputError, match="global solver-heuristic"):
        NEURAL_ODE_SPEC.build({"adjoint": "backsolve", "regulariser": "global"}, windows, config,
                              key=jax.random.PRNGKey(0))
    with pytest.raises(InvalidInputError, match="window must be 1"):
        windows.check(TrainConfig(window=2, rollout_steps=1, batch_size=2))


@pytest.mark.slow
def test_cli_train_neural_ode(tmp_path):
    import json

    from pdesolve.cli._main import main
    from pdesolve.datasets import generate

    data = tmp_path / "burgers.h5"
    generate("burgers1d", 10, 16, data, progress=False, t_final=0.2)
    out = tmp_path / "run"
    args = ["train", "neural-ode", "--data", str(data), "--out", str(out), "--epochs", "1", "--batch-size", "4",
            "--reference", "burgers", "--viscosity", "0.01", "--extent", "1.0", "--frame-dt", "0.05",
            "--ode-width", "4", "--regulariser", "global", "--no-progress", "--no-figures", "--dtype", "float64"]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["rollout_rel_l2"])


# --- solver-heuristic regularisers: stiffness estimate and the local (one fresh step) variant ---


class _Decay(eqx.Module):
    rate: jax.Array

    def __call__(self, t, y, args):
        return -self.rate * y


def test_stiffness_estimate_is_the_eigenvalue_of_a_linear_field():
    """For f(y) = -lam y, Hairer's estimate ||k7 - k6|| / ||g7 - g6|| is exactly lam, so R_S = lam (t1 - t0)."""
    from pdesolve.neural_ode import supports_stiffness_estimate

    model = NeuralODE(_Decay(jnp.asarray(7.3)), rtol=1e-6, atol=1e-9)
    y0, ts = jnp.asarray([1.0, -0.5]), jnp.asarray([0.0, 0.4, 1.5])
    _, stats = eqx.filter_jit(lambda m: m.solve_with_stats(y0, ts))(model)
    np.testing.assert_allclose(float(stats.stiffness_sum), 7.3 * 1.5, rtol=1e-8)
    error_h, stiffness_h = eqx.filter_jit(lambda m: m.local_regulariser(0.2, y0, max_step=1e-3))(model)
    assert float(error_h) > 0
    np.testing.assert_allclose(float(stiffness_h), 7.3 * 1e-3, rtol=1e-8)  # S h with h capped at max_step
    assert supports_stiffness_estimate(diffrax.Tsit5()) and not supports_stiffness_estimate(diffrax.Euler())


def test_local_regulariser_is_one_fresh_step_and_works_with_backsolve(mlp_model):
    """Same trajectory as a plain solve; E h of one step of the controller's initial size from y(s);
    the state is a constant, so every adjoint gives the same gradient."""
    y0, ts, s = jnp.asarray([0.5, -1.0, 0.3]), jnp.linspace(0.0, 2.0, 5), 0.7
    ys, error_h, stiffness_h, steps = eqx.filter_jit(lambda m: m.solve_with_local_regulariser(y0, ts, s))(mlp_model)
    plain = eqx.filter_jit(lambda m: m.solve(y0, jnp.asarray([0.0, 0.5, s, 1.0, 1.5, 2.0])))(mlp_model)
    np.testing.assert_allclose(ys, plain.ys[jnp.asarray([0, 1, 3, 4, 5])], rtol=1e-9, atol=1e-12)
    # by hand: the controller's first step h from (s, y(s)), one Tsit5 step, scaled error times h
    y_s = plain.ys[2]
    term, solver = diffrax.ODETerm(mlp_model.vector_field), mlp_model.solver
    controller = diffrax.PIDController(rtol=mlp_model.rtol, atol=mlp_model.atol)
    t_next, _ = controller.init(term, s, s + 2.0, y_s, None, None, solver.func, solver.error_order(term))
    h = float(t_next) - s
    y1, err, _, _, _ = solver.step(term, s, s + h, y_s, None, solver.init(term, s, s + h, y_s, None), False)
    scale = mlp_model.atol + mlp_model.rtol * jnp.maximum(jnp.abs(y_s), jnp.abs(y1))
    expected = float(jnp.sqrt(jnp.mean((err / scale) ** 2))) * h
    np.testing.assert_allclose(float(error_h), expected, rtol=1e-4)  # an error estimate: a small difference
    assert float(stiffness_h) > 0 and int(steps) == int(plain.stats["num_steps"])

    def grad_with(adjoint):
        model = NeuralODE(mlp_model.vector_field, adjoint=adjoint, rtol=mlp_model.rtol, atol=mlp_model.atol)
        g = eqx.filter_jit(eqx.filter_grad(lambda m: m.solve_with_local_regulariser(y0, ts, s)[1]))(model)
        return jnp.concatenate([jnp.ravel(x) for x in jax.tree_util.tree_leaves(eqx.filter(g, eqx.is_inexact_array))])

    g_checkpoint, g_backsolve = grad_with(diffrax.RecursiveCheckpointAdjoint()), grad_with(diffrax.BacksolveAdjoint())
    assert float(jnp.linalg.norm(g_checkpoint)) > 0
    np.testing.assert_allclose(g_backsolve, g_checkpoint, rtol=1e-6, atol=1e-12)


@pytest.mark.slow  # the loss composition is checked by test_regulariser_values_match_their_definitions, backsolve
# with the local regulariser by test_local_regulariser_is_one_fresh_step_and_works_with_backsolve
def test_fit_with_local_and_stiffness_regularisers():
    field = MLPVectorField(2, 8, 1, key=jax.random.PRNGKey(3))
    data = jax.random.normal(jax.random.PRNGKey(4), (4, 3, 2))
    ts = jnp.asarray([0.0, 0.5, 1.0])
    model = NeuralODE(field, adjoint=diffrax.BacksolveAdjoint())  # the local variant needs no particular adjoint
    _, history = fit_neural_ode(model, data, ts, num_steps=2, batch_size=2,
                                regulariser=LocalErrorRegulariser(1e-2, stiffness_weight=1e-3))
    assert all(math.isfinite(v) and v > 0 for v in history["regulariser"] + history["stiffness"])
    np.testing.assert_allclose(history["loss"][0], history["data_loss"][0] + 1e-2 * history["regulariser"][0]
                               + 1e-3 * history["stiffness"][0], rtol=1e-10)


def test_regulariser_bad_inputs():
    field = MLPVectorField(2, 8, 1, key=jax.random.PRNGKey(3))
    data = jax.random.normal(jax.random.PRNGKey(4), (4, 3, 2))
    ts = jnp.asarray([0.0, 0.5, 1.0])
    model = NeuralODE(field, adjoint=diffrax.BacksolveAdjoint())
    with pytest.raises(InvalidInputError, match="global solver-heuristic"):
        fit_neural_ode(model, data, ts, num_steps=1, regulariser=GlobalErrorRegulariser(1e-3))
    with pytest.raises(InvalidInputError, match="stiffness_weight"):
        fit_neural_ode(NeuralODE(field, solver=diffrax.Heun()), data, ts, num_steps=1,
                       regulariser=GlobalErrorRegulariser(0.0, stiffness_weight=1e-3))
    with pytest.raises(InvalidInputError, match="stiffness_weight"):
        LocalErrorRegulariser(1e-3, stiffness_weight=-1.0)
    with pytest.raises(InvalidInputError, match="regulariser must be None"):
        fit_neural_ode(NeuralODE(field), data, ts, num_steps=1, regulariser="global")
    with pytest.raises(InvalidInputError, match="stiffness estimate"):
        from pdesolve.neural_ode import stiffness_estimate

        stiffness_estimate(diffrax.Euler(), jnp.ones(2), jnp.ones(2), jnp.ones((1, 2)), 0.1)


# --- training through pdesolve.training.train: resume, NaN policy, regulariser definitions ---------


def _window_setup():
    data = np.asarray(jax.random.normal(jax.random.PRNGKey(4), (6, 5, 3)))
    ts = np.linspace(0.0, 1.0, 5)
    config = TrainConfig(epochs=2, steps_per_epoch=3, batch_size=3, learning_rate=1e-2, schedule="cosine",
                         final_lr_fraction=0.1, window=1, rollout_steps=2, dtype="float64", splits=(1.0, 0.0, 0.0),
                         eval_every=0, checkpoint_every=2)
    return data, ts, config


def _ode():
    return NeuralODE(MLPVectorField(3, 8, 1, key=jax.random.PRNGKey(3)), rtol=1e-5, atol=1e-7)


class _Interrupt(Exception):
    pass


@pytest.mark.slow  # exact resume is train()'s (tests/training); TrajectoryWindows' batches are a function of the
# step alone (test_windows_are_the_drawn_samples_and_times)
def test_resumed_neural_ode_run_equals_the_uninterrupted_one(tmp_path):
    data, ts, config = _window_setup()
    loss = NeuralODELoss(LocalErrorRegulariser(1e2))
    full = train(_ode(), TrajectoryWindows(data, ts), config, loss=loss, progress=False, evaluate_test=False,
                 figures=False)
    assert full.history[0]["train_regulariser"] > 0 and full.history[0]["train_num_steps"] > 0

    def stop_at_5(step, record):
        if step == 5:
            raise _Interrupt

    ckpt = tmp_path / "ode.eqx"
    with pytest.raises(_Interrupt):
        train(_ode(), TrajectoryWindows(data, ts), config, checkpoint=ckpt, loss=loss, progress=False,
              on_step=stop_at_5, evaluate_test=False, figures=False)
    assert read_checkpoint_header(ckpt)["step"] == 4  # inside epoch 2
    resumed = train(_ode(), TrajectoryWindows(data, ts), config, checkpoint=ckpt, resume=True, loss=loss,
                    progress=False, evaluate_test=False, figures=False)
    for a, b in zip(leaves(full.model), leaves(resumed.model)):
        np.testing.assert_array_equal(a, b)
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]


@pytest.mark.slow  # the same NaN policy through the same train() is checked by
# test_nan_loss_stops_and_keeps_last_good_checkpoint (fit_neural_ode runs train with NeuralODELoss)
def test_neural_ode_nan_stop_keeps_the_last_good_parameters(tmp_path):
    data, ts, config = _window_setup()
    check_nan_policy(_ode, TrajectoryWindows(data, ts), config, tmp_path, loss=NeuralODELoss())


def test_windows_are_the_drawn_samples_and_times():
    data, ts, config = _window_setup()
    windows = TrajectoryWindows(data, ts, key=jax.random.PRNGKey(7))
    batches = list(windows.train_batches(config, 1))
    assert len(batches) == 3
    for n, batch in zip(range(3, 6), batches):
        k_batch, k_start, k_time = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(7), n), 3)
        idx = np.asarray(jax.random.choice(k_batch, 6, (3,), replace=False))
        first = int(jax.random.randint(k_start, (), 0, 3))
        np.testing.assert_array_equal(batch.states, data[idx, first : first + 3])
        np.testing.assert_array_equal(batch.times, np.broadcast_to(ts[first : first + 3], (3, 3)))
        assert np.all((batch.sample_times >= ts[first]) & (batch.sample_times <= ts[first + 2]))


def test_regulariser_values_match_their_definitions():
    """On dy/dt = -lam y: R_E = sum_j E_j |dt_j| over the accepted steps (recomputed step by step), R_S = lam T,
    local R = E h at s, and the loss is the data term plus the weighted regularisers."""
    lam = 2.3
    model = NeuralODE(_Decay(jnp.asarray(lam)), rtol=1e-6, atol=1e-8)
    y = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, 3)))
    ts = jnp.linspace(0.0, 1.0, 3)
    batch = WindowBatch(y, jnp.broadcast_to(ts, (2, 3)), jnp.asarray([0.3, 0.8]))
    exact = np.exp(-lam * np.asarray(ts))[None, :, None] * np.asarray(y[:, :1])  # y_i(0) e^{-lam t}
    term, solver = diffrax.ODETerm(model.vector_field), model.solver

    @jax.jit
    def accepted_steps(y0):  # the plain solve's accepted steps (t_j, y_j)
        sol = diffrax.diffeqsolve(term, solver, 0.0, 1.0, None, y0, saveat=diffrax.SaveAt(steps=True),
                                  stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-8), max_steps=64)
        return sol.ts, sol.ys, sol.stats["num_accepted_steps"]

    @jax.jit
    def scaled_error(t0, t1, y0):  # E_j of one Tsit5 step: the embedded error over atol + rtol max(|y0|, |y1|)
        y1, err, _, _, _ = solver.step(term, t0, t1, y0, None, solver.init(term, t0, t1, y0, None), False)
        return jnp.sqrt(jnp.mean((err / (1e-8 + 1e-6 * jnp.maximum(jnp.abs(y0), jnp.abs(y1)))) ** 2))

    expected = []
    for i in range(2):
        t_steps, y_steps, n = accepted_steps(y[i, 0])
        n = int(n)
        assert n > 3
        t_steps, y_steps = np.concatenate([[0.0], t_steps[:n]]), jnp.concatenate([y[i, :1], y_steps[:n]])
        expected.append(sum(float(scaled_error(t_steps[j], t_steps[j + 1], y_steps[j])) * (t_steps[j + 1] - t_steps[j])
                            for j in range(n)))
    (loss, aux) = eqx.filter_jit(NeuralODELoss(GlobalErrorRegulariser(0.5, stiffness_weight=0.25)))(model, batch)
    np.testing.assert_allclose(aux["regulariser"], np.mean(expected), rtol=1e-6)
    np.testing.assert_allclose(aux["stiffness"], lam * 1.0, rtol=1e-8)  # Hairer's estimate of a linear field
    np.testing.assert_allclose(aux["data_loss"], np.mean((exact - np.asarray(y)) ** 2), rtol=1e-5)
    np.testing.assert_allclose(loss, aux["data_loss"] + 0.5 * aux["regulariser"] + 0.25 * aux["stiffness"], rtol=1e-12)
    # The local variant: R = E h of one fresh step at each sample's time s.
    (loss, aux) = eqx.filter_jit(NeuralODELoss(LocalErrorRegulariser(100.0, stiffness_weight=0.5)))(model, batch)
    local, local_stiffness = eqx.filter_jit(lambda m: jax.vmap(lambda y0, s: m.solve_with_local_regulariser(y0, ts, s)[1:3])(
        y[:, 0], batch.sample_times))(model)
    # (E of the short fresh step is near round-off: how the solve is batched moves it in the 5th digit.)
    np.testing.assert_allclose(aux["regulariser"], np.mean(local), rtol=1e-3)
    np.testing.assert_allclose(aux["stiffness"], np.mean(local_stiffness), rtol=1e-6)
    np.testing.assert_allclose(loss, aux["data_loss"] + 100.0 * aux["regulariser"] + 0.5 * aux["stiffness"], rtol=1e-12)
    # Without a regulariser the loss is the data term alone; the relative-L2 data term averages over
    # the predicted times (t_1, t_2), with a finite gradient.
    (loss, aux), grad = eqx.filter_jit(eqx.filter_value_and_grad(NeuralODELoss(kind="relative_l2"), has_aux=True))(
        model, batch)
    assert float(loss) == float(aux["data_loss"]) and float(aux["regulariser"]) == 0.0
    diff, truth = exact[:, 1:] - np.asarray(y[:, 1:]), np.asarray(y[:, 1:])
    np.testing.assert_allclose(loss, np.mean(np.linalg.norm(diff, axis=2) / np.linalg.norm(truth, axis=2)), rtol=1e-5)
    assert np.isfinite(float(grad.vector_field.rate)) and float(grad.vector_field.rate) != 0.0
