"""The measurements of the cost-at-scale benchmark: every format's save and load, the async stall, :func:`run`.

Part of :mod:`benchmarks.checkpoint`.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from benchmarks.cost_config import (
    ASYNC_NOTE,
    BATCH,
    EVICTION_NOTE,
    FULL,
    GC_PARAMS,
    LAYERS,
    RAW,
    RAW_NOTE,
    RESTORES_OPTIMIZER,
    SAVE_NOTE,
    SHARDS,
    STRATEGIES,
    Config,
    size_label,
)
from benchmarks.cost_model import _Case, _poison, _verify, build_model
from benchmarks.cost_report import Results, write_results
from benchmarks.disk import (
    DiskBandwidth,
    _tree_bytes,
    cached_fraction,
    combine_probes,
    disk_bandwidth,
    evict,
    machine_info,
)
from benchmarks.formats import BY_LABEL, checkpoint_of, write_async
from helpers.atomic_save import fsync_tree
from helpers.tf_errors import error_line


def _median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def error_summary(err: BaseException) -> str:
    """``"Type: message"`` with the message's last line (where a tf.function error states it), links and paths cut."""
    return error_line(err, line="last", limit=300)


def _measure_format(fmt: str, case: _Case, work: Path, config: Config, log: Callable[[str], None]) -> dict:
    """Save and load ``fmt`` ``warmup + repeats`` times; medians of the timed runs."""
    spec = BY_LABEL[fmt]
    saves, calls, loads, cached = [], [], [], []
    nbytes = nfiles = 0
    for run in range(config.warmup + config.repeats):
        folder = work / f"run-{run}"
        folder.mkdir()
        try:
            if spec.into_model:
                _poison(case.target)
            os.sync()  # earlier writes must not be flushed during this save's timing
            start = time.perf_counter()
            wait = spec.bind(case.model, folder / spec.target, case)()  # the wait for a background write, if any
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
                restored, _ = spec.load(folder / spec.target, case.target)
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
        checkpoint_of(model).write(str(prefix))

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

    checkpoint = checkpoint_of(case.model)
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
        folder = Path(tmp)
        results.meta = {
            "config": {**asdict(config), "sizes": [size_label(s) for s in config.sizes]},
            "machine": machine_info(folder),
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
            results.rows.extend(_measure_size(params, strategies, config, folder, results, log))
        results.meta["wall_s"] = round(time.perf_counter() - started, 1)
        results.meta["threads_at_end"] = threading.active_count()  # one per async Checkpoint ever written through
        if sys.platform.startswith("linux"):
            import resource

            results.meta["max_rss_MB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if out is not None:
        write_results(results, out)
    return results


def _measure_size(
    params: int, strategies: dict, config: Config, work: Path, results: Results, log: Callable[[str], None]
) -> list[dict]:
    """One model size: every format under every strategy (stall rows go to ``results.stall``), with a raw-disk probe
    before each format and one after the last; returns the ``raw file I/O`` row, then the format rows."""
    label = size_label(params)
    probe_bytes = 12 * params  # the checkpoint of the weights and Adam's two moments
    rows: list[dict] = []
    probes: list[DiskBandwidth] = []
    for strategy_name, strategy in strategies.items():
        log(f"{label} ({params:,} requested), {strategy_name}")
        rows += _measure_strategy(params, strategy_name, strategy, config, work, results, log, probes)
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
        "params": rows[0]["params"] if rows else params,
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
    for row in [raw_row, *rows]:
        _add_ratios(row, disk, spread)
    return [raw_row, *rows]


def _measure_strategy(
    params: int,
    strategy_name: str,
    strategy,
    config: Config,
    work: Path,
    results: Results,
    log: Callable[[str], None],
    probes: list[DiskBandwidth],
) -> list[dict]:
    """Every format of ``config`` on one model under one strategy (a raw probe appended to ``probes`` before each),
    then the async stall (into ``results.stall``); a format that fails is a row with its error."""
    label = size_label(params)
    model = build_model(params, strategy)
    case = _Case(model, build_model(params, strategy, train_step=False), strategy, math.ceil(12 * params / SHARDS))
    exact = model.count_params()
    if "async_same_checkpoint_second_write" not in results.meta and "Checkpoint async" in config.formats:
        results.meta["async_same_checkpoint_second_write"] = _async_reuse_error(case, work) or "works"
    rows = []
    for fmt in config.formats:
        # a raw probe before every format: the disk's bandwidth drifts during a run
        probes.append(disk_bandwidth(work, 12 * params, config.disk_repeats))
        folder = work / "formats"
        folder.mkdir()
        try:
            row = _measure_format(fmt, case, folder, config, log)
        except Exception as err:  # noqa: BLE001 (a format that fails on this stack is a result)
            log(f"    {fmt:<20} failed: {error_summary(err)}")
            row = {"runs": 0, "restores_optimizer": fmt in RESTORES_OPTIMIZER, "error": error_summary(err)}
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        rows.append({"size": label, "params": exact, "strategy": strategy_name, "format": fmt, **row})
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
    return rows


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
