"""helpers.processes: start OS processes and always stop them."""

import subprocess
import sys
import time

import pytest

from helpers import processes
from helpers.errors import WorkerError


def test_free_ports_are_distinct():
    ports = processes.free_ports(3)
    assert len(set(ports)) == 3 and all(1024 < p < 65536 for p in ports)
    with pytest.raises(ValueError):
        processes.free_ports(0)


def test_process_group_stops_everything_even_on_error(tmp_path):
    log = tmp_path / "sleeper.log"
    with pytest.raises(RuntimeError):
        with processes.ProcessGroup(grace=2) as group:
            proc = group.python(["-c", "import time; print('up', flush=True); time.sleep(600)"], log=log)
            processes.wait_until(lambda: "up" in log.read_text(), 30, what="the child to start", procs=[proc])
            assert group.alive() == [proc.pid]
            raise RuntimeError("a failing cell")
    assert proc.poll() is not None and group.alive() == []
    assert processes.read_log(log).strip() == "up"


def test_wait_returns_none_for_processes_still_running():
    with processes.ProcessGroup(grace=2) as group:
        fast = group.python(["-c", "pass"])
        slow = group.python(["-c", "import time; time.sleep(600)"])
        codes = group.wait(timeout=20, procs=[fast])
        assert codes == [0]
        assert group.wait(timeout=0.5, procs=[slow]) == [None]
    assert slow.poll() is not None


def test_start_rejects_an_empty_command():
    with processes.ProcessGroup() as group:
        with pytest.raises(ValueError):
            group.start([])


def test_a_command_that_cannot_start_leaves_nothing_open(tmp_path):
    with processes.ProcessGroup() as group:
        with pytest.raises(FileNotFoundError):
            group.start([str(tmp_path / "no-such-program")], log=tmp_path / "x.log")
        assert group.procs == [] and group._logs == []


@pytest.mark.parametrize("grace", [-1, "5", True, None])
def test_process_group_rejects_a_bad_grace(grace):
    with pytest.raises(ValueError, match="grace must be a number of seconds"):
        processes.ProcessGroup(grace=grace)


def test_run_python_returns_the_exit_code_and_keeps_stdout_apart_from_stderr(tmp_path):
    run = processes.run_python(
        """
        import os, sys
        print("args:", sys.argv[1:], "| cwd is tmp:", os.getcwd() == sys.argv[2])
        print("a warning", file=sys.stderr)
        sys.exit(3)
        """,
        "uncalled.keras",
        str(tmp_path.resolve()),
        cwd=tmp_path,
    )
    assert run.returncode == 3
    assert run.stdout == f"args: ['uncalled.keras', '{tmp_path.resolve()}'] | cwd is tmp: True\n"
    assert run.stderr == "a warning\n"


def test_run_python_stops_a_process_that_outlives_its_timeout(tmp_path):
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"(?s)did not finish within 0\.5 s.*sleeping"):
        processes.run_python(
            "import sys, time; print('sleeping', file=sys.stderr, flush=True); time.sleep(600)", timeout=0.5
        )
    assert time.monotonic() - start < 20


@pytest.mark.parametrize(
    "kwargs", [{"source": ""}, {"source": "pass", "timeout": 0}, {"source": "pass", "timeout": "1"}]
)
def test_run_python_rejects_bad_arguments(kwargs):
    source = kwargs.pop("source")
    with pytest.raises(ValueError):
        processes.run_python(source, **kwargs)


def test_separate_stderr_log(tmp_path):
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    with processes.ProcessGroup(grace=2) as group:
        group.python(["-c", "import sys; print('o'); print('e', file=sys.stderr)"], log=out, err_log=err)
        assert group.wait(timeout=30) == [0]
    assert processes.read_log(out) == "o\n" and processes.read_log(err) == "e\n"


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path):
    """stop() sends SIGTERM, waits `grace` seconds, then SIGKILLs what is still alive: bounded even for a child
    that catches SIGTERM and carries on."""
    import signal

    log = tmp_path / "stubborn.log"
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: print('SIGTERM ignored', flush=True))\n"
        "print('up', flush=True)\n"
        "time.sleep(600)\n"
    )
    with processes.ProcessGroup(grace=2) as group:  # 2 s: time enough for the handler to run on a busy machine
        proc = group.python(["-c", code], log=log)
        processes.wait_until(lambda: "up" in log.read_text(), 30, what="the SIGTERM handler", procs=[proc])
        start = time.monotonic()
        group.stop()
        took = time.monotonic() - start
    assert proc.returncode == -signal.SIGKILL and group.alive() == []
    assert processes.read_log(log).split() == ["up", "SIGTERM", "ignored"]  # asked first, then killed
    assert 2 <= took < 12  # one grace period for SIGTERM, then the kill is reaped at once


# ---------------------------------------------------------------------------------------------- the bounded wait
def test_wait_until_returns_once_the_condition_holds():
    ready_at = time.monotonic() + 0.3
    waited = processes.wait_until(lambda: time.monotonic() >= ready_at, 10, what="the clock", interval=0.01)
    assert 0.25 <= waited < 5
    assert processes.wait_until(lambda: True, 0.1, what="nothing") < 0.1  # a condition already true: no sleep


def test_wait_until_times_out_with_what_it_waited_for():
    start = time.monotonic()
    with pytest.raises(WorkerError, match=r"timed out after 0\.3 s waiting for the flag to appear"):
        processes.wait_until(lambda: False, 0.3, what="the flag to appear", interval=0.01)
    assert 0.3 <= time.monotonic() - start < 5


def test_wait_until_fails_at_once_when_a_process_exits_first(tmp_path):
    log = tmp_path / "child.log"
    log.write_text("starting\nfatal: no config\n")
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait(30)
    start = time.monotonic()
    with pytest.raises(WorkerError, match=r"(?s)exited with code 3 while waiting for the child to be ready.*no config"):
        processes.wait_until(lambda: False, 60, what="the child to be ready", procs=[proc], log=log)
    assert time.monotonic() - start < 5


@pytest.mark.parametrize(
    "kwargs", [{"timeout": 0}, {"timeout": -1}, {"timeout": True}, {"timeout": "1"}, {"timeout": 1, "interval": 0}]
)
def test_wait_until_rejects_bad_timeouts(kwargs):
    with pytest.raises(ValueError, match="must be a positive number of seconds"):
        processes.wait_until(lambda: True, what="x", **kwargs)


def test_wait_until_rejects_a_condition_that_is_not_callable():
    with pytest.raises(TypeError, match="condition must be a callable"):
        processes.wait_until(True, 1, what="x")
