"""Evaluation of a trained window-to-frame model: rollout and one-step errors on one split."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from .._errors import InvalidInputError
from ._steps import batched_rollout, one_step_all_windows


def evaluate(model, data, split: str, config, *, figures: bool = False, out=None, name: str = "model") -> dict:
    r"""Errors of `model` on `split` of `data` (a :class:`~pdesolve.training.TrajectoryData`).

    Every trajectory of the split gives its first `config.window` frames as input; the model is
    rolled out autoregressively for `config.eval_rollout_steps` frames (default: to the last
    frame). Returned keys:

    - ``rollout_rel_l2``: mean over samples of the relative $L^2$ error of the whole predicted
      trajectory (time, channels, space together) — the FNO paper's convention
      (:func:`~pdesolve.metrics.mean_relative_l2`).
    - ``rollout_nrmse_pdebench``, ``rollout_nrmse_exponax``: :func:`~pdesolve.metrics.nrmse`
      of the rollout in each convention.
    - ``one_step_rel_l2``: teacher-forced one-step error: every frame after the first window is
      predicted from the `window` true frames before it; the per-frame relative $L^2$ error is
      averaged over frames and samples.
    - ``rollout_rel_l2_per_step``: per-step relative $L^2$ error averaged over samples.
    - ``samples``, ``window``, ``rollout_steps``, ``split``.
    """
    n = data.split_size(split)
    if n == 0:
        raise InvalidInputError(f"the {split} split is empty")
    full = data.num_times - config.window
    horizon = full if config.eval_rollout_steps is None else min(int(config.eval_rollout_steps), full)
    if horizon < 1:
        raise InvalidInputError(f"trajectories of {data.num_times} frames leave nothing to predict after {config.window}")
    dtype = np.dtype(config.dtype)
    sums = {"rel": 0.0, "pdebench": 0.0, "exponax": 0.0, "one_step": 0.0}
    per_step = np.zeros(horizon)
    example = None
    for inputs, targets in data.batches(split, config.eval_batch_size, window=config.window, horizon=full,
                                        shuffle=False, start="first"):
        inputs = jnp.asarray(inputs, dtype)
        targets = jnp.asarray(targets, dtype)
        b = inputs.shape[0]
        predictions = batched_rollout(model, inputs, horizon, bool(config.residual))
        truth = targets[:, :horizon]
        diff = predictions - truth
        axes_all = tuple(range(1, truth.ndim))
        rel = jnp.sqrt(jnp.sum(diff**2, axis=axes_all)) / jnp.sqrt(jnp.sum(truth**2, axis=axes_all))
        sums["rel"] += float(jnp.sum(rel))
        space = tuple(range(3, truth.ndim))
        ratio = jnp.sqrt(jnp.mean(diff**2, axis=space)) / jnp.sqrt(jnp.mean(truth**2, axis=space))
        sums["pdebench"] += float(jnp.sum(jnp.mean(ratio, axis=(1, 2))))
        state = tuple(range(2, truth.ndim))
        ratio_state = jnp.sqrt(jnp.mean(diff**2, axis=state)) / jnp.sqrt(jnp.mean(truth**2, axis=state))
        sums["exponax"] += float(jnp.sum(jnp.mean(ratio_state, axis=1)))
        frame_rel = jnp.sqrt(jnp.sum(diff**2, axis=state)) / jnp.sqrt(jnp.sum(truth**2, axis=state))
        per_step += np.asarray(jnp.sum(frame_rel, axis=0))
        trajectories = jnp.concatenate([inputs, targets], axis=1)
        one = one_step_all_windows(model, trajectories, config.window, bool(config.residual))
        one_diff = one - targets
        one_rel = jnp.sqrt(jnp.sum(one_diff**2, axis=state)) / jnp.sqrt(jnp.sum(targets**2, axis=state))
        sums["one_step"] += float(jnp.sum(jnp.mean(one_rel, axis=1)))
        if example is None:
            example = (np.asarray(inputs[0]), np.asarray(truth[0]), np.asarray(predictions[0]))
    metrics = {
        "split": split,
        "samples": n,
        "window": config.window,
        "rollout_steps": horizon,
        "rollout_rel_l2": sums["rel"] / n,
        "rollout_nrmse_pdebench": sums["pdebench"] / n,
        "rollout_nrmse_exponax": sums["exponax"] / n,
        "one_step_rel_l2": sums["one_step"] / n,
        "rollout_rel_l2_per_step": (per_step / n).tolist(),
    }
    if figures and out is not None and example is not None:
        from ._figures import plot_prediction

        times = data.times[config.window : config.window + horizon]
        plot_prediction(example[1], example[2], times, Path(out) / "prediction.png",
                        title=f"{name}: sample 0 of the {split} split")
    return metrics
