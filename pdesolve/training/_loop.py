"""The training loop: optimizer + schedule, checkpoints, exact resume, NaN stop, data parallelism."""

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
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import optim
from .._errors import InvalidInputError
from .._errors import NonFiniteLossError
from ._checkpoint import load_checkpoint, read_checkpoint_header, save_checkpoint
from ._data import STARTS, AbstractTrainingData
from ._steps import make_rollout_loss

SCHEDULES = ("constant", "step", "milestones", "cosine", "warmup-cosine")
CHECKPOINT = "checkpoint.eqx"
# Config fields that must match when resuming (the others, e.g. epochs, may change).
_RESUME_FIXED = ("batch_size", "learning_rate", "optimizer", "weight_decay", "schedule", "step_epochs", "decay",
                 "milestones", "final_lr_fraction", "window", "rollout_steps", "start", "seed", "dtype", "residual",
                 "loss", "clip_norm", "splits", "time_stride", "first_frame", "steps_per_epoch")


@dataclass
class TrainConfig:
    """Settings of a training run (all JSON-serialisable; stored in the checkpoint).

    **Attributes:**

    - `epochs`, `batch_size`: epochs and samples per step. An epoch is
      ``data.steps_per_epoch(config)`` steps: for :class:`TrajectoryData` ``floor(train samples /
      batch_size)`` full batches; data sources that draw samples at random define their own.
    - `steps_per_epoch`: override the data's epoch length (``None``: the data's default).
    - `learning_rate`, `optimizer`: the peak rate and a name from :mod:`pdesolve.optim`
      (``adam``, ``adamw``, ``sgd``, ``lion``, ``diffgrad``, ...; anything called as
      ``optimizer(learning_rate)``).
    - `weight_decay`: for ``adam``/``sgd`` an L2 term added to the gradient (PyTorch ``Adam``'s
      ``weight_decay``, used by the FNO paper); for ``adamw`` its decoupled decay.
    - `schedule`: ``constant``; ``step`` (multiply by `decay` every `step_epochs` epochs: the
      FNO paper halves every 100 of 500); ``milestones`` (multiply by `decay` at the start of
      each epoch in `milestones`: MP-PDE's drops); ``cosine`` (from the peak down to
      `final_lr_fraction` of it over the run); ``warmup-cosine`` (linear warm-up over the
      first epoch, then cosine down to `final_lr_fraction`).
    - `window`: input frames; `rollout_steps`: predicted frames per training sample (1 =
      one-step training; more = autoregressive rollout training with backpropagation through
      time); `eval_rollout_steps`: rollout length for evaluation (``None``: to the last frame).
    - `start`: ``first`` (windows start at frame 0) or ``random`` (a random start per sample).
    - `residual`: predict the increment $u_{n+1} - u_n$.
    - `loss`: ``relative_l2`` or ``mse`` (the default loss, and models whose loss honours it).
    - `clip_norm`: global gradient-norm clipping (``None``: off).
    - `seed`: initialisation, shuffling and step keys.
    - `dtype`: ``float32`` or ``float64`` parameters and data.
    - `devices`: data-parallel devices (batch sharded over a 1D mesh, parameters replicated).
    - `splits`, `time_stride`, `first_frame`: how the data was opened (see :class:`TrajectoryData`;
      recorded, and checked on resume).
    - `eval_every`: evaluate the validation split every this many epochs (0: never).
    - `eval_batch_size`: samples per evaluation batch.
    - `checkpoint_every`: also write the checkpoint every this many steps (``None``: only at
      the end of each epoch).
    """

    epochs: int = 10
    batch_size: int = 20
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "constant"
    step_epochs: int = 100
    decay: float = 0.5
    milestones: tuple[int, ...] = ()
    final_lr_fraction: float = 0.0
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
    steps_per_epoch: int | None = None
    checkpoint_every: int | None = None

    def validate(self) -> None:
        """Raise :class:`~pdesolve.InvalidInputError` naming the first bad field."""
        for name in ("epochs", "batch_size", "window", "rollout_steps", "step_epochs", "devices", "time_stride",
                     "eval_batch_size", "steps_per_epoch", "checkpoint_every", "eval_every"):
            value = getattr(self, name)
            if value is None and name in ("steps_per_epoch", "checkpoint_every"):
                continue
            zero_allowed = name in ("epochs", "eval_every")  # 0 epochs: evaluate only; eval_every 0: never
            if isinstance(value, bool) or int(value) != value or value < (0 if zero_allowed else 1):
                kind = "a non-negative" if zero_allowed else "a positive"
                raise InvalidInputError(f"{name} must be {kind} integer, got {value!r}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise InvalidInputError(f"learning_rate must be positive and finite, got {self.learning_rate!r}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise InvalidInputError(f"weight_decay must be non-negative, got {self.weight_decay!r}")
        if self.schedule not in SCHEDULES:
            raise InvalidInputError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not 0 < self.decay <= 1:
            raise InvalidInputError(f"decay must be in (0, 1], got {self.decay!r}")
        if any(isinstance(m, bool) or int(m) != m or m < 0 for m in self.milestones):
            raise InvalidInputError(f"milestones must be non-negative epoch numbers, got {self.milestones!r}")
        if not 0 <= self.final_lr_fraction <= 1:
            raise InvalidInputError(f"final_lr_fraction must be in [0, 1], got {self.final_lr_fraction!r}")
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
        d["milestones"] = list(d["milestones"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The config of :meth:`to_dict` (unknown keys are an error)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InvalidInputError(f"unknown TrainConfig field {unknown[0]!r}")
        d = dict(d)
        for name in ("splits", "milestones"):
            if name in d:
                d[name] = tuple(d[name])
        return cls(**d)


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained `model`, per-epoch `history`, final `metrics` (test split), `out`, `step`."""

    model: Any
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    out: Path | None = None
    step: int = 0


def make_schedule(config: TrainConfig, steps_per_epoch: int):
    r"""The optax learning-rate schedule of `config` (a function of the step count).

    With peak rate $\eta$, $S$ steps per epoch and $N = $ `epochs` $\cdot S$ steps in all:
    ``constant`` $\eta$; ``step`` $\eta\, d^{\lfloor n / (S\, \text{step\_epochs}) \rfloor}$;
    ``milestones`` $\eta\, d^{\#\{m \in M:\ 0 < m < \text{epochs},\ mS \le n\}}$;
    ``cosine`` $\eta\,(f + (1 - f)\tfrac12(1 + \cos(\pi \min(n, N)/N)))$ with $f$ =
    `final_lr_fraction`; ``warmup-cosine`` a linear ramp from 0 over the first epoch, then the
    cosine from $\eta$ to $f\eta$.
    """
    import optax

    lr, total = config.learning_rate, max(1, config.epochs * steps_per_epoch)
    if config.schedule == "constant":
        return optax.constant_schedule(lr)
    if config.schedule == "step":
        return optax.exponential_decay(lr, transition_steps=config.step_epochs * steps_per_epoch,
                                       decay_rate=config.decay, staircase=True)
    if config.schedule == "milestones":
        drops = sorted(set(int(m) for m in config.milestones))
        return optax.piecewise_constant_schedule(
            lr, {m * steps_per_epoch: config.decay for m in drops if 0 < m < config.epochs})
    if config.schedule == "cosine":
        return optax.cosine_decay_schedule(lr, total, alpha=config.final_lr_fraction)
    return optax.warmup_cosine_decay_schedule(0.0, lr, min(steps_per_epoch, total - 1) or 1, total,
                                              end_value=config.final_lr_fraction * lr)


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    """The optax-compatible optimizer of `config` and its schedule: weight decay, clipping and the schedule included."""
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


def _finite(batch) -> bool:
    """Whether every floating array of a (host) batch is finite; checked only after a NaN loss."""
    arrays = (np.asarray(leaf) for leaf in jax.tree.leaves(batch))
    return all(np.isfinite(a).all() for a in arrays if np.issubdtype(a.dtype, np.inexact))


def _in_the_way(checkpoint: Path) -> str:
    try:
        header = read_checkpoint_header(checkpoint)
        what = f"the checkpoint of an earlier run ({header.get('model', 'model')}, step {header.get('step', '?')})"
    except InvalidInputError:
        what = "a file that is not a pdesolve checkpoint"
    return (f"{checkpoint}: {what} is in the way; resume it (resume=True, --resume) or start afresh over it "
            "(overwrite=True, --overwrite)")


def train(
    model,
    data: AbstractTrainingData,
    config: TrainConfig,
    *,
    out: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    loss: Callable | None = None,
    optimizer=None,
    progress: bool = True,
    callback: Callable[[int, dict, Any], None] | None = None,
    on_step: Callable[[int, dict], None] | None = None,
    evaluate_test: bool = True,
    figures: bool = True,
    name: str = "model",
) -> TrainResult:
    r"""Train `model` on the batches of `data` and evaluate it: the one training loop of pdesolve.

    Each step $n = 1, 2, \dots$ takes the next batch $b_n$ of ``data.train_batches(config,
    epoch)``, splits the run's key $k_{n-1} \to (k_n, \kappa_n)$ (``jax.random.split``; $k_0$ =
    ``fold_in(PRNGKey(config.seed), 1)``), evaluates $L(\theta_{n-1}, b_n, \kappa_n)$ and its
    gradient, and applies the optimizer: $\theta_n = \theta_{n-1} + \text{update}$.

    **Arguments:**

    - `model`: an Equinox module; with the default loss it maps ``(window * c, *space)`` to
      ``(c, *space)`` (see :func:`~pdesolve.training.predict_next`). Its floating leaves are
      cast to `config.dtype` and trained.
    - `data`: an :class:`~pdesolve.training.AbstractTrainingData` (e.g. :class:`TrajectoryData`).
    - `config`: a :class:`TrainConfig`.
    - `out`: the run folder: ``checkpoint.eqx``, ``history.json``, ``metrics.json``,
      ``config.json``, ``loss.png``, ``prediction.png``. ``None``: none of these is written.
    - `checkpoint`: the checkpoint file (default ``out/checkpoint.eqx``; ``None`` without `out`:
      no checkpoint). Written atomically at the end of every epoch and every
      `config.checkpoint_every` steps.
    - `resume`: continue from `checkpoint`. The batches of an epoch depend only on
      ``(config, epoch)``, and the checkpoint holds the parameters, optimizer state, key, step
      count and the losses of the unfinished epoch, so a resumed run ends with the same
      parameters and history as an uninterrupted one.
    - `overwrite`: start afresh over the checkpoint of an earlier run. Without `resume` or
      `overwrite`, an existing checkpoint is an error, so re-running a command that was
      interrupted never silently discards the training it saved.
    - `loss`: ``loss(model, batch, key)`` returning a scalar, or ``(scalar, aux)`` with `aux` a
      dict of scalars recorded per step (`on_step`) and averaged per epoch (``train_<name>`` in
      the history). Default: :func:`~pdesolve.training.make_rollout_loss` of `config`.
    - `optimizer`: an optax ``GradientTransformation`` to use instead of the one `config`
      describes (:func:`make_optimizer`); it is not stored in the checkpoint's config, so a
      resumed run must pass the same one.
    - `progress`: one tqdm progress bar with the live loss.
    - `callback`: ``callback(epoch, record, model)`` after each epoch's checkpoint (raise in it
      to stop the run).
    - `on_step`: ``on_step(step, record)`` after every step (and its checkpoint, if one is
      due), with ``record`` = ``loss``, the `aux` values, ``learning_rate`` (``None`` with a
      custom `optimizer`) and ``wall_s``.
    - `evaluate_test`: evaluate the test split at the end (``metrics.json``).

    **Non-finite loss.** If $L(\theta_{n-1}, b_n)$ is NaN/Inf the run stops with
    :class:`~pdesolve.training.NonFiniteLossError` naming step $n$, and the checkpoint is
    rewritten to hold the last parameters that gave a finite loss, $\theta_{n-2}$ (with the
    optimizer state, key and history of that moment, so it resumes like any checkpoint). When
    the failing step is the first of this call (a fresh run's step 1, or the first step after
    `resume`) no such parameters exist in memory, and the checkpoint is left as it is. If the
    step's batch itself holds NaN/Inf values the error says the data are at fault
    (``bad_data``), not the learning rate.

    Raises :class:`~pdesolve.InvalidInputError` for a bad config, data that do not fit it, or
    a mismatched checkpoint.
    """
    from tqdm.auto import tqdm

    if not isinstance(config, TrainConfig):
        raise InvalidInputError(f"config must be a TrainConfig, got {type(config).__name__}")
    config.validate()
    if not isinstance(data, AbstractTrainingData):
        raise InvalidInputError(f"data must be an AbstractTrainingData (e.g. TrajectoryData), got {type(data).__name__}")
    data.check(config)
    steps_per_epoch = int(data.steps_per_epoch(config))
    described = json.loads(json.dumps(data.describe()))  # as the checkpoint's JSON header stores it
    out = None if out is None else Path(out)
    checkpoint = Path(checkpoint) if checkpoint is not None else (None if out is None else out / CHECKPOINT)
    if resume and checkpoint is None:
        raise InvalidInputError("resume needs a run folder (out) or a checkpoint file")
    if resume and overwrite:
        raise InvalidInputError("resume and overwrite exclude each other: continue the run, or start afresh over it")
    if not resume and not overwrite and checkpoint is not None and checkpoint.exists():
        raise InvalidInputError(_in_the_way(checkpoint))
    loss_fn = _ValueAndAux(loss if loss is not None else _default_loss(bool(config.residual), config.loss))
    if optimizer is None:
        optimizer, schedule = _cached_optimizer(json.dumps(config.to_dict(), sort_keys=True), steps_per_epoch)
    else:
        schedule = None
    model = cast_model(model, config.dtype)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)
    step, history, partial = 0, [], {}
    if resume:
        header = read_checkpoint_header(checkpoint)
        stored = header.get("config", {})
        for name_ in _RESUME_FIXED:
            mine = config.to_dict()[name_]
            if name_ in stored and stored[name_] != mine:
                raise InvalidInputError(f"cannot resume {checkpoint}: {name_} was {stored[name_]!r}, now {mine!r}")
        if "data" in header and header["data"] != described:
            changed = sorted(k for k in set(header["data"]) | set(described)
                             if header["data"].get(k) != described.get(k))
            raise InvalidInputError(f"cannot resume {checkpoint}: it was trained on other data ("
                                    + "; ".join(f"{k} {header['data'].get(k)} then, {described.get(k)} now"
                                                for k in changed) + ")")
        if header.get("steps_per_epoch", steps_per_epoch) != steps_per_epoch:
            raise InvalidInputError(f"cannot resume {checkpoint}: it has {header['steps_per_epoch']} steps per epoch, "
                                    f"these data give {steps_per_epoch}")
        model, opt_state, key, header = load_checkpoint(checkpoint, model=model, opt_state=opt_state, key=key)
        step, history = int(header["step"]), list(header.get("history", []))
        partial = {k: list(v) for k, v in header.get("partial", {}).items()}
    resumed_at = step
    # Only process 0 writes the run folder and the checkpoint (one writer); all processes train.
    writes = jax.process_index() == 0
    if writes and out is not None:
        out.mkdir(parents=True, exist_ok=True)
        _write_json(out / "config.json", {"model": name, **config.to_dict()})

    def save(state: _State, stopped: str | None = None) -> None:
        metadata = {"history": history[: state.epochs_done], "config": config.to_dict(), "model": name,
                    "steps_per_epoch": steps_per_epoch, "data": described,
                    "partial": {k: v[: state.partial_length] for k, v in state.partial.items()}}
        if stopped is not None:
            metadata["stopped"] = stopped
        save_checkpoint(checkpoint, model=_local(state.model), opt_state=_local(state.opt_state), key=state.key,
                        step=state.step, epoch=state.step // steps_per_epoch, metadata=metadata)

    batch_sharding, replicated = _mesh_shardings(config.devices)
    if replicated is not None:
        model, opt_state = _place((model, opt_state), replicated)
    # Across processes each one reads only its rows of every global batch.
    shard = (jax.process_index(), jax.process_count()) if jax.process_count() > 1 else None
    if shard is not None and config.batch_size % jax.process_count():
        raise InvalidInputError(f"batch_size {config.batch_size} must be divisible by the {jax.process_count()} "
                                "processes of a data-parallel run")

    dtype = np.dtype(config.dtype)
    total = config.epochs * steps_per_epoch
    bar = tqdm(total=total, initial=min(step, total), desc=f"train {name}", unit="step", disable=not progress,
               dynamic_ncols=True)
    began = time.perf_counter()
    previous = None  # the state before the last step that gave a finite loss
    try:
        for epoch in range(step // steps_per_epoch, config.epochs):
            started = time.perf_counter()
            done_in_epoch = step - epoch * steps_per_epoch  # > 0 only when resuming inside an epoch
            for number, batch in enumerate(data.train_batches(config, epoch, shard=shard)):
                if number < done_in_epoch:
                    continue  # replayed to keep the data order; trained before the checkpoint
                host_batch, batch = batch, _to_device(batch, dtype, batch_sharding, shard)
                before = _State(model, opt_state, key, step, len(history), partial, len(partial.get("loss", ())))
                key, step_key = jax.random.split(key)
                new_model, new_opt_state, value, aux = _train_step(model, opt_state, batch, step_key, loss_fn,
                                                                   optimizer)
                value = float(value)
                if not math.isfinite(value):
                    kept = None
                    if checkpoint is not None and previous is not None:
                        if writes:
                            save(previous, stopped=f"non-finite loss at step {step + 1}")
                        kept = str(checkpoint)
                    elif checkpoint is not None and step == resumed_at and resume:
                        kept = str(checkpoint)
                    raise NonFiniteLossError(step + 1, kept, bad_data=not _finite(host_batch))
                previous = before
                model, opt_state = new_model, new_opt_state
                step += 1
                record = {"loss": value, **{k: float(v) for k, v in aux.items()}}
                for k, v in record.items():
                    partial.setdefault(k, []).append(v)
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{value:.4g}")
                if (config.checkpoint_every and step % config.checkpoint_every == 0 and checkpoint is not None
                        and writes and number + 1 < steps_per_epoch):
                    save(_State(model, opt_state, key, step, len(history), partial, len(partial["loss"])))
                if on_step is not None:
                    record["learning_rate"] = None if schedule is None else float(schedule(step - 1))
                    record["wall_s"] = time.perf_counter() - began
                    on_step(step, record)
            record = {"epoch": epoch + 1, "step": step}
            record.update({("train_loss" if k == "loss" else f"train_{k}"): float(np.mean(v))
                           for k, v in partial.items()})
            record["learning_rate"] = None if schedule is None else float(schedule(step - 1))
            record["seconds"] = time.perf_counter() - started
            partial = {}
            if config.eval_every and (epoch + 1) % config.eval_every == 0 and data.split_size("val"):
                val = data.evaluate(_local(model), "val", config, figures=False)
                record.update({f"val_{k}": v for k, v in val.items() if isinstance(v, float)})
                if "rollout_rel_l2" in val:
                    bar.set_postfix(epoch=epoch + 1, loss=f"{record['train_loss']:.4g}",
                                    val=f"{val['rollout_rel_l2']:.4g}")
            history.append(record)
            if checkpoint is not None and writes:
                save(_State(model, opt_state, key, step, len(history), partial, 0))
            if out is not None and writes:
                _write_json(out / "history.json", history)
            if callback is not None:
                callback(epoch + 1, record, model)
    finally:
        bar.close()

    model = _local(model)
    result = TrainResult(model=model, history=history, out=out, step=step)
    writes_out = writes and out is not None
    if writes_out and figures and history:
        from ._figures import plot_loss_curve

        plot_loss_curve(history, out / "loss.png", title=f"{name} training")
    if evaluate_test and data.split_size("test"):
        metrics = data.evaluate(model, "test", config, figures=figures and writes_out, out=out, name=name)
        metrics.update({"model": name, "epochs": config.epochs, "steps": step,
                        "final_train_loss": history[-1]["train_loss"] if history else None})
        result.metrics = metrics
        if writes_out:
            _write_json(out / "metrics.json", metrics)
    return result


class _State(NamedTuple):
    """The training state after `step` steps: what a checkpoint holds."""

    model: Any
    opt_state: Any
    key: Any
    step: int
    epochs_done: int
    partial: dict  # per-step values of the unfinished epoch (lists, only appended to)
    partial_length: int


class _ValueAndAux(eqx.Module):
    """A loss returning a scalar or ``(scalar, aux)``, seen as ``(scalar, aux dict)``."""

    loss: Callable

    def __call__(self, model, batch, key):
        value = self.loss(model, batch, key)
        if isinstance(value, tuple):
            value, aux = value
            return value, dict(aux)
        return value, {}


def _to_device(batch, dtype, sharding, shard):
    """Device arrays of a batch: floating leaves cast to `dtype`, then sharded (data parallel)."""

    def cast(x):
        if not eqx.is_array(x):
            return x
        floating = jnp.issubdtype(x.dtype, jnp.floating)
        if shard is not None:
            return np.asarray(x, dtype) if floating else np.asarray(x)
        return jnp.asarray(x, dtype) if floating else jnp.asarray(x)

    batch = jax.tree.map(cast, batch)
    if shard is not None:
        return _place_local_rows(batch, sharding)
    return batch if sharding is None else _place(batch, sharding)


@eqx.filter_jit
def _train_step(model, opt_state, batch, key, loss_fn, optimizer):
    """One optimizer step; `loss_fn` and `optimizer` are static (cached objects, so runs share compilations)."""
    (value, aux), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model, batch, key)
    grads = descent_gradients(grads)
    params = eqx.filter(model, eqx.is_inexact_array)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return eqx.apply_updates(model, updates), opt_state, value, aux


def train_step(model, opt_state, batch, key, *, loss: Callable, optimizer):
    r"""One optimizer step of :func:`train`, compiled: $\theta' = \theta + \text{update}(\nabla_\theta L(\theta, b, \kappa))$.

    The step the training loop takes (``jax.grad`` of the loss, complex gradients conjugated by
    :func:`descent_gradients`, the optimizer's update), for benchmarks and custom loops.

    **Arguments:** `model` (an Equinox module), `opt_state` (``optimizer.init`` of its floating
    leaves), `batch` (device arrays, already cast), `key` (PRNG key passed to the loss), `loss`
    (``loss(model, batch, key)`` returning a scalar or ``(scalar, aux)``), `optimizer` (an optax
    ``GradientTransformation``, e.g. from :func:`make_optimizer`). Reuse the same `loss` and
    `optimizer` objects between calls: they are static, so new objects compile anew.

    **Returns:** ``(model, opt_state, loss value, aux dict)``.
    """
    return _train_step(model, opt_state, batch, key, _ValueAndAux(loss), optimizer)


@functools.lru_cache(maxsize=32)
def _default_loss(residual: bool, kind: str):
    return make_rollout_loss(residual=residual, kind=kind)


@functools.lru_cache(maxsize=32)
def _cached_optimizer(config_json: str, steps_per_epoch: int):
    return make_optimizer(TrainConfig.from_dict(json.loads(config_json)), steps_per_epoch)


def _write_json(path: Path, payload) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float))
    os.replace(tmp, path)
