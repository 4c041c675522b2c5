"""Classical explicit Runge-Kutta steppers with a linear stability check."""

from __future__ import annotations

import equinox as eqx

from .._errors import InvalidInputError, StabilityError
from ..pdes import AbstractPDE
from ._base import AbstractStepper, check_time_step

# Butcher tableaux (a, b, c) and the extent of each method's stability region on the
# negative real axis (|z| for real negative z = lambda * dt).
_TABLEAUX = {
    "euler": (((),), (1.0,), (0.0,), 2.0),
    "heun": (((), (1.0,)), (0.5, 0.5), (0.0, 1.0), 2.0),
    "ssprk3": (((), (1.0,), (0.25, 0.25)), (1 / 6, 1 / 6, 2 / 3), (0.0, 1.0, 0.5), 2.5127),
    "rk4": (((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)), (1 / 6, 1 / 3, 1 / 3, 1 / 6), (0.0, 0.5, 0.5, 1.0), 2.7853),
}


class ExplicitRK(AbstractStepper):
    r"""Explicit Runge-Kutta stepper: ``"euler"``, ``"heun"``, ``"ssprk3"`` or ``"rk4"``.

    At construction the step is checked against the scheme's stability interval on the
    negative real axis: if $\Delta t\,\rho > s$, with $\rho$ the PDE's
    :meth:`~pdesolve.pdes.AbstractPDE.stability_radius` and $s$ the scheme's limit
    (2 for Euler/Heun, 2.51 for SSPRK3, 2.79 for RK4), a :class:`~pdesolve.StabilityError`
    names the largest stable step. This covers diffusive (real-spectrum) problems;
    it is a necessary, not sufficient, condition for nonlinear ones.

    **Arguments:** `pde`, `dt`, `method`, and `check_stability` (default True).
    """

    pde: AbstractPDE
    dt: float = eqx.field(static=True)
    method: str = eqx.field(static=True)

    def __init__(self, pde: AbstractPDE, dt: float, method: str = "rk4", check_stability: bool = True):
        if method not in _TABLEAUX:
            raise InvalidInputError(f"unknown method {method!r}; choose from {sorted(_TABLEAUX)}")
        self.pde = pde
        self.dt = check_time_step(dt)
        self.method = method
        if check_stability:
            radius = pde.stability_radius()
            limit = _TABLEAUX[method][3]
            if radius is not None and radius > 0 and self.dt * radius > limit:
                raise StabilityError(
                    f"dt = {self.dt:.4g} is beyond the {method} stability limit for "
                    f"{type(pde).__name__}: dt * spectral radius = {self.dt * radius:.4g} > {limit}; "
                    f"use dt <= {limit / radius:.4g}, an implicit/exponential integrator, "
                    "or pass check_stability=False"
                )

    def __call__(self, u):
        self.pde.check_state(u, "u")
        a, b, c, _ = _TABLEAUX[self.method]
        stages = []
        for i, row in enumerate(a):
            y = u
            for aij, kj in zip(row, stages):
                if aij != 0.0:
                    y = y + self.dt * aij * kj
            stages.append(self.pde.rhs(c[i] * self.dt, y))
        out = u
        for bi, ki in zip(b, stages):
            out = out + self.dt * bi * ki
        return out
