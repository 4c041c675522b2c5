"""Abstract time steppers: callables ``u -> u_next`` over a fixed step ``dt``."""

from __future__ import annotations

import abc
import math
from typing import ClassVar

import equinox as eqx
import jax
from jaxtyping import Array, Complex, Float

from .._errors import InvalidInputError
from ..pdes import AbstractPDE, AbstractSpectralPDE
from ..spatial import irfft, rfft


def check_time_step(dt) -> float:
    """Validate a time step: a positive finite Python number."""
    try:
        value = float(dt)
    except (TypeError, jax.errors.ConcretizationTypeError) as err:
        raise InvalidInputError(f"dt must be a positive number known at construction, got {dt!r}") from err
    if not (value > 0 and math.isfinite(value)):
        raise InvalidInputError(f"dt must be positive and finite, got {dt}")
    return value


class AbstractStepper(eqx.Module):
    r"""Advance a state by one step: $u_{n+1} = \Phi_{\Delta t}(u_n)$.

    Steppers are callables on plain arrays shaped ``(channels, *grid)``; batch them with
    `jax.vmap` and roll them out with :func:`pdesolve.integrators.rollout`.
    """

    pde: eqx.AbstractVar[AbstractPDE]
    dt: eqx.AbstractVar[float]
    #: False for steppers of non-autonomous PDEs, called as ``stepper(u, t)``; roll those out
    #: with :func:`~pdesolve.integrators.solve_at_times`.
    autonomous: ClassVar[bool] = True

    @abc.abstractmethod
    def __call__(self, u: Float[Array, "c ..."]) -> Float[Array, "c ..."]:
        """Return the state one step of size `dt` later."""


class AbstractSpectralStepper(AbstractStepper):
    """A stepper that works on real-FFT coefficients.

    Rollouts of spectral steppers stay in Fourier space between steps and only transform
    back the frames they save.
    """

    pde: eqx.AbstractVar[AbstractSpectralPDE]

    @abc.abstractmethod
    def step_fourier(self, u_hat: Complex[Array, "c ..."]) -> Complex[Array, "c ..."]:
        """Advance Fourier coefficients by one step."""

    def __call__(self, u):
        self.pde.check_state(u, "u")  # at trace time: a wrong shape would broadcast silently
        grid = self.pde.grid
        return irfft(self.step_fourier(rfft(u, grid)), grid).astype(u.dtype)
