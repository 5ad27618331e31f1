"""The multi-worker launcher: start ``MultiWorkerMirroredStrategy`` workers on this machine and read what they report.

The notebook (the parent) uses:

* :func:`tf_config` – the ``TF_CONFIG`` JSON that tells a worker the cluster and which task it is;
* :func:`launch` – start the workers of one attempt in a :class:`helpers.processes.ProcessGroup`, each
  running the worker program :mod:`helpers.multiworker_train` with fresh ports (options validated by
  :class:`helpers.multiworker_config.TrainConfig`);
* :func:`wait_for_file` – wait (bounded) for a marker file, failing early if a worker exits;
* :func:`kill_and_resume` – SIGKILL one worker at a known step, then restart them all;
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
from helpers.multiworker_config import (
    APPROX,
    PREDICTIONS_FILE,
    PREFIX,
    ROUTES,
    WORKER_MODULE,
    TrainConfig,
    parse_pause,
)
from helpers.processes import ProcessGroup, free_ports

__all__ = [
    "ROUTES",
    "PREDICTIONS_FILE",
    "tf_config",
    "worker_command",
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


def worker_command(
    route: str,
    workdir: str | os.PathLike,
    *,
    epochs: int = 3,
    steps_per_epoch: int = 5,
    pause_at: str | None = None,
    pause_task: int = 1,
    save: str = "all",
    num_workers: int = 2,
) -> list[str]:
    """The ``python -m helpers.multiworker_train ...`` arguments (without the interpreter), validated.

    Raises:
        WorkerError: an option the worker program cannot run (see :class:`helpers.multiworker_config.TrainConfig`).
    """
    config = TrainConfig(
        route,
        workdir,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        save=save,
        pause=parse_pause(pause_at),
        pause_task=pause_task,
        num_workers=num_workers,
    )
    return ["-m", WORKER_MODULE, *config.to_argv()]


def launch(
    group: ProcessGroup, route: str, workdir: str | os.PathLike, num_workers: int = 2, *, attempt: int = 1, **options
) -> list[subprocess.Popen]:
    """Start ``num_workers`` workers of ``route`` in ``group``; return their processes.

    Each gets ``TF_CONFIG`` for a local cluster on freshly picked ports; worker ``i`` logs to
    ``workdir/attempt<attempt>-worker<i>.log``.  ``options`` go to :func:`worker_command`.

    Raises:
        WorkerError: bad ``num_workers`` or options, or ``workdir`` does not exist (nothing is started).
    """
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise WorkerError(f"num_workers must be a positive integer, got {num_workers!r}")
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise WorkerError(f"workdir {workdir} does not exist: create it first (e.g. tempfile.mkdtemp())")
    cmd = worker_command(route, workdir, num_workers=num_workers, **options)
    ports = free_ports(num_workers)
    return [
        group.python(cmd, env={"TF_CONFIG": tf_config(ports, i)}, log=workdir / f"attempt{attempt}-worker{i}.log")
        for i in range(num_workers)
    ]


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
    route: str,
    workdir: str | os.PathLike,
    *,
    epochs: int = 3,
    steps_per_epoch: int = 5,
    pause_at: str = "2:2",
    victim: int = 1,
    timeout: float = 240,
) -> KillResult:
    """Attempt 1: SIGKILL worker ``victim`` once it reports ``pause_at``; attempt 2: restart all (new ports).

    Every wait is bounded by ``timeout`` seconds and every process is reaped on the way out.
    Raises :class:`WorkerError` if the pause point is never reached.
    """
    workdir = Path(workdir)
    opts = dict(epochs=epochs, steps_per_epoch=steps_per_epoch)
    with ProcessGroup() as group:
        first = launch(group, route, workdir, attempt=1, pause_at=pause_at, pause_task=victim, **opts)
        wait_for_file(workdir / f"paused-task{victim}", timeout, first)
        group.kill(first[victim])  # SIGKILL from outside
        start = time.monotonic()
        survivors = [p for i, p in enumerate(first) if i != victim]
        survivor_code = group.wait(timeout, survivors)[0]
        seconds = time.monotonic() - start
        killed_code = group.wait(10, [first[victim]])[0]
        second = launch(group, route, workdir, attempt=2, **opts)
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
