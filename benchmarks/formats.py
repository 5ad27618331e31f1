"""The ways to save a model that the benchmarks measure: one list, shared by the kill matrix and the cost benchmark.

Each :class:`SaveFormat` says, with named fields, how the format is called in each benchmark's results, what file or
folder it writes, how to save a model that way and how to load it back, and what the kill matrix found it does to the
previous files. :data:`ALL` is the list; each benchmark takes the formats it measures from it::

    fmt = BY_KEY["checkpoint_write"]
    save = fmt.save(model, folder / fmt.target)  # bound once: save() may be called again and again
    save()
    loaded, note = fmt.load(folder / fmt.target, fresh_model)  # fresh_model: used when fmt.into_model

TensorFlow and Keras are imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SaveFormat", "ALL", "BY_KEY", "BY_LABEL", "checkpoint_of", "write_async"]

#: A bound save: ``save()`` writes the model; it returns ``None``, or, for an asynchronous write, a function that
#: waits until the background write is complete.
Save = Callable[[], "Callable[[], object] | None"]


@dataclass(frozen=True)
class SaveFormat:
    """One way to save a model."""

    key: str  #: the kill matrix's name (``kill_matrix.csv``, ``--formats``), e.g. ``checkpoint_write``
    label: str  #: the cost benchmark's name (``checkpoint.csv``, ``--formats``), notebook 08's: ``tf.train.Checkpoint``
    target: str  #: the file, folder or checkpoint prefix the save writes inside its folder
    #: ``load(path, model) -> (what was loaded, note)``: restores what was saved at ``path``; ``model`` is a model
    #: built by code, restored into when :attr:`into_model` (else unused); the note is "" or what the restore found
    load: Callable[[Path, Any], tuple[Any, str]]
    #: ``save(model, path, case=None) -> Save``: a save of ``model`` to ``path``, bound once (a CheckpointManager's
    #: numbering goes on across calls). ``case``: the cost benchmark's per-model state (``shard_bytes``,
    #: ``async_checkpoint()``) for the formats that need it. ``None`` for a callback (see :attr:`callback`).
    save: Callable[..., Save] | None = None
    #: ``callback(path) -> keras.callbacks.Callback``: for formats that save during ``fit``
    callback: Callable[[Path], Any] | None = None
    prefix: bool = False  #: ``target`` is a checkpoint prefix: the save writes ``<target>.index``, ``<target>.data-*``
    into_model: bool = False  #: the load restores weights into a model built by code (the format has no architecture)
    keras_model: bool = True  #: the load gives a Keras model back, optimizer included (else a SavedModel object)
    call: str = ""  #: the call, as markdown (the kill matrix's table and chart)
    effect: str = ""  #: what the save does to the previous files on Keras 3.15 / TF 2.21 (the kill matrix's table)
    no_safe_variant: str = ""  #: why the kill matrix runs no ``save_atomically`` variant of it ("" = it does)
    kill_matrix: bool = True  #: measured by ``benchmarks.kill_matrix``
    cost: bool = True  #: measured by ``benchmarks.checkpoint``

    def bind(self, model, path: Path, case=None) -> Save:
        """``save(model, path, case)``: the bound save; ValueError for a format that saves through a callback."""
        if self.save is None:
            raise ValueError(f"{self.key} saves through a callback during fit, not with a direct save")
        return self.save(model, path, case)


def checkpoint_of(model):
    """``tf.train.Checkpoint(model=model, optimizer=model.optimizer)``."""
    import tensorflow as tf

    return tf.train.Checkpoint(model=model, optimizer=model.optimizer)


def write_async(checkpoint, prefix: str, options=None):
    """An asynchronous ``checkpoint.write(prefix)`` that works again and again through the same ``checkpoint`` of a
    Keras 3 model (see ``benchmarks.checkpoint.ASYNC_NOTE``): the copy of the variables runs eagerly, then the write
    continues in the checkpoint's one background thread. Waits for the previous write of ``checkpoint`` first, as
    ``write`` does."""
    import tensorflow as tf

    options = options or tf.train.CheckpointOptions(enable_async=True)
    eager = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        return checkpoint.write(prefix, options=options)
    finally:
        tf.config.run_functions_eagerly(eager)


# ----------------------------------------------------------------------------------------------------------- saves
def _bound(function, *args, **kwargs) -> Save:
    def save() -> None:
        function(*args, **kwargs)

    return save


def _save_keras(model, path: Path, case=None) -> Save:
    return _bound(model.save, path)


def _save_weights(model, path: Path, case=None) -> Save:
    return _bound(model.save_weights, path)


def _save_export(model, path: Path, case=None) -> Save:
    return _bound(model.export, os.fspath(path), verbose=False)


def _save_saved_model(model, path: Path, case=None) -> Save:
    import tensorflow as tf

    return _bound(tf.saved_model.save, model, os.fspath(path))


def _save_checkpoint(model, path: Path, case=None) -> Save:
    return _bound(checkpoint_of(model).write, os.fspath(path))


def _save_manager(model, path: Path, case=None) -> Save:
    import tensorflow as tf

    return _bound(tf.train.CheckpointManager(checkpoint_of(model), os.fspath(path), max_to_keep=1).save)


def _save_async(model, path: Path, case) -> Save:
    checkpoint = case.async_checkpoint()  # one per model, reused by every write: see ASYNC_NOTE

    def save() -> Callable[[], object]:
        write_async(checkpoint, os.fspath(path))
        return checkpoint.sync

    return save


def _save_sharded(model, path: Path, case) -> Save:
    import tensorflow as tf

    policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=case.shard_bytes)
    options = tf.train.CheckpointOptions(experimental_sharding_callback=policy)
    return _bound(checkpoint_of(model).write, os.fspath(path), options=options)


def _model_checkpoint(path: Path):
    import keras

    return keras.callbacks.ModelCheckpoint(os.fspath(path))


def _backup_and_restore(path: Path, double: bool = False):
    import keras

    return keras.callbacks.BackupAndRestore(os.fspath(path), double_checkpoint=double, delete_checkpoint=False)


# ----------------------------------------------------------------------------------------------------------- loads
def _load_keras(path: Path, model=None) -> tuple[Any, str]:
    import keras

    return keras.models.load_model(path), ""


def _load_weights(path: Path, model) -> tuple[Any, str]:
    model.load_weights(path)
    return model, ""


def _load_saved_model(path: Path, model=None) -> tuple[Any, str]:
    import tensorflow as tf

    return tf.saved_model.load(os.fspath(path)), ""  # raises for a damaged SavedModel


def _load_checkpoint(path: Path, model) -> tuple[Any, str]:
    checkpoint_of(model).read(os.fspath(path)).assert_existing_objects_matched()
    return model, ""


def _load_manager(path: Path, model) -> tuple[Any, str]:
    import tensorflow as tf

    checkpoint = checkpoint_of(model)
    prefix = tf.train.CheckpointManager(checkpoint, os.fspath(path), max_to_keep=1).latest_checkpoint
    if prefix is None:
        raise FileNotFoundError(f"CheckpointManager finds no checkpoint in {path}")
    checkpoint.read(prefix).assert_existing_objects_matched()
    return model, f"latest checkpoint: {Path(prefix).name}"


def _load_backup(path: Path, model, double: bool = False) -> tuple[Any, str]:
    """What ``BackupAndRestore`` does at the start of the next ``fit``; the note says the epoch it resumes at.

    ``double``: the callback as it was saved with, ``double_checkpoint=True``, so that a restore that fails falls
    back to the ``*.bkp`` copies, as it would in the next ``fit``.
    """
    callback = _backup_and_restore(path, double=double)
    callback.set_model(model)
    callback.on_train_begin()
    epoch = getattr(model, "_initial_epoch", None)
    note = "no backup to restore" if not (Path(path) / "latest.weights.h5").exists() else f"resumes at epoch {epoch}"
    return model, note


# ------------------------------------------------------------------------------------------------------- the list
_CHECKPOINT: dict[str, Any] = dict(target="ckpt", load=_load_checkpoint, prefix=True, into_model=True)
_SAVED_MODEL: dict[str, Any] = dict(load=_load_saved_model, keras_model=False)
#: The formats in the order of notebook 08's table, then the two checkpoint options of the cost benchmark, then the
#: callbacks of the kill matrix. ``effect`` was read in the installed sources and checked with ``strace`` (none of
#: these saves calls fsync).
ALL: tuple[SaveFormat, ...] = (
    SaveFormat(
        "keras",
        ".keras",
        "model.keras",
        _load_keras,
        save=_save_keras,
        call='`model.save("model.keras")`',
        effect="opens the file with O_TRUNC, writes the zip into it",
    ),
    SaveFormat(
        "weights_h5",
        ".weights.h5",
        "model.weights.h5",
        _load_weights,
        save=_save_weights,
        into_model=True,
        call='`model.save_weights("model.weights.h5")`',
        effect="h5py opens the file with O_TRUNC, writes into it",
    ),
    SaveFormat(
        "export",
        "model.export",
        "exported",
        save=_save_export,
        call="`model.export(folder)`",
        effect="writes the variables under temporary names, renames the data file over the old one, then rewrites "
        "`variables.index` in place; `saved_model.pb` via temporary + rename",
        **_SAVED_MODEL,
    ),
    SaveFormat(
        "tf_saved_model",
        "tf.saved_model.save",
        "saved_model",
        save=_save_saved_model,
        call="`tf.saved_model.save(model, folder)`",
        effect="the same sequence as `model.export`",
        **_SAVED_MODEL,
    ),
    SaveFormat(
        "checkpoint_write",
        "tf.train.Checkpoint",
        save=_save_checkpoint,
        call="`tf.train.Checkpoint(...).write(prefix)`",
        effect="writes the data in `<prefix>_temp/`, renames it over the old data file, then rewrites `<prefix>.index` "
        "in place",
        **_CHECKPOINT,
    ),
    SaveFormat(
        "checkpoint_manager",
        "CheckpointManager",
        "manager",
        _load_manager,
        save=_save_manager,
        into_model=True,
        call="`tf.train.CheckpointManager(...).save()`",
        effect="writes a new prefix `ckpt-N`, switches the `checkpoint` file (temporary + rename), then deletes "
        "`ckpt-(N-1)`",
        no_safe_variant="already writes a new name each time and switches to it atomically",
    ),
    SaveFormat("checkpoint_async", "Checkpoint async", save=_save_async, kill_matrix=False, **_CHECKPOINT),
    SaveFormat("checkpoint_sharded", "Checkpoint sharded", save=_save_sharded, kill_matrix=False, **_CHECKPOINT),
    SaveFormat(
        "model_checkpoint",
        "ModelCheckpoint",
        "model.keras",
        _load_keras,
        callback=_model_checkpoint,
        call='`keras.callbacks.ModelCheckpoint("model.keras")`',
        effect="`model.save` at every epoch end: as `model.save`",
        cost=False,
    ),
    SaveFormat(
        "backup_and_restore",
        "BackupAndRestore",
        "backup",
        _load_backup,
        callback=_backup_and_restore,
        into_model=True,
        call="`keras.callbacks.BackupAndRestore(folder)`",
        effect="`save_weights` into `latest.weights.h5` in place, then `training_metadata.json` in place",
        cost=False,
    ),
    SaveFormat(
        "backup_and_restore_double",
        "BackupAndRestore double",
        "backup",
        lambda path, model: _load_backup(path, model, double=True),
        callback=lambda path: _backup_and_restore(path, double=True),
        into_model=True,
        call="`BackupAndRestore(folder, double_checkpoint=True)`",
        effect="first copies both files to `*.bkp` (in place), then as above; a restore that fails with OSError uses "
        "the copies",
        no_safe_variant="Keras's own fallback copy (the safe variant is that of `BackupAndRestore`)",
        cost=False,
    ),
)
BY_KEY: dict[str, SaveFormat] = {f.key: f for f in ALL}
BY_LABEL: dict[str, SaveFormat] = {f.label: f for f in ALL}
