r"""Coordinate networks $x \mapsto u_\theta(x)$ that store a solution field in their weights.

- :class:`TENGNetwork`: the TENG network (Chen et al., ICML 2024): a periodic embedding, tanh,
  then dense tanh layers with biases.
- :class:`PeriodicMLP`: a periodic embedding fed straight into a tanh MLP (rank deficient; kept
  for the results recorded with it).
- :class:`Siren`: a sine-activated MLP with the SIREN initialisation (the INSR network).
- :func:`build_network`: the network a registered field problem declares.

All are :class:`equinox.Module` s whose only pytree leaves are floating arrays, so the module
itself is the parameter pytree: ``jax.flatten_util.ravel_pytree(net)`` gives $\theta$ and
``net(x)`` evaluates the field at one point ``x`` of shape ``(d,)``. Batch with ``jax.vmap``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from .._errors import InvalidInputError
from ..problems import FieldProblem


def _check_widths(name: str, widths: Sequence[int]) -> tuple[int, ...]:
    widths = tuple(widths)
    if not widths or any(not isinstance(w, (int, np.integer)) or isinstance(w, bool) or w < 1 for w in widths):
        raise InvalidInputError(f"{name} must be a non-empty sequence of positive ints, got {widths!r}")
    return tuple(int(w) for w in widths)


def _check_point(x: Array, ndim: int, cls: str) -> Array:
    x = jnp.asarray(x)
    if x.shape != (ndim,):
        raise InvalidInputError(f"{cls} takes one point of shape ({ndim},), got shape {x.shape}; vmap over points")
    return x


def _output(y: Array, num_outputs: int) -> Array:
    return y[0] if num_outputs == 1 else y


class TENGNetwork(eqx.Module):
    r"""The TENG network: a trainable periodic embedding, tanh, dense tanh layers, a linear output.

    For $x \in \mathbb{R}^d$ on a box of side lengths $L_i$, the first layer is

    $$ h^{(0)}_{ij}(x) = \tanh\!\big(a_{ij}\cos(2\pi x_i / L_i + \varphi_{ij}) + c_{ij}\big),
       \qquad i = 1..d,\ j = 1..m, $$

    exactly $L$-periodic, followed by ``depth - 2`` dense layers $h \mapsto \tanh(W h + b)$ of
    width ``width`` and a linear output $w^\top h + b$. The tanh after the embedding matters: a
    linear layer applied to the raw embedding sums cosines of the same frequency, which is again
    one cosine, so most first-layer weights would be redundant and the parameter Jacobian rank
    deficient (see :class:`PeriodicMLP`). Chen et al. (ICML 2024, arXiv:2404.10771) use
    ``width=40``, ``depth=7`` and $m = 20$ per coordinate in 2D: 8,361 parameters.

    Initialisation: $a, c \sim \mathcal{N}(0, 1)$, $\varphi \sim U[0, 2\pi)$, dense weights
    LeCun normal (variance $1/\text{fan-in}$), biases zero.

    **Arguments:**

    - `key`: PRNG key for the initialisation.
    - `ndim`: spatial dimension $d$.
    - `width`: width of the dense tanh layers.
    - `depth`: number of layers, counting the embedding layer and the linear output (at least 2;
      ``depth - 2`` dense tanh layers).
    - `embedding_size`: $m$, embedding features per coordinate (default ``width // ndim``, so the
      embedding layer is ``width`` wide as in the paper).
    - `extent`: box side lengths $L_i$ (default $2\pi$).
    - `dtype`: floating dtype of the weights (float64 for TENG).
    """

    amplitude: Float[Array, "d m"]
    phase: Float[Array, "d m"]
    offset: Float[Array, "d m"]
    weights: tuple[Array, ...]
    biases: tuple[Array, ...]
    extent: tuple[float, ...] = eqx.field(static=True)

    def __init__(
        self,
        key: PRNGKeyArray,
        ndim: int = 2,
        width: int = 40,
        depth: int = 7,
        embedding_size: int | None = None,
        extent: float | Sequence[float] = 2 * math.pi,
        dtype=jnp.float64,
    ):
        if ndim not in (1, 2, 3):
            raise InvalidInputError(f"ndim must be 1, 2 or 3, got {ndim}")
        (width,) = _check_widths("width", (width,))
        if not isinstance(depth, (int, np.integer)) or isinstance(depth, bool) or depth < 2:
            raise InvalidInputError(f"depth must be an int >= 2 (embedding and output layers), got {depth!r}")
        if embedding_size is None:
            embedding_size = max(1, width // ndim)
        (m,) = _check_widths("embedding_size", (embedding_size,))
        extent = (float(extent),) * ndim if np.isscalar(extent) else tuple(float(e) for e in extent)
        if len(extent) != ndim or any(not (e > 0) for e in extent):
            raise InvalidInputError(f"extent must be {ndim} positive lengths, got {extent}")
        keys = jax.random.split(key, int(depth) + 2)
        self.amplitude = jax.random.normal(keys[0], (ndim, m), dtype)
        self.phase = jax.random.uniform(keys[1], (ndim, m), dtype, 0.0, 2 * math.pi)
        self.offset = jax.random.normal(keys[2], (ndim, m), dtype)
        sizes = (ndim * m, *([width] * (int(depth) - 2)), 1)
        self.weights = tuple(jax.random.normal(k, (fan_out, fan_in), dtype) / math.sqrt(fan_in)
                             for k, (fan_in, fan_out) in zip(keys[3:], zip(sizes[:-1], sizes[1:])))
        self.biases = tuple(jnp.zeros((fan_out,), dtype) for fan_out in sizes[1:])
        self.extent = extent

    @property
    def ndim(self) -> int:
        return len(self.extent)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        x = _check_point(x, self.ndim, "TENGNetwork")
        scale = jnp.asarray([2 * math.pi / e for e in self.extent], self.amplitude.dtype)
        h = jnp.tanh(self.amplitude * jnp.cos((scale * x)[:, None] + self.phase) + self.offset).ravel()
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            h = jnp.tanh(w @ h + b)
        return (self.weights[-1] @ h + self.biases[-1])[0]


class PeriodicMLP(eqx.Module):
    r"""A tanh MLP on a trainable periodic embedding of each coordinate.

    For $x \in \mathbb{R}^d$ on a box of side lengths $L_i$, the embedding is

    $$ e_{ij}(x) = a_{ij}\cos\!\big(2\pi x_i / L_i + \varphi_{ij}\big) + c_{ij},
       \qquad i = 1..d,\ j = 1..m, $$

    which is exactly $L$-periodic, followed by ``len(hidden)`` dense tanh layers and a linear
    output layer. The first dense layer has no bias (the offsets $c_{ij}$ play that role).

    **Rank deficiency.** The embedding enters the first dense layer linearly, and a sum of cosines
    of one frequency is one cosine: each first-layer neuron sees only
    $\sum_j W_{kj} e_{ij}(x) = A_{ki}\cos(2\pi x_i/L_i + \Phi_{ki}) + C_k$, i.e. $2d + 1$
    effective parameters, however large $m$ is. The parameter Jacobian is therefore rank
    deficient (for ``hidden=(20, 20, 20)`` in 2D, 1,781 parameters give rank at most 961), which
    limits the accuracy of tangent-space solvers. :class:`TENGNetwork` (tanh after the embedding)
    is the TENG network; this class is kept for the results recorded with it.

    **Arguments:**

    - `key`: PRNG key for the initialisation.
    - `ndim`: spatial dimension $d$.
    - `hidden`: widths of the tanh layers (e.g. ``(40, 40, 40)``).
    - `embedding_size`: $m$, embedding features per coordinate (default: ``hidden[0]``).
    - `extent`: box side lengths $L_i$ (default $2\pi$).
    - `num_outputs`: output channels (1 gives a scalar).
    - `dtype`: floating dtype of the weights (float64 for TENG).
    """

    amplitude: Float[Array, "d m"]
    phase: Float[Array, "d m"]
    offset: Float[Array, "d m"]
    weights: tuple[Array, ...]
    biases: tuple[Array, ...]
    extent: tuple[float, ...] = eqx.field(static=True)
    num_outputs: int = eqx.field(static=True)

    def __init__(
        self,
        key: PRNGKeyArray,
        ndim: int = 2,
        hidden: Sequence[int] = (40, 40, 40),
        embedding_size: int | None = None,
        extent: float | Sequence[float] = 2 * math.pi,
        num_outputs: int = 1,
        dtype=jnp.float64,
    ):
        if ndim not in (1, 2, 3):
            raise InvalidInputError(f"ndim must be 1, 2 or 3, got {ndim}")
        hidden = _check_widths("hidden", hidden)
        m = hidden[0] if embedding_size is None else _check_widths("embedding_size", (embedding_size,))[0]
        _check_widths("num_outputs", (num_outputs,))
        extent = (float(extent),) * ndim if np.isscalar(extent) else tuple(float(e) for e in extent)
        if len(extent) != ndim or any(not (e > 0) for e in extent):
            raise InvalidInputError(f"extent must be {ndim} positive lengths, got {extent}")
        keys = jax.random.split(key, len(hidden) + 3)
        self.amplitude = jax.random.normal(keys[0], (ndim, m), dtype)
        self.phase = jax.random.uniform(keys[1], (ndim, m), dtype, 0.0, 2 * math.pi)
        self.offset = jnp.zeros((ndim, m), dtype)
        sizes = (ndim * m, *hidden, num_outputs)
        weights, biases = [], []
        for layer, (k, (fan_in, fan_out)) in enumerate(zip(keys[2:], zip(sizes[:-1], sizes[1:]))):
            std = math.sqrt(2.0 / (fan_in + fan_out))  # Glorot normal
            weights.append(std * jax.random.normal(k, (fan_out, fan_in), dtype))
            # the first layer has no bias: the embedding offsets c already span it (a redundant
            # bias would make every Jacobian exactly rank deficient)
            biases.append(jnp.zeros((0 if layer == 0 else fan_out,), dtype))
        self.weights = tuple(weights)
        self.biases = tuple(biases)
        self.extent = extent
        self.num_outputs = int(num_outputs)

    @property
    def ndim(self) -> int:
        return len(self.extent)

    def __call__(self, x: Float[Array, " d"]) -> Array:
        x = _check_point(x, self.ndim, "PeriodicMLP")
        scale = jnp.asarray([2 * math.pi / e for e in self.extent], self.amplitude.dtype)
        h = (self.amplitude * jnp.cos((scale * x)[:, None] + self.phase) + self.offset).ravel()
        for layer, (w, b) in enumerate(zip(self.weights[:-1], self.biases[:-1])):
            h = jnp.tanh(w @ h + b) if layer else jnp.tanh(w @ h)
        last = self.weights[-1] @ h + self.biases[-1] if len(self.weights) > 1 else self.weights[-1] @ h
        return _output(last, self.num_outputs)


class Siren(eqx.Module):
    r"""SIREN: an MLP with sine activations $\sin(\omega_0 (W h + b))$ (Sitzmann et al. 2020).

    Inputs are first mapped affinely from the box $[\mathrm{lo}, \mathrm{hi}]^d$ to $[-1, 1]^d$.
    Initialisation (Sitzmann et al., NeurIPS 2020, sec. 3.2): the first layer's weights are
    uniform in $[-1/n, 1/n]$, later layers' in $[-\sqrt{6/n}/\omega_0, \sqrt{6/n}/\omega_0]$
    ($n$ = fan-in); the output layer is linear. INSR (Chen et al., ICML 2023) uses $\omega_0 = 30$.

    **Arguments:**

    - `key`: PRNG key.
    - `ndim`: input dimension $d$.
    - `hidden`: widths of the sine layers (INSR 1D advection: ``(20, 20)``).
    - `num_outputs`: output channels (1 gives a scalar).
    - `bounds`: ``(lo, hi)`` of the domain (floats or one per axis).
    - `omega0`: frequency factor $\omega_0$.
    - `periodic`: if true, coordinates enter as $(\cos, \sin)(\pi \hat x)$ of the normalised
      coordinate $\hat x \in [-1, 1]$, so the field is periodic on the box.
    - `dtype`: floating dtype.
    """

    weights: tuple[Array, ...]
    biases: tuple[Array, ...]
    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)
    omega0: float = eqx.field(static=True)
    num_outputs: int = eqx.field(static=True)
    periodic: bool = eqx.field(static=True)

    def __init__(
        self,
        key: PRNGKeyArray,
        ndim: int = 1,
        hidden: Sequence[int] = (20, 20),
        num_outputs: int = 1,
        bounds: tuple = (-1.0, 1.0),
        omega0: float = 30.0,
        periodic: bool = False,
        dtype=jnp.float64,
    ):
        if ndim not in (1, 2, 3):
            raise InvalidInputError(f"ndim must be 1, 2 or 3, got {ndim}")
        hidden = _check_widths("hidden", hidden)
        _check_widths("num_outputs", (num_outputs,))
        lo, hi = bounds
        lo = (float(lo),) * ndim if np.isscalar(lo) else tuple(float(v) for v in lo)
        hi = (float(hi),) * ndim if np.isscalar(hi) else tuple(float(v) for v in hi)
        if len(lo) != ndim or len(hi) != ndim or any(not (b > a) for a, b in zip(lo, hi)):
            raise InvalidInputError(f"bounds must satisfy lo < hi on {ndim} axes, got {bounds}")
        if not omega0 > 0:
            raise InvalidInputError(f"omega0 must be positive, got {omega0}")
        fan0 = 2 * ndim if periodic else ndim
        sizes = (fan0, *hidden, num_outputs)
        keys = jax.random.split(key, 2 * (len(sizes) - 1))
        weights, biases = [], []
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            bound = 1.0 / fan_in if layer == 0 else math.sqrt(6.0 / fan_in) / omega0
            weights.append(jax.random.uniform(keys[2 * layer], (fan_out, fan_in), dtype, -bound, bound))
            b = 1.0 / math.sqrt(fan_in)
            biases.append(jax.random.uniform(keys[2 * layer + 1], (fan_out,), dtype, -b, b) / (omega0 if layer else 1.0))
        self.weights = tuple(weights)
        self.biases = tuple(biases)
        self.lower, self.upper = lo, hi
        self.omega0 = float(omega0)
        self.num_outputs = int(num_outputs)
        self.periodic = bool(periodic)

    @property
    def ndim(self) -> int:
        return len(self.lower)

    def __call__(self, x: Float[Array, " d"]) -> Array:
        x = _check_point(x, self.ndim, "Siren")
        lo = jnp.asarray(self.lower, self.weights[0].dtype)
        hi = jnp.asarray(self.upper, self.weights[0].dtype)
        h = 2 * (x - lo) / (hi - lo) - 1
        if self.periodic:
            h = jnp.concatenate([jnp.cos(math.pi * h), jnp.sin(math.pi * h)])
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            h = jnp.sin(self.omega0 * (w @ h + b))
        return _output(self.weights[-1] @ h + self.biases[-1], self.num_outputs)


def parameter_count(net: PyTree) -> int:
    """Number of scalar parameters (floating array entries) of a network."""
    flat, _ = ravel_pytree(eqx.filter(net, eqx.is_inexact_array))
    return int(flat.size)


def evaluate(net, points: Float[Array, "N d"]) -> Array:
    """``net`` at every row of ``points`` (``vmap``), shaped ``(N,)`` or ``(N, outputs)``."""
    points = jnp.asarray(points)
    if points.ndim != 2:
        raise InvalidInputError(f"points must be shaped (N, d), got shape {points.shape}")
    return jax.vmap(net)(points)


def build_network(problem: FieldProblem, key: PRNGKeyArray, hidden: Sequence[int] | None = None, dtype=jnp.float64):
    """The network a :class:`~pdesolve.problems.FieldProblem` declares (its ``network``), on its box.

    ``"teng"`` gives a :class:`TENGNetwork` whose period is the box (``hidden`` are its dense
    tanh layers, all of one width); ``"periodic-mlp"`` a :class:`PeriodicMLP`; ``"siren"`` a
    :class:`Siren` on the box, periodic if the problem is. `hidden` overrides the declared widths.
    """
    spec = problem.network
    hidden = spec.hidden if hidden is None else tuple(hidden)
    if spec.kind == "teng":
        hidden = _check_widths("hidden", hidden)
        if len(set(hidden)) != 1:
            raise InvalidInputError(f"a TENG network has dense layers of one width, got hidden={hidden}")
        return TENGNetwork(key, problem.ndim, hidden[0], len(hidden) + 2, extent=problem.extent, dtype=dtype)
    if spec.kind == "periodic-mlp":
        return PeriodicMLP(key, problem.ndim, hidden, extent=problem.extent, dtype=dtype)
    return Siren(key, problem.ndim, hidden, bounds=(problem.lower, problem.upper), omega0=spec.omega0,
                 periodic=problem.periodic, dtype=dtype)
