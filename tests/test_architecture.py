"""The package's import rules, read off the source with ``ast`` (no imports are executed).

1. No module imports another package's private module or private name. A private module
   ``a.b._c`` (or a private name ``_x`` of module ``a.b.c``) may be imported only from inside
   the package that owns it (``a.b`` and its sub-packages), so ``pdesolve._errors`` is shared
   by every sub-package, while ``pdesolve.optim._gauss_newton`` is open to ``pdesolve.optim`` only.
2. Imports point down the layers of :data:`LAYERS` (a package may import its own layer's
   packages' public API and anything below, never above): ``pdes`` never imports
   ``integrators``, the library never imports ``cli``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pdesolve"

#: Bottom to top. A module may import from its own layer and from every layer below.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_errors", "_version", "_compat"),
    ("spatial",),
    ("pdes", "initial_conditions"),
    ("integrators", "linalg"),
    ("optim", "metrics", "plotting"),
    ("problems",),
    ("datasets",),
    ("operators",),
    ("training",),
    ("constraints",),
    ("neural_fields", "mp_pde", "neural_ode", "hybrid", "neural_solvers"),
    ("verification", "distributed", "bench", "report"),
    ("demo",),
    ("cli", "__main__", "__init__"),
)
_LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("pdesolve",) + path.relative_to(PACKAGE).with_suffix("").parts
        package = parts[:-1]  # the package a module (or __init__) belongs to
        yield path, parts, package


def _imports(path: Path, package: tuple[str, ...]):
    """``(line, target)`` for every imported pdesolve module or name, as a tuple of parts."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = base + (tuple(node.module.split(".")) if node.module else ())
            else:
                module = tuple(node.module.split("."))
            for alias in node.names:
                yield node.lineno, module + (alias.name,)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, tuple(alias.name.split("."))


def _private_violation(target: tuple[str, ...], package: tuple[str, ...]) -> bool:
    for i, part in enumerate(target):
        if part.startswith("_") and not part.startswith("__"):
            owner = target[:i]
            return package[: len(owner)] != owner
    return False


def _layer_of(parts: tuple[str, ...]) -> int | None:
    if len(parts) < 2 or parts[0] != "pdesolve":
        return None
    return _LAYER.get(parts[1])


def test_every_top_level_module_has_a_layer():
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.is_file() and p.suffix == ".py") or (p.is_dir() and (p / "__init__.py").exists())}
    missing = sorted(names - set(_LAYER))
    assert not missing, f"add {missing} to LAYERS in tests/test_architecture.py"


def test_no_module_imports_another_packages_private_module():
    offences = []
    for path, _, package in _modules():
        for line, target in _imports(path, package):
            if target[0] == "pdesolve" and _private_violation(target, package):
                offences.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {'.'.join(target)}")
    assert not offences, "private imports across packages:\n" + "\n".join(offences)


def test_imports_point_down_the_layers():
    offences = []
    for path, parts, package in _modules():
        own = _layer_of(parts if len(parts) > 1 else parts)
        if own is None:
            continue
        for line, target in _imports(path, package):
            other = _layer_of(target)
            if other is not None and other > own:
                offences.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({parts[1]}) imports "
                                f"{'.'.join(target[:2])} from a higher layer")
    assert not offences, "upward imports:\n" + "\n".join(offences)


@pytest.mark.parametrize(
    ("target", "package", "bad"),
    [
        (("pdesolve", "optim", "_gauss_newton", "damped_lstsq"), ("pdesolve", "constraints"), True),
        (("pdesolve", "optim", "_gauss_newton", "damped_lstsq"), ("pdesolve", "optim"), False),
        (("pdesolve", "_errors", "InvalidInputError"), ("pdesolve", "training"), False),
        (("pdesolve", "plotting", "_pyplot"), ("pdesolve", "cli"), True),
        (("pdesolve", "linalg", "damped_lstsq"), ("pdesolve", "constraints"), False),
    ],
)
def test_private_rule_on_examples(target, package, bad):
    assert _private_violation(target, package) is bad


def test_no_invalid_escape_sequences():
    """LaTeX in a docstring needs ``r\"\"\"``: ``"\\nu"`` silently becomes a newline and ``u``."""
    import warnings

    bad = []
    for path, _, _ in _modules():
        with warnings.catch_warnings():
            warnings.simplefilter("error", SyntaxWarning)  # Python >= 3.12
            warnings.simplefilter("error", DeprecationWarning)  # Python 3.10, 3.11
            try:
                compile(path.read_text(), str(path), "exec")
            except SyntaxError as err:
                bad.append(f"{path.relative_to(PACKAGE.parent)}: {err.msg} (line {err.lineno})")
    assert not bad, bad


def test_no_control_characters_in_source():
    """A literal form feed or tab in a docstring (``\\frac`` or ``\\text`` written through an
    escaping layer) renders as garbage in the API docs; only newlines belong in the source."""
    bad = []
    for path, _, _ in _modules():
        for lineno, line in enumerate(path.read_text().split("\n"), 1):
            if any(ord(ch) < 32 for ch in line):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{lineno}")
    assert not bad, bad


def _escaped_letters(literal: str) -> list[str]:
    """The ``\\n``, ``\\t``, ``\\f``... escapes followed by a letter in a non-raw string literal."""
    prefix = literal[: len(literal) - len(literal.lstrip("bBfFrRuU"))].lower()
    if "r" in prefix:
        return []
    found, i = [], 0
    while i < len(literal):
        if literal[i] == "\\":
            if literal[i + 1 : i + 2] in tuple("nftbarv") and literal[i + 2 : i + 3].isalpha():
                found.append(literal[i : i + 6])
            i += 2
        else:
            i += 1
    return found


def test_docstrings_with_latex_are_raw():
    """``"$\\theta$"`` is a tab and ``heta``: a docstring with maths must be ``r\"\"\"``."""
    bad = []
    for path, _, _ in _modules():
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                first = node.body[0] if node.body else None
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                    first.value.value, str
                ):
                    literal = ast.get_source_segment(source, first.value)
                    if "$" in literal and _escaped_letters(literal):
                        bad.append(f"{path.relative_to(PACKAGE.parent)}:{first.lineno} {_escaped_letters(literal)}")
    assert not bad, bad


def test_escaped_letters_finds_the_latex_that_breaks():
    assert _escaped_letters('"""$\\theta$"""') == ["\\theta"]
    assert _escaped_letters('"""$\\\\theta$"""') == []
    assert _escaped_letters('r"""$\\theta$"""') == []


def test_the_library_raises_its_own_errors():
    """A bad value raises a :class:`pdesolve.PDESolveError` subclass (``InvalidInputError`` is also a
    ``ValueError``), which the command line turns into a one-line error instead of a traceback."""
    allowed = {"bench/_torch_anchors.py"}  # a programming error of the anchor set-up, not user input
    bad = []
    for path, _, _ in _modules():
        if path.relative_to(PACKAGE).as_posix() in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and \
                    getattr(node.exc.func, "id", None) == "ValueError":  # a TypeError for a wrong type stays
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} raises {node.exc.func.id}")
    assert not bad, bad
