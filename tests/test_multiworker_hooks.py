"""helpers.multiworker_hooks (the demo hooks of 07's worker scripts): event lines, and a pause that waits to be killed;
the scripts run without helpers too."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from helpers import multiworker_hooks as hooks
from helpers.multiworker_config import PAUSE_AT_ENV, PAUSED_FILE_ENV, PREFIX
from helpers.processes import ProcessGroup

ROOT = Path(__file__).resolve().parent.parent


def test_event_prints_a_prefixed_line(capsys):
    hooks.event("step 3 loss ≈2.1000")
    assert capsys.readouterr().out == f"{PREFIX}step 3 loss ≈2.1000\n"


def test_pause_point_does_nothing_unless_asked(monkeypatch, tmp_path):
    monkeypatch.delenv(PAUSE_AT_ENV, raising=False)
    hooks.pause_point(2, 2)  # returns at once
    monkeypatch.setenv(PAUSE_AT_ENV, "2:2")
    monkeypatch.setenv(PAUSED_FILE_ENV, str(tmp_path / "paused"))
    hooks.pause_point(2, 1)
    hooks.pause_point(1, 2)
    assert not (tmp_path / "paused").exists()


def test_pause_point_waits_to_be_killed(tmp_path):
    marker = tmp_path / "paused"
    env = {PAUSE_AT_ENV: "2:2", PAUSED_FILE_ENV: str(marker), "PYTHONIOENCODING": "utf-8"}
    code = "from helpers.multiworker_hooks import pause_point\npause_point(2, 2)\nprint('resumed')"
    with ProcessGroup() as group:
        proc = group.python(["-c", code], env=env, log=tmp_path / "log", cwd=ROOT)
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists() and proc.poll() is None  # paused, still running
        group.kill(proc)
        assert group.wait(10, [proc]) == [-9]
    log = (tmp_path / "log").read_text(encoding="utf-8")
    assert f"{PREFIX}paused after epoch 2 step 2, waiting to be killed" in log and "resumed" not in log


def test_the_scripts_run_without_helpers(tmp_path):
    """mnist_setup.py imports the hooks optionally: without helpers, event is print and pause_point does nothing."""
    from tests.test_multiworker import lesson_scripts

    lesson_scripts(tmp_path)
    code = (
        "import sys; sys.modules['helpers'] = None\n"  # as if helpers were not installed
        "import mnist_setup\n"
        "mnist_setup.pause_point(2, 2); print(mnist_setup.event is print)"
    )
    env = {**os.environ, PAUSE_AT_ENV: "2:2", PAUSED_FILE_ENV: str(tmp_path / "paused")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "True" and not (tmp_path / "paused").exists()
