"""What every demo part receives (:class:`PartContext`) and how it reports a failure (:class:`PartFailure`)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import PDESolveError
from ._config import DemoConfig


class PartFailure(PDESolveError):
    """A demo part that ran but did not reach its goal; `record` holds what it measured."""

    def __init__(self, message: str, record: dict | None = None):
        super().__init__(message)
        self.record = dict(record or {})


@dataclass
class _Timer:
    seconds: float = 0.0


@dataclass
class PartContext:
    """The inputs of one part: its folder `out`, the sizes `config`, `progress` bars on or off, and
    `records`, the records of the parts that ran before it (e.g. the dataset's path)."""

    out: Path
    config: DemoConfig
    progress: bool = True
    records: dict = field(default_factory=dict)

    @contextlib.contextmanager
    def timer(self):
        """``with ctx.timer() as t:`` measures the block's wall time in ``t.seconds``."""
        timer = _Timer()
        start = time.perf_counter()
        try:
            yield timer
        finally:
            timer.seconds = time.perf_counter() - start

    def fail(self, message: str, **record) -> None:
        """Stop the part with `message` (one line), keeping `record` in the summary."""
        raise PartFailure(message, record)
