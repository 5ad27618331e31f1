"""OS processes for the multi-process lessons: start them, and always stop them.

Every process is started in its own process group and registered with a
:class:`ProcessGroup`; leaving the ``with`` block (normally, on an exception, or on a
KeyboardInterrupt) terminates and then kills whatever is still alive, with bounded
waits.  Nothing a notebook starts outlives the cell that started it.

:func:`run_python` runs a snippet of Python in a fresh interpreter that way and returns its
exit code and what it printed (the "load it in a new process" checks of lesson 06).

:func:`wait_until` is the one bounded wait: poll a condition until it holds, failing at once if a process it
depends on exits, and after a timeout otherwise.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from helpers.errors import WorkerError

__all__ = ["free_ports", "ProcessGroup", "read_log", "wait_until", "PythonRun", "run_python"]


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    sockets, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in sockets:
            s.close()
    return ports


class ProcessGroup:
    """Start subprocesses and guarantee they are stopped.

    >>> with ProcessGroup() as group:                       # doctest: +SKIP
    ...     p = group.start([sys.executable, "worker.py"], env={"TF_CONFIG": cfg}, log="w0.log")
    ...     codes = group.wait(timeout=60)

    Output of each process goes to its ``log`` file (or is discarded).
    """

    def __init__(self, grace: float = 5.0):
        if isinstance(grace, bool) or not isinstance(grace, (int, float)) or grace < 0:
            raise ValueError(f"grace must be a number of seconds >= 0, got {grace!r}")
        self.grace = grace
        self.procs: list[subprocess.Popen] = []
        self._logs: list[IO[str]] = []

    def start(
        self,
        cmd: Sequence[str],
        env: Mapping[str, str] | None = None,
        log: str | os.PathLike | None = None,
        cwd: str | os.PathLike | None = None,
        err_log: str | os.PathLike | None = None,
    ) -> subprocess.Popen:
        """Start ``cmd`` with the current environment updated by ``env``.

        Its stdout goes to ``log`` (or is discarded); its stderr goes to ``err_log`` if given,
        else to the same place as stdout.
        """
        if not cmd:
            raise ValueError("cmd is empty")
        full_env = {**os.environ, **(env or {})}
        opened: list[IO[str]] = []
        try:
            out = subprocess.DEVNULL
            if log is not None:
                out = open(log, "w")
                opened.append(out)
            err = subprocess.STDOUT
            if err_log is not None:
                err = open(err_log, "w")
                opened.append(err)
            proc = subprocess.Popen(
                list(cmd),
                env=full_env,
                stdout=out,
                stderr=err,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            for f in opened:
                f.close()
            raise
        self._logs.extend(opened)
        self.procs.append(proc)
        return proc

    def python(self, args: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start ``python args...`` with this interpreter."""
        return self.start([sys.executable, *args], **kwargs)

    def wait(self, timeout: float, procs: Sequence[subprocess.Popen] | None = None) -> list[int | None]:
        """Wait up to ``timeout`` seconds in total; return exit codes (``None`` = still running)."""
        procs = list(procs) if procs is not None else self.procs
        deadline = time.monotonic() + timeout
        codes: list[int | None] = []
        for p in procs:
            try:
                codes.append(p.wait(max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                codes.append(None)
        return codes

    def kill(self, proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to ``proc``'s whole process group (if it is still running)."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass

    def alive(self) -> list[int]:
        """PIDs of processes that are still running."""
        return [p.pid for p in self.procs if p.poll() is None]

    def stop(self) -> None:
        """SIGTERM everything still alive, wait ``grace`` s, then SIGKILL and reap."""
        for p in self.procs:
            self.kill(p, signal.SIGTERM)
        self.wait(self.grace)
        for p in self.procs:
            self.kill(p, signal.SIGKILL)
        self.wait(self.grace)
        for f in self._logs:
            f.close()
        self._logs.clear()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def read_log(path: str | os.PathLike, lines: int | None = None) -> str:
    """The text of a process's log file (its last ``lines`` lines if given)."""
    text = Path(path).read_text(errors="replace")
    return "\n".join(text.splitlines()[-lines:]) if lines else text


def _positive_seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def wait_until(
    condition: Callable[[], object],
    timeout: float,
    *,
    what: str,
    procs: Iterable[subprocess.Popen] = (),
    log: str | os.PathLike | None = None,
    interval: float = 0.05,
) -> float:
    """Call ``condition()`` every ``interval`` seconds until it returns something true; return the seconds waited.

    ``what`` names the awaited event for the error message ("the writer to be ready"). If one of ``procs`` exits
    before the condition holds, fail at once; ``log`` (that process's log file) adds its last lines to the message.

    Raises:
        ValueError: ``timeout`` or ``interval`` is not a positive number; TypeError: ``condition`` is not callable.
        WorkerError: a process in ``procs`` exited first, or ``timeout`` seconds passed.
    """
    if not callable(condition):
        raise TypeError(f"condition must be a callable, got {type(condition).__name__}")
    timeout, interval = _positive_seconds(timeout, "timeout"), _positive_seconds(interval, "interval")
    procs = list(procs)
    start = time.monotonic()
    deadline = start + timeout
    while not condition():
        exited = next((p for p in procs if p.poll() is not None), None)
        if exited is not None:
            problem = f"the process exited with code {exited.returncode} while waiting for {what}"
        elif time.monotonic() >= deadline:
            problem = f"timed out after {timeout:g} s waiting for {what}"
        else:
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            continue
        if log is not None:
            tail = read_log(log, 20).strip() if Path(log).exists() else ""
            problem += f"; last lines of its log:\n{tail or '(empty)'}"
        raise WorkerError(problem)
    return time.monotonic() - start


@dataclass(frozen=True)
class PythonRun:
    """What a :func:`run_python` process did: its exit code and its two output streams."""

    returncode: int
    stdout: str
    stderr: str


def run_python(
    source: str,
    *args: str,
    cwd: str | os.PathLike | None = None,
    timeout: float = 120.0,
    env: Mapping[str, str] | None = None,
) -> PythonRun:
    """Run the Python code ``source`` in a fresh interpreter and wait for it: ``python -c source args...``.

    ``source`` may be indented (it is dedented); inside it, ``sys.argv[1:]`` are ``args``.
    stdout and stderr are kept apart, so ``stdout`` holds only what the code printed, not
    TensorFlow's start-up logs (those, and tracebacks, are in ``stderr``).  The process runs in a
    :class:`ProcessGroup`: it is stopped if it outlives ``timeout`` (then ``TimeoutError``) or if
    the caller is interrupted.
    """
    if not isinstance(source, str) or not source.strip():
        raise ValueError("source must be a non-empty string of Python code")
    _positive_seconds(timeout, "timeout")
    with tempfile.TemporaryDirectory(prefix="run-python-") as logs, ProcessGroup() as group:
        out, err = Path(logs) / "stdout.log", Path(logs) / "stderr.log"
        group.python(["-c", textwrap.dedent(source), *args], env=env, log=out, err_log=err, cwd=cwd)
        (code,) = group.wait(timeout)
        group.stop()  # closes the logs (and stops the process if it is still running)
        if code is None:
            raise TimeoutError(
                f"the Python process did not finish within {timeout:g} s and was stopped; "
                f"last lines of its stderr:\n{read_log(err, 20)}"
            )
        return PythonRun(code, read_log(out), read_log(err))
