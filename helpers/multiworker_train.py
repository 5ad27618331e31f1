"""The ``MultiWorkerMirroredStrategy`` worker program: one process per worker, started by :mod:`helpers.multiworker`.

Each worker runs with its own ``TF_CONFIG``::

    TF_CONFIG='{"cluster": ..., "task": {"type": "worker", "index": 0}}' \\
        python -m helpers.multiworker_train --route ctl --workdir DIR --epochs 3 --steps-per-epoch 10

Routes: ``keras3-fit`` (Keras 3 ``model.fit``; reports its error), ``ctl`` (a Keras 3 model in a
custom training loop with ``strategy.run`` and ``tf.train.CheckpointManager`` backups) and
``tf-keras`` (``tf_keras`` ``fit`` with ``BackupAndRestore``).  Every worker prints stable event
lines prefixed with ``MW|`` (epochs, global steps, losses after ``≈``) and, at the end, every worker
saves the model: task 0 (the chief) to ``DIR/model.keras`` plus its predictions on a fixed batch
to ``DIR/predictions.npy``, the others to temporary directories that they remove.

``--pause-at EPOCH:STEP`` makes worker ``--pause-task`` (default 1) write ``DIR/paused-task<i>``
after that step and then wait, so that a SIGKILL sent from outside lands at a known point.

A misconfigured worker (bad options, no or bad ``TF_CONFIG``) prints ``error: ...`` and exits 2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from helpers.errors import WorkerError
from helpers.multiworker_config import (
    MODEL_FILE,
    PREDICTIONS_FILE,
    PREFIX,
    ROUTES,
    SAVE_MODES,
    WORKER_MODULE,
    TrainConfig,
    cluster_position,
    format_loss,
    parse_pause,
)

__all__ = ["ROUTE_FUNCTIONS", "WorkerData", "load_worker_data", "main"]

#: Examples each worker process reads from MNIST (train / the fixed prediction batch).
TRAIN_EXAMPLES = 2048
PREDICT_EXAMPLES = 16
BATCH_PER_WORKER = 32


# --------------------------------------------------------------------------- what every route shares
class WorkerData(NamedTuple):
    """The same slice of MNIST on every worker: training images and labels, and a fixed batch to predict."""

    x: np.ndarray  #: float32 images, (TRAIN_EXAMPLES, 28, 28, 1)
    y: np.ndarray  #: their labels
    probe: np.ndarray  #: the chief predicts these after training (saved as PREDICTIONS_FILE)


def load_worker_data() -> WorkerData:
    """A fixed slice of MNIST as numpy arrays (every worker reads the same examples)."""
    import tensorflow_datasets as tfds

    from helpers.data import scale

    train = tfds.load("mnist", split=f"train[:{TRAIN_EXAMPLES}]", as_supervised=True).map(scale)
    x, y = next(iter(train.batch(TRAIN_EXAMPLES)))
    probe = tfds.load("mnist", split=f"test[:{PREDICT_EXAMPLES}]", as_supervised=True).map(scale)
    px, _ = next(iter(probe.batch(PREDICT_EXAMPLES)))
    return WorkerData(x.numpy(), y.numpy(), px.numpy())


def _emit(message: str) -> None:
    print(PREFIX + message, flush=True)


def _pause(config: TrainConfig, epoch: int, step_in_epoch: int) -> None:
    if config.pause is not None and config.task == config.pause_task and (epoch, step_in_epoch) == config.pause:
        (config.workdir / f"paused-task{config.task}").touch()
        _emit(f"paused after epoch {epoch} step {step_in_epoch}, waiting to be killed")
        while True:  # the launcher sends SIGKILL; nothing here would ever resume
            time.sleep(1)


def _save(model, config: TrainConfig, probe, save_fn: Callable[[object, str], None]) -> None:
    """Every worker saves (chief → workdir/model.keras, others → a temp dir they remove)."""
    workdir = os.fspath(config.workdir)
    if config.save == "none":
        _emit("skipping the save")
        return
    if config.save == "chief" and config.task != 0:  # the anti-pattern: wait for the chief's files instead of saving
        _emit("skipping the save, waiting for the chief's model")
        while not os.path.exists(os.path.join(workdir, PREDICTIONS_FILE)):
            time.sleep(0.2)
        return
    if config.task == 0:
        save_fn(model, os.path.join(workdir, MODEL_FILE))
        np.save(os.path.join(workdir, PREDICTIONS_FILE), np.asarray(model(probe, training=False)))
        _emit("chief saved the model and its predictions")
    else:
        tmp = tempfile.mkdtemp(prefix=f"worker{config.task}-", dir=workdir)
        save_fn(model, os.path.join(tmp, MODEL_FILE))
        shutil.rmtree(tmp)
        _emit("saved to a temporary dir and removed it")


# --------------------------------------------------------------------------- the routes
def _route_keras3_fit(config: TrainConfig, strategy, data: WorkerData) -> int:
    import keras
    import tensorflow as tf

    from helpers.models import get_model

    model = get_model(strategy)
    ds = tf.data.Dataset.from_tensor_slices((data.x, data.y))
    ds = ds.batch(BATCH_PER_WORKER * strategy.num_replicas_in_sync).repeat()
    try:
        model.fit(ds, epochs=1, steps_per_epoch=config.steps_per_epoch, verbose=0)
    except Exception as err:  # noqa: BLE001 – we report whatever Keras raises
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        stable = first.split("(")[0].split(":")[0].strip()  # the words before any volatile repr
        _emit(f"fit failed: {type(err).__name__}: {stable} ...")
        return 3
    _emit(f"fit succeeded with Keras {keras.__version__}")
    return 0


def _route_ctl(config: TrainConfig, strategy, data: WorkerData) -> int:
    import keras
    import tensorflow as tf

    from helpers.models import get_model

    global_batch = BATCH_PER_WORKER * strategy.num_replicas_in_sync
    task, epochs, workdir = config.task, config.epochs, os.fspath(config.workdir)

    def dataset_fn(ctx):
        ds = tf.data.Dataset.from_tensor_slices((data.x, data.y)).shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        return ds.batch(ctx.get_per_replica_batch_size(global_batch)).repeat()

    model = get_model(strategy)  # compiled, but only its layers and optimizer are used here
    with strategy.scope():
        optimizer = model.optimizer
        optimizer.build(model.trainable_variables)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False)  # epochs completed
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")

    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch_var)
    backup_dir = os.path.join(workdir, "backup")
    write_dir = backup_dir if task == 0 else os.path.join(workdir, f"backup-worker{task}")
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

    for epoch in range(int(epoch_var.numpy()) + 1, epochs + 1):
        _emit(f"epoch {epoch}/{epochs} starts at step {int(optimizer.iterations.numpy())}")
        for step_in_epoch in range(1, config.steps_per_epoch + 1):
            loss = float(train_step(iterator))
            _emit(f"step {int(optimizer.iterations.numpy())} loss {format_loss(loss, 4)}")
            _pause(config, epoch, step_in_epoch)
        epoch_var.assign(epoch)
        manager.save()  # every worker writes (it may run collectives); only the chief's copy is kept
        if task != 0:
            shutil.rmtree(write_dir, ignore_errors=True)
        _emit(f"epoch {epoch}/{epochs} done at step {int(optimizer.iterations.numpy())}, loss {format_loss(loss, 2)}")
    _save(model, config, data.probe, lambda m, p: m.save(p))
    return 0


def _route_tf_keras(config: TrainConfig, strategy, data: WorkerData) -> int:
    import tensorflow as tf
    import tf_keras

    from helpers.models import get_model

    model = get_model(strategy, keras=tf_keras)
    ds = tf.data.Dataset.from_tensor_slices((data.x, data.y))
    ds = ds.batch(BATCH_PER_WORKER * strategy.num_replicas_in_sync).repeat()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = ds.with_options(options)
    epochs = config.epochs

    class Events(tf_keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch + 1
            self.step_in_epoch = 0
            _emit(f"epoch {self.epoch}/{epochs} starts at step {int(self.model.optimizer.iterations.numpy())}")

        def on_train_batch_end(self, batch, logs=None):
            self.step_in_epoch += 1
            _emit(f"step {int(self.model.optimizer.iterations.numpy())} loss {format_loss(logs['loss'], 4)}")
            _pause(config, self.epoch, self.step_in_epoch)

        def on_epoch_end(self, epoch, logs=None):
            _emit(
                f"epoch {epoch + 1}/{epochs} done at step {int(self.model.optimizer.iterations.numpy())}, "
                f"loss {format_loss(logs['loss'], 2)}"
            )

    backup = tf_keras.callbacks.BackupAndRestore(backup_dir=os.path.join(os.fspath(config.workdir), "backup"))
    model.fit(ds, epochs=epochs, steps_per_epoch=config.steps_per_epoch, verbose=0, callbacks=[backup, Events()])
    _save(model, config, data.probe, lambda m, p: m.save(p.removesuffix(".keras")))  # a SavedModel dir
    return 0


Route = Callable[[TrainConfig, object, WorkerData], int]
#: The training function of each of :data:`ROUTES`.
ROUTE_FUNCTIONS: dict[str, Route] = {"keras3-fit": _route_keras3_fit, "ctl": _route_ctl, "tf-keras": _route_tf_keras}


# --------------------------------------------------------------------------- entry point
def _config_from_command_line(argv: Sequence[str] | None) -> TrainConfig:
    parser = argparse.ArgumentParser(prog=f"python -m {WORKER_MODULE}", description=__doc__.split("\n")[0])
    parser.add_argument("--route", choices=ROUTES, required=True)
    parser.add_argument("--workdir", required=True, help="directory shared by all workers (backups, model)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps-per-epoch", type=int, default=5)
    parser.add_argument("--pause-at", default=None, metavar="EPOCH:STEP")
    parser.add_argument("--pause-task", type=int, default=1)
    parser.add_argument("--save", choices=SAVE_MODES, default="all")
    args = parser.parse_args(argv)
    pause = parse_pause(args.pause_at)
    options = TrainConfig(
        args.route, Path(args.workdir), epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, save=args.save
    )
    if not options.workdir.is_dir():
        raise WorkerError(f"--workdir {args.workdir} is not a directory")
    task, num_workers = cluster_position(os.environ.get("TF_CONFIG"))
    return replace(options, pause=pause, pause_task=args.pause_task, task=task, num_workers=num_workers)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of one worker process; returns its exit code (2: misconfigured, see stderr)."""
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")  # the event lines contain "≈"; multiworker.events() reads UTF-8
    try:
        config = _config_from_command_line(argv)
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
    data = load_worker_data()
    try:
        code = ROUTE_FUNCTIONS[config.route](config, strategy, data)
    except tf.errors.OpError as err:  # e.g. a peer died in the middle of a collective
        _emit(f"training failed: {type(err).__name__}")
        raise
    _emit(f"exit {code}")
    return code


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
