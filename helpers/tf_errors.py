"""The stable parts of a TensorFlow I/O error: what lesson 05 prints when a save or load fails on another device.

The full message of a save or load that fails on a remote worker is long (tracebacks, gRPC details), and its layout
varies from run to run. :func:`describe_error` picks out the parts that do not: the missing path, the op that failed,
the job that raised it and TensorFlow's hint::

    try:
        model.save("model.keras")
    except Exception as err:
        print(tf_errors.describe_error(err))  # NotFoundError: model_dir/...; No such file or directory

It only reads the message: no TensorFlow import.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["ErrorSummary", "describe_error"]


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
