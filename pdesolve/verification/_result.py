"""The record one verification case produces."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class VerificationResult:
    """Outcome of one analytic regression case.

    **Fields:** `case` (name), `resolution` (grid, and time steps where relevant), `error`
    (the measured error on the finest run), `tolerance` (error bound or, for convergence
    cases, the allowed gap between observed and design order), `passed`, `order` (observed
    convergence order, if the case measures one) and `design_order`.
    """

    case: str
    resolution: str
    error: float
    tolerance: float
    passed: bool
    order: float | None = None
    design_order: float | None = None

    def to_json(self) -> dict:
        """A JSON-ready dict with the keys `case, resolution, error, tolerance, order, passed`."""
        out = asdict(self)
        out["passed"] = bool(out["passed"])
        return out
