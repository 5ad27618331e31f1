"""The contract between the launcher (:mod:`helpers.multiworker`) and the worker scripts of notebooks 07 and 10.

The scripts print event lines that start with :data:`PREFIX` (losses after :data:`APPROX`); the launcher sets
:data:`PAUSE_AT_ENV` and :data:`PAUSED_FILE_ENV` in the environment of the one worker that should pause (see
:func:`helpers.multiworker_hooks.pause_point`, which waits there to be killed, and
:func:`helpers.preemption.sigterm_point`, which waits for a SIGTERM).  Nothing here imports TensorFlow.
"""

from __future__ import annotations

__all__ = ["PREFIX", "APPROX", "PAUSE_AT_ENV", "PAUSED_FILE_ENV", "parse_pause"]

PREFIX = "MW| "
#: Marks a loss in the event lines (``step 6 loss ≈1.9123``): float32 training results whose last digits
#: depend on the CPU, like ``helpers.roundtrip.approx``; notebooks print them and nbval masks the digits.
APPROX = "≈"
PAUSE_AT_ENV = "MW_PAUSE_AT"  #: ``EPOCH:STEP`` (1-based) after which this worker pauses
PAUSED_FILE_ENV = "MW_PAUSED_FILE"  #: the file it creates once it has paused


def parse_pause(text: str | None) -> tuple[int, int] | None:
    """``"2:3"`` → ``(2, 3)``: pause after step 3 of epoch 2 (1-based). ``None`` → no pause.

    Raises:
        TypeError: ``text`` is neither a string nor ``None``.
        ValueError: ``text`` does not look like ``EPOCH:STEP`` with both parts >= 1.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"pause must be a string like '2:3' (EPOCH:STEP) or None, got {type(text).__name__}")
    try:
        epoch, step = (int(part) for part in text.split(":"))
    except ValueError:
        raise ValueError(
            f"pause must look like EPOCH:STEP, e.g. '2:3' (after step 3 of epoch 2), got {text!r}"
        ) from None
    if epoch < 1 or step < 1:
        raise ValueError(f"pause epoch and step are 1-based (the first step is '1:1'), got {text!r}")
    return epoch, step
