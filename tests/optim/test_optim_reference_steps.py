"""Hand-computed steps of every optimizer implemented in :mod:`pdesolve.optim`.

Each reference below is a plain-NumPy transcription of the published update rule, in the
convention stated in the optimizer's docstring, run for a few steps on a small pytree (a
vector and a matrix leaf, float64) and compared with the library's updates (rtol 1e-6).
Gradients are prescribed sequences (or functions of the current parameters where the rule
needs them), so the references do not share any code with the implementation.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import pdesolve.optim as po

RTOL = 1e-6
ATOL = 1e-14
N_STEPS = 3
SHAPES = {"v": (3,), "m": (2, 4)}


def _random_tree(rng, scale=1.0, shapes=SHAPES):
    return {k: scale * rng.standard_normal(s) for k, s in shapes.items()}


def _grad_sequence(seed=0, n=N_STEPS, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    # Mix magnitudes so that elementwise nonlinearities (clips, minima, sigmoids) are exercised.
    out = []
    for _ in range(n):
        g = _random_tree(rng, shapes=shapes)
        g = {k: a * np.logspace(-2, 0.5, a.size).reshape(a.shape) for k, a in g.items()}
        out.append(g)
    return out


def _params0(seed=1, shapes=SHAPES):
    return _random_tree(np.random.default_rng(seed), shapes=shapes)


def run_library(opt, params, grad_fn, n=N_STEPS, **extra):
    """Apply ``opt`` for ``n`` steps; ``grad_fn(t, params) -> grads`` (NumPy trees)."""
    params = jax.tree.map(jnp.asarray, params)
    state = opt.init(params)
    updates_out = []
    for t in range(n):
        grads = jax.tree.map(jnp.asarray, grad_fn(t, jax.tree.map(np.asarray, params)))
        updates, state = opt.update(grads, state, params, **extra)
        params = optax.apply_updates(params, updates)
        updates_out.append(jax.tree.map(np.asarray, updates))
    return updates_out


def assert_updates_close(lib, ref):
    assert len(lib) == len(ref)
    for t, (u_lib, u_ref) in enumerate(zip(lib, ref)):
        assert set(u_lib) == set(u_ref)
        for k in u_ref:
            np.testing.assert_allclose(
                u_lib[k], u_ref[k], rtol=RTOL, atol=ATOL, err_msg=f"step {t + 1}, leaf {k!r}"
            )


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ---------------------------------------------------------------------------------------------
# diffGrad
# ---------------------------------------------------------------------------------------------


def ref_diffgrad(params, grads, lr, b1, b2, eps):
    out = []
    m = {k: np.zeros_like(a) for k, a in params.items()}
    v = {k: np.zeros_like(a) for k, a in params.items()}
    g_prev = {k: np.zeros_like(a) for k, a in params.items()}
    for t, g in enumerate(grads, start=1):
        u = {}
        for k in params:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            m_hat = m[k] / (1 - b1**t)
            v_hat = v[k] / (1 - b2**t)
            xi = sigmoid(np.abs(g_prev[k] - g[k]))
            u[k] = -lr * xi * m_hat / (np.sqrt(v_hat) + eps)
            g_prev[k] = g[k]
        out.append(u)
    return out


def test_diffgrad_reference_steps():
    params, grads = _params0(), _grad_sequence()
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    lib = run_library(po.diffgrad(lr, b1=b1, b2=b2, eps=eps), params, lambda t, p: grads[t])
    assert_updates_close(lib, ref_diffgrad(params, grads, lr, b1, b2, eps))


def test_diffgrad_first_step_friction_is_sigmoid_of_abs_gradient():
    # g_0 = 0: the first step is Adam's first step (lr * sign(g)) times sigmoid(|g|).
    g = np.array([0.3, -2.0, 1e-3])
    lib = run_library(po.diffgrad(0.1, eps=0.0), {"x": np.zeros(3)}, lambda t, p: {"x": g}, n=1)
    np.testing.assert_allclose(lib[0]["x"], -0.1 * np.sign(g) * sigmoid(np.abs(g)), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# AdamP
# ---------------------------------------------------------------------------------------------


def _abs_cos(x, y, eps):
    return abs(float(np.dot(x, y))) / (max(np.linalg.norm(x), eps) * max(np.linalg.norm(y), eps))


def _remove_radial(w, q, eps):
    w_unit = w / (np.linalg.norm(w) + eps)
    return q - w_unit * np.dot(w_unit, q)


def ref_adamp(params, grad_fn, n, lr, b1, b2, eps, wd, delta, wd_ratio, nesterov=False):
    out, fired_log = [], []
    p = {k: a.copy() for k, a in params.items()}
    m = {k: np.zeros_like(a) for k, a in params.items()}
    v = {k: np.zeros_like(a) for k, a in params.items()}
    for t in range(1, n + 1):
        g = grad_fn(t - 1, p)
        u, fired = {}, {}
        for k in p:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            denom = np.sqrt(v[k]) / math.sqrt(1 - b2**t) + eps
            num = b1 * m[k] + (1 - b1) * g[k] if nesterov else m[k]
            q = num / denom
            ratio, fired[k] = 1.0, "none"
            w = p[k]
            if w.ndim > 1:
                rows_w = w.reshape(w.shape[0], -1)
                rows_g = g[k].reshape(w.shape[0], -1)
                rows_q = q.reshape(w.shape[0], -1).copy()
                cos_rows = [_abs_cos(gr, wr, eps) for gr, wr in zip(rows_g, rows_w)]
                if max(cos_rows) < delta / math.sqrt(rows_w.shape[1]):
                    for i in range(rows_w.shape[0]):
                        rows_q[i] = _remove_radial(rows_w[i], rows_q[i], eps)
                    q = rows_q.reshape(w.shape)
                    ratio, fired[k] = wd_ratio, "channel"
                elif _abs_cos(g[k].ravel(), w.ravel(), eps) < delta / math.sqrt(w.size):
                    q = _remove_radial(w.ravel(), q.ravel(), eps).reshape(w.shape)
                    ratio, fired[k] = wd_ratio, "layer"
            # PyTorch order: decay the weight, then take the step; both use the old weight.
            new = w * (1 - lr * wd * ratio) - lr / (1 - b1**t) * q
            u[k] = new - w
            p[k] = new
        out.append(u)
        fired_log.append(fired)
    return out, fired_log


def _adamp_grad_fn(kind, seed=3):
    rng = np.random.default_rng(seed)
    noise = [_random_tree(rng) for _ in range(N_STEPS)]

    def grad_fn(t, p):
        g = {k: a.copy() for k, a in noise[t].items()}
        w = p["m"]
        if kind == "channel":  # each row of the gradient orthogonal to the row of the weight
            rows = g["m"].copy()
            for i in range(w.shape[0]):
                wi = w[i] / np.linalg.norm(w[i])
                rows[i] = rows[i] - wi * np.dot(wi, rows[i])
            g["m"] = rows
        elif kind == "layer":  # rows aligned with the weight rows, whole tensor orthogonal
            a = 0.7
            n0, n1 = np.sum(w[0] ** 2), np.sum(w[1] ** 2)
            g["m"] = np.stack([a * w[0], -a * n0 / n1 * w[1]])
        elif kind.startswith("layer_cos="):
            # Rows aligned with the weight rows (the channel test never fires) and a whole-tensor
            # cosine set to a chosen value, to pin the layer threshold delta / sqrt(size).
            target = float(kind.split("=")[1])
            a = 0.7
            n0, n1 = np.sum(w[0] ** 2), np.sum(w[1] ** 2)
            orth = np.stack([a * w[0], -a * n0 / n1 * w[1]])
            s = target * np.linalg.norm(orth) / math.sqrt(1 - target**2)
            g["m"] = orth + s * w / np.linalg.norm(w)
        elif kind == "none":
            g["m"] = w + 0.1 * g["m"]
        return g

    return grad_fn


# The matrix leaf is 2 x 4: channel threshold 0.1 / sqrt(4) = 0.05, layer 0.1 / sqrt(8) ~ 0.0354.
@pytest.mark.parametrize(
    "kind, expected",
    [
        ("channel", "channel"),
        ("layer", "layer"),
        ("layer_cos=0.03", "layer"),
        ("layer_cos=0.04", "none"),
        ("none", "none"),
    ],
)
@pytest.mark.parametrize("nesterov", [False, True])
def test_adamp_reference_steps(kind, expected, nesterov):
    params = _params0()
    hp = dict(lr=0.01, b1=0.9, b2=0.999, eps=1e-8, wd=0.05, delta=0.1, wd_ratio=0.1)
    grad_fn = _adamp_grad_fn(kind)
    ref, fired = ref_adamp(params, grad_fn, N_STEPS, nesterov=nesterov, **hp)
    # The constructed gradients make the intended branch fire (vector leaves never project).
    assert all(f["m"] == expected and f["v"] == "none" for f in fired)
    opt = po.adamp(
        hp["lr"], b1=hp["b1"], b2=hp["b2"], eps=hp["eps"], weight_decay=hp["wd"],
        delta=hp["delta"], wd_ratio=hp["wd_ratio"], nesterov=nesterov,
    )
    assert_updates_close(run_library(opt, params, grad_fn), ref)


def test_adamp_channel_projection_is_orthogonal_to_weight_rows():
    # Without weight decay, a fired channel projection leaves no radial component per row
    # (up to the eps in w / (|w| + eps), a relative 2 eps / |w|).
    params = _params0()
    grad_fn = _adamp_grad_fn("channel")
    lib = run_library(po.adamp(0.01), params, grad_fn, n=1)
    w = params["m"]
    for i in range(w.shape[0]):
        u = lib[0]["m"][i]
        assert abs(np.dot(u, w[i])) < 1e-7 * np.linalg.norm(u) * np.linalg.norm(w[i])


def test_adamp_channel_axis_last_matches_transposed_layout():
    params = _params0()
    grad_fn = _adamp_grad_fn("channel")

    def transposed(t, p):
        g = grad_fn(t, {"v": p["v"], "m": p["m"].T})
        return {"v": g["v"], "m": g["m"].T}

    params_t = {"v": params["v"], "m": params["m"].T}
    a = run_library(po.adamp(0.01, weight_decay=0.1), params, grad_fn)
    b = run_library(po.adamp(0.01, weight_decay=0.1, channel_axis=-1), params_t, transposed)
    for ua, ub in zip(a, b):
        np.testing.assert_allclose(ub["m"].T, ua["m"], rtol=1e-10, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# AdaBound / AMSBound
# ---------------------------------------------------------------------------------------------


def ref_adabound(params, grads, lr_fn, final_lr, b1, b2, eps, gamma, ams):
    out = []
    alpha0 = lr_fn(0)
    m = {k: np.zeros_like(a) for k, a in params.items()}
    v = {k: np.zeros_like(a) for k, a in params.items()}
    v_max = {k: np.zeros_like(a) for k, a in params.items()}
    for t, g in enumerate(grads, start=1):
        alpha = lr_fn(t - 1)  # optax schedules see the count of previous updates
        f = final_lr * alpha / alpha0
        lower = f * (1 - 1 / (gamma * t + 1))
        upper = f * (1 + 1 / (gamma * t))
        u = {}
        for k in params:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            v_max[k] = np.maximum(v_max[k], v[k])
            m_hat = m[k] / (1 - b1**t)
            v_hat = (v_max[k] if ams else v[k]) / (1 - b2**t)
            u[k] = -np.clip(alpha / (np.sqrt(v_hat) + eps), lower, upper) * m_hat
        out.append(u)
    return out


def _bound_grads():
    # Large gradients first, then small: v decays, so the AMSBound maximum matters, and the
    # spread of magnitudes puts coordinates below, inside and above the bounds.
    g = _grad_sequence(seed=5)
    g[1] = {k: 1e-2 * a for k, a in g[1].items()}
    return g


@pytest.mark.parametrize("ams", [False, True])
@pytest.mark.parametrize("schedule", [False, True])
def test_adabound_reference_steps(ams, schedule):
    params, grads = _params0(), _bound_grads()
    hp = dict(final_lr=0.5, b1=0.9, b2=0.999, eps=1e-8, gamma=0.5)  # large gamma: bounds bind
    if schedule:
        lr = optax.linear_schedule(0.2, 0.05, transition_steps=2)
        lr_fn = lambda c: float(lr(c))  # noqa: E731
    else:
        lr, lr_fn = 0.2, (lambda c: 0.2)
    factory = po.amsbound if ams else po.adabound
    lib = run_library(factory(lr, **hp), params, lambda t, p: grads[t])
    ref = ref_adabound(params, grads, lr_fn, ams=ams, **hp)
    assert_updates_close(lib, ref)
    # The test is only meaningful if the clip is active somewhere, from both sides.
    m1 = grads[0]  # m_hat at t = 1 equals g_1
    ratio = np.concatenate([(-ref[0][k] / m1[k]).ravel() for k in m1])
    raw = np.concatenate([(0.2 / (np.abs(grads[0][k]) + hp["eps"])).ravel() for k in m1])
    f = hp["final_lr"]
    assert np.any(raw < f * (1 - 1 / 1.5)) and np.any(raw > f * 3)
    assert np.all(ratio >= f * (1 - 1 / 1.5) - 1e-12) and np.all(ratio <= f * 3 + 1e-12)


def test_adabound_zero_initial_learning_rate_needs_base_lr():
    sched = optax.linear_schedule(0.0, 1e-2, 10)
    with pytest.raises(ValueError, match="base_lr"):
        po.adabound(sched)
    po.adabound(sched, base_lr=1e-2)


# ---------------------------------------------------------------------------------------------
# AdaMod
# ---------------------------------------------------------------------------------------------


def ref_adamod(params, grads, lr_fn, b1, b2, b3, eps, fold_lr):
    """Paper form (lr inside eta) when ``fold_lr`` is False, the documented schedule form else."""
    out = []
    m = {k: np.zeros_like(a) for k, a in params.items()}
    v = {k: np.zeros_like(a) for k, a in params.items()}
    s = {k: np.zeros_like(a) for k, a in params.items()}
    for t, g in enumerate(grads, start=1):
        alpha = lr_fn(t - 1)
        u = {}
        for k in params:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            m_hat = m[k] / (1 - b1**t)
            v_hat = v[k] / (1 - b2**t)
            if fold_lr:
                eta = 1 / (np.sqrt(v_hat) + eps)
                s[k] = b3 * s[k] + (1 - b3) * eta
                u[k] = -alpha * np.minimum(eta, s[k]) * m_hat
            else:
                eta = alpha / (np.sqrt(v_hat) + eps)
                s[k] = b3 * s[k] + (1 - b3) * eta
                u[k] = -np.minimum(eta, s[k]) * m_hat
        out.append(u)
    return out


@pytest.mark.parametrize("schedule", [False, True])
def test_adamod_reference_steps(schedule):
    params, grads = _params0(), _bound_grads()
    hp = dict(b1=0.9, b2=0.999, b3=0.6, eps=1e-8)  # small b3 so that both min branches occur
    if schedule:
        lr = optax.linear_schedule(0.1, 0.02, transition_steps=2)
        lr_fn = lambda c: float(lr(c))  # noqa: E731
    else:
        lr, lr_fn = 0.1, (lambda c: 0.1)
    lib = run_library(po.adamod(lr, **hp), params, lambda t, p: grads[t])
    assert_updates_close(lib, ref_adamod(params, grads, lr_fn, fold_lr=schedule, **hp))


def test_adamod_beta3_zero_is_adam():
    params, grads = _params0(), _grad_sequence()
    a = run_library(po.adamod(0.01, b3=0.0), params, lambda t, p: grads[t])
    b = run_library(optax.adam(0.01), params, lambda t, p: grads[t])
    assert_updates_close(a, b)


# ---------------------------------------------------------------------------------------------
# AdaHessian
# ---------------------------------------------------------------------------------------------

HESS_SHAPES = {"v": (3,), "m": (2, 4), "k": (2, 3, 2, 3)}  # "k": a 2-D conv kernel (out, in, h, w)


def _separable_quadratic(seed=7):
    """f(p) = sum 0.5 h p^2 + b p with a diagonal Hessian h (of both signs): D = h exactly."""
    rng = np.random.default_rng(seed)
    h = {k: rng.uniform(0.5, 4.0, s) * rng.choice([-1.0, 1.0], s) for k, s in HESS_SHAPES.items()}
    b = {k: rng.standard_normal(s) for k, s in HESS_SHAPES.items()}

    def value_fn(p):
        return sum(jnp.sum(0.5 * h[k] * p[k] ** 2 + b[k] * p[k]) for k in HESS_SHAPES)

    def grad_fn(t, p):
        return {k: h[k] * p[k] + b[k] for k in HESS_SHAPES}

    return h, value_fn, grad_fn


def ref_adahessian(params, h, grad_fn, n, lr, b1, b2, eps, k_pow, wd, spatial):
    d = {}
    for k, hk in h.items():
        if spatial and hk.ndim >= 3:
            d[k] = np.broadcast_to(np.mean(np.abs(hk), axis=(2, 3), keepdims=True), hk.shape)
        else:
            d[k] = hk
    out = []
    p = {k: a.copy() for k, a in params.items()}
    m = {k: np.zeros_like(a) for k, a in params.items()}
    v = {k: np.zeros_like(a) for k, a in params.items()}
    for t in range(1, n + 1):
        g = grad_fn(t - 1, p)
        u = {}
        for k in p:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * d[k] ** 2
            denom = np.sqrt(v[k] / (1 - b2**t)) ** k_pow + eps
            u[k] = -lr * (m[k] / (1 - b1**t) / denom + wd * p[k])
            p[k] = p[k] + u[k]
        out.append(u)
    return out


@pytest.mark.parametrize(
    "k_pow, wd, spatial", [(1.0, 0.0, True), (0.5, 0.01, True), (1.0, 0.0, False)]
)
def test_adahessian_reference_steps(k_pow, wd, spatial):
    h, value_fn, grad_fn = _separable_quadratic()
    params = _params0(shapes=HESS_SHAPES)
    hp = dict(lr=0.15, b1=0.9, b2=0.999, eps=1e-4)
    opt = po.adahessian(
        hp["lr"], b1=hp["b1"], b2=hp["b2"], eps=hp["eps"], weight_decay=wd,
        hessian_power=k_pow, spatial_averaging=spatial,
    )
    lib = run_library(opt, params, grad_fn, value_fn=value_fn)
    ref = ref_adahessian(params, h, grad_fn, N_STEPS, k_pow=k_pow, wd=wd, spatial=spatial, **hp)
    assert_updates_close(lib, ref)


def test_hutchinson_diagonal_is_unbiased_for_dense_hessian():
    rng = np.random.default_rng(11)
    a = rng.standard_normal((4, 4))
    hess = a @ a.T + np.diag([1.0, 2.0, 3.0, 4.0])

    def value_fn(p):
        return 0.5 * p["x"] @ (jnp.asarray(hess) @ p["x"])

    params = {"x": jnp.asarray(rng.standard_normal(4))}
    n = 4000
    keys = jax.random.split(jax.random.PRNGKey(0), n)
    samples = jax.vmap(lambda key: po.hutchinson_diagonal(value_fn, params, key)["x"])(keys)
    samples = np.asarray(samples)
    # Each sample is diag(H) + sum_{j != i} H_ij z_i z_j: mean diag(H), variance sum H_ij^2.
    std_of_mean = np.sqrt((np.sum(hess**2, axis=1) - np.diag(hess) ** 2) / n)
    assert np.all(np.abs(samples.mean(axis=0) - np.diag(hess)) < 5 * std_of_mean)
    # Every sample is exact on the diagonal part: D - diag(H) only comes from off-diagonals.
    assert np.all(np.abs(samples - np.diag(hess)) <= np.sum(np.abs(hess), axis=1) + 1e-9)


# ---------------------------------------------------------------------------------------------
# EXAdam
# ---------------------------------------------------------------------------------------------


def ref_exadam(params, grads, lr, b1, b2, eps, wd):
    out = []
    p = {k: a.copy() for k, a in params.items()}
    m = {k: np.zeros_like(a) for k, a in params.items()}
    v = {k: np.zeros_like(a) for k, a in params.items()}
    for t, g in enumerate(grads, start=1):
        u = {}
        for k in p:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            d1 = 1 + v[k] / (v[k] + eps) * b2**t
            d2 = 1 + m[k] ** 2 / (m[k] ** 2 + eps) * b1**t
            m_tilde = m[k] / (1 - b1**t) * d1
            v_tilde = v[k] / (1 - b2**t) * d2
            g_tilde = g[k] / (1 - b1**t) * d1
            u[k] = -lr * ((m_tilde + g_tilde) / (np.sqrt(v_tilde) + eps) + wd * p[k])
            p[k] = p[k] + u[k]
        out.append(u)
    return out


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_exadam_reference_steps(wd):
    params, grads = _params0(), _grad_sequence()
    # eps comparable to some g^2 so that the d1, d2 factors are not all saturated.
    hp = dict(lr=0.01, b1=0.9, b2=0.999, eps=1e-5)
    lib = run_library(
        po.exadam(hp["lr"], b1=hp["b1"], b2=hp["b2"], eps=hp["eps"], weight_decay=wd),
        params,
        lambda t, p: grads[t],
    )
    assert_updates_close(lib, ref_exadam(params, grads, wd=wd, **hp))


def test_exadam_first_step_closed_form():
    # t = 1, eps -> 0: m~ = (1 + b2) g, v~ = (1 + b1) g^2, g~ = (1 + b2) g / (1 - b1), so the
    # step is lr (1 + b2)(1 + 1/(1 - b1)) / sqrt(1 + b1) * sign(g)  (about 15.95 lr).
    b1, b2, lr = 0.9, 0.999, 1e-3
    g = np.array([2.0, -0.5, 30.0])
    lib = run_library(po.exadam(lr, eps=1e-30), {"x": np.zeros(3)}, lambda t, p: {"x": g}, n=1)
    factor = (1 + b2) * (1 + 1 / (1 - b1)) / math.sqrt(1 + b1)
    np.testing.assert_allclose(lib[0]["x"], -lr * factor * np.sign(g), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# MARS
# ---------------------------------------------------------------------------------------------


def ref_mars(params, grads, lr, b1, b2, eps, wd, gamma):
    out = []
    p = {k: a.copy() for k, a in params.items()}
    m = {k: np.zeros_like(a) for k, a in params.items()}
    v = {k: np.zeros_like(a) for k, a in params.items()}
    g_prev = {k: np.zeros_like(a) for k, a in params.items()}
    norms = []
    for t, g in enumerate(grads, start=1):
        u, cl = {}, {}
        for k in p:
            c = g[k] + gamma * b1 / (1 - b1) * (g[k] - g_prev[k])
            norm = np.linalg.norm(c)  # per leaf (per parameter tensor)
            cl[k] = float(norm)
            if norm > 1:
                c = c / norm
            m[k] = b1 * m[k] + (1 - b1) * c
            v[k] = b2 * v[k] + (1 - b2) * c**2
            m_hat = m[k] / (1 - b1**t)
            v_hat = v[k] / (1 - b2**t)
            u[k] = -lr * (m_hat / (np.sqrt(v_hat) + eps) + wd * p[k])
            p[k] = p[k] + u[k]
            g_prev[k] = g[k]
        out.append(u)
        norms.append(cl)
    return out, norms


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_mars_reference_steps(wd):
    params = _params0()
    grads = _grad_sequence(seed=9)
    # Leaf "v": choose |c_t| = 0.5 (not clipped), 1.5 (just above the threshold), 3, by
    # solving c_t = (1 + k) g_t - k g_{t-1} for g_t.
    k = 0.025 * 0.95 / 0.05
    g_prev = np.zeros(SHAPES["v"])
    for t, target in enumerate([0.5, 1.5, 3.0]):
        direction = grads[t]["v"] / np.linalg.norm(grads[t]["v"])
        grads[t]["v"] = (target * direction + k * g_prev) / (1 + k)
        g_prev = grads[t]["v"]
    hp = dict(lr=3e-3, b1=0.95, b2=0.99, eps=1e-8, gamma=0.025)
    lib = run_library(
        po.mars(hp["lr"], b1=hp["b1"], b2=hp["b2"], eps=hp["eps"], weight_decay=wd,
                gamma=hp["gamma"]),
        params,
        lambda t, p: grads[t],
    )
    ref, norms = ref_mars(params, grads, wd=wd, **hp)
    np.testing.assert_allclose([n["v"] for n in norms], [0.5, 1.5, 3.0], rtol=1e-12)
    assert_updates_close(lib, ref)


def test_mars_without_correction_and_clipping_is_adamw():
    params, grads = _params0(), _grad_sequence()
    a = run_library(
        po.mars(1e-2, b1=0.9, b2=0.999, gamma=0.0, max_norm=None, weight_decay=0.1),
        params,
        lambda t, p: grads[t],
    )
    b = run_library(
        optax.adamw(1e-2, b1=0.9, b2=0.999, weight_decay=0.1), params, lambda t, p: grads[t]
    )
    assert_updates_close(a, b)
