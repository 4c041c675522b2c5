"""The neural-field benchmark problems in the registry: lookups, declared PDEs, references, layering."""

from __future__ import annotations

import ast
import dataclasses
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdesolve import InvalidInputError, problems
from pdesolve.neural_fields import (
    AdvectionField,
    AllenCahnField,
    BurgersField,
    HeatField,
    PeriodicMLP,
    Siren,
    TENGNetwork,
    build_network,
    field_equation,
    laplacian,
    parameter_count,
)
from pdesolve.pdes import AbstractPDE, Heat
from pdesolve.problems import (
    FieldNetwork,
    FieldProblem,
    LegacyTENGInitialCondition,
    TENGInitialCondition,
    get,
    grid_points,
)
from pdesolve.spatial import PeriodicGrid

FIELD_PROBLEMS = ("teng-heat", "teng-allen-cahn", "teng-burgers", "teng-heat-legacy", "teng-allen-cahn-legacy",
                  "teng-burgers-legacy", "insr-advection", "insr-heat")


def test_field_problems_are_registered_under_unique_names():
    assert problems.names(FieldProblem) == FIELD_PROBLEMS
    assert len(set(problems.names())) == len(problems.names())
    for name in FIELD_PROBLEMS:
        problem = get(name, FieldProblem)
        assert problem.name == name and issubclass(problem.pde, AbstractPDE)
        assert problem.final_time / problem.dt == pytest.approx(round(problem.final_time / problem.dt))
    # the reference problem "heat" is not a field problem, and an unknown name lists the choices
    with pytest.raises(InvalidInputError, match="unknown field problem 'heat'; choose from teng-heat"):
        get("heat", FieldProblem)
    with pytest.raises(InvalidInputError, match="already registered"):
        problems.register(get("teng-heat"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("teng-heat", HeatField(0.1)), ("teng-allen-cahn", AllenCahnField(0.005)), ("teng-burgers", BurgersField(0.01)),
     ("insr-advection", AdvectionField(0.25)), ("insr-heat", HeatField(0.1))],
)
def test_field_equation_is_the_declared_pde(name, expected):
    """The field equation derived from the declared PDE equals the spectral PDE's right-hand side
    on a smooth periodic field (Burgers: the vector equation with equal components)."""
    problem = get(name, FieldProblem)
    equation = field_equation(problem)
    assert equation == expected
    n = 16
    grid = PeriodicGrid(n, extent=problem.extent[0], ndim=problem.ndim, dtype=jnp.float64)
    pde = problem.pde_on(grid)
    points = jnp.moveaxis(grid.coordinates(), 0, -1).reshape(-1, problem.ndim)

    def u(x):
        k = 2 * jnp.pi / problem.extent[0]
        return 0.4 + jnp.sin(k * x[0]) * (jnp.cos(k * x[-1]) if problem.ndim == 2 else 1.0)

    values = jax.vmap(u)(points).reshape(grid.shape)[None]
    state = jnp.concatenate([values] * pde.num_channels)
    np.testing.assert_allclose(equation.rhs_on(u, points), pde.rhs(0.0, state)[0].ravel(), atol=1e-11)


def test_field_equation_rejects_other_problems():
    with pytest.raises(InvalidInputError, match="FieldProblem"):
        field_equation(get("heat"))


def test_teng_initial_condition_is_the_papers():
    """u0 = cosh(3 sin x) sinh(sin y) / 25: rank 1, even x modes, odd y modes, max 0.4733; its
    Fourier factors reproduce it, and the legacy problems keep 1/2 f(x) f(y)."""
    problem = get("teng-heat", FieldProblem)
    assert isinstance(problem.initial_condition, TENGInitialCondition)
    points = problem.collocation(64)[0]
    u0 = np.asarray(problem.initial_values(points)).reshape(64, 64)
    assert float(np.max(np.abs(u0))) == pytest.approx(0.4732611357856, rel=1e-12)
    assert float(problem.initial_values(jnp.array([math.pi / 2, math.pi / 2]))) == pytest.approx(
        math.cosh(3) * math.sinh(1) / 25, rel=1e-14)
    singular = np.linalg.svd(u0, compute_uv=False)
    assert singular[1] < 1e-14 * singular[0]
    modes = np.abs(np.fft.fft2(u0)) > 1e-12 * np.abs(np.fft.fft2(u0)).max()
    kx, ky = np.nonzero(modes)
    assert np.all(np.minimum(kx, 64 - kx) % 2 == 0) and np.all(np.minimum(ky, 64 - ky) % 2 == 1)
    np.testing.assert_allclose(problem.exact_values(points, 0.0), u0.ravel(), rtol=0, atol=1e-15)
    for name in ("teng-heat", "teng-allen-cahn", "teng-burgers"):
        assert get(name, FieldProblem).initial_condition == TENGInitialCondition()
        legacy = get(f"{name}-legacy", FieldProblem)
        assert legacy.initial_condition == LegacyTENGInitialCondition() and legacy.dt == 0.01
        assert legacy.coefficients == get(name, FieldProblem).coefficients
    x = jnp.array([0.3, 1.1])
    f = [math.sin(v) + 0.5 * math.cos(2 * v) for v in (0.3, 1.1)]
    assert float(LegacyTENGInitialCondition()(x)) == pytest.approx(0.5 * f[0] * f[1], rel=1e-14)


@pytest.mark.parametrize("name", ["teng-heat", "teng-heat-legacy"])
def test_teng_heat_reference_is_exact_and_solves_the_heat_equation(name):
    problem = get(name, FieldProblem)
    x, t = jnp.array([0.7, 2.1]), 0.3
    u_t = jax.grad(lambda s: problem.exact_values(x, s))(t)
    assert float(u_t) == pytest.approx(float(0.1 * laplacian(lambda y: problem.exact_values(y, t), x)), rel=1e-10)
    reference = problem.reference(16)
    assert reference.points.shape == (256, 2)
    np.testing.assert_allclose(reference.values(0.0), problem.initial_values(reference.points), rtol=0, atol=1e-15)
    assert reference.error(lambda y: problem.exact_values(y, 0.5), 0.5) < 1e-15
    assert reference.error(lambda y: 0.0 * y[0], 0.5) == 1.0


def test_spectral_reference_matches_the_exact_heat_solution():
    """The ETDRK4 path (taken when no exact solution is declared) reproduces the exact heat solution."""
    heat = get("teng-heat", FieldProblem)
    spectral = dataclasses.replace(heat, name="spectral-heat", exact=None, reference_dt=0.05)
    a, b = spectral.reference(48), heat.reference(48)  # the initial condition has modes up to ~20
    np.testing.assert_allclose(a.values(0.4), b.values(0.4), rtol=1e-12, atol=1e-14)
    assert a.values(0.4) is a.values(0.4)  # cached per time


def test_spectral_burgers_reference_starts_from_the_initial_condition_and_follows_the_field_equation():
    """The vector Burgers reference from (u0, u0) evolves the scalar TENG Burgers field: one small
    step moves it by dt N[u0] to second order."""
    problem = get("teng-burgers", FieldProblem)
    reference = problem.reference(16)
    u0 = problem.initial_values(reference.points)
    np.testing.assert_array_equal(reference.values(0.0), u0)
    dt = problem.reference_dt
    rhs = field_equation(problem).rhs_on(problem.initial_condition, reference.points)
    drift = reference.values(dt) - (u0 + dt * rhs)
    assert float(jnp.max(jnp.abs(drift))) < 50 * dt**2 < float(jnp.max(jnp.abs(dt * rhs)))


def test_evaluation_points_and_collocation_cover_the_box():
    advection = get("insr-advection", FieldProblem)
    points = advection.reference().points
    assert points.shape == (801, 1) and float(points[0, 0]) == -2.0 and float(points[-1, 0]) == 2.0
    with pytest.raises(InvalidInputError, match="cube"):
        dataclasses.replace(advection, name="x", lower=(-2.0, 0.0), upper=(2.0, 1.0)).collocation(4)
    pts, w = get("teng-allen-cahn", FieldProblem).collocation(8)
    np.testing.assert_array_equal(pts, grid_points(8)[0])
    assert pts.shape == (64, 2) and float(jnp.sum(w)) == pytest.approx((2 * math.pi) ** 2, rel=1e-14)
    assert float(pts[9, 0]) == pytest.approx(2 * math.pi / 8) and float(pts[9, 1]) == pytest.approx(2 * math.pi / 8)


def test_declared_networks_build_on_the_box():
    key = jax.random.PRNGKey(0)
    teng = build_network(get("teng-heat", FieldProblem), key)
    assert isinstance(teng, TENGNetwork) and parameter_count(teng) == 8361
    legacy = build_network(get("teng-heat-legacy", FieldProblem), key)
    assert isinstance(legacy, PeriodicMLP) and parameter_count(legacy) == 1781
    assert parameter_count(build_network(get("teng-heat", FieldProblem), key, hidden=(6, 6))) == 2 * 3 * 3 + 2 * 42 + 7
    with pytest.raises(InvalidInputError, match="one width"):
        build_network(get("teng-heat", FieldProblem), key, hidden=(6, 5))
    advection = build_network(get("insr-advection", FieldProblem), key)
    assert isinstance(advection, Siren) and parameter_count(advection) == 481
    assert advection.lower == (-2.0,) and not advection.periodic and advection.omega0 == 30.0
    heat = build_network(get("insr-heat", FieldProblem), key)
    assert parameter_count(heat) == 1249 and heat.periodic
    x = jnp.array([0.3, 1.0])
    assert float(heat(x)) == pytest.approx(float(heat(x + 2 * jnp.pi)), abs=1e-12)
    assert parameter_count(build_network(get("teng-heat-legacy", FieldProblem), key, hidden=(5, 4))) == 30 + 50 + 24 + 5


def test_bad_declarations_raise():
    heat = get("teng-heat", FieldProblem)
    with pytest.raises(InvalidInputError, match="lower < upper"):
        dataclasses.replace(heat, name="bad", upper=(0.0, 1.0))
    with pytest.raises(InvalidInputError, match="periodic"):
        dataclasses.replace(heat, name="bad", exact=None, periodic=False)
    with pytest.raises(InvalidInputError, match="boundary"):
        dataclasses.replace(heat, name="bad", boundary_points=((0.0, 0.0),))
    with pytest.raises(InvalidInputError, match="network kind"):
        FieldNetwork("mlp", (4,))
    with pytest.raises(InvalidInputError, match="exact"):
        get("teng-burgers", FieldProblem).exact_values(jnp.zeros((1, 2)), 0.0)
    with pytest.raises(InvalidInputError, match="grid size"):
        grid_points(1)
    pde = heat.pde_on(PeriodicGrid(8, ndim=2, dtype=jnp.float64))
    assert isinstance(pde, Heat) and float(pde.diffusivity) == 0.1


def test_field_problems_sit_below_the_neural_packages():
    """The registry declares PDEs with pdesolve.pdes objects; it never imports the solvers."""
    source = Path(problems.__file__).with_name("_fields.py").read_text()
    imported = [node.module or "" for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)]
    assert not [m for m in imported if "neural" in m or "training" in m or "datasets" in m]
    assert "pdes" in imported and "integrators" in imported
