"""The multi-worker launcher: start ``MultiWorkerMirroredStrategy`` workers on this machine and read what they report.

The worker programs are notebook 07's scripts (its ``%%writefile`` cells write them); the notebook (the parent) uses:

* :func:`tf_config` – the ``TF_CONFIG`` JSON that tells a worker the cluster and which task it is;
* :func:`launch` – start the workers of one attempt in a :class:`helpers.processes.ProcessGroup`, each running
  ``python SCRIPT WORKDIR`` with its own ``TF_CONFIG`` on fresh ports;
* :func:`wait_for_file` – wait (bounded) for a marker file, failing early if a worker exits;
* :func:`kill_and_resume` – SIGKILL one worker at a known step (:func:`helpers.multiworker_hooks.pause_point`),
  then restart them all;
* :func:`events` / :func:`step_losses` – read the workers' ``MW|`` event lines back.

Every failure of a worker to get where it should is a :class:`helpers.errors.WorkerError`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from helpers.errors import WorkerError
from helpers.multiworker_config import APPROX, PAUSE_AT_ENV, PAUSED_FILE_ENV, PREFIX, parse_pause
from helpers.processes import ProcessGroup, free_ports

__all__ = [
    "tf_config",
    "worker_command",
    "paused_file",
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


def worker_command(script: str | os.PathLike, workdir: str | os.PathLike) -> list[str]:
    """The arguments of ``python SCRIPT WORKDIR`` (without the interpreter), both as absolute paths.

    Raises:
        WorkerError: ``script`` is not a Python file or ``workdir`` is not a directory.
    """
    script, workdir = Path(script).resolve(), Path(workdir).resolve()
    if script.suffix != ".py" or not script.is_file():
        raise WorkerError(f"script {script.name} is not a Python file: write it first (the notebook's %%writefile)")
    if not workdir.is_dir():
        raise WorkerError(f"workdir {workdir} does not exist: create it first (e.g. tempfile.mkdtemp())")
    return [os.fspath(script), os.fspath(workdir)]


def paused_file(workdir: str | os.PathLike, task: int) -> Path:
    """The file worker ``task`` creates in ``workdir`` once it has paused (see :func:`launch`'s ``pause_at``)."""
    return Path(workdir) / f"paused-task{task}"


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
    ``workdir/attempt<attempt>-worker<i>.log``.  With ``pause_at="EPOCH:STEP"``, worker ``pause_task`` stops
    after that step, creates :func:`paused_file` and waits to be killed.

    Raises:
        WorkerError: bad ``num_workers``, ``pause_at`` or ``pause_task``, or a missing script or ``workdir``
            (nothing is started).
    """
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise WorkerError(f"num_workers must be a positive integer, got {num_workers!r}")
    cmd = worker_command(script, workdir)
    workdir = Path(cmd[1])
    pause = parse_pause(pause_at)
    if pause is not None and (isinstance(pause_task, bool) or pause_task not in range(num_workers)):
        raise WorkerError(
            f"pause_task must be one of the {num_workers} workers (0..{num_workers - 1}), got {pause_task!r}"
        )
    ports = free_ports(num_workers)
    procs = []
    for i in range(num_workers):
        env = {"TF_CONFIG": tf_config(ports, i), "PYTHONIOENCODING": "utf-8"}
        if pause is not None and i == pause_task:
            env |= {PAUSE_AT_ENV: f"{pause[0]}:{pause[1]}", PAUSED_FILE_ENV: os.fspath(paused_file(workdir, i))}
        procs.append(group.python(cmd, env=env, log=workdir / f"attempt{attempt}-worker{i}.log"))
    return procs


def wait_for_file(path: str | os.PathLike, timeout: float, procs: Sequence[subprocess.Popen] = ()) -> float:
    """Wait until ``path`` exists; return the seconds waited.

    Raises :class:`WorkerError` after ``timeout`` seconds, or as soon as one of ``procs`` has exited
    (its log, ``attempt<N>-worker<i>.log`` for :func:`launch`, says why).
    """
    start = time.monotonic()
    path = Path(path)
    while not path.exists():
        exited = [p for p in procs if p.poll() is not None]
        if exited:
            raise WorkerError(
                f"a worker exited (code {exited[0].returncode}) before {path.name} appeared; its log says why"
            )
        if time.monotonic() - start > timeout:
            raise WorkerError(f"{path.name} did not appear within {timeout:g} s")
        time.sleep(0.05)
    return time.monotonic() - start


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
    Raises :class:`WorkerError` if the pause point is never reached.
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
