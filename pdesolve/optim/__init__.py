"""Optax-compatible optimizers for training neural PDE solvers and fitting PDE parameters.

Everything here is an :class:`optax.GradientTransformation` (or
``GradientTransformationExtraArgs``): ``init(params) -> state`` and
``update(grads, state, params, **extra) -> (updates, state)``, to be applied with
:func:`apply_updates`. They compose with :func:`chain`, :func:`clip_by_global_norm`, optax
learning-rate schedules, and :class:`optimistix.OptaxMinimiser`.

Re-exported from optax unchanged (same objects, same names): ``adam``, ``adamw``, ``sgd``,
``lion``, ``adabelief``, ``adan``, ``lamb``, ``novograd``, ``adafactor``, ``lbfgs``, ``chain``,
``apply_updates``, ``GradientTransformation``, ``GradientTransformationExtraArgs``,
``scale_by_schedule``, ``clip_by_global_norm``, and from ``optax.contrib``: ``sophia``,
``adopt``, ``momo``, ``sam``, ``dadapt_adamw``, ``prodigy``, ``muon``.

Implemented here (each as a ``scale_by_<name>`` transform plus a public factory
``<name>(learning_rate, ...) = chain(scale_by_<name>(...), scale_by_learning_rate(lr))``,
so learning-rate schedules work as in optax):

- :func:`diffgrad`: diffGrad (Dubey et al. 2019), Adam with a gradient-change friction term.
- :func:`adamp`: AdamP (Heo et al. 2021), Adam with radial projection for scale-invariant
  weights; ``update`` needs ``params``.
- :func:`adabound`, :func:`amsbound`: AdaBound/AMSBound (Luo et al. 2019), step sizes clipped
  into bounds converging to an SGD learning rate.
- :func:`adamod`: AdaMod (Ding et al. 2019), step sizes capped by their running average.
- :func:`adahessian`: AdaHessian (Yao et al. 2021), Hutchinson Hessian-diagonal second moment;
  ``update`` needs ``params`` and ``value_fn=`` (the loss as a function of the parameters).
- :func:`exadam`: EXAdam (Adly 2024), cross-moment debiasing and gradient acceleration.
- :func:`mars`: MARS-AdamW (Yuan et al. 2024), AdamW on a variance-reduced clipped gradient.

Second-order least squares: :func:`gauss_newton`, :func:`levenberg_marquardt` (optionally with
``acceleration=GeodesicAcceleration()``, Transtrum & Sethna 2012) and the driver
:func:`least_squares_solve`.

Invalid hyperparameters (negative learning rate, betas outside ``[0, 1)``, ...) raise
``ValueError`` (:class:`pdesolve.InvalidInputError`) when the optimizer is constructed.
"""

# --- re-exported from optax ------------------------------------------------------------------
from optax import GradientTransformation as GradientTransformation
from optax import GradientTransformationExtraArgs as GradientTransformationExtraArgs
from optax import adabelief as adabelief
from optax import adafactor as adafactor
from optax import adam as adam
from optax import adamw as adamw
from optax import adan as adan
from optax import apply_updates as apply_updates
from optax import chain as chain
from optax import clip_by_global_norm as clip_by_global_norm
from optax import lamb as lamb
from optax import lbfgs as lbfgs
from optax import lion as lion
from optax import novograd as novograd
from optax import scale_by_schedule as scale_by_schedule
from optax import sgd as sgd
from optax.contrib import adopt as adopt
from optax.contrib import dadapt_adamw as dadapt_adamw
from optax.contrib import momo as momo
from optax.contrib import muon as muon
from optax.contrib import prodigy as prodigy
from optax.contrib import sam as sam
from optax.contrib import sophia as sophia

# --- first-order optimizers implemented in pdesolve ------------------------------------------
from ._adabound import ScaleByAdaBoundState as ScaleByAdaBoundState
from ._adabound import adabound as adabound
from ._adabound import amsbound as amsbound
from ._adabound import scale_by_adabound as scale_by_adabound
from ._adahessian import ScaleByAdaHessianState as ScaleByAdaHessianState
from ._adahessian import adahessian as adahessian
from ._adahessian import hutchinson_diagonal as hutchinson_diagonal
from ._adahessian import scale_by_adahessian as scale_by_adahessian
from ._adamod import ScaleByAdaModState as ScaleByAdaModState
from ._adamod import adamod as adamod
from ._adamod import scale_by_adamod as scale_by_adamod
from ._adamp import ScaleByAdamPState as ScaleByAdamPState
from ._adamp import adamp as adamp
from ._adamp import scale_by_adamp as scale_by_adamp
from ._diffgrad import ScaleByDiffGradState as ScaleByDiffGradState
from ._diffgrad import diffgrad as diffgrad
from ._diffgrad import scale_by_diffgrad as scale_by_diffgrad
from ._exadam import ScaleByEXAdamState as ScaleByEXAdamState
from ._exadam import exadam as exadam
from ._exadam import scale_by_exadam as scale_by_exadam
from ._mars import ScaleByMarsState as ScaleByMarsState
from ._mars import mars as mars
from ._mars import scale_by_mars as scale_by_mars

# second-order and multi-loss solvers (see _gauss_newton.py etc.)
from ._energy_natural_gradient import EnergyNaturalGradientState as EnergyNaturalGradientState
from ._energy_natural_gradient import energy_natural_gradient as energy_natural_gradient
from ._gauss_newton import GaussNewtonState as GaussNewtonState
from ._geodesic import GeodesicAcceleration as GeodesicAcceleration
from ._gauss_newton import LevenbergMarquardtState as LevenbergMarquardtState
from ._gauss_newton import gauss_newton as gauss_newton
from ._gauss_newton import least_squares_solve as least_squares_solve
from ._gauss_newton import levenberg_marquardt as levenberg_marquardt
from ._gauss_newton import scale_by_gauss_newton as scale_by_gauss_newton
from ._multi_loss import config as config
from ._multi_loss import config_aggregator as config_aggregator
from ._multi_loss import scale_by_config as scale_by_config
from ._multi_loss import scale_by_upgrad as scale_by_upgrad
from ._multi_loss import upgrad as upgrad
from ._multi_loss import upgrad_aggregator as upgrad_aggregator
from ._natural_gradient import NaturalGradientState as NaturalGradientState
from ._natural_gradient import natural_gradient_projection as natural_gradient_projection
from ._natural_gradient import tangent_space_projection as tangent_space_projection

__all__ = [
    "EnergyNaturalGradientState",
    "GaussNewtonState",
    "GeodesicAcceleration",
    "GradientTransformation",
    "GradientTransformationExtraArgs",
    "LevenbergMarquardtState",
    "NaturalGradientState",
    "ScaleByAdaBoundState",
    "ScaleByAdaHessianState",
    "ScaleByAdaModState",
    "ScaleByAdamPState",
    "ScaleByDiffGradState",
    "ScaleByEXAdamState",
    "ScaleByMarsState",
    "adabelief",
    "adabound",
    "adafactor",
    "adahessian",
    "adam",
    "adamod",
    "adamp",
    "adamw",
    "adan",
    "adopt",
    "amsbound",
    "apply_updates",
    "chain",
    "clip_by_global_norm",
    "config",
    "config_aggregator",
    "dadapt_adamw",
    "diffgrad",
    "energy_natural_gradient",
    "exadam",
    "gauss_newton",
    "hutchinson_diagonal",
    "lamb",
    "lbfgs",
    "least_squares_solve",
    "levenberg_marquardt",
    "lion",
    "mars",
    "momo",
    "muon",
    "natural_gradient_projection",
    "novograd",
    "prodigy",
    "sam",
    "scale_by_adabound",
    "scale_by_adahessian",
    "scale_by_adamod",
    "scale_by_adamp",
    "scale_by_config",
    "scale_by_diffgrad",
    "scale_by_exadam",
    "scale_by_gauss_newton",
    "scale_by_mars",
    "scale_by_schedule",
    "scale_by_upgrad",
    "sgd",
    "sophia",
    "tangent_space_projection",
    "upgrad",
    "upgrad_aggregator",
]
