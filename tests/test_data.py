"""helpers.data: the input pipeline the notebooks call (MNIST must be prepared: make data)."""

import pytest

from helpers import data


def test_get_data_batches_per_replica_times_replicas():
    class FakeStrategy:
        num_replicas_in_sync = 2

    train, evaluation = data.get_data(FakeStrategy(), batch_size_per_replica=64)
    assert int(train.cardinality()) == 469 and int(evaluation.cardinality()) == 79
    images, labels = next(iter(train))
    assert tuple(images.shape) == (128, 28, 28, 1) and images.dtype.name == "float32"
    assert float(images.numpy().max()) <= 1.0


@pytest.mark.parametrize("bad", [0, -3, 1.5, "64"])
def test_get_data_rejects_bad_batch_sizes(bad):
    with pytest.raises(ValueError, match="batch_size_per_replica"):
        data.get_data(None, batch_size_per_replica=bad)


def test_get_data_with_repeat_never_ends_and_keeps_each_epoch_whole(monkeypatch):
    """repeat=True repeats the batched epoch (for fit(steps_per_epoch=...)): each epoch is one full, reshuffled pass
    that ends with its own short batch.  Checked on a 10-example stand-in for MNIST, so reading past one epoch is
    instant; the real call is only checked for its shape (no iteration)."""
    import numpy as np
    import tensorflow as tf
    import tensorflow_datasets as tfds

    train, evaluation = data.get_data(batch_size_per_replica=64, repeat=True)
    assert int(train.cardinality()) == tf.data.INFINITE_CARDINALITY and int(evaluation.cardinality()) == 157

    def tiny_mnist(name, as_supervised):
        assert (name, as_supervised) == (data.NAME, True)
        images = np.arange(14 * 28 * 28, dtype=np.int64).reshape(14, 28, 28, 1) % 256
        pairs = tf.data.Dataset.from_tensor_slices((images.astype(np.uint8), np.arange(14, dtype=np.int64)))
        return {"train": pairs.take(10), "test": pairs.skip(10)}

    monkeypatch.setattr(tfds, "load", tiny_mnist)
    train, evaluation = data.get_data(batch_size_per_replica=4, repeat=True, seed=0)
    assert int(train.cardinality()) == tf.data.INFINITE_CARDINALITY and int(evaluation.cardinality()) == 1
    batches = [labels.numpy() for _, labels in train.take(3 * 3 + 1)]  # three epochs of 4 + 4 + 2, and one more
    assert [len(b) for b in batches] == [4, 4, 2] * 3 + [4]
    epochs = [np.concatenate(batches[i : i + 3]) for i in (0, 3, 6)]
    assert all(sorted(epoch) == list(range(10)) for epoch in epochs)  # every example once per epoch
    assert len({tuple(epoch) for epoch in epochs}) > 1  # reshuffled between epochs
    images, _ = next(iter(train))
    assert images.dtype == tf.float32 and float(tf.reduce_max(images)) <= 1.0
    once, _ = data.get_data(batch_size_per_replica=4)
    assert int(once.cardinality()) == 3  # without repeat: one epoch
