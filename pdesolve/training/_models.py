"""Built-in trainable models: ``fno`` (:class:`~pdesolve.operators.FNO`) and ``unet`` (:class:`~pdesolve.operators.UNet`)."""

from __future__ import annotations

from ..operators import FNO, UNet
from ._registry import MODELS, register_model

FNO_DEFAULTS = {"modes": 12, "width": 20, "layers": 4, "projection_width": 128}
UNET_DEFAULTS = {"width": 16, "levels": 2, "kernel_size": 3}


def _fno_arguments(parser) -> None:
    parser.add_argument("--modes", type=int, default=FNO_DEFAULTS["modes"], help="Fourier modes per axis (12)")
    parser.add_argument("--width", type=int, default=FNO_DEFAULTS["width"], help="hidden channels (20)")
    parser.add_argument("--layers", type=int, default=FNO_DEFAULTS["layers"], help="Fourier layers (4)")
    parser.add_argument("--projection-width", type=int, default=FNO_DEFAULTS["projection_width"],
                        help="hidden width of the output projection (128)")


def _build_fno(options, *, in_channels, out_channels, ndim, key):
    o = {**FNO_DEFAULTS, **{k: v for k, v in options.items() if k in FNO_DEFAULTS and v is not None}}
    return FNO(in_channels, out_channels, ndim=ndim, width=o["width"], modes=o["modes"], num_layers=o["layers"],
               projection_width=o["projection_width"], key=key)


def _unet_arguments(parser) -> None:
    parser.add_argument("--width", type=int, default=UNET_DEFAULTS["width"], help="channels of the finest level (16)")
    parser.add_argument("--levels", type=int, default=UNET_DEFAULTS["levels"], help="down-samplings (2)")
    parser.add_argument("--kernel-size", type=int, default=UNET_DEFAULTS["kernel_size"], help="convolution width (3)")


def _build_unet(options, *, in_channels, out_channels, ndim, key):
    o = {**UNET_DEFAULTS, **{k: v for k, v in options.items() if k in UNET_DEFAULTS and v is not None}}
    return UNet(in_channels, out_channels, ndim=ndim, width=o["width"], levels=o["levels"],
                kernel_size=o["kernel_size"], key=key)


if "fno" not in MODELS:
    register_model("fno", _build_fno, description="Fourier Neural Operator (Li et al. 2021), 1D/2D/3D",
                   add_arguments=_fno_arguments)
if "unet" not in MODELS:
    register_model("unet", _build_unet, description="periodic U-Net baseline, 1D/2D", add_arguments=_unet_arguments)
