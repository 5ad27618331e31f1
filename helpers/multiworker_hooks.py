"""What notebook 07's worker scripts import for the demonstration, and nothing else.

The scripts (written by the notebook's ``%%writefile`` cells) import this module *optionally*: run on their own,
without these helpers, they print plain lines and never pause.

* :func:`event` – print an event line the notebook reads back (:func:`helpers.multiworker.events`);
* :func:`pause_point` – in the one worker the launcher asked to pause, stop after a given step and wait for the
  SIGKILL the notebook sends, so that the kill lands at a known point.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from helpers.multiworker_config import PAUSE_AT_ENV, PAUSED_FILE_ENV, PREFIX, parse_pause

__all__ = ["event", "pause_point"]


def event(text: str) -> None:
    """Print ``text`` as an event line (``MW| text``), flushed at once."""
    sys.stdout.write(f"{PREFIX}{text}\n")
    sys.stdout.flush()


def pause_point(epoch: int, step: int) -> None:
    """If the launcher asked this worker to pause after ``step`` of ``epoch``: say so and wait to be killed.

    Does nothing unless :data:`~helpers.multiworker_config.PAUSE_AT_ENV` names this point.
    """
    if parse_pause(os.environ.get(PAUSE_AT_ENV)) != (epoch, step):
        return
    Path(os.environ[PAUSED_FILE_ENV]).touch()
    event(f"paused after epoch {epoch} step {step}, waiting to be killed")
    while True:  # the notebook sends SIGKILL; nothing here ever resumes
        time.sleep(1)
