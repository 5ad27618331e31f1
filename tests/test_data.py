"""helpers.data: the input pipeline the notebooks call (MNIST must be prepared: make data)."""

import pytest

from helpers import data


def test_class_counts_are_the_official_mnist_sizes():
    assert sum(data.TRAIN_CLASS_COUNTS) == 60_000 and sum(data.TEST_CLASS_COUNTS) == 10_000
    assert len(data.TRAIN_CLASS_COUNTS) == len(data.TEST_CLASS_COUNTS) == 10


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
