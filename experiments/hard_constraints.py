r"""Soft vs hard vs mixture-of-experts hard constraints (PI-HC, PI-HC-MoE), residual-only training.

Reproduces the set-up of Chalapathi, Du & Krishnapriyan (ICLR 2024) at CPU scale:

- **Problem** (default ``diffusion_sorption``, PDEBench's 1D diffusion-sorption):
  $u_t = D/R(u)\,u_{xx}$, $R(u) = 1 + \frac{1-\phi}{\phi}\rho_s k n_f \max(u, 0.01)^{n_f - 1}$
  with $\phi = 0.29$, $\rho_s = 2880$, $k = 3.5\cdot10^{-4}$ (PDEBench ``k_f``), $n_f = 0.874$,
  $D = 5\cdot10^{-4}$; $u(0, t) = 1$, $u(1, t) = -D u_x(1, t)$; $x\in(0,1)$, $t\in(0, 500]$.
  The papers print $u(1) = D u_x(1)$, an anti-dissipative Robin condition ($u_x = u/D$ makes the
  problem unstable); PDEBench's generator (``sim_diff_sorp.py``) uses the ghost value
  $D(c_{N-2} - c_{N-1})/\Delta x \approx -D u_x$, which we follow. Constant
  initial value $u_0 = 0.1$ (PDEBench draws one constant from $U(0, 0.2)$ per sample). We work
  in $\tau = t/500$, so $u_\tau = 500 D / R(u)\, u_{xx}$. ``--problem heat`` gives the 1D heat
  equation $u_t = 0.1 u_{xx}$, $u_0 = \sin\pi x$, $u(0) = u(1) = 0$ on $(0,1)\times(0,1]$.
- **Models**: one Fourier-feature tanh MLP $(x, \tau) \mapsto b(x, \tau)\in\mathbb{R}^N$ (basis
  functions, tanh on the output layer too, Fourier feature $m$ scaled by $m^{-2}$ so the bases
  are smooth; ``--feature-decay``), and $u = b\cdot\omega$.
  - *soft*: $\omega$ is a trained parameter; loss = PDE residual + IC + BC penalties.
  - *hard*: $N = 4M$ bases (``--basis-factor``); $\omega$ = the exact solution of PDE + IC + BC
    at $M$ constraint points closest to an anchor
    (:class:`pdesolve.constraints.MinimumNormConstraint`): heat (linear, 2 steps) and, since
    session 7, diffusion-sorption (30 anchored Gauss-Newton steps from zero) take the minimum-norm
    root with exact KKT gradients (``--gradient kkt``); Navier-Stokes solves from the solution of
    the linearised problem (advection dropped) by 20 Levenberg-Marquardt steps with minimum-norm
    tangent gradients (``--gradient tangent``). The independent experts of diffusion-sorption use
    tangent gradients with 12 line-searched minimum-norm Gauss-Newton steps from the linearised
    solution (R frozen at R(0.5); ``--expert-gradient``, ``--solve-method``).
    ``--basis-factor 1`` restores the square Gauss-Newton layer
    (:class:`pdesolve.constraints.LeastSquaresConstraint`). Same loss.
  - *hard MoE*: $K$ slabs in $x$ (``--split space``, default; ``time`` for time slabs); expert
    $k$ solves its own $\omega_k$ ($N/K$ bases) at the $M/K$ constraint points of its slab
    (each slab has its share of the initial points; :class:`pdesolve.constraints.MixtureOfExperts`,
    vmapped); same loss plus the squared jumps of $u$ and $u_x$ across the interfaces (the
    independent solves do not couple the slabs). Time slabs fail with exact solves: a later
    slab's constraints are homogeneous for heat, so its minimum-norm solution is $u = 0$.
  - *coupled MoE* (``coupled``): the same $K$ slabs and bases, but the jumps of $u$ and $u_x$ at
    ``--interface-points`` points per interface (8 for heat, 16 for diffusion-sorption) are constraints of the solve
    (:class:`pdesolve.constraints.CoupledMixtureOfExperts`: per-expert SVDs plus one small
    interface Schur-complement solve per Levenberg-Marquardt step, stopping once
    $\max|R| \le 10^{-10}$; at most 20 steps for heat, 200 for diffusion-sorption,
    ``--coupled-steps``); same loss as the MoE.
  All models see the same loss points (resampled every step), the same number of Adam steps and
  the same learning rate and the same global-norm gradient clipping (``--clip-norm``, default 1;
  0 turns it off); there is no interior solution data. ``--warm-start`` (diffusion-sorption,
  default on; ``--no-warm-start``): every coupled-MoE solve starts from the previous training
  step's coefficients (and the evaluation from the last ones).
- **2D Navier-Stokes** (``--problem navier-stokes``): unforced vorticity form, $\nu = 10^{-4}$,
  periodic $(0,1)^2$, $T = 5$, Gaussian-random-field initial vorticity
  (:func:`pdesolve.initial_conditions.gaussian_random_field`, $\alpha = 2.5$, $\tau = 1/0.8$,
  scaled to unit rms), reference :class:`pdesolve.pdes.NavierStokes2D` + ETDRK4 on $64^2$
  (``--quick``). The bases are streamfunctions $\psi(x, y, \tau)$ (periodic Fourier-feature
  embedding), $w = -\Delta\psi$, $(u, v) = (\psi_y, -\psi_x)$; constraints: the residual
  $w_\tau + T(u w_x + v w_y) - T\nu\Delta w$ at PDE points and $w - w_0$ on an $8\times8$
  initial grid; $N = 4M$ bases (session 8; $2M$ before). MoE = $2\times2$ spatial quadrants.
  Since session 8 every expert solves with all initial points (``--overlap 0.5``: those within half
  a quadrant width of its quadrant) and the PDE points of its own quadrant, and the independent
  experts are combined by a $C^4$ partition of unity that blends the vorticity and velocity of
  neighbours within 0.05 of the quadrant edges (``--blend``; no constraint point lies in those
  strips, so the constraints hold exactly). ``--overlap 0 --blend 0 --basis-factor 2`` restores the
  partition with the jumps of $w, \psi_x, \psi_y$ penalised in the loss.
- **The paper's regime** (``--bases N``, session 9): N bases in the global solve instead of ``--basis-factor``
  x M. A solve with more constraints than bases is a Levenberg-Marquardt least-squares layer
  (:class:`pdesolve.constraints.LeastSquaresConstraint`, implicit gradients of the normal equation),
  so its constraints hold only in the least-squares sense; with ``--expert-bases shared`` every
  expert has its own N coefficients on the same N bases, K N in all (Chalapathi et al.: N = 16 for
  diffusion-sorption, 64 for Navier-Stokes). ``--initial-features`` (Navier-Stokes) feeds the
  initial streamfunction, velocity and vorticity at (x, y) to the basis network as well, as the
  paper's FNO takes the initial field as input.
- **Initial lift** (``--initial-lift``, Navier-Stokes, session 12): the prediction is
  $\psi = \psi_0 + \tau\,b\cdot\omega$ with $\psi_0$ the initial streamfunction's trigonometric
  interpolant (:class:`InitialLift`), as the paper builds $w_0$ into its output. The initial
  condition then holds exactly everywhere, so every expert sees the whole initial field (and its
  velocity), and all M constraint points are PDE points. ``--lift-modes k`` keeps only the modes
  $|k_x|, |k_y| \le k$ of the initial field (a smoothed start).
- **Reference**: method of lines with Diffrax's Kvaerno5 through
  :func:`pdesolve.integrators.solve_method_of_lines`: second-order finite differences on 257
  nodes (129 with ``--quick``; the 257- and 513-node solutions differ by 1.1e-5 relative L2),
  the Robin node eliminated by a one-sided difference. Heat uses its closed form.
- **Reported**: relative $L^2$ error on a $65\times32$ space-time grid ($\tau > 0$), the max
  constraint residual at the constraint points (hard layers), the wall time per training step,
  and a solve-only timing of the constraint layer (forward + implicit backward) for the global
  solve vs the mixture at the same $M$.

Usage::

    python experiments/hard_constraints.py --quick          # < 20 min on 2 CPU cores
    python experiments/hard_constraints.py --steps 3000     # longer run
    python experiments/hard_constraints.py --json out.json  # also save the results
    python experiments/hard_constraints.py --quick --figure fields.png  # u(x, t) and errors, 1D problems
    python experiments/hard_constraints.py --quick --problem heat
    python experiments/hard_constraints.py --quick --problem navier-stokes
    # Chalapathi et al.'s regime: 64 bases, a least-squares global layer, 4 experts x 64 coefficients
    python experiments/hard_constraints.py --quick --problem navier-stokes --bases 64 --expert-bases shared \
        --overlap 0 --models soft hard moe
    # the earlier square system (64 points = 64 bases, Gauss-Newton, time slabs)
    python experiments/hard_constraints.py --quick --points 64 --basis-factor 1 --split time --feature-decay 0
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from typing import ClassVar

import jax

jax.config.update("jax_enable_x64", True)
# synchronous CPU dispatch: two runs of the vmapped MoE step wedged in block_until_ready (all XLA
# worker threads idle) with asynchronous dispatch on the shared machine
jax.config.update("jax_cpu_enable_async_dispatch", False)

import diffrax  # noqa: E402
import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from pdesolve.bench._timing import best_time  # noqa: E402
from pdesolve.constraints import (  # noqa: E402
    CoupledMixtureOfExperts,
    LeastSquaresConstraint,
    MinimumNormConstraint,
    MixtureOfExperts,
)
from pdesolve.integrators import solve_method_of_lines  # noqa: E402
from pdesolve.metrics import relative_l2  # noqa: E402
from pdesolve.pdes import AbstractPDE  # noqa: E402

# --- problems --------------------------------------------------------------------------------

POROSITY, RHO_S, K_F, N_F, DIFFUSIVITY, T_FINAL = 0.29, 2880.0, 3.5e-4, 0.874, 5e-4, 500.0
SORPTION = (1 - POROSITY) / POROSITY * RHO_S * K_F * N_F


def retardation(u):
    """Freundlich retardation factor R(u).

    Evaluated at max(u, 0.01): the solution stays in [0.1, 1], so this changes nothing there,
    but trial fields of the solves that dip to u <= 0 would otherwise meet the singular
    derivative of u^(n_f - 1) at 0 and throw Gauss-Newton off.
    """
    return 1.0 + SORPTION * jnp.maximum(u, 0.01) ** (N_F - 1.0)


@dataclass(frozen=True)
class Problem:
    name: str
    diffusion: float  # coefficient in u_tau = diffusion * u_xx / R(u)
    sorption: bool
    initial: float | None  # constant initial value (None: sin(pi x))
    left_value: float
    robin_right: float | None  # u(1) = -robin_right * u_x(1); None: u(1) = 0

    def initial_value(self, x):
        if self.initial is None:
            return jnp.sin(jnp.pi * x)
        return jnp.full_like(x, self.initial)

    def pde_residual(self, u, u_t, u_xx):
        factor = retardation(u) if self.sorption else 1.0
        return u_t - self.diffusion * u_xx / factor

    def right_residual(self, u, u_x):
        if self.robin_right is None:
            return u
        return u + self.robin_right * u_x


DIFFUSION_SORPTION = Problem("diffusion_sorption", DIFFUSIVITY * T_FINAL, True, 0.1, 1.0, DIFFUSIVITY)
HEAT = Problem("heat", 0.1, False, None, 0.0, None)


class _FDProblem(AbstractPDE):
    """Method-of-lines semi-discretisation on nodes x_i = i/n, u_0 fixed, u_n from the boundary condition."""

    num_channels: ClassVar[int] = 1
    problem: Problem = eqx.field(static=True)
    num_nodes: int = eqx.field(static=True)

    @property
    def state_shape(self):
        return (1, self.num_nodes)

    @property
    def dtype(self):
        return jnp.float64

    def rhs(self, t, u):
        p, n = self.problem, self.num_nodes
        h = 1.0 / n
        v = u[0]  # nodes 1..n; node n is algebraic (boundary condition), its rate is set to 0
        if p.robin_right is None:
            right = 0.0
        else:  # u_n + D (u_n - u_{n-1}) / h = 0, one-sided, eliminates the stiff boundary node
            right = p.robin_right * v[-2] / (h + p.robin_right)
        full = jnp.concatenate([jnp.asarray([p.left_value]), v[:-1], jnp.asarray(right)[None]])
        u_xx = (full[2:] - 2 * full[1:-1] + full[:-2]) / h**2
        factor = retardation(v[:-1]) if p.sorption else 1.0
        du = p.diffusion * u_xx / factor
        return jnp.concatenate([du, jnp.zeros(1)])[None]

    def boundary_value(self, v_interior_last):
        p, h = self.problem, 1.0 / self.num_nodes
        if p.robin_right is None:
            return 0.0 * v_interior_last
        return p.robin_right * v_interior_last / (h + p.robin_right)


def reference_solution(problem: Problem, x_eval, t_eval, num_nodes: int = 256):
    """u(x_eval, t_eval) from the method of lines (x_eval must be nodes i/num_nodes)."""
    if problem.initial is None and problem.sorption is False and problem.robin_right is None:
        # heat with a sine initial value has a closed form; use it as the reference
        return jnp.exp(-problem.diffusion * jnp.pi**2 * t_eval[:, None]) * jnp.sin(jnp.pi * x_eval[None, :])
    pde = _FDProblem(problem, num_nodes)
    nodes = jnp.arange(1, num_nodes + 1) / num_nodes
    u0 = problem.initial_value(nodes)[None]
    ys = solve_method_of_lines(pde, u0, float(t_eval[-1]), save_times=t_eval, solver=diffrax.Kvaerno5(),
                               rtol=1e-8, atol=1e-10)[:, 0]
    ys = ys.at[:, -1].set(pde.boundary_value(ys[:, -2]))
    full = jnp.concatenate([jnp.full((ys.shape[0], 1), problem.left_value), ys], axis=1)
    index = np.rint(np.asarray(x_eval) * num_nodes).astype(int)
    return full[:, index]


# --- basis network ---------------------------------------------------------------------------


FEATURE_DECAY = 2.0  # Fourier feature m is scaled by m**-FEATURE_DECAY (--feature-decay)
SOLVE_STEPS = 8  # minimum-norm Gauss-Newton iterations (--solve-steps)
COUPLED_STEPS = 10  # Levenberg-Marquardt iterations of the coupled mixture (--coupled-steps)
COUPLED_DAMPING = 1e-6  # initial Levenberg-Marquardt damping of the coupled mixture
# the coupled solve stops as soon as max|R| <= this (two orders inside the 1e-8 goal), so a warm-started
# solve costs a few Levenberg-Marquardt steps instead of --coupled-steps
COUPLED_TOLERANCE = 1e-10
INTERFACE_POINTS = 8  # interface points per interface of the coupled mixture (--interface-points)
GRADIENT = "kkt"  # MinimumNormConstraint(gradient=...) of the global hard layer (--gradient)
EXPERT_GRADIENT = "kkt"  # ... and of the independent MoE's experts (--expert-gradient)
EXPERT_SOLVE_STEPS = 2  # the experts' solve iterations (--solve-steps sets both)
NEWTON_STEPS = 0  # Newton steps on the Lagrange conditions after the global KKT layer's iterations (--newton-steps)
LEAST_SQUARES_STEPS = 40  # Levenberg-Marquardt steps of the over-determined least-squares layers (--bases; --solve-steps)
SOLVE_METHOD = "levenberg_marquardt"  # MinimumNormConstraint(method=...), the tangent forward (--solve-method)
EXPERT_BASES = "split"  # bases per mixture expert: N/K ("split") or N ("shared"); --expert-bases


class BasisNet(eqx.Module):
    """Fourier-feature tanh MLP (x, tau) -> N basis function values.

    The inputs are embedded as sin/cos(pi m x), sin/cos(pi m tau), m = 1..8 (plus x, tau), which
    keeps the N basis functions far from collinear (a plain tanh MLP at initialisation gives a
    64 x 64 collocation matrix with condition number ~1e16, so no square solve could be exact).
    """

    mlp: eqx.nn.MLP
    frequencies: jax.Array

    def __init__(self, num_basis, width, depth, key):
        self.frequencies = jnp.pi * jnp.arange(1, 9, dtype=jnp.float64)
        # tanh on the output too: the N bases are N independent features. With a linear output
        # layer they would be combinations of only `width` hidden units (rank <= width + 1), so
        # N > width bases could never make an under-determined system better conditioned.
        self.mlp = eqx.nn.MLP(2 + 4 * 8, num_basis, width, depth, activation=jnp.tanh,
                              final_activation=jnp.tanh, key=key)

    def __call__(self, x, t):
        freq = jax.lax.stop_gradient(self.frequencies)
        amp = (jnp.pi / freq) ** FEATURE_DECAY
        features = jnp.concatenate([
            jnp.stack([2 * x - 1, 2 * t - 1]), amp * jnp.sin(freq * x), amp * jnp.cos(freq * x),
            amp * jnp.sin(freq * t), amp * jnp.cos(freq * t),
        ])
        return self.mlp(features)


def basis_jet(net, points):
    """Basis values and derivatives at points (P, 2): dict of (P, N) arrays b, b_t, b_x, b_xx."""

    def single(p):
        x, t = p[0], p[1]
        b, b_t = jax.jvp(lambda s: net(x, s), (t,), (jnp.ones_like(t),))
        first = lambda y: jax.jvp(lambda s: net(s, t), (y,), (jnp.ones_like(y),))[1]  # noqa: E731
        b_x, b_xx = jax.jvp(first, (x,), (jnp.ones_like(x),))
        return {"b": b, "b_t": b_t, "b_x": b_x, "b_xx": b_xx}

    return jax.vmap(single)(points)


# --- constraint points -----------------------------------------------------------------------
# type codes: 0 = PDE, 1 = initial value, 2 = left boundary, 3 = right boundary

def _with_pde_points(pts, typ, val, x, t):
    """One expert's points, types and values: the given sets plus PDE points (type 0, value 0) at (x, t)."""
    pts = [*pts, jnp.stack([x, t], 1)]
    typ = [*typ, jnp.zeros(x.shape[0], int)]
    val = [*val, jnp.zeros(x.shape[0])]
    return jnp.concatenate(pts), jnp.concatenate(typ), jnp.concatenate(val)


def _stack_experts(experts):
    """(points, types, values), each stacked over the experts: (K, m, 2), (K, m), (K, m)."""
    return tuple(jnp.stack(parts) for parts in zip(*experts))


def constraint_points(problem: Problem, num_experts: int, per_expert: int, key, split: str = "time",
                      overlap: float = 0.0, global_conditions: bool = False):
    """Points (K, m, 2), types (K, m), values (K, m) for K subdomains with m points each.

    ``split="time"``: K time slabs (the initial points all in the first); ``"space"``: K slabs
    in x, each with its share of the initial points (the boundary points in the end slabs); each
    expert's points cover its slab widened by ``overlap`` slab widths on both sides (the expert
    still owns only its slab), so its interfaces lie inside its own constraint set.
    ``global_conditions`` (space slabs): every expert takes all initial and boundary points of the
    global set and only its own slab's PDE points (as in Chalapathi et al.'s code).
    """
    if split == "space" and global_conditions:
        return _global_condition_points(problem, num_experts, per_expert, key)
    if global_conditions:
        raise ValueError("global_conditions needs split='space'")
    if split == "space":
        return _space_constraint_points(problem, num_experts, per_expert, key, overlap)
    experts = []
    keys = jax.random.split(key, num_experts)
    n_bc = max(2, per_expert // 8)
    n_ic = max(3, per_expert // 4)
    for k in range(num_experts):
        lo, hi = k / num_experts, (k + 1) / num_experts
        kk = jax.random.split(keys[k], 3)
        t_bc = lo + (hi - lo) * (jnp.arange(n_bc) + 0.5) / n_bc
        pts = [jnp.stack([jnp.zeros(n_bc), t_bc], 1), jnp.stack([jnp.ones(n_bc), t_bc], 1)]
        typ = [jnp.full(n_bc, 2), jnp.full(n_bc, 3)]
        val = [jnp.full(n_bc, problem.left_value), jnp.zeros(n_bc)]
        if k == 0:
            x_ic = (jnp.arange(n_ic) + 0.5) / n_ic
            pts.append(jnp.stack([x_ic, jnp.zeros(n_ic)], 1))
            typ.append(jnp.full(n_ic, 1))
            val.append(problem.initial_value(x_ic))
        n_pde = per_expert - sum(p.shape[0] for p in pts)
        x = jax.random.uniform(kk[0], (n_pde,), minval=0.02, maxval=0.98)
        t = lo + (hi - lo) * jax.random.uniform(kk[1], (n_pde,), minval=0.02, maxval=1.0)
        experts.append(_with_pde_points(pts, typ, val, x, t))
    return _stack_experts(experts)


def _space_constraint_points(problem: Problem, num_experts: int, per_expert: int, key, overlap: float = 0.0):
    """K slabs in x; without overlap the global solve (K = 1) gets the same points as the union."""
    total = num_experts * per_expert
    n_bc = max(2, total // 8)  # per physical boundary
    n_ic = max(3, total // 4) // num_experts  # per slab
    t_bc = (jnp.arange(n_bc) + 0.5) / n_bc
    experts = []
    keys = jax.random.split(key, num_experts)
    for k in range(num_experts):
        lo = max(0.0, (k - overlap) / num_experts)
        hi = min(1.0, (k + 1 + overlap) / num_experts)
        xi = lo + (hi - lo) * (jnp.arange(n_ic) + 0.5) / n_ic
        pts, typ, val = [jnp.stack([xi, jnp.zeros(n_ic)], 1)], [jnp.full(n_ic, 1)], [problem.initial_value(xi)]
        if lo == 0.0:
            pts.append(jnp.stack([jnp.zeros(n_bc), t_bc], 1))
            typ.append(jnp.full(n_bc, 2))
            val.append(jnp.full(n_bc, problem.left_value))
        if hi == 1.0:
            pts.append(jnp.stack([jnp.ones(n_bc), t_bc], 1))
            typ.append(jnp.full(n_bc, 3))
            val.append(jnp.zeros(n_bc))
        n_pde = per_expert - sum(p.shape[0] for p in pts)
        if n_pde < 1:
            raise ValueError(f"expert {k} has no room for PDE points: {per_expert} points per expert, "
                             f"{per_expert - n_pde} initial/boundary points (use more --points or fewer --experts)")
        kk = jax.random.split(keys[k], 2)
        x = lo + (hi - lo) * jax.random.uniform(kk[0], (n_pde,), minval=0.01, maxval=0.99)
        t = jax.random.uniform(kk[1], (n_pde,), minval=0.01, maxval=1.0)
        experts.append(_with_pde_points(pts, typ, val, x, t))
    return _stack_experts(experts)


def _global_condition_points(problem: Problem, num_experts: int, per_expert: int, key):
    """K slabs in x; each expert: the global initial and boundary points (those of the K = 1 set)
    plus its slab's share of the PDE points, so the unique points are the global layer's M."""
    total = num_experts * per_expert
    n_bc, n_ic = max(2, total // 8), max(3, total // 4)
    n_pde = (total - n_ic - 2 * n_bc) // num_experts
    if n_pde < 1:
        raise ValueError(f"no room for PDE points: {total} points, {n_ic + 2 * n_bc} initial/boundary points")
    t_bc = (jnp.arange(n_bc) + 0.5) / n_bc
    xi = (jnp.arange(n_ic) + 0.5) / n_ic
    pts = [jnp.stack([xi, jnp.zeros(n_ic)], 1), jnp.stack([jnp.zeros(n_bc), t_bc], 1),
           jnp.stack([jnp.ones(n_bc), t_bc], 1)]
    typ = [jnp.full(n_ic, 1), jnp.full(n_bc, 2), jnp.full(n_bc, 3)]
    val = [problem.initial_value(xi), jnp.full(n_bc, problem.left_value), jnp.zeros(n_bc)]
    experts = []
    for k, kk in enumerate(jax.random.split(key, num_experts)):
        kx, kt = jax.random.split(kk)
        x = (k + jax.random.uniform(kx, (n_pde,), minval=0.01, maxval=0.99)) / num_experts
        t = jax.random.uniform(kt, (n_pde,), minval=0.01, maxval=1.0)
        experts.append(_with_pde_points(pts, typ, val, x, t))
    return _stack_experts(experts)


def make_constraint_residual(problem: Problem):
    def residual(omega, features):
        u = features["b"] @ omega
        u_t = features["b_t"] @ omega
        u_x = features["b_x"] @ omega
        u_xx = features["b_xx"] @ omega
        typ, val = features["types"], features["values"]
        pde = problem.pde_residual(u, u_t, u_xx)
        return jnp.select(
            [typ == 0, typ == 1, typ == 2], [pde, u - val, u - val], problem.right_residual(u, u_x)
        )

    return residual


def linearised_coefficients(problem: Problem, features):
    """Initial guess for the nonlinear solve: the square linear system with R(u) frozen at R(0.5)."""
    factor = retardation(0.5) if problem.sorption else 1.0
    typ = features["types"][:, None]
    rows = jnp.where(typ == 0, features["b_t"] - problem.diffusion / factor * features["b_xx"],
                     jnp.where(typ == 3, features["b"] + (problem.robin_right or 0.0) * features["b_x"], features["b"]))
    return jnp.linalg.lstsq(rows, features["values"])[0]


class HardLayer(eqx.Module):
    """The mixture of per-expert constraint solves, plus the problem (for the initial guess)."""

    mixture: MixtureOfExperts
    problem: Problem = eqx.field(static=True)

    @property
    def constraint(self):
        return self.mixture.constraint


def jump_conditions(omegas, coupling):
    """Interface conditions of the coupled mixture: at each interface point p, the jumps
    sum_n jet[p, f, n] (omega[before_p, n] - omega[after_p, n]) of every field f in the jet."""
    difference = omegas[coupling["before"]] - omegas[coupling["after"]]  # (P, N)
    return jnp.einsum("pfn,pn->pf", coupling["jet"], difference).ravel()


class CoupledLayer(eqx.Module):
    """Experts coupled inside the solve (:class:`CoupledMixtureOfExperts`) at fixed interface points.

    ``interface_points`` (P, d) with the experts on either side (``before``, ``after``), and
    ``jet_fields``: the fields of the basis jet whose jumps must vanish there.
    """

    mixture: CoupledMixtureOfExperts
    problem: Problem | None = eqx.field(static=True)
    interface_points: jax.Array
    before: jax.Array
    after: jax.Array
    jet_fields: tuple = eqx.field(static=True)

    @property
    def constraint(self):
        return self.mixture

    def solve(self, features, init, jet_fn):
        """The coupled solve, with the interface jets from ``jet_fn`` (the model's basis jet)."""
        return self.mixture(features, self.coupling_features(jet_fn), init)

    def interface_residuals(self, omegas, jet_fn):
        """The interface conditions (jumps) at ``omegas``: constraints of the coupled solve too."""
        return self.mixture.interface_residuals(omegas, self.coupling_features(jet_fn))

    def coupling_features(self, jet_fn):
        jet = jet_fn(jax.lax.stop_gradient(self.interface_points))
        return {"jet": jnp.stack([jet[name] for name in self.jet_fields], 1), "before": self.before,
                "after": self.after}


def starts_at_zero(layer) -> bool:
    """Whether the layer's solve starts from zero: the exact minimum-norm (KKT) solve, and the
    coupled mixture when the global layer uses KKT gradients (heat, where zero gives its
    minimum-norm solution, and diffusion-sorption since session 7, where only the first training
    step and the cold-start layer timing start there: later solves are warm-started); others
    start from the linearised solution."""
    if isinstance(layer, CoupledLayer):
        return GRADIENT == "kkt"
    return getattr(layer.constraint, "gradient", None) == "kkt"


def space_interface_points(num_experts: int, per_interface: int):
    """Points (x = k/K, tau_j) on the K - 1 interfaces of K slabs in x, tau_j = (j + 1/2)/n."""
    tau = (jnp.arange(per_interface) + 0.5) / per_interface
    points, before, after = [], [], []
    for k in range(1, num_experts):
        points.append(jnp.stack([jnp.full_like(tau, k / num_experts), tau], 1))
        before.append(jnp.full(per_interface, k - 1))
        after.append(jnp.full(per_interface, k))
    return jnp.concatenate(points), jnp.concatenate(before), jnp.concatenate(after)


# --- models ----------------------------------------------------------------------------------


class Model(eqx.Module):
    """u(x, tau) = b(x, tau) . omega_{k(x, tau)}; kind in {soft, hard, moe, coupled}; split in {time, space}."""

    net: BasisNet
    omega: jax.Array | None  # trained coefficients (soft only)
    kind: str = eqx.field(static=True)
    num_experts: int = eqx.field(static=True)
    split: str = eqx.field(static=True, default="time")

    def coefficients(self, layer, cpoints, ctypes, cvalues, start=None):
        """(K, N) coefficients and the solution info (None for soft).

        ``start``: where the nonlinear solve starts (``--warm-start``: the previous training
        step's coefficients); default the linearised solution (zeros for the exact linear solve).
        """
        if self.kind == "soft":
            return self.omega[None], None
        features = jax.vmap(lambda p: basis_jet(self.net, p))(cpoints)
        features = {**features, "types": ctypes, "values": cvalues.astype(features["b"].dtype)}
        if start is not None:
            init = jax.lax.stop_gradient(start)
        elif starts_at_zero(layer):  # linear problem: the exact minimum-norm solution (anchor / start 0)
            init = jnp.zeros(features["b"].shape[::2], features["b"].dtype)  # (K, N)
        else:  # square Gauss-Newton or LM: start from the linearised solution (a frozen anchor)
            init = jax.lax.stop_gradient(jax.vmap(lambda f: linearised_coefficients(layer.problem, f))(features))
        if self.kind == "coupled":
            sol = layer.solve(features, init, lambda p: basis_jet(self.net, p))
        else:
            sol = layer.mixture(features, init)
        return sol.coefficients, sol

    def expert_of(self, points):
        coordinate = points[:, 0] if self.split == "space" else points[:, 1]
        return jnp.clip(jnp.floor(coordinate * self.num_experts).astype(int), 0, self.num_experts - 1)

    def evaluate(self, omegas, points, expert=None):
        jet = basis_jet(self.net, points)
        if expert is None:
            expert = self.expert_of(points)
        w = omegas[expert]  # (P, N)
        return {name: jnp.sum(value * w, axis=-1) for name, value in jet.items()}

    def interface_jump(self, omegas, s):
        """Jumps between neighbouring experts at their interfaces, at the positions s in (0, 1).

        Time slabs: u_{k-1} - u_k at tau = k/K (x = s). Space slabs: the jumps of u and of u_x at
        x = k/K (tau = s): a second-order PDE needs both continuous.
        """
        if self.num_experts == 1:
            return jnp.zeros(0)
        jumps = []
        for k in range(1, self.num_experts):
            c = jnp.full_like(s, k / self.num_experts)
            pts = jnp.stack([c, s] if self.split == "space" else [s, c], 1)
            before = self.evaluate(omegas, pts, jnp.full(s.shape, k - 1))
            after = self.evaluate(omegas, pts, jnp.full(s.shape, k))
            jumps.append(before["b"] - after["b"])
            if self.split == "space":
                jumps.append(before["b_x"] - after["b_x"])
        return jnp.concatenate(jumps)


def loss_points(key, num_interior, num_boundary):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    interior = jax.random.uniform(k1, (num_interior, 2))
    x_ic = jax.random.uniform(k2, (num_boundary,))
    t_bc = jax.random.uniform(k3, (num_boundary,))
    t_bc2 = jax.random.uniform(k4, (num_boundary,))
    return (interior, jnp.stack([x_ic, jnp.zeros_like(x_ic)], 1), jnp.stack([jnp.zeros_like(t_bc), t_bc], 1),
            jnp.stack([jnp.ones_like(t_bc2), t_bc2], 1))


def loss_fn(model, layer, problem, cpoints, ctypes, cvalues, batch, start=None):
    interior, ic, left, right = batch
    omegas, sol = model.coefficients(layer, cpoints, ctypes, cvalues, start)
    f = model.evaluate(omegas, interior)
    pde = problem.pde_residual(f["b"], f["b_t"], f["b_xx"])
    u_ic = model.evaluate(omegas, ic)["b"] - problem.initial_value(ic[:, 0])
    u_left = model.evaluate(omegas, left)["b"] - problem.left_value
    fr = model.evaluate(omegas, right)
    u_right = problem.right_residual(fr["b"], fr["b_x"])
    loss = jnp.mean(pde**2) + jnp.mean(u_ic**2) + jnp.mean(u_left**2) + jnp.mean(u_right**2)
    if model.num_experts > 1:  # experts are solved independently; continuity across slabs is a loss term
        loss = loss + jnp.mean(model.interface_jump(omegas, ic[:, 0]) ** 2)
    converged = jnp.asarray(True) if sol is None else jnp.all(sol.converged)
    return loss, (converged, jax.lax.stop_gradient(omegas))


def bases_per_expert(num_basis: int, experts: int) -> int:
    """Bases each expert solves for: the global count split K ways (``--expert-bases split``), or the
    global count itself (``shared``: every expert has its own coefficients on the same N bases, as in
    Chalapathi et al.'s Figure 1, so the network is the global model's)."""
    return num_basis if EXPERT_BASES == "shared" else num_basis // experts


def build(kind, problem, total_points, num_experts, width, depth, key, basis_factor=1, regularisation=0.0,
          split="time", bases=None):
    """Model and constraint layer. ``bases`` (``--bases``) fixes the global N instead of
    ``basis_factor`` x M; a solve with more constraints than bases is then a Levenberg-Marquardt
    least-squares layer (Chalapathi et al.'s regime)."""
    experts = num_experts if kind in ("moe", "coupled") else 1
    num_basis = bases_per_expert(bases if bases else basis_factor * total_points, experts)
    least_squares = bool(bases) and total_points // experts > num_basis
    knet, kw = jax.random.split(key)
    net = BasisNet(num_basis, width, depth, knet)
    omega = jax.random.normal(kw, (num_basis,)) / math.sqrt(num_basis) if kind == "soft" else None
    model = Model(net, omega, kind, experts, split)
    layer = None
    if kind == "coupled":
        if split != "space":
            raise ValueError("the coupled mixture needs --split space")
        coupled = CoupledMixtureOfExperts(make_constraint_residual(problem), jump_conditions, num_basis,
                                          num_steps=COUPLED_STEPS, tolerance=COUPLED_TOLERANCE, on_failure="ignore",
                                          initial_damping=COUPLED_DAMPING,
                                          batching="map")
        layer = CoupledLayer(coupled, problem, *space_interface_points(experts, INTERFACE_POINTS), ("b", "b_x"))
    elif kind != "soft" and least_squares:
        # fewer bases than constraints: the least-squares solution, implicit gradients of J^T r = 0
        single = LeastSquaresConstraint(make_constraint_residual(problem), num_basis, num_steps=LEAST_SQUARES_STEPS,
                                        method="levenberg_marquardt", tolerance=1e-8, on_failure="ignore",
                                        regularisation=regularisation)
        layer = HardLayer(MixtureOfExperts(single, batching="map"), problem)
    elif kind != "soft" and (bases or basis_factor > 1) and regularisation == 0.0:
        # under-determined: the exact minimum-norm solution (pseudo-inverse Gauss-Newton, KKT gradients)
        # or a root near the linearised solution (tangent gradients); the global layer and the
        # independent experts may differ (--gradient, --expert-gradient)
        gradient, steps = (GRADIENT, SOLVE_STEPS) if kind == "hard" else (EXPERT_GRADIENT, EXPERT_SOLVE_STEPS)
        newton = NEWTON_STEPS if kind == "hard" and gradient == "kkt" else 0
        single = MinimumNormConstraint(make_constraint_residual(problem), num_basis, num_steps=steps,
                                       tolerance=1e-8, on_failure="ignore", gradient=gradient, method=SOLVE_METHOD,
                                       newton_steps=newton)
        layer = HardLayer(MixtureOfExperts(single, batching="map"), problem)
    elif kind != "soft":
        # Gauss-Newton (= Newton on the square system) from the linearised solution; LM's gain-ratio
        # safeguard converged far more slowly on this problem in our trials.
        single = LeastSquaresConstraint(make_constraint_residual(problem), num_basis, num_steps=15,
                                        method="gauss_newton", tolerance=1e-9, on_failure="ignore",
                                        regularisation=regularisation)
        layer = HardLayer(MixtureOfExperts(single, batching="map"), problem)
    return model, layer, num_basis


def make_optimizer(args):
    """Adam with cosine decay (to 5% of ``--lr``), after global-norm clipping unless ``--clip-norm 0``."""
    adam = optax.adam(optax.cosine_decay_schedule(args.lr, args.steps, alpha=0.05))
    return optax.chain(optax.clip_by_global_norm(args.clip_norm), adam) if args.clip_norm else adam


def train(kind, problem, args, key):
    model, layer, num_basis = build(kind, problem, args.points, args.experts, args.width, args.depth, key,
                                    args.basis_factor, args.regularisation, args.split, args.bases)
    experts = model.num_experts
    cpoints, ctypes, cvalues = constraint_points(problem, experts, args.points // experts, jax.random.key(7),
                                                 args.split, args.overlap if experts > 1 else 0.0,
                                                 args.global_conditions and experts > 1)
    opt = make_optimizer(args)
    state = opt.init(eqx.filter(model, eqx.is_inexact_array))

    # only the coupled mixture: the global and independent minimum-norm roots are too sensitive to the
    # bases (Jacobian singular values down to ~1e-11) for the previous root to be a good start (global
    # layer warm-started: 58.8% with Levenberg-Marquardt, 1869% with line-searched Gauss-Newton)
    warm = args.warm_start and kind == "coupled"

    @eqx.filter_jit
    def step(model, state, key, start):
        batch = loss_points(key, args.interior, args.boundary)
        (loss, (conv, omegas)), grads = eqx.filter_value_and_grad(
            lambda m: loss_fn(m, layer, problem, cpoints, ctypes, cvalues, batch, start), has_aux=True)(model)
        updates, state = opt.update(grads, state, eqx.filter(model, eqx.is_inexact_array))
        return eqx.apply_updates(model, updates), state, loss, conv, omegas

    keys = jax.random.split(jax.random.key(args.seed + 1), args.steps)
    model, state, loss, conv, omegas = step(model, state, keys[0], None)  # compile
    jax.block_until_ready(loss)
    start = omegas if warm else None  # warm start: each solve starts from the previous step's root
    if warm:  # compile the warm-started step outside the timing too
        jax.block_until_ready(step(model, state, keys[0], start))
    clock = time.perf_counter()
    failures = 0
    losses = []
    for i in range(1, args.steps):
        model, state, loss, conv, omegas = step(model, state, keys[i], start)
        start = omegas if warm else None
        if i % 50 == 0 or i == args.steps - 1:
            losses.append(float(loss))
            failures += int(not bool(conv))
    seconds_per_step = (time.perf_counter() - clock) / max(args.steps - 1, 1)
    return model, layer, (cpoints, ctypes, cvalues), seconds_per_step, losses, failures, num_basis, start


def transfer_bases(hard_model, problem, args, x_eval, t_eval, reference):
    """Diagnostic (``--transfer-bases``): the trained global model's bases, re-solved by K independent
    experts (every expert on all N bases, its own coefficients), without further training, with the
    experts' points partitioned or with the global initial/boundary points (``global_conditions``).
    Separates what the local solves lose from what the mixture's training does to the bases."""
    global EXPERT_BASES
    saved, EXPERT_BASES = EXPERT_BASES, "shared"
    try:
        _, layer, num_basis = build("moe", problem, args.points, args.experts, args.width, args.depth,
                                    jax.random.key(0), args.basis_factor, args.regularisation, args.split, args.bases)
        model = Model(hard_model.net, None, "moe", args.experts, args.split)
        rows = []
        for global_conditions in (False, True):
            constraint = constraint_points(problem, args.experts, args.points // args.experts, jax.random.key(7),
                                           args.split, 0.0, global_conditions)
            error, cres, conv, _ = evaluate(model, layer, constraint, x_eval, t_eval, reference)
            rows.append({"global_conditions": global_conditions, "rel_l2": error, "constraint_residual_max": cres,
                         "final_solve_converged": conv, "bases_per_solve": num_basis})
            print(json.dumps({"transfer_bases": rows[-1]}), file=sys.stderr)
        return rows
    finally:
        EXPERT_BASES = saved


def evaluate(model, layer, constraint, x_eval, t_eval, reference, start=None):
    """Relative L2 error on the (t, x) grid, max |constraint residual|, whether every solve
    converged (both ``None`` for the soft model), and the predicted field u (t, x)."""
    omegas, sol = model.coefficients(layer, *constraint, start)
    xx, tt = jnp.meshgrid(x_eval, t_eval, indexing="xy")
    pts = jnp.stack([xx.ravel(), tt.ravel()], 1)
    u = model.evaluate(omegas, pts)["b"].reshape(tt.shape)
    error = float(relative_l2(u, reference))
    if sol is None:
        return error, None, None, u
    features = jax.vmap(lambda p: basis_jet(model.net, p))(constraint[0])
    features = {**features, "types": constraint[1], "values": constraint[2]}
    residual = jax.vmap(layer.constraint.residual_fn)(omegas, features)  # without the Tikhonov rows
    if model.kind == "coupled":
        interface = layer.interface_residuals(omegas, lambda p: basis_jet(model.net, p))
        residual = jnp.concatenate([residual.ravel(), interface])
    return error, float(jnp.max(jnp.abs(residual))), bool(jnp.all(sol.converged)), u


def time_layer(solve, features, coupling, ctypes, cvalues, repeats):
    """Best time of the constraint layer's forward pass plus implicit backward pass:
    ``solve(features, coupling)`` (a ConstraintSolution), loss = sum of squared coefficients."""

    @eqx.filter_jit
    def fwd_bwd(inputs):
        def loss(diff):
            f, g = diff
            return jnp.sum(solve({**f, "types": ctypes, "values": cvalues}, g).coefficients ** 2)

        return eqx.filter_value_and_grad(loss)(inputs)

    return best_time(fwd_bwd, (features, coupling), repeats)[0]


def time_solve_only(problem, total_points, experts, width, depth, repeats=5, basis_factor=1, regularisation=0.0,
                    split="time", overlap=0.0, kinds=("hard", "moe"), bases=None, global_conditions=False):
    """Forward + implicit backward of the constraint layer alone: global (M bases, M points)
    vs mixture (K experts x M/K bases and points), same M, same network width."""
    out = {}
    for kind in kinds:
        k = 1 if kind == "hard" else experts
        model, layer, _ = build(kind, problem, total_points, experts, width, depth, jax.random.key(0), basis_factor,
                                regularisation, split, bases)
        cpoints, ctypes, cvalues = constraint_points(problem, k, total_points // k, jax.random.key(7), split,
                                                     overlap if k > 1 else 0.0, global_conditions and k > 1)
        features = jax.vmap(lambda p: basis_jet(model.net, p))(cpoints)
        init = jax.vmap(lambda f: linearised_coefficients(problem, f))({**features, "types": ctypes, "values": cvalues})
        if starts_at_zero(layer):
            init = jnp.zeros_like(init)  # as in training
        if kind == "coupled":
            coupling = layer.coupling_features(lambda p: basis_jet(model.net, p))
            solve = lambda f, g: layer.mixture(f, g, init)  # noqa: E731
        else:
            coupling, solve = None, lambda f, g: layer.mixture(f, init)  # noqa: E731
        out[kind] = time_layer(solve, features, coupling, ctypes, cvalues, repeats)
    return out


# --- 2D Navier-Stokes (vorticity form, periodic, unforced) ------------------------------------
#
# u = grad^perp psi with a learned streamfunction psi(x, y, tau) = b(x, y, tau) . omega (tau = t / T),
# vorticity w = -Laplacian(psi); residual  w_tau + T (u w_x + v w_y) - T nu Laplacian(w)  at PDE points
# and w(x, y, 0) - w0(x, y) at initial points. The bases are periodic in x and y by construction
# (Fourier-feature embedding), so no boundary conditions are needed. The advection term is quadratic
# in omega; the minimum-norm Gauss-Newton solve handles it.

NS_VISCOSITY, NS_T_FINAL, NS_LENGTH_SCALE = 1e-4, 5.0, 0.8
NS_INTERFACE_FIELDS = ("w", "psi_x", "psi_y")  # continuous across the quadrant edges (--interface-fields)
NS_FIELDS = ("w", "w_t", "w_x", "w_y", "lap_w", "psi_x", "psi_y")  # what the vorticity residual needs


def initial_modes(w0, max_mode: int | None = None):
    """Wavenumbers k_x, k_y and coefficients of the initial vorticity on the periodic n x n grid,
    w0(x) = sum_k w_hat_k exp(2 pi i k . x), without the mean mode; only |k_x|, |k_y| <= max_mode
    if given."""
    n = w0.shape[0]
    k = np.fft.fftfreq(n, 1.0 / n)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    keep = (kx != 0) | (ky != 0)
    if max_mode is not None:
        keep &= (np.abs(kx) <= max_mode) & (np.abs(ky) <= max_mode)
    return kx[keep], ky[keep], np.fft.fft2(np.asarray(w0))[keep] / n**2


class InitialFieldFeatures(eqx.Module):
    r"""The initial streamfunction, velocity and vorticity at any (x, y), each scaled to unit rms.

    From the initial vorticity on the periodic grid: $\hat\psi_k = \hat w_k / (4\pi^2|k|^2)$
    ($w = -\Delta\psi$), truncated to $|k_x|, |k_y| \le$ ``max_mode`` and summed as a trigonometric
    polynomial, so the features are smooth and any derivative of them is exact. Fixed, not trained.
    """

    wavenumbers: jax.Array  # (modes, 2)
    coefficients: jax.Array  # (4, modes) complex: psi, u = psi_y, v = -psi_x, w

    def __init__(self, w0, max_mode: int = 8):
        kx, ky, w_hat = initial_modes(w0, max_mode)
        psi_hat = w_hat / (4 * np.pi**2 * (kx**2 + ky**2))
        coeffs = np.stack([psi_hat, 2j * np.pi * ky * psi_hat, -2j * np.pi * kx * psi_hat, w_hat])
        coeffs = coeffs / np.sqrt(np.sum(np.abs(coeffs) ** 2, axis=1, keepdims=True))  # unit rms (Parseval)
        self.wavenumbers = jnp.asarray(np.stack([kx, ky], 1))
        self.coefficients = jnp.asarray(coeffs)

    def __call__(self, x, y):
        k, c = jax.lax.stop_gradient((self.wavenumbers, self.coefficients))
        phase = 2 * jnp.pi * (k[:, 0] * x + k[:, 1] * y)
        return c.real @ jnp.cos(phase) - c.imag @ jnp.sin(phase)


class InitialLift(eqx.Module):
    r"""The initial field built into the prediction (``--initial-lift``):
    $\psi(x, y, \tau) = \psi_0(x, y) + \tau\, b(x, y, \tau)\cdot\omega$.

    $\psi_0$ is the trigonometric interpolant of the initial streamfunction on the periodic grid,
    $\hat\psi_k = \hat w_k / (4\pi^2|k|^2)$ with every grid mode kept, so $w = -\Delta\psi_0$
    equals the initial vorticity at every grid node and the initial condition holds exactly at
    every point of the domain, not only at the constraint points. Its derivatives are Fourier
    multipliers, evaluated in closed form. Fixed, not trained. (Chalapathi et al. build the initial
    condition into their Navier-Stokes output in the same way, $w = w_0 + c\,(t/T)\,b\cdot\omega$.)
    With ``max_mode`` only the modes $|k_x|, |k_y| \le$ ``max_mode`` are kept: a smoothed initial
    field, exact to the truncation (``--lift-modes``).
    """

    wavenumbers: jax.Array  # (modes, 2)
    coefficients: jax.Array  # (modes, 7) complex: the fields of NS_FIELDS

    def __init__(self, w0, max_mode: int | None = None):
        kx, ky, w_hat = initial_modes(w0, max_mode)
        ikx, iky = 2j * np.pi * kx, 2j * np.pi * ky
        psi_hat = w_hat / (4 * np.pi**2 * (kx**2 + ky**2))
        fields = {"w": w_hat, "w_t": 0 * w_hat, "w_x": ikx * w_hat, "w_y": iky * w_hat,
                  "lap_w": (ikx**2 + iky**2) * w_hat, "psi_x": ikx * psi_hat, "psi_y": iky * psi_hat}
        self.wavenumbers = jnp.asarray(np.stack([kx, ky], 1))
        self.coefficients = jnp.asarray(np.stack([fields[name] for name in NS_FIELDS], 1))

    def __call__(self, points):
        """The fields of $\psi_0$ at points (P, 3): a dict of (P,) arrays (NS_FIELDS)."""
        k, c = jax.lax.stop_gradient((self.wavenumbers, self.coefficients))
        phase = 2 * jnp.pi * (points[:, :1] * k[:, 0] + points[:, 1:2] * k[:, 1])  # (P, modes)
        values = jnp.cos(phase) @ c.real - jnp.sin(phase) @ c.imag  # Re sum_k c_k exp(i phase)
        return {name: values[:, j] for j, name in enumerate(NS_FIELDS)}


class PeriodicBasisNet(eqx.Module):
    """(x, y, tau) -> N streamfunction bases; sin/cos(2 pi m x), sin/cos(2 pi m y) (m = 1..4),
    sin/cos(pi m tau) and tau, each Fourier feature scaled by m**-decay, then a tanh MLP.
    With ``initial`` (``--initial-features``) the initial psi, u, v, w at (x, y) are inputs too.
    With ``vanish_at_start`` (``--initial-lift``) every basis is multiplied by tau, so it is 0 at
    t = 0 and the initial field comes from :class:`InitialLift` alone."""

    mlp: eqx.nn.MLP
    decay: float = eqx.field(static=True)
    initial: InitialFieldFeatures | None = None
    vanish_at_start: bool = eqx.field(static=True, default=False)

    def __init__(self, num_basis, width, depth, key, decay, initial=None, vanish_at_start=False):
        self.decay = decay
        self.initial = initial
        self.vanish_at_start = vanish_at_start
        inputs = 1 + 6 * 4 + (0 if initial is None else 4)
        self.mlp = eqx.nn.MLP(inputs, num_basis, width, depth, activation=jnp.tanh,
                              final_activation=jnp.tanh, key=key)

    def __call__(self, x, y, t):
        m = jnp.arange(1, 5, dtype=jnp.float64)
        amp = m ** -self.decay
        ks, kt = 2 * jnp.pi * m, jnp.pi * m
        features = [
            jnp.stack([2 * t - 1]), amp * jnp.sin(ks * x), amp * jnp.cos(ks * x), amp * jnp.sin(ks * y),
            amp * jnp.cos(ks * y), amp * jnp.sin(kt * t), amp * jnp.cos(kt * t),
        ]
        if self.initial is not None:
            features.append(self.initial(x, y))
        bases = self.mlp(jnp.concatenate(features))
        return t * bases if self.vanish_at_start else bases


def _fields_at(psi, p):
    """w, w_tau, w_x, w_y, Lap w, psi_x, psi_y of a streamfunction psi: R^3 -> R^N (or R) at p."""

    def d(f, i):  # directional derivative of f along axis i
        e = jnp.zeros(3).at[i].set(1.0)
        return lambda q: jax.jvp(f, (q,), (e,))[1]

    w = lambda q: -(d(d(psi, 0), 0)(q) + d(d(psi, 1), 1)(q))  # noqa: E731
    lap_w = d(d(w, 0), 0)(p) + d(d(w, 1), 1)(p)
    return {"w": w(p), "w_t": d(w, 2)(p), "w_x": d(w, 0)(p), "w_y": d(w, 1)(p), "lap_w": lap_w,
            "psi_x": d(psi, 0)(p), "psi_y": d(psi, 1)(p)}


def ns_jet(net, points):
    """Per point (x, y, tau): (P, N) arrays of the bases' w, w_tau, w_x, w_y, Lap w, psi_x, psi_y."""
    return jax.vmap(lambda p: _fields_at(lambda q: net(q[0], q[1], q[2]), p))(points)


def smooth_step(z):
    """0 for z <= -1, 1 for z >= 1, a degree-9 polynomial in between whose first four derivatives
    vanish at both ends (C^4: the vorticity residual takes four derivatives of the streamfunction)."""
    t = jnp.clip((z + 1) / 2, 0.0, 1.0)
    return t**5 * (126 - 420 * t + 540 * t**2 - 315 * t**3 + 70 * t**4)


def quadrant_window(x, i, a, blend):
    """chi_i(x): 1 inside [i/a + blend, (i+1)/a - blend], 0 outside [i/a - blend, (i+1)/a + blend],
    periodic; sum_i chi_i = 1 (needs blend < 1/(2a))."""
    r = (x - (i + 0.5) / a + 0.5) % 1.0 - 0.5  # signed periodic offset from the quadrant's centre
    return smooth_step((r + 0.5 / a) / blend) * (1 - smooth_step((r - 0.5 / a) / blend))


def ns_pde_residual(f):
    """w_tau + T (u w_x + v w_y) - T nu Lap w with u = psi_y, v = -psi_x (fields, not bases)."""
    return f["w_t"] + NS_T_FINAL * (f["psi_y"] * f["w_x"] - f["psi_x"] * f["w_y"]) - NS_T_FINAL * NS_VISCOSITY * f["lap_w"]


def ns_constraint_residual(omega, features):
    """Initial rows w - w0, PDE rows the vorticity residual; the fields are b . omega, plus the
    lift's fields ``features["offset"]`` with ``--initial-lift``."""
    offset = features.get("offset")
    f = {name: features[name] @ omega + (0.0 if offset is None else offset[name]) for name in NS_FIELDS}
    return jnp.where(features["types"] == 1, f["w"] - features["values"], ns_pde_residual(f))


def ns_linearised_coefficients(features):
    """Initial guess: the minimum-norm solution with the advection term dropped; with the initial
    lift, the minimum-norm Gauss-Newton step from omega = 0 (the lift's advection kept)."""
    if "offset" in features:
        zero = jnp.zeros(features["w"].shape[-1], features["w"].dtype)
        jacobian = jax.jacfwd(ns_constraint_residual)(zero, features)
        return jnp.linalg.lstsq(jacobian, -ns_constraint_residual(zero, features))[0]
    typ = features["types"][:, None]
    rows = jnp.where(typ == 1, features["w"], features["w_t"] - NS_T_FINAL * NS_VISCOSITY * features["lap_w"])
    return jnp.linalg.lstsq(rows, features["values"])[0]


def ns_setup(resolution, key):
    """Initial vorticity (GRF, length scale 0.8, scaled to unit rms) and the spectral reference at t = 0..5."""
    from pdesolve.initial_conditions import gaussian_random_field
    from pdesolve.integrators import ETDRK4, rollout
    from pdesolve.pdes import NavierStokes2D
    from pdesolve.spatial import PeriodicGrid

    grid = PeriodicGrid(resolution, extent=1.0, ndim=2, dtype=jnp.float64)
    w0 = gaussian_random_field(key, grid, alpha=2.5, tau=1.0 / NS_LENGTH_SCALE)
    w0 = w0 / jnp.sqrt(jnp.mean(w0**2))
    dt = 0.005
    steps = int(round(NS_T_FINAL / dt))
    frames = rollout(ETDRK4(NavierStokes2D(grid, viscosity=NS_VISCOSITY), dt), w0, steps,
                     save_every=int(round(1.0 / dt)))
    return w0[0], frames[:, 0]  # (n, n), (6, n, n) at t = 0, 1, ..., 5


def ns_constraint_points(w0, experts_per_axis, ic_per_axis, pde_per_expert, key, overlap: float = 0.0,
                         margin: float = 0.0, shared_pde: int = 0):
    """Points (K, m, 3), types (K, m), values (K, m): quadrant k = 2 i_x + i_y of a K = a x a split.

    Initial points: an ic_per_axis^2 sub-grid of the reference nodes; each expert takes those in its
    quadrant widened by ``overlap`` quadrant widths per side (periodic), so with overlap > 0
    neighbouring experts share the initial points near their common edge. PDE points: uniform in the
    expert's own quadrant shrunk by ``margin`` per side, tau in (0.01, 1); they are never shared, so
    the prediction (which uses the quadrant's own expert there) satisfies them exactly. With
    overlap = margin = 0 the experts' points partition the global set. ``shared_pde`` = q > 0 adds
    the first q PDE points of every other expert to each expert's set (the owner satisfies them too,
    so the prediction still does).
    """
    n = w0.shape[0]
    a = experts_per_axis
    stride = n // max(ic_per_axis, 1)
    index = np.arange(ic_per_axis) * stride + stride // 2  # empty with ic_per_axis = 0 (--initial-lift)
    half = (0.5 + overlap) / a

    def nodes_near(centre):  # grid indices within `half` of centre, periodic distance
        distance = np.abs((index / n - centre + 0.5) % 1.0 - 0.5)
        return index[distance <= half + 1e-12]

    ics, pdes, ic_values = [], [], []
    keys = jax.random.split(key, a * a)
    for ix in range(a):
        for iy in range(a):
            i, j = (nodes_near((ix + 0.5) / a), nodes_near((iy + 0.5) / a)) if ic_per_axis else (index, index)
            ii, jj = np.meshgrid(i, j, indexing="ij")
            ics.append(jnp.stack([ii.ravel() / n, jj.ravel() / n, jnp.zeros(ii.size)], 1))
            ic_values.append(w0[ii.ravel(), jj.ravel()])
            u = jax.random.uniform(keys[ix * a + iy], (pde_per_expert, 3))
            core = 1 - 2 * margin * a  # the quadrant's width 1/a shrunk by margin per side, in units of 1/a
            pdes.append(jnp.stack([(ix + margin * a + core * u[:, 0]) / a, (iy + margin * a + core * u[:, 1]) / a,
                                   0.01 + 0.99 * u[:, 2]], 1))
    points, types, values = [], [], []
    for k, (ic, ic_value) in enumerate(zip(ics, ic_values)):
        pde = jnp.concatenate([pdes[k], *(other[:shared_pde] for j, other in enumerate(pdes) if j != k)])
        points.append(jnp.concatenate([ic, pde]))
        types.append(jnp.concatenate([jnp.ones(ic.shape[0], int), jnp.zeros(pde.shape[0], int)]))
        values.append(jnp.concatenate([ic_value, jnp.zeros(pde.shape[0])]))
    if len({p.shape[0] for p in points}) > 1:
        raise ValueError(f"overlap {overlap} gives the experts different numbers of initial points; "
                         "choose ic points per axis divisible by the experts per axis")
    return jnp.stack(points), jnp.stack(types), jnp.stack(values)


def ns_interface_points(experts_per_axis: int, per_segment: int):
    """Points (x, y, tau) on the edges between the a x a periodic quadrants, with the experts on
    either side: per_segment points on each edge segment (lines x = c/a and y = c/a, each cut into
    a segments by the other axis), staggered in tau."""
    a = experts_per_axis
    points, before, after = [], [], []
    for axis in (0, 1):
        for c in range(a):
            for j in range(a):
                offset = 0.618 * (j + a * c + 2 * a * a * axis)
                for i in range(per_segment):
                    along = (j + (i + 0.5) / per_segment) / a
                    tau = ((i + 0.5) / per_segment + offset) % 1.0
                    points.append([c / a, along, tau] if axis == 0 else [along, c / a, tau])
                    if axis == 0:
                        before.append(((c - 1) % a) * a + j)
                        after.append(c * a + j)
                    else:
                        before.append(j * a + (c - 1) % a)
                        after.append(j * a + c)
    return jnp.asarray(points), jnp.asarray(before), jnp.asarray(after)


class NSModel(eqx.Module):
    """psi = b . omega_{k(x, y)}; kind in {soft, hard, moe, coupled}; K = experts_per_axis^2 quadrants.

    With ``blend`` > 0 the experts are combined by a smooth partition of unity instead: the
    vorticity w = sum_k chi_k w_k and the velocity (u, v) = sum_k chi_k (u_k, v_k), where
    chi_k = chi_{i_x}(x) chi_{i_y}(y) is 1 on the quadrant shrunk by ``blend`` per side and falls
    smoothly to 0 within ``blend`` of its edges. (Blending the streamfunction instead would let the
    experts' arbitrary streamfunction offsets enter w through Lap chi.) The prediction is then smooth
    across the edges. Inside the blending strips the blended velocity is divergence-free only up to
    grad chi . (u_k - u_j); elsewhere it is one expert's field. Every constraint point lies outside
    the strips, where the prediction equals the owning expert's, so the hard constraints still hold.
    """

    net: PeriodicBasisNet
    omega: jax.Array | None
    kind: str = eqx.field(static=True)
    experts_per_axis: int = eqx.field(static=True)
    blend: float = eqx.field(static=True, default=0.0)
    lift: InitialLift | None = None

    def constraint_features(self, cpoints, ctypes, cvalues):
        """The solve's features at the constraint points (K, m, 3): the bases' jet, the point types
        and values, and with the initial lift its fields (``offset``)."""
        features = {**jax.vmap(lambda p: ns_jet(self.net, p))(cpoints), "types": ctypes, "values": cvalues}
        if self.lift is not None:
            features["offset"] = jax.vmap(self.lift)(cpoints)
        return features

    def coefficients(self, layer, cpoints, ctypes, cvalues):
        if self.kind == "soft":
            return self.omega[None], None
        features = self.constraint_features(cpoints, ctypes, cvalues)
        init = jax.lax.stop_gradient(jax.vmap(ns_linearised_coefficients)(features))
        if self.kind == "coupled":
            sol = layer.solve(features, init, lambda p: ns_jet(self.net, p))
        else:
            sol = layer(features, init)
        return sol.coefficients, sol

    def expert_of(self, points):
        a = self.experts_per_axis
        ix = jnp.floor(points[:, 0] * a).astype(int) % a
        iy = jnp.floor(points[:, 1] * a).astype(int) % a
        return ix * a + iy

    def windows(self, p):
        """(K,) partition-of-unity weights chi_k at one point (x, y, tau)."""
        a = self.experts_per_axis
        cx = jnp.stack([quadrant_window(p[0], i, a, self.blend) for i in range(a)])
        cy = jnp.stack([quadrant_window(p[1], i, a, self.blend) for i in range(a)])
        return (cx[:, None] * cy[None, :]).ravel()  # k = a i_x + i_y

    def evaluate(self, omegas, points, expert=None):
        """The fields (NS_FIELDS) of the prediction at points (P, 3), each from the expert that owns
        the point (or ``expert``), blended where the model blends, plus the initial lift's fields."""
        jet = ns_jet(self.net, points)
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

    def interface_jump(self, omegas, s, tau):
        """Jumps of w, psi_x, psi_y between neighbouring experts on the lines x = c and y = c
        (c = 0 and 1/2; periodic), at the positions (s, tau)."""
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


def ns_loss(model, layer, constraint, w0, batch):
    interior, ic_index, s, tau = batch
    omegas, sol = model.coefficients(layer, *constraint)
    pde = ns_pde_residual(model.evaluate(omegas, interior))
    loss = jnp.mean(pde**2)
    if model.lift is None:  # the lift makes the initial condition exact: no initial-condition loss
        n = w0.shape[0]
        ic = jnp.stack([ic_index[:, 0] / n, ic_index[:, 1] / n, jnp.zeros(ic_index.shape[0])], 1)
        mismatch = model.evaluate(omegas, ic)["w"] - w0[ic_index[:, 0], ic_index[:, 1]]
        loss = loss + jnp.mean(mismatch**2)
    if model.experts_per_axis > 1 and model.blend == 0:  # a blended prediction has no jumps
        loss = loss + jnp.mean(model.interface_jump(omegas, s, tau) ** 2)
    return loss, (jnp.asarray(True) if sol is None else jnp.all(sol.converged))


def ns_total_bases(args) -> int:
    """N of the global solve: ``--bases`` if given, else ``--basis-factor`` x M."""
    return args.bases if args.bases else args.basis_factor * args.points


def ns_rows_per_solve(args, experts_per_axis: int) -> int:
    """Constraint rows of one solve (one expert's, or the global layer's for experts_per_axis = 1)."""
    ic_per_axis, pde_per_expert = ns_point_counts(args.points, experts_per_axis, args.initial_lift)
    overlap, shared = (args.overlap, args.shared_pde) if experts_per_axis > 1 else (0.0, 0)
    points = ns_constraint_points(jnp.zeros((args.ns_resolution,) * 2), experts_per_axis, ic_per_axis,
                                  pde_per_expert, jax.random.key(7), overlap, shared_pde=shared)[0]
    return points.shape[1]


def ns_build(kind, args, key, w0=None):
    """Model and constraint layer; ``w0`` (the initial vorticity grid) feeds the basis network's
    initial-field inputs when ``args.initial_features`` is set."""
    a = args.ns_experts_per_axis if kind in ("moe", "coupled") else 1
    num_basis = bases_per_expert(ns_total_bases(args), a * a)
    knet, kw = jax.random.split(key)
    initial = InitialFieldFeatures(w0) if args.initial_features else None
    lift = InitialLift(w0, getattr(args, "lift_modes", None)) if args.initial_lift else None
    net = PeriodicBasisNet(num_basis, args.width, args.depth, knet, args.feature_decay, initial,
                           vanish_at_start=args.initial_lift)
    omega = jax.random.normal(kw, (num_basis,)) / math.sqrt(num_basis) if kind == "soft" else None
    layer = None
    if kind == "coupled":
        coupled = CoupledMixtureOfExperts(ns_constraint_residual, jump_conditions, num_basis, num_steps=COUPLED_STEPS,
                                          tolerance=COUPLED_TOLERANCE, on_failure="ignore",
                                          initial_damping=COUPLED_DAMPING, batching="map")
        layer = CoupledLayer(coupled, None, *ns_interface_points(a, INTERFACE_POINTS), NS_INTERFACE_FIELDS)
    elif kind != "soft" and ns_rows_per_solve(args, a) > num_basis:
        # fewer bases than constraints (--bases, the capacity-limited regime of Chalapathi et al., N = 64):
        # the Levenberg-Marquardt least-squares solution, with implicit gradients of its normal equation
        # J^T r = 0; the constraints then hold only in the least-squares sense
        layer = MixtureOfExperts(LeastSquaresConstraint(ns_constraint_residual, num_basis, num_steps=SOLVE_STEPS,
                                                        method="levenberg_marquardt", tolerance=1e-8,
                                                        on_failure="ignore"),
                                 batching="map")
    elif kind != "soft":
        # the advection term is strongly nonlinear at this amplitude: Levenberg-Marquardt forward pass,
        # minimum-norm tangent gradients (the anchored minimum-norm iteration stalls here)
        layer = MixtureOfExperts(MinimumNormConstraint(ns_constraint_residual, num_basis, num_steps=SOLVE_STEPS,
                                                       tolerance=1e-8, on_failure="ignore", gradient="tangent",
                                                       method=SOLVE_METHOD),
                                 batching="map")
    return NSModel(net, omega, kind, a, args.blend if kind == "moe" else 0.0, lift), layer, num_basis


def ns_point_counts(points, experts_per_axis, initial_lift=False):
    """(initial points per axis, PDE points per expert): about half of the M points on the initial
    grid; with the initial lift, which makes the initial condition exact, all M are PDE points."""
    ic_per_axis = 0 if initial_lift else int(round(math.sqrt(points // 2)))
    return ic_per_axis, (points - ic_per_axis**2) // experts_per_axis**2


def ns_constraints_for(model, args, w0):
    a = model.experts_per_axis
    ic_per_axis, pde_per_expert = ns_point_counts(args.points, a, args.initial_lift)
    overlap, shared = (args.overlap, args.shared_pde) if a > 1 else (0.0, 0)
    return ns_constraint_points(w0, a, ic_per_axis, pde_per_expert, jax.random.key(7), overlap, model.blend, shared)


def ns_train(kind, args, w0, key):
    model, layer, num_basis = ns_build(kind, args, key, w0)
    constraint = ns_constraints_for(model, args, w0)
    opt = make_optimizer(args)
    state = opt.init(eqx.filter(model, eqx.is_inexact_array))
    n = w0.shape[0]

    @eqx.filter_jit
    def step(model, state, key):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        interior = jax.random.uniform(k1, (args.interior, 3))
        batch = (interior, jax.random.randint(k2, (args.boundary, 2), 0, n), jax.random.uniform(k3, (args.boundary,)),
                 jax.random.uniform(k4, (args.boundary,)))
        (loss, conv), grads = eqx.filter_value_and_grad(
            lambda m: ns_loss(m, layer, constraint, w0, batch), has_aux=True)(model)
        updates, state = opt.update(grads, state, eqx.filter(model, eqx.is_inexact_array))
        return eqx.apply_updates(model, updates), state, loss, conv

    keys = jax.random.split(jax.random.key(args.seed + 1), args.steps)
    model, state, loss, conv = step(model, state, keys[0])
    jax.block_until_ready(loss)
    start = time.perf_counter()
    losses, failures = [], 0
    for i in range(1, args.steps):
        model, state, loss, conv = step(model, state, keys[i])
        if i % 25 == 0 or i == args.steps - 1:
            losses.append(float(loss))
            failures += int(not bool(conv))
    return model, layer, constraint, (time.perf_counter() - start) / max(args.steps - 1, 1), losses, failures, num_basis


def ns_evaluate(model, layer, constraint, frames, stride):
    """Relative L2 of the vorticity on the reference nodes (every `stride`-th) over t = 1..5, and
    per frame at t = 0, 1, ..., 5 (stored in the model's JSON row as ``rel_l2_by_time``)."""
    omegas, sol = model.coefficients(layer, *constraint)
    n = frames.shape[-1]
    nodes = jnp.arange(0, n, stride) / n
    xx, yy = jnp.meshgrid(nodes, nodes, indexing="ij")
    preds = []
    for j in range(frames.shape[0]):
        pts = jnp.stack([xx.ravel(), yy.ravel(), jnp.full(xx.size, j / (frames.shape[0] - 1))], 1)
        preds.append(model.evaluate(omegas, pts)["w"].reshape(xx.shape))
    error, by_time = ns_relative_errors(jnp.stack(preds), frames[:, ::stride, ::stride])
    if sol is None:
        return error, by_time, None, None
    # the residual of the model's prediction (each point evaluated by the expert(s) that own it there,
    # blended where the model blends), not of each expert's own field: with overlapping experts a
    # point may sit in a neighbour's quadrant
    points, types, values = (c.reshape(-1, *c.shape[2:]) for c in constraint)
    fields = model.evaluate(omegas, points)
    residual = jnp.where(types == 1, fields["w"] - values, ns_pde_residual(fields))
    if model.kind == "coupled":
        interface = layer.interface_residuals(omegas, lambda p: ns_jet(model.net, p))
        residual = jnp.concatenate([residual.ravel(), interface])
    return error, by_time, float(jnp.max(jnp.abs(residual))), bool(jnp.all(sol.converged))


def ns_relative_errors(preds, reference):
    """Relative L2 of predicted vorticity frames (t = 0, 1, ..., 5) against the reference's: over
    t = 1..5, and per frame."""
    by_time = jax.vmap(relative_l2)(preds, reference)
    return float(relative_l2(preds[1:], reference[1:])), [float(e) for e in by_time]


def ns_persistence(frames, stride):
    """The baseline w(t) = w0 (nothing moves), measured as :func:`ns_evaluate` measures the models:
    relative L2 over t = 1..5 (``rel_l2``) and per frame (``rel_l2_by_time``). A model worse than
    this has learned none of the dynamics."""
    reference = frames[:, ::stride, ::stride]
    error, by_time = ns_relative_errors(jnp.broadcast_to(reference[0], reference.shape), reference)
    return {"rel_l2": error, "rel_l2_by_time": by_time}


def ns_transfer_bases(hard_model, args, w0, frames):
    """Diagnostic (``--transfer-bases``): the trained global model's bases re-solved by the independent
    experts (each on all N bases, with the mixture's constraint points and blending), no further
    training; separates what the local solves lose from what the mixture's training does."""
    global EXPERT_BASES
    saved, EXPERT_BASES = EXPERT_BASES, "shared"
    try:
        _, layer, num_basis = ns_build("moe", args, jax.random.key(0), w0)
        model = NSModel(hard_model.net, None, "moe", args.ns_experts_per_axis, args.blend, hard_model.lift)
        constraint = ns_constraints_for(model, args, w0)
        error, by_time, cres, conv = ns_evaluate(model, layer, constraint, frames, max(1, args.ns_resolution // 32))
        row = {"rel_l2": error, "rel_l2_by_time": by_time, "constraint_residual_max": cres,
               "final_solve_converged": conv, "bases_per_solve": num_basis}
        print(json.dumps({"transfer_bases": row}), file=sys.stderr)
        return [row]
    finally:
        EXPERT_BASES = saved


def ns_time_solve_only(args, w0, repeats=3):
    """Forward + implicit backward of the constraint layer alone, global vs mixture, same points."""
    out = {}
    for kind in ("hard", "moe", "coupled") if "coupled" in args.models else ("hard", "moe"):
        model, layer, _ = ns_build(kind, args, jax.random.key(0), w0)
        features = model.constraint_features(*ns_constraints_for(model, args, w0))
        init = jax.vmap(ns_linearised_coefficients)(features)
        ctypes, cvalues = features.pop("types"), features.pop("values")  # time_layer adds them back
        if kind == "coupled":
            coupling = layer.coupling_features(lambda p: ns_jet(model.net, p))
            solve = lambda f, g: layer.mixture(f, g, init)  # noqa: E731
        else:
            coupling, solve = None, lambda f, g: layer(f, init)  # noqa: E731
        out[kind] = time_layer(solve, features, coupling, ctypes, cvalues, repeats)
    return out


def run_navier_stokes(args):
    """Soft vs hard vs hard-MoE on 2D Navier-Stokes; returns the summary dict."""
    t0 = time.perf_counter()
    w0, frames = ns_setup(args.ns_resolution, jax.random.key(args.seed))
    print(f"reference (navier_stokes, {args.ns_resolution}^2 ETDRK4) in {time.perf_counter() - t0:.1f}s",
          file=sys.stderr)
    results, transfer = [], None
    for kind in args.models:
        t0 = time.perf_counter()
        model, layer, constraint, sps, losses, failures, nb = ns_train(kind, args, w0, jax.random.key(args.seed))
        error, by_time, cres, conv = ns_evaluate(model, layer, constraint, frames, max(1, args.ns_resolution // 32))
        if kind == "hard" and args.transfer_bases:
            transfer = ns_transfer_bases(model, args, w0, frames)
        row = {"model": kind, "rel_l2": error, "rel_l2_by_time": by_time, "constraint_residual_max": cres,
               "final_solve_converged": conv,
               "seconds_per_step": sps, "bases_per_solve": nb, "experts": model.experts_per_axis**2,
               "final_loss": losses[-1] if losses else None, "logged_losses": losses,
               "nonconverged_logged_steps": failures,
               "train_seconds": time.perf_counter() - t0}
        results.append(row)
        print(json.dumps(row), file=sys.stderr)
    timing = ns_time_solve_only(args, w0)
    return {"problem": "navier_stokes", "results": results, "solve_only_seconds": timing, "transfer_bases": transfer,
            "persistence": ns_persistence(frames, max(1, args.ns_resolution // 32)),
            "experts": args.ns_experts_per_axis**2, "split": "space (2D quadrants)",
            "anchor_rel_l2_chalapathi": {"soft": 0.181, "hard": 0.118, "moe": 0.083}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problem", choices=("diffusion_sorption", "heat", "navier-stokes", "navier_stokes"),
                        default="diffusion_sorption")
    parser.add_argument("--quick", action="store_true", help="the CPU budget run (< 20 min on 2 cores)")
    parser.add_argument("--steps", type=int, default=None, help="Adam steps per model")
    parser.add_argument("--points", type=int, default=None, help="constraint points M (default 128)")
    parser.add_argument("--experts", type=int, default=4, help="K time slabs of the mixture")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--interior", type=int, default=None, help="interior loss points per step")
    parser.add_argument("--boundary", type=int, default=64, help="IC / each BC loss points per step")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--expert-bases", choices=("split", "shared"), default="split",
                        help="mixtures: N/K bases per expert (split) or the global N for every expert (shared)")
    parser.add_argument("--clip-norm", type=float, default=1.0,
                        help="clip each gradient to this global norm before Adam, for every model (default 1; "
                        "0 turns clipping off, the set-up before session 7)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=["soft", "hard", "moe", "coupled"],
                        choices=("soft", "hard", "moe", "coupled"),
                        help="coupled = the mixture with its interfaces coupled inside the solve")
    parser.add_argument("--coupled-steps", type=int, default=None,
                        help="Levenberg-Marquardt steps of the coupled mixture "
                        "(default 20 heat, 200 diffusion-sorption, 30 navier-stokes)")
    parser.add_argument("--interface-points", type=int, default=None,
                        help="coupled mixture: points per interface where the jumps must vanish (default 8 heat, 16 "
                        "diffusion-sorption; navier-stokes: per edge segment, default 2)")
    parser.add_argument("--basis-factor", type=int, default=None,
                        help="bases per solve = factor x constraint points per solve (> 1: under-determined)")
    parser.add_argument("--bases", type=int, default=None,
                        help="navier-stokes: N bases of the global solve, overriding --basis-factor; solves with more "
                        "constraints than bases become Levenberg-Marquardt least-squares layers (Chalapathi et al.'s "
                        "regime, N = 64; with --expert-bases shared every expert has its own N coefficients)")
    parser.add_argument("--regularisation", type=float, default=0.0,
                        help="Tikhonov mu of the constraint solve (needed with --basis-factor > 1)")
    parser.add_argument("--split", choices=("time", "space"), default="space",
                        help="MoE subdomains: K time slabs or K slabs in x")
    parser.add_argument("--feature-decay", type=float, default=2.0,
                        help="Fourier feature m of the basis network scaled by m**-decay (smoother bases)")
    parser.add_argument("--solve-steps", type=int, default=None,
                        help="iterations of the constraint solves (default: 2 for heat (exact KKT); diffusion-"
                        "sorption: 30 for the KKT global layer, 12 line-searched Gauss-Newton steps for the tangent "
                        "experts (80 with --solve-method levenberg_marquardt); 20 Levenberg-Marquardt steps for "
                        "Navier-Stokes)")
    parser.add_argument("--overlap", type=float, default=None,
                        help="space-split mixtures: widen each expert's constraint region by this many slab widths "
                        "per side; its prediction is still used in its own subdomain only (default 0; navier-stokes: "
                        "the initial points within this many quadrant widths are shared, default 0.5, which on 2 x 2 "
                        "quadrants gives every expert all initial points)")
    parser.add_argument("--solve-method", choices=("levenberg_marquardt", "gauss_newton"), default=None,
                        help="forward solver of the tangent-gradient hard/MoE layers (default: gauss_newton for "
                        "diffusion-sorption, levenberg_marquardt for Navier-Stokes)")
    parser.add_argument("--gradient", choices=("kkt", "tangent"), default=None,
                        help="global hard layer: exact KKT gradients of the minimum-norm root (default for heat and "
                        "diffusion-sorption) or a root near the linearised solution + tangent gradients")
    parser.add_argument("--newton-steps", type=int, default=0,
                        help="heat / diffusion-sorption, global KKT layer: Newton steps on the Lagrange conditions "
                        "(curvature included) after its Gauss-Newton iterations (default 0)")
    parser.add_argument("--expert-gradient", choices=("kkt", "tangent"), default=None,
                        help="the independent MoE's experts: as --gradient (default kkt for heat, tangent for "
                        "diffusion-sorption, whose anchored KKT iteration stalled for one expert on seed 1)")
    parser.add_argument("--ns-resolution", type=int, default=None, help="Navier-Stokes reference grid (64 quick)")
    parser.add_argument("--warm-start", action=argparse.BooleanOptionalAction, default=None,
                        help="diffusion-sorption (default on): start every training step's coupled-MoE solve from "
                        "the previous step's coefficients (and evaluate from the last ones) instead of the "
                        "linearised solution")
    parser.add_argument("--interface-fields", nargs="+", default=None, choices=("w", "psi_x", "psi_y"),
                        help="navier-stokes coupled mixture: fields whose jumps vanish at the interface points "
                        "(default w psi_x psi_y)")
    parser.add_argument("--ns-experts-per-axis", type=int, default=2, help="Navier-Stokes MoE: a x a quadrants")
    parser.add_argument("--shared-pde", type=int, default=0,
                        help="navier-stokes mixtures: every expert also takes the first q PDE points of each other "
                        "quadrant (default 0)")
    parser.add_argument("--blend", type=float, default=None,
                        help="navier-stokes independent MoE: combine the experts with a smooth partition of unity "
                        "that blends neighbours within this distance of the quadrant edges (default 0.05; 0: each "
                        "quadrant uses its own expert, and jumps are penalised in the loss); no constraint point "
                        "lies in the blending strips, so the constraints still hold exactly")
    parser.add_argument("--global-conditions", action="store_true",
                        help="heat / diffusion-sorption space slabs: every expert's solve takes all initial and "
                        "boundary constraint points and its own slab's PDE points (as in Chalapathi et al.'s code)")
    parser.add_argument("--transfer-bases", action="store_true",
                        help="diagnostic: re-solve the trained global hard model's bases with the K independent "
                        "experts (each on all N bases; no further training) and report their error")
    parser.add_argument("--initial-features", action="store_true",
                        help="navier-stokes: the basis network also takes the initial streamfunction, velocity and "
                        "vorticity at (x, y) as inputs (Fourier modes |k| <= 8), as Chalapathi et al.'s FNO takes w0")
    parser.add_argument("--initial-lift", action="store_true",
                        help="navier-stokes: build the initial vorticity into the prediction, psi = psi0 + tau b.omega "
                             "(exact initial condition everywhere; the solves take PDE points only)")
    parser.add_argument("--lift-modes", type=int, default=None,
                        help="with --initial-lift: keep the initial field's Fourier modes |k_x|, |k_y| <= this "
                             "(a smoothed initial field; default: every grid mode, exact at the nodes)")
    parser.add_argument("--json", default=None, help="save the results to this file")
    parser.add_argument("--figure", default=None,
                        help="1D problems: save a PNG of the reference and each model's u(x, t) and error")
    args = parser.parse_args(argv)
    global EXPERT_BASES
    EXPERT_BASES = args.expert_bases
    if args.problem in ("navier-stokes", "navier_stokes"):
        if args.figure:
            parser.error("--figure is for the 1D problems (diffusion_sorption, heat)")
        return _main_navier_stokes(args, parser)
    if args.blend is not None or args.initial_features or args.initial_lift or args.lift_modes is not None:
        parser.error("--blend, --initial-features, --initial-lift and --lift-modes are for --problem navier-stokes")
    if args.overlap is None:
        args.overlap = 0.0
    if args.transfer_bases and ("hard" not in args.models or args.split != "space"):
        parser.error("--transfer-bases needs the hard model in --models (and --split space)")
    if args.global_conditions and (args.split != "space" or args.overlap):
        parser.error("--global-conditions needs --split space and no --overlap")
    if args.bases is not None and (args.bases < 1 or args.overlap or "coupled" in args.models):
        parser.error("--bases takes a positive integer, without --overlap or the coupled mixture")
    if args.steps is None:
        args.steps = 400 if args.quick else 3000
    if args.points is None:
        args.points = 128
    if args.basis_factor is None:
        args.basis_factor = 4
    if args.interior is None:
        args.interior = 512 if args.quick else 2048
    if args.points % args.experts:
        parser.error("--points must be divisible by --experts")
    problem = DIFFUSION_SORPTION if args.problem == "diffusion_sorption" else HEAT
    global FEATURE_DECAY, SOLVE_STEPS, GRADIENT, COUPLED_STEPS, COUPLED_DAMPING, INTERFACE_POINTS, SOLVE_METHOD
    global EXPERT_GRADIENT, EXPERT_SOLVE_STEPS, NEWTON_STEPS, LEAST_SQUARES_STEPS
    NEWTON_STEPS = args.newton_steps
    LEAST_SQUARES_STEPS = args.solve_steps or 40
    FEATURE_DECAY = args.feature_decay
    # diffusion-sorption: 16 interface points gave 4.77% against 5.87% with 8 (200 LM steps, seed 0)
    INTERFACE_POINTS = args.interface_points or (8 if problem is HEAT else 16)
    # diffusion-sorption, session 7: exact KKT gradients (30 anchored Gauss-Newton steps) with clipping
    # gave 3.72% mean over seeds 0-4 against 8.8-19.2% with tangent gradients (session 6, no clipping)
    GRADIENT = args.gradient or "kkt"
    EXPERT_GRADIENT = args.expert_gradient or ("kkt" if problem is HEAT else "tangent")
    # diffusion-sorption: 20 LM steps stop at residuals ~5e-4 and 46% error, 80 at 1.6e-7 and 11%
    # (LM's damping filters out the Jacobian's small singular values); 12 line-searched minimum-norm
    # Gauss-Newton steps reach ~3e-12 on every logged step, 3x faster
    SOLVE_METHOD = args.solve_method or "gauss_newton"
    tangent_steps = {"gauss_newton": 12, "levenberg_marquardt": 80}[SOLVE_METHOD]
    default_steps = {"kkt": 2 if problem is HEAT else 30, "tangent": tangent_steps}
    SOLVE_STEPS = args.solve_steps or default_steps[GRADIENT]
    EXPERT_SOLVE_STEPS = args.solve_steps or default_steps[EXPERT_GRADIENT]
    COUPLED_STEPS = args.coupled_steps or (20 if problem is HEAT else 200)  # DS: 80 steps stop at 3e-5
    COUPLED_DAMPING = 1e-10 if problem is HEAT else 1e-6  # heat is linear: start almost undamped
    if args.warm_start is None:
        args.warm_start = problem is not HEAT
    if args.warm_start and problem is HEAT:
        parser.error("--warm-start is for diffusion-sorption (heat's exact solve starts from 0 by definition)")
    if "coupled" in args.models and args.split != "space":
        parser.error("the coupled mixture (--models coupled) needs --split space")

    x_eval = jnp.arange(65) / 64
    t_eval = jnp.arange(1, 33) / 32
    t0 = time.perf_counter()
    reference = reference_solution(problem, x_eval, t_eval, num_nodes=128 if args.quick else 256)
    print(f"reference ({problem.name}) in {time.perf_counter() - t0:.1f}s", file=sys.stderr)

    results, transfer, fields = [], None, {}
    for i, kind in enumerate(args.models):
        t0 = time.perf_counter()
        model, layer, constraint, sps, losses, failures, nb, start = train(kind, problem, args,
                                                                            jax.random.key(args.seed))
        error, cres, conv, fields[kind] = evaluate(model, layer, constraint, x_eval, t_eval, reference, start)
        if kind == "hard" and args.transfer_bases:
            transfer = transfer_bases(model, problem, args, x_eval, t_eval, reference)
        row = {"model": kind, "rel_l2": error, "constraint_residual_max": cres, "final_solve_converged": conv,
               "seconds_per_step": sps, "bases_per_solve": nb, "experts": model.num_experts,
               "final_loss": losses[-1] if losses else None, "logged_losses": losses,
               "nonconverged_logged_steps": failures,
               "train_seconds": time.perf_counter() - t0}
        results.append(row)
        print(json.dumps(row), file=sys.stderr)

    if args.figure:
        plot_fields(args.figure, x_eval, t_eval, reference, fields,
                    f"{problem.name}: {args.steps} Adam steps, M = {args.points} constraint points, seed {args.seed}")
    solve_timing = time_solve_only(problem, args.points, args.experts, args.width, args.depth,
                                   basis_factor=args.basis_factor, regularisation=args.regularisation, split=args.split,
                                   overlap=args.overlap, bases=args.bases, global_conditions=args.global_conditions,
                                   kinds=("hard", "moe", "coupled") if "coupled" in args.models else ("hard", "moe"))
    summary = {
        "problem": problem.name, **shared_settings(args), "regularisation": args.regularisation,
        "experts": args.experts, "split": args.split, "gradient": GRADIENT, "expert_gradient": EXPERT_GRADIENT,
        "expert_solve_steps": EXPERT_SOLVE_STEPS, "newton_steps": NEWTON_STEPS, "overlap": args.overlap,
        "warm_start": args.warm_start, "global_conditions": args.global_conditions, "transfer_bases": transfer,
        "interface_points": INTERFACE_POINTS,
        "bases": args.bases or args.basis_factor * args.points, "least_squares_steps": LEAST_SQUARES_STEPS,
        "results": results,
        "solve_only_seconds": solve_timing,
        "moe_solve_speedup": solve_timing["hard"] / solve_timing["moe"],
        "anchor_rel_l2_chalapathi": {"soft": 0.859, "hard": 0.0755, "moe": 0.036},
    }
    return _report(summary, args)


def shared_settings(args) -> dict:
    """The JSON summary's settings common to every problem."""
    return {"seed": args.seed, "steps": args.steps, "basis_factor": args.basis_factor, "constraint_points": args.points,
            "expert_bases": EXPERT_BASES, "lr": args.lr, "clip_norm": args.clip_norm, "feature_decay": FEATURE_DECAY,
            "solve_steps": SOLVE_STEPS, "solve_method": SOLVE_METHOD, "coupled_steps": COUPLED_STEPS}


def plot_fields(path, x, t, reference, fields, title):
    """Save a PNG: the reference u(x, t) and each model's prediction (top row, one colour scale)
    and each model's |u - reference| on a shared log scale (bottom row), relative L2 in the titles.

    ``reference`` and every value of ``fields`` (model name -> prediction) have shape (t, x); t is
    the script's time variable (tau = t / 500 for diffusion-sorption).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    reference = np.asarray(reference)
    errors = {name: np.abs(np.asarray(u) - reference) for name, u in fields.items()}
    columns = 1 + len(fields)
    fig, axes = plt.subplots(2, columns, figsize=(3.0 * columns + 1.0, 6.0), squeeze=False, layout="constrained")
    extent = (float(x[0]), float(x[-1]), float(t[0]), float(t[-1]))
    lo, hi = float(reference.min()), float(reference.max())
    top = max([float(e.max()) for e in errors.values()] + [1e-300])
    norm = LogNorm(vmin=max(top * 1e-6, 1e-300), vmax=top)
    image = axes[0, 0].imshow(reference, origin="lower", aspect="auto", extent=extent, vmin=lo, vmax=hi)
    axes[0, 0].set(title="reference", xlabel="x", ylabel="t")
    axes[1, 0].axis("off")
    for column, (name, u) in enumerate(fields.items(), start=1):
        rel = np.linalg.norm(np.asarray(u) - reference) / np.linalg.norm(reference)
        axes[0, column].imshow(np.asarray(u), origin="lower", aspect="auto", extent=extent, vmin=lo, vmax=hi)
        axes[0, column].set(title=f"{name} (rel. L2 {rel:.2%})", xlabel="x")
        error_image = axes[1, column].imshow(np.maximum(errors[name], norm.vmin), origin="lower", aspect="auto",
                                             extent=extent, norm=norm, cmap="magma")
        axes[1, column].set(title=f"|{name} - reference|", xlabel="x")
    fig.colorbar(image, ax=list(axes[0]), label="u")
    if fields:
        fig.colorbar(error_image, ax=list(axes[1]), label="absolute error")
    fig.suptitle(title)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _report(summary, args) -> int:
    results = summary["results"]
    solve_timing = summary["solve_only_seconds"]
    summary["moe_solve_speedup"] = solve_timing["hard"] / solve_timing["moe"]
    by = {r["model"]: r for r in results}
    if "hard" in by and "moe" in by:
        summary["moe_train_step_speedup"] = by["hard"]["seconds_per_step"] / by["moe"]["seconds_per_step"]
    if "coupled" in solve_timing:
        summary["coupled_solve_speedup"] = solve_timing["hard"] / solve_timing["coupled"]
    if "hard" in by and "coupled" in by:
        summary["coupled_train_step_speedup"] = by["hard"]["seconds_per_step"] / by["coupled"]["seconds_per_step"]
    print(f"\n{summary['problem']}: {args.steps} Adam steps, M = {args.points} constraint points, "
          f"K = {summary['experts']}")
    if summary.get("persistence"):
        print(f"baseline w(t) = w0 (nothing moves): rel_L2 {summary['persistence']['rel_l2']:.2%}")
    print(f"{'model':7} {'rel_L2':>9} {'max|r| at constraint pts':>25} {'s/step':>8}")
    for r in results:
        cres = "-" if r["constraint_residual_max"] is None else f"{r['constraint_residual_max']:.1e}"
        print(f"{r['model']:7} {r['rel_l2']:9.2%} {cres:>25} {r['seconds_per_step']:8.4f}")
    print(f"constraint layer fwd+bwd: global {solve_timing['hard']*1e3:.2f} ms, "
          f"MoE {solve_timing['moe']*1e3:.2f} ms, speed-up {summary['moe_solve_speedup']:.2f}x")
    if "moe_train_step_speedup" in summary:
        print(f"training step speed-up MoE vs global hard: {summary['moe_train_step_speedup']:.2f}x")
    if "coupled_solve_speedup" in summary:
        print(f"coupled MoE layer fwd+bwd {solve_timing['coupled']*1e3:.2f} ms, speed-up "
              f"{summary['coupled_solve_speedup']:.2f}x vs global")
    if "coupled_train_step_speedup" in summary:
        print(f"training step speed-up coupled MoE vs global hard: {summary['coupled_train_step_speedup']:.2f}x")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=2, default=float)
    return 0


def _main_navier_stokes(args, parser) -> int:
    global FEATURE_DECAY, SOLVE_STEPS, COUPLED_STEPS, COUPLED_DAMPING, INTERFACE_POINTS, SOLVE_METHOD
    if args.newton_steps:
        parser.error("--newton-steps refines a KKT layer; the Navier-Stokes layers use tangent gradients")
    if args.global_conditions:
        parser.error("--global-conditions is for the 1D problems (Navier-Stokes: --overlap shares the initial points)")
    if args.transfer_bases and "hard" not in args.models:
        parser.error("--transfer-bases needs the hard model in --models")
    if args.lift_modes is not None and (not args.initial_lift or args.lift_modes < 1):
        parser.error("--lift-modes takes a positive integer, with --initial-lift")
    FEATURE_DECAY = args.feature_decay
    SOLVE_METHOD = args.solve_method or "levenberg_marquardt"
    SOLVE_STEPS = args.solve_steps or 20
    COUPLED_STEPS = args.coupled_steps or 30
    COUPLED_DAMPING = 1e-6
    INTERFACE_POINTS = args.interface_points or 2
    if args.interface_fields:
        global NS_INTERFACE_FIELDS
        NS_INTERFACE_FIELDS = tuple(args.interface_fields)
    if args.steps is None:
        args.steps = 300 if args.quick else 2000
    if args.interior is None:
        args.interior = 128 if args.quick else 1024
    if args.ns_resolution is None:
        args.ns_resolution = 64 if args.quick else 128
    if args.points is None:
        args.points = 128
    # session 8: 4 bases per constraint point, so that an expert with every initial point (64) and its
    # 16 PDE points still has more bases (128) than constraints; the global layer gains too (33.7% -> 31.6%)
    if args.basis_factor is None:
        args.basis_factor = 4
    if args.overlap is None:
        args.overlap = 0.5
    if args.blend is None:
        args.blend = 0.05
    if args.bases is not None and (args.bases < 1 or "coupled" in args.models):
        parser.error("--bases takes a positive integer, without the coupled mixture")
    if args.basis_factor < 2 and not args.bases:
        parser.error("--basis-factor must be >= 2 for navier-stokes (minimum-norm hard layers)")
    a = args.ns_experts_per_axis
    if args.points % (a * a):
        parser.error("--points must be divisible by the number of experts")
    ic_per_axis, _ = ns_point_counts(args.points, a, args.initial_lift)
    if args.blend > 0 and ic_per_axis:
        gap = 0.5 / ic_per_axis  # initial grid nodes sit half a spacing from the quadrant edges
        if args.blend >= gap:
            parser.error(f"--blend must be < {gap:g} so that no initial point lies in a blending strip")
    if a > 1 and {"moe", "coupled"} & set(args.models):
        try:
            rows = ns_rows_per_solve(args, a)
        except ValueError as error:
            parser.error(str(error))
        bases = bases_per_expert(ns_total_bases(args), a * a)
        if rows > bases and not args.bases:
            parser.error(f"each expert has {rows} constraints (--overlap {args.overlap}) but only {bases} "
                         "bases: raise --basis-factor or lower --overlap (the solves must be under-determined)")
    summary = run_navier_stokes(args)
    summary.update({**shared_settings(args), "interface_points_per_segment": INTERFACE_POINTS,
                    "overlap": args.overlap, "blend": args.blend, "shared_pde": args.shared_pde,
                    "bases": ns_total_bases(args), "initial_features": args.initial_features,
                    "initial_lift": args.initial_lift, "lift_modes": args.lift_modes,
                    "interface_fields": list(NS_INTERFACE_FIELDS),
                    "viscosity": NS_VISCOSITY, "t_final": NS_T_FINAL, "resolution": args.ns_resolution})
    return _report(summary, args)


if __name__ == "__main__":
    sys.exit(main())
