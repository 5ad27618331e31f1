"""A crash in the middle of a save: SIGKILL a process while it overwrites a good artifact, for every way to save.

``python -m benchmarks.kill_matrix [--kills N] [--formats ...] [--modes naive safe] [--out build/bench]``

For each format and mode a *writer* process (started through :class:`helpers.processes.ProcessGroup`) builds a
dense model of about 1e7 parameters with Adam's state, sets its weights from seed ``GOOD`` and saves them (the
good artifact), then sets them from seed ``NEW``, says it is ready and waits. This process takes a stat of every
entry under the target's directory, tells the writer to go on, polls that tree every ~1 ms and SIGKILLs the writer:

- kill 0: as soon as anything under the directory changes (deterministic: the first change of the save);
- kill k > 0: ``k / kills`` of the save's duration after that first change, the duration being measured once per
  format and mode by an uninterrupted run (first change → save returned), which is also reported (kill ``none``).

A *loader* process (fresh, one per format) then opens what each run left, the way a restart would, and compares the
restored weights bitwise with the GOOD and NEW ones: is the previous artifact still there, is the new one, and what
does loading raise (type and first line, paths replaced by ``<path>``)? A run *lost the last good artifact* when
neither comes back. The comparison covers the model's weights (each drawn from its seed, so a mix of the two saves
is caught); for ``BackupAndRestore`` the epoch it resumes at must match too (NEW weights with the GOOD epoch is
``mixed``). A kill landing after the save finished is marked in ``save_finished_before_kill``.

Modes: ``naive`` is the format's own save call; ``safe`` is the same call through
:func:`helpers.atomic_save.save_atomically` (temporary name in the same directory, fsync, atomic rename / directory
exchange). For the two callbacks the safe mode is a small callback that saves through ``save_atomically``
(:class:`AtomicModelCheckpoint`, :class:`AtomicBackupAndRestore`). ``checkpoint_manager`` and
``backup_and_restore_double`` have no safe variant (they already keep the previous state under another name).

Outputs: ``<out>/kill_matrix.csv`` (one row per run) and ``<out>/kill_matrix.png`` (lost kills per format, as is
and through ``save_atomically``), both written atomically, and a table on stdout.
``--markdown CSV`` prints the per-format summary table of an existing CSV (what notebook 09 shows).
Rows of formats not run this time are kept from an existing CSV, so the matrix can be run a few formats at a time.
Run time of the full matrix with ``--kills 5``: about 16 minutes on a 2-core CPU (96 writer and 9 loader processes;
most of it is TensorFlow starting in each of them).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# The matrix lives in modules by concern (settings, the child processes, the parent, the outputs); every name
# notebook 09 and the tests use stays importable from here.
from benchmarks.kill_config import (
    CALLBACK_FORMATS,
    COLUMNS,
    DEFAULT_HIDDEN,
    FORMATS,
    INPUTS,
    MODES,
    NO_SAFE_VARIANT,
    OUTPUTS,
    POLL_S,
    ROOT,
    SEED_GOOD,
    SEED_NEW,
    check_formats,
    check_modes,
    has_variant,
    normalise,
)
from benchmarks.kill_report import chart, markdown, read_csv, summary, table, write_csv
from benchmarks.kill_runner import Run, describe_change, load_runs, run_format, tree_state, write_run
from benchmarks.kill_runner import _row as _row
from benchmarks.kill_writer import load_one, loader, seeded_weights, writer

__all__ = [
    "SEED_GOOD",
    "SEED_NEW",
    "INPUTS",
    "OUTPUTS",
    "DEFAULT_HIDDEN",
    "POLL_S",
    "ROOT",
    "FORMATS",
    "NO_SAFE_VARIANT",
    "CALLBACK_FORMATS",
    "MODES",
    "COLUMNS",
    "check_formats",
    "check_modes",
    "has_variant",
    "normalise",
    "error_line",
    "seeded_weights",
    "writer",
    "load_one",
    "loader",
    "tree_state",
    "describe_change",
    "Run",
    "write_run",
    "load_runs",
    "run_format",
    "write_csv",
    "read_csv",
    "table",
    "summary",
    "markdown",
    "chart",
    "main",
]
from helpers.tf_errors import error_line  # one line per failed load: `Type: first line`, paths as <path>


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kill_matrix", description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=5, help="kills per format and mode (>= 1; default 5)")
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), metavar="FORMAT", help=", ".join(FORMATS))
    parser.add_argument("--modes", nargs="+", default=list(MODES), metavar="MODE", help="naive and/or safe")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench", help="output folder")
    parser.add_argument("--hidden", type=int, default=DEFAULT_HIDDEN, help="hidden units (5000: ~1e7 parameters)")
    parser.add_argument("--markdown", type=Path, metavar="CSV", help="print the summary table of this CSV and exit")
    parser.add_argument("--chart", type=Path, metavar="CSV", help="draw the chart of this CSV (same name, .png)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        role, fmt, *rest = args.child
        if role == "writer":
            mode, run_dir, hidden, timeout = rest
            writer(fmt, mode, Path(run_dir), int(hidden), float(timeout))
        else:
            runs_file, results_file, hidden = rest
            loader(fmt, Path(runs_file), Path(results_file), int(hidden))
        return 0
    if args.markdown:
        print(markdown(read_csv(args.markdown)))
        return 0
    if args.chart:
        print(chart(read_csv(args.chart), args.chart.with_suffix(".png")))
        return 0

    formats, modes = check_formats(args.formats), check_modes(args.modes)
    if isinstance(args.kills, bool) or args.kills < 1:
        parser.error("--kills must be >= 1")
    if args.hidden < 1:
        parser.error("--hidden must be >= 1")
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.out / "kill_matrix_runs"
    start = time.monotonic()
    rows: list[dict] = []
    for fmt in formats:
        print(f"{fmt}:", flush=True)
        rows += run_format(fmt, modes, args.kills, args.hidden, work, log=lambda s: print(s, flush=True))
    shutil.rmtree(work, ignore_errors=True)
    csv_path = args.out / "kill_matrix.csv"
    kept = [r for r in read_csv(csv_path) if r["format"] not in formats] if csv_path.exists() else []
    if kept:
        print(f"kept {len(kept)} rows of other formats from the previous {csv_path.name}")
    order = {f: i for i, f in enumerate(FORMATS)}
    all_rows = sorted([*kept, *rows], key=lambda r: order.get(r["format"], len(order)))
    write_csv(all_rows, csv_path)
    chart(all_rows, args.out / "kill_matrix.png")
    print()
    print(table(rows))
    print()
    for fmt, by_mode in summary(rows).items():
        parts = ", ".join(f"{mode}: {lost} of {total}" for mode, (lost, total) in by_mode.items())
        print(f"{fmt:<26} kills that lost the last good artifact: {parts}")
    print(f"\n{len(rows)} runs in {time.monotonic() - start:.0f} s; wrote {csv_path} and kill_matrix.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
