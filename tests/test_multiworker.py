"""helpers.multiworker (the launcher of 07 and 10): bad arguments fail clearly (fast); kill-and-resume works (slow).

The worker programs are notebook 07's scripts: :func:`lesson_scripts` writes them from the lesson's ``%%writefile``
cells, so the slow tests run exactly the code the notebook shows.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import multiworker as mw
from helpers.errors import WorkerError
from helpers.multiworker_config import APPROX, PAUSE_AT_ENV, PAUSED_FILE_ENV
from helpers.processes import ProcessGroup

ROOT = Path(__file__).resolve().parent.parent
LESSON = ROOT / "lessons" / "07_multi_worker.py"


def lesson_scripts(folder: Path) -> dict[str, Path]:
    """Write the scripts of notebook 07's ``%%writefile NAME`` cells into ``folder``; return them by name."""
    cells = re.split(r"^# %%(?: .*)?$\n", LESSON.read_text(encoding="utf-8"), flags=re.MULTILINE)
    scripts = {}
    for cell in cells:
        first, _, body = cell.partition("\n")
        if first.startswith("# %%writefile "):
            name = first.removeprefix("# %%writefile ").strip()
            scripts[name] = folder / name
            scripts[name].write_text(body.rstrip("\n") + "\n", encoding="utf-8")
    return scripts


# ----------------------------------------------------------------------------- fast: the lesson's scripts
def test_the_lesson_writes_every_script_it_launches(tmp_path):
    scripts = lesson_scripts(tmp_path)
    assert set(scripts) == {"mnist_setup.py", "keras3_fit.py", "ctl.py", "tf_keras_fit.py", "chief_only_save.py"}
    # started by the launcher, or by hand on the page (subprocess.Popen with TF_CONFIG)
    launched = set(
        re.findall(
            r"(?:launch\(group, |kill_and_resume\(|Popen\(\[sys\.executable, )\"(\w+\.py)\"",
            LESSON.read_text("utf-8"),
        )
    )
    assert launched == set(scripts) - {"mnist_setup.py"}
    for path in scripts.values():
        compile(path.read_text(encoding="utf-8"), str(path), "exec")  # valid Python
        imports = re.findall(r"^(?:import|from) (\w+)", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
        assert set(imports) <= {"os", "sys", "time", "shutil", "keras", "numpy", "tensorflow", "tf_keras"} | {
            "tensorflow_datasets",
            "mnist_setup",
        }, path.name
    # the demo hooks are the only use of helpers, and an optional one
    setup = scripts["mnist_setup.py"].read_text(encoding="utf-8")
    assert "from helpers.multiworker_hooks import event, pause_point\nexcept ImportError:" in setup


# ----------------------------------------------------------------------------- fast: bad inputs
def test_tf_config():
    cfg = json.loads(mw.tf_config([1111, 2222], 1))
    assert cfg == {"cluster": {"worker": ["127.0.0.1:1111", "127.0.0.1:2222"]}, "task": {"type": "worker", "index": 1}}
    with pytest.raises(ValueError):
        mw.tf_config([1111], 1)
    with pytest.raises(ValueError):
        mw.tf_config([], 0)


FAKE_WORKER = """import json, os, sys
env = {k: v for k, v in os.environ.items() if k == "TF_CONFIG" or k.startswith("MW_")}
print(json.dumps({"env": env, "argv": sys.argv}))
"""


@pytest.fixture
def script(tmp_path):
    """A worker script without TensorFlow: it prints what the launcher gave it."""
    path = tmp_path / "worker.py"
    path.write_text(FAKE_WORKER)
    return path


@pytest.mark.parametrize(
    "script_name, workdir_name, match",
    [
        ("missing.py", ".", "script missing.py is not a Python file"),
        ("notes.txt", ".", "script notes.txt is not a Python file"),
        ("worker.py", "missing", "does not exist"),
    ],
)
def test_worker_command_rejects_bad_paths(tmp_path, script, script_name, workdir_name, match):
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ValueError, match=match):
        mw.worker_command(tmp_path / script_name, tmp_path / workdir_name)


def test_worker_command_ok(tmp_path, script, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert mw.worker_command("worker.py", ".") == [str(script.resolve()), str(tmp_path.resolve())]


@pytest.mark.parametrize(
    "options, error, match",
    [
        (dict(num_workers=0), ValueError, "num_workers must be at least 1"),
        (dict(num_workers=True), TypeError, "num_workers must be an integer"),
        (dict(attempt=0), ValueError, "attempt must be at least 1"),
        (dict(attempt="1"), TypeError, "attempt must be an integer"),
        (dict(pause_at="1:1", pause_task=2), ValueError, "pause_task must be one of the 2 workers"),
        (dict(pause_at="1:1", pause_task=True), TypeError, "pause_task must be a worker index"),
        (dict(pause_at="x"), ValueError, "pause must look like EPOCH:STEP"),
        (dict(pause_at="0:1"), ValueError, "1-based"),
        (dict(pause_at=(2, 2)), TypeError, "pause must be a string"),
    ],
)
def test_launch_rejects_bad_arguments_and_starts_nothing(tmp_path, script, options, error, match):
    """Bad arguments are a ValueError (bad value) or TypeError (wrong type), never a WorkerError."""
    with ProcessGroup() as group:
        with pytest.raises(error, match=match) as raised:
            mw.launch(group, script, tmp_path, **options)
        assert not isinstance(raised.value, WorkerError)
        with pytest.raises(ValueError, match="does not exist"):
            mw.launch(group, script, tmp_path / "missing")
        with pytest.raises(ValueError, match="is not a Python file"):
            mw.launch(group, tmp_path / "missing.py", tmp_path)
        assert group.procs == []


def test_launch_gives_each_worker_its_tf_config_and_only_the_paused_one_the_pause(tmp_path, script):
    with ProcessGroup() as group:
        mw.launch(group, script, tmp_path, num_workers=3, attempt=2, pause_at="2:3", pause_task=1)
        assert group.wait(30) == [0, 0, 0]
    for i in range(3):
        seen = json.loads(mw.log_path(tmp_path, 2, i).read_text())
        assert seen["argv"] == [str(script.resolve()), str(tmp_path.resolve())]  # python SCRIPT WORKDIR
        config = json.loads(seen["env"].pop("TF_CONFIG"))
        assert config["task"] == {"type": "worker", "index": i} and len(config["cluster"]["worker"]) == 3
        paused = {PAUSE_AT_ENV: "2:3", PAUSED_FILE_ENV: str(mw.paused_file(tmp_path.resolve(), 1))}
        assert seen["env"] == (paused if i == 1 else {})


def test_wait_for_file_times_out_and_notices_exited_workers(tmp_path):
    with pytest.raises(WorkerError, match="timed out after 0.2 s waiting for marker to appear"):
        mw.wait_for_file(tmp_path / "marker", timeout=0.2)
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(30)
    with pytest.raises(WorkerError, match="exited with code 0 while waiting for marker to appear"):
        mw.wait_for_file(tmp_path / "marker", timeout=30, procs=[done])


def test_log_path():
    assert mw.log_path("shared", 2, 1) == Path("shared") / "attempt2-worker1.log"


def test_events_and_step_losses(tmp_path):
    log = tmp_path / "w.log"
    log.write_text("noise\nMW| epoch 1/3 starts at step 0\nMW| step 1 loss 2.3000\nMW| step 2 loss 2.1000\n")
    lines = mw.events(log)
    assert lines[0] == "epoch 1/3 starts at step 0"
    assert mw.step_losses(lines) == ([1, 2], [2.3, 2.1])
    assert mw.events(tmp_path / "missing.log") == []


def test_losses_are_printed_after_approx_and_parsed_back(tmp_path):
    """Losses depend on the CPU in their last digits: the scripts print them after "≈" (masked by nbval)."""
    log = tmp_path / "w.log"
    code = (
        "from helpers.multiworker_hooks import event\nevent(f'step 6 loss ≈{1.9123449:.4f}')\nevent('step 7 loss 1.5')"
    )
    with open(log, "w") as out:
        subprocess.run(
            [sys.executable, "-c", code],
            stdout=out,
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
            check=True,
            cwd=ROOT,
        )
    lines = mw.events(log)
    assert lines[0] == f"step 6 loss {APPROX}1.9123"
    assert mw.step_losses(lines) == ([6, 7], [1.9123, 1.5])


# ----------------------------------------------------------------------------- slow: kill and resume
# the hard_timeout fixture (tests/conftest.py) reads this; kill_and_resume's ProcessGroup still reaps its workers
HARD_TIMEOUT = 420


# Slow (2 × 2 worker processes, 3 attempts): `make unit` runs it; `make test` leaves it out, because notebook 07 runs
# the same kill-and-resume for both routes, with the same asserts, in both of its nbval passes.
@pytest.mark.slow
@pytest.mark.parametrize("script", ["ctl.py", "tf_keras_fit.py"])
def test_kill_and_resume(tmp_path, script, hard_timeout):
    os.environ.setdefault("TFDS_DATA_DIR", str(ROOT / "data" / "tensorflow_datasets"))
    scripts = lesson_scripts(tmp_path)
    workdir = tmp_path / "shared"
    workdir.mkdir()
    result = mw.kill_and_resume(scripts[script], workdir, pause_at="2:2", timeout=180)
    assert result.killed_code == -9
    assert result.survivor_code not in (None, 0) and result.survivor_seconds < 60
    assert result.resumed_codes == [0, 0]
    assert result.alive_after == []
    first = mw.events(mw.log_path(workdir, 1, 0))
    second = mw.events(mw.log_path(workdir, 2, 0))
    assert "epoch 3/3 starts at step 10" not in first
    starts = [line for line in second if line.startswith("epoch ") and "starts" in line]
    assert starts[0] == "epoch 2/3 starts at step 5", second  # resumed at the interrupted epoch, not epoch 1
    assert mw.step_losses(second)[0] == list(range(6, 16))
    assert all(f"loss {APPROX}" in line for line in second if line.startswith("step "))
    assert (workdir / "predictions.npy").exists()
    assert not list(workdir.glob("workertemp_*")), "the non-chief's temporary save dir was not removed"
    assert any(line.startswith("saved workertemp_1/") for line in mw.events(mw.log_path(workdir, 2, 1)))
