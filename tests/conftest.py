"""Shared fixtures for the helpers' unit tests, and the check that no TensorFlow server is left listening.

Every ``tf.distribute.Server`` listens on every network interface (lesson 05, "Who can reach the worker"), so none may
outlive the test or the notebook that started it. Two checks compare the listening TCP sockets of the processes a test
started (read from the OS, :func:`helpers.tf_server.listening_sockets`) before and after:

- every unit test here (the autouse fixture ``no_server_left_listening``): the sockets of this process's descendants;
- every notebook that ``make test`` runs (nbval; the plugin registered in ``pytest_configure``): after the last cell,
  the sockets of the processes the kernel started, against those there were when the first cell ran. The kernel's own
  new sockets are checked once nbval has stopped the kernel: ``tf.config.experimental_connect_to_cluster`` makes the
  kernel itself a TF server (job ``localhost``), which TensorFlow offers no public call to stop (lesson 05 says so).
  The kernel's ZeroMQ ports were there at the first cell, so they are never counted.

A socket that is still listening 10 s later fails the test (or the notebook's last cell), and a process the test or
the kernel started that still listens is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.tf_server import Listener, listening_sockets

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_python(code: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (TensorFlow state cannot be reset in-process)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def python_subprocess():
    return run_python


@pytest.fixture
def hard_timeout(request):
    """Fail (instead of hanging) after the test module's ``HARD_TIMEOUT`` seconds; ProcessGroups still reap."""
    seconds = int(request.module.HARD_TIMEOUT)

    def expire(signum, frame):
        raise TimeoutError(f"test exceeded its hard timeout of {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# ----------------------------------------------------------------------------- no server left listening
# seconds a process that is being stopped gets to close its sockets (tests/test_listening_ports.py shortens it)
CLOSE_GRACE = float(os.environ.get("DISTSAVE_LISTEN_GRACE", "10"))


def new_listeners(pid: int, before: set[Listener], *, include_root: bool) -> list[Listener]:
    """The listening sockets of ``pid``'s tree not in ``before`` that stay open (waits up to ``CLOSE_GRACE`` s)."""
    deadline = time.monotonic() + CLOSE_GRACE
    while True:
        now = {s for s in listening_sockets(pid, tree=True) if include_root or s.pid != pid}
        new = sorted(now - before)
        if not new or time.monotonic() > deadline:
            return new
        time.sleep(0.2)


def report_and_kill(new: list[Listener], spared: int | None = None) -> str:
    """Describe leaked listeners for the failure message, and kill their processes (except ``spared``)."""
    import psutil  # noqa: PLC0415

    lines = []
    for s in new:
        try:
            proc = psutil.Process(s.pid)
            cmd = " ".join(proc.cmdline())[:160]
            if s.pid != spared:
                proc.kill()
        except psutil.Error:
            cmd = "(gone)"
        lines.append(f"  pid {s.pid} listens on {s.ip} port {s.port} ({s.scope}): {cmd}")
    return "\n".join(lines)


@pytest.fixture(autouse=True)
def no_server_left_listening():
    """Fail a test after which a process it started still listens on a TCP port (a TF server or anything else)."""
    me = os.getpid()
    before = {s for s in listening_sockets(me, tree=True) if s.pid != me}
    yield
    new = new_listeners(me, before, include_root=False)
    if new:
        leaked = report_and_kill(new)
        pytest.fail(f"a process this test started is still listening {CLOSE_GRACE:.0f} s after it:\n{leaked}")


class NotebookServerCheck:
    """After a notebook's last cell nothing the kernel started listens, and once the kernel stops, neither does it."""

    def __init__(self) -> None:
        self.baseline: dict[object, tuple[int, set[Listener]]] = {}

    @staticmethod
    def notebook_of(item) -> object | None:
        parent = getattr(item, "parent", None)
        return parent if type(item).__name__ == "IPyNbCell" and hasattr(parent, "kernel") else None

    @staticmethod
    def kernel_pid(notebook) -> int | None:
        provisioner = getattr(getattr(getattr(notebook, "kernel", None), "km", None), "provisioner", None)
        return getattr(provisioner, "pid", None)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item):
        result = yield  # the notebook's kernel starts with the setup of its first cell
        notebook = self.notebook_of(item)
        if notebook is not None and notebook not in self.baseline:
            pid = self.kernel_pid(notebook)
            if pid is not None:
                self.baseline[notebook] = (pid, set(listening_sockets(pid, tree=True)))
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item, nextitem):
        notebook = self.notebook_of(item)
        messages, own = [], set()
        last_cell = notebook is not None and (nextitem is None or self.notebook_of(nextitem) is not notebook)
        if last_cell and notebook in self.baseline:
            name = Path(str(notebook.path)).name
            pid, before = self.baseline.pop(notebook)  # checked before the teardown that stops the kernel
            started = new_listeners(pid, before, include_root=False)
            if started:
                leaked = report_and_kill(started)
                messages.append(f"{name}: a process it started still listens after the last cell:\n{leaked}")
            own = set(listening_sockets(pid)) - before  # an in-process server, which ends with the kernel
        result = yield  # nbval stops the kernel here, after the last cell
        deadline = time.monotonic() + CLOSE_GRACE
        while own and time.monotonic() < deadline:
            own &= set(listening_sockets(pid))
            time.sleep(0.2)
        if own:
            messages.append(f"{name}: its kernel still listens after it was stopped:\n" + report_and_kill(sorted(own)))
        if messages:
            pytest.fail("\n".join(messages))
        return result


def pytest_configure(config):
    # Registered as a plugin (not a conftest hook), so that it sees the notebooks' cells too: `make test` collects
    # notebooks/*.ipynb and tests/ in one session.
    if not config.pluginmanager.has_plugin("no-server-left-listening-in-notebooks"):
        config.pluginmanager.register(NotebookServerCheck(), "no-server-left-listening-in-notebooks")
