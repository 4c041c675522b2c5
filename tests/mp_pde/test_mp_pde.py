"""Combined equation (E1/E2/E3), the MP-PDE model, its training and its metric (datasets: test_datasets_combined.py)."""

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _training_checks import check_nan_policy, leaves

from pdesolve import InvalidInputError
from pdesolve.datasets import generate_combined_dataset
from pdesolve.metrics import accumulated_error
from pdesolve.mp_pde import (
    MPPDE,
    PushforwardBatch,
    PushforwardLoss,
    PushforwardTrajectories,
    fit_mp_pde,
    radius_graph,
    rollout_mp_pde,
)
from pdesolve.training import NonFiniteLossError, TrainConfig, read_checkpoint_header, train
from pdesolve.integrators import ForcedETDRK4, solve_at_times
from pdesolve.pdes import (
    CombinedEquation,
    CombinedForcing,
    sample_combined_parameters,
    weno5_flux_derivative,
)
from pdesolve.integrators import ETDRK4, rollout
from pdesolve.spatial import PeriodicGrid

L = 16.0


def _forcing(amplitudes, frequencies, phases, wavenumbers):
    return CombinedForcing(np.asarray(amplitudes, float), np.asarray(frequencies, float), np.asarray(phases, float),
                           np.asarray(wavenumbers))


# ----------------------------------------------------------------------------- the equation


def _solve(pde, u0, times, steps_per_save):
    times = np.asarray(times)
    return solve_at_times(ForcedETDRK4(pde, (times[1] - times[0]) / steps_per_save), u0, times, steps_per_save)


def test_linear_forced_case_matches_the_exact_solution():
    """alpha = 0: each forcing mode solves c' = lam c + (A/2i) e^{i(wt+phi)} exactly; lam = -beta k^2 + i gamma k^3."""
    beta, gamma = 0.1, 0.7
    A, w, phi, ell = np.array([0.4, -0.3]), np.array([0.35, -0.2]), np.array([0.3, 2.0]), np.array([1, 2])
    grid = PeriodicGrid(64, extent=L)
    pde = CombinedEquation(grid, 0.0, beta, gamma, _forcing(A, w, phi, ell), flux="spectral")
    times = np.linspace(0.0, 2.0, 11)
    sol = _solve(pde, pde.initial_condition(), times, 4)
    x = np.asarray(grid.axes()[0])
    exact = np.zeros((len(times), x.size))
    for a, om, ph, m in zip(A, w, phi, ell):
        k = 2 * np.pi * m / L
        lam = -beta * k**2 + 1j * gamma * k**3
        c0 = a / (2j) * np.exp(1j * ph)  # u0 = delta(0, x) = 2 Re(c0 e^{ikx})
        c = np.exp(lam * times) * c0 + a / (2j) * np.exp(1j * ph) * (np.exp(1j * om * times) - np.exp(lam * times)) / (1j * om - lam)
        exact += 2 * np.real(c[:, None] * np.exp(1j * k * x[None]))
    err = np.max(np.abs(np.asarray(sol[:, 0]) - exact))
    assert err < 1e-8, err
    # The dispersion sign matters: the exact solution for -gamma is far from ours.
    flipped = np.zeros_like(exact)
    for a, om, ph, m in zip(A, w, phi, ell):
        k = 2 * np.pi * m / L
        lam = -beta * k**2 - 1j * gamma * k**3
        c0 = a / (2j) * np.exp(1j * ph)
        c = np.exp(lam * times) * c0 + c0 * (np.exp(1j * om * times) - np.exp(lam * times)) / (1j * om - lam)
        flipped += 2 * np.real(c[:, None] * np.exp(1j * k * x[None]))
    assert np.max(np.abs(np.asarray(sol[:, 0]) - flipped)) > 1e-2


def test_forcing_time_dependence_is_fourth_order():
    """Stage times are honoured: halving dt cuts the error of a forced linear problem about 16x."""
    grid = PeriodicGrid(32, extent=L)
    pde = CombinedEquation(grid, 0.0, 0.0, 0.0, _forcing([0.5], [0.4], [0.1], [1]), flux="spectral")
    times = np.linspace(0.0, 4.0, 3)
    x = np.asarray(grid.axes()[0])
    k = 2 * np.pi / L
    # u_t = 0.5 sin(0.4 t + kx + 0.1), u0 = 0.5 sin(kx + 0.1)
    exact = 0.5 * np.sin(k * x + 0.1) + 0.5 / 0.4 * (np.cos(k * x + 0.1) - np.cos(0.4 * 4.0 + k * x + 0.1))
    errs = []
    for steps in (2, 4):
        sol = _solve(pde, pde.initial_condition(), times, steps)
        errs.append(np.max(np.abs(np.asarray(sol[-1, 0]) - exact)))
    assert errs[0] / errs[1] > 10, errs


def test_weno5_flux_is_fifth_order_on_smooth_data():
    errs = []
    for n in (32, 64):
        x = np.arange(n) * L / n
        k = 2 * np.pi / L
        u = jnp.asarray(1.0 + 0.5 * np.sin(k * x))
        exact = (1.0 + 0.5 * np.sin(k * x)) * 0.5 * k * np.cos(k * x)  # (u^2/2)_x = u u_x
        errs.append(np.max(np.abs(np.asarray(jax.jit(weno5_flux_derivative, static_argnums=2)(u, 1.0, L / n)) - exact)))
    assert math.log2(errs[0] / errs[1]) > 4.0, errs


def test_weno5_and_spectral_flux_agree_on_a_smooth_viscous_case():
    forcing = _forcing([0.2, -0.15], [0.3, -0.1], [0.5, 1.0], [1, 2])
    times = np.linspace(0.0, 2.0, 3)
    sols = []
    for flux in ("weno5", "spectral"):
        pde = CombinedEquation(PeriodicGrid(64, extent=L), 1.0, 0.1, 0.0, forcing, flux=flux)
        sols.append(np.asarray(_solve(pde, pde.initial_condition(), times, 16)))
    assert np.max(np.abs(sols[0] - sols[1])) < 2e-3, np.max(np.abs(sols[0] - sols[1]))
    assert np.max(np.abs(sols[0][-1] - sols[0][0])) > 0.05  # the solution does move


def test_generic_autonomous_steppers_are_refused():
    pde = CombinedEquation(PeriodicGrid(16, extent=L), 1.0, 0.0, 0.0, _forcing([0.1], [0.1], [0.0], [1]))
    with pytest.raises(InvalidInputError, match="time-dependent forcing"):
        ETDRK4(pde, 0.01)(pde.initial_condition())
    with pytest.raises(InvalidInputError, match="solve_at_times"):
        rollout(ForcedETDRK4(pde, 0.01), pde.initial_condition(), 2)
    stepper = ForcedETDRK4(pde, 0.01)
    assert stepper(pde.initial_condition(), 0.0).shape == (1, 16)


def test_bad_equation_inputs():
    f = _forcing([0.1], [0.1], [0.0], [1])
    with pytest.raises(InvalidInputError, match="flux"):
        CombinedEquation(PeriodicGrid(16, extent=L), 1.0, 0.0, 0.0, f, flux="upwind")
    with pytest.raises(InvalidInputError, match="beta"):
        CombinedEquation(PeriodicGrid(16, extent=L), 1.0, -0.1, 0.0, f)
    with pytest.raises(InvalidInputError, match="extent"):
        CombinedEquation(PeriodicGrid(16, extent=2 * np.pi), 1.0, 0.0, 0.0, f)
    with pytest.raises(InvalidInputError, match="1D"):
        CombinedEquation(PeriodicGrid(8, extent=L, ndim=2), 1.0, 0.0, 0.0, f)
    with pytest.raises(InvalidInputError, match="one length"):
        CombinedForcing([0.1, 0.2], [0.1], [0.0], [1])
    pde = CombinedEquation(PeriodicGrid(16, extent=L), 1.0, 0.0, 0.0, f)
    with pytest.raises(InvalidInputError, match="shape"):
        solve_at_times(ForcedETDRK4(pde, 0.5), jnp.zeros((1, 20)), np.linspace(0, 1, 3), 1)
    with pytest.raises(InvalidInputError, match="uniformly"):
        solve_at_times(ForcedETDRK4(pde, 0.1), jnp.zeros((1, 16)), np.array([0.0, 0.1, 0.5]), 1)
    with pytest.raises(InvalidInputError, match="experiment"):
        sample_combined_parameters(jax.random.PRNGKey(0), "E4")


@pytest.mark.parametrize("experiment", ["E1", "E2", "E3"])
def test_parameter_and_forcing_distributions(experiment):
    draws = [sample_combined_parameters(jax.random.PRNGKey(i), experiment) for i in range(200)]
    A = np.concatenate([d["amplitudes"] for d in draws])
    w = np.concatenate([d["frequencies"] for d in draws])
    phi = np.concatenate([d["phases"] for d in draws])
    ell = np.concatenate([d["wavenumbers"] for d in draws])
    assert A.shape == (1000,) and A.min() >= -0.5 and A.max() <= 0.5 and abs(A.mean()) < 0.03
    assert abs(np.var(A) - 1 / 12) < 0.01  # U[-0.5, 0.5]
    assert w.min() >= -0.4 and w.max() <= 0.4 and abs(w.mean()) < 0.03
    assert phi.min() >= 0 and phi.max() < 2 * np.pi and abs(phi.mean() - np.pi) < 0.2
    assert set(np.unique(ell)) == {1, 2} and 0.4 < np.mean(ell == 1) < 0.6
    alpha, beta, gamma = (np.array([d[k] for d in draws]) for k in ("alpha", "beta", "gamma"))
    if experiment == "E1":
        assert np.all(alpha == 1) and np.all(beta == 0) and np.all(gamma == 0)
    elif experiment == "E2":
        assert np.all(alpha == 1) and np.all(gamma == 0)
        assert beta.min() >= 0 and beta.max() <= 0.2 and beta.max() - beta.min() > 0.15
    else:
        assert alpha.min() >= 0 and alpha.max() <= 6 and alpha.max() - alpha.min() > 5
        assert beta.min() >= 0.1 and beta.max() <= 0.4 and beta.max() - beta.min() > 0.25
        assert gamma.min() >= 0 and gamma.max() <= 1 and gamma.max() - gamma.min() > 0.8


# ----------------------------------------------------------------------------- metric


def test_accumulated_error_matches_numpy():
    rng = np.random.default_rng(0)
    u, ref = rng.normal(size=(4, 7, 9)), rng.normal(size=(4, 7, 9))
    expected = np.array([sum(np.mean((u[b, t] - ref[b, t]) ** 2) for t in range(7)) for b in range(4)])
    np.testing.assert_allclose(np.asarray(accumulated_error(u, ref)), expected, rtol=1e-12)
    with pytest.raises(InvalidInputError, match="one shape"):
        accumulated_error(u, ref[:, :3])


# ----------------------------------------------------------------------------- graph


def test_radius_graph_is_periodic_with_six_neighbours():
    n = 10
    x = np.arange(n) * L / n
    g = radius_graph(x, 3 * L / n, L)
    assert g.senders.shape == (60,) and np.all(np.asarray(g.degree) == 6)
    recv, send = np.asarray(g.receivers), np.asarray(g.senders)
    assert sorted(send[recv == 0].tolist()) == [1, 2, 3, 7, 8, 9]
    offsets = np.asarray(g.offsets)[(recv == 0) & (send == 9)]
    np.testing.assert_allclose(offsets * L, [L / n])  # x_0 - x_9 wrapped: +dx
    assert radius_graph(x, 1 * L / n, L).senders.shape == (20,)
    with pytest.raises(InvalidInputError, match="without neighbours"):
        radius_graph(x, 0.5 * L / n, L)
    with pytest.raises(InvalidInputError, match="lie in"):
        radius_graph(np.array([0.0, 17.0]), 1.0, L)


def test_radius_graph_stencil_on_uniform_grids_only():
    n = 10
    g = radius_graph(np.arange(n) * L / n, 3 * L / n, L)
    assert g.stencil == (1, 2, 3, 7, 8, 9)
    recv, send = np.asarray(g.receivers), np.asarray(g.senders)
    # Edges receiver by receiver, each from (i + s_k) mod n in stencil order.
    np.testing.assert_array_equal(recv, np.repeat(np.arange(n), 6))
    np.testing.assert_array_equal(send, (recv + np.tile(g.stencil, n)) % n)
    # Irregular points: neighbour counts differ from node to node, so there is no stencil.
    x = np.array([0.0, 1.0, 1.5, 2.0, 6.0, 9.0, 12.0, 12.5, 15.0])
    irregular = radius_graph(x, 3.0, L)
    assert irregular.stencil is None and len(set(np.asarray(irregular.degree).tolist())) > 1


def _message_passing_case(n=12, batch=3, hidden=64):
    model = MPPDE(dt=0.1, window=5, hidden=hidden, num_layers=2, key=jax.random.PRNGKey(4))
    x = np.arange(n) * L / n
    graph = radius_graph(x, 3 * L / n, L)
    rng = np.random.default_rng(5)
    u = jnp.asarray(rng.standard_normal((batch, 5, n)))
    t = jnp.asarray(rng.uniform(0, 1, batch))
    theta = jnp.asarray(rng.standard_normal((batch, 3)))
    return model, jnp.asarray(x), graph, (u, t, theta)


def test_stencil_path_equals_the_gather_scatter_path():
    """On a uniform grid the shifted-copy aggregation and segment_sum give the same outputs and gradients."""
    model, x, graph, (u, t, theta) = _message_passing_case()
    general = dataclasses.replace(graph, stencil=None)
    assert graph.stencil is not None and general.stencil is None

    def loss(m, g):
        return jnp.sum(jax.vmap(lambda w, s, th: m(w, s, th, x, g))(u, t, theta) ** 2)

    value, grads = eqx.filter_value_and_grad(loss)(model, graph)
    value_g, grads_g = eqx.filter_value_and_grad(loss)(model, general)
    np.testing.assert_allclose(float(value), float(value_g), rtol=1e-12)
    for a, b in zip(leaves(grads), leaves(grads_g)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)


def test_decoder_matrices_equal_the_convolutions():
    from pdesolve.mp_pde._model import _conv1d_length, _conv1d_matrix

    model = MPPDE(dt=0.1, key=jax.random.PRNGKey(7))
    h = jax.random.normal(jax.random.PRNGKey(8), (1, 128))
    for conv, x in ((model.decoder_conv1, h), (model.decoder_conv2, jax.random.normal(jax.random.PRNGKey(9), (8, 38)))):
        out = _conv1d_length(conv, x.shape[1])
        by_matrix = (x.reshape(-1) @ _conv1d_matrix(conv, x.shape[1])).reshape(conv.weight.shape[0], out)
        np.testing.assert_allclose(np.asarray(by_matrix + conv.bias), np.asarray(conv(x)), rtol=1e-12, atol=1e-12)


def test_edge_offset_vjp_matches_autodiff_under_vmap():
    from pdesolve.mp_pde._model import _add_edge_offsets

    rng = np.random.default_rng(6)
    edge = jnp.asarray(rng.standard_normal((4, 7, 3)))  # [batch, edges, hidden]
    offsets = jnp.asarray(rng.standard_normal(7))
    weight = jnp.asarray(rng.standard_normal(3))
    target = jnp.asarray(rng.standard_normal((4, 7, 3)))

    def loss(add, e, o, w):
        return jnp.sum(jnp.sin(jax.vmap(lambda row: add(row, o, w))(e)) * target)

    plain = lambda e, o, w: e + o[..., None] * w  # noqa: E731
    ours = jax.grad(lambda *a: loss(_add_edge_offsets, *a), argnums=(0, 1, 2))(edge, offsets, weight)
    reference = jax.grad(lambda *a: loss(plain, *a), argnums=(0, 1, 2))(edge, offsets, weight)
    for a, b in zip(ours, reference):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)


# ----------------------------------------------------------------------------- model


@eqx.filter_jit
def _apply(model, u, t, theta, x, graph):
    return model(u, t, theta, x, graph)


def test_paper_model_shapes_and_bundle():
    n = 20
    model = MPPDE(dt=4.0 / 249, key=jax.random.PRNGKey(0))
    x = np.arange(n) * L / n
    g = radius_graph(x, 3 * L / n, L)
    assert model.decoder_linear is None  # Conv1d(1,8,16,s3) -> Conv1d(8,1,14): 128 -> 38 -> 25
    u = jax.random.normal(jax.random.PRNGKey(1), (25, n))
    args = (jnp.asarray(0.5), jnp.array([1.0, 0.1, 0.2]), jnp.asarray(x), g)
    out = _apply(model, u, *args)
    assert out.shape == (25, n) and np.all(np.isfinite(np.asarray(out)))
    # u^{k+l} = u^k + l dt d^l: with the decoder fixed to d = c, the bundle is a linear ramp.
    fixed = eqx.tree_at(lambda m: (m.decoder_conv2.weight, m.decoder_conv2.bias), model,
                        (jnp.zeros_like(model.decoder_conv2.weight), jnp.full_like(model.decoder_conv2.bias, 2.0)))
    ramp = _apply(fixed, u, *args)
    expected = u[-1][None] + 2.0 * (4.0 / 249) * jnp.arange(1, 26)[:, None]
    np.testing.assert_allclose(np.asarray(ramp), np.asarray(expected), rtol=1e-12, atol=1e-12)


def test_translation_equivariance_without_absolute_position():
    """With the x/L encoder input switched off the network commutes with periodic shifts."""
    n, K = 16, 5
    full = MPPDE(dt=0.1, window=K, hidden=64, num_layers=2, key=jax.random.PRNGKey(2))
    w = full.encoder_in.weight.at[:, K].set(0.0)  # column of x/L
    model = eqx.tree_at(lambda m: m.encoder_in.weight, full, w)
    x = np.arange(n) * L / n
    g = radius_graph(x, 3 * L / n, L)
    u = jax.random.normal(jax.random.PRNGKey(3), (K, n))
    args = (jnp.asarray(0.3), jnp.array([1.0, 0.0, 0.0]), jnp.asarray(x), g)
    shifted = _apply(model, jnp.roll(u, 5, axis=1), *args)
    np.testing.assert_allclose(np.asarray(shifted), np.asarray(jnp.roll(_apply(model, u, *args), 5, axis=1)), atol=1e-10)
    # ... and the absolute position does break it when switched on (so the test can fail).
    assert not np.allclose(
        np.asarray(_apply(full, jnp.roll(u, 5, axis=1), *args)), np.asarray(jnp.roll(_apply(full, u, *args), 5, axis=1))
    )


def _toy_data(num_samples=16, num_times=20, n=16, dt=0.1):
    """Travelling waves u = a sin(k(x - c t) + p): learnable, smooth."""
    rng = np.random.default_rng(0)
    x = np.arange(n) * L / n
    t = np.arange(num_times) * dt
    a, c, p = rng.uniform(0.5, 1, (3, num_samples, 1, 1))
    k = 2 * np.pi / L * rng.integers(1, 3, (num_samples, 1, 1))
    u = a * np.sin(k * (x[None, None] - c * t[None, :, None]) + 2 * np.pi * p)
    theta = np.concatenate([c[:, 0], np.zeros((num_samples, 2))], axis=1)
    return u, theta, x, t


def test_tiny_training_reduces_the_loss_and_rollout_shapes():
    u, theta, x, t = _toy_data()
    g = radius_graph(x, 3 * L / 16, L)
    model = MPPDE(dt=0.1, window=5, hidden=64, num_layers=1, t_final=2.0, key=jax.random.PRNGKey(0))
    trained, history = fit_mp_pde(model, u, theta, x, t, g, epochs=2, iterations_per_epoch=30, batch_size=8,
                                  learning_rate=3e-3, key=jax.random.PRNGKey(1))
    losses = np.array(history["loss"])
    assert losses.shape == (60,) and set(history["unroll"][:30]) == {0}  # no pushforward in epoch 0
    assert set(history["unroll"][30:]) == {0, 1}
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5]), (losses[:5], losses[-10:])
    assert history["lr"][-1] == pytest.approx(3e-3 * 0.4)  # x0.4 at epoch max_unroll = 1
    roll = eqx.filter_jit(rollout_mp_pde)  # one compilation for both models
    pred = roll(trained, jnp.asarray(u[:3, 5:10]), jnp.asarray(t[[9, 9, 9]]), jnp.asarray(theta[:3]), jnp.asarray(x), g, 8)
    assert pred.shape == (3, 8, 16)
    err_trained = float(np.mean(accumulated_error(pred, u[:3, 10:18])))
    pred0 = roll(model, jnp.asarray(u[:3, 5:10]), jnp.asarray(t[[9, 9, 9]]), jnp.asarray(theta[:3]), jnp.asarray(x), g, 8)
    assert err_trained < float(np.mean(accumulated_error(pred0, u[:3, 10:18])))


def test_training_input_errors():
    u, theta, x, t = _toy_data(num_samples=4)
    model = MPPDE(dt=0.1, window=5, hidden=64, num_layers=1, key=jax.random.PRNGKey(0))
    g = radius_graph(x, 3 * L / 16, L)
    g_wrong = radius_graph(np.arange(20) * L / 20, 3 * L / 20, L)
    with pytest.raises(InvalidInputError, match="grid mismatch"):
        fit_mp_pde(model, u, theta, x, t, g_wrong, epochs=1, iterations_per_epoch=1)
    bad = u.copy()
    bad[1, 3, 2] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        fit_mp_pde(model, bad, theta, x, t, g, epochs=1, iterations_per_epoch=1)
    with pytest.raises(InvalidInputError, match="time steps"):
        fit_mp_pde(model, u[:, :8], theta, x, t[:8], g, epochs=1, iterations_per_epoch=1)
    with pytest.raises(InvalidInputError, match="theta"):
        fit_mp_pde(model, u, theta[:, :2], x, t, g, epochs=1, iterations_per_epoch=1)
    with pytest.raises(InvalidInputError, match="dt"):
        fit_mp_pde(model, u, theta, x, 2 * t, g, epochs=1, iterations_per_epoch=1)
    with pytest.raises(InvalidInputError, match="window"):
        rollout_mp_pde(model, jnp.asarray(u[:, :4]), jnp.zeros(4), jnp.asarray(theta), jnp.asarray(x), g, 5)
    # One call of the model checks what it is given (these failed inside a matrix product).
    w, x_, th = jnp.asarray(u[0, :5]), jnp.asarray(x), jnp.asarray(theta[0])
    assert model(w, 0.0, th, x_, g).shape == w.shape
    with pytest.raises(InvalidInputError, match=r"u_window must be \[window=5, nx\]"):
        model(w[:4], 0.0, th, x_, g)
    with pytest.raises(InvalidInputError, match="3 PDE parameters"):
        model(w, 0.0, th[:2], x_, g)
    with pytest.raises(InvalidInputError, match="grid mismatch"):
        model(w, 0.0, th, x_, g_wrong)


# ----------------------------------------------------------------------------- training through train()


def _tiny_model(K=2, dtype=None):
    return MPPDE(dt=0.1, window=K, hidden=60, num_layers=1, t_final=2.0, key=jax.random.PRNGKey(0), dtype=dtype)


def test_pushforward_loss_matches_a_hand_written_reference():
    """L = || G(w_r, t_r) - target ||, w_0 = inputs, w_{j+1} = G(w_j, t_j) held constant, per sample by hand."""
    K, n, r, b = 2, 8, 2, 2
    model = _tiny_model(K)
    x = np.arange(n) * L / n
    g = radius_graph(x, 3 * L / n, L)
    rng = np.random.default_rng(0)
    inputs, targets = rng.normal(size=(b, K, n)), rng.normal(size=(b, K, n))
    times, theta = rng.uniform(0, 2, size=(b, r + 1)), rng.normal(size=(b, 3))
    batch = PushforwardBatch(jnp.asarray(inputs), jnp.asarray(targets), jnp.asarray(times), jnp.asarray(theta), r)
    loss = PushforwardLoss(x, g)
    (value, aux), grad = eqx.filter_jit(eqx.filter_value_and_grad(loss, has_aux=True))(model, batch)
    assert int(aux["unroll"]) == r

    def unrolled(m):  # r model applications per sample; application j sees t[s + jK - 1] = times[:, j]
        windows = []
        for i in range(b):
            w = inputs[i]
            for j in range(r):
                w = m(w, times[i, j], theta[i], x, g)
            windows.append(w)
        return windows

    def reference(m, windows):
        return jnp.sqrt(sum(jnp.sum((m(windows[i], times[i, r], theta[i], x, g) - targets[i]) ** 2) for i in range(b)))

    def fixed(m):  # the pushforward: the unrolled windows are constants
        return reference(m, jax.lax.stop_gradient(unrolled(m)))

    expected, expected_grad = eqx.filter_jit(eqx.filter_value_and_grad(fixed))(model)
    np.testing.assert_allclose(float(value), float(expected), rtol=1e-12)
    # The gradient is the reference's with the windows held fixed ...
    for u_, v_ in zip(leaves(grad), leaves(expected_grad)):
        np.testing.assert_allclose(u_, v_, rtol=1e-9, atol=1e-12)
    # ... not the gradient through the unrolls (so this check can fail).
    through = eqx.filter_jit(eqx.filter_grad(lambda m: reference(m, unrolled(m))))(model)
    assert not np.allclose(np.asarray(through.encoder_in.weight), np.asarray(grad.encoder_in.weight))


def test_pushforward_batches_are_the_drawn_windows():
    """Frames encode (sample, frame) so every batch can be decoded and checked against its definition."""
    N, T, n, K, R = 5, 14, 4, 3, 2
    u = 1000.0 * np.arange(N)[:, None, None] + np.arange(T)[None, :, None] + np.zeros(n)
    t, theta = 0.1 * np.arange(T), np.arange(N, dtype=float)[:, None] * np.ones((1, 2))
    x = np.arange(n) * L / n
    g = radius_graph(x, 1.5 * L / n, L)
    splits = (0.6, 0.2, 0.2)  # training samples 0, 1, 2
    config = TrainConfig(epochs=3, batch_size=4, window=K, rollout_steps=K * (R + 1), steps_per_epoch=5, splits=splits)
    data = PushforwardTrajectories(u, theta, t, x, g, splits=splits)
    data.check(config)
    unrolls = []
    for epoch in range(3):
        for batch in data.train_batches(config, epoch):
            r = batch.unrolls
            assert 0 <= r <= min(epoch, R)
            i, s = (batch.inputs[:, 0, 0] // 1000).astype(int), (batch.inputs[:, 0, 0] % 1000).astype(int) + K
            assert set(i) <= {0, 1, 2} and np.all(s >= K) and np.all(s <= T - K * (r + 1))
            frames = np.arange(K)
            np.testing.assert_array_equal(batch.inputs, u[i[:, None], s[:, None] - K + frames])
            np.testing.assert_array_equal(batch.targets, u[i[:, None], s[:, None] + r * K + frames])
            np.testing.assert_array_equal(batch.times, t[s[:, None] + K * np.arange(r + 1) - 1])
            np.testing.assert_array_equal(batch.theta, theta[i])
            unrolls.append(r)
    assert unrolls[:5] == [0] * 5 and set(unrolls[10:]) == {0, 1, 2}
    # A fresh source replays the chains from step 0: epoch 2 alone gives the same batches.
    again = list(PushforwardTrajectories(u, theta, t, x, g, splits=splits).train_batches(config, 2))
    assert [b.unrolls for b in again] == unrolls[10:]
    with pytest.raises(InvalidInputError, match="multiple of window"):
        data.check(TrainConfig(window=3, rollout_steps=4, splits=splits))
    with pytest.raises(InvalidInputError, match="exceed"):
        data.check(TrainConfig(window=3, rollout_steps=12, splits=splits))


def _mp_setup():
    u, theta, x, t = _toy_data(num_samples=6, num_times=12)
    g = radius_graph(x, 3 * L / 16, L)
    config = TrainConfig(epochs=2, steps_per_epoch=3, batch_size=3, learning_rate=1e-3, optimizer="adamw",
                         weight_decay=1e-8, schedule="milestones", milestones=(1,), decay=0.4, window=2,
                         rollout_steps=4, dtype="float64", splits=(1.0, 0.0, 0.0), eval_every=0, checkpoint_every=2)
    return u, theta, x, t, g, config


class _Interrupt(Exception):
    pass


@pytest.mark.slow  # exact resume is train()'s (tests/training, default); a fresh PushforwardTrajectories replays
# its batches from the step alone (test_pushforward_batches_are_the_drawn_windows)
def test_resumed_mp_pde_run_equals_the_uninterrupted_one(tmp_path):
    u, theta, x, t, g, config = _mp_setup()
    loss = PushforwardLoss(x, g)
    full = train(_tiny_model(), PushforwardTrajectories(u, theta, t, x, g), config, loss=loss, progress=False,
                 evaluate_test=False, figures=False)
    assert [h["train_unroll"] for h in full.history][0] == 0  # no pushforward in epoch 0

    def stop_at_5(step, record):
        if step == 5:
            raise _Interrupt

    ckpt = tmp_path / "mp.eqx"
    with pytest.raises(_Interrupt):
        train(_tiny_model(), PushforwardTrajectories(u, theta, t, x, g), config, checkpoint=ckpt, loss=loss,
              progress=False, on_step=stop_at_5, evaluate_test=False, figures=False)
    assert read_checkpoint_header(ckpt)["step"] == 4  # inside epoch 2
    resumed = train(_tiny_model(), PushforwardTrajectories(u, theta, t, x, g), config, checkpoint=ckpt, resume=True,
                    loss=loss, progress=False, evaluate_test=False, figures=False)
    for a, b in zip(leaves(full.model), leaves(resumed.model)):
        np.testing.assert_array_equal(a, b)
    assert resumed.history == [dict(h, seconds=r["seconds"]) for h, r in zip(full.history, resumed.history)]


@pytest.mark.slow  # the same train() NaN policy: test_nan_policy_keeps_the_last_parameters_with_a_finite_loss
# (tests/training) and test_nan_loss_stops_and_keeps_last_good_checkpoint (neural ODE) stay default
def test_mp_pde_nan_stop_keeps_the_last_good_parameters(tmp_path):
    u, theta, x, t, g, config = _mp_setup()
    check_nan_policy(_tiny_model, PushforwardTrajectories(u, theta, t, x, g), config, tmp_path,
                     loss=PushforwardLoss(x, g))


def test_mp_pde_evaluation_scores_the_rollout():
    u, theta, x, t, g, config = _mp_setup()
    data = PushforwardTrajectories(u, theta, t, x, g, splits=(0.5, 0.0, 0.5))
    model = _tiny_model()
    metrics = data.evaluate(model, "test", config)
    pred = rollout_mp_pde(model, jnp.asarray(u[3:, :2]), jnp.full(3, t[1]), jnp.asarray(theta[3:]), jnp.asarray(x),
                          g, 10)
    truth = u[3:, 2:]
    rel = np.mean([np.linalg.norm(pred[b] - truth[b]) / np.linalg.norm(truth[b]) for b in range(3)])
    np.testing.assert_allclose(metrics["rollout_rel_l2"], rel, rtol=1e-10)
    np.testing.assert_allclose(metrics["accumulated_error"], float(np.mean(accumulated_error(pred, truth))), rtol=1e-10)
    assert (metrics["samples"], metrics["rollout_steps"]) == (3, 10)


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_the_checkpoint(tmp_path):
    u, theta, x, t = _toy_data(num_samples=4)
    g = radius_graph(x, 3 * L / 16, L)
    huge = MPPDE(dt=0.1, window=5, hidden=64, num_layers=1, key=jax.random.PRNGKey(0), dtype=jnp.float32)
    ckpt = str(tmp_path / "mp.eqx")
    with pytest.raises(NonFiniteLossError, match="step 1") as info:
        fit_mp_pde(huge, u * 1e30, theta, x, t, g, epochs=1, iterations_per_epoch=2, checkpoint=ckpt)
    # No parameters gave a finite loss yet, so no checkpoint is written (see the NaN policy test below).
    assert info.value.checkpoint is None and not (tmp_path / "mp.eqx").exists()


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return generate_combined_dataset(str(tmp_path_factory.mktemp("combined")), "E3", 3, split="test", seed=5,
                                     resolutions=(40, 20), solve_resolution=40, num_times=11, batch_size=2)


@pytest.mark.slow
def test_cli_train_mp_pde(tiny_dataset, tmp_path, capsys):
    import json

    from pdesolve.cli._main import main

    out = tmp_path / "run"
    code = main(["train", "mp-pde", "--data", tiny_dataset[20], "--out", str(out), "--window", "2",
                 "--rollout-steps", "4", "--batch-size", "1", "--epochs", "2", "--splits", "0.34,0.33,0.33",
                 "--hidden", "64", "--layers", "1", "--frame-dt", "0.2", "--t-final", "2", "--no-figures",
                 "--json", "--optimizer", "adamw", "--lr", "1e-3"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["steps"] == 2 and math.isfinite(payload["metrics"]["rollout_rel_l2"])
    assert (out / "checkpoint.eqx").exists()
    with pytest.raises(SystemExit):
        main(["train", "mp-pde", "--data", tiny_dataset[20], "--window", "2", "--rollout-steps", "3", "--hidden", "x"])
    code = main(["train", "mp-pde", "--data", tiny_dataset[20], "--out", str(tmp_path / "r2"), "--window", "2",
                 "--rollout-steps", "3", "--batch-size", "1", "--epochs", "1", "--splits", "0.34,0.33,0.33",
                 "--hidden", "64", "--layers", "1", "--no-figures", "--no-progress"])
    assert code == 2  # rollout-steps not a multiple of the window: a one-line error
