"""Tests of the hard-constrained models of pdesolve.constraints: basis networks and their jets,
constraint points, the partition of unity, the initial lift, the models and their layers, and the
constraint problems of pdesolve.problems they solve."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdesolve import InvalidInputError, problems
from pdesolve.constraints import (
    CoupledExpertLayer,
    CoupledMixtureOfExperts,
    ExpertLayer,
    FourierFeatureBasis,
    InitialFieldFeatures,
    InitialLift,
    MapExperts,
    MinimumNormConstraint,
    MixtureOfExperts,
    PeriodicStreamfunctionBasis,
    QuadrantModel,
    SlabModel,
    TangentConstraint,
    basis_jet,
    jump_conditions,
    periodic_window,
    quadrant_point_counts,
    quadrant_points,
    slab_interface_points,
    slab_loss_points,
    slab_points,
    smooth_step,
    vorticity_jet,
)

HEAT = problems.get("hc-heat", problems.ConstraintProblem)
SORPTION = problems.get("diffusion-sorption", problems.ConstraintProblem)
VORTICITY = problems.get("hc-navier-stokes", problems.ConstraintProblem)


def central(f, x, e=1e-5):
    return (f(x + e) - f(x - e)) / (2 * e)


# ---------------------------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------------------------


def test_constraint_problems_are_registered_with_their_data():
    assert set(problems.names(problems.ConstraintProblem)) == {"diffusion-sorption", "hc-heat", "hc-navier-stokes"}
    assert dict(SORPTION.paper_rel_l2) == {"soft": 0.859, "hard": 0.0755, "moe": 0.036}
    assert SORPTION.diffusion == 5e-4 * 500.0 and SORPTION.robin == 5e-4 and SORPTION.left_value == 1.0
    with pytest.raises(InvalidInputError, match="constraint problem"):
        problems.get("heat1d", problems.ConstraintProblem)
    x, t = jnp.arange(5) / 4, jnp.asarray([0.5, 1.0])
    exact = np.exp(-0.1 * np.pi**2 * np.asarray(t))[:, None] * np.sin(np.pi * np.asarray(x))[None]
    np.testing.assert_allclose(HEAT.reference(x, t), exact, rtol=1e-14, atol=1e-16)


def test_slab_collocation_residual_selects_each_condition():
    """With basis jets b = 1 (so u = sum omega), b_t = 2, b_x = 3, b_xx = 4 at four typed points, each
    row is the residual of its condition."""
    omega = jnp.asarray([0.5, 0.25])
    ones = jnp.ones((4, 2))
    features = {"b": ones, "b_t": 2 * ones, "b_x": 3 * ones, "b_xx": 4 * ones,
                "types": jnp.arange(4), "values": jnp.asarray([0.0, 0.1, 1.0, 0.0])}
    u, u_t, u_x, u_xx = 0.75, 1.5, 2.25, 3.0
    r = SORPTION.collocation_residual(omega, features)
    pde = u_t - SORPTION.diffusion * u_xx / (1.0 + (1 - 0.29) / 0.29 * 2880.0 * 3.5e-4 * 0.874 * u ** (0.874 - 1))
    np.testing.assert_allclose(r, [pde, u - 0.1, u - 1.0, u + 5e-4 * u_x], rtol=1e-13)
    np.testing.assert_allclose(HEAT.collocation_residual(omega, features), [u_t - 0.1 * u_xx, u - 0.1, u - 1.0, u],
                               rtol=1e-13)


# ---------------------------------------------------------------------------------------------
# Basis networks and jets
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slab_net():
    return FourierFeatureBasis(6, 8, 1, key=jax.random.key(0))


def test_basis_jet_matches_finite_differences(slab_net):
    points = jnp.asarray([[0.3, 0.7], [0.81, 0.12]])
    jet = eqx.filter_jit(basis_jet)(slab_net, points)
    assert set(jet) == {"b", "b_t", "b_x", "b_xx"} and jet["b"].shape == (2, 6)
    for p, (x, t) in enumerate(np.asarray(points)):
        np.testing.assert_allclose(jet["b"][p], slab_net(x, t), rtol=1e-14)
        np.testing.assert_allclose(jet["b_t"][p], central(lambda s: slab_net(x, s), t), rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(jet["b_x"][p], central(lambda s: slab_net(s, t), x), rtol=1e-7, atol=1e-9)
        second = central(lambda s: central(lambda r: slab_net(r, t), s, 1e-4), x, 1e-4)
        np.testing.assert_allclose(jet["b_xx"][p], second, rtol=1e-4, atol=1e-6)
    # a smoother embedding (larger decay) damps the high Fourier features
    assert FourierFeatureBasis(6, 8, 1, key=jax.random.key(0), decay=4.0).decay == 4.0


def test_vorticity_jet_of_an_analytic_streamfunction():
    r"""psi = e^{-t} sin(2 pi x) cos(2 pi y): w = 8 pi^2 psi, Lap w = -8 pi^2 w, w_t = -w."""
    k = 2 * jnp.pi

    def net(x, y, t):
        psi = jnp.exp(-t) * jnp.sin(k * x) * jnp.cos(k * y)
        return jnp.stack([psi, 2 * psi])

    points = jnp.asarray([[0.1, 0.3, 0.2], [0.7, 0.45, 0.9]])
    jet = vorticity_jet(net, points)
    x, y, t = (points[:, i] for i in range(3))
    psi = jnp.exp(-t) * jnp.sin(k * x) * jnp.cos(k * y)
    w = 2 * k**2 * psi
    expected = {"w": w, "w_t": -w, "w_x": 2 * k**2 * jnp.exp(-t) * k * jnp.cos(k * x) * jnp.cos(k * y),
                "w_y": -2 * k**2 * jnp.exp(-t) * k * jnp.sin(k * x) * jnp.sin(k * y), "lap_w": -2 * k**2 * w,
                "psi_x": jnp.exp(-t) * k * jnp.cos(k * x) * jnp.cos(k * y),
                "psi_y": -jnp.exp(-t) * k * jnp.sin(k * x) * jnp.sin(k * y)}
    assert set(jet) == set(problems.VORTICITY_FIELDS)
    for name, value in expected.items():
        np.testing.assert_allclose(jet[name][:, 0], value, rtol=1e-12, atol=1e-10, err_msg=name)
        np.testing.assert_allclose(jet[name][:, 1], 2 * value, rtol=1e-12, atol=1e-10, err_msg=name)
    # the periodic basis network is periodic in x and y, and vanishes at t = 0 when asked to
    net = PeriodicStreamfunctionBasis(5, 8, 1, key=jax.random.key(1), vanish_at_start=True)
    np.testing.assert_allclose(net(0.2, 0.3, 0.4), net(1.2, -0.7, 0.4), rtol=1e-12)
    assert float(jnp.max(jnp.abs(net(0.2, 0.3, 0.0)))) == 0.0


def test_initial_field_features_and_lift_reproduce_the_initial_field():
    n = 16
    nodes = jnp.arange(n) / n
    xx, yy = jnp.meshgrid(nodes, nodes, indexing="ij")
    w0 = jnp.cos(2 * jnp.pi * xx) + jnp.sin(2 * jnp.pi * yy)  # zero mean
    features = InitialFieldFeatures(w0)
    x, y = 0.3, 0.65  # psi, u = psi_y, v = -psi_x, w, each scaled to unit rms
    c, s = np.cos(2 * np.pi * x), np.sin(2 * np.pi * y)
    expected = [c + s, np.sqrt(2) * np.cos(2 * np.pi * y), np.sqrt(2) * np.sin(2 * np.pi * x), c + s]
    np.testing.assert_allclose(features(x, y), expected, rtol=1e-12)

    w0 = jax.random.normal(jax.random.key(2), (n, n))
    w0 = w0 - jnp.mean(w0)  # a vorticity on the periodic square has zero mean
    lift = InitialLift(w0)
    at_start = jnp.stack([xx.ravel(), yy.ravel(), jnp.zeros(n * n)], 1)
    assert float(jnp.max(jnp.abs(lift(at_start)["w"] - w0.ravel()))) < 1e-12
    p, e = jax.random.uniform(jax.random.key(3), (4, 3)), 1e-5
    f = lift(p)

    def d(name, axis):
        return (lift(p.at[:, axis].add(e))[name] - lift(p.at[:, axis].add(-e))[name]) / (2 * e)

    scale = {name: float(jnp.max(jnp.abs(f[name]))) for name in f}
    assert float(jnp.max(jnp.abs(d("w", 0) - f["w_x"]))) < 1e-5 * scale["w_x"]
    assert float(jnp.max(jnp.abs(d("w", 1) - f["w_y"]))) < 1e-5 * scale["w_y"]
    assert float(jnp.max(jnp.abs(d("w_x", 0) + d("w_y", 1) - f["lap_w"]))) < 1e-5 * scale["lap_w"]
    assert float(jnp.max(jnp.abs(-(d("psi_x", 0) + d("psi_y", 1)) - f["w"]))) < 1e-6 * scale["w"]
    assert float(jnp.max(jnp.abs(f["w_t"]))) == 0.0
    smooth = InitialLift(w0, max_mode=2)  # a smoothed start keeps |k| <= 2 only
    assert smooth.wavenumbers.shape[0] == 24 and float(jnp.max(jnp.abs(smooth.wavenumbers))) == 2.0


# ---------------------------------------------------------------------------------------------
# Constraint points and the partition of unity
# ---------------------------------------------------------------------------------------------


def test_slab_points_partition_or_share_the_conditions():
    glob = slab_points(SORPTION, 1, 128, jax.random.key(7))
    assert glob.points.shape == (1, 128, 2) and [int((glob.types[0] == c).sum()) for c in range(4)] == [64, 32, 16, 16]
    split = slab_points(SORPTION, 4, 32, jax.random.key(7))
    assert split.points.shape == (4, 32, 2)
    assert int((split.types == 1).sum()) == 32 and int((split.types[1:3] >= 2).sum()) == 0  # no boundary inside
    np.testing.assert_allclose(split.values[split.types == 2], 1.0)
    np.testing.assert_allclose(split.values[split.types == 1], 0.1)
    points, types, values = slab_points(SORPTION, 4, 32, jax.random.key(7), global_conditions=True)
    assert points.shape == (4, 80, 2)
    for k in range(4):  # every expert: all initial and boundary points, and its own slab's PDE points
        assert [int((types[k] == c).sum()) for c in range(4)] == [16, 32, 16, 16]
        conditions = types[k] > 0
        assert bool(jnp.all(points[k][conditions] == glob.points[0][glob.types[0] > 0]))
        assert bool(jnp.all(values[k][conditions] == glob.values[0][glob.types[0] > 0]))
        x = points[k][~conditions][:, 0]
        assert float(x.min()) > k / 4 and float(x.max()) < (k + 1) / 4
    with pytest.raises(InvalidInputError, match="PDE points"):
        slab_points(SORPTION, 1, 5, jax.random.key(7))  # 3 initial + 2 x 2 boundary points already
    interface, before, after = slab_interface_points(4, 3)
    assert interface.shape == (9, 2) and before.tolist() == [0] * 3 + [1] * 3 + [2] * 3
    np.testing.assert_allclose(interface[:, 0], np.repeat([0.25, 0.5, 0.75], 3))
    interior, ic, left, right = slab_loss_points(jax.random.key(0), 10, 5)
    assert interior.shape == (10, 2) and float(jnp.max(jnp.abs(ic[:, 1]))) == 0.0
    assert float(jnp.max(jnp.abs(left[:, 0]))) == 0.0 and bool(jnp.all(right[:, 0] == 1.0))


def test_quadrant_points_overlap_margin_and_sharing():
    w0 = jax.random.normal(jax.random.key(2), (32, 32))
    points, types, values = quadrant_points(w0, 2, 8, 16, jax.random.key(3), overlap=0.25, margin=0.05)
    assert points.shape == (4, 36 + 16, 3) and bool(jnp.all(types.sum(1) == 36))
    pde = points[types == 0]
    assert float(jnp.min(jnp.abs((pde[:, :2] + 0.25) % 0.5 - 0.25))) >= 0.05  # outside the blending strips
    shared = quadrant_points(w0, 2, 8, 16, jax.random.key(3), overlap=0.25, margin=0.05, shared_pde=4)
    assert shared.points.shape == (4, 36 + 16 + 3 * 4, 3) and bool(jnp.all(shared.points[:, :52] == points))
    assert bool(jnp.all(shared.points[0, 52:56] == points[1, 36:40]))  # expert 1's first 4 PDE points
    plain = quadrant_points(w0, 2, 8, 16, jax.random.key(3))
    assert plain.points.shape == (4, 32, 3) and len(np.unique(np.asarray(plain.points[plain.types == 1]), axis=0)) == 64
    index = np.rint(np.asarray(plain.points[0, :16, :2]) * 32).astype(int)
    np.testing.assert_array_equal(plain.values[0, :16], np.asarray(w0)[index[:, 0], index[:, 1]])
    assert quadrant_point_counts(128, 2) == (8, 16) and quadrant_point_counts(128, 2, initial_points=False) == (0, 32)
    with pytest.raises(InvalidInputError, match="different numbers"):
        quadrant_points(w0, 2, 3, 4, jax.random.key(3))  # 3 initial points per axis: 2 + 1 per quadrant


def test_smooth_step_and_windows_are_a_c4_partition_of_unity():
    z = jnp.linspace(-1.5, 1.5, 301)
    s = smooth_step(z)
    assert float(s[0]) == 0.0 and float(s[-1]) == 1.0 and bool(jnp.all(jnp.diff(s) >= 0))
    d = smooth_step
    for k in range(1, 5):  # the first four derivatives vanish at both ends of the strip
        d = jax.grad(d)
        assert float(jnp.max(jnp.abs(jax.jit(jax.vmap(d))(jnp.asarray([-1.0, 1.0]))))) < 1e-9, k
    x = jnp.linspace(0, 1, 1001)
    chi = jnp.stack([periodic_window(x, i, 2, 0.05) for i in range(2)])
    assert float(jnp.max(jnp.abs(chi.sum(0) - 1))) < 1e-12
    assert float(jnp.min(chi[0][(x > 0.05) & (x < 0.45)])) == 1.0
    assert float(jnp.max(chi[0][(x > 0.55) & (x < 0.95)])) == 0.0


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def _slab_layer(problem, n, k=1):
    constraint = MinimumNormConstraint(problem.collocation_residual, n, num_steps=2, tolerance=1e-8,
                                       on_failure="ignore")
    return ExpertLayer(MixtureOfExperts(constraint, batching=MapExperts()))


def test_soft_slab_loss_of_the_zero_field():
    """omega = 0 (u = 0): the loss is the initial and boundary mismatch alone, for diffusion-sorption
    u0 = 0.1 and u(0) = 1 (no PDE or Robin residual), for heat the mean of sin^2(pi x)."""
    model = SlabModel(FourierFeatureBasis(4, 8, 1, key=jax.random.key(0)), omega=jnp.zeros(4))
    batch = slab_loss_points(jax.random.key(1), 16, 8)
    loss, (converged, omegas) = eqx.filter_jit(lambda m: m.residual_loss(SORPTION, None, batch))(model)
    assert float(loss) == pytest.approx(0.01 + 1.0, rel=1e-14) and bool(converged) and omegas.shape == (1, 4)
    heat_loss, _ = eqx.filter_jit(lambda m: m.residual_loss(HEAT, None, batch))(model)
    assert float(heat_loss) == pytest.approx(float(jnp.mean(jnp.sin(jnp.pi * batch[1][:, 0]) ** 2)), rel=1e-12)
    with pytest.raises(InvalidInputError, match="exactly one"):
        SlabModel(model.net, omega=jnp.zeros(4), layer=_slab_layer(HEAT, 4))


@pytest.fixture(scope="module")
def heat_models():
    """A global hard model, a 2-expert mixture and a coupled mixture on hc-heat, with their points."""
    net = FourierFeatureBasis(64, 8, 1, key=jax.random.key(0))
    split = FourierFeatureBasis(32, 8, 1, key=jax.random.key(0))
    hard = (SlabModel(net, layer=_slab_layer(HEAT, 64)), slab_points(HEAT, 1, 16, jax.random.key(7)))
    moe = (SlabModel(split, layer=_slab_layer(HEAT, 32), num_experts=2), slab_points(HEAT, 2, 8, jax.random.key(7)))
    coupled_mixture = CoupledMixtureOfExperts(HEAT.collocation_residual, jump_conditions, 32, num_steps=20,
                                              tolerance=1e-10, initial_damping=1e-10, on_failure="ignore")
    coupled = (SlabModel(split, layer=CoupledExpertLayer(coupled_mixture, *slab_interface_points(2, 4), ("b", "b_x")),
                         num_experts=2), moe[1])
    return {"hard": hard, "moe": moe, "coupled": coupled}


def test_coupled_layer_checks_its_interfaces():
    mixture = CoupledMixtureOfExperts(HEAT.collocation_residual, jump_conditions, 8)
    points, before, after = slab_interface_points(3, 2)
    layer = CoupledExpertLayer(mixture, points, before, after, ("b", "b_x"))
    assert not layer.interface_points.weak_type  # a training update keeps its type (no recompilation)
    with pytest.raises(InvalidInputError, match="interface_points"):
        CoupledExpertLayer(mixture, points, before[:3], after, ("b",))


@pytest.mark.parametrize("kind", ["hard", "moe", "coupled"])
def test_hard_slab_models_hold_their_constraints(kind, heat_models):
    model, points = heat_models[kind]
    omegas, sol = eqx.filter_jit(lambda m: m.coefficients(points))(model)
    assert omegas.shape == (model.num_experts, model.layer.num_coefficients) and bool(jnp.all(sol.converged))
    residual = eqx.filter_jit(lambda m, o: m.constraint_residual(HEAT, points, o))(model, omegas)
    assert residual.shape[0] == points.types.size + (8 if kind == "coupled" else 0)  # 4 points x (u, u_x)
    assert float(jnp.max(jnp.abs(residual))) < 1e-9
    if kind == "coupled":  # u and u_x agree across x = 1/2 at the interface points
        interface = model.layer.interface_points
        jumps = model.evaluate(omegas, interface, jnp.zeros(4, int))["b_x"] - model.evaluate(
            omegas, interface, jnp.ones(4, int))["b_x"]
        assert float(jnp.max(jnp.abs(jumps))) < 1e-9


@pytest.mark.slow  # the layers' implicit gradients: tests/constraints/test_constraints.py (default)
@pytest.mark.parametrize("kind", ["hard", "coupled"])
def test_hard_slab_models_train_along_their_loss_gradient(kind, heat_models):
    """The loss gradient through the hard layer is the loss's derivative: a central difference along
    the gradient's own direction equals its squared norm. The coupled layer's gradient is the tangent
    one (-J^+ dR), not the derivative of where its under-determined solve from zero lands, so there only
    the loss and a nonzero finite gradient are checked."""
    model, points = heat_models[kind]
    batch = slab_loss_points(jax.random.key(1), 16, 8)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    loss_of = eqx.filter_jit(lambda p: eqx.combine(p, static).residual_loss(HEAT, points, batch)[0])
    loss, grads = eqx.filter_jit(eqx.filter_value_and_grad(loss_of))(params)
    assert float(loss) == pytest.approx(float(loss_of(params)), rel=1e-12)
    grad_norm = sum(float(jnp.sum(g**2)) for g in jax.tree.leaves(grads))
    assert 0.0 < grad_norm < np.inf
    if kind == "coupled":
        return
    eps = 1e-5 / np.sqrt(grad_norm)
    shifted = [loss_of(jax.tree.map(lambda p, g, s=s: p + s * eps * g, params, grads)) for s in (1.0, -1.0)]
    assert (float(shifted[0]) - float(shifted[1])) / (2 * eps) == pytest.approx(grad_norm, rel=1e-4)


def test_blended_quadrant_model_equals_the_owner_away_from_edges_and_is_continuous():
    net = PeriodicStreamfunctionBasis(12, 8, 1, key=jax.random.key(0))
    constraint = MinimumNormConstraint(VORTICITY.collocation_residual, 12, on_failure="ignore")
    layer = ExpertLayer(MixtureOfExperts(constraint, batching=MapExperts()), initial=VORTICITY.linearised_coefficients)
    model = QuadrantModel(net, layer=layer, experts_per_axis=2, blend=0.05)
    omegas = jax.random.normal(jax.random.key(1), (4, 12))
    inside = jnp.array([[0.1, 0.2, 0.3], [0.6, 0.3, 0.5], [0.9375, 0.4375, 0.0]])
    edge = jnp.array([[0.5 - 1e-7, 0.3, 0.4], [0.5 + 1e-7, 0.3, 0.4]])
    both = eqx.filter_jit(lambda m, o, p: (m.evaluate(o, p), m.evaluate(o, p, m.expert_of(p))))
    blended, own = both(model, omegas, jnp.concatenate([inside, edge]))
    for name in blended:  # equal up to round-off (the compiled sums may be ordered differently)
        scale = 1.0 + float(jnp.max(jnp.abs(own[name][:3])))
        assert float(jnp.max(jnp.abs(blended[name][:3] - own[name][:3]))) <= 1e-12 * scale, name
    assert abs(float(blended["w"][3] - blended["w"][4])) < 1e-5 < abs(float(own["w"][3] - own["w"][4]))


def _lifted_quadrant_model(n=8):
    w0 = jax.random.normal(jax.random.key(2), (n, n))
    w0 = w0 - jnp.mean(w0)
    net = PeriodicStreamfunctionBasis(16, 8, 1, key=jax.random.key(0), vanish_at_start=True)
    constraint = TangentConstraint(VORTICITY.collocation_residual, 16, num_steps=20, tolerance=1e-8,
                                   on_failure="ignore")
    layer = ExpertLayer(MixtureOfExperts(constraint, batching=MapExperts()), initial=VORTICITY.linearised_coefficients)
    return QuadrantModel(net, layer=layer, experts_per_axis=2, blend=0.05, lift=InitialLift(w0)), w0


def test_lifted_quadrant_model_starts_at_the_initial_field_and_solves_pde_points_only():
    n = 8
    model, w0 = _lifted_quadrant_model(n)
    nodes = jnp.arange(n) / n
    xx, yy = jnp.meshgrid(nodes, nodes, indexing="ij")
    at_start = jnp.stack([xx.ravel(), yy.ravel(), jnp.zeros(n * n)], 1)
    omegas = jax.random.normal(jax.random.key(1), (4, 16))
    w_start = eqx.filter_jit(lambda m, o: m.evaluate(o, at_start)["w"])(model, omegas)
    assert float(jnp.max(jnp.abs(w_start - w0.ravel()))) < 1e-10
    points = quadrant_points(w0, 2, *quadrant_point_counts(16, 2, initial_points=False), jax.random.key(7),
                             0.5, 0.05)
    assert bool(jnp.all(points.types == 0)) and points.points.shape == (4, 4, 3)
    omegas, sol = eqx.filter_jit(lambda m: m.coefficients(points))(model)
    # the solver's own max|F| at the PDE points (the model's blended prediction there: the slow test below)
    assert bool(jnp.all(sol.converged)) and float(jnp.max(sol.residual_norm)) < 1e-8


@pytest.mark.slow  # the solve and its residual norm: the test above
def test_lifted_quadrant_model_prediction_holds_the_pde_at_its_points():
    model, w0 = _lifted_quadrant_model()
    points = quadrant_points(w0, 2, *quadrant_point_counts(16, 2, initial_points=False), jax.random.key(7),
                             0.5, 0.05)
    assert bool(jnp.all(points.types == 0)) and points.points.shape == (4, 4, 3)
    omegas, sol = eqx.filter_jit(lambda m: m.coefficients(points))(model)
    residual = eqx.filter_jit(lambda m, o: m.constraint_residual(VORTICITY, points, o))(model, omegas)
    assert float(jnp.max(jnp.abs(residual))) < 1e-8
