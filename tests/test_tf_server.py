"""Tests for helpers.tf_server: input checks, timeouts, the parent watch, and a real TF server."""

from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import tf_server
from helpers.errors import WorkerError
from helpers.processes import free_ports

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("port", [0, -1, 65536, "8470", 80.0, True, None])
def test_check_port_rejects_non_ports(port):
    with pytest.raises(ValueError, match="port must be an integer in 1..65535"):
        tf_server.check_port(port)


@pytest.mark.parametrize("port", [1, 65535])
def test_check_port_accepts_the_first_and_last_port(port):
    # next to the rejected 0 and 65536 above: the range's bounds are the ones TCP has, not off by one
    assert tf_server.check_port(port) == port


def test_the_default_program_is_the_one_lesson_05_teaches():
    # One program, shown in 05 and run by default here: the lesson's WORKER_PROGRAM must stay equal to SERVER_PROGRAM.
    source = (ROOT / "lessons" / "05_local_io_device.py").read_text(encoding="utf-8")
    assignments = [node for node in ast.parse(source).body if isinstance(node, ast.Assign)]
    (assignment,) = [a for a in assignments if [getattr(t, "id", None) for t in a.targets] == ["WORKER_PROGRAM"]]
    assert ast.literal_eval(assignment.value) == tf_server.SERVER_PROGRAM


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"port": 0}, "port must be"),
        ({"port": 70000}, "port must be"),
        ({"program": "print('no server here')"}, "program must be Python source"),
        ({"program": None}, "program must be Python source"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"timeout": "5"}, "timeout must be a positive number"),
        ({"workdir": "/nonexistent/dir/for/tf_server/test"}, "workdir must be an existing directory"),
    ],
)
def test_start_rejects_bad_arguments_before_starting_anything(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tf_server.start(**kwargs)


def test_wait_for_port_times_out_when_nothing_listens():
    port = free_ports(1)[0]
    start = time.monotonic()
    with pytest.raises(WorkerError, match=r"timed out after 0\.5 s waiting for 127\.0\.0\.1:\d+ to accept connections"):
        tf_server.wait_for_port(port, timeout=0.5)
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("timeout", [0, -1, True, "1"])
def test_wait_for_port_rejects_bad_timeout(timeout):
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        tf_server.wait_for_port(8470, timeout=timeout)


def test_wait_for_port_returns_when_something_listens():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert tf_server.wait_for_port(s.getsockname()[1], timeout=5) < 5


def test_wait_for_port_reports_a_dead_process_with_its_log(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("line one\nfatal: could not bind\n")
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait(30)
    with pytest.raises(WorkerError, match=r"(?s)exited with code 3 .*fatal: could not bind"):
        tf_server.wait_for_port(free_ports(1)[0], timeout=30, proc=proc, log=log)


def test_cli_rejects_a_missing_program(tmp_path):
    missing = str(tmp_path / "no-such-worker.py")
    result = subprocess.run(
        [sys.executable, "-m", "helpers.tf_server", "run", missing], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "no such program" in result.stderr


def test_cli_runs_the_program_with_its_arguments(tmp_path):
    script = tmp_path / "echo.py"
    script.write_text("import sys\nprint(sys.argv[1:], __name__)\n")
    result = subprocess.run(
        [sys.executable, "-m", "helpers.tf_server", "run", str(script), "127.0.0.1:1234", "--x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['127.0.0.1:1234', '--x'] __main__"


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether ``pid`` has exited within ``timeout`` s (a zombie waiting for its new parent to reap it counts)."""
    deadline = time.monotonic() + timeout
    stat = f"/proc/{pid}/stat"
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            if open(stat).read().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (FileNotFoundError, IndexError):
            pass
        time.sleep(0.05)
    return False


def test_the_program_exits_when_its_parent_dies_without_cleaning_up(tmp_path):
    # A parent process starts a program under the launcher's watch, then dies at once (no atexit, no stop()):
    # the watch must end the orphaned program.  The program sleeps; the watch does not depend on what it runs.
    sleeper = tmp_path / "sleeper.py"
    sleeper.write_text("import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    log = tmp_path / "sleeper.log"
    parent = f"""
import os, subprocess, sys, time
out = open({str(log)!r}, "w")
child = subprocess.Popen(
    [sys.executable, "-m", "helpers.tf_server", "run", "--parent-pid", str(os.getpid()), {str(sleeper)!r}],
    stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
)
deadline = time.monotonic() + 60
while "up" not in open({str(log)!r}).read() and time.monotonic() < deadline:
    time.sleep(0.05)
print(child.pid, flush=True)
os._exit(0)
"""
    result = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, timeout=120)
    child = int(result.stdout.strip())
    try:
        assert _gone(child, timeout=15), "the orphaned program is still running"
        assert log.read_text().split() == ["up", "parent", "process", "is", "gone:", "exiting"]
    finally:
        if not _gone(child, timeout=0.1):
            os.kill(child, 9)


def test_real_server_starts_listens_and_is_stopped_even_when_the_block_fails(tmp_path):
    # One real start (≈ 5-10 s: the worker imports TensorFlow), stopped by a failing with-block.
    with pytest.raises(KeyError):
        with tf_server.start(workdir=tmp_path, timeout=120) as worker:
            assert worker.alive() and "running" in repr(worker)
            assert worker.device == "/job:worker/replica:0/task:0/device:CPU:0"
            assert worker.address == f"127.0.0.1:{worker.port}" and worker.cluster_spec == {"worker": [worker.address]}
            assert worker.program.read_text() == tf_server.SERVER_PROGRAM.lstrip()
            assert worker.workdir == tmp_path
            with socket.create_connection(("127.0.0.1", worker.port), timeout=5):
                pass
            # Given 127.0.0.1:<port>, the server listens on that port on every interface (issue 29; lesson 05 shows it):
            # TensorFlow binds "0.0.0.0:<port>", which gRPC turns into [::] (IPv4 and IPv6) where it can.
            listening = worker.listening()
            assert listening and {(s.port, s.scope) for s in listening} == {(worker.port, "every interface")}
            assert {s.ip for s in listening} <= set(tf_server.WILDCARD_ADDRESSES)
            pid = worker.pid
            raise KeyError("a cell failed")
    assert not worker.alive() and _gone(pid)
    assert worker.listening() == [] and tf_server.listening_sockets(pid) == []  # nothing left listening
    assert "stopped" in repr(worker)
    assert tmp_path.is_dir()  # a workdir we were given is not ours to delete
    assert not worker.log.exists()  # the helper's own temp dir (with the log) is removed
    worker.stop()  # idempotent
