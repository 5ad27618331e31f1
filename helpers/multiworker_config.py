"""What a ``MultiWorkerMirroredStrategy`` worker is asked to do: :class:`TrainConfig`, and the contract
between the launcher (:mod:`helpers.multiworker`) and the worker program (:mod:`helpers.multiworker_train`).

The contract: the worker's command line (:meth:`TrainConfig.to_argv`), its place in the cluster
(``TF_CONFIG``, :func:`cluster_position`), the event lines it prints (:data:`PREFIX`, losses after
:data:`APPROX`, :func:`format_loss`) and the files it writes (:data:`MODEL_FILE`, :data:`PREDICTIONS_FILE`).
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from helpers.errors import WorkerError

__all__ = [
    "WORKER_MODULE",
    "ROUTES",
    "SAVE_MODES",
    "PREFIX",
    "APPROX",
    "MODEL_FILE",
    "PREDICTIONS_FILE",
    "TrainConfig",
    "parse_pause",
    "cluster_position",
    "format_loss",
]

WORKER_MODULE = "helpers.multiworker_train"  #: ``python -m WORKER_MODULE ...`` runs one worker
ROUTES = ("keras3-fit", "ctl", "tf-keras")
SAVE_MODES = ("all", "chief", "none")
PREFIX = "MW| "
#: Marks a loss in the event lines (``step 6 loss ≈1.9123``): float32 training results whose last digits
#: depend on the CPU, like ``helpers.roundtrip.approx``; notebooks print them and nbval masks the digits.
APPROX = "≈"
MODEL_FILE = "model.keras"
PREDICTIONS_FILE = "predictions.npy"


# --------------------------------------------------------------------------- configuration
def parse_pause(text: str | None) -> tuple[int, int] | None:
    """``"2:3"`` → ``(2, 3)``: pause after step 3 of epoch 2 (1-based). ``None`` → no pause."""
    if text is None:
        return None
    try:
        epoch, step = (int(part) for part in str(text).split(":"))
    except ValueError:
        raise WorkerError(f"pause must look like EPOCH:STEP, e.g. '2:3', got {text!r}") from None
    if epoch < 1 or step < 1:
        raise WorkerError(f"pause epoch and step are 1-based, got {text!r}")
    return epoch, step


def _is_count(value: object, minimum: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= minimum


@dataclass(frozen=True)
class TrainConfig:
    """What one worker trains, and where it stands in the cluster; validated on creation.

    Attributes:
        route: one of :data:`ROUTES`.
        workdir: the directory every worker shares (backups, the chief's model and predictions).
        epochs, steps_per_epoch: how long to train (positive integers).
        save: one of :data:`SAVE_MODES`: ``all`` (every worker saves), ``chief`` (only task 0: it blocks),
            ``none``.
        pause: ``(epoch, step)`` (1-based) after which task ``pause_task`` stops and waits to be killed, or ``None``.
        pause_task: the task that pauses.
        task: this worker's index in ``TF_CONFIG`` (0 = the chief).
        num_workers: how many workers ``TF_CONFIG`` lists.

    The launcher fills in the options and ``num_workers``; each worker then sets ``task`` and ``num_workers``
    from its ``TF_CONFIG`` (:func:`cluster_position`).  :meth:`to_argv` gives the options as the worker's
    command line (``TF_CONFIG`` carries the rest).

    Raises:
        WorkerError: a value the worker program cannot run; the message names the field.
    """

    route: str
    workdir: Path
    epochs: int = 3
    steps_per_epoch: int = 5
    save: str = "all"
    pause: tuple[int, int] | None = None
    pause_task: int = 1
    task: int = 0
    num_workers: int = 1

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise WorkerError(f"route must be one of {ROUTES}, got {self.route!r}")
        if self.save not in SAVE_MODES:
            raise WorkerError(f"save must be one of {SAVE_MODES}, got {self.save!r}")
        if not isinstance(self.workdir, (str, os.PathLike)):
            raise WorkerError(f"workdir must be a path, got {self.workdir!r}")
        object.__setattr__(self, "workdir", Path(self.workdir))
        for name in ("epochs", "steps_per_epoch", "num_workers"):
            if not _is_count(getattr(self, name), 1):
                raise WorkerError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not _is_count(self.task, 0) or self.task >= self.num_workers:
            raise WorkerError(f"task must be an index in [0, {self.num_workers}), got {self.task!r}")
        if self.pause is not None:
            self._check_pause()

    def _check_pause(self) -> None:
        pause = self.pause
        if not (isinstance(pause, tuple) and len(pause) == 2 and all(_is_count(p, 1) for p in pause)):
            raise WorkerError(f"pause must be (epoch, step), both 1-based, or None; got {pause!r}")
        if pause[0] > self.epochs or pause[1] > self.steps_per_epoch:
            raise WorkerError(
                f"pause '{pause[0]}:{pause[1]}' is outside {self.epochs} epochs of {self.steps_per_epoch} steps"
            )
        if not _is_count(self.pause_task, 0) or self.pause_task >= self.num_workers:
            raise WorkerError(
                f"pause_task must be one of the {self.num_workers} workers (0..{self.num_workers - 1}), "
                f"got {self.pause_task!r}"
            )

    def to_argv(self) -> list[str]:
        """The options of ``python -m helpers.multiworker_train`` that give this config (all but the task)."""
        argv = ["--route", self.route, "--workdir", os.fspath(self.workdir), "--epochs", str(self.epochs)]
        argv += ["--steps-per-epoch", str(self.steps_per_epoch), "--save", self.save]
        if self.pause is not None:
            argv += ["--pause-at", f"{self.pause[0]}:{self.pause[1]}", "--pause-task", str(self.pause_task)]
        return argv


def cluster_position(raw: str | None) -> tuple[int, int]:
    """``(task index, number of workers)`` from a ``TF_CONFIG`` JSON string (``None``: not set)."""
    if not raw:
        raise WorkerError(
            "TF_CONFIG is not set: each worker needs its cluster and task (see helpers.multiworker.tf_config)"
        )
    try:
        config = json.loads(raw)
        workers = config["cluster"]["worker"]
        index = int(config["task"]["index"])
    except (ValueError, KeyError, TypeError) as err:
        raise WorkerError(f"TF_CONFIG must hold cluster.worker and task.index, got {raw!r}") from err
    if not 0 <= index < len(workers):
        raise WorkerError(f"TF_CONFIG task.index {index} is not one of the {len(workers)} workers")
    return index, len(workers)


def format_loss(value: float, digits: int) -> str:
    """``≈2.08``: a loss as the event lines show it (its last digits depend on the CPU)."""
    return f"{APPROX}{float(value):.{digits}f}"
