r"""PyTorch anchors of ``pdesolve bench training``: the same models, built in PyTorch from our weights.

Everything here imports ``torch`` lazily (inside functions): the anchors are the optional extra
``pip install -e ".[anchors]"`` (``torch``, ``neuraloperator``), and the package imports without it.

**FNO.** ``neuralop.models.FNO`` configured to the FNO paper's 2D Navier-Stokes model, the one
:class:`pdesolve.operators.FNO` builds with ``width=20, modes=12, num_layers=4,
projection_width=128``: grid coordinates appended to the input channels
(``positional_embedding="grid"``, $x_i = i/n$ as ours), a linear lift
(``lifting_channel_ratio=0``), four Fourier layers whose spectral weights cover the modes
$k_x \in [-12, 12)$, $k_y \in [0, 12)$ (``n_modes=(24, 22)``: neuraloperator keeps
``n // 2 + 1`` modes of the last, real-FFT axis), a pointwise linear skip
(``fno_skip="linear"``), no channel MLP (``use_channel_mlp=False``) and a two-layer projection
of width 128. Two settings make the function the same as ours:

- neuraloperator 2.0's Fourier block applies its non-linearity twice per layer when the channel
  MLP is off (``x = σ(K x + W x)``, then ``x = σ(x)`` again where the channel MLP would have
  been). The paper's model, and ours, applies it once. The blocks' non-linearity is therefore
  :class:`_OncePerBlock`: GELU at the first of the two calls and the identity at the second.
- ``jax.nn.gelu`` is the tanh approximation of GELU; PyTorch's default is the exact (erf) one.
  The anchor uses ``gelu(approximate="tanh")``.

Our spectral bias sits in the pointwise map $W$; neuraloperator's sits in the spectral
convolution and its skip has none: the same affine map. With our weights copied in
(:func:`fno_from_ours`), both compute the same outputs to float32 round-off (checked on every
benchmark run: ``anchor_vs_ours``), and both have 926,357 parameters (complex weights counted as
two real numbers).

**MP-PDE.** :class:`TorchMPPDE`, our own PyTorch implementation of the model of
:class:`pdesolve.mp_pde.MPPDE` (Brandstetter, Worrall & Welling, ICLR 2022), written from the
paper's description: encoder MLP, six message-passing layers on the periodic radius graph (mean
aggregation with ``index_add_``, instance normalisation over the nodes of each graph), and the
convolutional temporal-bundling decoder. The first layer of the message MLP is applied to node
features before the gather, as in ours, so both sides do the same arithmetic; batches are
``[b, n, h]`` tensors (every graph of a batch is the same graph). The messages are gathered and
mean-aggregated by a torch_geometric ``MessagePassing`` (the library the paper's authors used,
pure Python since 2.3) when it is importable, else by ``index_select`` and ``index_add_``.
"""

from __future__ import annotations

import functools
import importlib

import numpy as np

ANCHORS_EXTRA = 'pip install -e ".[anchors]"'


def import_torch():
    """``(torch, None)``, or ``(None, reason)`` when PyTorch is not importable (the reason names the extra)."""
    try:
        torch = importlib.import_module("torch")
    except Exception as err:  # ImportError, or a broken install
        return None, (f"PyTorch is not importable ({type(err).__name__}: {err}); the PyTorch anchors are the "
                      f"optional extra: {ANCHORS_EXTRA}")
    return torch, None


def import_neuraloperator():
    """``(neuralop, None)``, or ``(None, reason)`` when neuraloperator is not importable."""
    try:
        neuralop = importlib.import_module("neuralop")
    except Exception as err:
        return None, (f"neuraloperator is not importable ({type(err).__name__}: {err}); the PyTorch anchors are "
                      f"the optional extra: {ANCHORS_EXTRA}")
    return neuralop, None


def import_torch_geometric():
    """``(torch_geometric, None)``, or ``(None, reason)`` when it is not importable."""
    try:
        pyg = importlib.import_module("torch_geometric")
    except Exception as err:
        return None, f"torch_geometric is not importable ({type(err).__name__}: {err})"
    return pyg, None


def torch_parameter_count(module) -> int:
    """Real numbers in a PyTorch module's parameters (a complex entry counts as two)."""
    return int(sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters()))


class _OncePerBlock:
    """GELU (tanh form) at odd calls, identity at even calls: one GELU per neuraloperator Fourier block.

    neuraloperator's ``FNOBlocks.forward_with_postactivation`` calls its non-linearity twice for
    every layer but the last when ``use_channel_mlp=False`` and never for the last, so the calls
    come in pairs and the parity is the same at the start of every forward pass.
    """

    def __init__(self, torch):
        self._gelu = functools.partial(torch.nn.functional.gelu, approximate="tanh")
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return self._gelu(x) if self.calls % 2 == 1 else x


def neuraloperator_fno(in_channels: int, out_channels: int, *, width: int, modes: int, num_layers: int,
                       projection_width: int):
    """neuraloperator's ``FNO`` configured to the paper's 2D model (see the module docstring)."""
    torch, _ = import_torch()
    from neuralop.models import FNO as NeuralOperatorFNO

    gelu = functools.partial(torch.nn.functional.gelu, approximate="tanh")
    model = NeuralOperatorFNO(
        n_modes=(2 * modes, 2 * modes - 2), in_channels=in_channels, out_channels=out_channels,
        hidden_channels=width, n_layers=num_layers, lifting_channel_ratio=0,
        projection_channel_ratio=projection_width / width, positional_embedding="grid", non_linearity=gelu,
        use_channel_mlp=False, fno_skip="linear", norm=None,
    )
    if model.fno_blocks.convs[0].n_modes != [2 * modes, modes]:
        raise RuntimeError(f"neuraloperator keeps modes {model.fno_blocks.convs[0].n_modes}, expected "
                           f"{[2 * modes, modes]}")
    model.fno_blocks.non_linearity = _OncePerBlock(torch)
    return model


def fno_from_ours(ours, **sizes):
    """A :func:`neuraloperator_fno` holding the weights of our 2D :class:`~pdesolve.operators.FNO` `ours`."""
    torch, _ = import_torch()
    model = neuraloperator_fno(**sizes)

    def tensor(a, shape=None):
        a = np.asarray(a, dtype=np.float32)
        return torch.from_numpy(np.array(a.reshape(shape) if shape is not None else a))

    with torch.no_grad():
        lift = model.lifting.fcs[0]
        lift.weight.copy_(tensor(ours.lift.weight, lift.weight.shape))
        lift.bias.copy_(tensor(ours.lift.bias))
        for i, (spectral, pointwise) in enumerate(zip(ours.spectral, ours.pointwise)):
            w = np.asarray(spectral.weights[0], np.float64) + 1j * np.asarray(spectral.weights[1], np.float64)
            w = np.transpose(w, (0, 2, 1, 3, 4))  # [block, in, out, kx, ky]
            # neuraloperator's weights run over k_x = -m..m-1 (fft-shifted): our negative block first.
            full = np.concatenate([w[1], w[0]], axis=2).astype(np.complex64)
            conv = model.fno_blocks.convs[i]
            conv.weight.tensor.copy_(torch.from_numpy(full))
            conv.bias.copy_(tensor(pointwise.bias, conv.bias.shape))
            skip = model.fno_blocks.fno_skips[i].conv
            skip.weight.copy_(tensor(pointwise.weight, skip.weight.shape))
        hidden, out = model.projection.fcs
        hidden.weight.copy_(tensor(ours.project_hidden.weight, hidden.weight.shape))
        hidden.bias.copy_(tensor(ours.project_hidden.bias))
        out.weight.copy_(tensor(ours.project_out.weight, out.weight.shape))
        out.bias.copy_(tensor(ours.project_out.bias))
    return model


def relative_l2_per_frame(torch, prediction, target):
    r"""The FNO paper's loss in PyTorch: $\frac1B\sum_b \|\hat u_b - u_b\|_2 / \|u_b\|_2$ over ``[b, ...]``."""
    num = torch.linalg.vector_norm((prediction - target).flatten(1), dim=1)
    den = torch.linalg.vector_norm(target.flatten(1), dim=1)
    return (num / den).mean()


@functools.cache
def _torch_mp_pde_classes(use_pyg: bool):
    """The PyTorch MP-PDE modules (defined on first use, so that torch is imported lazily); with
    `use_pyg` the messages are gathered and mean-aggregated by a torch_geometric ``MessagePassing``."""
    torch, _ = import_torch()
    nn = torch.nn
    swish = torch.nn.functional.silu

    if use_pyg:
        from torch_geometric.nn import MessagePassing

        class MeanMessages(MessagePassing):
            """``propagate`` with mean aggregation over incoming edges; the message function is the layer's."""

            def __init__(self, edge_function):
                super().__init__(aggr="mean", flow="source_to_target")
                self.edge_function = edge_function  # a bound method: its parameters belong to the layer

            def forward(self, edge_index, senders, receivers, offsets):
                return self.propagate(edge_index, x=(senders, receivers), offsets=offsets)

            def message(self, x_i, x_j, offsets):
                return self.edge_function(x_i + x_j, offsets)

    class TorchMessagePassingLayer(nn.Module):
        def __init__(self, hidden: int, window: int, num_params: int):
            super().__init__()
            self.message_receiver = nn.Linear(hidden, hidden)
            self.message_sender = nn.Linear(hidden, hidden, bias=False)
            self.message_values = nn.Linear(window, hidden, bias=False)
            self.message_offset = nn.Linear(1, hidden, bias=False)
            self.message_params = nn.Linear(num_params, hidden, bias=False) if num_params else None
            self.message_out = nn.Linear(hidden, hidden)
            self.update_in = nn.Linear(2 * hidden + num_params, hidden)
            self.update_out = nn.Linear(hidden, hidden)
            self.mean_messages = MeanMessages(self.edge_messages) if use_pyg else None

        def edge_messages(self, edge, offsets):
            return swish(self.message_out(swish(edge + self.message_offset(offsets))))

        def forward(self, f, u, theta, graph):
            values = self.message_values(u)
            node_r = self.message_receiver(f) + values
            node_s = self.message_sender(f) - values
            if self.message_params is not None:
                node_r = node_r + self.message_params(theta)[:, None, :]
            b, n, h = node_r.shape
            if self.mean_messages is not None:  # the b graphs of the batch as one graph of b * n nodes
                edge_index, offsets = graph.batched(b)
                mean = self.mean_messages(edge_index, node_s.reshape(b * n, h), node_r.reshape(b * n, h), offsets)
                mean = mean.reshape(b, n, h)
            else:
                edge = node_r.index_select(1, graph.receivers) + node_s.index_select(1, graph.senders)
                messages = self.edge_messages(edge, graph.offsets)
                mean = torch.zeros_like(f).index_add_(1, graph.receivers, messages) / graph.degree
            inputs = torch.cat([f, mean, theta[:, None, :].expand(-1, f.shape[1], -1)], dim=2)
            h = f + swish(self.update_out(swish(self.update_in(inputs))))
            return torch.nn.functional.instance_norm(h.transpose(1, 2), eps=1e-5).transpose(1, 2)

    class Graph(nn.Module):
        """The radius graph's index arrays as buffers, and their batched copies for torch_geometric."""

        def __init__(self, senders, receivers, offsets, degree, num_nodes):
            super().__init__()
            self.register_buffer("senders", torch.from_numpy(np.array(senders, np.int64)))
            self.register_buffer("receivers", torch.from_numpy(np.array(receivers, np.int64)))
            self.register_buffer("offsets", torch.from_numpy(np.array(offsets, np.float32))[:, None])
            self.register_buffer("degree", torch.from_numpy(np.array(degree, np.float32))[:, None])
            self.num_nodes = int(num_nodes)
            self._batched = {}

        def batched(self, batch: int):
            if batch not in self._batched:
                shift = (torch.arange(batch) * self.num_nodes)[:, None]
                edge_index = torch.stack([(self.senders[None] + shift).reshape(-1),
                                          (self.receivers[None] + shift).reshape(-1)])
                self._batched[batch] = (edge_index, self.offsets.repeat(batch, 1))
            return self._batched[batch]

    class TorchMPPDE(nn.Module):
        def __init__(self, *, dt, extent, t_final, window, hidden, num_layers, num_params):
            super().__init__()
            self.encoder_in = nn.Linear(window + 2 + num_params, hidden)
            self.encoder_out = nn.Linear(hidden, hidden)
            self.layers = nn.ModuleList(TorchMessagePassingLayer(hidden, window, num_params)
                                        for _ in range(num_layers))
            self.decoder_conv1 = nn.Conv1d(1, 8, kernel_size=16, stride=3)
            self.decoder_conv2 = nn.Conv1d(8, 1, kernel_size=14)
            self.window, self.hidden, self.dt, self.extent, self.t_final = window, hidden, dt, extent, t_final
            self.register_buffer("steps", dt * torch.arange(1, window + 1, dtype=torch.float32))

        def set_graph(self, x, senders, receivers, offsets, degree):
            self.register_buffer("x", torch.from_numpy(np.array(x, np.float32)))
            self.graph = Graph(senders, receivers, offsets, degree, len(self.x))
            return self

        def forward(self, u_window, t, theta):
            """The next `window` frames ``[b, K, n]`` after ``u_window [b, K, n]`` (times `t` [b], parameters [b, p])."""
            u = u_window.transpose(1, 2)  # [b, n, K]
            b, n, _ = u.shape
            node_in = torch.cat([
                u,
                (self.x / self.extent)[None, :, None].expand(b, n, 1),
                (t / self.t_final)[:, None, None].expand(b, n, 1),
                theta[:, None, :].expand(b, n, theta.shape[1]),
            ], dim=2)
            f = swish(self.encoder_out(swish(self.encoder_in(node_in))))
            for layer in self.layers:
                f = layer(f, u, theta, self.graph)
            d = self.decoder_conv2(swish(self.decoder_conv1(f.reshape(b * n, 1, self.hidden))))
            d = d.reshape(b, n, self.window)
            return (u[:, :, -1:] + self.steps * d).transpose(1, 2)

    return TorchMPPDE


def mp_pde_from_ours(ours, x, graph, *, use_pyg: bool = False):
    """A ``TorchMPPDE`` holding the weights of our :class:`~pdesolve.mp_pde.MPPDE` `ours` on `graph`;
    with `use_pyg` its message passing is a torch_geometric ``MessagePassing`` (mean aggregation)."""
    torch, _ = import_torch()
    if ours.decoder_linear is not None:
        raise ValueError("the PyTorch anchor covers the paper's decoder (hidden = 128, window = 25)")
    cls = _torch_mp_pde_classes(bool(use_pyg))
    model = cls(dt=ours.dt, extent=ours.extent, t_final=ours.t_final, window=ours.window, hidden=ours.hidden,
                num_layers=len(ours.layers), num_params=ours.num_params)
    model.set_graph(x, graph.senders, graph.receivers, graph.offsets, graph.degree)

    def copy(dst, src):
        with torch.no_grad():
            dst.weight.copy_(torch.from_numpy(np.array(src.weight, np.float32).reshape(dst.weight.shape)))
            if dst.bias is not None:
                dst.bias.copy_(torch.from_numpy(np.array(src.bias, np.float32).reshape(dst.bias.shape)))

    copy(model.encoder_in, ours.encoder_in)
    copy(model.encoder_out, ours.encoder_out)
    copy(model.decoder_conv1, ours.decoder_conv1)
    copy(model.decoder_conv2, ours.decoder_conv2)
    names = ("message_receiver", "message_sender", "message_values", "message_offset", "message_params",
             "message_out", "update_in", "update_out")
    for mine, theirs in zip(model.layers, ours.layers):
        for name in names:
            if getattr(mine, name) is not None:
                copy(getattr(mine, name), getattr(theirs, name))
    return model
