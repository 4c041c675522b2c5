"""Dense linear algebra: one home for the least-squares solves and Jacobians used across pdesolve.

:mod:`pdesolve.optim` (Gauss-Newton, natural gradients), :mod:`pdesolve.constraints` (minimum-norm
and coupled layers) and :mod:`pdesolve.neural_fields` (TENG, TDVP, INSR) import them from here.
"""

from ._dense import damped_lstsq as damped_lstsq
from ._dense import damped_lstsq_solver as damped_lstsq_solver
from ._dense import dense_jacobian as dense_jacobian
from ._dense import flatten_residual_fn as flatten_residual_fn
from ._dense import pointwise_jacobian as pointwise_jacobian

__all__ = ["damped_lstsq", "damped_lstsq_solver", "dense_jacobian", "flatten_residual_fn", "pointwise_jacobian"]
