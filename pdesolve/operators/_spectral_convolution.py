"""Fourier-space convolution layer of the Fourier Neural Operator."""

from __future__ import annotations


import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float, PRNGKeyArray

from .._errors import InvalidInputError
from ._transforms import RFFT, AbstractFourierTransform


class SpectralConvolution(eqx.Module):
    r"""Truncated Fourier-space linear map (Li et al., ICLR 2021).

    For an input $v$ with $c_{in}$ channels on a periodic grid of $d$ dimensions,
    $$(\mathcal{K} v)(x) = \mathcal{F}^{-1}\big[R_k\,\hat v_k\big](x),\qquad R_k \in \mathbb{C}^{c_{out}\times c_{in}},$$
    where $R_k$ is learned for the lowest `modes` wavenumbers per axis and zero above them.
    Works for $d = 1, 2, 3$ and on any grid at least $2\cdot$`modes` wide, which is what
    makes FNOs discretisation-invariant.

    **Arguments:**

    - `in_channels`, `out_channels`: channel counts.
    - `modes`: retained Fourier modes per axis (an int, or one int per axis).
    - `key`: PRNG key for the initial weights (scale $1/(c_{in}c_{out})$).
    - `transform`: how the retained coefficients are computed, an
      :class:`AbstractFourierTransform`: :class:`RFFT` (default, FFTs) or :class:`TruncatedDFT`
      (matrix products with the truncated DFT matrices; the same numbers up to rounding).

    The complex weights $R_k$ are stored as two real arrays (real and imaginary parts,
    ``weights[0]`` and ``weights[1]``), so every parameter of the layer is real. ``jax.grad`` of a
    real loss with respect to a *complex* leaf returns the conjugate of the descent direction
    that optax (and :mod:`pdesolve.optim`) expect, which would make the imaginary parts climb
    the loss; with real storage any optimizer works unchanged.
    """

    weights: Float[Array, "2 blocks out in ..."]
    modes: tuple[int, ...] = eqx.field(static=True)
    transform: AbstractFourierTransform

    def __init__(self, in_channels: int, out_channels: int, modes: int | tuple[int, ...], *, ndim: int = 1,
                 key: PRNGKeyArray, transform: AbstractFourierTransform | None = None):
        modes = (modes,) * ndim if isinstance(modes, int) else tuple(modes)
        if any(m <= 0 for m in modes):
            raise InvalidInputError(f"modes must be positive, got {modes}")
        transform = RFFT() if transform is None else transform
        if not isinstance(transform, AbstractFourierTransform):
            raise TypeError(f"transform must be an AbstractFourierTransform (RFFT(), TruncatedDFT()), got {transform!r}")
        self.modes = modes
        self.transform = transform
        # Axes except the last carry positive and negative frequencies: 2^(d-1) corner blocks.
        blocks = 2 ** (len(modes) - 1)
        scale = 1.0 / (in_channels * out_channels)
        k1, k2 = jax.random.split(key)
        shape = (blocks, out_channels, in_channels) + modes
        self.weights = scale * jnp.stack([jax.random.uniform(k1, shape), jax.random.uniform(k2, shape)])

    @property
    def complex_weights(self) -> Complex[Array, "blocks out in ..."]:
        """$R_k$ as one complex array."""
        return jax.lax.complex(self.weights[0], self.weights[1])

    def __call__(self, v: Float[Array, "c ..."]) -> Float[Array, "c_out ..."]:
        ndim = len(self.modes)
        spatial = v.shape[1:]
        if len(spatial) != ndim:
            raise InvalidInputError(f"expected input shaped (channels, {ndim} spatial axes), got {v.shape}")
        if v.shape[0] != self.weights.shape[-1 - ndim]:
            raise InvalidInputError(f"expected {self.weights.shape[-1 - ndim]} input channels, got {v.shape[0]} "
                                    f"(shape {v.shape})")
        for n, m in zip(spatial[:-1], self.modes[:-1]):
            if n < 2 * m:
                raise InvalidInputError(f"grid size {n} is too small for {m} modes (need >= {2 * m})")
        if spatial[-1] // 2 + 1 < self.modes[-1]:
            raise InvalidInputError(f"grid size {spatial[-1]} is too small for {self.modes[-1]} modes")
        v_hat = self.transform.forward(v, self.modes)  # (c, 2 m_1, ..., 2 m_{d-1}, m_d)
        weights = self.complex_weights.astype(v_hat.dtype)
        out_hat = jnp.zeros((weights.shape[1],) + v_hat.shape[1:], dtype=v_hat.dtype)
        for block in range(weights.shape[0]):
            index = [slice(None)]
            for axis in range(ndim - 1):
                m = self.modes[axis]
                index.append(slice(m, 2 * m) if (block >> axis) & 1 else slice(0, m))
            index = tuple(index)
            out_hat = out_hat.at[index].set(jnp.einsum("oi...,i...->o...", weights[block], v_hat[index]))
        return self.transform.inverse(out_hat, self.modes, spatial).astype(v.dtype)
