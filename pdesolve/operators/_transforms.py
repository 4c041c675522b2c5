r"""Fourier transforms onto the retained modes of a spectral convolution: by FFT, or by DFT matrix products."""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float


def _wavenumbers(m: int) -> np.ndarray:
    """The kept integer wavenumbers of a full axis: $0..m-1$, then $-m..-1$."""
    return np.concatenate([np.arange(m), np.arange(-m, 0)])


class AbstractFourierTransform(eqx.Module):
    r"""A transform between a real field ``(c, *grid)`` and its Fourier coefficients on the retained modes.

    The coefficients are $\hat v_k = \sum_x v(x)\, e^{-2\pi i\, k\cdot x/N}$ (the unnormalised
    ``rfftn`` convention) for the wavenumbers $k$ that a :class:`SpectralConvolution` keeps, in a
    compact layout shaped ``(c, 2 m_1, ..., 2 m_{d-1}, m_d)``: along every axis but the last the
    wavenumbers $0, \dots, m_i - 1$ then $-m_i, \dots, -1$; along the last $0, \dots, m_d - 1$.
    :meth:`inverse` maps such coefficients (all others zero) back to the real field, as ``irfftn``
    does. Subclasses differ only in cost.
    """

    @abc.abstractmethod
    def forward(self, v: Float[Array, "c ..."], modes: tuple[int, ...]) -> Complex[Array, "c ..."]:
        """The retained coefficients of `v`, in the compact layout."""

    @abc.abstractmethod
    def inverse(self, coefficients: Complex[Array, "c ..."], modes: tuple[int, ...],
                shape: tuple[int, ...]) -> Float[Array, "c ..."]:
        """The real field on a grid of `shape` whose retained coefficients are `coefficients` (all others zero)."""


class RFFT(AbstractFourierTransform):
    r"""Full real FFTs (``jnp.fft.rfftn`` / ``irfftn``), then the retained corners: $O(N \log N)$ per channel.

    The default. The cheapest in operations; on CPUs XLA runs each FFT on one thread.
    """

    def forward(self, v, modes):
        ndim = len(modes)
        out = jnp.fft.rfftn(v, axes=tuple(range(1, ndim + 1)))
        for axis, m in enumerate(modes[:-1], start=1):
            out = jnp.concatenate([jax.lax.slice_in_dim(out, 0, m, axis=axis),
                                   jax.lax.slice_in_dim(out, out.shape[axis] - m, out.shape[axis], axis=axis)], axis=axis)
        return jax.lax.slice_in_dim(out, 0, modes[-1], axis=ndim)

    def inverse(self, coefficients, modes, shape):
        ndim = len(modes)
        spectral = tuple(shape[:-1]) + (shape[-1] // 2 + 1,)
        full = jnp.zeros((coefficients.shape[0],) + spectral, coefficients.dtype)
        for block in range(2 ** (ndim - 1)):
            target, source = [slice(None)], [slice(None)]
            for axis, m in enumerate(modes[:-1]):
                upper = (block >> axis) & 1
                target.append(slice(shape[axis] - m, None) if upper else slice(0, m))
                source.append(slice(m, 2 * m) if upper else slice(0, m))
            target.append(slice(0, modes[-1]))
            source.append(slice(0, modes[-1]))
            full = full.at[tuple(target)].set(coefficients[tuple(source)])
        return jnp.fft.irfftn(full, s=tuple(shape), axes=tuple(range(1, ndim + 1)))


class TruncatedDFT(AbstractFourierTransform):
    r"""The retained coefficients as matrix products with the truncated DFT matrices, one axis at a time.

    Along the last axis $\hat v_{\dots k} = \sum_y v_{\dots y}\, e^{-2\pi i k y / N}$ for
    $k < m_d$ (an $N \times m_d$ matrix, two real products for the real input); along every other
    axis a $2 m_i \times N_i$ complex matrix. The inverse applies the conjugate matrices scaled by
    $1/N$ and takes the real part along the last axis with the Hermitian weights (1 for $k = 0$
    and the Nyquist mode, 2 otherwise), which is what ``irfftn`` computes. $O(N m)$ per axis and
    channel instead of $O(N \log N)$, but matrix products run on every core: worth it for few
    modes on multi-core CPUs (measure with ``pdesolve bench training --fno-transform dft``).
    """

    def forward(self, v, modes):
        ndim = len(modes)
        real, complex_ = v.dtype, jnp.result_type(v.dtype, jnp.complex64)
        n, m = v.shape[-1], modes[-1]
        angle = -2 * np.pi * np.outer(np.arange(n), np.arange(m)) / n
        out = jax.lax.complex(v @ jnp.asarray(np.cos(angle), real), v @ jnp.asarray(np.sin(angle), real))
        for axis in range(ndim - 1, 0, -1):  # spatial axes but the last: array axes ndim-1 .. 1
            n, m = v.shape[axis], modes[axis - 1]
            matrix = np.exp(-2j * np.pi * np.outer(_wavenumbers(m), np.arange(n)) / n)
            out = jnp.moveaxis(jnp.tensordot(jnp.asarray(matrix, complex_), out, axes=([1], [axis])), 0, axis)
        return out

    def inverse(self, coefficients, modes, shape):
        ndim = len(modes)
        complex_ = coefficients.dtype
        real = jnp.finfo(complex_).dtype
        out = coefficients
        for axis in range(1, ndim):
            n, m = shape[axis - 1], modes[axis - 1]
            matrix = np.exp(2j * np.pi * np.outer(np.arange(n), _wavenumbers(m)) / n) / n
            out = jnp.moveaxis(jnp.tensordot(jnp.asarray(matrix, complex_), out, axes=([1], [axis])), 0, axis)
        n, m = shape[-1], modes[-1]
        k = np.arange(m)
        weight = np.where((k == 0) | ((n % 2 == 0) & (k == n // 2)), 1.0, 2.0) / n
        angle = 2 * np.pi * np.outer(k, np.arange(n)) / n
        cos, sin = (jnp.asarray(weight[:, None] * f(angle), real) for f in (np.cos, np.sin))
        return jnp.real(out) @ cos - jnp.imag(out) @ sin


#: The transforms by name (``pdesolve train fno --transform``, ``pdesolve bench training --fno-transform``).
FOURIER_TRANSFORMS: dict[str, type[AbstractFourierTransform]] = {"rfft": RFFT, "dft": TruncatedDFT}
