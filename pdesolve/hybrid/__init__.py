r"""Learned corrections wrapped around a numerical stepper, trained through the solver.

- :class:`CorrectedStepper`, :class:`SpectralCorrectedStepper` (under
  :class:`AbstractCorrectedStepper`) and :func:`corrected`: the hybrid stepper
  $u_{n+1} = S_{\Delta t}(u_n) + \Delta t\,C_\theta(u_n)$, a stepper like any other.
- :func:`unroll`: a differentiable rollout with ``jax.checkpoint`` per step.
- :class:`UnrolledLoss`: the loss that trains $C_\theta$ in :func:`pdesolve.training.train`
  by unrolling the hybrid stepper $N$ steps against filtered fine-grid trajectories ($N = 1$:
  one-step training on precomputed pairs).
- :class:`CorrectionData`: trajectories on the coarse stepper's grid whose evaluation rolls the
  corrected stepper out; :data:`HYBRID_SPEC` is ``pdesolve train hybrid`` on a 2D
  Navier-Stokes file of ``pdesolve generate`` (:func:`coarse_stepper` builds its solver).

The correction network is any module mapping a state to a state; the small periodic CNN
:class:`pdesolve.neural_ode.PeriodicConvCorrection` (circular 3x3 convolutions, GELU, zero
last layer, so an untrained hybrid stepper is the plain solver) is cheap next to a solver step
on the same grid. :class:`VorticityFluxCorrection` writes the correction of 2D vorticity as
the divergence of a learned subgrid flux computed from the resolved vorticity, velocity and
vorticity gradient (conservative; it sees the velocity, a function of the whole field). Scores: :func:`pdesolve.metrics.correlation`,
:func:`pdesolve.metrics.high_correlation_time`, :func:`pdesolve.metrics.vorticity_energy_spectrum`.
"""

from ._data import CorrectionData as CorrectionData
from ._flux import FEATURES as FEATURES
from ._flux import VorticityFluxCorrection as VorticityFluxCorrection
from ._loss import UnrolledLoss as UnrolledLoss
from ._loss import unroll as unroll
from ._stepper import AbstractCorrectedStepper as AbstractCorrectedStepper
from ._stepper import CorrectedStepper as CorrectedStepper
from ._stepper import SpectralCorrectedStepper as SpectralCorrectedStepper
from ._plugin import HYBRID_SPEC as HYBRID_SPEC
from ._plugin import coarse_stepper as coarse_stepper
from ._stepper import corrected as corrected

__all__ = [
    "AbstractCorrectedStepper",
    "CorrectedStepper",
    "CorrectionData",
    "FEATURES",
    "HYBRID_SPEC",
    "SpectralCorrectedStepper",
    "UnrolledLoss",
    "coarse_stepper",
    "corrected",
    "unroll",
    "VorticityFluxCorrection",
]
