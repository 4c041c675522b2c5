"""The public API is what ``__all__`` lists, and it changes only with a changelog entry.

``tests/public_api.txt`` records every public name (``pdesolve.<package>.<name>``) of the last
release plus what was added since. A name that disappears must be named in ``CHANGELOG.md``
(its full dotted path, in backticks or not); a new name must be added to the record. After an
intended change, rewrite the record with ``python tests/test_public_api.py --update``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = Path(__file__).with_name("public_api.txt")
CHANGELOG = ROOT / "CHANGELOG.md"
#: Packages outside the API record: the deprecation shim (its names are in the changelog).
EXCLUDED = {"pdesolve.neural_solvers"}


def public_packages() -> list[str]:
    import pdesolve

    names = ["pdesolve"] + sorted(
        f"pdesolve.{info.name}" for info in pkgutil.iter_modules(pdesolve.__path__) if not info.name.startswith("_")
    )
    return [name for name in names if name not in EXCLUDED]


def current_api() -> set[str]:
    return {f"{package}.{name}" for package in public_packages()
            for name in importlib.import_module(package).__all__}


def recorded_api() -> set[str]:
    return {line.strip() for line in RECORD.read_text().splitlines() if line.strip() and not line.startswith("#")}


def test_every_public_package_declares_all_and_every_listed_name_exists():
    for package in public_packages():
        module = importlib.import_module(package)
        assert hasattr(module, "__all__"), f"{package} has no __all__"
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert not missing, f"{package}.__all__ lists names it does not define: {missing}"
        assert len(set(module.__all__)) == len(module.__all__), f"{package}.__all__ has duplicates"


def test_a_removed_public_name_has_a_changelog_entry():
    changelog = CHANGELOG.read_text()
    removed = sorted(name for name in recorded_api() - current_api() if name not in changelog)
    assert not removed, (
        f"public names removed without a CHANGELOG.md entry: {removed}; say where each went in CHANGELOG.md, "
        "then run `python tests/test_public_api.py --update`"
    )


def test_new_public_names_are_recorded():
    added = sorted(current_api() - recorded_api())
    assert not added, (
        f"public names not in tests/public_api.txt: {added}; run `python tests/test_public_api.py --update`"
    )


def test_the_check_catches_a_removal(tmp_path, monkeypatch):
    """The record check is not vacuous: a name dropped from ``__all__`` is reported."""
    import pdesolve.linalg as linalg

    monkeypatch.setattr(linalg, "__all__", [n for n in linalg.__all__ if n != "damped_lstsq"])
    monkeypatch.setattr(sys.modules[__name__], "CHANGELOG", tmp_path / "CHANGELOG.md")
    (tmp_path / "CHANGELOG.md").write_text("# nothing here\n")
    try:
        test_a_removed_public_name_has_a_changelog_entry()
    except AssertionError as err:
        assert "pdesolve.linalg.damped_lstsq" in str(err)
    else:
        raise AssertionError("a removed public name went unnoticed")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_public_api.py --update")
    sys.path.insert(0, str(ROOT))
    header = "# Every public name of pdesolve (the packages' __all__); see tests/test_public_api.py.\n"
    RECORD.write_text(header + "".join(f"{name}\n" for name in sorted(current_api())))
    print(f"wrote {len(current_api())} names to {RECORD}")


def test_every_package_imports_without_the_optional_dependencies():
    """exponax, selenium and mkdocs are extras: no public package imports them eagerly."""
    import subprocess

    blocked = ["exponax", "selenium", "mkdocs"]
    code = (
        "import importlib, sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None  # import fails as if not installed\n"
        f"for package in {public_packages()!r}: importlib.import_module(package)\n"
        "from pdesolve.cli import build_parser; build_parser()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
