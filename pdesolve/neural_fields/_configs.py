r"""Named TENG configurations: the collocation grid, network, time step and inner solve, in one place.

- ``cpu`` (the default): sized for a 2-core CPU, where a heat march to $T = 4$ takes about
  15-25 minutes: a $48^2$ grid, :class:`TENGNetwork` of width 24 and depth 4 (1,297
  parameters), $\Delta t = 0.005$, 3 inner projections per stage on 500-parameter subsets with
  an SVD cut-off of $10^{-6}$. It starts from the shipped initial fit ``teng_initial_cpu``
  (:func:`load_fitted_network`; $7.2\times 10^{-8}$ relative $L^2$) when the problem has the
  paper's initial condition and the network this shape.
- ``paper``: Chen et al. (ICML 2024, arXiv:2404.10771) and their published code: a $256^2$ grid,
  width 40 and depth 7 (8,361 parameters), $\Delta t = 0.005$, subsets of 1,024 parameters
  (the authors draw 1,536 for the first projection of a step), 7 projections per stage (the
  authors: 7 in the first Heun stage, 5 in the second). Jacobian rows in chunks of 4,096 points.

Look one up with :func:`teng_config`; :meth:`TENGConfig.network` and :meth:`TENGConfig.solver`
build the network and the :class:`TENG` stepper for a registered problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

import equinox as eqx
import numpy as np

from .._errors import InvalidInputError
from ..problems import FieldProblem, get
from ._equations import field_equation
from ._fitted import load_fitted_network
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
      (:func:`fit_initial_condition`: Adam, L-BFGS, then projections), used when there is no
      shipped fit to start from.
    - `initial_fit`: name of a shipped fitted network (:func:`load_fitted_network`) to start
      from instead of fitting, or ``None``.
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
    initial_fit: str | None = None

    def network(self, problem: FieldProblem, key: PRNGKeyArray) -> TENGNetwork:
        """A fresh :class:`TENGNetwork` of this size, periodic on the problem's box."""
        return TENGNetwork(key, problem.ndim, self.width, self.depth, extent=problem.extent, dtype=jnp.float64)

    def shipped_initial_network(self, problem: FieldProblem, like) -> TENGNetwork | None:
        """The shipped fit ``initial_fit`` if it fits ``problem``'s initial condition and has the
        shape of the network ``like`` (same class, extent and parameter shapes); else ``None``.

        **Arguments:**

        - `problem`: the registered problem to be solved.
        - `like`: the network the solve would otherwise fit (e.g. from :meth:`network`).
        """
        if self.initial_fit is None or not isinstance(like, TENGNetwork):
            return None
        net, metadata = load_fitted_network(self.initial_fit)
        def shapes(tree):
            return [(a.shape, a.dtype) for a in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array))]

        if tuple(net.extent) != tuple(like.extent) or shapes(net) != shapes(like):
            return None
        fitted = get(metadata["problem"], FieldProblem)
        points, _ = problem.collocation(int(metadata.get("fit_points", self.collocation)))
        if fitted.extent != problem.extent or not np.allclose(fitted.initial_values(points),
                                                              problem.initial_values(points), rtol=0, atol=1e-15):
            return None
        return net

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
                      ic_iterations=200, initial_fit="teng_initial_cpu"),
    "paper": TENGConfig(name="paper", collocation=256, width=40, depth=7, dt=0.005, subset_size=1024,
                        inner_iterations=7, tolerance=1e-12, rcond=None, chunk_size=4096, ic_adam_steps=20000,
                        ic_lbfgs_steps=20000, ic_iterations=2000),
}


def teng_config(name: str) -> TENGConfig:
    """The named configuration (``"cpu"`` or ``"paper"``)."""
    if name not in TENG_CONFIGS:
        raise InvalidInputError(f"unknown TENG configuration {name!r}; choose from {', '.join(TENG_CONFIGS)}")
    return TENG_CONFIGS[name]
