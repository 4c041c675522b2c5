"""pdesolve: differentiable PDE solvers on JAX.

Sub-packages, bottom layer first (each imports only the packages listed before it):

- :mod:`pdesolve.spatial`: periodic grids, spectral operators, finite differences.
- :mod:`pdesolve.pdes`: PDE definitions and analytic solutions.
- :mod:`pdesolve.integrators`: ETDRK, IMEX, explicit RK, Diffrax method of lines, rollouts.
- :mod:`pdesolve.linalg`: the dense least-squares solves and Jacobians shared by the packages below.
- :mod:`pdesolve.optim`: optax-compatible optimizers, Gauss-Newton, natural gradients.
- :mod:`pdesolve.problems`: the one registry of named problems (reference, dataset, benchmark).
- :mod:`pdesolve.datasets`: HDF5 datasets (PDEBench-compatible): generate, validate, stream.
- :mod:`pdesolve.operators`, :mod:`pdesolve.training`: FNO and U-Net, and the one resumable,
  data-parallel training loop behind ``pdesolve train``.
- :mod:`pdesolve.constraints`: implicit differentiation, exact projections, PDE-constrained
  least-squares layers and their mixtures of experts.
- :mod:`pdesolve.neural_fields` (TENG, INSR, OBTI, TDVP, PINN), :mod:`pdesolve.mp_pde`
  (message-passing solver), :mod:`pdesolve.neural_ode` (neural ODEs and adjoints),
  :mod:`pdesolve.hybrid` (learned corrections trained through the solver).
- :mod:`pdesolve.verification`, :mod:`pdesolve.bench`, :mod:`pdesolve.report`: checks,
  benchmarks against anchors, the results report.

The neural and training packages are imported explicitly (``from pdesolve import training``).
"""

from . import initial_conditions as initial_conditions
from . import integrators as integrators
from . import metrics as metrics
from . import optim as optim
from . import pdes as pdes
from . import problems as problems
from . import spatial as spatial
from ._errors import DatasetError as DatasetError
from ._errors import InvalidInputError as InvalidInputError
from ._errors import NonFiniteLossError as NonFiniteLossError
from ._errors import NonFiniteError as NonFiniteError
from ._errors import PDESolveError as PDESolveError
from ._errors import StabilityError as StabilityError
from ._version import __version__ as __version__

__all__ = [
    "DatasetError",
    "InvalidInputError",
    "NonFiniteError",
    "NonFiniteLossError",
    "PDESolveError",
    "StabilityError",
    "__version__",
    "initial_conditions",
    "integrators",
    "metrics",
    "optim",
    "pdes",
    "problems",
    "spatial",
]
