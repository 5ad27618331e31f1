"""Cost at scale: how fast each way to save a model writes and reads, next to the disk itself.

``python -m benchmarks.checkpoint [--quick] [--sizes 1e6 1e7 5e7] [--repeats 3] [--out build/bench]``

Notebook 08 times seven savers on small CNNs. This benchmark asks what happens when the model is large: a stack of
``Dense`` layers of about 1e6, 1e7 and 5e7 parameters, Adam's slots created by one training step (so every format
that keeps the optimizer writes 12 bytes per parameter: ~0.6 GB at 5e7). For each format (the names follow notebook
08, plus asynchronous and sharded ``tf.train.Checkpoint`` writes), with no strategy and under
``MirroredStrategy`` over 2 logical CPUs, it measures save seconds, load seconds and bytes on disk: the median of
``repeats`` runs after ``warmup`` untimed ones.

Why a ratio to the disk: a "12 s save" means nothing on its own. The same run measures the raw bandwidth of the same
directory (write N bytes + ``fsync``; read them back with plain file I/O after dropping them from the page cache),
with N = 12 bytes per parameter (the checkpoint of the weights and Adam's two moments), and reports each format's
bytes/second as a fraction of it. On a shared or virtual disk that bandwidth drifts during a run, so the raw probe is
interleaved with the formats: one probe before every format (per strategy) and one after the last, and the ratio's
denominator is the median of all probes of that model size; the CSV keeps their min and max, and the ratios against
the fastest and the slowest probe (``*_ratio_min`` / ``*_ratio_max``). A ratio above 1 is flagged (``above_raw``):
within the probes' spread it says the disk was faster during that save than at the median probe, not that a format
beat the disk. So that the two are comparable:

- a save is timed until its files are complete *and* on disk: the call, the wait for an asynchronous write, then
  ``fsync`` of every file it wrote (``save_call_s`` is the call alone: what the training loop waits for);
- before every timed load, every file of the artifact is dropped from Linux's page cache with
  ``os.posix_fadvise(POSIX_FADV_DONTNEED)`` after an ``fsync`` (per file), and ``cached_before_load`` records the
  fraction of its pages still resident (``mincore``). A virtual machine's host may still cache the disk below the
  guest: a load can then read faster than a physical disk would, and so can the raw read.

Asynchronous checkpoints also get a training-loop measurement: a loop of ``train_on_batch`` steps with a checkpoint
every K steps, synchronous vs asynchronous, and the stall per checkpoint (the blocking call plus the slowdown of the
following steps while the background write runs), as a fraction of the synchronous save.

Outputs in ``--out``: ``checkpoint.csv`` (formats, and a ``raw file I/O`` row per size), ``checkpoint_stall.csv``
(async stall), ``checkpoint.json`` (machine, versions, date, file system, method notes), and PNG charts; all written
atomically. :func:`markdown_summary` turns a results CSV into the table that notebook 11 shows.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import ctypes
import ctypes.util
import datetime
import gc
import io
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from helpers.tf_errors import error_line

__all__ = [
    "FORMATS",
    "STRATEGIES",
    "Config",
    "QUICK",
    "FULL",
    "DiskBandwidth",
    "Results",
    "parse_size",
    "check_formats",
    "check_strategies",
    "check_repeats",
    "dense_width",
    "build_model",
    "write_async",
    "error_summary",
    "evict",
    "cached_fraction",
    "disk_bandwidth",
    "atomic_write",
    "run",
    "write_results",
    "read_csv",
    "markdown_summary",
    "timing_table",
    "main",
]

#: The formats, in the order of notebook 08's table, then the two checkpoint options this benchmark adds.
FORMATS = (
    ".keras",
    ".weights.h5",
    "model.export",
    "tf.saved_model.save",
    "tf.train.Checkpoint",
    "CheckpointManager",
    "Checkpoint async",
    "Checkpoint sharded",
)
#: Formats whose load gives back a Keras model with its optimizer state (the others give a plain SavedModel object).
RESTORES_OPTIMIZER = frozenset(FORMATS) - {"model.export", "tf.saved_model.save"}
RAW = "raw file I/O"
#: Strategy names on the command line -> the names in the results.
STRATEGIES = {"none": "no strategy", "mirrored": "Mirrored(2)"}
LAYERS = 4  # Dense layers of width w on a w-wide input: LAYERS * (w * w + w) parameters
MIN_PARAMS, MAX_PARAMS = 1_000, 200_000_000
SHARDS = 8  # MaxShardSizePolicy(max_shard_size = ceil(bytes of weights + Adam state / SHARDS))
GC_PARAMS = 2_000_000  # above this, collect garbage after each load (each gc.collect() costs ~0.3 s with TF loaded)
BATCH = 64  # global batch of the training steps (32 per replica under Mirrored(2))
CSV_NAME, STALL_NAME, META_NAME = "checkpoint.csv", "checkpoint_stall.csv", "checkpoint.json"
CSV_FIELDS = (
    "size",
    "params",
    "strategy",
    "format",
    "runs",
    "bytes",
    "files",
    "save_call_s",
    "save_s",
    "load_s",
    "save_MBps",
    "load_MBps",
    "raw_write_MBps",
    "raw_read_MBps",
    "raw_probes",
    "raw_write_MBps_min",
    "raw_write_MBps_max",
    "raw_read_MBps_min",
    "raw_read_MBps_max",
    "save_ratio",
    "load_ratio",
    "save_ratio_min",
    "save_ratio_max",
    "load_ratio_min",
    "load_ratio_max",
    "above_raw",
    "cached_before_load",
    "restores_optimizer",
    "error",
)
STALL_FIELDS = (
    "size",
    "params",
    "strategy",
    "checkpoints",
    "steps_between",
    "step_s",
    "sync_save_s",
    "sync_stall_s",
    "async_call_s",
    "async_stall_s",
    "stall_fraction",
    "error",
)
EVICTION_NOTE = (
    "Before every timed load (and the raw read), each file is fsynced and dropped from the Linux page cache with "
    "os.posix_fadvise(POSIX_FADV_DONTNEED), per file; cached_before_load is the largest fraction of an artifact's "
    "pages still resident (mincore) just before a timed load. A VM host may still cache the disk below the guest, "
    "so reads can be faster than the physical disk."
)
SAVE_NOTE = (
    "save_s: from the save call until every file it wrote is complete and fsynced (for 'Checkpoint async' this "
    "includes Checkpoint.sync()); save_call_s: the call alone. Raw write: N bytes written and fsynced, N = 12 bytes "
    "per parameter; ratios are (bytes / seconds) / the median raw bandwidth of the same directory in the same run."
)
RAW_NOTE = (
    "The raw probe (one write + fsync and one read after eviction) runs before every format of every strategy and "
    "once after the last, interleaved with the formats: raw_probes probes per size. raw_*_MBps is their median "
    "(the ratios' denominator), raw_*_MBps_min/max their spread; *_ratio_min/max divide by the fastest/slowest "
    "probe. above_raw flags a ratio above 1 and says whether it lies within the probes' spread (the disk was faster "
    "during that save than at the median probe) or above every probe."
)
ASYNC_NOTE = (
    "Keras 3 + TF: a second asynchronous write through the same tf.train.Checkpoint of a Keras model raises "
    "ValueError (KerasVariable._copy_trackable_to_cpu creates a new tf.Variable inside a tf.function on every call). "
    "A fresh tf.train.Checkpoint per write works, but each one keeps its background thread and a copy of every "
    "variable (two tf.Variables per Keras variable) alive until the program ends (atexit holds it). 'Checkpoint "
    "async' and the stall loop therefore reuse one tf.train.Checkpoint per model and run each asynchronous write "
    "with tf.config.run_functions_eagerly(True) (write_async): the copy runs eagerly, where creating variables is "
    "allowed, and replaces the previous copies; one background thread per Checkpoint, one set of copies."
)


# --------------------------------------------------------------------------------------------------------------------
# Arguments


def parse_size(text: str | int | float) -> int:
    """A parameter count from ``"1e6"``, ``"10000000"``, ``"5e7"`` or a number; ValueError says what is allowed."""
    if isinstance(text, bool):
        raise ValueError(f"size must be a number of parameters such as 1e6, got {text!r}")
    try:
        value = float(str(text).replace("_", ""))
    except ValueError:
        raise ValueError(f"size must be a number of parameters such as 1e6 or 10000000, got {text!r}") from None
    if not math.isfinite(value) or value != int(value):
        raise ValueError(f"size must be a whole number of parameters, got {text!r}")
    if not MIN_PARAMS <= value <= MAX_PARAMS:
        raise ValueError(f"size must be between {MIN_PARAMS:.0e} and {MAX_PARAMS:.0e} parameters, got {text!r}")
    return int(value)


def size_label(params: int) -> str:
    """``50_000_000`` -> ``"5e7"``; counts that are not a digit times a power of ten stay as digits."""
    digits = str(params).rstrip("0")
    zeros = len(str(params)) - len(digits)
    return f"{digits}e{zeros}" if len(digits) == 1 and zeros >= 3 else str(params)


def check_formats(names: Iterable[str]) -> tuple[str, ...]:
    """The formats to run, in :data:`FORMATS` order; ValueError on an unknown or empty selection."""
    names = list(names)
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ValueError(f"unknown format(s) {unknown or names!r}; choose from: {', '.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in names)


def check_strategies(names: Iterable[str]) -> tuple[str, ...]:
    """The strategies to run (``none``, ``mirrored``); ValueError on an unknown or empty selection."""
    names = list(names)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown or not names:
        raise ValueError(f"unknown strateg(y/ies) {unknown or names!r}; choose from: {', '.join(STRATEGIES)}")
    return tuple(s for s in STRATEGIES if s in names)


def check_repeats(n: object, name: str = "repeats", minimum: int = 1) -> int:
    """A run count; ValueError if it is not an integer >= ``minimum``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n!r}")
    return n


@dataclass(frozen=True)
class Config:
    """What to run. Every field is validated; see :data:`FULL` and :data:`QUICK`."""

    sizes: tuple[int, ...] = (1_000_000, 10_000_000, 50_000_000)
    repeats: int = 3  # timed runs per (size, strategy, format): medians
    warmup: int = 1  # untimed runs before them (tracing, first allocations)
    formats: tuple[str, ...] = FORMATS
    strategies: tuple[str, ...] = tuple(STRATEGIES)
    stall_checkpoints: int = 3  # checkpoints per training loop in the async-stall measurement; 0 = skip it
    disk_repeats: int = 1  # raw write/read probes at each point between formats (see RAW_NOTE): medians

    def __post_init__(self) -> None:
        if not self.sizes:
            raise ValueError("sizes is empty: give at least one parameter count such as 1e6")
        object.__setattr__(self, "sizes", tuple(parse_size(s) for s in self.sizes))
        object.__setattr__(self, "formats", check_formats(self.formats))
        object.__setattr__(self, "strategies", check_strategies(self.strategies))
        check_repeats(self.repeats)
        check_repeats(self.warmup, "warmup", 0)
        check_repeats(self.stall_checkpoints, "stall_checkpoints", 0)
        check_repeats(self.disk_repeats, "disk_repeats")


FULL = Config()
QUICK = Config(sizes=(1_000_000,), repeats=2, warmup=1, stall_checkpoints=3, disk_repeats=1)


def dense_width(params: int) -> int:
    """The width w whose ``LAYERS`` Dense(w) layers on a w-wide input have closest to ``params`` parameters."""
    params = parse_size(params)
    return max(1, round((math.sqrt(1 + 4 * params / LAYERS) - 1) / 2))


# --------------------------------------------------------------------------------------------------------------------
# Files: atomic writes, the page cache, raw disk bandwidth


def atomic_write(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that it is either the old file or the whole new one, never a partial one.

    A temporary file in the same directory is written and fsynced, then ``os.replace``d onto ``path``, then the
    directory is fsynced.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes it private (0600); a results file is an ordinary file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems refuse fsync on a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _files(path: str | os.PathLike) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no file or folder at {path}")
    return sorted(p for p in path.rglob("*") if p.is_file())


def _tree_bytes(path: Path) -> tuple[int, int]:
    files = _files(path)
    return sum(f.stat().st_size for f in files), len(files)


def fsync_tree(path: str | os.PathLike) -> None:
    """fsync every file under ``path`` and every folder (so new names are on disk too)."""
    for f in _files(path):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    root = Path(path)
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())] if root.is_dir() else [root.parent]:
        _fsync_dir(folder)


def evict(path: str | os.PathLike) -> bool:
    """Drop every file under ``path`` from the page cache: ``fsync``, then ``posix_fadvise(DONTNEED)``, per file.

    Dirty pages cannot be dropped, hence the fsync first. Returns False where the OS has no ``posix_fadvise``
    (macOS, Windows): then nothing is dropped and reads may come from memory.
    """
    files = _files(path)
    if not hasattr(os, "posix_fadvise"):
        return False
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return True


_libc: Any = None


def _mincore_libc() -> Any:
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name, use_errno=True) if name else None
        if libc is None or not hasattr(libc, "mincore"):
            _libc = False
        else:
            libc.mmap.restype = ctypes.c_void_p
            libc.mmap.argtypes = [
                ctypes.c_void_p,
                ctypes.c_size_t,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_long,
            ]
            libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
            _libc = libc
    return _libc


def cached_fraction(path: str | os.PathLike) -> float | None:
    """The fraction of the pages of the files under ``path`` that are in the page cache (``mincore``).

    None where ``mincore`` is not available (not Linux). Empty files count as 0 pages.
    """
    libc = _mincore_libc()
    if not libc or not sys.platform.startswith("linux"):
        return None
    import mmap

    page = mmap.PAGESIZE
    resident = total = 0
    for f in _files(path):
        size = f.stat().st_size
        if size == 0:
            continue
        pages = (size + page - 1) // page
        fd = os.open(f, os.O_RDONLY)
        try:
            addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
            if addr in (None, ctypes.c_void_p(-1).value):
                raise OSError(ctypes.get_errno(), f"mmap failed for {f}")
            try:
                vec = (ctypes.c_ubyte * pages)()
                if libc.mincore(addr, size, vec) != 0:
                    raise OSError(ctypes.get_errno(), f"mincore failed for {f}")
                resident += sum(b & 1 for b in vec)
            finally:
                libc.munmap(addr, size)
        finally:
            os.close(fd)
        total += pages
    return resident / total if total else 0.0


@dataclass(frozen=True)
class DiskBandwidth:
    """Raw file I/O in one folder: medians of ``runs`` probes of ``nbytes`` each, bytes per second."""

    nbytes: int
    runs: int
    write_s: float  # write + fsync
    read_s: float  # read after eviction
    cached_after_evict: float | None  # fraction of the file's pages resident before the read (0.0 = evicted)
    evicted: bool

    @property
    def write_Bps(self) -> float:  # noqa: N802 (bytes per second)
        return self.nbytes / self.write_s

    @property
    def read_Bps(self) -> float:  # noqa: N802
        return self.nbytes / self.read_s


_CHUNK = 8 * 2**20


def disk_bandwidth(folder: str | os.PathLike, nbytes: int, runs: int = 3) -> DiskBandwidth:
    """Measure raw write (+ fsync) and read (after :func:`evict`) bandwidth of ``folder`` with ``nbytes`` bytes.

    The bytes are random (no file system or storage layer can compress them); the file is removed afterwards.
    """
    import numpy as np

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder at {folder}: create it first")
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 1:
        raise ValueError(f"nbytes must be a positive integer, got {nbytes!r}")
    check_repeats(runs, "runs")
    block = np.random.default_rng(0).integers(0, 256, min(nbytes, 8 * _CHUNK), dtype=np.uint8).tobytes()
    view = memoryview(block)
    buffer = bytearray(_CHUNK)
    writes, reads, cached = [], [], []
    evicted = True
    path = folder / "raw-io-probe.bin"
    try:
        for _ in range(runs):
            os.sync()
            start = time.perf_counter()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                left = nbytes
                while left > 0:
                    left -= os.write(fd, view[: min(left, len(view))])
                os.fsync(fd)
            finally:
                os.close(fd)
            writes.append(time.perf_counter() - start)
            evicted = evict(path) and evicted
            cached.append(cached_fraction(path))
            start = time.perf_counter()
            with open(path, "rb", buffering=0) as f:
                got = 0
                while n := f.readinto(buffer):
                    got += n
            reads.append(time.perf_counter() - start)
            if got != nbytes:
                raise OSError(f"read back {got} of {nbytes} bytes from {path}")
            path.unlink()
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    known = [c for c in cached if c is not None]
    return DiskBandwidth(
        nbytes, runs, statistics.median(writes), statistics.median(reads), max(known) if known else None, evicted
    )


def combine_probes(probes: Sequence[DiskBandwidth]) -> tuple[DiskBandwidth, dict]:
    """Probes of the same size taken at different times -> (their medians as one DiskBandwidth, their spread).

    The spread holds ``raw_probes`` and the min and max write and read bandwidth in MB/s (10^6 bytes).
    """
    if not probes:
        raise ValueError("no raw disk probes to combine")
    nbytes = probes[0].nbytes
    if any(p.nbytes != nbytes for p in probes):
        raise ValueError("probes of different sizes cannot be combined")
    writes = [w for p in probes for w in ([p.write_s] * p.runs)]
    reads = [r for p in probes for r in ([p.read_s] * p.runs)]
    known = [p.cached_after_evict for p in probes if p.cached_after_evict is not None]
    disk = DiskBandwidth(
        nbytes,
        len(writes),
        statistics.median(writes),
        statistics.median(reads),
        max(known) if known else None,
        all(p.evicted for p in probes),
    )
    spread = {
        "raw_probes": len(writes),
        "raw_write_MBps_min": nbytes / max(writes) / 1e6,
        "raw_write_MBps_max": nbytes / min(writes) / 1e6,
        "raw_read_MBps_min": nbytes / max(reads) / 1e6,
        "raw_read_MBps_max": nbytes / min(reads) / 1e6,
    }
    return disk, spread


# --------------------------------------------------------------------------------------------------------------------
# The model and the formats


def build_model(params: int, strategy=None, train_step: bool = True):
    """``LAYERS`` Dense layers of width :func:`dense_width`, Adam, MSE; Adam's slots made by one training step."""
    import keras
    import numpy as np

    width = dense_width(params)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        layers = [keras.layers.Dense(width, activation="relu") for _ in range(LAYERS - 1)] + [keras.layers.Dense(width)]
        model = keras.Sequential([keras.Input((width,)), *layers], name=f"dense_stack_{width}")
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
        if train_step:
            x = np.random.default_rng(0).standard_normal((BATCH, width)).astype("float32")
            model.train_on_batch(x, x)
        else:
            model.optimizer.build(model.trainable_variables)
    return model


@dataclass
class _Case:
    """One (size, strategy): the saved model, a model built by code for weights-only restores, and options."""

    model: Any
    target: Any
    strategy: Any
    shard_bytes: int
    reused: Any = None  # the one tf.train.Checkpoint of ``model`` that every asynchronous write goes through

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def async_checkpoint(self):
        if self.reused is None:
            self.reused = _checkpoint(self.model)
        return self.reused


def _checkpoint(model):
    import tensorflow as tf

    return tf.train.Checkpoint(model=model, optimizer=model.optimizer)


def write_async(checkpoint, prefix: str, options=None):
    """An asynchronous ``checkpoint.write(prefix)`` that works again and again through the same ``checkpoint`` of a
    Keras 3 model (see :data:`ASYNC_NOTE`): the copy of the variables runs eagerly, then the write continues in the
    checkpoint's one background thread. Waits for the previous write of ``checkpoint`` first, as ``write`` does."""
    import tensorflow as tf

    options = options or tf.train.CheckpointOptions(enable_async=True)
    eager = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        return checkpoint.write(prefix, options=options)
    finally:
        tf.config.run_functions_eagerly(eager)


def _save(fmt: str, case: _Case, folder: Path) -> Callable[[], None] | None:
    """Save ``case.model`` in ``fmt`` into ``folder``; return a function that waits for a background write, if any."""
    import tensorflow as tf

    m = case.model
    if fmt == ".keras":
        m.save(folder / "model.keras")
    elif fmt == ".weights.h5":
        m.save_weights(folder / "model.weights.h5")
    elif fmt == "model.export":
        m.export(str(folder / "export"), verbose=False)
    elif fmt == "tf.saved_model.save":
        tf.saved_model.save(m, str(folder / "saved_model"))
    elif fmt == "tf.train.Checkpoint":
        _checkpoint(m).write(str(folder / "ckpt"))
    elif fmt == "CheckpointManager":
        tf.train.CheckpointManager(_checkpoint(m), str(folder), max_to_keep=1).save()
    elif fmt == "Checkpoint async":
        checkpoint = case.async_checkpoint()  # one per model, reused by every write: see ASYNC_NOTE
        write_async(checkpoint, str(folder / "ckpt"))
        return checkpoint.sync
    elif fmt == "Checkpoint sharded":
        policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=case.shard_bytes)
        options = tf.train.CheckpointOptions(experimental_sharding_callback=policy)
        _checkpoint(m).write(str(folder / "ckpt"), options=options)
    else:
        raise ValueError(f"unknown format {fmt!r}; choose from: {', '.join(FORMATS)}")
    return None


def _load(fmt: str, case: _Case, folder: Path):
    """Load what :func:`_save` wrote (inside the strategy's scope); return something to check the weights of."""
    import keras
    import tensorflow as tf

    if fmt == ".keras":
        return keras.models.load_model(folder / "model.keras")
    if fmt == ".weights.h5":
        case.target.load_weights(folder / "model.weights.h5")
        return case.target
    if fmt in ("model.export", "tf.saved_model.save"):
        return tf.saved_model.load(str(folder / ("export" if fmt == "model.export" else "saved_model")))
    if fmt == "CheckpointManager":
        _checkpoint(case.target).restore(tf.train.latest_checkpoint(str(folder))).assert_existing_objects_matched()
        return case.target
    if fmt in ("tf.train.Checkpoint", "Checkpoint async", "Checkpoint sharded"):
        _checkpoint(case.target).read(str(folder / "ckpt")).assert_existing_objects_matched()
        return case.target
    raise ValueError(f"unknown format {fmt!r}; choose from: {', '.join(FORMATS)}")


def _poison(target) -> None:
    """Change the restore target so that a load that restores nothing is caught by :func:`_verify`."""
    import numpy as np

    first = target.weights[0]
    first.assign(np.zeros(first.shape, dtype="float32"))
    target.optimizer.iterations.assign(0)


def _verify(fmt: str, saved, restored) -> None:
    """Raise AssertionError unless ``restored`` holds the saved weights bit for bit (and the optimizer's steps)."""
    import keras
    import numpy as np

    expected = [w.numpy() if hasattr(w, "numpy") else np.asarray(w) for w in saved.get_weights()]
    if isinstance(restored, keras.Model):
        got = restored.get_weights()
        assert len(got) == len(expected), f"{fmt}: {len(got)} weight arrays, expected {len(expected)}"
        for i, (a, b) in enumerate(zip(expected, got, strict=True)):
            assert np.array_equal(a, b), f"{fmt}: weight array #{i} differs after the load"
        steps, saved_steps = int(restored.optimizer.iterations.numpy()), int(saved.optimizer.iterations.numpy())
        assert steps == saved_steps, f"{fmt}: optimizer at step {steps} after the load, saved at {saved_steps}"
        return
    loaded = [v.numpy() for v in restored.signatures["serving_default"].variables]
    for i, a in enumerate(expected):
        assert any(a.shape == b.shape and np.array_equal(a, b) for b in loaded), f"{fmt}: weight #{i} differs"


# --------------------------------------------------------------------------------------------------------------------
# The measurements


def _median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def error_summary(err: BaseException) -> str:
    """``"Type: message"`` with the message's last line (where a tf.function error states it), links and paths cut."""
    return error_line(err, line="last", limit=300)


def _measure_format(fmt: str, case: _Case, work: Path, config: Config, log: Callable[[str], None]) -> dict:
    """Save and load ``fmt`` ``warmup + repeats`` times; medians of the timed runs."""
    saves, calls, loads, cached = [], [], [], []
    nbytes = nfiles = 0
    for run in range(config.warmup + config.repeats):
        folder = work / f"run-{run}"
        folder.mkdir()
        try:
            if fmt in ("tf.train.Checkpoint", "CheckpointManager", ".weights.h5") or fmt.startswith("Checkpoint "):
                _poison(case.target)
            os.sync()  # earlier writes must not be flushed during this save's timing
            start = time.perf_counter()
            wait = _save(fmt, case, folder)
            called = time.perf_counter()
            if wait is not None:
                wait()
            fsync_tree(folder)
            done = time.perf_counter()
            nbytes, nfiles = _tree_bytes(folder)
            evict(folder)
            fraction = cached_fraction(folder)
            with case.scope():
                start_load = time.perf_counter()
                restored = _load(fmt, case, folder)
                loaded = time.perf_counter()
            _verify(fmt, case.model, restored)
            del restored
            if run >= config.warmup:
                calls.append(called - start)
                saves.append(done - start)
                loads.append(loaded - start_load)
                cached.append(fraction)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if case.model.count_params() >= GC_PARAMS:  # a restored copy of a large model: free it before the next run
            gc.collect()
    known = [c for c in cached if c is not None]
    log(f"    {fmt:<20} {nbytes / 1e6:>9.1f} MB  save {_median(saves):7.3f} s  load {_median(loads):7.3f} s")
    return {
        "runs": config.repeats,
        "bytes": nbytes,
        "files": nfiles,
        "save_call_s": _median(calls),
        "save_s": _median(saves),
        "load_s": _median(loads),
        "cached_before_load": max(known) if known else None,
        "restores_optimizer": fmt in RESTORES_OPTIMIZER,
        "error": "",
    }


def _measure_stall(case: _Case, work: Path, checkpoints: int, log: Callable[[str], None]) -> dict:
    """The training loop's stall per checkpoint: synchronous vs asynchronous ``tf.train.Checkpoint.write``.

    Phases of ``checkpoints`` windows of K steps each (after K untimed steps): baseline (no checkpoint), sync (a
    write before each window) and async (an asynchronous write before each window, after waiting for the previous
    one if it is still running; the wait for the last write is added to the last window). K = 3 x the time of one
    synchronous write in training steps (3 to 200). Stall per checkpoint = window time - the baseline's median
    window: the blocking call plus whatever the background write takes away from the steps.
    """
    import numpy as np
    import tensorflow as tf

    model = case.model
    x = np.random.default_rng(1).standard_normal((BATCH, model.input_shape[-1])).astype("float32")
    async_options = tf.train.CheckpointOptions(enable_async=True)

    def step() -> float:
        start = time.perf_counter()
        model.train_on_batch(x, x)
        return time.perf_counter() - start

    def sync_write(prefix: Path) -> None:
        _checkpoint(model).write(str(prefix))

    for _ in range(3):
        step()
    step_s = _median([step() for _ in range(5)])
    start = time.perf_counter()
    sync_write(work / "warm-sync")  # also the write time that sets K
    write_s = time.perf_counter() - start
    reused = case.async_checkpoint()  # one per model, reused by every asynchronous write: see ASYNC_NOTE
    write_async(reused, str(work / "warm-async"), async_options)
    reused.sync()
    k = min(200, max(3, math.ceil(3 * write_s / step_s)))

    def phase(kind: str) -> tuple[list[float], list[float]]:
        for f in work.glob("phase-*"):
            f.unlink()
        os.sync()
        for _ in range(k):
            step()
        windows, calls, pending = [], [], None
        for c in range(checkpoints):
            start = time.perf_counter()
            if kind == "sync":
                sync_write(work / f"phase-{c}")
            elif kind == "async":
                pending = reused
                pending.sync()  # one write at a time (write_async would wait for the previous one anyway)
                write_async(reused, str(work / f"phase-{c}"), async_options)
            calls.append(time.perf_counter() - start)
            for _ in range(k):
                step()
            if c == checkpoints - 1 and pending is not None:
                pending.sync()
            windows.append(time.perf_counter() - start)
        return windows, calls

    base, _ = phase("none")
    sync_windows, sync_calls = phase("sync")
    async_windows, async_calls = phase("async")
    baseline = _median(base)
    sync_stall = _median([w - baseline for w in sync_windows])
    async_stall = _median([w - baseline for w in async_windows])
    sync_save = _median(sync_calls)
    log(
        f"    async stall: {async_stall:.3f} s per checkpoint vs sync save {sync_save:.3f} s "
        f"({k} steps of {step_s * 1000:.1f} ms between checkpoints)"
    )
    return {
        "checkpoints": checkpoints,
        "steps_between": k,
        "step_s": step_s,
        "sync_save_s": sync_save,
        "sync_stall_s": sync_stall,
        "async_call_s": _median(async_calls),
        "async_stall_s": async_stall,
        "stall_fraction": async_stall / sync_save,
        "error": "",
    }


def _async_reuse_error(case: _Case, work: Path) -> str:
    """What a second asynchronous write through the *same* Checkpoint does (see ASYNC_NOTE): '' if it works."""
    import tensorflow as tf

    checkpoint = _checkpoint(case.model)
    options = tf.train.CheckpointOptions(enable_async=True)
    try:
        for i in range(2):
            checkpoint.write(str(work / f"reuse-{i}"), options=options)
            checkpoint.sync()
    except Exception as err:  # noqa: BLE001 (the error is the finding)
        return error_summary(err)
    finally:
        with contextlib.suppress(Exception):
            checkpoint.sync()
    return ""


@dataclass
class Results:
    """What :func:`run` measured: one row per (size, strategy, format) plus ``raw file I/O``, stall rows, metadata."""

    rows: list[dict] = field(default_factory=list)
    stall: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def row(self, fmt: str, strategy: str = "no strategy", size: str | None = None) -> dict:
        """The row of ``fmt`` (at the largest size unless ``size`` is given)."""
        size = size or self.rows[-1]["size"]
        for r in self.rows:
            if r["format"] == fmt and r["strategy"] == strategy and r["size"] == size:
                return r
        raise KeyError(f"no row for {fmt!r}, {strategy!r}, size {size!r}")


def machine_info(folder: str | os.PathLike) -> dict:
    """CPU model, cores, memory, OS, Python/TF/Keras versions, UTC date, and the file system of ``folder``."""
    import keras
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 2**20, 1)
    fs = {"type": None, "mount": None}
    with contextlib.suppress(OSError):
        target = str(Path(folder).resolve())
        best = ""
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount = parts[1].replace("\\040", " ")
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if len(parts) >= 3 and inside and len(mount) >= len(best):
                best, fs = mount, {"type": parts[2], "mount": mount}
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_GiB": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "filesystem": fs,
    }


def run(
    config: Config = FULL,
    out: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
    work: str | os.PathLike | None = None,
) -> Results:
    """Run the benchmark; return :class:`Results` (and write them, with charts, to ``out`` if given).

    TensorFlow must be able to give 2 logical CPUs (``helpers.devices.use_cpu_replicas(2)``, called here; in a
    notebook that already called it with 2, nothing changes). The saves and the raw-disk probe happen in a temporary
    folder inside ``work`` (default: ``out``, else the system's temporary folder), removed at the end: the disk
    measured is the disk written.
    """
    if not isinstance(config, Config):
        raise TypeError(f"config must be a benchmarks.checkpoint.Config, got {type(config).__name__}")
    log = log or (lambda _msg: None)
    from helpers import devices

    replicas = devices.use_cpu_replicas(2).devices
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    base = Path(work if work is not None else out if out is not None else tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    results = Results()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=base, prefix=".checkpoint-bench-") as tmp:
        work = Path(tmp)
        results.meta = {
            "config": {**asdict(config), "sizes": [size_label(s) for s in config.sizes]},
            "machine": machine_info(work),
            "method": {"eviction": EVICTION_NOTE, "save": SAVE_NOTE, "raw": RAW_NOTE, "async": ASYNC_NOTE},
            "model": f"{LAYERS} Dense(w) layers on a w-wide input, Adam (slots made by one train_on_batch step)",
            "sharding": f"MaxShardSizePolicy(max_shard_size=ceil(12 * params / {SHARDS}))",
        }
        strategies = {
            name: (tf.distribute.MirroredStrategy(replicas) if key == "mirrored" else None)
            for key, name in STRATEGIES.items()
            if key in config.strategies
        }
        for params in config.sizes:
            label = size_label(params)
            shard_bytes = math.ceil(12 * params / SHARDS)
            size_rows: list[dict] = []
            probes: list[DiskBandwidth] = []
            probe_bytes = 12 * params  # the checkpoint of the weights and Adam's two moments

            for strategy_name, strategy in strategies.items():
                log(f"{label} ({params:,} requested), {strategy_name}")
                model = build_model(params, strategy)
                case = _Case(model, build_model(params, strategy, train_step=False), strategy, shard_bytes)
                exact = model.count_params()
                if "async_same_checkpoint_second_write" not in results.meta and "Checkpoint async" in config.formats:
                    results.meta["async_same_checkpoint_second_write"] = _async_reuse_error(case, work) or "works"
                for fmt in config.formats:
                    # a raw probe before every format: the disk's bandwidth drifts during a run
                    probes.append(disk_bandwidth(work, probe_bytes, config.disk_repeats))
                    folder = work / "formats"
                    folder.mkdir()
                    try:
                        row = _measure_format(fmt, case, folder, config, log)
                    except Exception as err:  # noqa: BLE001 (a format that fails on this stack is a result)
                        log(f"    {fmt:<20} failed: {error_summary(err)}")
                        row = {"runs": 0, "restores_optimizer": fmt in RESTORES_OPTIMIZER, "error": error_summary(err)}
                    finally:
                        shutil.rmtree(folder, ignore_errors=True)
                    size_rows.append({"size": label, "params": exact, "strategy": strategy_name, "format": fmt, **row})
                if config.stall_checkpoints:
                    folder = work / "stall"
                    folder.mkdir()
                    base_row = {"size": label, "params": exact, "strategy": strategy_name}
                    try:
                        stall = _measure_stall(case, folder, config.stall_checkpoints, log)
                    except Exception as err:  # noqa: BLE001
                        log(f"    async stall failed: {error_summary(err)}")
                        stall = {"checkpoints": config.stall_checkpoints, "error": error_summary(err)}
                    finally:
                        shutil.rmtree(folder, ignore_errors=True)
                    results.stall.append({**base_row, **stall})
                del case, model
                gc.collect()
            probes.append(disk_bandwidth(work, probe_bytes, config.disk_repeats))  # and one after the last
            disk, spread = combine_probes(probes)
            log(
                f"  raw file I/O, {probe_bytes / 1e6:.0f} MB, median of {disk.runs} probes: write+fsync "
                f"{disk.write_Bps / 1e6:.0f} MB/s ({spread['raw_write_MBps_min']:.0f}-"
                f"{spread['raw_write_MBps_max']:.0f}), read {disk.read_Bps / 1e6:.0f} MB/s "
                f"({spread['raw_read_MBps_min']:.0f}-{spread['raw_read_MBps_max']:.0f}); resident before read: "
                f"{disk.cached_after_evict}"
            )
            raw_row = {
                "size": label,
                "params": size_rows[0]["params"] if size_rows else params,
                "strategy": "",
                "format": RAW,
                "runs": disk.runs,
                "bytes": disk.nbytes,
                "files": 1,
                "save_call_s": disk.write_s,
                "save_s": disk.write_s,
                "load_s": disk.read_s,
                "cached_before_load": disk.cached_after_evict,
                "restores_optimizer": "",
                "error": "" if disk.evicted else "page cache not dropped: no posix_fadvise on this OS",
            }
            for row in [raw_row, *size_rows]:
                _add_ratios(row, disk, spread)
            results.rows.extend([raw_row, *size_rows])
        results.meta["wall_s"] = round(time.perf_counter() - started, 1)
        results.meta["threads_at_end"] = threading.active_count()  # one per async Checkpoint ever written through
        if sys.platform.startswith("linux"):
            import resource

            results.meta["max_rss_MB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if out is not None:
        write_results(results, out)
    return results


def _add_ratios(row: dict, disk: DiskBandwidth, spread: dict | None = None) -> None:
    """Add the raw bandwidth (median and spread), the ratios against it and the ``above_raw`` flag to ``row``."""
    row["raw_write_MBps"] = disk.write_Bps / 1e6
    row["raw_read_MBps"] = disk.read_Bps / 1e6
    spread = spread or {
        "raw_probes": disk.runs,
        "raw_write_MBps_min": row["raw_write_MBps"],
        "raw_write_MBps_max": row["raw_write_MBps"],
        "raw_read_MBps_min": row["raw_read_MBps"],
        "raw_read_MBps_max": row["raw_read_MBps"],
    }
    row.update(spread)
    if row.get("error") and not row.get("runs"):
        return
    row["save_MBps"] = row["bytes"] / row["save_s"] / 1e6
    row["load_MBps"] = row["bytes"] / row["load_s"] / 1e6
    flags = []
    for what, raw in (("save", "raw_write_MBps"), ("load", "raw_read_MBps")):
        row[f"{what}_ratio"] = row[f"{what}_MBps"] / row[raw]
        row[f"{what}_ratio_min"] = row[f"{what}_MBps"] / row[f"{raw}_max"]  # against the fastest probe
        row[f"{what}_ratio_max"] = row[f"{what}_MBps"] / row[f"{raw}_min"]  # against the slowest probe
        if row[f"{what}_ratio"] > 1 and row.get("format") != RAW:
            where = "within the raw probes' spread" if row[f"{what}_ratio_min"] <= 1 else "above every raw probe"
            flags.append(f"{what} {row[f'{what}_ratio']:.2f} > 1, {where}")
    row["above_raw"] = "; ".join(flags)


# --------------------------------------------------------------------------------------------------------------------
# Output


def _csv_text(rows: Sequence[dict], fields: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        unknown = set(row) - set(fields)
        if unknown:
            raise ValueError(f"row has fields not in the schema: {sorted(unknown)}")
        writer.writerow({k: _cell(row.get(k)) for k in fields})
    return buf.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def write_results(results: Results, out: str | os.PathLike) -> list[Path]:
    """Write the CSVs, the JSON sidecar and the charts into ``out`` (each file atomically); return their paths."""
    from benchmarks import charts

    out = Path(out)
    written = [
        atomic_write(out / CSV_NAME, _csv_text(results.rows, CSV_FIELDS).encode()),
        atomic_write(out / STALL_NAME, _csv_text(results.stall, STALL_FIELDS).encode()),
        atomic_write(out / META_NAME, (json.dumps(results.meta, indent=2, sort_keys=True) + "\n").encode()),
    ]
    rows = read_csv(out / CSV_NAME)
    stall = read_csv(out / STALL_NAME)
    for name, figure in (("checkpoint_ratios.png", charts.ratio_chart(rows)), ("checkpoint_stall.png", None)):
        if figure is None:
            if not [r for r in stall if not r["error"]]:
                continue
            figure = charts.stall_chart(stall)
        written.append(atomic_write(out / name, charts.png_bytes(figure)))
    return written


def read_csv(path: str | os.PathLike) -> list[dict]:
    """The rows of a results CSV, numbers as int/float, empty cells as None (the ``error`` column stays a string)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key, value in row.items():
            if key in ("size", "strategy", "format", "error", "above_raw"):
                continue
            if value == "":
                row[key] = None
            elif value in ("True", "False"):
                row[key] = value == "True"
            else:
                with contextlib.suppress(ValueError):
                    row[key] = float(value) if any(c in value for c in ".en") else int(value)
    return rows


def _fmt(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _raw_spread(raw: dict) -> str:
    """The raw probes of one size in words: medians, and min–max when there is more than one probe."""
    probes = raw.get("raw_probes") or 1
    if probes > 1 and raw.get("raw_write_MBps_min") is not None:
        return (
            f"write + fsync {raw['raw_write_MBps']:,.0f} MB/s (median of {probes:.0f} probes interleaved with the "
            f"formats; min–max {raw['raw_write_MBps_min']:,.0f}–{raw['raw_write_MBps_max']:,.0f}), read after "
            f"eviction {raw['raw_read_MBps']:,.0f} MB/s ({raw['raw_read_MBps_min']:,.0f}–"
            f"{raw['raw_read_MBps_max']:,.0f})"
        )
    return f"write + fsync {raw['raw_write_MBps']:,.0f} MB/s, read after eviction {raw['raw_read_MBps']:,.0f} MB/s"


def timing_table(results: Results) -> str:
    """A plain-text table of every row: MB, save s, load s and both ratios (wall-clock: varies run to run)."""
    lines = [
        f"{'size':<5} {'strategy':<12} {'format':<20} {'MB':>8} {'save s':>8} {'load s':>8} "
        f"{'save/raw':>9} {'load/raw':>9}"
    ]
    for r in results.rows:
        if r.get("error") and not r.get("runs"):
            lines.append(f"{r['size']:<5} {r['strategy']:<12} {r['format']:<20} failed: {r['error']}")
            continue
        lines.append(
            f"{r['size']:<5} {r['strategy']:<12} {r['format']:<20} {r['bytes'] / 1e6:>8.1f} {r['save_s']:>8.3f} "
            f"{r['load_s']:>8.3f} {r['save_ratio']:>9.2f} {r['load_ratio']:>9.2f}"
        )
    for s in results.stall:
        if s.get("error"):
            lines.append(f"async stall, {s['size']}, {s['strategy']}: failed: {s['error']}")
        else:
            lines.append(
                f"async stall, {s['size']}, {s['strategy']}: {s['async_stall_s']:.3f} s per checkpoint "
                f"= {s['stall_fraction']:.2f} × the sync save ({s['sync_save_s']:.3f} s)"
            )
    return "\n".join(lines)


def markdown_summary(csv_path: str | os.PathLike) -> str:
    """Markdown for notebook 11: machine and date, the table at the largest size, the async stall, sharding.

    Reads ``csv_path`` (``checkpoint.csv``) and, next to it, ``checkpoint.json`` and ``checkpoint_stall.csv``.
    The same CSV always gives the same text, so a test can keep the notebook's table equal to the committed CSV.
    """
    csv_path = Path(csv_path)
    rows = read_csv(csv_path)
    if not rows:
        raise ValueError(f"{csv_path} has no rows: run python -m benchmarks.checkpoint first")
    meta_path, stall_path = csv_path.with_name(META_NAME), csv_path.with_name(STALL_NAME)
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    stall = read_csv(stall_path) if stall_path.exists() else []
    machine = meta.get("machine", {})
    largest = max(rows, key=lambda r: r["params"])["size"]
    at = [r for r in rows if r["size"] == largest]
    raw = next(r for r in at if r["format"] == RAW)
    params = max(r["params"] for r in at if r["format"] != RAW)
    fs = (machine.get("filesystem") or {}).get("type") or "unknown file system"
    runs = max(r["runs"] or 0 for r in at if r["format"] != RAW)
    out = [
        f"**Machine:** {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
        f"{machine.get('memory_GiB', '?')} GiB RAM, {fs}; TensorFlow {machine.get('tensorflow', '?')}, "
        f"Keras {machine.get('keras', '?')}; run on {machine.get('date', '?')}.",
        "",
        f"**Raw disk, same folder, same run:** {_raw_spread(raw)} ({raw['bytes'] / 1e6:,.0f} MB file). Reads start "
        "from files dropped from the page cache (per-file `posix_fadvise`); a VM host may still cache the disk.",
        "",
        f"**At {largest} ({params:,} parameters, Adam state included), median of {runs} runs:**",
        "",
        "| format | strategy | MB | save s | load s | save ÷ raw write | load ÷ raw read |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in at:
        if r["format"] == RAW:
            continue
        if r["error"] and not r["runs"]:
            out.append(f"| {r['format']} | {r['strategy']} | – | – | – | failed: {r['error']} | |")
            continue
        mark = {w: " †" if (r.get(f"{w}_ratio") or 0) > 1 else "" for w in ("save", "load")}
        out.append(
            f"| {r['format']} | {r['strategy']} | {r['bytes'] / 1e6:,.0f} | {_fmt(r['save_s'])} | "
            f"{_fmt(r['load_s'])} | {_fmt(r['save_ratio'])}{mark['save']} | {_fmt(r['load_ratio'])}{mark['load']} |"
        )
    out.append("")
    above = [r for r in rows if r.get("above_raw")]
    if above:
        out += ["**Ratios above 1** (any size; † in the table):", ""]
        out += [f"- {r['size']}, {r['format']}, {r['strategy']}: {r['above_raw']}." for r in above]
        out += [
            "",
            "Within the spread means that the disk was faster during that save or load than at the median probe, "
            "not that the format beat the disk: a ratio is only as precise as the spread of the raw probes.",
            "",
        ]
    measured_stall = [s for s in stall if not s["error"]]
    if measured_stall:
        out += [
            "**Async checkpoints in a training loop** (a `tf.train.Checkpoint` write every K steps; stall = the extra "
            "time of the K steps after a checkpoint, the call included; medians):",
            "",
            "| size | strategy | K | sync save s | async call s | async stall s | stall ÷ sync save |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for s in measured_stall:
            out.append(
                f"| {s['size']} | {s['strategy']} | {s['steps_between']:.0f} | {_fmt(s['sync_save_s'])} | "
                f"{_fmt(s['async_call_s'])} | {_fmt(s['async_stall_s'])} | **{_fmt(s['stall_fraction'])}** |"
            )
        out.append("")
    for s in (s for s in stall if s["error"]):
        out.append(f"- **Async stall**, {s['size']}, {s['strategy']}: failed: {s['error']}")
    by = {(r["format"], r["strategy"]): r for r in at}
    for strategy in dict.fromkeys(r["strategy"] for r in at if r["format"] != RAW):
        sharded, plain = by.get(("Checkpoint sharded", strategy)), by.get(("tf.train.Checkpoint", strategy))
        if sharded and plain and sharded["runs"] and plain["runs"]:
            out.append(
                f"- **Sharding**, {strategy}: {sharded['files'] - 1:.0f} data files instead of "
                f"{plain['files'] - 1:.0f}; save {sharded['save_s'] / plain['save_s']:.2f}×, load "
                f"{sharded['load_s'] / plain['load_s']:.2f}× the unsharded checkpoint's time."
            )
        elif sharded and sharded["error"]:
            out.append(f"- **Sharding**, {strategy}: failed: {sharded['error']}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------------------------------
# Command line


def _argtype(check: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return check(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = check.__name__
    return parse


def _format_arg(text: str) -> str:
    return check_formats([text])[0]


def _strategy_arg(text: str) -> str:
    return check_strategies([text])[0]


def _count_arg(minimum: int) -> Callable[[str], int]:
    def count(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise ValueError(f"expected an integer >= {minimum}, got {text!r}") from None
        return check_repeats(n, "the count", minimum)

    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.checkpoint", description=__doc__.split("\n\n")[0].strip()
    )
    parser.add_argument("--quick", action="store_true", help="the notebook's subset: 1e6 only, 2 repeats (~40 s)")
    parser.add_argument("--sizes", nargs="+", type=_argtype(parse_size), help="parameter counts (default 1e6 1e7 5e7)")
    parser.add_argument("--repeats", type=_argtype(_count_arg(1)), help="timed runs per case (default 3)")
    parser.add_argument("--warmup", type=_argtype(_count_arg(0)), help="untimed runs first (default 1)")
    parser.add_argument("--formats", nargs="+", type=_argtype(_format_arg), help=f"subset of: {', '.join(FORMATS)}")
    parser.add_argument("--strategies", nargs="+", type=_argtype(_strategy_arg), help="none and/or mirrored")
    parser.add_argument(
        "--stall-checkpoints", type=_argtype(_count_arg(0)), help="checkpoints per async-stall loop (0: skip)"
    )
    parser.add_argument("--out", default="build/bench", help="output folder (default build/bench)")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    overrides = {
        "sizes": tuple(args.sizes) if args.sizes else None,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "formats": tuple(args.formats) if args.formats else None,
        "strategies": tuple(args.strategies) if args.strategies else None,
        "stall_checkpoints": args.stall_checkpoints,
    }
    config = Config(**{**asdict(base), **{k: v for k, v in overrides.items() if v is not None}})
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    results = run(config, args.out, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(timing_table(results))
    print(f"wrote {Path(args.out) / CSV_NAME} and its sidecars in {results.meta['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
