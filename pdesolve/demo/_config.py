"""The sizes of the demo's parts: :meth:`DemoConfig.full` (``pdesolve demo``) and :meth:`DemoConfig.quick` (tests)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DemoConfig:
    r"""Problem sizes and budgets of every part of the demo.

    **Attributes:**

    - `heat_resolution`, `heat_steps`: 2D heat, grid points per axis and ETDRK4 steps of
      $\Delta t = 0.05$.
    - `ns_resolution`, `ns_time`: Kolmogorov Navier-Stokes grid and final time (float32,
      $\Delta t = 0.5/N$).
    - `verify_cases`: names of :data:`pdesolve.verification.CASES` (``None``: all).
    - `dataset_samples`, `dataset_resolution`, `dataset_time`, `dataset_dt_save`: the
      ``ns-kolmogorov`` dataset (solved on a 64 x 64 grid and spectrally truncated).
    - `fno_width`, `fno_modes`, `fno_epochs`, `fno_batch_size`: the neural operator and its training.
    - `teng_steps`, `teng_collocation`, `teng_subset`: TENG on ``teng-heat`` with the shipped
      initial fit of ``teng_config("cpu")``: time steps, collocation points per axis and
      parameters per inner projection.
    - `inverse_resolution`, `inverse_steps`, `inverse_observations`, `inverse_lm_steps`: the
      viscosity-recovery problem: grid, ETDRK4 steps, observed snapshots, Levenberg-Marquardt steps.
    - `constraint_samples`, `constraint_resolution`, `constraint_epochs`: the mass-conserving
      FNO on ``heat1d`` data.
    """

    heat_resolution: int = 128
    heat_steps: int = 40
    ns_resolution: int = 128
    ns_time: float = 30.0
    verify_cases: tuple[str, ...] | None = None
    dataset_samples: int = 40
    dataset_resolution: int = 32
    dataset_time: float = 5.0
    dataset_dt_save: float = 0.25
    fno_width: int = 20
    fno_modes: int = 12
    fno_epochs: int = 100
    fno_batch_size: int = 8
    teng_steps: int = 4
    teng_collocation: int = 24
    teng_subset: int | None = 200
    inverse_resolution: int = 32
    inverse_steps: int = 40
    inverse_observations: int = 4
    inverse_lm_steps: int = 12
    constraint_samples: int = 160
    constraint_resolution: int = 64
    constraint_epochs: int = 25
    seed: int = 0
    name: str = field(default="full")

    @classmethod
    def full(cls, ns_resolution: int = 128, ns_time: float = 30.0) -> DemoConfig:
        """The sizes of ``pdesolve demo`` (about five minutes on two CPU cores)."""
        return cls(ns_resolution=ns_resolution, ns_time=ns_time)

    @classmethod
    def quick(cls) -> DemoConfig:
        """Toy sizes of every part (``pdesolve demo --quick``, used by the tests)."""
        return cls(
            heat_resolution=32, heat_steps=4, ns_resolution=32, ns_time=1.0,
            verify_cases=("periodic_heat_fourier_modes",),
            dataset_samples=10, dataset_resolution=16, dataset_time=1.0, dataset_dt_save=0.25,
            fno_width=8, fno_modes=4, fno_epochs=2, fno_batch_size=4,
            teng_steps=1, teng_collocation=12, teng_subset=60,
            inverse_resolution=16, inverse_steps=10, inverse_observations=2, inverse_lm_steps=10,
            constraint_samples=20, constraint_resolution=32, constraint_epochs=2,
            name="quick",
        )
