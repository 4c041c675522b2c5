"""The one registry of named problems: every problem pdesolve ships is declared here once.

A problem is a frozen dataclass deriving from :class:`AbstractProblem`; its class says what it
is for (a reference solve, a dataset recipe, a neural-field benchmark, a hard-constraint
benchmark) and carries what that use needs. Names are unique across all classes. The command
line, dataset generation, the experiments and the tests look problems up here::

    from pdesolve import problems

    problems.names()                          # every problem
    problems.names(problems.Recipe)           # the dataset recipes
    recipe = problems.get("ns-kolmogorov", problems.Recipe)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from .._errors import InvalidInputError


@dataclass(frozen=True)
class AbstractProblem:
    """Base of every registered problem: a unique `name` and a one-line `description`.

    Subclasses set `label`, the short name of their kind ("recipe", "reference", ...) that
    `pdesolve problems` and error messages use.
    """

    name: str
    description: str
    label: ClassVar[str] = "problem"


P = TypeVar("P", bound=AbstractProblem)
_REGISTRY: dict[str, AbstractProblem] = {}


def register(problem: P, *, overwrite: bool = False) -> P:
    """Add `problem` under ``problem.name``; returns it (so it can be used as a declaration)."""
    if not isinstance(problem, AbstractProblem):
        raise InvalidInputError(f"a problem must derive from AbstractProblem, got {type(problem).__name__}")
    name = problem.name
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise InvalidInputError(f"problem name must be a non-empty word, got {name!r}")
    if name in _REGISTRY and not overwrite:
        raise InvalidInputError(f"a problem called {name!r} is already registered "
                                f"({type(_REGISTRY[name]).__name__})")
    _REGISTRY[name] = problem
    return problem


def names(kind: type[AbstractProblem] | None = None) -> tuple[str, ...]:
    """Names of the registered problems (of class `kind` only, if given), in declaration order."""
    return tuple(n for n, p in _REGISTRY.items() if kind is None or isinstance(p, kind))


def get(name: str, kind: type[P] | None = None) -> P:
    """The problem called `name`; with `kind`, it must be of that class.

    Raises :class:`~pdesolve.InvalidInputError` naming the choices otherwise.
    """
    problem = _REGISTRY.get(name)
    if problem is None or (kind is not None and not isinstance(problem, kind)):
        label = "problem" if kind is None else kind.label
        label = label if label.endswith("problem") else f"{label} problem"
        raise InvalidInputError(f"unknown {label} {name!r}; choose from {', '.join(names(kind))}")
    return problem


def registry(kind: type[P] | None = None) -> Mapping[str, P]:
    """A read-only snapshot ``{name: problem}`` (of class `kind` only, if given)."""
    return {n: _REGISTRY[n] for n in names(kind)}
