# %% [markdown]
# # 10 · Preemption: save at the next step, resume with no step lost
#
# A cloud VM or a cluster scheduler that takes a machine away often warns first. Two workers use that warning to save at the next step and resume at the step after it; Keras 3's `BackupAndRestore` on one worker, for comparison.
#
# **This notebook answers:** How do I lose no training steps when a worker is preempted?
#
# <table align="left">
#   <td><a target="_blank" href="https://colab.research.google.com/github/tf-distribute-notebooks/save-and-load/blob/main/notebooks/10_preemption.ipynb"><img src="https://www.tensorflow.org/images/colab_logo_32px.png" />Run in Google Colab</a></td>
#   <td><a target="_blank" href="https://github.com/tf-distribute-notebooks/save-and-load/blob/main/notebooks/10_preemption.ipynb"><img src="https://www.tensorflow.org/images/GitHub-Mark-32px.png" />View source on GitHub</a></td>
# </table>
# <br clear="all">
#
# **What you'll learn**
#
# - what a preemption notice is: a SIGTERM, then a SIGKILL after a grace period
# - how `PreemptionCheckpointHandler` turns a SIGTERM to one `MultiWorkerMirroredStrategy` worker into a save by every worker at the next step, and a restart with no step redone
# - the one line a worker script needs so that the handler takes SIGTERM as the notice on every machine
# - where Keras 3's `BackupAndRestore(save_freq=<steps>)` really resumes
#
# **Expected run time:** about 20 s on a 2-core CPU, no GPU needed.

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
# ### Two replicas on one CPU
#
# As in notebook 01: split the CPU into 2 logical devices before TensorFlow starts its runtime (on a GPU runtime the
# GPU is hidden, so every runtime runs the same lesson; notebook 01 says why).

# %%
import tensorflow as tf

from helpers import devices

replica_devices = devices.use_cpu_replicas(2).devices
print("replicas:", len(replica_devices))

# %%
import inspect
import json
import re
import shutil
import signal
import tempfile
from pathlib import Path
from unittest import mock

import keras
import numpy as np

from helpers import multiworker, processes
from helpers.claims import verify

tf.get_logger().setLevel("ERROR")
workdir = Path(tempfile.mkdtemp(prefix="nb10-"))  # everything this notebook writes goes here
print("TensorFlow", tf.__version__, "| Keras", keras.__version__)

# %% [markdown]
# ## Preemption: stop at the next step, resume at the step after it
#
# A cloud VM or a cluster scheduler that takes a machine away often says so first: the training process receives a
# **SIGTERM**, the signal that asks a process to stop, which a program may catch and act on. At the end of the
# **grace period** (on Kubernetes, the pod's `terminationGracePeriodSeconds`) comes a SIGKILL, which ends the process
# at once. Notebook 07 did not use that notice: its backup was written at the end of every epoch, so after worker 1
# died during epoch 2 the restart began epoch 2 again and did steps 6 and 7 a second time. On a long epoch that is
# hours of work.
#
# `tf.distribute.experimental.PreemptionCheckpointHandler` uses the notice. Every training step goes through
# `handler.run(train_step, ...)`; when *any* worker receives SIGTERM, *all* workers save a checkpoint at the next
# step and exit, and a restarted job continues with the step after it. Below: two local
# `MultiWorkerMirroredStrategy` workers, a SIGTERM to worker 1 at the same point where 07 killed its worker (after
# step 2 of epoch 2, step 7), and the step numbers before and after the restart.

# %%
notebook_dir = Path.cwd()
preempt_dir = workdir / "preemption"
preempt_dir.mkdir()
os.chdir(preempt_dir)  # the worker script is written here; its runs write their logs and checkpoints here too
print("working folder is empty:", not any(preempt_dir.iterdir()))

# %% [markdown]
# ### The worker program
#
# Each worker runs this script with its own `TF_CONFIG` (see 07); its `tf.distribute.Server` listens on every network
# interface, so run this lesson on a network you trust
# ([05 · Who can reach the worker](05_local_io_device.ipynb#who-can-reach-the-worker)). What the handler needs from it:
#
# - **a checkpoint and a folder**: `PreemptionCheckpointHandler(cluster_resolver, checkpoint, checkpoint_dir,
#   termination_config)`. Its constructor restores the latest checkpoint in `checkpoint_dir`, if there is one, and
#   from then on treats SIGTERM as a preemption notice (it installs a signal handler).
# - **one step per `run`**: `handler.run(train_step, step)` runs one distributed step, or, after a notice anywhere in
#   the cluster, saves (the chief into `checkpoint_dir`, the other workers into temporary folders they delete) and
#   calls `exit_fn`. Ours prints a line and exits with code 42, as the handler's default does off Google Cloud; tell
#   your orchestrator (the system that restarts jobs) to restart a job that exits with that code.
# - **a step counter that is restored**: `optimizer.iterations` is in the checkpoint, so after a restart the loop
#   starts at the step after the saved one.
# - **data that follows the step counter**: the handler knows nothing about the input pipeline. Here each replica's
#   batch of `PER_REPLICA_BATCH` examples is generated from the step number and the replica's id, so step 9 reads the
#   same data in an interrupted run and in an uninterrupted one. A worker has one replica per device (one CPU here):
#   the global batch is 16 × `num_replicas_in_sync` (workers × devices per worker), and the script logs both counts.
#   `train_step` sums the replicas' losses with `strategy.reduce`, so it runs on any number of devices per worker.
# - **the line `os.environ["GCE_METADATA_IP"] = ...`**: the handler's constructor first asks the Google Cloud metadata
#   server (`metadata.google.internal`, which answers only on Google Cloud VMs) whether it runs on a Google Cloud VM.
#   On one with CPUs only, the answer is yes, and then its `run` just calls the step and handles no notice at all. The
#   variable points that question at a local port where nothing listens: the answer is "no" at once, on every machine,
#   and SIGTERM is the notice. (The next section shows the check's answer.)
#
# A tiny regression model keeps each run short. As in 07, the `try` block is for this notebook only: `event` prints
# the lines the notebook reads back, and `sigterm_point` makes the worker that is to be preempted wait after a known
# step until the notebook's SIGTERM has arrived.

# %%
# %%writefile preempt_train.py
"""Multi-worker training that survives preemption: after a SIGTERM to any worker, all save at the next step and exit.

The strategy starts a tf.distribute.Server on every network interface: use a trusted network (notebook 05).
"""

import os
import sys

import keras
import tensorflow as tf

try:  # demo only: event lines for the notebook, and a pause where the notebook sends SIGTERM
    from helpers.multiworker_hooks import event
    from helpers.preemption import sigterm_point
except ImportError:  # running the script on your own: plain prints, no pause
    event, sigterm_point = print, lambda epoch, step: None

EPOCHS, STEPS_PER_EPOCH, PER_REPLICA_BATCH = 3, 5, 16  # a worker has one replica per device (CPU: 1)
RESTART_CODE = 42  # "saved after a preemption notice: restart me"
workdir = sys.argv[1]  # shared by all workers: the checkpoint

strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
local_replicas, all_replicas = len(strategy.extended.worker_devices), strategy.num_replicas_in_sync
global_batch = PER_REPLICA_BATCH * all_replicas  # workers × devices per worker × PER_REPLICA_BATCH


def exit_fn():  # the handler calls it once this worker has saved
    event(f"saved after step {int(optimizer.iterations.numpy())}, exiting with code {RESTART_CODE}")
    sys.exit(RESTART_CODE)


# The handler's constructor asks Google Cloud's metadata server whether this is a Google Cloud VM; on one with CPUs
# only, its run() then just calls the step and handles no notice. An address where nothing listens answers "no" at once.
os.environ["GCE_METADATA_IP"] = "127.0.0.1:9"

keras.utils.set_random_seed(0)
with strategy.scope():
    model = keras.Sequential(
        [keras.Input(shape=(8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    optimizer = keras.optimizers.Adam(0.01)
    optimizer.build(model.trainable_variables)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    # Restores the latest checkpoint in checkpoint_dir, if any; from here on, SIGTERM is a preemption notice.
    handler = tf.distribute.experimental.PreemptionCheckpointHandler(
        strategy.cluster_resolver,
        checkpoint,
        checkpoint_dir=os.path.join(workdir, "checkpoints"),
        termination_config=tf.distribute.experimental.TerminationConfig(exit_fn=exit_fn),
    )


@tf.function
def train_step(step):
    def step_fn(step):
        replica = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.int64)
        x = tf.random.stateless_normal([PER_REPLICA_BATCH, 8], seed=tf.stack([step, replica]))  # this step's data
        y = tf.reduce_sum(x, axis=1, keepdims=True)
        with tf.GradientTape() as tape:
            per_example = tf.square(model(x, training=True) - y)[:, 0]
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return strategy.reduce("SUM", strategy.run(step_fn, args=(step,)), axis=None)


first = int(optimizer.iterations.numpy()) + 1  # 1, or the step after the one the restored checkpoint holds
event(f"replicas: {local_replicas} on this worker, {all_replicas} in all; global batch {global_batch}")
event(f"starting at step {first}")
for step in range(first, EPOCHS * STEPS_PER_EPOCH + 1):
    loss = handler.run(train_step, tf.constant(step, tf.int64))  # after a notice: save and exit instead
    event(f"step {step} loss ≈{float(loss):.4f}")
    sigterm_point((step - 1) // STEPS_PER_EPOCH + 1, (step - 1) % STEPS_PER_EPOCH + 1)  # (epoch, step in epoch)
event(f"finished after step {int(optimizer.iterations.numpy())}")

# %% [markdown]
# ### The handler's platform check
#
# The handler decides where it runs with `detect_platform` in TensorFlow's `failure_handling_util` module (a private
# module: read it, do not build on it). Asked with the worker script's setting, in this process:

# %%
from tensorflow.python.distribute.failure_handling import failure_handling_util

with mock.patch.dict(os.environ, {"GCE_METADATA_IP": "127.0.0.1:9"}):  # as preempt_train.py sets it
    platform = failure_handling_util.detect_platform()
print("the handler's platform check says:", platform.name)
run_source = inspect.getsource(tf.distribute.experimental.PreemptionCheckpointHandler.run)
verify(
    {
        "with the worker script's setting, the handler sees no Google Cloud VM (INTERNAL_CPU)": platform.name
        == "INTERNAL_CPU",
        "on a Google Cloud CPU VM, the handler's run would skip its preemption logic": "GCE_CPU" in run_source,
    }
)

# %% [markdown]
# ### Preempt worker 1, then restart both
#
# The notebook plays the orchestrator. 07's `multiworker.launch` starts both workers and, with `pause_at="2:2"`, asks
# worker 1 to pause after step 2 of epoch 2 (step 7); there the script's `sigterm_point` waits until a SIGTERM has
# arrived, so the notice lands at the same step on every run. The notebook sends a real SIGTERM to worker 1 only, waits
# for both workers to exit, checks their exit codes, and starts both again (new ports), as an orchestrator would after
# exit code 42.

# %%
with processes.ProcessGroup() as group:
    attempt1 = multiworker.launch(group, "preempt_train.py", preempt_dir, attempt=1, pause_at="2:2")
    multiworker.wait_for_file(multiworker.paused_file(preempt_dir, 1), timeout=240, procs=attempt1)
    group.kill(attempt1[1], signal.SIGTERM)  # the preemption notice, to worker 1 only
    preempted_codes = group.wait(timeout=120, procs=attempt1)
    worker_temp_left = (preempt_dir / "workertemp_1").exists()
    checkpoint_files = sorted(p.name for p in (preempt_dir / "checkpoints").iterdir())
    attempt2 = multiworker.launch(group, "preempt_train.py", preempt_dir, attempt=2)  # the restart, new ports
    resumed_codes = group.wait(timeout=240, procs=attempt2)
os.chdir(notebook_dir)
preempt_alive = len(group.alive())
print("exit codes after the SIGTERM to worker 1:", preempted_codes)
print("checkpoint folder:", checkpoint_files, "| worker 1's temporary folder left:", worker_temp_left)
print("exit codes of the restarted workers:", resumed_codes)
print("processes still alive:", preempt_alive)

# %% [markdown]
# What each worker reported (the per-step lines summarised as a range of step numbers):


# %%
def worker_report(attempt, worker):
    """(step numbers, other event lines) of one worker in one attempt."""
    lines = multiworker.events(multiworker.log_path(preempt_dir, attempt, worker))
    return multiworker.step_losses(lines)[0], [line for line in lines if not line.startswith("step ")]


preempt_steps = {}
for attempt in (1, 2):
    for worker in (0, 1):
        steps, others = worker_report(attempt, worker)
        preempt_steps[attempt, worker] = steps
        print(f"attempt {attempt} worker {worker}: steps {steps[0]}–{steps[-1]}")
        for line in others:
            print("   ", line)

# %%
last_before = preempt_steps[1, 0][-1]
first_after = preempt_steps[2, 0][0]
steps_redone = sorted(set(preempt_steps[1, 0]) & set(preempt_steps[2, 0]))
steps_never_run = sorted(set(range(1, 16)) - set(preempt_steps[1, 0]) - set(preempt_steps[2, 0]))
print("last step completed before the preemption:", last_before)
print("first step after the restart:", first_after)
print("steps redone:", len(steps_redone), "| steps never run:", len(steps_never_run))
in_lockstep = preempt_steps[1, 0] == preempt_steps[1, 1] and preempt_steps[2, 0] == preempt_steps[2, 1]
verify(
    {
        "a SIGTERM to worker 1 after step 7 made both workers save after step 8 and exit with 42": in_lockstep
        and last_before == 8
        and preempted_codes == [42, 42],
        "the restart began at step 9 and finished: 0 steps redone, 0 skipped": first_after == 9
        and steps_redone == []
        and steps_never_run == []
        and resumed_codes == [0, 0],
        "no worker process is left alive": preempt_alive == 0,
    }
)

# %% [markdown]
# What happened, step by step:
#
# - **The notice.** Worker 1 received SIGTERM while paused after step 7 and trained on. Its handler passed the notice
#   to the other worker through the coordination service that `MultiWorkerMirroredStrategy` workers share, and the
#   handlers agreed on the step after which to save (the protocol is described in the handler's source,
#   `tensorflow/python/distribute/failure_handling/failure_handling.py`).
# - **One more step, together.** Worker 0 never received a signal. Both workers ran step 8 (a step needs both: its
#   gradients are summed across the workers); at their next `run` both saved (worker 0 into `checkpoints/`, worker 1
#   into `workertemp_1`, which it then deleted) and called `exit_fn`: exit code 42 on both.
# - **The restart.** Each new handler restored the checkpoint in its constructor; `optimizer.iterations` came back as
#   8, so the loop began at step 9. Steps 1–8 ran once, steps 9–15 ran once: nothing was done twice, nothing skipped.
#
# Notebook 07's restart after a SIGKILL at the same point began at step 6 and did steps 6 and 7 again: a backup at the
# end of each epoch loses the steps of the current epoch. The handler's price is that it needs the notice: a SIGKILL or
# a machine that dies gives none, which is why 07's regular backups are still worth having.
# On Kubernetes the SIGTERM comes when a pod is stopped, and SIGKILL follows after the pod's grace period;
# [Running on a real cluster](../docs/cluster.md) runs `preempt_train.py` unchanged as a Kubernetes Job and restarts it
# after exit code 42.

# %% [markdown]
# ### Keras 3 `fit`: `BackupAndRestore(save_freq=<steps>)` on one worker
#
# Keras 3 `fit` does not run under `MultiWorkerMirroredStrategy` (07), so its answer to interruptions is for one
# worker: `keras.callbacks.BackupAndRestore(backup_dir, save_freq=N)` backs up the model and the optimizer every `N`
# batches, and restores them when `fit` starts again. Does it also resume at the step after the backup? The same
# training problem (5 steps per epoch, 3 epochs), backed up after **every** step (`save_freq=1`), interrupted after
# step 2 of epoch 2 by a callback that raises; then a fresh model and a second `fit` with the same callback, as a
# restarted process would do. A small callback records (epoch, step in the epoch, optimizer step) after every batch.

# %%
rng = np.random.default_rng(0)
features = rng.normal(size=(5 * 16, 8)).astype("float32")  # 5 batches of 16 per epoch
targets = features.sum(axis=1, keepdims=True)
backup_dir = workdir / "fit-backup"


def tiny_regressor():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input(shape=(8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


class StepLog(keras.callbacks.Callback):
    """Records (epoch, step in the epoch, optimizer step) after each batch; raises after `stop_after`, if given."""

    def __init__(self, stop_after=None):
        super().__init__()
        self.stop_after, self.done = stop_after, []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        self.done.append((self.epoch, batch + 1, int(self.model.optimizer.iterations.numpy())))
        if (self.epoch, batch + 1) == self.stop_after:
            raise RuntimeError(f"interrupted after epoch {self.epoch} step {batch + 1}")


def fit_with_backup(log):
    model = tiny_regressor()  # a fresh model, as in a restarted process
    backup = keras.callbacks.BackupAndRestore(backup_dir, save_freq=1)
    model.fit(features, targets, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[backup, log])


interrupted_log = StepLog(stop_after=(2, 2))
try:
    fit_with_backup(interrupted_log)
except RuntimeError as err:
    print(f"{type(err).__name__}: {err}")
backup_files = sorted(p.name for p in backup_dir.iterdir())
backup_metadata = json.loads((backup_dir / "training_metadata.json").read_text())
print("last step before the interruption (epoch, step, optimizer step):", interrupted_log.done[-1])
print("backup folder:", backup_files, "| training_metadata.json:", backup_metadata)

# %%
resumed_log = StepLog()
fit_with_backup(resumed_log)
fit_redone = sorted({e_s[:2] for e_s in interrupted_log.done} & {e_s[:2] for e_s in resumed_log.done})
print("first step after the restart (epoch, step, optimizer step):", resumed_log.done[0])
print("(epoch, step) pairs trained twice:", fit_redone, "| steps redone:", len(fit_redone))
print("optimizer steps at the end:", resumed_log.done[-1][2], "for", 3 * 5, "different batches")
keys_read = re.findall(r'training_metadata\["(\w+)"\]', inspect.getsource(keras.callbacks.BackupAndRestore))
print("keys of training_metadata.json that the restore reads:", keys_read)
verify(
    {
        "the backup held step 7 and its position (epoch 1 done, batch 1)": interrupted_log.done[-1] == (2, 2, 7)
        and backup_metadata == {"epoch": 1, "batch": 1},
        "fit resumed at the start of epoch 2 and trained its first 2 steps again: 17 optimizer steps for 15 batches": (
            resumed_log.done[0] == (2, 1, 8) and fit_redone == [(2, 1), (2, 2)] and resumed_log.done[-1][2] == 17
        ),
        "the restore reads only the epoch; fit removed its backup when it completed": keys_read == ["epoch"]
        and not backup_dir.exists(),
    }
)

# %% [markdown]
# The backup held everything up to step 7, and its metadata even records the position (`"epoch": 1` epochs done,
# `"batch": 1`, the 0-based index of step 2 of epoch 2). But on restart the callback reads only `"epoch"`: `fit` began
# epoch 2 at its first batch, with the weights and the optimizer of step 7. So steps 1 and 2 of epoch 2 were trained a
# second time, on top of weights that already contained them, and the optimizer counted 17 steps for 15 batches.
# With Keras 3.15, `save_freq=<steps>` makes the restored weights fresher; it does not change where `fit` resumes,
# which is the start of the interrupted epoch, as with 07's epoch-end backups.
#
# | interrupted after step 7 (epoch 2, step 2) | restarted at | steps redone |
# | --- | --- | --- |
# | 07: `CheckpointManager` at each epoch end, SIGKILL | step 6 (epoch 2, step 1) | 2 |
# | Keras 3 `BackupAndRestore(save_freq=1)`, one worker | epoch 2, step 1 (optimizer step 8) | 2 (their updates applied twice) |
# | `PreemptionCheckpointHandler`, SIGTERM, 2 workers | step 9 (saved after step 8) | 0 |

# %% [markdown]
# ### Takeaway
#
# - With `PreemptionCheckpointHandler` and one step per `handler.run`, a SIGTERM to one worker made **both** workers
#   finish step 8, save, and exit with the restart code; the restart continued at step 9.
# - Where the loop starts is the script's job: keep the step counter in the checkpoint and compute each step's data
#   from it.
# - Keras 3.15's `BackupAndRestore(save_freq=<steps>)` resumed at the start of the interrupted epoch.

# %% [markdown]
# ## Exercises
#
# ### Exercise 1: what is in the handler's checkpoint?
#
# Restore the checkpoint the workers wrote when they were preempted (`checkpoints` in the preemption folder) into a
# fresh copy of the worker's model and optimizer, built in this process with no strategy, with a `tf.train.Checkpoint`
# like the script's: at which step is the optimizer? Then read the checkpoint's integer scalars with
# `tf.train.load_checkpoint` (`tf.train.list_variables` lists names and shapes): which counter did the handler add to
# the checkpoint you gave it? The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 1
checkpoint_dir = str(preempt_dir / "checkpoints")
keras.utils.set_random_seed(0)
fresh = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
fresh_optimizer = keras.optimizers.Adam(0.01)
fresh_optimizer.build(fresh.trainable_variables)
status = tf.train.Checkpoint(model=fresh, optimizer=fresh_optimizer).restore(tf.train.latest_checkpoint(checkpoint_dir))
status.assert_existing_objects_matched()
print("restored optimizer step:", int(fresh_optimizer.iterations.numpy()))
reader = tf.train.load_checkpoint(checkpoint_dir)
scalars = {
    name.removesuffix("/.ATTRIBUTES/VARIABLE_VALUE"): reader.get_tensor(name)
    for name, shape in tf.train.list_variables(checkpoint_dir)
    if shape == [] and name != "_CHECKPOINTABLE_OBJECT_GRAPH"
}
integers = {name: int(value) for name, value in scalars.items() if np.issubdtype(value.dtype, np.integer)}
print(integers)
verify(
    {
        "the handler's checkpoint restores the optimizer at step 8": int(fresh_optimizer.iterations.numpy())
        == integers["optimizer/_iterations"]
        == 8,
        "the handler added its own count of run calls, checkpointed_runs = 8": integers["checkpointed_runs"] == 8,
    }
)

# %% [markdown]
# ## What we verified
#
# Every line below is checked from what the cells above ran.

# %%
shutil.rmtree(workdir)
verify(
    {
        "the worker script's GCE_METADATA_IP makes the handler see no Google Cloud VM, so SIGTERM is the notice": (
            platform.name == "INTERNAL_CPU"
        ),
        "PreemptionCheckpointHandler: SIGTERM to one worker, both saved after step 8 and exited with 42": in_lockstep
        and last_before == 8
        and preempted_codes == [42, 42],
        "the restart began at step 9: 0 steps redone, 0 skipped; no process left alive": first_after == 9
        and steps_redone == []
        and steps_never_run == []
        and resumed_codes == [0, 0]
        and preempt_alive == 0,
        "Keras 3 BackupAndRestore(save_freq=1) resumed at the start of the interrupted epoch: 2 steps redone": fit_redone
        == [(2, 1), (2, 2)]
        and keys_read == ["epoch"],
        "the working folder was removed": not workdir.exists(),
    }
)

# %% [markdown]
# ---
# ← Previous: [09 · Crash-safe saves: keep the last good model when a save is killed](09_crash_safe_saves.ipynb) | [All notebooks](../README.md) | Next: [11 · Checkpoint cost at scale: what checkpointing a big model costs the training run](11_checkpoint_cost_at_scale.ipynb) →
