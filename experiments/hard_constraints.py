r"""Soft vs hard vs mixture-of-experts hard constraints, trained on the PDE residual alone.

The set-up of Chalapathi, Du & Krishnapriyan (ICLR 2024) at CPU scale, on the constraint problems
of :mod:`pdesolve.problems` (``diffusion-sorption``, ``hc-heat``, ``hc-navier-stokes``). One basis
network (:class:`~pdesolve.constraints.FourierFeatureBasis` in 1D,
:class:`~pdesolve.constraints.PeriodicStreamfunctionBasis` for Navier-Stokes) gives $N$ bases,
$u = b\cdot\omega$, and the models differ only in where $\omega$ comes from:

- ``soft``: $\omega$ is trained; the loss has PDE, initial and boundary penalties.
- ``hard``: one global solve sets $\omega$ at $M$ constraint points (an
  :class:`~pdesolve.constraints.ExpertLayer` with one expert).
- ``moe``: $K$ independent experts (4 slabs in $x$, or 2 x 2 quadrants), each solving at its own
  points; the loss adds the squared interface jumps (Navier-Stokes: a blended partition of unity).
- ``coupled``: the same experts solved together with the jumps at interface points as constraints
  (:class:`~pdesolve.constraints.CoupledExpertLayer`).

Every model sees the same loss points (resampled every step), Adam steps, learning rate (cosine
decay) and gradient clipping; no interior solution data. Reported per model: relative $L^2$ error
against the reference, the max constraint residual, the time per training step, and a timing of
the constraint layer alone (forward + implicit backward) for the global layer vs the mixtures.

Presets (:data:`PRESETS`; the results are in experiments/README.md):

    python experiments/hard_constraints.py --preset ds-quick --json out.json
    python experiments/hard_constraints.py --preset ds-quick --figure fields.png   # 1D problems
    python experiments/hard_constraints.py --preset ns-least-squares --seed 1 --models hard
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from pdesolve import optim, problems
from pdesolve.bench import best_time, write_result_json
from pdesolve.constraints import (
    CoupledExpertLayer, CoupledMixtureOfExperts, ExpertLayer, FourierFeatureBasis, InitialLift, LeastSquaresConstraint,
    MapExperts, MinimumNormConstraint, MixtureOfExperts, PeriodicStreamfunctionBasis, QuadrantModel, SlabModel,
    TangentConstraint, jump_conditions, quadrant_interface_points, quadrant_loss_points, quadrant_point_counts,
    quadrant_points, slab_interface_points, slab_loss_points, slab_points,
)
from pdesolve.metrics import relative_l2

# One expert's constraint layer by name: (residual_fn, N bases, solver steps) -> layer.
LAYERS = {
    "kkt": lambda fn, n, steps: MinimumNormConstraint(fn, n, num_steps=steps, tolerance=1e-8, on_failure="ignore"),
    "gauss-newton": lambda fn, n, steps: TangentConstraint(
        fn, n, num_steps=steps, solver=optim.gauss_newton(max_backtracking_steps=30), tolerance=1e-8,
        on_failure="ignore"),
    "levenberg-marquardt": lambda fn, n, steps: TangentConstraint(
        fn, n, num_steps=steps, solver=optim.levenberg_marquardt(initial_damping=1.0), tolerance=1e-8,
        on_failure="ignore"),
    "least-squares": lambda fn, n, steps: LeastSquaresConstraint(
        fn, n, num_steps=steps, solver=optim.levenberg_marquardt(), tolerance=1e-8, on_failure="ignore"),
}
ALL = ("soft", "hard", "moe", "coupled")
_COMMON = {"width": 64, "depth": 3, "boundary": 64, "lr": 3e-3, "clip_norm": 1.0, "points": 128, "bases": 512,
           "shared_bases": False, "warm_start": False, "models": ALL}
_SLAB = {**_COMMON, "experts": 4, "steps": 400, "interior": 512, "global_conditions": False, "reference_nodes": 128,
         "log_every": 50}
_QUAD = {**_COMMON, "experts_per_axis": 2, "steps": 300, "interior": 128, "resolution": 64, "overlap": 0.5,
         "blend": 0.05, "lift": False, "hard": ("levenberg-marquardt", 20), "moe": ("levenberg-marquardt", 20),
         "coupled": (30, 1e-6, 2), "log_every": 25}
_DS = {**_SLAB, "problem": "diffusion-sorption", "hard": ("kkt", 30), "moe": ("gauss-newton", 12),
       "coupled": (200, 1e-6, 16), "warm_start": True}
_DS_LS = {**_DS, "steps": 3000, "points": 4096, "bases": 16, "shared_bases": True, "global_conditions": True,
          "hard": ("least-squares", 40), "moe": ("least-squares", 40), "models": ALL[:3]}
# hard/moe: (layer, solver steps); coupled: (Levenberg-Marquardt steps, initial damping, points per interface).
# Exact minimum-norm ("kkt") layers start from zero; the others from the problem's linearised solution.
PRESETS = {
    "heat-quick": {**_SLAB, "problem": "hc-heat", "hard": ("kkt", 2), "moe": ("kkt", 2), "coupled": (20, 1e-10, 8)},
    "ds-quick": _DS,
    "ds-global-conditions": {**_DS, "steps": 3000, "global_conditions": True, "models": ALL[:3]},
    "ds-least-squares": _DS_LS,
    "ds-least-squares-m1024": {**_DS_LS, "points": 1024},
    "ns-quick": {**_QUAD, "problem": "hc-navier-stokes"},
    "ns-least-squares": {**_QUAD, "problem": "hc-navier-stokes", "steps": 1000, "points": 1024, "bases": 64,
                         "shared_bases": True, "blend": 0.02, "hard": ("least-squares", 20),
                         "moe": ("least-squares", 20), "models": ALL[:3]},
    "ns-lift": {**_QUAD, "problem": "hc-navier-stokes", "lift": True, "models": ALL[:3]},
}


def expert_layer(cfg, kind, problem, n, interfaces, jet_fields):
    """The constraint layer of a ``hard``/``moe``/``coupled`` model with N bases per expert."""
    if kind == "coupled":
        steps, damping, _ = cfg["coupled"]
        mixture = CoupledMixtureOfExperts(problem.collocation_residual, jump_conditions, n, num_steps=steps,
                                          tolerance=1e-10, initial_damping=damping, batching=MapExperts(),
                                          on_failure="ignore")
        start = None if cfg["hard"][0] == "kkt" else problem.linearised_coefficients  # as the global layer
        return CoupledExpertLayer(mixture, *interfaces, jet_fields, initial=start)
    name, steps = cfg[kind]
    constraint = LAYERS[name](problem.collocation_residual, n, steps)
    start = None if isinstance(constraint, MinimumNormConstraint) else problem.linearised_coefficients
    return ExpertLayer(MixtureOfExperts(constraint, batching=MapExperts()), initial=start)


def bases_per_solve(cfg, experts):
    return cfg["bases"] if cfg["shared_bases"] else cfg["bases"] // experts


class Slab:
    """Wiring of a 1D problem: models, constraint points, loss, evaluation."""

    def __init__(self, cfg, problem, seed):
        self.cfg, self.problem = cfg, problem
        self.x, self.t = jnp.arange(65) / 64, jnp.arange(1, 33) / 32
        self.reference = problem.reference(self.x, self.t, cfg["reference_nodes"])

    def build(self, kind, key):
        cfg, k = self.cfg, (self.cfg["experts"] if kind in ("moe", "coupled") else 1)
        n = bases_per_solve(cfg, k)
        knet, kw = jax.random.split(key)
        net = FourierFeatureBasis(n, cfg["width"], cfg["depth"], key=knet)
        if kind == "soft":
            model = SlabModel(net, omega=jax.random.normal(kw, (n,)) / math.sqrt(n))
        else:
            interfaces = slab_interface_points(k, cfg["coupled"][2]) if kind == "coupled" else None
            layer = expert_layer(cfg, kind, self.problem, n, interfaces, ("b", "b_x"))
            model = SlabModel(net, layer=layer, num_experts=k)
        points = slab_points(self.problem, k, cfg["points"] // k, jax.random.key(7),
                             global_conditions=cfg["global_conditions"] and k > 1)
        return model, points

    def sample(self, key):
        return slab_loss_points(key, self.cfg["interior"], self.cfg["boundary"])

    def loss(self, points):
        return lambda m, batch, start: m.residual_loss(self.problem, points, batch, start)

    def evaluate(self, model, points, start):
        omegas, sol = model.coefficients(points, start)
        xx, tt = jnp.meshgrid(self.x, self.t, indexing="xy")
        u = model.evaluate(omegas, jnp.stack([xx.ravel(), tt.ravel()], 1))["b"].reshape(tt.shape)
        row = {"rel_l2": float(relative_l2(u, self.reference))}
        return row, sol, omegas, u


class Quadrants:
    """Wiring of the 2D Navier-Stokes problem: models, constraint points, loss, evaluation."""

    def __init__(self, cfg, problem, seed):
        self.cfg, self.problem = cfg, problem
        self.w0, self.frames = problem.initial_and_reference(cfg["resolution"], jax.random.key(seed))
        self.stride = max(1, cfg["resolution"] // 32)

    def build(self, kind, key):
        cfg, a = self.cfg, (self.cfg["experts_per_axis"] if kind in ("moe", "coupled") else 1)
        n = bases_per_solve(cfg, a * a)
        knet, kw = jax.random.split(key)
        lift = InitialLift(self.w0) if cfg["lift"] else None
        net = PeriodicStreamfunctionBasis(n, cfg["width"], cfg["depth"], key=knet, vanish_at_start=cfg["lift"])
        blend = cfg["blend"] if kind == "moe" else 0.0
        if kind == "soft":
            model = QuadrantModel(net, omega=jax.random.normal(kw, (n,)) / math.sqrt(n), lift=lift)
        else:
            interfaces = quadrant_interface_points(a, cfg["coupled"][2]) if kind == "coupled" else None
            layer = expert_layer(cfg, kind, self.problem, n, interfaces, ("w", "psi_x", "psi_y"))
            model = QuadrantModel(net, layer=layer, experts_per_axis=a, blend=blend, lift=lift)
        ic_per_axis, pde_per_expert = quadrant_point_counts(cfg["points"], a, initial_points=not cfg["lift"])
        points = quadrant_points(self.w0, a, ic_per_axis, pde_per_expert, jax.random.key(7),
                                 cfg["overlap"] if a > 1 else 0.0, blend)
        return model, points

    def sample(self, key):
        return quadrant_loss_points(key, self.cfg["interior"], self.cfg["boundary"], self.w0.shape[0])

    def loss(self, points):
        return lambda m, batch, start: m.residual_loss(self.problem, points, self.w0, batch)

    def evaluate(self, model, points, start):
        omegas, sol = model.coefficients(points)
        nodes = jnp.arange(0, self.frames.shape[-1], self.stride) / self.frames.shape[-1]
        xx, yy = jnp.meshgrid(nodes, nodes, indexing="ij")
        last = self.frames.shape[0] - 1
        preds = jnp.stack([model.evaluate(omegas, jnp.stack([xx.ravel(), yy.ravel(), jnp.full(xx.size, j / last)], 1))
                           ["w"].reshape(xx.shape) for j in range(last + 1)])
        row = relative_errors(preds, self.frames[:, ::self.stride, ::self.stride])
        return row, sol, omegas, None


def relative_errors(preds, reference):
    """Relative L2 over t = 1..T (``rel_l2``) and per frame t = 0, 1, ..., T (``rel_l2_by_time``)."""
    return {"rel_l2": float(relative_l2(preds[1:], reference[1:])),
            "rel_l2_by_time": [float(e) for e in jax.vmap(relative_l2)(preds, reference)]}


def train(setup, kind, seed, warm):
    """Adam (cosine decay to 5%, global-norm clipping) on the residual loss; returns the trained
    model, its constraint points, the seconds per step, the logged losses and failures, and the
    last coefficients when the solves are warm-started from the previous step's."""
    cfg = setup.cfg
    model, points = setup.build(kind, jax.random.key(seed))
    loss_fn = setup.loss(points)
    opt = optax.chain(optax.clip_by_global_norm(cfg["clip_norm"]),
                      optax.adam(optax.cosine_decay_schedule(cfg["lr"], cfg["steps"], alpha=0.05)))
    state = opt.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def step(model, state, key, start):
        batch = setup.sample(key)
        (loss, aux), grads = eqx.filter_value_and_grad(lambda m: loss_fn(m, batch, start), has_aux=True)(model)
        updates, state = opt.update(grads, state, eqx.filter(model, eqx.is_inexact_array))
        return eqx.apply_updates(model, updates), state, loss, aux

    def split(aux):  # (converged, coefficients) in 1D, converged for Navier-Stokes
        return aux if isinstance(aux, tuple) else (aux, None)

    keys = jax.random.split(jax.random.key(seed + 1), cfg["steps"])
    model, state, loss, aux = step(model, state, keys[0], None)  # compiles
    jax.block_until_ready(loss)
    start = split(aux)[1] if warm else None
    if warm:  # compile the warm-started step outside the timing too
        jax.block_until_ready(step(model, state, keys[0], start))
    clock, losses, failures = time.perf_counter(), [], 0
    for i in range(1, cfg["steps"]):
        model, state, loss, aux = step(model, state, keys[i], start)
        converged, omegas = split(aux)
        start = omegas if warm else None
        if i % cfg["log_every"] == 0 or i == cfg["steps"] - 1:
            losses.append(float(loss))
            failures += int(not bool(converged))
    return model, points, (time.perf_counter() - clock) / max(cfg["steps"] - 1, 1), losses, failures, start


def solve_timing(setup, kinds, repeats):
    """Best time of the constraint layer alone (forward + implicit backward, loss = sum of squared
    coefficients), per model kind, from the untrained networks (key 0)."""
    out = {}
    for kind in kinds:
        model, points = setup.build(kind, jax.random.key(0))
        layer, features = model.layer, model.constraint_features(points)
        init = layer.initial_guess(features)
        coupling = layer.coupling_features(model.jet)
        types, values = features.pop("types"), features.pop("values")

        @eqx.filter_jit
        def fwd_bwd(inputs, layer=layer, init=init, types=types, values=values):
            def loss(diff):
                f, g = diff
                return jnp.sum(layer.solve({**f, "types": types, "values": values}, g, init).coefficients ** 2)

            return eqx.filter_value_and_grad(loss)(inputs)

        out[kind] = best_time(fwd_bwd, (features, coupling), repeats)[0]
    return out


def plot_fields(path, x, t, reference, fields, title):
    """PNG: the reference and each model's u(x, t) (top row), and each |u - reference| on a log scale."""
    from matplotlib.colors import LogNorm

    from pdesolve.plotting import pyplot

    plt, reference = pyplot(), np.asarray(reference)
    errors = {name: np.abs(np.asarray(u) - reference) for name, u in fields.items()}
    fig, axes = plt.subplots(2, 1 + len(fields), figsize=(3.0 * len(fields) + 4.0, 6.0), squeeze=False,
                             layout="constrained")
    extent = (float(x[0]), float(x[-1]), float(t[0]), float(t[-1]))
    lo, hi = float(reference.min()), float(reference.max())
    top = max([float(e.max()) for e in errors.values()] + [1e-300])
    norm = LogNorm(vmin=max(top * 1e-6, 1e-300), vmax=top)
    image = axes[0, 0].imshow(reference, origin="lower", aspect="auto", extent=extent, vmin=lo, vmax=hi)
    axes[0, 0].set(title="reference", xlabel="x", ylabel="t")
    axes[1, 0].axis("off")
    for column, (name, u) in enumerate(fields.items(), start=1):
        axes[0, column].imshow(np.asarray(u), origin="lower", aspect="auto", extent=extent, vmin=lo, vmax=hi)
        axes[0, column].set(title=f"{name} (rel. L2 {float(relative_l2(u, reference)):.2%})", xlabel="x")
        error_image = axes[1, column].imshow(np.maximum(errors[name], norm.vmin), origin="lower", aspect="auto",
                                             extent=extent, norm=norm, cmap="magma")
        axes[1, column].set(title=f"|{name} - reference|", xlabel="x")
    fig.colorbar(image, ax=list(axes[0]), label="u")
    if fields:
        fig.colorbar(error_image, ax=list(axes[1]), label="absolute error")
    fig.suptitle(title)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run(cfg, seed, figure=None):
    """Train and evaluate every model of `cfg`; returns the summary dict."""
    problem = problems.get(cfg["problem"], problems.ConstraintProblem)
    clock = time.perf_counter()
    setup = (Quadrants if isinstance(problem, problems.VorticityProblem) else Slab)(cfg, problem, seed)
    print(f"reference ({problem.name}) in {time.perf_counter() - clock:.1f}s", file=sys.stderr)
    rows, fields = [], {}
    for kind in cfg["models"]:
        clock = time.perf_counter()
        warm = cfg["warm_start"] and kind == "coupled"
        model, points, seconds, losses, failures, start = train(setup, kind, seed, warm)
        row, sol, omegas, fields[kind] = setup.evaluate(model, points, start)
        residual = None if sol is None else float(jnp.max(jnp.abs(model.constraint_residual(problem, points, omegas))))
        row = {"model": kind, **row, "constraint_residual_max": residual,
               "final_solve_converged": None if sol is None else bool(jnp.all(sol.converged)),
               "seconds_per_step": seconds, "bases_per_solve": int(omegas.shape[1]), "experts": int(omegas.shape[0]),
               "final_loss": losses[-1] if losses else None, "logged_losses": losses,
               "nonconverged_logged_steps": failures, "train_seconds": time.perf_counter() - clock}
        rows.append(row)
        print(row, file=sys.stderr)
    summary = {"problem": problem.name, "results": rows, "paper_rel_l2": dict(problem.paper_rel_l2)}
    if isinstance(setup, Quadrants):  # the baseline w(t) = w0: a model above it learned none of the dynamics
        reference = setup.frames[:, ::setup.stride, ::setup.stride]
        summary["persistence"] = relative_errors(jnp.broadcast_to(reference[0], reference.shape), reference)
    elif figure:
        plot_fields(figure, setup.x, setup.t, setup.reference, fields,
                    f"{problem.name}: {cfg['steps']} Adam steps, M = {cfg['points']} constraint points, seed {seed}")
    timing = solve_timing(setup, [k for k in ALL[1:] if k != "coupled" or "coupled" in cfg["models"]],
                          3 if isinstance(setup, Quadrants) else 5)
    summary["solve_only_seconds"] = timing
    by_kind = {row["model"]: row for row in rows}
    for kind in ("moe", "coupled"):
        if kind in timing:
            summary[f"{kind}_solve_speedup"] = timing["hard"] / timing[kind]
        if "hard" in by_kind and kind in by_kind:
            step = by_kind["hard"]["seconds_per_step"] / by_kind[kind]["seconds_per_step"]
            summary[f"{kind}_train_step_speedup"] = step
    return summary


def report(summary, cfg, preset, seed):
    print(f"\n{summary['problem']} ({preset}, seed {seed}): {cfg['steps']} Adam steps, M = {cfg['points']}")
    if "persistence" in summary:
        print(f"baseline w(t) = w0 (nothing moves): rel_L2 {summary['persistence']['rel_l2']:.2%}")
    print(f"{'model':8} {'rel_L2':>9} {'max|r| at constraint pts':>25} {'s/step':>8} {'paper':>7}")
    for r in summary["results"]:
        cres = "-" if r["constraint_residual_max"] is None else f"{r['constraint_residual_max']:.1e}"
        paper = summary["paper_rel_l2"].get(r["model"])
        paper = "-" if paper is None else f"{paper:.2%}"
        print(f"{r['model']:8} {r['rel_l2']:9.2%} {cres:>25} {r['seconds_per_step']:8.4f} {paper:>7}")
    for kind in ("moe", "coupled"):
        if f"{kind}_solve_speedup" in summary:
            print(f"{kind} layer fwd+bwd {summary['solve_only_seconds'][kind] * 1e3:.2f} ms vs global "
                  f"{summary['solve_only_seconds']['hard'] * 1e3:.2f} ms: {summary[f'{kind}_solve_speedup']:.2f}x")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), required=True, help="the configuration (see PRESETS)")
    parser.add_argument("--seed", type=int, default=0, help="network initialisation, loss points, NS initial field")
    parser.add_argument("--steps", type=int, default=None, help="Adam steps per model (default: the preset's)")
    parser.add_argument("--models", nargs="+", choices=ALL, default=None, help="default: the preset's")
    parser.add_argument("--json", default=None, help="save the results (with command, seed and commit) here")
    parser.add_argument("--figure", default=None, help="1D problems: a PNG of each model's u(x, t) and error")
    args = parser.parse_args(argv)
    cfg = {**PRESETS[args.preset], **{k: v for k, v in (("steps", args.steps), ("models", args.models)) if v}}
    if args.steps is not None and args.steps < 1:
        parser.error("--steps must be a positive integer")
    if args.figure and cfg["problem"] == "hc-navier-stokes":
        parser.error("--figure is for the 1D presets")
    jax.config.update("jax_enable_x64", True)
    summary = run(cfg, args.seed, args.figure)
    report(summary, cfg, args.preset, args.seed)
    if args.json:
        config = {k: v for k, v in cfg.items() if k != "models"}
        write_result_json(args.json, {"preset": args.preset, "config": config, **summary}, seed=args.seed,
                          argv=None if argv is None else ["experiments/hard_constraints.py", *argv])
    return 0


if __name__ == "__main__":
    sys.exit(main())
