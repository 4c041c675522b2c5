r"""Training the MP-PDE solver in :func:`pdesolve.training.train`: pushforward data, loss, spec.

One path for every MP-PDE run: :func:`fit_mp_pde` (parameter-conditioned, E1-E3 with
$\theta = (\alpha, \beta, \gamma)$) and ``pdesolve train mp-pde`` (:data:`MP_PDE_SPEC`, on any
1D single-channel HDF5 file, $\theta$ empty) both train an :class:`~pdesolve.mp_pde.MPPDE` on
:class:`PushforwardTrajectories` with :class:`PushforwardLoss`.

**The pushforward trick** (Brandstetter, Worrall & Welling 2022, Sec. 2.3). With bundle size
$K$ (`config.window`) and at most $R$ unrolls (`config.rollout_steps` $= K(R + 1)$), training
step $n$ of epoch $e$ draws $r_n \in \{0, \dots, \min(e, R)\}$, samples $i_b$ and start frames
$s_b \in \{K, \dots, T - K(r_n + 1)\}$, and with $G_\theta(w, t, \theta)$ the model (the next
bundle after window $w$ whose last frame is at time $t$) minimises

$$
L = \Big\| G_\theta\big(\bar w^{(r)}, t_{s + rK - 1}, \theta_i\big) - u_i^{[s + rK,\ s + (r+1)K)} \Big\|_2,
\qquad \bar w^{(0)} = u_i^{[s - K,\ s)},\quad
\bar w^{(j+1)} = \operatorname{sg}\big[G_\theta(\bar w^{(j)}, t_{s + jK - 1}, \theta_i)\big],
$$

the norm over the batch, the bundle and space together, and sg the stop-gradient: the model
learns to correct the distribution shift of its own predictions without backpropagating
through the unrolls.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import InvalidInputError
from ..datasets import check_shard, shard_rows, split_indices
from ..training import AbstractTrainingData, ModelSpec, TrainConfig, TrajectoryData, train
from ._model import MPPDE, RadiusGraph, _check_nodes, check_trajectories, radius_graph, rollout_mp_pde


class PushforwardBatch(eqx.Module):
    r"""One pushforward training batch (see :class:`PushforwardTrajectories`).

    **Attributes:** `inputs` $u_i^{[s-K, s)}$ ``[b, K, n]``; `targets` $u_i^{[s+rK, s+(r+1)K)}$
    ``[b, K, n]``; `times` $t_{s + jK - 1}$, $j = 0..r$, ``[b, r + 1]`` (the time of the last
    input frame of each model application); `theta` ``[b, p]``; `unrolls` $r$ (static: one
    compilation per value, as the number of model applications differs).
    """

    inputs: Float[Array, "b K n"]
    targets: Float[Array, "b K n"]
    times: Float[Array, "b r1"]
    theta: Float[Array, "b p"]
    unrolls: int = eqx.field(static=True)


class PushforwardLoss(eqx.Module):
    r"""The pushforward loss $L$ of the module docstring for :func:`pdesolve.training.train`.

    ``loss(model, batch, key)`` with an :class:`~pdesolve.mp_pde.MPPDE` `model` and a
    :class:`PushforwardBatch`; returns ``(L, {"unroll": r})``. The $r$ unrolls run without
    gradient; `key` is unused (the batch carries every random choice).

    **Arguments:** `x` (node positions ``[n]``) and `graph` (:func:`radius_graph` on them).
    """

    x: Float[Array, " n"]
    graph: RadiusGraph

    def __init__(self, x, graph: RadiusGraph):
        if not isinstance(graph, RadiusGraph):
            raise InvalidInputError(f"graph must be a RadiusGraph, got {type(graph).__name__}")
        if np.shape(x) != (graph.num_nodes,):
            raise InvalidInputError(f"x has shape {np.shape(x)}, the graph has {graph.num_nodes} nodes")
        self.x = jnp.asarray(x)
        self.graph = graph

    def __call__(self, model: MPPDE, batch: PushforwardBatch, key=None):
        x = self.x.astype(batch.inputs.dtype)
        apply = jax.vmap(lambda w, t, th: model(w, t, th, x, self.graph))
        window = batch.inputs
        for j in range(batch.unrolls):
            window = jax.lax.stop_gradient(apply(window, batch.times[:, j], batch.theta))
        prediction = apply(window, batch.times[:, batch.unrolls], batch.theta)
        return jnp.sqrt(jnp.sum((prediction - batch.targets) ** 2)), {"unroll": jnp.asarray(batch.unrolls)}


@jax.jit
def _advance(key, step):
    """One link of the sampling chain: ``key' , sub = split(fold_in(key, step))``; ``sub -> (k1, k2)``."""
    key, sub = jax.random.split(jax.random.fold_in(key, step))
    k1, k2 = jax.random.split(sub)
    return key, k1, k2


@jax.jit
def _replay(key, count):
    """The chain's key after `count` links from `key` (steps ``0..count-1``)."""
    return jax.lax.fori_loop(0, count, lambda n, k: jax.random.split(jax.random.fold_in(k, n))[0], key)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _indices(k1, k2, batch: int, num: int, low: int, high: int):
    """Sample positions ``randint(k1, (batch,), 0, num)`` and start frames ``randint(k2, (batch,), low, high)``."""
    return jax.random.randint(k1, (batch,), 0, num), jax.random.randint(k2, (batch,), low, high)


class PushforwardTrajectories(AbstractTrainingData):
    r"""Trajectories $u$ ``[sample, t, x]`` with PDE parameters $\theta$ ``[sample, p]``, drawn for pushforward training.

    An epoch is `config.steps_per_epoch` steps (default: training samples // batch size, at
    least 1). Step $n$ (counted over the whole run; epoch $e = \lfloor n / S \rfloor$) draws,
    from a chain of keys $k_0$ = `key` (default ``PRNGKey(config.seed)``),
    $k_{n+1}, \sigma_n = \text{split}(\text{fold\_in}(k_n, n))$ and
    $(\kappa_1, \kappa_2) = \text{split}(\sigma_n)$:

    - the unroll count $r_n$ = ``rng.integers(0, min(e, R) + 1)``, one draw per step from
      ``numpy.random.default_rng(randint(k_0, (), 0, 2**31 - 1))``;
    - samples $i_b$ = the training split's ``randint(κ1, (B,), 0, N_train)``-th (with
      replacement);
    - start frames $s_b$ = ``randint(κ2, (B,), K, T - K(r_n + 1) + 1)``;

    and yields the :class:`PushforwardBatch` of those windows (see the module docstring).
    Both chains are replayed from step 0 when an epoch is requested out of order (a resumed
    run), so the batches depend only on the config and the epoch.

    **Arguments:**

    - `u`: trajectories ``[sample, t, x]`` (real, finite).
    - `theta`: PDE parameters ``[sample, p]`` (``p`` may be 0).
    - `t`: frame times ``[t]``.
    - `x`, `graph`: node positions ``[x]`` and their :func:`radius_graph` (for evaluation).
    - `splits`: (train, val, test) fractions (:func:`~pdesolve.datasets.split_indices`).
    - `key`: the sampling key $k_0$ (``None``: ``PRNGKey(config.seed)``).
    """

    def __init__(self, u, theta, t, x, graph: RadiusGraph, *, splits: Sequence[float] = (1.0, 0.0, 0.0),
                 key: PRNGKeyArray | None = None):
        u = np.asarray(u)
        if u.ndim != 3 or u.dtype.kind != "f":
            raise InvalidInputError(f"u must be a real array [sample, t, x], got shape {u.shape} and dtype {u.dtype}")
        if not np.all(np.isfinite(u)):
            raise InvalidInputError("u contains NaN/Inf")
        theta = np.asarray(theta)
        if theta.ndim != 2 or theta.shape[0] != u.shape[0] or not np.all(np.isfinite(theta)):
            raise InvalidInputError(f"theta must be finite and shaped [{u.shape[0]}, p], got {theta.shape}")
        t = np.asarray(t, dtype=np.float64)
        if t.shape != (u.shape[1],):
            raise InvalidInputError(f"t has shape {t.shape}; the data have {u.shape[1]} frames")
        if not isinstance(graph, RadiusGraph):
            raise InvalidInputError(f"graph must be a RadiusGraph, got {type(graph).__name__}")
        _check_nodes(u, x, graph)
        self.u, self.theta, self.t = u, theta, t
        self.x, self.graph = np.asarray(x), graph
        self.splits = tuple(float(f) for f in splits)
        self.indices = split_indices(u.shape[0], self.splits)
        self.key = key
        self._cursor = None  # (config key, step, chain key, numpy generator) after the last batch drawn

    @property
    def num_samples(self) -> int:
        return int(self.u.shape[0])

    @property
    def num_times(self) -> int:
        return int(self.u.shape[1])

    def __repr__(self) -> str:
        return (f"PushforwardTrajectories(samples={self.num_samples}, times={self.num_times}, "
                f"nodes={self.u.shape[2]}, params={self.theta.shape[1]})")

    def describe(self) -> dict:
        """The split sizes, frames, nodes and PDE parameters per sample."""
        return {**super().describe(), "sample_shape": [int(n) for n in self.u.shape[1:]],
                "num_params": int(self.theta.shape[1])}

    def split_size(self, split: str) -> int:
        if split not in self.indices:
            raise InvalidInputError(f"split must be one of {', '.join(self.indices)}, got {split!r}")
        return len(self.indices[split])

    def check(self, config) -> None:
        """`rollout_steps` must be $K(R + 1)$ for $K$ = `window`, and a window plus $R + 1$ bundles must fit."""
        window, horizon = int(config.window), int(config.rollout_steps)
        if horizon % window:
            raise InvalidInputError(
                f"MP-PDE needs rollout_steps (--rollout-steps) to be a multiple of window (--window): K(1+R) for "
                f"R pushforward unrolls, got {horizon} and {window}"
            )
        if window + horizon > self.num_times:
            raise InvalidInputError(f"window {window} + rollout_steps {horizon} frames exceed the {self.num_times} "
                                    "frames per trajectory")
        if self.split_size("train") == 0:
            raise InvalidInputError("the training split is empty")

    def steps_per_epoch(self, config) -> int:
        if config.steps_per_epoch is not None:
            return int(config.steps_per_epoch)
        return max(1, self.split_size("train") // config.batch_size)

    def _chain(self, config, step: int):
        """The chain key and numpy generator before global step `step` (replayed unless cached)."""
        key0 = jax.random.PRNGKey(config.seed) if self.key is None else self.key
        tag = (config.seed, config.window, config.rollout_steps, self.steps_per_epoch(config), id(self.key))
        if self._cursor is not None and self._cursor[0] == tag and self._cursor[1] == step:
            return self._cursor[2], self._cursor[3]
        rng = np.random.default_rng(int(jax.random.randint(key0, (), 0, 2**31 - 1)))
        max_unroll, per_epoch = config.rollout_steps // config.window - 1, self.steps_per_epoch(config)
        for n in range(step):
            rng.integers(0, min(n // per_epoch, max_unroll) + 1)
        return _replay(key0, step), rng

    def train_batches(self, config, epoch: int, *, shard=None):
        shard = check_shard(shard)
        K, T, B = int(config.window), self.num_times, int(config.batch_size)
        max_unroll, per_epoch = config.rollout_steps // K - 1, self.steps_per_epoch(config)
        train = self.indices["train"]
        tag = (config.seed, config.window, config.rollout_steps, per_epoch, id(self.key))
        first = epoch * per_epoch
        key, rng = self._chain(config, first)
        for n in range(first, first + per_epoch):
            unrolls = int(rng.integers(0, min(epoch, max_unroll) + 1))
            key, k1, k2 = _advance(key, n)
            self._cursor = (tag, n + 1, key, rng)
            idx, s = _indices(k1, k2, B, len(train), K, T - K * (unrolls + 1) + 1)
            idx, s = train[np.asarray(idx)], np.asarray(s)
            if shard is not None:
                idx, s = shard_rows(idx, *shard), shard_rows(s, *shard)
            frames = np.arange(K)
            yield PushforwardBatch(
                inputs=self.u[idx[:, None], s[:, None] - K + frames],
                targets=self.u[idx[:, None], s[:, None] + unrolls * K + frames],
                times=self.t[s[:, None] + K * np.arange(unrolls + 1) - 1],
                theta=self.theta[idx],
                unrolls=unrolls,
            )

    def evaluate(self, model, split: str, config, *, figures: bool = False, out=None, name: str = "model") -> dict:
        r"""Roll `model` out from each trajectory's first $K$ frames and score the predicted frames.

        Keys: ``rollout_rel_l2`` (mean over samples of $\|\hat u - u\|_2 / \|u\|_2$ over all
        predicted frames and nodes), ``accumulated_error`` (mean over samples of
        $\sum_t \text{mean}_x (\hat u - u)^2$, :func:`~pdesolve.metrics.accumulated_error`),
        ``samples``, ``window``, ``rollout_steps``, ``split``.
        """
        from ..metrics import accumulated_error

        indices = self.indices[split] if split in self.indices else self.split_size(split)
        if len(indices) == 0:
            raise InvalidInputError(f"the {split} split is empty")
        K = int(config.window)
        full = self.num_times - K
        horizon = full if config.eval_rollout_steps is None else min(int(config.eval_rollout_steps), full)
        dtype = np.dtype(config.dtype)
        x = jnp.asarray(self.x, dtype)
        rollout = eqx.filter_jit(rollout_mp_pde)
        rel, acc = 0.0, 0.0
        for k in range(0, len(indices), config.eval_batch_size):
            idx = indices[k : k + config.eval_batch_size]
            u = jnp.asarray(self.u[idx], dtype)
            t0 = jnp.full((len(idx),), self.t[K - 1], dtype)
            pred = rollout(model, u[:, :K], t0, jnp.asarray(self.theta[idx], dtype), x, self.graph, horizon)
            truth = u[:, K : K + horizon]
            rel += float(jnp.sum(jnp.linalg.norm((pred - truth).reshape(len(idx), -1), axis=1)
                                 / jnp.linalg.norm(truth.reshape(len(idx), -1), axis=1)))
            acc += float(jnp.sum(accumulated_error(pred, truth)))
        n = len(indices)
        return {"split": split, "samples": n, "window": K, "rollout_steps": horizon, "rollout_rel_l2": rel / n,
                "accumulated_error": acc / n}


def fit_mp_pde(
    model: MPPDE,
    u,
    theta,
    x,
    t,
    graph: RadiusGraph,
    *,
    epochs: int = 20,
    iterations_per_epoch: int | None = None,
    batch_size: int = 16,
    learning_rate: float = 1e-4,
    weight_decay: float = 1e-8,
    max_unroll: int = 1,
    lr_milestones: Sequence[int] | None = None,
    lr_decay: float = 0.4,
    key: PRNGKeyArray | None = None,
    checkpoint: str | None = None,
    checkpoint_every: int = 500,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    callback: Callable[[int, dict], None] | None = None,
    epoch_callback: Callable[[int, MPPDE], None] | None = None,
) -> tuple[MPPDE, dict]:
    r"""Train `model` on trajectories `u` ``[sample, t, x]`` with PDE parameters `theta` ``[sample, p]``.

    :func:`pdesolve.training.train` on :class:`PushforwardTrajectories` (all samples for
    training) with :class:`PushforwardLoss`: each step draws `batch_size` samples and start
    frames and ``r ~ U{0..min(epoch, max_unroll)}`` gradient-free unrolls, and takes an AdamW
    step on $\sqrt{\sum_{b,\ell,x} (\hat u - u)^2}$.

    **Arguments:** `x` node positions, `t` frame times, `graph` (:func:`radius_graph`);
    `epochs`; `iterations_per_epoch` (default ``nt * N / batch_size`` as in the paper:
    every start frame of every sample once per epoch in expectation); `learning_rate`,
    `weight_decay`; `lr_milestones` (epochs; default ``{max_unroll, 5, 10, 15}``) and
    `lr_decay` (the ``milestones`` schedule); `key` (the sampling key, default
    ``PRNGKey(0)``); `checkpoint` (file; written every `checkpoint_every` steps and at the end
    of every epoch), `resume` (continue from it, exactly, if it exists) and `overwrite` (start
    afresh over it; otherwise an existing checkpoint without `resume` is an error); `progress` (tqdm
    bar); `callback(step, record)` after every step; `epoch_callback(epoch, model)` after every
    epoch (1-based; e.g. validation and model selection).

    Returns ``(model, history)`` with per-step ``loss``, ``unroll``, ``lr`` and ``wall_s`` (of
    this call's steps). Raises :class:`~pdesolve.training.NonFiniteLossError` on a NaN/Inf
    loss (the checkpoint then holds the last parameters that gave a finite loss) and
    :class:`~pdesolve.InvalidInputError` for bad data (wrong shapes, NaN, a grid that does not
    match the graph).
    """
    if not isinstance(model, MPPDE):
        raise InvalidInputError(f"model must be an MPPDE, got {type(model).__name__}")
    u = check_trajectories(u, model.window)
    theta = np.asarray(theta)
    if theta.shape != (u.shape[0], model.num_params) or not np.all(np.isfinite(theta)):
        raise InvalidInputError(f"theta must be finite and shaped [{u.shape[0]}, {model.num_params}], got {theta.shape}")
    _check_nodes(u, x, graph)
    t = np.asarray(t, dtype=np.float64)
    if t.shape != (u.shape[1],):
        raise InvalidInputError(f"t has shape {t.shape}; the data have {u.shape[1]} frames")
    if not np.allclose(np.diff(t), model.dt, rtol=1e-6):
        raise InvalidInputError(f"frame spacing {t[1] - t[0]:.6g} differs from the model's dt = {model.dt:.6g}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("checkpoint_every", checkpoint_every)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    if not (learning_rate > 0 and math.isfinite(learning_rate)):
        raise InvalidInputError(f"learning_rate must be positive and finite, got {learning_rate!r}")
    num_samples, num_times, _ = u.shape
    K = model.window
    max_unroll = int(max(0, min(max_unroll, (num_times - 2 * K) // K)))
    batch_size = min(int(batch_size), num_samples)
    if iterations_per_epoch is None:
        iterations_per_epoch = max(1, num_times * num_samples // batch_size)
    milestones = sorted(set([max_unroll, 5, 10, 15] if lr_milestones is None else lr_milestones))
    config = TrainConfig(
        epochs=int(epochs), steps_per_epoch=int(iterations_per_epoch), batch_size=batch_size,
        learning_rate=float(learning_rate), optimizer="adamw", weight_decay=float(weight_decay),
        schedule="milestones", milestones=tuple(int(m) for m in milestones), decay=float(lr_decay),
        window=K, rollout_steps=K * (max_unroll + 1), dtype=str(model.encoder_in.weight.dtype),
        splits=(1.0, 0.0, 0.0), eval_every=0, checkpoint_every=int(checkpoint_every),
    )
    data = PushforwardTrajectories(u, theta, t, x, graph, key=jax.random.PRNGKey(0) if key is None else key)
    history = {"loss": [], "unroll": [], "lr": [], "wall_s": []}

    def on_step(step, record):
        entry = {"loss": record["loss"], "unroll": int(record["unroll"]), "lr": record["learning_rate"],
                 "wall_s": record["wall_s"]}
        for name_, value in entry.items():
            history[name_].append(value)
        if callback is not None:
            callback(step, entry)

    def on_epoch(epoch, record, trained):
        if epoch_callback is not None:
            epoch_callback(epoch, trained)

    resume = bool(resume and checkpoint and os.path.exists(checkpoint))
    result = train(model, data, config, checkpoint=checkpoint, resume=resume, overwrite=overwrite,
                   loss=PushforwardLoss(x, graph), progress=progress, callback=on_epoch, on_step=on_step,
                   evaluate_test=False, figures=False, name="mp-pde")
    return result.model, history


# -- ``pdesolve train mp-pde`` ----------------------------------------------------------------

MP_PDE_DEFAULTS = {"hidden": 128, "layers": 6, "neighbours": 3, "extent": 16.0, "frame_dt": None, "t_final": None}


def _arguments(parser) -> None:
    d = MP_PDE_DEFAULTS
    parser.add_argument("--hidden", type=int, default=d["hidden"], help=f"hidden features ({d['hidden']})")
    parser.add_argument("--layers", type=int, default=d["layers"], help=f"message-passing layers ({d['layers']})")
    parser.add_argument("--neighbours", type=int, default=d["neighbours"],
                        help=f"graph radius in grid spacings ({d['neighbours']})")
    parser.add_argument("--extent", type=float, default=d["extent"], help=f"domain length L ({d['extent']})")
    parser.add_argument("--frame-dt", type=float, default=None,
                        help="time between frames (default: from the dataset's t coordinate)")
    parser.add_argument("--t-final", type=float, default=None,
                        help="time normalisation of the model's time input (default: the last frame's time)")


def _options(options) -> dict:
    return {**MP_PDE_DEFAULTS, **{k: v for k, v in options.items() if k in MP_PDE_DEFAULTS and v is not None}}


def _open_data(path, config, options) -> PushforwardTrajectories:
    o = _options(options)
    neighbours = o["neighbours"]
    if isinstance(neighbours, bool) or int(neighbours) != neighbours or neighbours < 1:
        raise InvalidInputError(f"neighbours must be a positive integer, got {neighbours!r}")
    with TrajectoryData(path, splits=config.splits, time_stride=config.time_stride,
                        first_frame=config.first_frame) as source:
        if source.ndim != 1 or source.num_channels != 1:
            raise InvalidInputError(f"mp-pde trains on 1D single-channel data, got {source.ndim}D data with "
                                    f"{source.num_channels} channels")
        u = source.read(range(source.num_samples))[:, :, 0]
        times = np.asarray(source.times, dtype=np.float64)
    if o["frame_dt"] is not None:
        times = times[0] + o["frame_dt"] * np.arange(len(times))
    n, extent = u.shape[-1], float(o["extent"])
    x = np.arange(n) * extent / n
    graph = radius_graph(x, int(neighbours) * extent / n, extent)
    return PushforwardTrajectories(u, np.zeros((u.shape[0], 0)), times, x, graph, splits=config.splits)


def _build(options, data: PushforwardTrajectories, config, *, key):
    o = _options(options)
    dt = float(data.t[1] - data.t[0])
    if not np.allclose(np.diff(data.t), dt, rtol=1e-6):
        raise InvalidInputError("mp-pde needs equally spaced frames")
    t_final = float(data.t[-1]) if o["t_final"] is None else float(o["t_final"])
    return MPPDE(dt=dt, extent=data.graph.extent, t_final=t_final, window=config.window, hidden=o["hidden"],
                 num_layers=o["layers"], num_params=data.theta.shape[1], key=key)


def _loss(options, data: PushforwardTrajectories, config) -> PushforwardLoss:
    return PushforwardLoss(data.x, data.graph)


#: ``pdesolve train mp-pde``: an :class:`~pdesolve.mp_pde.MPPDE` with `--window` $K$ frames per
#: bundle, trained with the pushforward trick (`--rollout-steps` $= K(1 + R)$ for $R$ unrolls) on
#: the frames of a 1D single-channel HDF5 file (no PDE parameters). The paper's setup::
#:
#:     pdesolve train mp-pde --data E1_train_nx100.h5 --window 25 --rollout-steps 50 \
#:         --optimizer adamw --lr 1e-4 --batch-size 16 --epochs 20
MP_PDE_SPEC = ModelSpec(
    "mp-pde", _build, description="message-passing neural PDE solver (Brandstetter et al. 2022), 1D",
    add_arguments=_arguments, loss=_loss, open_data=_open_data,
    ignores=("residual", "loss", "start"),  # the pushforward loss; bundles start at random frames
)
