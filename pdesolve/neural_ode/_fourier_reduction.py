r"""A reduced state for neural ODEs: the leading Fourier modes of a periodic field.

For a real field $u$ on a periodic $N_1 \times \dots \times N_d$ grid with real-FFT
coefficients $\hat u_k$, the reduced state is the vector of real and imaginary parts of
$\hat u_k / \prod_i N_i$ for $|k_i| \le K$, keeping one of each conjugate pair
($\hat u_{-k} = \overline{\hat u_k}$) and dropping the imaginary part of the mean, so it has
no redundant entries: $2\,\#\{k\} - 1$ real numbers. Decoding zero-pads the spectrum, so
``decode(encode(u))`` is the spectral truncation of $u$ to the modes $|k_i| \le K$.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._errors import InvalidInputError


def _mode_indices(shape: tuple[int, ...], max_mode: int) -> tuple[np.ndarray, ...]:
    """Indices into the rfft array of the kept modes (one of each conjugate pair)."""
    *full_axes, last = shape
    rfft_last = last // 2 + 1
    ranges = [np.r_[0 : max_mode + 1, n - max_mode : n] for n in full_axes]
    grids = np.meshgrid(*ranges, np.arange(max_mode + 1), indexing="ij") if full_axes else [np.arange(max_mode + 1)]
    flat = [g.ravel() for g in grids]
    keep = np.ones(flat[0].shape, dtype=bool)
    if full_axes:
        # With k_last = 0, the rfft holds both k and -k along the full axes: keep the half with
        # the first non-zero full-axis index "positive".
        signed = [np.where(idx > n // 2, idx - n, idx) for idx, n in zip(flat[:-1], full_axes)]
        on_plane = flat[-1] == 0
        first_nonzero = np.zeros_like(signed[0])
        for s in reversed(signed):
            first_nonzero = np.where(s != 0, s, first_nonzero)
        keep &= ~(on_plane & (first_nonzero < 0))
    assert rfft_last > max_mode
    return tuple(f[keep] for f in flat)


class FourierModes(eqx.Module):
    r"""Encode a periodic field ``(c, *grid)`` as its leading Fourier modes, and decode back.

    **Arguments:**

    - `grid_shape`: the spatial shape $(N_1, \dots, N_d)$.
    - `max_mode`: the largest kept wavenumber $K$ per axis ($K < N_i / 2$).
    - `channels`: number of field channels.
    """

    grid_shape: tuple[int, ...] = eqx.field(static=True)
    max_mode: int = eqx.field(static=True)
    channels: int = eqx.field(static=True)
    _index: tuple = eqx.field(static=True)
    _partner: tuple = eqx.field(static=True)
    _partner_of: tuple = eqx.field(static=True)

    def __init__(self, grid_shape, max_mode: int, channels: int = 1):
        grid_shape = tuple(int(n) for n in grid_shape)
        if not grid_shape or len(grid_shape) > 3:
            raise InvalidInputError(f"grid_shape must have 1 to 3 axes, got {grid_shape}")
        if isinstance(max_mode, bool) or int(max_mode) != max_mode or max_mode < 1:
            raise InvalidInputError(f"max_mode must be a positive integer, got {max_mode!r}")
        if any(2 * max_mode >= n for n in grid_shape):
            raise InvalidInputError(f"max_mode = {max_mode} needs every grid axis > {2 * max_mode}, got {grid_shape}")
        self.grid_shape = grid_shape
        self.max_mode = int(max_mode)
        self.channels = int(channels)
        index = _mode_indices(grid_shape, self.max_mode)
        self._index = tuple(tuple(int(i) for i in idx) for idx in index)
        # On the k_last = 0 plane the rfft also stores the conjugate partner -k of a kept k.
        full = grid_shape[:-1]
        on_plane = (index[-1] == 0) & np.any([idx != 0 for idx in index[:-1]], axis=0) if full else np.zeros(0, bool)
        which = np.flatnonzero(on_plane)
        partner = tuple((-idx[which]) % n for idx, n in zip(index[:-1], full)) + (np.zeros_like(which),)
        self._partner = tuple(tuple(int(i) for i in idx) for idx in partner) if full else ()
        self._partner_of = tuple(int(i) for i in which)

    @property
    def num_modes(self) -> int:
        """Complex modes kept per channel."""
        return len(self._index[0])

    @property
    def size(self) -> int:
        """Length of the reduced state vector."""
        return self.channels * (2 * self.num_modes - 1)

    def encode(self, u: Float[Array, "c *grid"]) -> Float[Array, " n"]:
        """The reduced state of one field ``(channels, *grid_shape)``."""
        expected = (self.channels,) + self.grid_shape
        if tuple(u.shape) != expected:
            raise InvalidInputError(f"field has shape {tuple(u.shape)}, expected (channels, *grid) = {expected}")
        axes = tuple(range(1, len(self.grid_shape) + 1))
        coefficients = jnp.fft.rfftn(u, axes=axes) / np.prod(self.grid_shape)
        picked = coefficients[(slice(None),) + tuple(np.asarray(i) for i in self._index)]  # (c, modes)
        # mode 0 is the mean (first in the index order): drop its zero imaginary part
        return jnp.concatenate([picked.real, picked.imag[:, 1:]], axis=1).reshape(-1)

    def decode(self, z: Float[Array, " n"]) -> Float[Array, "c *grid"]:
        """The field ``(channels, *grid_shape)`` whose spectrum is the reduced state, zero elsewhere."""
        if tuple(z.shape) != (self.size,):
            raise InvalidInputError(f"reduced state has shape {tuple(z.shape)}, expected ({self.size},)")
        m = self.num_modes
        z = z.reshape(self.channels, 2 * m - 1)
        imag = jnp.concatenate([jnp.zeros((self.channels, 1), z.dtype), z[:, m:]], axis=1)
        picked = (z[:, :m] + 1j * imag) * np.prod(self.grid_shape)
        spectral_shape = self.grid_shape[:-1] + (self.grid_shape[-1] // 2 + 1,)
        coefficients = jnp.zeros((self.channels,) + spectral_shape, picked.dtype)
        coefficients = coefficients.at[(slice(None),) + tuple(np.asarray(i) for i in self._index)].set(picked)
        if self._partner_of:
            partner = (slice(None),) + tuple(np.asarray(i) for i in self._partner)
            coefficients = coefficients.at[partner].set(jnp.conj(picked[:, np.asarray(self._partner_of)]))
        axes = tuple(range(1, len(self.grid_shape) + 1))
        return jnp.fft.irfftn(coefficients, s=self.grid_shape, axes=axes)
