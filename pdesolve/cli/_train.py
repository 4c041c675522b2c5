"""``pdesolve train <model>``: train a model on an HDF5 dataset with :func:`pdesolve.training.train`.

One sub-command per :class:`~pdesolve.training.ModelSpec` in :func:`model_specs`: the
package that owns a model defines its spec (``pdesolve.training.FNO_SPEC``, ``UNET_SPEC``,
``pdesolve.mp_pde.MP_PDE_SPEC``, ``pdesolve.neural_ode.NEURAL_ODE_SPEC``,
``pdesolve.hybrid.HYBRID_SPEC``) and this module
lists them. A spec's ``add_arguments`` adds the model's own options; ``open_data``, ``build``
and ``loss`` receive them as a dict.
"""

from __future__ import annotations

import argparse
import sys
import time

_COMMON_HELP = (
    "Train on windows of WINDOW frames predicting the next ROLLOUT_STEPS frames autoregressively "
    "(1 = one-step training). A checkpoint (model, optimizer state, RNG key, step) is written "
    "atomically to OUT/checkpoint.eqx after every epoch; --resume continues exactly (--overwrite starts "
    "afresh over it). OUT also gets "
    "history.json, metrics.json (test split: rollout relative L2 in the FNO paper's convention, "
    "nRMSE in the PDEBench and exponax conventions, one-step relative L2), loss.png and prediction.png."
)


def _add_common(p, skip=()) -> None:
    """The options every model shares, less those of the TrainConfig fields in `skip` (the model's ``ignores``)."""
    from ..training import SCHEDULES

    def add(*flags, **kwargs):
        if flags[0].lstrip("-").replace("-", "_") not in skip:
            p.add_argument(*flags, **kwargs)

    add("--data", required=True, help="HDF5 dataset (pdesolve or PDEBench layout)")
    add("--out", default=None, help="run folder (default runs/<model>)")
    add("--epochs", type=int, default=10, help="passes over the training split (10)")
    add("--batch-size", type=int, default=20, help="samples per step (20)")
    add("--lr", type=float, default=1e-3, help="peak learning rate (1e-3)")
    add("--optimizer", default="adam", help="a pdesolve.optim optimizer name: adam, adamw, sgd, lion, ... (adam)")
    add("--weight-decay", type=float, default=0.0, help="L2 weight decay (adamw: decoupled) (0)")
    add("--schedule", default="constant", choices=SCHEDULES, help="learning-rate schedule (constant)")
    add("--step-epochs", type=int, default=100, help="step schedule: epochs between decays (100)")
    add("--decay", type=float, default=0.5, help="step and milestones schedules: factor per decay (0.5)")
    add("--milestones", type=int, nargs="+", default=(), help="milestones schedule: epochs of the decays")
    add("--final-lr-fraction", type=float, default=0.0,
                   help="cosine schedules: final learning rate as a fraction of the peak (0)")
    add("--window", type=int, default=1, help="input frames (1)")
    add("--rollout-steps", type=int, default=1, help="predicted frames per training sample (1: one-step)")
    add("--eval-rollout-steps", type=int, default=None, help="evaluation rollout length (default: to the end)")
    add("--start", choices=("first", "random"), default="random",
                   help="training windows start at frame 0 or at a random frame (random)")
    add("--residual", action="store_true", help="predict the increment u[n+1] - u[n]")
    add("--loss", choices=("relative_l2", "mse"), default="relative_l2", help="training loss (relative_l2)")
    add("--clip-norm", type=float, default=None, help="clip gradients to this global norm")
    add("--splits", default="0.8,0.1,0.1", help="train,val,test fractions (0.8,0.1,0.1)")
    add("--time-stride", type=int, default=1, help="use every n-th saved frame (1)")
    add("--first-frame", type=int, default=0, help="first saved frame used (FNO benchmark: 1) (0)")
    add("--seed", type=int, default=0, help="initialisation, shuffling and step keys (0)")
    add("--dtype", choices=("float32", "float64"), default="float32", help="parameter dtype (float32)")
    add("--devices", type=int, default=1, help="data-parallel devices (1; with --distributed: all)")
    add("--eval-every", type=int, default=1, help="validate every n epochs, 0 = never (1)")
    add("--eval-batch-size", type=int, default=32, help="samples per evaluation batch (32)")
    add("--steps-per-epoch", type=int, default=None,
                   help="optimizer steps per epoch (default: the training samples // batch size)")
    add("--checkpoint-every", type=int, default=None,
                   help="also checkpoint every n steps (default: at the end of each epoch)")
    add("--resume", action="store_true", help="continue from OUT/checkpoint.eqx")
    add("--overwrite", action="store_true",
                   help="start afresh over OUT/checkpoint.eqx (without --resume or --overwrite an existing "
                        "checkpoint is an error)")
    add("--no-progress", action="store_true", help="hide the progress bar")
    add("--no-figures", action="store_true", help="do not write PNG figures")
    from ._distributed_options import add_distributed_arguments

    add_distributed_arguments(p, "every process reads the same seeded batches, trains on its shard of each, "
                                 "and gradients are summed across processes; process 0 writes OUT.")
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON")


def model_specs() -> tuple:
    """The model specs ``pdesolve train`` offers: fno, unet, mp-pde, neural-ode, hybrid."""
    from ..hybrid import HYBRID_SPEC
    from ..mp_pde import MP_PDE_SPEC
    from ..neural_ode import NEURAL_ODE_SPEC
    from ..training import FNO_SPEC, UNET_SPEC

    return (FNO_SPEC, UNET_SPEC, MP_PDE_SPEC, NEURAL_ODE_SPEC, HYBRID_SPEC)


def register(sub, specs=None) -> None:
    """Add ``train`` with one sub-command per spec of `specs` (default :func:`model_specs`)."""
    import dataclasses

    from .._errors import InvalidInputError
    from ..training import TrainConfig

    specs = model_specs() if specs is None else tuple(specs)
    models = {}
    for spec in specs:
        if spec.name in models:
            raise InvalidInputError(f"two models are called {spec.name!r}")
        models[spec.name] = spec
    p = sub.add_parser(
        "train",
        help="train on an HDF5 dataset: fno, unet, mp-pde, neural-ode, hybrid (checkpoints, --resume)",
        description=_COMMON_HELP + "\n\nmodels:\n" + "\n".join(f"  {n}: {s.description}" for n, s in models.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    model_sub = p.add_subparsers(dest="model", metavar="MODEL", required=True)
    for name, spec in models.items():
        mp = model_sub.add_parser(name, help=spec.description, description=spec.description + ". " + _COMMON_HELP)
        _add_common(mp, skip=spec.ignores)
        if spec.add_arguments is not None:
            group = mp.add_argument_group(f"{name} options")
            spec.add_arguments(group)
        ignored = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name in spec.ignores}
        mp.set_defaults(run=run, spec=spec, model_options=_option_names(spec), **ignored)
    p.set_defaults(run=lambda args: p.print_help() or 2)


def _option_names(spec) -> tuple[str, ...]:
    if spec.add_arguments is None:
        return ()
    probe = argparse.ArgumentParser(add_help=False)
    spec.add_arguments(probe)
    return tuple(a.dest for a in probe._actions)


def _splits(text: str):
    from .._errors import InvalidInputError

    try:
        parts = tuple(float(s) for s in text.split(","))
    except ValueError:
        raise InvalidInputError(f"--splits must be three comma-separated fractions, got {text!r}") from None
    if len(parts) != 3:
        raise InvalidInputError(f"--splits must be three comma-separated fractions, got {text!r}")
    return parts


def run(args) -> int:
    import jax

    from ..training import TrainConfig, train
    from ._distributed_options import initialize_from_arguments
    from ._main import emit_json

    initialize_from_arguments(args)
    spec = args.spec
    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, optimizer=args.optimizer,
        weight_decay=args.weight_decay, schedule=args.schedule, step_epochs=args.step_epochs, decay=args.decay,
        milestones=tuple(args.milestones), final_lr_fraction=args.final_lr_fraction, window=args.window, rollout_steps=args.rollout_steps, eval_rollout_steps=args.eval_rollout_steps,
        start=args.start, residual=args.residual, loss=args.loss, clip_norm=args.clip_norm, seed=args.seed,
        dtype=args.dtype, devices=args.devices, splits=_splits(args.splits), time_stride=args.time_stride,
        first_frame=args.first_frame, eval_every=args.eval_every, eval_batch_size=args.eval_batch_size,
        steps_per_epoch=args.steps_per_epoch, checkpoint_every=args.checkpoint_every,
    )
    config.validate()
    out = args.out or f"runs/{args.model}"
    options = {name: getattr(args, name) for name in args.model_options}
    started = time.perf_counter()
    with spec.data(args.data, config, options) as data:
        model = spec.build(options, data, config, key=jax.random.PRNGKey(config.seed))
        loss = spec.make_loss(options, data, config)
        result = train(model, data, config, out=out, resume=args.resume, overwrite=args.overwrite, loss=loss,
                       progress=not (args.no_progress or args.json), figures=not args.no_figures, name=args.model)
    seconds = time.perf_counter() - started
    payload = {"model": args.model, "data": args.data, "out": str(out), "seconds": seconds, "steps": result.step,
               "options": options, "metrics": result.metrics,
               "final_train_loss": result.history[-1]["train_loss"] if result.history else None}
    if args.json:
        emit_json(payload)
    else:
        m = result.metrics
        line = f"trained {args.model} for {result.step} steps in {seconds:.1f} s -> {out}"
        if m:
            names = {"rollout_rel_l2": "rollout rel. L2", "one_step_rel_l2": "one-step rel. L2",
                     "rollout_nrmse_pdebench": "nRMSE (PDEBench)", "accumulated_error": "accumulated error"}
            scores = ", ".join(f"{label} {m[key]:.4g}" for key, label in names.items() if key in m)
            line += f"\ntest over {m.get('rollout_steps', '?')} steps: {scores}"
        print(line, file=sys.stdout)
    return 0
