"""The kill matrix's child processes: the *writer* (saves GOOD, then NEW when told to) and the *loader* (restores
what a killed save left, as a restart would). Started as ``python -m benchmarks.kill_matrix --child ...``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.formats import SaveFormat
from benchmarks.kill_config import FORMATS, INPUTS, OUTPUTS, POLL_S, SEED_GOOD, SEED_NEW
from helpers.atomic_save import save_atomically
from helpers.processes import wait_until
from helpers.tf_errors import error_line  # one line per failed load: `Type: first line`, paths as <path>


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


def _direct_saver(fmt: SaveFormat, mode: str, model, target: Path) -> Callable[[], object]:
    if mode == "naive":
        return fmt.bind(model, target)  # bound once: a CheckpointManager numbers its saves on
    if fmt.prefix:  # a prefix of two files: the safe artifact is a folder holding it
        return lambda: save_atomically(lambda folder: fmt.bind(model, folder / fmt.target)(), target)
    return lambda: save_atomically(lambda path: fmt.bind(model, path)(), target)


def writer(fmt: str, mode: str, run_dir: Path, hidden: int, timeout: float) -> None:
    """The writer process: save GOOD, signal ``ready``, wait for ``go``, save NEW, signal ``done``."""
    import keras
    import numpy as np

    spec = FORMATS[fmt]
    artifacts, control = run_dir / "artifacts", run_dir / "control"
    target = artifacts / spec.target
    keras.utils.set_random_seed(0)
    model = _build_model(keras, hidden)

    if spec.callback is None:
        save = _direct_saver(spec, mode, model, target)
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
    if mode == "naive":
        saver = spec.callback(target)
    elif fmt == "model_checkpoint":
        saver = atomic_checkpoint(target)
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

    spec = FORMATS[fmt]
    path = target / spec.target if spec.prefix and mode == "safe" else target  # safe: a folder holding the prefix
    loaded, note = spec.load(path, _build_model(keras, hidden) if spec.into_model else None)
    if spec.keras_model:
        return [w.numpy() for w in loaded.weights], note
    reader = tf.train.load_checkpoint(os.fspath(path / "variables" / "variables"))  # the SavedModel's weights
    names = reader.get_variable_to_shape_map()
    return [reader.get_tensor(n) for n in names if names[n]], note


def load_one(fmt: str, mode: str, run_dir: Path, hidden: int) -> dict[str, object]:
    """Restore one run's leftover; compare with the GOOD and NEW weights bitwise."""
    target = run_dir / "artifacts" / FORMATS[fmt].target
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
