r"""Message-passing neural PDE solver (Brandstetter, Worrall & Welling, ICLR 2022) for 1D periodic problems.

- :class:`MPPDE` (encoder, message-passing processor on a :class:`RadiusGraph`, temporal-bundling
  decoder), :func:`rollout_mp_pde`, and its training (:func:`fit_mp_pde`).
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
from ._model import fit_mp_pde as fit_mp_pde
from ._model import radius_graph as radius_graph
from ._model import rollout_mp_pde as rollout_mp_pde

__all__ = [
    "CombinedData",
    "MPPDE",
    "MessagePassingLayer",
    "RadiusGraph",
    "default_steps_per_save",
    "fit_mp_pde",
    "generate_combined_dataset",
    "load_combined_dataset",
    "radius_graph",
    "rollout_mp_pde",
    "solve_combined_batch",
]
