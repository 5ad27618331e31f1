"""OS processes for the multi-process lessons: start them, and always stop them.

Every process is started in its own process group and registered with a
:class:`ProcessGroup`; leaving the ``with`` block (normally, on an exception, or on a
KeyboardInterrupt) terminates and then kills whatever is still alive, with bounded
waits.  Nothing a notebook starts outlives the cell that started it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

__all__ = ["free_ports", "ProcessGroup", "read_log"]


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
    ) -> subprocess.Popen:
        """Start ``cmd`` with the current environment updated by ``env``."""
        if not cmd:
            raise ValueError("cmd is empty")
        full_env = {**os.environ, **(env or {})}
        out = open(log, "w") if log is not None else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                list(cmd),
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            if log is not None:
                out.close()
            raise
        if log is not None:
            self._logs.append(out)
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
