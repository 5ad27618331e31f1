"""The preemption demo's worker-side pause: wait at a known step for the SIGTERM the notebook sends (notebook 10).

A preemption notice is a SIGTERM that arrives while a worker trains. To show what
``tf.distribute.experimental.PreemptionCheckpointHandler`` does with it at a step known in advance (so that the
printed step numbers are the same on every machine), the notebook starts the workers with
:func:`helpers.multiworker.launch` and ``pause_at="EPOCH:STEP"``, and the worker script calls :func:`sigterm_point`
(an optional import) after every step.  At that step it creates the marker file
(:func:`helpers.multiworker.paused_file`), waits until SIGTERM has arrived and has been passed on to the SIGTERM
handler installed before the pause (the ``PreemptionCheckpointHandler``'s), then returns: training goes on as it
would after a notice that came at that moment.

:data:`NOT_GOOGLE_CLOUD` is the setting the worker script (and ``cluster/job.yaml``) makes: the handler asks the
Google Cloud metadata server whether it runs on a Google Cloud VM, and on a Google Cloud *CPU* VM it handles no signal
at all (its ``run`` only calls the step). Pointing that check at a local port where nothing listens makes the demo
behave the same on every machine: SIGTERM is the notice.  Nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from helpers.errors import WorkerError
from helpers.multiworker_config import PAUSE_AT_ENV, PAUSED_FILE_ENV, parse_pause
from helpers.multiworker_hooks import event

__all__ = ["NOT_GOOGLE_CLOUD", "sigterm_point"]

#: The environment the worker script sets: the handler's Google Cloud check (``GCE_METADATA_IP``) gets no answer.
NOT_GOOGLE_CLOUD = {"GCE_METADATA_IP": "127.0.0.1:9"}


def sigterm_point(epoch: int, step: int, timeout: float = 120.0) -> None:
    """If the launcher asked this worker to pause after ``step`` of ``epoch``: wait for SIGTERM, then return.

    The signal goes to the SIGTERM handler installed before this call (e.g. the ``PreemptionCheckpointHandler``'s);
    with none (the default action), the process is terminated as usual.  Does nothing unless
    :data:`~helpers.multiworker_config.PAUSE_AT_ENV` (set by :func:`helpers.multiworker.launch`'s ``pause_at``)
    names this point.

    Raises:
        TypeError, ValueError: ``timeout`` is not a positive number of seconds.
        WorkerError: no SIGTERM within ``timeout`` seconds (the waiting worker stops instead of hanging).
    """
    if parse_pause(os.environ.get(PAUSE_AT_ENV)) != (epoch, step):
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, e.g. 120, got {type(timeout).__name__}")
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, e.g. 120, got {timeout!r}")
    previous = signal.getsignal(signal.SIGTERM)
    received = []

    def on_sigterm(signum, frame):
        received.append(signum)
        signal.signal(signal.SIGTERM, previous)  # the original handler again, for every later signal
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            os.kill(os.getpid(), signal.SIGTERM)  # no handler: terminate, as without this pause

    signal.signal(signal.SIGTERM, on_sigterm)
    Path(os.environ[PAUSED_FILE_ENV]).touch()
    event(f"paused after epoch {epoch} step {step}, waiting for SIGTERM")
    deadline = time.monotonic() + timeout
    while not received:
        if time.monotonic() > deadline:
            signal.signal(signal.SIGTERM, previous)
            raise WorkerError(f"no SIGTERM within {timeout:g} s after epoch {epoch} step {step}")
        time.sleep(0.05)
    event(f"received SIGTERM after epoch {epoch} step {step}, training on")
