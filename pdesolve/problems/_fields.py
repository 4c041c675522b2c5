r"""Neural-field benchmark problems: a PDE on a box, its initial condition, reference and error.

A :class:`FieldProblem` declares everything a neural-field solver (``pdesolve.neural_fields``)
needs besides the method: the PDE as a :mod:`pdesolve.pdes` class with its coefficients, the
domain, the initial condition $u_0$ (a function of points), the reference solution (analytic, or
a spectral ETDRK4 solve), the default time step and final time, Dirichlet data, and the network
the problem is solved with (:class:`FieldNetwork`). Errors are relative $L^2$ errors on a
reference grid (:meth:`FieldProblem.reference`)::

    from pdesolve import problems

    problem = problems.get("teng-heat", problems.FieldProblem)
    points, weights = problem.collocation(32)                    # 32 x 32 periodic grid
    reference = problem.reference()                               # the 64 x 64 error grid
    reference.error(net, 0.0)                                     # any u(x) of one point

Registered problems:

- ``teng-heat``, ``teng-allen-cahn``, ``teng-burgers``: the TENG benchmarks (Chen et al.,
  ICML 2024, arXiv:2404.10771) on the periodic box $[0, 2\pi)^2$ to $T = 4$, from the paper's
  initial condition :class:`TENGInitialCondition`,
  $u_0(x, y) = \tfrac{1}{25}\cosh(3\sin x)\sinh(\sin y)$ (max $|u_0| \approx 0.4733$):

  - heat $u_t = 0.1\Delta u$, exact solution (each Fourier mode decays on its own);
  - Allen-Cahn $u_t = 0.005\Delta u + u - u^3$, reference :class:`pdesolve.pdes.AllenCahn` by
    ETDRK4 (1/2 dealiasing) on a $384^2$ grid, $\Delta t = 10^{-3}$ (a $256^2$ solve differs from
    it by $2.4\times 10^{-7}$ at $T = 4$; halving $\Delta t$ changes it by $2\times 10^{-14}$);
  - Burgers $u_t = -u(u_x + u_y) + 0.01\Delta u$, reference the vector
    :class:`pdesolve.pdes.Burgers` by ETDRK4 (2/3 dealiasing) on a $512^2$ grid from
    $(u_0, u_0)$, whose components stay equal and each solve the scalar equation.

  The spectral references are solved once and cached on disk (:func:`spectral_reference`).
  ``teng-heat-legacy``, ``teng-allen-cahn-legacy``, ``teng-burgers-legacy``: the same equations
  from :class:`LegacyTENGInitialCondition`, $u_0 = \tfrac12 f(x) f(y)$,
  $f(s) = \sin s + \tfrac12\cos 2s$ (the results recorded before the paper's formula was used).

- ``insr-advection``: $u_t + 0.25 u_x = 0$ on $[-2, 2]$ (INSR, Chen et al., ICML 2023), a
  Gaussian pulse $e^{-(x + 1.5 - 0.25 t)^2 / (2\cdot 0.1^2)}$ to $T = 12$ with the inflow value
  $u(-2) = 0$, scored against the translated pulse.
- ``insr-heat``: $u_t = 0.1\Delta u$ on $[0, 2\pi)^2$ from :class:`LegacyTENGInitialCondition`
  to $T = 1$, with a periodic SIREN.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InvalidInputError
from ..pdes import AbstractPDE, Advection, AllenCahn, Burgers, Heat
from ._registry import AbstractProblem, register

NETWORK_KINDS = ("teng", "periodic-mlp", "siren")


@dataclass(frozen=True)
class FieldNetwork:
    """The network a field problem is solved with (built by ``pdesolve.neural_fields.build_network``).

    **Arguments:**

    - `kind`: ``"teng"`` (the TENG network: periodic embedding, tanh, dense tanh layers),
      ``"periodic-mlp"`` (a tanh MLP fed the raw periodic embedding) or ``"siren"`` (the INSR
      network; periodic on a periodic domain).
    - `hidden`: widths of the hidden (dense) layers.
    - `omega0`: the SIREN frequency factor $\\omega_0$ (``"siren"`` only).
    """

    kind: str
    hidden: tuple[int, ...]
    omega0: float = 30.0

    def __post_init__(self):
        if self.kind not in NETWORK_KINDS:
            raise InvalidInputError(f"network kind must be one of {NETWORK_KINDS}, got {self.kind!r}")


@dataclass(frozen=True, kw_only=True)
class FieldProblem(AbstractProblem):
    r"""A neural-field benchmark: $\partial_t u = \mathcal{N}[u]$ on a box, from $u_0$ to ``final_time``.

    **Arguments:**

    - `name`, `description`: as for every registered problem.
    - `pde`: the :mod:`pdesolve.pdes` class of $\mathcal{N}$ (``Heat``, ``AllenCahn``,
      ``Burgers`` or ``Advection``); `coefficients` its keyword arguments (``diffusivity``,
      ``viscosity``, ``velocity``), so :meth:`pde_on` builds it on a grid.
    - `lower`, `upper`: the box; `periodic`: whether the field is periodic on it.
    - `initial_condition`: $u_0$ at points shaped ``(..., d)`` (or one point ``(d,)``).
    - `exact`: the exact solution ``exact(points, t, **coefficients)``, or ``None`` for a spectral
      ETDRK4 reference (periodic boxes only) with time step `reference_dt`; `spectral_options`
      are extra keyword arguments of the PDE for that solve (e.g. ``dealiasing_fraction``).
    - `spectral_resolution`: grid of the spectral reference solve (2D). The solution is
      Fourier-interpolated onto any error grid and cached on disk (``$PDESOLVE_CACHE``, default
      ``~/.cache/pdesolve``; see :func:`spectral_reference`). ``None``: solve on the error grid
      itself, in memory (the legacy problems' references).
    - `final_time`, `dt`: the benchmark's end time and time step.
    - `reference_resolution`: default points per axis of the error grid.
    - `boundary_points`, `boundary_values`: Dirichlet data held at every step (e.g. an inflow).
    - `network`: the :class:`FieldNetwork` the problem is solved with.
    """

    label: ClassVar[str] = "field"
    pde: type[AbstractPDE]
    coefficients: Mapping[str, float]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    periodic: bool
    initial_condition: Callable = field(repr=False)
    exact: Callable | None = field(default=None, repr=False)
    final_time: float
    dt: float
    reference_resolution: int
    reference_dt: float = 1e-3
    spectral_options: Mapping[str, float] = field(default_factory=dict)
    spectral_resolution: int | None = None
    boundary_points: tuple[tuple[float, ...], ...] = ()
    boundary_values: tuple[float, ...] = ()
    network: FieldNetwork

    def __post_init__(self):
        object.__setattr__(self, "coefficients", MappingProxyType(dict(self.coefficients)))
        object.__setattr__(self, "spectral_options", MappingProxyType(dict(self.spectral_options)))
        lower = tuple(float(v) for v in self.lower)
        upper = tuple(float(v) for v in self.upper)
        if not lower or len(lower) != len(upper) or any(not b > a for a, b in zip(lower, upper)):
            raise InvalidInputError(f"{self.name}: need lower < upper on every axis, got {self.lower}, {self.upper}")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        if self.exact is None and not self.periodic:
            raise InvalidInputError(f"{self.name}: a spectral reference needs a periodic box; give `exact`")
        if self.spectral_resolution is not None and (len(lower) != 2 or int(self.spectral_resolution) < 4):
            raise InvalidInputError(f"{self.name}: spectral_resolution needs a 2D box and >= 4 points, "
                                    f"got {self.spectral_resolution}")
        if len(self.boundary_points) != len(self.boundary_values):
            raise InvalidInputError(f"{self.name}: {len(self.boundary_points)} boundary points but "
                                    f"{len(self.boundary_values)} boundary values")

    @property
    def ndim(self) -> int:
        """Spatial dimension $d$."""
        return len(self.lower)

    @property
    def extent(self) -> tuple[float, ...]:
        """Side lengths of the box."""
        return tuple(b - a for a, b in zip(self.lower, self.upper))

    def pde_on(self, grid, **options) -> AbstractPDE:
        """The declared PDE with its coefficients on a :class:`~pdesolve.spatial.PeriodicGrid`."""
        return self.pde(grid, **self.coefficients, **options)

    def initial_values(self, points):
        """$u_0$ at ``points`` (``(..., d)``)."""
        return self.initial_condition(points)

    def exact_values(self, points, t: float):
        """The exact solution at ``points`` and time ``t`` (problems with ``exact`` only)."""
        if self.exact is None:
            raise InvalidInputError(f"{self.name} has no exact solution; use reference(...).values(t)")
        return self.exact(points, t, **self.coefficients)

    def collocation(self, n: int, dtype=jnp.float64):
        """The uniform periodic ``n``-per-axis grid on the box: points ``(n^d, d)`` and equal weights."""
        if len(set(self.extent)) != 1 or len(set(self.lower)) != 1:
            raise InvalidInputError(f"{self.name}: collocation grids need a cube box, got {self.lower}, {self.upper}")
        return grid_points(n, self.extent[0], ndim=self.ndim, lower=self.lower[0], dtype=dtype)

    def evaluation_points(self, n: int):
        """Points of the error grid: the periodic grid of :meth:`collocation`, or (non-periodic)
        ``n`` points per axis from `lower` to `upper` inclusive."""
        if int(n) < 2:
            raise InvalidInputError(f"resolution must be >= 2, got {n}")
        if self.periodic:
            return self.collocation(n)[0]
        axes = [jnp.linspace(a, b, int(n)) for a, b in zip(self.lower, self.upper)]
        return jnp.stack([g.ravel() for g in jnp.meshgrid(*axes, indexing="ij")], axis=1)

    def reference(self, resolution: int | None = None) -> FieldReference:
        """The reference solution on the ``resolution``-per-axis error grid (default
        `reference_resolution`), with its error measure."""
        return FieldReference(self, self.reference_resolution if resolution is None else int(resolution))


class FieldReference:
    r"""The reference solution of a :class:`FieldProblem` on its error grid, and the error measure.

    ``values(t)`` is the reference at the grid points (exact, or a spectral solve cached per
    time); ``error(u, t)`` is the relative $L^2$ error $\|u - u_{ref}\|_2 / \|u_{ref}\|_2$ over
    the grid of any field ``u`` (a callable of one point, e.g. a network).
    """

    def __init__(self, problem: FieldProblem, resolution: int):
        self.problem = problem
        self.resolution = int(resolution)
        self.points = problem.evaluation_points(self.resolution)
        self._cache: dict[float, np.ndarray] = {}

    def values(self, t: float) -> np.ndarray:
        """Reference values at :attr:`points` and time ``t``, shaped ``(N,)``."""
        t = float(t)
        if self.problem.exact is not None:
            return np.asarray(self.problem.exact_values(self.points, t))
        key = round(t, 10)
        if key not in self._cache:
            if self.problem.spectral_resolution is None:
                self._cache[key] = self._spectral(t)
            else:
                fine = spectral_reference(self.problem, t)
                self._cache[key] = fourier_resample(fine, self.resolution).ravel()
        return self._cache[key]

    def _spectral(self, t: float) -> np.ndarray:
        """ETDRK4 on the error grid; a scalar field is evolved as ``num_channels`` equal components."""
        from ..integrators import advance, etdrk

        problem = self.problem
        u0, pde = _spectral_start(problem, self.resolution)
        steps = int(round(t / problem.reference_dt))
        if steps == 0:
            return np.asarray(u0[0]).ravel()
        u = advance(etdrk(pde, t / steps, 4), u0, steps)
        return np.asarray(u[0]).ravel()

    def error(self, u: Callable, t: float) -> float:
        """Relative $L^2$ error of the field ``u`` (one point -> value) at time ``t``."""
        ref = self.values(t)
        values = np.asarray(jax.jit(jax.vmap(u))(self.points))
        return float(np.linalg.norm(values - ref) / np.linalg.norm(ref))


def _spectral_start(problem: FieldProblem, resolution: int, **options):
    """The initial state (``num_channels`` equal copies of $u_0$) and the PDE on a ``resolution`` grid."""
    from ..spatial import PeriodicGrid

    grid = PeriodicGrid(int(resolution), extent=problem.extent[0], ndim=problem.ndim, dtype=jnp.float64)
    pde = problem.pde_on(grid, **{**problem.spectral_options, **options})
    coordinates = jnp.moveaxis(grid.coordinates(), 0, -1)
    if any(problem.lower):
        coordinates = coordinates + jnp.asarray(problem.lower, coordinates.dtype)
    u0 = problem.initial_values(coordinates)[None]
    return jnp.concatenate([u0] * pde.num_channels), pde


#: In-memory spectral states per (problem, resolution, dt): {time: state}, to advance from.
_STATES: dict[tuple, dict[float, object]] = {}


def spectral_reference(problem: FieldProblem, t: float, resolution: int | None = None, dt: float | None = None,
                       *, use_cache: bool = True) -> np.ndarray:
    r"""The ETDRK4 solution of a periodic 2D :class:`FieldProblem` at time ``t`` on a
    ``resolution``-per-axis grid (default its `spectral_resolution`), shaped ``(n, n)`` ``[i, j]``
    at $x_i = \text{lower} + iL/n$, $y_j$ alike.

    Time step ``dt`` (default `reference_dt`; ``t`` must be a multiple of it). Each solve starts
    from the latest state at an earlier time already computed in this process, and every field is
    cached on disk (:mod:`._cache`: ``$PDESOLVE_CACHE``, default ``~/.cache/pdesolve``) keyed by
    problem, resolution, ``dt`` and ``t``; a corrupt file is recomputed.
    """
    from ..integrators import advance, etdrk
    from . import _cache

    n = int(problem.spectral_resolution if resolution is None else resolution)
    dt = float(problem.reference_dt if dt is None else dt)
    t = float(t)
    steps = int(round(t / dt))
    if problem.exact is not None or problem.ndim != 2 or not problem.periodic:
        raise InvalidInputError(f"{problem.name}: spectral references are for periodic 2D problems without `exact`")
    if steps < 0 or abs(steps * dt - t) > 1e-9 * max(1.0, t):
        raise InvalidInputError(f"t must be a non-negative multiple of dt = {dt}, got {t}")
    if use_cache:
        cached = _cache.load(problem.name, n, dt, t, (n, n))
        if cached is not None:
            return cached
    states = _STATES.setdefault((problem.name, n, dt, tuple(sorted(problem.spectral_options.items()))), {})
    start = max((s for s in states if s <= steps), default=None)
    if start is None:
        start, state = 0, _spectral_start(problem, n)[0]
        states[0] = state
    else:
        state = states[start]
    pde = _spectral_start(problem, n)[1]
    if steps > start:
        state = advance(etdrk(pde, dt, 4), state, steps - start)
        states[steps] = state
    field = np.asarray(state[0], np.float64)
    if use_cache:
        _cache.save(problem.name, n, dt, t, field)
    return field


def fourier_resample(field: np.ndarray, n: int) -> np.ndarray:
    r"""The trigonometric interpolant of a periodic ``(m, m)`` grid field, sampled on the ``(n, n)``
    grid of the same box (exact for band-limited fields; the Nyquist mode is taken as a cosine)."""
    field = np.asarray(field, np.float64)
    m = field.shape[0]
    if int(n) == m:
        return field
    coefficients = np.fft.fft2(field) / m**2
    k = np.fft.fftfreq(m, 1.0 / m)
    x = 2 * np.pi * np.arange(int(n)) / int(n)
    basis = np.exp(1j * np.outer(x, k))
    if m % 2 == 0:
        basis[:, m // 2] = np.cos(m // 2 * x)
    return np.real(basis @ coefficients @ basis.T)


def grid_points(n: int, extent: float = 2 * math.pi, *, ndim: int = 2, lower: float = 0.0, dtype=jnp.float64):
    r"""The uniform periodic grid $x_i = \text{lower} + i L / n$ on a cube as points ``(n^d, d)``
    (``"ij"`` order, first axis slowest) and equal quadrature weights $(L/n)^d$."""
    if int(n) < 2:
        raise InvalidInputError(f"grid size must be >= 2, got {n}")
    axis = jnp.arange(n, dtype=dtype) * (extent / n)
    if lower:
        axis = lower + axis
    mesh = jnp.meshgrid(*([axis] * int(ndim)), indexing="ij")
    points = jnp.stack([m.ravel() for m in mesh], axis=1)
    weights = jnp.full((n**ndim,), (extent / n) ** ndim, dtype)
    return points, weights


class AbstractSeparableInitialCondition(abc.ABC):
    r"""$u_0(x, y) = A\,X(x)\,Y(y)$ on $[0, 2\pi)^2$ with each factor a Fourier series
    $X(s) = \sum_k a_k \cos ks + b_k \sin ks$, so the heat equation $u_t = \nu\Delta u$ is solved
    mode by mode: $u(t) = A\,X(\cdot, t)\,Y(\cdot, t)$ with coefficients damped by $e^{-\nu k^2 t}$.

    Subclasses give :meth:`__call__` (the closed form) and :meth:`fourier_factors`.
    """

    @abc.abstractmethod
    def __call__(self, points):
        """$u_0$ at points shaped ``(..., 2)`` (or one point ``(2,)``)."""

    @abc.abstractmethod
    def fourier_factors(self) -> tuple[float, np.ndarray, np.ndarray]:
        r"""``(A, X, Y)``: the amplitude and each factor's coefficients, shaped ``(K, 2)``
        (row $k$ holds $(a_k, b_k)$ of $\cos ks$, $\sin ks$)."""

    def heat_solution(self, points, t, diffusivity):
        r"""The exact solution of $u_t = \nu\Delta u$ from this $u_0$, at ``points`` and time ``t``."""
        amplitude, fx, fy = self.fourier_factors()
        points = jnp.asarray(points)

        def factor(coefficients, s):
            k = jnp.arange(coefficients.shape[0], dtype=s.dtype)
            damp = jnp.exp(-diffusivity * k**2 * t)
            phase = s[..., None] * k
            c = jnp.asarray(coefficients, s.dtype)
            return jnp.sum(damp * (c[:, 0] * jnp.cos(phase) + c[:, 1] * jnp.sin(phase)), axis=-1)

        return amplitude * factor(fx, points[..., 0]) * factor(fy, points[..., 1])


def _bessel_i(n: int, z: float, terms: int = 40) -> float:
    r"""The modified Bessel function $I_n(z) = \sum_m (z/2)^{2m+n} / (m!\,(m+n)!)$."""
    return math.fsum((z / 2) ** (2 * m + n) / (math.factorial(m) * math.factorial(m + n)) for m in range(terms))


@dataclass(frozen=True)
class TENGInitialCondition(AbstractSeparableInitialCondition):
    r"""The initial condition of the TENG benchmarks (Chen et al., ICML 2024, arXiv:2404.10771):

    $$ u_0(x, y) = \tfrac{1}{25}\cosh(3\sin x)\,\sinh(\sin y), $$

    rank 1, even Fourier modes in $x$ and odd modes in $y$, maximum
    $\tfrac{1}{25}\cosh 3\,\sinh 1 \approx 0.4733$ at $(\pi/2, \pi/2)$. Its Fourier factors
    follow from $\cosh(z\sin s) = I_0(z) + 2\sum_{k \ge 1}(-1)^k I_{2k}(z)\cos 2ks$ and
    $\sinh(z\sin s) = 2\sum_{k \ge 0}(-1)^k I_{2k+1}(z)\sin(2k+1)s$ (kept to wavenumber 40,
    where the coefficients are below $10^{-40}$).
    """

    def __call__(self, points):
        points = jnp.asarray(points)
        return jnp.cosh(3 * jnp.sin(points[..., 0])) * jnp.sinh(jnp.sin(points[..., 1])) / 25

    def fourier_factors(self):
        size = 41
        fx, fy = np.zeros((size, 2)), np.zeros((size, 2))
        fx[0, 0] = _bessel_i(0, 3.0)
        for k in range(1, size // 2 + 1):
            fx[2 * k, 0] = 2 * (-1) ** k * _bessel_i(2 * k, 3.0)
        for k in range(size // 2):
            fy[2 * k + 1, 1] = 2 * (-1) ** k * _bessel_i(2 * k + 1, 1.0)
        return 1 / 25, fx, fy


@dataclass(frozen=True)
class LegacyTENGInitialCondition(AbstractSeparableInitialCondition):
    r"""$u_0(x, y) = \tfrac12 f(x) f(y)$, $f(s) = \sin s + \tfrac12\cos 2s$: the initial condition of
    the ``*-legacy`` TENG problems and of ``insr-heat`` (a smooth separable choice of ours, used
    before the paper's formula, :class:`TENGInitialCondition`)."""

    def __call__(self, points):
        points = jnp.asarray(points)

        def f(s):
            return jnp.sin(s) + 0.5 * jnp.cos(2 * s)

        return 0.5 * f(points[..., 0]) * f(points[..., 1])

    def fourier_factors(self):
        factor = np.array([[0.0, 0.0], [0.0, 1.0], [0.5, 0.0]])
        return 0.5, factor, factor


def _pulse(x, t, velocity=0.25, center=-1.5, width=0.1):
    return jnp.exp(-((x - center - velocity * t) ** 2) / (2 * width**2))


def _pulse_initial_condition(points):
    return _pulse(points[..., 0], 0.0)


def _pulse_exact(points, t, velocity):
    return _pulse(points[..., 0], t, velocity)


_BOX = dict(lower=(0.0, 0.0), upper=(2 * math.pi, 2 * math.pi), periodic=True)


def _teng_problems(suffix: str, initial_condition: AbstractSeparableInitialCondition, note: str, dt: float,
                   network: FieldNetwork, spectral: tuple[int | None, int | None]):
    """The three TENG problems from ``initial_condition`` (names ``teng-<pde><suffix>``)."""
    common = dict(_BOX, initial_condition=initial_condition, final_time=4.0, dt=dt, network=network)
    return (
        FieldProblem(name=f"teng-heat{suffix}", description=f"TENG heat u_t = 0.1 Δu on [0, 2pi)^2 to T = 4{note} "
                     "(exact reference)", pde=Heat, coefficients={"diffusivity": 0.1},
                     exact=initial_condition.heat_solution, reference_resolution=64, **common),
        FieldProblem(name=f"teng-allen-cahn{suffix}",
                     description=f"TENG Allen-Cahn u_t = 0.005 Δu + u - u^3 on [0, 2pi)^2 to T = 4{note} "
                     "(spectral reference)", pde=AllenCahn, coefficients={"diffusivity": 0.005},
                     spectral_options={"dealiasing_fraction": 1 / 2}, reference_resolution=256,
                     spectral_resolution=spectral[0], **common),
        FieldProblem(name=f"teng-burgers{suffix}",
                     description=f"TENG Burgers u_t = -u (u_x + u_y) + 0.01 Δu on [0, 2pi)^2 to T = 4{note} "
                     "(spectral reference)", pde=Burgers, coefficients={"viscosity": 0.01},
                     reference_resolution=256, spectral_resolution=spectral[1], **common),
    )


_LEGACY = LegacyTENGInitialCondition()

for _problem in (
    *_teng_problems("", TENGInitialCondition(), "", 0.005, FieldNetwork("teng", (40,) * 5), (384, 512)),
    *_teng_problems("-legacy", _LEGACY, ", legacy initial condition 1/2 f(x) f(y)", 0.01,
                    FieldNetwork("periodic-mlp", (20, 20, 20)), (None, None)),
    FieldProblem(name="insr-advection",
                 description="INSR advection u_t + 0.25 u_x = 0 of a Gaussian pulse on [-2, 2] to T = 12, inflow u(-2) = 0",
                 pde=Advection, coefficients={"velocity": 0.25}, lower=(-2.0,), upper=(2.0,), periodic=False,
                 initial_condition=_pulse_initial_condition, exact=_pulse_exact, final_time=12.0, dt=0.05,
                 reference_resolution=801, boundary_points=((-2.0,),), boundary_values=(0.0,),
                 network=FieldNetwork("siren", (20, 20), omega0=30.0)),
    FieldProblem(name="insr-heat", description="INSR heat u_t = 0.1 Δu on [0, 2pi)^2 to T = 1, periodic SIREN",
                 pde=Heat, coefficients={"diffusivity": 0.1}, **_BOX, initial_condition=_LEGACY,
                 exact=_LEGACY.heat_solution, final_time=1.0, dt=0.05, reference_resolution=48,
                 network=FieldNetwork("siren", (32, 32), omega0=5.0)),
):
    register(_problem)
