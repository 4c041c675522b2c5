"""Tests of pdesolve.constraints: implicit differentiation, projections, LS layer, MoE, failures."""

import json
import warnings

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest

from pdesolve import InvalidInputError
from pdesolve.constraints import (
    BoundaryValueProjection,
    ConstrainedModel,
    ConvergenceWarning,
    CoupledMixtureOfExperts,
    LeastSquaresConstraint,
    LerayProjection,
    LinearEqualityProjection,
    MapExperts,
    MassProjection,
    MinimumNormConstraint,
    MixtureOfExperts,
    StaggeredLerayProjection,
    TangentConstraint,
    custom_fixed_point,
    custom_root,
)
from pdesolve.constraints._minimum_norm import _relative_null_space_part
from pdesolve.optim import gauss_newton, levenberg_marquardt
from pdesolve.spatial import PeriodicGrid


def central_difference(fn, x, eps=1e-6):
    """Finite-difference gradient of a scalar fn at the array x (float64)."""
    x = np.asarray(x, dtype=np.float64)
    eps = np.broadcast_to(np.asarray(eps, dtype=np.float64), x.shape)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = eps[index]
        grad[index] = (float(fn(jnp.asarray(x + step))) - float(fn(jnp.asarray(x - step)))) / (2 * eps[index])
    return grad


def assert_close(a, b, rtol, atol=0.0):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------------------------
# Implicit differentiation: four problems, implicit vs unrolled vs finite differences
# ---------------------------------------------------------------------------------------------

KEY = jax.random.key(0)
X_RIDGE = jax.random.normal(jax.random.key(1), (12, 4))
Y_RIDGE = jax.random.normal(jax.random.key(2), (12,))


def ridge_optimality(w, lam, X, y):
    return X.T @ (X @ w - y) + lam * w


def ridge_gradient_descent(w0, lam, X, y, num_iterations=1500):
    hessian_bound = jnp.linalg.norm(X, 2) ** 2 + lam
    step = 1.0 / hessian_bound

    def body(w, _):
        return w - step * ridge_optimality(w, lam, X, y), None

    return jax.lax.scan(body, w0, None, length=num_iterations)[0]


RIDGE_W0 = jnp.zeros(4)
RIDGE_TARGET = jnp.arange(4.0)


def ridge_loss(solver):
    return lambda lam, X: jnp.sum((solver(RIDGE_W0, lam, X, Y_RIDGE) - RIDGE_TARGET) ** 2)


@pytest.fixture(scope="module")
def ridge_unrolled_gradient():
    return jax.jit(jax.grad(ridge_loss(ridge_gradient_descent), argnums=(0, 1)))(0.7, X_RIDGE)


PSD = (lx.symmetric_tag, lx.positive_semidefinite_tag)
TOLERANCES = {"rtol": 1e-10, "atol": 1e-12}
LINEAR_SOLVERS = {
    "lu": (lx.LU(), ()),
    "cg": (lx.CG(**TOLERANCES), PSD),
    "gmres": (lx.GMRES(**TOLERANCES), ()),
    "bicgstab": (lx.BiCGStab(**TOLERANCES), ()),
    # lineax >= 0.1 spells CG on the normal equations Normal(CG); older lineax has NormalCG.
    "normal_cg": (lx.Normal(lx.CG(**TOLERANCES)) if hasattr(lx, "Normal") else lx.NormalCG(**TOLERANCES), ()),
}


@pytest.mark.parametrize("name", [name if name in ("lu", "cg") else pytest.param(name, marks=pytest.mark.slow)
                                  for name in sorted(LINEAR_SOLVERS)])
def test_ridge_regression_implicit_matches_unrolled_and_fd(name, ridge_unrolled_gradient):
    linear_solver, tags = LINEAR_SOLVERS[name]
    implicit = custom_root(ridge_optimality, linear_solver=linear_solver, tags=tags)(ridge_gradient_descent)
    g_implicit = jax.jit(jax.grad(ridge_loss(implicit), argnums=(0, 1)))(0.7, X_RIDGE)
    g_unrolled = ridge_unrolled_gradient
    assert_close(g_implicit[0], g_unrolled[0], rtol=1e-8)
    assert_close(g_implicit[1], g_unrolled[1], rtol=1e-7, atol=1e-10)
    if name == "lu":
        lam_loss = jax.jit(lambda lam: ridge_loss(implicit)(lam, X_RIDGE))
        assert_close(g_implicit[0], central_difference(lam_loss, 0.7), rtol=1e-6)
        x_loss = jax.jit(lambda X: ridge_loss(implicit)(0.7, X))
        assert_close(g_implicit[1], central_difference(x_loss, X_RIDGE), rtol=1e-6, atol=1e-9)


def nonlinear_optimality(x, theta, A):
    return x + 0.5 * jnp.tanh(A @ x) - theta


def newton(x0, theta, A, num_iterations=10):
    def body(x, _):
        jac = jnp.eye(x.size) + 0.5 * (1 - jnp.tanh(A @ x) ** 2)[:, None] * A
        return x - jnp.linalg.solve(jac, nonlinear_optimality(x, theta, A)), None

    return jax.lax.scan(body, x0, None, length=num_iterations)[0]


@pytest.mark.slow  # custom_root with GMRES: test_failed_backward_linear_solve_raises_or_warns, ridge[lu] for the values
def test_nonlinear_root_implicit_matches_unrolled_and_fd():
    A = jax.random.normal(jax.random.key(3), (5, 5)) / 2
    theta = jnp.linspace(-1.0, 1.0, 5)
    implicit = custom_root(nonlinear_optimality, linear_solver=lx.GMRES(**TOLERANCES))(newton)
    x0 = jnp.zeros(5)

    def loss(solver):
        return lambda th, A: jnp.sum(jnp.sin(solver(x0, th, A)))

    x = implicit(x0, theta, A)
    assert float(jnp.max(jnp.abs(nonlinear_optimality(x, theta, A)))) < 1e-13
    g_implicit = jax.jit(jax.grad(loss(implicit), argnums=(0, 1)))(theta, A)
    g_unrolled = jax.jit(jax.grad(loss(newton), argnums=(0, 1)))(theta, A)
    for a, b in zip(g_implicit, g_unrolled):
        assert_close(a, b, rtol=1e-9, atol=1e-12)
    fd_theta = central_difference(jax.jit(lambda th: loss(implicit)(th, A)), theta)
    assert_close(g_implicit[0], fd_theta, rtol=1e-6, atol=1e-9)


def stiff_rhs(y, rates):
    """A stiff 3-species kinetics: fast decay coupled to slow dynamics."""
    k_fast, k_slow, coupling = rates[0], rates[1], rates[2]
    return jnp.stack([
        -k_fast * y[0] + coupling * y[1] * y[2],
        k_fast * y[0] - k_slow * y[1] ** 2,
        k_slow * y[1] ** 2 - coupling * y[1] * y[2],
    ])


def implicit_euler_map(y, y_prev, rates, dt):
    return y_prev + dt * stiff_rhs(y, rates)


def stiff_jacobian(y, rates):
    k_fast, k_slow, coupling = rates[0], rates[1], rates[2]
    return jnp.asarray([
        [-k_fast, coupling * y[2], coupling * y[1]],
        [k_fast, -2 * k_slow * y[1], 0.0],
        [0.0, 2 * k_slow * y[1] - coupling * y[2], -coupling * y[1]],
    ])


def implicit_euler_newton(y0, y_prev, rates, dt, num_iterations=15):
    def body(y, _):
        residual = implicit_euler_map(y, y_prev, rates, dt) - y
        jacobian = dt * stiff_jacobian(y, rates) - jnp.eye(3)
        return y - jnp.linalg.solve(jacobian, residual), None

    return jax.lax.scan(body, y0, None, length=num_iterations)[0]


def test_implicit_euler_step_of_stiff_ode_as_fixed_point():
    rates = jnp.asarray([1e4, 3.0, 50.0])
    y_prev = jnp.asarray([1.0, 0.2, 0.1])
    dt = 0.05  # dt * k_fast = 500: far beyond explicit stability
    step = custom_fixed_point(implicit_euler_map, linear_solver=lx.BiCGStab(**TOLERANCES))(implicit_euler_newton)

    def loss(solver):
        return lambda y_prev, rates: jnp.sum(solver(y_prev, y_prev, rates, dt) ** 2)

    y1 = step(y_prev, y_prev, rates, dt)
    assert float(jnp.max(jnp.abs(implicit_euler_map(y1, y_prev, rates, dt) - y1))) < 1e-13
    g_implicit = jax.jit(jax.grad(loss(step), argnums=(0, 1)))(y_prev, rates)
    g_unrolled = jax.jit(jax.grad(loss(implicit_euler_newton), argnums=(0, 1)))(y_prev, rates)
    for a, b in zip(g_implicit, g_unrolled):
        assert_close(a, b, rtol=1e-8, atol=1e-14)
    fd = central_difference(jax.jit(lambda r: loss(step)(y_prev, r)), rates, eps=1e-4 * np.asarray(rates))
    assert_close(g_implicit[1], fd, rtol=1e-5, atol=1e-12)


def ellipsoid_optimality(z, y, a):
    """KKT conditions of min ||x - y||^2/2 s.t. sum a x^2 = 1 (active), z = (x, mu)."""
    x, mu = z[:-1], z[-1]
    return jnp.concatenate([x - y + mu * a * x, jnp.atleast_1d(jnp.sum(a * x**2) - 1.0)])


def ellipsoid_projection(z0, y, a, num_iterations=60):
    """Newton on the secular equation g(mu) = sum a y^2 / (1 + mu a)^2 - 1 = 0 from mu = 0."""

    def g(mu):
        return jnp.sum(a * y**2 / (1 + mu * a) ** 2) - 1.0

    def body(mu, _):
        return mu - g(mu) / jax.grad(g)(mu), None

    mu = jax.lax.scan(body, jnp.zeros((), y.dtype), None, length=num_iterations)[0]
    return jnp.concatenate([y / (1 + mu * a), mu[None]])


def test_projection_onto_constraint_set_implicit_matches_unrolled_and_fd():
    y = jnp.asarray([1.5, -0.7, 2.0, 0.3])  # outside the ellipsoid, so the constraint is active
    a = jnp.asarray([1.0, 2.0, 0.5, 3.0])
    proj = custom_root(ellipsoid_optimality, linear_solver=lx.LU())(ellipsoid_projection)
    z0 = jnp.zeros(5)
    z = proj(z0, y, a)
    assert float(jnp.max(jnp.abs(ellipsoid_optimality(z, y, a)))) < 1e-13
    assert float(z[-1]) > 0

    def loss(solver):
        return lambda y, a: jnp.sum(solver(z0, y, a)[:-1] * jnp.arange(1.0, 5.0))

    g_implicit = jax.jit(jax.grad(loss(proj), argnums=(0, 1)))(y, a)
    g_unrolled = jax.jit(jax.grad(loss(ellipsoid_projection), argnums=(0, 1)))(y, a)
    for b_i, u_i in zip(g_implicit, g_unrolled):
        assert_close(b_i, u_i, rtol=1e-9, atol=1e-12)
    assert_close(g_implicit[0], central_difference(jax.jit(lambda y: loss(proj)(y, a)), y), rtol=1e-6, atol=1e-9)
    assert_close(g_implicit[1], central_difference(jax.jit(lambda a: loss(proj)(y, a)), a), rtol=1e-6, atol=1e-9)


def test_custom_root_rejects_unknown_solver_and_policy():
    with pytest.raises(InvalidInputError, match="linear_solver must be a lineax solver"):
        custom_root(ridge_optimality, linear_solver="dense")
    with pytest.raises(InvalidInputError, match="on_failure"):
        custom_root(ridge_optimality, on_failure="shrug")
    with pytest.raises(InvalidInputError, match="positive_semidefinite_tag"):  # CG on an undeclared operator
        custom_root(ridge_optimality, linear_solver=lx.CG(**TOLERANCES))


def test_failed_backward_linear_solve_raises_or_warns():
    A = jax.random.normal(jax.random.key(3), (5, 5)) / 2
    theta = jnp.linspace(-1.0, 1.0, 5)

    def make(policy):
        gmres = lx.GMRES(rtol=1e-14, atol=1e-14, max_steps=1)
        solver = custom_root(nonlinear_optimality, linear_solver=gmres, on_failure=policy)(newton)
        return jax.jit(jax.grad(lambda th: jnp.sum(solver(jnp.zeros(5), th, A))))

    with pytest.raises(Exception, match="backward linear solve did not converge"):
        jax.block_until_ready(make("raise")(theta))
    with pytest.warns(ConvergenceWarning, match="backward linear solve"):
        jax.block_until_ready(make("warn")(theta))


# ---------------------------------------------------------------------------------------------
# Linear equality constraints
# ---------------------------------------------------------------------------------------------


def test_linear_equality_projection_is_exact_idempotent_with_exact_gradient():
    A = jax.random.normal(jax.random.key(4), (3, 10))
    b = jnp.asarray([1.0, -2.0, 0.5])
    proj = LinearEqualityProjection(A)
    u = jax.random.normal(jax.random.key(5), (2, 5))
    p = proj(u, b)
    assert p.shape == u.shape
    assert float(jnp.max(jnp.abs(A @ p.ravel() - b))) < 1e-13
    assert float(jnp.max(jnp.abs(proj(p, b) - p))) < 1e-13
    jac = jax.jacobian(lambda v: proj(v.reshape(2, 5), b).ravel())(u.ravel())
    expected = jnp.eye(10) - A.T @ jnp.linalg.solve(A @ A.T, A)
    assert float(jnp.max(jnp.abs(jac - expected))) < 1e-13
    weights = jnp.arange(10.0).reshape(2, 5)
    loss = jax.jit(lambda v: jnp.sum(jnp.sin(proj(v, b)) * weights))
    assert_close(jax.grad(loss)(u), central_difference(loss, u), rtol=1e-7, atol=1e-9)
    with pytest.raises(InvalidInputError, match="full row rank"):
        LinearEqualityProjection(jnp.ones((2, 4)))
    with pytest.raises(InvalidInputError, match="columns"):
        proj(jnp.ones(7), b)


def test_mass_projection_and_constrained_fno_conserve_mass_exactly():
    from pdesolve.operators import FNO

    grid = PeriodicGrid(16, extent=1.0)
    proj = MassProjection(grid.cell_volume, shape=grid.shape)
    fno = FNO(1, 1, width=4, modes=4, num_layers=1, projection_width=8, key=jax.random.key(6))
    model = ConstrainedModel(fno, proj, proj.mass)
    u0 = jnp.sin(2 * jnp.pi * grid.coordinates()) + 0.3
    out = eqx_call(model, u0)
    assert abs(float(proj.mass(out)[0] - proj.mass(u0)[0])) < 1e-14
    assert abs(float(proj.mass(fno(u0))[0] - proj.mass(u0)[0])) > 1e-3  # the bare FNO does not conserve it

    # gradient through the projection vs finite differences, along one lifting weight
    import equinox as eqx

    def loss(value):
        m = eqx.tree_at(lambda m: m.model.lift.weight, model, model.model.lift.weight.at[0, 0].set(value))
        return jnp.sum(m(u0) ** 3)

    w00 = model.model.lift.weight[0, 0]
    g = jax.jit(jax.grad(loss))(w00)
    assert abs(float(g)) > 1e-6
    assert_close(g, central_difference(jax.jit(loss), w00), rtol=1e-6)
    with pytest.raises(InvalidInputError, match="shape"):
        proj(jnp.ones((1, 12)), jnp.ones(1))


def eqx_jit(module):
    """A jitted callable equivalent to ``module`` (its methods stay reachable on the module)."""
    import equinox as eqx

    return eqx.filter_jit(lambda *args: module(*args))


def eqx_call(model, u):
    import equinox as eqx

    return eqx.filter_jit(lambda m, u: m(u))(model, u)


def test_boundary_value_projection():
    mask = BoundaryValueProjection.boundary_mask((6, 5))
    proj = BoundaryValueProjection(mask)
    u = jax.random.normal(jax.random.key(8), (1, 6, 5))
    p = proj(u, 2.0)
    assert bool(jnp.all(p[0, 0] == 2.0)) and bool(jnp.all(p[0, :, -1] == 2.0))
    assert bool(jnp.all(p[0, 1:-1, 1:-1] == u[0, 1:-1, 1:-1]))
    with pytest.raises(InvalidInputError, match="boolean"):
        BoundaryValueProjection(jnp.ones((6, 5)))


# ---------------------------------------------------------------------------------------------
# Divergence-free projections
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(16, 12), pytest.param((8, 6, 10), marks=pytest.mark.slow)])
def test_leray_projection_divergence_free_and_idempotent(shape):
    grid = PeriodicGrid(shape, extent=1.0)
    u = jax.random.normal(jax.random.key(9), (len(shape), *shape))
    layer = LerayProjection(grid)
    leray = eqx_jit(layer)
    p = leray(u)
    scale = float(jnp.max(jnp.abs(layer.divergence(u))))
    assert float(jnp.max(jnp.abs(layer.divergence(p)))) < 1e-12 * max(scale, 1.0) * 10
    assert float(jnp.max(jnp.abs(leray(p) - p))) < 1e-13
    # orthogonal projection: <P u, u - P u> = 0; and a gradient field is removed entirely
    assert abs(float(jnp.sum(p * (u - p)))) < 1e-10
    phi = jnp.sin(2 * jnp.pi * grid.coordinates()[0]) * jnp.cos(2 * jnp.pi * grid.coordinates()[1])
    from pdesolve.spatial import spectral_gradient

    assert float(jnp.max(jnp.abs(leray(spectral_gradient(phi[None], grid)[0])))) < 1e-12
    with pytest.raises(InvalidInputError):
        LerayProjection(grid)(u[:1])


@pytest.mark.parametrize("shape", [(8, 6), pytest.param((5, 4, 6), marks=pytest.mark.slow)])
def test_staggered_leray_projection(shape):
    layer = StaggeredLerayProjection(shape)
    proj = eqx_jit(layer)
    faces = tuple(jax.random.normal(jax.random.key(i), s) for i, s in enumerate(layer.face_shapes()))
    p, converged = proj(faces)
    assert bool(converged)
    assert float(jnp.max(jnp.abs(layer.divergence(p)))) < 1e-10
    p2, _ = proj(p)
    assert max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(p2, p)) < 1e-10
    with pytest.raises(InvalidInputError, match="faces"):
        layer(faces[:1])


# ---------------------------------------------------------------------------------------------
# PDE-constrained least squares, mixture of experts, failure reporting
# ---------------------------------------------------------------------------------------------

NUM_BASIS = 6
COLLOCATION = jnp.linspace(0.05, 0.95, NUM_BASIS)


def basis_features(theta):
    """Basis b_j(x) = exp(-(x - c_j)^2 / theta^2) + x^j / 4 at the points, with b_j''."""

    def basis(x):
        centres = jnp.linspace(0.0, 1.0, NUM_BASIS)
        return jnp.exp(-((x - centres) ** 2) / theta**2) + x ** jnp.arange(NUM_BASIS) / 4

    b = jax.vmap(basis)(COLLOCATION)
    b_xx = jax.vmap(jax.jacfwd(jax.jacfwd(basis)))(COLLOCATION)
    return {"b": b, "b_xx": b_xx, "f": jnp.cos(3 * COLLOCATION)}


def bratu_residual(omega, features):
    """-u'' + 0.5 * exp(u) = f at the collocation points (a nonlinear PDE residual)."""
    u = features["b"] @ omega
    return -(features["b_xx"] @ omega) * 0.05 + u + 0.5 * jnp.exp(u) - features["f"]


@pytest.fixture(scope="module")
def ls_layer():
    return LeastSquaresConstraint(bratu_residual, NUM_BASIS, num_steps=40, tolerance=1e-9)


def test_least_squares_layer_residual_and_implicit_gradient(ls_layer):
    sol = jax.jit(lambda th: ls_layer(basis_features(th)))(0.3)
    assert bool(sol.converged)
    assert float(sol.residual_norm) <= 1e-8
    assert float(jnp.max(jnp.abs(bratu_residual(sol.coefficients, basis_features(0.3))))) <= 1e-8

    def loss(theta):
        return jnp.sum(ls_layer(basis_features(theta)).coefficients ** 2)

    grad = jax.jit(jax.grad(loss))(0.3)
    fd = central_difference(jax.jit(loss), jnp.asarray(0.3), eps=1e-6)
    assert_close(grad, fd, rtol=1e-6)


def test_least_squares_layer_overdetermined_uses_normal_equations():
    def residual(omega, features):
        return features["A"] @ omega - features["y"]

    layer = LeastSquaresConstraint(residual, 3, num_steps=20, solver=gauss_newton(), tolerance=1e-9)
    A = jax.random.normal(jax.random.key(10), (8, 3))
    y = jax.random.normal(jax.random.key(11), (8,))
    sol = layer({"A": A, "y": y})
    assert bool(sol.converged)
    assert_close(sol.coefficients, jnp.linalg.lstsq(A, y)[0], rtol=1e-10)
    g = jax.grad(lambda y: jnp.sum(layer({"A": A, "y": y}).coefficients))(y)
    assert_close(g, jnp.linalg.pinv(A).sum(axis=0), rtol=1e-9)


@pytest.mark.slow  # default: test_least_squares_layer_overdetermined_uses_normal_equations (exact pinv gradient)
def test_least_squares_layer_nonlinear_overdetermined_gradient_matches_finite_differences():
    """More residuals than coefficients and a nonzero residual at the solution: the implicit gradient
    of the normal equation J^T r = 0 (the residual's curvature term included) matches central
    differences of precisely re-solved problems, and differs from the Gauss-Newton approximation."""
    A0 = jax.random.normal(jax.random.key(12), (10, 3))
    A1 = jax.random.normal(jax.random.key(13), (10, 3))
    y = jax.random.normal(jax.random.key(14), (10,))

    def residual(omega, features):
        z = features["A"] @ omega
        return z + 0.2 * z**2 - y

    # max|J^T r| stalls at 1.4e-8 (3.0e-8 at XLA's optimisation level 0, the default suite's) and the
    # angle test reaches 1.6e-9 (3.7e-9): a tolerance of 6e-9 separates the two at either level
    layer = LeastSquaresConstraint(residual, 3, num_steps=60, tolerance=6e-9)

    def precise(theta):
        # Levenberg-Marquardt stops at max|J^T r| ~ 1e-8 (cost changes below round-off); Newton on
        # the normal equation takes the solution to machine precision for the reference
        features = {"A": A0 + theta * A1}
        cost = lambda w: 0.5 * jnp.sum(residual(w, features) ** 2)  # noqa: E731
        w = layer(features).coefficients
        for _ in range(6):
            w = w - jnp.linalg.solve(jax.hessian(cost)(w), jax.grad(cost)(w))
        return w

    sol = layer({"A": A0 + 0.3 * A1})
    assert float(sol.residual_norm) > 1e-2  # a genuine least-squares solution
    # max|J^T r| stalls near 1e-8 (cost changes below round-off); the scale-free angle test
    # max_j |J_j^T r| / (|J_j| |r|) ~ 1e-9 passes it, and an early stop still fails it
    assert float(sol.optimality_norm) > 6e-9 and bool(sol.converged)
    early = LeastSquaresConstraint(residual, 3, num_steps=10, tolerance=6e-9, on_failure="ignore")
    assert not bool(early({"A": A0 + 0.3 * A1}).converged)
    grad = jax.jit(jax.grad(lambda t: jnp.sum(jnp.sin(layer({"A": A0 + t * A1}).coefficients))))(0.3)
    fd = central_difference(jax.jit(lambda t: jnp.sum(jnp.sin(precise(t)))), jnp.asarray(0.3), eps=1e-5)
    assert_close(grad, fd, rtol=1e-6)
    w = precise(0.3)
    J = jax.jacfwd(residual)(w, {"A": A0 + 0.3 * A1})
    dr = jax.jacfwd(lambda t: residual(w, {"A": A0 + t * A1}))(0.3)
    gauss_newton = jnp.cos(w) @ -jnp.linalg.solve(J.T @ J, J.T @ dr)
    assert abs(float(gauss_newton - grad)) > 0.05 * abs(float(grad))


def test_mixture_of_experts_equals_independent_solves(ls_layer):
    thetas = jnp.asarray([0.25, 0.3, 0.4])
    moe = MixtureOfExperts(ls_layer)

    def moe_loss(th):
        return jnp.sum(moe(jax.vmap(basis_features)(th)).coefficients ** 2)

    def single_loss(t):
        return jnp.sum(ls_layer(basis_features(t)).coefficients ** 2)

    sol = jax.jit(lambda th: moe(jax.vmap(basis_features)(th)))(thetas)
    assert sol.coefficients.shape == (3, NUM_BASIS)
    assert bool(jnp.all(sol.converged))
    single = jax.jit(lambda t: ls_layer(basis_features(t)).coefficients)
    single_grad = jax.jit(jax.grad(single_loss))
    grad_moe = jax.jit(jax.grad(moe_loss))(thetas)
    for k, theta in enumerate(thetas):
        assert_close(sol.coefficients[k], single(theta), rtol=1e-10, atol=1e-12)
        assert_close(grad_moe[k], single_grad(theta), rtol=1e-9)
    with pytest.raises(InvalidInputError, match="leading expert axis"):
        moe({"b": jnp.ones((3, 2)), "f": jnp.ones((2,))})


def test_mixture_of_experts_map_batching_matches_vmap():
    A = jax.random.normal(jax.random.key(26), (3, 4, 9))
    features = {"A": A, "y": jnp.ones((3, 4))}
    layer = MinimumNormConstraint(_cubic_residual, 9, num_steps=15, tolerance=1e-9)
    by_vmap = MixtureOfExperts(layer)(features)
    by_map = MixtureOfExperts(layer, batching=MapExperts())(features)
    assert_close(by_map.coefficients, by_vmap.coefficients, rtol=1e-10, atol=1e-12)
    assert bool(jnp.all(by_map.converged))
    with pytest.raises(InvalidInputError, match="batching"):
        MixtureOfExperts(layer, batching="map")


def test_failed_inner_solve_flag_warn_raise():
    features = basis_features(0.3)
    quiet = LeastSquaresConstraint(bratu_residual, NUM_BASIS, num_steps=1, on_failure="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sol = quiet(features)
        jax.block_until_ready(sol)
    assert not bool(sol.converged)
    noisy = LeastSquaresConstraint(bratu_residual, NUM_BASIS, num_steps=1, on_failure="warn")
    with pytest.warns(ConvergenceWarning, match="did not reach"):
        jax.block_until_ready(noisy(features))
    with pytest.warns(ConvergenceWarning, match="did not reach"):
        jax.block_until_ready(MixtureOfExperts(noisy)(jax.vmap(basis_features)(jnp.asarray([0.3, 0.4]))))
    strict = LeastSquaresConstraint(bratu_residual, NUM_BASIS, num_steps=1, on_failure="raise")
    with pytest.raises(Exception, match="did not reach"):
        jax.block_until_ready(strict(features))
    with pytest.raises(InvalidInputError, match="on_failure"):
        LeastSquaresConstraint(bratu_residual, NUM_BASIS, on_failure="maybe")
    with pytest.raises(InvalidInputError, match="num_coefficients"):
        LeastSquaresConstraint(bratu_residual, 0)


def _cubic_residual(omega, features):
    z = features["A"] @ omega
    return z + 0.1 * z**3 - features["y"]


def test_minimum_norm_constraint_exact_min_norm_and_implicit_gradient():
    A = jax.random.normal(jax.random.key(20), (5, 12))
    y = jnp.linspace(-1.0, 1.0, 5)
    # linear residual: one step gives the pseudo-inverse solution
    linear = MinimumNormConstraint(lambda w, f: f["A"] @ w - f["y"], 12, num_steps=1, tolerance=1e-9)
    sol = linear({"A": A, "y": y})
    assert bool(sol.converged) and float(sol.residual_norm) < 1e-12
    assert_close(sol.coefficients, jnp.linalg.pinv(A) @ y, rtol=1e-10, atol=1e-12)
    g = jax.grad(lambda y: jnp.sum(linear({"A": A, "y": y}).coefficients))(y)
    assert_close(g, jnp.linalg.pinv(A).sum(axis=0), rtol=1e-9)
    # nonlinear residual: exact constraint, stationarity (w in range(J^T)), gradient = finite differences
    layer = MinimumNormConstraint(_cubic_residual, 12, num_steps=15, tolerance=1e-9, on_failure="raise")
    sol = layer({"A": A, "y": y})
    assert bool(sol.converged)
    assert float(jnp.max(jnp.abs(_cubic_residual(sol.coefficients, {"A": A, "y": y})))) < 1e-12
    J = jax.jacfwd(lambda w: _cubic_residual(w, {"A": A, "y": y}))(sol.coefficients)
    null_part = sol.coefficients - jnp.linalg.pinv(J) @ (J @ sol.coefficients)
    assert float(jnp.max(jnp.abs(null_part))) < 1e-10
    loss = jax.jit(lambda y: jnp.sum(jnp.sin(layer({"A": A, "y": y}).coefficients)))
    assert_close(jax.jit(jax.grad(loss))(y), central_difference(loss, y), rtol=1e-6, atol=1e-8)


def test_minimum_norm_constraint_newton_refinement_reaches_the_kkt_point():
    # 3 Gauss-Newton steps leave the stationarity error at ~2e-2 (the iteration drops the curvature
    # term); 3 Newton steps on the Lagrange conditions then reach the minimum-norm root to round-off
    A = jax.random.normal(jax.random.key(20), (5, 12))
    features = {"A": A, "y": 3.0 * jnp.linspace(-1.0, 1.0, 5)}
    short = MinimumNormConstraint(_cubic_residual, 12, num_steps=3, tolerance=1e-9, on_failure="ignore")
    assert float(short(features).optimality_norm) > 1e-3
    refined = MinimumNormConstraint(_cubic_residual, 12, num_steps=3, newton_steps=3, tolerance=1e-9,
                                    on_failure="raise")
    sol = refined(features)
    assert bool(sol.converged) and float(sol.optimality_norm) < 1e-12
    reference = MinimumNormConstraint(_cubic_residual, 12, num_steps=30, tolerance=1e-9)(features)
    assert_close(sol.coefficients, reference.coefficients, rtol=1e-10, atol=1e-12)
    loss = jax.jit(lambda y: jnp.sum(jnp.sin(refined({"A": A, "y": y}).coefficients)))
    assert_close(jax.jit(jax.grad(loss))(features["y"]), central_difference(loss, features["y"]), rtol=1e-6,
                 atol=1e-8)
    with pytest.raises(InvalidInputError, match="newton_steps"):
        MinimumNormConstraint(_cubic_residual, 12, newton_steps=-1)


def test_minimum_norm_constraint_convergence_test_is_scale_aware():
    # an exact pseudo-inverse solution of an ill-conditioned system (cond 1e6, |w| ~ 1e6) is converged;
    # evaluating omega + J^T lambda with lambda = -(J^T)^+ omega leaves a round-off error of ~eps cond |w|
    u, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(27), (5, 5)))
    v, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(28), (12, 5)))
    A = u @ jnp.diag(jnp.logspace(0.0, -6.0, 5)) @ v.T
    y = jnp.linspace(-1.0, 1.0, 5)
    linear = MinimumNormConstraint(lambda w, f: f["A"] @ w - f["y"], 12, num_steps=1, tolerance=1e-8)
    sol = linear({"A": A, "y": y})
    w = sol.coefficients
    assert float(jnp.max(jnp.abs(w))) > 1e5
    lam = -jnp.linalg.lstsq(A.T, w)[0]
    assert float(jnp.max(jnp.abs(w + A.T @ lam))) > 1e-8  # the naive Lagrange test would flag it
    assert bool(sol.converged), float(sol.optimality_norm)
    # the stationarity part: zero for an offset in range(J^T), the (relative) null-space part otherwise
    z = jnp.eye(12)[0] - v @ (v.T @ jnp.eye(12)[0])
    assert float(_relative_null_space_part(A, A.T @ y)) < 1e-14
    offset = 30.0 * z + A.T @ y
    expected = 30.0 * float(jnp.max(jnp.abs(z))) / max(1.0, float(jnp.max(jnp.abs(offset))))
    assert_close(_relative_null_space_part(A, offset), expected, rtol=1e-10)
    assert float(_relative_null_space_part(A, 1e-3 * z)) < 1e-3  # small offsets: absolute


@pytest.mark.parametrize(("method", "num_steps"), [pytest.param("levenberg_marquardt", 30, marks=pytest.mark.slow),
                                                   ("gauss_newton", 8)])
def test_tangent_constraint_root_and_tangent_gradient(method, num_steps):
    A = jax.random.normal(jax.random.key(23), (4, 10))
    y = jnp.linspace(0.5, -0.5, 4)
    solver = levenberg_marquardt(initial_damping=1.0) if method == "levenberg_marquardt" else gauss_newton(
        max_backtracking_steps=30)
    layer = TangentConstraint(_cubic_residual, 10, num_steps=num_steps, solver=solver, tolerance=1e-9)
    sol = layer({"A": A, "y": y})
    assert bool(sol.converged) and float(sol.residual_norm) < 1e-10
    w = sol.coefficients
    # tangent gradient: d w = -J^+ (d_theta r) d theta, here along a direction E of A
    E = jax.random.normal(jax.random.key(24), A.shape)
    J = jax.jacfwd(lambda c: _cubic_residual(c, {"A": A, "y": y}))(w)
    d_r = jax.jvp(lambda a: _cubic_residual(w, {"A": a, "y": y}), (A,), (E,))[1]
    expected = -jnp.linalg.pinv(J) @ d_r
    v = jax.random.normal(jax.random.key(25), (10,))
    g = jax.grad(lambda a: v @ layer({"A": a, "y": y}).coefficients)(A)
    assert_close(jnp.sum(g * E), v @ expected, rtol=1e-8)
    with pytest.raises(InvalidInputError, match="solver must be"):
        TangentConstraint(_cubic_residual, 10, solver="gauss_newton")
    with pytest.raises(InvalidInputError, match="at most as many residuals"):
        TangentConstraint(lambda w, f: f @ w, 3)(jnp.ones((4, 3)))
    one_step = TangentConstraint(_cubic_residual, 10, num_steps=1, solver=gauss_newton(), on_failure="warn")
    with pytest.warns(ConvergenceWarning, match="TangentConstraint"):
        assert not bool(jax.block_until_ready(one_step({"A": A, "y": 30.0 * y})).converged)


def test_minimum_norm_constraint_rejects_bad_input_and_reports_failure():
    A = jax.random.normal(jax.random.key(21), (5, 4))
    with pytest.raises(InvalidInputError, match="at most as many residuals"):
        MinimumNormConstraint(lambda w, f: f @ w, 4)(A)
    with pytest.raises(InvalidInputError, match="num_coefficients"):
        MinimumNormConstraint(_cubic_residual, 0)
    with pytest.raises(InvalidInputError, match="init must have shape"):
        MinimumNormConstraint(lambda w, f: f @ w, 4)(A[:2], jnp.zeros(3))
    features = {"A": jax.random.normal(jax.random.key(22), (5, 12)), "y": 3.0 * jnp.ones(5)}
    one_step = MinimumNormConstraint(_cubic_residual, 12, num_steps=1, on_failure="warn")
    with pytest.warns(ConvergenceWarning, match="did not reach"):
        sol = jax.block_until_ready(one_step(features))
    assert not bool(sol.converged)


# ---------------------------------------------------------------------------------------------
# Coupled mixture of experts (interface conditions, Schur-complement solve)
# ---------------------------------------------------------------------------------------------


def _expert_residual(omega, features):
    z = features["A"] @ omega
    return z + features["c"] * z**3 - features["y"]


def _interface(omegas, coupling):
    """q conditions sum_k C[q, k, :] . omega_k (e.g. jumps between neighbouring experts)."""
    return jnp.einsum("qkn,kn->q", coupling, omegas)


def _block_system(A, C):
    """The coupled system as one dense matrix: blockdiag(A_k) over the coupling rows."""
    K, m, N = A.shape
    J = jnp.zeros((K * m + C.shape[0], K * N))
    for k in range(K):
        J = J.at[k * m:(k + 1) * m, k * N:(k + 1) * N].set(A[k])
    return J.at[K * m:].set(C.reshape(C.shape[0], K * N))


def test_coupled_mixture_linear_equals_global_minimum_norm_solution():
    K, m, N, q = 3, 3, 6, 4
    A = jax.random.normal(jax.random.key(30), (K, m, N))
    y = jax.random.normal(jax.random.key(31), (K, m))
    C = jax.random.normal(jax.random.key(32), (q, K, N))
    layer = CoupledMixtureOfExperts(_expert_residual, _interface, N, num_steps=12, tolerance=1e-11,
                                    on_failure="raise")
    features = {"A": A, "c": jnp.zeros(K), "y": y}
    sol = layer(features, C)
    assert bool(sol.converged) and float(sol.optimality_norm) < 1e-11
    expected = jnp.linalg.pinv(_block_system(A, C)) @ jnp.concatenate([y.ravel(), jnp.zeros(q)])
    assert_close(sol.coefficients.ravel(), expected, rtol=1e-9, atol=1e-12)
    # the independent mixture ignores the interface rows: its solution breaks them
    free = MixtureOfExperts(MinimumNormConstraint(_expert_residual, N, num_steps=1))(features)
    assert float(jnp.max(jnp.abs(_interface(free.coefficients, C)))) > 1e-2
    assert_close(CoupledMixtureOfExperts(_expert_residual, _interface, N, num_steps=12, batching=MapExperts())(
        features, C).coefficients, sol.coefficients, rtol=1e-9, atol=1e-12)


def test_coupled_mixture_stops_once_converged():
    # nonlinear experts: from zero the solve needs several steps; from its own root it takes none
    K, m, N, q = 2, 2, 4, 2
    A = jax.random.normal(jax.random.key(36), (K, m, N))
    features = {"A": A, "c": jnp.full(K, 0.2), "y": 0.5 * jax.random.normal(jax.random.key(37), (K, m))}
    C = jax.random.normal(jax.random.key(38), (q, K, N))
    layer = CoupledMixtureOfExperts(_expert_residual, _interface, N, num_steps=50, tolerance=1e-10,
                                    on_failure="raise")
    solve = jax.jit(lambda init: layer(features, C, init=init))  # one compilation for both starts
    root = solve(jnp.zeros((K, N)))
    assert bool(root.converged) and float(root.optimality_norm) <= 1e-10
    again = solve(root.coefficients)
    assert bool(jnp.all(again.coefficients == root.coefficients))  # no step taken, bit for bit
    one_step = CoupledMixtureOfExperts(_expert_residual, _interface, N, num_steps=1, tolerance=1e-10,
                                       on_failure="ignore")
    assert not bool(one_step(features, C).converged)


@pytest.mark.slow  # default: test_coupled_mixture_tangent_gradient_when_under_determined (gradient vs -J^+ dR)
def test_coupled_mixture_implicit_gradient_matches_finite_differences():
    # K N = K m + q: a unique root, so the tangent derivative is the derivative of the root
    K, m, N, q = 2, 2, 3, 2
    A = jax.random.normal(jax.random.key(33), (K, m, N))
    y = 0.3 * jax.random.normal(jax.random.key(34), (K, m))
    C = jax.random.normal(jax.random.key(35), (q, K, N))
    c = jnp.full(K, 0.1)
    layer = CoupledMixtureOfExperts(_expert_residual, _interface, N, num_steps=40, tolerance=1e-11,
                                    on_failure="raise")
    sol = layer({"A": A, "c": c, "y": y}, C)
    assert bool(sol.converged)

    def loss(A, C):
        return jnp.sum(jnp.sin(layer({"A": A, "c": c, "y": y}, C).coefficients))

    grad_a, grad_c = jax.jit(jax.grad(loss, argnums=(0, 1)))(A, C)
    compiled = jax.jit(loss)
    assert_close(grad_a, central_difference(lambda a: compiled(a, C), A), rtol=1e-6, atol=1e-8)
    assert_close(grad_c, central_difference(lambda cc: compiled(A, cc), C), rtol=1e-6, atol=1e-8)


def test_coupled_mixture_tangent_gradient_when_under_determined():
    K, m, N, q = 2, 2, 5, 3
    A = jax.random.normal(jax.random.key(36), (K, m, N))
    y = 0.3 * jax.random.normal(jax.random.key(37), (K, m))
    C = jax.random.normal(jax.random.key(38), (q, K, N))
    features = {"A": A, "c": jnp.full(K, 0.1), "y": y}
    layer = CoupledMixtureOfExperts(_expert_residual, _interface, N, num_steps=40, tolerance=1e-11)
    w = layer(features, C).coefficients
    # d w = -J^+ dR along a direction E of A, with J the dense Jacobian of the coupled system
    E = jax.random.normal(jax.random.key(39), A.shape)

    def full_residual(omegas, a):
        local = jax.vmap(_expert_residual)(omegas, {**features, "A": a})
        return jnp.concatenate([local.ravel(), _interface(omegas, C)])

    J = jax.jacfwd(lambda o: full_residual(o.reshape(K, N), A))(w.ravel())
    d_r = jax.jvp(lambda a: full_residual(w, a), (A,), (E,))[1]
    expected = -jnp.linalg.pinv(J) @ d_r
    v = jax.random.normal(jax.random.key(40), (K * N,))
    g = jax.jit(jax.grad(lambda a: v @ layer({**features, "A": a}, C).coefficients.ravel()))(A)
    assert_close(jnp.sum(g * E), v @ expected, rtol=1e-8)


def test_coupled_mixture_rejects_bad_input_and_reports_failure():
    K, m, N, q = 2, 2, 5, 3
    features = {"A": jax.random.normal(jax.random.key(41), (K, m, N)), "c": jnp.full(K, 0.5),
                "y": 3.0 * jnp.ones((K, m))}
    C = jax.random.normal(jax.random.key(42), (q, K, N))
    layer = CoupledMixtureOfExperts(_expert_residual, _interface, N)
    with pytest.raises(InvalidInputError, match="init must have shape"):
        layer(features, C, jnp.zeros((K, N + 1)))
    with pytest.raises(InvalidInputError, match="leading expert axis"):
        layer({**features, "c": jnp.ones(K + 1)}, C)
    with pytest.raises(InvalidInputError, match="initial_damping"):
        CoupledMixtureOfExperts(_expert_residual, _interface, N, initial_damping=0.0)
    with pytest.raises(InvalidInputError, match="batching"):
        CoupledMixtureOfExperts(_expert_residual, _interface, N, batching="map")
    with pytest.raises(InvalidInputError, match="num_steps"):
        CoupledMixtureOfExperts(_expert_residual, _interface, N, num_steps=0)
    one_step = CoupledMixtureOfExperts(_expert_residual, _interface, N, num_steps=1, on_failure="warn")
    with pytest.warns(ConvergenceWarning, match="did not reach"):
        sol = jax.block_until_ready(one_step(features, C))
    assert not bool(sol.converged) and bool(jnp.all(jnp.isfinite(sol.coefficients)))
    strict = CoupledMixtureOfExperts(_expert_residual, _interface, N, num_steps=1, on_failure="raise")
    with pytest.raises(Exception, match="did not reach"):
        jax.block_until_ready(strict(features, C))


# ---------------------------------------------------------------------------------------------
# Benchmark
# ---------------------------------------------------------------------------------------------


def check_bench_rows(rows):
    assert len(rows) >= 2
    for r in rows:
        assert {"name", "ours_s", "anchor", "anchor_s", "ratio", "error_ours", "error_anchor",
                "temp_bytes_ours", "temp_bytes_anchor", "memory_ratio", "iterations"} <= set(r)
        assert r["anchor"] == "unrolled"
        assert r["ratio"] == pytest.approx(r["anchor_s"] / r["ours_s"])
    # the unrolled backward pass stores every iterate; the implicit one does not
    assert rows[-1]["temp_bytes_anchor"] > 10 * rows[-1]["temp_bytes_ours"]
    assert rows[-1]["temp_bytes_anchor"] > 5 * rows[0]["temp_bytes_anchor"]
    # converged solver: the implicit gradient matches the exact one
    assert rows[-1]["error_ours"] < 1e-6


def test_bench_implicit_small_keys_and_memory():
    from pdesolve.bench import format_implicit_table, run_implicit_benchmark

    result = run_implicit_benchmark(size=48, iterations=(10, 400), repeats=1)
    check_bench_rows(result["results"])
    assert "richardson_n48_k400" in format_implicit_table(result)
    with pytest.raises(InvalidInputError, match="iterations"):
        run_implicit_benchmark(size=48, iterations=(0,))


@pytest.mark.slow
def test_bench_implicit_quick_cli_json(capsys):
    from pdesolve.cli import main

    assert main(["bench", "implicit", "--quick", "--json"]) == 0
    check_bench_rows(json.loads(capsys.readouterr().out)["results"])


def test_projection_constants_get_no_gradient_so_training_cannot_move_the_constraint():
    """Differentiating every float array of a constrained model leaves the constraint data fixed."""
    proj = MassProjection(0.5, shape=(8,))
    lin = LinearEqualityProjection(jnp.asarray(np.random.default_rng(0).normal(size=(2, 8))))
    u = jnp.asarray(np.random.default_rng(1).normal(size=(1, 8)))

    def loss(projections):
        mass_proj, linear_proj = projections
        return jnp.sum(mass_proj(u, 3.0) ** 2) + jnp.sum(linear_proj(u, jnp.ones(2)) ** 2) + jnp.sum(mass_proj.mass(u))

    import equinox as eqx

    grads = eqx.filter_grad(loss)((proj, lin))
    for leaf in jax.tree.leaves(grads):
        assert np.all(np.asarray(leaf) == 0.0)


_SHARDED_EXPERTS = r"""
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import numpy as np
from pdesolve.constraints import LeastSquaresConstraint, MapExperts, MixtureOfExperts
from pdesolve.optim import gauss_newton

assert len(jax.devices()) == 2, jax.devices()

def residual(omega, features):  # a nonlinear square system per expert
    z = features["A"] @ omega
    return z + 0.1 * z**3 - features["y"]

layer = LeastSquaresConstraint(residual, 5, num_steps=20, solver=gauss_newton(), tolerance=1e-10)
A = jax.random.normal(jax.random.key(0), (4, 5, 5)) + 3.0 * jnp.eye(5)
y = jnp.linspace(-1.0, 1.0, 20).reshape(4, 5)

def loss(y, moe):
    return jnp.sum(jnp.sin(moe({"A": A, "y": y}).coefficients))

results = {}
for shard in (True, False):
    moe = MixtureOfExperts(layer, shard=shard, batching=MapExperts())
    sol = jax.jit(lambda y: moe({"A": A, "y": y}))(y)
    results[shard] = (np.asarray(sol.coefficients), np.asarray(jax.jit(jax.grad(loss), static_argnums=1)(y, moe)))
    assert bool(jnp.all(sol.converged))
    if shard:
        # the experts' solutions come back spread over both devices
        assert len(sol.coefficients.sharding.device_set) == 2, sol.coefficients.sharding
np.testing.assert_allclose(results[True][0], results[False][0], rtol=0, atol=1e-12)
np.testing.assert_allclose(results[True][1], results[False][1], rtol=0, atol=1e-11)
print("OK sharded")
"""


@pytest.mark.slow  # a fresh JAX process with two host devices; one device: every MixtureOfExperts test (shard=True)
def test_mixture_of_experts_sharded_over_two_cpu_devices_matches_one_device():
    import os
    import subprocess
    import sys

    env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", _SHARDED_EXPERTS], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK sharded" in proc.stdout
