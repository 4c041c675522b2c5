"""PDE definitions: semi-discrete right-hand sides, linear/nonlinear splits, analytic solutions."""

from ._analytic import cole_hopf_burgers as cole_hopf_burgers
from ._analytic import dirichlet_heat_sine_modes as dirichlet_heat_sine_modes
from ._analytic import heat_fourier_mode as heat_fourier_mode
from ._analytic import taylor_green_vorticity as taylor_green_vorticity
from ._base import AbstractNonlinearSpectralPDE as AbstractNonlinearSpectralPDE
from ._base import AbstractPDE as AbstractPDE
from ._base import AbstractSpectralPDE as AbstractSpectralPDE
from ._allen_cahn import AllenCahn as AllenCahn
from ._burgers import Burgers as Burgers
from ._advection import Advection as Advection
from ._heat import Heat as Heat
from ._navier_stokes import NavierStokes2D as NavierStokes2D
from ._navier_stokes import fno_forcing as fno_forcing
from ._navier_stokes import kolmogorov_forcing as kolmogorov_forcing
from ._dirichlet_heat import DirichletHeat as DirichletHeat
from ._diffusion_sorption import DiffusionSorption as DiffusionSorption
from ._diffusion_sorption import diffusion_sorption_residual as diffusion_sorption_residual
from ._diffusion_sorption import retardation_factor as retardation_factor
from ._combined_equation import COMBINED_EXPERIMENTS as COMBINED_EXPERIMENTS
from ._combined_equation import COMBINED_EXTENT as COMBINED_EXTENT
from ._combined_equation import CombinedEquation as CombinedEquation
from ._combined_equation import CombinedForcing as CombinedForcing
from ._combined_equation import sample_combined_parameters as sample_combined_parameters
from ._combined_equation import weno5_flux_derivative as weno5_flux_derivative

__all__ = [
    "AbstractNonlinearSpectralPDE",
    "AbstractPDE",
    "AbstractSpectralPDE",
    "Advection",
    "AllenCahn",
    "COMBINED_EXPERIMENTS",
    "COMBINED_EXTENT",
    "Burgers",
    "CombinedEquation",
    "CombinedForcing",
    "DiffusionSorption",
    "DirichletHeat",
    "Heat",
    "NavierStokes2D",
    "cole_hopf_burgers",
    "diffusion_sorption_residual",
    "dirichlet_heat_sine_modes",
    "fno_forcing",
    "heat_fourier_mode",
    "kolmogorov_forcing",
    "retardation_factor",
    "sample_combined_parameters",
    "taylor_green_vorticity",
    "weno5_flux_derivative",
]
