"""The one problem registry."""

import warnings

import jax.numpy as jnp
import pytest

from pdesolve import InvalidInputError, problems
from pdesolve.problems import AbstractProblem, Recipe, ReferenceProblem


def test_every_kind_is_listed_once_with_unique_names():
    everything = problems.names()
    assert len(everything) == len(set(everything))
    assert set(problems.names(Recipe)) >= {"heat1d", "heat2d", "burgers1d", "ns-fno", "ns-kolmogorov"}
    assert problems.names(ReferenceProblem) == problems.PROBLEMS
    assert set(problems.names(Recipe)).isdisjoint(problems.names(ReferenceProblem))
    assert problems.get("ns-fno", Recipe).extent == 1.0
    assert problems.registry(Recipe) == dict(problems.RECIPES)


def test_unknown_or_wrong_kind_names_the_choices():
    with pytest.raises(InvalidInputError, match=r"unknown recipe problem 'heat'; choose from heat1d"):
        problems.get("heat", Recipe)
    with pytest.raises(InvalidInputError, match=r"unknown problem 'nope'"):
        problems.get("nope")
    with pytest.raises(InvalidInputError, match="already registered"):
        problems.register(problems.get("heat"))
    with pytest.raises(InvalidInputError, match="AbstractProblem"):
        problems.register("heat")
    with pytest.raises(InvalidInputError, match="non-empty word"):
        problems.register(AbstractProblem("two words", ""))


def test_build_problem_gives_the_declared_pde_and_data():
    p = problems.build_problem("navier-stokes", resolution=16, forcing="fno", dtype=jnp.float64)
    assert p.pde.grid.extent[0] == 1.0 and p.u0.shape == (1, 16, 16) and p.u0.dtype == jnp.float64
    assert p.dt == pytest.approx(1e-2 * 64 / 16) and p.parameters["viscosity"] == 1e-3
    b = problems.build_problem("burgers", resolution=8, ndim=1, viscosity=0.05)
    assert b.u0.shape == (1, 8) and float(b.pde.viscosity) == pytest.approx(0.05)
    with pytest.raises(InvalidInputError, match="forcing"):
        problems.build_problem("navier-stokes", resolution=8, forcing="wind")


def test_the_old_neural_solvers_path_forwards_with_a_warning():
    import pdesolve.neural_fields
    import pdesolve.neural_solvers as old

    with pytest.warns(DeprecationWarning, match="pdesolve.neural_fields.TENG"):
        assert old.TENG is pdesolve.neural_fields.TENG
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError):
            old.NotAName  # noqa: B018


def test_cli_lists_the_registry(capsys):
    import json

    from pdesolve.cli import main

    assert main(["problems", "--kind", "recipe", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(problems.names(Recipe)) and {r["kind"] for r in rows} == {"recipe"}
    assert main(["problems"]) == 0
    assert "ns-kolmogorov" in capsys.readouterr().out
    assert main(["problems", "--kind", "nope"]) == 2


def test_every_name_the_old_neural_solvers_path_offered_still_resolves():
    import importlib

    import pdesolve.neural_solvers as old

    for name, home in old.MOVED.items():
        assert hasattr(importlib.import_module(home), name), f"{name} is not in {home}"
