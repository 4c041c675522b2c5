r"""Fitting neural ODEs to trajectories in :func:`pdesolve.training.train`, optionally with a solver-heuristic regulariser.

Given trajectories $y^{(i)}(t_k)$, each training step draws a batch of samples and a window
start $s$ (:class:`TrajectoryWindows`), solves from $y^{(i)}(t_s)$ over the next $W$ saved
times and minimises (:class:`NeuralODELoss`)

$$
\mathcal{L}(\theta) = \frac{1}{B W}\sum_{i,k} \|\hat y^{(i)}(t_{s+k}) - y^{(i)}(t_{s+k})\|^2 / n
\;+\; \frac1B \sum_i \big(\lambda\,R^{(i)} + \lambda_S\,R_S^{(i)}\big),
$$

where $R$, $R_S$ are the error and stiffness estimates of a solver-heuristic regulariser
(:class:`~pdesolve.neural_ode.GlobalErrorRegulariser`,
:class:`~pdesolve.neural_ode.LocalErrorRegulariser`; none by default). :func:`fit_neural_ode`
wraps the three for in-memory trajectories; :data:`~pdesolve.neural_ode.NEURAL_ODE_SPEC`
uses the same for ``pdesolve train neural-ode``.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import InvalidInputError
from ..datasets import check_shard, shard_rows, split_indices
from ..training import AbstractTrainingData, TrainConfig, train
from ._model import NeuralODE, function_evaluations
from ._regularisers import AbstractSolverRegulariser


def _check_trajectories(trajectories, ts, window):
    trajectories = jnp.asarray(trajectories)
    ts = jnp.asarray(ts)
    if trajectories.ndim < 3:
        raise InvalidInputError(
            f"trajectories must be shaped (samples, times, *state), got shape {tuple(trajectories.shape)}"
        )
    if ts.ndim != 1 or ts.shape[0] != trajectories.shape[1]:
        raise InvalidInputError(
            f"ts has shape {tuple(ts.shape)} but trajectories have {trajectories.shape[1]} times"
        )
    if not np.all(np.isfinite(np.asarray(trajectories))):
        raise InvalidInputError("trajectories contain NaN or Inf")
    if isinstance(window, bool) or int(window) != window or not 2 <= window <= trajectories.shape[1]:
        raise InvalidInputError(f"window must be an integer in [2, {trajectories.shape[1]}], got {window!r}")
    return trajectories, ts


class WindowBatch(eqx.Module):
    """A batch of :class:`TrajectoryWindows`: `states` ``[b, W, *state]`` at `times` ``[b, W]``; `sample_times` ``[b]``."""

    states: Array
    times: Float[Array, "b W"]
    sample_times: Float[Array, " b"]


@functools.partial(jax.jit, static_argnums=(3, 4, 5))
def _draw(key, step, ts, batch: int, num: int, window: int):
    """Samples, window start, window times and local-regulariser times of global step `step`."""
    k_batch, k_start, k_time = jax.random.split(jax.random.fold_in(key, step), 3)
    idx = jax.random.choice(k_batch, num, (batch,), replace=False)
    first = jax.random.randint(k_start, (), 0, ts.shape[0] - window + 1)
    t_window = jax.lax.dynamic_slice_in_dim(ts, first, window)
    sample_times = jax.random.uniform(k_time, (batch,), ts.dtype, t_window[0], t_window[-1])
    return idx, first, t_window, sample_times


class TrajectoryWindows(AbstractTrainingData):
    r"""Trajectories $y$ ``(samples, times, *state)`` saved at `ts`, drawn as random windows for ODE-solve losses.

    Training windows span $W$ = `config.rollout_steps` + 1 saved times (`config.window` must
    be 1: an ODE starts from one state). Step $n$ of a run (counted over all epochs) splits
    ``fold_in(key, n)`` into $(\kappa_b, \kappa_s, \kappa_t)$ and draws

    - `batch_size` distinct training samples ``choice(κ_b, N_train, (B,), replace=False)``;
    - one window start $s$ = ``randint(κ_s, (), 0, T - W + 1)``;
    - per sample a time ``uniform(κ_t, (B,), t_s, t_{s+W-1})`` (the local regulariser's),

    all in `config.dtype`, and yields the :class:`WindowBatch` of those windows. Batches depend
    only on the key and the step, so an epoch can be replayed exactly. An epoch is
    `config.steps_per_epoch` steps (default: training samples // batch size).

    **Arguments:** `trajectories`, `ts`; `splits` (train, val, test) fractions
    (:func:`~pdesolve.datasets.split_indices`); `key` (``None``: ``PRNGKey(config.seed)``).
    """

    def __init__(self, trajectories, ts, *, splits: Sequence[float] = (1.0, 0.0, 0.0),
                 key: PRNGKeyArray | None = None):
        trajectories = np.asarray(trajectories)
        ts = np.asarray(ts)
        if trajectories.ndim < 3 or trajectories.dtype.kind != "f":
            raise InvalidInputError(f"trajectories must be real and shaped (samples, times, *state), got shape "
                                    f"{trajectories.shape} and dtype {trajectories.dtype}")
        if ts.ndim != 1 or ts.shape[0] != trajectories.shape[1]:
            raise InvalidInputError(f"ts has shape {ts.shape} but trajectories have {trajectories.shape[1]} times")
        if not np.all(np.isfinite(trajectories)):
            raise InvalidInputError("trajectories contain NaN or Inf")
        if not (np.all(np.isfinite(ts)) and np.all(np.diff(ts) > 0)):
            raise InvalidInputError("ts must be finite and strictly increasing")
        self.trajectories, self.ts = trajectories, ts
        self.splits = tuple(float(f) for f in splits)
        self.indices = split_indices(trajectories.shape[0], self.splits)
        self.key = key

    @property
    def num_times(self) -> int:
        return int(self.trajectories.shape[1])

    def __repr__(self) -> str:
        samples, state = self.trajectories.shape[0], self.trajectories.shape[2:]
        return f"TrajectoryWindows(samples={samples}, times={self.num_times}, state={state})"

    def describe(self) -> dict:
        """The split sizes and the shape of a trajectory (``[t, *state]``)."""
        return {**super().describe(), "sample_shape": [int(n) for n in self.trajectories.shape[1:]]}

    def split_size(self, split: str) -> int:
        if split not in self.indices:
            raise InvalidInputError(f"split must be one of {', '.join(self.indices)}, got {split!r}")
        return len(self.indices[split])

    def check(self, config) -> None:
        """`window` must be 1, `rollout_steps` + 1 times must fit, and a batch must fit in the training split."""
        if config.window != 1:
            raise InvalidInputError(f"a neural ODE starts from one state: window must be 1, got {config.window}")
        if config.rollout_steps + 1 > self.num_times:
            raise InvalidInputError(f"window must be an integer in [2, {self.num_times}], got "
                                    f"{config.rollout_steps + 1} (rollout_steps {config.rollout_steps} + 1)")
        if config.batch_size > self.split_size("train"):
            raise InvalidInputError(f"the training split has {self.split_size('train')} samples, fewer than "
                                    f"batch_size {config.batch_size}")

    def steps_per_epoch(self, config) -> int:
        if config.steps_per_epoch is not None:
            return int(config.steps_per_epoch)
        return max(1, self.split_size("train") // config.batch_size)

    def train_batches(self, config, epoch: int, *, shard=None):
        shard = check_shard(shard)
        key = jax.random.PRNGKey(config.seed) if self.key is None else self.key
        window, per_epoch, train = config.rollout_steps + 1, self.steps_per_epoch(config), self.indices["train"]
        ts = jnp.asarray(self.ts, config.dtype)
        for n in range(epoch * per_epoch, (epoch + 1) * per_epoch):
            idx, first, t_window, sample_times = _draw(key, n, ts, config.batch_size, len(train), window)
            idx, first = train[np.asarray(idx)], int(first)
            batch = WindowBatch(self.trajectories[idx, first : first + window],
                                np.broadcast_to(np.asarray(t_window), (len(idx), window)), np.asarray(sample_times))
            yield batch if shard is None else jax.tree.map(lambda a: shard_rows(a, *shard), batch)

    def evaluate(self, model, split: str, config, *, figures: bool = False, out=None, name: str = "model") -> dict:
        r"""Solve from each trajectory's first state over all of `ts`: ``rollout_rel_l2``, ``num_steps``.

        ``rollout_rel_l2`` is the mean over samples of $\|\hat y - y\|_2 / \|y\|_2$ over the
        predicted times (all but the first) and the state; ``num_steps`` the mean solver steps.
        """
        indices = self.indices[split] if split in self.indices else self.split_size(split)
        if len(indices) == 0:
            raise InvalidInputError(f"the {split} split is empty")
        dtype = np.dtype(config.dtype)
        ts = jnp.asarray(self.ts, dtype)
        rel, steps = 0.0, 0.0
        for k in range(0, len(indices), config.eval_batch_size):
            y = jnp.asarray(self.trajectories[indices[k : k + config.eval_batch_size]], dtype)
            ys, num = _predict(model, y[:, 0], ts)
            b = y.shape[0]
            diff, truth = (ys - y)[:, 1:].reshape(b, -1), y[:, 1:].reshape(b, -1)
            rel += float(jnp.sum(jnp.linalg.norm(diff, axis=1) / jnp.linalg.norm(truth, axis=1)))
            steps += float(jnp.sum(num))
        n = len(indices)
        return {"split": split, "samples": n, "rollout_steps": self.num_times - 1, "rollout_rel_l2": rel / n,
                "num_steps": steps / n}


@eqx.filter_jit
def _predict(model, y0s, ts):
    solution = jax.vmap(lambda y0: model.solve(y0, ts, throw=False))(y0s)
    return solution.ys, solution.stats["num_steps"]


class NeuralODELoss(eqx.Module):
    r"""The windowed ODE-solve loss of the module docstring for :func:`pdesolve.training.train`, optionally regularised.

    ``loss(model, batch, key)`` with a :class:`~pdesolve.neural_ode.NeuralODE` `model` and a
    :class:`WindowBatch` solves each window from its first state (a failed solve gives NaN,
    which stops training) and returns ``(loss, aux)`` with aux ``data_loss`` (the batch mean
    of the data term), ``regulariser`` and ``stiffness`` (batch means of $R$ and $R_S$; 0
    without a regulariser) and ``num_steps`` (mean solver steps).

    **Arguments:**

    - `regulariser`: ``None``, :class:`~pdesolve.neural_ode.GlobalErrorRegulariser` or
      :class:`~pdesolve.neural_ode.LocalErrorRegulariser`.
    - `kind`: the data term per window, ``"mse"`` (the mean of $(\hat y - y)^2$ over the $W$
      times and the state) or ``"relative_l2"`` (the mean over the $W - 1$ predicted times
      $k \ge 1$ of $\|\hat y(t_k) - y(t_k)\|_2 / \|y(t_k)\|_2$).
    """

    regulariser: AbstractSolverRegulariser | None = None
    kind: str = eqx.field(static=True, default="mse")

    def __check_init__(self):
        if self.regulariser is not None and not isinstance(self.regulariser, AbstractSolverRegulariser):
            raise InvalidInputError(
                "regulariser must be None, GlobalErrorRegulariser(weight, stiffness_weight) or "
                f"LocalErrorRegulariser(weight, stiffness_weight), got {self.regulariser!r}"
            )
        if self.kind not in ("mse", "relative_l2"):
            raise InvalidInputError(f"kind must be 'mse' or 'relative_l2', got {self.kind!r}")

    def __call__(self, model: NeuralODE, batch: WindowBatch, key=None):
        regulariser = self.regulariser
        if regulariser is not None:
            regulariser.check(model)
        dtype = batch.times.dtype

        def one(y, ts, sample_time):
            if regulariser is None:
                solution = model.solve(y[0], ts, throw=False)
                pred, steps = solution.ys, solution.stats["num_steps"]
                reg = stiff = jnp.zeros((), dtype)
            else:
                pred, reg, stiff, steps = regulariser.solve(model, y[0], ts, sample_time)
            if self.kind == "mse":
                error = jnp.mean((pred - y) ** 2)
            else:  # the predicted times only: the first is the given state (and sqrt has no gradient at 0)
                axes = tuple(range(1, y.ndim))
                norm = jnp.sqrt(jnp.sum(y[1:] ** 2, axis=axes))
                error = jnp.mean(jnp.sqrt(jnp.sum((pred[1:] - y[1:]) ** 2, axis=axes))
                                 / jnp.maximum(norm, jnp.finfo(dtype).tiny))
            return error, (reg, stiff, steps)

        error, (reg, stiff, steps) = jax.vmap(one)(batch.states, batch.times, batch.sample_times)
        data = jnp.mean(error)
        regular, stiffness = jnp.mean(reg), jnp.mean(stiff)
        if regulariser is None:
            loss = data
        else:
            loss = data + regulariser.weight * regular + regulariser.stiffness_weight * stiffness
        return loss, {"data_loss": data, "regulariser": regular, "stiffness": stiffness,
                      "num_steps": jnp.mean(steps.astype(dtype))}


def fit_neural_ode(
    model: NeuralODE,
    trajectories,
    ts,
    *,
    num_steps: int = 500,
    learning_rate: float = 3e-3,
    batch_size: int = 16,
    window: int | None = None,
    regulariser: AbstractSolverRegulariser | None = None,
    key=None,
    optimizer: optax.GradientTransformation | None = None,
    checkpoint: str | None = None,
    checkpoint_every: int = 100,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    callback: Callable[[int, dict], None] | None = None,
) -> tuple[NeuralODE, dict]:
    r"""Train `model` on `trajectories` ``(samples, times, *state)`` saved at `ts`.

    :func:`pdesolve.training.train` for `num_steps` steps (one epoch) on
    :class:`TrajectoryWindows` (every sample for training) with :class:`NeuralODELoss`.

    **Arguments:**

    - `model`: the :class:`~pdesolve.neural_ode.NeuralODE` to train (its vector field's
      inexact arrays are trained; stop gradients inside it to freeze parts).
    - `trajectories`, `ts`: the data.
    - `num_steps`: optimiser steps; `learning_rate`: Adam step size with cosine decay to 10 %
      (the ``cosine`` schedule with ``final_lr_fraction=0.1``; ignored when `optimizer` is given).
    - `batch_size`: samples per step (at most the number of samples).
    - `window`: saved times per training window (default: all).
    - `regulariser`: ``None``, :class:`~pdesolve.neural_ode.GlobalErrorRegulariser` or
      :class:`~pdesolve.neural_ode.LocalErrorRegulariser` (their `weight` and
      `stiffness_weight` are $\lambda$ and $\lambda_S$).
    - `key`: PRNG key for batches and windows (default ``PRNGKey(0)``).
    - `checkpoint`: file for the parameters and optimiser state, written every
      `checkpoint_every` steps and at the end; `resume`: continue from it (exactly) if it exists;
      `overwrite`: start afresh over it (otherwise an existing checkpoint without `resume` is an error).
    - `progress`: show a tqdm progress bar; `callback(step, record)` sees each step's record.

    Returns ``(model, history)``; `history` has per-step lists ``loss``, ``data_loss``,
    ``regulariser``, ``stiffness`` (the two regularisers' batch means), ``num_steps`` (mean
    solver steps per sample) and ``wall_s``, for this call's steps.

    Raises :class:`~pdesolve.training.NonFiniteLossError` for a NaN/Inf loss (the checkpoint
    then holds the last parameters that gave a finite loss) and
    :class:`~pdesolve.InvalidInputError` for bad arguments.
    """
    if not isinstance(model, NeuralODE):
        raise InvalidInputError(f"model must be a NeuralODE, got {type(model).__name__}")
    window = int(jnp.shape(trajectories)[1]) if window is None else window
    trajectories, ts = _check_trajectories(trajectories, ts, window)
    loss = NeuralODELoss(regulariser)
    if regulariser is not None:
        regulariser.check(model)
    for name, value in (("num_steps", num_steps), ("batch_size", batch_size), ("checkpoint_every", checkpoint_every)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    if not (learning_rate > 0 and math.isfinite(learning_rate)):
        raise InvalidInputError(f"learning_rate must be positive and finite, got {learning_rate!r}")
    config = TrainConfig(
        epochs=1, steps_per_epoch=int(num_steps), batch_size=min(int(batch_size), int(trajectories.shape[0])),
        learning_rate=float(learning_rate), optimizer="adam", schedule="cosine", final_lr_fraction=0.1, window=1,
        rollout_steps=int(window) - 1, dtype=str(trajectories.dtype), splits=(1.0, 0.0, 0.0), eval_every=0,
        checkpoint_every=int(checkpoint_every),
    )
    key = jax.random.PRNGKey(0) if key is None else key
    data = TrajectoryWindows(np.asarray(trajectories), np.asarray(ts), key=key)
    history = {"loss": [], "data_loss": [], "regulariser": [], "stiffness": [], "num_steps": [], "wall_s": []}

    def on_step(step, record):
        entry = {name_: record[name_] for name_ in history}
        for name_, value in entry.items():
            history[name_].append(value)
        if callback is not None:
            callback(step, entry)

    resume = bool(resume and checkpoint and os.path.exists(checkpoint))
    result = train(model, data, config, checkpoint=checkpoint, resume=resume, overwrite=overwrite, loss=loss,
                   optimizer=optimizer, progress=progress, on_step=on_step, evaluate_test=False, figures=False,
                   name="neural-ode")
    return result.model, history


def evaluate_rollouts(model: NeuralODE, trajectories, ts, *, repeats: int = 3) -> dict:
    r"""Roll `model` out from each trajectory's first state over all of `ts` and score it.

    Returns a dict with ``relative_l2`` (mean over samples of
    $\|\hat y - y\|_2 / \|y\|_2$ over the whole trajectory), ``relative_l2_per_time`` (list,
    mean over samples at each time), ``num_steps`` (mean solver steps per sample),
    ``nfe`` (mean vector-field evaluations, :func:`function_evaluations`), ``predict_s``
    (best-of-`repeats` wall time of the batched prediction after compilation) and
    ``predictions`` (numpy array shaped like `trajectories`).
    """
    trajectories, ts = _check_trajectories(trajectories, ts, int(jnp.shape(trajectories)[1]))
    ts = ts.astype(trajectories.dtype)

    @eqx.filter_jit
    def predict(model, y0s):
        solution = jax.vmap(lambda y0: model.solve(y0, ts))(y0s)
        return solution.ys, solution.stats["num_steps"]

    y0s = trajectories[:, 0]
    jax.block_until_ready(predict(model, y0s))
    best = float("inf")
    for _ in range(max(1, repeats)):
        began = time.perf_counter()
        ys, steps = jax.block_until_ready(predict(model, y0s))
        best = min(best, time.perf_counter() - began)
    axes = tuple(range(2, trajectories.ndim))
    err_t = jnp.sqrt(jnp.sum((ys - trajectories) ** 2, axis=axes)) / jnp.maximum(
        jnp.sqrt(jnp.sum(trajectories**2, axis=axes)), 1e-30
    )
    total = jnp.sqrt(jnp.sum((ys - trajectories) ** 2, axis=(1,) + axes)) / jnp.sqrt(
        jnp.sum(trajectories**2, axis=(1,) + axes)
    )
    mean_steps = float(np.mean(np.asarray(steps)))
    try:
        nfe = float(jnp.mean(function_evaluations(model.solver, steps)))
    except InvalidInputError:
        nfe = None
    return {
        "relative_l2": float(jnp.mean(total)),
        "relative_l2_per_time": [float(v) for v in jnp.mean(err_t, axis=0)],
        "num_steps": mean_steps,
        "nfe": nfe,
        "predict_s": best,
        "predictions": np.asarray(ys),
    }
