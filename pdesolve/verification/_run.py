"""Run all verification cases and format them as a table."""

from __future__ import annotations

from collections.abc import Callable

import jax

from .._errors import InvalidInputError
from ._result import VerificationResult
from ._spectral_cases import verify_burgers_cole_hopf, verify_etdrk4_order, verify_periodic_heat, verify_taylor_green


def _dirichlet(order: int) -> Callable[[], VerificationResult]:
    def case() -> VerificationResult:
        from ._dirichlet_heat import verify_dirichlet_heat_order

        return verify_dirichlet_heat_order(order)

    case.__name__ = f"dirichlet_heat_fd{order}"
    return case


CASES: dict[str, Callable[[], VerificationResult]] = {
    "periodic_heat_fourier_modes": verify_periodic_heat,
    "dirichlet_heat_fd2_order": _dirichlet(2),
    "dirichlet_heat_fd4_order": _dirichlet(4),
    "navier_stokes_taylor_green": verify_taylor_green,
    "burgers_cole_hopf": verify_burgers_cole_hopf,
    "etdrk4_order_allen_cahn": verify_etdrk4_order,
}


def run_verification(cases=None, callback=None) -> list[VerificationResult]:
    """Run the named `cases` (default: all of :data:`CASES`) in float64 and return their results.

    Enables JAX's x64 mode. `callback(result)` is called after each case (for progress output).
    """
    jax.config.update("jax_enable_x64", True)
    names = list(CASES) if cases is None else list(cases)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise InvalidInputError(f"unknown verification case(s) {unknown}; choose from {list(CASES)}")
    results = []
    for name in names:
        result = CASES[name]()
        results.append(result)
        if callback is not None:
            callback(result)
    return results


def format_table(results: list[VerificationResult]) -> str:
    """Render results as a Markdown table: case, resolution, error, tolerance, order, pass/fail."""
    lines = [
        "| case | resolution | error | tolerance | observed order | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        order = "" if r.order is None else f"{r.order:.3f} (design {r.design_order:g})"
        tol = f"order ± {r.tolerance:g}" if r.order is not None else f"{r.tolerance:.0e}"
        lines.append(
            f"| {r.case} | {r.resolution} | {r.error:.3e} | {tol} | {order} | {'PASS' if r.passed else 'FAIL'} |"
        )
    return "\n".join(lines)
