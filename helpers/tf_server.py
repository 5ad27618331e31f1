"""Run a ``tf.distribute.Server`` program in a subprocess: a remote TensorFlow worker on this machine (lesson 05).

A Cloud TPU's workers are other hosts with their own filesystems.  To show what that
means for saving without a TPU, the lesson writes the worker's program (a few lines
around ``tf.distribute.Server(...)`` and ``server.join()``), and :func:`start` runs it in a
**separate process with its own working directory** (a fresh temp dir), so a relative
path means one folder to the notebook and another to the worker::

    worker = tf_server.start(SERVER_PROGRAM)  # python worker.py 127.0.0.1:<port>; waits until it listens
    tf.config.experimental_connect_to_cluster(tf.train.ClusterSpec({"worker": [worker.address]}))
    ...                                       # place variables on worker.device
    worker.stop()                             # or: with tf_server.start(...) as worker: ...

The program receives its address (``127.0.0.1:<a free port>``) as ``sys.argv[1]`` and must
serve the job ``worker`` (task 0) there.  The process is always stopped: by
:meth:`RemoteWorker.stop` / leaving the ``with`` block, at interpreter exit (``atexit``),
and, should the parent die without cleaning up, by a watcher thread that the launcher
(``python -m helpers.tf_server run --parent-pid PID program.py ...``) adds around the
program, which ends the process once its parent is gone.  A server that dies or never
listens in time raises :class:`helpers.errors.WorkerError`.

The stable parts of a save or load that fails on the worker (missing path, failing op, job,
hint) are picked out by :func:`helpers.tf_errors.describe_error`, importable from here too
(``tf_server.describe_error``, as lesson 05 calls it).

**Who can reach it.** Whatever host the cluster spec names, TensorFlow's gRPC server binds its
port on every network interface: ``GrpcServer::Init`` in TensorFlow's
``tensorflow/core/distributed_runtime/rpc/grpc_server_lib.cc`` passes ``"0.0.0.0:<port>"`` to gRPC
(which listens on ``[::]``, both IPv4 and IPv6, where it can), and no ``ServerDef`` field,
environment variable or option changes that host.  The process that calls
``tf.config.experimental_connect_to_cluster`` becomes such a server too (job ``localhost``, from its
first operation on), and TensorFlow offers no public call that stops it: it ends with the process.
:func:`listening_sockets` (and :meth:`RemoteWorker.listening`) read from the operating system where a
process listens; lesson 05 shows both, and the tests (``tests/conftest.py``) fail if a server's port is
still listening after a test or a notebook ends.  TensorFlow's SECURITY.md ("Running a TensorFlow
server") says what that means: run these servers only on a network you trust.
"""

from __future__ import annotations

import argparse
import atexit
import ipaddress
import os
import runpy
import shutil
import socket
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from helpers.processes import ProcessGroup, free_ports, wait_until
from helpers.tf_errors import ErrorSummary, describe_error  # lesson 05 calls tf_server.describe_error

__all__ = [
    "SERVER_PROGRAM",
    "RemoteWorker",
    "start",
    "wait_for_port",
    "check_port",
    "Listener",
    "WILDCARD_ADDRESSES",
    "listening_sockets",
    "ErrorSummary",
    "describe_error",
    "main",
]

HOST = "127.0.0.1"
JOB = "worker"
MODULE = "helpers.tf_server"  #: ``python -m MODULE run ...`` runs a program under the parent watch (:func:`main`)

#: The official tutorials' worker, as lesson 05 shows it: serve job ``worker``, task 0, at ``sys.argv[1]``.
SERVER_PROGRAM = """
import sys

import tensorflow as tf

address = sys.argv[1]  # "127.0.0.1:<port>"
cluster_spec = tf.train.ClusterSpec({"worker": [address]})
server = tf.distribute.Server(cluster_spec, job_name="worker", task_index=0, protocol="grpc")
print("serving", server.target, flush=True)
server.join()  # serve until the process is stopped
"""


#: The addresses that mean "every network interface": IPv4's and IPv6's wildcard.
WILDCARD_ADDRESSES = ("0.0.0.0", "::")


@dataclass(frozen=True, order=True)
class Listener:
    """One listening TCP socket: the process that owns it, and the local address and port it is bound to."""

    pid: int
    ip: str
    port: int

    @property
    def scope(self) -> str:
        """Where connections may come from: ``"every interface"``, ``"loopback"`` (this host) or ``"one interface"``."""
        if self.ip in WILDCARD_ADDRESSES:
            return "every interface"
        address = ipaddress.ip_address(self.ip.split("%")[0])  # an IPv6 scope id ("fe80::1%eth0") is not part of it
        if getattr(address, "ipv4_mapped", None) is not None:
            address = address.ipv4_mapped
        return "loopback" if address.is_loopback else "one interface"


def listening_sockets(pid: int, *, tree: bool = False) -> list[Listener]:
    """The TCP sockets that process ``pid`` listens on (with ``tree=True``, also its descendants), read from the OS.

    Uses ``psutil`` (installed with ``tensorflow-datasets`` and with Jupyter), which works for your own processes on
    Linux, macOS and Windows.  A process that has exited, or exits meanwhile, listens on nothing; the result is sorted.

    Raises:
        ValueError: ``pid`` is not a positive integer.
    """
    import psutil  # noqa: PLC0415  (only this function needs it)

    if isinstance(pid, bool) or not isinstance(pid, int) or pid < 1:
        raise ValueError(f"pid must be a positive integer (a process id), got {pid!r}")
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)] if tree else [root]
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return []
    found = set()
    for proc in procs:
        try:
            # psutil >= 6 calls it net_connections; older releases (Colab has had 5.9) call it connections
            connections = getattr(proc, "net_connections", None) or proc.connections
            for conn in connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr:
                    found.add(Listener(proc.pid, conn.laddr.ip, conn.laddr.port))
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
    return sorted(found)


def check_port(port: object) -> int:
    """Return ``port`` if it is a TCP port number (an int in 1..65535), else raise ``ValueError``."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be an integer in 1..65535, got {port!r}")
    return port


def wait_for_port(
    port: int, timeout: float = 60.0, *, host: str = HOST, proc=None, log: str | os.PathLike | None = None
) -> float:
    """Wait until ``host:port`` accepts TCP connections; return the seconds waited.

    Args:
        port: the TCP port to poll.
        timeout: give up after this many seconds (must be > 0).
        proc: the ``subprocess.Popen`` expected to listen; if it exits first, fail at once.
        log: that process's log file, whose last lines go into the error message.

    Raises:
        ValueError: bad ``port`` or ``timeout``.
        WorkerError: ``proc`` exited before listening, or nothing listened within ``timeout`` seconds
            (:func:`helpers.processes.wait_until`).
    """
    check_port(port)

    def listening() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    what = f"{host}:{port} to accept connections"
    return wait_until(listening, timeout, what=what, procs=[proc] if proc is not None else (), log=log, interval=0.1)


class RemoteWorker:
    """A running ``tf.distribute.Server`` subprocess (see :func:`start`).

    Attributes:
        job: the job name (``"worker"``).
        port: its port on 127.0.0.1 (varies from run to run: do not print it).
        address: ``"127.0.0.1:<port>"``, the address the program serves at.
        workdir: the worker's working directory, where *it* resolves relative paths.
        device: ``/job:worker/replica:0/task:0/device:CPU:0``, the worker's CPU.
        cluster_spec: ``{"worker": ["127.0.0.1:<port>"]}``, for ``tf.train.ClusterSpec``.
        program: the file holding the program the process runs.
        log: the process's output (stdout and stderr).
    """

    def __init__(
        self, port: int, workdir: Path, group: ProcessGroup, proc, program: Path, log: Path, owned_dirs: list[Path]
    ):
        self.job = JOB
        self.port = port
        self.address = f"{HOST}:{port}"
        self.workdir = workdir
        self.device = f"/job:{JOB}/replica:0/task:0/device:CPU:0"
        self.cluster_spec = {JOB: [self.address]}
        self.program = program
        self.log = log
        self._group = group
        self._proc = proc
        self._owned_dirs = owned_dirs
        atexit.register(self.stop)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def alive(self) -> bool:
        """Whether the worker process is still running."""
        return self._proc.poll() is None

    def listening(self) -> list[Listener]:
        """Where the worker process listens, read from the OS (:func:`listening_sockets`); ``[]`` once it is stopped."""
        return listening_sockets(self.pid) if self.alive() else []

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and remove the temp dirs it was given. Idempotent."""
        self._group.stop()
        for d in self._owned_dirs:
            shutil.rmtree(d, ignore_errors=True)
        self._owned_dirs = []
        atexit.unregister(self.stop)

    def __enter__(self) -> RemoteWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.alive() else "stopped"
        return f"RemoteWorker(device={self.device!r}, {state})"


def start(
    program: str = SERVER_PROGRAM,
    *,
    port: int | None = None,
    workdir: str | os.PathLike | None = None,
    timeout: float = 60.0,
) -> RemoteWorker:
    """Run ``program`` (Python source that starts a ``tf.distribute.Server``) in a subprocess; wait until it listens.

    The source is written to ``worker.py`` in a temp dir of the helper's and run as
    ``python worker.py 127.0.0.1:<port>`` in ``workdir``, under a watch that ends it when this
    process is gone.  It must serve job ``worker``, task 0, at that address (see
    :data:`SERVER_PROGRAM`).

    Args:
        program: the worker's Python source (it may be indented).
        port: TCP port on 127.0.0.1; ``None`` picks a free one.
        workdir: the worker's working directory (must exist); ``None`` makes a fresh temp
            dir, removed by :meth:`RemoteWorker.stop`.
        timeout: seconds to wait for the port to accept connections.

    Returns:
        A :class:`RemoteWorker`; use it as a context manager or call ``stop()``.

    Raises:
        ValueError: bad ``program``, ``port``, ``workdir`` or ``timeout``.
        WorkerError: the server died or did not listen in time (it is stopped before the error
            propagates; the message holds its log's last lines).
    """
    if not isinstance(program, str) or "tf.distribute.Server" not in program:
        raise ValueError("program must be Python source that starts a tf.distribute.Server")
    port = free_ports(1)[0] if port is None else check_port(port)
    if workdir is not None and not Path(workdir).is_dir():
        raise ValueError(f"workdir must be an existing directory, got {os.fspath(workdir)!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    root = Path(tempfile.mkdtemp(prefix="tf-worker-"))  # holds the program, the log (and the default workdir)
    owned = [root]
    cwd = Path(workdir) if workdir is not None else root / "cwd"
    cwd.mkdir(exist_ok=True)
    script = root / "worker.py"
    script.write_text(textwrap.dedent(program).lstrip())
    log = root / "server.log"
    group = ProcessGroup()
    try:
        proc = group.python(
            ["-m", MODULE, "run", "--parent-pid", str(os.getpid()), str(script), f"{HOST}:{port}"],
            log=log,
            cwd=cwd,
            env={"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")},
        )
        wait_for_port(port, timeout, proc=proc, log=log)
    except BaseException:
        group.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return RemoteWorker(port, cwd, group, proc, script, log, owned)


# --------------------------------------------------------------------------- subprocess side
def _exit_when_parent_is_gone(parent_pid: int, poll: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(poll)
    print("parent process is gone: exiting", flush=True)
    os._exit(0)  # server.join() never returns; skip TF's teardown


def run(script: str | os.PathLike, args: list[str], parent_pid: int | None = None, poll: float = 0.5) -> None:
    """Run ``script`` as ``__main__`` with ``args``; with ``parent_pid``, exit as soon as that process is gone."""
    if parent_pid is not None:
        threading.Thread(target=_exit_when_parent_is_gone, args=(parent_pid, poll), daemon=True).start()
    sys.argv = [os.fspath(script), *args]
    runpy.run_path(os.fspath(script), run_name="__main__")


def main(argv: list[str] | None = None) -> int:
    """The subprocess's command line: ``run [--parent-pid PID] script.py ARGS...``; a missing script exits 2."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a Python program, ending it when --parent-pid is gone")
    p.add_argument("--parent-pid", type=int, default=None, help="exit when this process is gone")
    p.add_argument("script")
    p.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if not Path(args.script).is_file():
        parser.error(f"no such program: {args.script}")
    run(args.script, args.args, args.parent_pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
