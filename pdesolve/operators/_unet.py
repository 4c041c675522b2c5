"""A periodic U-Net: the convolutional baseline for neural operators."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import InvalidInputError


class _PeriodicConv(eqx.Module):
    """A convolution with periodic (wrap) padding: output grid = input grid."""

    weight: Float[Array, "out in *kernel"]
    bias: Float[Array, " out"]

    def __call__(self, v):
        kernel = self.weight.shape[2:]
        pads = [(0, 0)] + [(k // 2, k // 2) for k in kernel]
        v = jnp.pad(v, pads, mode="wrap")
        ndim = len(kernel)
        out = jax.lax.conv_general_dilated(
            v[None], self.weight.astype(v.dtype), (1,) * ndim, "VALID",
        )[0]
        return out + self.bias.astype(v.dtype).reshape((-1,) + (1,) * ndim)


class _GroupNorm(eqx.Module):
    """Group normalisation over (channels in a group, space) with a per-channel affine map."""

    scale: Float[Array, " c"]
    shift: Float[Array, " c"]
    groups: int = eqx.field(static=True)

    def __call__(self, v):
        c = v.shape[0]
        g = v.reshape((self.groups, -1))
        g = (g - g.mean(axis=1, keepdims=True)) / jnp.sqrt(g.var(axis=1, keepdims=True) + 1e-5)
        v = g.reshape(v.shape)
        shape = (c,) + (1,) * (v.ndim - 1)
        return v * self.scale.astype(v.dtype).reshape(shape) + self.shift.astype(v.dtype).reshape(shape)


class _Initialiser:
    """Hands out slices of one uniform draw in [-1, 1): one random call (one compilation) per model."""

    def __init__(self, key: PRNGKeyArray, size: int):
        self.values = np.asarray(jax.random.uniform(key, (size,), minval=-1.0, maxval=1.0))
        self.used = 0

    def conv(self, ndim: int, c_in: int, c_out: int, kernel_size: int) -> _PeriodicConv:
        # PyTorch/Equinox default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
        shape = (c_out, c_in) + (kernel_size,) * ndim
        bound = 1.0 / np.sqrt(c_in * kernel_size**ndim)
        n_w, n_b = int(np.prod(shape)), c_out
        w = self.values[self.used : self.used + n_w].reshape(shape) * bound
        b = self.values[self.used + n_w : self.used + n_w + n_b] * bound
        self.used += n_w + n_b
        return _PeriodicConv(jnp.asarray(w), jnp.asarray(b))


def _conv_size(ndim, c_in, c_out, kernel_size):
    return c_out * c_in * kernel_size**ndim + c_out


def _group_norm(channels: int) -> _GroupNorm:
    groups = 1 if channels % 4 else 4
    return _GroupNorm(jnp.asarray(np.ones(channels)), jnp.asarray(np.zeros(channels)), groups)


class _PeriodicConvBlock(eqx.Module):
    """Two periodic ``kernel_size`` convolutions, each followed by group normalisation and GELU."""

    first: _PeriodicConv
    second: _PeriodicConv
    norm_first: _GroupNorm
    norm_second: _GroupNorm

    def __init__(self, in_channels: int, out_channels: int, *, ndim: int, kernel_size: int, init: _Initialiser):
        self.first = init.conv(ndim, in_channels, out_channels, kernel_size)
        self.second = init.conv(ndim, out_channels, out_channels, kernel_size)
        self.norm_first = _group_norm(out_channels)
        self.norm_second = _group_norm(out_channels)

    @staticmethod
    def size(in_channels, out_channels, ndim, kernel_size):
        return _conv_size(ndim, in_channels, out_channels, kernel_size) + _conv_size(ndim, out_channels, out_channels, kernel_size)

    def __call__(self, v):
        v = jax.nn.gelu(self.norm_first(self.first(v)))
        return jax.nn.gelu(self.norm_second(self.second(v)))


def _downsample(v):
    """Average over 2x2(x2) blocks: halves every spatial axis."""
    c, *spatial = v.shape
    shape = [c]
    for n in spatial:
        shape += [n // 2, 2]
    return v.reshape(shape).mean(axis=tuple(range(2, 2 * len(spatial) + 1, 2)))


def _upsample(v):
    """Nearest-neighbour doubling of every spatial axis."""
    for axis in range(1, v.ndim):
        v = jnp.repeat(v, 2, axis=axis)
    return v


class UNet(eqx.Module):
    r"""A U-Net (Ronneberger et al. 2015) on periodic 1D or 2D grids, as in PDEArena/PDEBench baselines.

    Encoder level $\ell = 0..L$ applies two periodic $k$-point convolutions with group norm and
    GELU at $2^\ell$ times the base width, then halves the grid by $2^d$-block averaging; the
    decoder doubles the grid (nearest neighbour), concatenates the encoder features of the same
    level (skip connection) and applies the same block. A final pointwise convolution maps to
    the output channels. Periodic (wrap) padding keeps the map translation-equivariant on the
    torus. Unlike the FNO it is tied to the grid spacing it was trained on.

    **Arguments:**

    - `in_channels`, `out_channels`: field channels in and out.
    - `ndim`: spatial dimensions (1 or 2).
    - `width`: channels of the first level (doubled at each coarser level).
    - `levels`: number of down-samplings; every grid size must be divisible by ``2**levels``.
    - `kernel_size`: odd convolution width (3).
    - `key`: PRNG key.

    Input and output are shaped ``(channels, *grid)``.
    """

    encoder: tuple[_PeriodicConvBlock, ...]
    decoder: tuple[_PeriodicConvBlock, ...]
    output: _PeriodicConv
    ndim: int = eqx.field(static=True)
    levels: int = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        ndim: int = 1,
        width: int = 16,
        levels: int = 2,
        kernel_size: int = 3,
        key: PRNGKeyArray,
    ):
        if ndim not in (1, 2):
            raise InvalidInputError(f"UNet supports ndim 1 or 2, got {ndim}")
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("width", width)):
            if isinstance(value, bool) or int(value) != value or value <= 0:
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
        if levels < 0:
            raise InvalidInputError(f"levels must be non-negative, got {levels}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise InvalidInputError(f"kernel_size must be a positive odd integer, got {kernel_size}")
        widths = [width * 2**level for level in range(levels + 1)]
        plan_in = [in_channels] + widths[:-1]
        decoder_in = []
        previous = widths[-1]
        for level in reversed(range(levels)):
            decoder_in.append((previous + widths[level], widths[level]))
            previous = widths[level]
        size = sum(_PeriodicConvBlock.size(a, b, ndim, kernel_size) for a, b in zip(plan_in, widths))
        size += sum(_PeriodicConvBlock.size(a, b, ndim, kernel_size) for a, b in decoder_in)
        size += _conv_size(ndim, previous, out_channels, 1)
        init = _Initialiser(key, size)
        encoder = [_PeriodicConvBlock(a, b, ndim=ndim, kernel_size=kernel_size, init=init) for a, b in zip(plan_in, widths)]
        decoder = [_PeriodicConvBlock(a, b, ndim=ndim, kernel_size=kernel_size, init=init) for a, b in decoder_in]
        self.encoder = tuple(encoder)
        self.decoder = tuple(decoder)
        self.output = init.conv(ndim, previous, out_channels, 1)
        self.ndim = ndim
        self.levels = levels
        self.in_channels = in_channels

    def __call__(self, u: Float[Array, "c ..."]) -> Float[Array, "c_out ..."]:
        if u.ndim != self.ndim + 1 or u.shape[0] != self.in_channels:
            raise InvalidInputError(
                f"UNet expects ({self.in_channels}, *grid) with {self.ndim} spatial axes, got shape {u.shape}"
            )
        factor = 2**self.levels
        if any(n % factor for n in u.shape[1:]):
            raise InvalidInputError(f"UNet with {self.levels} levels needs grid sizes divisible by {factor}, got {u.shape[1:]}")
        skips = []
        v = u
        for level, block in enumerate(self.encoder):
            v = block(v)
            if level < self.levels:
                skips.append(v)
                v = _downsample(v)
        for block, skip in zip(self.decoder, reversed(skips)):
            v = block(jnp.concatenate([_upsample(v), skip], axis=0))
        return self.output(v)
