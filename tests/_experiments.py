"""Load a script from ``experiments/`` as a module, for the tests that call its functions."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def load_experiment(stem: str, module_name: str | None = None) -> ModuleType:
    """``experiments/<stem>.py`` imported as the module `module_name` (default `stem`)."""
    spec = importlib.util.spec_from_file_location(module_name or stem, EXPERIMENTS / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
