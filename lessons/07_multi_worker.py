# %% [markdown]
# # 07 · Multi-worker: `MultiWorkerMirroredStrategy`, saving, and surviving a killed worker
#
# Two real worker processes on this machine, the `TF_CONFIG` that ties them together, the two training routes that work today, how every worker must take part in a save, and what happens when a worker dies.
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
# - the current state of Keras 3 `model.fit` under `MultiWorkerMirroredStrategy` (it fails: keras-team/keras#20585)
# - route A: a Keras 3 model in a custom training loop with `tf.train.CheckpointManager` backups
# - route B: `tf_keras` `fit` with `BackupAndRestore`
# - why every worker saves (chief to the real path, the others to temporary dirs), and loading the result without a strategy or under `MirroredStrategy`
# - killing a worker mid-epoch: the survivor exits instead of hanging, and a restart resumes at the interrupted epoch
# - what changes on a real cluster (Kubernetes/TFJob, managed services) and what does not
#
# **Expected run time:** about 2 min on a 2-core CPU, no GPU needed.

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
import shutil
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow_datasets as tfds
import tf_keras

from helpers import data, errors, mnist_prep, multiworker, plots, processes, roundtrip

tf.get_logger().setLevel("ERROR")
print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| tf_keras", tf_keras.__version__)
print("MNIST source:", mnist_prep.prepare(log=None))

# %% [markdown]
# ## A cluster of two local processes
#
# `MultiWorkerMirroredStrategy` reads the cluster from the `TF_CONFIG` environment variable: the address of every worker and
# *which one this process is*. Worker 0 is the **chief** (it also writes checkpoints and the final model). On a real cluster the
# orchestrator sets `TF_CONFIG`; here `helpers.multiworker.tf_config` writes it for ports on 127.0.0.1 (example ports below; the
# real ones are picked free at run time and never printed).

# %%
print(json.dumps(json.loads(multiworker.tf_config([20001, 20002], index=1)), indent=1))

# %% [markdown]
# The worker program is `helpers/multiworker_train.py` (`python -m helpers.multiworker_train --route ... --workdir ...`). Each worker
# trains on the same 2048 MNIST images (sharded between the workers), 32 per worker per step, seeds fixed, and prints stable
# event lines (`MW| epoch 2/3 starts at step 5`, `MW| step 6 loss ≈1.9123`) that we read back from its log. The step numbers
# are exact; a loss comes out of float32 training, so the worker prints it after ≈.
# Every launch happens inside a `ProcessGroup`: leaving the `with` block, normally or on an error, terminates and reaps every
# process with bounded waits.

# %%
tmp = Path(tempfile.mkdtemp(prefix="multiworker-"))


def show(workdir, attempt, worker, steps=False):
    """Print a worker's event lines (without the per-step lines unless asked)."""
    for line in multiworker.events(Path(workdir) / f"attempt{attempt}-worker{worker}.log"):
        if steps or not line.startswith("step "):
            print(f"  attempt {attempt} worker {worker} | {line}")


# %% [markdown]
# ## Keras 3 `model.fit` under `MultiWorkerMirroredStrategy`: the current state
#
# Each worker builds the tutorial model under the strategy's scope and calls `fit`. Today this fails on both workers inside
# Keras 3's train step (**keras-team/keras#20585**, open). The worker catches the error and prints its type and first words;
# when Keras fixes the bug this output changes to `fit succeeded`, and this notebook's checked output flips with it.

# %%
fit_dir = tmp / "keras3-fit"
fit_dir.mkdir()
with processes.ProcessGroup() as group:
    multiworker.launch(group, "keras3-fit", fit_dir)
    fit_codes = group.wait(timeout=180)
fit_events = [multiworker.events(fit_dir / f"attempt1-worker{i}.log") for i in range(2)]
print("exit codes:", fit_codes)
for i in range(2):
    show(fit_dir, 1, i)

# %% [markdown]
# Two routes work without patching Keras: **A**, a Keras 3 model trained by a custom loop, and **B**, the Keras 2 package
# `tf_keras` (imported explicitly in the worker; `TF_USE_LEGACY_KERAS` is never set).

# %% [markdown]
# ## Route A: Keras 3 model, custom training loop, `CheckpointManager` backups
#
# The loop in `multiworker_train._route_ctl`, in short:
#
# ```python
# strategy = tf.distribute.MultiWorkerMirroredStrategy()          # reads TF_CONFIG
# model = models.get_model(strategy)                              # Keras 3, variables created in the scope
# dist_ds = strategy.distribute_datasets_from_function(dataset_fn) # each worker reads its shard
# checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch_var)
# manager = tf.train.CheckpointManager(checkpoint, backup_dir if chief else temp_dir, max_to_keep=1)
# if tf.train.latest_checkpoint(backup_dir): checkpoint.restore(...)   # resume
# for epoch in range(epochs_done + 1, epochs + 1):
#     for _ in range(steps): strategy.run(step_fn, args=next(iterator))   # gradients all-reduced across workers
#     epoch_var.assign(epoch); manager.save()                          # every worker saves; non-chiefs delete theirs
# ```
#
# We make the failure deterministic: worker 1 writes a marker file after step 2 of epoch 2 and waits; the notebook then sends it
# a real **SIGKILL** from outside. The chief is blocked in the next step's all-reduce, waiting for the dead worker.

# %%
ctl_dir = tmp / "ctl"
ctl_dir.mkdir()
with processes.ProcessGroup() as group:
    first = multiworker.launch(group, "ctl", ctl_dir, epochs=3, steps_per_epoch=5, pause_at="2:2", attempt=1)
    multiworker.wait_for_file(ctl_dir / "paused-task1", timeout=240, procs=first)
    group.kill(first[1])  # SIGKILL, from outside, during epoch 2
    killed_at = time.monotonic()
    chief_code = group.wait(timeout=60, procs=first[:1])[0]
    chief_seconds = time.monotonic() - killed_at
    print("killed worker 1, exit code:", group.wait(timeout=10, procs=first[1:])[0])
    print(
        "the chief exited by itself:",
        chief_code is not None,
        "| exit code:",
        chief_code,
        "| within 60 s:",
        chief_seconds < 60,
    )
    second = multiworker.launch(group, "ctl", ctl_dir, epochs=3, steps_per_epoch=5, attempt=2)  # new ports
    ctl_resume_codes = group.wait(timeout=240, procs=second)
print("restarted workers' exit codes:", ctl_resume_codes)
ctl_alive = len(group.alive())
print("processes still alive after the with block:", ctl_alive)

# %%
for attempt in (1, 2):
    show(ctl_dir, attempt, 0)
show(ctl_dir, 1, 1)

# %% [markdown]
# Attempt 2 restored the chief's backup (1 epoch done, optimizer step 5) and started at **epoch 2**, not epoch 1; the
# optimizer's `iterations` continue from 5. The steps of epoch 2 that ran before the kill (6 and 7) are simply redone: a backup
# taken at the end of each epoch loses at most one epoch of work.

# %%
ctl_curves = {
    f"attempt {a}": multiworker.step_losses(multiworker.events(ctl_dir / f"attempt{a}-worker0.log")) for a in (1, 2)
}
print({label: (steps[0], steps[-1]) for label, (steps, _) in ctl_curves.items()})
plots.loss_curves(ctl_curves, title="Route A: loss per global step, across the restart")

# %% [markdown]
# The curves overlap at steps 6–7 but do not coincide: the input iterator is not part of this backup, so attempt 2 starts
# reading the dataset from its first batch again. Only the model, the optimizer (with its step counter) and the epoch number
# were restored.

# %% [markdown]
# ### Load the chief's model in this process
#
# The chief saved `model.keras` and its own predictions on 16 fixed test digits; worker 1 saved to a temporary dir and removed
# it. We load the file with no strategy and under a 2-replica `MirroredStrategy` and compare with what the chief computed.
# Both loads read the same bits from the file, so their weights are identical. Their predictions match the chief's up to
# float32 rounding, not bit for bit: the chief computed in another process under `MultiWorkerMirroredStrategy`, and a
# different execution path adds the same products in another order, so the last digits can differ (which ones depends on
# the CPU).

# %%
probe, _ = next(iter(tfds.load("mnist", split="test[:16]", as_supervised=True).map(data.scale).batch(16)))
test_ds = tfds.load("mnist", split="test", as_supervised=True).map(data.scale).batch(500)
print(sorted(p.name for p in ctl_dir.iterdir() if not p.name.endswith(".log")))
chief_ctl = np.load(ctl_dir / "predictions.npy")
plain = keras.saving.load_model(ctl_dir / "model.keras")
mirrored = tf.distribute.MirroredStrategy(replica_devices)
with mirrored.scope():
    in_scope = keras.saving.load_model(ctl_dir / "model.keras")
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
# The worker (`multiworker_train._route_tf_keras`) calls the Keras 2 `fit` with
# `tf_keras.callbacks.BackupAndRestore(backup_dir=...)`, the same directory for every worker: tf_keras knows about multiple
# workers: the chief writes the backup there, the others write to temporary dirs. The same kill-and-restart scenario,
# packaged as `multiworker.kill_and_resume` (the steps of the cell above):

# %%
tfk_dir = tmp / "tf-keras"
tfk_dir.mkdir()
result = multiworker.kill_and_resume("tf-keras", tfk_dir, epochs=3, steps_per_epoch=5, pause_at="2:2")
print("killed worker exit code:", result.killed_code)
print(
    "the chief exited by itself:",
    result.survivor_code is not None,
    "| exit code:",
    result.survivor_code,
    "| within 60 s:",
    result.survivor_seconds < 60,
)
print("restarted workers' exit codes:", result.resumed_codes)
print("processes still alive:", len(result.alive_after))
for attempt in (1, 2):
    show(tfk_dir, attempt, 0)

# %%
tfk_curves = {
    f"attempt {a}": multiworker.step_losses(multiworker.events(tfk_dir / f"attempt{a}-worker0.log")) for a in (1, 2)
}
plots.loss_curves(tfk_curves, title="Route B (tf_keras fit): loss per global step, across the restart")

# %% [markdown]
# `fit`'s `loss` is the running mean over the epoch so far, so it restarts at each epoch boundary. The chief saved a
# tf_keras SavedModel directory (`model`); we load it like route A's file.

# %%
chief_tfk = np.load(tfk_dir / "predictions.npy")
print(sorted(p.name for p in tfk_dir.iterdir() if not p.name.endswith(".log")))
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
# Saving a tf_keras model runs collective ops across the workers. If only the chief saves (and worker 1 just waits for the
# chief's file), the chief blocks inside the save waiting for a partner that never joins. We give it 10 s and then stop both.
# The rule that follows: every worker calls save, the chief to the real path, the others to temporary dirs they delete, as
# routes A and B do above.

# %%
chief_only = tmp / "chief-only"
chief_only.mkdir()
with processes.ProcessGroup() as group:
    procs = multiworker.launch(group, "tf-keras", chief_only, epochs=1, steps_per_epoch=1, save="chief")
    skipped = chief_only / "attempt1-worker1.log"
    deadline = time.monotonic() + 240
    while (
        "skipping the save, waiting for the chief's model" not in multiworker.events(skipped)
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    try:
        multiworker.wait_for_file(chief_only / multiworker.PREDICTIONS_FILE, timeout=10, procs=procs)
        blocked = None
    except errors.WorkerError as err:
        blocked = err
    print("still running after 10 s:", [p.poll() is None for p in procs])
print(f"{type(blocked).__name__}: {blocked}")
print("processes still alive:", len(group.alive()))
show(chief_only, 1, 0)
show(chief_only, 1, 1)

# %% [markdown]
# ## Keras 3's `BackupAndRestore` and multiple workers
#
# Route B relies on tf_keras's `BackupAndRestore` knowing about the cluster. Keras 3's version has no such logic; its source
# never mentions a chief, a worker or a strategy:

# %%
import inspect

for name, cb in (("keras", keras.callbacks.BackupAndRestore), ("tf_keras", tf_keras.callbacks.BackupAndRestore)):
    src = inspect.getsource(cb)
    print(
        f"{name:9} BackupAndRestore mentions chief/worker/distribute:",
        [word for word in ("chief", "worker", "distribute") if word in src],
    )

# %% [markdown]
# So with Keras 3, every worker would treat a shared `backup_dir` as its own and write the same files into it, and nothing
# decides which copy is the truth. (We cannot run that here, since Keras 3 `fit` itself fails multi-worker, see above.)
# Until Keras 3 `fit` works multi-worker, back up the way route A does: `tf.train.CheckpointManager`, chief to the shared dir,
# the others to temporary dirs, everyone restoring from `tf.train.latest_checkpoint(shared_dir)`.

# %% [markdown]
# ## On a real cluster
#
# **Unchanged:** the worker program (`python -m helpers.multiworker_train ...` here), `MultiWorkerMirroredStrategy()` reading
# `TF_CONFIG`, the chief/non-chief save rule, and the restore-at-start logic.
#
# **Changes:**
# - *Who writes `TF_CONFIG`*: Kubeflow's `TFJob` operator (or Vertex AI / SageMaker training jobs) sets it in every pod;
#   addresses are service DNS names instead of `127.0.0.1:port`.
# - *Storage*: the backup dir and the model path must be on storage every worker can reach (GCS/S3/NFS), since the restarted
#   workers may run on other machines; the non-chiefs' temporary dirs can stay local.
# - *Restarts*: the orchestrator does what this notebook did by hand. When a pod dies, the others fail fast (as the chief did
#   here), and a `restartPolicy: OnFailure`/`ExitCode` (TFJob) or the service's retry restarts the job; the code resumes from
#   the last backup.
# - *Chief*: some setups add a separate `chief` task type in `TF_CONFIG`; then that task, not worker 0, is the chief.

# %%
shutil.rmtree(tmp)
print("temporary files removed:", not tmp.exists())

# %% [markdown]
# ## What we verified

# %%
assert fit_codes == [3, 3]  # flips when keras-team/keras#20585 is fixed
assert all(lines[0].startswith("fit failed: ValueError: Attempt to convert a value") for lines in fit_events)
for curves, code, resumed in (
    (ctl_curves, chief_code, ctl_resume_codes),
    (tfk_curves, result.survivor_code, result.resumed_codes),
):
    assert code not in (None, 0) and resumed == [0, 0]
    assert curves["attempt 1"][0][-1] == 7 and curves["attempt 2"][0][0] == 6 and curves["attempt 2"][0][-1] == 15
assert chief_seconds < 60 and result.survivor_seconds < 60 and result.killed_code == -9
assert ctl_alive == 0 and len(result.alive_after) == 0 and len(group.alive()) == 0
assert all(c.max_abs_diff <= c.tolerance for c in [*ctl_close.values(), *tfk_close.values()])
assert ctl_accuracy > 0.5 and tfk_accuracy > 0.5
assert isinstance(blocked, errors.WorkerError)
assert "chief" not in inspect.getsource(keras.callbacks.BackupAndRestore)
print("✓ Keras 3 fit under MultiWorkerMirroredStrategy fails on both workers (keras-team/keras#20585)")
print("✓ routes A (Keras 3 + custom loop) and B (tf_keras fit) both train on 2 worker processes")
print("✓ a SIGKILLed worker makes the survivor exit within 60 s; no process is left alive")
print("✓ the restart resumed at epoch 2 with the step counter continuing at 6, for both routes")
print("✓ the chief's saved models load with no strategy and under MirroredStrategy: identical weights, and the chief's")
print("  predictions up to float32 rounding; both test accuracies > 0.5 after 15 steps")
print("✓ a chief-only tf_keras save blocks; Keras 3's BackupAndRestore has no multi-worker logic")
