"""Test configuration: float64 everywhere, as the verification targets need it.

The tests mirror the packages (``tests/<package>/test_*.py``, unique file names); helpers shared
across packages (``_training_checks.py``) live here, on ``sys.path``.
"""

import sys
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
jax.config.update("jax_enable_x64", True)
