"""helpers.multiworker_config: TrainConfig rejects what a worker cannot run; the launcher ↔ worker contract."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from helpers.errors import WorkerError
from helpers.multiworker_config import (
    ROUTES,
    TrainConfig,
    cluster_position,
    format_loss,
    parse_pause,
)


@pytest.mark.parametrize("text", ["2", "a:b", "2:3:4", "0:1", "1:0", ""])
def test_parse_pause_rejects_bad_text(text):
    with pytest.raises(WorkerError, match="pause"):
        parse_pause(text)


def test_parse_pause_ok():
    assert parse_pause("2:3") == (2, 3) and parse_pause(None) is None


def test_train_config_defaults_and_path(tmp_path):
    config = TrainConfig("ctl", str(tmp_path))
    assert config.workdir == tmp_path and isinstance(config.workdir, Path)
    assert (config.epochs, config.steps_per_epoch, config.save, config.pause) == (3, 5, "all", None)
    assert (config.task, config.num_workers) == (0, 1)


def test_train_config_is_frozen(tmp_path):
    config = TrainConfig("ctl", tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 10  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(route="fit"), "route must be one of"),
        (dict(save="some"), "save must be one of"),
        (dict(workdir=None), "workdir must be a path"),
        (dict(epochs=0), "epochs must be a positive integer"),
        (dict(epochs=2.0), "epochs must be a positive integer"),
        (dict(steps_per_epoch=True), "steps_per_epoch must be a positive integer"),
        (dict(num_workers=0), "num_workers must be a positive integer"),
        (dict(task=2, num_workers=2), r"task must be an index in \[0, 2\)"),
        (dict(task=-1, num_workers=2), r"task must be an index in \[0, 2\)"),
        (dict(pause=(3, 1), epochs=2), "outside 2 epochs"),
        (dict(pause=(1, 6)), "outside 3 epochs of 5 steps"),
        (dict(pause=(0, 1)), "pause must be \\(epoch, step\\)"),
        (dict(pause="2:2"), "pause must be \\(epoch, step\\)"),
        (dict(pause=(1, 1), pause_task=2, num_workers=2), "pause_task must be one of the 2 workers"),
    ],
)
def test_train_config_rejects_bad_values(tmp_path, kwargs, match):
    values = dict(route="ctl", workdir=tmp_path, num_workers=2) | kwargs
    with pytest.raises(WorkerError, match=match):
        TrainConfig(**values)


def test_replace_validates_again(tmp_path):
    config = TrainConfig("ctl", tmp_path, num_workers=2)
    with pytest.raises(WorkerError, match="task must be an index"):
        dataclasses.replace(config, task=5)


def test_to_argv_gives_the_options_in_a_fixed_order(tmp_path):
    config = TrainConfig("tf-keras", tmp_path, epochs=2, steps_per_epoch=4, save="chief", num_workers=2)
    argv = ["--route", "tf-keras", "--workdir", str(tmp_path), "--epochs", "2", "--steps-per-epoch", "4"]
    assert config.to_argv() == [*argv, "--save", "chief"]
    paused = dataclasses.replace(config, pause=(2, 3), pause_task=0)
    assert paused.to_argv()[-4:] == ["--pause-at", "2:3", "--pause-task", "0"]


def test_cluster_position():
    raw = json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}})
    assert cluster_position(raw) == (1, 2)
    with pytest.raises(WorkerError, match="TF_CONFIG is not set.*helpers.multiworker.tf_config"):
        cluster_position(None)
    with pytest.raises(WorkerError, match="TF_CONFIG must hold cluster.worker and task.index"):
        cluster_position('{"cluster": {}}')


def test_losses_are_printed_after_approx():
    assert format_loss(2.0812345, 2) == "≈2.08" and format_loss(1.9123449, 4) == "≈1.9123"


def test_routes():
    assert ROUTES == ("keras3-fit", "ctl", "tf-keras")
