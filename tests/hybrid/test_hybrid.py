"""Hybrid steppers (solver + learned correction), training through the solver, and the correlation metrics."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _training_checks import check_nan_policy

from pdesolve import InvalidInputError
from pdesolve.hybrid import (
    CorrectedStepper,
    CorrectionData,
    SpectralCorrectedStepper,
    UnrolledLoss,
    VorticityFluxCorrection,
    corrected,
    unroll,
)
from pdesolve.integrators import ETDRK4, ExplicitRK, ForcedETDRK4, rollout, rollout_batch, rollout_with_progress
from pdesolve.metrics import correlation, high_correlation_time, vorticity_energy_spectrum
from pdesolve.neural_ode import PeriodicConvCorrection
from pdesolve.pdes import Heat, NavierStokes2D, kolmogorov_forcing
from pdesolve.spatial import PeriodicGrid, rfft, rfft_weights, spectral_derivative, spectral_gradient
from pdesolve.training import TrainConfig, TrajectoryData, train

N = 16
DT = 0.05


class _Scaled(eqx.Module):
    """The correction C(u) = a u (one parameter): a known missing drag is C(u) = -alpha u."""

    a: jax.Array

    def __call__(self, u):
        return self.a * u


def _grid():
    return PeriodicGrid(N, extent=2 * np.pi, ndim=2, dtype=jnp.float64)


def _ns(drag=0.1):
    grid = _grid()
    return NavierStokes2D(grid, viscosity=1e-2, drag=drag, forcing=kolmogorov_forcing(grid, 2))


def _u0(seed=0):
    grid = _grid()
    x, y = grid.coordinates()
    phase = jax.random.uniform(jax.random.PRNGKey(seed), (3,), maxval=2 * np.pi)
    return (jnp.sin(x + phase[0]) * jnp.cos(2 * y + phase[1]) + 0.5 * jnp.cos(3 * x - y + phase[2]))[None]


def _network(key=0, zero=True):
    net = PeriodicConvCorrection(1, ndim=2, width=4, depth=1, kernel_size=3, key=jax.random.PRNGKey(key))
    if not zero:  # a non-trivial correction: random last layer
        last = net.layers[-1]
        weight = 1e-2 * jax.random.normal(jax.random.PRNGKey(key + 1), last.weight.shape)
        net = eqx.tree_at(lambda n: n.layers[-1].weight, net, weight)
    return net


# -- the hybrid stepper is a stepper ------------------------------------------------------


def test_zero_correction_is_the_plain_solver_bitwise():
    stepper = ETDRK4(_ns(), DT)
    u0 = _u0()
    hybrid = corrected(stepper, _network())
    assert isinstance(hybrid, SpectralCorrectedStepper)
    np.testing.assert_array_equal(rollout(hybrid, u0, 4), rollout(stepper, u0, 4))
    generic = CorrectedStepper(stepper, _network())
    np.testing.assert_array_equal(generic(u0), stepper(u0))
    explicit = ExplicitRK(Heat(_grid(), 0.1), 0.01, method="rk4")
    np.testing.assert_array_equal(corrected(explicit, _network())(u0), explicit(u0))


def test_corrected_stepper_is_a_stepper():
    stepper = ETDRK4(_ns(), DT)
    hybrid = corrected(stepper, _network(zero=False))
    u0 = _u0()
    assert hybrid.dt == DT and hybrid.pde is stepper.pde
    # One step is S(u) + dt C(u), in both forms.
    expected = stepper(u0) + DT * hybrid.correction(u0)
    np.testing.assert_allclose(hybrid(u0), expected, atol=1e-12)
    np.testing.assert_allclose(CorrectedStepper(stepper, hybrid.correction)(u0), expected, atol=1e-12)
    frames = rollout(hybrid, u0, 4)
    assert frames.shape == (5, 1, N, N)
    np.testing.assert_allclose(frames[1], expected, atol=1e-12)
    # unroll (the training rollout) gives rollout's frames, with and without checkpoints.
    np.testing.assert_allclose(unroll(hybrid, u0, 2, steps_per_frame=2), frames[2::2], atol=1e-12)
    batch = jnp.stack([_u0(1), _u0(2)])
    stepped = jax.vmap(hybrid)(batch)
    np.testing.assert_allclose(stepped[1], hybrid(batch[1]), atol=1e-12)
    np.testing.assert_allclose(rollout_batch(hybrid, batch, 3)[1, -1], rollout(hybrid, batch[1], 3)[-1], atol=1e-12)
    shown = rollout_with_progress(hybrid, u0, 4, progress=False)  # the `pdesolve solve` path
    np.testing.assert_allclose(shown, frames, atol=1e-12)


def test_partition_trains_the_correction_only():
    hybrid = corrected(ETDRK4(_ns(), DT), _network(zero=False))
    params, rest = hybrid.partition()
    net_leaves = jax.tree.leaves(eqx.filter(hybrid.correction, eqx.is_inexact_array))
    assert len(jax.tree.leaves(params)) == len(net_leaves) > 0
    assert jax.tree.leaves(params.stepper) == []
    assert len(jax.tree.leaves(rest.stepper)) == len(jax.tree.leaves(hybrid.stepper))
    rebuilt = eqx.combine(params, rest)
    np.testing.assert_array_equal(rebuilt(_u0()), hybrid(_u0()))


def test_bad_input_raises():
    stepper = ETDRK4(_ns(), DT)
    net = _network()
    with pytest.raises(InvalidInputError, match="stepper"):
        corrected("etdrk4", net)
    with pytest.raises(InvalidInputError, match="correction"):
        CorrectedStepper(stepper, 3.0)
    with pytest.raises(InvalidInputError, match="spectral"):
        SpectralCorrectedStepper(ExplicitRK(Heat(_grid(), 0.1), 0.01), net)
    with pytest.raises(InvalidInputError, match="time-dependent"):
        CorrectedStepper(ForcedETDRK4(_ns(), DT), net)
    hybrid = corrected(stepper, net)
    # A correction whose output broadcasts against the state would change the state's shape.
    for wrong in (corrected(stepper, lambda u: jnp.zeros((2, N, N))), CorrectedStepper(stepper, lambda u: 0.0)):
        with pytest.raises(InvalidInputError, match="must return the state's shape"):
            wrong(_u0())
    with pytest.raises(InvalidInputError, match="num_frames"):
        unroll(hybrid, _u0(), 0)
    with pytest.raises(InvalidInputError, match="steps_per_frame"):
        unroll(hybrid, _u0(), 2, steps_per_frame=0)
    with pytest.raises(InvalidInputError, match="u0"):
        unroll(hybrid, jnp.zeros((1, N, N + 1)), 2)
    with pytest.raises(InvalidInputError, match="steps_per_frame"):
        UnrolledLoss(stepper, steps_per_frame=0)
    with pytest.raises(InvalidInputError, match="max_wavenumber"):
        UnrolledLoss(stepper, max_wavenumber=-1.0)
    loss = UnrolledLoss(stepper)
    frames = jnp.zeros((2, 3, 1, N, N))
    with pytest.raises(InvalidInputError, match="window = 1"):
        loss(net, (frames[:, :2], frames[:, 2:]), None)
    with pytest.raises(InvalidInputError, match="targets"):
        loss(net, (frames[:, :1], jnp.zeros((2, 2, 1, N, 8))), None)
    with pytest.raises(InvalidInputError):
        train(net, TrajectoryData(np.zeros((4, 3, 1, N, N)), splits=(1, 0, 0)),
              TrainConfig(epochs=1, batch_size=2, window=1, rollout_steps=0, splits=(1, 0, 0)), loss=loss)


# -- training through the solver ---------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _missing_drag_data(alpha=0.3, samples=4, frames=9, steps_per_frame=1):
    """Trajectories of NS with drag `alpha`; the coarse solver has none: C(u) = -alpha u (to O(dt)) is missing."""
    truth = ETDRK4(_ns(drag=alpha), DT / steps_per_frame)
    u0s = jnp.stack([_u0(seed) for seed in range(samples)])
    trajectories = jax.vmap(lambda u: rollout(truth, u, (frames - 1) * steps_per_frame,
                                              save_every=steps_per_frame))(u0s)
    return np.asarray(trajectories), ETDRK4(_ns(drag=0.0), DT / steps_per_frame)


@eqx.filter_jit
def _loss_of(a, loss, batch):
    return loss(_Scaled(jnp.asarray(a)), batch, None)[0]


def test_unrolled_gradient_matches_finite_differences_and_checkpointing():
    trajectories, coarse = _missing_drag_data(0.3, frames=4)
    batch = (jnp.asarray(trajectories[:2, :1]), jnp.asarray(trajectories[:2, 1:]))
    loss = UnrolledLoss(coarse)
    grad = jax.grad(_loss_of)(0.1, loss, batch)
    h = 1e-5
    fd = (_loss_of(0.1 + h, loss, batch) - _loss_of(0.1 - h, loss, batch)) / (2 * h)
    assert abs(grad) > 1e-3
    np.testing.assert_allclose(grad, fd, rtol=1e-6)
    # jax.checkpoint recomputes, it does not change the gradient (here of a CNN correction).
    net = _network(zero=False)
    short = (batch[0][:1], batch[1][:1, :3])
    grads = [eqx.filter_jit(eqx.filter_grad(lambda m: UnrolledLoss(coarse, max_wavenumber=5.0, checkpoint=c)(m, short)[0]))(net)
             for c in (True, False)]
    for a, b in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(grads[1])):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    assert max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(grads[0])) > 0


def test_training_through_the_solver_recovers_a_missing_drag(tmp_path):
    alpha = 0.3
    trajectories, coarse = _missing_drag_data(alpha, frames=9, steps_per_frame=2)
    data = TrajectoryData(trajectories, splits=(1, 0, 0))
    config = TrainConfig(epochs=60, batch_size=2, window=1, rollout_steps=8, learning_rate=0.02, splits=(1, 0, 0),
                         dtype="float64")
    loss = UnrolledLoss(coarse, steps_per_frame=2)
    batch = (jnp.asarray(trajectories[:, :1]), jnp.asarray(trajectories[:, 1:]))
    start = float(_loss_of(0.0, loss, batch))
    result = train(_Scaled(jnp.asarray(0.0)), data, config, loss=loss, progress=False, figures=False)
    end = float(_loss_of(result.model.a, loss, batch))
    # Over one hybrid step the corrective forcing that removes the drag exactly is (e^{-alpha dt} - 1)/dt.
    h = DT / 2
    np.testing.assert_allclose(float(result.model.a), np.expm1(-alpha * h) / h, rtol=0.02)
    assert end < 1e-3 * start
    assert result.history[-1]["train_relative_l2"] < 0.05 * result.history[0]["train_relative_l2"]


def test_one_step_loss_and_the_nan_policy(tmp_path):
    trajectories, coarse = _missing_drag_data(0.3, frames=4)
    data = TrajectoryData(trajectories, splits=(1, 0, 0))
    config = TrainConfig(epochs=3, batch_size=2, window=1, rollout_steps=1, splits=(1, 0, 0), dtype="float64")
    loss = UnrolledLoss(coarse)
    # N = 1 is one step against the next frame: the plain solver's one-step error.
    batch = (jnp.asarray(trajectories[:, :1]), jnp.asarray(trajectories[:, 1:2]))
    value, aux = loss(_Scaled(jnp.asarray(0.0)), batch, None)
    predicted = jax.vmap(coarse)(batch[0][:, 0])
    expected = np.sum((predicted - batch[1][:, 0]) ** 2) / np.sum(batch[1][:, 0] ** 2)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    assert aux["last_frame_relative_l2"] == aux["relative_l2"]
    check_nan_policy(lambda: _Scaled(jnp.asarray(0.0)), data, config, tmp_path, loss=loss)


def test_correction_data_scores_the_corrected_stepper():
    alpha = 0.3
    trajectories, coarse = _missing_drag_data(alpha, frames=4)
    data = CorrectionData(trajectories, coarse, splits=(0.5, 0.0, 0.5))
    config = TrainConfig(epochs=1, batch_size=2, window=1, rollout_steps=2, splits=(0.5, 0.0, 0.5), dtype="float64")
    data.check(config)
    assert data.loss().stepper is coarse and data.loss().steps_per_frame == 1
    plain = data.evaluate(_Scaled(jnp.asarray(0.0)), "test", config)
    exact = data.evaluate(_Scaled(jnp.asarray(np.expm1(-alpha * DT) / DT)), "test", config)
    assert plain["samples"] == 2 and plain["rollout_steps"] == 3
    assert exact["rollout_rel_l2"] < 0.1 * plain["rollout_rel_l2"] and plain["rollout_rel_l2"] > 0.01
    assert exact["high_correlation_time"] == pytest.approx(3 * DT) and exact["correlation_final"] > 0.9999
    with pytest.raises(InvalidInputError, match="window must be 1"):
        data.check(TrainConfig(window=2, rollout_steps=1, splits=(0.5, 0.0, 0.5)))
    with pytest.raises(InvalidInputError, match="state shape"):
        CorrectionData(trajectories[..., :8], coarse)


# -- metrics -------------------------------------------------------------------------------


# -- the learned subgrid flux ----------------------------------------------------------------


def _flux_correction(zero=True, key=0):
    correction = VorticityFluxCorrection(_grid(), width=4, depth=1, key=jax.random.PRNGKey(key))
    if not zero:
        last = correction.network.layers[-1]
        weight = 1e-1 * jax.random.normal(jax.random.PRNGKey(key + 1), last.weight.shape)
        correction = eqx.tree_at(lambda c: c.network.layers[-1].weight, correction, weight)
    return correction


def test_flux_features_are_vorticity_velocity_and_gradient():
    omega, correction = _u0(), _flux_correction()
    features = correction.features(omega)
    assert features.shape == (5, N, N)
    np.testing.assert_array_equal(features[:1], omega)
    np.testing.assert_allclose(features[1:3], _ns().velocity(omega), atol=1e-12)
    np.testing.assert_allclose(features[3:], spectral_gradient(omega, _grid())[0], atol=1e-12)
    scales = VorticityFluxCorrection.feature_scales(jnp.stack([omega, _u0(1)]), _grid())
    expected = np.sqrt(np.mean(np.stack([features, correction.features(_u0(1))]) ** 2, axis=(0, 2, 3)))
    np.testing.assert_allclose(scales, expected, rtol=1e-12)


def test_flux_correction_is_the_divergence_of_its_flux_and_conservative():
    omega = _u0()
    assert float(jnp.abs(_flux_correction()(omega)).max()) == 0.0  # untrained: exactly the plain solver
    correction = _flux_correction(zero=False)
    flux = correction.flux(omega)
    assert flux.shape == (2, N, N) and float(jnp.abs(flux).max()) > 1e-3
    expected = -(spectral_derivative(flux[:1], _grid(), axis=0) + spectral_derivative(flux[1:], _grid(), axis=1))
    out = correction(omega)
    assert out.shape == (1, N, N) and out.dtype == omega.dtype
    np.testing.assert_allclose(out, expected, atol=1e-12)
    assert abs(float(out.mean())) < 1e-14  # the mean vorticity is never changed


def test_flux_correction_trains_through_the_solver():
    hybrid = corrected(ETDRK4(_ns(), DT), _flux_correction(zero=False))
    params, rest = hybrid.partition()
    network = jax.tree.leaves(eqx.filter(hybrid.correction.network, eqx.is_inexact_array))
    assert sum(x.size for x in jax.tree.leaves(params)) == sum(x.size for x in network)
    target = rollout(ETDRK4(_ns(drag=0.2), DT), _u0(), 4)

    def loss(p):
        return jnp.mean((unroll(eqx.combine(p, rest), _u0(), 4) - target[1:]) ** 2)

    grads = jax.tree.leaves(jax.grad(loss)(params))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads) and any(float(jnp.abs(g).max()) > 0 for g in grads)


def test_flux_correction_bad_input_raises():
    with pytest.raises(InvalidInputError, match="2D PeriodicGrid"):
        VorticityFluxCorrection(PeriodicGrid(8, ndim=1), key=jax.random.PRNGKey(0))
    with pytest.raises(InvalidInputError, match="scales"):
        VorticityFluxCorrection(_grid(), key=jax.random.PRNGKey(0), scales=(1.0, 1.0))
    with pytest.raises(InvalidInputError, match="scales"):
        VorticityFluxCorrection(_grid(), key=jax.random.PRNGKey(0), scales=(1.0, 0.0, 1.0, 1.0, 1.0))
    with pytest.raises(InvalidInputError, match="shaped"):
        _flux_correction()(jnp.zeros((2, N, N)))
    with pytest.raises(InvalidInputError, match="out_channels"):
        PeriodicConvCorrection(1, ndim=2, out_channels=0, key=jax.random.PRNGKey(0))
    assert PeriodicConvCorrection(3, ndim=2, width=4, depth=1, out_channels=2,
                                  key=jax.random.PRNGKey(0))(jnp.ones((3, N, N))).shape == (2, N, N)


def test_correlation_of_known_fields():
    grid = _grid()
    x, y = grid.coordinates()
    low, high = jnp.cos(x + 2 * y)[None], 0.5 * jnp.sin(5 * x)[None]
    u = low + high
    np.testing.assert_allclose(correlation(u, u, grid), 1.0, rtol=1e-12)
    np.testing.assert_allclose(correlation(u, -u, grid), -1.0, rtol=1e-12)
    # <u, low> = |low|^2 and |high|^2 / |low|^2 = 0.25 / 1.
    np.testing.assert_allclose(correlation(u, low, grid), 1 / np.sqrt(1.25), rtol=1e-12)
    np.testing.assert_allclose(correlation(u, low, grid, max_wavenumber=3), 1.0, rtol=1e-12)
    stacked = correlation(jnp.stack([u, u, -u]), jnp.stack([u, low, u]), grid, max_wavenumber=4)
    np.testing.assert_allclose(stacked, [1.0, 1.0, -1.0], rtol=1e-12)
    with pytest.raises(InvalidInputError, match="correlation"):
        correlation(u, u[:, :8], grid)


def test_high_correlation_time():
    t = np.arange(5.0)
    assert high_correlation_time([1.0, 0.99, 0.96, 0.90, 0.5], t) == pytest.approx(2 + 0.01 / 0.06)
    assert high_correlation_time([1.0, 0.99, 0.98, 0.97, 0.96], t) == 4.0
    assert high_correlation_time([0.5, 0.99, 0.98, 0.97, 0.96], t) == 0.0
    assert high_correlation_time([1.0, np.nan, 1.0, 1.0, 1.0], t) == 1.0
    with pytest.raises(InvalidInputError):
        high_correlation_time([1.0, 0.9], t)


def test_energy_spectrum_of_a_single_mode_and_parseval_weights():
    grid = _grid()
    x, y = grid.coordinates()
    m = 3
    omega = jnp.cos(m * x)[None]  # psi = cos(3x)/9, u = (0, sin(3x)/3): mean |u|^2/2 = 1/36
    k, energy = vorticity_energy_spectrum(omega, grid)
    np.testing.assert_allclose(energy[m], 1 / (4 * m**2), rtol=1e-12)
    np.testing.assert_allclose(np.delete(energy, m), 0.0, atol=1e-14)
    assert k[m] == m
    u, v = _u0(1), _u0(2)
    weights = jnp.asarray(rfft_weights(grid))
    parseval = jnp.sum(weights * jnp.real(rfft(u, grid) * jnp.conj(rfft(v, grid)))) / N**2
    np.testing.assert_allclose(parseval, jnp.sum(u * v), rtol=1e-12)
    with pytest.raises(InvalidInputError, match="omega"):
        vorticity_energy_spectrum(omega[0], grid)
