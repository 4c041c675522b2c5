r"""Mixture of hard-constraint experts coupled through their interfaces (domain decomposition).

:class:`MixtureOfExperts` solves the $K$ experts independently, so nothing ties expert $k$'s
field to its neighbour's at their common interface. :class:`CoupledMixtureOfExperts` adds
$q$ interface conditions $h(\omega_1, \dots, \omega_K) = 0$ (typically the jumps of the field
and of its normal derivative at a few interface points) to the local constraints
$r_k(\omega_k) = 0$ and finds a root of the full system

$$
R(\omega) = \begin{pmatrix} r_1(\omega_1) \\ \vdots \\ r_K(\omega_K) \\ h(\omega) \end{pmatrix} = 0,
\qquad J = \begin{pmatrix} \operatorname{blockdiag}(J_1, \dots, J_K) \\ C_1 \;\cdots\; C_K \end{pmatrix},
$$

with $J_k = \partial r_k/\partial\omega_k$ ($m_k\times N$) and $C_k = \partial h/\partial\omega_k$
($q\times N$).

**Forward pass.** Levenberg-Marquardt in its minimum-norm (dual) form,
$\delta = -J^\top(JJ^\top + \lambda I)^{-1}R$, accepted when it lowers $\|R\|$ (then
$\lambda \leftarrow \lambda/3$, else $\lambda \leftarrow 4\lambda$; the gentle decrease
keeps strongly nonlinear solves from stalling). The block structure makes each
step a domain-decomposition solve: with the thin SVDs $J_k = U_k\Sigma_kV_k^\top$ (one per expert,
batched) and $Q_k = V_k\,\Sigma_k^2(\Sigma_k^2+\lambda)^{-1}V_k^\top$,

$$
x_k^0 = V_k\,\Sigma_k(\Sigma_k^2 + \lambda)^{-1}U_k^\top r_k, \qquad
S = \sum_k C_k(I - Q_k)C_k^\top + \lambda I, \qquad
S\,y = h - \sum_k C_k x_k^0, \qquad
\delta_k = -\bigl(x_k^0 + (I - Q_k)C_k^\top y\bigr),
$$

so the experts' work is independent and only the small $q\times q$ interface (Schur complement)
system $S$ couples them. $S$ is never formed: with its square-root factor
$P = [C_1(I - Q_1)^{1/2}, \dots, C_K(I - Q_K)^{1/2}]$, $S = PP^\top + \lambda I$ and
$(I - Q_k)C_k^\top y$ is the $k$-th block of $(I - Q)^{1/2}P^+_\lambda(\cdot)$, a damped
least-squares solve with $P$ (an SVD of a $q\times KN$ matrix), whose condition number is the
square root of $S$'s. Cost: $O(\sum_k m_k N^2 + q^3)$ per step instead of the global
$O((\sum_k m_k + q)^2\, KN)$. From $\omega = 0$ on a linear problem the iterates stay in the row
space of $J$, so the limit is the minimum-norm solution of the coupled system.

**Backward pass** (implicit function theorem). At the returned root $\omega^\star$ the layer
outputs $\omega^\star - (s - \operatorname{sg}(s))$ with $s = J^+R(\omega^\star; \theta)$,
$J^+$ (the same Schur-complement pseudo-inverse at $\lambda = 0$) held constant and
$\operatorname{sg}$ the stop-gradient: the value is exactly $\omega^\star$ and the derivative is
the minimum-norm tangent
$d\omega^\star = -J^+\,\partial_\theta R\,d\theta$, the derivative of the projection onto the
solution manifold (as :class:`TangentConstraint`). The solver loop is not
differentiated; memory does not grow with the iteration count.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, PyTree

from .._errors import InvalidInputError
from ..linalg import damped_lstsq
from ._failure import check_on_failure, report_failure
from ._least_squares import ConstraintSolution, check_solve_settings
from ._mixture import AbstractBatching, VmapExperts, check_batching, num_experts_of


class _Factors(eqx.Module):
    """Per-expert SVD filter factors and the factor of the interface Schur complement at one damping."""

    u: Array  # (K, m, m)
    vt: Array  # (K, m, N)
    solve_factors: Array  # (K, m): s / (s^2 + lambda) on kept singular values, else 0
    shrink: Array  # (K, m): 1 - sqrt(lambda / (s^2 + lambda)) on kept singular values, else 0
    couplings: Array  # (K, q, N)
    schur_root: Array  # (q, K N): [C_1 P_1, ..., C_K P_K], S = schur_root schur_root^T + lambda I
    damping: Array


def _complement_root(factors_vt, shrink, v):
    """$(I - Q_k)^{1/2} v$ per expert: v (K, N, ...) minus its row-space part, shrunk by the damping."""
    return v - jnp.einsum("kmn,km,kmj->knj", factors_vt, shrink, jnp.einsum("kmn,knj->kmj", factors_vt, v))


def _factorise(jacobians, couplings, damping, batching):
    r"""SVD of every local Jacobian (batched over experts) and the square-root factor of the
    interface Schur complement (never formed: $S = P P^\top + \lambda I$ would square its
    condition number)."""
    svd = lambda a: jnp.linalg.svd(a, full_matrices=False)  # noqa: E731
    u, s, vt = batching(svd, jacobians)
    rcond = float(np.finfo(s.dtype).eps) * max(jacobians.shape[1:])
    keep = s > rcond * jnp.max(s, axis=1, keepdims=True, initial=0.0)
    safe = jnp.where(keep, s, 1.0)
    damping = jnp.asarray(damping, s.dtype)
    solve_factors = jnp.where(keep, safe / (safe**2 + damping), 0.0)
    shrink = jnp.where(keep, 1.0 - jnp.sqrt(damping / (safe**2 + damping)), 0.0)
    rows = _complement_root(vt, shrink, jnp.swapaxes(couplings, 1, 2))  # (K, N, q)
    schur_root = jnp.transpose(rows, (2, 0, 1)).reshape(couplings.shape[1], -1)
    return _Factors(u, vt, solve_factors, shrink, couplings, schur_root, damping)


def _apply_pseudo_inverse(factors: _Factors, local, interface):
    r"""$J^\top(JJ^\top + \lambda I)^{-1}(r, h)$ from the factors: (K, N)."""
    x0 = jnp.einsum("kmn,km,kpm,kp->kn", factors.vt, factors.solve_factors, factors.u, local)
    rhs = interface - jnp.einsum("kqn,kn->q", factors.couplings, x0)
    z = damped_lstsq(factors.schur_root, rhs, factors.damping).reshape(x0.shape)
    return x0 + _complement_root(factors.vt, factors.shrink, z[..., None])[..., 0]


class CoupledMixtureOfExperts(eqx.Module):
    r"""$K$ hard-constraint experts with interface conditions, solved by a Schur-complement LM.

    **Arguments:**

    - `residual_fn`: ``(coefficients_k, features_k) -> residuals`` of one expert (any pytree;
      flattened to $m_k$ values, the same $m$ for every expert). Vmapped over the experts.
    - `coupling_fn`: ``(coefficients, coupling_features) -> residuals``, the $q$ interface
      conditions of all experts' coefficients ``(K, N)`` (e.g. jumps of the field across the
      interfaces). It may be nonlinear; its Jacobian is re-evaluated at every step.
    - `num_coefficients`: $N$ per expert.
    - `num_steps`: the most Levenberg-Marquardt iterations (a ``lax.while_loop`` that stops as
      soon as the tolerance is met, so a solve warm-started near a root takes a few steps).
    - `tolerance`: convergence threshold on $\max|R(\omega)|$ over all rows (default ``1e-9``).
    - `initial_damping`: starting $\lambda > 0$ (default ``1e-6``; a linear problem then
      converges in a few steps, a nonlinear one raises it as needed).
    - `batching`: :class:`VmapExperts` (default) or :class:`MapExperts` for the per-expert SVDs
      (see :class:`MixtureOfExperts`).
    - `on_failure`: ``"raise"``, ``"warn"`` or ``"ignore"`` when the solve misses the tolerance
      (the ``converged`` flag is returned in every case).

    Calling it with ``features`` (leading expert axis $K$ on every leaf), ``coupling_features``
    and optionally a starting point ``init`` of shape ``(K, N)`` (default zeros) returns a
    :class:`ConstraintSolution` with ``coefficients`` ``(K, N)`` and scalar ``residual_norm``
    ($\|R\|_2$), ``optimality_norm`` ($\max|R|$) and ``converged``. Gradients flow to both
    feature pytrees (not to ``init``).
    """

    residual_fn: Callable = eqx.field(static=True)
    coupling_fn: Callable = eqx.field(static=True)
    num_coefficients: int = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    tolerance: float = eqx.field(static=True)
    initial_damping: float = eqx.field(static=True)
    batching: AbstractBatching = eqx.field(static=True)
    on_failure: str = eqx.field(static=True)

    def __init__(
        self,
        residual_fn: Callable,
        coupling_fn: Callable,
        num_coefficients: int,
        *,
        num_steps: int = 30,
        tolerance: float = 1e-9,
        initial_damping: float = 1e-6,
        batching: AbstractBatching | None = None,
        on_failure: str = "warn",
    ):
        check_solve_settings(num_coefficients, num_steps, tolerance)
        if not initial_damping > 0:
            raise InvalidInputError(f"initial_damping must be > 0, got {initial_damping!r}")
        batching = VmapExperts() if batching is None else check_batching(batching)
        self.residual_fn = residual_fn
        self.coupling_fn = coupling_fn
        self.num_coefficients = num_coefficients
        self.num_steps = num_steps
        self.tolerance = float(tolerance)
        self.initial_damping = float(initial_damping)
        self.batching = batching
        self.on_failure = check_on_failure(on_failure)

    def _expert_residual(self, coefficients: Float[Array, " n"], features: PyTree) -> Float[Array, " m"]:
        return ravel_pytree(self.residual_fn(coefficients, features))[0]

    def local_residuals(self, coefficients: Float[Array, "k n"], features: PyTree) -> Float[Array, "k m"]:
        """Every expert's flattened residual $r_k(\\omega_k)$, shape ``(K, m)``."""
        return jax.vmap(self._expert_residual)(coefficients, features)

    def interface_residuals(self, coefficients: Float[Array, "k n"], coupling_features: PyTree) -> Float[Array, " q"]:
        """The flattened interface conditions $h(\\omega)$, shape ``(q,)``."""
        return ravel_pytree(self.coupling_fn(coefficients, coupling_features))[0]

    def _jacobians(self, w, features, coupling_features):
        """Local Jacobians $J_k$ ``(K, m, N)`` and interface Jacobians $C_k$ ``(K, q, N)`` at ``w``."""
        jacobians = jax.vmap(jax.jacrev(self._expert_residual))(w, features)
        couplings = jnp.moveaxis(jax.jacrev(self.interface_residuals)(w, coupling_features), 1, 0)
        return jacobians, couplings

    def _solve(self, init, features, coupling_features):
        def residuals(w):  # (local (K, m), interface (q,)): carried, so each step evaluates them once
            return self.local_residuals(w, features), self.interface_residuals(w, coupling_features)

        def flat(res):
            local, interface = res
            return jnp.concatenate([local.ravel(), interface])

        def cost(res):
            return jnp.sum(flat(res) ** 2)

        def keep_going(carry):
            step, _, _, res = carry
            return (step < self.num_steps) & (jnp.max(jnp.abs(flat(res))) > self.tolerance)

        def body(carry):
            step, w, damping, res = carry
            factors = _factorise(*self._jacobians(w, features, coupling_features), damping, self.batching)
            trial = w - _apply_pseudo_inverse(factors, *res)
            trial_res = residuals(trial)
            trial_cost = cost(trial_res)
            accept = jnp.isfinite(trial_cost) & (trial_cost < cost(res))
            w, res = jax.tree.map(lambda new, old: jnp.where(accept, new, old), (trial, trial_res), (w, res))
            damping = jnp.where(accept, damping / 3.0, damping * 4.0)
            return step + 1, w, damping, res

        carry = (jnp.asarray(0), init, jnp.asarray(self.initial_damping, init.dtype), residuals(init))
        return jax.lax.while_loop(keep_going, body, carry)[1]

    def __call__(self, features: PyTree, coupling_features: PyTree,
                 init: Float[Array, "k n"] | None = None) -> ConstraintSolution:
        dtype = ravel_pytree(features)[0].dtype
        shape = (num_experts_of(features), self.num_coefficients)
        if init is None:
            init = jnp.zeros(shape, dtype)
        elif init.shape != shape:
            raise InvalidInputError(f"init must have shape {shape}, got {init.shape}")
        frozen = jax.lax.stop_gradient((features, coupling_features))
        root = jax.lax.stop_gradient(self._solve(jax.lax.stop_gradient(init), *frozen))
        # implicit (tangent) derivative: a last Newton step with J^+ frozen at the root
        factors = jax.lax.stop_gradient(_factorise(*self._jacobians(root, *frozen), 0.0, self.batching))
        local = self.local_residuals(root, features)
        interface = self.interface_residuals(root, coupling_features)
        step = _apply_pseudo_inverse(factors, local, interface)
        w = root - (step - jax.lax.stop_gradient(step))  # value: the root; derivative: -J^+ dR
        residuals = jax.lax.stop_gradient(jnp.concatenate([local.ravel(), interface]))
        residual_norm = jnp.linalg.norm(residuals)
        optimality_norm = jnp.max(jnp.abs(residuals))
        converged = optimality_norm <= self.tolerance
        w = report_failure(
            w, converged, self.on_failure,
            f"CoupledMixtureOfExperts: the Levenberg-Marquardt solve did not reach max|R| <= {self.tolerance:g} "
            f"in {self.num_steps} steps; its implicit gradient is not valid",
        )
        return ConstraintSolution(w, residual_norm, optimality_norm, converged)
