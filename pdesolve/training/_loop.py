"""The generic training loop: optimizer + schedule, checkpoints, exact resume, NaN stop, data parallel."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import optim
from .._errors import InvalidInputError
from .._errors import NonFiniteLossError
from ._checkpoint import load_checkpoint, read_checkpoint_header, save_checkpoint
from ._data import STARTS, TrajectoryData
from ._evaluate import evaluate
from ._steps import make_rollout_loss

SCHEDULES = ("constant", "step", "cosine", "warmup-cosine")
CHECKPOINT = "checkpoint.eqx"
# Config fields that must match when resuming (the others, e.g. epochs, may change).
_RESUME_FIXED = ("batch_size", "learning_rate", "optimizer", "weight_decay", "schedule", "step_epochs", "decay",
                 "window", "rollout_steps", "start", "seed", "dtype", "residual", "loss", "clip_norm", "splits",
                 "time_stride", "first_frame")


@dataclass
class TrainConfig:
    """Settings of a training run (all JSON-serialisable; stored in the checkpoint).

    **Attributes:**

    - `epochs`, `batch_size`: passes over the training split, samples per step. Each epoch
      uses ``floor(train samples / batch_size)`` full batches.
    - `learning_rate`, `optimizer`: the peak rate and a name from :mod:`pdesolve.optim`
      (``adam``, ``adamw``, ``sgd``, ``lion``, ``diffgrad``, ...; anything called as
      ``optimizer(learning_rate)``).
    - `weight_decay`: for ``adam``/``sgd`` an L2 term added to the gradient (PyTorch ``Adam``'s
      ``weight_decay``, used by the FNO paper); for ``adamw`` its decoupled decay.
    - `schedule`: ``constant``; ``step`` (multiply by `decay` every `step_epochs` epochs: the
      FNO paper halves every 100 of 500); ``cosine`` (to 0 over the run); ``warmup-cosine``
      (linear warm-up over the first epoch, then cosine).
    - `window`: input frames; `rollout_steps`: predicted frames per training sample (1 =
      one-step training; more = autoregressive rollout training with backpropagation through
      time); `eval_rollout_steps`: rollout length for evaluation (``None``: to the last frame).
    - `start`: ``first`` (windows start at frame 0) or ``random`` (a random start per sample).
    - `residual`: predict the increment $u_{n+1} - u_n$.
    - `loss`: ``relative_l2`` or ``mse`` (default loss only).
    - `clip_norm`: global gradient-norm clipping (``None``: off).
    - `seed`: initialisation, shuffling and step keys.
    - `dtype`: ``float32`` or ``float64`` parameters and data.
    - `devices`: data-parallel devices (batch sharded over a 1D mesh, parameters replicated).
    - `splits`, `time_stride`, `first_frame`: how the data was opened (see :class:`TrajectoryData`;
      recorded, and checked on resume).
    - `eval_every`: evaluate the validation split every this many epochs (0: never).
    - `eval_batch_size`: samples per evaluation batch.
    """

    epochs: int = 10
    batch_size: int = 20
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "constant"
    step_epochs: int = 100
    decay: float = 0.5
    window: int = 1
    rollout_steps: int = 1
    eval_rollout_steps: int | None = None
    start: str = "random"
    residual: bool = False
    loss: str = "relative_l2"
    clip_norm: float | None = None
    seed: int = 0
    dtype: str = "float32"
    devices: int = 1
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1)
    time_stride: int = 1
    first_frame: int = 0
    eval_every: int = 1
    eval_batch_size: int = 32

    def validate(self) -> None:
        """Raise :class:`~pdesolve.InvalidInputError` naming the first bad field."""
        for name in ("epochs", "batch_size", "window", "rollout_steps", "step_epochs", "devices", "time_stride",
                     "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < (0 if name == "epochs" else 1):
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise InvalidInputError(f"learning_rate must be positive and finite, got {self.learning_rate!r}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise InvalidInputError(f"weight_decay must be non-negative, got {self.weight_decay!r}")
        if self.schedule not in SCHEDULES:
            raise InvalidInputError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not 0 < self.decay <= 1:
            raise InvalidInputError(f"decay must be in (0, 1], got {self.decay!r}")
        if self.start not in STARTS:
            raise InvalidInputError(f"start must be one of {', '.join(STARTS)}, got {self.start!r}")
        if self.dtype not in ("float32", "float64"):
            raise InvalidInputError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if self.loss not in ("relative_l2", "mse"):
            raise InvalidInputError(f"loss must be relative_l2 or mse, got {self.loss!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise InvalidInputError(f"clip_norm must be positive, got {self.clip_norm!r}")
        if self.eval_rollout_steps is not None and self.eval_rollout_steps < 1:
            raise InvalidInputError(f"eval_rollout_steps must be positive, got {self.eval_rollout_steps!r}")
        if self.devices > len(jax.devices()):
            raise InvalidInputError(f"devices = {self.devices} but only {len(jax.devices())} JAX devices are visible")
        if self.batch_size % self.devices:
            raise InvalidInputError(f"batch_size {self.batch_size} must be divisible by devices = {self.devices}")
        if not callable(getattr(optim, self.optimizer, None)):
            raise InvalidInputError(f"unknown optimizer {self.optimizer!r} (not in pdesolve.optim)")

    def to_dict(self) -> dict:
        """The config as a JSON-ready dict."""
        d = dataclasses.asdict(self)
        d["splits"] = list(d["splits"])
        return d


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained `model`, per-epoch `history`, final `metrics` (test split), `out`."""

    model: Any
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    out: Path | None = None
    step: int = 0


def make_schedule(config: TrainConfig, steps_per_epoch: int):
    """The optax learning-rate schedule of `config` (a function of the step count)."""
    import optax

    lr, total = config.learning_rate, max(1, config.epochs * steps_per_epoch)
    if config.schedule == "constant":
        return optax.constant_schedule(lr)
    if config.schedule == "step":
        return optax.exponential_decay(lr, transition_steps=config.step_epochs * steps_per_epoch,
                                       decay_rate=config.decay, staircase=True)
    if config.schedule == "cosine":
        return optax.cosine_decay_schedule(lr, total)
    return optax.warmup_cosine_decay_schedule(0.0, lr, min(steps_per_epoch, total - 1) or 1, total)


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    """The optax-compatible optimizer of `config`: weight decay, clipping and the schedule included."""
    import optax

    schedule = make_schedule(config, steps_per_epoch)
    factory = getattr(optim, config.optimizer)
    parts = []
    if config.clip_norm is not None:
        parts.append(optax.clip_by_global_norm(config.clip_norm))
    if config.optimizer == "adamw":
        parts.append(factory(schedule, weight_decay=config.weight_decay))
    else:
        if config.weight_decay:
            parts.append(optax.add_decayed_weights(config.weight_decay))
        parts.append(factory(schedule))
    return optax.chain(*parts), schedule


def cast_model(model, dtype: str):
    """Cast the floating (and complex) array leaves of `model` to `dtype` (complex: its complex twin)."""
    real = jnp.dtype(dtype)
    complex_ = jnp.complex64 if real == jnp.float32 else jnp.complex128

    def cast(x):
        if eqx.is_inexact_array(x):
            return x.astype(complex_ if jnp.iscomplexobj(x) else real)
        return x

    return jax.tree.map(cast, model)


def descent_gradients(grads):
    r"""Conjugate the gradients of complex parameters so optax steps go downhill.

    For a real loss $L$ of $z = x + iy$, ``jax.grad`` returns $\partial_x L - i\,\partial_y L$
    (the conjugate of the steepest-ascent direction $\partial_x L + i\,\partial_y L$), while
    optax updates assume the latter. The FNO's spectral weights are complex, so without this
    conjugation their imaginary parts climb the loss.
    """
    return jax.tree.map(lambda g: jnp.conj(g) if g is not None and jnp.iscomplexobj(g) else g, grads)


def _mesh_shardings(devices: int):
    """Batch and replicated shardings over the first `devices` devices (all, across processes).

    In a multi-process run (``jax.distributed``) the mesh spans every process's devices, and
    `devices` must equal the global device count.
    """
    if jax.process_count() > 1:
        if devices not in (1, jax.device_count()):
            raise InvalidInputError(
                f"devices = {devices}, but a {jax.process_count()}-process run trains on all "
                f"{jax.device_count()} devices of the global mesh"
            )
        devices = jax.device_count()
    if devices == 1:
        return None, None
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(jax.devices()[:devices]), ("batch",))
    return NamedSharding(mesh, PartitionSpec("batch")), NamedSharding(mesh, PartitionSpec())


def _place(tree, sharding):
    """Put host-side leaves of `tree` onto `sharding`, each process supplying only its own shards.

    Every process holds the same global values (the replicated model and optimizer state), so
    each one fills its addressable shards by slicing; no cross-process transfer or equality check
    is needed. In one process this is ``jax.device_put``.
    """
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def leaf(x):
        if not eqx.is_array(x):
            return x
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(leaf, tree)


def _place_local_rows(tree, sharding):
    """Assemble global batch arrays from each process's own rows (``shard`` reads).

    Process ``p`` holds rows ``p * b // P`` to ``(p + 1) * b // P`` of every global batch (the
    rows its devices own on the ``"batch"`` mesh axis), so no process reads or sends another's
    samples.
    """
    def leaf(x):
        if not eqx.is_array(x):
            return x
        local = np.asarray(x)
        global_shape = (local.shape[0] * jax.process_count(),) + local.shape[1:]
        return jax.make_array_from_process_local_data(sharding, local, global_shape)

    return jax.tree.map(leaf, tree)


def _local(tree):
    """This process's copy of replicated arrays (for evaluation and saving on one host)."""
    if jax.process_count() == 1:
        return tree
    return jax.tree.map(lambda x: x.addressable_data(0) if isinstance(x, jax.Array) else x, tree)


def train(
    model,
    data: TrajectoryData,
    config: TrainConfig,
    *,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    loss: Callable | None = None,
    progress: bool = True,
    callback: Callable[[int, dict, Any], None] | None = None,
    evaluate_test: bool = True,
    figures: bool = True,
    name: str = "model",
) -> TrainResult:
    """Train `model` on the windows of `data` and evaluate it.

    **Arguments:**

    - `model`: an Equinox module mapping ``(window * c, *space)`` to ``(c, *space)`` (see
      :func:`~pdesolve.training.predict_next`); any model, if `loss` is given.
    - `data`: a :class:`TrajectoryData` (numpy array or HDF5 file).
    - `config`: a :class:`TrainConfig`.
    - `out`: the run folder: ``checkpoint.eqx`` (after every epoch), ``history.json``,
      ``metrics.json``, ``config.json``, ``loss.png``, ``prediction.png``. ``None``: nothing
      is written (and `resume` is impossible).
    - `resume`: continue from ``out/checkpoint.eqx``. The data order of epoch ``e`` depends
      only on ``(seed, e)`` and the step keys are carried in the checkpoint, so a resumed run
      ends with the same parameters as an uninterrupted one.
    - `loss`: ``loss(model, batch, key) -> scalar`` with ``batch = (inputs [b, window, c,
      *space], targets [b, rollout_steps, c, *space])``; default
      :func:`~pdesolve.training.make_rollout_loss`.
    - `progress`: tqdm progress bar with the live loss.
    - `callback`: ``callback(epoch, record, model)`` after each epoch's checkpoint (raise in it
      to stop the run).
    - `evaluate_test`: evaluate the test split at the end (``metrics.json``).

    Raises :class:`~pdesolve.training.NonFiniteLossError` naming the step when the
    loss becomes NaN/Inf (the checkpoint of the last completed epoch is kept), and
    :class:`~pdesolve.InvalidInputError` for a bad config or a mismatched checkpoint.
    """
    from tqdm.auto import tqdm

    config.validate()
    for name_ in ("splits", "time_stride", "first_frame"):
        if tuple(np.atleast_1d(getattr(data, name_))) != tuple(np.atleast_1d(getattr(config, name_))):
            raise InvalidInputError(f"data was opened with {name_} = {getattr(data, name_)!r} but config.{name_} = "
                                    f"{getattr(config, name_)!r}")
    data.check_window(config.window, config.rollout_steps)
    train_size = data.split_size("train")
    steps_per_epoch = train_size // config.batch_size
    if steps_per_epoch < 1:
        raise InvalidInputError(f"the training split has {train_size} samples, fewer than batch_size {config.batch_size}")
    out = None if out is None else Path(out)
    if resume and out is None:
        raise InvalidInputError("resume needs a run folder (out)")
    loss_fn = loss if loss is not None else _default_loss(bool(config.residual), config.loss)
    optimizer, schedule = _cached_optimizer(json.dumps(config.to_dict(), sort_keys=True), steps_per_epoch)
    model = cast_model(model, config.dtype)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)
    step, start_epoch, history = 0, 0, []
    checkpoint = None if out is None else out / CHECKPOINT
    if resume:
        header = read_checkpoint_header(checkpoint)
        stored = header.get("config", {})
        for name_ in _RESUME_FIXED:
            mine = config.to_dict()[name_]
            if name_ in stored and stored[name_] != mine:
                raise InvalidInputError(f"cannot resume {checkpoint}: {name_} was {stored[name_]!r}, now {mine!r}")
        model, opt_state, key, header = load_checkpoint(checkpoint, model=model, opt_state=opt_state, key=key)
        step, start_epoch, history = int(header["step"]), int(header["epoch"]), list(header.get("history", []))
    # Only process 0 writes the run folder (one checkpoint writer); all processes train.
    writes = out is not None and jax.process_index() == 0
    if writes:
        out.mkdir(parents=True, exist_ok=True)
        _write_json(out / "config.json", {"model": name, **config.to_dict()})

    batch_sharding, replicated = _mesh_shardings(config.devices)
    if replicated is not None:
        model, opt_state = _place((model, opt_state), replicated)
    # Across processes each one reads only its rows of every global batch.
    shard = (jax.process_index(), jax.process_count()) if jax.process_count() > 1 else None
    if shard is not None and config.batch_size % jax.process_count():
        raise InvalidInputError(f"batch_size {config.batch_size} must be divisible by the {jax.process_count()} "
                                "processes of a data-parallel run")

    dtype = np.dtype(config.dtype)
    bar = tqdm(total=config.epochs * steps_per_epoch, initial=min(step, config.epochs * steps_per_epoch),
               desc=f"train {name}", unit="step", disable=not progress, dynamic_ncols=True)
    try:
        for epoch in range(start_epoch, config.epochs):
            started = time.perf_counter()
            losses = []
            batches = data.batches("train", config.batch_size, window=config.window, horizon=config.rollout_steps,
                                   epoch=epoch, seed=config.seed, shuffle=True, drop_last=True, start=config.start,
                                   shard=shard)
            for inputs, targets in batches:
                if shard is not None:
                    batch = _place_local_rows((inputs.astype(dtype), targets.astype(dtype)), batch_sharding)
                else:
                    batch = (jnp.asarray(inputs, dtype), jnp.asarray(targets, dtype))
                    if batch_sharding is not None:
                        batch = _place(batch, batch_sharding)
                key, step_key = jax.random.split(key)
                new_model, new_opt_state, value = _train_step(model, opt_state, batch, step_key, loss_fn, optimizer)
                value = float(value)
                if not math.isfinite(value):
                    kept = str(checkpoint) if checkpoint is not None and checkpoint.exists() else None
                    raise NonFiniteLossError(step + 1, kept)
                model, opt_state = new_model, new_opt_state
                step += 1
                losses.append(value)
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{value:.4g}")
            record = {"epoch": epoch + 1, "step": step, "train_loss": float(np.mean(losses)),
                      "learning_rate": float(schedule(step - 1)), "seconds": time.perf_counter() - started}
            if config.eval_every and (epoch + 1) % config.eval_every == 0 and data.split_size("val"):
                val = evaluate(_local(model), data, "val", config, figures=False)
                record["val_rollout_rel_l2"] = val["rollout_rel_l2"]
                record["val_one_step_rel_l2"] = val["one_step_rel_l2"]
                bar.set_postfix(epoch=epoch + 1, loss=f"{record['train_loss']:.4g}",
                                val=f"{val['rollout_rel_l2']:.4g}")
            history.append(record)
            if writes:
                save_checkpoint(checkpoint, model=_local(model), opt_state=_local(opt_state), key=key, step=step,
                                epoch=epoch + 1,
                                metadata={"history": history, "config": config.to_dict(), "model": name})
                _write_json(out / "history.json", history)
            if callback is not None:
                callback(epoch + 1, record, model)
    finally:
        bar.close()

    model = _local(model)
    result = TrainResult(model=model, history=history, out=out, step=step)
    if writes and figures and history:
        from ._figures import plot_loss_curve

        plot_loss_curve(history, out / "loss.png", title=f"{name} training")
    if evaluate_test and data.split_size("test"):
        metrics = evaluate(model, data, "test", config, figures=figures and writes, out=out, name=name)
        metrics.update({"model": name, "epochs": config.epochs, "steps": step,
                        "final_train_loss": history[-1]["train_loss"] if history else None})
        result.metrics = metrics
        if writes:
            _write_json(out / "metrics.json", metrics)
    return result


@eqx.filter_jit
def _train_step(model, opt_state, batch, key, loss_fn, optimizer):
    """One optimizer step; `loss_fn` and `optimizer` are static (cached objects, so runs share compilations)."""
    value, grads = eqx.filter_value_and_grad(loss_fn)(model, batch, key)
    grads = descent_gradients(grads)
    params = eqx.filter(model, eqx.is_inexact_array)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return eqx.apply_updates(model, updates), opt_state, value


@functools.lru_cache(maxsize=32)
def _default_loss(residual: bool, kind: str):
    return make_rollout_loss(residual=residual, kind=kind)


@functools.lru_cache(maxsize=32)
def _cached_optimizer(config_json: str, steps_per_epoch: int):
    config = json.loads(config_json)
    config["splits"] = tuple(config["splits"])
    return make_optimizer(TrainConfig(**config), steps_per_epoch)


def _write_json(path: Path, payload) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float))
    os.replace(tmp, path)
