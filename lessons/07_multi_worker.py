# %% [markdown]
# # 07 · Multi-worker: `MultiWorkerMirroredStrategy`, saving, and surviving a killed worker
#
# Two worker processes on this machine, tied together by `TF_CONFIG`: how they train and save together, and how they
# resume after one dies.
#
# **This notebook answers:** How do several workers save one model together, and how does training resume after a worker dies?
#
# <table align="left">
#   <td><a target="_blank" href="https://colab.research.google.com/github/tf-distribute-notebooks/save-and-load/blob/main/notebooks/07_multi_worker.ipynb"><img src="https://www.tensorflow.org/images/colab_logo_32px.png" />Run in Google Colab</a></td>
#   <td><a target="_blank" href="https://github.com/tf-distribute-notebooks/save-and-load/blob/main/notebooks/07_multi_worker.ipynb"><img src="https://www.tensorflow.org/images/GitHub-Mark-32px.png" />View source on GitHub</a></td>
# </table>
# <br clear="all">
#
# **What you'll learn**
#
# - what `TF_CONFIG` is, and how to start 2 local workers with it through `subprocess`
# - Keras 3 `model.fit` under `MultiWorkerMirroredStrategy` fails today ([keras-team/keras#20585](https://github.com/keras-team/keras/issues/20585))
# - route A: a Keras 3 model in a custom training loop with `tf.train.CheckpointManager` backups; route B, in short: `tf_keras` `fit` with `BackupAndRestore`
# - why every worker saves, and loading the result without a strategy or under `MirroredStrategy`
# - killing a worker mid-epoch: the survivor exits instead of hanging, and a restart resumes at the interrupted epoch
# - what changes on a real cluster
#
# **Expected run time:** about 65 s on a 2-core CPU, no GPU needed.

# %% [markdown]
# ## Setup
#
# On Colab the next cell installs this collection's small `helpers` package (and the Keras 2 package `tf_keras`);
# locally, `make lab` / `make run` have already installed the pinned stack from `requirements.txt`, so it installs nothing.
# It does not upgrade TensorFlow: the notebooks run on the TensorFlow your runtime has (see the compatibility table in
# the README). One repair comes first on some Colab images: there `tensorflow-metadata` was built for a newer
# `protobuf` than the one installed, and `import tensorflow_datasets` fails with a protobuf `VersionError`. The cell
# tries that import in a separate process and, if it fails, installs the last `tensorflow-metadata` built for the
# installed protobuf; nothing is imported in this notebook before that, so no restart is needed.
#
# A number printed after **≈** (a loss, an accuracy, the tiny gap between two ways of computing the same thing) comes
# out of float32 arithmetic whose last digits depend on your CPU, so yours may differ in those digits; the cell's
# checks test what the number means (a tolerance, a threshold, a direction).

# %%
import os
import subprocess
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF's C++ logs; must be set before TF is imported

if "google.colab" in sys.modules:
    packages = ["distsave-helpers[legacy] @ git+https://github.com/tf-distribute-notebooks/save-and-load"]
    probe = [sys.executable, "-c", "import tensorflow_metadata.proto.v0.schema_pb2"]
    if subprocess.run(probe, capture_output=True).returncode != 0:  # protobuf VersionError (tensorflow/metadata#68)
        packages.append("tensorflow-metadata<1.18")  # the last releases built for protobuf 5
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *packages], check=True)

# Keras 3.15 warns "`shuffle=True` was passed, but will be ignored" on every fit() with a tf.data.Dataset;
# our datasets are shuffled in the input pipeline, so the warning carries no information here.
warnings.filterwarnings("ignore", message="`shuffle=True` was passed")

# %% [markdown]
# ### Devices and imports
#
# The notebook's own process only *loads* models; it uses 2 logical CPUs so that it can load under `MirroredStrategy` too.
# The workers are separate processes, each with its own TensorFlow runtime.

# %%
import tensorflow as tf

from helpers import devices

replica_devices = devices.use_cpu_replicas(2).devices
print("replicas:", len(replica_devices))

# %%
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import keras
import tensorflow_datasets as tfds
import tf_keras

from helpers import data, errors, mnist_prep, multiworker, plots, processes, roundtrip
from helpers.claims import verify

tf.get_logger().setLevel("ERROR")
print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| tf_keras", tf_keras.__version__)
print("MNIST source:", mnist_prep.prepare(log=None))
test_ds = tfds.load("mnist", split="test", as_supervised=True).map(data.scale).batch(500)  # to evaluate the models

# %% [markdown]
# ## A cluster of two local processes
#
# `MultiWorkerMirroredStrategy` reads the cluster from the `TF_CONFIG` environment variable: the address of every worker
# and *which one this process is*. Worker 1 of two on this machine, on ports 20001 and 20002, reads:
#
# ```
# {"cluster": {"worker": ["127.0.0.1:20001", "127.0.0.1:20002"]}, "task": {"type": "worker", "index": 1}}
# ```
#
# Worker 0 is the **chief** ([glossary](../README.md#glossary)): besides training, it writes the checkpoints and the
# final model.
#
# The workers listen on **every network interface**, not only `127.0.0.1`: use a network you trust
# ([05 · Who can reach the worker](05_local_io_device.ipynb#who-can-reach-the-worker)).

# %% [markdown]
# ## The worker programs
#
# Each worker runs an ordinary Python script with its own `TF_CONFIG`, as in the official [multi-worker
# tutorial](https://www.tensorflow.org/tutorials/distribute/multi_worker_with_keras); on your own machines, run them
# with `TF_CONFIG='...' python ctl.py SHARED_DIR`. First, what every script shares: the data (the same 2048 MNIST
# images on every worker), the batch size, the tutorial's model, and who writes where: the chief to the real path,
# every other worker into its own temporary folder, `workertemp_<id>`. The batch size is per **replica**, one replica
# per device of a worker: `global_batch_size` multiplies it by `num_replicas_in_sync`, the replicas of all workers,
# and logs both counts.
#
# The last lines serve this notebook only: `event` prints a line starting with `MW| ` that the notebook reads back from
# the worker's log, and `pause_point` stops one worker at a known step so the notebook can kill it there.

# %%
tmp = Path(tempfile.mkdtemp(prefix="multiworker-"))
notebook_dir = Path.cwd()
os.chdir(tmp)  # the scripts are written here; every run below gets a folder of its own next to them
print("working folder is empty:", not any(tmp.iterdir()))

# %%
# %%writefile mnist_setup.py
"""What every worker script shares: the data, the model, and where each worker writes."""

import os

import tensorflow as tf
import tensorflow_datasets as tfds

PER_REPLICA_BATCH = 32  # images each replica reads per step; a worker has one replica per device (CPU: 1)
TRAIN_EXAMPLES = 2048  # a small slice of MNIST, the same on every worker


def scale(image, label):
    return tf.cast(image, tf.float32) / 255.0, label


def mnist_dataset(global_batch_size):
    """The training slice, in batches of the global batch size; every worker reads its own share of each batch."""
    ds = tfds.load("mnist", split=f"train[:{TRAIN_EXAMPLES}]", as_supervised=True).map(scale).cache()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.batch(global_batch_size).repeat().with_options(options)


def global_batch_size(strategy):
    """PER_REPLICA_BATCH × the replicas of all workers (workers × devices per worker); logs both replica counts."""
    local, total = len(strategy.extended.worker_devices), strategy.num_replicas_in_sync
    global_batch = PER_REPLICA_BATCH * total
    event(
        f"replicas: {local} on this worker, {total} in all; global batch {PER_REPLICA_BATCH} × {total} = {global_batch}"
    )
    return global_batch


def test_images(n=16):
    """The first n test images: the chief saves its predictions on them."""
    ds = tfds.load("mnist", split=f"test[:{n}]", as_supervised=True).map(scale)
    return next(iter(ds.batch(n)))[0]


def build_model(keras):
    """The tutorial's small CNN, compiled; pass the keras module (Keras 3) or tf_keras (Keras 2)."""
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.Adam(1e-3),
        metrics=["accuracy"],
    )
    return model


def is_chief(task_type, task_id):
    """Worker 0 is the chief (with a separate "chief" task in TF_CONFIG: `return task_type == "chief"`).

    task_type None: no TF_CONFIG, a single worker on its own.
    """
    return task_type is None or (task_type == "worker" and task_id == 0)


def write_path(path, task_type, task_id):
    """Where this worker writes `path`: the chief to `path` itself, the others into a temporary dir of their own."""
    if is_chief(task_type, task_id):
        return path
    dirname, basename = os.path.split(path)
    return os.path.join(dirname, f"workertemp_{task_id}", basename)


# Demo only: the notebook reads the event lines back, and pauses a worker at a known step to kill it there.
try:
    from helpers.multiworker_hooks import event, pause_point
except ImportError:  # running the scripts on your own: plain prints, no pause
    event, pause_point = print, lambda epoch, step: None

# %% [markdown]
# ## Keras 3 `model.fit` under `MultiWorkerMirroredStrategy`: the current state
#
# The simplest script builds the model under the strategy's scope and calls `fit`. Today `fit` raises a `ValueError` on
# both workers ([keras-team/keras#20585](https://github.com/keras-team/keras/issues/20585), open). The script catches
# the error, prints its type and first words, and exits with code 3; once Keras fixes the bug, it prints `fit
# succeeded`.

# %%
# %%writefile keras3_fit.py
"""Keras 3 model.fit under MultiWorkerMirroredStrategy (fails today: keras-team/keras#20585).

The strategy starts a tf.distribute.Server on every network interface: use a trusted network (notebook 05).
"""

import sys

import keras
import mnist_setup
import tensorflow as tf
from mnist_setup import event

strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
global_batch = mnist_setup.global_batch_size(strategy)

keras.utils.set_random_seed(0)
with strategy.scope():
    model = mnist_setup.build_model(keras)
try:
    model.fit(mnist_setup.mnist_dataset(global_batch), epochs=1, steps_per_epoch=5, verbose=0)
except Exception as err:
    event(f"fit failed: {type(err).__name__}: {str(err).split('(')[0].strip()} ...")  # the words before any value
    sys.exit(3)
event(f"fit succeeded with Keras {keras.__version__}")

# %% [markdown]
# ### Starting the workers by hand
#
# `subprocess.Popen` starts `python keras3_fit.py` twice, each with this environment plus its own `TF_CONFIG`, writing
# to a log file. The cell waits a bounded time, and its `finally` stops whatever still runs, even if the cell fails:
# `terminate` sends SIGTERM, which a process may catch (a `MultiWorkerMirroredStrategy` worker does and carries on:
# [the cluster notes](../docs/cluster.md#sigterm-the-grace-period-and-the-restart) say so), so after 5 s
# `kill` sends SIGKILL, which ends it at once.

# %%
fit_dir = tmp / "keras3-fit"
fit_dir.mkdir()
cluster = {"worker": [f"127.0.0.1:{port}" for port in processes.free_ports(2)]}
workers, logs = [], []
try:
    for index in range(2):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        print(f"worker {index}: task {tf_config['task']} in a cluster of {len(cluster['worker'])} workers")
        logs.append(open(fit_dir / f"attempt1-worker{index}.log", "w", encoding="utf-8"))
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "PYTHONIOENCODING": "utf-8"}
        workers.append(
            subprocess.Popen([sys.executable, "keras3_fit.py"], env=env, stdout=logs[-1], stderr=subprocess.STDOUT)
        )
    fit_codes = [worker.wait(timeout=180) for worker in workers]  # bounded: a hung worker fails the cell
finally:  # always stop them
    for worker in workers:
        worker.terminate()  # does nothing to a worker that has exited
    for worker in workers:
        try:
            worker.wait(timeout=5)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    for log in logs:
        log.close()
print("exit codes:", fit_codes)

# %%
import mnist_setup


def show(workdir, attempt, worker, steps=False):
    """Print a worker's event lines (without the per-step lines unless asked)."""
    for line in multiworker.events(multiworker.log_path(workdir, attempt, worker)):
        if steps or not line.startswith("step "):
            print(f"  attempt {attempt} worker {worker} | {line}")


fit_events = [multiworker.events(multiworker.log_path(fit_dir, 1, i)) for i in range(2)]
for i in range(2):
    show(fit_dir, 1, i)
verify(
    {
        "Keras 3 fit fails on both workers with a ValueError (keras-team/keras#20585)": fit_codes == [3, 3]
        and all(lines[-1].startswith("fit failed: ValueError: Attempt to convert a value") for lines in fit_events)
    }
)

# %% [markdown]
# From here on, `helpers.multiworker.launch(group, script, shared_dir)` does the same `Popen` and adds fresh ports, a
# log per worker and attempt (`multiworker.log_path(dir, N, i)`), a `ProcessGroup` (notebook 02) that stops the workers
# when its `with` block ends, and a pause at a known step; `kill_and_resume` packages a kill and a restart. `show`
# prints a log's event lines.

# %% [markdown]
# Two routes work without patching Keras: **A**, a Keras 3 model trained by a custom loop, and **B**, the Keras 2 package
# `tf_keras` (imported explicitly in its script; `TF_USE_LEGACY_KERAS` is never set).

# %% [markdown]
# ## Route A: Keras 3 model, custom training loop, `CheckpointManager` backups
#
# The script below trains with `strategy.run` and keeps a backup with `tf.train.CheckpointManager` at the end of every
# epoch: the model, the optimizer (with its step counter) and the number of epochs done. At start-up every worker
# restores the chief's latest backup, if there is one. `tf.nn.compute_average_loss` divides by the global batch, so the
# summed gradients are the gradient of the mean loss over the global batch. Every worker saves the backups and the final `model.keras`: the chief into the shared folder, worker
# 1 into `workertemp_1`, which it then deletes.

# %%
# %%writefile ctl.py
"""Route A: a Keras 3 model, a custom training loop, and tf.train.CheckpointManager backups.

The strategy starts a tf.distribute.Server on every network interface: use a trusted network (notebook 05).
"""

import os
import shutil
import sys

import keras
import mnist_setup
import numpy as np
import tensorflow as tf
from mnist_setup import event, pause_point

EPOCHS, STEPS_PER_EPOCH = 3, 5
workdir = sys.argv[1]  # shared by all workers: the backup, the chief's model

strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
task_type, task_id = strategy.cluster_resolver.task_type, strategy.cluster_resolver.task_id
chief = mnist_setup.is_chief(task_type, task_id)
global_batch = mnist_setup.global_batch_size(strategy)

keras.utils.set_random_seed(0)
with strategy.scope():
    model = mnist_setup.build_model(keras)
    model.optimizer.build(model.trainable_variables)
    epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False)
optimizer = model.optimizer
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")

# Backups: the chief writes to backup/, every other worker to its own temporary dir, which it deletes.
backup_dir = os.path.join(workdir, "backup")
checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epochs_done=epochs_done)
manager = tf.train.CheckpointManager(checkpoint, mnist_setup.write_path(backup_dir, task_type, task_id), max_to_keep=1)
if tf.train.latest_checkpoint(backup_dir):  # every worker restores the chief's backup
    checkpoint.restore(tf.train.latest_checkpoint(backup_dir))
    event(f"restored the backup: {int(epochs_done.numpy())} epoch(s) done, step {int(optimizer.iterations.numpy())}")

iterator = iter(strategy.experimental_distribute_dataset(mnist_setup.mnist_dataset(global_batch)))


@tf.function
def train_step(iterator):
    def step_fn(images, labels):
        with tf.GradientTape() as tape:
            per_example = loss_fn(labels, model(images, training=True))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        grads = tape.gradient(loss, model.trainable_variables)
        # the gradients are summed across all workers before they are applied
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss, tf.shape(images)[0]

    # strategy.run returns one value per local replica (a PerReplica with several devices): reduce them all
    loss, images = strategy.run(step_fn, args=next(iterator))
    images_here = tf.add_n(strategy.experimental_local_results(images))  # this worker's replicas
    return strategy.reduce("SUM", loss, axis=None), images_here, strategy.reduce("SUM", images, axis=None)


for epoch in range(int(epochs_done.numpy()) + 1, EPOCHS + 1):
    event(f"epoch {epoch}/{EPOCHS} starts at step {int(optimizer.iterations.numpy())}")
    here = everywhere = 0
    for step in range(1, STEPS_PER_EPOCH + 1):
        loss, images_here, images_everywhere = train_step(iterator)
        here, everywhere = here + int(images_here), everywhere + int(images_everywhere)
        event(f"step {int(optimizer.iterations.numpy())} loss ≈{float(loss):.4f}")
        pause_point(epoch, step)
    epochs_done.assign(epoch)
    manager.save()  # every worker saves
    if not chief:
        shutil.rmtree(os.path.dirname(manager.directory))
        event(f"wrote its backup to {os.path.relpath(manager.directory, workdir)} and removed it")
    done_at = int(optimizer.iterations.numpy())
    event(f"epoch {epoch}/{EPOCHS} done at step {done_at}: {everywhere} images, {here} on this worker")

# The final model: every worker saves, the chief to the real path, the others to a temporary dir they delete.
model_path = mnist_setup.write_path(os.path.join(workdir, "model.keras"), task_type, task_id)
os.makedirs(os.path.dirname(model_path), exist_ok=True)
model.save(model_path)
if chief:
    np.save(os.path.join(workdir, "predictions.npy"), model(mnist_setup.test_images(), training=False))
    event("saved model.keras and its predictions")
else:
    shutil.rmtree(os.path.dirname(model_path))
    event(f"saved {os.path.relpath(model_path, workdir)} and removed it")

# %% [markdown]
# To make the failure deterministic, worker 1 pauses after step 2 of epoch 2 (`pause_point`) and the notebook sends it a
# real **SIGKILL** from outside, as when a machine dies. The chief's next step needs the dead worker's share of the
# gradient **all-reduce** ([glossary](../README.md#glossary)). Then both workers
# start again (new ports), as an orchestrator (the system that restarts jobs) would.

# %%
ctl_dir = tmp / "ctl"
ctl_dir.mkdir()
with processes.ProcessGroup() as group:
    first = multiworker.launch(group, "ctl.py", ctl_dir, pause_at="2:2", attempt=1)
    multiworker.wait_for_file(multiworker.paused_file(ctl_dir, 1), timeout=240, procs=first)
    group.kill(first[1])  # SIGKILL, from outside, during epoch 2
    killed_at = time.monotonic()
    chief_code = group.wait(timeout=60, procs=first[:1])[0]
    chief_seconds = time.monotonic() - killed_at
    print("killed worker 1, exit code:", group.wait(timeout=10, procs=first[1:])[0])
    print("the chief exited by itself:", chief_code is not None, "| exit code:", chief_code)
    print("within 60 s:", chief_seconds < 60)
    second = multiworker.launch(group, "ctl.py", ctl_dir, attempt=2)  # new ports
    ctl_resume_codes = group.wait(timeout=240, procs=second)
print("restarted workers' exit codes:", ctl_resume_codes)
ctl_alive = len(group.alive())
print("processes still alive after the with block:", ctl_alive)

# %%
for attempt in (1, 2):
    show(ctl_dir, attempt, 0)
for attempt in (1, 2):
    show(ctl_dir, attempt, 1)
chief_log = multiworker.log_path(ctl_dir, 1, 0).read_text(encoding="utf-8", errors="replace")
chief_error = re.findall(r"(\w+Error): ", chief_log)[-1]  # the last line of the chief's traceback
print("the chief's attempt 1 ended with:", chief_error)
ctl_files = sorted(p.name for p in ctl_dir.iterdir() if not p.name.endswith(".log"))
print("shared folder:", ctl_files)

# %% [markdown]
# What the lines show:
#
# - **Images per step.** 32 per replica × 2 replicas (1 CPU per worker) = 64; 5 steps make 320 images per epoch, 160
#   per worker. With 4 GPUs per worker: 32 × 8 = 256 a step.
# - **The failure.** The chief's next step, which needs worker 1, failed with an `UnavailableError`; the chief exited
#   with code 1.
# - **The restart.** Attempt 2 restored the backup (1 epoch done, step 5) and started at **epoch 2**. Steps 6 and 7,
#   run before the kill, are redone: a backup at each epoch end loses at most one epoch of work.
# - **Who writes where.** Worker 1 wrote its backups and `model.keras` into `workertemp_1` and removed them; the
#   shared folder holds only the chief's files (and the marker of the pause).

# %%
ctl_curves = {
    f"attempt {a}": multiworker.step_losses(multiworker.events(multiworker.log_path(ctl_dir, a, 0))) for a in (1, 2)
}
print({label: (steps[0], steps[-1]) for label, (steps, _) in ctl_curves.items()})
plots.loss_curves(ctl_curves, title="Route A: loss per global step, across the restart")

# %% [markdown]
# The curves overlap at steps 6–7 but do not coincide: the input iterator is not part of this backup, so attempt 2 reads
# the dataset from its first batch again; only the model, the optimizer and the epoch number were restored.

# %% [markdown]
# ### Load the chief's model in this process
#
# The chief saved `model.keras` and its own predictions on the first 16 test digits. We load the file with no strategy
# and under a 2-replica `MirroredStrategy`: both loads read the same bits, so their weights are identical, and their
# predictions match the chief's up to float32 rounding (the chief computed in another process under
# `MultiWorkerMirroredStrategy`, another execution path: see [notebook 02](02_keras_save_load.ipynb)).

# %%
import numpy as np

probe = mnist_setup.test_images()
chief_ctl = np.load(ctl_dir / "predictions.npy")
plain = keras.models.load_model(ctl_dir / "model.keras")
mirrored = tf.distribute.MirroredStrategy(replica_devices)
with mirrored.scope():
    in_scope = keras.models.load_model(ctl_dir / "model.keras")
print("weight arrays identical in both loads:", roundtrip.assert_identical_weights(plain, in_scope))
ctl_close = {
    name: roundtrip.assert_close(chief_ctl, m.predict(probe, verbose=0), what=f"{name} vs the chief")
    for name, m in (("no strategy", plain), ("MirroredStrategy", in_scope))
}
for name, closeness in ctl_close.items():
    print(f"{name:>16} vs the chief's predictions: {closeness}")
ctl_accuracy = plain.evaluate(test_ds, verbose=0)[1]
print("test accuracy after 15 steps:", roundtrip.approx(ctl_accuracy, 2))
verify({"route A's model learned: test accuracy > 0.5 after 15 steps": ctl_accuracy > 0.5})

# %% [markdown]
# ## Route B, in short: `tf_keras` `fit` with `BackupAndRestore`
#
# The Keras 2 `fit` works under `MultiWorkerMirroredStrategy`, and `tf_keras.callbacks.BackupAndRestore` takes the same
# `backup_dir` on every worker: unlike Keras 3's callback, it handles the cluster itself (see below), and it restores
# the backup when `fit` starts. A small callback prints events and holds the pause. The final save follows route A's
# rule, to a SavedModel folder `model`.

# %%
# %%writefile tf_keras_fit.py
"""Route B: tf_keras (Keras 2) model.fit with BackupAndRestore.

The strategy starts a tf.distribute.Server on every network interface: use a trusted network (notebook 05).
"""

import os
import shutil
import sys

import mnist_setup
import numpy as np
import tensorflow as tf
import tf_keras
from mnist_setup import event, pause_point

EPOCHS, STEPS_PER_EPOCH = 3, 5
workdir = sys.argv[1]  # shared by all workers: the backup, the chief's model

strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
task_type, task_id = strategy.cluster_resolver.task_type, strategy.cluster_resolver.task_id
chief = mnist_setup.is_chief(task_type, task_id)
global_batch = mnist_setup.global_batch_size(strategy)

tf_keras.utils.set_random_seed(0)
with strategy.scope():
    model = mnist_setup.build_model(tf_keras)


class Events(tf_keras.callbacks.Callback):  # demo only: report progress, pause where the notebook kills
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.step = epoch + 1, 0
        event(f"epoch {epoch + 1}/{EPOCHS} starts at step {int(self.model.optimizer.iterations.numpy())}")

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        event(f"step {int(self.model.optimizer.iterations.numpy())} loss ≈{logs['loss']:.4f}")
        pause_point(self.epoch, self.step)

    def on_epoch_end(self, epoch, logs=None):
        event(f"epoch {epoch + 1}/{EPOCHS} done at step {int(self.model.optimizer.iterations.numpy())}")


# One backup_dir for every worker: tf_keras's BackupAndRestore knows the cluster and restores at the start of fit.
backup = tf_keras.callbacks.BackupAndRestore(backup_dir=os.path.join(workdir, "backup"))
dataset = mnist_setup.mnist_dataset(global_batch)
model.fit(dataset, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, verbose=0, callbacks=[backup, Events()])

# Every worker saves (a SavedModel dir): the chief to the real path, the others to a temporary dir they delete.
model_path = mnist_setup.write_path(os.path.join(workdir, "model"), task_type, task_id)
model.save(model_path)
if chief:
    np.save(os.path.join(workdir, "predictions.npy"), model(mnist_setup.test_images(), training=False))
    event("saved model and its predictions")
else:
    shutil.rmtree(os.path.dirname(model_path))
    event(f"saved {os.path.relpath(model_path, workdir)} and removed it")

# %% [markdown]
# The same kill and restart as route A, packaged as `multiworker.kill_and_resume`, then the same loads of the chief's
# model (here a SavedModel folder, loaded with `tf_keras`):

# %%
tfk_dir = tmp / "tf-keras"
tfk_dir.mkdir()
result = multiworker.kill_and_resume("tf_keras_fit.py", tfk_dir, pause_at="2:2")
tfk_curves = {
    f"attempt {a}": multiworker.step_losses(multiworker.events(multiworker.log_path(tfk_dir, a, 0))) for a in (1, 2)
}
print("killed worker's exit code:", result.killed_code, "| the chief's:", result.survivor_code)
print("the chief exited by itself within 60 s:", result.survivor_code is not None and result.survivor_seconds < 60)
print("restarted workers' exit codes:", result.resumed_codes, "| processes still alive:", len(result.alive_after))
print("the chief's steps:", {label: (steps[0], steps[-1]) for label, (steps, _) in tfk_curves.items()})
chief_tfk = np.load(tfk_dir / "predictions.npy")
plain_b = tf_keras.models.load_model(tfk_dir / "model")
with mirrored.scope():
    in_scope_b = tf_keras.models.load_model(tfk_dir / "model")
print("weight arrays identical in both loads:", roundtrip.assert_identical_weights(plain_b, in_scope_b))
tfk_close = {
    name: roundtrip.assert_close(chief_tfk, m.predict(probe, verbose=0), what=f"{name} vs the chief")
    for name, m in (("no strategy", plain_b), ("MirroredStrategy", in_scope_b))
}
for name, closeness in tfk_close.items():
    print(f"{name:>16} vs the chief's predictions: {closeness}")
tfk_accuracy = plain_b.evaluate(test_ds, verbose=0)[1]
print("test accuracy after 15 steps:", roundtrip.approx(tfk_accuracy, 2))
verify({"route B's model learned: test accuracy > 0.5 after 15 steps": tfk_accuracy > 0.5})

# %% [markdown]
# Route B behaves as route A: the chief fails fast, and the restart begins epoch 2 at step 6.

# %% [markdown]
# ## Why every worker saves
#
# What if only the chief saves, and worker 1 waits for the chief's files? The script below builds both models
# under the strategy; the chief saves the Keras 3 model to `model.keras`, then the `tf_keras` model as a SavedModel. We
# give it 10 s to finish and then stop both workers.

# %%
# %%writefile chief_only_save.py
"""The wrong way: only the chief saves; worker 1 waits for the chief's files instead of saving too.

The strategy starts a tf.distribute.Server on every network interface: use a trusted network (notebook 05).
"""

import os
import sys
import time

import keras
import mnist_setup
import tensorflow as tf
import tf_keras
from mnist_setup import event

workdir = sys.argv[1]
strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
chief = mnist_setup.is_chief(strategy.cluster_resolver.task_type, strategy.cluster_resolver.task_id)
with strategy.scope():
    keras3_model = mnist_setup.build_model(keras)
    tf_keras_model = mnist_setup.build_model(tf_keras)

if chief:
    keras3_model.save(os.path.join(workdir, "model.keras"))
    event("saved model.keras")
    tf_keras_model.save(os.path.join(workdir, "model"))  # a SavedModel directory
    event("saved model")
else:
    event("skipping the saves, waiting for the chief's files")
    while not os.path.exists(os.path.join(workdir, "model", "saved_model.pb")):
        time.sleep(0.2)

# %%
chief_only = tmp / "chief-only"
chief_only.mkdir()
with processes.ProcessGroup() as group:
    procs = multiworker.launch(group, "chief_only_save.py", chief_only)
    logs = [multiworker.log_path(chief_only, 1, i) for i in range(2)]
    processes.wait_until(  # bounded: fails the cell if a worker exits or 240 s pass
        lambda: (
            "saved model.keras" in multiworker.events(logs[0])
            and "skipping the saves, waiting for the chief's files" in multiworker.events(logs[1])
        ),
        timeout=240,
        what="the chief's model.keras and worker 1 waiting",
        procs=procs,
    )
    try:
        multiworker.wait_for_file(chief_only / "model" / "saved_model.pb", timeout=10, procs=procs)
        blocked = None
    except errors.WorkerError as err:
        blocked = err
    print("still running after 10 s:", [p.poll() is None for p in procs])
    for p in procs:
        group.kill(p)  # SIGKILL: stop both now
print(f"{type(blocked).__name__}: {blocked}")
print("processes still alive:", len(group.alive()))
show(chief_only, 1, 0)
show(chief_only, 1, 1)
chief_wrote_keras = (chief_only / "model.keras").is_file()
print("the chief wrote model.keras:", chief_wrote_keras)

# %% [markdown]
# The chief wrote `model.keras` on its own: this Keras 3 save did not need worker 1. The `tf_keras` SavedModel save did
# not return within 10 s: no `saved model` line, no `saved_model.pb`, and both workers still running when the notebook
# stopped them. A time limit cannot tell a slow save from one that never ends; the [multi-worker
# tutorial](https://www.tensorflow.org/tutorials/distribute/multi_worker_with_keras#model_saving_and_loading) gives the
# reason to expect the second: a save may all-reduce variables, which needs every worker, and worker 1 never called
# save. Its rule covers both cases: every worker saves, the others to temporary folders they delete, as both routes do.

# %% [markdown]
# ## Keras 3's `BackupAndRestore` and multiple workers
#
# Route B relies on tf_keras's `BackupAndRestore` knowing about the cluster. Keras 3's version has no such logic; its source
# never contains the words `chief`, `worker` or `distribute`:

# %%
import inspect

for name, cb in (("keras", keras.callbacks.BackupAndRestore), ("tf_keras", tf_keras.callbacks.BackupAndRestore)):
    src = inspect.getsource(cb)
    print(
        f"{name:9} BackupAndRestore mentions chief/worker/distribute:",
        [word for word in ("chief", "worker", "distribute") if word in src],
    )

# %% [markdown]
# So nothing in Keras 3's callback tells the workers apart: given one shared `backup_dir`, every worker would write the
# same files into it. (Not runnable here: Keras 3 `fit` itself fails multi-worker.) Until it works, back up the way
# route A does: `tf.train.CheckpointManager`, chief to the shared dir, the others to temporary dirs, everyone restoring
# from `tf.train.latest_checkpoint(shared_dir)`.

# %% [markdown]
# ## On a real cluster
#
# **Unchanged:** the worker scripts, `MultiWorkerMirroredStrategy()` reading `TF_CONFIG`, the save rule, and the
# restore at start. With GPUs, a worker takes each GPU of its machine as a replica
# ([API](https://www.tensorflow.org/api_docs/python/tf/distribute/MultiWorkerMirroredStrategy)): `TF_CONFIG` stays the
# same, the global batch grows with `num_replicas_in_sync`. No GPU runs here; a test runs these scripts with 2 CPU
# replicas per worker.
#
# **Changes:**
# - *Who writes `TF_CONFIG`*: Kubeflow's `TFJob` operator (or Vertex AI / SageMaker), in every pod, with DNS names.
# - *Storage*: a shared folder every worker reaches (GCS/S3/NFS; [what "atomic" means
#   there](../docs/cluster.md#what-atomic-means-on-that-storage)).
# - *Restarts*: here the killed process's port closed at once, so the chief failed at its next step (exit code 1); a
#   lost machine closes no port, and the others fail only after a timeout
#   ([`CommunicationOptions`](https://www.tensorflow.org/api_docs/python/tf/distribute/experimental/CommunicationOptions);
#   not shown here). A TFJob's `restartPolicy: OnFailure` restarts the job (not `ExitCode`, which treats 1 as
#   permanent).
# - *Chief*: with a separate `chief` task type in `TF_CONFIG`, `is_chief` becomes `return task_type == "chief"`.
#
# `cluster/` runs these scripts as a Kubernetes Job, one pod per worker: see [Running on a real
# cluster](../docs/cluster.md).

# %% [markdown]
# ## Exercises
#
# ### Exercise 1: fine-tune the multi-worker backup under `MirroredStrategy`
#
# Build route A's model under this notebook's 2-replica `MirroredStrategy` (`mirrored`) and restore the 2-worker backup
# (`ctl/backup`) into it with a `tf.train.Checkpoint` of the same objects as `ctl.py`'s. Check that it holds 3 epochs,
# step 15 and the weights of `model.keras` (`plain`), then fine-tune it with `fit` for 5 steps on
# `mnist_setup.mnist_dataset`. At which step does the optimizer end? The solution is in the next cell (hidden).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 1
with mirrored.scope():
    tuned = mnist_setup.build_model(keras)
    tuned.optimizer.build(tuned.trainable_variables)
    tuned_epochs = tf.Variable(0, dtype=tf.int64, trainable=False)
backup = tf.train.Checkpoint(model=tuned, optimizer=tuned.optimizer, epochs_done=tuned_epochs)
backup.restore(tf.train.latest_checkpoint(str(ctl_dir / "backup"))).assert_existing_objects_matched()
restored_at = (int(tuned_epochs.numpy()), int(tuned.optimizer.iterations.numpy()))
same_weights = all(np.array_equal(a, b) for a, b in zip(tuned.get_weights(), plain.get_weights(), strict=True))
global_batch = mnist_setup.PER_REPLICA_BATCH * mirrored.num_replicas_in_sync
tuned.fit(mnist_setup.mnist_dataset(global_batch), epochs=1, steps_per_epoch=5, verbose=0)
print("restored (epochs, step):", restored_at, "| after fine-tuning, step:", int(tuned.optimizer.iterations.numpy()))
verify(
    {
        "the 2-worker backup restores into a 2-replica MirroredStrategy model: 3 epochs, step 15, "
        "the weights of model.keras (bitwise)": restored_at == (3, 15) and same_weights,
        "fine-tuning continues the restored optimizer: 5 more steps end at step 20": int(
            tuned.optimizer.iterations.numpy()
        )
        == 20,
    }
)

# %% [markdown]
# ### Exercise 2: only the chief's backup stays
#
# Write `save_backup(checkpoint, shared_dir, task_type, task_id)`, what `ctl.py` does on every worker at an epoch end:
# save with a `tf.train.CheckpointManager` into `mnist_setup.write_path(shared_dir, ...)`, then, if not the chief,
# delete the temporary folder. Call it for worker 1, then worker 0, with a `tf.train.Checkpoint` of a small model;
# check that the folder holds only the chief's backup, and that it restores into a second model bit for bit. The
# solution is in the next cell (hidden).


# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 2
def save_backup(checkpoint, shared_dir, task_type, task_id):
    """Every worker saves; only the chief's copy stays, in shared_dir."""
    directory = mnist_setup.write_path(str(shared_dir), task_type, task_id)
    path = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=1).save()
    if not mnist_setup.is_chief(task_type, task_id):
        shutil.rmtree(os.path.dirname(directory))  # workertemp_<id>
    return path


def small_model(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])


shared = tmp / "exercise-2"
saved_model, other = small_model(0), small_model(1)
for task_id in (1, 0):
    save_backup(tf.train.Checkpoint(model=saved_model), shared / "backup", "worker", task_id)
latest = tf.train.latest_checkpoint(str(shared / "backup"))
tf.train.Checkpoint(model=other).restore(latest).assert_existing_objects_matched()
shared_files = sorted(p.name for p in shared.iterdir())
print("shared folder:", shared_files, "| backup files:", sorted(p.name for p in (shared / "backup").iterdir()))
verify(
    {
        "only the chief's backup is left in the shared folder": shared_files == ["backup"],
        "it restores into another model bit for bit": all(
            np.array_equal(a, b) for a, b in zip(saved_model.get_weights(), other.get_weights(), strict=True)
        ),
    }
)

# %% [markdown]
# ## What we verified

# %%
route_a_epochs = [line for line in multiworker.events(multiworker.log_path(ctl_dir, 2, 0)) if " done at step " in line]
os.chdir(notebook_dir)
shutil.rmtree(tmp)
curves_and_codes = (
    (ctl_curves, chief_code, ctl_resume_codes),
    (tfk_curves, result.survivor_code, result.resumed_codes),
)
verify(
    {
        "Keras 3 fit under MultiWorkerMirroredStrategy fails on both workers (keras-team/keras#20585)": fit_codes
        == [3, 3]
        and all(lines[-1].startswith("fit failed: ValueError: Attempt to convert a value") for lines in fit_events),
        "routes A (Keras 3 + custom loop) and B (tf_keras fit) both train on 2 worker processes, 64 images per step": (
            len(route_a_epochs) == 2
            and all(line.endswith(": 320 images, 160 on this worker") for line in route_a_epochs)
        ),
        "a SIGKILLed worker makes the survivor exit within 60 s (route A: UnavailableError)": chief_error
        == "UnavailableError"
        and chief_seconds < 60
        and result.survivor_seconds < 60
        and result.killed_code == -9,
        "no worker process is left alive": ctl_alive == 0 and len(result.alive_after) == 0 and len(group.alive()) == 0,
        "the restart resumed at epoch 2 with the step counter continuing at 6, for both routes": all(
            code not in (None, 0)
            and resumed == [0, 0]
            and curves["attempt 1"][0][-1] == 7
            and curves["attempt 2"][0][0] == 6
            and curves["attempt 2"][0][-1] == 15
            for curves, code, resumed in curves_and_codes
        ),
        "worker 1 saved into workertemp_1 and removed it; the shared folder holds only the chief's files": ctl_files
        == ["backup", "model.keras", "paused-task1", "predictions.npy"],
        "the chief's saved models load with no strategy and under MirroredStrategy: identical weights, and the chief's "
        "predictions up to float32 rounding": all(
            c.max_abs_diff <= c.tolerance for c in [*ctl_close.values(), *tfk_close.values()]
        ),
        "both test accuracies > 0.5 after 15 steps": ctl_accuracy > 0.5 and tfk_accuracy > 0.5,
        "the chief alone can write Keras 3's model.keras; a chief-only tf_keras SavedModel save had not returned "
        "after 10 s": isinstance(blocked, errors.WorkerError) and chief_wrote_keras,
        "Keras 3's BackupAndRestore has no multi-worker logic": "chief"
        not in inspect.getsource(keras.callbacks.BackupAndRestore),
        "the working folder was removed": not tmp.exists(),
    }
)


# %% [markdown]
# ---
# ← Previous: [06 · Subclassed models: saving before the first call, and models as code](06_subclassed_models.ipynb) | [All notebooks](../README.md) | Next: [08 · What does saving and loading cost under a strategy?](08_save_load_cost.ipynb) →
