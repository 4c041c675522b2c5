"""Time-stepping scheme objects of the neural-field solvers, each against its definition."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdesolve.neural_fields import (
    AbstractExplicitScheme,
    AbstractImplicitScheme,
    Euler,
    Heun,
    ImplicitEuler,
    ImplicitMidpoint,
)

A = jnp.array([[-1.0, 0.5, 0.0], [0.0, -2.0, 0.3], [0.1, 0.0, -0.5]])
U = jnp.array([1.0, -0.4, 0.7])


def _exact_fit(log):
    """A 'network' that is its values: the fit lands on the target, residual 0.01 * stage, 3 iterations."""

    def fit(state, target, key):
        log.append((target, key))
        return target, jnp.asarray(0.01 * len(log)), jnp.asarray(3)

    return fit


def _advance(scheme, dt=0.1, key=jax.random.PRNGKey(0)):
    log = []
    state, residual, iterations = scheme.advance(U, dt, lambda s: s, lambda s: A @ s, _exact_fit(log), key)
    return state, residual, iterations, log


def test_euler_is_one_fit_to_the_forward_euler_value():
    state, residual, iterations, log = _advance(Euler())
    np.testing.assert_allclose(state, U + 0.1 * A @ U, rtol=1e-15)
    assert len(log) == 1 and residual.tolist() == [0.01] and int(iterations) == 3


def test_heun_fits_the_predictor_then_the_trapezoidal_corrector():
    state, residual, iterations, log = _advance(Heun())
    predictor = U + 0.1 * A @ U
    np.testing.assert_allclose(log[0][0], predictor, rtol=1e-15)
    np.testing.assert_allclose(state, U + 0.05 * (A @ U + A @ predictor), rtol=1e-15)
    # each stage's residual, total inner iterations, and one key per stage
    assert residual.tolist() == [0.01, 0.02] and int(iterations) == 6
    assert not np.array_equal(log[0][1], log[1][1])


def test_heun_is_second_order_and_euler_first_order_on_a_linear_ode():
    """With exact fits the schemes are the classical ones: errors against expm scale as dt^2 and dt^3 per step."""
    exact = jax.scipy.linalg.expm
    for scheme, order in ((Euler(), 1), (Heun(), 2)):
        errors = [float(jnp.linalg.norm(_advance(scheme, dt)[0] - exact(dt * A) @ U)) for dt in (0.02, 0.01)]
        assert errors[0] / errors[1] == pytest.approx(2.0 ** (order + 1), rel=0.1)


def test_one_stage_scheme_draws_the_first_stage_key_of_a_two_stage_one():
    _, _, _, euler = _advance(Euler(), key=jax.random.PRNGKey(3))
    _, _, _, heun = _advance(Heun(), key=jax.random.PRNGKey(3))
    np.testing.assert_array_equal(euler[0][1], heun[0][1])


def test_implicit_schemes_take_the_right_hand_side_at_their_field():
    def u(x):
        return jnp.sin(x[0])

    def u_n(x):
        return jnp.cos(x[0])

    x = jnp.array([0.3])
    assert float(ImplicitEuler().rhs_field(u, u_n)(x)) == float(u(x))
    assert float(ImplicitMidpoint().rhs_field(u, u_n)(x)) == pytest.approx(0.5 * float(u(x) + u_n(x)), rel=1e-15)


def test_scheme_names_and_kinds():
    assert [s.name for s in (Euler(), Heun(), ImplicitEuler(), ImplicitMidpoint())] == [
        "euler", "heun", "implicit_euler", "midpoint"]
    assert all(isinstance(s, AbstractExplicitScheme) for s in (Euler(), Heun()))
    assert all(isinstance(s, AbstractImplicitScheme) for s in (ImplicitEuler(), ImplicitMidpoint()))
    assert (Euler().num_stages, Heun().num_stages) == (1, 2)
