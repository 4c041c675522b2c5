"""Entry point and argument parser of the ``pdesolve`` command."""

from __future__ import annotations

import argparse
import json
import sys

from .._errors import PDESolveError
from .._version import __version__


class _Parser(argparse.ArgumentParser):
    """An argument parser that takes options only as spelled in full: with argparse's default,
    ``--steps 100`` would silently mean ``--steps-per-epoch 100``. Sub-command parsers inherit
    the class (``add_subparsers`` builds them with the parent's class)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    from . import _bench, _datasets, _demo, _doctor, _generate, _problems, _report, _solve, _train, _verify

    parser = _Parser(
        prog="pdesolve",
        description=(
            "Differentiable PDE solvers on JAX. Solve a PDE with a reference or neural solver (spectral, TENG, "
            "TDVP, INSR), verify the solvers against analytic solutions, generate and inspect HDF5 datasets, "
            "train neural operators, MP-PDE and neural ODEs, run side-by-side benchmarks, render a results "
            "report, or run the demo; `pdesolve doctor` prints the environment for bug reports. Every sub-command has --help; most take --json."
        ),
    )
    parser.add_argument("--version", action="version", version=f"pdesolve {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (_solve, _verify, _bench, _demo, _problems, _generate, _datasets, _train, _report, _doctor):
        module.register(sub)
    return parser


def emit_json(payload) -> None:
    """Print `payload` as JSON on stdout (the machine-readable output of ``--json``)."""
    print(json.dumps(payload, indent=2, default=float))


def main(argv=None) -> int:
    """Run the ``pdesolve`` command line; returns the exit status."""
    import jax

    from . import _doctor

    _doctor.X64_AT_START = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except PDESolveError as err:
        print(f"pdesolve {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pdesolve {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
