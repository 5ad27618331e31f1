"""The kill matrix's settings: formats, modes, seeds, the CSV columns, and the checks of a selection.

Part of :mod:`benchmarks.kill_matrix` (which re-exports every name).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

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
