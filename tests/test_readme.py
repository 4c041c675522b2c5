"""The README's Python examples run as written, from public import paths, and the README stays a
short user's guide."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```python\n(.*?)^```$", README, flags=re.S | re.M)

# Runs every block in one interpreter (one JAX start instead of one per block), each as if it
# were a fresh script: its own module namespace, its own empty working directory, and JAX's
# float64 switch reset to the interpreter's start value (some blocks turn it on). A block's
# printed output and its traceback, if it fails, are kept per block.
RUNNER = r"""
import contextlib, io, json, os, sys, traceback

import jax

blocks = json.loads(open(sys.argv[1]).read())
start_x64 = bool(jax.config.jax_enable_x64)
root = os.getcwd()
results = []
for index, source in enumerate(blocks):
    jax.config.update("jax_enable_x64", start_x64)
    folder = os.path.join(root, f"example_{index}")
    os.makedirs(folder)
    os.chdir(folder)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(source, f"README example {index}", "exec"), {"__name__": "__main__"})
        error = None
    except BaseException:
        error = traceback.format_exc()
    finally:
        os.chdir(root)
    results.append({"stdout": out.getvalue(), "error": error})
with open(sys.argv[2], "w") as f:
    json.dump(results, f)
"""


@pytest.fixture(scope="module")
def readme_runs(tmp_path_factory):
    """Each README block's printed output and error (None when it ran), from one subprocess kept
    apart from the test process (the blocks set global JAX options)."""
    tmp = tmp_path_factory.mktemp("readme")
    (tmp / "blocks.json").write_text(json.dumps(BLOCKS))
    (tmp / "runner.py").write_text(RUNNER)
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    env.update(JAX_PLATFORMS="cpu", MPLBACKEND="Agg")
    run = subprocess.run([sys.executable, str(tmp / "runner.py"), str(tmp / "blocks.json"), str(tmp / "results.json")],
                         cwd=tmp, env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, f"the README example runner failed:\n{run.stderr[-3000:]}"
    return json.loads((tmp / "results.json").read_text())


def test_readme_has_python_examples_and_fits_in_300_lines():
    assert len(BLOCKS) >= 5
    assert len(README.splitlines()) <= 300


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_imports_only_public_paths(index):
    imports = re.findall(r"^\s*(?:from|import)\s+(pdesolve[\w.]*)", BLOCKS[index], flags=re.M)
    for module in imports:
        assert not any(part.startswith("_") for part in module.split(".")), module
        assert not module.startswith("pdesolve.neural_solvers"), f"{module} is a deprecation shim"


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, readme_runs):
    """Each block runs as written, in an empty working directory, and prints its result."""
    result = readme_runs[index]
    assert result["error"] is None, f"README example {index} failed:\n{BLOCKS[index]}\n{result['error'][-3000:]}"
    assert result["stdout"].strip(), "every README example prints its result"


def test_readme_links_point_at_files_in_the_repository():
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    local = [link.split("#")[0] for link in links if not re.match(r"[a-z]+://", link)]
    assert local, "the README links its guides"
    for target in local:
        assert (ROOT / target).is_file(), f"README links to missing {target}"
