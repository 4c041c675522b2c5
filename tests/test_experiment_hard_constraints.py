"""Smoke test of ``experiments/hard_constraints.py`` at toy size (slow: several compilations).

Runs the script in a subprocess (it sets process-wide JAX options) with all four models on the
1D heat problem and checks the JSON it writes: every model trains to a finite error, the hard
layers hold their constraints (the coupled mixture's interface conditions included) and the
side-by-side layer timings are there.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_hard_constraints_experiment_heat_all_models(tmp_path):
    out = tmp_path / "heat.json"
    command = [
        sys.executable, str(ROOT / "experiments" / "hard_constraints.py"), "--problem", "heat", "--steps", "3",
        "--points", "32", "--interior", "32", "--boundary", "8", "--width", "16", "--depth", "1",
        "--models", "soft", "hard", "moe", "coupled", "--interface-points", "4", "--json", str(out),
        "--figure", str(tmp_path / "heat.png"),
    ]
    subprocess.run(command, check=True, cwd=ROOT, timeout=900)
    assert (tmp_path / "heat.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads(out.read_text())
    rows = {row["model"]: row for row in summary["results"]}
    assert set(rows) == {"soft", "hard", "moe", "coupled"}
    for row in rows.values():
        assert math.isfinite(row["rel_l2"])
    for kind in ("hard", "moe", "coupled"):
        assert rows[kind]["constraint_residual_max"] < 1e-8
    assert rows["coupled"]["experts"] == 4
    assert set(summary["solve_only_seconds"]) == {"hard", "moe", "coupled"}
    assert summary["coupled_solve_speedup"] > 0


@pytest.mark.slow
def test_hard_constraints_experiment_diffusion_sorption_default_layers(tmp_path):
    """The nonlinear problem's default solves (global: anchored minimum-norm Gauss-Newton with KKT
    gradients; independent experts: line-searched Gauss-Newton with tangent gradients) hold the
    constraints, with gradient clipping on."""
    out = tmp_path / "ds.json"
    command = [
        sys.executable, str(ROOT / "experiments" / "hard_constraints.py"), "--steps", "3", "--points", "64",
        "--interior", "32", "--boundary", "8", "--width", "16", "--depth", "1", "--models", "hard", "moe",
        "--transfer-bases", "--json", str(out),
    ]
    subprocess.run(command, check=True, cwd=ROOT, timeout=900)
    summary = json.loads(out.read_text())
    assert summary["gradient"] == "kkt" and summary["solve_steps"] == 30
    assert summary["expert_gradient"] == "tangent" and summary["expert_solve_steps"] == 12
    assert summary["solve_method"] == "gauss_newton" and summary["clip_norm"] == 1.0
    for row in summary["results"]:
        assert math.isfinite(row["rel_l2"])
        assert row["constraint_residual_max"] < 1e-8 and row["final_solve_converged"]
    # the diagnostic: the global model's bases re-solved by independent experts on all 256 bases
    transfer = summary["transfer_bases"]
    assert [row["global_conditions"] for row in transfer] == [False, True]
    for row in transfer:
        assert row["bases_per_solve"] == 256 and math.isfinite(row["rel_l2"]) and row["constraint_residual_max"] < 1e-8


_BLEND_CHECK = r"""
import sys
sys.path.insert(0, sys.argv[1])
import jax, jax.numpy as jnp, numpy as np
import hard_constraints as h

# the smooth step and the windows: 0/1 outside the strip, partition of unity everywhere
z = jnp.linspace(-1.5, 1.5, 301)
s = h.smooth_step(z)
assert float(s[0]) == 0.0 and float(s[-1]) == 1.0 and bool(jnp.all(jnp.diff(s) >= 0))
d = h.smooth_step
for k in range(1, 5):  # C^4: the first four derivatives vanish at both ends of the strip
    d = jax.grad(d)
    ends = jax.jit(jax.vmap(d))(jnp.array([-1.0, 1.0]))
    assert float(jnp.max(jnp.abs(ends))) < 1e-9, k
x = jnp.linspace(0, 1, 1001)
chi = jnp.stack([h.quadrant_window(x, i, 2, 0.05) for i in range(2)])
assert float(jnp.max(jnp.abs(chi.sum(0) - 1))) < 1e-12
assert float(jnp.min(chi[0][(x > 0.05) & (x < 0.45)])) == 1.0 and float(jnp.max(chi[0][(x > 0.55) & (x < 0.95)])) == 0.0

# blended model: equals the owning expert's fields outside the strips, continuous across an edge
# (one compiled call for both evaluations: the fourth-order jets dominate this test's time)
import equinox as eqx
net = h.PeriodicBasisNet(12, 8, 1, jax.random.key(0), 2.0)
model = h.NSModel(net, None, "moe", 2, 0.05)
omegas = jax.random.normal(jax.random.key(1), (4, 12))
inside = jnp.array([[0.1, 0.2, 0.3], [0.6, 0.3, 0.5], [0.9375, 0.4375, 0.0]])
edge = jnp.array([[0.5 - 1e-7, 0.3, 0.4], [0.5 + 1e-7, 0.3, 0.4]])
blended_and_own = eqx.filter_jit(lambda m, o, p: (m.evaluate(o, p), m.evaluate(o, p, m.expert_of(p))))
blended, own = blended_and_own(model, omegas, jnp.concatenate([inside, edge]))
for name in blended:  # equal up to round-off (the compiled sums may be ordered differently)
    scale = 1.0 + float(jnp.max(jnp.abs(own[name][:3])))
    assert float(jnp.max(jnp.abs(blended[name][:3] - own[name][:3]))) <= 1e-12 * scale, name
fields, jump = blended["w"][3:], own["w"][3:]
assert abs(float(fields[0] - fields[1])) < 1e-5 < abs(float(jump[0] - jump[1]))

# overlapping constraint points: initial points shared with the neighbours, PDE points in the cores
w0 = jax.random.normal(jax.random.key(2), (32, 32))
points, types, values = h.ns_constraint_points(w0, 2, 8, 16, jax.random.key(3), overlap=0.25, margin=0.05)
assert points.shape == (4, 36 + 16, 3) and bool(jnp.all(types.sum(1) == 36))
pde = points[types == 0]
offset = jnp.abs((pde[:, :2] + 0.25) % 0.5 - 0.25)  # distance to the nearest quadrant edge
assert float(jnp.min(offset)) >= 0.05
shared = h.ns_constraint_points(w0, 2, 8, 16, jax.random.key(3), overlap=0.25, margin=0.05, shared_pde=4)
assert shared[0].shape == (4, 36 + 16 + 3 * 4, 3) and bool(jnp.all(shared[0][:, :52] == points))
assert bool(jnp.all(shared[0][0, 52:56] == points[1, 36:40]))  # expert 1's first 4 PDE points
plain = h.ns_constraint_points(w0, 2, 8, 16, jax.random.key(3))
assert plain[0].shape == (4, 32, 3) and len(np.unique(np.asarray(plain[0][plain[1] == 1]), axis=0)) == 64
print("ok")
"""


def test_navier_stokes_blended_mixture_pieces():
    """The partition-of-unity mixture (``--blend``) and overlapping constraint points (``--overlap``)
    of the Navier-Stokes experiment: windows sum to one and are C^4, the blended prediction equals the
    owning expert's wherever a constraint point may lie and has no jump across the quadrant edges."""
    result = subprocess.run([sys.executable, "-c", _BLEND_CHECK, str(ROOT / "experiments")], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


_LIFT_CHECK = r"""
import sys, types
sys.path.insert(0, sys.argv[1])
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import numpy as np
import hard_constraints as h

# the lift: the initial vorticity at every grid node, and fields that are its derivatives
w0 = jax.random.normal(jax.random.key(2), (16, 16))
w0 = w0 - jnp.mean(w0)  # a vorticity on the periodic square has zero mean
lift = h.InitialLift(w0)
nodes = jnp.arange(16) / 16
xx, yy = jnp.meshgrid(nodes, nodes, indexing="ij")
at_start = jnp.stack([xx.ravel(), yy.ravel(), jnp.zeros(256)], 1)
assert float(jnp.max(jnp.abs(lift(at_start)["w"] - w0.ravel()))) < 1e-12
p = jax.random.uniform(jax.random.key(3), (4, 3))
f, e = lift(p), 1e-5
def dx(name, axis):
    return (lift(p.at[:, axis].add(e))[name] - lift(p.at[:, axis].add(-e))[name]) / (2 * e)
for name, axis, source in (("w_x", 0, "w"), ("w_y", 1, "w")):
    assert float(jnp.max(jnp.abs(dx(source, axis) - f[name]))) < 1e-5 * float(jnp.max(jnp.abs(f[name]))), name
assert float(jnp.max(jnp.abs(dx("w_x", 0) + dx("w_y", 1) - f["lap_w"]))) < 1e-5 * float(jnp.max(jnp.abs(f["lap_w"])))
assert float(jnp.max(jnp.abs(-(dx("psi_x", 0) + dx("psi_y", 1)) - f["w"]))) < 1e-6 * float(jnp.max(jnp.abs(f["w"])))
assert float(jnp.max(jnp.abs(f["w_t"]))) == 0.0

# a lifted model (blended mixture) holds the initial condition exactly at t = 0 whatever its
# coefficients; its constraint points are PDE points only
import equinox as eqx
args = types.SimpleNamespace(bases=None, basis_factor=4, points=16, ns_resolution=16, overlap=0.5, shared_pde=0,
                             ns_experts_per_axis=2, width=8, depth=1, feature_decay=2.0, blend=0.05,
                             initial_features=False, initial_lift=True)
assert h.ns_point_counts(16, 2, True) == (0, 4) and h.ns_rows_per_solve(args, 2) == 4
model, layer, n = h.ns_build("moe", args, jax.random.key(0), w0)
constraint = h.ns_constraints_for(model, args, w0)
assert bool(jnp.all(constraint[1] == 0)) and constraint[0].shape == (4, 4, 3)
omegas = jax.random.normal(jax.random.key(1), (4, n))
w_start = eqx.filter_jit(lambda m, o: m.evaluate(o, at_start)["w"])(model, omegas)
assert float(jnp.max(jnp.abs(w_start - w0.ravel()))) < 1e-10
print("ok")
"""


def test_navier_stokes_initial_lift():
    """``--initial-lift``: psi = psi0 + tau b . omega reproduces the initial vorticity at every grid
    node, its closed-form fields agree with finite differences, and a lifted mixture's prediction is
    the initial field at t = 0 whatever its coefficients (the solves: the slow test below)."""
    result = subprocess.run([sys.executable, "-c", _LIFT_CHECK, str(ROOT / "experiments")], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


_LAYER_CHOICE_CHECK = r"""
import sys, types
sys.path.insert(0, sys.argv[1])
import jax
import hard_constraints as h
from pdesolve.constraints import LeastSquaresConstraint, MinimumNormConstraint

# --bases N below the constraint count: least-squares layers (Chalapathi et al.'s regime); experts
# with fewer rows than their N shared bases stay exact minimum-norm layers
h.EXPERT_BASES = "shared"
for kind, layer_type in (("hard", LeastSquaresConstraint), ("moe", LeastSquaresConstraint)):
    _, layer, n = h.build(kind, h.DIFFUSION_SORPTION, 64, 4, 8, 1, jax.random.key(0), bases=8, split="space")
    assert n == 8 and isinstance(layer.constraint, layer_type), (kind, layer)
_, layer, _ = h.build("hard", h.DIFFUSION_SORPTION, 64, 4, 8, 1, jax.random.key(0), regularisation=1e-4, bases=8)
assert layer.constraint.regularisation == 1e-4  # --regularisation reaches the least-squares solve
_, layer, n = h.build("moe", h.DIFFUSION_SORPTION, 64, 4, 8, 1, jax.random.key(0), bases=32, split="space")
assert n == 32 and isinstance(layer.constraint, MinimumNormConstraint)  # 16 rows per expert, 32 bases
_, layer, n = h.build("hard", h.DIFFUSION_SORPTION, 64, 4, 8, 1, jax.random.key(0), basis_factor=4)
assert n == 256 and isinstance(layer.constraint, MinimumNormConstraint)  # the default: N = 4M

args = types.SimpleNamespace(bases=64, basis_factor=4, points=128, ns_resolution=32, overlap=0.0, shared_pde=0,
                             ns_experts_per_axis=2, width=8, depth=1, feature_decay=2.0, blend=0.05,
                             initial_features=False, initial_lift=False)
assert h.ns_rows_per_solve(args, 1) == 128 and h.ns_rows_per_solve(args, 2) == 32
_, hard, n = h.ns_build("hard", args, jax.random.key(0))
assert n == 64 and isinstance(hard.constraint, LeastSquaresConstraint)
model, moe, n = h.ns_build("moe", args, jax.random.key(0))
assert n == 64 and isinstance(moe.constraint, MinimumNormConstraint) and model.blend == 0.05
args.bases = None
_, hard, n = h.ns_build("hard", args, jax.random.key(0))
assert n == 512 and isinstance(hard.constraint, MinimumNormConstraint)

# --global-conditions: every expert has all initial/boundary points and its own slab's PDE points
import jax.numpy as jnp
points, types, values = h.constraint_points(h.DIFFUSION_SORPTION, 4, 32, jax.random.key(7), "space", 0.0, True)
glob = h.constraint_points(h.DIFFUSION_SORPTION, 1, 128, jax.random.key(7), "space")
assert points.shape == (4, 80, 2)
for k in range(4):
    assert [int((types[k] == c).sum()) for c in range(4)] == [16, 32, 16, 16]
    conditions = types[k] > 0
    assert bool(jnp.all(points[k][conditions] == points[0][types[0] > 0]))
    assert bool(jnp.all(values[k][conditions] == values[0][types[0] > 0]))
    x = points[k][~conditions][:, 0]
    assert float(x.min()) > k / 4 and float(x.max()) < (k + 1) / 4
# the same initial and boundary points as the global layer's
assert sorted(map(tuple, points[0][types[0] > 0].tolist())) == sorted(map(tuple, glob[0][0][glob[1][0] > 0].tolist()))

# unsupported combinations are command-line errors (exit status 2, naming the flag) before any work
import contextlib, io
for extra, flag in ((["--bases", "16", "--models", "coupled"], "--bases"), (["--bases", "0"], "--bases"),
                    (["--bases", "16", "--overlap", "0.5"], "--bases"),
                    (["--global-conditions", "--split", "time"], "--global-conditions"),
                    (["--global-conditions", "--problem", "navier-stokes"], "--global-conditions"),
                    (["--transfer-bases", "--models", "moe"], "--transfer-bases"),
                    (["--figure", "x.png", "--problem", "navier-stokes"], "--figure"),
                    (["--initial-lift"], "--initial-lift"),
                    (["--problem", "navier-stokes", "--lift-modes", "8"], "--lift-modes")):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            h.main(["--steps", "1", *extra])
            raise AssertionError(f"{extra} was accepted")
        except SystemExit as exit:
            assert exit.code == 2 and flag in err.getvalue(), (extra, err.getvalue())

# --figure: reference, predictions and log-scale errors, one PNG
import os, tempfile
import numpy as np
x, t = np.linspace(0, 1, 9), np.linspace(0.1, 1, 5)
reference = np.exp(-t[:, None]) * np.sin(np.pi * x[None, :])
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "fields.png")
    h.plot_fields(path, x, t, reference, {"soft": reference + 1e-2, "hard": reference.copy()}, "check")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
print("ok")
"""


def test_bases_option_selects_least_squares_layers():
    """``--bases N`` (Chalapathi et al.'s capacity-limited regime): a solve with more constraints than
    bases becomes a least-squares layer, one with fewer stays an exact minimum-norm layer, and without
    the option the layers are the defaults. ``--global-conditions``: each expert's points are the
    global initial/boundary points plus its own slab's PDE points. Unsupported combinations of these
    options are command-line errors."""
    result = subprocess.run([sys.executable, "-c", _LAYER_CHOICE_CHECK, str(ROOT / "experiments")], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


@pytest.mark.slow
def test_hard_constraints_experiment_navier_stokes_all_models(tmp_path):
    """Navier-Stokes defaults (every expert sees all initial points, blended independent experts):
    all four models run, and every hard layer holds its constraints at every constraint point."""
    out = tmp_path / "ns.json"
    command = [
        sys.executable, str(ROOT / "experiments" / "hard_constraints.py"), "--problem", "navier-stokes",
        "--steps", "2", "--interior", "16", "--boundary", "8", "--width", "16", "--depth", "1",
        "--ns-resolution", "32", "--json", str(out),
    ]
    subprocess.run(command, check=True, cwd=ROOT, timeout=900)
    summary = json.loads(out.read_text())
    assert summary["overlap"] == 0.5 and summary["blend"] == 0.05 and summary["basis_factor"] == 4
    rows = {row["model"]: row for row in summary["results"]}
    assert set(rows) == {"soft", "hard", "moe", "coupled"}
    for row in rows.values():
        assert math.isfinite(row["rel_l2"]) and len(row["rel_l2_by_time"]) == 6
    for kind in ("hard", "moe", "coupled"):
        assert rows[kind]["constraint_residual_max"] < 1e-8, kind


@pytest.mark.slow
def test_hard_constraints_experiment_navier_stokes_initial_lift(tmp_path):
    """``--initial-lift`` end to end: every model's error at t = 0 is round-off, and the lifted hard
    layers hold the PDE constraints at every constraint point."""
    out = tmp_path / "ns_lift.json"
    command = [
        sys.executable, str(ROOT / "experiments" / "hard_constraints.py"), "--problem", "navier-stokes",
        "--initial-lift", "--steps", "2", "--interior", "16", "--width", "16", "--depth", "1",
        "--ns-resolution", "32", "--points", "32", "--models", "soft", "hard", "moe", "--json", str(out),
    ]
    subprocess.run(command, check=True, cwd=ROOT, timeout=900)
    summary = json.loads(out.read_text())
    assert summary["initial_lift"] is True
    persistence = summary["persistence"]  # the w(t) = w0 baseline, exact at t = 0
    assert persistence["rel_l2_by_time"][0] == 0.0 and 0.0 < persistence["rel_l2"] < 2.0
    rows = {row["model"]: row for row in summary["results"]}
    for row in rows.values():
        assert row["rel_l2_by_time"][0] < 1e-10 and math.isfinite(row["rel_l2"]), row["model"]
    for kind in ("hard", "moe"):
        assert rows[kind]["constraint_residual_max"] < 1e-8 and rows[kind]["final_solve_converged"], kind
