"""Exceptions raised by pdesolve for bad input and failed solves."""

from __future__ import annotations


class PDESolveError(Exception):
    """Base class of every error pdesolve raises on purpose."""


class InvalidInputError(PDESolveError, ValueError):
    """A parameter, grid or array that cannot be used (wrong shape, dtype, sign...)."""


class StabilityError(PDESolveError, ValueError):
    """An explicit time step is beyond the scheme's linear stability limit."""


class NonFiniteError(PDESolveError, FloatingPointError):
    """A rollout produced NaN or Inf.

    Attributes:
        step: index (1-based) of the first step whose output is not finite.
        time: simulation time at that step, ``step * dt``.
    """

    def __init__(self, step: int, time: float | None):
        self.step = int(step)
        self.time = None if time is None else float(time)
        where = f"step {self.step}" + ("" if time is None else f" (t = {self.time:.6g})")
        super().__init__(
            f"solution became non-finite (NaN/Inf) at {where}; "
            "reduce the time step, increase resolution or viscosity, "
            "or check the initial condition"
        )


class DatasetError(PDESolveError, ValueError):
    """An HDF5 dataset file that cannot be used: missing, truncated, corrupt, or not in a known layout.

    The message is one line naming the file and what is wrong with it.
    """


class NonFiniteLossError(NonFiniteError):
    """The training loss became NaN or Inf.

    Attributes: `step` (the training step, 1-based), `checkpoint` (the file holding the last
    good parameters, or ``None``) and `bad_data` (the step's batch itself held NaN/Inf values:
    the data, not the optimisation, are at fault).
    """

    def __init__(self, step: int, checkpoint: str | None, bad_data: bool = False):
        self.step = int(step)
        self.time = None
        self.checkpoint = checkpoint
        self.bad_data = bool(bad_data)
        saved = f"; last good parameters saved to {checkpoint}" if checkpoint else ""
        advice = ("its batch holds NaN/Inf values: the training data are not finite (check the dataset)"
                  if bad_data else "lower the learning rate")
        FloatingPointError.__init__(
            self, f"training loss became non-finite (NaN/Inf) at step {self.step}{saved}; {advice}"
        )
