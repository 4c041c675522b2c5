"""Neural operators: the Fourier Neural Operator, its spectral convolution layer, and a U-Net baseline."""

from ._fno import FNO as FNO
from ._spectral_convolution import SpectralConvolution as SpectralConvolution
from ._transforms import FOURIER_TRANSFORMS as FOURIER_TRANSFORMS
from ._transforms import RFFT as RFFT
from ._transforms import AbstractFourierTransform as AbstractFourierTransform
from ._transforms import TruncatedDFT as TruncatedDFT
from ._unet import UNet as UNet

__all__ = [
    "AbstractFourierTransform",
    "FNO",
    "FOURIER_TRANSFORMS",
    "RFFT",
    "SpectralConvolution",
    "TruncatedDFT",
    "UNet",
]
