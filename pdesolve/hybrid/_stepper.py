r"""Hybrid steppers: a numerical stepper plus a learned correction.

A corrected stepper advances a state $u_n$ (shaped ``(channels, *grid)``) by

$$u_{n+1} = S_{\Delta t}(u_n) + \Delta t\, C_\theta(u_n),$$

where $S_{\Delta t}$ is a pdesolve stepper (e.g. :class:`~pdesolve.integrators.ETDRK4` on a
coarse grid) and $C_\theta$ a network: a learned corrective forcing, integrated with the
explicit Euler rule over one step (Kochkov et al., PNAS 2021; Um et al., NeurIPS 2020,
"Solver-in-the-Loop"). A corrected stepper is a stepper like any other (``u -> u_next``):
:func:`pdesolve.integrators.rollout`, ``jax.vmap`` and ``jax.grad`` work with it.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
import jax
from jaxtyping import Array, Complex, Float

from .._errors import InvalidInputError
from ..integrators import AbstractSpectralStepper, AbstractStepper
from ..pdes import AbstractPDE
from ..spatial import irfft, rfft


class AbstractCorrectedStepper(AbstractStepper):
    r"""A stepper $S_{\Delta t}$ plus a learned correction: $u_{n+1} = S_{\Delta t}(u_n) + \Delta t\,C_\theta(u_n)$.

    `pde` and `dt` are the wrapped stepper's. Only the `correction` is meant to be trained:
    :meth:`partition` splits the module into the correction's floating arrays and the rest
    (the stepper's coefficients and PDE parameters).
    """

    stepper: eqx.AbstractVar[AbstractStepper]
    correction: eqx.AbstractVar[Callable]

    @property
    def pde(self) -> AbstractPDE:
        return self.stepper.pde

    @property
    def dt(self) -> float:
        return self.stepper.dt

    def partition(self):
        """``(params, rest)`` = ``eqx.partition`` with the correction's floating arrays as `params`.

        ``eqx.combine(params, rest)`` rebuilds the stepper; differentiate with respect to `params`
        to train the correction alone (the stepper's arrays, e.g. ETDRK4 coefficients, stay fixed).
        """
        spec = jax.tree.map(lambda _: False, self)
        spec = eqx.tree_at(lambda s: s.correction, spec,
                           replace=jax.tree.map(eqx.is_inexact_array, self.correction))
        return eqx.partition(self, spec)


def _check(stepper, correction) -> None:
    if not isinstance(stepper, AbstractStepper):
        raise InvalidInputError(f"stepper must be a pdesolve stepper, got {type(stepper).__name__}")
    if not stepper.autonomous:
        raise InvalidInputError(f"stepper {type(stepper).__name__} steps a time-dependent PDE; a corrected stepper "
                                "needs an autonomous one (u -> u_next)")
    if not callable(correction):
        raise InvalidInputError(f"correction must be a callable u -> C(u), got {type(correction).__name__}")


def _forcing(correction: Callable, u: Float[Array, "c ..."]) -> Float[Array, "c ..."]:
    """`correction(u)`, refused (at trace time) unless it has the state's shape: a broadcastable
    shape would otherwise change the state's shape silently."""
    value = correction(u)
    if getattr(value, "shape", None) != u.shape:
        raise InvalidInputError(f"the correction maps a state shaped {u.shape} to shape "
                                f"{getattr(value, 'shape', type(value).__name__)}; it must return the state's shape")
    return value


class CorrectedStepper(AbstractCorrectedStepper):
    r"""$u_{n+1} = S_{\Delta t}(u_n) + \Delta t\,C_\theta(u_n)$ for any autonomous stepper, in physical space.

    **Arguments:**

    - `stepper`: an autonomous pdesolve stepper $S_{\Delta t}$ (``u -> u_next``).
    - `correction`: a module $C_\theta$ mapping a state ``(c, *grid)`` to a state of the same
      shape (e.g. :class:`~pdesolve.neural_ode.PeriodicConvCorrection`). A correction that
      returns zeros gives back $S_{\Delta t}$ exactly.

    For spectral steppers :class:`SpectralCorrectedStepper` (see :func:`corrected`) keeps
    rollouts in Fourier space, as the plain stepper's are.
    """

    stepper: AbstractStepper
    correction: Callable

    def __init__(self, stepper: AbstractStepper, correction: Callable):
        _check(stepper, correction)
        self.stepper = stepper
        self.correction = correction

    def __call__(self, u: Float[Array, "c ..."]) -> Float[Array, "c ..."]:
        return (self.stepper(u) + self.dt * _forcing(self.correction, u)).astype(u.dtype)


class SpectralCorrectedStepper(AbstractCorrectedStepper, AbstractSpectralStepper):
    r"""$\hat u_{n+1} = \hat S_{\Delta t}(\hat u_n) + \Delta t\,\mathcal{F}[C_\theta(\mathcal{F}^{-1}\hat u_n)]$: a corrected spectral stepper.

    The same update as :class:`CorrectedStepper`, written on the real-FFT coefficients, so
    :func:`~pdesolve.integrators.rollout` carries Fourier coefficients between steps (as for the
    plain stepper: with a zero correction the rollouts agree bit for bit). Each step costs the
    stepper's step, one inverse and one forward FFT, and the network.

    **Arguments:** `stepper` (an autonomous :class:`~pdesolve.integrators.AbstractSpectralStepper`,
    e.g. :class:`~pdesolve.integrators.ETDRK4`), `correction` (as for :class:`CorrectedStepper`).
    """

    stepper: AbstractSpectralStepper
    correction: Callable

    def __init__(self, stepper: AbstractSpectralStepper, correction: Callable):
        _check(stepper, correction)
        if not isinstance(stepper, AbstractSpectralStepper):
            raise InvalidInputError(f"stepper must be a spectral stepper (e.g. ETDRK4), got {type(stepper).__name__}; "
                                    "use CorrectedStepper")
        self.stepper = stepper
        self.correction = correction

    def step_fourier(self, u_hat: Complex[Array, "c ..."]) -> Complex[Array, "c ..."]:
        grid = self.pde.grid
        forcing = _forcing(self.correction, irfft(u_hat, grid))
        return (self.stepper.step_fourier(u_hat) + self.dt * rfft(forcing, grid)).astype(u_hat.dtype)


def corrected(stepper: AbstractStepper, correction: Callable) -> AbstractCorrectedStepper:
    """`stepper` with the learned `correction`: a :class:`SpectralCorrectedStepper` for a spectral stepper, else a :class:`CorrectedStepper`."""
    if isinstance(stepper, AbstractSpectralStepper):
        return SpectralCorrectedStepper(stepper, correction)
    return CorrectedStepper(stepper, correction)

