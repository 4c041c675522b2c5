r"""Message-passing neural PDE solver (MP-PDE) for 1D periodic problems.

Brandstetter, Worrall & Welling, *Message Passing Neural PDE Solvers*, ICLR 2022.

Nodes are the grid points; each carries the last $K$ values $u_i^{k-K+1..k}$, its position
$x_i$, the time $t_k$ and the PDE parameters $\theta$. The network is

- **encoder** $f_i^0 = \epsilon([u_i^{k-K+1..k}, x_i/L, t_k/T, \theta])$, a two-layer Swish MLP;
- **processor**: $M$ layers (6) of
  $m_{ij} = \phi(f_i, f_j, u_i - u_j, (x_i - x_j)/L, \theta)$ on the edges $j \to i$ of a
  periodic radius graph, $\bar m_i = \text{mean}_j m_{ij}$ (a segment sum over receivers
  divided by the in-degree), $f_i \leftarrow \text{InstanceNorm}(f_i + \psi(f_i, \bar m_i, \theta))$;
- **decoder** per node: Conv1d(1→8, kernel 16, stride 3) → Swish → Conv1d(8→1, kernel 14)
  over the hidden vector (length 128 → 38 → 25), giving $d^{1..K}$ and the temporal bundle
  $u_i^{k+\ell} = u_i^k + (t_{k+\ell} - t_k)\, d_i^\ell$, $\ell = 1..K$.

The first layer of $\phi$ is linear in the concatenation, so it is applied to node features
before gathering them onto edges (the same function, fewer operations).

Training (:mod:`pdesolve.mp_pde._training`: :class:`PushforwardTrajectories`,
:class:`PushforwardLoss`, :func:`fit_mp_pde`) runs in :func:`pdesolve.training.train` with
the pushforward trick.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._errors import InvalidInputError


class RadiusGraph(eqx.Module):
    r"""Directed edges $j \to i$ between points with periodic distance $0 < |x_i - x_j|_L \le r$.

    **Attributes:** `senders` $j$ and `receivers` $i$ (int arrays, one entry per edge),
    `offsets` $x_i - x_j$ wrapped into $[-L/2, L/2)$, `degree` (in-degree per node),
    `num_nodes`, `extent` $L$, and `stencil`: when node $i$ receives from exactly the nodes
    $(i + s_k) \bmod n$, $k = 1..d$, for one tuple $(s_1, \dots, s_d)$ shared by all nodes and
    the edges are listed receiver by receiver in that order (every radius graph on a uniform
    periodic grid), that tuple; ``None`` otherwise. With a stencil the message-passing layers
    gather the senders by shifting arrays and sum each receiver's $d$ messages in place: no
    indexed gather or scatter in the forward or the backward pass.
    """

    senders: Int[Array, " e"]
    receivers: Int[Array, " e"]
    offsets: Float[Array, " e"]
    degree: Float[Array, " n"]
    num_nodes: int = eqx.field(static=True)
    extent: float = eqx.field(static=True)
    stencil: tuple[int, ...] | None = eqx.field(static=True, default=None)


def radius_graph(x, radius: float, extent: float) -> RadiusGraph:
    r"""Periodic radius graph on the points `x` of $[0, L)$, $L$ = `extent`; no self-loops.

    Two points are neighbours when their periodic distance is at most `radius` (plus a
    relative tolerance of $10^{-9} L$, so $r = 3\Delta x$ on a uniform grid gives exactly 6
    neighbours per node). Edges are listed by receiver, and for each receiver by the index
    offset $(j - i) \bmod n$ of the sender; the graph's `stencil` is set when that offset list
    is the same for every node. Built in numpy (static); raises
    :class:`~pdesolve.InvalidInputError` for bad points or a node without neighbours.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size < 2:
        raise InvalidInputError(f"x must be a 1D array of at least 2 points, got shape {x.shape}")
    if not np.all(np.isfinite(x)) or np.any(x < 0) or np.any(x >= extent):
        raise InvalidInputError(f"points must be finite and lie in [0, {extent})")
    if not (radius > 0 and math.isfinite(radius)):
        raise InvalidInputError(f"radius must be positive and finite, got {radius!r}")
    diff = x[:, None] - x[None, :]  # [receiver, sender] = x_i - x_j
    diff = (diff + extent / 2) % extent - extent / 2
    adjacent = (np.abs(diff) <= radius + 1e-9 * extent) & ~np.eye(x.size, dtype=bool)
    receivers, senders = np.nonzero(adjacent)
    degree = adjacent.sum(axis=1)
    if np.any(degree == 0):
        raise InvalidInputError(f"radius {radius} leaves node {int(np.argmin(degree))} without neighbours")
    n = x.size
    shift = (senders - receivers) % n
    order = np.lexsort((shift, receivers))
    receivers, senders, shift = receivers[order], senders[order], shift[order]
    stencil = None
    if np.all(degree == degree[0]):
        rows = shift.reshape(n, int(degree[0]))
        if np.all(rows == rows[0]):
            stencil = tuple(int(s) for s in rows[0])
    return RadiusGraph(
        senders=jnp.asarray(senders, dtype=jnp.int32),
        receivers=jnp.asarray(receivers, dtype=jnp.int32),
        offsets=jnp.asarray(diff[receivers, senders] / extent),
        degree=jnp.asarray(degree, dtype=jnp.float32),
        num_nodes=int(n),
        extent=float(extent),
        stencil=stencil,
    )


def _swish(x):
    return jax.nn.swish(x)


def _dense(layer: eqx.nn.Linear, x: Float[Array, "... fan_in"]) -> Float[Array, "... fan_out"]:
    """`layer` applied to the last axis of `x`: one matrix product, rows in place.

    The same values as ``jax.vmap(layer)(x)`` for a 2D `x`; vmapping the matrix-vector product
    instead makes XLA form ``W @ x.T`` and transpose the activations and their gradients.
    """
    out = x @ layer.weight.T.astype(x.dtype)
    return out if layer.bias is None else out + layer.bias.astype(x.dtype)


def _conv1d_length(conv: eqx.nn.Conv1d, length: int) -> int:
    """Output length of an unpadded, undilated `conv` on `length` points."""
    return (length - conv.kernel_size[0]) // conv.stride[0] + 1


def _conv1d_matrix(conv: eqx.nn.Conv1d, length: int) -> Float[Array, "cin_len cout_len"]:
    r"""The matrix $M$ of an unpadded, undilated `conv` (without bias) on inputs of `length` points.

    For an input $h$ ``[c_in, length]``, ``conv(h) - bias == (h.reshape(-1) @ M).reshape(c_out, -1)``:
    $M_{(i, p), (o, t)} = w_{o, i, p - s t}$ for $0 \le p - s t < k$ (stride $s$, kernel $k$), else 0.
    """
    kernel, stride = conv.kernel_size[0], conv.stride[0]
    out = _conv1d_length(conv, length)
    taps = np.zeros((kernel, length, out), dtype=np.float32)  # taps[k, p, t] = [p == s t + k]
    for k in range(kernel):
        taps[k, stride * np.arange(out) + k, np.arange(out)] = 1.0
    weight = conv.weight
    matrix = jnp.einsum("oik,kpt->ipot", weight, jnp.asarray(taps, weight.dtype))
    return matrix.reshape(weight.shape[1] * length, weight.shape[0] * out)


@jax.custom_vjp
def _add_edge_offsets(edge: Float[Array, "... h"], offsets: Float[Array, "..."], weight: Float[Array, " h"]):
    r"""``edge + offsets[..., None] * weight``: the message MLP's term in the edge offsets $x_i - x_j$.

    A custom VJP only for speed: the edge offsets are the same for every sample of a batch, so
    under ``vmap`` the plain expression's VJP first sums the cotangent over the batch into an
    edge-sized array (a reduction that XLA's CPU backend runs 20-50x slower than a matrix
    product), then contracts it with the offsets. Here each sample contracts its own cotangent
    with the offsets (a matrix-vector product) and only the $h$-sized results are summed.
    """
    return edge + offsets[..., None] * weight


def _add_edge_offsets_fwd(edge, offsets, weight):
    return _add_edge_offsets(edge, offsets, weight), (offsets, weight)


def _add_edge_offsets_bwd(residuals, cotangent):
    offsets, weight = residuals
    h = cotangent.shape[-1]
    d_weight = offsets.reshape(-1) @ cotangent.reshape(-1, h)
    return cotangent, cotangent @ weight, d_weight


_add_edge_offsets.defvjp(_add_edge_offsets_fwd, _add_edge_offsets_bwd)


def _instance_norm(f: Float[Array, "n h"], eps: float = 1e-5) -> Float[Array, "n h"]:
    mean = jnp.mean(f, axis=0, keepdims=True)
    var = jnp.var(f, axis=0, keepdims=True)
    return (f - mean) * jax.lax.rsqrt(var + eps)


class MessagePassingLayer(eqx.Module):
    r"""One processor layer: $f_i \leftarrow \text{InstanceNorm}(f_i + \psi(f_i, \text{mean}_j\,\phi(f_i, f_j, u_i-u_j, x_i-x_j, \theta), \theta))$.

    $\phi$ and $\psi$ are two-layer Swish MLPs. Aggregation is the sum over each receiver's
    edges divided by its in-degree: ``jax.ops.segment_sum`` over receivers, or, on a graph with a
    `stencil` (uniform periodic grids), shifted copies of the node features and a sum over the
    stencil axis, which avoids XLA's gathers and scatters (slow on CPU, in the backward pass most).
    """

    message_receiver: eqx.nn.Linear
    message_sender: eqx.nn.Linear
    message_values: eqx.nn.Linear
    message_offset: eqx.nn.Linear
    message_params: eqx.nn.Linear
    message_out: eqx.nn.Linear
    update_in: eqx.nn.Linear
    update_out: eqx.nn.Linear

    def __init__(self, hidden: int, window: int, num_params: int, *, key: PRNGKeyArray, dtype=None):
        keys = jax.random.split(key, 4)
        fan_in = 2 * hidden + window + 1 + num_params
        # One Linear(fan_in -> hidden) split into its column blocks (same init scale).
        first = eqx.nn.Linear(fan_in, hidden, key=keys[0], dtype=dtype)
        w, b = first.weight, first.bias
        blocks = np.cumsum([hidden, hidden, window, 1])

        def part(columns, bias):
            layer = eqx.nn.Linear(columns.shape[1], hidden, use_bias=bias is not None, key=keys[0], dtype=dtype)
            layer = eqx.tree_at(lambda m: m.weight, layer, columns)
            if bias is not None:
                layer = eqx.tree_at(lambda m: m.bias, layer, bias)
            return layer

        self.message_receiver = part(w[:, : blocks[0]], b)
        self.message_sender = part(w[:, blocks[0] : blocks[1]], None)
        self.message_values = part(w[:, blocks[1] : blocks[2]], None)
        self.message_offset = part(w[:, blocks[2] : blocks[3]], None)
        self.message_params = part(w[:, blocks[3] :], None) if num_params else None
        self.message_out = eqx.nn.Linear(hidden, hidden, key=keys[1], dtype=dtype)
        self.update_in = eqx.nn.Linear(2 * hidden + num_params, hidden, key=keys[2], dtype=dtype)
        self.update_out = eqx.nn.Linear(hidden, hidden, key=keys[3], dtype=dtype)

    def __call__(self, f, u, theta, graph: RadiusGraph):
        # Receiver and sender parts of the first message layer in one product:
        # [f, u] @ [[W_r, W_u], [W_s, -W_u]]^T, so that u_i - u_j enters as W_u u_i - W_u u_j.
        hidden = f.shape[1]
        w_u = self.message_values.weight
        weight = jnp.concatenate([jnp.concatenate([self.message_receiver.weight, w_u], axis=1),
                                  jnp.concatenate([self.message_sender.weight, -w_u], axis=1)], axis=0)
        node = jnp.concatenate([f, u], axis=1) @ weight.T.astype(f.dtype)
        node_r = node[:, :hidden] + self.message_receiver.bias.astype(f.dtype)
        node_s = node[:, hidden:]
        if self.message_params is not None:
            node_r = node_r + self.message_params(theta)
        offsets = graph.offsets.astype(f.dtype)
        offset_weight = self.message_offset.weight[:, 0].astype(f.dtype)
        if graph.stencil is not None:
            # Edge (i, k) comes from node (i + s_k) mod n: one shifted copy per stencil entry
            # instead of a gather, and the messages summed as they are made instead of a scatter.
            offsets = offsets.reshape(graph.num_nodes, len(graph.stencil))
            summed = 0.0
            for k, s in enumerate(graph.stencil):
                edge = _add_edge_offsets(node_r + jnp.roll(node_s, -s, axis=0), offsets[:, k], offset_weight)
                summed = summed + _swish(_dense(self.message_out, _swish(edge)))
        else:
            edge = node_r[graph.receivers] + node_s[graph.senders]
            edge = _add_edge_offsets(edge, offsets, offset_weight)
            messages = _swish(_dense(self.message_out, _swish(edge)))
            summed = jax.ops.segment_sum(messages, graph.receivers, num_segments=graph.num_nodes)
        mean = summed / graph.degree[:, None].astype(f.dtype)
        inputs = jnp.concatenate([f, mean, jnp.broadcast_to(theta, (f.shape[0], theta.shape[0]))], axis=1)
        update = _swish(_dense(self.update_out, _swish(_dense(self.update_in, inputs))))
        return _instance_norm(f + update)


class MPPDE(eqx.Module):
    r"""Message-passing neural PDE solver with temporal bundling (Brandstetter et al., ICLR 2022).

    ``model(u_window, t, theta, x, graph)`` maps the last `window` frames ``[K, n]`` at the
    nodes `x` (time `t` of the last frame, PDE parameters `theta` ``[p]``) to the next
    `window` frames ``[K, n]``: $u^{k+\ell} = u^k + \ell\,\Delta t\, d^\ell$.

    **Arguments:** `window` $K$ (25: the decoder's convolutions are sized for
    ``hidden = 128``, ``K = 25``; other sizes get a final linear map to $K$), `hidden` (128),
    `num_layers` (6), `num_params` (3: $\alpha, \beta, \gamma$), `dt` (time between frames),
    `extent` $L$, `t_final` $T$ (time normalisation), `key`, `dtype` of the weights (default:
    JAX's default float; use ``jnp.float32`` for speed under x64).
    """

    encoder_in: eqx.nn.Linear
    encoder_out: eqx.nn.Linear
    layers: tuple[MessagePassingLayer, ...]
    decoder_conv1: eqx.nn.Conv1d
    decoder_conv2: eqx.nn.Conv1d
    decoder_linear: eqx.nn.Linear | None
    window: int = eqx.field(static=True)
    hidden: int = eqx.field(static=True)
    num_params: int = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    extent: float = eqx.field(static=True)
    t_final: float = eqx.field(static=True)

    def __init__(
        self,
        *,
        dt: float,
        extent: float = 16.0,
        t_final: float = 4.0,
        window: int = 25,
        hidden: int = 128,
        num_layers: int = 6,
        num_params: int = 3,
        key: PRNGKeyArray,
        dtype=None,
    ):
        for name, value in (("window", window), ("hidden", hidden), ("num_layers", num_layers)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
        if hidden < 60:
            raise InvalidInputError(f"hidden must be at least 60 for the decoder convolutions, got {hidden}")
        if not (dt > 0 and math.isfinite(dt)):
            raise InvalidInputError(f"dt must be positive and finite, got {dt!r}")
        keys = jax.random.split(key, num_layers + 5)
        self.encoder_in = eqx.nn.Linear(window + 2 + num_params, hidden, key=keys[0], dtype=dtype)
        self.encoder_out = eqx.nn.Linear(hidden, hidden, key=keys[1], dtype=dtype)
        self.layers = tuple(MessagePassingLayer(hidden, window, num_params, key=k, dtype=dtype) for k in keys[5:])
        self.decoder_conv1 = eqx.nn.Conv1d(1, 8, kernel_size=16, stride=3, key=keys[2], dtype=dtype)
        self.decoder_conv2 = eqx.nn.Conv1d(8, 1, kernel_size=14, key=keys[3], dtype=dtype)
        length = ((hidden - 16) // 3 + 1) - 14 + 1
        self.decoder_linear = None if length == window else eqx.nn.Linear(length, window, key=keys[4], dtype=dtype)
        self.window, self.hidden, self.num_params = int(window), int(hidden), int(num_params)
        self.dt, self.extent, self.t_final = float(dt), float(extent), float(t_final)

    def __call__(
        self,
        u_window: Float[Array, "K n"],
        t: Float[Array, ""],
        theta: Float[Array, " p"],
        x: Float[Array, " n"],
        graph: RadiusGraph,
    ) -> Float[Array, "K n"]:
        """The next `window` frames after `u_window` (see the class docstring)."""
        if jnp.ndim(u_window) != 2 or u_window.shape[0] != self.window:
            raise InvalidInputError(f"u_window must be [window={self.window}, nx], got shape {jnp.shape(u_window)}")
        if jnp.shape(theta) != (self.num_params,):
            raise InvalidInputError(f"theta must hold the model's {self.num_params} PDE parameters, got shape "
                                    f"{jnp.shape(theta)}")
        _check_nodes(u_window, x, graph)
        u = u_window.T  # [n, K]
        n = u.shape[0]
        dtype = u.dtype
        theta = jnp.asarray(theta, dtype)
        node_in = jnp.concatenate(
            [
                u,
                (x / self.extent)[:, None].astype(dtype),
                jnp.full((n, 1), t / self.t_final, dtype),
                jnp.broadcast_to(theta, (n, theta.shape[0])),
            ],
            axis=1,
        )
        f = _swish(_dense(self.encoder_out, _swish(_dense(self.encoder_in, node_in))))
        for layer in self.layers:
            f = layer(f, u, theta, graph)

        # The decoder's two convolutions run over each node's feature vector; as the matrices of
        # those linear maps, all nodes go through two matrix products (no convolution kernels).
        d = _swish(f @ _conv1d_matrix(self.decoder_conv1, self.hidden).astype(dtype)
                   + jnp.repeat(self.decoder_conv1.bias[:, 0], _conv1d_length(self.decoder_conv1, self.hidden)).astype(dtype))
        length = _conv1d_length(self.decoder_conv1, self.hidden)
        d = d @ _conv1d_matrix(self.decoder_conv2, length).astype(dtype) + jnp.repeat(
            self.decoder_conv2.bias[:, 0], _conv1d_length(self.decoder_conv2, length)).astype(dtype)  # [n, K]
        if self.decoder_linear is not None:
            d = _dense(self.decoder_linear, d)
        steps = self.dt * jnp.arange(1, self.window + 1, dtype=dtype)
        return (u[:, -1:] + steps[None, :] * d).T


def check_trajectories(u, window: int, *, name: str = "u") -> np.ndarray:
    """Validate trajectories ``[sample, t, x]``: real, finite, with room for two bundles."""
    u = np.asarray(u)
    if u.ndim != 3 or u.dtype.kind != "f":
        raise InvalidInputError(f"{name} must be a real array [sample, t, x], got shape {u.shape} and dtype {u.dtype}")
    if u.shape[1] < 2 * window:
        raise InvalidInputError(f"{name} has {u.shape[1]} time steps; need at least 2 * window = {2 * window}")
    if not np.all(np.isfinite(u)):
        raise InvalidInputError(f"{name} contains NaN/Inf")
    return u


def _check_nodes(u, x, graph: RadiusGraph) -> None:
    """Data on `u`'s last axis, the node positions `x` and the graph describe one grid."""
    if u.shape[-1] != graph.num_nodes or np.shape(x) != (graph.num_nodes,):
        raise InvalidInputError(
            f"grid mismatch: data have nx = {u.shape[-1]}, x has {np.shape(x)} points, the graph has {graph.num_nodes} nodes"
        )


def rollout_mp_pde(
    model: MPPDE,
    u_start: Float[Array, "b K n"],
    t_start: Float[Array, " b"],
    theta: Float[Array, "b p"],
    x: Float[Array, " n"],
    graph: RadiusGraph,
    num_steps: int,
) -> Float[Array, "b num_steps n"]:
    """Autoregressive rollout: from the windows `u_start` (last frame at `t_start`), predict `num_steps` frames.

    Applies the model ``ceil(num_steps / K)`` times (``lax.scan``, vmapped over the batch) and
    returns the first `num_steps` predicted frames.
    """
    if u_start.ndim != 3 or u_start.shape[1] != model.window:
        raise InvalidInputError(f"u_start must be [batch, window={model.window}, nx], got shape {u_start.shape}")
    _check_nodes(u_start, x, graph)
    bundles = -(-int(num_steps) // model.window)

    def one(u0, t0, th):
        def body(carry, _):
            window, t = carry
            nxt = model(window, t, th, x, graph)
            return (nxt, t + model.window * model.dt), nxt

        _, frames = jax.lax.scan(body, (u0, t0), None, length=bundles)
        return frames.reshape(-1, u0.shape[-1])[:num_steps]

    return jax.vmap(one)(u_start, t_start, theta)
