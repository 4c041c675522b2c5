"""Training data sources: the interface :func:`~pdesolve.training.train` reads, and trajectory windows.

:class:`AbstractTrainingData` is what the training loop needs from data: the size of each
split, one epoch of batches (pytrees of arrays whose leaves share a leading batch axis) that
depend only on the run's config and the epoch number, and an evaluation of a model on a split.

:class:`TrajectoryData` implements it for window-to-frame surrogates. Training samples are *windows*: `window` consecutive frames in, the `horizon` frames after
them as targets. Batches hold ``inputs [b, window, c, *space]`` and ``targets [b, horizon, c,
*space]`` (channel first, the layout of every pdesolve field). HDF5 files (pdesolve or
PDEBench layout) are streamed with :class:`pdesolve.datasets.DataLoader`; a numpy array
``[sample, t, c, *space]`` is batched in memory with the same shuffling rule, so both give the
same batches for the same data.
"""

from __future__ import annotations

import abc
import itertools
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .._errors import InvalidInputError
from ..datasets import DataLoader, H5Dataset, open_dataset, split_indices
from ..datasets import check_shard, shard_rows
from ._evaluate import evaluate

STARTS = ("first", "random")


class AbstractTrainingData(abc.ABC):
    r"""A source of training batches and evaluations for :func:`~pdesolve.training.train`.

    The loop runs `config.epochs` epochs of :meth:`steps_per_epoch` optimizer steps. Epoch $e$
    takes the batches of :meth:`train_batches` ``(config, e)`` in order; the loss sees each
    batch as it is yielded (floating leaves cast to `config.dtype`). For an exact resume the
    batches of epoch $e$ must depend only on `config` (its `seed` included) and $e$, never on
    what was drawn before in this process: a run resumed at step $n$ replays the batches of
    its epoch up to $n$ and discards them. With data parallelism every leaf of a batch is
    sharded along its first axis, so all leaves carry the batch axis first.

    Use it as a context manager (or call :meth:`close`) to release files it opened.
    """

    @abc.abstractmethod
    def split_size(self, split: str) -> int:
        """Samples in `split` (``train``, ``val``, ``test`` or ``all``)."""

    @abc.abstractmethod
    def check(self, config) -> None:
        """Raise :class:`~pdesolve.InvalidInputError` if `config` does not fit these data."""

    @abc.abstractmethod
    def steps_per_epoch(self, config) -> int:
        """Optimizer steps in one epoch of `config` (at least 1, or :class:`~pdesolve.InvalidInputError`)."""

    @abc.abstractmethod
    def train_batches(self, config, epoch: int, *, shard: tuple[int, int] | None = None) -> Iterator[Any]:
        """The :meth:`steps_per_epoch` batches of `epoch` (0-based), deterministic in ``(config, epoch)``.

        `shard` ``(index, count)``: yield only this process's rows of every global batch (a
        multi-process data-parallel run).
        """

    @abc.abstractmethod
    def evaluate(self, model, split: str, config, *, figures: bool = False, out=None, name: str = "model") -> dict:
        """Metrics of `model` on `split` (a dict of JSON-ready values; ``rollout_rel_l2`` when it applies)."""

    def describe(self) -> dict:
        """A JSON-ready summary of the data that a resumed run must find again (the checkpoint
        stores it; :func:`~pdesolve.training.train` refuses to resume on other data). Default:
        the sizes of the splits."""
        return {split: int(self.split_size(split)) for split in ("train", "val", "test")}

    def close(self) -> None:
        """Release what this source opened (nothing by default)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TrajectoryData(AbstractTrainingData):
    r"""Trajectories ``[sample, t, c, *space]`` from a numpy array or an HDF5 file, with splits.

    **Arguments:**

    - `source`: a numpy array ``[sample, t, c, *space]`` (channel first), an
      :class:`~pdesolve.datasets.H5Dataset`, or a path to an HDF5 file (pdesolve or PDEBench
      layout, read with :func:`~pdesolve.datasets.open_dataset`, channel last on disk).
    - `splits`: (train, val, test) fractions, see :func:`~pdesolve.datasets.split_indices`
      (contiguous blocks: test last).
    - `time_stride`: keep every `time_stride`-th saved frame; `first_frame`: the first saved
      frame used (e.g. 1 to drop the initial condition, as in the FNO benchmark whose frames
      are $t = 1, \dots, 50$).
    - `prefetch`: batches the HDF5 reader thread reads ahead.

    Use it as a context manager (or call :meth:`close`) to close a file opened here.
    """

    def __init__(self, source, *, splits: Sequence[float] = (0.8, 0.1, 0.1), time_stride: int = 1, first_frame: int = 0,
                 prefetch: int = 2):
        if isinstance(time_stride, bool) or int(time_stride) != time_stride or time_stride < 1:
            raise InvalidInputError(f"time_stride must be a positive integer, got {time_stride!r}")
        self.time_stride = int(time_stride)
        if isinstance(first_frame, bool) or int(first_frame) != first_frame or first_frame < 0:
            raise InvalidInputError(f"first_frame must be a non-negative integer, got {first_frame!r}")
        self.first_frame = int(first_frame)
        self.prefetch = int(prefetch)
        self._owns = False
        if isinstance(source, np.ndarray) or hasattr(source, "__array__") and not isinstance(source, (str, os.PathLike)):
            array = np.asarray(source)
            if array.ndim < 4:
                raise InvalidInputError(f"trajectory arrays must be shaped [sample, t, c, *space], got shape {array.shape}")
            if not np.issubdtype(array.dtype, np.floating):
                raise InvalidInputError(f"trajectory arrays must be floating point, got dtype {array.dtype}")
            finite = np.isfinite(array).reshape(array.shape[0], -1).all(axis=1)
            if not finite.all():
                bad = np.flatnonzero(~finite)
                raise InvalidInputError(f"trajectory array holds NaN/Inf values in {bad.size} of {array.shape[0]} "
                                        f"samples (first: sample {int(bad[0])})")
            if self.first_frame >= array.shape[1]:
                raise InvalidInputError(f"first_frame {first_frame} is beyond the {array.shape[1]} frames")
            self._array = array[:, self.first_frame :: self.time_stride]
            self.dataset = None
            self.num_samples, self.num_times, self.num_channels = self._array.shape[:3]
            self.spatial_shape = tuple(self._array.shape[3:])
            self.dtype = self._array.dtype
            self.times = np.arange(self.num_times, dtype=float)
            self.path = None
        else:
            self._owns = not isinstance(source, H5Dataset)
            self.dataset = open_dataset(source) if self._owns else source
            self._array = None
            self.num_samples = self.dataset.num_samples
            if self.first_frame >= self.dataset.num_times:
                self.close()
                raise InvalidInputError(f"first_frame {first_frame} is beyond the {self.dataset.num_times} frames")
            self.num_times = len(range(self.first_frame, self.dataset.num_times, self.time_stride))
            self.num_channels = self.dataset.num_channels
            self.spatial_shape = tuple(self.dataset.spatial_shape)
            self.dtype = self.dataset.dtype
            t = np.asarray(self.dataset.coordinates.get("t", np.arange(self.dataset.num_times)), dtype=float)
            self.times = t[self.first_frame :: self.time_stride] if len(t) == self.dataset.num_times else np.arange(self.num_times, dtype=float)
            self.path = self.dataset.path
        self.splits = tuple(float(f) for f in splits)
        self.indices = split_indices(self.num_samples, self.splits)
        self._loaders: dict = {}

    @property
    def ndim(self) -> int:
        """Number of space dimensions."""
        return len(self.spatial_shape)

    def describe(self) -> dict:
        """The split sizes and the shape of a sample (``[t, c, *space]``, after `first_frame` and
        `time_stride`); the file's name is left out, so a moved file still resumes."""
        return {**super().describe(), "sample_shape": [int(self.num_times), int(self.num_channels),
                                                       *(int(n) for n in self.spatial_shape)]}

    def __repr__(self) -> str:
        where = self.path if self.path is not None else "array"
        return (
            f"TrajectoryData({where!r}, samples={self.num_samples}, times={self.num_times}, "
            f"channels={self.num_channels}, space={self.spatial_shape})"
        )

    def split_size(self, split: str) -> int:
        """Samples in `split` (``train``, ``val``, ``test`` or ``all``)."""
        if split not in self.indices:
            raise InvalidInputError(f"split must be one of {', '.join(self.indices)}, got {split!r}")
        return len(self.indices[split])

    def check_window(self, window: int, horizon: int) -> None:
        """Raise :class:`~pdesolve.InvalidInputError` unless `window` + `horizon` frames fit."""
        for name, value in (("window", window), ("horizon", horizon)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
        if window + horizon > self.num_times:
            raise InvalidInputError(
                f"window {window} + horizon {horizon} frames exceed the {self.num_times} frames per trajectory"
            )

    # -- reading --------------------------------------------------------------------------
    def read(self, indices: Sequence[int], frames: slice | None = None) -> np.ndarray:
        """Samples `indices` (in that order) as ``[b, t, c, *space]``; `frames` selects strided frames."""
        frames = slice(None) if frames is None else frames
        if self._array is not None:
            return self._array[np.asarray(indices, dtype=np.int64)][:, frames]
        all_frames = np.arange(self.first_frame, self.dataset.num_times, self.time_stride)[frames]
        data = self.dataset.read_batch(indices, times=all_frames)
        return np.moveaxis(data, -1, 2)

    def batches(
        self,
        split: str,
        batch_size: int,
        *,
        window: int,
        horizon: int,
        epoch: int = 0,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        start: str = "first",
        shard: tuple[int, int] | None = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One epoch of ``(inputs [b, window, c, *space], targets [b, horizon, c, *space])`` batches.

        The sample order of `epoch` is ``default_rng([seed, epoch]).permutation`` of the split
        (as in :class:`~pdesolve.datasets.DataLoader`), so an epoch can be replayed exactly.
        `start` is ``"first"`` (every window starts at frame 0, as in the FNO benchmark) or
        ``"random"`` (each sample's start is drawn from ``default_rng([seed, epoch, batch, 1])``).
        `shard` ``(index, count)``: yield (and, from a file, read) only this process's rows of
        every global batch (see :class:`~pdesolve.datasets.DataLoader`); the global order and
        the random starts are the same as without sharding.
        """
        if start not in STARTS:
            raise InvalidInputError(f"start must be one of {', '.join(STARTS)}, got {start!r}")
        self.check_window(window, horizon)
        shard = check_shard(shard)
        indices = self.indices[split] if split in self.indices else self.split_size(split)
        order = np.random.default_rng([seed, int(epoch)]).permutation(indices) if shuffle else indices
        stop = len(order) - (len(order) % batch_size if drop_last else 0)
        global_batches = [order[k : min(k + batch_size, stop)] for k in range(0, stop, batch_size)]
        if self._array is not None:
            chunks = global_batches if shard is None else [shard_rows(idx, *shard) for idx in global_batches]
            if start == "first":
                sources = (self._array[idx, : window + horizon] for idx in chunks)
            else:
                sources = (self._array[idx] for idx in chunks)
        else:
            sources = self._h5_batches(split, batch_size, epoch, seed, shuffle, drop_last,
                                       window + horizon if start == "first" else None, shard)
        for number, data in enumerate(sources):
            if start == "random":
                latest = self.num_times - window - horizon
                rng = np.random.default_rng([seed, int(epoch), number, 1])
                starts = rng.integers(0, latest + 1, size=len(global_batches[number]))
                if shard is not None:
                    starts = shard_rows(starts, *shard)
                data = np.stack([d[s : s + window + horizon] for d, s in zip(data, starts)])
            yield data[:, :window], data[:, window : window + horizon]

    def _h5_batches(self, split, batch_size, epoch, seed, shuffle, drop_last, frames, shard):
        key = (split, batch_size, seed, shuffle, drop_last, frames, shard)
        loader = self._loaders.get(key)
        if loader is None:
            splits = self.splits
            loader = DataLoader(
                self.dataset, batch_size, split=split, splits=splits, shuffle=shuffle, seed=seed,
                prefetch=self.prefetch, time_stride=self.time_stride, start_step=self.first_frame, drop_last=drop_last,
                input_steps=None if frames is None else 1,
                target_steps=None if frames is None else frames - 1, shard=shard,
            )
            self._loaders[key] = loader
        loader.set_epoch(epoch)
        for item in loader:
            data = np.concatenate(item, axis=1) if isinstance(item, tuple) else item
            yield np.moveaxis(data, -1, 2)

    # -- the training interface ------------------------------------------------------------
    def check(self, config) -> None:
        """The run's `splits`, `time_stride`, `first_frame` must be these data's; `window` + `rollout_steps` must fit."""
        for name in ("splits", "time_stride", "first_frame"):
            if tuple(np.atleast_1d(getattr(self, name))) != tuple(np.atleast_1d(getattr(config, name))):
                raise InvalidInputError(f"data was opened with {name} = {getattr(self, name)!r} but config.{name} = "
                                        f"{getattr(config, name)!r}")
        self.check_window(config.window, config.rollout_steps)

    def steps_per_epoch(self, config) -> int:
        """``floor(train samples / batch_size)`` full batches (or `config.steps_per_epoch`, at most that many)."""
        full = self.split_size("train") // config.batch_size
        if full < 1:
            raise InvalidInputError(f"the training split has {self.split_size('train')} samples, fewer than "
                                    f"batch_size {config.batch_size}")
        if config.steps_per_epoch is None:
            return full
        if config.steps_per_epoch > full:
            raise InvalidInputError(f"steps_per_epoch {config.steps_per_epoch} exceeds the {full} full batches of the "
                                    "training split (an epoch is at most one pass over it)")
        return int(config.steps_per_epoch)

    def train_batches(self, config, epoch: int, *, shard: tuple[int, int] | None = None):
        """Shuffled windows ``(inputs, targets)`` of the training split (see :meth:`batches`), full batches only."""
        batches = self.batches("train", config.batch_size, window=config.window, horizon=config.rollout_steps,
                               epoch=epoch, seed=config.seed, shuffle=True, drop_last=True, start=config.start,
                               shard=shard)
        return itertools.islice(batches, self.steps_per_epoch(config))

    def evaluate(self, model, split: str, config, *, figures: bool = False, out=None, name: str = "model") -> dict:
        """Rollout and one-step errors of a window-to-frame `model` (:func:`~pdesolve.training.evaluate`)."""
        return evaluate(model, self, split, config, figures=figures, out=out, name=name)

    def close(self) -> None:
        """Stop reader threads and close a file opened here."""
        for loader in self._loaders.values():
            loader.close()
        self._loaders.clear()
        if self._owns and self.dataset is not None:
            self.dataset.close()
