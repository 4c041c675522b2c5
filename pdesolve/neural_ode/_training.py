r"""Fitting neural ODEs to trajectories, with optional solver-heuristic regularisation.

Given trajectories $y^{(i)}(t_k)$, each training step draws a batch of samples and a window
start $s$, solves from $y^{(i)}(t_s)$ over the next `window` saved times and minimises

$$
\mathcal{L}(\theta) = \frac{1}{B W}\sum_{i,k} \|\hat y^{(i)}(t_{s+k}) - y^{(i)}(t_{s+k})\|^2 / n
\;+\; \frac1B \sum_i \big(\lambda\,R^{(i)} + \lambda_S\,R_S^{(i)}\big),
$$

where $R$, $R_S$ are the solver-heuristic regularisers (error and stiffness estimates):

- ``"global"`` (Pal et al. 2021, :class:`~pdesolve.neural_ode.ErrorEstimateRecorder`):
  $R = R_E = \sum_j E_j |\Delta t_j|$ and $R_S = \sum_j S_j |\Delta t_j|$ over all
  accepted steps of the solve, differentiated through every step.
- ``"local"`` (Pal, Edelman, Rackauckas 2023, unbiased sampling,
  :meth:`~pdesolve.neural_ode.NeuralODE.solve_with_local_regulariser`): a time $s$ drawn
  uniformly in the window per sample, and $R = E\,h$, $R_S = S\,h$ of one fresh step of
  the controller's initial size $h$ from the (gradient-stopped) solution $y(s)$. Any adjoint
  works.

A non-finite loss stops training with :class:`NonFiniteLossError` naming the step; the last
good parameters are written to the checkpoint file first (when one is given).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._errors import InvalidInputError, NonFiniteLossError
from ..training import load_checkpoint, save_checkpoint
from ._model import NeuralODE, function_evaluations, supports_stiffness_estimate

REGULARISERS = ("none", "global", "local")


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


def fit_neural_ode(
    model: NeuralODE,
    trajectories,
    ts,
    *,
    num_steps: int = 500,
    learning_rate: float = 3e-3,
    batch_size: int = 16,
    window: int | None = None,
    regulariser: str = "none",
    regularisation_weight: float = 0.0,
    stiffness_weight: float = 0.0,
    key=None,
    optimizer: optax.GradientTransformation | None = None,
    checkpoint: str | None = None,
    checkpoint_every: int = 100,
    resume: bool = False,
    progress: bool = False,
    callback: Callable[[int, dict], None] | None = None,
) -> tuple[NeuralODE, dict]:
    r"""Train `model` on `trajectories` ``(samples, times, *state)`` saved at `ts`.

    **Arguments:**

    - `model`: the :class:`~pdesolve.neural_ode.NeuralODE` to train (its vector field's
      inexact arrays are trained; stop gradients inside it to freeze parts).
    - `trajectories`, `ts`: the data.
    - `num_steps`: optimiser steps; `learning_rate`: Adam step size with cosine decay to 10 %
      (ignored when `optimizer` is given).
    - `batch_size`: samples per step (at most the number of samples).
    - `window`: saved times per training window (default: all).
    - `regulariser`: ``"none"``, ``"global"`` or ``"local"`` (see the module docs);
      `regularisation_weight`: $\lambda$ (error estimate); `stiffness_weight`: $\lambda_S$
      (stiffness estimate, explicit first-same-as-last RK solvers only).
    - `key`: PRNG key for batches and windows.
    - `checkpoint`: file for the parameters and optimiser state, written every
      `checkpoint_every` steps and at the end; `resume`: start from it if it exists.
    - `progress`: show a tqdm progress bar; `callback(step, record)` sees each step's record.

    Returns ``(model, history)``; `history` has per-step lists ``loss``, ``data_loss``,
    ``regulariser``, ``stiffness`` (the two regularisers' batch means), ``num_steps`` (mean
    solver steps per sample) and ``wall_s``.

    Raises :class:`NonFiniteLossError` for a NaN/Inf loss (after saving the last good
    checkpoint) and :class:`~pdesolve.InvalidInputError` for bad arguments.
    """
    if not isinstance(model, NeuralODE):
        raise InvalidInputError(f"model must be a NeuralODE, got {type(model).__name__}")
    window = int(jnp.shape(trajectories)[1]) if window is None else window
    trajectories, ts = _check_trajectories(trajectories, ts, window)
    if regulariser not in REGULARISERS:
        raise InvalidInputError(f"regulariser must be one of {', '.join(REGULARISERS)}, got {regulariser!r}")
    if not (math.isfinite(regularisation_weight) and regularisation_weight >= 0):
        raise InvalidInputError(f"regularisation_weight must be non-negative and finite, got {regularisation_weight!r}")
    if not (math.isfinite(stiffness_weight) and stiffness_weight >= 0):
        raise InvalidInputError(f"stiffness_weight must be non-negative and finite, got {stiffness_weight!r}")
    if regulariser == "global" and model.adjoint == "backsolve":
        raise InvalidInputError(
            "the global solver-heuristic regulariser needs the 'recursive-checkpoint' or 'direct' adjoint "
            "(the local one works with any)"
        )
    if regulariser != "none" and not model.adaptive:
        raise InvalidInputError("the solver-heuristic regulariser needs an adaptive NeuralODE (adaptive=True)")
    if stiffness_weight > 0 and (regulariser == "none" or not supports_stiffness_estimate(model.solver)):
        raise InvalidInputError(
            "stiffness_weight needs regulariser='global' or 'local' and an explicit first-same-as-last RK solver "
            f"(e.g. Tsit5), got regulariser={regulariser!r}, solver {type(model.solver).__name__}"
        )
    for name, value in (("num_steps", num_steps), ("batch_size", batch_size), ("checkpoint_every", checkpoint_every)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    if not (learning_rate > 0 and math.isfinite(learning_rate)):
        raise InvalidInputError(f"learning_rate must be positive and finite, got {learning_rate!r}")
    num_samples, num_times = trajectories.shape[:2]
    batch_size = min(int(batch_size), num_samples)
    key = jax.random.PRNGKey(0) if key is None else key
    if optimizer is None:
        schedule = optax.cosine_decay_schedule(learning_rate, num_steps, alpha=0.1)
        optimizer = optax.adam(schedule)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    opt_state = optimizer.init(params)
    start = 0
    if checkpoint and resume and os.path.exists(checkpoint):
        model, opt_state, _, header = load_checkpoint(checkpoint, model=model, opt_state=opt_state, key=None)
        start = int(header["step"])
        params, static = eqx.partition(model, eqx.is_inexact_array)
    dtype = trajectories.dtype
    ts = ts.astype(dtype)

    def sample_loss(params, y_window, t_window, sample_time):
        m = eqx.combine(params, static)
        if regulariser == "global":
            pred, stats = m.solve_with_stats(y_window[0], t_window, throw=False)
            reg, stiff, steps = stats.error_sum, stats.stiffness_sum, stats.num_steps
        elif regulariser == "local":
            pred, reg, stiff, steps = m.solve_with_local_regulariser(y_window[0], t_window, sample_time, throw=False)
        else:
            solution = m.solve(y_window[0], t_window, throw=False)
            pred, steps = solution.ys, solution.stats["num_steps"]
            reg = stiff = jnp.zeros((), dtype)
        mse = jnp.mean((pred - y_window) ** 2)
        return mse, (reg, stiff, steps)

    def batch_loss(params, y_batch, t_window, sample_times):
        mse, (reg, stiff, steps) = jax.vmap(sample_loss, in_axes=(None, 0, None, 0))(params, y_batch, t_window, sample_times)
        data = jnp.mean(mse)
        regular, stiffness = jnp.mean(reg), jnp.mean(stiff)
        loss = data + regularisation_weight * regular + stiffness_weight * stiffness
        return loss, (data, regular, stiffness, jnp.mean(steps.astype(dtype)))

    @eqx.filter_jit
    def train_step(params, opt_state, key):
        k_batch, k_start, k_time = jax.random.split(key, 3)
        idx = jax.random.choice(k_batch, num_samples, (batch_size,), replace=False)
        first = jax.random.randint(k_start, (), 0, num_times - window + 1)
        y_batch = jax.lax.dynamic_slice_in_dim(trajectories[idx], first, window, axis=1)
        t_window = jax.lax.dynamic_slice_in_dim(ts, first, window)
        sample_times = jax.random.uniform(k_time, (batch_size,), dtype, t_window[0], t_window[-1])
        (loss, aux), grads = eqx.filter_value_and_grad(batch_loss, has_aux=True)(params, y_batch, t_window, sample_times)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        return eqx.apply_updates(params, updates), new_opt_state, loss, aux

    history = {"loss": [], "data_loss": [], "regulariser": [], "stiffness": [], "num_steps": [], "wall_s": []}
    last_good = (params, opt_state)
    from tqdm.auto import tqdm

    began = time.perf_counter()
    with tqdm(total=num_steps, initial=start, desc="train neural-ode", disable=not progress, unit="step") as bar:
        for step in range(start, num_steps):
            new_params, new_opt_state, loss, (data, reg, stiff, steps) = train_step(
                params, opt_state, jax.random.fold_in(key, step)
            )
            loss = float(loss)
            if not math.isfinite(loss):
                if checkpoint:
                    save_checkpoint(checkpoint, model=eqx.combine(last_good[0], static), opt_state=last_good[1], key=None,
                                    step=step, epoch=0, metadata={"stopped": "non-finite loss"})
                raise NonFiniteLossError(step + 1, checkpoint)
            last_good = (params, opt_state)  # these parameters gave a finite loss
            params, opt_state = new_params, new_opt_state
            record = {"loss": loss, "data_loss": float(data), "regulariser": float(reg), "stiffness": float(stiff),
                      "num_steps": float(steps), "wall_s": time.perf_counter() - began}
            for name, value in record.items():
                history[name].append(value)
            if callback is not None:
                callback(step + 1, record)
            bar.set_postfix(loss=f"{loss:.3e}", nfe_steps=f"{float(steps):.0f}")
            bar.update(1)
            if checkpoint and ((step + 1) % checkpoint_every == 0 or step + 1 == num_steps):
                save_checkpoint(checkpoint, model=eqx.combine(params, static), opt_state=opt_state, key=None, step=step + 1,
                                epoch=0)
    return eqx.combine(params, static), history


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
