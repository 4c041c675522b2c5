"""Build a stepper from its command-line name."""

from __future__ import annotations

from .._errors import InvalidInputError
from ..pdes import AbstractPDE
from ._base import AbstractStepper
from ._etdrk import etdrk
from ._explicit_rk import ExplicitRK
from ._imex import CrankNicolsonEuler, CrankNicolsonRK3
from ._method_of_lines import MethodOfLines

INTEGRATORS = ("etdrk1", "etdrk2", "etdrk3", "etdrk4", "cn-euler", "cn-rk3", "euler", "heun", "ssprk3", "rk4", "diffrax-tsit5")


def build_stepper(name: str, pde: AbstractPDE, dt: float) -> AbstractStepper:
    """Build the stepper called `name` (one of :data:`INTEGRATORS`) for `pde` with step `dt`."""
    if name.startswith("etdrk") and name[5:].isdigit():
        return etdrk(pde, dt, int(name[5:]))
    if name == "cn-euler":
        return CrankNicolsonEuler(pde, dt)
    if name == "cn-rk3":
        return CrankNicolsonRK3(pde, dt)
    if name in ("euler", "heun", "ssprk3", "rk4"):
        return ExplicitRK(pde, dt, method=name)
    if name == "diffrax-tsit5":
        return MethodOfLines(pde, dt)
    raise InvalidInputError(f"unknown integrator {name!r}; choose from {', '.join(INTEGRATORS)}")
