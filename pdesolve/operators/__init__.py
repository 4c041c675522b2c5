"""Neural operators: the Fourier Neural Operator and its spectral convolution layer."""

from ._fno import FNO as FNO
from ._spectral_convolution import SpectralConvolution as SpectralConvolution

__all__ = [
    "FNO",
    "SpectralConvolution",
]
