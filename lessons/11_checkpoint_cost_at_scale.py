# %% [markdown]
# # 11 · Checkpoint cost at scale: what checkpointing a big model costs the training run
#
# Saves of models up to 50 million parameters, measured against the disk's own speed, and what asynchronous
# checkpoints and sharding change.
#
# **This notebook answers:** What does checkpointing a big model cost the training run, and do asynchronous or sharded checkpoints help?
#
# <table align="left">
#   <td><a target="_blank" href="https://colab.research.google.com/github/tf-distribute-notebooks/save-and-load/blob/main/notebooks/11_checkpoint_cost_at_scale.ipynb"><img src="https://www.tensorflow.org/images/colab_logo_32px.png" />Run in Google Colab</a></td>
#   <td><a target="_blank" href="https://github.com/tf-distribute-notebooks/save-and-load/blob/main/notebooks/11_checkpoint_cost_at_scale.ipynb"><img src="https://www.tensorflow.org/images/GitHub-Mark-32px.png" />View source on GitHub</a></td>
# </table>
# <br clear="all">
#
# **What you'll learn**
#
# - how to write an asynchronous checkpoint (`CheckpointOptions(enable_async=True)`) and a sharded one (`MaxShardSizePolicy`), and that both read back like any checkpoint
# - why the second asynchronous write through the same `Checkpoint` of a Keras 3 model fails, and how to write asynchronously again and again without leaving a thread and a copy of the model behind per save
# - how to measure a save against the disk's own speed: `fsync`, the page cache, raw probes and their median
# - what checkpoints of models up to 50 million parameters cost on a 2-core machine, and when asynchronous checkpoints and sharding pay
#
# **Expected run time:** about 25 s on a 2-core CPU, no GPU needed.

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
import gc
import math
import shutil
import tempfile
import threading
import time
from pathlib import Path

import keras
import numpy as np

from benchmarks import checkpoint as bench
from helpers import roundtrip
from helpers.claims import verify

tf.get_logger().setLevel("ERROR")
workdir = Path(tempfile.mkdtemp(prefix="nb11-"))  # everything this notebook writes goes here
cost_dir = workdir / "cost"
print("TensorFlow", tf.__version__, "| Keras", keras.__version__)

# %% [markdown]
# ## What a checkpoint of a big model costs
#
# Notebook 08 timed saves of a small CNN, a fraction of a second each. A model worth checkpointing during a long run
# is bigger: at 12 bytes per parameter (the float32 weight plus Adam's two moments, its
# [slot variables](../README.md#glossary); notebook 08), a 50-million-parameter model writes **600 MB** per
# checkpoint, and while a synchronous save runs, training waits. Three questions decide how often you can afford to
# checkpoint:
#
# - **How close does each way to save come to what the disk can do?** A number of seconds means little on its own;
#   compared with the raw write and read speed of the same folder, it says how much of the cost is the disk and how
#   much is the format (serialising, copying, tracing a graph).
# - **Does an asynchronous checkpoint hide the cost?** An *asynchronous* checkpoint copies the variables in memory,
#   returns, and writes the copy to disk in a background thread while the training loop continues. In TensorFlow it
#   is an option of `write`/`save`: `tf.train.CheckpointOptions(enable_async=True)`. The write still needs CPU time
#   and the disk.
# - **Does sharding help?** A *shard* is one of several data files a checkpoint's variables are split into;
#   `tf.train.experimental.MaxShardSizePolicy` starts a new one when a file would pass a given size.
#
# First the two options themselves, on a model of 1 million parameters: `bench.build_model` makes a stack of 4
# `Dense(500)` layers and runs one training step, which creates Adam's moments.

# %%
keras.utils.set_random_seed(0)
big = bench.build_model(1_000_000)  # 4 Dense(500) layers on a 500-wide input, Adam's state made by one training step
print(f"{big.count_params():,} parameters, optimizer at step {int(big.optimizer.iterations.numpy())}")

async_options = tf.train.CheckpointOptions(enable_async=True)  # formerly experimental_enable_async_checkpoint
checkpoint = tf.train.Checkpoint(model=big, optimizer=big.optimizer)
checkpoint.write(str(cost_dir / "async" / "ckpt"), options=async_options)  # returns once the values are copied
checkpoint.sync()  # wait for the background write: before reading the files, and before the program ends

shard_policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=2 * 2**20)  # data files of at most 2 MiB
sharded_options = tf.train.CheckpointOptions(experimental_sharding_callback=shard_policy)
tf.train.Checkpoint(model=big, optimizer=big.optimizer).write(
    str(cost_dir / "sharded" / "ckpt"), options=sharded_options
)

data_files, read_ok = {}, {}
for name in ("async", "sharded"):
    data_files[name] = sorted((cost_dir / name).glob("ckpt.data-*"))
    restored = bench.build_model(1_000_000, train_step=False)  # built by code: other weights, optimizer at step 0
    status = tf.train.Checkpoint(model=restored, optimizer=restored.optimizer).read(str(cost_dir / name / "ckpt"))
    status.assert_existing_objects_matched()
    weights = roundtrip.assert_identical_weights(big, restored)
    slots = roundtrip.assert_same_optimizer_state(big, restored)
    step = int(restored.optimizer.iterations.numpy())
    read_ok[name] = weights == len(big.weights) and step == 1
    print(
        f"{name:<8} data files: {len(data_files[name])}; identical after read: {weights} weights, {slots} optimizer arrays"
    )
    print(f"{'':<8} optimizer step after read: {step}")
verify(
    {
        "an asynchronous and a sharded checkpoint read back with a plain read(): weights, optimizer and step bitwise": (
            read_ok["async"] and read_ok["sharded"]
        ),
        "the 2 MiB shard limit split the sharded checkpoint into several data files, the plain one has 1": (
            len(data_files["sharded"]) > 1 and len(data_files["async"]) == 1
        ),
    }
)

# %% [markdown]
# Both are ordinary checkpoints: `read` needs no option to load them. One thing is not ordinary. The usual way to
# checkpoint during training is to create the `Checkpoint` (or a `CheckpointManager` around it) once and save through
# it again and again. With a Keras 3 model (3.13, 3.15 and the 3.16 nightly) and asynchronous writes, the **second**
# save through the same object fails:

# %%
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
    errors[name] = None
    try:
        save_again()
    except ValueError as err:
        errors[name] = err
    print(f"second asynchronous {name}:", bench.error_summary(errors[name]) if errors[name] else "ok")
verify(
    {
        "a second asynchronous save through the same Checkpoint or CheckpointManager raises ValueError": all(
            isinstance(err, ValueError) for err in errors.values()
        )
    }
)

# %% [markdown]
# The cause is in Keras, not in your code. To copy a variable for the background write, Keras 3's variable class
# creates a new `tf.Variable` every time (`_copy_trackable_to_cpu` in `keras/src/backend/tensorflow/core.py`). From
# the second write on, TensorFlow runs that copy inside a `tf.function` (a Python function traced once into a graph
# and then run as the graph), which may create variables only on its first call. There are two ways around it:
#
# - **A new `tf.train.Checkpoint` per write**: its first write copies the variables outside any `tf.function`.
# - **One `Checkpoint`, reused**, with `tf.config.run_functions_eagerly(True)` around the `write` call: the copy then
#   runs eagerly (line by line in Python, no graph), where creating variables is allowed. The switch holds only
#   during the call, which returns once the values are copied (and first waits for the previous write); the training
#   steps between writes run compiled as before.
#
# Three writes each; after each write we count the background threads, and after the third the `tf.Variable`s left
# alive:


# %%
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
(new_copies, new_bytes), (reused_copies, reused_bytes) = copies_left.values()
verify(
    {
        "both routes wrote 3 asynchronous checkpoints, the last one read back bitwise": all(
            n == len(big.weights) for n in read_back.values()
        ),
        "a new Checkpoint per write left one more background thread per write": (
            threads_left["a new Checkpoint per write"] == [1, 2, 3]
        ),
        "one reused Checkpoint through write_async kept one thread": (
            threads_left["one reused Checkpoint, write_async"] == [1, 1, 1]
        ),
        "a new Checkpoint per write kept 3 × the copies of the reused one; the reused one under 3 × the checkpoint": (
            new_copies == 3 * reused_copies and new_bytes == 3 * reused_bytes and reused_bytes < 3 * state_bytes
        ),
    }
)

# %% [markdown]
# TensorFlow registers every asynchronous checkpoint with `atexit` (Python's list of functions to run when the
# program ends) to join its thread then (`tensorflow/python/checkpoint/async_checkpoint_helper.py`), so nothing ever
# releases a `Checkpoint` that wrote asynchronously. A new one per write kept one more thread and one more copy of
# every variable (two `tf.Variable`s per variable) per save: after 3 writes, 3 threads and 6 × the checkpoint's bytes.
# Over a long run that is about 1.2 GB more memory per save at 5·10⁷ parameters with Adam. The reused `Checkpoint`
# replaces its copies at each write: 1 thread and 2 × the checkpoint's bytes after any number of writes.
#
# ## The benchmark
#
# `python -m benchmarks.checkpoint` (`make bench`) measures, for models of about 1e6, 1e7 and 5e7 parameters, with no
# strategy and under `MirroredStrategy` with 2 replicas, eight ways to save: the six of notebook 08 (without the
# `tf_keras` one) plus `Checkpoint async` (through one reused `Checkpoint`, as above) and `Checkpoint sharded` (8
# shards). It reports medians of repeated runs after an untimed one:
#
# - **save s**: until the files are on disk. A written file first lands in the operating system's *page cache*
#   (memory it keeps file contents in) and reaches the disk later; `fsync`, a system call, returns only once a file's
#   bytes are on the disk. So each save ends with an `fsync` of every file it wrote, after the wait for an
#   asynchronous write;
# - **load s**: inside the strategy's scope, after every file was dropped from the page cache (`os.posix_fadvise`),
#   so the bytes come from the disk (a virtual machine's host may still cache it);
# - **the ratios**: bytes per second divided by the raw speed of the same folder: plain file I/O writing (plus
#   `fsync`) and reading 12 bytes per parameter. That speed drifts during a run, so this raw *probe* runs before every
#   format and once after the last, and a ratio divides by the *median probe* (the middle value of all probes). A
#   ratio above 1 (marked †) means the disk was faster during that save than at the median probe;
# - **the async stall**: a loop of `train_on_batch` steps with a checkpoint every K steps, without checkpoints, with
#   synchronous and with asynchronous writes. The stall per checkpoint is the extra time of the K steps after it, the
#   write call included.
#
# The full run took 11 minutes on a busy 2-core machine. Here is the 1e6 size only, with 2 repeats: its times are too
# small for the ratios to mean much (fixed costs such as tracing dominate), and they are your machine's numbers.

# %%
# NBVAL_IGNORE_OUTPUT
quick = bench.run(bench.QUICK, work=cost_dir)  # saves in a temporary folder inside cost_dir
print(bench.timing_table(quick))
for route, seconds in route_seconds.items():
    print(f"3 asynchronous writes at 1e6 above, {route}: {seconds:.2f} s")

# %% [markdown]
# What holds on any machine is what the formats wrote and gave back: every load above was checked (weights bit for
# bit, and the step count where the format keeps the optimizer).

# %%
measured = [r for r in quick.rows if r["format"] != bench.RAW]
ran = sorted({r["format"] for r in measured if not r["error"]}, key=bench.FORMATS.index)
print(f"formats that saved and loaded back under both strategies: {len(ran)} of {len(bench.FORMATS)}")
print("   ", ", ".join(ran))
size = {r["format"]: r["bytes"] for r in measured if r["strategy"] == "no strategy"}
n_files = {r["format"]: r["files"] for r in measured if r["strategy"] == "no strategy"}
raw = next(r for r in quick.rows if r["format"] == bench.RAW)
print("raw disk probes, one before each format under each strategy and one after the last:", raw["raw_probes"])
print("second asynchronous write through one Checkpoint:", quick.meta["async_same_checkpoint_second_write"])
verify(
    {
        "all 8 ways to save ran twice under both strategies, each load checked bit for bit": (
            len(measured) == 2 * len(bench.FORMATS) and all(not r["error"] and r["runs"] == 2 for r in measured)
        ),
        "tf.train.Checkpoint is smaller than .keras (no config.json, no zip)": size["tf.train.Checkpoint"]
        < size[".keras"],
        "model.export is smaller than tf.train.Checkpoint (no Adam moments)": (
            size["model.export"] < size["tf.train.Checkpoint"]
        ),
        "the sharded checkpoint wrote more data files than the plain one": (
            n_files["Checkpoint sharded"] > n_files["tf.train.Checkpoint"]
        ),
        "a stall per checkpoint was measured, sync and async, for both strategies": (
            len(quick.stall) == 2 and not any(s["error"] for s in quick.stall)
        ),
        "every ratio above the median raw probe is flagged †, and the raw probe ran 2 × 8 + 1 times": (
            raw["raw_probes"] == 2 * len(bench.FORMATS) + 1
            and all((r["save_ratio"] > 1 or r["load_ratio"] > 1) == bool(r["above_raw"]) for r in measured)
        ),
    }
)

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
# of 5 during that run (raw write + fsync from 306 to 1,680 MB/s), so only larger differences mean much:
#
# - **`.keras` is the slowest to load**: 2.0–2.1 s, against 0.4–1.2 s for every other format (0.14–0.15 of the raw
#   read speed): unzipping the archive and reading the HDF5 weights file inside it costs more than the disk. Saving
#   it took 1.65–2.30 s, against 0.61–0.95 s for the TensorFlow checkpoints and `.weights.h5`; not the slowest save
#   everywhere: under `MirroredStrategy`, `tf.saved_model.save` took 1.83 s and `.keras` 1.65 s.
# - **The checkpoints and `.weights.h5` save at about the disk's median speed** (0.75–1.17 of it). `model.export`
#   writes 400 MB (no optimizer, each weight twice on Keras 3.15: notebook 08) in about the time the checkpoints take
#   for 600 MB.
# - **No consistent effect of the strategy**: under `MirroredStrategy` some formats saved faster, some slower, by
#   about the disk's own variation; one copy of each variable is written (notebook 08).
# - **Asynchronous checkpoints return at once, but the write still costs**: the call blocked for 0.03–0.05 s, yet the
#   training loop lost 1.6–1.8 × a synchronous save per checkpoint: on 2 busy cores the background write competes with
#   training for the CPU. At 1e6 and 1e7 the stall was lost in the noise. It can pay only where the machine has cores
#   to spare; with a Keras 3 model, write through one reused `Checkpoint` with `write_async`.
# - **Sharding works but did not help here**: 8 data files instead of 1; saves took 1.50× (no strategy) and 0.76×
#   (Mirrored) the unsharded time, loads 1.71× and 1.07×. It serves a file-size limit of your storage, or parallel
#   storage, not a single local disk.

# %% [markdown]
# ## Exercises
#
# Each solution is the cell right after its task (hidden: click to show it).
#
# ### Exercise 1: shards and their limit
#
# Write `big`'s checkpoint with `MaxShardSizePolicy(max_shard_size=2**20)` (1 MiB) into a new folder. Before you run
# it, predict the smallest possible number of data files from the bytes of its tensors (weights and optimizer
# variables: `v.numpy().nbytes`). Then check the count, the size of the largest data file against the limit, and that
# a model built by code (`bench.build_model(1_000_000, train_step=False)`) reads it back bit for bit.

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 1
limit = 2**20
options = tf.train.CheckpointOptions(
    experimental_sharding_callback=tf.train.experimental.MaxShardSizePolicy(max_shard_size=limit)
)
tf.train.Checkpoint(model=big, optimizer=big.optimizer).write(str(cost_dir / "exercise" / "ckpt"), options=options)
shards = sorted((cost_dir / "exercise").glob("ckpt.data-*"))
tensor_bytes = sum(v.numpy().nbytes for v in big.weights + big.optimizer.variables)
largest = max(f.stat().st_size for f in shards)
print(
    f"{tensor_bytes:,} bytes of tensors: at least {math.ceil(tensor_bytes / limit)} files of 1 MiB; written: {len(shards)}"
)
restored = bench.build_model(1_000_000, train_step=False)
tf.train.Checkpoint(model=restored, optimizer=restored.optimizer).read(
    str(cost_dir / "exercise" / "ckpt")
).assert_existing_objects_matched()
verify(
    {
        "the 1 MiB policy wrote at least tensor bytes / 1 MiB data files, none above the limit": (
            len(shards) >= math.ceil(tensor_bytes / limit) and largest <= limit
        ),
        "a model built by code reads the sharded checkpoint back bit for bit": (
            roundtrip.assert_identical_weights(big, restored) == len(big.weights)
        ),
    }
)

# %% [markdown]
# ### Exercise 2: an asynchronous `CheckpointManager` that keeps the last two
#
# Train `big` for 6 steps with `big.train_on_batch(x, x)` on one batch `x` of shape `(64, 500)`, and after every second
# step save asynchronously through one `tf.train.CheckpointManager(..., max_to_keep=2)`, numbered by the optimizer's
# step (`manager.save(checkpoint_number=...)`). The manager's second save fails like `write` did: apply the switch of
# `write_async`. Then check which checkpoints are left on disk, that the newest restores into a model built by code with
# `big`'s weights and step, and that the older one holds the step at which its save was called, although training went
# on while it was written.


# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 2
def save_async(manager, step):
    eager = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)  # as in write_async: the copy of the variables runs eagerly
    try:
        return manager.save(checkpoint_number=step, options=async_options)
    finally:
        tf.config.run_functions_eagerly(eager)


x = np.random.default_rng(1).standard_normal((64, 500)).astype("float32")
kept = tf.train.CheckpointManager(
    tf.train.Checkpoint(model=big, optimizer=big.optimizer), str(cost_dir / "kept"), max_to_keep=2
)
for _ in range(3):
    big.train_on_batch(x, x)
    big.train_on_batch(x, x)
    save_async(kept, int(big.optimizer.iterations.numpy()))
kept.sync()
steps_kept = [int(p.rsplit("-", 1)[1]) for p in kept.checkpoints]
on_disk = sorted(f.name for f in (cost_dir / "kept").iterdir())
print("checkpoints kept:", [Path(p).name for p in kept.checkpoints], "| files:", on_disk)
restored = bench.build_model(1_000_000, train_step=False)
tf.train.Checkpoint(model=restored, optimizer=restored.optimizer).restore(
    kept.latest_checkpoint
).assert_existing_objects_matched()
older_step = int(
    tf.train.load_checkpoint(kept.checkpoints[0]).get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE")
)
print("newest restored at step", int(restored.optimizer.iterations.numpy()), "| the older one holds step", older_step)
final_step = int(big.optimizer.iterations.numpy())
verify(
    {
        "max_to_keep=2 left the two newest checkpoints on disk": (
            steps_kept == [final_step - 2, final_step] and len(on_disk) == 5
        ),
        "the newest restores with big's step and weights, bitwise": (
            int(restored.optimizer.iterations.numpy()) == final_step
            and roundtrip.assert_identical_weights(big, restored) == len(big.weights)
        ),
        "the older one holds the step of its save call, though training went on during the write": (
            older_step == final_step - 2
        ),
    }
)

# %% [markdown]
# ## What we verified

# %%
shutil.rmtree(workdir)  # everything this notebook wrote
verify(
    {
        "asynchronous and sharded checkpoints read back with a plain read(), bitwise": (
            read_ok["async"] and read_ok["sharded"] and len(data_files["sharded"]) > 1
        ),
        "a second asynchronous write through one Checkpoint of a Keras 3 model raises ValueError": all(
            isinstance(err, ValueError) for err in errors.values()
        ),
        "a new Checkpoint per write keeps one more thread and copy of every variable per write": (
            threads_left["a new Checkpoint per write"] == [1, 2, 3] and new_copies == 3 * reused_copies
        ),
        "write_async through one reused Checkpoint keeps 1 thread and under 3 × the checkpoint's bytes in copies": (
            threads_left["one reused Checkpoint, write_async"] == [1, 1, 1] and reused_bytes < 3 * state_bytes
        ),
        "all 8 ways to save ran under both strategies and loaded back bit for bit": (
            len(ran) == len(bench.FORMATS) and all(not r["error"] for r in measured)
        ),
        "model.export < tf.train.Checkpoint < .keras in bytes": (
            size["model.export"] < size["tf.train.Checkpoint"] < size[".keras"]
        ),
        "the notebook's temporary folder is removed": not workdir.exists(),
    }
)

# %% [markdown]
# ---
# ← Previous: [10 · Preemption: save at the next step, resume with no step lost](10_preemption.ipynb) | [All notebooks](../README.md) | Next: [12 · Parameter servers: sharded variables, and loading them anywhere](12_parameter_servers.ipynb) →
