"""Tests for helpers.tf_server: input checks, timeouts, and a real start → stop of a TF server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from helpers import tf_server
from helpers.errors import WorkerError
from helpers.processes import free_ports


@pytest.mark.parametrize("port", [0, -1, 65536, "8470", 80.0, True, None])
def test_check_port_rejects_non_ports(port):
    with pytest.raises(ValueError, match="port must be an integer in 1..65535"):
        tf_server.check_port(port)


def test_check_port_accepts_a_port():
    assert tf_server.check_port(8470) == 8470


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"port": 0}, "port must be"),
        ({"port": 70000}, "port must be"),
        ({"job": "my worker"}, "job must be a simple name"),
        ({"job": ""}, "job must be a simple name"),
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
    with pytest.raises(TimeoutError, match=r"nothing accepted connections on 127\.0\.0\.1:\d+ within 0\.5 s"):
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


def test_cli_rejects_an_invalid_port():
    result = subprocess.run(
        [sys.executable, "-m", "helpers.tf_server", "serve", "--port", "0"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "port must be an integer in 1..65535" in result.stderr


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_real_server_starts_listens_and_is_stopped_even_when_the_block_fails(tmp_path):
    # One real start (≈ 5-10 s: the worker imports TensorFlow), stopped by a failing with-block.
    with pytest.raises(KeyError):
        with tf_server.start(workdir=tmp_path, timeout=120) as worker:
            assert worker.alive() and "running" in repr(worker)
            assert worker.device == "/job:worker/replica:0/task:0/device:CPU:0"
            assert worker.cluster_spec == {"worker": [f"127.0.0.1:{worker.port}"]}
            assert worker.workdir == tmp_path
            with socket.create_connection(("127.0.0.1", worker.port), timeout=5):
                pass
            pid = worker.pid
            raise KeyError("a cell failed")
    assert not worker.alive() and _gone(pid)
    assert "stopped" in repr(worker)
    assert tmp_path.is_dir()  # a workdir we were given is not ours to delete
    assert not worker.log.exists()  # the helper's own temp dir (with the log) is removed
    worker.stop()  # idempotent
