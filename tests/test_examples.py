"""The documentation's examples run (quick settings) and make the figures the pages embed.

Every ``examples/<name>.py`` is imported and its ``run(out, quick=True)`` called; the test
checks the figures it writes are PNG images and that its numbers say what the page claims.
The examples whose quick run costs 15-30 s of compilation and training run in the slow suite
(``make test-all``); the default run imports them (so a renamed public name fails at once) and
runs the README's examples of the same APIs (``tests/test_readme.py``).
A second test checks that every figure a documentation page embeds exists in
``docs/figures/`` and is made by one of the examples, so pages and examples cannot drift apart.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _checks(name: str, result: dict) -> None:
    """What each example's page says about its numbers, at quick settings."""
    if name == "reference_solvers":
        assert result["taylor_green_relative_l2"] < 1e-12
    elif name == "datasets":
        from pdesolve.datasets import split_indices

        assert result["train_samples_read"] == len(split_indices(result["num_samples"])["train"])
    elif name == "optimizers":
        final = result["final_loss"]
        assert final["levenberg_marquardt (pdesolve)"] < 1e-2 * final["adam (optax)"]
    elif name == "mass_conserving_fno":
        drift = result["max_mass_drift"]
        assert drift["FNO + MassProjection"] < 1e-10 < drift["FNO"]
    elif name == "mp_pde":
        errors = result["accumulated_error"]
        assert 0 < errors["WENO5 at nx = 50"] < errors["MP-PDE"]  # 30 training iterations beat nothing
    elif name == "neural_ode_modes":
        assert result["state_size"] == 25  # (2K + 1)^2 modes for K = 2
        assert 0 < result["test_relative_l2"] < 0.5
    elif name == "teng_heat":
        assert result["final_time"] == pytest.approx(0.04)
        assert 0 < result["final_relative_l2"] < 1
    for value in _numbers(result):
        assert math.isfinite(value), f"{name}: a non-finite number in {result}"


def _numbers(tree):
    if isinstance(tree, dict):
        for value in tree.values():
            yield from _numbers(value)
    elif isinstance(tree, (list, tuple)):
        for value in tree:
            yield from _numbers(value)
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield float(tree)


# Slow examples, with the default tests that exercise the same public API.
SLOW = {
    "fno_heat": "README example 1 (generate, build_model('fno'), TrajectoryData, train)",
    "mass_conserving_fno": "README example 3 and tests/constraints (ConstrainedModel, MassProjection)",
    "mp_pde": "tests/mp_pde (MPPDE, fit_mp_pde, rollout_mp_pde, combined datasets)",
    "neural_ode_modes": "README example 5 and tests/neural_ode (NeuralODE, fit_neural_ode, FourierModes)",
    "optimizers": "README example 2 and tests/optim (adam, diffgrad, levenberg_marquardt)",
    "teng_heat": "README example 4 (teng-heat problem, fit_initial_condition, TENG)",
}
assert set(SLOW) <= {p.stem for p in EXAMPLES}, "SLOW names an example that does not exist"
CASES = [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in SLOW else []) for p in EXAMPLES]


def test_every_example_imports_and_defines_run():
    for path in EXAMPLES:
        run = _load(path).run
        assert list(inspect.signature(run).parameters)[:2] == ["out", "quick"], path.name


@pytest.mark.parametrize("path", CASES)
def test_example_runs_and_writes_its_figures(path, tmp_path):
    result = _load(path).run(tmp_path, quick=True)
    assert result["figures"], f"{path.name} made no figure"
    for figure in result["figures"]:
        data = (tmp_path / figure).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 2000, f"{figure} is not a real PNG"
    _checks(path.stem, result)


def test_every_embedded_figure_exists_and_comes_from_an_example():
    sources = "\n".join(p.read_text() for p in EXAMPLES)
    embedded = set()
    for page in (ROOT / "docs").glob("*.md"):
        embedded |= set(re.findall(r"\]\(figures/([\w.-]+\.png)\)", page.read_text()))
    assert embedded, "no documentation page embeds an example figure"
    for figure in sorted(embedded):
        assert (ROOT / "docs" / "figures" / figure).is_file(), f"docs/figures/{figure} is missing (run `make figures`)"
        assert f'"{figure}"' in sources, f"no example writes {figure}"
