"""The tutorial's model, built with Keras 3 (``tf.keras``) or with Keras 2 (``tf_keras``)."""

from __future__ import annotations

import types

__all__ = ["get_model"]


def get_model(
    strategy=None,
    keras: types.ModuleType | None = None,
    learning_rate: float = 1e-3,
    dense_units: int = 64,
):
    """The seed's small CNN for MNIST, compiled, created under ``strategy.scope()``.

    Conv2D(32, 3, relu) → MaxPooling2D → Flatten → Dense(dense_units, relu) → Dense(10) logits,
    Adam, sparse categorical cross-entropy (``from_logits=True``), ``accuracy``.

    Args:
        strategy: a ``tf.distribute.Strategy``; ``None`` uses the default (no) strategy.
        keras: the Keras package to build with: ``None`` for Keras 3 (``import keras``),
            or pass the ``tf_keras`` module for the seed's Keras 2 behaviour.
        learning_rate: Adam's learning rate.
        dense_units: width of the hidden Dense layer (64 in the tutorial; larger for size benchmarks).
    """
    import contextlib

    if keras is None:
        import keras as keras_module

        keras = keras_module
    if not hasattr(keras, "Sequential") or not hasattr(keras, "layers"):
        raise TypeError(f"keras must be the keras or tf_keras module, got {keras!r}")
    if not isinstance(learning_rate, (int, float)) or learning_rate <= 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    if isinstance(dense_units, bool) or not isinstance(dense_units, int) or dense_units < 1:
        raise ValueError(f"dense_units must be a positive integer, got {dense_units!r}")
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),
                keras.layers.Conv2D(32, 3, activation="relu"),
                keras.layers.MaxPooling2D(),
                keras.layers.Flatten(),
                keras.layers.Dense(dense_units, activation="relu"),
                keras.layers.Dense(10),
            ]
        )
        model.compile(
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            optimizer=keras.optimizers.Adam(learning_rate),
            metrics=["accuracy"],
        )
    return model
