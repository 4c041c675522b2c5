r"""``pdesolve demo``: the whole stack in one short run, written to ``runs/demo/``.

:func:`run_demo` runs the parts of :data:`PARTS` in order, each into its own folder with a
``record.json`` whose ``kind`` says what it is:

1. ``reference`` (solve): 2D heat and Kolmogorov-forced Navier-Stokes, with figures.
2. ``verify`` (verification): the analytic verification table.
3. ``dataset`` (dataset): an ``ns-kolmogorov`` HDF5 file, validated as ``pdesolve datasets info`` does.
4. ``operator`` (training): an FNO trained on it; test error against persistence, inference
   time against the solver making the same frames.
5. ``neural_solver`` (solve): TENG on ``teng-heat`` against the exact solution.
6. ``inverse`` (inverse): the viscosity of a Navier-Stokes run recovered from a few snapshots by
   Levenberg-Marquardt through the ETDRK4 rollout (:func:`recover_viscosity`), its gradient
   checked against a finite difference.
7. ``constraint`` (constraint): the mass-conserving FNO next to the plain one.
8. ``report`` (report): ``index.html`` rendered by :mod:`pdesolve.report`.

Every record has ``kind``, ``title``, ``status`` (``ok``, ``failed``, ``skipped``), ``wall_s``,
``summary`` (the part's line; ``error`` instead when it did not succeed), ``figures`` (PNG
paths) and ``paths``, and its curves as lists under these names: ``reference`` ``times`` /
``enstrophy``; ``operator`` ``steps`` / ``loss`` (per epoch) and ``val_steps`` /
``val_rollout_rel_l2``; ``neural_solver`` ``times`` / ``errors``; ``inverse`` ``steps`` /
``loss`` and ``values`` (the viscosity iterates); ``constraint`` ``steps`` /
``mass_drift_unconstrained`` and ``mass_drift_constrained``. ``verify`` has ``cases`` (the rows
of ``pdesolve verify --json``).

:class:`DemoConfig` holds the sizes (:meth:`DemoConfig.full`, :meth:`DemoConfig.quick`).
"""

from ._config import DemoConfig as DemoConfig
from ._inverse import ViscosityFit as ViscosityFit
from ._inverse import recover_viscosity as recover_viscosity
from ._inverse import snapshot_model as snapshot_model
from ._parts import PartContext as PartContext
from ._parts import PartFailure as PartFailure
from ._run import KINDS as KINDS
from ._run import PARTS as PARTS
from ._run import DemoPart as DemoPart
from ._run import print_line as print_line
from ._run import run_demo as run_demo

__all__ = [
    "KINDS",
    "PARTS",
    "DemoConfig",
    "DemoPart",
    "PartContext",
    "PartFailure",
    "ViscosityFit",
    "print_line",
    "recover_viscosity",
    "run_demo",
    "snapshot_model",
]
