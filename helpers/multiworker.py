"""Multi-worker training with ``MultiWorkerMirroredStrategy``: the worker program and its launcher.

The same file is

* the **worker program**, started once per worker with its own ``TF_CONFIG``::

      TF_CONFIG='{"cluster": ..., "task": {"type": "worker", "index": 0}}' \\
          python -m helpers.multiworker --route ctl --workdir DIR --epochs 3 --steps-per-epoch 10

  Routes: ``keras3-fit`` (Keras 3 ``model.fit``; reports its error), ``ctl`` (a Keras 3 model in a
  custom training loop with ``strategy.run`` and ``tf.train.CheckpointManager`` backups) and
  ``tf-keras`` (``tf_keras`` ``fit`` with ``BackupAndRestore``).  Every worker prints stable event
  lines prefixed with ``MW|`` (epochs, global steps, losses after ``≈``) and, at the end, every worker
  saves the model: task 0 (the chief) to ``DIR/model.keras`` plus its predictions on a fixed batch
  to ``DIR/predictions.npy``, the others to temporary directories that they remove.

* the **launcher** the notebook uses: :func:`launch` starts the workers of one attempt in a
  :class:`helpers.workers.ProcessGroup` with fresh ports, :func:`wait_for_file` waits for a marker,
  :func:`events` / :func:`step_losses` read the workers' event lines back.

``--pause-at EPOCH:STEP`` makes worker ``--pause-task`` (default 1) write ``DIR/paused-task<i>``
after that step and then wait, so that a SIGKILL sent from outside lands at a known point.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ROUTES",
    "PREFIX",
    "WorkerError",
    "parse_pause",
    "worker_command",
    "launch",
    "wait_for_file",
    "events",
    "KillResult",
    "kill_and_resume",
    "step_losses",
    "run_worker",
]

ROUTES = ("keras3-fit", "ctl", "tf-keras")
SAVE_MODES = ("all", "chief", "none")
PREFIX = "MW| "
#: Marks a loss in the event lines (``step 6 loss ≈1.9123``): float32 training results whose last digits
#: depend on the CPU, like ``helpers.roundtrip.approx``; notebooks print them and nbval masks the digits.
APPROX = "≈"
#: Examples each worker process reads from MNIST (train / the fixed prediction batch).
TRAIN_EXAMPLES = 2048
PREDICT_EXAMPLES = 16
BATCH_PER_WORKER = 32
MODEL_FILE = "model.keras"
PREDICTIONS_FILE = "predictions.npy"


class WorkerError(RuntimeError):
    """A worker was misconfigured, or the workers did not reach the expected point in time."""


# --------------------------------------------------------------------------- launcher side
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


def worker_command(
    route: str,
    workdir: str | os.PathLike,
    *,
    epochs: int = 3,
    steps_per_epoch: int = 5,
    pause_at: str | None = None,
    pause_task: int = 1,
    save: str = "all",
) -> list[str]:
    """The ``python -m helpers.multiworker ...`` arguments (without the interpreter), validated."""
    if route not in ROUTES:
        raise WorkerError(f"route must be one of {ROUTES}, got {route!r}")
    if save not in SAVE_MODES:
        raise WorkerError(f"save must be one of {SAVE_MODES}, got {save!r}")
    for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise WorkerError(f"{name} must be a positive integer, got {value!r}")
    pause = parse_pause(pause_at)
    if pause is not None and (pause[0] > epochs or pause[1] > steps_per_epoch):
        raise WorkerError(f"pause {pause_at!r} is outside {epochs} epochs of {steps_per_epoch} steps")
    cmd = [
        "-m",
        "helpers.multiworker",
        "--route",
        route,
        "--workdir",
        os.fspath(workdir),
        "--epochs",
        str(epochs),
        "--steps-per-epoch",
        str(steps_per_epoch),
        "--save",
        save,
    ]
    if pause is not None:
        cmd += ["--pause-at", f"{pause[0]}:{pause[1]}", "--pause-task", str(pause_task)]
    return cmd


def launch(
    group, route: str, workdir: str | os.PathLike, num_workers: int = 2, *, attempt: int = 1, **options
) -> list[subprocess.Popen]:
    """Start ``num_workers`` workers of ``route`` in ``group`` (a ``helpers.workers.ProcessGroup``).

    Each gets ``TF_CONFIG`` for a local cluster on freshly picked ports; worker ``i`` logs to
    ``workdir/attempt<attempt>-worker<i>.log``.  ``options`` go to :func:`worker_command`.
    """
    from helpers.workers import free_ports, tf_config

    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise WorkerError(f"num_workers must be a positive integer, got {num_workers!r}")
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise WorkerError(f"workdir {workdir} does not exist: create it first (e.g. tempfile.mkdtemp())")
    cmd = worker_command(route, workdir, **options)
    ports = free_ports(num_workers)
    return [
        group.python(cmd, env={"TF_CONFIG": tf_config(ports, i)}, log=workdir / f"attempt{attempt}-worker{i}.log")
        for i in range(num_workers)
    ]


def wait_for_file(path: str | os.PathLike, timeout: float, procs: Sequence[subprocess.Popen] = ()) -> float:
    """Wait until ``path`` exists; return the seconds waited.

    Raises :class:`WorkerError` after ``timeout`` seconds, or as soon as one of ``procs`` has exited.
    """
    start = time.monotonic()
    path = Path(path)
    while not path.exists():
        exited = [p for p in procs if p.poll() is not None]
        if exited:
            raise WorkerError(f"a worker exited (code {exited[0].returncode}) before {path.name} appeared")
        if time.monotonic() - start > timeout:
            raise WorkerError(f"{path.name} did not appear within {timeout:g} s")
        time.sleep(0.05)
    return time.monotonic() - start


@dataclass
class KillResult:
    """What :func:`kill_and_resume` observed (no ports or PIDs: safe to print)."""

    killed_code: int | None  #: exit code of the killed worker (-9 = SIGKILL)
    survivor_code: int | None  #: exit code of the worker that was not killed (None = still running: a hang)
    survivor_seconds: float  #: seconds from the kill until the survivor exited
    resumed_codes: list  #: exit codes of the restarted workers
    alive_after: list  #: PIDs still running after the ``with`` block (should be empty)


def kill_and_resume(
    route: str,
    workdir: str | os.PathLike,
    *,
    epochs: int = 3,
    steps_per_epoch: int = 5,
    pause_at: str = "2:2",
    victim: int = 1,
    timeout: float = 240,
) -> KillResult:
    """Attempt 1: SIGKILL worker ``victim`` once it reports ``pause_at``; attempt 2: restart all (new ports).

    Every wait is bounded by ``timeout`` seconds and every process is reaped on the way out.
    Raises :class:`WorkerError` if the pause point is never reached.
    """
    from helpers.workers import ProcessGroup

    workdir = Path(workdir)
    opts = dict(epochs=epochs, steps_per_epoch=steps_per_epoch)
    with ProcessGroup() as group:
        first = launch(group, route, workdir, attempt=1, pause_at=pause_at, pause_task=victim, **opts)
        wait_for_file(workdir / f"paused-task{victim}", timeout, first)
        group.kill(first[victim])  # SIGKILL from outside
        start = time.monotonic()
        survivors = [p for i, p in enumerate(first) if i != victim]
        survivor_code = group.wait(timeout, survivors)[0]
        seconds = time.monotonic() - start
        killed_code = group.wait(10, [first[victim]])[0]
        second = launch(group, route, workdir, attempt=2, **opts)
        resumed = group.wait(timeout, second)
    return KillResult(killed_code, survivor_code, seconds, resumed, group.alive())


def events(log: str | os.PathLike) -> list[str]:
    """The ``MW|`` event lines of a worker's log, without the prefix."""
    text = Path(log).read_text(encoding="utf-8", errors="replace") if Path(log).exists() else ""
    return [line[len(PREFIX) :] for line in text.splitlines() if line.startswith(PREFIX)]


def step_losses(lines: Sequence[str]) -> tuple[list[int], list[float]]:
    """``(global steps, losses)`` from ``step N loss ≈X`` event lines (the ``≈`` is optional)."""
    steps, losses = [], []
    for line in lines:
        words = line.split()
        if len(words) == 4 and words[0] == "step" and words[2] == "loss":
            steps.append(int(words[1]))
            losses.append(float(words[3].removeprefix(APPROX)))
    return steps, losses


# --------------------------------------------------------------------------- worker side
def _emit(message: str) -> None:
    print(PREFIX + message, flush=True)


def _loss(value: float, digits: int) -> str:
    """``≈2.08``: a loss as the event lines show it (its last digits depend on the CPU)."""
    return f"{APPROX}{float(value):.{digits}f}"


def _task_from_env() -> tuple[int, int]:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise WorkerError(
            "TF_CONFIG is not set: each worker needs its cluster and task (see helpers.workers.tf_config)"
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


def _mnist(tf):
    """A fixed slice of MNIST as numpy arrays (every worker reads the same examples)."""
    import tensorflow_datasets as tfds

    from helpers.data import scale

    train = tfds.load("mnist", split=f"train[:{TRAIN_EXAMPLES}]", as_supervised=True).map(scale)
    x, y = next(iter(train.batch(TRAIN_EXAMPLES)))
    probe = tfds.load("mnist", split=f"test[:{PREDICT_EXAMPLES}]", as_supervised=True).map(scale)
    px, _ = next(iter(probe.batch(PREDICT_EXAMPLES)))
    return x.numpy(), y.numpy(), px.numpy()


def _pause(args, task: int, epoch: int, step_in_epoch: int) -> None:
    if args.pause is not None and task == args.pause_task and (epoch, step_in_epoch) == args.pause:
        (Path(args.workdir) / f"paused-task{task}").touch()
        _emit(f"paused after epoch {epoch} step {step_in_epoch}, waiting to be killed")
        while True:  # the launcher sends SIGKILL; nothing here would ever resume
            time.sleep(1)


def _save(model, args, task: int, probe, save_fn) -> None:
    """Every worker saves (chief → workdir/model.keras, others → a temp dir they remove)."""
    import numpy as np

    if args.save == "none":
        _emit("skipping the save")
        return
    if args.save == "chief" and task != 0:  # the anti-pattern: wait for the chief's files instead of saving
        _emit("skipping the save, waiting for the chief's model")
        while not os.path.exists(os.path.join(args.workdir, PREDICTIONS_FILE)):
            time.sleep(0.2)
        return
    if task == 0:
        save_fn(model, os.path.join(args.workdir, MODEL_FILE))
        np.save(os.path.join(args.workdir, PREDICTIONS_FILE), np.asarray(model(probe, training=False)))
        _emit("chief saved the model and its predictions")
    else:
        tmp = tempfile.mkdtemp(prefix=f"worker{task}-", dir=args.workdir)
        save_fn(model, os.path.join(tmp, MODEL_FILE))
        shutil.rmtree(tmp)
        _emit("saved to a temporary dir and removed it")


def _route_keras3_fit(tf, strategy, args, task, x, y, probe) -> int:
    import keras

    from helpers.models import get_model

    model = get_model(strategy)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH_PER_WORKER * strategy.num_replicas_in_sync).repeat()
    try:
        model.fit(ds, epochs=1, steps_per_epoch=args.steps_per_epoch, verbose=0)
    except Exception as err:  # noqa: BLE001 – we report whatever Keras raises
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        stable = first.split("(")[0].split(":")[0].strip()  # the words before any volatile repr
        _emit(f"fit failed: {type(err).__name__}: {stable} ...")
        return 3
    _emit(f"fit succeeded with Keras {keras.__version__}")
    return 0


def _route_ctl(tf, strategy, args, task, x, y, probe) -> int:
    import keras

    from helpers.models import get_model

    global_batch = BATCH_PER_WORKER * strategy.num_replicas_in_sync

    def dataset_fn(ctx):
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        return ds.batch(ctx.get_per_replica_batch_size(global_batch)).repeat()

    model = get_model(strategy)  # compiled, but only its layers and optimizer are used here
    with strategy.scope():
        optimizer = model.optimizer
        optimizer.build(model.trainable_variables)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False)  # epochs completed
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")

    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch_var)
    backup_dir = os.path.join(args.workdir, "backup")
    write_dir = backup_dir if task == 0 else os.path.join(args.workdir, f"backup-worker{task}")
    manager = tf.train.CheckpointManager(checkpoint, write_dir, max_to_keep=1)
    latest = tf.train.latest_checkpoint(backup_dir)  # everyone restores the chief's backup
    if latest:
        checkpoint.restore(latest)
        _emit(f"restored the backup: {int(epoch_var.numpy())} epoch(s) done, step {int(optimizer.iterations.numpy())}")

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

    @tf.function
    def train_step(iterator):
        def step_fn(images, labels):
            with tf.GradientTape() as tape:
                per_example = loss_fn(labels, model(images, training=True))
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss

        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(step_fn, args=next(iterator)), axis=None)

    for epoch in range(int(epoch_var.numpy()) + 1, args.epochs + 1):
        _emit(f"epoch {epoch}/{args.epochs} starts at step {int(optimizer.iterations.numpy())}")
        for step_in_epoch in range(1, args.steps_per_epoch + 1):
            loss = float(train_step(iterator))
            _emit(f"step {int(optimizer.iterations.numpy())} loss {_loss(loss, 4)}")
            _pause(args, task, epoch, step_in_epoch)
        epoch_var.assign(epoch)
        manager.save()  # every worker writes (it may run collectives); only the chief's copy is kept
        if task != 0:
            shutil.rmtree(write_dir, ignore_errors=True)
        _emit(f"epoch {epoch}/{args.epochs} done at step {int(optimizer.iterations.numpy())}, loss {_loss(loss, 2)}")
    _save(model, args, task, probe, lambda m, p: m.save(p))
    return 0


def _route_tf_keras(tf, strategy, args, task, x, y, probe) -> int:
    import tf_keras

    from helpers.models import get_model

    model = get_model(strategy, keras=tf_keras)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH_PER_WORKER * strategy.num_replicas_in_sync).repeat()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = ds.with_options(options)

    class Events(tf_keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch + 1
            self.step_in_epoch = 0
            _emit(f"epoch {self.epoch}/{args.epochs} starts at step {int(self.model.optimizer.iterations.numpy())}")

        def on_train_batch_end(self, batch, logs=None):
            self.step_in_epoch += 1
            _emit(f"step {int(self.model.optimizer.iterations.numpy())} loss {_loss(logs['loss'], 4)}")
            _pause(args, task, self.epoch, self.step_in_epoch)

        def on_epoch_end(self, epoch, logs=None):
            _emit(
                f"epoch {epoch + 1}/{args.epochs} done at step {int(self.model.optimizer.iterations.numpy())}, "
                f"loss {_loss(logs['loss'], 2)}"
            )

    backup = tf_keras.callbacks.BackupAndRestore(backup_dir=os.path.join(args.workdir, "backup"))
    model.fit(ds, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, verbose=0, callbacks=[backup, Events()])
    _save(model, args, task, probe, lambda m, p: m.save(p.removesuffix(".keras")))  # a SavedModel dir
    return 0


def run_worker(argv: Sequence[str] | None = None) -> int:
    """Entry point of one worker process; returns its exit code."""
    parser = argparse.ArgumentParser(prog="python -m helpers.multiworker", description=__doc__.split("\n")[0])
    parser.add_argument("--route", choices=ROUTES, required=True)
    parser.add_argument("--workdir", required=True, help="directory shared by all workers (backups, model)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps-per-epoch", type=int, default=5)
    parser.add_argument("--pause-at", default=None, metavar="EPOCH:STEP")
    parser.add_argument("--pause-task", type=int, default=1)
    parser.add_argument("--save", choices=SAVE_MODES, default="all")
    args = parser.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")  # the event lines contain "≈"; events() reads UTF-8
    try:
        worker_command(
            args.route,
            args.workdir,
            epochs=args.epochs,
            steps_per_epoch=args.steps_per_epoch,
            pause_at=args.pause_at,
            pause_task=args.pause_task,
            save=args.save,
        )
        args.pause = parse_pause(args.pause_at)
        if not Path(args.workdir).is_dir():
            raise WorkerError(f"--workdir {args.workdir} is not a directory")
        task, _ = _task_from_env()
    except WorkerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    import warnings

    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")  # see nbtemplate.SETUP
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    import keras

    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    x, y, probe = _mnist(tf)
    route = {"keras3-fit": _route_keras3_fit, "ctl": _route_ctl, "tf-keras": _route_tf_keras}[args.route]
    try:
        code = route(tf, strategy, args, task, x, y, probe)
    except tf.errors.OpError as err:  # e.g. a peer died in the middle of a collective
        _emit(f"training failed: {type(err).__name__}")
        raise
    _emit(f"exit {code}")
    return code


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(run_worker())
