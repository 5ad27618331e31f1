"""A ``tf.distribute.Server`` in a subprocess: a remote TensorFlow worker on this machine, for the local-I/O lesson.

A Cloud TPU's workers are other hosts with their own filesystems.  To show what that
means for saving without a TPU, we start a ``tf.distribute.Server`` (job ``worker``,
one task) in a **separate process with its own working directory** (a fresh temp
dir), so a relative path means one folder to the notebook and another to the worker::

    worker = tf_server.start()                # waits until the port accepts connections
    tf.config.experimental_connect_to_cluster(tf.train.ClusterSpec(worker.cluster_spec))
    ...                                       # place variables on worker.device
    worker.stop()                             # or: with tf_server.start() as worker: ...

The process is always stopped: by :meth:`RemoteWorker.stop` / leaving the ``with``
block, at interpreter exit (``atexit``), and, should the parent die without cleaning
up, by the server itself, which exits when its parent process is gone.  A server that dies
or never listens raises :class:`helpers.errors.WorkerError` (or ``TimeoutError``).

Command line (the subprocess's entry point)::

    python -m helpers.tf_server serve --port N [--job worker] [--parent-pid PID]
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from helpers.errors import WorkerError
from helpers.processes import ProcessGroup, free_ports, read_log

__all__ = ["RemoteWorker", "start", "wait_for_port", "check_port", "serve", "main"]

HOST = "127.0.0.1"
MODULE = "helpers.tf_server"  #: ``python -m MODULE serve ...`` runs the server (:func:`main`)


def check_port(port: object) -> int:
    """Return ``port`` if it is a TCP port number (an int in 1..65535), else raise ``ValueError``."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be an integer in 1..65535, got {port!r}")
    return port


def _log_tail(log: Path | None, lines: int = 20) -> str:
    if log is None or not log.exists():
        return "(no log)"
    tail = read_log(log, lines).strip()
    return tail or "(log is empty)"


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
        WorkerError: ``proc`` exited before listening.
        TimeoutError: nothing listened within ``timeout`` seconds.
    """
    check_port(port)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    log = Path(log) if log is not None else None
    start = time.monotonic()
    while True:
        if proc is not None and proc.poll() is not None:
            raise WorkerError(
                f"the worker process exited with code {proc.returncode} before listening on port {port}; "
                f"last lines of its log:\n{_log_tail(log)}\n"
                "Fix the cause shown in the log (a port already in use: call start() without a port)."
            )
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return time.monotonic() - start
        except OSError:
            pass
        if time.monotonic() - start >= timeout:
            raise TimeoutError(
                f"nothing accepted connections on {host}:{port} within {timeout:g} s; "
                f"last lines of the worker's log:\n{_log_tail(log)}\n"
                "If the log shows TensorFlow still starting up, pass a larger timeout."
            )
        time.sleep(0.1)


class RemoteWorker:
    """A running ``tf.distribute.Server`` subprocess (see :func:`start`).

    Attributes:
        job: the job name (``"worker"``).
        port: its port on 127.0.0.1 (varies from run to run: do not print it).
        workdir: the worker's working directory, where *it* resolves relative paths.
        device: ``/job:<job>/replica:0/task:0/device:CPU:0``, the worker's CPU.
        cluster_spec: ``{job: ["127.0.0.1:<port>"]}``, for ``tf.train.ClusterSpec``.
    """

    def __init__(
        self, job: str, port: int, workdir: Path, group: ProcessGroup, proc, log: Path, owned_dirs: list[Path]
    ):
        self.job = job
        self.port = port
        self.workdir = workdir
        self.device = f"/job:{job}/replica:0/task:0/device:CPU:0"
        self.cluster_spec = {job: [f"{HOST}:{port}"]}
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
    port: int | None = None, *, job: str = "worker", workdir: str | os.PathLike | None = None, timeout: float = 60.0
) -> RemoteWorker:
    """Start a one-task ``tf.distribute.Server`` in a subprocess and wait until it listens.

    Args:
        port: TCP port on 127.0.0.1; ``None`` picks a free one.
        job: the cluster's job name.
        workdir: the worker's working directory (must exist); ``None`` makes a fresh temp
            dir, removed by :meth:`RemoteWorker.stop`.
        timeout: seconds to wait for the port to accept connections.

    Returns:
        A :class:`RemoteWorker`; use it as a context manager or call ``stop()``.

    Raises:
        ValueError: bad ``port``, ``job``, ``workdir`` or ``timeout``.
        WorkerError / TimeoutError: the server died or did not listen in time (it is
            stopped before the error propagates; the message holds its log's last lines).
    """
    port = free_ports(1)[0] if port is None else check_port(port)
    if not isinstance(job, str) or not job.isidentifier():
        raise ValueError(f"job must be a simple name such as 'worker', got {job!r}")
    if workdir is not None and not Path(workdir).is_dir():
        raise ValueError(f"workdir must be an existing directory, got {os.fspath(workdir)!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    root = Path(tempfile.mkdtemp(prefix="tf-worker-"))  # holds the log (and the default workdir)
    owned = [root]
    cwd = Path(workdir) if workdir is not None else root / "cwd"
    cwd.mkdir(exist_ok=True)
    log = root / "server.log"
    group = ProcessGroup()
    try:
        proc = group.python(
            ["-m", MODULE, "serve", "--port", str(port), "--job", job, "--parent-pid", str(os.getpid())],
            log=log,
            cwd=cwd,
            env={"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")},
        )
        wait_for_port(port, timeout, proc=proc, log=log)
    except BaseException:
        group.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return RemoteWorker(job, port, cwd, group, proc, log, owned)


# --------------------------------------------------------------------------- subprocess side
def serve(port: int, job: str = "worker", parent_pid: int | None = None, poll: float = 0.5) -> None:
    """Run a one-task ``tf.distribute.Server`` until killed, or until ``parent_pid`` is gone."""
    check_port(port)
    import tensorflow as tf

    cluster = tf.train.ClusterSpec({job: [f"{HOST}:{port}"]})
    server = tf.distribute.Server(cluster, job_name=job, task_index=0, protocol="grpc", start=True)
    print(f"serving {server.target}", flush=True)
    while parent_pid is None or os.getppid() == parent_pid:
        time.sleep(poll)
    print("parent process is gone: exiting", flush=True)
    os._exit(0)  # server.join() never returns; skip TF's teardown


def main(argv: list[str] | None = None) -> int:
    """The subprocess's command line: ``serve`` runs until killed; a bad ``--port`` exits 2."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run a one-task tf.distribute.Server on 127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--job", default="worker")
    p.add_argument("--parent-pid", type=int, default=None, help="exit when this process is gone")
    args = parser.parse_args(argv)
    try:
        check_port(args.port)
    except ValueError as err:
        parser.error(str(err))
    serve(args.port, args.job, args.parent_pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
