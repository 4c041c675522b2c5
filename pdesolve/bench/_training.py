r"""``pdesolve bench training``: one training step and one inference batch, pdesolve against PyTorch.

Cases (float32, one process, the sides timed in interleaved rounds with the same thread count: the
CPUs the process may run on, which size XLA's thread pool when JAX starts and are given to
PyTorch with ``torch.set_num_threads``; ``pdesolve bench training --threads 1`` pins the process
to one CPU first, the robust comparison on a shared machine):

1. ``fno2d_<n>_train`` / ``fno2d_<n>_inference``: the FNO paper's 2D Navier-Stokes model
   (:class:`~pdesolve.operators.FNO`: 4 Fourier layers, 12 modes, width 20, input = 10 frames +
   2 grid coordinates, projection width 128, GELU), batch 20, at $n^2 = 32^2$ and $64^2$.
   A training step is what :func:`pdesolve.training.train` does per batch
   (:func:`~pdesolve.training.train_step`): the forward pass of the batch of windows, the
   per-frame relative $L^2$ loss $\frac1B\sum_b \|\hat u_b - u_b\|_2/\|u_b\|_2$
   (:func:`~pdesolve.training.make_rollout_loss`, one predicted frame), the backward pass and
   an Adam update (learning rate $10^{-3}$, weight decay $10^{-4}$ added to the gradient, as
   in the paper). Inference is the forward pass of the batch. The anchor is ``neuralop.models.FNO``
   (neuraloperator) configured to the same function and given our weights (see
   :mod:`pdesolve.bench._torch_anchors` for how the two models are matched), trained with
   ``torch.optim.Adam(lr=1e-3, weight_decay=1e-4)``.
2. ``mp_pde_<nx>_train`` / ``mp_pde_<nx>_train_pushforward`` / ``mp_pde_<nx>_rollout``: the
   MP-PDE paper's model (:class:`~pdesolve.mp_pde.MPPDE`: $K = 25$, hidden 128, 6 layers,
   radius graph with 3 neighbours per side, 3 PDE parameters) at $n_x = 100$ and 40, batch 16.
   A training step is :func:`~pdesolve.training.train_step` with
   :class:`~pdesolve.mp_pde.PushforwardLoss` and AdamW ($10^{-4}$, weight decay $10^{-8}$),
   without (``train``) and with (``train_pushforward``) one gradient-free pushforward unroll;
   a rollout is :func:`~pdesolve.mp_pde.rollout_mp_pde` over 200 frames (8 bundles, the
   experiment's evaluation horizon). The anchor is our PyTorch port of the same model
   (``TorchMPPDE``) with our weights and ``torch.optim.AdamW``; its messages are gathered and
   mean-aggregated by a torch_geometric ``MessagePassing`` when torch_geometric is importable
   (part of the extra), else by ``index_select`` / ``index_add_``.

Every row records both parameter counts (``params_ours``, ``params_anchor``; complex weights
count as two real numbers) and a check that the two sides compute the same function on the same
weights and batch: ``loss_ours`` / ``loss_anchor`` for training rows (the first step's loss) and
``anchor_vs_ours`` (relative $L^2$ difference of the outputs) for inference and rollout rows.
Without PyTorch (the optional extra ``pip install -e ".[anchors]"``) only our side runs, and
every row says why its anchor is absent (``skipped``).

Timing: :func:`~pdesolve.bench._timing.time_interleaved`: every call is warmed up (compiled),
then the sides alternate in at least `repeats` rounds and each keeps its best time. Training
calls advance their own parameters and optimizer state on both sides, as in a training run.
"""

from __future__ import annotations

import os
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._compat import enable_x64
from .._errors import InvalidInputError
from ..mp_pde import MPPDE, PushforwardBatch, PushforwardLoss, radius_graph, rollout_mp_pde
from ..neural_fields import parameter_count
from ..operators import FNO, RFFT, AbstractFourierTransform
from ..training import TrainConfig, make_optimizer, make_rollout_loss, train_step
from . import _torch_anchors as anchors
from ._timing import device_description, make_progress, ratio, time_interleaved

FNO_PAPER = {"width": 20, "modes": 12, "num_layers": 4, "projection_width": 128}
FNO_WINDOW = 10
FNO_LEARNING_RATE, FNO_WEIGHT_DECAY = 1e-3, 1e-4
MP_PDE_PAPER = {"window": 25, "hidden": 128, "num_layers": 6, "num_params": 3}
MP_PDE_EXTENT, MP_PDE_T_FINAL, MP_PDE_FRAMES = 16.0, 4.0, 250
MP_PDE_NEIGHBOURS = 3
MP_PDE_ROLLOUT_STEPS = 200
MP_PDE_LEARNING_RATE, MP_PDE_WEIGHT_DECAY = 1e-4, 1e-8


def _threads() -> int:
    """CPUs this process may run on: XLA sizes its CPU thread pool by them when JAX starts, and the
    benchmark gives PyTorch the same number of threads."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _load_average() -> float | None:
    """The 1-minute load average of the machine (``None`` where the OS does not report it)."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def _rel_diff(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm((a - b).ravel()) / max(np.linalg.norm(b.ravel()), 1e-300))


class _Stepper:
    """A training step that advances its own state (the model and optimizer state live here)."""

    def __init__(self, step, state):
        self.step, self.state, self.first = step, state, None

    def __call__(self):
        self.state, loss = self.step(self.state)
        if self.first is None:
            self.first = loss
        return loss


def _time(calls, repeats):
    """:func:`time_interleaved` of `calls` with CPU times: ``(best wall, best CPU, outputs, rounds)``."""
    cpu = {}
    best, outputs, rounds = time_interleaved(calls, repeats, cpu_times=cpu)
    return best, cpu, outputs, rounds


def _row(name, model, phase, resolution, batch, timing, anchor_label, skip, **extra):
    best, cpu, _, rounds = timing
    anchor_s = best.get("anchor")
    row = {
        "name": name, "model": model, "phase": phase, "resolution": resolution, "batch_size": batch,
        "ours_s": best["ours"], "anchor": anchor_label, "anchor_s": anchor_s, "ratio": ratio(anchor_s, best["ours"]),
        "error_ours": None, "error_anchor": None, "timed_runs": rounds,
        "ours_cpu_s": cpu["ours"], "anchor_cpu_s": cpu.get("anchor"), "ratio_cpu": ratio(cpu.get("anchor"), cpu["ours"]),
    }
    row.update(extra)
    if anchor_s is None:
        row["skipped"] = skip
    return row


# --------------------------------------------------------------------------------------------
# FNO-2D


def _fno_cases(n, batch, sizes, repeats, key, rng, torch, anchor_label, skip, say, transform=None):
    ours = FNO(FNO_WINDOW, 1, ndim=2, key=key, transform=transform, **sizes)
    inputs = rng.standard_normal((batch, FNO_WINDOW, 1, n, n)).astype(np.float32)
    targets = rng.standard_normal((batch, 1, 1, n, n)).astype(np.float32)
    batch_j = (jnp.asarray(inputs), jnp.asarray(targets))
    loss = make_rollout_loss()
    config = TrainConfig(optimizer="adam", learning_rate=FNO_LEARNING_RATE, weight_decay=FNO_WEIGHT_DECAY)
    optimizer, _ = make_optimizer(config, 1)
    opt_state = optimizer.init(eqx.filter(ours, eqx.is_inexact_array))
    step_key = jax.random.PRNGKey(1)

    def ours_step(state):
        model, opt = state
        model, opt, value, _ = train_step(model, opt, batch_j, step_key, loss=loss, optimizer=optimizer)
        return (model, opt), value

    forward = eqx.filter_jit(lambda model, x: jax.vmap(model)(x))
    frames = jnp.asarray(inputs[:, :, 0])
    train_calls = {"ours": _Stepper(ours_step, (ours, opt_state))}
    infer_calls = {"ours": lambda: forward(ours, frames)}
    extra_train, extra_infer = {"params_ours": parameter_count(ours)}, {"params_ours": parameter_count(ours)}
    if torch is not None:
        theirs = anchors.fno_from_ours(ours, in_channels=FNO_WINDOW, out_channels=1, **sizes)
        x_t, y_t = torch.from_numpy(inputs[:, :, 0].copy()), torch.from_numpy(targets[:, 0].copy())
        adam = torch.optim.Adam(theirs.parameters(), lr=FNO_LEARNING_RATE, weight_decay=FNO_WEIGHT_DECAY)

        def anchor_step(state):
            adam.zero_grad(set_to_none=True)
            value = anchors.relative_l2_per_frame(torch, theirs(x_t), y_t)
            value.backward()
            adam.step()
            return state, value.detach()

        def anchor_infer():
            with torch.no_grad():
                return theirs(x_t)

        with torch.no_grad():
            check = _rel_diff(theirs(x_t).numpy(), np.asarray(forward(ours, frames)))
        count = anchors.torch_parameter_count(theirs)
        extra_infer.update(params_anchor=count, anchor_vs_ours=check)
        extra_train["params_anchor"] = count
        train_calls["anchor"] = _Stepper(anchor_step, None)
        infer_calls["anchor"] = anchor_infer
    say(f"fno2d_{n}: training step, batch {batch}")
    timing = _time(train_calls, repeats)
    extra_train["loss_ours"] = float(train_calls["ours"].first)
    if "anchor" in train_calls:
        extra_train["loss_anchor"] = float(train_calls["anchor"].first)
    method = {"ours_method": "pdesolve.operators.FNO + pdesolve.training.train_step (jit)",
              "anchor_method": "neuralop.models.FNO (our weights, one GELU per layer, tanh GELU), eager PyTorch"}
    rows = [_row(f"fno2d_{n}_train", "fno2d", "train", n, batch, timing, anchor_label, skip,
                 **extra_train, **method)]
    say(f"fno2d_{n}: inference, batch {batch}")
    rows.append(_row(f"fno2d_{n}_inference", "fno2d", "inference", n, batch, _time(infer_calls, repeats), anchor_label, skip,
                     **extra_infer, **method))
    return rows


# --------------------------------------------------------------------------------------------
# MP-PDE


def _mp_pde_cases(nx, batch, sizes, rollout_steps, repeats, key, rng, torch, use_pyg, anchor_label, skip, say):
    window, num_params = sizes["window"], sizes["num_params"]
    dt = MP_PDE_T_FINAL / (MP_PDE_FRAMES - 1)
    x = np.arange(nx) * MP_PDE_EXTENT / nx
    graph = radius_graph(x, MP_PDE_NEIGHBOURS * MP_PDE_EXTENT / nx, MP_PDE_EXTENT)
    ours = MPPDE(dt=dt, extent=MP_PDE_EXTENT, t_final=MP_PDE_T_FINAL, key=key, dtype=jnp.float32, **sizes)
    x_j = jnp.asarray(x, jnp.float32)
    loss = PushforwardLoss(x_j, graph)
    config = TrainConfig(optimizer="adamw", learning_rate=MP_PDE_LEARNING_RATE, weight_decay=MP_PDE_WEIGHT_DECAY)
    optimizer, _ = make_optimizer(config, 1)
    step_key = jax.random.PRNGKey(1)
    # Smooth-ish random windows in [-1, 1]: the scale of the combined-equation data.
    u = np.tanh(rng.standard_normal((batch, 2 * window, nx))).astype(np.float32)
    theta = rng.uniform(0.0, 1.0, (batch, num_params)).astype(np.float32)
    t_last = rng.uniform(0.0, 2.0, (batch,)).astype(np.float32)
    times = np.stack([t_last, t_last + window * dt], axis=1).astype(np.float32)
    rows = []
    theirs = None
    if torch is not None:
        theirs = anchors.mp_pde_from_ours(ours, x, graph, use_pyg=use_pyg)
        count = anchors.torch_parameter_count(theirs)
    method = {"ours_method": "pdesolve.mp_pde.MPPDE + PushforwardLoss + pdesolve.training.train_step (jit); "
                             "rollout_mp_pde (lax.scan, jit)",
              "anchor_method": ("our PyTorch port of the same model, messages gathered and mean-aggregated by "
                                + ("a torch_geometric MessagePassing" if use_pyg else "index_select / index_add_")
                                + ", eager PyTorch")}
    for unrolls in (0, 1):
        data = PushforwardBatch(inputs=jnp.asarray(u[:, :window]), targets=jnp.asarray(u[:, window:]),
                                times=jnp.asarray(times[:, : unrolls + 1]), theta=jnp.asarray(theta), unrolls=unrolls)
        opt_state = optimizer.init(eqx.filter(ours, eqx.is_inexact_array))

        def ours_step(state, data=data):
            model, opt = state
            model, opt, value, _ = train_step(model, opt, data, step_key, loss=loss, optimizer=optimizer)
            return (model, opt), value

        calls = {"ours": _Stepper(ours_step, (ours, opt_state))}
        extra = {"params_ours": parameter_count(ours), "unrolls": unrolls}
        if theirs is not None:
            model_t = anchors.mp_pde_from_ours(ours, x, graph, use_pyg=use_pyg)
            adamw = torch.optim.AdamW(model_t.parameters(), lr=MP_PDE_LEARNING_RATE, weight_decay=MP_PDE_WEIGHT_DECAY)
            tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in (u[:, :window], u[:, window:], times, theta)]

            def anchor_step(state, model_t=model_t, adamw=adamw, tensors=tensors, unrolls=unrolls):
                inputs, targets, times_t, theta_t = tensors
                adamw.zero_grad(set_to_none=True)
                current = inputs
                if unrolls:
                    with torch.no_grad():
                        for j in range(unrolls):
                            current = model_t(current, times_t[:, j], theta_t)
                prediction = model_t(current, times_t[:, unrolls], theta_t)
                value = torch.sqrt(torch.sum((prediction - targets) ** 2))
                value.backward()
                adamw.step()
                return state, value.detach()

            calls["anchor"] = _Stepper(anchor_step, None)
            extra["params_anchor"] = count
        name = f"mp_pde_{nx}_train" + ("_pushforward" if unrolls else "")
        say(f"{name}: training step, batch {batch}")
        timing = _time(calls, repeats)
        extra["loss_ours"] = float(calls["ours"].first)
        if "anchor" in calls:
            extra["loss_anchor"] = float(calls["anchor"].first)
        rows.append(_row(name, "mp_pde", "train_pushforward" if unrolls else "train", nx, batch, timing,
                         anchor_label, skip, **extra, **method))

    rollout = eqx.filter_jit(rollout_mp_pde)
    u0, t0, th = jnp.asarray(u[:, :window]), jnp.asarray(t_last), jnp.asarray(theta)
    calls = {"ours": lambda: rollout(ours, u0, t0, th, x_j, graph, rollout_steps)}
    extra = {"params_ours": parameter_count(ours), "rollout_steps": rollout_steps}
    if theirs is not None:
        bundles = -(-rollout_steps // window)
        u0_t, t0_t, th_t = (torch.from_numpy(np.ascontiguousarray(a)) for a in (u[:, :window], t_last, theta))

        def anchor_rollout():
            with torch.no_grad():
                current, t, frames = u0_t, t0_t, []
                for _ in range(bundles):
                    current = theirs(current, t, th_t)
                    t = t + window * dt
                    frames.append(current)
                return torch.cat(frames, dim=1)[:, :rollout_steps]

        calls["anchor"] = anchor_rollout
        extra["params_anchor"] = count
    say(f"mp_pde_{nx}_rollout: {rollout_steps} frames, batch {batch}")
    timing = _time(calls, repeats)
    outputs = timing[2]
    if "anchor" in outputs:
        extra["anchor_vs_ours"] = _rel_diff(outputs["anchor"].numpy(), outputs["ours"])
    rows.append(_row(f"mp_pde_{nx}_rollout", "mp_pde", "rollout", nx, batch, timing, anchor_label, skip,
                     **extra, **method))
    return rows


# --------------------------------------------------------------------------------------------


def run_training_benchmark(
    *,
    fno_resolutions: tuple[int, ...] = (32, 64),
    mp_pde_resolutions: tuple[int, ...] = (100, 40),
    fno_batch_size: int = 20,
    mp_pde_batch_size: int = 16,
    models: tuple[str, ...] = ("fno", "mp-pde"),
    repeats: int = 5,
    quick: bool = False,
    anchors_enabled: bool = True,
    progress=None,
    seed: int = 0,
    fno_transform: AbstractFourierTransform | None = None,
) -> dict:
    r"""Time one training step and one inference batch (rollout) of pdesolve's FNO-2D and MP-PDE against PyTorch.

    **Arguments:**

    - `fno_resolutions`: FNO grid sizes $n$ ($n^2$ points; the paper's model needs $n \ge 24$).
    - `mp_pde_resolutions`: MP-PDE grid sizes $n_x$.
    - `fno_batch_size`, `mp_pde_batch_size`: samples per batch (paper: 20 and 16).
    - `models`: ``"fno"`` and/or ``"mp-pde"``.
    - `repeats`: interleaved timed rounds per case after a warm-up (the best is kept).
    - `quick`: tiny models and sizes for smoke tests (FNO width 8, 4 modes, 2 layers at 16²,
      batch 2; MP-PDE with 1 layer at $n_x = 20$, batch 2, 50-frame rollout; 1 round).
    - `anchors_enabled`: time the PyTorch anchors when they are importable (``False``: ours only).
    - `progress`: ``None``/``False``, ``True`` (lines on stderr) or a callable taking a string.
    - `seed`: weights and data.
    - `fno_transform`: the Fourier transform of our FNO's layers (default
      :class:`~pdesolve.operators.RFFT`; :class:`~pdesolve.operators.TruncatedDFT` computes the
      retained modes by matrix products); its name is recorded as ``result["fno"]["transform"]``.

    **Returns:** ``{"results": [...], "device", "dtype": "float32", "threads", "versions",
    "notes", ...}``; every row has ``name, model, phase, resolution, batch_size, ours_s, anchor,
    anchor_s, ratio (= anchor_s / ours_s), error_ours, error_anchor (None: speed rows),
    params_ours`` and, with the anchor, ``params_anchor`` and the equivalence checks; without
    it ``anchor_s = ratio = None`` and ``skipped`` gives the reason.
    """
    unknown = set(models) - {"fno", "mp-pde"}
    if unknown or not models:
        raise InvalidInputError(f"models must be 'fno' and/or 'mp-pde', got {list(models)}")
    fno_sizes, mp_sizes, rollout_steps = dict(FNO_PAPER), dict(MP_PDE_PAPER), MP_PDE_ROLLOUT_STEPS
    if quick:
        fno_resolutions, mp_pde_resolutions = (16,), (20,)
        fno_batch_size, mp_pde_batch_size, repeats = 2, 2, 1
        fno_sizes.update(width=8, modes=4, num_layers=2, projection_width=16)
        mp_sizes.update(num_layers=1)
        rollout_steps = 50
    for name, value in (("repeats", repeats), ("fno_batch_size", fno_batch_size),
                        ("mp_pde_batch_size", mp_pde_batch_size)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    for n in fno_resolutions:
        if 2 * fno_sizes["modes"] > n:
            raise InvalidInputError(f"fno_resolutions: {n} is too small for {fno_sizes['modes']} modes "
                                    f"(need >= {2 * fno_sizes['modes']})")
    for nx in mp_pde_resolutions:
        if nx < 2 * MP_PDE_NEIGHBOURS + 1:
            raise InvalidInputError(f"mp_pde_resolutions: {nx} is too small (need >= {2 * MP_PDE_NEIGHBOURS + 1})")
    threads = _threads()
    say = make_progress(progress, "bench training")
    started = time.perf_counter()
    load_before = _load_average()

    torch, skip = (None, "anchors disabled (anchors_enabled=False)")
    versions = {"jax": jax.__version__}
    previous_threads = None
    neuralop = None
    if anchors_enabled:
        torch, skip = anchors.import_torch()
    if torch is not None:
        versions["torch"] = torch.__version__
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
    fno_torch, fno_skip, fno_label = torch, skip, None
    if torch is not None and "fno" in models:
        neuralop, fno_skip = anchors.import_neuraloperator()
        if neuralop is None:
            fno_torch = None
        else:
            versions["neuraloperator"] = getattr(neuralop, "__version__", "unknown")
            fno_label = f"neuraloperator {versions['neuraloperator']} (torch {torch.__version__})"
    use_pyg = False
    mp_label = None
    if torch is not None and "mp-pde" in models:
        pyg, _ = anchors.import_torch_geometric()
        use_pyg = pyg is not None
        if use_pyg:
            versions["torch_geometric"] = getattr(pyg, "__version__", "unknown")
            mp_label = f"torch_geometric {versions['torch_geometric']} (torch {torch.__version__}; our MP-PDE port)"
        else:
            mp_label = f"torch {torch.__version__} (our MP-PDE port)"
    if skip is not None:
        say(f"anchors absent: {skip}")

    rng = np.random.default_rng(seed)
    key = jax.random.PRNGKey(seed)
    results = []
    try:
        with enable_x64(False):
            if "fno" in models:
                for n in fno_resolutions:
                    key, sub = jax.random.split(key)
                    results += _fno_cases(int(n), int(fno_batch_size), fno_sizes, int(repeats), sub, rng, fno_torch,
                                          fno_label or "neuraloperator", fno_skip, say, fno_transform)
            if "mp-pde" in models:
                for nx in mp_pde_resolutions:
                    key, sub = jax.random.split(key)
                    results += _mp_pde_cases(int(nx), int(mp_pde_batch_size), mp_sizes, rollout_steps, int(repeats),
                                             sub, rng, torch, use_pyg, mp_label or "torch", skip, say)
    finally:
        if previous_threads is not None:
            torch.set_num_threads(previous_threads)

    notes = []
    load = [value for value in (load_before, _load_average()) if value is not None]
    cpus = os.cpu_count() or 1
    # The load before the run is other jobs' (the run itself adds up to `threads` to the later value).
    if threads > 1 and load_before is not None and load_before > 0.5 * cpus:
        notes.append(f"load average {load_before:.1f} on {cpus} CPUs before the run: with {threads} threads per "
                     "side the timings "
                     "depend on what else runs (a multi-threaded PyTorch slows down most when its threads are "
                     "preempted); compare with `--threads 1`")
    if all(row["anchor_s"] is None for row in results):
        notes.append(f"ours alone: {results[0]['skipped']}" if results else "no cases")
    for row in results:
        if row["ratio"] is not None and row["ratio"] < 1.0:
            notes.append(f"{row['name']}: ratio {row['ratio']:.2f} < 1 ({row['anchor']} faster)")
    try:
        from .. import __version__ as pdesolve_version

        versions["pdesolve"] = pdesolve_version
    except ImportError:
        pass
    return {
        "results": results,
        "device": device_description(),
        "dtype": "float32",
        "threads": {"jax": threads, "torch": threads if torch is not None else None},
        "load_average": load,
        "repeats": int(repeats),
        "timing": ("best of >= `repeats` interleaved rounds per side after a warm-up (compilation); training calls "
                   "advance their parameters and optimizer state"),
        "fno": {**fno_sizes, "window": FNO_WINDOW, "batch_size": int(fno_batch_size),
                "transform": type(fno_transform or RFFT()).__name__,
                "optimizer": f"adam(lr={FNO_LEARNING_RATE}, weight_decay={FNO_WEIGHT_DECAY})"},
        "mp_pde": {**mp_sizes, "neighbours": MP_PDE_NEIGHBOURS, "batch_size": int(mp_pde_batch_size),
                   "rollout_steps": rollout_steps,
                   "optimizer": f"adamw(lr={MP_PDE_LEARNING_RATE}, weight_decay={MP_PDE_WEIGHT_DECAY})"},
        "quick": bool(quick),
        "seed": seed,
        "versions": versions,
        "notes": notes,
        "wall_s": time.perf_counter() - started,
    }


def format_training_table(result: dict) -> str:
    """Render :func:`run_training_benchmark`'s result as a text table.

    ``ratio`` = anchor_s / ours_s (wall time), ``ratio_cpu`` the same with process CPU time
    (steadier on a shared machine for one thread per side); parameter counts side by side; the
    equivalence check (first-step losses, or the relative difference of the outputs).
    """
    header = ("name", "ours_s", "anchor_s", "ratio", "ratio_cpu", "params ours / anchor", "check")
    left = {0, 5, 6}
    lines = []
    for row in result.get("results", []):
        params = f"{row.get('params_ours', '-'):,}" + (f" / {row['params_anchor']:,}" if "params_anchor" in row else "")
        if "loss_anchor" in row:
            check = f"loss {row['loss_ours']:.6g} / {row['loss_anchor']:.6g}"
        elif "anchor_vs_ours" in row:
            check = f"output diff {row['anchor_vs_ours']:.1e}"
        else:
            check = "-"
        lines.append((row["name"], _seconds(row["ours_s"]), _seconds(row.get("anchor_s")), _ratio(row.get("ratio")),
                      _ratio(row.get("ratio_cpu")), params, check))
    widths = [max([len(h)] + [len(line[i]) for line in lines]) for i, h in enumerate(header)]

    def render(values):
        return "  ".join(v.ljust(w) if i in left else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    text = [render(header), "  ".join("-" * w for w in widths)] + [render(line) for line in lines]
    rows = result.get("results", [])
    anchors_used = sorted({row["anchor"] for row in rows if row.get("anchor_s") is not None})
    text.append("")
    text.append(f"device: {result.get('device', '?')}, dtype: {result.get('dtype', '?')}, threads: "
                f"{result.get('threads', {})}; anchors: {', '.join(anchors_used) or 'none'}")
    text.append("ratio = anchor_s / ours_s (> 1: pdesolve faster; ratio_cpu: process CPU time); best of interleaved "
                "rounds after a warm-up")
    for reason in sorted({row["skipped"] for row in rows if row.get("skipped")}):
        text.append(f"anchor absent: {reason}")
    for note in result.get("notes", []) or []:
        text.append(f"note: {note}")
    return "\n".join(text)


def _ratio(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _seconds(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if value >= 0.01 else f"{value:.2e}"
