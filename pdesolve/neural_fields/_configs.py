r"""Named TENG configurations: the collocation grid, network, time step and inner solve, in one place.

- ``cpu`` (the default): sized for a 2-core CPU, where a heat march to $T = 4$ takes about
  15-25 minutes: a $48^2$ grid, :class:`TENGNetwork` of width 24 and depth 4 (1,297
  parameters), $\Delta t = 0.005$, 3 inner projections per stage on 500-parameter subsets with
  an SVD cut-off of $10^{-6}$.
- ``paper``: Chen et al. (ICML 2024, arXiv:2404.10771) and their published code: a $256^2$ grid,
  width 40 and depth 7 (8,361 parameters), $\Delta t = 0.005$, subsets of 1,024 parameters
  (the authors draw 1,536 for the first projection of a step), 7 projections per stage (the
  authors: 7 in the first Heun stage, 5 in the second). Jacobian rows in chunks of 4,096 points.

Look one up with :func:`teng_config`; :meth:`TENGConfig.network` and :meth:`TENGConfig.solver`
build the network and the :class:`TENG` stepper for a registered problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

from .._errors import InvalidInputError
from ..problems import FieldProblem
from ._equations import field_equation
from ._networks import TENGNetwork
from ._projection import PointwiseJacobian
from ._schemes import Heun
from ._teng import TENG


@dataclass(frozen=True)
class TENGConfig:
    r"""One TENG configuration.

    **Arguments:**

    - `name`: the configuration's name.
    - `collocation`: points per axis of the uniform collocation grid.
    - `width`, `depth`: the :class:`TENGNetwork` (depth counts the embedding and output layers).
    - `dt`: Heun time step.
    - `subset_size`: parameters per inner projection (``None``: all).
    - `inner_iterations`: projections per Heun stage at most.
    - `tolerance`: stage residual below which a stage stops early.
    - `rcond`: relative singular-value cut-off of each least-squares solve.
    - `chunk_size`: collocation points per batch of per-point Jacobian gradients.
    - `ic_adam_steps`, `ic_lbfgs_steps`, `ic_iterations`: the initial fit
      (:func:`fit_initial_condition`: Adam, L-BFGS, then projections).
    """

    name: str
    collocation: int
    width: int
    depth: int
    dt: float
    subset_size: int | None
    inner_iterations: int
    tolerance: float
    rcond: float | None
    chunk_size: int | None
    ic_adam_steps: int
    ic_lbfgs_steps: int
    ic_iterations: int

    def network(self, problem: FieldProblem, key: PRNGKeyArray) -> TENGNetwork:
        """A fresh :class:`TENGNetwork` of this size, periodic on the problem's box."""
        return TENGNetwork(key, problem.ndim, self.width, self.depth, extent=problem.extent, dtype=jnp.float64)

    def jacobian(self) -> PointwiseJacobian:
        """Per-point reverse-mode rows in chunks, plain least squares with the SVD cut-off."""
        return PointwiseJacobian(damping=None, rcond=self.rcond, chunk_size=self.chunk_size)

    def solver(self, problem: FieldProblem) -> TENG:
        """TENG-Heun on the ``collocation`` grid of ``problem``."""
        points, weights = problem.collocation(self.collocation)
        return TENG(field_equation(problem), points, weights, dt=self.dt, scheme=Heun(),
                    subset_size=self.subset_size, max_inner_iterations=self.inner_iterations,
                    tolerance=self.tolerance, jacobian=self.jacobian())


TENG_CONFIGS: dict[str, TENGConfig] = {
    "cpu": TENGConfig(name="cpu", collocation=48, width=24, depth=4, dt=0.005, subset_size=500, inner_iterations=3,
                      tolerance=1e-9, rcond=1e-6, chunk_size=1024, ic_adam_steps=2000, ic_lbfgs_steps=5000,
                      ic_iterations=200),
    "paper": TENGConfig(name="paper", collocation=256, width=40, depth=7, dt=0.005, subset_size=1024,
                        inner_iterations=7, tolerance=1e-12, rcond=None, chunk_size=4096, ic_adam_steps=20000,
                        ic_lbfgs_steps=20000, ic_iterations=2000),
}


def teng_config(name: str) -> TENGConfig:
    """The named configuration (``"cpu"`` or ``"paper"``)."""
    if name not in TENG_CONFIGS:
        raise InvalidInputError(f"unknown TENG configuration {name!r}; choose from {', '.join(TENG_CONFIGS)}")
    return TENG_CONFIGS[name]
