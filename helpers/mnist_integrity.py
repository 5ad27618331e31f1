"""Is a prepared MNIST whole?  Checked record by record once, then by each file's size and sha256.

:func:`build_verified` is how every new build is put in place: :func:`verify` reads every record through
``tfds.load`` and checks the official class counts, :func:`write_manifest` records the size and sha256 of each of
the dataset's files in ``mnist/manifest.json``, and the dataset moves into place with its manifest in one step.

:func:`check_existing` is the check on reuse: every recorded file must exist, have its recorded size (a cheap
``stat``), then its recorded sha256 (well under a second for the ~23 MB), and TFDS's metadata must say 60000/10000
examples.  A copy prepared before manifests were kept is verified record by record once (:func:`verify`, several
seconds), and its manifest is written then.  Every failure is a :class:`helpers.errors.DataError` whose message
names the file and what is wrong with it: missing, truncated, or changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from helpers.atomic_save import save_atomically
from helpers.data import NAME, TEST_CLASS_COUNTS, TRAIN_CLASS_COUNTS
from helpers.errors import DataError

__all__ = [
    "MANIFEST",
    "sha256_of",
    "verify",
    "write_manifest",
    "read_manifest",
    "defects",
    "is_prepared",
    "check_existing",
    "build_verified",
]

#: The manifest's name inside the dataset's directory (``<data dir>/mnist/manifest.json``).
MANIFEST = "manifest.json"
_FORMAT = 1
_HEX64 = re.compile(r"[0-9a-f]{64}")
CLI = "python -m helpers.mnist_prep"


def sha256_of(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, as 64 lowercase hex digits (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify(directory: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """Check that ``tfds.load('mnist', data_dir=directory)`` gives the real MNIST, reading every record.

    Returns the class counts per split.  Raises :class:`DataError` otherwise; a record that cannot be read
    (truncated, or its checksum fails) is reported with the file that holds it.
    """
    import tensorflow_datasets as tfds

    expected = {"train": TRAIN_CLASS_COUNTS, "test": TEST_CLASS_COUNTS}
    try:
        splits, info = tfds.load(
            NAME, data_dir=os.fspath(directory), as_supervised=True, download=False, with_info=True
        )
    except Exception as err:  # tfds raises AssertionError/DatasetNotFoundError etc.
        raise DataError(f"no readable '{NAME}' dataset in {directory}: {err}") from err
    found: dict[str, tuple[int, ...]] = {}
    for split, want in expected.items():
        if split not in splits:
            raise DataError(f"split '{split}' missing from the '{NAME}' dataset in {directory}")
        counts = np.zeros(10, dtype=np.int64)
        try:
            for _, labels in splits[split].batch(10_000):
                counts += np.bincount(labels.numpy(), minlength=10)[:10]
        except Exception as err:  # tf.errors.DataLossError: "truncated record at N", "corrupted record at N"
            files = ", ".join(f"{NAME}/{info.version}/{name}" for name in info.splits[split].filenames)
            reason = re.search(r"(truncated|corrupted) record at \d+", str(err))
            raise DataError(f"{files} cannot be read: {reason[0] if reason else type(err).__name__}") from err
        found[split] = tuple(int(c) for c in counts)
        if found[split] != want:
            raise DataError(
                f"'{split}' split in {directory} has class counts {found[split]} "
                f"(total {sum(found[split])}), expected {want} (total {sum(want)})"
            )
    return found


def _files(dataset: Path) -> list[str]:
    """The dataset's files (not the manifest, nor hidden leftovers), as sorted POSIX paths relative to ``dataset``."""
    paths = (p.relative_to(dataset) for p in dataset.rglob("*") if p.is_file())
    return sorted(p.as_posix() for p in paths if p.as_posix() != MANIFEST and not p.name.startswith("."))


def write_manifest(dataset: str | os.PathLike) -> dict[str, dict[str, int | str]]:
    """Record the size and sha256 of every file under ``dataset`` (the ``mnist`` directory) in its manifest.

    The manifest is written atomically (:func:`helpers.atomic_save.save_atomically`).  Returns its ``files``.

    Raises:
        ValueError: ``dataset`` is not a directory, or holds no file to record.
    """
    dataset = Path(dataset)
    if not dataset.is_dir():
        raise ValueError(f"dataset must be a directory, got {os.fspath(dataset)!r}")
    files = {
        rel: {"size": (dataset / rel).stat().st_size, "sha256": sha256_of(dataset / rel)} for rel in _files(dataset)
    }
    if not files:
        raise ValueError(f"{dataset} holds no file to record")
    text = json.dumps({"format": _FORMAT, "dataset": NAME, "files": files}, indent=1) + "\n"
    save_atomically(lambda tmp: tmp.write_text(text, encoding="utf-8"), dataset / MANIFEST)
    return files


def read_manifest(path: str | os.PathLike) -> dict[str, tuple[int, str]]:
    """The ``{relative path: (size, sha256)}`` a manifest records.

    Raises:
        ValueError: the file is not such a manifest (not JSON, another format, a path leaving the dataset, ...).
        OSError: it cannot be read.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"not JSON: {err}") from err
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT or not isinstance(doc.get("files"), dict):
        raise ValueError(f"not a format-{_FORMAT} manifest")
    recorded: dict[str, tuple[int, str]] = {}
    for rel, entry in doc["files"].items():
        size, digest = (entry.get("size"), entry.get("sha256")) if isinstance(entry, dict) else (None, None)
        if rel.startswith("/") or ".." in rel.split("/") or rel in ("", MANIFEST):
            raise ValueError(f"bad file name {rel!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0 or not _HEX64.fullmatch(str(digest)):
            raise ValueError(f"bad entry for {rel!r}: {entry!r}")
        recorded[rel] = (size, digest)
    if not recorded:
        raise ValueError("it records no file")
    return recorded


def defects(dataset: str | os.PathLike, recorded: dict[str, tuple[int, str]]) -> list[str]:
    """What is wrong with ``dataset``'s files compared with ``recorded``: one line per file, [] if nothing.

    Sizes are compared first (a ``stat`` per file); only files of the recorded size are hashed.
    """
    dataset = Path(dataset)
    found: list[str] = []
    same_size: list[str] = []
    for rel, (size, _) in sorted(recorded.items()):
        path = dataset / rel
        if not path.is_file():
            found.append(f"{NAME}/{rel} is missing")
            continue
        actual = path.stat().st_size
        if actual < size:
            found.append(f"{NAME}/{rel} is truncated: {actual:,} of {size:,} bytes")
        elif actual > size:
            found.append(f"{NAME}/{rel} is changed: {actual:,} bytes, {size:,} recorded")
        else:
            same_size.append(rel)
    for rel in same_size:
        if sha256_of(dataset / rel) != recorded[rel][1]:
            found.append(f"{NAME}/{rel} is changed: its size is right but its sha256 is not the recorded one")
    return found


def _check_metadata(directory: Path) -> None:
    """TFDS's metadata says 60000/10000 examples and the files it lists exist."""
    import tensorflow_datasets as tfds

    want = {"train": sum(TRAIN_CLASS_COUNTS), "test": sum(TEST_CLASS_COUNTS)}
    try:
        builder = tfds.builder(NAME, data_dir=os.fspath(directory))
        got = {split: builder.info.splits[split].num_examples if split in builder.info.splits else 0 for split in want}
    except Exception as err:  # e.g. a dataset_info.json that is no longer JSON
        raise DataError(f"'{NAME}' in {directory} is damaged: TFDS cannot read its metadata: {err}") from err
    if got != want:
        raise DataError(f"'{NAME}' in {directory} has {got} examples, expected {want}")
    for split in want:
        for path in builder.info.splits[split].filepaths:
            if not Path(os.fspath(path)).is_file():
                rel = f"{NAME}/{builder.info.version}/{Path(os.fspath(path)).name}"
                raise DataError(f"'{NAME}' in {directory} is damaged: {rel} is missing")


def is_prepared(directory: str | os.PathLike) -> bool:
    """Whether the data directory ``directory`` holds a prepared ``mnist`` (whole or not): a manifest or metadata."""
    dataset = Path(directory) / NAME
    return (dataset / MANIFEST).is_file() or any(dataset.glob("*/dataset_info.json"))


def check_existing(directory: str | os.PathLike) -> str:
    """Check a prepared ``mnist`` in the data directory ``directory``; return one line saying how it was checked.

    With a manifest: sizes, then sha256s, then TFDS's metadata (a fraction of a second).  Without one (a copy
    prepared before manifests were kept) or with an unreadable one: TFDS's metadata, then every record is read
    (:func:`verify`), then the manifest is written, so the next check is the fast one.

    Raises:
        DataError: nothing is prepared there, or what is there is damaged (the message names each file and
            whether it is missing, truncated or changed).
    """
    directory = Path(directory)
    dataset = directory / NAME
    if not is_prepared(directory):
        raise DataError(f"no prepared '{NAME}' in {directory}: run `{CLI} prepare` (make data) first")
    try:
        recorded = read_manifest(dataset / MANIFEST)
    except (OSError, ValueError) as err:
        why = f"{NAME}/{MANIFEST} is unreadable ({err})" if (dataset / MANIFEST).exists() else f"no {NAME}/{MANIFEST}"
    else:
        found = defects(dataset, recorded)
        if found:
            raise DataError(f"'{NAME}' in {directory} is damaged: " + "; ".join(found))
        _check_metadata(directory)
        return f"{len(recorded)} files have the size and sha256 recorded in {NAME}/{MANIFEST}"
    _check_metadata(directory)
    start = time.monotonic()
    try:
        verify(directory)
    except DataError as err:
        raise DataError(f"'{NAME}' in {directory} is damaged: {err}") from err
    took = time.monotonic() - start
    try:
        write_manifest(dataset)
        then = f"sizes and sha256s recorded in {NAME}/{MANIFEST}"
    except OSError as err:  # a read-only copy is still usable
        then = f"could not record them: {err}"
    return f"{why}: every record read and verified ({took:.1f} s); {then}"


def build_verified(build: Callable[[Path], None], directory: str | os.PathLike) -> None:
    """Prepare ``mnist`` in the data directory ``directory`` so that it is never seen half-written or unverified.

    ``build(staging)`` writes ``staging/mnist`` in a temporary data directory beside it; that is :func:`verify`-ed,
    given its manifest (:func:`write_manifest`), and then swapped with ``directory/mnist`` in one step
    (:func:`helpers.atomic_save.save_atomically`): until then an earlier copy, damaged or not, is left as it was.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    def save(tmp: Path) -> None:  # tmp: a fresh hidden name beside directory/mnist
        with tempfile.TemporaryDirectory(prefix=".mnist-prepare-", dir=directory) as staging:
            build(Path(staging))
            verify(staging)
            write_manifest(Path(staging) / NAME)
            os.replace(Path(staging) / NAME, tmp)

    save_atomically(save, directory / NAME)
