r"""Dataset recipes: which PDE, domain, initial conditions, solver and output times.

The generation config a recipe resolves to is built by :func:`pdesolve.datasets.resolve_config`.

Recipes (:data:`RECIPES`):

- ``heat1d`` / ``heat2d``: $u_t = \nu\Delta u$ on $[0, 2\pi)^d$, random Fourier-series
  initial data (modes $|m_i| \le 6$), exact exponential stepping (one step per saved frame).
- ``burgers1d``: $u_t + u u_x = \nu u_{xx}$ on $[0, 1)$ (PDEBench's domain), random Fourier
  series ($|m| \le 4$, max $|u_0| = 1$), ETDRK4 on a 4x finer grid (at least 256 points).
- ``ns-fno``: vorticity on $(0, 1)^2$ as in the FNO benchmark (Li et al. 2021): GRF initial
  vorticity ($\alpha = 2.5$, $\tau = 7$, :func:`~pdesolve.initial_conditions.gaussian_random_field`),
  forcing :func:`~pdesolve.pdes.fno_forcing`, $\nu = 10^{-3}$ (the benchmark also uses
  $10^{-4}$ and $10^{-5}$: override ``nu``), saved every time unit up to ``t_final`` = 50, 30
  or 20 (the benchmark's horizons for $\nu = 10^{-3}, 10^{-4}, 10^{-5}$), solved with ETDRK4 on
  a 4x finer grid (64 -> 256 as in the benchmark; capped at 512) and spectrally truncated.
- ``ns-kolmogorov``: vorticity on $[0, 2\pi)^2$ with
  :func:`~pdesolve.pdes.kolmogorov_forcing` ($k = 4$), drag 0.1, ETDRK4 on a 4x finer grid.

Every sample is solved on the fine grid, then its Fourier modes $|m_i| < R/2$ are kept
(spectral truncation) to give the output resolution $R$.

Combined-equation recipes (:class:`CombinedRecipe`, :data:`COMBINED_RECIPES`), the data of
Brandstetter, Worrall & Welling (ICLR 2022),
$u_t = -\alpha (u^2/2)_x + \beta u_{xx} - \gamma u_{xxx} + \delta(t, x)$ on $[0, 16)$, generated
by :func:`pdesolve.datasets.generate_combined_dataset`:

- ``combined-e1``: forced inviscid Burgers (experiment E1), 250 frames on $[0, 4]$.
- ``combined-e2``: + viscosity $\beta \sim U[0, 0.2]$ (E2), 250 frames on $[0, 4]$.
- ``combined-e3``: + dispersion and a random $\alpha$ (E3), 250 frames on $[0, 2]$.

Each is solved at $n_x = 200$ (WENO5 flux, non-autonomous ETDRK4) and saved at
$n_x = 100, 50, 40$ by taking every $200 / n_x$-th point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .._errors import InvalidInputError
from ..pdes import COMBINED_EXPERIMENTS, COMBINED_EXTENT
from ._registry import AbstractProblem, get, register, registry


@dataclass(frozen=True)
class Recipe(AbstractProblem):
    """How to generate one family of samples.

    **Attributes:**

    - `name`, `description` (see :class:`AbstractProblem`).
    - `pde`: ``"heat"``, ``"burgers"`` or ``"navier-stokes"``; `ndim`: space dimensions;
      `channels`: channel names; `extent`: side of the periodic box.
    - `defaults`: the overridable parameters and their defaults (``nu``, ``t_final``, ...).
    - `refinement`, `min_solve_resolution`, `max_solve_resolution`: the solver grid is
      ``clip(refinement * resolution, min, max)`` (never coarser than the output).
    - `cfl`: the time step is at most ``cfl * extent / solve_resolution`` (``None``: one step per
      saved frame, for exact exponential stepping of linear PDEs).
    - `initial_condition`: kind and parameters of the random initial data.
    - `physical`: parameters stored as root attributes of the file.
    """

    label: ClassVar[str] = "recipe"
    pde: str
    ndim: int
    channels: tuple[str, ...]
    extent: float
    defaults: Mapping[str, Any]
    refinement: int
    min_solve_resolution: int
    max_solve_resolution: int
    cfl: float | None
    initial_condition: Mapping[str, Any] = field(default_factory=dict)
    physical: tuple[str, ...] = ("nu",)

    @property
    def parameters(self) -> tuple[str, ...]:
        """Names accepted as overrides."""
        return tuple(self.defaults) + ("solve_resolution", "dt")


_COMMON = {"dtype": "float32"}

for _recipe in (
        Recipe(
            name="heat1d",
            description="1D heat equation on [0, 2pi), random Fourier-series initial data",
            pde="heat",
            ndim=1,
            channels=("u",),
            extent=2 * math.pi,
            defaults={"nu": 0.02, "t_final": 2.0, "dt_save": 0.1, "integrator": "etdrk1", **_COMMON},
            refinement=1,
            min_solve_resolution=1,
            max_solve_resolution=1 << 16,
            cfl=None,
            initial_condition={"kind": "random_fourier_series", "max_mode": 6, "amplitude": 1.0},
        ),
        Recipe(
            name="heat2d",
            description="2D heat equation on [0, 2pi)^2, random Fourier-series initial data",
            pde="heat",
            ndim=2,
            channels=("u",),
            extent=2 * math.pi,
            defaults={"nu": 0.02, "t_final": 2.0, "dt_save": 0.1, "integrator": "etdrk1", **_COMMON},
            refinement=1,
            min_solve_resolution=1,
            max_solve_resolution=4096,
            cfl=None,
            initial_condition={"kind": "random_fourier_series", "max_mode": 6, "amplitude": 1.0},
        ),
        Recipe(
            name="burgers1d",
            description="1D viscous Burgers on [0, 1) (PDEBench domain), random Fourier-series initial data",
            pde="burgers",
            ndim=1,
            channels=("u",),
            extent=1.0,
            defaults={"nu": 0.01, "t_final": 2.0, "dt_save": 0.05, "integrator": "etdrk4", **_COMMON},
            refinement=4,
            min_solve_resolution=256,
            max_solve_resolution=8192,
            cfl=0.4,
            initial_condition={"kind": "random_fourier_series", "max_mode": 4, "amplitude": 1.0},
        ),
        Recipe(
            name="ns-fno",
            description="2D Navier-Stokes vorticity on (0,1)^2, FNO benchmark setup (GRF init, fno_forcing)",
            pde="navier-stokes",
            ndim=2,
            channels=("vorticity",),
            extent=1.0,
            defaults={
                "nu": 1e-3, "drag": 0.0, "t_final": None, "dt_save": 1.0, "integrator": "etdrk4", **_COMMON,
            },
            refinement=4,
            min_solve_resolution=64,
            max_solve_resolution=512,
            cfl=1.0,
            initial_condition={"kind": "gaussian_random_field", "alpha": 2.5, "tau": 7.0, "sigma": None},
            physical=("nu", "drag", "forcing"),
        ),
        Recipe(
            name="ns-kolmogorov",
            description="2D Navier-Stokes vorticity on [0,2pi)^2 with Kolmogorov forcing and linear drag",
            pde="navier-stokes",
            ndim=2,
            channels=("vorticity",),
            extent=2 * math.pi,
            defaults={
                "nu": 1e-2, "drag": 0.1, "forcing_wavenumber": 4, "forcing_amplitude": 1.0,
                "t_final": 20.0, "dt_save": 0.5, "integrator": "etdrk4", **_COMMON,
            },
            refinement=4,
            min_solve_resolution=64,
            max_solve_resolution=512,
            cfl=0.2,
            initial_condition={"kind": "random_fourier_series", "max_mode": 4, "amplitude": 2.0},
            physical=("nu", "drag", "forcing", "forcing_wavenumber", "forcing_amplitude"),
        ),
):
    register(_recipe)

#: The dataset recipes by name.
RECIPES: dict[str, Recipe] = dict(registry(Recipe))



def get_recipe(name: str) -> Recipe:
    """The recipe called `name` (see :data:`RECIPES`)."""
    return get(name, Recipe)


@dataclass(frozen=True)
class CombinedRecipe(AbstractProblem):
    r"""One experiment of the combined equation (E1, E2 or E3): what its dataset files hold.

    **Attributes:**

    - `name`, `description` (see :class:`AbstractProblem`).
    - `experiment`: ``"E1"``, ``"E2"`` or ``"E3"`` (the parameter distribution of
      :func:`~pdesolve.pdes.sample_combined_parameters`).
    - `t_final`, `num_times`: frames saved at ``linspace(0, t_final, num_times)``.
    - `max_alpha`, `u_bound`: the largest $\alpha$ of the experiment and a bound on $|u|$; with
      `cfl`, they fix the solver step, $\alpha_{max} u_{max} \Delta t / \Delta x \le$ `cfl`.
    - `extent`: the period (16); `solve_resolution`: the solver grid; `resolutions`: the
      output grids (each divides `solve_resolution`); `flux`: ``"weno5"`` or ``"spectral"``
      (:class:`~pdesolve.pdes.CombinedEquation`).
    """

    label: ClassVar[str] = "combined-recipe"
    experiment: str
    t_final: float
    max_alpha: float
    u_bound: float
    num_times: int = 250
    cfl: float = 0.4
    extent: float = COMBINED_EXTENT
    solve_resolution: int = 200
    resolutions: tuple[int, ...] = (100, 50, 40)
    flux: str = "weno5"

    def times(self, num_times: int | None = None) -> np.ndarray:
        """The saved times ``linspace(0, t_final, num_times)`` (default: the recipe's `num_times`)."""
        num_times = self.num_times if num_times is None else num_times
        if isinstance(num_times, bool) or int(num_times) != num_times or num_times < 2:
            raise InvalidInputError(f"num_times must be an integer >= 2, got {num_times!r}")
        return np.linspace(0.0, self.t_final, int(num_times))


# Bounds on |u| above the largest seen over 32 samples at nx = 200 (E1 3.1, E2 3.4, E3 4.4).
for _recipe in (
        CombinedRecipe(
            name="combined-e1",
            description="combined equation E1 (forced inviscid Burgers) on [0, 16), 250 frames to t = 4",
            experiment="E1", t_final=4.0, max_alpha=1.0, u_bound=3.5,
        ),
        CombinedRecipe(
            name="combined-e2",
            description="combined equation E2 (forced viscous Burgers) on [0, 16), 250 frames to t = 4",
            experiment="E2", t_final=4.0, max_alpha=1.0, u_bound=3.5,
        ),
        CombinedRecipe(
            name="combined-e3",
            description="combined equation E3 (forced KdV-Burgers, random alpha) on [0, 16), 250 frames to t = 2",
            experiment="E3", t_final=2.0, max_alpha=6.0, u_bound=5.0,
        ),
):
    register(_recipe)

#: The combined-equation recipes by name.
COMBINED_RECIPES: dict[str, CombinedRecipe] = dict(registry(CombinedRecipe))


def combined_recipe(experiment: str) -> CombinedRecipe:
    """The combined-equation recipe of `experiment`: ``"E1"``, ``"E2"``, ``"E3"`` or its name (``"combined-e1"``, ...)."""
    for recipe in COMBINED_RECIPES.values():
        if experiment in (recipe.experiment, recipe.name):
            return recipe
    raise InvalidInputError(f"experiment must be one of {', '.join(COMBINED_EXPERIMENTS)}, got {experiment!r}")
