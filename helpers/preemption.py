"""The preemption demo: start workers that a SIGTERM should stop at a known step, and the worker-side pause.

A preemption notice is a SIGTERM that arrives while a worker trains. To show what
``tf.distribute.experimental.PreemptionCheckpointHandler`` does with it at a step known in advance (so that the
printed step numbers are the same on every machine), the worker pauses after that step, and the notebook sends the
signal only then:

* :func:`launch` (the parent) – start the workers of one attempt, like :func:`helpers.multiworker.launch`, and tell
  one of them where to wait for the signal;
* :func:`sigterm_point` (the worker script, optional import) – at that step: create the marker file
  (:func:`helpers.multiworker.paused_file`), wait until SIGTERM has arrived and has been passed on to the SIGTERM
  handler installed before the pause (the ``PreemptionCheckpointHandler``'s), then return: training goes on as it
  would after a notice that came at that moment.

:func:`launch` also sets :data:`NOT_GOOGLE_CLOUD` for the workers: the handler asks the Google Cloud metadata server
whether it runs on a Google Cloud VM, and on a Google Cloud *CPU* VM it handles no signal at all (its ``run`` only
calls the step). Pointing that check at a local port where nothing listens makes the demo behave the same on every
machine: SIGTERM is the notice.  Nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from helpers.errors import WorkerError
from helpers.multiworker import paused_file, tf_config, worker_command
from helpers.multiworker_config import PAUSED_FILE_ENV, parse_pause
from helpers.multiworker_hooks import event
from helpers.processes import ProcessGroup, free_ports

__all__ = ["SIGTERM_AT_ENV", "NOT_GOOGLE_CLOUD", "launch", "sigterm_point"]

SIGTERM_AT_ENV = "MW_SIGTERM_AT"  #: ``EPOCH:STEP`` (1-based) after which this worker waits for SIGTERM
#: Environment for the workers: the handler's Google Cloud check (``GCE_METADATA_IP``) gets no answer at once.
NOT_GOOGLE_CLOUD = {"GCE_METADATA_IP": "127.0.0.1:9"}


def launch(
    group: ProcessGroup,
    script: str | os.PathLike,
    workdir: str | os.PathLike,
    num_workers: int = 2,
    *,
    attempt: int = 1,
    sigterm_at: str | None = None,
    sigterm_task: int = 1,
) -> list[subprocess.Popen]:
    """Start ``num_workers`` workers running ``python script workdir`` in ``group``; return their processes.

    As :func:`helpers.multiworker.launch` (fresh ports, logs ``workdir/attempt<attempt>-worker<i>.log``), plus
    :data:`NOT_GOOGLE_CLOUD` for every worker; with ``sigterm_at="EPOCH:STEP"``, worker ``sigterm_task`` waits
    after that step in :func:`sigterm_point` until it receives SIGTERM.

    Raises:
        WorkerError: bad ``num_workers``, ``sigterm_at`` or ``sigterm_task``, or a missing script or ``workdir``
            (nothing is started).
    """
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise WorkerError(f"num_workers must be a positive integer, got {num_workers!r}")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise WorkerError(f"attempt must be a positive integer, got {attempt!r}")
    cmd = worker_command(script, workdir)
    workdir = Path(cmd[1])
    at = parse_pause(sigterm_at)
    if at is not None and (isinstance(sigterm_task, bool) or sigterm_task not in range(num_workers)):
        raise WorkerError(
            f"sigterm_task must be one of the {num_workers} workers (0..{num_workers - 1}), got {sigterm_task!r}"
        )
    ports = free_ports(num_workers)
    procs = []
    for i in range(num_workers):
        env = {"TF_CONFIG": tf_config(ports, i), "PYTHONIOENCODING": "utf-8", **NOT_GOOGLE_CLOUD}
        if at is not None and i == sigterm_task:
            env |= {SIGTERM_AT_ENV: f"{at[0]}:{at[1]}", PAUSED_FILE_ENV: os.fspath(paused_file(workdir, i))}
        procs.append(group.python(cmd, env=env, log=workdir / f"attempt{attempt}-worker{i}.log"))
    return procs


def sigterm_point(epoch: int, step: int, timeout: float = 120.0) -> None:
    """If :func:`launch` asked this worker to wait after ``step`` of ``epoch``: wait for SIGTERM, then return.

    The signal goes to the SIGTERM handler installed before this call (e.g. the ``PreemptionCheckpointHandler``'s);
    with none (the default action), the process is terminated as usual.  Does nothing unless
    :data:`SIGTERM_AT_ENV` names this point.

    Raises:
        WorkerError: no SIGTERM within ``timeout`` seconds (the waiting worker stops instead of hanging).
    """
    if parse_pause(os.environ.get(SIGTERM_AT_ENV)) != (epoch, step):
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
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
