"""helpers.preemption and notebook 10's preemption demo: the pause waits for a real SIGTERM and hands it on (bad
arguments fail clearly), and the lesson's worker script, started by helpers.multiworker.launch and sent a real SIGTERM,
saves at the next step on every worker.

The worker program is notebook 10's ``%%writefile preempt_train.py`` cell: :func:`lesson_script` writes it from the
lesson source, so the TensorFlow tests run exactly the code the notebook shows.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import multiworker, preemption
from helpers.errors import WorkerError
from helpers.multiworker_config import PAUSE_AT_ENV, PAUSED_FILE_ENV, PREFIX
from helpers.preemption import NOT_GOOGLE_CLOUD
from helpers.processes import ProcessGroup, wait_until

ROOT = Path(__file__).resolve().parent.parent
LESSON = ROOT / "lessons" / "10_preemption.py"
SCRIPT = "preempt_train.py"


def lesson_script(folder: Path, name: str = SCRIPT) -> Path:
    """Write the lesson's ``%%writefile NAME`` cell into ``folder``; return its path."""
    assert LESSON.is_file(), f"lessons/{LESSON.name} is missing: it holds the worker script ({name})"
    cells = re.split(r"^# %%(?: .*)?$\n", LESSON.read_text(encoding="utf-8"), flags=re.MULTILINE)
    for cell in cells:
        first, _, body = cell.partition("\n")
        if first == f"# %%writefile {name}":
            path = folder / name
            path.write_text(body.rstrip("\n") + "\n", encoding="utf-8")
            return path
    raise AssertionError(f"{LESSON.name} has no `%%writefile {name}` cell")


# ----------------------------------------------------------------------------- fast: the pause (no TensorFlow)
def test_sigterm_point_does_nothing_unless_asked(monkeypatch, tmp_path):
    monkeypatch.delenv(PAUSE_AT_ENV, raising=False)
    preemption.sigterm_point(2, 2)  # returns at once
    monkeypatch.setenv(PAUSE_AT_ENV, "2:2")
    monkeypatch.setenv(PAUSED_FILE_ENV, str(tmp_path / "paused"))
    preemption.sigterm_point(2, 1)
    preemption.sigterm_point(1, 2)
    assert not (tmp_path / "paused").exists()


@pytest.mark.parametrize(
    "timeout, error, match",
    [
        (0, ValueError, "timeout must be a positive number"),
        (-1, ValueError, "timeout must be a positive number"),
        (True, TypeError, "timeout must be a number of seconds"),
        ("5", TypeError, "timeout must be a number of seconds"),
    ],
)
def test_sigterm_point_rejects_a_bad_timeout(monkeypatch, tmp_path, timeout, error, match):
    monkeypatch.setenv(PAUSE_AT_ENV, "1:1")
    monkeypatch.setenv(PAUSED_FILE_ENV, str(tmp_path / "paused"))
    with pytest.raises(error, match=match):
        preemption.sigterm_point(1, 1, timeout=timeout)
    assert not (tmp_path / "paused").exists()


def test_sigterm_point_gives_up_after_its_timeout(monkeypatch, tmp_path):
    monkeypatch.setenv(PAUSE_AT_ENV, "1:3")
    monkeypatch.setenv(PAUSED_FILE_ENV, str(tmp_path / "paused"))
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(WorkerError, match="no SIGTERM within 0.2 s after epoch 1 step 3"):
        preemption.sigterm_point(1, 3, timeout=0.2)
    assert (tmp_path / "paused").exists() and signal.getsignal(signal.SIGTERM) == before  # handler put back


HANDLED = """import signal
from helpers.preemption import sigterm_point
signal.signal(signal.SIGTERM, lambda signum, frame: print("handler got", signum, flush=True))
sigterm_point(2, 2)
print("training on", flush=True)
"""


@pytest.mark.parametrize("handled", [True, False], ids=["with a handler", "default action"])
def test_sigterm_point_waits_for_a_real_sigterm(tmp_path, handled):
    """With a handler installed (as PreemptionCheckpointHandler does) the signal reaches it and the worker goes on;
    without one, SIGTERM terminates the worker as usual."""
    code = HANDLED if handled else "\n".join(line for line in HANDLED.splitlines() if "signal.signal" not in line)
    marker = tmp_path / "paused"
    env = {PAUSE_AT_ENV: "2:2", PAUSED_FILE_ENV: str(marker), "PYTHONIOENCODING": "utf-8"}
    with ProcessGroup() as group:
        proc = group.python(["-c", code], env=env, log=tmp_path / "log", cwd=ROOT)
        wait_until(marker.exists, 30, what="the pause", procs=[proc])  # paused, still running
        time.sleep(0.3)
        assert proc.poll() is None  # it waits for the signal, not for time to pass
        group.kill(proc, signal.SIGTERM)
        (code,) = group.wait(30, [proc])
    log = (tmp_path / "log").read_text(encoding="utf-8")
    assert f"{PREFIX}paused after epoch 2 step 2, waiting for SIGTERM" in log
    if handled:
        assert code == 0
        assert (
            log.index("handler got 15") < log.index("received SIGTERM after epoch 2 step 2") < log.index("training on")
        )
    else:
        assert code == -signal.SIGTERM and "training on" not in log


# ----------------------------------------------------------------------------- real: the lesson's script, real SIGTERM


HARD_TIMEOUT = 300
REPLICAS = "replicas: 1 on this worker, 2 in all; global batch 32"  # one CPU replica per worker, 16 per replica


def steps_and_notes(workdir: Path, attempt: int, worker: int) -> tuple[list[str], list[str]]:
    """(the ``step N loss ≈X`` lines, the other event lines) of one worker in one attempt."""
    lines = multiworker.events(multiworker.log_path(workdir, attempt, worker))
    return [line for line in lines if line.startswith("step ")], [
        line for line in lines if not line.startswith("step ")
    ]


def preempt(group: ProcessGroup, script: Path, workdir: Path) -> list[int | None]:
    """Attempt 1 with a real SIGTERM to worker 1 after step 7 (epoch 2, step 2); return both exit codes."""
    procs = multiworker.launch(group, script, workdir, attempt=1, pause_at="2:2")  # worker 1 pauses there
    multiworker.wait_for_file(multiworker.paused_file(workdir, 1), timeout=240, procs=procs)
    group.kill(procs[1], signal.SIGTERM)
    return group.wait(120, procs)


@pytest.mark.slow  # notebook 10 runs the same preemption under nbval in make test
def test_a_sigterm_to_one_worker_makes_every_worker_save_at_the_next_step(tmp_path, hard_timeout):
    """The reduced real test (one attempt, ~10 s alone): the notebook and the slow test add the restart."""
    script = lesson_script(tmp_path)
    with ProcessGroup() as group:
        codes = preempt(group, script, tmp_path)
        assert group.alive() == []
    assert codes == [42, 42]
    for worker in (0, 1):
        steps, notes = steps_and_notes(tmp_path, 1, worker)
        assert [int(line.split()[1]) for line in steps] == list(range(1, 9)), worker  # steps 1-8, then the save
        assert notes[:2] == [REPLICAS, "starting at step 1"] and notes[-1] == "saved after step 8, exiting with code 42"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "checkpoint",
        "ckpt-1.data-00000-of-00001",
        "ckpt-1.index",
    ]
    assert not (tmp_path / "workertemp_1").exists()  # worker 1 saved into it, then deleted it


# Slow (3 runs of 2 workers, ~40 s alone): notebook 10 runs the preemption and the restart with the same asserts.
@pytest.mark.slow
def test_the_restart_continues_exactly_where_an_uninterrupted_run_would_be(tmp_path, hard_timeout):
    """Steps 1-8 before the SIGTERM, 9-15 after the restart, and every loss equal to the uninterrupted run's
    (same machine, same computation): the restored state is the whole state, and no step is redone."""
    script = lesson_script(tmp_path)
    preempted, uninterrupted = tmp_path / "preempted", tmp_path / "uninterrupted"
    preempted.mkdir()
    uninterrupted.mkdir()
    with ProcessGroup() as group:
        assert preempt(group, script, preempted) == [42, 42]
        assert group.wait(240, multiworker.launch(group, script, preempted, attempt=2)) == [0, 0]
        assert group.wait(240, multiworker.launch(group, script, uninterrupted, attempt=1)) == [0, 0]
        assert group.alive() == []
    reference, _ = steps_and_notes(uninterrupted, 1, 0)
    assert [int(line.split()[1]) for line in reference] == list(range(1, 16))
    for worker in (0, 1):
        before, _ = steps_and_notes(preempted, 1, worker)
        after, notes = steps_and_notes(preempted, 2, worker)
        assert notes == [REPLICAS, "starting at step 9", "finished after step 15"]
        assert before + after == reference  # the same steps, once each, with the same losses


def test_the_script_runs_without_helpers(tmp_path):
    """The demo hooks are an optional import: without helpers, event is print and sigterm_point does nothing."""
    source = lesson_script(tmp_path).read_text(encoding="utf-8")
    hooks = source[source.index("try:") : source.index("EPOCHS")]
    code = f"import sys; sys.modules['helpers'] = None\n{hooks}\nsigterm_point(2, 2)\nprint(event is print)"
    env = {**os.environ, PAUSE_AT_ENV: "2:2", PAUSED_FILE_ENV: str(tmp_path / "paused")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == "True\n" and not (tmp_path / "paused").exists()


def test_the_script_itself_points_the_metadata_probe_away(tmp_path):
    """The line that makes SIGTERM the notice on every machine is on the page (issue 19), with NOT_GOOGLE_CLOUD's value
    (cluster/job.yaml's too), before the handler is created."""
    source = lesson_script(tmp_path).read_text(encoding="utf-8")
    line = f'os.environ["GCE_METADATA_IP"] = "{NOT_GOOGLE_CLOUD["GCE_METADATA_IP"]}"'
    assert set(NOT_GOOGLE_CLOUD) == {"GCE_METADATA_IP"} and line in source
    assert source.index(line) < source.index("PreemptionCheckpointHandler(")
