r"""Hard-constrained models: a basis network plus a constraint layer over $K$ experts.

A model predicts $u(z) = b(z)\cdot\omega_{k(z)}$: the bases $b$ of a network (:mod:`._basis`)
times the coefficients of the expert $k(z)$ that owns the point $z$. The coefficients come from

- training (*soft*: one $\omega$ is a trained parameter and the conditions are loss penalties),
- a constraint layer (*hard*): an :class:`ExpertLayer` solves every expert's $\omega_k$ so that
  the problem's residual vanishes at that expert's constraint points (:class:`MixtureOfExperts`
  around a :class:`MinimumNormConstraint`, :class:`TangentConstraint` or
  :class:`LeastSquaresConstraint`; $K = 1$ is the global layer of Négiar et al. 2023, $K > 1$
  the PI-HC-MoE of Chalapathi et al. 2024), or
- a :class:`CoupledExpertLayer`: the experts solved together with interface conditions
  (:class:`CoupledMixtureOfExperts`, the jumps of :func:`jump_conditions`).

:class:`SlabModel` is the 1D model on $(x, \tau)\in(0,1)^2$ with $K$ slabs in $x$;
:class:`QuadrantModel` the periodic 2D streamfunction model with $a\times a$ quadrants, optionally
blended by a partition of unity (:mod:`._partition`) and with an initial lift. Both train on the
residual alone (:meth:`SlabModel.residual_loss`, :meth:`QuadrantModel.residual_loss`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

from .._errors import InvalidInputError
from ..problems import SlabProblem, VorticityProblem
from ._basis import FourierFeatureBasis, InitialLift, PeriodicStreamfunctionBasis, basis_jet, vorticity_jet
from ._coupled_mixture import CoupledMixtureOfExperts
from ._least_squares import ConstraintSolution
from ._mixture import MixtureOfExperts, num_experts_of
from ._partition import quadrant_windows
from ._points import ConstraintPoints


def jump_conditions(omegas: Float[Array, "k n"], coupling: dict) -> Float[Array, " q"]:
    r"""Interface conditions for :class:`CoupledMixtureOfExperts`: at each interface point $p$ and for
    each field $f$ of the jet, the jump $\sum_n \mathrm{jet}_{pfn}(\omega_{\mathrm{before}_p, n} -
    \omega_{\mathrm{after}_p, n})$. `coupling`: ``jet`` ``(P, F, N)``, ``before`` and ``after`` ``(P,)``."""
    difference = omegas[coupling["before"]] - omegas[coupling["after"]]  # (P, N)
    return jnp.einsum("pfn,pn->pf", coupling["jet"], difference).ravel()


class AbstractExpertLayer(eqx.Module):
    r"""A constraint layer over $K$ experts: basis jets at the constraint points -> coefficients ``(K, N)``.

    `initial` (static): ``features -> (N,)``, the start of each expert's solve (e.g. a problem's
    ``linearised_coefficients``), vmapped over the experts; ``None`` starts from zeros (the anchor
    of an exact minimum-norm layer).
    """

    initial: eqx.AbstractVar[Callable | None]

    @property
    @abc.abstractmethod
    def num_coefficients(self) -> int:
        """$N$, the coefficients per expert."""

    @abc.abstractmethod
    def coupling_features(self, jet_fn: Callable) -> PyTree:
        """What the solve needs besides the constraint points' features (``None`` if nothing)."""

    @abc.abstractmethod
    def solve(self, features: dict, coupling: PyTree, init: Float[Array, "k n"]) -> ConstraintSolution:
        """The solve, differentiable in `features` and `coupling`."""

    @abc.abstractmethod
    def interface_residuals(self, omegas: Float[Array, "k n"], jet_fn: Callable) -> Float[Array, " q"]:
        """The interface conditions the solve imposes (empty if none)."""

    @property
    @abc.abstractmethod
    def residual_fn(self) -> Callable:
        """One expert's residual ``(omega, features) -> residuals``."""

    def initial_guess(self, features: dict) -> Float[Array, "k n"]:
        """Where the solves start: ``initial`` per expert (held constant), or zeros."""
        if self.initial is None:
            leaves = [x for x in jax.tree.leaves(features) if jnp.issubdtype(x.dtype, jnp.inexact)]
            return jnp.zeros((num_experts_of(features), self.num_coefficients), jnp.result_type(*leaves))
        return jax.lax.stop_gradient(jax.vmap(self.initial)(features))

    def __call__(self, features: dict, init: Float[Array, "k n"], jet_fn: Callable) -> ConstraintSolution:
        """Solve from `init`; `jet_fn` (points -> basis jet) gives what the coupling needs."""
        return self.solve(features, self.coupling_features(jet_fn), init)

    def local_residuals(self, omegas: Float[Array, "k n"], features: dict) -> Array:
        """Every expert's residual at its own constraint points, shape ``(K, m)``."""
        return jax.vmap(self.residual_fn)(omegas, features)


class ExpertLayer(AbstractExpertLayer):
    """$K$ independent solves: a :class:`MixtureOfExperts` (:math:`K = 1`: the global layer).

    **Arguments:**

    - `mixture`: the :class:`MixtureOfExperts` around one expert's constraint layer.
    - `initial`: see :class:`AbstractExpertLayer` (default ``None``: zeros).
    """

    mixture: MixtureOfExperts
    initial: Callable | None = eqx.field(static=True, default=None, kw_only=True)

    @property
    def num_coefficients(self):
        return self.mixture.constraint.num_coefficients

    @property
    def residual_fn(self):
        return self.mixture.constraint.residual_fn

    def coupling_features(self, jet_fn):
        return None

    def solve(self, features, coupling, init):
        return self.mixture(features, init)

    def interface_residuals(self, omegas, jet_fn):
        return jnp.zeros(0, omegas.dtype)


class CoupledExpertLayer(AbstractExpertLayer):
    r"""$K$ experts solved together with interface conditions: a :class:`CoupledMixtureOfExperts`
    whose coupling function is :func:`jump_conditions`.

    **Arguments:**

    - `mixture`: the :class:`CoupledMixtureOfExperts` (``coupling_fn=jump_conditions``).
    - `interface_points`: ``(P, d)``, where the jumps must vanish, with `before` and `after`
      ``(P,)``, the experts on either side (e.g. from :func:`slab_interface_points`).
    - `jet_fields`: the fields of the model's jet whose jumps must vanish (e.g. ``("b", "b_x")``).
    - `initial`: see :class:`AbstractExpertLayer`.
    """

    mixture: CoupledMixtureOfExperts
    interface_points: Array
    before: Array
    after: Array
    jet_fields: tuple[str, ...] = eqx.field(static=True)
    initial: Callable | None = eqx.field(static=True)

    def __init__(self, mixture: CoupledMixtureOfExperts, interface_points: Array, before: Array, after: Array,
                 jet_fields: tuple[str, ...], *, initial: Callable | None = None):
        points = jnp.asarray(interface_points)
        if points.ndim != 2 or jnp.shape(before) != points.shape[:1] or jnp.shape(after) != points.shape[:1]:
            raise InvalidInputError(f"interface_points must be (P, d) with before and after (P,), got "
                                    f"{points.shape}, {jnp.shape(before)}, {jnp.shape(after)}")
        self.mixture = mixture
        # strongly typed, so that a training step's update (zero: the points are held constant) keeps the type
        self.interface_points = jnp.asarray(points, dtype=points.dtype)
        self.before, self.after = jnp.asarray(before), jnp.asarray(after)
        self.jet_fields = tuple(jet_fields)
        self.initial = initial

    @property
    def num_coefficients(self):
        return self.mixture.num_coefficients

    @property
    def residual_fn(self):
        return self.mixture.residual_fn

    def coupling_features(self, jet_fn):
        jet = jet_fn(jax.lax.stop_gradient(self.interface_points))
        return {"jet": jnp.stack([jet[name] for name in self.jet_fields], 1), "before": self.before,
                "after": self.after}

    def solve(self, features, coupling, init):
        return self.mixture(features, coupling, init)

    def interface_residuals(self, omegas, jet_fn):
        return self.mixture.interface_residuals(omegas, self.coupling_features(jet_fn))


class AbstractBasisModel(eqx.Module):
    r"""$u(z) = b(z)\cdot\omega_{k(z)}$: a basis network and trained (`omega`) or solved (`layer`) coefficients."""

    net: eqx.AbstractVar[eqx.Module]
    omega: eqx.AbstractVar[Array | None]
    layer: eqx.AbstractVar[AbstractExpertLayer | None]

    @abc.abstractmethod
    def jet(self, points: Array) -> dict[str, Array]:
        """The basis jet at points ``(P, d)``: a dict of ``(P, N)`` arrays."""

    @abc.abstractmethod
    def constraint_features(self, constraint: ConstraintPoints) -> dict:
        """The solve's features: every expert's basis jet at its constraint points, the point types and values."""

    def coefficients(self, constraint: ConstraintPoints,
                     start: Float[Array, "k n"] | None = None) -> tuple[Array, ConstraintSolution | None]:
        """The coefficients ``(K, N)`` and the solution (``None`` for trained coefficients).

        `start`: where the solves start (e.g. the previous training step's coefficients; held
        constant); default the layer's :meth:`~AbstractExpertLayer.initial_guess`.
        """
        if self.layer is None:
            return self.omega[None], None
        features = self.constraint_features(constraint)
        init = jax.lax.stop_gradient(start) if start is not None else self.layer.initial_guess(features)
        sol = self.layer(features, init, self.jet)
        return sol.coefficients, sol


def _check_coefficients(omega, layer):
    if (omega is None) == (layer is None):
        raise InvalidInputError("give exactly one of omega (trained coefficients) and layer (solved coefficients)")


class SlabModel(AbstractBasisModel):
    r"""1D model $u(x, \tau) = b(x, \tau)\cdot\omega_{k(x)}$ with $K$ experts on the slabs
    $[k/K, (k+1)/K)$ in $x$; the jet has ``b, b_t, b_x, b_xx``.

    **Arguments:**

    - `net`: a :class:`FourierFeatureBasis`.
    - `omega`: trained coefficients ``(N,)`` (a soft model; $K = 1$), or
    - `layer`: an :class:`ExpertLayer` or :class:`CoupledExpertLayer`.
    - `num_experts`: $K$ (the layer's expert count).
    """

    net: FourierFeatureBasis
    omega: Array | None = None
    layer: AbstractExpertLayer | None = None
    num_experts: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        _check_coefficients(self.omega, self.layer)

    def jet(self, points):
        return basis_jet(self.net, points)

    def constraint_features(self, constraint):
        features = jax.vmap(self.jet)(constraint.points)
        return {**features, "types": constraint.types, "values": constraint.values.astype(features["b"].dtype)}

    def expert_of(self, points: Float[Array, "p 2"]) -> Array:
        """The expert owning each point (by its $x$)."""
        return jnp.clip(jnp.floor(points[:, 0] * self.num_experts).astype(int), 0, self.num_experts - 1)

    def evaluate(self, omegas: Float[Array, "k n"], points: Float[Array, "p 2"], expert=None) -> dict[str, Array]:
        """$u, u_\\tau, u_x, u_{xx}$ (keys ``b, b_t, b_x, b_xx``) at points, each from its owner (or `expert`)."""
        jet = self.jet(points)
        if expert is None:
            expert = self.expert_of(points)
        w = omegas[expert]  # (P, N)
        return {name: jnp.sum(value * w, axis=-1) for name, value in jet.items()}

    def interface_jump(self, omegas: Float[Array, "k n"], s: Float[Array, " p"]) -> Float[Array, " q"]:
        """Jumps of $u$ and $u_x$ between neighbouring experts at $x = k/K$, $\\tau = s$."""
        if self.num_experts == 1:
            return jnp.zeros(0)
        jumps = []
        for k in range(1, self.num_experts):
            pts = jnp.stack([jnp.full_like(s, k / self.num_experts), s], 1)
            before = self.evaluate(omegas, pts, jnp.full(s.shape, k - 1))
            after = self.evaluate(omegas, pts, jnp.full(s.shape, k))
            jumps.append(before["b"] - after["b"])
            jumps.append(before["b_x"] - after["b_x"])
        return jnp.concatenate(jumps)

    def residual_loss(self, problem: SlabProblem, constraint: ConstraintPoints, batch: tuple,
                      start: Array | None = None) -> tuple[Array, tuple[Array, Array]]:
        r"""Mean squared PDE, initial and boundary residuals at the loss points `batch`
        (:func:`slab_loss_points`), plus the squared interface jumps when $K > 1$.

        Returns ``(loss, (converged, coefficients))`` (coefficients held constant).
        """
        interior, ic, left, right = batch
        omegas, sol = self.coefficients(constraint, start)
        f = self.evaluate(omegas, interior)
        pde = problem.pde_residual(f["b"], f["b_t"], f["b_xx"])
        u_ic = self.evaluate(omegas, ic)["b"] - problem.initial_value(ic[:, 0])
        u_left = self.evaluate(omegas, left)["b"] - problem.left_value
        fr = self.evaluate(omegas, right)
        u_right = problem.right_residual(fr["b"], fr["b_x"])
        loss = jnp.mean(pde**2) + jnp.mean(u_ic**2) + jnp.mean(u_left**2) + jnp.mean(u_right**2)
        if self.num_experts > 1:  # independent experts: continuity across the slabs is a loss term
            loss = loss + jnp.mean(self.interface_jump(omegas, ic[:, 0]) ** 2)
        converged = jnp.asarray(True) if sol is None else jnp.all(sol.converged)
        return loss, (converged, jax.lax.stop_gradient(omegas))

    def constraint_residual(self, problem: SlabProblem, constraint: ConstraintPoints,
                            omegas: Float[Array, "k n"]) -> Float[Array, " r"]:
        """Every expert's residual at its constraint points, and the interface conditions."""
        local = self.layer.local_residuals(omegas, self.constraint_features(constraint))
        return jnp.concatenate([local.ravel(), self.layer.interface_residuals(omegas, self.jet)])


class QuadrantModel(AbstractBasisModel):
    r"""Periodic 2D streamfunction model $\psi = b(x, y, \tau)\cdot\omega_{k(x, y)}$ on $a\times a$ quadrants.

    With `blend` $= \beta > 0$ the experts are combined by the partition of unity
    :func:`quadrant_windows`: $w = \sum_k\chi_k w_k$ and $(u, v) = \sum_k\chi_k(u_k, v_k)$
    (blending $\psi$ instead would let the experts' arbitrary streamfunction offsets enter $w$
    through $\Delta\chi$). The prediction is then smooth across the edges; inside the strips the
    blended velocity is divergence-free only up to $\nabla\chi\cdot(u_k - u_j)$, elsewhere it is
    one expert's field. With a `lift` (:class:`InitialLift`) the prediction is
    $\psi_0 + \tau\,b\cdot\omega$ (the bases then vanish at $\tau = 0$).

    **Arguments:**

    - `net`: a :class:`PeriodicStreamfunctionBasis`.
    - `omega` or `layer`: as :class:`SlabModel`.
    - `experts_per_axis`: $a$ ($K = a^2$, $k = a\,i_x + i_y$).
    - `blend`: $\beta$ (0: each quadrant uses its own expert).
    - `lift`: an :class:`InitialLift` (optional).
    """

    net: PeriodicStreamfunctionBasis
    omega: Array | None = None
    layer: AbstractExpertLayer | None = None
    experts_per_axis: int = eqx.field(static=True, default=1)
    blend: float = eqx.field(static=True, default=0.0)
    lift: InitialLift | None = None

    def __check_init__(self):
        _check_coefficients(self.omega, self.layer)

    def jet(self, points):
        return vorticity_jet(self.net, points)

    def constraint_features(self, constraint):
        features = {**jax.vmap(self.jet)(constraint.points), "types": constraint.types, "values": constraint.values}
        if self.lift is not None:
            features["offset"] = jax.vmap(self.lift)(constraint.points)
        return features

    def expert_of(self, points: Float[Array, "p 3"]) -> Array:
        """The quadrant owning each point."""
        a = self.experts_per_axis
        ix = jnp.floor(points[:, 0] * a).astype(int) % a
        iy = jnp.floor(points[:, 1] * a).astype(int) % a
        return ix * a + iy

    def windows(self, point: Float[Array, " 3"]) -> Float[Array, " k"]:
        """The partition-of-unity weights $\\chi_k$ at one point."""
        return quadrant_windows(point, self.experts_per_axis, self.blend)

    def evaluate(self, omegas: Float[Array, "k n"], points: Float[Array, "p 3"], expert=None) -> dict[str, Array]:
        """The prediction's fields (:data:`~pdesolve.problems.VORTICITY_FIELDS`) at points: each from
        the owning expert (or `expert`), blended where the model blends, plus the lift's."""
        jet = self.jet(points)
        if self.blend > 0 and expert is None:
            fields = self._blended(omegas, points, jet)
        else:
            expert = self.expert_of(points) if expert is None else expert
            w = omegas[expert]
            fields = {name: jnp.sum(value * w, axis=-1) for name, value in jet.items()}
        if self.lift is not None:  # the same for every expert, so blending (sum chi = 1) leaves it as is
            offset = self.lift(points)
            fields = {name: value + offset[name] for name, value in fields.items()}
        return fields

    def _blended(self, omegas, points, jet):
        chi = jax.vmap(self.windows)(points)  # (P, K)
        grad = jax.vmap(jax.jacfwd(self.windows))(points)  # (P, K, 3)
        hess = jax.vmap(jax.hessian(self.windows))(points)  # (P, K, 3, 3)
        lap = hess[..., 0, 0] + hess[..., 1, 1]
        per = {name: value @ omegas.T for name, value in jet.items()}  # (P, K): every expert's field

        def mix(weights, name):
            return jnp.sum(weights * per[name], axis=-1)

        return {"w": mix(chi, "w"), "w_t": mix(chi, "w_t"), "psi_x": mix(chi, "psi_x"), "psi_y": mix(chi, "psi_y"),
                "w_x": mix(chi, "w_x") + mix(grad[..., 0], "w"), "w_y": mix(chi, "w_y") + mix(grad[..., 1], "w"),
                "lap_w": mix(chi, "lap_w") + 2 * (mix(grad[..., 0], "w_x") + mix(grad[..., 1], "w_y"))
                + mix(lap, "w")}

    def interface_jump(self, omegas: Float[Array, "k n"], s: Float[Array, " p"],
                       tau: Float[Array, " p"]) -> Float[Array, " q"]:
        """Jumps of $w, \\psi_x, \\psi_y$ between neighbouring experts on the lines $x = c/a$ and
        $y = c/a$ (periodic), at the positions $(s, \\tau)$."""
        a = self.experts_per_axis
        if a == 1:
            return jnp.zeros(0)
        jumps = []
        for axis in (0, 1):
            for c in jnp.arange(a) / a:
                eps = 1e-6
                coords = [s, s]
                coords[axis] = jnp.full_like(s, c)
                pts = jnp.stack([*coords, tau], 1)
                before, after = pts.at[:, axis].add(-eps) % 1.0, pts.at[:, axis].add(eps) % 1.0
                fb = self.evaluate(omegas, pts, self.expert_of(before))
                fa = self.evaluate(omegas, pts, self.expert_of(after))
                jumps += [fb[name] - fa[name] for name in ("w", "psi_x", "psi_y")]
        return jnp.concatenate(jumps)

    def residual_loss(self, problem: VorticityProblem, constraint: ConstraintPoints, w0: Float[Array, "n n"],
                      batch: tuple) -> tuple[Array, Array]:
        r"""Mean squared vorticity residual at the interior loss points, plus (without a lift) the
        initial mismatch at grid nodes and (unblended experts) the squared edge jumps; `batch` from
        :func:`quadrant_loss_points`. Returns ``(loss, converged)``."""
        interior, ic_index, s, tau = batch
        omegas, sol = self.coefficients(constraint)
        pde = problem.pde_residual(self.evaluate(omegas, interior))
        loss = jnp.mean(pde**2)
        if self.lift is None:  # the lift makes the initial condition exact: no initial-condition loss
            n = w0.shape[0]
            ic = jnp.stack([ic_index[:, 0] / n, ic_index[:, 1] / n, jnp.zeros(ic_index.shape[0])], 1)
            mismatch = self.evaluate(omegas, ic)["w"] - w0[ic_index[:, 0], ic_index[:, 1]]
            loss = loss + jnp.mean(mismatch**2)
        if self.experts_per_axis > 1 and self.blend == 0:  # a blended prediction has no jumps
            loss = loss + jnp.mean(self.interface_jump(omegas, s, tau) ** 2)
        return loss, (jnp.asarray(True) if sol is None else jnp.all(sol.converged))

    def constraint_residual(self, problem: VorticityProblem, constraint: ConstraintPoints,
                            omegas: Float[Array, "k n"]) -> Float[Array, " r"]:
        """The residual of the model's prediction (blended where it blends) at every constraint
        point, and the interface conditions."""
        points, types, values = (c.reshape(-1, *c.shape[2:]) for c in constraint)
        fields = self.evaluate(omegas, points)
        residual = jnp.where(types == 1, fields["w"] - values, problem.pde_residual(fields))
        return jnp.concatenate([residual.ravel(), self.layer.interface_residuals(omegas, self.jet)])
