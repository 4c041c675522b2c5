"""Built-in window-to-frame models: :data:`FNO_SPEC` (:class:`~pdesolve.operators.FNO`) and :data:`UNET_SPEC` (:class:`~pdesolve.operators.UNet`)."""

from __future__ import annotations

from ..operators import FNO, FOURIER_TRANSFORMS, UNet
from .._errors import InvalidInputError
from ._registry import ModelSpec, window_to_frame

FNO_DEFAULTS = {"modes": 12, "width": 20, "layers": 4, "projection_width": 128, "transform": "rfft"}
UNET_DEFAULTS = {"width": 16, "levels": 2, "kernel_size": 3}


def _fno_arguments(parser) -> None:
    parser.add_argument("--modes", type=int, default=FNO_DEFAULTS["modes"], help="Fourier modes per axis (12)")
    parser.add_argument("--width", type=int, default=FNO_DEFAULTS["width"], help="hidden channels (20)")
    parser.add_argument("--layers", type=int, default=FNO_DEFAULTS["layers"], help="Fourier layers (4)")
    parser.add_argument("--projection-width", type=int, default=FNO_DEFAULTS["projection_width"],
                        help="hidden width of the output projection (128)")
    parser.add_argument("--transform", choices=tuple(FOURIER_TRANSFORMS), default=FNO_DEFAULTS["transform"],
                        help="Fourier transform of the spectral layers: rfft (FFTs) or dft (the retained modes as "
                             "matrix products, operators.TruncatedDFT: faster on multi-core CPUs for few modes) (rfft)")


def _build_fno(options, *, in_channels, out_channels, ndim, key):
    o = {**FNO_DEFAULTS, **{k: v for k, v in options.items() if k in FNO_DEFAULTS and v is not None}}
    if o["transform"] not in FOURIER_TRANSFORMS:
        raise InvalidInputError(f"transform must be one of {', '.join(FOURIER_TRANSFORMS)}, got {o['transform']!r}")
    return FNO(in_channels, out_channels, ndim=ndim, width=o["width"], modes=o["modes"], num_layers=o["layers"],
               projection_width=o["projection_width"], key=key, transform=FOURIER_TRANSFORMS[o["transform"]]())


def _unet_arguments(parser) -> None:
    parser.add_argument("--width", type=int, default=UNET_DEFAULTS["width"], help="channels of the finest level (16)")
    parser.add_argument("--levels", type=int, default=UNET_DEFAULTS["levels"], help="down-samplings (2)")
    parser.add_argument("--kernel-size", type=int, default=UNET_DEFAULTS["kernel_size"], help="convolution width (3)")


def _build_unet(options, *, in_channels, out_channels, ndim, key):
    o = {**UNET_DEFAULTS, **{k: v for k, v in options.items() if k in UNET_DEFAULTS and v is not None}}
    return UNet(in_channels, out_channels, ndim=ndim, width=o["width"], levels=o["levels"],
                kernel_size=o["kernel_size"], key=key)


#: ``pdesolve train fno``: the FNO as a window-to-frame surrogate on :class:`~pdesolve.training.TrajectoryData`.
FNO_SPEC = ModelSpec("fno", window_to_frame(_build_fno), description="Fourier Neural Operator (Li et al. 2021), 1D/2D/3D",
                     add_arguments=_fno_arguments)
#: ``pdesolve train unet``: the periodic U-Net baseline, window to frame.
UNET_SPEC = ModelSpec("unet", window_to_frame(_build_unet), description="periodic U-Net baseline, 1D/2D",
                      add_arguments=_unet_arguments)

_FRAME_BUILDERS = {"fno": _build_fno, "unet": _build_unet}


def build_model(name: str, *, in_channels: int, out_channels: int, ndim: int, key, **options):
    """The built-in window-to-frame model ``"fno"`` or ``"unet"`` with `options` (others default).

    `in_channels` = window x field channels, `out_channels` = field channels, `ndim` = space
    dimensions; `options` are those of :data:`FNO_SPEC` / :data:`UNET_SPEC` (e.g. ``modes``,
    ``width``).
    """
    if name not in _FRAME_BUILDERS:
        raise InvalidInputError(f"unknown model {name!r}; build_model offers {', '.join(_FRAME_BUILDERS)}")
    return _FRAME_BUILDERS[name](options, in_channels=in_channels, out_channels=out_channels, ndim=ndim, key=key)
