"""The multi-worker launcher: start ``MultiWorkerMirroredStrategy`` workers on this machine and read what they report.

The worker programs are the scripts of notebooks 07 and 10 (their ``%%writefile`` cells write them); the notebook (the
parent) uses:

* :func:`tf_config` – the ``TF_CONFIG`` JSON that tells a worker the cluster and which task it is;
* :func:`launch` – start the workers of one attempt in a :class:`helpers.processes.ProcessGroup`, each running
  ``python SCRIPT WORKDIR`` with its own ``TF_CONFIG`` on fresh ports, and logging to :func:`log_path`; one of them
  may pause at a known step (07 kills it there, 10 sends it a SIGTERM);
* :func:`wait_for_file` – wait (bounded) for a marker file, failing early if a worker exits;
* :func:`kill_and_resume` – SIGKILL one worker at a known step (:func:`helpers.multiworker_hooks.pause_point`),
  then restart them all;
* :func:`events` / :func:`step_losses` – read the workers' ``MW|`` event lines back.

Bad arguments raise ``ValueError`` (a bad value) or ``TypeError`` (a wrong type) and start nothing; a worker that
fails to get where it should (exits early, does not reach a point in time) is a :class:`helpers.errors.WorkerError`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from helpers.multiworker_config import APPROX, PAUSE_AT_ENV, PAUSED_FILE_ENV, PREFIX, parse_pause
from helpers.processes import ProcessGroup, free_ports, wait_until

__all__ = [
    "tf_config",
    "worker_command",
    "paused_file",
    "log_path",
    "launch",
    "wait_for_file",
    "KillResult",
    "kill_and_resume",
    "events",
    "step_losses",
]


def tf_config(ports: Sequence[int], index: int, job: str = "worker") -> str:
    """The ``TF_CONFIG`` JSON for task ``index`` of a local cluster on ``ports``."""
    if not ports:
        raise ValueError("ports is empty: pass one port per worker (see helpers.processes.free_ports)")
    if not 0 <= index < len(ports):
        raise ValueError(f"index must be in [0, {len(ports)}), got {index}")
    cluster = {job: [f"127.0.0.1:{p}" for p in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": job, "index": index}})


def _count(value: object, name: str, what: str) -> int:
    """``value`` if it is an integer >= 1; else TypeError (not an integer) or ValueError (< 1)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer ({what}), got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1 ({what}), got {value}")
    return value


def worker_command(script: str | os.PathLike, workdir: str | os.PathLike) -> list[str]:
    """The arguments of ``python SCRIPT WORKDIR`` (without the interpreter), both as absolute paths.

    Raises:
        ValueError: ``script`` is not a Python file or ``workdir`` is not a directory.
    """
    script, workdir = Path(script).resolve(), Path(workdir).resolve()
    if script.suffix != ".py" or not script.is_file():
        raise ValueError(f"script {script.name} is not a Python file: write it first (the notebook's %%writefile)")
    if not workdir.is_dir():
        raise ValueError(f"workdir {workdir} does not exist: create it first (e.g. tempfile.mkdtemp())")
    return [os.fspath(script), os.fspath(workdir)]


def paused_file(workdir: str | os.PathLike, task: int) -> Path:
    """The file worker ``task`` creates in ``workdir`` once it has paused (see :func:`launch`'s ``pause_at``)."""
    return Path(workdir) / f"paused-task{task}"


def log_path(workdir: str | os.PathLike, attempt: int, worker: int) -> Path:
    """Worker ``worker``'s log in attempt ``attempt`` (1-based): ``workdir/attempt<attempt>-worker<worker>.log``."""
    return Path(workdir) / f"attempt{attempt}-worker{worker}.log"


def launch(
    group: ProcessGroup,
    script: str | os.PathLike,
    workdir: str | os.PathLike,
    num_workers: int = 2,
    *,
    attempt: int = 1,
    pause_at: str | None = None,
    pause_task: int = 1,
) -> list[subprocess.Popen]:
    """Start ``num_workers`` workers running ``python script workdir`` in ``group``; return their processes.

    Each gets ``TF_CONFIG`` for a local cluster on freshly picked ports; worker ``i`` logs to
    :func:`log_path` ``(workdir, attempt, i)``.  With ``pause_at="EPOCH:STEP"``, worker ``pause_task`` is told to
    pause after that step: the worker script's pause hook creates :func:`paused_file` there and waits, to be
    killed (:func:`helpers.multiworker_hooks.pause_point`, 07) or for a SIGTERM
    (:func:`helpers.preemption.sigterm_point`, 10).

    Raises:
        TypeError, ValueError: a bad ``num_workers``, ``attempt``, ``pause_at`` or ``pause_task``, a missing script
            or ``workdir`` (nothing is started).
    """
    _count(num_workers, "num_workers", "the number of worker processes, e.g. 2")
    _count(attempt, "attempt", "1 for the first start, 2 for the restart, ...")
    cmd = worker_command(script, workdir)
    workdir = Path(cmd[1])
    pause = parse_pause(pause_at)
    if pause is not None:
        if isinstance(pause_task, bool) or not isinstance(pause_task, int):
            raise TypeError(f"pause_task must be a worker index (an integer), got {type(pause_task).__name__}")
        if pause_task not in range(num_workers):
            raise ValueError(
                f"pause_task must be one of the {num_workers} workers (0..{num_workers - 1}), got {pause_task}"
            )
    ports = free_ports(num_workers)
    procs = []
    for i in range(num_workers):
        env = {"TF_CONFIG": tf_config(ports, i), "PYTHONIOENCODING": "utf-8"}
        if pause is not None and i == pause_task:
            env |= {PAUSE_AT_ENV: f"{pause[0]}:{pause[1]}", PAUSED_FILE_ENV: os.fspath(paused_file(workdir, i))}
        procs.append(group.python(cmd, env=env, log=log_path(workdir, attempt, i)))
    return procs


def wait_for_file(path: str | os.PathLike, timeout: float, procs: Sequence[subprocess.Popen] = ()) -> float:
    """Wait until ``path`` exists; return the seconds waited (:func:`helpers.processes.wait_until`).

    Raises :class:`helpers.errors.WorkerError` after ``timeout`` seconds, or as soon as one of ``procs`` has exited
    (its log, :func:`log_path` for :func:`launch`, says why).
    """
    path = Path(path)
    return wait_until(path.exists, timeout, what=f"{path.name} to appear", procs=procs)


@dataclass
class KillResult:
    """What :func:`kill_and_resume` observed (no ports or PIDs: safe to print)."""

    killed_code: int | None  #: exit code of the killed worker (-9 = SIGKILL)
    survivor_code: int | None  #: exit code of the worker that was not killed (None = still running: a hang)
    survivor_seconds: float  #: seconds from the kill until the survivor exited
    resumed_codes: list[int | None]  #: exit codes of the restarted workers
    alive_after: list[int]  #: PIDs still running after the ``with`` block (should be empty)


def kill_and_resume(
    script: str | os.PathLike,
    workdir: str | os.PathLike,
    *,
    pause_at: str = "2:2",
    victim: int = 1,
    timeout: float = 240,
) -> KillResult:
    """Attempt 1: SIGKILL worker ``victim`` once it pauses at ``pause_at``; attempt 2: restart all (new ports).

    Every wait is bounded by ``timeout`` seconds and every process is reaped on the way out.
    Raises :class:`helpers.errors.WorkerError` if the pause point is never reached (bad arguments: as :func:`launch`).
    """
    with ProcessGroup() as group:
        first = launch(group, script, workdir, attempt=1, pause_at=pause_at, pause_task=victim)
        wait_for_file(paused_file(workdir, victim), timeout, first)
        group.kill(first[victim])  # SIGKILL from outside
        start = time.monotonic()
        survivors = [p for i, p in enumerate(first) if i != victim]
        survivor_code = group.wait(timeout, survivors)[0]
        seconds = time.monotonic() - start
        killed_code = group.wait(10, [first[victim]])[0]
        second = launch(group, script, workdir, attempt=2)
        resumed = group.wait(timeout, second)
    return KillResult(killed_code, survivor_code, seconds, resumed, group.alive())


def events(log: str | os.PathLike) -> list[str]:
    """The ``MW|`` event lines of a worker's log, without the prefix (``[]`` if there is no log yet)."""
    text = Path(log).read_text(encoding="utf-8", errors="replace") if Path(log).exists() else ""
    return [line[len(PREFIX) :] for line in text.splitlines() if line.startswith(PREFIX)]


def step_losses(lines: Sequence[str]) -> tuple[list[int], list[float]]:
    """``(global steps, losses)`` from ``step N loss ≈X`` event lines (the ``≈`` is optional)."""
    steps, losses = [], []
    for line in lines:
        words = line.split()
        if len(words) == 4 and words[0] == "step" and words[2] == "loss":
            steps.append(int(words[1]))
            losses.append(float(words[3].removeprefix(APPROX)))
    return steps, losses
