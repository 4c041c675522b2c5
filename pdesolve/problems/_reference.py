r"""Reference problems: a PDE, a grid and an initial condition, built from a few parameters.

These back ``pdesolve solve`` and ``pdesolve demo`` and are handy in notebooks::

    problem = build_problem("navier-stokes", resolution=128, viscosity=1e-2)
    trajectory = rollout(ETDRK4(problem.pde, 0.01), problem.u0, 1000, save_every=100)

Declared problems (:class:`ReferenceProblem`, see :data:`PROBLEMS`):

- ``heat``: $u_t = \nu\Delta u$ on $[0, 2\pi)^d$, $\nu = 0.1$, random Fourier series ($|m_i| \le 6$).
- ``advection``: $u_t + \nabla\cdot(c u) = 0$, $c = 1$, random Fourier series ($|m_i| \le 4$).
- ``burgers``: vector Burgers $u_t + (u\cdot\nabla) u = \nu\Delta u$, $\nu = 0.02$ ($|m_i| \le 3$).
- ``allen-cahn``: $u_t = \nu\Delta u + u - u^3$, $\nu = 0.005$ ($|m_i| \le 4$).
- ``navier-stokes``: 2D vorticity, Kolmogorov forcing ($k = 4$) and drag on $[0, 2\pi)^2$, or the
  FNO benchmark's forcing and Gaussian random field on $(0, 1)^2$ (``forcing="fno"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InvalidInputError
from ..initial_conditions import gaussian_random_field, random_fourier_series
from ..pdes import AbstractPDE, Advection, AllenCahn, Burgers, Heat, NavierStokes2D, fno_forcing, kolmogorov_forcing
from ..spatial import PeriodicGrid
from ._registry import AbstractProblem, get, names, register


@dataclass
class Problem:
    """A built reference problem: the PDE with its initial condition and a suggested time step."""

    name: str
    pde: AbstractPDE
    u0: jax.Array
    dt: float
    parameters: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ReferenceProblem(AbstractProblem):
    """A problem for the reference solvers: ``build(...)`` returns a :class:`Problem`.

    `builder` takes ``(key, resolution, ndim, viscosity, forcing, drag, dtype)`` (see
    :func:`build_problem`) and returns ``(pde, u0, dt, parameters)``.
    """

    label: ClassVar[str] = "reference"
    builder: Callable[..., tuple] = field(repr=False, default=None)

    def build(self, resolution: int = 64, ndim: int | None = None, viscosity: float | None = None,
              forcing: str = "kolmogorov", drag: float = 0.1, seed: int = 0, dtype=jnp.float32) -> Problem:
        """Build the problem (see :func:`build_problem` for the arguments)."""
        key = jax.random.PRNGKey(seed)
        pde, u0, dt, parameters = self.builder(key, resolution, 2 if ndim is None else ndim, viscosity, forcing,
                                               drag, dtype)
        return Problem(self.name, pde, u0.astype(dtype), dt, parameters)


def _heat(key, resolution, ndim, viscosity, forcing, drag, dtype):
    grid = PeriodicGrid(resolution, ndim=ndim, dtype=dtype)
    nu = 0.1 if viscosity is None else viscosity
    return Heat(grid, nu), random_fourier_series(key, grid, max_mode=6), 0.01, {"viscosity": nu}


def _advection(key, resolution, ndim, viscosity, forcing, drag, dtype):
    grid = PeriodicGrid(resolution, ndim=ndim, dtype=dtype)
    return Advection(grid, 1.0), random_fourier_series(key, grid, max_mode=4), 0.5 * 2 * np.pi / resolution, \
        {"viscosity": 0.0}


def _burgers(key, resolution, ndim, viscosity, forcing, drag, dtype):
    grid = PeriodicGrid(resolution, ndim=ndim, dtype=dtype)
    nu = 0.02 if viscosity is None else viscosity
    u0 = random_fourier_series(key, grid, max_mode=3, num_channels=ndim)
    return Burgers(grid, nu), u0, 0.2 * 2 * np.pi / resolution, {"viscosity": nu}


def _allen_cahn(key, resolution, ndim, viscosity, forcing, drag, dtype):
    grid = PeriodicGrid(resolution, ndim=ndim, dtype=dtype)
    nu = 0.005 if viscosity is None else viscosity
    return AllenCahn(grid, nu), random_fourier_series(key, grid, max_mode=4), 0.01, {"viscosity": nu}


def _navier_stokes(key, resolution, ndim, viscosity, forcing, drag, dtype):
    if forcing == "fno":
        grid = PeriodicGrid(resolution, extent=1.0, ndim=2, dtype=dtype)
        nu = 1e-3 if viscosity is None else viscosity
        pde = NavierStokes2D(grid, viscosity=nu, drag=0.0, forcing=fno_forcing(grid))
        u0 = gaussian_random_field(key, grid, alpha=2.5, tau=7.0)
        dt = 1e-2 * 64 / resolution
    else:
        if forcing not in ("kolmogorov", "none"):
            raise InvalidInputError(f"unknown forcing {forcing!r}; choose kolmogorov, fno or none")
        grid = PeriodicGrid(resolution, ndim=2, dtype=dtype)
        nu = 1e-2 if viscosity is None else viscosity
        f = kolmogorov_forcing(grid, wavenumber=4) if forcing == "kolmogorov" else None
        pde = NavierStokes2D(grid, viscosity=nu, drag=drag, forcing=f)
        u0 = 2.0 * random_fourier_series(key, grid, max_mode=4)
        dt = 0.5 / resolution
    return pde, u0, dt, {"viscosity": nu, "forcing": forcing, "drag": drag}


for _problem in (
    ReferenceProblem("heat", "heat equation on [0, 2pi)^d, nu = 0.1, random Fourier-series data", _heat),
    ReferenceProblem("advection", "linear advection on [0, 2pi)^d, unit velocity", _advection),
    ReferenceProblem("burgers", "vector viscous Burgers on [0, 2pi)^d, nu = 0.02", _burgers),
    ReferenceProblem("allen-cahn", "Allen-Cahn on [0, 2pi)^d, nu = 0.005", _allen_cahn),
    ReferenceProblem("navier-stokes", "2D vorticity Navier-Stokes (Kolmogorov or FNO forcing)", _navier_stokes),
):
    register(_problem)

#: Names of the reference problems.
PROBLEMS = names(ReferenceProblem)


def build_problem(
    name: str,
    resolution: int = 64,
    ndim: int | None = None,
    viscosity: float | None = None,
    forcing: str = "kolmogorov",
    drag: float = 0.1,
    seed: int = 0,
    dtype=jnp.float32,
) -> Problem:
    """Build the reference problem `name` on a periodic grid.

    **Arguments:**

    - `name`: ``heat``, ``advection``, ``burgers``, ``allen-cahn`` or ``navier-stokes``.
    - `resolution`: points per axis.
    - `ndim`: spatial dimensions (default 2; Navier-Stokes is always 2D).
    - `viscosity`: diffusivity/viscosity (a per-problem default if ``None``).
    - `forcing`: Navier-Stokes forcing, ``kolmogorov`` (on $[0, 2\\pi)^2$), ``fno`` (on $(0,1)^2$) or ``none``.
    - `drag`: Navier-Stokes linear drag.
    - `seed`: seed of the random initial condition.
    - `dtype`: float32 or float64.
    """
    return get(name, ReferenceProblem).build(resolution, ndim, viscosity, forcing, drag, seed, dtype)
