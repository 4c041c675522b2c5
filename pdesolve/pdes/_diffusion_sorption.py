r"""Diffusion-sorption in 1D (PDEBench): a nonlinear diffusion slowed by Freundlich sorption.

$$
\partial_t u = \frac{D}{R(u)}\,\partial_{xx} u, \qquad
R(u) = 1 + \frac{1 - \phi}{\phi}\,\rho_s\,k\,n\,u^{\,n - 1},
\qquad x \in (0, 1),
$$

with $u(0, t) = u_\mathrm{left}$ and the Robin condition $u(1, t) = -D\,\partial_x u(1, t)$ of
PDEBench's generator (``sim_diff_sorp.py``, whose ghost value is $D(c_{N-2} - c_{N-1})/\Delta x$).
PDEBench's parameters: porosity $\phi = 0.29$, grain density $\rho_s = 2880$, Freundlich
$k = 3.5\cdot10^{-4}$ and exponent $n = 0.874$, $D = 5\cdot10^{-4}$, $u_\mathrm{left} = 1$,
$t \in (0, 500]$. (Papers print $u(1) = D\,u_x(1)$, which is anti-dissipative and blows up.)

$R$ is evaluated at $\max(u, u_\mathrm{floor})$ with $u_\mathrm{floor} = 0.01$: solutions stay in
$[u_0, 1]$ with $u_0 > 0$, so this changes nothing there, but trial fields of a Newton-type solve
that dip to $u \le 0$ would otherwise meet the singular derivative of $u^{n-1}$ at 0.

With a time scale $T$ (:class:`DiffusionSorption`'s ``time_scale``) the equation is written in
$\tau = t/T$: $\partial_\tau u = T D\,\partial_{xx} u / R(u)$.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._errors import InvalidInputError
from ._base import AbstractPDE, as_parameter

def retardation_factor(
    u: Float[ArrayLike, "..."],
    porosity: Float[ArrayLike, ""] = 0.29,
    grain_density: Float[ArrayLike, ""] = 2880.0,
    freundlich_k: Float[ArrayLike, ""] = 3.5e-4,
    freundlich_exponent: Float[ArrayLike, ""] = 0.874,
    floor: float = 0.01,
) -> Float[Array, "..."]:
    r"""Freundlich retardation $R(u) = 1 + \frac{1-\phi}{\phi}\rho_s k n\,\max(u, u_\mathrm{floor})^{n-1}$.

    **Arguments:**

    - `u`: concentration (any shape).
    - `porosity`, `grain_density`, `freundlich_k`, `freundlich_exponent`: $\phi$, $\rho_s$, $k$, $n$
      (default PDEBench's).
    - `floor`: $u_\mathrm{floor}$, where $R$ is frozen below (default 0.01).
    """
    sorption = (1 - porosity) / porosity * grain_density * freundlich_k * freundlich_exponent
    return 1.0 + sorption * jnp.maximum(u, floor) ** (freundlich_exponent - 1.0)


def diffusion_sorption_residual(
    u: Float[ArrayLike, "..."], u_t: Float[ArrayLike, "..."], u_xx: Float[ArrayLike, "..."],
    diffusion: Float[ArrayLike, ""], **sorption,
) -> Float[Array, "..."]:
    r"""Pointwise PDE residual $u_t - \kappa\,u_{xx}/R(u)$ (here $\kappa = TD$; `sorption`: the
    keyword arguments of :func:`retardation_factor`)."""
    return u_t - diffusion * u_xx / retardation_factor(u, **sorption)


class DiffusionSorption(AbstractPDE):
    r"""Diffusion-sorption on $(0, 1)$ by second-order finite differences (method of lines).

    The nodes are $x_i = i/N$, $i = 0, \dots, N$. Node 0 holds the Dirichlet value and is not
    part of the state; the state is $(u_1, \dots, u_N)$, shaped ``(1, N)``. The Robin node $u_N$
    is algebraic: the one-sided condition $u_N + D(u_N - u_{N-1})/h = 0$ eliminates it,
    $u_N = D\,u_{N-1}/(h + D)$, so its rate is set to 0 and :meth:`boundary_value` gives its
    value (this keeps the stiff boundary node out of the time integration). Interior rates:

    $$
    \dot u_i = \frac{T D}{R(u_i)}\,\frac{u_{i+1} - 2u_i + u_{i-1}}{h^2}, \qquad i = 1, \dots, N-1 .
    $$

    **Arguments:**

    - `num_nodes`: $N \ge 3$.
    - `diffusivity`: $D > 0$ (default $5\cdot10^{-4}$).
    - `left_value`: $u(0, t)$ (default 1).
    - `time_scale`: $T$; the state evolves in $\tau = t/T$ (default 1, physical time).
    - `porosity`, `grain_density`, `freundlich_k`, `freundlich_exponent`: as in
      :func:`retardation_factor` (default PDEBench's).
    - `dtype`: real floating dtype of the state (default float64).

    Physical parameters are arrays, so they can be differentiated and swept.
    """

    num_nodes: int = eqx.field(static=True)
    state_dtype: np.dtype = eqx.field(static=True)
    diffusivity: Array
    left_value: Array
    time_scale: Array
    porosity: Array
    grain_density: Array
    freundlich_k: Array
    freundlich_exponent: Array
    num_channels: ClassVar[int] = 1

    def __init__(self, num_nodes: int, diffusivity: ArrayLike = 5e-4, left_value: ArrayLike = 1.0,
                 time_scale: ArrayLike = 1.0, porosity: ArrayLike = 0.29, grain_density: ArrayLike = 2880.0,
                 freundlich_k: ArrayLike = 3.5e-4, freundlich_exponent: ArrayLike = 0.874, dtype=jnp.float64):
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, (int, np.integer)) or num_nodes < 3:
            raise InvalidInputError(f"num_nodes must be an integer >= 3, got {num_nodes!r}")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise InvalidInputError(f"dtype must be a real floating dtype, got {dtype}")
        self.num_nodes = int(num_nodes)
        self.state_dtype = dtype
        self.diffusivity = as_parameter(diffusivity, "diffusivity", dtype, nonnegative=True)
        self.left_value = as_parameter(left_value, "left_value", dtype)
        self.time_scale = as_parameter(time_scale, "time_scale", dtype, nonnegative=True)
        self.porosity = as_parameter(porosity, "porosity", dtype, nonnegative=True)
        self.grain_density = as_parameter(grain_density, "grain_density", dtype, nonnegative=True)
        self.freundlich_k = as_parameter(freundlich_k, "freundlich_k", dtype, nonnegative=True)
        self.freundlich_exponent = as_parameter(freundlich_exponent, "freundlich_exponent", dtype, nonnegative=True)

    @property
    def state_shape(self) -> tuple[int, ...]:
        return (1, self.num_nodes)

    @property
    def dtype(self):
        return self.state_dtype

    def nodes(self) -> Float[Array, " n"]:
        r"""The state's nodes $x_i = i/N$, $i = 1, \dots, N$."""
        return jnp.arange(1, self.num_nodes + 1, dtype=self.state_dtype) / self.num_nodes

    def retardation(self, u: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        """:func:`retardation_factor` with this PDE's parameters."""
        return retardation_factor(u, self.porosity, self.grain_density, self.freundlich_k, self.freundlich_exponent)

    def boundary_value(self, u_before_last: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        r"""The Robin node $u_N = D\,u_{N-1}/(h + D)$ from its neighbour $u_{N-1}$."""
        return self.diffusivity * u_before_last / (1.0 / self.num_nodes + self.diffusivity)

    def rhs(self, t, u):
        h = 1.0 / self.num_nodes
        v = u[0]
        right = self.diffusivity * v[-2] / (h + self.diffusivity)
        full = jnp.concatenate([self.left_value[None], v[:-1], right[None]])
        u_xx = (full[2:] - 2 * full[1:-1] + full[:-2]) / h**2
        du = self.diffusivity * self.time_scale * u_xx / self.retardation(v[:-1])
        return jnp.concatenate([du, jnp.zeros(1, du.dtype)])[None]

    def with_boundaries(self, states: Float[Array, "... 1 n"]) -> Float[Array, "... np1"]:
        r"""Full profiles $(u_0, \dots, u_N)$ from states: the Dirichlet value prepended and the
        Robin node set from its neighbour (states shaped ``(..., 1, N)``; result ``(..., N + 1)``)."""
        v = states[..., 0, :]
        v = v.at[..., -1].set(self.boundary_value(v[..., -2]))
        left = jnp.broadcast_to(self.left_value, v.shape[:-1] + (1,))
        return jnp.concatenate([left, v], axis=-1)
