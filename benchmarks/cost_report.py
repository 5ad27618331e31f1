"""The cost-at-scale benchmark's outputs: the results, their CSV and JSON files, the tables.

Part of :mod:`benchmarks.checkpoint`. :func:`markdown_summary` is what notebook 11 shows of the committed results.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.cost_config import CSV_FIELDS, CSV_NAME, META_NAME, RAW, STALL_FIELDS, STALL_NAME
from benchmarks.disk import atomic_write


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
