"""The cost benchmark's model, its per-(size, strategy) case, and the bitwise check of what a format loaded back.

Part of :mod:`benchmarks.checkpoint`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from benchmarks.cost_config import BATCH, LAYERS, dense_width
from benchmarks.formats import checkpoint_of


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
            self.reused = checkpoint_of(self.model)
        return self.reused


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
