"""Heat equation on a box with Dirichlet boundary values, by finite differences."""

from __future__ import annotations

import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._errors import InvalidInputError
from ..spatial import default_float_dtype, fd_laplacian_dirichlet, fd_laplacian_eigenvalue_bound
from ._base import AbstractPDE, as_parameter


def _boundary_array(boundary_values, ndim: int, dtype) -> Array:
    """Constant Dirichlet data as an ``(ndim, 2)`` array of ``(low, high)`` values per axis."""
    if isinstance(boundary_values, (tuple, list)):
        values = list(boundary_values)
        if ndim == 1 and len(values) == 2 and not isinstance(values[0], (tuple, list)):
            values = [values]
        if len(values) != ndim:
            raise InvalidInputError(
                f"boundary_values needs one (low, high) pair per axis ({ndim} axes), got {len(values)} entries"
            )
        rows = []
        for axis, pair in enumerate(values):
            pair = tuple(pair) if isinstance(pair, (tuple, list)) else (pair, pair)
            if len(pair) != 2:
                raise InvalidInputError(f"boundary_values[{axis}] must be a (low, high) pair, got {len(pair)} entries")
            rows.append(jnp.stack([jnp.asarray(v, dtype=dtype) for v in pair]))
        value = jnp.stack(rows)
    else:
        value = jnp.asarray(boundary_values, dtype=dtype)
    if value.ndim != 0 and value.shape != (ndim, 2):
        raise InvalidInputError(
            f"boundary values must be constants: a scalar or one (low, high) pair per axis, "
            f"got an array of shape {tuple(value.shape)}"
        )
    value = as_parameter(value, "boundary_values", dtype)
    return jnp.broadcast_to(value, (ndim, 2))


class DirichletHeat(AbstractPDE):
    r"""Heat equation $\partial_t u = \nu \Delta u$ on the box $(0, L)^d$ ($d = 1, 2, 3$) with Dirichlet data.

    The box is cut into $N$ intervals of width $h = L/N$ per axis; the unknowns are the values
    at the interior nodes $x_j = j h$, $j = 1, \dots, N-1$, so a state is shaped
    ``(1, N-1)`` in 1D and ``(1, N-1, N-1)`` in 2D. The boundary values are constant on each
    face (zero by default). The Laplacian is :func:`~pdesolve.spatial.fd_laplacian_dirichlet`
    of order 2 or 4; its spectrum is real and negative, bounded by
    :func:`~pdesolve.spatial.fd_laplacian_eigenvalue_bound`, so explicit steppers get a
    stability check through :meth:`stability_radius`.

    **Arguments:**

    - `num_intervals`: $N$, an integer $\ge 3$ ($\ge 5$ for order 4).
    - `diffusivity`: $\nu \ge 0$ (kept as an array, so it can be differentiated).
    - `ndim`: number of spatial dimensions $d$.
    - `length`: side length $L$ of the box.
    - `order`: finite-difference order, 2 or 4.
    - `boundary_values`: a scalar (every face), or per axis a ``(low, high)`` pair of constants
      for the faces $x_i = 0$ and $x_i = L$ (in 1D a bare pair is accepted).
    - `dtype`: real floating dtype of the state (default: JAX's default float).
    """

    num_intervals: int = eqx.field(static=True)
    ndim: int = eqx.field(static=True)
    length: float = eqx.field(static=True)
    order: int = eqx.field(static=True)
    state_dtype: np.dtype = eqx.field(static=True)
    diffusivity: Array
    boundary_values: Float[Array, "d 2"]
    num_channels: ClassVar[int] = 1

    def __init__(
        self,
        num_intervals: int,
        diffusivity: ArrayLike = 1.0,
        ndim: int = 1,
        length: float = 1.0,
        order: int = 2,
        boundary_values=0.0,
        dtype=None,
    ):
        if isinstance(num_intervals, bool) or not isinstance(num_intervals, (int, np.integer)):
            raise InvalidInputError(f"grid size num_intervals must be a positive integer, got {num_intervals!r}")
        if num_intervals <= 0:
            raise InvalidInputError(f"grid size num_intervals must be positive, got {num_intervals}")
        if isinstance(order, bool) or order not in (2, 4):
            raise InvalidInputError(f"finite-difference order must be 2 or 4, got {order!r}")
        minimum = 3 if order == 2 else 5
        if num_intervals < minimum:
            raise InvalidInputError(
                f"grid size num_intervals must be at least {minimum} for order {order}, got {num_intervals}"
            )
        if isinstance(ndim, bool) or ndim not in (1, 2, 3):
            raise InvalidInputError(f"ndim must be 1, 2 or 3, got {ndim!r}")
        try:
            length = float(length)
        except (TypeError, ValueError) as err:
            raise InvalidInputError(f"length must be a positive number, got {length!r}") from err
        if not (length > 0 and math.isfinite(length)):
            raise InvalidInputError(f"length must be positive and finite, got {length}")
        dtype = np.dtype(default_float_dtype() if dtype is None else dtype)
        if dtype.kind != "f":
            raise InvalidInputError(f"dtype must be a real floating dtype, got {dtype}")
        self.num_intervals = int(num_intervals)
        self.ndim = int(ndim)
        self.length = length
        self.order = int(order)
        self.state_dtype = dtype
        self.diffusivity = as_parameter(diffusivity, "diffusivity", dtype, nonnegative=True)
        self.boundary_values = _boundary_array(boundary_values, self.ndim, dtype)

    @property
    def spacing(self) -> tuple[float, ...]:
        r"""Grid spacing $h = L/N$ on every axis."""
        return (self.length / self.num_intervals,) * self.ndim

    @property
    def interior_shape(self) -> tuple[int, ...]:
        """Spatial shape of the unknowns, ``(N-1,) * d``."""
        return (self.num_intervals - 1,) * self.ndim

    @property
    def state_shape(self) -> tuple[int, ...]:
        return (self.num_channels,) + self.interior_shape

    @property
    def dtype(self):
        return self.state_dtype

    def interior_coordinates(self) -> Float[Array, "d *interior"]:
        r"""Coordinates of the interior nodes $x_j = jh$, $j = 1..N-1$, shaped ``(d, *interior)`` (``"ij"`` indexing)."""
        h = self.length / self.num_intervals
        axis = jnp.arange(1, self.num_intervals, dtype=self.state_dtype) * h
        return jnp.stack(jnp.meshgrid(*([axis] * self.ndim), indexing="ij"))

    def _boundary_pairs(self) -> tuple[tuple[Array, Array], ...]:
        return tuple((self.boundary_values[a, 0], self.boundary_values[a, 1]) for a in range(self.ndim))

    def rhs(self, t, u):
        lap = fd_laplacian_dirichlet(u, self.spacing, self._boundary_pairs(), self.order)
        return (self.diffusivity * lap).astype(u.dtype)

    def stability_radius(self) -> float | None:
        r"""$\nu$ times :func:`~pdesolve.spatial.fd_laplacian_eigenvalue_bound` (``None`` if $\nu$ is traced)."""
        if isinstance(self.diffusivity, jax.core.Tracer):
            return None
        return float(self.diffusivity) * fd_laplacian_eigenvalue_bound(self.spacing, self.order)
