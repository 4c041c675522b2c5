"""Test configuration: float64 everywhere, as the verification targets need it.

The tests mirror the packages (``tests/<package>/test_*.py``, unique file names); helpers shared
across packages (``_training_checks.py``) live here, on ``sys.path``.

Compilation, not computation, is most of this suite's time (tiny grids; measured: about 78 % of
the in-process test time is XLA compiling). Two settings cut it, both inherited by the
subprocesses the tests start (CLI runs, README examples, two-process jobs):

- XLA's CPU backend optimisation level 0 (LLVM does not optimise the tiny kernels the tests run;
  about 23 % less CPU time). ``PDESOLVE_TEST_XLA_OPT=1`` keeps XLA's default level instead;
  ``make test-all`` runs that way, so the optimised code paths are tested too.
- One persistent compilation cache for the whole run (``.pytest_cache/jax-compilation``), so the
  test processes and their subprocesses compile each identical program once, and a second local
  run starts warm. Delete the folder (or ``make clean``) to start cold, as a fresh clone does.

Neither setting is applied when ``XLA_FLAGS`` / ``JAX_COMPILATION_CACHE_DIR`` are already set.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if os.environ.get("PDESOLVE_TEST_XLA_OPT") != "1":
    os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".pytest_cache" / "jax-compilation"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import jax  # noqa: E402  (after the environment above: XLA reads it when the backend starts)

sys.path.insert(0, str(Path(__file__).resolve().parent))
jax.config.update("jax_enable_x64", True)
