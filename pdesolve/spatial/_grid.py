"""Uniform periodic grids."""

from __future__ import annotations

import math
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._errors import InvalidInputError


def default_float_dtype():
    """The floating dtype JAX uses by default (float64 if x64 is enabled)."""
    return jnp.zeros(()).dtype


def _as_tuple(value, ndim: int, name: str) -> tuple:
    if isinstance(value, (int, float, np.integer, np.floating)):
        return (value,) * ndim
    value = tuple(value)
    if len(value) != ndim:
        raise InvalidInputError(f"{name} has {len(value)} entries but the grid has {ndim} dimensions")
    return value


class PeriodicGrid(eqx.Module):
    r"""A uniform grid on the periodic box $[0, L_1) \times \dots \times [0, L_d)$.

    Point $j$ along axis $i$ sits at $x_j = j L_i / N_i$ (the left end is included,
    the right end is not). Fields on the grid are arrays shaped ``(channels, N_1, ..., N_d)``
    with ``"ij"`` indexing: axis 1 is $x$, axis 2 is $y$, axis 3 is $z$.

    **Arguments:**

    - `num_points`: points per axis, an int (same on every axis) or one int per axis.
    - `extent`: box side lengths $L_i$ (default $2\pi$).
    - `ndim`: number of spatial dimensions (1, 2 or 3); needed when `num_points` is an int.
    - `dtype`: real floating dtype of fields on this grid (default: JAX's default float).
    """

    num_points: tuple[int, ...] = eqx.field(static=True)
    extent: tuple[float, ...] = eqx.field(static=True)
    dtype: np.dtype = eqx.field(static=True)

    def __init__(
        self,
        num_points: int | Sequence[int],
        extent: float | Sequence[float] = 2 * math.pi,
        ndim: int | None = None,
        dtype=None,
    ):
        if ndim is None:
            ndim = 1 if isinstance(num_points, (int, np.integer)) else len(tuple(num_points))
        if ndim not in (1, 2, 3):
            raise InvalidInputError(f"ndim must be 1, 2 or 3, got {ndim}")
        points = _as_tuple(num_points, ndim, "num_points")
        for n in points:
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
                raise InvalidInputError(f"grid sizes must be integers, got {n!r}")
            if n <= 0:
                raise InvalidInputError(f"grid size must be positive, got {n}")
            if n < 2:
                raise InvalidInputError(f"a periodic grid needs at least 2 points per axis, got {n}")
        lengths = _as_tuple(extent, ndim, "extent")
        for length in lengths:
            if not (float(length) > 0 and math.isfinite(float(length))):
                raise InvalidInputError(f"domain extent must be positive and finite, got {length}")
        dtype = np.dtype(default_float_dtype() if dtype is None else dtype)
        if dtype.kind != "f":
            raise InvalidInputError(f"grid dtype must be a real floating dtype, got {dtype}")
        self.num_points = tuple(int(n) for n in points)
        self.extent = tuple(float(length) for length in lengths)
        self.dtype = dtype

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions."""
        return len(self.num_points)

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape ``(N_1, ..., N_d)``."""
        return self.num_points

    @property
    def spacing(self) -> tuple[float, ...]:
        r"""Grid spacings $h_i = L_i / N_i$."""
        return tuple(length / n for length, n in zip(self.extent, self.num_points))

    @property
    def cell_volume(self) -> float:
        """Volume of one grid cell, $\\prod_i h_i$ (the quadrature weight)."""
        return math.prod(self.spacing)

    @property
    def spectral_shape(self) -> tuple[int, ...]:
        """Shape of a real-FFT coefficient array: the last axis is halved."""
        return self.num_points[:-1] + (self.num_points[-1] // 2 + 1,)

    @property
    def complex_dtype(self):
        """Complex dtype matching :attr:`dtype`."""
        return jnp.result_type(self.dtype, jnp.complex64)

    def axes(self) -> list[Float[Array, " n"]]:
        """One 1D coordinate array per axis."""
        return [
            jnp.arange(n, dtype=self.dtype) * (length / n)
            for n, length in zip(self.num_points, self.extent)
        ]

    def coordinates(self) -> Float[Array, "d *grid"]:
        """Coordinates of every point, shaped ``(d, N_1, ..., N_d)`` (``"ij"`` indexing)."""
        return jnp.stack(jnp.meshgrid(*self.axes(), indexing="ij"))

    def wavenumbers(self) -> list[Float[Array, "..."]]:
        r"""Angular wavenumbers $k_i = 2\pi m / L_i$ for the real FFT layout.

        Returns one array per axis, broadcastable against :attr:`spectral_shape`.
        """
        out = []
        for axis, (n, length) in enumerate(zip(self.num_points, self.extent)):
            spacing = length / n
            if axis == self.ndim - 1:
                k = 2 * np.pi * np.fft.rfftfreq(n, d=spacing)
            else:
                k = 2 * np.pi * np.fft.fftfreq(n, d=spacing)
            shape = [1] * self.ndim
            shape[axis] = k.size
            out.append(jnp.asarray(k.reshape(shape), dtype=self.dtype))
        return out

    def integer_wavenumbers(self) -> list[np.ndarray]:
        """Integer mode numbers per axis (real FFT layout), as numpy arrays."""
        out = []
        for axis, n in enumerate(self.num_points):
            if axis == self.ndim - 1:
                m = np.fft.rfftfreq(n, d=1.0 / n)
            else:
                m = np.fft.fftfreq(n, d=1.0 / n)
            shape = [1] * self.ndim
            shape[axis] = m.size
            out.append(np.rint(m).astype(int).reshape(shape))
        return out

    def check_field(self, u, name: str = "u", num_channels: int | None = None):
        """Validate that `u` is a real float field shaped ``(channels, *grid.shape)``.

        Raises :class:`~pdesolve.InvalidInputError` with a plain description otherwise.
        """
        shape = tuple(getattr(u, "shape", ()))
        dtype = getattr(u, "dtype", None)
        if dtype is None or np.dtype(dtype).kind != "f":
            raise InvalidInputError(
                f"{name} must be a real floating array, got dtype {dtype}; "
                f"convert with jnp.asarray({name}, dtype=jnp.float64) or float32"
            )
        expected = ("C",) + self.shape if num_channels is None else (num_channels,) + self.shape
        if len(shape) != self.ndim + 1 or shape[1:] != self.shape or (
            num_channels is not None and shape[0] != num_channels
        ):
            raise InvalidInputError(
                f"{name} has shape {shape} but this grid expects (channels, *grid) = {expected}"
            )
