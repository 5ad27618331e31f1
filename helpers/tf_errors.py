"""The stable parts of a TensorFlow I/O error: what lesson 05 prints when a save or load fails on another device.

The full message of a save or load that fails on a remote worker is long (tracebacks, gRPC details), and its layout
varies from run to run. :func:`describe_error` picks out the parts that do not: the missing path, the op that failed,
the job that raised it and TensorFlow's hint::

    try:
        model.save("model.keras")
    except Exception as err:
        print(tf_errors.describe_error(err))  # NotFoundError: model_dir/...; No such file or directory

:func:`error_line` is the project's one "exception → one short line" (what the benchmarks record for a failed save
or load): ``Type: message line``, TensorFlow's op-context prefix, trailing links and absolute paths removed.

It only reads the message: no TensorFlow import.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["ErrorSummary", "describe_error", "error_line"]


class ErrorSummary(NamedTuple):
    """The stable parts of a long TensorFlow I/O error (``None`` where the message has no such part)."""

    type: str  #: the exception's class name, e.g. ``NotFoundError``
    reason: str | None  #: the missing file: ``<path>; No such file or directory`` / ``Failed to find ... <path>``
    op: str | None  #: the op that failed, e.g. ``SaveV2``
    job: str | None  #: the job whose device raised it, e.g. ``/job:worker``
    hint: str | None  #: TensorFlow's suggestion, a sentence starting ``Consider setting``

    def __str__(self) -> str:
        return f"{self.type}: {self.reason}"


def _first(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text)
    return match and match.group(1)


def describe_error(err: BaseException) -> ErrorSummary:
    """Pick the stable parts out of a save/load error that may hold tracebacks and gRPC details."""
    message = str(err)
    return ErrorSummary(
        type=type(err).__name__,
        reason=_first(r"(\S+; No such file or directory|Failed to find any matching files for \S+)", message),
        op=_first(r"\{\{node (\w+)\}\}", message),
        job=_first(r"remote target (/job:\w+)", message),
        hint=_first(r"(Consider setting [^\n]*)", message),
    )


_PATH = re.compile(r"(?:/[\w.@+\-]+){2,}(?<!\.)")  # an absolute path of two or more parts (not its final dot)
_FUNCTION_NODE = re.compile(r"\{\{function_node [^}]*\}\}\s*")  # TF's op-context prefix of error messages


def error_line(err: BaseException, *, line: str = "first", limit: int = 200) -> str:
    """``Type: message`` in one line of at most ``limit`` characters, stable across runs and machines.

    ``line`` picks the message's ``"first"`` non-empty line (Keras, h5py, TF I/O errors state the problem there) or
    its ``"last"`` (a ``tf.function`` error ends with the real message, after the trace). TensorFlow's
    ``{{function_node ...}}`` prefix, a trailing `` See https://...`` / `` Make sure ...`` and a repeated ``Type: ``
    are dropped; absolute paths become ``<path>``.
    """
    if line not in ("first", "last"):
        raise ValueError(f'line must be "first" or "last", got {line!r}')
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    name = type(err).__name__
    lines = [text.strip() for text in str(err).strip().splitlines() if text.strip()]
    text = (lines[0] if line == "first" else lines[-1]) if lines else ""
    text = _FUNCTION_NODE.sub("", text).split(" See https://", 1)[0].split(" Make sure", 1)[0]
    text = _PATH.sub("<path>", text.removeprefix(f"{name}: "))
    return f"{name}: {text}"[:limit]
