r"""Hard-constraint benchmarks: PDEs for basis-network models whose coefficients a constraint solve sets.

A model predicts $u = \sum_j \omega_j b_j$ from $N$ basis functions $b_j$ of a network; a
constraint layer (:mod:`pdesolve.constraints`) picks $\omega$ so that the PDE and its initial and
boundary conditions hold at typed *constraint points*. Each problem here supplies what that needs:
its residual at typed points as a function of $\omega$ and of the *basis jet* (the bases' values
and derivatives at the points), a linearised initial guess, and a reference solution. Relative
$L^2$ errors of Chalapathi, Du & Krishnapriyan (ICLR 2024) are in ``paper_rel_l2``.

Declared problems (:class:`ConstraintProblem`):

- ``diffusion-sorption`` (:class:`DiffusionSorptionSlab`): PDEBench's 1D diffusion-sorption
  (:class:`pdesolve.pdes.DiffusionSorption`) on $x\in(0,1)$, $t\in(0, 500]$, in $\tau = t/500$:
  $u_\tau = 500\,D\,u_{xx}/R(u)$, $u(0,\tau) = 1$, $u(1,\tau) + D u_x(1,\tau) = 0$,
  $u(x, 0) = 0.1$; reference: method of lines, Kvaerno5.
- ``hc-heat`` (:class:`HeatSlab`): $u_\tau = 0.1\,u_{xx}$ on $(0,1)\times(0,1]$,
  $u(0) = u(1) = 0$, $u(x, 0) = \sin\pi x$; reference: its closed form.
- ``hc-navier-stokes`` (:class:`VorticityProblem`): unforced 2D vorticity on the periodic
  $(0,1)^2$, $\nu = 10^{-4}$, $T = 5$, written for a streamfunction $\psi$ in $\tau = t/T$:
  $w_\tau + T(u w_x + v w_y) - T\nu\Delta w = 0$, $w = -\Delta\psi$, $(u, v) = (\psi_y, -\psi_x)$;
  Gaussian-random-field initial vorticity scaled to unit rms; reference: ETDRK4.

Point types of the 1D problems: 0 PDE, 1 initial value, 2 left boundary, 3 right boundary; of
the vorticity problem: 0 PDE, 1 initial value.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..initial_conditions import gaussian_random_field
from ..integrators import ETDRK4, rollout, solve_method_of_lines
from ..pdes import DiffusionSorption, NavierStokes2D, diffusion_sorption_residual, dirichlet_heat_sine_modes
from ..pdes import retardation_factor
from ..spatial import PeriodicGrid
from ._registry import AbstractProblem, register

#: Fields of a streamfunction's jet that the vorticity residual uses (the vorticity $w$, its
#: derivatives $w_\tau, w_x, w_y, \Delta w$, and the velocity $(\psi_y, -\psi_x)$ through $\psi_x, \psi_y$).
VORTICITY_FIELDS = ("w", "w_t", "w_x", "w_y", "lap_w", "psi_x", "psi_y")


@dataclass(frozen=True, eq=False)
class ConstraintProblem(AbstractProblem, abc.ABC):
    """A hard-constraint benchmark (see the module docstring).

    `paper_rel_l2`: ``((model, relative L2), ...)`` reported by Chalapathi et al. (2024) for
    ``soft``, ``hard`` and ``moe``, empty if the paper has no such case. Problems hash and
    compare by name and description (names are unique in the registry), so their bound methods
    can serve as the static residual functions of constraint layers.
    """

    label: ClassVar[str] = "constraint"
    paper_rel_l2: tuple[tuple[str, float], ...] = ()

    @abc.abstractmethod
    def collocation_residual(self, omega: Float[Array, " n"], features: dict) -> Float[Array, " m"]:
        r"""Residuals of $u = \sum_j\omega_j b_j$ at the constraint points.

        `features`: the basis jet at the $m$ points (arrays ``(m, N)``), the point ``types`` and
        target ``values`` (``(m,)``).
        """

    @abc.abstractmethod
    def linearised_coefficients(self, features: dict) -> Float[Array, " n"]:
        """A starting point for nonlinear solves: the least-squares solution of a linearised problem."""


@dataclass(frozen=True, eq=False)
class SlabProblem(ConstraintProblem):
    r"""A 1D diffusion problem $u_\tau = \kappa\,u_{xx}/R(u)$ on $(0,1)\times(0,1]$.

    $u(0, \tau) = $ `left_value`; on the right $u(1, \tau) = 0$ (`robin` is ``None``) or
    $u + $ `robin` $u_x = 0$. The basis jet holds ``b, b_t, b_x, b_xx``.
    """

    left_value: float = 0.0
    robin: float | None = None

    @abc.abstractmethod
    def initial_value(self, x: Float[Array, " p"]) -> Float[Array, " p"]:
        r"""$u(x, 0)$."""

    @abc.abstractmethod
    def pde_residual(self, u, u_t, u_xx):
        r"""Pointwise $u_\tau - \kappa u_{xx}/R(u)$."""

    @abc.abstractmethod
    def linear_diffusion(self):
        r"""$\kappa / R$ of the linearised PDE $u_\tau = (\kappa/R)\,u_{xx}$ (:meth:`linearised_coefficients`)."""

    @abc.abstractmethod
    def reference(self, x: Float[Array, " nx"], t: Float[Array, " nt"], num_nodes: int = 256) -> Float[Array, "nt nx"]:
        r"""The solution $u(x, \tau)$ on the grid ``t x x`` (for a numerical reference the $x$ must be
        nodes $i/$`num_nodes`)."""

    def right_residual(self, u, u_x):
        """The right boundary condition's residual."""
        if self.robin is None:
            return u
        return u + self.robin * u_x

    def collocation_residual(self, omega, features):
        u = features["b"] @ omega
        u_t = features["b_t"] @ omega
        u_x = features["b_x"] @ omega
        u_xx = features["b_xx"] @ omega
        typ, val = features["types"], features["values"]
        pde = self.pde_residual(u, u_t, u_xx)
        return jnp.select(
            [typ == 0, typ == 1, typ == 2], [pde, u - val, u - val], self.right_residual(u, u_x)
        )

    def linearised_coefficients(self, features):
        """The least-squares solution of the linear rows: the PDE with $R$ frozen (:meth:`linear_diffusion`)."""
        typ = features["types"][:, None]
        right = features["b"] if self.robin is None else features["b"] + self.robin * features["b_x"]
        rows = jnp.where(typ == 0, features["b_t"] - self.linear_diffusion() * features["b_xx"],
                         jnp.where(typ == 3, right, features["b"]))
        return jnp.linalg.lstsq(rows, features["values"])[0]


@dataclass(frozen=True, eq=False)
class HeatSlab(SlabProblem):
    r"""$u_\tau = \kappa u_{xx}$, $u(0) = u(1) = 0$, $u(x, 0) = \sin\pi x$; exact
    $u = e^{-\kappa\pi^2\tau}\sin\pi x$."""

    diffusivity: float = 0.1

    def initial_value(self, x):
        return jnp.sin(jnp.pi * x)

    def pde_residual(self, u, u_t, u_xx):
        return u_t - self.diffusivity * u_xx

    def linear_diffusion(self):
        return self.diffusivity

    def reference(self, x, t, num_nodes=256):
        del num_nodes  # closed form
        return dirichlet_heat_sine_modes(x[None, :], t[:, None], self.diffusivity)[0]


@dataclass(frozen=True, eq=False)
class DiffusionSorptionSlab(SlabProblem):
    r"""PDEBench's diffusion-sorption in $\tau = t/T$ with a constant initial value (see the module docstring).

    The right boundary's `robin` coefficient is the diffusivity $D$; $\kappa = TD$.
    """

    initial_constant: float = 0.1
    diffusivity: float = 5e-4
    time_scale: float = 500.0
    porosity: float = 0.29
    grain_density: float = 2880.0
    freundlich_k: float = 3.5e-4
    freundlich_exponent: float = 0.874

    @property
    def _sorption(self) -> dict:
        return {"porosity": self.porosity, "grain_density": self.grain_density, "freundlich_k": self.freundlich_k,
                "freundlich_exponent": self.freundlich_exponent}

    @property
    def diffusion(self) -> float:
        r"""$\kappa = TD$."""
        return self.diffusivity * self.time_scale

    def initial_value(self, x):
        return jnp.full_like(x, self.initial_constant)

    def pde_residual(self, u, u_t, u_xx):
        return diffusion_sorption_residual(u, u_t, u_xx, self.diffusion, **self._sorption)

    def linear_diffusion(self):
        """$\\kappa / R(0.5)$: the retardation frozen in the middle of the solution's range."""
        return self.diffusion / retardation_factor(0.5, **self._sorption)

    def pde(self, num_nodes: int) -> DiffusionSorption:
        """The finite-difference PDE on `num_nodes` intervals (float64), in $\\tau$."""
        return DiffusionSorption(num_nodes, diffusivity=self.diffusivity, left_value=self.left_value,
                                 time_scale=self.time_scale, dtype=jnp.float64, **self._sorption)

    def reference(self, x, t, num_nodes=256):
        """Method of lines (:meth:`pde`, Kvaerno5, rtol 1e-8, atol 1e-10) on `num_nodes` intervals."""
        pde = self.pde(num_nodes)
        u0 = self.initial_value(pde.nodes())[None]
        states = solve_method_of_lines(pde, u0, float(t[-1]), save_times=t, solver=diffrax.Kvaerno5(),
                                       rtol=1e-8, atol=1e-10)
        index = np.rint(np.asarray(x) * num_nodes).astype(int)
        return pde.with_boundaries(states)[:, index]


@dataclass(frozen=True, eq=False)
class VorticityProblem(ConstraintProblem):
    r"""Unforced 2D Navier-Stokes in vorticity form on the periodic $(0,1)^2$, for streamfunction models.

    The basis jet holds the fields of :data:`VORTICITY_FIELDS` of every basis streamfunction,
    and, with an initial lift, their ``offset`` (the lift's fields, added to $b\cdot\omega$).
    """

    viscosity: float = 1e-4
    final_time: float = 5.0
    length_scale: float = 0.8
    alpha: float = 2.5
    time_step: float = 0.005

    def pde_residual(self, f: dict) -> Array:
        r"""$w_\tau + T(u w_x + v w_y) - T\nu\Delta w$ with $u = \psi_y$, $v = -\psi_x$ (fields, not bases)."""
        t = self.final_time
        return f["w_t"] + t * (f["psi_y"] * f["w_x"] - f["psi_x"] * f["w_y"]) - t * self.viscosity * f["lap_w"]

    def collocation_residual(self, omega, features):
        """Initial rows (type 1) $w - w_0$, PDE rows (type 0) the vorticity residual."""
        offset = features.get("offset")
        f = {name: features[name] @ omega + (0.0 if offset is None else offset[name]) for name in VORTICITY_FIELDS}
        return jnp.where(features["types"] == 1, f["w"] - features["values"], self.pde_residual(f))

    def linearised_coefficients(self, features):
        """Without a lift: the least-squares solution with the advection dropped; with one, the
        minimum-norm Gauss-Newton step from $\\omega = 0$ (the lift's advection kept)."""
        if "offset" in features:
            zero = jnp.zeros(features["w"].shape[-1], features["w"].dtype)
            jacobian = jax.jacfwd(self.collocation_residual)(zero, features)
            return jnp.linalg.lstsq(jacobian, -self.collocation_residual(zero, features))[0]
        typ = features["types"][:, None]
        rows = jnp.where(typ == 1, features["w"],
                         features["w_t"] - self.final_time * self.viscosity * features["lap_w"])
        return jnp.linalg.lstsq(rows, features["values"])[0]

    def initial_and_reference(self, resolution: int, key: PRNGKeyArray) -> tuple[Array, Array]:
        r"""Initial vorticity ``(n, n)`` and the reference at $t = 0, 1, \dots, T$, ``(T + 1, n, n)``.

        $w_0$: :func:`pdesolve.initial_conditions.gaussian_random_field` ($\alpha$, $\tau = 1/\ell$)
        scaled to unit rms; reference: :class:`pdesolve.pdes.NavierStokes2D` + ETDRK4, float64.
        """
        grid = PeriodicGrid(resolution, extent=1.0, ndim=2, dtype=jnp.float64)
        w0 = gaussian_random_field(key, grid, alpha=self.alpha, tau=1.0 / self.length_scale)
        w0 = w0 / jnp.sqrt(jnp.mean(w0**2))
        steps = int(round(self.final_time / self.time_step))
        frames = rollout(ETDRK4(NavierStokes2D(grid, viscosity=self.viscosity), self.time_step), w0, steps,
                         save_every=int(round(1.0 / self.time_step)))
        return w0[0], frames[:, 0]


for _problem in (
    DiffusionSorptionSlab("diffusion-sorption", "PDEBench 1D diffusion-sorption, u0 = 0.1, t in (0, 500]",
                          paper_rel_l2=(("soft", 0.859), ("hard", 0.0755), ("moe", 0.036)),
                          left_value=1.0, robin=5e-4),
    HeatSlab("hc-heat", "1D heat u_t = 0.1 u_xx, u0 = sin(pi x), u(0) = u(1) = 0, closed form"),
    VorticityProblem("hc-navier-stokes", "unforced 2D vorticity, nu = 1e-4, T = 5, unit-rms GRF start",
                     paper_rel_l2=(("soft", 0.181), ("hard", 0.118), ("moe", 0.083))),
):
    register(_problem)
