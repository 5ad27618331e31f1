"""helpers.multiworker (the launcher): bad inputs fail clearly (fast); kill-and-resume works for both routes (slow)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import multiworker as mw
from helpers.errors import WorkerError
from helpers.multiworker_config import PREDICTIONS_FILE, format_loss
from helpers.processes import ProcessGroup

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- fast: bad inputs
def test_tf_config():
    cfg = json.loads(mw.tf_config([1111, 2222], 1))
    assert cfg == {"cluster": {"worker": ["127.0.0.1:1111", "127.0.0.1:2222"]}, "task": {"type": "worker", "index": 1}}
    with pytest.raises(ValueError):
        mw.tf_config([1111], 1)
    with pytest.raises(ValueError):
        mw.tf_config([], 0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(route="fit"), "route must be one of"),
        (dict(route="ctl", save="some"), "save must be one of"),
        (dict(route="ctl", epochs=0), "epochs must be a positive integer"),
        (dict(route="ctl", steps_per_epoch=True), "steps_per_epoch must be a positive integer"),
        (dict(route="ctl", epochs=2, pause_at="3:1"), "outside 2 epochs"),
        (dict(route="ctl", steps_per_epoch=5, pause_at="1:6"), "outside 3 epochs of 5 steps"),
    ],
)
def test_worker_command_rejects_bad_options(tmp_path, kwargs, match):
    route = kwargs.pop("route")
    with pytest.raises(WorkerError, match=match):
        mw.worker_command(route, tmp_path, **kwargs)


def test_worker_command_ok(tmp_path):
    cmd = mw.worker_command("tf-keras", tmp_path, pause_at="2:2")
    assert cmd[:2] == ["-m", "helpers.multiworker_train"] and "--pause-at" in cmd and "2:2" in cmd


def test_launch_needs_an_existing_workdir(tmp_path):
    with ProcessGroup() as group:
        with pytest.raises(WorkerError, match="does not exist"):
            mw.launch(group, "ctl", tmp_path / "missing")
        with pytest.raises(WorkerError, match="num_workers"):
            mw.launch(group, "ctl", tmp_path, num_workers=0)
        assert group.procs == []


def test_launch_rejects_a_pause_task_outside_the_cluster(tmp_path):
    with ProcessGroup() as group:
        with pytest.raises(WorkerError, match="pause_task must be one of the 2 workers"):
            mw.launch(group, "ctl", tmp_path, pause_at="1:1", pause_task=2)
        assert group.procs == []


def test_wait_for_file_times_out_and_notices_exited_workers(tmp_path):
    with pytest.raises(WorkerError, match="did not appear within 0.2 s"):
        mw.wait_for_file(tmp_path / "marker", timeout=0.2)
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(30)
    with pytest.raises(WorkerError, match="exited \\(code 0\\)"):
        mw.wait_for_file(tmp_path / "marker", timeout=30, procs=[done])


def test_events_and_step_losses(tmp_path):
    log = tmp_path / "w.log"
    log.write_text("noise\nMW| epoch 1/3 starts at step 0\nMW| step 1 loss 2.3000\nMW| step 2 loss 2.1000\n")
    lines = mw.events(log)
    assert lines[0] == "epoch 1/3 starts at step 0"
    assert mw.step_losses(lines) == ([1, 2], [2.3, 2.1])
    assert mw.events(tmp_path / "missing.log") == []


def test_losses_are_printed_after_approx_and_parsed_back(tmp_path):
    """Losses depend on the CPU in their last digits: the workers print them after "≈" (masked by nbval)."""
    assert format_loss(2.0812345, 2) == "≈2.08" and format_loss(1.9123449, 4) == "≈1.9123"
    log = tmp_path / "w.log"
    log.write_text(
        f"MW| step 6 loss {format_loss(1.9123, 4)}\nMW| epoch 2/3 done at step 10, loss ≈1.58\nMW| step 7 loss 1.5\n",
        encoding="utf-8",
    )
    lines = mw.events(log)
    assert lines[1] == "epoch 2/3 done at step 10, loss ≈1.58"
    assert mw.step_losses(lines) == ([6, 7], [1.9123, 1.5])


# ----------------------------------------------------------------------------- slow: kill and resume
@pytest.fixture
def hard_timeout():
    """Fail (instead of hanging) if a test runs longer than HARD_TIMEOUT seconds; kill_and_resume's
    ProcessGroup still reaps its workers when the exception unwinds through it."""

    def expire(signum, frame):
        raise TimeoutError(f"test exceeded its hard timeout of {HARD_TIMEOUT} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(HARD_TIMEOUT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


HARD_TIMEOUT = 420


# Slow (2 × 2 worker processes, 3 attempts): `make unit` runs it; `make test` leaves it out, because notebook 07 runs
# the same kill-and-resume for both routes, with the same asserts, in both of its nbval passes.
@pytest.mark.slow
@pytest.mark.parametrize("route", ["ctl", "tf-keras"])
def test_kill_and_resume(tmp_path, route, hard_timeout):
    os.environ.setdefault("TFDS_DATA_DIR", str(ROOT / "data" / "tensorflow_datasets"))
    result = mw.kill_and_resume(route, tmp_path, epochs=3, steps_per_epoch=5, pause_at="2:2", timeout=180)
    assert result.killed_code == -9
    assert result.survivor_code not in (None, 0) and result.survivor_seconds < 60
    assert result.resumed_codes == [0, 0]
    assert result.alive_after == []
    first = mw.events(tmp_path / "attempt1-worker0.log")
    second = mw.events(tmp_path / "attempt2-worker0.log")
    assert "training failed: UnavailableError" in first
    assert "epoch 3/3 starts at step 10" not in first
    starts = [line for line in second if line.startswith("epoch ") and "starts" in line]
    assert starts[0] == "epoch 2/3 starts at step 5", second  # resumed at the interrupted epoch, not epoch 1
    assert mw.step_losses(second)[0] == list(range(6, 16))
    assert (tmp_path / PREDICTIONS_FILE).exists()
    assert not list(tmp_path.glob("worker1-*")), "the non-chief's temporary save dir was not removed"
