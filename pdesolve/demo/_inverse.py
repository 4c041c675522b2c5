r"""Gradients through the solver: recover the viscosity of a Navier-Stokes run from a few snapshots."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InvalidInputError


@dataclass
class ViscosityFit:
    """What :func:`recover_viscosity` returns.

    **Attributes:** `true_viscosity`, `initial_viscosity`, `recovered_viscosity`,
    `relative_error` ($|\\hat\\nu - \\nu|/\\nu$), `gradient` (autodiff $dL/d\\log\\nu$ at the
    initial guess), `finite_difference` (central difference of the same), `gradient_relative_error`,
    `steps` and `loss` (the Levenberg-Marquardt iterations and $L$ after each, step 0 = the
    initial guess), `viscosities` (the iterate after each step), `observed` (the observed
    snapshots ``[k, 1, n, n]``), `times` (their times).
    """

    true_viscosity: float
    initial_viscosity: float
    recovered_viscosity: float
    relative_error: float
    gradient: float
    finite_difference: float
    gradient_relative_error: float
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    viscosities: list[float] = field(default_factory=list)
    observed: np.ndarray | None = None
    times: list[float] = field(default_factory=list)


def snapshot_model(resolution: int, num_steps: int, num_observations: int, *, dt: float = 0.05, drag: float = 0.1,
                   seed: int = 0):
    r"""The map $\log\nu \mapsto$ vorticity snapshots of a Kolmogorov flow, differentiable in $\nu$.

    2D Navier-Stokes (:class:`~pdesolve.pdes.NavierStokes2D`, forcing $\sin(4y)$, drag
    `drag`) on a `resolution`$^2$ float64 grid from the seeded random vorticity of
    ``build_problem("navier-stokes")``, stepped `num_steps` times by ETDRK4 (the exponential
    coefficients are rebuilt from $\nu$, so gradients flow through them and through every
    step); the state is observed `num_observations` times, evenly spaced, ending at the last step.

    Returns ``(forward, times)`` with ``forward(log_nu) -> [num_observations, 1, n, n]``.
    """
    from ..integrators import ETDRK4
    from ..pdes import NavierStokes2D, kolmogorov_forcing
    from ..problems import build_problem
    from ..spatial import PeriodicGrid

    if num_observations < 1 or num_steps % num_observations:
        raise InvalidInputError(f"num_steps ({num_steps}) must be a positive multiple of num_observations "
                                f"({num_observations})")
    grid = PeriodicGrid(resolution, ndim=2, dtype=jnp.float64)
    forcing = kolmogorov_forcing(grid, wavenumber=4)
    u0 = build_problem("navier-stokes", resolution=resolution, seed=seed, dtype=jnp.float64).u0
    every = num_steps // num_observations

    def forward(log_nu):
        stepper = ETDRK4(NavierStokes2D(grid, viscosity=jnp.exp(log_nu), drag=drag, forcing=forcing), dt)

        def observe(u, _):
            u = jax.lax.fori_loop(0, every, lambda _, v: stepper(v), u)
            return u, u

        return jax.lax.scan(observe, u0, None, length=num_observations)[1]

    return forward, [dt * every * (i + 1) for i in range(num_observations)]


def recover_viscosity(true_viscosity: float = 0.02, initial_viscosity: float | None = None, *, resolution: int = 32,
                      num_steps: int = 40, num_observations: int = 4, lm_steps: int = 12, seed: int = 0,
                      fd_step: float = 1e-4, progress: bool = True) -> ViscosityFit:
    r"""Recover $\nu$ from observed vorticity snapshots by Levenberg-Marquardt through the ETDRK4 rollout.

    The snapshots $\omega^\text{obs}_k$ are made by :func:`snapshot_model` at `true_viscosity`;
    starting from `initial_viscosity` (default twice the true value) the residual

    $$ r(\theta) = \frac{\omega_k(e^\theta) - \omega^\text{obs}_k}{\|\omega^\text{obs}\|},
    \qquad L(\theta) = \tfrac12\|r(\theta)\|^2, $$

    is minimised over $\theta = \log\nu$ by :func:`pdesolve.optim.levenberg_marquardt`, one
    jitted step at a time (the Jacobian $\partial r/\partial\theta$ is differentiated through
    every solver step). The autodiff gradient $dL/d\theta$ at the initial guess is checked
    against the central difference $(L(\theta + h) - L(\theta - h))/2h$ with $h$ = `fd_step`.
    """
    from tqdm.auto import tqdm

    from ..optim import apply_updates, levenberg_marquardt

    if not (true_viscosity > 0 and math.isfinite(true_viscosity)):
        raise InvalidInputError(f"true_viscosity must be positive, got {true_viscosity!r}")
    initial_viscosity = 2.0 * true_viscosity if initial_viscosity is None else initial_viscosity
    if not (initial_viscosity > 0 and math.isfinite(initial_viscosity)):
        raise InvalidInputError(f"initial_viscosity must be positive, got {initial_viscosity!r}")
    forward, times = snapshot_model(resolution, num_steps, num_observations, seed=seed)
    observed = jax.jit(forward)(jnp.log(jnp.asarray(true_viscosity, jnp.float64)))
    scale = jnp.linalg.norm(observed)

    def residual(theta):
        return (forward(theta) - observed) / scale

    def half_cost(theta):
        return 0.5 * jnp.sum(residual(theta) ** 2)

    @jax.jit
    def check(theta):
        value, grad = jax.value_and_grad(half_cost)(theta)
        return value, grad, (half_cost(theta + fd_step) - half_cost(theta - fd_step)) / (2 * fd_step)

    theta = jnp.log(jnp.asarray(initial_viscosity, jnp.float64))
    loss0, grad0, fd = check(theta)

    tx = levenberg_marquardt()

    @jax.jit
    def step(theta, state):
        grads = jax.grad(half_cost)(theta)
        updates, state = tx.update(grads, state, theta, residual_fn=residual)
        theta = apply_updates(theta, updates)
        return theta, state, half_cost(theta)

    state = tx.init(theta)
    losses, nus = [float(loss0)], [float(initial_viscosity)]
    for _ in tqdm(range(lm_steps), desc="inverse: Levenberg-Marquardt", disable=not progress, dynamic_ncols=True):
        theta, state, value = step(theta, state)
        losses.append(float(value))
        nus.append(float(jnp.exp(theta)))
    recovered = float(jnp.exp(theta))
    grad0, fd = float(grad0), float(fd)
    return ViscosityFit(
        true_viscosity=float(true_viscosity), initial_viscosity=float(initial_viscosity),
        recovered_viscosity=recovered, relative_error=abs(recovered - true_viscosity) / true_viscosity,
        gradient=grad0, finite_difference=fd, gradient_relative_error=abs(grad0 - fd) / max(abs(fd), 1e-300),
        steps=list(range(lm_steps + 1)), loss=losses, viscosities=nus, observed=np.asarray(observed), times=times,
    )


def inverse(ctx) -> dict:
    """The demo part: :func:`recover_viscosity` with a figure of its convergence."""
    from ..plotting import plot_snapshot_strip, pyplot

    c = ctx.config
    with ctx.timer() as t:
        fit = recover_viscosity(0.02, resolution=c.inverse_resolution, num_steps=c.inverse_steps,
                                num_observations=c.inverse_observations, lm_steps=c.inverse_lm_steps, seed=c.seed,
                                progress=ctx.progress)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.semilogy(fit.steps, [abs(v - fit.true_viscosity) / fit.true_viscosity + 1e-17 for v in fit.viscosities],
                marker="o", ms=3, label="|nu - nu_true| / nu_true")
    ax.semilogy(fit.steps, [max(v, 1e-32) for v in fit.loss], marker="s", ms=3, label="loss L")
    ax.set(xlabel="Levenberg-Marquardt step", title="viscosity recovered through ETDRK4")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    figure = ctx.out / "inverse_convergence.png"
    fig.savefig(figure, dpi=110, bbox_inches="tight")
    plt.close(fig)
    observed = plot_snapshot_strip(fit.observed[:, 0], fit.times, ctx.out / "observed_snapshots.png",
                                   title="observed vorticity")
    record = {
        "kind": "inverse",
        "parameter": "viscosity",
        "true_value": fit.true_viscosity,
        "initial_value": fit.initial_viscosity,
        "recovered_value": fit.recovered_viscosity,
        "relative_error": fit.relative_error,
        "goal": 1e-3,
        "gradient": fit.gradient,
        "finite_difference": fit.finite_difference,
        "gradient_relative_error": fit.gradient_relative_error,
        "optimizer": "pdesolve.optim.levenberg_marquardt",
        "resolution": c.inverse_resolution,
        "solver_steps": c.inverse_steps,
        "observation_times": fit.times,
        "steps": fit.steps,
        "loss": fit.loss,
        "values": fit.viscosities,
        "figures": [str(figure), str(observed)],
        "summary": (f"viscosity {fit.recovered_viscosity:.6g} (true {fit.true_viscosity:g}, start "
                    f"{fit.initial_viscosity:g}), rel. error {fit.relative_error:.1e} (goal 1e-3); gradient vs "
                    f"finite difference {fit.gradient_relative_error:.1e}"),
    }
    if not fit.relative_error <= 1e-3:
        ctx.fail(f"recovered viscosity {fit.recovered_viscosity:.6g} misses the true {fit.true_viscosity:g} by "
                 f"{fit.relative_error:.1e} > 1e-3", **record)
    if not fit.gradient_relative_error <= 1e-4:
        ctx.fail(f"the gradient {fit.gradient:.6g} disagrees with its finite difference {fit.finite_difference:.6g}",
                 **record)
    return record
