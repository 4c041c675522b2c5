"""The Fourier Neural Operator (FNO) on periodic grids."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import InvalidInputError
from ._spectral_convolution import SpectralConvolution
from ._transforms import AbstractFourierTransform


class _Pointwise(eqx.Module):
    """A 1x1 convolution: the same linear map applied at every grid point."""

    weight: Float[Array, "out in"]
    bias: Float[Array, " out"]

    def __init__(self, in_channels: int, out_channels: int, *, key: PRNGKeyArray):
        bound = 1.0 / jnp.sqrt(in_channels)
        k1, k2 = jax.random.split(key)
        self.weight = jax.random.uniform(k1, (out_channels, in_channels), minval=-bound, maxval=bound)
        self.bias = jax.random.uniform(k2, (out_channels,), minval=-bound, maxval=bound)

    def __call__(self, v):
        """Channels first: ``(in, *grid) -> (out, *grid)``."""
        out = jnp.tensordot(self.weight.astype(v.dtype), v, axes=1)
        return out + self.bias.astype(v.dtype).reshape((-1,) + (1,) * (v.ndim - 1))

    def channels_last(self, v):
        """Channels last: ``(*grid, in) -> (*grid, out)``, one matrix product with no transposes
        (also under ``vmap``, where the batch axis leads)."""
        return v @ self.weight.T.astype(v.dtype) + self.bias.astype(v.dtype)


class FNO(eqx.Module):
    r"""Fourier Neural Operator (Li et al., ICLR 2021) for fields shaped ``(channels, *grid)``.

    $$v_0 = P(u, x),\quad v_{\ell+1} = \sigma\big(W_\ell v_\ell + \mathcal{K}_\ell v_\ell\big),\quad
    \mathcal{G}(u) = Q(v_L),$$
    with $P$ a pointwise lift of the input and the grid coordinates (in $[0, 1)$), $W_\ell$
    pointwise linear maps, $\mathcal{K}_\ell$ :class:`SpectralConvolution` layers, $\sigma$ = GELU
    (none after the last layer) and $Q$ a pointwise two-layer projection.

    **Arguments:**

    - `in_channels`, `out_channels`: field channels in and out.
    - `ndim`: spatial dimensions (1, 2 or 3).
    - `width`: hidden channels (20 in the FNO paper's 2D Navier-Stokes model).
    - `modes`: Fourier modes per axis (12 in the paper).
    - `num_layers`: Fourier layers (4 in the paper).
    - `projection_width`: hidden width of $Q$ (128 in the paper).
    - `key`: PRNG key.
    - `transform`: the Fourier transform of every spectral layer (:class:`RFFT` by default, or
      :class:`TruncatedDFT`; see :class:`SpectralConvolution`).
    """

    lift: _Pointwise
    spectral: tuple[SpectralConvolution, ...]
    pointwise: tuple[_Pointwise, ...]
    project_hidden: _Pointwise
    project_out: _Pointwise
    ndim: int = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        ndim: int = 1,
        width: int = 20,
        modes: int = 12,
        num_layers: int = 4,
        projection_width: int = 128,
        key: PRNGKeyArray,
        transform: AbstractFourierTransform | None = None,
    ):
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("width", width),
                            ("modes", modes), ("num_layers", num_layers), ("projection_width", projection_width)):
            if value <= 0:
                raise InvalidInputError(f"{name} must be positive, got {value}")
        keys = jax.random.split(key, 2 * num_layers + 3)
        self.ndim = ndim
        self.lift = _Pointwise(in_channels + ndim, width, key=keys[0])
        self.spectral = tuple(SpectralConvolution(width, width, modes, ndim=ndim, key=k, transform=transform)
                              for k in keys[1 : num_layers + 1])
        self.pointwise = tuple(_Pointwise(width, width, key=k) for k in keys[num_layers + 1 : 2 * num_layers + 1])
        self.project_hidden = _Pointwise(width, projection_width, key=keys[-2])
        self.project_out = _Pointwise(projection_width, out_channels, key=keys[-1])

    def __call__(self, u: Float[Array, "c ..."]) -> Float[Array, "c_out ..."]:
        if u.ndim != self.ndim + 1:
            raise InvalidInputError(f"FNO expects (channels, *grid) with {self.ndim} spatial axes, got shape {u.shape}")
        in_channels = self.lift.weight.shape[1] - self.ndim  # the lift also takes the grid coordinates
        if u.shape[0] != in_channels:
            raise InvalidInputError(f"FNO expects {in_channels} input channels, got {u.shape[0]} (shape {u.shape})")
        axes = [jnp.arange(n, dtype=u.dtype) / n for n in u.shape[1:]]
        coordinates = jnp.stack(jnp.meshgrid(*axes, indexing="ij"), axis=-1)
        # The lift and the projection act on every grid point; channels last, each is one matrix
        # product (channels first, XLA transposes the wide projection's activations and gradients).
        h = jnp.concatenate([jnp.moveaxis(u, 0, -1), coordinates], axis=-1)
        v = jnp.moveaxis(self.lift.channels_last(h), -1, 0)
        for i, (spectral, pointwise) in enumerate(zip(self.spectral, self.pointwise)):
            v = spectral(v) + pointwise(v)
            if i < len(self.spectral) - 1:
                v = jax.nn.gelu(v)
        h = self.project_out.channels_last(jax.nn.gelu(self.project_hidden.channels_last(jnp.moveaxis(v, 0, -1))))
        return jnp.moveaxis(h, -1, 0)
