"""The Python fragments of the documentation pages stay true to the API.

The README's examples run as written (``test_readme.py``) and the pages' full examples are
included from ``examples/`` (``test_examples.py``). The pages also show short fragments that
use names they do not define (``trajectories``, ``grads``...), so they cannot run; here each one
must compile, import only names that exist, reach only attributes that exist through a
``pdesolve`` module (``po.diffgrad``), and call ``pdesolve`` functions and classes only with
keyword arguments their signatures take.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRAGMENTS = [
    (page.name, index, source)
    for page in sorted((ROOT / "docs").glob("*.md"))
    for index, source in enumerate(re.findall(r"^```python\n(.*?)^```$", page.read_text(), flags=re.S | re.M))
    if not source.lstrip().startswith("--8<--")  # an included example script, run by test_examples.py
]


def _resolve(node: ast.AST, names: dict):
    """The object an expression of names and attributes stands for, or None when unknown.

    Raises AttributeError when an attribute of a known pdesolve object does not exist."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, names)
        if base is None:
            return None
        if not hasattr(base, node.attr):
            raise AttributeError(f"{getattr(base, '__name__', base)!s} has no attribute {node.attr!r}")
        return getattr(base, node.attr)
    return None


def _problems(source: str) -> list[str]:
    tree = ast.parse(source)
    names: dict[str, object] = {}
    problems = []
    for node in ast.walk(tree):  # imports first: the fragments import at the top
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "pdesolve":
                    module = importlib.import_module(alias.name)
                    names[alias.asname or alias.name.split(".")[0]] = module if alias.asname else \
                        importlib.import_module("pdesolve")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pdesolve":
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name):
                    problems.append(f"line {node.lineno}: {node.module} has no {alias.name!r}")
                else:
                    names[alias.asname or alias.name] = getattr(module, alias.name)
    for node in ast.walk(tree):
        try:
            if isinstance(node, ast.Attribute):
                _resolve(node, names)
            if isinstance(node, ast.Call):
                target = _resolve(node.func, names)
                if target is None or not callable(target):
                    continue
                try:
                    signature = inspect.signature(target)
                except (TypeError, ValueError):
                    continue
                parameters = signature.parameters.values()
                if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
                    continue
                accepted = {p.name for p in parameters if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
                for keyword in node.keywords:
                    if keyword.arg is not None and keyword.arg not in accepted:
                        problems.append(f"line {node.lineno}: {ast.unparse(node.func)}() takes no {keyword.arg}=")
        except AttributeError as err:
            problems.append(f"line {node.lineno}: {err}")
    return problems


def test_the_pages_have_fragments():
    assert len(FRAGMENTS) >= 10
    assert {page for page, _, _ in FRAGMENTS} >= {"neural-operators.md", "optimizers.md", "hybrid.md"}


@pytest.mark.parametrize(("page", "index", "source"), FRAGMENTS, ids=[f"{p}:{i}" for p, i, _ in FRAGMENTS])
def test_fragment_is_true_to_the_api(page, index, source):
    compile(source, f"{page} fragment {index}", "exec")
    problems = _problems(source)
    assert not problems, f"docs/{page}, Python block {index}: " + "; ".join(problems)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("from pdesolve.training import tran", "has no 'tran'"),
        ("import pdesolve.optim as po\npo.difgrad(1e-3)", "has no attribute 'difgrad'"),
        ("from pdesolve.training import TrainConfig\nTrainConfig(epoch=3)", "takes no epoch="),
        ("from pdesolve.training import TrainConfig\nTrainConfig(epochs=3)", None),
    ],
)
def test_the_check_finds_stale_names_and_keywords(source, problem):
    problems = _problems(source)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems
