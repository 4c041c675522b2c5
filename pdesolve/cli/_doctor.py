"""``pdesolve doctor``: the environment report to paste into a bug report."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

#: Required distributions, in the order the report lists them.
CORE = ("jax", "jaxlib", "equinox", "diffrax", "optax", "lineax", "optimistix", "jaxtyping", "numpy",
        "h5py")
#: Optional distributions and the extra (or command) that installs each.
OPTIONAL = {
    "exponax": "pip install 'pdesolve[bench]'",
    "mkdocs": "pip install 'pdesolve[docs]'",
    "selenium": "pip install 'pdesolve[test]'",
    "jax-cuda12-plugin": "pip install 'pdesolve[cuda12]' (NVIDIA GPUs)",
    "jax-cuda13-plugin": "pip install 'pdesolve[cuda13]' (NVIDIA GPUs)",
}

#: Set by :func:`pdesolve.cli.main` before it turns float64 on for the command line.
X64_AT_START: bool | None = None


def register(sub) -> None:
    p = sub.add_parser(
        "doctor",
        help="print the environment report (versions, backend, devices, x64) for bug reports",
        description=(
            "Print pdesolve's version and location, the versions of its dependencies (and which optional "
            "extras are installed), the JAX backend and devices, and whether float64 is enabled; then run "
            "one tiny heat solve and its gradient on the default device and compare them with the exact "
            "values. Paste the output into a bug report."
        ),
    )
    p.add_argument("--no-check", action="store_true", help="skip the tiny solve on the default device")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(run=run)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _check() -> dict:
    """A 16-point heat solve and its viscosity derivative against the exact Fourier decay."""
    import math

    import jax
    import jax.numpy as jnp

    from ..integrators import ETDRK4, advance
    from ..pdes import Heat
    from ..spatial import PeriodicGrid

    grid = PeriodicGrid(16)
    u0 = jnp.sin(3.0 * grid.coordinates())

    def probe(nu):
        return advance(ETDRK4(Heat(grid, nu), dt=0.05), u0, 20)[0, 3]

    value, grad = jax.value_and_grad(probe)(0.1)
    exact = math.exp(-0.9) * float(u0[0, 3])
    value_error = abs(float(value) - exact) / abs(exact)
    grad_error = abs(float(grad) + 9.0 * exact) / abs(9.0 * exact)
    tolerance = 1e-12 if grid.dtype == jnp.float64 else 1e-5
    return {"value_rel_error": value_error, "gradient_rel_error": grad_error, "tolerance": tolerance,
            "passed": value_error < tolerance and grad_error < tolerance * 10}


def report(check: bool = True) -> dict:
    """The environment as a JSON-ready dict (what ``pdesolve doctor --json`` prints)."""
    import jax

    from .._version import __version__

    devices = jax.devices()
    out = {
        "pdesolve": __version__,
        "location": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "dependencies": {dist: _version(dist) for dist in CORE},
        "optional": {dist: _version(dist) for dist in OPTIONAL},
        "backend": jax.default_backend(),
        "devices": [f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in devices],
        "process_count": jax.process_count(),
        "x64_in_python": X64_AT_START if X64_AT_START is not None else bool(jax.config.jax_enable_x64),
        "x64_in_cli": bool(jax.config.jax_enable_x64),
        "jax_platforms": os.environ.get("JAX_PLATFORMS"),
    }
    if check:
        out["check"] = _check()
    return out


def run(args) -> int:
    from ._main import emit_json

    info = report(check=not args.no_check)
    if args.json:
        emit_json(info)
        return 0 if info.get("check", {}).get("passed", True) else 1
    print(f"pdesolve {info['pdesolve']} at {info['location']}")
    print(f"python {info['python']} on {info['platform']}")
    for dist, version in info["dependencies"].items():
        print(f"  {dist:<12} {version or 'MISSING'}")
    print("optional:")
    for dist, version in info["optional"].items():
        print(f"  {dist:<18} {version or 'not installed: ' + OPTIONAL[dist]}")
    print(f"backend {info['backend']}, {len(info['devices'])} device(s): {', '.join(info['devices'])}; "
          f"{info['process_count']} process(es)")
    print(f"float64: {'on' if info['x64_in_python'] else 'off'} by default in Python "
          f"(jax_enable_x64 / JAX_ENABLE_X64), on in the pdesolve command line")
    if "check" in info:
        c = info["check"]
        print(f"check: heat solve rel. error {c['value_rel_error']:.1e}, gradient {c['gradient_rel_error']:.1e} "
              f"-> {'PASS' if c['passed'] else 'FAIL'}")
        return 0 if c["passed"] else 1
    return 0
