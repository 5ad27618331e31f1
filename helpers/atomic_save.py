"""Save so that a crash in the middle of the save never destroys the last good artifact.

Keras 3.15's ``model.save("m.keras")`` and ``model.save_weights("m.weights.h5")`` open the target with
``O_TRUNC`` and write into it: from the first instant of the save until its last byte, the previous model is gone
and the file holds no complete model. ``tf.saved_model.save`` / ``model.export`` / ``tf.train.Checkpoint.write``
write big files under temporary names, but then rename the new data file over the old one and rewrite the small
index file in place, so a crash in that window leaves an old index next to new data. None of them calls ``fsync``.

:func:`save_atomically` wraps any of these saves:

1. ``save(tmp)`` writes the new artifact under a hidden temporary name *in the target's directory* (same
   filesystem, so the final rename is atomic). The name ends with the target's full name, so Keras's checks of the
   ending (``.keras``, ``.weights.h5``) still pass.
2. Every written file and directory is ``fsync``-ed, so the data is on disk before the name points at it.
3. The temporary takes the target's name in one atomic step, then the parent directory is ``fsync``-ed:

   - a file: :func:`os.replace`;
   - a directory (a SavedModel, a checkpoint folder) replacing an existing directory: ``os.replace`` cannot do that,
     so on Linux the two directories are swapped with ``renameat2(RENAME_EXCHANGE)`` (one atomic step; the old one,
     now under the temporary name, is then deleted). Where that call is missing (other systems, filesystems
     without it) the fallback is two renames: the old directory to a hidden ``.replaced-…`` name, then the new one
     into place. A crash between the two leaves no target, but the previous artifact is still whole under the
     ``.replaced-…`` name (:func:`leftovers` lists it).

At every instant the target is therefore either the complete previous artifact or the complete new one. A crash
leaves at most a hidden leftover beside it; :func:`leftovers` finds them and :func:`remove_leftovers` deletes them.
SIGKILL-ing a process does not lose what it already wrote (the page cache survives); ``fsync`` is for power loss
and kernel crashes, which a kill test cannot show, and costs one flush of the written bytes.

Only a mounted file system has these renames: a local disk, or a network file system mounted as one (NFS renames
atomically on the server; its Linux client refuses ``renameat2`` flags, so folders take the two-rename fallback).
Every function here therefore refuses a URL (``gs://``, ``s3://``, ``hdfs://``, any ``scheme://``; see
:func:`local_path`): on an object store TensorFlow's "rename" is a copy then a delete, and an object is replaced
whole by one upload anyway. Notebook 09 and ``docs/cluster.md`` say what to use there.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import secrets
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["save_atomically", "exchange", "fsync_tree", "leftovers", "remove_leftovers", "local_path"]

SAVING_PREFIX = ".saving-"  #: hidden name of an artifact being written: ``.saving-<token>-<target name>``
REPLACED_PREFIX = ".replaced-"  #: hidden name of a previous directory being removed: ``.replaced-<token>-<name>``

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h

# A URL scheme (RFC 3986: a letter, then letters, digits, "+", "-", ".") of 2+ characters, then ":/". One letter
# and a colon is a Windows drive ("C:/models", "C:\\models"), not a URL. ":/" rather than "://" also catches a URL
# that went through pathlib, which collapses the double slash: str(Path("gs://bucket/m.keras")) == "gs:/bucket/m.keras".
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):/")


def local_path(path: str | os.PathLike, what: str = "path") -> Path:
    """``path`` as a :class:`~pathlib.Path` on a mounted file system; a URL raises ``ValueError`` saying what to use.

    ``what`` names the argument in the message. Windows drive letters (``C:\\models``) are paths, not URLs. A
    relative path whose first folder ends in a colon (``ab:/m.keras``) reads as a URL: write ``./ab:/m.keras``.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a path (str or os.PathLike), got {type(path).__name__}")
    raw = os.fspath(path)
    if isinstance(raw, bytes):
        raise TypeError(f"{what} must be a str path, not bytes")
    match = _URL.match(raw)
    if match is None:
        return Path(raw)
    scheme = match.group(1).lower()
    if scheme == "file":
        local = re.sub(r"^file:/+", "/", raw, flags=re.IGNORECASE)
        raise ValueError(f"{what} {raw!r} is a file:// URL; pass the plain path instead: {local!r}")
    raise ValueError(
        f"{what} {raw!r} is a URL ({scheme}://): save_atomically and its helpers write only to a mounted file system "
        "(a local disk, an NFS mount), where a rename within one folder is atomic; on an object store a TensorFlow "
        "rename is a copy then a delete. For one file (.keras, .weights.h5): save it to a local file, then copy it "
        "with tf.io.gfile.copy(local_file, url, overwrite=True) or your store's own upload (Cloud Storage and S3 "
        "replace an object only when its upload completes). For checkpoints: "
        "tf.train.CheckpointManager(checkpoint, url_directory, max_to_keep=k).save(), which writes each save under a "
        "new name through tf.io.gfile and then switches its 'checkpoint' file."
    )


def _checked_target(target: str | os.PathLike) -> Path:
    path = local_path(target, "target")
    raw = os.fspath(target)
    if not raw or path.name in ("", ".", "..") or raw.endswith(("/", os.sep)):
        raise ValueError(f"target must name a file or directory to write, got {raw!r}")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise FileNotFoundError(
            f"the directory to save into does not exist: {parent}; create it first (os.makedirs(..., exist_ok=True))"
        )
    return path.absolute()


def _fsync_path(path: Path, directory: bool) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory and sys.platform == "win32":  # directories cannot be opened (nor fsync-ed) on Windows
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: str | os.PathLike) -> int:
    """``fsync`` a file, or every file and directory under a directory (deepest first); return how many.

    Symbolic links are not followed (a link's target is not part of the artifact). A URL raises ``ValueError``.
    """
    root = local_path(path)
    if root.is_symlink():
        return 0
    if not root.is_dir():
        _fsync_path(root, directory=False)
        return 1
    count = 0
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            file = Path(dirpath, name)
            if not file.is_symlink():
                _fsync_path(file, directory=False)
                count += 1
        _fsync_path(Path(dirpath), directory=True)
        count += 1
    return count


def _renameat2_exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` atomically with Linux ``renameat2(RENAME_EXCHANGE)``; False if the call is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # glibc < 2.28, or a libc without it
        return False
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    if func(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):  # old kernel, or a filesystem without the flag
        return False
    raise OSError(err, f"renameat2(RENAME_EXCHANGE) failed: {os.strerror(err)}", os.fspath(a), None, os.fspath(b))


def exchange(new: str | os.PathLike, target: str | os.PathLike) -> bool:
    """Atomically swap two existing paths in one directory (Linux ``renameat2``). False where it is unsupported.

    Afterwards ``target`` holds what ``new`` held and ``new`` holds the previous ``target``. A URL raises
    ``ValueError``.
    """
    return _renameat2_exchange(local_path(new, "new"), local_path(target, "target"))


def _token_name(prefix: str, target: Path) -> Path:
    while True:
        candidate = target.with_name(f"{prefix}{secrets.token_hex(6)}-{target.name}")
        if not os.path.lexists(candidate):
            return candidate


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _kind(path: Path) -> str:
    return "directory" if path.is_dir() and not path.is_symlink() else "file"


def _written_something(path: Path) -> bool:
    if not os.path.lexists(path):
        return False
    if _kind(path) == "directory":
        return any(path.iterdir())
    return True


def save_atomically(save: Callable[[Path], object], target: str | os.PathLike) -> Path:
    """Run ``save(tmp)`` and atomically put what it wrote at ``target``; return ``target`` (absolute).

    ``save`` is called with a fresh :class:`~pathlib.Path` in ``target``'s directory that does not exist yet and
    that ends with ``target``'s name (``.saving-<token>-model.keras``); it must write one file or one directory
    there, e.g. ``save_atomically(model.save, "model.keras")``,
    ``save_atomically(lambda p: tf.saved_model.save(model, p), "exported")`` or, for a checkpoint (a prefix of
    several files, which no single rename can replace), a directory holding it:
    ``save_atomically(lambda d: ckpt.write(d / "ckpt"), "ckpt_dir")``.

    Until the final rename the previous ``target`` is untouched; if ``save`` raises (or writes nothing), the
    temporary is removed and ``target`` is left as it was. See the module docstring for the directory case.

    Raises ``ValueError`` if ``target`` is a URL (``gs://…``; the message says what to use instead, see
    :func:`local_path`), ``FileNotFoundError`` if ``target``'s directory does not exist, ``ValueError`` if ``save``
    wrote nothing at the path it was given, ``IsADirectoryError`` / ``NotADirectoryError`` if it wrote a file where a
    directory is (or the other way round), and whatever ``save`` raises.
    """
    if not callable(save):
        raise TypeError(f"save must be a callable that takes the path to write, got {type(save).__name__}")
    target = _checked_target(target)
    tmp = _token_name(SAVING_PREFIX, target)
    try:
        save(tmp)
        if not _written_something(tmp):
            raise ValueError(
                f"save({tmp.name!r}) returned without writing anything there: the callable must write to the path "
                f"it is given (not to {target.name!r} or elsewhere)"
            )
        new_kind = _kind(tmp)
        if os.path.lexists(target) and _kind(target) != new_kind:
            error = IsADirectoryError if _kind(target) == "directory" else NotADirectoryError
            raise error(
                f"{target} is a {_kind(target)} but the save wrote a {new_kind}; remove it or choose another target"
            )
        fsync_tree(tmp)
        if new_kind == "file" or not os.path.lexists(target):
            os.replace(tmp, target)
        elif _renameat2_exchange(tmp, target):
            pass  # tmp now holds the previous directory, removed below
        else:  # fallback: two renames; in between, the previous directory is whole at `replaced`
            replaced = _token_name(REPLACED_PREFIX, target)
            os.replace(target, replaced)
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(replaced, target)  # put the previous one back
                raise
            tmp = replaced
        _fsync_path(target.parent, directory=True)
    except BaseException:
        _remove(tmp)
        raise
    _remove(tmp)  # the previous directory after an exchange or the fallback; nothing after a plain replace
    return target


def leftovers(target: str | os.PathLike) -> list[Path]:
    """Hidden temporaries that interrupted :func:`save_atomically` calls for ``target`` left beside it, sorted.

    A URL raises ``ValueError`` (there is nothing of ours to find there).
    """
    target = local_path(target, "target").absolute()
    if not target.parent.is_dir():
        return []
    pattern = re.compile(rf"({re.escape(SAVING_PREFIX)}|{re.escape(REPLACED_PREFIX)})[0-9a-f]{{12}}-")
    return sorted(
        p for p in target.parent.iterdir() if (m := pattern.match(p.name)) and p.name[m.end() :] == target.name
    )


def remove_leftovers(target: str | os.PathLike) -> list[Path]:
    """Delete :func:`leftovers` of ``target`` (only when no save of it is running!); return what was removed."""
    found = leftovers(target)
    for path in found:
        _remove(path)
    return found
