import json
import time

import pytest

from helpers import workers


def test_free_ports_are_distinct():
    ports = workers.free_ports(3)
    assert len(set(ports)) == 3 and all(1024 < p < 65536 for p in ports)
    with pytest.raises(ValueError):
        workers.free_ports(0)


def test_tf_config():
    cfg = json.loads(workers.tf_config([1111, 2222], 1))
    assert cfg == {"cluster": {"worker": ["127.0.0.1:1111", "127.0.0.1:2222"]}, "task": {"type": "worker", "index": 1}}
    with pytest.raises(ValueError):
        workers.tf_config([1111], 1)
    with pytest.raises(ValueError):
        workers.tf_config([], 0)


def test_process_group_stops_everything_even_on_error(tmp_path):
    log = tmp_path / "sleeper.log"
    with pytest.raises(RuntimeError):
        with workers.ProcessGroup(grace=2) as group:
            proc = group.python(["-c", "import time; print('up', flush=True); time.sleep(600)"], log=log)
            deadline = time.monotonic() + 30
            while "up" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert group.alive() == [proc.pid]
            raise RuntimeError("a failing cell")
    assert proc.poll() is not None and group.alive() == []
    assert workers.read_log(log).strip() == "up"


def test_wait_returns_none_for_processes_still_running():
    with workers.ProcessGroup(grace=2) as group:
        fast = group.python(["-c", "pass"])
        slow = group.python(["-c", "import time; time.sleep(600)"])
        codes = group.wait(timeout=20, procs=[fast])
        assert codes == [0]
        assert group.wait(timeout=0.5, procs=[slow]) == [None]
    assert slow.poll() is not None


def test_start_rejects_an_empty_command():
    with workers.ProcessGroup() as group:
        with pytest.raises(ValueError):
            group.start([])


def test_a_command_that_cannot_start_leaves_nothing_open(tmp_path):
    with workers.ProcessGroup() as group:
        with pytest.raises(FileNotFoundError):
            group.start([str(tmp_path / "no-such-program")], log=tmp_path / "x.log")
        assert group.procs == [] and group._logs == []
