"""What the cost-at-scale benchmark runs: its formats, strategies, sizes and settings, checked up front.

Part of :mod:`benchmarks.checkpoint` (which re-exports every name); no TensorFlow import.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from benchmarks import formats

#: The formats (their names in the results), in the order of notebook 08's table, then the two checkpoint options this
#: benchmark adds: those of :data:`benchmarks.formats.ALL` that it measures.
FORMATS = tuple(f.label for f in formats.ALL if f.cost)
#: Formats whose load gives back a Keras model with its optimizer state (the others give a plain SavedModel object).
RESTORES_OPTIMIZER = frozenset(f for f in FORMATS if formats.BY_LABEL[f].keras_model)
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


def _choose(names: Iterable[str], choices: Iterable[str], what: str) -> tuple[str, ...]:
    names, choices = list(names), list(choices)
    unknown = [n for n in names if n not in choices]
    if unknown or not names:
        raise ValueError(f"unknown {what} {unknown or names!r}; choose from: {', '.join(choices)}")
    return tuple(c for c in choices if c in names)


def check_formats(names: Iterable[str]) -> tuple[str, ...]:
    """The formats to run, in :data:`FORMATS` order; ValueError on an unknown or empty selection."""
    return _choose(names, FORMATS, "format(s)")


def check_strategies(names: Iterable[str]) -> tuple[str, ...]:
    """The strategies to run (``none``, ``mirrored``); ValueError on an unknown or empty selection."""
    return _choose(names, STRATEGIES, "strateg(y/ies)")


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
