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
# - what `TF_CONFIG` is and how 2 local processes become one cluster
# - the worker scripts, ready to copy and run with your own `TF_CONFIG`
# - the current state of Keras 3 `model.fit` under `MultiWorkerMirroredStrategy` (it fails: [keras-team/keras#20585](https://github.com/keras-team/keras/issues/20585))
# - route A: a Keras 3 model in a custom training loop with `tf.train.CheckpointManager` backups
# - route B: `tf_keras` `fit` with `BackupAndRestore`
# - why every worker saves (chief to the real path, the others to temporary dirs they delete), and loading the result without a strategy or under `MirroredStrategy`
# - killing a worker mid-epoch: the survivor exits instead of hanging, and a restart resumes at the interrupted epoch
# - what changes on a real cluster (Kubernetes/TFJob, managed services) and what does not
#
# **Expected run time:** about 75 s on a 2-core CPU, no GPU needed.

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
# asserts check what the number means.

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
import tempfile
import time
from pathlib import Path

import keras
import tensorflow_datasets as tfds
import tf_keras

from helpers import data, errors, mnist_prep, multiworker, plots, processes, roundtrip

tf.get_logger().setLevel("ERROR")
print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| tf_keras", tf_keras.__version__)
print("MNIST source:", mnist_prep.prepare(log=None))
test_ds = tfds.load("mnist", split="test", as_supervised=True).map(data.scale).batch(500)  # to evaluate the models

# %% [markdown]
# ## A cluster of two local processes
#
# `MultiWorkerMirroredStrategy` reads the cluster from the `TF_CONFIG` environment variable: the address of every worker
# and *which one this process is*. Worker 0 is the **chief** (it also writes checkpoints and the final model). Here
# `helpers.multiworker.tf_config` writes it for ports on 127.0.0.1 (example ports below; the real ones are picked free
# at run time).

# %%
print(json.dumps(json.loads(multiworker.tf_config([20001, 20002], index=1)), indent=1))

# %% [markdown]
# ## The worker programs
#
# Each worker runs an ordinary Python script with its own `TF_CONFIG`, as in the official [multi-worker
# tutorial](https://www.tensorflow.org/tutorials/distribute/multi_worker_with_keras). The next cells write the scripts
# into a fresh working folder; on your own machines, run them with `TF_CONFIG='...' python ctl.py SHARED_DIR`. First,
# what every script shares: the data (the same 2048 MNIST training images on every worker, 32 per worker per step), the
# tutorial's model (Keras 3 or `tf_keras`), and who writes where: the chief to the real path, every other worker into
# its own temporary folder, `workertemp_<id>`.
#
# The last lines serve this notebook only: `event` prints a line starting with `MW| ` that the notebook reads back from
# the worker's log, and `pause_point` stops one worker at a known step so the notebook can kill it there. Without
# `helpers` they fall back to `print` and to doing nothing.

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

PER_WORKER_BATCH = 32  # images each worker reads per step
TRAIN_EXAMPLES = 2048  # a small slice of MNIST, the same on every worker


def scale(image, label):
    return tf.cast(image, tf.float32) / 255.0, label


def mnist_dataset(global_batch_size):
    """The training slice, in batches of the global batch size; every worker reads its own share of each batch."""
    ds = tfds.load("mnist", split=f"train[:{TRAIN_EXAMPLES}]", as_supervised=True).map(scale).cache()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.batch(global_batch_size).repeat().with_options(options)


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
# Every run is started by `helpers.multiworker.launch(group, script, shared_dir)`: one process per worker, each `python
# script shared_dir` with its own `TF_CONFIG` on free ports, writing its output to `attempt<N>-worker<i>.log` in the
# shared folder, inside a `ProcessGroup` (as in [notebook 02](02_keras_save_load.ipynb)): leaving its `with` block, even
# on an error, terminates and reaps every process. The step numbers in the event lines are exact; losses are printed
# after ≈.

# %%
import mnist_setup


def show(workdir, attempt, worker, steps=False):
    """Print a worker's event lines (without the per-step lines unless asked)."""
    for line in multiworker.events(Path(workdir) / f"attempt{attempt}-worker{worker}.log"):
        if steps or not line.startswith("step "):
            print(f"  attempt {attempt} worker {worker} | {line}")


print("per-worker batch:", mnist_setup.PER_WORKER_BATCH, "| training images:", mnist_setup.TRAIN_EXAMPLES)

# %% [markdown]
# ## Keras 3 `model.fit` under `MultiWorkerMirroredStrategy`: the current state
#
# The simplest script builds the model under the strategy's scope and calls `fit`. Today `fit` raises a `ValueError` on
# both workers ([keras-team/keras#20585](https://github.com/keras-team/keras/issues/20585), open). The script catches
# the error, prints its type and first words, and exits with code 3; once Keras fixes the bug, it prints `fit
# succeeded`.

# %%
# %%writefile keras3_fit.py
"""Keras 3 model.fit under MultiWorkerMirroredStrategy (fails today: keras-team/keras#20585)."""

import sys

import keras
import mnist_setup
import tensorflow as tf
from mnist_setup import event

strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
global_batch = mnist_setup.PER_WORKER_BATCH * strategy.num_replicas_in_sync

keras.utils.set_random_seed(0)
with strategy.scope():
    model = mnist_setup.build_model(keras)
try:
    model.fit(mnist_setup.mnist_dataset(global_batch), epochs=1, steps_per_epoch=5, verbose=0)
except Exception as err:
    event(f"fit failed: {type(err).__name__}: {str(err).split('(')[0].strip()} ...")  # the words before any value
    sys.exit(3)
event(f"fit succeeded with Keras {keras.__version__}")

# %%
fit_dir = tmp / "keras3-fit"
fit_dir.mkdir()
with processes.ProcessGroup() as group:
    multiworker.launch(group, "keras3_fit.py", fit_dir)
    fit_codes = group.wait(timeout=180)
fit_events = [multiworker.events(fit_dir / f"attempt1-worker{i}.log") for i in range(2)]
print("exit codes:", fit_codes)
for i in range(2):
    show(fit_dir, 1, i)

# %% [markdown]
# Two routes work without patching Keras: **A**, a Keras 3 model trained by a custom loop, and **B**, the Keras 2 package
# `tf_keras` (imported explicitly in its script; `TF_USE_LEGACY_KERAS` is never set).

# %% [markdown]
# ## Route A: Keras 3 model, custom training loop, `CheckpointManager` backups
#
# The script below trains with `strategy.run` and keeps a backup with `tf.train.CheckpointManager` at the end of every
# epoch: the model, the optimizer (with its step counter) and the number of epochs done. At start-up every worker
# restores the chief's latest backup, if there is one. The global batch is the per-worker batch times the number of
# workers; `tf.nn.compute_average_loss` divides by it, so the summed gradients are the gradient of the mean loss over
# the global batch. Every worker saves the backups and the final `model.keras`: the chief into the shared folder, worker
# 1 into `workertemp_1`, which it then deletes.

# %%
# %%writefile ctl.py
"""Route A: a Keras 3 model, a custom training loop, and tf.train.CheckpointManager backups."""

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
global_batch = mnist_setup.PER_WORKER_BATCH * strategy.num_replicas_in_sync

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

    loss, images = strategy.run(step_fn, args=next(iterator))
    return strategy.reduce("SUM", loss, axis=None), images, strategy.reduce("SUM", images, axis=None)


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
# real **SIGKILL** from outside. The chief's next step needs the dead worker's share of the gradient all-reduce. Then
# both workers start again (new ports), as an orchestrator would.

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
chief_log = (ctl_dir / "attempt1-worker0.log").read_text(encoding="utf-8", errors="replace")
chief_error = re.findall(r"(\w+Error): ", chief_log)[-1]  # the last line of the chief's traceback
print("the chief's attempt 1 ended with:", chief_error)
ctl_files = sorted(p.name for p in ctl_dir.iterdir() if not p.name.endswith(".log"))
print("shared folder:", ctl_files)

# %% [markdown]
# What the lines show:
#
# - **Images per step.** Every epoch is 5 steps of the global batch, 32 images per worker × 2 workers = 64, so 320
#   images per epoch, 160 of them read by each worker.
# - **The failure.** The chief's next training step, which needs worker 1, failed with an `UnavailableError`; the
#   chief's script stopped there and exited with code 1.
# - **The restart.** Attempt 2 restored the chief's backup (1 epoch done, optimizer step 5) and started at **epoch 2**,
#   not epoch 1. The steps of epoch 2 that ran before the kill (6 and 7) are redone: a backup taken at the end of each
#   epoch loses at most one epoch of work.
# - **Who writes where.** Worker 1 wrote every backup and its `model.keras` into `workertemp_1` and removed it each
#   time; the shared folder holds only the chief's files (and the marker of the pause).

# %%
ctl_curves = {
    f"attempt {a}": multiworker.step_losses(multiworker.events(ctl_dir / f"attempt{a}-worker0.log")) for a in (1, 2)
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
assert ctl_accuracy > 0.5
print("test accuracy after 15 steps:", roundtrip.approx(ctl_accuracy, 2), "(> 0.5)")

# %% [markdown]
# ## Route B: `tf_keras` `fit` with `BackupAndRestore`
#
# The Keras 2 `fit` works under `MultiWorkerMirroredStrategy`, and `tf_keras.callbacks.BackupAndRestore` takes the same
# `backup_dir` on every worker: unlike Keras 3's callback, it handles the cluster itself (its source mentions the chief
# and the workers, see below), and it restores the backup when `fit` starts. A small callback prints the event lines and
# holds the pause point. The final save follows the same rule as route A, to a SavedModel folder `model`.

# %%
# %%writefile tf_keras_fit.py
"""Route B: tf_keras (Keras 2) model.fit with BackupAndRestore."""

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
global_batch = mnist_setup.PER_WORKER_BATCH * strategy.num_replicas_in_sync

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
# The same kill-and-restart scenario, packaged as `multiworker.kill_and_resume` (the steps of route A's cell above):

# %%
tfk_dir = tmp / "tf-keras"
tfk_dir.mkdir()
result = multiworker.kill_and_resume("tf_keras_fit.py", tfk_dir, pause_at="2:2")
print("killed worker exit code:", result.killed_code)
print("the chief exited by itself:", result.survivor_code is not None, "| exit code:", result.survivor_code)
print("within 60 s:", result.survivor_seconds < 60)
print("restarted workers' exit codes:", result.resumed_codes)
print("processes still alive:", len(result.alive_after))
for attempt in (1, 2):
    show(tfk_dir, attempt, 0)
show(tfk_dir, 2, 1)

# %%
tfk_curves = {
    f"attempt {a}": multiworker.step_losses(multiworker.events(tfk_dir / f"attempt{a}-worker0.log")) for a in (1, 2)
}
plots.loss_curves(tfk_curves, title="Route B (tf_keras fit): loss per global step, across the restart")

# %% [markdown]
# `fit`'s `loss` is the running mean over the epoch so far, so it restarts at each epoch boundary. We load the chief's
# SavedModel folder like route A's file.

# %%
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
assert tfk_accuracy > 0.5
print("test accuracy after 15 steps:", roundtrip.approx(tfk_accuracy, 2), "(> 0.5)")

# %% [markdown]
# ## Why every worker saves
#
# What if only the chief saves, and worker 1 waits for the chief's files? The script below builds both models
# under the strategy; the chief saves the Keras 3 model to `model.keras`, then the `tf_keras` model as a SavedModel. We
# give it 10 s to finish and then stop both workers.

# %%
# %%writefile chief_only_save.py
"""The wrong way: only the chief saves; worker 1 waits for the chief's files instead of saving too."""

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
    logs = [chief_only / f"attempt1-worker{i}.log" for i in range(2)]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (
        "saved model.keras" in multiworker.events(logs[0])
        and "skipping the saves, waiting for the chief's files" in multiworker.events(logs[1])
    ):
        time.sleep(0.2)
    try:
        multiworker.wait_for_file(chief_only / "model" / "saved_model.pb", timeout=10, procs=procs)
        blocked = None
    except errors.WorkerError as err:
        blocked = err
    print("still running after 10 s:", [p.poll() is None for p in procs])
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
# reason to expect the second: a save may aggregate variables across the workers, and that all-reduce needs every worker
# to take part, while worker 1 never called save. Its rule covers both cases: every worker calls save, the non-chief
# ones to temporary folders they delete, as both routes above do.

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
# **Unchanged:** the worker scripts above, `MultiWorkerMirroredStrategy()` reading `TF_CONFIG`, the chief/non-chief save
# rule, and the restore-at-start logic.
#
# **Changes:**
# - *Who writes `TF_CONFIG`*: Kubeflow's `TFJob` operator (or Vertex AI / SageMaker training jobs) sets it in every pod;
#   addresses are service DNS names instead of `127.0.0.1:port`.
# - *Storage*: the shared folder (backups, the model) must be on storage every worker can reach (GCS/S3/NFS), since the
#   restarted workers may run on other machines.
# - *Restarts*: the orchestrator does what this notebook did by hand. When a pod dies, the others fail fast (as the chief did
#   here, with exit code 1), and a TFJob's `restartPolicy: OnFailure` or the service's retry restarts the job (not
#   `ExitCode`, which treats exit code 1 as permanent); the scripts resume from the last backup.
# - *Chief*: some setups add a separate `chief` task type in `TF_CONFIG`; then that task, not worker 0, is the chief, and
#   `is_chief` in `mnist_setup.py` becomes `return task_type == "chief"`.
#
# This repository's `cluster/` folder runs these scripts unchanged as a Kubernetes Job, one pod per worker: see
# [Running on a real cluster](../docs/cluster.md).

# %% [markdown]
# ## Exercises
#
# ### Exercise 1: three workers
#
# Write by hand the `TF_CONFIG` of the third worker of a 3-worker cluster on ports 20001–20003, and compare it with
# `multiworker.tf_config`. Which task is the chief, and how many images does one step of `ctl.py` read on that cluster?
# The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 1
by_hand = {
    "cluster": {"worker": ["127.0.0.1:20001", "127.0.0.1:20002", "127.0.0.1:20003"]},
    "task": {"type": "worker", "index": 2},
}
assert by_hand == json.loads(multiworker.tf_config([20001, 20002, 20003], index=2))
chiefs = [i for i in range(3) if mnist_setup.is_chief("worker", i)]
print("chief:", chiefs, "| images per step:", mnist_setup.PER_WORKER_BATCH * 3)
assert chiefs == [0]

# %% [markdown]
# ### Exercise 2: where does each worker write?
#
# Use `mnist_setup.write_path` to find where workers 0, 1 and 2 would write `shared/model.keras`, and predict the answer
# before you run it. The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 2
paths = [Path(mnist_setup.write_path(os.path.join("shared", "model.keras"), "worker", i)).as_posix() for i in range(3)]
print(paths)
assert paths == ["shared/model.keras", "shared/workertemp_1/model.keras", "shared/workertemp_2/model.keras"]

# %% [markdown]
# ### Exercise 3: open the chief's backup
#
# Restore route A's last backup (`ctl/backup`) into a fresh Keras 3 model in this process, the way `ctl.py` does at
# start-up. How many epochs were done, at which optimizer step, and do its weights equal those of `model.keras`?
# The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 3
fresh = mnist_setup.build_model(keras)
fresh.optimizer.build(fresh.trainable_variables)
epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False)
backup = tf.train.Checkpoint(model=fresh, optimizer=fresh.optimizer, epochs_done=epochs_done)
backup.restore(tf.train.latest_checkpoint(str(ctl_dir / "backup"))).assert_existing_objects_matched()
print("epochs done:", int(epochs_done.numpy()), "| optimizer step:", int(fresh.optimizer.iterations.numpy()))
print("weight arrays identical to model.keras:", roundtrip.assert_identical_weights(fresh, plain))
assert (int(epochs_done.numpy()), int(fresh.optimizer.iterations.numpy())) == (3, 15)

# %% [markdown]
# ## What we verified

# %%
import shutil

os.chdir(notebook_dir)
shutil.rmtree(tmp)
assert fit_codes == [3, 3]  # flips when keras-team/keras#20585 is fixed
assert all(lines[0].startswith("fit failed: ValueError: Attempt to convert a value") for lines in fit_events)
for curves, code, resumed in (
    (ctl_curves, chief_code, ctl_resume_codes),
    (tfk_curves, result.survivor_code, result.resumed_codes),
):
    assert code not in (None, 0) and resumed == [0, 0]
    assert curves["attempt 1"][0][-1] == 7 and curves["attempt 2"][0][0] == 6 and curves["attempt 2"][0][-1] == 15
assert chief_error == "UnavailableError"
assert chief_seconds < 60 and result.survivor_seconds < 60 and result.killed_code == -9
assert ctl_alive == 0 and len(result.alive_after) == 0 and len(group.alive()) == 0
assert ctl_files == ["backup", "model.keras", "paused-task1", "predictions.npy"]
assert all(c.max_abs_diff <= c.tolerance for c in [*ctl_close.values(), *tfk_close.values()])
assert ctl_accuracy > 0.5 and tfk_accuracy > 0.5
assert isinstance(blocked, errors.WorkerError) and chief_wrote_keras
assert "chief" not in inspect.getsource(keras.callbacks.BackupAndRestore)
print("✓ Keras 3 fit under MultiWorkerMirroredStrategy fails on both workers (keras-team/keras#20585)")
print("✓ routes A (Keras 3 + custom loop) and B (tf_keras fit) both train on 2 worker processes, 64 images per step")
print("✓ a SIGKILLed worker makes the survivor exit within 60 s; no process is left alive")
print("✓ the restart resumed at epoch 2 with the step counter continuing at 6, for both routes")
print("✓ worker 1 saved into workertemp_1 and removed it; the shared folder holds only the chief's files")
print("✓ the chief's saved models load with no strategy and under MirroredStrategy: identical weights, and the chief's")
print("  predictions up to float32 rounding; both test accuracies > 0.5 after 15 steps")
print("✓ the chief alone can write Keras 3's model.keras; a chief-only tf_keras SavedModel save")
print("  had not returned after 10 s")
print("✓ Keras 3's BackupAndRestore has no multi-worker logic; the working folder was removed:", not tmp.exists())


# %% [markdown]
# ---
# ← Previous: [06 · Subclassed models: saving before the first call, and models as code](06_subclassed_models.ipynb) | [All notebooks](../README.md) | Next: [08 · What does saving and loading cost under a strategy?](08_save_load_cost.ipynb) →
