r"""Soft vs hard vs mixture-of-experts hard constraints (PI-HC, PI-HC-MoE), residual-only training.

Reproduces the set-up of Chalapathi, Du & Krishnapriyan (ICLR 2024) at CPU scale:

- **Problem** (default ``diffusion_sorption``, PDEBench's 1D diffusion-sorption):
  $u_t = D/R(u)\,u_{xx}$, $R(u) = 1 + \frac{1-\phi}{\phi}\rho_s k n_f (u + 10^{-6})^{n_f - 1}$
  with $\phi = 0.29$, $\rho_s = 2880$, $k = 3.5\cdot10^{-4}$ (PDEBench ``k_f``), $n_f = 0.874$,
  $D = 5\cdot10^{-4}$; $u(0, t) = 1$, $u(1, t) = -D u_x(1, t)$; $x\in(0,1)$, $t\in(0, 500]$.
  The papers print $u(1) = D u_x(1)$, an anti-dissipative Robin condition ($u_x = u/D$ makes the
  problem unstable); PDEBench's generator (``sim_diff_sorp.py``) uses the ghost value
  $D(c_{N-2} - c_{N-1})/\Delta x \approx -D u_x$, which we follow. Constant
  initial value $u_0 = 0.1$ (PDEBench draws one constant from $U(0, 0.2)$ per sample). We work
  in $\tau = t/500$, so $u_\tau = 500 D / R(u)\, u_{xx}$. ``--problem heat`` gives the 1D heat
  equation $u_t = 0.1 u_{xx}$, $u_0 = \sin\pi x$, $u(0) = u(1) = 0$ on $(0,1)\times(0,1]$.
- **Models**: one Fourier-feature tanh MLP $(x, \tau) \mapsto b(x, \tau)\in\mathbb{R}^N$ (basis functions), and
  $u = b\cdot\omega$.
  - *soft*: $\omega$ is a trained parameter; loss = PDE residual + IC + BC penalties.
  - *hard*: $\omega$ solved by Gauss-Newton (:class:`pdesolve.constraints.LeastSquaresConstraint`,
    from the solution of the problem linearised with $R$ frozen at $R(0.5)$)
    so that PDE + IC + BC hold exactly at $M$ constraint points ($M = N$, a square system);
    implicit gradients; same loss.
  - *hard MoE*: $K$ time slabs; expert $k$ solves its own $\omega_k$ (N/K bases each) at the
    $M/K$ constraint points of its slab (:class:`pdesolve.constraints.MixtureOfExperts`, vmapped);
    same loss plus the squared jump of $u$ across the slab interfaces (the independent solves do
    not couple the slabs, and without it the later slabs may settle on any PDE solution, e.g.
    $u = 0$ for heat), same $M$ constraint points as *hard*.
  All three see the same loss points (resampled every step), the same number of Adam steps and
  the same learning rate; there is no interior solution data.
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
    python experiments/hard_constraints.py --quick --problem heat
    # under-determined variant: 2 bases per constraint point, minimum-norm (Tikhonov 1e-10) solve
    python experiments/hard_constraints.py --quick --basis-factor 2 --regularisation 1e-10

2D Navier-Stokes (the paper's second problem) is not implemented here; see experiments/README.md.
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

import diffrax  # noqa: E402
import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from pdesolve.constraints import LeastSquaresConstraint, MixtureOfExperts  # noqa: E402
from pdesolve.integrators import solve_method_of_lines  # noqa: E402
from pdesolve.pdes import AbstractPDE  # noqa: E402

# --- problems --------------------------------------------------------------------------------

POROSITY, RHO_S, K_F, N_F, DIFFUSIVITY, T_FINAL = 0.29, 2880.0, 3.5e-4, 0.874, 5e-4, 500.0
SORPTION = (1 - POROSITY) / POROSITY * RHO_S * K_F * N_F


def retardation(u):
    """Freundlich retardation factor R(u) (|u| keeps it finite for negative trial values)."""
    return 1.0 + SORPTION * (jnp.abs(u) + 1e-6) ** (N_F - 1.0)


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
        self.mlp = eqx.nn.MLP(2 + 4 * 8, num_basis, width, depth, activation=jnp.tanh, key=key)

    def __call__(self, x, t):
        freq = jax.lax.stop_gradient(self.frequencies)
        features = jnp.concatenate([
            jnp.stack([2 * x - 1, 2 * t - 1]), jnp.sin(freq * x), jnp.cos(freq * x), jnp.sin(freq * t),
            jnp.cos(freq * t),
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

def constraint_points(problem: Problem, num_experts: int, per_expert: int, key):
    """Points (K, m, 2), types (K, m), values (K, m) for K time slabs with m points each."""
    points, types, values = [], [], []
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
        pts.append(jnp.stack([x, t], 1))
        typ.append(jnp.zeros(n_pde, int))
        val.append(jnp.zeros(n_pde))
        points.append(jnp.concatenate(pts))
        types.append(jnp.concatenate(typ))
        values.append(jnp.concatenate(val))
    return jnp.stack(points), jnp.stack(types), jnp.stack(values)


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


# --- models ----------------------------------------------------------------------------------


class Model(eqx.Module):
    """u(x, tau) = b(x, tau) . omega_{k(tau)}; kind in {soft, hard, moe}."""

    net: BasisNet
    omega: jax.Array | None  # trained coefficients (soft only)
    kind: str = eqx.field(static=True)
    num_experts: int = eqx.field(static=True)

    def coefficients(self, layer, cpoints, ctypes, cvalues):
        """(K, N) coefficients and the solution info (None for soft)."""
        if self.kind == "soft":
            return self.omega[None], None
        features = jax.vmap(lambda p: basis_jet(self.net, p))(cpoints)
        features = {**features, "types": ctypes, "values": cvalues.astype(features["b"].dtype)}
        init = jax.lax.stop_gradient(jax.vmap(lambda f: linearised_coefficients(layer.problem, f))(features))
        sol = layer.mixture(features, init)
        return sol.coefficients, sol

    def evaluate(self, omegas, points, expert=None):
        jet = basis_jet(self.net, points)
        if expert is None:
            expert = jnp.clip(jnp.floor(points[:, 1] * self.num_experts).astype(int), 0, self.num_experts - 1)
        w = omegas[expert]  # (P, N)
        return {name: jnp.sum(value * w, axis=-1) for name, value in jet.items()}

    def interface_jump(self, omegas, x):
        """u_{k-1} - u_k at the slab interfaces tau = k/K (k = 1..K-1), at the positions x."""
        if self.num_experts == 1:
            return jnp.zeros(0)
        jumps = []
        for k in range(1, self.num_experts):
            pts = jnp.stack([x, jnp.full_like(x, k / self.num_experts)], 1)
            before = self.evaluate(omegas, pts, jnp.full(x.shape, k - 1))["b"]
            after = self.evaluate(omegas, pts, jnp.full(x.shape, k))["b"]
            jumps.append(before - after)
        return jnp.concatenate(jumps)


def loss_points(key, num_interior, num_boundary):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    interior = jax.random.uniform(k1, (num_interior, 2))
    x_ic = jax.random.uniform(k2, (num_boundary,))
    t_bc = jax.random.uniform(k3, (num_boundary,))
    t_bc2 = jax.random.uniform(k4, (num_boundary,))
    return (interior, jnp.stack([x_ic, jnp.zeros_like(x_ic)], 1), jnp.stack([jnp.zeros_like(t_bc), t_bc], 1),
            jnp.stack([jnp.ones_like(t_bc2), t_bc2], 1))


def loss_fn(model, layer, problem, cpoints, ctypes, cvalues, batch):
    interior, ic, left, right = batch
    omegas, sol = model.coefficients(layer, cpoints, ctypes, cvalues)
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
    return loss, converged


def build(kind, problem, total_points, num_experts, width, depth, key, basis_factor=1, regularisation=0.0):
    experts = num_experts if kind == "moe" else 1
    num_basis = basis_factor * total_points // experts
    knet, kw = jax.random.split(key)
    net = BasisNet(num_basis, width, depth, knet)
    omega = jax.random.normal(kw, (num_basis,)) / math.sqrt(num_basis) if kind == "soft" else None
    model = Model(net, omega, kind, experts)
    layer = None
    if kind != "soft":
        # Gauss-Newton (= Newton on the square system) from the linearised solution; LM's gain-ratio
        # safeguard converged far more slowly on this problem in our trials.
        single = LeastSquaresConstraint(make_constraint_residual(problem), num_basis, num_steps=15,
                                        method="gauss_newton", tolerance=1e-9, on_failure="ignore",
                                        regularisation=regularisation)
        layer = HardLayer(MixtureOfExperts(single), problem)
    return model, layer, num_basis


def train(kind, problem, args, key):
    model, layer, num_basis = build(kind, problem, args.points, args.experts, args.width, args.depth, key,
                                    args.basis_factor, args.regularisation)
    experts = model.num_experts
    cpoints, ctypes, cvalues = constraint_points(problem, experts, args.points // experts, jax.random.key(7))
    schedule = optax.cosine_decay_schedule(args.lr, args.steps, alpha=0.05)
    opt = optax.adam(schedule)
    state = opt.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def step(model, state, key):
        batch = loss_points(key, args.interior, args.boundary)
        (loss, conv), grads = eqx.filter_value_and_grad(
            lambda m: loss_fn(m, layer, problem, cpoints, ctypes, cvalues, batch), has_aux=True)(model)
        updates, state = opt.update(grads, state, eqx.filter(model, eqx.is_inexact_array))
        return eqx.apply_updates(model, updates), state, loss, conv

    keys = jax.random.split(jax.random.key(args.seed + 1), args.steps)
    model, state, loss, conv = step(model, state, keys[0])  # compile
    jax.block_until_ready(loss)
    start = time.perf_counter()
    failures = 0
    losses = []
    for i in range(1, args.steps):
        model, state, loss, conv = step(model, state, keys[i])
        if i % 50 == 0 or i == args.steps - 1:
            losses.append(float(loss))
            failures += int(not bool(conv))
    seconds_per_step = (time.perf_counter() - start) / max(args.steps - 1, 1)
    return model, layer, (cpoints, ctypes, cvalues), seconds_per_step, losses, failures, num_basis


def evaluate(model, layer, constraint, x_eval, t_eval, reference):
    omegas, sol = model.coefficients(layer, *constraint)
    xx, tt = jnp.meshgrid(x_eval, t_eval, indexing="xy")
    pts = jnp.stack([xx.ravel(), tt.ravel()], 1)
    u = model.evaluate(omegas, pts)["b"].reshape(tt.shape)
    error = float(jnp.linalg.norm(u - reference) / jnp.linalg.norm(reference))
    if sol is None:
        return error, None, None
    features = jax.vmap(lambda p: basis_jet(model.net, p))(constraint[0])
    features = {**features, "types": constraint[1], "values": constraint[2]}
    residual = jax.vmap(layer.constraint.residual_fn)(omegas, features)  # without the Tikhonov rows
    return error, float(jnp.max(jnp.abs(residual))), bool(jnp.all(sol.converged))


def time_solve_only(problem, total_points, experts, width, depth, repeats=5):
    """Forward + implicit backward of the constraint layer alone: global (M bases, M points)
    vs mixture (K experts x M/K bases and points), same M, same network width."""
    out = {}
    for kind, k in (("hard", 1), ("moe", experts)):
        model, layer, _ = build(kind, problem, total_points, experts, width, depth, jax.random.key(0))
        cpoints, ctypes, cvalues = constraint_points(problem, k, total_points // k, jax.random.key(7))
        features = jax.vmap(lambda p: basis_jet(model.net, p))(cpoints)
        init = jax.vmap(lambda f: linearised_coefficients(problem, f))({**features, "types": ctypes, "values": cvalues})

        @jax.jit
        def fwd_bwd(feats):
            def loss(f):
                return jnp.sum(layer.mixture({**f, "types": ctypes, "values": cvalues}, init).coefficients ** 2)

            return jax.value_and_grad(loss)(feats)

        jax.block_until_ready(fwd_bwd(features))
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(fwd_bwd(features))
            best = min(best, time.perf_counter() - start)
        out[kind] = best
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problem", choices=("diffusion_sorption", "heat"), default="diffusion_sorption")
    parser.add_argument("--quick", action="store_true", help="the CPU budget run (< 20 min on 2 cores)")
    parser.add_argument("--steps", type=int, default=None, help="Adam steps per model")
    parser.add_argument("--points", type=int, default=64, help="constraint points M (= bases of the global hard model)")
    parser.add_argument("--experts", type=int, default=4, help="K time slabs of the mixture")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--interior", type=int, default=None, help="interior loss points per step")
    parser.add_argument("--boundary", type=int, default=64, help="IC / each BC loss points per step")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=["soft", "hard", "moe"], choices=("soft", "hard", "moe"))
    parser.add_argument("--basis-factor", type=int, default=1,
                        help="bases per solve = factor x constraint points per solve (> 1: under-determined)")
    parser.add_argument("--regularisation", type=float, default=0.0,
                        help="Tikhonov mu of the constraint solve (needed with --basis-factor > 1)")
    parser.add_argument("--json", default=None, help="save the results to this file")
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = 400 if args.quick else 3000
    if args.interior is None:
        args.interior = 512 if args.quick else 2048
    if args.points % args.experts:
        parser.error("--points must be divisible by --experts")
    problem = DIFFUSION_SORPTION if args.problem == "diffusion_sorption" else HEAT

    x_eval = jnp.arange(65) / 64
    t_eval = jnp.arange(1, 33) / 32
    t0 = time.perf_counter()
    reference = reference_solution(problem, x_eval, t_eval, num_nodes=128 if args.quick else 256)
    print(f"reference ({problem.name}) in {time.perf_counter() - t0:.1f}s", file=sys.stderr)

    results = []
    for i, kind in enumerate(args.models):
        t0 = time.perf_counter()
        model, layer, constraint, sps, losses, failures, nb = train(kind, problem, args, jax.random.key(args.seed))
        error, cres, conv = evaluate(model, layer, constraint, x_eval, t_eval, reference)
        row = {"model": kind, "rel_l2": error, "constraint_residual_max": cres, "final_solve_converged": conv,
               "seconds_per_step": sps, "bases_per_solve": nb, "experts": model.num_experts,
               "final_loss": losses[-1] if losses else None, "nonconverged_logged_steps": failures,
               "train_seconds": time.perf_counter() - t0}
        results.append(row)
        print(json.dumps(row), file=sys.stderr)

    solve_timing = time_solve_only(problem, args.points, args.experts, args.width, args.depth)
    summary = {
        "problem": problem.name, "steps": args.steps, "basis_factor": args.basis_factor,
        "regularisation": args.regularisation, "constraint_points": args.points, "experts": args.experts,
        "results": results,
        "solve_only_seconds": solve_timing,
        "moe_solve_speedup": solve_timing["hard"] / solve_timing["moe"],
        "anchor_rel_l2_chalapathi": {"soft": 0.859, "hard": 0.0755, "moe": 0.036},
    }
    by = {r["model"]: r for r in results}
    if "hard" in by and "moe" in by:
        summary["moe_train_step_speedup"] = by["hard"]["seconds_per_step"] / by["moe"]["seconds_per_step"]
    print(f"\n{problem.name}: {args.steps} Adam steps, M = {args.points} constraint points, K = {args.experts}")
    print(f"{'model':6} {'rel_L2':>9} {'max|r| at constraint pts':>25} {'s/step':>8}")
    for r in results:
        cres = "-" if r["constraint_residual_max"] is None else f"{r['constraint_residual_max']:.1e}"
        print(f"{r['model']:6} {r['rel_l2']:9.2%} {cres:>25} {r['seconds_per_step']:8.4f}")
    print(f"constraint layer fwd+bwd: global {solve_timing['hard']*1e3:.2f} ms, "
          f"MoE {solve_timing['moe']*1e3:.2f} ms, speed-up {summary['moe_solve_speedup']:.2f}x")
    if "moe_train_step_speedup" in summary:
        print(f"training step speed-up MoE vs global hard: {summary['moe_train_step_speedup']:.2f}x")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
