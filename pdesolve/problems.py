"""Ready-made problems: a PDE, a grid and an initial condition, built from a few parameters.

These back ``pdesolve solve`` and ``pdesolve demo`` and are handy in notebooks::

    problem = build_problem("navier-stokes", resolution=128, viscosity=1e-2)
    trajectory = rollout(ETDRK4(problem.pde, 0.01), problem.u0, 1000, save_every=100)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import InvalidInputError
from .initial_conditions import gaussian_random_field, random_fourier_series
from .pdes import AbstractPDE, Advection, AllenCahn, Burgers, Heat, NavierStokes2D, fno_forcing, kolmogorov_forcing
from .spatial import PeriodicGrid


@dataclass
class Problem:
    """A PDE with its initial condition and a suggested time step."""

    name: str
    pde: AbstractPDE
    u0: jax.Array
    dt: float
    parameters: dict = field(default_factory=dict)


PROBLEMS = ("heat", "advection", "burgers", "allen-cahn", "navier-stokes")


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
    """Build one of :data:`PROBLEMS` on a periodic grid.

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
    if name not in PROBLEMS:
        raise InvalidInputError(f"unknown problem {name!r}; choose from {', '.join(PROBLEMS)}")
    key = jax.random.PRNGKey(seed)
    ndim = 2 if ndim is None else ndim
    if name == "navier-stokes":
        ndim = 2
        if forcing == "fno":
            grid = PeriodicGrid(resolution, extent=1.0, ndim=2, dtype=dtype)
            nu = 1e-3 if viscosity is None else viscosity
            pde = NavierStokes2D(grid, viscosity=nu, drag=0.0, forcing=fno_forcing(grid))
            u0 = gaussian_random_field(key, grid, alpha=2.5, tau=7.0)
            dt = 1e-2 * 64 / resolution
        else:
            grid = PeriodicGrid(resolution, ndim=2, dtype=dtype)
            nu = 1e-2 if viscosity is None else viscosity
            f = kolmogorov_forcing(grid, wavenumber=4) if forcing == "kolmogorov" else None
            if forcing not in ("kolmogorov", "none"):
                raise InvalidInputError(f"unknown forcing {forcing!r}; choose kolmogorov, fno or none")
            pde = NavierStokes2D(grid, viscosity=nu, drag=drag, forcing=f)
            u0 = 2.0 * random_fourier_series(key, grid, max_mode=4)
            dt = 0.5 / resolution
        return Problem(name, pde, u0, dt, {"viscosity": nu, "forcing": forcing, "drag": drag})
    grid = PeriodicGrid(resolution, ndim=ndim, dtype=dtype)
    h = 2 * np.pi / resolution
    if name == "heat":
        nu = 0.1 if viscosity is None else viscosity
        pde = Heat(grid, nu)
        u0 = random_fourier_series(key, grid, max_mode=6)
        dt = 0.01
    elif name == "advection":
        pde = Advection(grid, 1.0)
        u0 = random_fourier_series(key, grid, max_mode=4)
        nu = 0.0
        dt = 0.5 * h
    elif name == "burgers":
        nu = 0.02 if viscosity is None else viscosity
        pde = Burgers(grid, nu)
        u0 = random_fourier_series(key, grid, max_mode=3, num_channels=ndim)
        dt = 0.2 * h
    else:
        nu = 0.005 if viscosity is None else viscosity
        pde = AllenCahn(grid, nu)
        u0 = random_fourier_series(key, grid, max_mode=4)
        dt = 0.01
    return Problem(name, pde, u0.astype(dtype), dt, {"viscosity": nu})
