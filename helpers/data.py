"""MNIST as the notebooks read it: the dataset's facts and the tutorial's input pipeline.

Notebooks load data exactly like the TensorFlow tutorial does::

    tfds.load('mnist', as_supervised=True)

and TFDS finds the prepared dataset in its own data directory (``TFDS_DATA_DIR``, else
``~/tensorflow_datasets``).  Getting it there (online or offline) is
:mod:`helpers.mnist_prep`'s job; this module only reads it.
"""

from __future__ import annotations

__all__ = ["NAME", "TRAIN_CLASS_COUNTS", "TEST_CLASS_COUNTS", "scale", "get_data"]

#: The TFDS dataset name.
NAME = "mnist"
#: Examples per class in the official MNIST splits (LeCun et al.).
TRAIN_CLASS_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
TEST_CLASS_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)


def scale(image, label):
    """The tutorial's ``scale`` map: uint8 pixels to float32 in [0, 1]."""
    import tensorflow as tf

    return tf.cast(image, tf.float32) / 255.0, label


def get_data(
    strategy=None,
    batch_size_per_replica: int = 64,
    buffer_size: int = 10_000,
    *,
    repeat: bool = False,
    seed: int | None = 0,
):
    """The tutorial's input pipeline: ``(train_dataset, eval_dataset)``.

    Global batch = ``batch_size_per_replica * strategy.num_replicas_in_sync`` (1 replica
    without a strategy).  Train is ``map(scale).cache().shuffle().batch()`` (then
    ``repeat()`` if asked: use it with ``fit(steps_per_epoch=...)``); eval is
    ``map(scale).batch()``.  Notebook 01 builds this pipeline step by step.

    ``shuffle(seed=...)`` makes the *sequence* of epochs repeatable, but every new iterator
    over the returned dataset reshuffles: two ``fit`` calls (or a ``fit`` under a strategy,
    which peeks at one batch first) see different batches.  To compare runs step by step,
    freeze the batches first, e.g. ``train.take(n).cache()`` (notebook 02 does this).

    Raises:
        ValueError: ``batch_size_per_replica`` is not a positive integer.
    """
    import tensorflow_datasets as tfds

    if (
        isinstance(batch_size_per_replica, bool)
        or not isinstance(batch_size_per_replica, int)
        or batch_size_per_replica < 1
    ):
        raise ValueError(f"batch_size_per_replica must be a positive integer, got {batch_size_per_replica!r}")
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    batch_size = batch_size_per_replica * replicas
    datasets = tfds.load(NAME, as_supervised=True)
    train = datasets["train"].map(scale).cache().shuffle(buffer_size, seed=seed).batch(batch_size)
    if repeat:
        train = train.repeat()
    evaluation = datasets["test"].map(scale).batch(batch_size)
    return train, evaluation
