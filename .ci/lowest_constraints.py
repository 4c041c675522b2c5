"""Print pip constraints that pin every direct dependency of pdesolve to its declared lower bound.

Used by ``make test-lowest``: each ``name>=X`` in ``[project].dependencies`` becomes ``name==X``
(and ``jaxlib`` is pinned with ``jax``), so the oldest versions pdesolve claims to support are
exactly what gets installed and tested.
"""

import pathlib
import re
import sys
import tomllib

pyproject = pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml"
dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
for requirement in dependencies:
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^]]*\])?\s*>=\s*([0-9][0-9A-Za-z.]*)(,.*)?", requirement)
    if match is None:
        sys.exit(f"{requirement!r} has no '>=' lower bound; every dependency must declare one")
    name, _, lowest, _ = match.groups()
    print(f"{name}=={lowest}")
    if name == "jax":
        print(f"jaxlib=={lowest}")
