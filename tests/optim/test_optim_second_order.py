"""Second-order and multi-loss optimisers of pdesolve.optim.

Gauss-Newton / Levenberg-Marquardt, natural-gradient projection, energy natural gradient,
ConFIG and UPGrad, checked against numpy references.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from pdesolve._errors import InvalidInputError
from pdesolve.optim._energy_natural_gradient import energy_natural_gradient
from pdesolve.optim import GeodesicAcceleration
from pdesolve.optim._gauss_newton import (
    gauss_newton,
    least_squares_solve,
    levenberg_marquardt,
    scale_by_gauss_newton,
)
from pdesolve.optim._multi_loss import (
    _box_qp_active_set,
    config,
    config_aggregator,
    scale_by_config,
    scale_by_upgrad,
    upgrad,
    upgrad_aggregator,
    upgrad_direction,
)
from pdesolve.optim._natural_gradient import (
    natural_gradient_projection,
    tangent_space_projection,
)

# ---------------------------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------------------------


def rosenbrock_residuals(params):
    """Extended Rosenbrock as residuals: r = [10 (x_{k+1} - x_k^2), 1 - x_k]; minimum at 1."""
    x = params["x"]
    return {"curve": 10.0 * (x[1:] - x[:-1] ** 2), "line": 1.0 - x[:-1]}


ROSENBROCK_START = {"x": jnp.array([-1.2, 1.0, -1.2, 1.0, -1.2, 1.0])}

FIT_X = jnp.linspace(0.0, 3.0, 40)
FIT_TRUE = {"decay": jnp.array([2.0, 1.3]), "wave": jnp.array([0.7, 2.1])}
FIT_START = {"decay": jnp.array([1.7, 1.0]), "wave": jnp.array([0.9, 1.9])}


def fit_model(params, x):
    a, b = params["decay"]
    c, d = params["wave"]
    return a * jnp.exp(-b * x) + c * jnp.sin(d * x)


def fit_residuals(params):
    """Noiseless fit of a exp(-b x) + c sin(d x)."""
    return fit_model(params, FIT_X) - fit_model(FIT_TRUE, FIT_X)


def residual_norm(residual_fn, params):
    return float(jnp.linalg.norm(ravel_pytree(residual_fn(params))[0]))


# ---------------------------------------------------------------------------------------------
# Gauss-Newton / Levenberg-Marquardt
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("gauss_newton", {"solver": "dense"}),
        ("gauss_newton", {"solver": "cg"}),
        ("levenberg_marquardt", {}),
    ],
)
def test_gauss_newton_and_lm_solve_rosenbrock(method, options):
    # Measured: ||r|| <= 1e-10 first at step 10 (GN dense and CG) and 19 (LM); 0.0 at step 30.
    _, norm = least_squares_solve(rosenbrock_residuals, ROSENBROCK_START, 30, method, **options)
    assert float(norm) <= 1e-10


def test_adam_stalls_on_rosenbrock_with_100x_steps():
    # 30 second-order steps vs 3000 Adam steps. Measured ||r|| after 3000 Adam steps:
    # 2.4 (lr 1e-3), 1.3 (1e-2), 2.4e-2 (3e-2), 2.1e-2 (0.1), 9.8e-3 (0.3).
    norms = [
        float(least_squares_solve(rosenbrock_residuals, ROSENBROCK_START, 3000, optax.adam(lr))[1])
        for lr in (1e-3, 1e-2, 3e-2, 1e-1, 3e-1)
    ]
    assert min(norms) > 1e-4


def test_line_searched_gauss_newton_converges_where_full_steps_diverge():
    """Newton on arctan(x) = 0 from x0 = 2 overshoots further every step (|x| > 1.39 diverges);
    the backtracking line search keeps the direction and converges quadratically."""
    residuals = lambda x: jnp.arctan(x)  # noqa: E731
    start = jnp.array([2.0])
    _, plain = least_squares_solve(residuals, start, 4, "gauss_newton")
    assert float(plain) > float(jnp.arctan(2.0))  # the full steps diverge
    x, searched = least_squares_solve(residuals, start, 12, "gauss_newton", max_backtracking_steps=20)
    assert float(searched) <= 1e-12 and abs(float(x[0])) <= 1e-12
    _, fit = least_squares_solve(fit_residuals, FIT_START, 12, "gauss_newton", max_backtracking_steps=20)
    assert float(fit) <= 1e-10
    with pytest.raises(InvalidInputError, match="either learning_rate or max_backtracking_steps"):
        gauss_newton(learning_rate=0.5, max_backtracking_steps=10)
    with pytest.raises(InvalidInputError, match="max_backtracking_steps must be a positive integer"):
        gauss_newton(max_backtracking_steps=0)


def test_least_squares_solve_feeds_line_search_optimizers():
    """optax.lbfgs needs value, grad and value_fn as extra arguments; least_squares_solve gives them."""
    _, norm = least_squares_solve(fit_residuals, FIT_START, 60, optax.lbfgs())
    assert float(norm) < 1e-3 * residual_norm(fit_residuals, FIT_START)


@pytest.mark.parametrize("method", ["gauss_newton", "levenberg_marquardt"])
def test_curve_fit_converges(method):
    params, norm = least_squares_solve(fit_residuals, FIT_START, 12, method)
    assert float(norm) <= 1e-10
    for leaf, true in zip(jax.tree.leaves(params), jax.tree.leaves(FIT_TRUE)):
        np.testing.assert_allclose(leaf, true, rtol=1e-10)


@pytest.mark.parametrize("method", ["gauss_newton", "levenberg_marquardt"])
def test_user_jacobian_gives_the_same_iterates(method):
    """A supplied dense Jacobian replaces jax.jacfwd; a half-size (wrong) one changes the result,
    so the supplied function is really used; a mis-shaped one is a clear error."""
    _, unravel = ravel_pytree(FIT_START)

    def jacobian(params):
        flat, _ = ravel_pytree(params)
        return jax.jacfwd(lambda x: fit_residuals(unravel(x)))(flat)

    auto, n_auto = least_squares_solve(fit_residuals, FIT_START, 4, method)
    given, n_given = least_squares_solve(fit_residuals, FIT_START, 4, method, jacobian_fn=jacobian)
    for a, b in zip(jax.tree.leaves(auto), jax.tree.leaves(given)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    _, n_wrong = least_squares_solve(fit_residuals, FIT_START, 4, method, jacobian_fn=lambda p: 0.5 * jacobian(p))
    assert abs(float(n_wrong) - float(n_given)) > 1e-6
    with pytest.raises(InvalidInputError, match="jacobian_fn must return shape"):
        least_squares_solve(fit_residuals, FIT_START, 1, method, jacobian_fn=lambda p: jacobian(p)[:, :1])


@pytest.mark.parametrize("damping", [0.0, 0.3])
def test_one_step_dense_cg_and_numpy_agree(damping):
    flat, unravel = ravel_pytree(FIT_START)
    jac = np.asarray(jax.jacfwd(lambda x: fit_residuals(unravel(x)))(flat))
    r = np.asarray(fit_residuals(FIT_START))
    augmented = np.vstack([jac, np.sqrt(damping) * np.eye(flat.size)])
    rhs = np.concatenate([-r, np.zeros(flat.size)])
    expected = np.linalg.lstsq(augmented, rhs, rcond=None)[0]

    steps = {}
    for solver in ("dense", "cg"):
        tx = scale_by_gauss_newton(damping=damping, solver=solver, cg_rtol=1e-13)
        update, state = jax.jit(lambda p, s, tx=tx: tx.update(p, s, p, residual_fn=fit_residuals))(
            FIT_START, tx.init(FIT_START)
        )
        steps[solver] = np.asarray(ravel_pytree(update)[0])
        assert int(state.count) == 1
        np.testing.assert_allclose(float(state.residual_norm), np.linalg.norm(r), rtol=1e-12)
    np.testing.assert_allclose(steps["dense"], expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(steps["cg"], expected, rtol=1e-7, atol=1e-10)


def test_gauss_newton_rank_deficient_gives_minimum_norm_step():
    # r(a, b) = (a + b) - 1 at 0: every a + b = 1 solves; the minimum-norm step is (1/2, 1/2).
    def residual_fn(p):
        return jnp.stack([p["a"] + p["b"] - 1.0, 2.0 * (p["a"] + p["b"] - 1.0)])

    params = {"a": jnp.zeros(()), "b": jnp.zeros(())}
    for solver in ("dense", "cg"):
        tx = gauss_newton(solver=solver)
        update, _ = tx.update(params, tx.init(params), params, residual_fn=residual_fn)
        np.testing.assert_allclose([update["a"], update["b"]], [0.5, 0.5], rtol=1e-10)


def test_levenberg_marquardt_rejects_bad_step_then_converges():
    # r(b) = atan(b): the Gauss-Newton (Newton) step from b = 2 overshoots to b ~ -3.5, where
    # |r| is larger. With tiny damping LM must reject it, return a zero update and raise lambda.
    def residual_fn(p):
        return jnp.atleast_1d(jnp.arctan(p["b"]))

    params = {"b": jnp.asarray(2.0)}
    tx = levenberg_marquardt(initial_damping=1e-12, increase=10.0, decrease=0.1)
    state = tx.init(params)
    update, state = tx.update(params, state, params, residual_fn=residual_fn)
    assert not bool(state.accepted)
    assert float(update["b"]) == 0.0
    np.testing.assert_allclose(float(state.damping), 1e-11)
    np.testing.assert_allclose(float(state.residual_norm), np.arctan(2.0))

    step = jax.jit(lambda p, s: tx.update(p, s, p, residual_fn=residual_fn))
    norms = [np.arctan(2.0)]
    for _ in range(40):
        update, state = step(params, state)
        params = optax.apply_updates(params, update)
        norms.append(residual_norm(residual_fn, params))
    assert all(b <= a for a, b in zip(norms, norms[1:]))  # monotone: bad steps are rejected
    assert norms[-1] <= 1e-10


def steep_rosenbrock_residuals(x):
    """Rosenbrock with a narrow valley: r = [1000 (x_1 - x_0^2), 1 - x_0]; minimum at (1, 1)."""
    return jnp.stack([1000.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


@pytest.mark.parametrize(
    "acceleration", [GeodesicAcceleration(), GeodesicAcceleration(step=None)], ids=["fd", "exact"]
)
@pytest.mark.parametrize("solver", ["dense", "cg"])
def test_geodesic_lm_follows_a_curved_valley_where_plain_lm_crawls(acceleration, solver):
    # Measured from (-1.2, 1): plain LM is still 0.92 from the minimiser after 200 steps (1.1
    # after 100); with geodesic acceleration ||x - 1|| = 0 and ||r|| = 0 after 100 steps.
    start = jnp.array([-1.2, 1.0])
    plain, plain_norm = least_squares_solve(steep_rosenbrock_residuals, start, 200, "levenberg_marquardt")
    assert float(jnp.max(jnp.abs(plain - 1.0))) > 0.5 and float(plain_norm) > 0.5
    x, norm = least_squares_solve(
        steep_rosenbrock_residuals, start, 100, "levenberg_marquardt", solver=solver,
        acceleration=acceleration,
    )
    np.testing.assert_allclose(np.asarray(x), [1.0, 1.0], rtol=0, atol=1e-10)
    assert float(norm) <= 1e-10


def test_geodesic_second_derivative_exact_on_a_quadratic_residual():
    # r(x) = [x0^2 - 3 x0 x1, x0 x1 - x1^2]: r_vv = [2 v0^2 - 6 v0 v1, 2 v0 v1 - 2 v1^2], and the
    # finite difference is exact for a quadratic (up to rounding), whatever the step h. On the
    # cubic x0^2 x1 the exact path gives 2 v0^2 x1 + 4 x0 v0 v1.
    def residual(x):
        return jnp.stack([x[0] ** 2 - 3 * x[0] * x[1], x[0] * x[1] - x[1] ** 2, x[0] ** 2 * x[1]])

    x, v = jnp.array([0.7, -1.3]), jnp.array([0.4, 0.9])
    expected = [2 * 0.16 - 6 * 0.36, 2 * 0.36 - 2 * 0.81, 2 * 0.16 * -1.3 + 4 * 0.7 * 0.4 * 0.9]
    r, jv = jax.jvp(residual, (x,), (v,))
    for accel in (GeodesicAcceleration(), GeodesicAcceleration(step=1.0)):
        rvv = accel.second_derivative(residual, x, v, r, jv)
        np.testing.assert_allclose(np.asarray(rvv)[:2], expected[:2], rtol=1e-12)
    rvv = GeodesicAcceleration(step=None).second_derivative(residual, x, v, r, jv)
    np.testing.assert_allclose(np.asarray(rvv), expected, rtol=1e-14)


def test_geodesic_lm_step_matches_numpy():
    # One accepted update is v + a/2 with v = -(J^T J + lam I)^{-1} J^T r and
    # a = -(J^T J + lam I)^{-1} J^T r_vv (exact r_vv), computed here in numpy.
    params = FIT_START
    x0, unravel = ravel_pytree(params)
    flat = lambda x: fit_residuals(unravel(x))  # noqa: E731
    lam = 1e-2
    tx = levenberg_marquardt(initial_damping=lam, acceleration=GeodesicAcceleration(step=None))
    update, state = tx.update(params, tx.init(params), params, residual_fn=fit_residuals)
    assert bool(state.accepted)
    jac = np.asarray(jax.jacfwd(flat)(x0))
    r = np.asarray(flat(x0))
    normal = jac.T @ jac + lam * np.eye(x0.size)
    v = -np.linalg.solve(normal, jac.T @ r)
    rvv = np.asarray(jax.jvp(lambda y: jax.jvp(flat, (y,), (jnp.asarray(v),))[1], (x0,), (jnp.asarray(v),))[1])
    a = -np.linalg.solve(normal, jac.T @ rvv)
    np.testing.assert_allclose(np.asarray(ravel_pytree(update)[0]), v + a / 2, rtol=1e-9)
    np.testing.assert_allclose(float(state.damping), lam * 0.1)
    np.testing.assert_allclose(float(state.residual_norm), np.linalg.norm(flat(x0 + v + a / 2)), rtol=1e-12)


def test_geodesic_lm_rejects_a_large_correction():
    # With alpha tiny, ||a|| <= alpha ||v|| fails on a curved problem: zero update, lambda grows,
    # the cost is kept.
    params = FIT_START
    tx = levenberg_marquardt(initial_damping=1e-2, increase=10.0,
                             acceleration=GeodesicAcceleration(max_ratio=1e-12))
    update, state = tx.update(params, tx.init(params), params, residual_fn=fit_residuals)
    assert not bool(state.accepted)
    assert all(float(jnp.max(jnp.abs(u))) == 0.0 for u in jax.tree.leaves(update))
    np.testing.assert_allclose(float(state.damping), 1e-1)
    np.testing.assert_allclose(float(state.residual_norm), residual_norm(fit_residuals, params), rtol=1e-14)


def test_geodesic_acceleration_bad_arguments():
    with pytest.raises(InvalidInputError, match="max_ratio must be a number > 0"):
        GeodesicAcceleration(max_ratio=0.0)
    with pytest.raises(InvalidInputError, match="step must be a number > 0 or None"):
        GeodesicAcceleration(step=-0.1)
    with pytest.raises(InvalidInputError, match="acceleration must be None or a GeodesicAcceleration"):
        levenberg_marquardt(acceleration="geodesic")


def test_gauss_newton_pytree_dtypes_and_jit():
    params = {
        "decay": FIT_START["decay"].astype(jnp.float32),
        "wave": (FIT_START["wave"][0], FIT_START["wave"][1].astype(jnp.float32)),
    }

    def residual_fn(p):
        return fit_residuals({"decay": p["decay"], "wave": jnp.stack(p["wave"])})

    for tx in (gauss_newton(), gauss_newton(solver="cg"), levenberg_marquardt()):
        update, _ = jax.jit(lambda p, s, tx=tx: tx.update(p, s, p, residual_fn=residual_fn))(
            params, tx.init(params)
        )
        assert jax.tree.structure(update) == jax.tree.structure(params)
        for u, p in zip(jax.tree.leaves(update), jax.tree.leaves(params)):
            assert u.dtype == p.dtype and u.shape == p.shape


def test_float32_gauss_newton_converges_to_float32_precision():
    params = jax.tree.map(lambda x: x.astype(jnp.float32), FIT_START)

    def residual_fn(p):
        return fit_model(p, FIT_X.astype(jnp.float32)) - fit_model(FIT_TRUE, FIT_X).astype(
            jnp.float32
        )

    out, norm = least_squares_solve(residual_fn, params, 10, "gauss_newton", solver="cg")
    assert out["decay"].dtype == jnp.float32
    assert float(norm) < 1e-4


def test_gauss_newton_bad_arguments():
    with pytest.raises(ValueError, match="damping"):
        gauss_newton(damping=-1.0)
    with pytest.raises(ValueError, match="solver"):
        gauss_newton(solver="qr")
    with pytest.raises(InvalidInputError, match="cg_max_steps"):
        gauss_newton(cg_max_steps=0)
    with pytest.raises(ValueError, match="increase"):
        levenberg_marquardt(increase=0.5)
    with pytest.raises(ValueError, match="decrease"):
        levenberg_marquardt(decrease=2.0)
    with pytest.raises(ValueError, match="initial_damping"):
        levenberg_marquardt(initial_damping=0.0)
    with pytest.raises(ValueError, match="method"):
        least_squares_solve(fit_residuals, FIT_START, 3, method="newton")
    tx = gauss_newton()
    with pytest.raises(ValueError, match="residual_fn"):
        tx.update(FIT_START, tx.init(FIT_START), FIT_START)


# ---------------------------------------------------------------------------------------------
# Natural-gradient projection
# ---------------------------------------------------------------------------------------------

NUM_MODES = 4
NG_POINTS = jnp.linspace(0.0, 1.0, 37)


def fourier_model(params, x):
    k = jnp.arange(1, NUM_MODES + 1)
    return (
        params["bias"]
        + params["cos"] @ jnp.cos(2 * jnp.pi * k * x)
        + params["sin"] @ jnp.sin(2 * jnp.pi * k * x)
    )


def fourier_features(x):
    k = np.arange(1, NUM_MODES + 1)
    x = np.asarray(x)[:, None]
    # Column order of ravel_pytree on {"bias", "cos", "sin"} (sorted keys).
    return np.hstack([np.ones_like(x), np.cos(2 * np.pi * k * x), np.sin(2 * np.pi * k * x)])


NG_PARAMS = {
    "bias": jnp.asarray(0.1),
    "cos": jnp.linspace(-0.5, 0.5, NUM_MODES),
    "sin": jnp.linspace(0.3, -0.2, NUM_MODES),
}


def _weighted_lstsq(phi, rhs, weights, ridge=0.0):
    a = np.sqrt(weights)[:, None] * phi
    b = np.sqrt(weights) * rhs
    return np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ b)


def test_projection_matches_weighted_lstsq_on_linear_model():
    rng = np.random.default_rng(0)
    delta_u = rng.normal(size=NG_POINTS.shape)
    weights = rng.uniform(0.2, 2.0, size=NG_POINTS.shape)
    phi = fourier_features(NG_POINTS)

    got = jax.jit(tangent_space_projection, static_argnums=0)(
        fourier_model, NG_PARAMS, NG_POINTS, delta_u, weights
    )
    expected = _weighted_lstsq(phi, delta_u, weights)
    np.testing.assert_allclose(ravel_pytree(got)[0], expected, rtol=1e-10)
    # Weights matter: the unweighted projection differs.
    unweighted = tangent_space_projection(fourier_model, NG_PARAMS, NG_POINTS, delta_u)
    np.testing.assert_allclose(
        ravel_pytree(unweighted)[0],
        _weighted_lstsq(phi, delta_u, np.ones_like(weights)),
        rtol=1e-10,
    )
    assert not np.allclose(ravel_pytree(unweighted)[0], ravel_pytree(got)[0], rtol=1e-3)
    # Ridge.
    ridged = tangent_space_projection(
        fourier_model, NG_PARAMS, NG_POINTS, delta_u, weights, ridge=0.5
    )
    np.testing.assert_allclose(
        ravel_pytree(ridged)[0], _weighted_lstsq(phi, delta_u, weights, ridge=0.5), rtol=1e-10
    )


def test_projection_on_random_parameter_subset():
    rng = np.random.default_rng(1)
    delta_u = rng.normal(size=NG_POINTS.shape)
    weights = rng.uniform(0.2, 2.0, size=NG_POINTS.shape)
    phi = fourier_features(NG_POINTS)
    project = jax.jit(
        functools.partial(tangent_space_projection, fourier_model), static_argnames="subset_size"
    )
    seen = set()
    for seed in range(4):
        got = project(
            NG_PARAMS, NG_POINTS, delta_u, weights, subset_size=4, key=jax.random.PRNGKey(seed)
        )
        flat = np.asarray(ravel_pytree(got)[0])
        subset = np.flatnonzero(flat)
        assert subset.size == 4  # zero off the subset (generic data: nonzero on it)
        expected = _weighted_lstsq(phi[:, subset], delta_u, weights)
        np.testing.assert_allclose(flat[subset], expected, rtol=1e-10)
        seen.add(tuple(subset))
    assert len(seen) > 1  # different keys draw different subsets
    # A "subset" of all parameters is a permutation: same as the full projection.
    everything = project(
        NG_PARAMS, NG_POINTS, delta_u, weights, subset_size=9, key=jax.random.PRNGKey(0)
    )
    np.testing.assert_allclose(
        ravel_pytree(everything)[0], _weighted_lstsq(phi, delta_u, weights), rtol=1e-10
    )


def test_projection_vector_output_and_bad_shapes():
    def model(params, x):
        return jnp.stack([fourier_model(params, x), 2.0 * fourier_model(params, x) + x])

    rng = np.random.default_rng(2)
    delta_u = rng.normal(size=(NG_POINTS.size, 2))
    phi = fourier_features(NG_POINTS)
    stacked = np.stack([phi, 2.0 * phi], axis=1).reshape(-1, phi.shape[1])
    got = tangent_space_projection(model, NG_PARAMS, NG_POINTS, delta_u)
    expected = np.linalg.lstsq(stacked, delta_u.ravel(), rcond=None)[0]
    np.testing.assert_allclose(ravel_pytree(got)[0], expected, rtol=1e-10)

    with pytest.raises(ValueError, match="delta_u"):
        tangent_space_projection(model, NG_PARAMS, NG_POINTS, delta_u[:, 0])
    with pytest.raises(ValueError, match="weights"):
        tangent_space_projection(model, NG_PARAMS, NG_POINTS, delta_u, weights=jnp.ones(3))
    with pytest.raises(ValueError, match="key"):
        tangent_space_projection(model, NG_PARAMS, NG_POINTS, delta_u, subset_size=2)
    with pytest.raises(ValueError, match="exceeds"):
        tangent_space_projection(
            model, NG_PARAMS, NG_POINTS, delta_u, subset_size=100, key=jax.random.PRNGKey(0)
        )
    with pytest.raises(ValueError, match="subset_size"):
        natural_gradient_projection(subset_size=0)


def test_natural_gradient_transform_reaches_target():
    target_params = jax.tree.map(lambda x: x + 0.3, NG_PARAMS)
    target = jax.vmap(lambda x: fourier_model(target_params, x))(NG_POINTS)
    tx = natural_gradient_projection()

    @jax.jit
    def step(params, state):
        update, state = tx.update(
            params, state, params, apply_fn=fourier_model, points=NG_POINTS, target=target
        )
        return optax.apply_updates(params, update), state

    params, state = step(NG_PARAMS, tx.init(NG_PARAMS))
    # Linear model: one projection step lands on the target exactly.
    for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(target_params)):
        np.testing.assert_allclose(got, want, rtol=1e-10)
    assert int(state.count) == 1


def test_natural_gradient_transform_nonlinear_model():
    # u = sum_k a_k tanh(w_k x + c_k): repeated projections (the TENG inner loop, a Gauss-Newton
    # iteration) fit a reachable target; "c" is float32 and stays float32.
    def model(p, x):
        return jnp.sum(p["a"] * jnp.tanh(p["w"] * x + p["c"]))

    truth = {
        "a": jnp.array([1.0, -0.5, 0.8]),
        "w": jnp.array([2.0, -1.0, 3.0]),
        "c": jnp.array([0.1, 0.2, -0.3], jnp.float32),
    }
    params = {"a": truth["a"] + 0.05, "w": truth["w"] - 0.05, "c": truth["c"] * 0.9}
    target = jax.vmap(lambda x: model(truth, x))(NG_POINTS)
    tx = natural_gradient_projection()

    @jax.jit
    def run(params):
        def body(carry, _):
            p, s = carry
            u, s = tx.update(p, s, p, apply_fn=model, points=NG_POINTS, target=target)
            return (optax.apply_updates(p, u), s), None

        (p, _), _ = jax.lax.scan(body, (params, tx.init(params)), None, length=10)
        return p

    out = run(params)
    assert out["c"].dtype == jnp.float32 and out["a"].dtype == jnp.float64
    misfit = jax.vmap(lambda x: model(out, x))(NG_POINTS) - target
    # Measured: 1e-2 -> ~1e-12 (float32 "c" limits it) in 10 steps.
    assert float(jnp.max(jnp.abs(misfit))) < 1e-9


# ---------------------------------------------------------------------------------------------
# Energy natural gradient
# ---------------------------------------------------------------------------------------------


def _init_mlp(key, widths):
    layers = []
    keys = jax.random.split(key, len(widths) - 1)
    for k, n_in, n_out in zip(keys, widths[:-1], widths[1:]):
        weight = jax.random.normal(k, (n_out, n_in)) / np.sqrt(n_in)
        layers.append({"w": weight, "b": jnp.zeros(n_out)})
    return layers


def _mlp(params, x):
    h = jnp.atleast_1d(x)
    for layer in params[:-1]:
        h = jnp.tanh(layer["w"] @ h + layer["b"])
    return (params[-1]["w"] @ h + params[-1]["b"])[0]


PINN_POINTS = (jnp.arange(30) + 0.5) / 30


def poisson_residuals(params):
    """u'' = -pi^2 sin(pi x) on (0, 1), u(0) = u(1) = 0 (solution sin(pi x)); weighted residuals."""
    upp = jax.vmap(jax.grad(jax.grad(lambda x: _mlp(params, x))))(PINN_POINTS)
    interior = (upp + jnp.pi**2 * jnp.sin(jnp.pi * PINN_POINTS)) / np.sqrt(PINN_POINTS.size)
    boundary = jnp.stack([_mlp(params, 0.0), _mlp(params, 1.0)])
    return {"interior": interior, "boundary": boundary}


def _pinn_loss(params):
    return 0.5 * jnp.sum(ravel_pytree(poisson_residuals(params))[0] ** 2)


def test_energy_natural_gradient_solves_poisson_pinn():
    params = _init_mlp(jax.random.PRNGKey(0), [1, 16, 1])
    tx = energy_natural_gradient()

    @jax.jit
    def run(params):
        def body(carry, _):
            p, s = carry
            u, s = tx.update(p, s, p, residual_fn=poisson_residuals)
            return (optax.apply_updates(p, u), s), s.loss

        (p, _), losses = jax.lax.scan(body, (params, tx.init(params)), None, length=30)
        return p, losses

    out, losses = run(params)
    initial = float(_pinn_loss(params))
    final = float(_pinn_loss(out))
    # Measured: 27.5 -> 2.3e-5 (step 9) -> 8.2e-14 (step 12, then no further decrease);
    # max |u - sin(pi x)| = 6.5e-10.
    losses = np.asarray(losses)
    assert np.all(losses[1:] <= losses[:-1] * (1 + 1e-9))  # monotone up to rounding
    np.testing.assert_allclose(float(losses[-1]), final, rtol=1e-6, atol=1e-20)
    assert final < 1e-8 * initial
    xs = jnp.linspace(0.0, 1.0, 41)
    error = jnp.max(jnp.abs(jax.vmap(lambda x: _mlp(out, x))(xs) - jnp.sin(jnp.pi * xs)))
    assert float(error) < 1e-6


def test_energy_natural_gradient_direction_is_gauss_newton_and_line_search_picks_best():
    # On a residual that is linear in the parameters, G^+ grad L is the exact minimiser: eta = 1.
    phi = jnp.asarray(fourier_features(NG_POINTS))
    data = jnp.sin(3.0 * NG_POINTS)

    def residual_fn(p):
        return phi @ ravel_pytree(p)[0] - data

    tx = energy_natural_gradient(line_search_batch_size=8)
    update, state = tx.update(NG_PARAMS, tx.init(NG_PARAMS), NG_PARAMS, residual_fn=residual_fn)
    expected = np.linalg.lstsq(np.asarray(phi), np.asarray(data), rcond=None)[0]
    np.testing.assert_allclose(
        ravel_pytree(optax.apply_updates(NG_PARAMS, update))[0], expected, rtol=1e-8
    )
    assert float(state.step_size) == 1.0
    # float32 parameters stay float32.
    params32 = jax.tree.map(lambda x: x.astype(jnp.float32), NG_PARAMS)
    update32, state32 = jax.jit(lambda p, s: tx.update(p, s, p, residual_fn=residual_fn))(
        params32, tx.init(params32)
    )
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(update32))
    assert state32.loss.dtype == jnp.float32
    with pytest.raises(ValueError, match="line_search_factor"):
        energy_natural_gradient(line_search_factor=1.5)


# ---------------------------------------------------------------------------------------------
# ConFIG / UPGrad
# ---------------------------------------------------------------------------------------------


def conflicting_gradients(seed=0, m=3, n=5):
    """m gradients in R^n with negative pairwise dot products and norms from 0.3 to 3.

    Directions: a centred regular simplex (pairwise cosine -1/(m-1)) placed in R^n by a random
    orthonormal map, plus a little noise.
    """
    rng = np.random.default_rng(seed)
    simplex = np.eye(m) - 1.0 / m
    basis, _ = np.linalg.qr(rng.normal(size=(n, m)))
    g = simplex @ basis.T + 0.05 * rng.normal(size=(m, n))
    norms = np.linspace(0.3, 3.0, m)[rng.permutation(m), None]
    g *= norms / np.linalg.norm(g, axis=1, keepdims=True)
    dots = g @ g.T
    assert np.all(dots[~np.eye(m, dtype=bool)] < 0), "construction should conflict"
    return g


def _as_pytree(matrix):
    """Split the (m, n) stack into a pytree with leading axis m (a vector and a matrix leaf)."""
    return {"a": jnp.asarray(matrix[:, :2]), "b": jnp.asarray(matrix[:, 2:]).reshape(-1, 1, 3)}


def _from_pytree(tree):
    return np.concatenate([np.asarray(tree["a"]), np.asarray(tree["b"]).ravel()])


def test_config_matches_numpy_pinv():
    g = conflicting_gradients()
    units = g / np.linalg.norm(g, axis=1, keepdims=True)
    d = np.linalg.pinv(units) @ np.ones(3)
    d_hat = d / np.linalg.norm(d)
    expected = np.sum(g @ d_hat) * d_hat
    got = _from_pytree(jax.jit(config_aggregator)(_as_pytree(g)))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # Equal angles: every unit gradient has the same cosine with the update.
    cosines = units @ got / np.linalg.norm(got)
    np.testing.assert_allclose(cosines, cosines[0], rtol=1e-12)


def _numpy_projected_gradient_weights(g, iterations=200_000):
    """Reference UPGrad: projected gradient on the dual QPs, long run, in numpy."""
    gram = g @ g.T
    step = 1.0 / np.linalg.eigvalsh(gram)[-1]
    mu = np.zeros((g.shape[0], g.shape[0]))
    for _ in range(iterations):
        mu = np.maximum(mu - step * (mu @ gram + gram), 0.0)
    return mu


def test_upgrad_matches_numpy_reference_and_kkt():
    g = conflicting_gradients()
    mu = np.asarray(jax.jit(_box_qp_active_set)(jnp.asarray(g @ g.T), jnp.asarray(g @ g.T)))
    # KKT of min ||x - g_i||^2 s.t. G x >= 0 at x_i = g_i + G^T mu_i.
    for i in range(3):
        x = g[i] + g.T @ mu[i]
        slack = g @ x
        assert np.all(mu[i] >= 0)
        assert np.all(slack >= -1e-12)
        np.testing.assert_allclose(mu[i] * slack, 0.0, atol=1e-12)
    reference_mu = _numpy_projected_gradient_weights(g, iterations=20_000)
    np.testing.assert_allclose(mu, reference_mu, atol=1e-8)
    expected = np.mean(g + reference_mu @ g, axis=0)
    got = _from_pytree(jax.jit(upgrad_aggregator)(_as_pytree(g)))
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)
    fista = np.asarray(
        jax.jit(upgrad_direction, static_argnames=("solver", "num_steps"))(
            jnp.asarray(g), solver="projected_gradient", num_steps=3000
        )
    )
    np.testing.assert_allclose(fista, got, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(("seed", "m", "n"), [(0, 3, 5), (1, 3, 5), (2, 4, 7), (3, 2, 5)])
def test_aggregates_do_not_conflict(seed, m, n):
    g = conflicting_gradients(seed, m, n)
    plain = g.sum(axis=0)
    assert np.min(g @ plain) < 0  # the plain sum conflicts with some loss
    for aggregate in (config_aggregator, upgrad_aggregator):
        tree = {"w": jnp.asarray(g)}
        a = np.asarray(jax.jit(aggregate)(tree)["w"])
        assert np.all(g @ a >= -1e-10), (aggregate.__name__, g @ a)
        assert np.linalg.norm(a) > 0


def test_upgrad_active_set_matches_brute_force_on_random_problems():
    rng = np.random.default_rng(5)
    for m in (2, 3, 5):
        g = rng.normal(size=(m, 4))
        gram = g @ g.T
        mu = np.asarray(jax.jit(_box_qp_active_set)(jnp.asarray(gram), jnp.asarray(gram)))
        for i in range(m):
            # Brute force over supports in numpy, KKT-checked.
            best = None
            for support in itertools.product((False, True), repeat=m):
                s = np.array(support)
                cand = np.zeros(m)
                if s.any():
                    cand[s] = -np.linalg.lstsq(gram[np.ix_(s, s)], gram[s, i], rcond=None)[0]
                grad = gram @ cand + gram[i]
                kkt = np.all(cand >= -1e-12) and np.all(grad >= -1e-10)
                if kkt and np.allclose(cand * grad, 0, atol=1e-10):
                    best = cand
                    break
            assert best is not None
            np.testing.assert_allclose(g.T @ mu[i], g.T @ best, atol=1e-10)


def test_multi_loss_transforms_in_training_loop():
    # Three quadratic losses with conflicting minima, gradients passed as jax.jacrev(losses).
    centres = jnp.asarray(conflicting_gradients(0))

    def losses(params):
        x = ravel_pytree(params)[0]
        return 0.5 * jnp.sum((x[None, :] - centres) ** 2, axis=1)

    params = {"x": jnp.zeros(2), "y": jnp.zeros(3, jnp.float32)}
    flat, unravel = ravel_pytree(params)
    transforms = {
        "config": config(0.05),
        "upgrad": upgrad(0.05),
        "config+sgd": optax.chain(scale_by_config(), optax.sgd(0.05)),
        "upgrad+adam": optax.chain(scale_by_upgrad(), optax.adam(0.05)),
    }
    for name, tx in transforms.items():
        state = tx.init(params)
        update, state = jax.jit(tx.update)(jax.jacrev(losses)(params), state, params)
        assert jax.tree.structure(update) == jax.tree.structure(params)
        assert update["y"].dtype == jnp.float32 and update["y"].shape == (3,)
        if name != "upgrad+adam":  # Adam's rescaling gives no such guarantee
            # First order, every loss decreases along the update: J u <= 0.
            jac = np.asarray(jax.jacrev(lambda x: losses(unravel(x)))(flat))
            assert np.all(jac @ np.asarray(ravel_pytree(update)[0]) <= 1e-10), name
    with pytest.raises(ValueError, match="solver"):
        scale_by_upgrad(solver="simplex")
    with pytest.raises(ValueError, match="leading"):
        config_aggregator({"a": jnp.ones((3, 2)), "b": jnp.ones((2, 2))})
