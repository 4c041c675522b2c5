r"""Direct chunk reads of an HDF5 dataset: positioned reads and parallel decoding, no HDF5 per read.

h5py reads a selection by walking HDF5's dataspace, chunk-cache and filter machinery under one
global lock, so every per-sample read pays a fixed overhead and decodes on one core.
:class:`ChunkReader` does the same work itself for the storage that pdesolve writes:

1. At open time it builds the chunk index once, from ``DatasetID.chunk_iter`` (one pass over the
   chunk B-tree): for every chunk ``(sample, time-block)`` its byte offset, stored size and
   filter mask. No data is read.
2. A batch is split into one task per sample. A task sorts the sample's chunks by file offset,
   merges chunks that lie end to end into one ``os.pread``, and decodes them, writing straight
   into the caller's preallocated output array. Unfiltered chunks are read with ``os.preadv``
   straight into the output (no copy at all).
3. Tasks run on a thread pool. ``zlib.decompress``, ``os.pread``, the LZF decoder (called
   through ``ctypes``) and numpy's copies release the GIL, so decoding runs on all cores.

Decoding undoes HDF5's filter pipeline in reverse order, skipping the filters whose bit is set
in a chunk's filter mask (HDF5 stores a chunk unfiltered when an optional filter failed, e.g.
when compression would have grown it):

- deflate (gzip, filter 1): ``zlib.decompress`` (HDF5 writes zlib streams);
- shuffle (filter 2): the chunk's bytes are grouped by byte position -- all first bytes of the
  ``n`` elements, then all second bytes, ...; with element size ``s`` the shuffled buffer is the
  ``(s, n)`` byte matrix whose transpose is the data, and each of its ``s`` rows is copied into
  a strided column of the output;
- LZF (filter 32000, registered by h5py): the ``lzf_decompress`` function that h5py's own
  ``h5z`` extension exports, so no new dependency;
- Blosc2 (filter 32026, from ``hdf5plugin``): each chunk is a Blosc2 contiguous frame holding
  one Blosc2 chunk. Where that chunk is a single block of exactly the chunk's bytes (so its
  order is the array's, whatever the frame's ND metadata says), it is decompressed straight into
  the output by ``blosc2_decompress_ctx`` of hdf5plugin's own library, with one decompression
  context per thread (a few numpy operations check the frame headers of a whole run of chunks
  first). Any other chunk goes through the filter function that HDF5 itself calls (found through
  the plugin's ``H5PLget_plugin_info``; it takes and returns ``malloc`` ed buffers). At open time
  one chunk is decoded both ways and compared; a difference disables the direct path.

Anything else -- other filters (Fletcher32, szip, Blosc 1, Zstd, ...), big-endian or compound dtypes,
virtual datasets (distributed shards), contiguous storage, chunks spanning several samples or a
part of the space -- makes :func:`chunk_reader` return ``None`` and the caller keeps using h5py.
Chunks missing from the index (never written: HDF5 would return the fill value) also fall back.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._errors import DatasetError

DEFLATE, SHUFFLE, LZF, BLOSC2 = 1, 2, 32000, 32026
SUPPORTED_FILTERS = {DEFLATE: "deflate", SHUFFLE: "shuffle", LZF: "lzf", BLOSC2: "blosc2"}
_H5Z_FLAG_REVERSE = 0x0100  # HDF5's "decode" flag of a filter call
_MAX_IOV = 512  # buffers per preadv (the system's IOV_MAX is 1024 on Linux)
_MAX_INFO_CHUNKS = 4096  # without chunk_iter, get_chunk_info(i) costs O(i): only for small files


def _lzf_function():
    """h5py's compiled ``lzf_decompress(in, in_len, out, out_len) -> bytes written`` (or None)."""
    try:
        from h5py import h5z

        function = ctypes.CDLL(h5z.__file__).lzf_decompress
    except (ImportError, OSError, AttributeError):
        return None
    function.restype = ctypes.c_uint
    function.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_uint]
    return function


_LZF = _lzf_function()


class _H5ZClass(ctypes.Structure):
    """HDF5's ``H5Z_class2_t``: a filter's description, as a plugin's ``H5PLget_plugin_info`` returns it."""

    _fields_ = [
        ("version", ctypes.c_int),
        ("id", ctypes.c_int),
        ("encoder_present", ctypes.c_uint),
        ("decoder_present", ctypes.c_uint),
        ("name", ctypes.c_char_p),
        ("can_apply", ctypes.c_void_p),
        ("set_local", ctypes.c_void_p),
        ("filter", ctypes.c_void_p),
    ]


# size_t filter(unsigned flags, size_t cd_nelmts, const unsigned cd_values[], size_t nbytes,
#               size_t *buf_size, void **buf)
_H5Z_FUNCTION = ctypes.CFUNCTYPE(
    ctypes.c_size_t, ctypes.c_uint, ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint), ctypes.c_size_t,
    ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_void_p),
)
_PLUGIN_FUNCTIONS: dict = {}
_PLUGIN_LOCK = threading.Lock()


def _libc():
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.restype, libc.free.argtypes = None, [ctypes.c_void_p]
    return libc


def _plugin_function(code: int):
    """The decode function of hdf5plugin's plugin for filter `code` (only Blosc2), or None.

    Only when ``hdf5plugin`` has been imported (it is, by :func:`require_filters`, for a file
    that needs it) and registered its own library for the filter; only on POSIX systems, where
    the plugin and this process share the C library's ``malloc``.
    """
    if code != BLOSC2 or os.name != "posix" or sys.modules.get("hdf5plugin") is None:
        return None
    with _PLUGIN_LOCK:
        if code in _PLUGIN_FUNCTIONS:
            return _PLUGIN_FUNCTIONS[code]
        function = None
        try:
            filename = sys.modules["hdf5plugin"].get_config().registered_filters.get("blosc2")
            if filename and os.path.isfile(filename):
                library = ctypes.CDLL(filename)  # already loaded by hdf5plugin: the same handle
                library.H5PLget_plugin_info.restype = ctypes.c_void_p
                info = _H5ZClass.from_address(library.H5PLget_plugin_info())
                if info.version == 1 and info.id == code and info.decoder_present and info.filter:
                    library.blosc2_init()  # once, before any thread calls the filter
                    function = (_H5Z_FUNCTION(info.filter), _libc(), library)
        except (AttributeError, OSError, TypeError, ValueError):
            function = None
        if function is not None:  # a failure is not kept: hdf5plugin may register the filter later
            _PLUGIN_FUNCTIONS[code] = function
        return function


class _DecompressionParameters(ctypes.Structure):
    """Blosc2's ``blosc2_dparams`` (passed by value), with zeroed room for fields that later
    versions may append (zero or NULL is each field's default)."""

    _fields_ = [
        ("nthreads", ctypes.c_int16),
        ("schunk", ctypes.c_void_p),
        ("postfilter", ctypes.c_void_p),
        ("postparams", ctypes.c_void_p),
        ("reserved", ctypes.c_void_p * 8),
    ]


_FRAME_MAGIC = np.frombuffer(b"\xa8b2frame\x00", np.uint8)  # bytes 1-9 of a Blosc2 contiguous frame
_FRAME_HEAD = 47  # through the frame's compressed size (bytes 39-46)


def _big_endian(columns: np.ndarray, dtype: str) -> np.ndarray:
    return np.ascontiguousarray(columns).view(dtype)[:, 0].astype(np.int64)


class _Blosc2Frames:
    """Decompresses the Blosc2 filter's chunks straight into the output (see the module docstring).

    **Arguments:**

    - `library`: hdf5plugin's Blosc2 plugin library (``ctypes.CDLL``).
    - `chunk_nbytes`: bytes of one decoded chunk.
    """

    def __init__(self, library, chunk_nbytes: int):
        self.chunk_nbytes = int(chunk_nbytes)
        self._create = library.blosc2_create_dctx
        self._create.restype, self._create.argtypes = ctypes.c_void_p, [_DecompressionParameters]
        self._decompress = library.blosc2_decompress_ctx
        self._decompress.restype = ctypes.c_int
        self._decompress.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p, ctypes.c_int32]
        self._free = library.blosc2_free_ctx
        self._free.restype, self._free.argtypes = None, [ctypes.c_void_p]
        self._local = threading.local()
        self._contexts: list[int] = []
        self._lock = threading.Lock()

    def _context(self) -> int:
        context = getattr(self._local, "context", None)
        if context is None:
            with self._lock:
                context = self._create(_DecompressionParameters(nthreads=1))
                if not context:
                    raise MemoryError("blosc2_create_dctx failed")
                self._contexts.append(context)
            self._local.context = context
        return context

    def close(self) -> None:
        """Free every thread's decompression context."""
        with self._lock:
            contexts, self._contexts = self._contexts, []
            self._local = threading.local()
        for context in contexts:
            self._free(context)

    def locate(self, raw: np.ndarray, starts: np.ndarray, sizes: np.ndarray):
        """Where the Blosc2 chunk of each frame ``raw[starts[k] : starts[k] + sizes[k]]`` lies.

        Returns ``(ok, positions, cbytes)``: whether frame `k` holds one single-block chunk of
        exactly :attr:`chunk_nbytes` decoded bytes (its frame and chunk headers agree with each
        other and with the stored size), that chunk's offset in `raw` and its compressed size.
        """
        starts = np.asarray(starts, np.int64)
        sizes = np.asarray(sizes, np.int64)
        ok = (sizes >= _FRAME_HEAD + 32) & (starts + sizes <= len(raw))
        at = np.where(ok, starts, 0)
        if len(raw) < _FRAME_HEAD + 32 or not ok.any():
            return np.zeros(len(starts), bool), at, np.zeros(len(starts), np.int64)
        head = raw[at[:, None] + np.arange(_FRAME_HEAD)]
        ok &= ((head[:, 0] & 0xF0) == 0x90) & np.all(head[:, 1:10] == _FRAME_MAGIC, axis=1)
        ok &= (head[:, 10] == 0xD2) & (head[:, 15] == 0xCF) & (head[:, 29] == 0xD3) & (head[:, 38] == 0xD3)
        header = _big_endian(head[:, 11:15], ">i4")
        frame_len = _big_endian(head[:, 16:24], ">i8")
        frame_nbytes = _big_endian(head[:, 30:38], ">i8")
        frame_cbytes = _big_endian(head[:, 39:47], ">i8")
        ok &= (frame_len == sizes) & (frame_nbytes == self.chunk_nbytes)
        ok &= (header >= _FRAME_HEAD) & (header <= sizes) & (frame_cbytes >= 32) & (frame_cbytes <= sizes)
        ok &= header + np.where(ok, frame_cbytes, 0) + 16 <= sizes  # no overflow: both are <= sizes
        positions = at + np.where(ok, header, 0)
        chunk = raw[positions[:, None] + np.arange(16)].view("<i4")  # version/flags, nbytes, blocksize, cbytes
        ok &= (chunk[:, 1] == self.chunk_nbytes) & (chunk[:, 2] == self.chunk_nbytes) & (chunk[:, 3] == frame_cbytes)
        # The frame's chunk index follows: one int64 offset, itself a Blosc2 chunk of 8 bytes.
        index = raw[(positions + np.where(ok, frame_cbytes, 0))[:, None] + np.arange(16)].view("<i4")
        ok &= (index[:, 1] == 8) & (index[:, 3] >= 16) & (header + frame_cbytes + index[:, 3] <= sizes)
        return ok, positions, frame_cbytes

    def decode(self, raw: np.ndarray, positions, cbytes, destinations):
        """Decompress the chunks at `positions` of `raw` (sizes `cbytes`) to the addresses `destinations`.

        Returns ``None``, or ``(k, reason)`` for the first chunk ``k`` that failed (the rest are not decoded).
        """
        context, base, size, decompress = self._context(), raw.ctypes.data, self.chunk_nbytes, self._decompress
        for k, (position, compressed, destination) in enumerate(zip(positions, cbytes, destinations)):
            written = decompress(context, base + position, compressed, destination, size)
            if written != size:
                return k, (f"Blosc2 error {written}" if written < 0 else f"decoded {written} bytes, expected {size}")
        return None


class _PluginDecoder:
    """One dataset's HDF5 filter plugin (its decode function and the dataset's filter values)."""

    def __init__(self, code: int, values, function):
        self.code = code
        self._function, self._libc, self.library = function
        self._values = (ctypes.c_uint * max(1, len(values)))(*values)
        self._count = len(values)

    def decode(self, source, out: np.ndarray) -> None:
        """Decode the chunk bytes `source` into the uint8 array `out` (exactly its size), or raise."""
        size = len(source)
        buffer = self._libc.malloc(max(1, size))
        if not buffer:
            raise MemoryError("malloc failed")
        ctypes.memmove(buffer, np.frombuffer(source, np.uint8).ctypes.data, size)
        pointer, capacity = ctypes.c_void_p(buffer), ctypes.c_size_t(size)
        try:
            written = self._function(_H5Z_FLAG_REVERSE, self._count, self._values, size,
                                     ctypes.byref(capacity), ctypes.byref(pointer))
            if written == 0:
                raise ChunkError(f"the HDF5 filter {self.code} failed")
            if written != len(out):
                raise ChunkError(f"the HDF5 filter {self.code} decoded {written} bytes, expected {len(out)}")
            ctypes.memmove(out.ctypes.data, pointer.value, written)
        finally:
            self._libc.free(pointer.value)  # the filter freed our buffer and returned its own, or failed


class ChunkError(DatasetError):
    """A chunk could not be decoded (corrupt or truncated file)."""


def default_threads() -> int:
    """Decoding threads used by default: one per CPU (``os.cpu_count()``)."""
    return max(1, os.cpu_count() or 1)


class ChunkReader:
    """Reads samples of a chunked ``[sample, t, ...]`` HDF5 dataset with ``pread`` and parallel decoding.

    Build it with :func:`chunk_reader`, which checks that the dataset's storage is supported.
    Each chunk holds one sample and `time_block` consecutive time steps of the full space and
    channel axes (pdesolve files: one time step).

    **Arguments:**

    - `path`: the HDF5 file (opened again here, read-only, with ``os.open``).
    - `shape`, `dtype`: the dataset's shape and (native byte order) dtype.
    - `time_block`: time steps per chunk.
    - `filters`: the filter pipeline, in HDF5's (encoding) order, as ``(code, parameter)``: the
      element size for shuffle, the plugin's decoder for Blosc2, else 0.
    - `offsets`, `sizes`, `masks`: ``[sample, time_block_index]`` arrays of each chunk's byte
      offset (-1 when the chunk was never written), stored size and filter mask.
    - `threads`: decoding threads (default :func:`default_threads`); 1 decodes in the caller's thread.
    - `frames`: for a one-step, Blosc2-only pipeline, the direct decompressor of its frames
      (:class:`_Blosc2Frames`); ``None`` decodes every chunk through the filter pipeline.
    """

    def __init__(self, path, shape, dtype, time_block, filters, offsets, sizes, masks, threads=None, frames=None):
        self.path = os.fspath(path)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.time_block = int(time_block)
        self.filters = tuple(filters)
        self.offsets, self.sizes, self.masks = offsets, sizes, masks
        self.frame_nbytes = int(np.prod(self.shape[2:], dtype=np.int64)) * self.dtype.itemsize
        self.chunk_nbytes = self.frame_nbytes * self.time_block
        self.threads = default_threads() if threads is None else max(1, int(threads))
        self._frames: _Blosc2Frames | None = frames
        self._fd = os.open(self.path, os.O_RDONLY)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size, self._pool_pid = 0, 0
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the file descriptor and stop the decoding threads."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            if self._frames is not None:
                self._frames.close()

    # -- reading ----------------------------------------------------------------------------
    def read(self, jobs, frames: np.ndarray, out: np.ndarray) -> bool:
        """Read ``(sample, output position)`` jobs, time steps `frames`, into `out` ``[b, t, ...]``.

        `out` must be C-contiguous with ``out[position, k]`` holding frame ``frames[k]`` (its
        bytes are those of the dataset, a trailing channel axis of 1 may be added). Returns
        ``False`` (having written nothing) when a chunk is missing from the index, so that the
        caller reads the batch through h5py; raises :class:`ChunkError` for a chunk that cannot
        be read or decoded.

        The batch is planned with a few numpy operations (each sample's chunks sorted by file
        offset, runs of chunks lying end to end found), then split into at most :attr:`threads`
        tasks of whole samples, run on the thread pool (1 thread: in the calling thread).
        Unfiltered chunks are read with one ``preadv`` per run, straight into `out`.
        """
        plan = self._plan(jobs, frames, out)
        if plan is None:
            return False
        rows, blocks, frames = plan
        tasks = min(self.threads, len(rows))
        if tasks <= 1:
            self._read_rows(rows, blocks, frames)
            return True
        with self._lock:  # submitting under the lock: close() or a new thread count cannot interleave
            if self._fd < 0:
                raise DatasetError(f"{self.path}: the dataset is closed")
            if self._pool is not None and self._pool_pid != os.getpid():
                self._pool = None  # a forked child: the parent's threads do not exist here
            if self._pool is None or self._pool_size != self.threads:
                if self._pool is not None:
                    self._pool.shutdown(wait=False)  # its queued tasks still run
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="pdesolve-decode")
                self._pool_size, self._pool_pid = self.threads, os.getpid()
            futures = [self._pool.submit(self._read_rows, rows[k::tasks], blocks, frames) for k in range(tasks)]
        error = None
        for future in futures:  # wait for all, so that no task writes into `out` after we return
            try:
                future.result()
            except BaseException as err:
                error = error or err
        if error is not None:
            raise error
        return True

    def will_need(self, samples, frames: np.ndarray) -> None:
        """Tell the OS that the chunks of `samples` (frames `frames`) will be read soon.

        One ``posix_fadvise(POSIX_FADV_WILLNEED)`` per run of chunks lying end to end: the kernel
        starts reading them from disk in the background, so that the reads of a batch overlap
        with the decoding of the one before, and a batch's reads are in flight together. Costs a
        few microseconds per run when the pages are cached; does nothing without ``posix_fadvise``.
        """
        if not hasattr(os, "posix_fadvise") or self._fd < 0:
            return
        frames = np.asarray(frames, dtype=np.int64)
        blocks = np.unique(frames // self.time_block)
        samples = np.unique(np.asarray(samples, dtype=np.int64))
        offsets = self.offsets[samples[:, None], blocks[None, :]].reshape(-1)
        sizes = self.sizes[samples[:, None], blocks[None, :]].reshape(-1)
        keep = offsets >= 0
        offsets, sizes = offsets[keep], sizes[keep]
        order = np.argsort(offsets, kind="stable")
        offsets, sizes = offsets[order], sizes[order]
        breaks = np.flatnonzero(offsets[1:] != offsets[:-1] + sizes[:-1]) + 1
        starts = offsets[np.concatenate([[0], breaks])] if len(offsets) else offsets
        ends = np.concatenate([breaks, [len(offsets)]]) - 1 if len(offsets) else offsets
        stops = offsets[ends] + sizes[ends] if len(offsets) else offsets
        try:
            for start, stop in zip(starts.tolist(), stops.tolist()):
                os.posix_fadvise(self._fd, start, stop - start, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass  # only a hint

    def _plan(self, jobs, frames, out):
        """``(rows, blocks, frames)`` for :meth:`_read_rows`, or None when a chunk was never written.

        One row per job: ``(sample, dest, order, offsets, sizes, masks, joined)``: the sample's
        output as bytes ``[len(frames), frame bytes]``, its chunks sorted by file offset (``order``:
        their time-block indices among `blocks`), and whether each chunk ends where the next begins.
        """
        frames = np.asarray(frames, dtype=np.int64)
        blocks = np.unique(frames // self.time_block)
        samples = np.fromiter((s for s, _ in jobs), dtype=np.int64, count=len(jobs))
        offsets = self.offsets[samples[:, None], blocks[None, :]]
        if np.any(offsets < 0):
            return None
        sizes = self.sizes[samples[:, None], blocks[None, :]]
        masks = self.masks[samples[:, None], blocks[None, :]]
        order = np.argsort(offsets, axis=1, kind="stable")
        offsets = np.take_along_axis(offsets, order, axis=1)
        sizes = np.take_along_axis(sizes, order, axis=1)
        masks = np.take_along_axis(masks, order, axis=1)
        joined = offsets[:, 1:] == offsets[:, :-1] + sizes[:, :-1]  # chunk k + 1 follows chunk k
        flat = out.reshape(out.shape[0], len(frames), -1).view(np.uint8)
        rows = [
            (sample, flat[position], order[r], offsets[r], sizes[r], masks[r], joined[r])
            for r, (sample, position) in enumerate(jobs)
        ]
        return rows, blocks, frames

    def decode_seconds(self, samples, frames: np.ndarray, out: np.ndarray) -> float:
        """CPU seconds this thread spends decoding samples `samples`, frames `frames`.

        The samples are taken ``len(out)`` at a time (`out`: ``[group, len(frames), ...]``, reused):
        each group's chunks are read first (not counted), then decoded in the calling thread, as
        one task of :meth:`read` would; unfiltered chunks count as one copy into place.
        """
        clock = [0.0]
        samples = [int(s) for s in samples]
        for k in range(0, len(samples), len(out)):
            jobs = [(sample, position) for position, sample in enumerate(samples[k : k + len(out)])]
            plan = self._plan(jobs, frames, out)
            if plan is None:
                raise DatasetError(f"{self.path}: samples {jobs[0][0]}-{jobs[-1][0]} have unwritten chunks")
            rows, blocks, frames = plan
            try:
                self._read_rows_unchecked(rows, blocks, frames, clock)
            except OSError as err:
                raise ChunkError(f"{self.path}: reading chunks failed ({err.strerror or err})") from err
        return clock[0]

    def _read_rows(self, rows, blocks: np.ndarray, frames: np.ndarray) -> None:
        """Read whole samples: ``(sample, dest, order, offsets, sizes, masks, joined)`` per sample."""
        try:
            self._read_rows_unchecked(rows, blocks, frames)
        except OSError as err:
            raise ChunkError(f"{self.path}: reading chunks failed ({err.strerror or err})") from err

    def _read_rows_unchecked(self, rows, blocks: np.ndarray, frames: np.ndarray, clock: list | None = None) -> None:
        """Read and decode whole samples into their ``dest``.

        With a `clock` (a one-element list), each sample's chunks are all read first, and the
        thread's CPU seconds spent decoding them (unfiltered chunks: copying them into place) are
        added to ``clock[0]``: :meth:`decode_seconds`.
        """
        if self._frames is not None:
            self._read_frames(rows, blocks, frames, clock)
            return
        direct = self.time_block == 1 and not self.filters and clock is None
        # One-step shuffled chunks are decoded into `stage` (still shuffled) and unshuffled a whole
        # sample at a time: one strided copy per byte position instead of one per chunk and byte.
        shuffle = self.filters[0][1] if self.filters and self.filters[0][0] == SHUFFLE else 0
        stage = np.empty((len(frames), self.chunk_nbytes), np.uint8) if shuffle > 1 and self.time_block == 1 else None
        for sample, dest, order, offsets, sizes, masks, joined in rows:
            deferred: list = []  # (slot, bytes) of chunks whose shuffle HDF5 skipped
            breaks = (np.flatnonzero(~joined) + 1).tolist()
            starts, stops = [0] + breaks, breaks + [len(order)]
            order, offsets, sizes, masks = order.tolist(), offsets.tolist(), sizes.tolist(), masks.tolist()
            runs = []
            for a0, b0 in zip(starts, stops):
                for a in range(a0, b0, _MAX_IOV):
                    b = min(a + _MAX_IOV, b0)
                    first, nbytes = offsets[a], offsets[b - 1] + sizes[b - 1] - offsets[a]
                    if direct:
                        # Unfiltered one-step chunks: straight into their output slots (order[k] is
                        # chunk k's frame); chunks of consecutive frames make one buffer.
                        if order[a:b] == list(range(order[a], order[a] + b - a)):
                            buffers = [dest[order[a] : order[b - 1] + 1]]
                        else:
                            buffers = [dest[slot] for slot in order[a:b]]
                        if os.preadv(self._fd, buffers, first) != nbytes:
                            raise ChunkError(self._truncated(sample))
                        continue
                    raw = os.pread(self._fd, nbytes, first)
                    if len(raw) != nbytes:
                        raise ChunkError(self._truncated(sample))
                    runs.append((a, b, first, raw))
                    if clock is None:  # decode while the next run is read
                        self._decode_run(runs.pop(), order, offsets, sizes, masks, blocks, frames, dest, sample,
                                         stage, deferred)
            started = time.thread_time() if clock is not None else 0.0
            for run in runs:
                self._decode_run(run, order, offsets, sizes, masks, blocks, frames, dest, sample, stage, deferred)
            if stage is not None:
                shuffled = stage.reshape(len(frames), shuffle, -1)
                columns = dest.reshape(len(frames), -1, shuffle)
                for byte in range(shuffle):
                    columns[:, :, byte] = shuffled[:, byte, :]
                for slot, source in deferred:
                    dest[slot] = source
            if clock is not None:
                clock[0] += time.thread_time() - started

    def _decode_run(self, run, order, offsets, sizes, masks, blocks, frames, dest, sample, stage, deferred) -> None:
        a, b, first, raw = run
        view = memoryview(raw)
        for k in range(a, b):
            start = offsets[k] - first
            self._decode_into(view[start : start + sizes[k]], masks[k], int(blocks[order[k]]), order[k], frames, dest,
                              sample, stage, deferred)

    def _read_frames(self, rows, blocks: np.ndarray, frames: np.ndarray, clock: list | None = None) -> None:
        """The Blosc2 path of :meth:`_read_rows_unchecked`: all samples of the task at once.

        Every run of chunks is read into one buffer (one ``preadv`` per run), every frame header
        is checked in one pass (:meth:`_Blosc2Frames.locate`), and the plain frames are
        decompressed in one loop of ``blosc2_decompress_ctx`` calls; the others (filter skipped,
        or not a plain one-block frame) go through :meth:`_decode_into`.
        """
        where, lengths, samples, slots, masks = [], [], [], [], []
        run_at, run_length, run_offset, run_sample = [], [], [], []
        cursor = 0
        for r, (sample, dest, order, offsets, sizes, mask, joined) in enumerate(rows):
            run = np.concatenate([[0], np.cumsum(~joined)])  # run index of each chunk
            firsts = np.flatnonzero(np.concatenate([[True], ~joined]))
            ends = np.concatenate([firsts[1:], [len(order)]]) - 1
            starts, stops = offsets[firsts], offsets[ends] + sizes[ends]
            bases = cursor + np.concatenate([[0], np.cumsum(stops - starts)[:-1]]) - starts
            where.append(offsets + bases[run])
            cursor += int((stops - starts).sum())
            lengths.append(sizes), masks.append(mask), slots.append(order)
            samples.append(np.full(len(order), r))
            run_at.extend(starts.tolist()), run_length.extend((stops - starts).tolist())
            run_offset.extend((starts + bases).tolist())
            run_sample.extend([sample] * len(firsts))
        raw = np.empty(cursor, np.uint8)
        for first, nbytes, at, sample in zip(run_at, run_length, run_offset, run_sample):
            if os.preadv(self._fd, [raw[at : at + nbytes]], first) != nbytes:
                raise ChunkError(self._truncated(sample))
        started = time.thread_time() if clock is not None else 0.0
        where, lengths = np.concatenate(where), np.concatenate(lengths)
        samples, slots, masks = np.concatenate(samples), np.concatenate(slots), np.concatenate(masks)
        ok, positions, cbytes = self._frames.locate(raw, where, lengths)
        ok &= masks == 0
        chosen = np.flatnonzero(ok)
        if len(chosen):
            bases = np.array([dest.ctypes.data for _, dest, *_ in rows], np.int64)
            destinations = bases[samples[chosen]] + slots[chosen] * self.frame_nbytes
            failed = self._frames.decode(raw, positions[chosen].tolist(), cbytes[chosen].tolist(),
                                         destinations.tolist())
            if failed is not None:
                k, reason = failed
                sample = rows[int(samples[chosen[k]])][0]
                raise ChunkError(f"{self.path}: corrupt data in a chunk of sample {sample} ({reason})")
        if len(chosen) < len(ok):
            view = memoryview(raw)
            for k in np.flatnonzero(~ok).tolist():
                sample, dest = rows[int(samples[k])][:2]
                start, slot = int(where[k]), int(slots[k])
                self._decode_into(view[start : start + int(lengths[k])], int(masks[k]), int(blocks[slot]), slot,
                                  frames, dest, sample)
        if clock is not None:
            clock[0] += time.thread_time() - started

    def _truncated(self, sample: int) -> str:
        return f"{self.path}: truncated file: a chunk of sample {sample} lies past the end of the file"

    def _decode_into(self, chunk, mask: int, block: int, slot: int, frames, dest, sample, stage=None,
                     deferred=None) -> None:
        """Undo the filter pipeline of one chunk and copy its frames among `frames` into `dest`.

        With one time step per chunk, the chunk is frame ``frames[slot]`` and decodes straight
        into ``dest[slot]``; with a `stage`, a shuffled chunk is left shuffled in ``stage[slot]``
        (the caller unshuffles the whole sample) and an unshuffled one goes to `deferred`.
        """
        single = self.time_block == 1
        if single:
            target = dest[slot]
        else:
            target = np.empty(self.chunk_nbytes, np.uint8)
        data = chunk
        shuffle_size = 0
        try:
            for index in range(len(self.filters) - 1, -1, -1):
                if mask >> index & 1:
                    continue
                code, param = self.filters[index]
                if code == DEFLATE:
                    data = zlib.decompress(data, bufsize=self.chunk_nbytes)
                elif code == LZF or code == BLOSC2:
                    # Straight into the output when nothing else follows (no shuffle to undo).
                    last = index == 0 or all(mask >> i & 1 for i in range(index))
                    if last and single:
                        buffer = target if stage is None else np.empty(self.chunk_nbytes, np.uint8)
                    else:
                        buffer = stage[slot] if stage is not None else np.empty(self.chunk_nbytes, np.uint8)
                    if code == BLOSC2:
                        param.decode(data, buffer)
                    else:
                        source = np.frombuffer(data, np.uint8)
                        written = _LZF(source.ctypes.data, len(source), buffer.ctypes.data, len(buffer))
                        if written != len(buffer):
                            raise ChunkError("lzf decompression failed")
                    data = buffer
                elif code == SHUFFLE:  # first in the pipeline (checked by chunk_reader): undone last
                    shuffle_size = param
        except zlib.error as err:
            raise ChunkError(f"{self.path}: corrupt data in a chunk of sample {sample} (zlib: {err})") from err
        except ChunkError as err:
            raise ChunkError(f"{self.path}: corrupt data in a chunk of sample {sample} ({err})") from err
        if data is target:  # already decoded in place
            return
        source = np.frombuffer(data, np.uint8)
        if len(source) != self.chunk_nbytes:
            raise ChunkError(
                f"{self.path}: corrupt data in a chunk of sample {sample}: decoded {len(source)} bytes, "
                f"expected {self.chunk_nbytes}"
            )
        if stage is not None:
            if shuffle_size <= 1:
                deferred.append((slot, source))
            elif not (isinstance(data, np.ndarray) and data.base is stage):  # LZF decoded into the stage
                stage[slot] = source
            return
        if shuffle_size > 1:
            rows = source.reshape(shuffle_size, -1)
            columns = target.reshape(-1, shuffle_size)
            for byte in range(shuffle_size):
                columns[:, byte] = rows[byte]
        else:
            target[...] = source
        if not single:
            decoded = target.reshape(self.time_block, -1)
            first = block * self.time_block
            inside = (frames >= first) & (frames < first + self.time_block)
            dest[np.nonzero(inside)[0]] = decoded[frames[inside] - first]


def _pipeline(ds) -> list[tuple[int, int]] | None:
    """The dataset's filters as ``(code, parameter)`` (see :class:`ChunkReader`), or None if one is not supported."""
    plist = ds.id.get_create_plist()
    filters = []
    for index in range(plist.get_nfilters()):
        code, _flags, values, _name = plist.get_filter(index)
        if code not in SUPPORTED_FILTERS or (code == LZF and _LZF is None):
            return None
        param = int(values[0]) if code == SHUFFLE and len(values) else 0
        if code == SHUFFLE and param != ds.dtype.itemsize:
            return None
        if code == BLOSC2:
            function = _plugin_function(code)
            if function is None:
                return None
            param = _PluginDecoder(code, [int(v) for v in values], function)
        filters.append((int(code), param))
    if any(code == SHUFFLE for code, _ in filters[1:]):
        return None
    return filters


def chunk_reader(path, ds, threads: int | None = None) -> ChunkReader | None:
    """A :class:`ChunkReader` for the h5py dataset `ds` of file `path`, or None if h5py must read it.

    Supported: a chunked (not virtual) dataset of rank >= 3, shaped ``[sample, t, ...]``, whose
    chunks are ``(1, time_block, <the full remaining axes>)``, with a native-byte-order integer or
    float dtype and a filter pipeline of shuffle, deflate and/or LZF (or none). The chunk index
    is built once here (``chunk_iter``: about 0.1 s per 20 000 chunks).
    """
    import h5py

    try:
        if not isinstance(ds, h5py.Dataset) or ds.is_virtual or ds.chunks is None or ds.ndim < 3:
            return None
        dtype = np.dtype(ds.dtype)
        if dtype.kind not in "fiu" or dtype.byteorder not in ("=", "|") and dtype.byteorder != (
            "<" if np.little_endian else ">"
        ):
            return None
        shape, chunks = tuple(ds.shape), tuple(ds.chunks)
        if 0 in shape or chunks[0] != 1 or chunks[2:] != shape[2:]:
            return None
        filters = _pipeline(ds)
        if filters is None:
            return None
        time_block = chunks[1]
        num_blocks = -(-shape[1] // time_block)
        offsets = np.full((shape[0], num_blocks), -1, dtype=np.int64)
        sizes = np.zeros((shape[0], num_blocks), dtype=np.int64)
        masks = np.zeros((shape[0], num_blocks), dtype=np.int64)

        def record(info):
            sample, step = info.chunk_offset[0], info.chunk_offset[1] // time_block
            offsets[sample, step] = info.byte_offset
            sizes[sample, step] = info.size
            masks[sample, step] = info.filter_mask

        if hasattr(ds.id, "chunk_iter"):
            try:
                ds.id.chunk_iter(record)
            except (RuntimeError, NotImplementedError):  # HDF5 built without H5Dchunk_iter
                return None
        else:
            count = ds.id.get_num_chunks()
            if count > _MAX_INFO_CHUNKS:
                return None
            for index in range(count):
                record(ds.id.get_chunk_info(index))
    except (OSError, ValueError, IndexError):
        return None  # let h5py read (and report) whatever is wrong
    written = offsets >= 0
    chunk_nbytes = time_block * int(np.prod(shape[2:], dtype=np.int64)) * dtype.itemsize
    if not filters and np.any(sizes[written] != chunk_nbytes):
        return None  # unfiltered chunks must hold exactly their decoded bytes
    frames = None
    if time_block == 1 and len(filters) == 1 and filters[0][0] == BLOSC2:
        frames = _checked_frames(path, filters[0][1], chunk_nbytes, offsets, sizes, masks)
    return ChunkReader(path, shape, dtype, time_block, filters, offsets, sizes, masks, threads=threads, frames=frames)


def _checked_frames(path, plugin: _PluginDecoder, chunk_nbytes, offsets, sizes, masks) -> _Blosc2Frames | None:
    """A :class:`_Blosc2Frames` for the file, if it decodes the first written chunk as the filter does."""
    candidates = np.flatnonzero((offsets.reshape(-1) >= 0) & (masks.reshape(-1) == 0))
    if not len(candidates):
        return None
    k = candidates[0]
    offset, size = int(offsets.reshape(-1)[k]), int(sizes.reshape(-1)[k])
    try:
        frames = _Blosc2Frames(plugin.library, chunk_nbytes)
    except AttributeError:  # a plugin library without the Blosc2 API
        return None
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            raw = np.frombuffer(f.read(size), np.uint8)
        expected, got = np.empty(chunk_nbytes, np.uint8), np.zeros(chunk_nbytes, np.uint8)
        plugin.decode(raw, expected)
        ok, positions, cbytes = frames.locate(raw, np.zeros(1, np.int64), np.array([len(raw)]))
        if ok[0]:
            failed = frames.decode(raw, positions.tolist(), cbytes.tolist(), [got.ctypes.data])
            if failed is not None or not np.array_equal(got, expected):
                raise ChunkError("the direct decoding differs from the filter's")
    except (OSError, ChunkError, MemoryError):
        frames.close()
        return None  # decode through the filter (which reports real corruption on reading)
    return frames
