"""Neural operators: the Fourier Neural Operator, its spectral convolution layer, and a U-Net baseline."""

from ._fno import FNO as FNO
from ._spectral_convolution import SpectralConvolution as SpectralConvolution
from ._unet import UNet as UNet

__all__ = [
    "FNO",
    "SpectralConvolution",
    "UNet",
]
