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
import csv
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import signal
import stat
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from helpers.atomic_save import save_atomically
from helpers.errors import WorkerError
from helpers.processes import ProcessGroup, read_log, wait_until
from helpers.tf_errors import error_line  # one line per failed load: `Type: first line`, paths as <path>

ROOT = Path(__file__).resolve().parent.parent
SEED_GOOD, SEED_NEW = 1, 2
INPUTS, OUTPUTS = 1000, 1000
DEFAULT_HIDDEN = 5000  #: Dense(1000 → 5000 → 1000): 10,006,000 parameters, 120 MB with Adam's two moments
POLL_S = 0.001

#: Each format: its target inside ``artifacts/``, its call, and what that save does to the previous files on Keras
#: 3.15 / TF 2.21 (read in the installed sources and checked with ``strace``; none of them calls fsync).
FORMATS: dict[str, tuple[str, str, str]] = {
    "keras": ("model.keras", '`model.save("model.keras")`', "opens the file with O_TRUNC, writes the zip into it"),
    "weights_h5": (
        "model.weights.h5",
        '`model.save_weights("model.weights.h5")`',
        "h5py opens the file with O_TRUNC, writes into it",
    ),
    "export": (
        "exported",
        "`model.export(folder)`",
        "writes the variables under temporary names, renames the data file over the old one, then rewrites "
        "`variables.index` in place; `saved_model.pb` via temporary + rename",
    ),
    "tf_saved_model": ("saved_model", "`tf.saved_model.save(model, folder)`", "the same sequence as `model.export`"),
    "checkpoint_write": (
        "ckpt",
        "`tf.train.Checkpoint(...).write(prefix)`",
        "writes the data in `<prefix>_temp/`, renames it over the old data file, then rewrites `<prefix>.index` in "
        "place",
    ),
    "checkpoint_manager": (
        "manager",
        "`tf.train.CheckpointManager(...).save()`",
        "writes a new prefix `ckpt-N`, switches the `checkpoint` file (temporary + rename), then deletes `ckpt-(N-1)`",
    ),
    "model_checkpoint": (
        "model.keras",
        '`keras.callbacks.ModelCheckpoint("model.keras")`',
        "`model.save` at every epoch end: as `model.save`",
    ),
    "backup_and_restore": (
        "backup",
        "`keras.callbacks.BackupAndRestore(folder)`",
        "`save_weights` into `latest.weights.h5` in place, then `training_metadata.json` in place",
    ),
    "backup_and_restore_double": (
        "backup",
        "`BackupAndRestore(folder, double_checkpoint=True)`",
        "first copies both files to `*.bkp` (in place), then as above; a restore that fails with OSError uses the "
        "copies",
    ),
}
#: Formats whose own save already keeps the previous state under another name: no ``safe`` variant.
NO_SAFE_VARIANT = {
    "checkpoint_manager": "already writes a new name each time and switches to it atomically",
    "backup_and_restore_double": "Keras's own fallback copy (the safe variant is that of `BackupAndRestore`)",
}
CALLBACK_FORMATS = {"model_checkpoint", "backup_and_restore", "backup_and_restore_double"}
MODES = ("naive", "safe")
COLUMNS = [
    "format",
    "mode",
    "kill",
    "fraction",
    "kill_after_ms",
    "save_seconds",
    "save_finished_before_kill",
    "first_change",
    "previous_loadable",
    "new_present",
    "lost_last_good",
    "outcome",
    "error",
    "leftovers",
    "note",
]


# --------------------------------------------------------------------------------------------- shared by all roles
def check_formats(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ValueError(f"unknown format(s) {unknown or names!r}; choose from {', '.join(FORMATS)}")
    return list(dict.fromkeys(names))


def check_modes(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in MODES]
    if unknown or not names:
        raise ValueError(f"unknown mode(s) {unknown or names!r}; choose from {', '.join(MODES)}")
    return list(dict.fromkeys(names))


def has_variant(fmt: str, mode: str) -> bool:
    return mode == "naive" or fmt not in NO_SAFE_VARIANT


_TOKENS = [
    (re.compile(r"\.saving-[0-9a-f]{12}-"), ".saving-*-"),
    (re.compile(r"\.replaced-[0-9a-f]{12}-"), ".replaced-*-"),
    (re.compile(r"tempstate\d+"), "tempstate*"),
    (re.compile(r"\.tmp[0-9a-f]{32}"), ".tmp*"),
]


def normalise(name: str) -> str:
    """A file name with its random parts replaced by ``*`` (stable across runs)."""
    for pattern, repl in _TOKENS:
        name = pattern.sub(repl, name)
    return name


# ---------------------------------------------------------------------------------------------- the writer process
def _build_model(keras, hidden: int):
    model = keras.Sequential(
        [keras.Input((INPUTS,)), keras.layers.Dense(hidden, name="hidden"), keras.layers.Dense(OUTPUTS, name="out")]
    )
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def seeded_weights(shapes: Sequence[tuple[int, ...]], seed: int) -> list:
    """The weights a run writes: standard normal float32 arrays from ``numpy.random.default_rng(seed)``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return [rng.standard_normal(tuple(s), dtype=np.float32) for s in shapes]


def _set_seeded(model, seed: int) -> None:
    model.set_weights(seeded_weights([tuple(w.shape) for w in model.weights], seed))


def _safe_callbacks(keras):
    """The two callbacks of safe mode (defined here because they need Keras)."""

    class AtomicModelCheckpoint(keras.callbacks.Callback):
        """``ModelCheckpoint(filepath)`` (whole model, every epoch) written through ``save_atomically``."""

        def __init__(self, filepath):
            super().__init__()
            self.filepath = filepath

        def on_epoch_end(self, epoch, logs=None):
            save_atomically(self.model.save, self.filepath)

    class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
        """Keras 3's ``BackupAndRestore`` with both files written to a temporary folder that then replaces
        ``backup_dir`` in one step (overrides Keras 3.15's private ``_save_model``; restoring is unchanged)."""

        def _save_model(self):
            def write(folder: Path) -> None:
                folder.mkdir()
                self.model.save_weights(folder / "latest.weights.h5")
                metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
                (folder / "training_metadata.json").write_text(json.dumps(metadata))

            save_atomically(write, self.backup_dir)

    return AtomicModelCheckpoint, AtomicBackupAndRestore


def _direct_saver(fmt: str, mode: str, model, target: Path) -> Callable[[], object]:
    import tensorflow as tf

    ckpt = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    if fmt == "checkpoint_manager":
        manager = tf.train.CheckpointManager(ckpt, os.fspath(target), max_to_keep=1)
        return manager.save
    naive: Callable[[Path], object] = {
        "keras": model.save,
        "weights_h5": model.save_weights,
        "export": lambda p: model.export(os.fspath(p), verbose=False),
        "tf_saved_model": lambda p: tf.saved_model.save(model, os.fspath(p)),
        "checkpoint_write": lambda p: ckpt.write(os.fspath(p)),
    }[fmt]
    if mode == "naive":
        return lambda: naive(target)
    if fmt == "checkpoint_write":  # a prefix of two files: the safe artifact is a folder holding it
        return lambda: save_atomically(lambda d: ckpt.write(os.fspath(d / "ckpt")), target)
    return lambda: save_atomically(naive, target)


def writer(fmt: str, mode: str, run_dir: Path, hidden: int, timeout: float) -> None:
    """The writer process: save GOOD, signal ``ready``, wait for ``go``, save NEW, signal ``done``."""
    import keras
    import numpy as np

    artifacts, control = run_dir / "artifacts", run_dir / "control"
    target = artifacts / FORMATS[fmt][0]
    keras.utils.set_random_seed(0)
    model = _build_model(keras, hidden)

    if fmt not in CALLBACK_FORMATS:
        save = _direct_saver(fmt, mode, model, target)
        _set_seeded(model, SEED_GOOD)
        save()
        _set_seeded(model, SEED_NEW)
        (control / "ready").touch()
        wait_until((control / "go").exists, timeout, what="the go signal", interval=POLL_S)
        save()
        (control / "done").touch()
        return

    class Seeds(keras.callbacks.Callback):  # the weights each epoch ends with: GOOD, then NEW
        def on_epoch_end(self, epoch, logs=None):
            _set_seeded(self.model, (SEED_GOOD, SEED_NEW)[min(epoch, 1)])

    class Sync(keras.callbacks.Callback):  # after the first save: ready, wait; after the second: done, stop
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                (control / "ready").touch()
                wait_until((control / "go").exists, timeout, what="the go signal", interval=POLL_S)
            else:
                (control / "done").touch()
                sys.stdout.flush()
                os._exit(0)

    atomic_checkpoint, atomic_backup = _safe_callbacks(keras)
    if fmt == "model_checkpoint":
        saver = keras.callbacks.ModelCheckpoint(os.fspath(target)) if mode == "naive" else atomic_checkpoint(target)
    elif mode == "naive":
        double = fmt == "backup_and_restore_double"
        saver = keras.callbacks.BackupAndRestore(os.fspath(target), double_checkpoint=double, delete_checkpoint=False)
    else:
        saver = atomic_backup(os.fspath(target), delete_checkpoint=False)
    x = np.zeros((16, INPUTS), np.float32)
    y = np.zeros((16, OUTPUTS), np.float32)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False, callbacks=[Seeds(), saver, Sync()])


# ---------------------------------------------------------------------------------------------- the loader process
def _digests(arrays) -> list[str]:
    import numpy as np

    return [hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest() for a in arrays]


def _restore(fmt: str, mode: str, target: Path, hidden: int) -> tuple[list, str]:
    """Restore the artifact as a restart would; return the restored arrays and a note."""
    import keras
    import tensorflow as tf

    if fmt in ("keras", "model_checkpoint"):
        return [w.numpy() for w in keras.models.load_model(target).weights], ""
    if fmt in ("export", "tf_saved_model"):
        tf.saved_model.load(os.fspath(target))  # the real load: raises for a damaged SavedModel
        reader = tf.train.load_checkpoint(os.fspath(target / "variables" / "variables"))
        names = reader.get_variable_to_shape_map()
        return [reader.get_tensor(n) for n in names if names[n]], ""
    model = _build_model(keras, hidden)
    if fmt == "weights_h5":
        model.load_weights(target)
        return [w.numpy() for w in model.weights], ""
    if fmt in ("checkpoint_write", "checkpoint_manager"):
        ckpt = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
        if fmt == "checkpoint_manager":
            prefix = tf.train.CheckpointManager(ckpt, os.fspath(target), max_to_keep=1).latest_checkpoint
            if prefix is None:
                raise FileNotFoundError(f"CheckpointManager finds no checkpoint in {target}")
            note = f"latest checkpoint: {Path(prefix).name}"
        else:
            prefix, note = os.fspath(target / "ckpt" if mode == "safe" else target), ""
        ckpt.read(prefix).assert_existing_objects_matched()
        return [w.numpy() for w in model.weights], note
    # BackupAndRestore: what the callback does at the start of the next fit
    callback = keras.callbacks.BackupAndRestore(os.fspath(target), delete_checkpoint=False)
    callback.set_model(model)
    callback.on_train_begin()
    epoch = getattr(model, "_initial_epoch", None)
    note = "no backup to restore" if not (target / "latest.weights.h5").exists() else f"resumes at epoch {epoch}"
    return [w.numpy() for w in model.weights], note


def load_one(fmt: str, mode: str, run_dir: Path, hidden: int) -> dict[str, object]:
    """Restore one run's leftover; compare with the GOOD and NEW weights bitwise."""
    target = run_dir / "artifacts" / FORMATS[fmt][0]
    shapes = [(INPUTS, hidden), (hidden,), (hidden, OUTPUTS), (OUTPUTS,)]
    good, new = (set(_digests(seeded_weights(shapes, s))) for s in (SEED_GOOD, SEED_NEW))
    result: dict[str, object] = {"error": "", "note": ""}
    try:
        arrays, result["note"] = _restore(fmt, mode, target, hidden)
    except Exception as err:  # what a restart would see
        result.update(outcome="error", error=error_line(err))
    else:
        found = set(_digests(arrays))
        result["outcome"] = "previous" if good <= found else "new" if new <= found else "other weights"
        # BackupAndRestore also restores the epoch to resume at: 1 after the GOOD save, 2 after the NEW one
        expected_note = {"previous": "resumes at epoch 1", "new": "resumes at epoch 2"}.get(str(result["outcome"]))
        if fmt.startswith("backup_and_restore") and expected_note and result["note"] != expected_note:
            result["outcome"] = "mixed"  # e.g. the NEW weights with the GOOD epoch: a state that never existed
    return result


def loader(fmt: str, runs_file: Path, results_file: Path, hidden: int) -> None:
    """The loader process: one JSON line per run in ``runs_file`` (skipping those already in ``results_file``)."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    done = (
        {json.loads(line)["run"] for line in results_file.read_text().splitlines()} if results_file.exists() else set()
    )
    for run in json.loads(runs_file.read_text()):
        if run["run"] in done:
            continue
        with results_file.open("a") as f:  # mark the start, so a crash is attributed to this run
            f.write(json.dumps({"run": run["run"], "started": True}) + "\n")
        result = load_one(fmt, run["mode"], Path(run["dir"]), hidden)
        with results_file.open("a") as f:
            f.write(json.dumps({"run": run["run"], **result}) + "\n")


# ---------------------------------------------------------------------------------------------- the parent process
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
    target = FORMATS[run.format][0]
    if run.format == "checkpoint_write" and run.mode == "naive":  # a prefix: ckpt.index, ckpt.data-00000-of-00001
        return name.startswith(f"{target}.")
    return name == target


def _child_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.kill_matrix", "--child", *args]


def write_run(run: Run, hidden: int, delay_s: float | None, timeout: float = 300.0) -> Run:
    """Start a writer, let it overwrite its GOOD artifact, kill it ``delay_s`` after the first change (``None``:
    let it finish and measure the save). Fills in ``run`` and returns it."""
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
            f"| {FORMATS[fmt][1]} | {FORMATS[fmt][2]} | {f'{naive[0]} of {naive[1]}' if naive else '–'} | "
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
    ax.set_yticks(range(len(formats)), [FORMATS[f][1].strip("`") for f in formats], fontsize=8)
    most = max((t for by_mode in counts.values() for _, t in by_mode.values()), default=1)
    ax.set_xlim(0, most + 0.8)
    ax.set_xlabel(f"kills that lost the last good model (of {most} per format)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return save_atomically(lambda p: fig.savefig(p, format="png", dpi=120), path)


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
