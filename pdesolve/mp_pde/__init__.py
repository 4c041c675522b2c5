r"""Message-passing neural PDE solver (Brandstetter, Worrall & Welling, ICLR 2022) for 1D periodic problems.

- :class:`MPPDE` (encoder, message-passing processor on a :class:`RadiusGraph`, temporal-bundling
  decoder), :func:`rollout_mp_pde`, and its training (:func:`fit_mp_pde`).

The paper's "combined equation" data (experiments E1-E3) are made and read by
:mod:`pdesolve.datasets` (:func:`~pdesolve.datasets.generate_combined_dataset`,
:func:`~pdesolve.datasets.load_combined_dataset`).
"""


from ._model import MPPDE as MPPDE
from ._model import MessagePassingLayer as MessagePassingLayer
from ._model import RadiusGraph as RadiusGraph
from ._model import fit_mp_pde as fit_mp_pde
from ._model import radius_graph as radius_graph
from ._model import rollout_mp_pde as rollout_mp_pde

__all__ = [
    "MPPDE",
    "MessagePassingLayer",
    "RadiusGraph",
    "fit_mp_pde",
    "radius_graph",
    "rollout_mp_pde",
]
