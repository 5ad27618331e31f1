"""The kill matrix's outputs: its CSV, the fixed-width table, the per-format summary and markdown, the chart.

Part of :mod:`benchmarks.kill_matrix`; :func:`markdown` is what notebook 09 shows of the committed results.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

from benchmarks.kill_config import COLUMNS, FORMATS, NO_SAFE_VARIANT
from helpers.atomic_save import save_atomically


def write_csv(rows: Sequence[dict], path: Path) -> Path:
    """Write ``rows`` (``COLUMNS``) to ``path`` atomically."""
    buffer = io.StringIO()
    out = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    out.writeheader()
    out.writerows(rows)
    return save_atomically(lambda p: p.write_text(buffer.getvalue(), encoding="utf-8"), path)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _true(value: object) -> bool:
    return str(value) == "True"


def table(rows: Sequence[dict]) -> str:
    """A fixed-width table of the runs."""
    head = f"{'format':<26}{'mode':<6}{'kill':>5}{'frac':>6}{'done':>6}  {'prev':<6}{'new':<6}{'lost':<6}error / note"
    lines = [head, "-" * len(head)]
    for r in rows:
        detail = r["error"] or r["note"]
        done = {"True": "yes", "False": "no"}.get(str(r["save_finished_before_kill"]), "-")
        lines.append(
            f"{r['format']:<26}{r['mode']:<6}{r['kill']:>5}{r['fraction'] or '-':>6}{done:>6}  "
            f"{str(_true(r['previous_loadable'])):<6}{str(_true(r['new_present'])):<6}{str(_true(r['lost_last_good'])):<6}"
            f"{detail[:90]}"
        )
    return "\n".join(lines)


def summary(rows: Sequence[dict]) -> dict[str, dict[str, tuple[int, int]]]:
    """``format → mode → (kills that lost the last good artifact, kills)``; the uninterrupted runs are not kills."""
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    for r in rows:
        if r["kill"] == "none":
            continue
        lost, total = counts.setdefault(r["format"], {}).get(r["mode"], (0, 0))
        counts[r["format"]][r["mode"]] = (lost + _true(r["lost_last_good"]), total + 1)
    return counts


def markdown(rows: Sequence[dict]) -> str:
    """The per-format summary of a results CSV as a markdown table (what notebook 09 shows)."""
    counts = summary(rows)
    lines = [
        "| way to save | what the save does to the previous files | kills that lost the last good model: as is "
        "| through `save_atomically` | loading what a killed save left (as is) |",
        "|---|---|---|---|---|",
    ]
    for fmt in [f for f in FORMATS if f in counts]:
        naive, safe = counts[fmt].get("naive"), counts[fmt].get("safe")
        broken = [r for r in rows if r["format"] == fmt and r["mode"] == "naive" and _true(r["lost_last_good"])]
        if broken:
            what = re.sub(r": stored \d+.*", "", broken[0]["error"]) or broken[0]["outcome"]  # drop the checksums
            left = "`` " + what.replace("|", "\\|") + f" `` (kill {broken[0]['kill']})"
        else:
            left = "the previous model (or the new one)"
        lines.append(
            f"| {FORMATS[fmt].call} | {FORMATS[fmt].effect} | {f'{naive[0]} of {naive[1]}' if naive else '–'} | "
            f"{f'{safe[0]} of {safe[1]}' if safe else 'n/a: ' + NO_SAFE_VARIANT.get(fmt, 'not run')} | {left} |"
        )
    return "\n".join(lines)


def chart(rows: Sequence[dict], path: Path) -> Path:
    """A bar chart of :func:`summary` (kills that lost the last good model, as is and through ``save_atomically``),
    written atomically as PNG."""
    from matplotlib.figure import Figure

    counts = summary(rows)
    formats = [f for f in FORMATS if f in counts][::-1]
    fig = Figure(figsize=(9, 0.5 * len(formats) + 1.5))
    ax = fig.add_subplot()
    for offset, mode, color in ((0.2, "naive", "tab:red"), (-0.2, "safe", "tab:green")):
        ys = [i + offset for i, f in enumerate(formats) if mode in counts[f]]
        lost = [counts[f][mode][0] for f in formats if mode in counts[f]]
        label = "as is" if mode == "naive" else "through save_atomically"
        ax.barh(ys, lost, height=0.4, color=color, label=label)
        for i, f in enumerate(formats):  # the counts as text: a bar of 0 is invisible
            text = "{} of {}".format(*counts[f][mode]) if mode in counts[f] else "no safe variant"
            ax.text(counts[f].get(mode, (0, 0))[0] + 0.05, i + offset, text, va="center", fontsize=7)
    ax.set_yticks(range(len(formats)), [FORMATS[f].call.strip("`") for f in formats], fontsize=8)
    most = max((t for by_mode in counts.values() for _, t in by_mode.values()), default=1)
    ax.set_xlim(0, most + 0.8)
    ax.set_xlabel(f"kills that lost the last good model (of {most} per format)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return save_atomically(lambda p: fig.savefig(p, format="png", dpi=120), path)
