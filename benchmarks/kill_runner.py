"""The kill matrix's parent: start a writer, SIGKILL it during its save, have a loader restore what it left.

Part of :mod:`benchmarks.kill_matrix`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import stat
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.kill_config import (
    FORMATS,
    NO_SAFE_VARIANT,
    POLL_S,
    ROOT,
    check_formats,
    check_modes,
    has_variant,
    normalise,
)
from helpers.errors import WorkerError
from helpers.processes import ProcessGroup, read_log, wait_until


def tree_state(root: Path) -> dict[str, tuple[bool, int, int, int]]:
    """``relative path → (is_dir, size, mtime_ns, inode)`` for every entry under ``root`` (not following links)."""
    state: dict[str, tuple[bool, int, int, int]] = {}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    is_dir = stat.S_ISDIR(st.st_mode)
                    state[os.path.relpath(entry.path, root)] = (is_dir, st.st_size, st.st_mtime_ns, st.st_ino)
                    if is_dir:
                        stack.append(Path(entry.path))
        except (FileNotFoundError, NotADirectoryError):
            continue
    return state


def describe_change(before: dict, after: dict, limit: int = 3) -> str:
    """What changed between two :func:`tree_state` snapshots, in a few words with stable names."""
    parts = [f"created {normalise(p)}" for p in sorted(after.keys() - before.keys())]
    parts += [f"removed {normalise(p)}" for p in sorted(before.keys() - after.keys())]
    for p in sorted(before.keys() & after.keys()):
        (dir0, size0, _, ino0), (_, size1, _, ino1) = before[p], after[p]
        if before[p] == after[p] or dir0:
            continue
        verb = "replaced" if ino0 != ino1 else "truncated" if size1 < size0 else "rewrote"
        parts.append(f"{verb} {normalise(p)}")
    if not parts:
        parts = ["changed a directory entry"]
    return "; ".join(parts[:limit]) + ("; ..." if len(parts) > limit else "")


@dataclasses.dataclass
class Run:
    """One writer run as the parent saw it."""

    format: str
    mode: str
    kill: str  #: "0".."N-1", or "none" for the uninterrupted run
    fraction: float | None
    dir: Path
    save_seconds: float | None = None  #: first change → save returned (uninterrupted run)
    kill_after_ms: float | None = None
    save_finished_before_kill: bool | None = None
    first_change: str = ""
    leftovers: str = ""


def _is_artifact(run: Run, name: str) -> bool:
    """Whether ``name`` (an entry of ``artifacts/``) is the artifact itself rather than something a save left."""
    spec = FORMATS[run.format]
    if spec.prefix and run.mode == "naive":  # a prefix: ckpt.index, ckpt.data-00000-of-00001
        return name.startswith(f"{spec.target}.")
    return name == spec.target


def _child_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.kill_matrix", "--child", *args]


def _check_hidden(hidden: object) -> None:
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        raise ValueError(f"hidden must be a positive integer (units of the hidden layer), got {hidden!r}")


def write_run(run: Run, hidden: int, delay_s: float | None, timeout: float = 300.0) -> Run:
    """Start a writer, let it overwrite its GOOD artifact, kill it ``delay_s`` after the first change (``None``:
    let it finish and measure the save). Fills in ``run`` and returns it. Bad arguments raise ValueError before
    anything starts; a writer that fails raises WorkerError."""
    check_formats([run.format])
    check_modes([run.mode])
    _check_hidden(hidden)
    if delay_s is not None and (isinstance(delay_s, bool) or not isinstance(delay_s, (int, float)) or delay_s < 0):
        raise ValueError(f"delay_s must be None or a number of seconds >= 0, got {delay_s!r}")
    if run.dir.exists():
        shutil.rmtree(run.dir)
    artifacts, control = run.dir / "artifacts", run.dir / "control"
    artifacts.mkdir(parents=True)
    control.mkdir()
    log = run.dir / "writer.log"
    args = ["writer", run.format, run.mode, os.fspath(run.dir), str(hidden), str(timeout)]
    with ProcessGroup(grace=2) as group:
        proc = group.start(_child_cmd(*args), log=log, cwd=ROOT, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
        wait_until((control / "ready").exists, timeout, what="the writer to be ready", procs=[proc], log=log)
        before = tree_state(artifacts)
        (control / "go").touch()
        after = before

        def changed() -> bool:
            nonlocal after
            after = tree_state(artifacts)
            return after != before

        what = f"the writer's save to change something under {artifacts}"
        wait_until(changed, timeout, what=what, procs=[proc], log=log, interval=POLL_S)
        t0 = time.monotonic()
        if delay_s is not None:
            while time.monotonic() < t0 + delay_s and proc.poll() is None:
                time.sleep(POLL_S / 2)
            group.kill(proc, signal.SIGKILL)
            run.kill_after_ms = round(1000 * (time.monotonic() - t0), 1)
            run.save_finished_before_kill = (control / "done").exists()
        else:
            done = (control / "done").exists
            wait_until(done, timeout, what="the writer to finish its save", procs=[proc], log=log, interval=POLL_S)
            run.save_seconds = time.monotonic() - t0
        (code,) = group.wait(60, [proc])
        if delay_s is None and code != 0:
            raise WorkerError(f"the uninterrupted writer exited with code {code}:\n{read_log(log, 15)}")
    run.first_change = describe_change(before, after)
    run.leftovers = " ".join(sorted(normalise(p.name) for p in artifacts.iterdir() if not _is_artifact(run, p.name)))
    return run


def load_runs(fmt: str, runs: Sequence[Run], hidden: int, work: Path, timeout: float = 600.0) -> dict[str, dict]:
    """Restore every run's leftover in fresh loader processes; a loader that dies is restarted for the rest."""
    runs_file, results_file = work / f"{fmt}-runs.json", work / f"{fmt}-results.jsonl"
    results_file.unlink(missing_ok=True)
    runs_file.write_text(
        json.dumps([{"run": f"{r.mode}/{r.kill}", "mode": r.mode, "dir": os.fspath(r.dir)} for r in runs])
    )
    results: dict[str, dict] = {}
    for _attempt in range(len(runs) + 1):
        log = work / f"{fmt}-loader.log"
        with ProcessGroup(grace=2) as group:
            args = ["loader", fmt, os.fspath(runs_file), os.fspath(results_file), str(hidden)]
            proc = group.start(_child_cmd(*args), log=log, cwd=ROOT, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
            (code,) = group.wait(timeout, [proc])
        lines = [json.loads(line) for line in results_file.read_text().splitlines()] if results_file.exists() else []
        results = {line["run"]: line for line in lines if "outcome" in line}
        started = [line["run"] for line in lines if line.get("started") and line["run"] not in results]
        if code == 0 and len(results) == len(runs):
            return results
        if not started:
            raise WorkerError(f"the loader exited with code {code} before loading anything:\n{read_log(log, 15)}")
        crashed = started[0]  # died while loading this run: record it and go on with the rest
        line = {"run": crashed, "outcome": "error", "error": f"loader process died (exit code {code})", "note": ""}
        with results_file.open("a") as f:
            f.write(json.dumps(line) + "\n")
    raise WorkerError(f"the loader kept dying:\n{read_log(log, 15)}")


def _row(run: Run, result: dict) -> dict[str, object]:
    outcome = result["outcome"]
    return {
        "format": run.format,
        "mode": run.mode,
        "kill": run.kill,
        "fraction": "" if run.fraction is None else f"{run.fraction:.2f}",
        "kill_after_ms": "" if run.kill_after_ms is None else run.kill_after_ms,
        "save_seconds": "" if run.save_seconds is None else f"{run.save_seconds:.3f}",
        "save_finished_before_kill": "" if run.save_finished_before_kill is None else run.save_finished_before_kill,
        "first_change": run.first_change,
        "previous_loadable": outcome == "previous",
        "new_present": outcome == "new",
        "lost_last_good": outcome not in ("previous", "new"),
        "outcome": outcome,
        "error": result.get("error", ""),
        "leftovers": run.leftovers,
        "note": result.get("note", ""),
    }


def run_format(fmt: str, modes: Sequence[str], kills: int, hidden: int, work: Path, log=print) -> list[dict]:
    """All runs of one format (an uninterrupted one, then ``kills`` kills per mode), loaded; the CSV rows."""
    check_formats([fmt])
    check_modes(modes)
    _check_hidden(hidden)
    if isinstance(kills, bool) or not isinstance(kills, int) or kills < 1:
        raise ValueError(f"kills must be an integer >= 1, got {kills!r}")
    runs: list[Run] = []
    for mode in modes:
        if not has_variant(fmt, mode):
            log(f"  {fmt} {mode}: no safe variant ({NO_SAFE_VARIANT[fmt]})")
            continue
        base = work / fmt / mode
        full = write_run(Run(fmt, mode, "none", None, base / "full"), hidden, None)
        runs.append(full)
        assert full.save_seconds is not None
        log(f"  {fmt} {mode}: save takes {full.save_seconds:.3f} s after its first change ({full.first_change})")
        for k in range(kills):
            fraction = k / kills
            run = write_run(Run(fmt, mode, str(k), fraction, base / f"kill{k}"), hidden, fraction * full.save_seconds)
            runs.append(run)
    results = load_runs(fmt, runs, hidden, work)
    rows = [_row(r, results[f"{r.mode}/{r.kill}"]) for r in runs]
    shutil.rmtree(work / fmt, ignore_errors=True)
    return rows
