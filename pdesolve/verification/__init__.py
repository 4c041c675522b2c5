"""Analytic regression cases behind ``pdesolve verify``."""

from ._result import VerificationResult as VerificationResult
from ._run import CASES as CASES
from ._run import format_table as format_table
from ._run import run_verification as run_verification
from ._spectral_cases import etdrk_temporal_errors as etdrk_temporal_errors
from ._spectral_cases import verify_burgers_cole_hopf as verify_burgers_cole_hopf
from ._spectral_cases import verify_etdrk4_order as verify_etdrk4_order
from ._spectral_cases import verify_periodic_heat as verify_periodic_heat
from ._spectral_cases import verify_taylor_green as verify_taylor_green

__all__ = [
    "CASES",
    "VerificationResult",
    "etdrk_temporal_errors",
    "format_table",
    "run_verification",
    "verify_burgers_cole_hopf",
    "verify_etdrk4_order",
    "verify_periodic_heat",
    "verify_taylor_green",
]
