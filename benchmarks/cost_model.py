"""The cost benchmark's model, and how each format saves it, loads it back and is checked.

Part of :mod:`benchmarks.checkpoint`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.cost_config import BATCH, FORMATS, LAYERS, dense_width


def build_model(params: int, strategy=None, train_step: bool = True):
    """``LAYERS`` Dense layers of width :func:`dense_width`, Adam, MSE; Adam's slots made by one training step."""
    import keras
    import numpy as np

    width = dense_width(params)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        layers = [keras.layers.Dense(width, activation="relu") for _ in range(LAYERS - 1)] + [keras.layers.Dense(width)]
        model = keras.Sequential([keras.Input((width,)), *layers], name=f"dense_stack_{width}")
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
        if train_step:
            x = np.random.default_rng(0).standard_normal((BATCH, width)).astype("float32")
            model.train_on_batch(x, x)
        else:
            model.optimizer.build(model.trainable_variables)
    return model


@dataclass
class _Case:
    """One (size, strategy): the saved model, a model built by code for weights-only restores, and options."""

    model: Any
    target: Any
    strategy: Any
    shard_bytes: int
    reused: Any = None  # the one tf.train.Checkpoint of ``model`` that every asynchronous write goes through

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def async_checkpoint(self):
        if self.reused is None:
            self.reused = _checkpoint(self.model)
        return self.reused


def _checkpoint(model):
    import tensorflow as tf

    return tf.train.Checkpoint(model=model, optimizer=model.optimizer)


def write_async(checkpoint, prefix: str, options=None):
    """An asynchronous ``checkpoint.write(prefix)`` that works again and again through the same ``checkpoint`` of a
    Keras 3 model (see :data:`ASYNC_NOTE`): the copy of the variables runs eagerly, then the write continues in the
    checkpoint's one background thread. Waits for the previous write of ``checkpoint`` first, as ``write`` does."""
    import tensorflow as tf

    options = options or tf.train.CheckpointOptions(enable_async=True)
    eager = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        return checkpoint.write(prefix, options=options)
    finally:
        tf.config.run_functions_eagerly(eager)


def _save(fmt: str, case: _Case, folder: Path) -> Callable[[], None] | None:
    """Save ``case.model`` in ``fmt`` into ``folder``; return a function that waits for a background write, if any."""
    import tensorflow as tf

    m = case.model
    if fmt == ".keras":
        m.save(folder / "model.keras")
    elif fmt == ".weights.h5":
        m.save_weights(folder / "model.weights.h5")
    elif fmt == "model.export":
        m.export(str(folder / "export"), verbose=False)
    elif fmt == "tf.saved_model.save":
        tf.saved_model.save(m, str(folder / "saved_model"))
    elif fmt == "tf.train.Checkpoint":
        _checkpoint(m).write(str(folder / "ckpt"))
    elif fmt == "CheckpointManager":
        tf.train.CheckpointManager(_checkpoint(m), str(folder), max_to_keep=1).save()
    elif fmt == "Checkpoint async":
        checkpoint = case.async_checkpoint()  # one per model, reused by every write: see ASYNC_NOTE
        write_async(checkpoint, str(folder / "ckpt"))
        return checkpoint.sync
    elif fmt == "Checkpoint sharded":
        policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=case.shard_bytes)
        options = tf.train.CheckpointOptions(experimental_sharding_callback=policy)
        _checkpoint(m).write(str(folder / "ckpt"), options=options)
    else:
        raise ValueError(f"unknown format {fmt!r}; choose from: {', '.join(FORMATS)}")
    return None


def _load(fmt: str, case: _Case, folder: Path):
    """Load what :func:`_save` wrote (inside the strategy's scope); return something to check the weights of."""
    import keras
    import tensorflow as tf

    if fmt == ".keras":
        return keras.models.load_model(folder / "model.keras")
    if fmt == ".weights.h5":
        case.target.load_weights(folder / "model.weights.h5")
        return case.target
    if fmt in ("model.export", "tf.saved_model.save"):
        return tf.saved_model.load(str(folder / ("export" if fmt == "model.export" else "saved_model")))
    if fmt == "CheckpointManager":
        _checkpoint(case.target).restore(tf.train.latest_checkpoint(str(folder))).assert_existing_objects_matched()
        return case.target
    if fmt in ("tf.train.Checkpoint", "Checkpoint async", "Checkpoint sharded"):
        _checkpoint(case.target).read(str(folder / "ckpt")).assert_existing_objects_matched()
        return case.target
    raise ValueError(f"unknown format {fmt!r}; choose from: {', '.join(FORMATS)}")


def _poison(target) -> None:
    """Change the restore target so that a load that restores nothing is caught by :func:`_verify`."""
    import numpy as np

    first = target.weights[0]
    first.assign(np.zeros(first.shape, dtype="float32"))
    target.optimizer.iterations.assign(0)


def _verify(fmt: str, saved, restored) -> None:
    """Raise AssertionError unless ``restored`` holds the saved weights bit for bit (and the optimizer's steps)."""
    import keras
    import numpy as np

    expected = [w.numpy() if hasattr(w, "numpy") else np.asarray(w) for w in saved.get_weights()]
    if isinstance(restored, keras.Model):
        got = restored.get_weights()
        assert len(got) == len(expected), f"{fmt}: {len(got)} weight arrays, expected {len(expected)}"
        for i, (a, b) in enumerate(zip(expected, got, strict=True)):
            assert np.array_equal(a, b), f"{fmt}: weight array #{i} differs after the load"
        steps, saved_steps = int(restored.optimizer.iterations.numpy()), int(saved.optimizer.iterations.numpy())
        assert steps == saved_steps, f"{fmt}: optimizer at step {steps} after the load, saved at {saved_steps}"
        return
    loaded = [v.numpy() for v in restored.signatures["serving_default"].variables]
    for i, a in enumerate(expected):
        assert any(a.shape == b.shape and np.array_equal(a, b) for b in loaded), f"{fmt}: weight #{i} differs"
