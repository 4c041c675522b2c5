r"""Message-passing neural PDE solver (Brandstetter, Worrall & Welling, ICLR 2022) for 1D periodic problems.

- :class:`MPPDE` (encoder, message-passing processor on a :class:`RadiusGraph`, temporal-bundling
  decoder), :func:`rollout_mp_pde`.
- Training in :func:`pdesolve.training.train`: :class:`PushforwardTrajectories` (the data
  source: per-sample PDE parameters, absolute times, pushforward unroll draws),
  :class:`PushforwardLoss`, the wrapper :func:`fit_mp_pde`, and :data:`MP_PDE_SPEC` for
  ``pdesolve train mp-pde``.
- The paper's "combined equation" data (experiments E1-E3): :func:`generate_combined_dataset`,
  :func:`load_combined_dataset`.
"""


from ._data import CombinedData as CombinedData
from ._data import default_steps_per_save as default_steps_per_save
from ._data import generate_combined_dataset as generate_combined_dataset
from ._data import load_combined_dataset as load_combined_dataset
from ._data import solve_combined_batch as solve_combined_batch
from ._model import MPPDE as MPPDE
from ._model import MessagePassingLayer as MessagePassingLayer
from ._model import RadiusGraph as RadiusGraph
from ._model import radius_graph as radius_graph
from ._model import rollout_mp_pde as rollout_mp_pde
from ._training import MP_PDE_SPEC as MP_PDE_SPEC
from ._training import PushforwardBatch as PushforwardBatch
from ._training import PushforwardLoss as PushforwardLoss
from ._training import PushforwardTrajectories as PushforwardTrajectories
from ._training import fit_mp_pde as fit_mp_pde

__all__ = [
    "CombinedData",
    "MPPDE",
    "MP_PDE_SPEC",
    "MessagePassingLayer",
    "PushforwardBatch",
    "PushforwardLoss",
    "PushforwardTrajectories",
    "RadiusGraph",
    "default_steps_per_save",
    "fit_mp_pde",
    "generate_combined_dataset",
    "load_combined_dataset",
    "radius_graph",
    "rollout_mp_pde",
    "solve_combined_batch",
]
