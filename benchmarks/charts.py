"""Charts of the checkpoint benchmark (``benchmarks.checkpoint``): throughput ratios and the async stall.

Each function takes rows as :func:`benchmarks.checkpoint.read_csv` returns them and gives back a
``matplotlib.figure.Figure`` built without pyplot (no global state, no display needed: the Agg canvas renders it);
:func:`png_bytes` renders one for an atomic write.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["ratio_chart", "stall_chart", "png_bytes"]

RAW = "raw file I/O"


def _unique(values) -> list:
    return list(dict.fromkeys(values))


def ratio_chart(rows: Sequence[dict]) -> Figure:
    """Save and load throughput as a fraction of the raw disk bandwidth: one column per model size,
    one bar per (format, strategy). The bar divides by the median of the raw probes; where the rows carry the
    probes' spread, a whisker spans the ratio against the fastest and the slowest probe, and a bar above 1 is
    labelled with its value. Failed formats have no bar."""
    measured = [r for r in rows if r.get("format") != RAW and r.get("save_ratio") is not None]
    if not measured:
        raise ValueError("no measured rows: pass the rows of a checkpoint.csv with at least one format that ran")
    sizes = _unique(r["size"] for r in measured)
    formats = _unique(r["format"] for r in measured)
    strategies = _unique(r["strategy"] for r in measured)
    params = {r["size"]: r["params"] for r in measured}
    probes = {r["size"]: r.get("raw_probes") for r in rows if r.get("format") == RAW}
    fig = Figure(figsize=(max(8.0, 4.2 * len(sizes) + 1.5), 7.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, len(sizes), squeeze=False, sharey="row")
    width = 0.8 / len(strategies)
    xs = np.arange(len(formats))
    for col, size in enumerate(sizes):
        for row, (what, raw) in enumerate((("save", "raw write + fsync"), ("load", "raw read"))):
            ax = axes[row][col]
            for i, strategy in enumerate(strategies):
                by_format = {r["format"]: r for r in measured if r["size"] == size and r["strategy"] == strategy}
                got = [by_format.get(f) for f in formats]
                values = np.array([r[f"{what}_ratio"] if r else np.nan for r in got], dtype=float)
                lo = np.array([r.get(f"{what}_ratio_min") if r else None for r in got], dtype=float)
                hi = np.array([r.get(f"{what}_ratio_max") if r else None for r in got], dtype=float)
                bars = ax.bar(xs + i * width, values, width, label=strategy)
                if not np.all(np.isnan(lo)):
                    err = np.vstack([np.clip(values - lo, 0, None), np.clip(hi - values, 0, None)])
                    ax.errorbar(xs + i * width, values, yerr=err, fmt="none", ecolor="black", elinewidth=0.6, capsize=2)
                for bar, value in zip(bars, values, strict=True):
                    if value > 1:  # above the median raw bandwidth: see above_raw in the CSV
                        ax.annotate(
                            f"{value:.2f}",
                            (bar.get_x() + bar.get_width() / 2, value),
                            ha="center",
                            va="bottom",
                            fontsize=6,
                            color="tab:red",
                        )
            ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--", label=f"= median {raw}")
            ax.set_xticks(xs + 0.4 - width / 2)
            ax.set_xticklabels(formats if row == 1 else [], rotation=40, ha="right", fontsize=8)
            count = f", {probes[size]:.0f} raw probes" if probes.get(size) else ""
            ax.set_title(f"{what}, {size} ({params[size]:,} params{count})", fontsize=9)
            if col == 0:
                ax.set_ylabel(f"{what} throughput ÷ median {raw}", fontsize=8)
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(
        "Checkpoint throughput as a fraction of the raw disk bandwidth (same folder, same run; raw probes interleaved"
        " with the formats)\nwhiskers: against the fastest and the slowest raw probe; red: above the median probe",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def stall_chart(stall_rows: Sequence[dict]) -> Figure:
    """Per model size and strategy: the synchronous save, the async call's blocking time, and the training loop's
    stall per async checkpoint (seconds, log scale); and that stall as a fraction of the synchronous save."""
    rows = [r for r in stall_rows if not r.get("error") and r.get("stall_fraction") is not None]
    if not rows:
        raise ValueError("no measured stall rows: pass the rows of a checkpoint_stall.csv with at least one result")
    labels = [f"{r['size']}\n{r['strategy']}" for r in rows]
    fig = Figure(figsize=(max(7.0, 1.6 * len(rows) + 4), 4.2))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    xs = np.arange(len(rows))
    series = (
        ("sync_save_s", "synchronous save"),
        ("async_call_s", "async: blocking call"),
        ("async_stall_s", "async: stall (call + slower steps)"),
    )
    width = 0.8 / len(series)
    for i, (key, name) in enumerate(series):
        left.bar(xs + i * width, [max(r[key], 1e-4) for r in rows], width, label=name)
    left.set_yscale("log")
    left.set_ylabel("seconds per checkpoint (log)")
    left.set_xticks(xs + 0.4 - width / 2)
    left.set_xticklabels(labels, fontsize=8)
    left.legend(fontsize=7)
    right.bar(xs, [r["stall_fraction"] for r in rows], 0.6, color="tab:green")
    right.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    right.set_xticks(xs)
    right.set_xticklabels(labels, fontsize=8)
    right.set_ylabel("async stall ÷ sync save")
    fig.suptitle("What an asynchronous checkpoint costs the training loop", fontsize=10)
    fig.tight_layout()
    return fig


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (Agg), to be written with an atomic writer."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
