"""The command line every example shares: ``python examples/<name>.py [--out DIR] [--quick]``.

Each example defines ``run(out: Path, quick: bool) -> dict`` that writes its figures into `out`
and returns its measured numbers (and the figure file names under ``"figures"``). ``--quick``
uses tiny settings: that is what the test suite runs, so the examples cannot rot. Without it
they use the settings whose figures are embedded in the documentation (``docs/figures/``,
regenerated with ``make figures``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path


def example_main(run: Callable[..., dict], doc: str | None) -> dict:
    """Parse ``--out``/``--quick``, call ``run(out, quick=...)`` and print its result as JSON."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    parser.add_argument("--out", type=Path, default=Path("docs/figures"), help="folder for the figures")
    parser.add_argument("--quick", action="store_true", help="tiny settings (what the test suite runs)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result = run(args.out, quick=args.quick)
    print(json.dumps(result, indent=2, default=float))
    return result
