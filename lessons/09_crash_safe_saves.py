# %% [markdown]
# # 09 · Checkpointing for real training runs: crash-safe saves, preemption, and cost at scale
#
# Three ways a long training run loses work, each shown on this machine with what helps against it: a process killed in the middle of a save, a worker preempted in the middle of an epoch, and checkpoints of a big model that stall training.
#
# **This notebook answers:** How do I keep the last good model when a save is interrupted, lose no steps when a worker is preempted, and checkpoint a big model without stalling training?
#
# <table align="left">
#   <td><a target="_blank" href="https://colab.research.google.com/github/tf-distribute-notebooks/save-and-load/blob/main/notebooks/09_checkpointing_at_scale.ipynb"><img src="https://www.tensorflow.org/images/colab_logo_32px.png" />Run in Google Colab</a></td>
#   <td><a target="_blank" href="https://github.com/tf-distribute-notebooks/save-and-load/blob/main/notebooks/09_checkpointing_at_scale.ipynb"><img src="https://www.tensorflow.org/images/GitHub-Mark-32px.png" />View source on GitHub</a></td>
# </table>
# <br clear="all">
#
# **What you'll learn**
#
# - why `model.save("model.keras")` over the last good model is not crash-safe: a process killed during the save leaves a file that no longer loads, and what loading it says
# - how to save so that a crash at any moment keeps the last good model: a temporary name in the same folder, `fsync`, one atomic rename (`helpers.atomic_save`)
# - which of the eight ways to save (`.keras`, `.weights.h5`, `model.export`, `tf.saved_model.save`, `Checkpoint.write`, `CheckpointManager`, `ModelCheckpoint`, `BackupAndRestore`) kept the last good model when this collection's benchmark killed them at five moments of their save
# - how `PreemptionCheckpointHandler` turns a SIGTERM to one `MultiWorkerMirroredStrategy` worker into a save by every worker at the next step, and a restart with no step redone
# - where Keras 3's `BackupAndRestore(save_freq=<steps>)` really resumes
# - what checkpoints of models up to 50 million parameters cost, against the disk's own speed; what asynchronous checkpoints and sharding change, and how to write asynchronous checkpoints of a Keras 3 model again and again without leaving a thread and a copy of the model behind per save
#
# **Expected run time:** about 45 s on a 2-core CPU, no GPU needed.

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
import json
import os
import signal
import tempfile
from pathlib import Path

import keras

from helpers import processes, roundtrip

tf.get_logger().setLevel("ERROR")
workdir = Path(tempfile.mkdtemp(prefix="nb09-"))  # everything this notebook writes goes here
print("TensorFlow", tf.__version__, "| Keras", keras.__version__)

# %% [markdown]
# ## Part 1 · A crash in the middle of a save
#
# A long run saves its model again and again under the same name, and each save replaces the last good one. What if
# the process dies *during* a save: the out-of-memory killer, a machine taken away without notice, a `kill -9`, a
# power cut? Keras 3's `model.save("model.keras")` opens the file with `open(path, "wb")`, which empties it at once,
# and only then writes the new archive into it. From the first instant of the save until its last byte there is no
# complete model on disk: neither the previous one nor the new one.
#
# We make that happen on purpose. A separate process saves a good model, then overwrites it with a newer one; this
# notebook kills it with SIGKILL (no exception handler, no `finally` block runs) at the moment the save starts to
# change the folder. The moment is chosen by the folder, not by a clock, so the outcome is the same on every machine.

# %%
import contextlib
import zipfile

from helpers import atomic_save, multiworker

cwd_before_part1 = Path.cwd()
crash_dir = workdir / "crash"
crash_dir.mkdir()
os.chdir(crash_dir)  # the writer script is written here; each run gets a folder here
print("working folder is empty:", not any(crash_dir.iterdir()))

# %% [markdown]
# ### The writer
#
# `save_twice.py` builds a dense model of 4 million parameters with Adam's state (the `.keras` file keeps the
# optimizer too, so a save writes about 48 MB), sets every weight from seed 1 and saves: that is the **last good
# model**. Then it sets every weight from seed 2, says it is ready, waits for the notebook's "go" and saves again to
# the same file, either the usual way (`naive`) or through `save_atomically` (`safe`, explained below). Its control
# files (`ready`, `go`, `done`) live beside the `models/` folder that holds the model, so they do not count as changes.

# %%
# %%writefile save_twice.py
"""Save a good model, then overwrite it with a newer one: python save_twice.py naive|safe"""

import sys
import time
from pathlib import Path

import keras
import numpy as np

from helpers.atomic_save import save_atomically


def weights_from_seed(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.standard_normal(w.shape, dtype=np.float32) for w in model.weights])


mode = sys.argv[1]
target = Path("models", "model.keras")
target.parent.mkdir()
model = keras.Sequential([keras.Input((1000,)), keras.layers.Dense(2000), keras.layers.Dense(1000)])
model.compile(optimizer="adam", loss="mse")
model.optimizer.build(model.trainable_variables)  # Adam's two moments per weight: saved in model.keras too

weights_from_seed(model, 1)
model.save(target)  # the last good model: a complete save
weights_from_seed(model, 2)
Path("ready").touch()
while not Path("go").exists():
    time.sleep(0.01)
if mode == "naive":
    model.save(target)  # overwrites model.keras in place
else:
    save_atomically(model.save, target)  # a temporary name, fsync, then one atomic rename
Path("done").touch()

# %% [markdown]
# ### Kill at the first change
#
# The notebook waits for `ready`, takes a snapshot of `models/` (name, size, modification time and inode of every
# entry), creates `go`, then compares a new snapshot with it every millisecond. The first difference means the save
# has started to touch the folder: the notebook SIGKILLs the writer at once (`ProcessGroup.kill`). The process group
# makes sure the writer is gone even if the cell fails.


# %%
import time

import numpy as np


def snapshot(folder):
    """Name, size, modification time and inode of every entry in `folder`."""
    entries = set()
    for entry in os.scandir(folder):
        with contextlib.suppress(FileNotFoundError):  # an entry can vanish while we look
            st = entry.stat(follow_symlinks=False)
            entries.add((entry.name, st.st_size, st.st_mtime_ns, st.st_ino))
    return entries


def overwrite_and_kill(mode):
    """Run save_twice.py in `mode` in a fresh folder; SIGKILL it when its second save changes models/."""
    run_dir = crash_dir / mode
    run_dir.mkdir()
    with processes.ProcessGroup() as group:
        writer = group.python([str(crash_dir / "save_twice.py"), mode], cwd=run_dir, log=run_dir / "writer.log")
        multiworker.wait_for_file(run_dir / "ready", timeout=300, procs=[writer])
        before = snapshot(run_dir / "models")
        (run_dir / "go").touch()
        while snapshot(run_dir / "models") == before:
            time.sleep(0.001)
        group.kill(writer)  # SIGKILL to its process group
        (code,) = group.wait(timeout=30, procs=[writer])
    print(f"{mode}: writer killed (exit code {code}); its second save had finished: {(run_dir / 'done').exists()}")
    return run_dir / "models" / "model.keras"


# %% [markdown]
# ### The usual save, killed
#
# The file is still there, under its name. Loading it is what a restarted job would do first:

# %%
naive_model = overwrite_and_kill("naive")
print("models/ holds:", sorted(p.name for p in naive_model.parent.iterdir()))
try:
    keras.models.load_model(naive_model)
except ValueError as err:
    naive_error = err
    print(f"{type(err).__name__}: {str(err).replace(str(naive_model), '<path>')}")
assert isinstance(naive_error, ValueError) and str(naive_error).startswith("File not found")

# %% [markdown]
# Both models are lost: the good one was emptied by the second save, and the new one was never completed. And the
# message says "File not found" about a file that exists: Keras checks that the file is a whole zip archive before
# it looks inside, and reports every file that fails that check this way. A file damaged *inside* gives another
# error on Keras ≥ 3.15; on Keras 3.13 it even loads, with whatever the damaged bytes now say. Here are the three
# cases side by side, on a small model saved in this notebook: the whole file, the same file cut in half (what a crash during the save leaves), and the same file with 64 bytes overwritten in the middle
# (a bad disk block, a bad copy). A few lines of `zipfile` tell them apart in plain words: `is_zipfile` checks that
# the archive's directory at the end of the file is there, and `testzip` reads every member and checks its CRC-32.


# %%
from packaging.version import Version


def diagnose_keras_file(path):
    """Why a .keras file does not load, in plain words (or that it is intact)."""
    if not Path(path).exists():
        return "missing"
    if not zipfile.is_zipfile(path):
        return "incomplete: not a whole zip archive (a save was interrupted?)"
    damaged = zipfile.ZipFile(path).testzip()  # name of the first member whose CRC-32 does not match, or None
    return f"corrupt: {damaged} fails its CRC-32 check" if damaged else "intact"


small = keras.Sequential([keras.Input((100,)), keras.layers.Dense(1000), keras.layers.Dense(10)])
small.save("small.keras")
whole = Path("small.keras").read_bytes()
Path("small-half.keras").write_bytes(whole[: len(whole) // 2])
middle = len(whole) // 2
Path("small-damaged.keras").write_bytes(whole[:middle] + b"\x55" * 64 + whole[middle + 64 :])

load_errors = {}
for name in ["small.keras", "small-half.keras", "small-damaged.keras"]:
    try:
        keras.models.load_model(name)
        load_errors[name] = None
        loaded = "loads"
    except Exception as err:
        load_errors[name] = type(err).__name__
        loaded = f"{type(err).__name__}: {str(err).replace(name, '<path>')}"
    print(f"{name:<20} {diagnose_keras_file(name)}\n{'':<20} load_model: {loaded}")
print(f"{'models/model.keras':<20} {diagnose_keras_file(naive_model)}")
damaged_error = "BadZipFile" if Version(keras.version()) >= Version("3.15") else None  # Keras 3.13: loads anyway
assert load_errors == {"small.keras": None, "small-half.keras": "ValueError", "small-damaged.keras": damaged_error}
assert diagnose_keras_file(naive_model).startswith("incomplete")

# %% [markdown]
# ### The fix: a temporary name, fsync, one atomic rename
#
# `helpers.atomic_save.save_atomically(save, target)` calls `save(tmp)` with a hidden name in the **same folder**,
# `.saving-<random>-model.keras` (it ends with the target's name, so Keras's check of the `.keras` ending passes).
# When `save` returns, it `fsync`s what was written (the bytes reach the disk, not just the page cache), renames the
# temporary onto the target with `os.replace` (one atomic step on the same file system: at every instant the name
# points at the whole old file or at the whole new one), and `fsync`s the folder so that the rename itself is on
# disk. If `save` raises, the temporary is deleted and the target is untouched. For a folder (a SavedModel, a
# checkpoint folder), which `os.replace` cannot put over another folder, it swaps the two folders in one step on
# Linux (`renameat2` with `RENAME_EXCHANGE`) and deletes the old one; the module's docstring describes the fallback
# on other systems.
#
# The same kill, the same moment: the first change in `models/`.

# %%
safe_model = overwrite_and_kill("safe")
stray = atomic_save.leftovers(safe_model)
print(
    "models/ holds:",
    sorted(p.name[:8] + "…" + p.name[20:] if p in stray else p.name for p in safe_model.parent.iterdir()),
)
restored = keras.models.load_model(safe_model)
rng = np.random.default_rng(1)  # the last good model's weights, as save_twice.py drew them
good_weights = [rng.standard_normal(w.shape, dtype=np.float32) for w in restored.weights]
identical = all(np.array_equal(a, b) for a, b in zip(restored.get_weights(), good_weights, strict=True))
print("model.keras loads:", True, "| weights identical to the last good model's (bitwise):", identical)
print("removed", len(atomic_save.remove_leftovers(safe_model)), "leftover; now:", os.listdir(safe_model.parent))
assert identical and len(stray) == 1 and os.listdir(safe_model.parent) == ["model.keras"]
os.chdir(cwd_before_part1)

# %% [markdown]
# The kill left the killed save's temporary beside the model: disk space, not damage. A job can remove such leftovers
# when it starts (`atomic_save.remove_leftovers(target)`), while no other process saves to that target.
#
# ### Every way to save, killed at five moments of the save
#
# `python -m benchmarks.kill_matrix` (`make bench`) runs the same experiment for every way to save a model, with a
# model of 10 million parameters and Adam's state (120 MB for the formats that keep the optimizer): for each format,
# once as the format's own call and once through `save_atomically`, an uninterrupted save to measure how long the
# save takes, then 5 kills: at the first change, and at 20 %, 40 %, 60 % and 80 % of the save's duration after it.
# After each kill a fresh process restores what is left the way a restarted job would, and compares the weights
# bitwise with the last good ones and the new ones. A kill *lost the last good model* when neither comes back.
# The Keras callbacks are trained with `fit`: their first epoch writes the good model, the kill lands in the second
# epoch's save; their safe variant is a small callback that saves through `save_atomically`. Measured on a 2-core
# AMD EPYC (x86-64) with an ext4 disk, TensorFlow 2.21 and Keras 3.15.1, on 2026-11-30:
#
# | way to save | what the save does to the previous files | kills that lost the last good model: as is | through `save_atomically` | loading what a killed save left (as is) |
# |---|---|---|---|---|
# | `model.save("model.keras")` | opens the file with O_TRUNC, writes the zip into it | 5 of 5 | 0 of 5 | `` ValueError: File not found: filepath=<path>. Please ensure the file is an accessible `.keras` zip file. `` (kill 0) |
# | `model.save_weights("model.weights.h5")` | h5py opens the file with O_TRUNC, writes into it | 4 of 5 | 0 of 5 | `` OSError: Unable to synchronously open file (file signature not found) `` (kill 0) |
# | `model.export(folder)` | writes the variables under temporary names, renames the data file over the old one, then rewrites `variables.index` in place; `saved_model.pb` via temporary + rename | 0 of 5 | 0 of 5 | the previous model (or the new one) |
# | `tf.saved_model.save(model, folder)` | the same sequence as `model.export` | 1 of 5 | 0 of 5 | `` DataLossError: TensorBundle at <path> shard 0 (20000000 bytes): Checksum does not match `` (kill 4) |
# | `tf.train.Checkpoint(...).write(prefix)` | writes the data in `<prefix>_temp/`, renames it over the old data file, then rewrites `<prefix>.index` in place | 1 of 5 | 0 of 5 | `` DataLossError: TensorBundle at <path> shard 0 (20000000 bytes): Checksum does not match `` (kill 4) |
# | `tf.train.CheckpointManager(...).save()` | writes a new prefix `ckpt-N`, switches the `checkpoint` file (temporary + rename), then deletes `ckpt-(N-1)` | 0 of 5 | n/a: already writes a new name each time and switches to it atomically | the previous model (or the new one) |
# | `keras.callbacks.ModelCheckpoint("model.keras")` | `model.save` at every epoch end: as `model.save` | 5 of 5 | 0 of 5 | `` ValueError: File not found: filepath=<path>. Please ensure the file is an accessible `.keras` zip file. `` (kill 0) |
# | `keras.callbacks.BackupAndRestore(folder)` | `save_weights` into `latest.weights.h5` in place, then `training_metadata.json` in place | 5 of 5 | 0 of 5 | `` OSError: Unable to synchronously open file (file signature not found) `` (kill 0) |
# | `BackupAndRestore(folder, double_checkpoint=True)` | first copies both files to `*.bkp` (in place), then as above; a restore that fails with OSError uses the copies | 0 of 5 | n/a: Keras's own fallback copy (the safe variant is that of `BackupAndRestore`) | the previous model (or the new one) |
#
# What the numbers say:
#
# - The ways that write **in place**, `model.save`, `save_weights`, `ModelCheckpoint` with a fixed file name and
#   Keras 3's `BackupAndRestore`, lost the last good model in nearly every kill (one kill of `save_weights` came so
#   late that the new file was already whole).
# - TensorFlow's writers (`model.export`, `tf.saved_model.save`, `Checkpoint.write`) write the big data file under a
#   temporary name, so most kills left the previous model whole. But all three end the same way: they rename the new
#   data file over the old one and only then rewrite the small `.index` file in place. A kill in between leaves an
#   index and a data file of two different saves, and the restore fails (`DataLossError: ... Checksum does not
#   match`, or `file is too short to be an sstable` when the index itself was cut short).
# - That window is narrow, and whether a kill lands in it is chance. In the run of the table the kills at 80 % of
#   `tf.saved_model.save` and of `Checkpoint.write` did, and `model.export`'s did not. In 3 more runs of these three
#   writers with 10 kills each (at 0 %, 10 %, …, 90 %; same machine, 2026-12-06, other jobs running on it;
#   `benchmarks/results/kill_window/`), `model.export` lost 1 kill of 30, `tf.saved_model.save` 1 of 30 and
#   `Checkpoint.write` 0 of 30. One or two kills in 35 for each writer are too few to rank the three: none of them
#   keeps the last good model through a kill at the wrong moment. Nor is "80 % of the save" a precise moment: the
#   uninterrupted `tf.saved_model.save` took 0.15 s in one run and 0.51 s in another, so the same fraction lands at
#   different points of the save.
# - `CheckpointManager.save` writes a new name (`ckpt-2`) every time and switches its `checkpoint` file atomically,
#   and `BackupAndRestore(double_checkpoint=True)` falls back to a copy of the previous backup: no kill broke them.
# - Through `save_atomically`, no kill lost the last good model, in any format.
# - A kill does not lose what a process already wrote: the operating system still holds it. A power cut or a kernel
#   crash can, which this experiment cannot show: a file renamed before its bytes reached the disk can come back
#   empty. That is why `save_atomically` `fsync`s the new files before the rename, and the folder after it.

# %% [markdown]
# ### Takeaways
#
# - Saving over the last good model with `model.save` is not safe: a process killed during the save leaves a file
#   that no longer loads, and the previous model is gone with it.
# - Loading such a file says `ValueError: File not found`, although the file is there; `zipfile.is_zipfile` and
#   `ZipFile.testzip` say what is really wrong (incomplete, or damaged inside).
# - `save_atomically(model.save, "model.keras")` writes to a temporary name in the same folder, `fsync`s, and
#   renames atomically: killed at the same moment, the last good model was still there, bitwise identical.
# - Killed saves leave hidden temporaries: remove them when the job starts.

# %% [markdown]
# ## Part 2 · Preemption: stop at the next step, resume at the step after it
#
# A cloud VM or a cluster scheduler that takes a machine away often says so first: the training process receives a
# **SIGTERM**, and is killed a little later. Notebook 07 did not use that notice: its backup was written at the end
# of every epoch, so after worker 1 died during epoch 2 the restart began epoch 2 again and did steps 6 and 7 a
# second time. On a long epoch that is hours of work.
#
# `tf.distribute.experimental.PreemptionCheckpointHandler` uses the notice. Every training step goes through
# `handler.run(train_step, ...)`; when *any* worker receives SIGTERM, *all* workers save a checkpoint at the next
# step and exit, and a restarted job continues with the step after it. Below: two local
# `MultiWorkerMirroredStrategy` workers, a SIGTERM to worker 1 at the same point where 07 killed its worker (after
# step 2 of epoch 2, step 7), and the step numbers before and after the restart.

# %%
from helpers import preemption

cwd_before_part2 = Path.cwd()
preempt_dir = workdir / "preemption"
preempt_dir.mkdir()
os.chdir(preempt_dir)  # the worker script is written here; its runs write their logs and checkpoints here too
print("working folder is empty:", not any(preempt_dir.iterdir()))

# %% [markdown]
# ### The worker program
#
# Each worker runs this script with its own `TF_CONFIG` (see 07). What the handler needs from it:
#
# - **a checkpoint and a folder**: `PreemptionCheckpointHandler(cluster_resolver, checkpoint, checkpoint_dir,
#   termination_config)`. Its constructor restores the latest checkpoint in `checkpoint_dir`, if there is one, and
#   from then on treats SIGTERM as a preemption notice (it installs a signal handler).
# - **one step per `run`**: `handler.run(train_step, step)` runs one distributed step, or, after a notice anywhere in
#   the cluster, saves (the chief into `checkpoint_dir`, the other workers into temporary folders they delete) and
#   calls `exit_fn`. Ours prints a line and exits with code 42, as the handler's default does on machines that are
#   not Google Cloud VMs; tell your orchestrator to restart a job that exits with that code.
# - **a step counter that is restored**: `optimizer.iterations` is in the checkpoint, so after a restart the loop
#   starts at the step after the saved one.
# - **data that follows the step counter**: the handler knows nothing about the input pipeline. Here each step's
#   batch is generated from the step number (and the worker's replica id), so step 9 reads the same data in an
#   interrupted run and in an uninterrupted one.
#
# A tiny regression model keeps each run short; the pattern is the same for any model. As in 07, the `try` block is
# for this notebook only: `event` prints the lines the notebook reads back, and `sigterm_point` makes the worker that
# is to be preempted wait after a known step until the notebook's SIGTERM has arrived. Without this collection's
# `helpers` package they fall back to `print` and to doing nothing.

# %%
# %%writefile preempt_train.py
"""Multi-worker training that survives preemption: after a SIGTERM to any worker, all save at the next step and exit."""

import os
import sys

import keras
import tensorflow as tf

try:  # demo only: event lines for the notebook, and a pause where the notebook sends SIGTERM
    from helpers.multiworker_hooks import event
    from helpers.preemption import sigterm_point
except ImportError:  # running the script on your own: plain prints, no pause
    event, sigterm_point = print, lambda epoch, step: None

EPOCHS, STEPS_PER_EPOCH, PER_WORKER_BATCH = 3, 5, 16
RESTART_CODE = 42  # "saved after a preemption notice: restart me"
workdir = sys.argv[1]  # shared by all workers: the checkpoint

strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
global_batch = PER_WORKER_BATCH * strategy.num_replicas_in_sync


def exit_fn():  # the handler calls it once this worker has saved
    event(f"saved after step {int(optimizer.iterations.numpy())}, exiting with code {RESTART_CODE}")
    sys.exit(RESTART_CODE)


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
        x = tf.random.stateless_normal([PER_WORKER_BATCH, 8], seed=tf.stack([step, replica]))  # this step's data
        y = tf.reduce_sum(x, axis=1, keepdims=True)
        with tf.GradientTape() as tape:
            per_example = tf.square(model(x, training=True) - y)[:, 0]
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return strategy.reduce("SUM", strategy.run(step_fn, args=(step,)), axis=None)


first = int(optimizer.iterations.numpy()) + 1  # 1, or the step after the one the restored checkpoint holds
event(f"starting at step {first}")
for step in range(first, EPOCHS * STEPS_PER_EPOCH + 1):
    loss = handler.run(train_step, tf.constant(step, tf.int64))  # after a notice: save and exit instead
    event(f"step {step} loss ≈{float(loss):.4f}")
    sigterm_point((step - 1) // STEPS_PER_EPOCH + 1, (step - 1) % STEPS_PER_EPOCH + 1)  # (epoch, step in epoch)
event(f"finished after step {int(optimizer.iterations.numpy())}")

# %% [markdown]
# ### Preempt worker 1, then restart both
#
# The notebook plays the orchestrator. `preemption.launch` starts both workers like 07's `multiworker.launch` and
# asks worker 1 to wait after step 2 of epoch 2 (step 7) until a SIGTERM has arrived, so the notice lands at the same
# step on every run. The notebook sends a real SIGTERM to worker 1 only, waits for both workers to exit, checks their
# exit codes, and starts both again (new ports), as an orchestrator would after exit code 42.
#
# One detail of the handler matters for where you run it: at start-up it asks the Google Cloud metadata server whether
# it runs on a Google Cloud VM, and on a Google Cloud VM with CPUs only its `run` just calls the step and handles no
# notice at all (see its source, `tensorflow/python/distribute/failure_handling/failure_handling.py`).
# `preemption.launch` points that check at a local port where nothing answers, so that this demo behaves the same on
# every machine: SIGTERM is the notice.

# %%
with processes.ProcessGroup() as group:
    attempt1 = preemption.launch(group, "preempt_train.py", preempt_dir, attempt=1, sigterm_at="2:2")
    multiworker.wait_for_file(multiworker.paused_file(preempt_dir, 1), timeout=240, procs=attempt1)
    group.kill(attempt1[1], signal.SIGTERM)  # the preemption notice, to worker 1 only
    preempted_codes = group.wait(timeout=120, procs=attempt1)
    worker_temp_left = (preempt_dir / "workertemp_1").exists()
    checkpoint_files = sorted(p.name for p in (preempt_dir / "checkpoints").iterdir())
    attempt2 = preemption.launch(group, "preempt_train.py", preempt_dir, attempt=2)  # the restart, new ports
    resumed_codes = group.wait(timeout=240, procs=attempt2)
os.chdir(cwd_before_part2)
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
    lines = multiworker.events(preempt_dir / f"attempt{attempt}-worker{worker}.log")
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
assert preempt_steps[1, 0] == preempt_steps[1, 1] and preempt_steps[2, 0] == preempt_steps[2, 1]  # in lockstep
assert (last_before, first_after) == (8, 9) and steps_redone == [] and steps_never_run == []
assert preempted_codes == [42, 42] and resumed_codes == [0, 0] and preempt_alive == 0

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
import inspect
import re

resumed_log = StepLog()
fit_with_backup(resumed_log)
fit_redone = sorted({e_s[:2] for e_s in interrupted_log.done} & {e_s[:2] for e_s in resumed_log.done})
print("first step after the restart (epoch, step, optimizer step):", resumed_log.done[0])
print("(epoch, step) pairs trained twice:", fit_redone, "| steps redone:", len(fit_redone))
print("optimizer steps at the end:", resumed_log.done[-1][2], "for", 3 * 5, "different batches")
keys_read = re.findall(r'training_metadata\["(\w+)"\]', inspect.getsource(keras.callbacks.BackupAndRestore))
print("keys of training_metadata.json that the restore reads:", keys_read)
assert interrupted_log.done[-1] == (2, 2, 7) and backup_metadata == {"epoch": 1, "batch": 1}
assert resumed_log.done[0] == (2, 1, 8) and fit_redone == [(2, 1), (2, 2)] and resumed_log.done[-1][2] == 17
assert keys_read == ["epoch"] and not backup_dir.exists()  # fit removes its backup when it completes

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
#   finish the next step (8), save, and exit with the restart code; the restart continued at step 9. No step was run
#   twice, none was skipped.
# - The handler restores the checkpoint in its constructor; where the loop starts is the script's job. Ours keeps its
#   step counter in the checkpoint (`optimizer.iterations`) and computes each step's data from the step number, so the
#   restart began at step 9, with step 9's data.
# - Keras 3.15's `BackupAndRestore(save_freq=<steps>)` saved after every step, yet `fit` resumed at the start of the
#   interrupted epoch and trained the steps done in it a second time.

# %% [markdown]
# ## Part 3 · Cost at scale: what a checkpoint of a big model costs the training run
#
# Notebook 08 timed saves of a small CNN, where every format takes a fraction of a second. A model worth checkpointing
# during a long run is bigger: at 12 bytes per parameter (the float32 weight plus Adam's two moments, notebook 08), a
# 50-million-parameter model writes **600 MB** per checkpoint, and while a synchronous save runs, training waits. Three
# questions decide how often you can afford to checkpoint:
#
# - **How close does each way to save come to what the disk can do?** A number of seconds means little on its own;
#   compared with the raw write and read bandwidth of the same folder, it says how much of the cost is the disk and
#   how much is the format (serialising, copying, tracing a graph).
# - **Does an asynchronous checkpoint hide the cost?** `tf.train.CheckpointOptions(enable_async=True)` copies the
#   variables and writes the copy in a background thread, so the training loop continues; but the write still needs
#   CPU time and the disk.
# - **Does sharding help?** `tf.train.experimental.MaxShardSizePolicy` splits the variables into several data files
#   of at most a given size.
#
# First the two checkpoint options themselves, on a model of 1 million parameters: `benchmarks.checkpoint.build_model`
# makes a stack of 4 `Dense(500)` layers and runs one training step, which creates Adam's moments.

# %%
from benchmarks import checkpoint as bench

keras.utils.set_random_seed(0)
big = bench.build_model(1_000_000)  # 4 Dense(500) layers on a 500-wide input, Adam's state made by one training step
print(f"{big.count_params():,} parameters, optimizer at step {int(big.optimizer.iterations.numpy())}")
cost_dir = workdir / "cost"

async_options = tf.train.CheckpointOptions(enable_async=True)  # formerly experimental_enable_async_checkpoint
checkpoint = tf.train.Checkpoint(model=big, optimizer=big.optimizer)
checkpoint.write(str(cost_dir / "async" / "ckpt"), options=async_options)  # returns once the values are copied
checkpoint.sync()  # wait for the background write: before reading the files, and before the program ends

shard_policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=2 * 2**20)  # data files of at most 2 MiB
sharded_options = tf.train.CheckpointOptions(experimental_sharding_callback=shard_policy)
tf.train.Checkpoint(model=big, optimizer=big.optimizer).write(
    str(cost_dir / "sharded" / "ckpt"), options=sharded_options
)

for name in ("async", "sharded"):
    data_files = sorted((cost_dir / name).glob("ckpt.data-*"))
    restored = bench.build_model(1_000_000, train_step=False)  # built by code: other weights, optimizer at step 0
    status = tf.train.Checkpoint(model=restored, optimizer=restored.optimizer).read(str(cost_dir / name / "ckpt"))
    status.assert_existing_objects_matched()
    weights = roundtrip.assert_identical_weights(big, restored)
    slots = roundtrip.assert_same_optimizer_state(big, restored)
    step = int(restored.optimizer.iterations.numpy())
    print(f"{name:<8} data files: {len(data_files)}; identical after read: {weights} weights, {slots} optimizer arrays")
    print(f"{'':<8} optimizer step after read: {step}")

# %% [markdown]
# Both are ordinary checkpoints: `read` needs no option to load them, and gives back the weights and the optimizer
# bit for bit. One thing is not ordinary. The usual way to checkpoint during training is to create the `Checkpoint`
# (or a `CheckpointManager` around it) once and save through it again and again. With a Keras 3 model and
# asynchronous writes, the **second** save through the same object fails:

# %%
import gc
import threading

manager = tf.train.CheckpointManager(
    tf.train.Checkpoint(model=big, optimizer=big.optimizer), str(cost_dir / "managed"), max_to_keep=2
)
manager.save(options=async_options)  # a first asynchronous save works, as above
manager.sync()
second_saves = {
    "Checkpoint.write": lambda: checkpoint.write(str(cost_dir / "async-again" / "ckpt"), options=async_options),
    "CheckpointManager.save": lambda: manager.save(options=async_options),
}
errors = {}
for name, save_again in second_saves.items():
    try:
        save_again()
    except ValueError as err:
        errors[name] = err
    print(f"second asynchronous {name}:", bench.error_summary(errors[name]) if name in errors else "ok")
assert set(errors) == set(second_saves)


def write_async(checkpoint, prefix):
    """An asynchronous write that works again and again through the same Checkpoint of a Keras 3 model."""
    eager = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)  # the copy of the variables runs eagerly, where creating variables is allowed
    try:
        return checkpoint.write(prefix, options=async_options)  # waits for this checkpoint's previous write first
    finally:
        tf.config.run_functions_eagerly(eager)


def new_tf_variables(before=()):
    """Number and bytes of the tf.Variables alive now that were not in `before` (ids)."""
    gc.collect()
    new = [o for o in gc.get_objects() if isinstance(o, tf.Variable) and id(o) not in before]
    return len(new), sum(v.shape.num_elements() * v.dtype.size for v in new)


state_bytes = sum(v.numpy().nbytes for v in big.weights + big.optimizer.variables)
reused = tf.train.Checkpoint(model=big, optimizer=big.optimizer)
routes = {"a new Checkpoint per write": "new", "one reused Checkpoint, write_async": "reused"}
threads_left, copies_left, read_back, route_seconds = {}, {}, {}, {}
for route, folder in routes.items():
    gc.collect()
    threads, variables = threading.active_count(), {id(o) for o in gc.get_objects() if isinstance(o, tf.Variable)}
    threads_left[route], route_seconds[route] = [], 0.0
    for i in range(3):
        prefix = str(cost_dir / folder / f"ckpt-{i}")
        start = time.perf_counter()
        if folder == "new":
            fresh = tf.train.Checkpoint(model=big, optimizer=big.optimizer)
            fresh.write(prefix, options=async_options)
            fresh.sync()
        else:
            write_async(reused, prefix)
            reused.sync()
        route_seconds[route] += time.perf_counter() - start  # printed with the benchmark below
        threads_left[route].append(threading.active_count() - threads)
    copies_left[route] = new_tf_variables(variables)
    restored = bench.build_model(1_000_000, train_step=False)
    tf.train.Checkpoint(model=restored, optimizer=restored.optimizer).read(prefix).assert_existing_objects_matched()
    read_back[route] = roundtrip.assert_identical_weights(big, restored)
    print(f"{route}: 3 asynchronous writes, the last one read back bitwise ({read_back[route]} weights)")
    print(f"    background threads left after each write: {threads_left[route]}")
    copies, copy_bytes = copies_left[route]
    print(
        f"    tf.Variables left after the 3rd: {copies}, holding {copy_bytes / state_bytes:.1f} × the checkpoint's bytes"
    )
assert threads_left == {"a new Checkpoint per write": [1, 2, 3], "one reused Checkpoint, write_async": [1, 1, 1]}
(new_copies, new_bytes), (reused_copies, reused_bytes) = copies_left.values()
assert new_copies == 3 * reused_copies and new_bytes == 3 * reused_bytes and reused_bytes < 3 * state_bytes

# %% [markdown]
# The cause is in Keras, not in your code: to copy a variable for the background write, Keras 3's variable class
# creates a new `tf.Variable` every time (`_copy_trackable_to_cpu` in `keras/src/backend/tensorflow/core.py`), and
# from the second write on TensorFlow runs that copy inside a `tf.function`, which allows creating variables only on
# its first call. The cell tried the two ways around it, three writes each:
#
# - **A new `tf.train.Checkpoint` per write** works (its first write copies the variables eagerly), but nothing ever
#   releases it: TensorFlow registers every asynchronous checkpoint with `atexit` to join its thread when the program
#   ends (`tensorflow/python/checkpoint/async_checkpoint_helper.py`). So each write left one more background thread
#   and one more copy of every variable (two `tf.Variable`s per variable): after 3 writes, 3 threads and 6 × the
#   checkpoint's bytes. Over a long run that is one thread and about twice the checkpoint in memory per save: about
#   1.2 GB per save at 5e7 parameters with Adam (600 MB per checkpoint).
# - **One `Checkpoint`, reused through `write_async`**: `tf.config.run_functions_eagerly(True)` around the `write` call
#   makes the copy run eagerly, where creating variables is allowed, and each write replaces the previous copies:
#   1 thread and 2 × the checkpoint's bytes after any number of writes. The switch holds only during the call, which
#   returns once the values are copied (and first waits for the previous write); the training steps between writes run
#   compiled as before. Both routes read back bit for bit.
#
# The benchmark below uses the reused route for `Checkpoint async` and its training loop, and prints what the three
# writes of each route took here.
#
# ### The benchmark
#
# `python -m benchmarks.checkpoint` (`make bench`) measures, for models of about 1e6, 1e7 and 5e7 parameters, with no
# strategy and under `MirroredStrategy` with 2 replicas, eight ways to save: the six of notebook 08 (without the
# `tf_keras` one) plus `Checkpoint async` and `Checkpoint sharded` (8 shards). For each it reports the median of
# repeated runs after an untimed one:
#
# - **save s**: from the call until the files are complete and on disk (`fsync`), including the wait for an
#   asynchronous write. Without the `fsync`, a save that fits in memory only reaches the operating system's page
#   cache, and the disk write happens later;
# - **load s**: the load inside the strategy's scope (weights-only formats restore into a model built by code, as in
#   08), after every file of the artifact was dropped from the page cache (`os.posix_fadvise`, per file), so the bytes
#   come from the disk, not from memory. On a virtual machine the host may still cache the disk;
# - **the ratios**: bytes per second divided by the raw bandwidth of the same folder in the same run: writing 12 bytes
#   per parameter with plain file I/O plus `fsync`, and reading them back after dropping them from the cache. That
#   bandwidth moves while the benchmark runs (other programs, the host of a virtual machine), so this raw probe runs
#   before every format under each strategy and once after the last, and a ratio divides by the median of those
#   probes; the results give their range. A ratio of 1 means the format saves (or loads) as fast as the disk did at
#   the median probe. A ratio above 1 (marked †) is not a format beating the disk: the disk was faster during that
#   save than at the median probe;
# - **the async stall**: a training loop of `train_on_batch` steps with a checkpoint every K steps, run three times:
#   without checkpoints, with synchronous writes, with asynchronous ones. The stall per checkpoint is the extra time
#   of the K steps after it, the write call included, compared with the loop without checkpoints.
#
# The full run took 11 minutes on a busy 2-core machine. Here is the 1e6 size only, with 2 repeats: its times are too
# small for the ratios to mean much (fixed costs such as tracing dominate), and they are your machine's numbers of this
# run.

# %%
# NBVAL_IGNORE_OUTPUT
quick = bench.run(bench.QUICK, work=cost_dir)  # saves in a temporary folder inside cost_dir
print(bench.timing_table(quick))
for route, seconds in route_seconds.items():
    print(f"3 asynchronous writes at 1e6 above, {route}: {seconds:.2f} s")

# %% [markdown]
# What holds on any machine is what the formats wrote and gave back. Every load in the run above was checked: the
# weights bit for bit, and for the formats that keep the optimizer, its step count.

# %%
measured = [r for r in quick.rows if r["format"] != bench.RAW]
ran = sorted({r["format"] for r in measured if not r["error"]}, key=bench.FORMATS.index)
print(f"formats that saved and loaded back under both strategies: {len(ran)} of {len(bench.FORMATS)}")
print("   ", ", ".join(ran))
size = {r["format"]: r["bytes"] for r in measured if r["strategy"] == "no strategy"}
files = {r["format"]: r["files"] for r in measured if r["strategy"] == "no strategy"}
print("tf.train.Checkpoint smaller than .keras (no config.json, no zip):", size["tf.train.Checkpoint"] < size[".keras"])
print(
    "model.export smaller than tf.train.Checkpoint (no Adam moments):",
    size["model.export"] < size["tf.train.Checkpoint"],
)
print(
    "sharded checkpoint wrote more data files than the plain one:",
    files["Checkpoint sharded"] > files["tf.train.Checkpoint"],
)
print(
    "a stall per checkpoint measured, sync and async, for both strategies:",
    len(quick.stall) == 2 and not any(s["error"] for s in quick.stall),
)
print("second asynchronous write through one Checkpoint:", quick.meta["async_same_checkpoint_second_write"])
raw = next(r for r in quick.rows if r["format"] == bench.RAW)
print("raw disk probes, one before each format under each strategy and one after the last:", raw["raw_probes"])
flagged = all((r["save_ratio"] > 1 or r["load_ratio"] > 1) == bool(r["above_raw"]) for r in measured)
print("every ratio above the median raw probe is flagged, with where it lies in the probes' spread:", flagged)
assert len(measured) == 2 * len(bench.FORMATS) and all(not r["error"] and r["runs"] == 2 for r in measured)
assert size["model.export"] < size["tf.train.Checkpoint"] < size[".keras"]
assert files["Checkpoint sharded"] > files["tf.train.Checkpoint"]
assert len(quick.stall) == 2 and not any(s["error"] for s in quick.stall)
assert raw["raw_probes"] == 2 * len(bench.FORMATS) + 1 and flagged

# %% [markdown]
# ### The full results
#
# The full run, on a 2-core machine: the table below is read from the results this collection ships with the
# benchmark (`benchmarks/results/`), which also name the machine, the versions and the date. Run `make bench` to
# measure yours.

# %%
from importlib.resources import files

from IPython.display import Image, Markdown, display

results = files("benchmarks") / "results"
display(Markdown(bench.markdown_summary(str(results / "checkpoint.csv"))))
display(Image(filename=str(results / "checkpoint_ratios.png")), Image(filename=str(results / "checkpoint_stall.png")))

# %% [markdown]
# ### Takeaways
#
# From the full run above, at 50 million parameters (600 MB with Adam's state). The disk's own speed moved by a factor
# of 5 during that run (raw write + fsync from 306 to 1,680 MB/s), so only differences larger than that mean much:
#
# - **`.keras` is the slowest to save and by far the slowest to load**: 1.65–2.30 s to save, against 0.61–0.95 s for
#   the TensorFlow checkpoints and `.weights.h5`; 2.0–2.1 s to load, against 0.4–1.2 s for every other format
#   (0.14–0.15 of the raw read bandwidth, against 0.25–0.64): unzipping and reading HDF5 from inside the archive
#   costs more than the disk.
# - **The checkpoints and `.weights.h5` save at about the disk's median speed** (0.75–1.17 of it; the three ratios
#   above 1, marked †, lie within the raw probes' spread). `model.export` writes 400 MB (no optimizer) in about the
#   time the checkpoints take for 600 MB.
# - **No consistent effect of the strategy**: under `MirroredStrategy` with 2 replicas some formats saved faster and
#   some slower than without it (`tf.saved_model.save` 0.76 s → 1.83 s, `Checkpoint sharded` 0.95 s → 0.61 s),
#   differences of the size of the disk's own variation; one copy of each variable is written (notebook 08).
# - **Asynchronous checkpoints return at once, but the write still costs**: the call blocked for 0.03–0.05 s at 5e7,
#   yet the training loop lost 1.6–1.8 × a synchronous save per checkpoint: on 2 busy cores the background write
#   competes with training for the CPU. At 1e6 and 1e7 the stall was lost in the noise (from −2 to 4 × a synchronous
#   save of 0.03–0.5 s). It can pay only where the machine has cores to spare. With a Keras 3 model, reuse one
#   `Checkpoint` and write through `write_async` (above): a new `Checkpoint` per write keeps one more thread and copy
#   of the model alive per save.
# - **Sharding works but did not help here**: 8 data files instead of 1; saves took 1.50× (no strategy) and 0.76×
#   (Mirrored) the unsharded checkpoint's time, loads 1.71× and 1.07×. Its use is a file-size limit of your storage,
#   or parallel storage, not a single local disk.

# %% [markdown]
# ## Exercises
#
# One exercise per part. Each solution is the cell right after its task (hidden: click to show it).

# %% [markdown]
# ### Exercise 1: a crash-safe `ModelCheckpoint`
#
# `keras.callbacks.ModelCheckpoint("model.keras")` saves in place, like `model.save`. Write a small callback that
# saves the model at the end of every epoch through `save_atomically`, train a small model for 2 epochs with it, and
# check that the file holds the weights of the end of epoch 2 (bitwise) and that no temporary is left. The solution
# is in the next cell (hidden: click to show it).


# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 1
class AtomicCheckpoint(keras.callbacks.Callback):
    """Save the whole model at every epoch end, crash-safe."""

    def __init__(self, filepath):
        super().__init__()
        self.filepath = filepath

    def on_epoch_end(self, epoch, logs=None):
        atomic_save.save_atomically(self.model.save, self.filepath)


keras.utils.set_random_seed(0)
tiny = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
tiny.compile(optimizer="adam", loss="mse")
x, y = np.ones((32, 8), np.float32), np.zeros((32, 4), np.float32)
tiny_path = crash_dir / "tiny.keras"
tiny.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[AtomicCheckpoint(tiny_path)])
saved = keras.models.load_model(tiny_path)
same = all(np.array_equal(a, b) for a, b in zip(tiny.get_weights(), saved.get_weights(), strict=True))
print("tiny.keras holds the weights after epoch 2:", same, "| leftovers:", atomic_save.leftovers(tiny_path))
assert same and atomic_save.leftovers(tiny_path) == []

# %% [markdown]
# ### Exercise 2: what is in the handler's checkpoint?
#
# Open the checkpoint the workers wrote when they were preempted (`preemption/checkpoints` in the working folder) with
# `tf.train.load_checkpoint`, and print its integer scalars (`tf.train.list_variables` lists names and shapes). Which
# step does it hold, and which counter did the handler add to the checkpoint you gave it? The solution is in the next
# cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 2
checkpoint_path = str(preempt_dir / "checkpoints")
reader = tf.train.load_checkpoint(checkpoint_path)
scalars = {
    name.removesuffix("/.ATTRIBUTES/VARIABLE_VALUE"): reader.get_tensor(name)
    for name, shape in tf.train.list_variables(checkpoint_path)
    if shape == [] and name != "_CHECKPOINTABLE_OBJECT_GRAPH"
}
integers = {name: int(value) for name, value in scalars.items() if np.issubdtype(value.dtype, np.integer)}
print(integers)
assert integers["optimizer/_iterations"] == integers["checkpointed_runs"] == 8  # the handler's count of `run` calls

# %% [markdown]
# ### Exercise 3: shards and their limit
#
# Write `big`'s checkpoint with `MaxShardSizePolicy(max_shard_size=2**20)` (1 MiB) into a new folder. Before you run
# it, predict the smallest possible number of data files from the bytes of its tensors (weights and optimizer
# variables: `v.numpy().nbytes`), then check the count, the size of the largest data file against the limit, and that
# a model built by code reads it back bit for bit. The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 3
import math

limit = 2**20
options = tf.train.CheckpointOptions(
    experimental_sharding_callback=tf.train.experimental.MaxShardSizePolicy(max_shard_size=limit)
)
tf.train.Checkpoint(model=big, optimizer=big.optimizer).write(str(cost_dir / "exercise" / "ckpt"), options=options)
data_files = sorted((cost_dir / "exercise").glob("ckpt.data-*"))
tensor_bytes = sum(v.numpy().nbytes for v in big.weights + big.optimizer.variables)
largest = max(f.stat().st_size for f in data_files)
print(
    f"{tensor_bytes:,} bytes of tensors: at least {math.ceil(tensor_bytes / limit)} files of 1 MiB; written: {len(data_files)}"
)
print("largest data file within the limit:", largest <= limit)
restored = bench.build_model(1_000_000, train_step=False)
tf.train.Checkpoint(model=restored, optimizer=restored.optimizer).read(
    str(cost_dir / "exercise" / "ckpt")
).assert_existing_objects_matched()
print("weights identical after the restore:", roundtrip.assert_identical_weights(big, restored), "arrays")
assert len(data_files) >= math.ceil(tensor_bytes / limit) and largest <= limit

# %% [markdown]
# ## What we verified
#
# Every line below is asserted from what the cells above ran.

# %%
assert str(naive_error).startswith("File not found") and diagnose_keras_file(naive_model).startswith("incomplete")
assert identical and load_errors["small-half.keras"] == "ValueError"
assert (last_before, first_after) == (8, 9) and steps_redone == [] and steps_never_run == []
assert preempted_codes == [42, 42] and resumed_codes == [0, 0] and preempt_alive == 0
assert fit_redone == [(2, 1), (2, 2)] and keys_read == ["epoch"]
assert set(errors) == set(second_saves) and threads_left["one reused Checkpoint, write_async"] == [1, 1, 1]
assert size["model.export"] < size["tf.train.Checkpoint"] < size[".keras"]
print("✓ a SIGKILL during model.save over the last good .keras left a file that no longer loads (ValueError)")
print("✓ the same kill during save_atomically kept the last good model, weights bitwise identical")
print("✓ a truncated .keras raises ValueError, a damaged one BadZipFile (Keras 3.13: loads); zipfile tells which")
print("✓ PreemptionCheckpointHandler: SIGTERM to one worker, both saved after step 8 and exited with 42;")
print("  the restart began at step 9: 0 steps redone, 0 skipped")
print("✓ Keras 3 BackupAndRestore(save_freq=1) resumed at the start of the interrupted epoch: 2 steps redone")
print("✓ a second asynchronous write through one Checkpoint of a Keras 3 model raises ValueError; a new Checkpoint")
print("  per write works but keeps one more thread and copy of every variable per write; write_async keeps one")
print("✓ all 8 ways to save ran under both strategies and loaded back bit for bit")

# %% [markdown]
# ---
# ← Previous: [08 · What does saving and loading cost under a strategy?](08_save_load_cost.ipynb) | [All notebooks](../README.md)
