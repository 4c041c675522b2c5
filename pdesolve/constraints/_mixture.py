r"""Mixture of hard-constraint experts (PI-HC-MoE, Chalapathi, Du & Krishnapriyan, ICLR 2024).

The space-time domain is split into $K$ subdomains $\Omega_k$. Expert $k$ solves its own
coefficients $\omega_k$ so that the constraint holds at the collocation points in $\Omega_k$:

$$
\omega_k^\star = \operatorname*{arg\,min}_{\omega}\ \|r_k(\omega; \text{features}_k)\|^2,
\qquad u(x) = \sum_j \omega^\star_{k(x),j}\, b_j(x) .
$$

The $K$ solves are independent, so they are batched (:class:`VmapExperts`, ``jax.vmap``) or run
one after another (:class:`MapExperts`, ``jax.lax.map``), and with several devices sharded along
the expert axis; each costs $O(m_k N^2)$ instead of the global
$O(m N^2)$ with $m = \sum_k m_k$. The implicit gradients of the experts are vmapped too, and the
chain rule sums them into the shared network's parameters.

Reference:
    N. Chalapathi, Y. Du, A. S. Krishnapriyan, "Scaling physics-informed hard constraints with
    mixture-of-experts", ICLR 2024.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import numpy as np
from jaxtyping import PyTree

from .._errors import InvalidInputError
from ._least_squares import ConstraintSolution, LeastSquaresConstraint
from ._minimum_norm import AbstractRootConstraint


class AbstractBatching(eqx.Module):
    """How the experts' independent computations run: ``batching(fn, xs)`` applies ``fn`` to every
    slice of the pytree ``xs`` along its leading (expert) axis and stacks the results."""

    @abc.abstractmethod
    def __call__(self, fn: Callable, xs: PyTree) -> PyTree:
        """``fn`` applied to each expert's slice of ``xs``."""


class VmapExperts(AbstractBatching):
    """All experts in one batched computation (``jax.vmap``)."""

    def __call__(self, fn, xs):
        return jax.vmap(fn)(xs)


class MapExperts(AbstractBatching):
    """The experts one after another (``jax.lax.map``), with unbatched linear algebra.

    On CPU, jaxlib 0.10's batched SVD kernel waits on the intra-op thread pool, and two of them
    running concurrently can wedge the executable; mapping avoids that at no cost on one thread.
    """

    def __call__(self, fn, xs):
        return jax.lax.map(fn, xs)


def check_batching(batching) -> AbstractBatching:
    """Raise :class:`~pdesolve.InvalidInputError` unless ``batching`` is an :class:`AbstractBatching`."""
    if not isinstance(batching, AbstractBatching):
        raise InvalidInputError(f"batching must be VmapExperts() or MapExperts(), got {batching!r}")
    return batching


def num_experts_of(features: PyTree) -> int:
    """The leading expert axis $K$ shared by every leaf of ``features`` (an error otherwise)."""
    sizes = {leaf.shape[0] if leaf.ndim else None for leaf in jax.tree.leaves(features)}
    if len(sizes) != 1 or None in sizes:
        raise InvalidInputError(f"every feature leaf needs the same leading expert axis, got sizes {sizes}")
    (num_experts,) = sizes
    return num_experts


def _shard_experts(features: PyTree, num_experts: int) -> PyTree:
    devices = jax.devices()
    if len(devices) < 2 or num_experts % len(devices) != 0:
        return features
    mesh = jax.sharding.Mesh(np.asarray(devices), ("experts",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("experts"))
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), features)


class MixtureOfExperts(eqx.Module):
    r"""Apply one constraint layer independently to $K$ experts.

    ``features`` has a leading expert axis of size $K$ on every leaf (expert $k$'s basis values
    and data at its own collocation points). Returns a :class:`ConstraintSolution` whose fields
    have a leading axis $K$ (``converged`` per expert; a failure policy reports how many failed).

    **Arguments:**

    - `constraint`: the per-expert layer (:class:`LeastSquaresConstraint`,
      :class:`MinimumNormConstraint` or :class:`TangentConstraint`).
    - `shard`: place the expert axis across ``jax.devices()`` (when there are several and they
      divide $K$), with a sharding constraint, so experts solve on different devices.
    - `batching`: :class:`VmapExperts` (default; one batched solve) or :class:`MapExperts` (the
      experts one after another on each device).
    """

    constraint: LeastSquaresConstraint | AbstractRootConstraint
    shard: bool = eqx.field(static=True, default=True)
    batching: AbstractBatching = eqx.field(static=True, default_factory=VmapExperts)

    def __check_init__(self):
        check_batching(self.batching)

    def __call__(self, features: PyTree, init=None) -> ConstraintSolution:
        num_experts = num_experts_of(features)
        if self.shard:
            features = _shard_experts(features, num_experts)
        if init is None:
            return self.batching(self.constraint, features)
        return self.batching(lambda pair: self.constraint(*pair), (features, init))
