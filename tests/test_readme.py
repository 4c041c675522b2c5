"""The README's Python examples run as written, from public import paths, and the README stays a
short user's guide."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```python\n(.*?)^```$", README, flags=re.S | re.M)


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
def test_readme_example_runs(index, tmp_path):
    """Each block runs in a fresh interpreter (the README's examples are independent, and some set
    global JAX options), in an empty working directory, so files it writes go nowhere else."""
    script = tmp_path / f"readme_example_{index}.py"
    script.write_text(BLOCKS[index])
    env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="Agg")
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, f"README example {index} failed:\n{BLOCKS[index]}\n{run.stderr[-3000:]}"
    assert run.stdout.strip(), "every README example prints its result"


def test_readme_links_point_at_files_in_the_repository():
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    local = [link.split("#")[0] for link in links if not re.match(r"[a-z]+://", link)]
    assert local, "the README links its guides"
    for target in local:
        assert (ROOT / target).is_file(), f"README links to missing {target}"
