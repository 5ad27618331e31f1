"""Files, the page cache and the raw disk: what a save's speed is compared with (part of :mod:`benchmarks.checkpoint`).

Atomic result files, ``fsync``, page-cache eviction (``posix_fadvise``) and residency (``mincore``), the raw write/read
probe of a folder, and the machine the probe ran on.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.cost_config import check_repeats
from helpers.atomic_save import save_atomically


def atomic_write(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that it is either the old file or the whole new one, never a partial one
    (:func:`helpers.atomic_save.save_atomically`: a temporary in the same folder, fsync, rename); makes the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_atomically(lambda tmp: tmp.write_bytes(data), path)
    return path


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
    fs: dict[str, str | None] = {"type": None, "mount": None}
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
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "filesystem": fs,
    }
