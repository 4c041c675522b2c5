"""Grids and spatial operators: periodic grids, spectral operators, finite differences."""

from ._grid import PeriodicGrid as PeriodicGrid
from ._grid import default_float_dtype as default_float_dtype
from ._spectral import dealiasing_mask as dealiasing_mask
from ._spectral import derivative_operator as derivative_operator
from ._spectral import inverse_laplacian_symbol as inverse_laplacian_symbol
from ._spectral import irfft as irfft
from ._spectral import laplacian_symbol as laplacian_symbol
from ._spectral import poisson_solve as poisson_solve
from ._spectral import rfft as rfft
from ._spectral import rfft_weights as rfft_weights
from ._spectral import spectral_derivative as spectral_derivative
from ._spectral import spectral_gradient as spectral_gradient
from ._spectral import spectral_laplacian as spectral_laplacian
from ._spectral import velocity_from_vorticity_hat as velocity_from_vorticity_hat
from ._finite_difference import fd_derivative_periodic as fd_derivative_periodic
from ._finite_difference import fd_laplacian_dirichlet as fd_laplacian_dirichlet
from ._finite_difference import fd_laplacian_dirichlet_matrix as fd_laplacian_dirichlet_matrix
from ._finite_difference import fd_laplacian_eigenvalue_bound as fd_laplacian_eigenvalue_bound
from ._finite_difference import fd_laplacian_periodic as fd_laplacian_periodic

__all__ = [
    "PeriodicGrid",
    "dealiasing_mask",
    "default_float_dtype",
    "derivative_operator",
    "fd_derivative_periodic",
    "fd_laplacian_dirichlet",
    "fd_laplacian_dirichlet_matrix",
    "fd_laplacian_eigenvalue_bound",
    "fd_laplacian_periodic",
    "inverse_laplacian_symbol",
    "irfft",
    "laplacian_symbol",
    "poisson_solve",
    "rfft",
    "rfft_weights",
    "spectral_derivative",
    "spectral_gradient",
    "spectral_laplacian",
    "velocity_from_vorticity_hat",
]
