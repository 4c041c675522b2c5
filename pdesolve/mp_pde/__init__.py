r"""Message-passing neural PDE solver (Brandstetter, Worrall & Welling, ICLR 2022) for 1D periodic problems.

- :class:`MPPDE` (encoder, message-passing processor on a :class:`RadiusGraph`, temporal-bundling
  decoder), :func:`rollout_mp_pde`.
- Training in :func:`pdesolve.training.train`: :class:`PushforwardTrajectories` (the data
  source: per-sample PDE parameters, absolute times, pushforward unroll draws),
  :class:`PushforwardLoss`, the wrapper :func:`fit_mp_pde`, and :data:`MP_PDE_SPEC` for
  ``pdesolve train mp-pde``.

The paper's "combined equation" data (experiments E1-E3) are made and read by
:mod:`pdesolve.datasets` (:func:`~pdesolve.datasets.generate_combined_dataset`,
:func:`~pdesolve.datasets.load_combined_dataset`).
"""


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
    "MPPDE",
    "MP_PDE_SPEC",
    "MessagePassingLayer",
    "PushforwardBatch",
    "PushforwardLoss",
    "PushforwardTrajectories",
    "RadiusGraph",
    "fit_mp_pde",
    "radius_graph",
    "rollout_mp_pde",
]
