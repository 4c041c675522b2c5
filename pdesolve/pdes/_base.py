"""Abstract PDE definitions: a semi-discrete right-hand side, and its linear/nonlinear split."""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Complex, Float

from .._errors import InvalidInputError
from ..spatial import PeriodicGrid, dealiasing_mask, irfft, rfft


def as_parameter(value: ArrayLike, name: str, dtype, *, nonnegative: bool = False) -> Array:
    """Turn a physical parameter into a JAX array (so it can be differentiated and swept).

    A concrete negative value of a `nonnegative` parameter raises
    :class:`~pdesolve.InvalidInputError`; traced values are passed through unchecked.
    """
    array = jnp.asarray(value, dtype=dtype)
    if not isinstance(array, jax.core.Tracer):
        concrete = np.asarray(array)
        if not np.all(np.isfinite(concrete)):
            raise InvalidInputError(f"{name} must be finite, got {value}")
        if nonnegative and np.any(concrete < 0):
            raise InvalidInputError(f"{name} must be non-negative, got {value}")
    return array


class AbstractPDE(eqx.Module):
    r"""A semi-discrete PDE $\partial_t u = F(t, u)$ on a grid.

    The state `u` is a plain array shaped ``(num_channels, *grid.shape)``.
    Subclasses implement :meth:`rhs`; :meth:`check_state` validates user input.
    """

    num_channels: eqx.AbstractClassVar[int]

    @property
    @abc.abstractmethod
    def state_shape(self) -> tuple[int, ...]:
        """Shape of one state array."""

    @property
    @abc.abstractmethod
    def dtype(self):
        """Floating dtype of the state."""

    @abc.abstractmethod
    def rhs(self, t: Float[ArrayLike, ""], u: Float[Array, "c ..."]) -> Float[Array, "c ..."]:
        r"""The semi-discrete right-hand side $F(t, u)$."""

    def check_state(self, u, name: str = "u") -> None:
        """Raise :class:`~pdesolve.InvalidInputError` unless `u` is a real float state of the right shape."""
        dtype = getattr(u, "dtype", None)
        if dtype is None or np.dtype(dtype).kind != "f":
            raise InvalidInputError(
                f"{name} must be a real floating array, got dtype {dtype}; convert it with "
                f"jnp.asarray({name}, dtype=jnp.float64) (or float32)"
            )
        if tuple(u.shape) != tuple(self.state_shape):
            batched = tuple(u.shape[1:]) == tuple(self.state_shape)
            raise InvalidInputError(
                f"{name} has shape {tuple(u.shape)} but {type(self).__name__} expects "
                f"(channels, *grid) = {tuple(self.state_shape)}"
                + ("; for a batch of states use jax.vmap (or pdesolve.integrators.rollout_batch)" if batched else "")
            )

    def stability_radius(self) -> float | None:
        r"""Upper bound on $|\lambda|$ over the eigenvalues of the linearised RHS, if known.

        Explicit integrators use it to reject unstable time steps. ``None`` means unknown.
        """
        return None


class AbstractSpectralPDE(AbstractPDE):
    r"""A semilinear PDE on a periodic grid, $\partial_t u = \mathcal{L} u + \mathcal{N}(u)$.

    $\mathcal{L}$ is diagonal in Fourier space, with symbol :meth:`linear_symbol`;
    $\mathcal{N}$ acts on real-FFT coefficients through :meth:`nonlinear`. Exponential
    and IMEX integrators treat $\mathcal{L}$ exactly or implicitly and $\mathcal{N}$ explicitly.
    """

    grid: eqx.AbstractVar[PeriodicGrid]
    is_linear: ClassVar[bool] = False
    #: False for a PDE whose nonlinear term depends on time (:meth:`nonlinear_at`); step it with
    #: :class:`~pdesolve.integrators.ForcedETDRK4`.
    is_autonomous: ClassVar[bool] = True

    @property
    def state_shape(self) -> tuple[int, ...]:
        return (self.num_channels,) + self.grid.shape

    @property
    def spectral_shape(self) -> tuple[int, ...]:
        """Shape of the real-FFT coefficients of one state."""
        return (self.num_channels,) + self.grid.spectral_shape

    @property
    def dtype(self):
        return self.grid.dtype

    @abc.abstractmethod
    def linear_symbol(self) -> Complex[Array, "c ..."]:
        r"""Fourier symbol of $\mathcal{L}$, broadcastable to ``spectral_shape``."""

    def nonlinear(self, u_hat: Complex[Array, "c ..."]) -> Complex[Array, "c ..."]:
        r"""Fourier coefficients of $\mathcal{N}(u)$ given those of $u$ (zero by default)."""
        return jnp.zeros_like(u_hat)

    def nonlinear_at(self, t: Float[ArrayLike, ""], u_hat: Complex[Array, "c ..."]) -> Complex[Array, "c ..."]:
        r"""Fourier coefficients of $\mathcal{N}(t, u)$: :meth:`nonlinear` unless the PDE is non-autonomous."""
        return self.nonlinear(u_hat)

    def rhs(self, t, u):
        u_hat = rfft(u, self.grid)
        return irfft(self.linear_symbol() * u_hat + self.nonlinear(u_hat), self.grid)

    def stability_radius(self) -> float | None:
        symbol = self.linear_symbol()
        if isinstance(symbol, jax.core.Tracer):
            return None
        return float(np.max(np.abs(np.asarray(symbol))))


class AbstractNonlinearSpectralPDE(AbstractSpectralPDE):
    """A spectral PDE whose nonlinearity is evaluated pseudo-spectrally with dealiasing."""

    dealiasing_fraction: eqx.AbstractVar[float]

    def dealias(self, u_hat: Complex[Array, "c ..."]) -> Complex[Array, "c ..."]:
        """Zero the modes outside the dealiasing box before forming products."""
        return u_hat * dealiasing_mask(self.grid, self.dealiasing_fraction)
