"""A parameter-server cluster on this machine: workers and parameter servers as subprocesses (lesson 12).

``ParameterServerStrategy`` needs a cluster: *workers* that run the training steps, *parameter servers* (PS) that
hold the variables, and a *coordinator* (your process) that creates the variables and schedules the steps.
:func:`start` runs each worker and each PS as a ``tf.distribute.Server`` in its own subprocess, on 127.0.0.1, each
in its own fresh working directory::

    with ps_cluster.start(workers=2, ps=2) as cluster:   # waits until every server listens
        strategy = tf.distribute.ParameterServerStrategy(cluster.resolver())
        ...
        cluster.kill("worker", 1)                        # a worker lost (SIGKILL)
        cluster.restart("worker", 1)                     # it comes back at the same address
    # every server is stopped here, also when the block raised

Subprocesses (rather than servers in the notebook's own process, as TensorFlow's tutorial builds them) are what
makes a lost worker possible to show: a ``tf.distribute.Server`` cannot be stopped from inside its process.  Each
server runs under :mod:`helpers.tf_server`'s launcher, which ends it if this process dies without cleaning up.
Like every TensorFlow gRPC server, each one listens on every network interface (lesson 05).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import textwrap
from pathlib import Path

from helpers.processes import ProcessGroup, free_ports
from helpers.tf_server import HOST, MODULE, wait_for_port

__all__ = ["SERVER_PROGRAM", "SERVER_ENV", "JOBS", "PSCluster", "start"]

JOBS = ("worker", "ps")

#: What each server's environment sets, whatever the starting process's holds. ``ParameterServerStrategy`` sets
#: these two in the coordinator's ``os.environ`` (``False`` and ``True``) for the coordinator itself; a server started
#: afterwards from that process (a restarted worker, a second cluster) would inherit them. Measured on TF 2.21: a
#: cluster started from such a process hung when a worker was lost; with TensorFlow's defaults, below, it does not.
SERVER_ENV = {"TF_ENABLE_EAGER_CLIENT_STREAMING_ENQUEUE": "True", "TF_PS_DISABLE_ASYNC_EXECUTOR_GLOBALLY": "False"}

#: The program every server runs: ``python server.py '<cluster spec as JSON>' <job> <index> <inter-op threads>``.
SERVER_PROGRAM = """
import json
import sys

import tensorflow as tf

cluster, job, index, inter_op = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
config = tf.compat.v1.ConfigProto(inter_op_parallelism_threads=inter_op, intra_op_parallelism_threads=1)
server = tf.distribute.Server(
    tf.train.ClusterSpec(cluster), job_name=job, task_index=index, config=config, protocol="grpc"
)
print("serving", job, index, flush=True)
server.join()  # serve until the process is stopped
"""


def _count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class PSCluster:
    """Running worker and PS servers (see :func:`start`); a context manager that stops them all.

    Attributes:
        cluster_spec: ``{"worker": [...], "ps": [...]}``, the addresses (``127.0.0.1:<port>``; do not print them).
        workdirs: ``{(job, index): Path}``, each server's working directory.
        root: the temp dir holding the program, the logs and the working directories (removed by :meth:`stop`).
    """

    def __init__(self, cluster_spec: dict[str, list[str]], inter_op_threads: int, root: Path, timeout: float):
        self.cluster_spec = cluster_spec
        self.root = root
        self.workdirs = {(job, i): root / f"{job}{i}" for job in JOBS for i in range(len(cluster_spec[job]))}
        self._inter_op = inter_op_threads
        self._timeout = timeout
        self._program = root / "server.py"
        self._program.write_text(textwrap.dedent(SERVER_PROGRAM).lstrip())
        self._group = ProcessGroup()
        self._procs: dict[tuple[str, int], object] = {}
        atexit.register(self.stop)

    def _check_task(self, job: object, index: object) -> tuple[str, int]:
        if job not in JOBS:
            raise ValueError(f"job must be one of {JOBS}, got {job!r}")
        n = len(self.cluster_spec[job])
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
            raise ValueError(f"index must be an integer in 0..{n - 1} for job {job!r}, got {index!r}")
        return job, index

    def _launch(self, job: str, index: int) -> None:
        workdir = self.workdirs[(job, index)]
        workdir.mkdir(exist_ok=True)
        proc = self._group.python(
            ["-m", MODULE, "run", "--parent-pid", str(os.getpid()), str(self._program)]
            + [json.dumps(self.cluster_spec), job, str(index), str(self._inter_op)],
            log=self.root / f"{job}{index}.log",
            cwd=workdir,
            env={"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"), **SERVER_ENV},
        )
        self._procs[(job, index)] = proc

    def _wait(self, tasks: list[tuple[str, int]]) -> None:
        for job, index in tasks:
            port = int(self.cluster_spec[job][index].rsplit(":", 1)[1])
            log = self.root / f"{job}{index}.log"
            wait_for_port(port, self._timeout, proc=self._procs[(job, index)], log=log)

    def resolver(self):
        """A ``SimpleClusterResolver`` for ``tf.distribute.ParameterServerStrategy`` (imports TensorFlow)."""
        import tensorflow as tf  # noqa: PLC0415  (the cluster itself does not need TensorFlow in this process)

        spec = tf.train.ClusterSpec(self.cluster_spec)
        return tf.distribute.cluster_resolver.SimpleClusterResolver(spec, rpc_layer="grpc")

    def alive(self, job: str, index: int) -> bool:
        """Whether that server's process is running."""
        proc = self._procs.get(self._check_task(job, index))
        return proc is not None and proc.poll() is None

    def kill(self, job: str, index: int) -> None:
        """Kill that server (SIGKILL, as a machine that is lost) and wait until it is gone (at most 10 s)."""
        proc = self._procs[self._check_task(job, index)]
        self._group.kill(proc)
        self._group.wait(10.0, [proc])

    def restart(self, job: str, index: int) -> None:
        """Start that server again at the same address (it must not be running) and wait until it listens."""
        self._check_task(job, index)
        if self.alive(job, index):
            raise ValueError(f"{job} {index} is still running: kill it first")
        self._launch(job, index)
        self._wait([(job, index)])

    def stop(self) -> None:
        """Stop every server (SIGTERM, then SIGKILL, bounded waits) and remove the temp dir. Idempotent."""
        self._group.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        atexit.unregister(self.stop)

    def __enter__(self) -> PSCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        counts = ", ".join(f"{len(self.cluster_spec[job])} {job}" for job in JOBS)
        return f"PSCluster({counts}, {len(self._group.alive())} running)"


def start(workers: int = 2, ps: int = 2, *, inter_op_threads: int = 3, timeout: float = 90.0) -> PSCluster:
    """Start ``workers`` worker servers and ``ps`` parameter servers as subprocesses; wait until all listen.

    Args:
        workers: number of worker tasks (>= 1).
        ps: number of parameter-server tasks (>= 1).
        inter_op_threads: each server's inter-op thread pool (>= 1); intra-op is 1, so that a small machine stays
            responsive. TensorFlow's tutorial gives workers ``workers + 1`` when the machine has fewer cores.
        timeout: seconds to wait for each server to listen.

    Returns:
        A :class:`PSCluster`; use it as a context manager or call ``stop()``.

    Raises:
        ValueError: a bad count or timeout.
        WorkerError: a server died or did not listen in time (every server is stopped first).
    """
    _count(workers, "workers", 1)
    _count(ps, "ps", 1)
    _count(inter_op_threads, "inter_op_threads", 1)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    ports = free_ports(workers + ps)
    spec = {
        "worker": [f"{HOST}:{p}" for p in ports[:workers]],
        "ps": [f"{HOST}:{p}" for p in ports[workers:]],
    }
    cluster = PSCluster(spec, inter_op_threads, Path(tempfile.mkdtemp(prefix="ps-cluster-")), float(timeout))
    try:
        tasks = [(job, i) for job in JOBS for i in range(len(spec[job]))]
        for job, i in tasks:
            cluster._launch(job, i)
        cluster._wait(tasks)
    except BaseException:
        cluster.stop()
        raise
    return cluster
