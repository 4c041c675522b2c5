"""pdesolve: differentiable PDE solvers on JAX.

Sub-packages:

- :mod:`pdesolve.spatial`: periodic grids, spectral operators, finite differences.
- :mod:`pdesolve.pdes`: PDE definitions and analytic solutions.
- :mod:`pdesolve.integrators`: ETDRK, IMEX, explicit RK, Diffrax method of lines, rollouts.
- :mod:`pdesolve.initial_conditions`, :mod:`pdesolve.metrics`: reusable pieces.
- :mod:`pdesolve.verification`: analytic regression cases (``pdesolve verify``).
- :mod:`pdesolve.operators`, :mod:`pdesolve.training`: FNO and U-Net, and the resumable,
  data-parallel training loop behind ``pdesolve train`` (import explicitly).
- :mod:`pdesolve.constraints`: implicit differentiation (``custom_root``), exact constraint
  projections, PDE-constrained least-squares layers and their mixture of experts (import explicitly).
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
