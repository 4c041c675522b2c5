"""Streaming mini-batches from an HDF5 dataset file, without loading the file.

:class:`DataLoader` draws shuffled batches of sample indices from one split, reads each batch
with :meth:`~pdesolve.datasets.H5Dataset.read_batch` (only the chunks of the selected samples
and time steps; for pdesolve's storage positioned reads decoded on a pool of ``os.cpu_count()``
threads, else sorted h5py reads) in a background thread, and hands them over through a bounded
queue, so reading and decoding batch ``k + 1`` overlaps with whatever the consumer does with
batch ``k`` (e.g. a training step). Batches are numpy arrays; convert them with ``jnp.asarray`` in the training loop.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Iterator, Sequence

import numpy as np

from .._errors import DatasetError, InvalidInputError
from ._pdebench import H5Dataset, open_dataset

SPLITS = ("train", "val", "test", "all")


def split_indices(num_samples: int, splits: Sequence[float] = (0.8, 0.1, 0.1)) -> dict[str, np.ndarray]:
    """Deterministic train/val/test split of ``range(num_samples)`` into contiguous blocks.

    ``val`` and ``test`` get ``round(fraction * num_samples)`` samples each (taken from the end:
    test last), ``train`` the rest, so the split depends only on the sample count and the
    fractions. Samples are i.i.d. (seed ``seed + i``), so blocks are as good as a random split
    and keep validation reads contiguous. Returns ``{"train", "val", "test", "all"}`` index arrays.
    """
    fractions = tuple(float(f) for f in splits)
    if len(fractions) != 3 or any(not (f >= 0 and math.isfinite(f)) for f in fractions):
        raise InvalidInputError(f"splits must be three non-negative fractions (train, val, test), got {splits!r}")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise InvalidInputError(f"splits must sum to 1, got {splits!r} (sum {sum(fractions):.6g})")
    n_val = int(round(fractions[1] * num_samples))
    n_test = int(round(fractions[2] * num_samples))
    n_train = max(0, num_samples - n_val - n_test)
    everything = np.arange(num_samples, dtype=np.int64)
    return {
        "train": everything[:n_train],
        "val": everything[n_train : n_train + n_val],
        "test": everything[n_train + n_val :],
        "all": everything,
    }


def check_shard(shard) -> tuple[int, int] | None:
    """Validate a ``(index, count)`` shard spec (``None`` passes through)."""
    if shard is None:
        return None
    try:
        index, count = (int(v) for v in shard)
    except (TypeError, ValueError):
        raise InvalidInputError(f"shard must be (index, count), got {shard!r}") from None
    if count < 1 or not 0 <= index < count:
        raise InvalidInputError(f"shard must be (index, count) with 0 <= index < count, got {shard!r}")
    return index, count


def shard_rows(rows, index: int, count: int):
    """Rows ``index * n // count`` to ``(index + 1) * n // count`` of `rows` (``n = len(rows)``)."""
    n = len(rows)
    return rows[index * n // count : (index + 1) * n // count]


class _End:
    pass


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class DataLoader:
    """Shuffled, prefetched mini-batches of one split of an HDF5 dataset (pdesolve or PDEBench).

    **Arguments:**

    - `dataset`: an :class:`~pdesolve.datasets.H5Dataset` or a path (then opened here and
      closed by :meth:`close`).
    - `batch_size`: samples per batch.
    - `split`: ``"train"``, ``"val"``, ``"test"`` or ``"all"``; `splits`: the (train, val, test)
      fractions, see :func:`split_indices`.
    - `shuffle`: a new permutation every epoch, drawn from ``(seed, epoch)``; ``False`` keeps
      index order.
    - `seed`: seed of the shuffling.
    - `prefetch`: batches read ahead by the background thread (0: read in the caller's thread).
    - `input_steps`: if given, each batch is split into ``(inputs, targets)``: the first
      `input_steps` frames and the `target_steps` frames after them (default: all the rest).
      Only those frames are read.
    - `time_stride`: keep every `time_stride`-th saved frame.
    - `start_step`: the first saved frame used (default 0); frames are
      ``start_step, start_step + time_stride, ...``.
    - `drop_last`: drop a final batch smaller than `batch_size`.
    - `with_indices`: also yield the sample indices of each batch, first.
    - `shard`: ``(index, count)`` for data-parallel training over `count` processes: every
      process draws the same global batches from ``(seed, epoch)`` and reads only rows
      ``index * n // count`` to ``(index + 1) * n // count`` of each (``n`` that batch's
      length), so no process reads another's samples. ``None`` (default): whole batches.
    - `threads`: decoding threads of the dataset's direct chunk reads (default: the dataset's,
      ``os.cpu_count()``); sets :attr:`H5Dataset.threads <pdesolve.datasets.H5Dataset.threads>`.

    Iterating gives one epoch: numpy arrays ``[batch, t, *space, channel]`` in the file's
    dtype (or ``(inputs, targets)``, or ``(indices, ...)`` first with `with_indices`). Every
    sample of the split appears exactly once per epoch. The order of epoch ``e`` depends only
    on ``(seed, e)`` (:meth:`batch_indices`); each ``for`` loop over the loader runs the epoch
    :attr:`epoch` and then advances it by one, so a resumed training run calls
    :meth:`set_epoch` with the epoch to redo and gets the same batches. ``len(loader)`` is
    the number of batches per epoch. Use it as a context manager, or call :meth:`close`, to
    stop the reader thread and close a file opened here; leaving a ``for`` loop early stops
    that epoch's thread too. Errors raised while reading (e.g. a corrupt chunk, a
    :class:`~pdesolve.DatasetError`) are re-raised in the consuming thread.

    Example (FNO Navier-Stokes: the first 10 frames in, the next 40 out)::

        with DataLoader("ns.h5", 20, split="train", seed=0, input_steps=10, target_steps=40) as loader:
            for epoch in range(start_epoch, num_epochs):
                loader.set_epoch(epoch)
                for inputs, targets in loader:      # [20, 10, 64, 64, 1], [20, 40, 64, 64, 1]
                    ...

    For one-step pairs over all times read whole trajectories and use ``u[:, :-1]``, ``u[:, 1:]``.
    """

    def __init__(
        self,
        dataset: H5Dataset | str | os.PathLike,
        batch_size: int,
        *,
        split: str = "train",
        splits: Sequence[float] = (0.8, 0.1, 0.1),
        shuffle: bool = True,
        seed: int = 0,
        prefetch: int = 2,
        input_steps: int | None = None,
        target_steps: int | None = None,
        time_stride: int = 1,
        start_step: int = 0,
        drop_last: bool = False,
        with_indices: bool = False,
        threads: int | None = None,
        shard: tuple[int, int] | None = None,
    ):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
        if split not in SPLITS:
            raise InvalidInputError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        if isinstance(prefetch, bool) or not isinstance(prefetch, (int, np.integer)) or prefetch < 0:
            raise InvalidInputError(f"prefetch must be a non-negative integer, got {prefetch!r}")
        if isinstance(time_stride, bool) or not isinstance(time_stride, (int, np.integer)) or time_stride < 1:
            raise InvalidInputError(f"time_stride must be a positive integer, got {time_stride!r}")
        self._owns = not isinstance(dataset, H5Dataset)
        self.dataset = open_dataset(dataset) if self._owns else dataset
        try:
            self._configure(batch_size, split, splits, shuffle, seed, prefetch, input_steps, target_steps,
                            time_stride, start_step, drop_last, with_indices)
            self.shard = check_shard(shard)
            if threads is not None:
                if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
                    raise InvalidInputError(f"threads must be a positive integer, got {threads!r}")
                self.dataset.threads = int(threads)
        except BaseException:
            if self._owns:
                self.dataset.close()
            raise
        self._active: set = set()
        self._closed = False

    def _configure(self, batch_size, split, splits, shuffle, seed, prefetch, input_steps, target_steps,
                   time_stride, start_step, drop_last, with_indices) -> None:
        self.batch_size = int(batch_size)
        self.split = split
        self.indices = split_indices(self.dataset.num_samples, splits)[split]
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.prefetch = int(prefetch)
        self.drop_last = bool(drop_last)
        self.with_indices = bool(with_indices)
        self.epoch = 0
        if isinstance(start_step, bool) or int(start_step) != start_step or not 0 <= start_step < self.dataset.num_times:
            raise InvalidInputError(
                f"start_step must be an integer in [0, {self.dataset.num_times}), got {start_step!r}"
            )
        frames = np.arange(int(start_step), self.dataset.num_times, int(time_stride))
        self.input_steps = input_steps
        if input_steps is not None:
            if isinstance(input_steps, bool) or int(input_steps) != input_steps or input_steps < 1:
                raise InvalidInputError(f"input_steps must be a positive integer, got {input_steps!r}")
            available = len(frames) - int(input_steps)
            target = available if target_steps is None else int(target_steps)
            if target < 1 or target > available:
                raise InvalidInputError(
                    f"input_steps = {input_steps} and target_steps = {target_steps} need more than the "
                    f"{len(frames)} frames available (time_stride {time_stride})"
                )
            frames = frames[: int(input_steps) + target]
        elif target_steps is not None:
            raise InvalidInputError("target_steps needs input_steps")
        self.frames = frames

    # -- description -------------------------------------------------------------------
    @property
    def num_samples(self) -> int:
        """Samples in this split."""
        return len(self.indices)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.dataset.path!r}, split={self.split!r}, samples={self.num_samples}, "
            f"batch_size={self.batch_size}, batches={len(self)})"
        )

    def batch_indices(self, epoch: int) -> list[np.ndarray]:
        """The sample indices of every batch of `epoch` (deterministic in ``seed`` and `epoch`)."""
        order = self.indices
        if self.shuffle:
            order = np.random.default_rng([self.seed, int(epoch)]).permutation(order)
        stop = len(order) - (len(order) % self.batch_size if self.drop_last else 0)
        return [order[k : min(k + self.batch_size, stop)] for k in range(0, stop, self.batch_size)]

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch `epoch` (each iteration otherwise advances it by one)."""
        self.epoch = int(epoch)

    # -- iteration -----------------------------------------------------------------------
    def _load(self, idx: np.ndarray):
        return self._wrap(idx, self.dataset.read_batch(idx, times=self.frames))

    def _wrap(self, idx: np.ndarray, data: np.ndarray):
        if self.input_steps is not None:
            item = (data[:, : self.input_steps], data[:, self.input_steps :])
        else:
            item = (data,)
        if self.with_indices:
            item = (idx,) + item
        return item if len(item) > 1 else item[0]

    def __iter__(self) -> Iterator:
        if self._closed:
            raise DatasetError(f"{self.dataset.path}: the loader is closed")
        batches = self.batch_indices(self.epoch)
        if self.shard is not None:
            batches = [shard_rows(idx, *self.shard) for idx in batches]
        self.epoch += 1
        if self.prefetch == 0:
            return (self._load(idx) for idx in batches)
        return self._prefetched(batches)

    def _prefetched(self, batches):
        items: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def produce():
            try:
                for k, idx in enumerate(batches):
                    if stop.is_set():
                        return
                    if k == 0:
                        self.dataset.will_need(idx, times=self.frames)
                    if k + 1 < len(batches):  # the next batch's reads start while this one decodes
                        self.dataset.will_need(batches[k + 1], times=self.frames)
                    item = self._load(idx)
                    while not stop.is_set():
                        try:
                            items.put(item, timeout=0.05)
                            break
                        except queue.Full:
                            continue
                outcome = _End()
            except BaseException as err:  # handed to the consumer
                outcome = _Failure(err)
            while not stop.is_set():
                try:
                    items.put(outcome, timeout=0.05)
                    return
                except queue.Full:
                    continue

        thread = threading.Thread(target=produce, name="pdesolve-loader", daemon=True)
        handle = (stop, thread)
        self._active.add(handle)
        thread.start()
        try:
            while True:
                try:
                    item = items.get(timeout=0.1)
                except queue.Empty:
                    if not thread.is_alive() and items.empty():
                        raise DatasetError(f"{self.dataset.path}: the reader thread stopped unexpectedly") from None
                    continue
                if isinstance(item, _End):
                    return
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:
            stop.set()
            thread.join()
            self._active.discard(handle)

    def close(self) -> None:
        """Stop every reader thread of this loader and close the dataset if it was opened here."""
        self._closed = True
        for stop, thread in list(self._active):
            stop.set()
            if thread is not threading.current_thread():
                thread.join()
        self._active.clear()
        if self._owns:
            self.dataset.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
