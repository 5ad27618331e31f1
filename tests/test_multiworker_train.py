"""helpers.multiworker_train (the worker program): a misconfigured worker says why and exits 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.multiworker_config import ROUTES

ROOT = Path(__file__).resolve().parent.parent


def test_every_route_has_a_training_function():
    from helpers.multiworker_train import ROUTE_FUNCTIONS

    assert tuple(ROUTE_FUNCTIONS) == ROUTES


def _run_cli(args, env_extra, cwd):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "helpers.multiworker_train", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )


@pytest.mark.parametrize(
    "env, args, match",
    [
        ({}, [], "TF_CONFIG is not set"),
        ({"TF_CONFIG": "{not json"}, [], "TF_CONFIG must hold cluster.worker and task.index"),
        (
            {"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}})},
            [],
            "task.index 3 is not one of the 1 workers",
        ),
        ({}, ["--pause-at", "x"], "pause must look like EPOCH:STEP"),
    ],
)
def test_cli_errors_are_clear_and_exit_2(tmp_path, env, args, match):
    proc = _run_cli(["--route", "ctl", "--workdir", str(tmp_path), *args], env, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert match in proc.stderr


def test_cli_missing_workdir(tmp_path):
    proc = _run_cli(["--route", "ctl", "--workdir", str(tmp_path / "nope")], {}, tmp_path)
    assert proc.returncode == 2 and "is not a directory" in proc.stderr


def test_cli_pause_task_outside_the_cluster(tmp_path):
    one = json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}})
    proc = _run_cli(["--route", "ctl", "--workdir", str(tmp_path), "--pause-at", "1:1"], {"TF_CONFIG": one}, tmp_path)
    assert proc.returncode == 2 and "pause_task must be one of the 1 workers" in proc.stderr
