"""The demo's data-driven parts: an HDF5 dataset, a neural operator trained on it, and a mass-conserving FNO."""

from __future__ import annotations

import time

import numpy as np

from ._parts import PartContext

SPLITS = (0.8, 0.1, 0.1)


def dataset(ctx: PartContext) -> dict:
    """Kolmogorov-flow trajectories written by :func:`pdesolve.datasets.generate`, validated by
    :func:`pdesolve.datasets.describe_file` (the code behind ``pdesolve datasets info --deep``)."""
    from ..datasets import describe_file, generate, open_dataset, split_indices
    from ..plotting import plot_snapshot_strip

    c = ctx.config
    path = ctx.out / "ns_kolmogorov.h5"
    # One solver batch holds the test split, so the operator part times the solver on exactly those frames.
    test_size = len(split_indices(c.dataset_samples, SPLITS)["test"])
    with ctx.timer() as t:
        generate("ns-kolmogorov", c.dataset_samples, c.dataset_resolution, path, seed=c.seed,
                 batch_size=max(1, test_size), progress=ctx.progress, overwrite=True,
                 t_final=c.dataset_time, dt_save=c.dataset_dt_save, solve_resolution=64)
    desc = describe_file(path, deep=True)
    with open_dataset(path) as data:
        sample = data[0]  # [t, x, y, c]
        times = np.asarray(data.coordinates["t"], float)
    shown = np.linspace(0, len(times) - 1, 5).round().astype(int)
    figure = plot_snapshot_strip(sample[shown, ..., 0], times[shown], ctx.out / "dataset_sample.png",
                                 title="dataset sample 0 (vorticity)")
    return {
        "kind": "dataset",
        "recipe": "ns-kolmogorov",
        "num_samples": desc["num_samples"],
        "sample_shape": desc["sample_shape"],
        "dtype": desc["dtype"],
        "layout": desc["layout"],
        "size_bytes": desc["size_bytes"],
        "valid": desc["valid"],
        "generate_s": t.seconds,
        "times": times.tolist(),
        "figures": [str(figure)],
        "paths": {"file": str(path)},
        "summary": (f"{desc['num_samples']} Kolmogorov flows [t, x, y, c] = {desc['sample_shape']}, "
                    f"{desc['size_bytes'] / 2**20:.2f} MiB, valid: {path}"),
    }


def operator(ctx: PartContext) -> dict:
    """An FNO trained on the dataset with :func:`pdesolve.training.train`; its test rollout error
    next to persistence ($u(t) = u(0)$), and its inference time next to the reference solver
    producing the same frames."""
    import jax
    import jax.numpy as jnp

    from ..datasets import regenerate_samples
    from ..training import TrainConfig, TrajectoryData, build_model, rollout_model, train

    c = ctx.config
    path = ctx.records["dataset"]["paths"]["file"]
    config = TrainConfig(epochs=c.fno_epochs, batch_size=c.fno_batch_size, learning_rate=3e-3, schedule="cosine",
                         residual=True, start="random", splits=SPLITS, eval_every=max(1, c.fno_epochs // 4), seed=c.seed)
    with TrajectoryData(path, splits=SPLITS) as data:
        model = build_model("fno", in_channels=data.num_channels, out_channels=data.num_channels, ndim=data.ndim,
                            key=jax.random.PRNGKey(c.seed), width=c.fno_width, modes=c.fno_modes)
        with ctx.timer() as t:
            result = train(model, data, config, out=ctx.out, progress=ctx.progress, name="fno")
        test_indices = [int(i) for i in data.indices["test"]]
        test = np.asarray(data.read(test_indices), np.float32)  # [b, t, c, x, y]
    metrics = result.metrics
    truth = test[:, 1:]
    persistence = float(np.mean([np.linalg.norm(s[1:] - s[:1]) / np.linalg.norm(s[1:]) for s in test]))
    persistence_one_step = float(np.mean([np.mean([np.linalg.norm(b - a) / np.linalg.norm(b) for a, b in zip(s[:-1], s[1:])])
                                          for s in test]))

    rollout = jax.jit(jax.vmap(lambda u0: rollout_model(result.model, u0[None], truth.shape[1], residual=True)))
    inputs = jnp.asarray(test[:, 0])
    rollout(inputs).block_until_ready()  # compile first: the time below is inference only
    start = time.perf_counter()
    predicted = rollout(inputs).block_until_ready()
    fno_s = time.perf_counter() - start
    # The reference solver's solve of the same test trajectories (compiled by the dataset part).
    start = time.perf_counter()
    regenerated = regenerate_samples(path, test_indices)  # [b, t, x, y, c]
    solver_s = time.perf_counter() - start
    same = float(np.max(np.abs(np.moveaxis(regenerated, -1, 2) - test)))
    error = float(np.mean([np.linalg.norm(p - s) / np.linalg.norm(s) for p, s in zip(np.asarray(predicted), truth)]))
    steps = [h["step"] for h in result.history]
    return {
        "kind": "training",
        "model": "fno",
        "parameters": int(sum(x.size for x in jax.tree_util.tree_leaves(result.model) if hasattr(x, "size"))),
        "train_s": t.seconds,
        "epochs": c.fno_epochs,
        "test_samples": len(test_indices),
        "rollout_steps": int(truth.shape[1]),
        "test_rollout_rel_l2": error,
        "test_one_step_rel_l2": metrics.get("one_step_rel_l2"),
        "persistence_rollout_rel_l2": persistence,
        "persistence_one_step_rel_l2": persistence_one_step,
        "fno_inference_s": fno_s,
        "solver_s": solver_s,
        "speedup": solver_s / fno_s,
        "solver_reproduces_file": same,
        "steps": steps,
        "loss": [h["train_loss"] for h in result.history],
        "val_steps": [h["step"] for h in result.history if "val_rollout_rel_l2" in h],
        "val_rollout_rel_l2": [h["val_rollout_rel_l2"] for h in result.history if "val_rollout_rel_l2" in h],
        "figures": [str(p) for p in (ctx.out / "loss.png", ctx.out / "prediction.png") if p.exists()],
        "paths": {"run": str(ctx.out), "checkpoint": str(ctx.out / "checkpoint.eqx")},
        "summary": (f"FNO test rel. L2 {error:.3g} over {truth.shape[1]} steps vs persistence {persistence:.3g} "
                    f"(one step {metrics.get('one_step_rel_l2', float('nan')):.3g} vs {persistence_one_step:.3g}); "
                    f"{solver_s / fno_s:.3g}x faster than the solver"),
    }


def constraint(ctx: PartContext) -> dict:
    r"""The mass-conserving FNO of ``docs/hard-constraints.md``: a plain FNO and the same FNO in
    :class:`~pdesolve.constraints.ConstrainedModel` with :class:`~pdesolve.constraints.MassProjection`,
    trained alike on ``heat1d`` data; the mass drift $\max_t |M(t) - M(0)|$ of their test rollouts."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from ..constraints import ConstrainedModel, MassProjection
    from ..datasets import generate
    from ..operators import FNO
    from ..plotting import pyplot
    from ..training import TrainConfig, TrajectoryData, rollout_model, train

    batched_rollout = eqx.filter_jit(jax.vmap(rollout_model, in_axes=(None, 0, None)))
    c = ctx.config
    n = c.constraint_resolution
    path = ctx.out / "heat1d.h5"
    generate("heat1d", c.constraint_samples, n, path, seed=c.seed, progress=False, overwrite=True)
    projection = MassProjection(2 * np.pi / n, shape=(n,))  # M_c = sum_i h u_{c,i} on [0, 2 pi)
    fno = FNO(1, 1, width=16, modes=8, ndim=1, key=jax.random.PRNGKey(c.seed))
    models = {"FNO": fno, "FNO + MassProjection": ConstrainedModel(fno, projection, projection.mass)}
    config = TrainConfig(epochs=c.constraint_epochs, batch_size=16, learning_rate=3e-3, schedule="cosine",
                         dtype="float64", eval_every=0, seed=c.seed)
    drift, errors = {}, {}
    with TrajectoryData(path) as data:
        test = jnp.asarray(data.read(data.indices["test"]), jnp.float64)  # [b, t, c, x]
        for name, model in models.items():
            trained = train(model, data, config, progress=ctx.progress, figures=False, evaluate_test=False,
                            name=name).model

            predicted = jnp.concatenate(  # [b, t, c, x]: u0, then the autoregressive rollout
                [test[:, :1], batched_rollout(trained, test[:, :1], test.shape[1] - 1)], axis=1)
            mass = jax.vmap(jax.vmap(projection.mass))(predicted)[..., 0]  # [b, t]
            drift[name] = np.asarray(jnp.max(jnp.abs(mass - mass[:, :1]), axis=0))
            errors[name] = float(jnp.linalg.norm(predicted - test) / jnp.linalg.norm(test))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, d in drift.items():
        ax.semilogy(np.arange(len(d)), np.maximum(d, 1e-18), marker="o", ms=3, label=name)
    ax.set(xlabel="rollout step", ylabel="max |M(t) - M(0)| over test samples", title="mass drift of FNO rollouts")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    figure = ctx.out / "mass_drift.png"
    fig.savefig(figure, dpi=110, bbox_inches="tight")
    plt.close(fig)
    plain, hard = (float(drift[k].max()) for k in models)
    return {
        "kind": "constraint",
        "problem": "heat1d",
        "resolution": n,
        "mass_error": hard,  # ours: the constrained model's
        "mass_error_unconstrained": plain,
        "mass_error_constrained": hard,
        "rollout_rel_l2_unconstrained": errors["FNO"],
        "rollout_rel_l2_constrained": errors["FNO + MassProjection"],
        "steps": list(range(int(test.shape[1]))),
        "mass_drift_unconstrained": drift["FNO"].tolist(),
        "mass_drift_constrained": drift["FNO + MassProjection"].tolist(),
        "figures": [str(figure)],
        "paths": {"data": str(path)},
        "summary": (f"FNO rollout mass error {plain:.2e}, with MassProjection {hard:.2e} "
                    f"(rel. L2 {errors['FNO']:.3g} vs {errors['FNO + MassProjection']:.3g})"),
    }
