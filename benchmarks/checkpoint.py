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
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

# The benchmark lives in modules by concern (formats and settings, disk probes, the model, the measurement, the
# outputs); every name notebooks and tests use stays importable from here.
from benchmarks.cost_config import (
    ASYNC_NOTE,
    BATCH,
    CSV_FIELDS,
    CSV_NAME,
    EVICTION_NOTE,
    FORMATS,
    FULL,
    GC_PARAMS,
    LAYERS,
    MAX_PARAMS,
    META_NAME,
    MIN_PARAMS,
    QUICK,
    RAW,
    RAW_NOTE,
    RESTORES_OPTIMIZER,
    SAVE_NOTE,
    SHARDS,
    STALL_FIELDS,
    STALL_NAME,
    STRATEGIES,
    Config,
    check_formats,
    check_repeats,
    check_strategies,
    dense_width,
    parse_size,
    size_label,
)
from benchmarks.cost_model import build_model
from benchmarks.cost_report import Results, markdown_summary, read_csv, timing_table, write_results
from benchmarks.cost_report import _csv_text as _csv_text
from benchmarks.cost_run import _add_ratios as _add_ratios
from benchmarks.cost_run import error_summary, run
from benchmarks.disk import (
    DiskBandwidth,
    atomic_write,
    cached_fraction,
    combine_probes,
    disk_bandwidth,
    evict,
    machine_info,
)
from benchmarks.formats import write_async

__all__ = [
    "FORMATS",
    "STRATEGIES",
    "RAW",
    "RESTORES_OPTIMIZER",
    "LAYERS",
    "BATCH",
    "SHARDS",
    "GC_PARAMS",
    "MIN_PARAMS",
    "MAX_PARAMS",
    "CSV_NAME",
    "STALL_NAME",
    "META_NAME",
    "CSV_FIELDS",
    "STALL_FIELDS",
    "EVICTION_NOTE",
    "SAVE_NOTE",
    "RAW_NOTE",
    "ASYNC_NOTE",
    "Config",
    "QUICK",
    "FULL",
    "DiskBandwidth",
    "Results",
    "parse_size",
    "size_label",
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
    "combine_probes",
    "machine_info",
    "atomic_write",
    "run",
    "write_results",
    "read_csv",
    "markdown_summary",
    "timing_table",
    "main",
]

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
