r"""Training a learned correction through the solver: differentiable unrolls and the unrolled loss.

Given coarse-grid target frames $\bar u_1, \dots, \bar u_N$ (fine-grid trajectories, filtered
and downsampled to the coarse grid, e.g. with :func:`pdesolve.datasets.spectral_truncate`)
$k$ = `steps_per_frame` hybrid steps apart, the loss unrolls the corrected stepper
$\Phi_\theta = S_{\Delta t} + \Delta t\,C_\theta$ from $\bar u_0$ and compares every frame:

$$\mathcal{L}(\theta) = \frac{\sum_{b}\sum_{j=1}^{N} \|P_K(\Phi_\theta^{jk}(\bar u_{b,0}) - \bar u_{b,j})\|^2}
{\sum_b \sum_{j=1}^{N} \|P_K \bar u_{b,j}\|^2},$$

where $P_K$ keeps the Fourier modes $|m| \le K$ (all modes without `max_wavenumber`). The
gradient flows through all $Nk$ solver steps ("training through the solver", Um et al. 2020;
Kochkov et al. 2021); each step is wrapped in ``jax.checkpoint``, so the backward pass stores
one state per step and recomputes the step's internals (memory $O(Nk)$ states, not
$O(Nk)$ stages and network activations). $N = 1$ is the one-step loss on precomputed pairs.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import InvalidInputError
from ..integrators import AbstractSpectralStepper, AbstractStepper
from ..spatial import irfft, rfft, rfft_weights
from ._stepper import corrected


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def unroll(
    stepper: AbstractStepper,
    u0: Float[Array, "c ..."],
    num_frames: int,
    *,
    steps_per_frame: int = 1,
    checkpoint: bool = True,
) -> Float[Array, "num_frames c ..."]:
    r"""The differentiable rollout $u_j = \Phi^{jk}(u_0)$, $j = 1, \dots$, `num_frames` ($k$ = `steps_per_frame`).

    A ``lax.scan`` for training: no NaN check, no jit of its own (call it inside ``jax.jit`` /
    ``jax.grad``). Spectral steppers carry Fourier coefficients between steps, as
    :func:`~pdesolve.integrators.rollout` does (the frames agree with its frames). With
    `checkpoint`, every step is a ``jax.checkpoint``: reverse mode keeps the state of each
    step and recomputes the step's intermediates (RK stages, network activations) on the way
    back. Returns the `num_frames` frames after $u_0$, shaped ``(num_frames, c, *grid)``.
    """
    if not isinstance(stepper, AbstractStepper):
        raise InvalidInputError(f"stepper must be a pdesolve stepper, got {type(stepper).__name__}")
    num_frames = _positive_int("num_frames", num_frames)
    steps_per_frame = _positive_int("steps_per_frame", steps_per_frame)
    stepper.pde.check_state(u0, "u0")
    spectral = isinstance(stepper, AbstractSpectralStepper)
    grid = stepper.pde.grid

    def step(state):
        new = stepper.step_fourier(state) if spectral else stepper(state)
        return new.astype(state.dtype)

    if checkpoint:
        step = jax.checkpoint(step)

    def frame(state, _):
        state = jax.lax.fori_loop(0, steps_per_frame, lambda _, s: step(s), state) if steps_per_frame > 1 else step(state)
        return state, (irfft(state, grid).astype(u0.dtype) if spectral else state)

    state0 = rfft(u0, grid) if spectral else u0
    _, frames = jax.lax.scan(frame, state0, None, length=num_frames)
    return frames


class UnrolledLoss(eqx.Module):
    r"""The unrolled loss of the module docstring, ``loss(correction, batch, key) -> (scalar, aux)``, for :func:`pdesolve.training.train`.

    The *model* trained is the correction network $C_\theta$ alone; the coarse `stepper` is
    part of the loss, so its arrays (ETDRK4 coefficients, viscosity, forcing) are never
    parameters. A batch is ``(inputs [b, 1, c, *grid], targets [b, N, c, *grid])`` as
    :class:`~pdesolve.training.TrajectoryData` yields it with ``config.window = 1`` and
    ``config.rollout_steps = N`` (so $N = 1$ trains one step on precomputed pairs). Use
    :class:`CorrectionData` (whose :meth:`~CorrectionData.loss` is this loss) so that the
    validation and test evaluations roll the corrected stepper out; plain ``TrajectoryData``
    would evaluate the correction as a window-to-frame surrogate, so give it no validation or
    test split (``splits=(1, 0, 0)``).

    Aux values: ``relative_l2`` (batch mean over samples and frames of
    $\|P_K(u - \bar u)\| / \|P_K \bar u\|$) and ``last_frame_relative_l2`` (the same at $j = N$).

    **Arguments:**

    - `stepper`: the coarse autonomous stepper $S_{\Delta t}$ (its dtype should be the run's).
    - `steps_per_frame`: hybrid steps $k$ between consecutive target frames.
    - `max_wavenumber`: compare only modes $|m| \le K$ (``None``: all modes of the coarse grid).
    - `checkpoint`: ``jax.checkpoint`` every step (see :func:`unroll`).
    """

    stepper: AbstractStepper
    steps_per_frame: int = eqx.field(static=True, default=1)
    max_wavenumber: float | None = eqx.field(static=True, default=None)
    checkpoint: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        if not isinstance(self.stepper, AbstractStepper):
            raise InvalidInputError(f"stepper must be a pdesolve stepper, got {type(self.stepper).__name__}")
        _positive_int("steps_per_frame", self.steps_per_frame)
        if self.max_wavenumber is not None and not (float(self.max_wavenumber) > 0):
            raise InvalidInputError(f"max_wavenumber must be positive or None, got {self.max_wavenumber!r}")

    def __call__(self, model, batch, key: PRNGKeyArray | None = None):
        inputs, targets = batch
        state = tuple(self.stepper.pde.state_shape)
        if inputs.ndim != len(state) + 2 or inputs.shape[1] != 1 or tuple(inputs.shape[2:]) != state:
            raise InvalidInputError(f"inputs must be shaped [batch, 1, *{state}] (config.window = 1), got "
                                    f"{tuple(inputs.shape)}")
        if targets.ndim != inputs.ndim or targets.shape[0] != inputs.shape[0] or tuple(targets.shape[2:]) != state:
            raise InvalidInputError(f"targets must be shaped [batch, N, *{state}], got {tuple(targets.shape)}")
        hybrid = corrected(self.stepper, model)
        predictions = jax.vmap(lambda u0: unroll(hybrid, u0, targets.shape[1], steps_per_frame=self.steps_per_frame,
                                                 checkpoint=self.checkpoint))(inputs[:, 0])
        error = predictions - targets
        grid = self.stepper.pde.grid
        axes = tuple(range(2, targets.ndim))
        if self.max_wavenumber is None:
            err2 = jnp.sum(error**2, axis=axes)
            ref2 = jnp.sum(targets**2, axis=axes)
        else:
            weight = jnp.asarray(rfft_weights(grid, self.max_wavenumber), targets.dtype)
            err2 = jnp.sum(weight * jnp.abs(rfft(error, grid)) ** 2, axis=axes)
            ref2 = jnp.sum(weight * jnp.abs(rfft(targets, grid)) ** 2, axis=axes)
        loss = jnp.sum(err2) / jnp.sum(ref2)
        relative = jnp.sqrt(err2 / jnp.maximum(ref2, jnp.finfo(targets.dtype).tiny))
        return loss, {"relative_l2": jnp.mean(relative), "last_frame_relative_l2": jnp.mean(relative[:, -1])}
