r"""``pdesolve train neural-ode``: a neural ODE as a frame-to-frame surrogate for the training loop.

The generic loop of :mod:`pdesolve.training` trains models that map a window of frames to the
next frame. :class:`NeuralODEStepper` is such a model: it integrates

$$
\partial_t u = F_{\text{ref}}(u) + \mathcal{C}_\theta(u), \qquad u_{n+1} = u(t_n + \Delta t),
$$

over one frame interval $\Delta t$ (`frame_dt`) with an adaptive Diffrax solve and the chosen
adjoint, where $\mathcal{C}_\theta$ is a :class:`~pdesolve.neural_ode.PeriodicConvCorrection`
and $F_{\text{ref}}$ is a coarse reference PDE (``heat``, ``burgers``; closure use case) or
zero (``none``; purely data-driven). Only the last frame of the window is used (the ODE is
Markovian). With ``--regulariser global|local`` the loss adds the solver-heuristic regulariser
of Pal et al. (2021, 2023) (:class:`~pdesolve.neural_ode.ErrorEstimateRecorder`).

Registered as ``neural-ode`` in :data:`pdesolve.training.MODELS` when this module is imported
(list it in :data:`pdesolve.training.PLUGIN_MODULES`).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import InvalidInputError
from ..spatial import PeriodicGrid
from ._closure import PeriodicConvCorrection
from ._model import ADJOINTS, NeuralODE

REFERENCES = ("none", "heat", "burgers")
DEFAULTS = {
    "reference": "none", "viscosity": 0.01, "extent": 2 * math.pi, "frame_dt": 1.0, "ode_width": 32,
    "ode_depth": 2, "kernel_size": 5, "adjoint": "recursive-checkpoint", "rtol": 1e-4, "atol": 1e-6,
    "max_steps": 1024, "regulariser": "none", "regularisation_weight": 1e-3,
}


class _ReferenceField(eqx.Module):
    """$F_{\\text{ref}}(u) + \\mathcal{C}_\\theta(u)$ with the reference PDE built for the state's grid at trace time."""

    correction: PeriodicConvCorrection
    reference: str = eqx.field(static=True)
    viscosity: float = eqx.field(static=True)
    extent: float = eqx.field(static=True)

    def __call__(self, t, u, args=None):
        du = self.correction(u)
        if self.reference == "none":
            return du
        from ..pdes import Burgers, Heat

        grid = PeriodicGrid(u.shape[1:], extent=self.extent, dtype=u.dtype)
        pde = Heat(grid, self.viscosity) if self.reference == "heat" else Burgers(grid, self.viscosity)
        if pde.num_channels != u.shape[0]:
            raise InvalidInputError(
                f"the {self.reference} reference expects {pde.num_channels} channels, the data have {u.shape[0]}"
            )
        return du + pde.rhs(t, u)


class NeuralODEStepper(eqx.Module):
    r"""Map a window of frames ``(window * c, *space)`` to the next frame by a neural-ODE solve over `frame_dt`.

    **Arguments:**

    - `channels`, `ndim`: field channels and space dimensions.
    - `key`: PRNG key.
    - options (see :data:`DEFAULTS`): `reference` (``none``/``heat``/``burgers``),
      `viscosity`, `extent` (of the reference PDE), `frame_dt`, `ode_width`, `ode_depth`,
      `kernel_size`, `adjoint`, `rtol`, `atol`, `max_steps`, `regulariser`
      (``none``/``global``/``local``), `regularisation_weight`.
    """

    ode: NeuralODE
    channels: int = eqx.field(static=True)
    frame_dt: float = eqx.field(static=True)
    regulariser: str = eqx.field(static=True)
    regularisation_weight: float = eqx.field(static=True)

    def __init__(self, channels: int, ndim: int, *, key: PRNGKeyArray, **options):
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise InvalidInputError(f"unknown neural-ode option {unknown[0]!r}; allowed: {', '.join(DEFAULTS)}")
        o = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
        if o["reference"] not in REFERENCES:
            raise InvalidInputError(f"reference must be one of {', '.join(REFERENCES)}, got {o['reference']!r}")
        if o["regulariser"] not in ("none", "global", "local"):
            raise InvalidInputError(f"regulariser must be none, global or local, got {o['regulariser']!r}")
        if o["adjoint"] not in ADJOINTS:
            raise InvalidInputError(f"unknown adjoint {o['adjoint']!r}; choose from {', '.join(ADJOINTS)}")
        if o["regulariser"] == "global" and o["adjoint"] == "backsolve":
            raise InvalidInputError(
                "the global solver-heuristic regulariser needs the 'recursive-checkpoint' or 'direct' adjoint (local works with any)"
            )
        for name in ("frame_dt", "viscosity", "extent"):
            value = float(o[name])
            if not (math.isfinite(value) and (value > 0 or (name == "viscosity" and value == 0))):
                raise InvalidInputError(f"{name.replace('_', '-')} must be positive and finite, got {o[name]!r}")
        correction = PeriodicConvCorrection(
            channels, ndim, width=o["ode_width"], depth=o["ode_depth"], kernel_size=o["kernel_size"], key=key
        )
        field = _ReferenceField(correction, o["reference"], float(o["viscosity"]), float(o["extent"]))
        self.ode = NeuralODE(field, adjoint=o["adjoint"], rtol=o["rtol"], atol=o["atol"], max_steps=o["max_steps"])
        self.channels = int(channels)
        self.frame_dt = float(o["frame_dt"])
        self.regulariser = o["regulariser"]
        self.regularisation_weight = float(o["regularisation_weight"])

    def _times(self, dtype):
        return jnp.asarray([0.0, self.frame_dt], dtype)

    def __call__(self, window: Float[Array, "wc *space"]) -> Float[Array, "c *space"]:
        u = window[-self.channels :]
        return self.ode(u, self._times(u.dtype))[-1]

    def step_with_regulariser(self, u: Float[Array, "c *space"], sample_time) -> tuple[Array, Array]:
        """The next frame and this step's regulariser ($R_E$, or the local one-step $E\\,h$ at `sample_time`)."""
        if self.regulariser == "local":
            ys, reg, _, _ = self.ode.solve_with_local_regulariser(u, self._times(u.dtype), sample_time, throw=False)
            return ys[-1], reg
        ys, stats = self.ode.solve_with_stats(u, self._times(u.dtype), throw=False)
        return ys[-1], stats.error_sum


def _loss(config):
    """Rollout loss (relative L2 or MSE per the config) plus the model's solver-heuristic regulariser."""
    kind = config.loss

    def loss(model, batch, key=None):
        inputs, targets = batch
        steps = targets.shape[1]
        if model.regulariser == "none":
            predictions = jax.vmap(lambda f: _rollout(model, f[-1, -model.channels :], steps))(inputs)
            penalty = 0.0
        else:
            key = jax.random.PRNGKey(0) if key is None else key
            samples = jax.random.uniform(key, (inputs.shape[0], steps), inputs.dtype, 0.0, model.frame_dt)
            predictions, regs = jax.vmap(lambda f, s: _rollout_regularised(model, f[-1, -model.channels :], s))(
                inputs, samples
            )
            penalty = model.regularisation_weight * jnp.mean(regs)
        if kind == "mse":
            data = jnp.mean((predictions - targets) ** 2)
        else:
            axes = tuple(range(2, predictions.ndim))
            num = jnp.sqrt(jnp.sum((predictions - targets) ** 2, axis=axes))
            den = jnp.maximum(jnp.sqrt(jnp.sum(targets**2, axis=axes)), jnp.finfo(targets.dtype).tiny)
            data = jnp.mean(num / den)
        return data + penalty

    return loss


def _rollout(model, u, steps):
    def step(u, _):
        nxt = model(u)
        return nxt, nxt

    return jax.lax.scan(step, u, None, length=int(steps))[1]


def _rollout_regularised(model, u, sample_times):
    def step(u, s):
        nxt, reg = model.step_with_regulariser(u, s)
        return nxt, (nxt, reg)

    return jax.lax.scan(step, u, sample_times)[1]


def _arguments(parser) -> None:
    d = DEFAULTS
    parser.add_argument("--reference", choices=REFERENCES, default=d["reference"],
                        help="coarse reference PDE added to the learned field: none (data-driven), heat, burgers (none)")
    parser.add_argument("--viscosity", type=float, default=d["viscosity"], help="reference PDE viscosity (0.01)")
    parser.add_argument("--extent", type=float, default=d["extent"], help="reference PDE box side (2 pi)")
    parser.add_argument("--frame-dt", type=float, default=d["frame_dt"],
                        help="time between saved frames, integrated per model step (1.0; use the dataset's dt_save)")
    parser.add_argument("--ode-width", type=int, default=d["ode_width"], help="hidden channels of the vector field (32)")
    parser.add_argument("--ode-depth", type=int, default=d["ode_depth"], help="hidden layers of the vector field (2)")
    parser.add_argument("--kernel-size", type=int, default=d["kernel_size"], help="convolution width (5)")
    parser.add_argument("--adjoint", choices=ADJOINTS, default=d["adjoint"], help="gradient method (recursive-checkpoint)")
    parser.add_argument("--rtol", type=float, default=d["rtol"], help="solver relative tolerance (1e-4)")
    parser.add_argument("--atol", type=float, default=d["atol"], help="solver absolute tolerance (1e-6)")
    parser.add_argument("--max-steps", type=int, default=d["max_steps"], help="solver steps per frame at most (1024)")
    parser.add_argument("--regulariser", choices=("none", "global", "local"), default=d["regulariser"],
                        help="solver-heuristic regulariser (Pal et al. 2021 global / 2023 local) (none)")
    parser.add_argument("--regularisation-weight", type=float, default=d["regularisation_weight"],
                        help="weight of the regulariser (1e-3)")


def _build(options, *, in_channels, out_channels, ndim, key):
    if in_channels % out_channels:
        raise InvalidInputError(f"in_channels = {in_channels} is not a multiple of the {out_channels} field channels")
    return NeuralODEStepper(out_channels, ndim, key=key, **{k: v for k, v in options.items() if k in DEFAULTS})


def register() -> None:
    """Register ``neural-ode`` in :data:`pdesolve.training.MODELS` (idempotent)."""
    from ..training import MODELS, register_model

    if "neural-ode" not in MODELS:
        register_model(
            "neural-ode", _build, add_arguments=_arguments, loss=_loss,
            description="neural ODE frame stepper (Diffrax, choice of adjoint), data-driven or closure on a coarse PDE",
        )


register()
