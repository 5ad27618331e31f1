# %% [markdown]
# # 05 · Saving from a remote worker: `experimental_io_device`
#
# A model whose variables live on another TensorFlow host cannot save to (or load from) a path that only your own process can reach, the usual way. We start a real remote worker on this machine, watch the save fail on the worker, and fix it with `experimental_io_device='/job:localhost'`; a path the worker reaches too needs no fix.
#
# **This notebook answers:** How do I save and load when the model's variables live on a remote TensorFlow worker?
#
# <table align="left">
#   <td><a target="_blank" href="https://colab.research.google.com/github/tf-distribute-notebooks/save-and-load/blob/main/notebooks/05_local_io_device.ipynb"><img src="https://www.tensorflow.org/images/colab_logo_32px.png" />Run in Google Colab</a></td>
#   <td><a target="_blank" href="https://github.com/tf-distribute-notebooks/save-and-load/blob/main/notebooks/05_local_io_device.ipynb"><img src="https://www.tensorflow.org/images/GitHub-Mark-32px.png" />View source on GitHub</a></td>
# </table>
# <br clear="all">
#
# **What you'll learn**
#
# - how to run a `tf.distribute.Server` in a second process, connect to it, and place a model's variables on it
# - who can connect to that server, and to your notebook once connected, and what to do about it
# - why saving to a path the worker cannot reach fails **on the worker**, and the error you get
# - `SaveOptions` / `LoadOptions(experimental_io_device='/job:localhost')`: files written and read by the notebook's process
# - why a path that both processes reach needs no I/O device, and what that means for `gs://` and shared file systems
# - which Keras 3 APIs accept those options (`tf.saved_model.save`, `ExportArchive`) and which refuse or ignore them
# - the seed's Keras 2 way: `tf_keras` `model.save(dir, options=...)` and `load_model(dir, options=...)`
# - how this maps to a Cloud TPU Node
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
# ### Devices and imports
#
# As in every notebook of this collection, the CPU is split into 2 logical devices before TensorFlow starts
# (see notebook 01). This lesson's model will not live on them, though: it lives on a remote worker.

# %%
import tensorflow as tf

from helpers import devices

replica_devices = devices.use_cpu_replicas(2).devices
print("replicas:", len(replica_devices))

# %%
import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np

from helpers import data, mnist_prep, models, roundtrip, tf_server
from helpers.claims import verify

tf.get_logger().setLevel("ERROR")
print("TensorFlow", tf.__version__, "| Keras", keras.__version__)
print("MNIST source:", mnist_prep.prepare(log=None))

# %% [markdown]
# ## A remote worker with its own working directory
#
# With a Cloud TPU Node the accelerators hang off *other hosts*, a job (`TPUClusterResolver` calls it `worker` by
# default), while the Python process you type into is `/job:localhost`. We reproduce that on one machine with a second
# Python process that runs a TensorFlow server. This is its whole
# program, the same `tf.distribute.Server(...)` call the [parameter server training tutorial](https://www.tensorflow.org/tutorials/distribute/parameter_server_training) uses
# to start its workers: serve the job `worker` (one task) at an address, then wait for work.

# %%
WORKER_PROGRAM = """
import sys

import tensorflow as tf

address = sys.argv[1]  # "127.0.0.1:<port>"
cluster_spec = tf.train.ClusterSpec({"worker": [address]})
server = tf.distribute.Server(cluster_spec, job_name="worker", task_index=0, protocol="grpc")
print("serving", server.target, flush=True)
server.join()  # serve until the process is stopped
"""

# %% [markdown]
# `tf_server.start` saves the program as `worker.py`, runs `python worker.py 127.0.0.1:<a free port>` **with its own
# working directory** (a fresh temp dir), and waits until the port accepts connections. Both processes share one disk,
# but a *relative* path means a different folder to each (checked below).

# %%
worker = tf_server.start(WORKER_PROGRAM)  # stopped by worker.stop() in the last section
print(worker)
print("it runs:", worker.program.name, "| serving job", worker.job)

# %% [markdown]
# Everything this notebook writes goes to a temp dir, which becomes the notebook's working directory, so the relative
# paths below resolve there. The worker resolves them against *its* directory:

# %%
notebook_dir = Path.cwd()
tmp = Path(tempfile.mkdtemp(prefix="nb05-"))
os.chdir(tmp)


def tree(root):
    """Every file and folder under root, relative to it."""
    return sorted(p.relative_to(root).as_posix() for p in Path(root).rglob("*"))


print("same working directory as the worker:", Path.cwd().resolve() == worker.workdir.resolve())
print("both empty:", tree(tmp) == tree(worker.workdir) == [])

# %% [markdown]
# ### Connect and place the model on the worker
#
# This process describes the same cluster, and `experimental_connect_to_cluster` makes the worker's devices available
# to it (the device list below). Its docstring warns that connecting again invalidates the tensors already on the
# remote devices, so this notebook connects once. A `OneDeviceStrategy` on the worker's CPU puts every variable created
# in its scope there. (A Keras 3 variable wraps a TensorFlow variable, its `.value`, whose `.device` says where the
# values live.)

# %%
before_connecting = tf_server.listening_sockets(os.getpid())  # this process's listening sockets (Jupyter's own)
cluster_spec = tf.train.ClusterSpec({"worker": [worker.address]})
tf.config.experimental_connect_to_cluster(cluster_spec)
for device in tf.config.list_logical_devices():
    print(device.name)
print("a tensor created here lives on", tf.constant(0.0).device)

# %%
strategy = tf.distribute.OneDeviceStrategy(worker.device)
keras.utils.set_random_seed(0)
model = models.get_model(strategy)
kernel = model.layers[0].kernel
print(type(kernel.value).__name__, "on", kernel.value.device)

# %% [markdown]
# <a id="who-can-reach-the-worker"></a>
# ### Who can reach the worker
#
# The worker was given `127.0.0.1:<port>`, and connecting gave this process a task in the cluster too (job
# `localhost`). Where do they accept connections? We ask the operating system (through `psutil`) which TCP sockets each
# process listens on:

# %%
worker_sockets = worker.listening()  # [Listener(pid, ip, port)]: the worker process's listening TCP sockets
notebook_sockets = [s for s in tf_server.listening_sockets(os.getpid()) if s not in before_connecting]
print("the worker listens on the port it was given:", all(s.port == worker.port for s in worker_sockets))
print("it accepts connections from:", sorted({s.scope for s in worker_sockets}))
print("since connecting, this process listens too, from:", sorted({s.scope for s in notebook_sockets}))
verify(
    {
        "the worker listens on every network interface (0.0.0.0 or ::), not on 127.0.0.1 only": len(worker_sockets) > 0
        and {s.scope for s in worker_sockets} == {"every interface"},
        "so does this process, since it connected": {s.scope for s in notebook_sockets} == {"every interface"},
    }
)

# %% [markdown]
# Any machine that can reach yours can connect to both. TensorFlow's
# [SECURITY.md, "Running a TensorFlow server"](https://github.com/tensorflow/tensorflow/blob/v2.21.0/SECURITY.md#running-a-tensorflow-server)
# says the server is meant for internal communication only: it has no authorization, sends messages unencrypted, and
# runs the graphs it is sent, so whoever reaches the port can run code as your user. TensorFlow 2.21 cannot bind it
# to loopback: `GrpcServer::Init` in
# [`grpc_server_lib.cc`](https://github.com/tensorflow/tensorflow/blob/v2.21.0/tensorflow/core/distributed_runtime/rpc/grpc_server_lib.cc)
# binds `"0.0.0.0:<port>"` whatever host the cluster spec names; no `ServerDef` field or environment variable changes
# that. So:
#
# - **On a laptop**, run this lesson (and 07, 10) on a network you trust, or behind a host firewall that refuses
#   incoming connections; never on a machine reachable from the internet.
# - **On Colab**, we found nothing in Colab's documentation about inbound connections to a hosted runtime. A
#   [local runtime](https://research.google.com/colaboratory/local-runtimes.html) is your machine: the
#   laptop rule applies.
# - **Stop them**: the last section stops the worker (if the kernel stops first, the helper's watch on its parent
#   does); 07 and 10 stop theirs when the cell ends. This process's server closes only with the kernel (we found no
#   public call that stops it): **restart the kernel when you are done**. The collection's tests (`tests/conftest.py`)
#   fail if a server still listens after a lesson's last cell, or, for the kernel's own, after the kernel stopped.

# %% [markdown]
# 20 training steps (batches of 64) give the model and its optimizer real state. The optimizer's step counter lives on
# the worker too, as does every computation the strategy runs (the first two lines below).

# %%
train_dataset, eval_dataset = data.get_data(strategy, repeat=True)
print("optimizer step counter on", model.optimizer.iterations.value.device)
print("a computation under the strategy runs on", strategy.run(lambda t: t * 2.0, args=(tf.constant(1.0),)).device)
history = model.fit(train_dataset, epochs=1, steps_per_epoch=20, verbose=0)
x, y = next(iter(eval_dataset))  # 64 test digits
reference = model.predict(x, verbose=0)
accuracy = float(np.mean(reference.argmax(axis=1) == y.numpy()))
loss = history.history["loss"][-1]
print("loss after 20 steps:", roundtrip.approx(loss, 2), "| accuracy on 64 test digits:", roundtrip.approx(accuracy, 2))
verify(
    {
        "it learned: loss below ln 10 ≈ 2.30 and accuracy above 0.5 (a uniform guess scores 0.1)": loss < np.log(10)
        and accuracy > 0.5
    }
)


# %% [markdown]
# ## Saving to a path the worker cannot reach fails on the worker
#
# `tf.saved_model.save` creates the folder from this process, then asks each device that holds variables to write its
# part of the checkpoint (op `SaveV2`, on the device's host). The worker runs `SaveV2` against a path
# relative to *its* working directory, where `no_io_device/variables/` does not exist. The full message is long;
# `tf_server.describe_error` picks out the missing path, the op that failed and the job that raised it:

# %%
save_failure = None
try:
    tf.saved_model.save(model, "no_io_device")
except tf.errors.NotFoundError as err:
    save_failure = tf_server.describe_error(err)
print(save_failure)
verify(
    {
        "the save fails with NotFoundError in op SaveV2, raised by /job:worker": save_failure is not None
        and (save_failure.type, save_failure.op, save_failure.job) == ("NotFoundError", "SaveV2", "/job:worker")
    }
)

# %% [markdown]
# What did land? The checkpoint is written in shards, one per host (`-of-00002`), into `variables_temp/`, merged into
# `variables/variables.*` once every shard is written (compare the complete save in the next section). This process's
# shard is here, unfinished; it holds only the object graph (`_CHECKPOINTABLE_OBJECT_GRAPH`: which object holds which
# variable). The worker's shard, with the variables, is missing, and the worker's directory stayed empty:

# %%
print("notebook's dir:", *tree(tmp), sep="\n  ")
print("worker's dir:", tree(worker.workdir))
local_shard = tmp / "no_io_device/variables/variables_temp/part-00001-of-00002"
local_shard_keys = [name for name, _ in tf.train.list_variables(str(local_shard))]
print("what this process's shard holds:", local_shard_keys)

# %% [markdown]
# ## `experimental_io_device='/job:localhost'`
#
# `SaveOptions(experimental_io_device=...)` names the device that accesses the filesystem *for all variables*
# (by default, the docstring says, "for each variable the filesystem is accessed from the CPU:0 device of the host where that
# variable is assigned"). With `/job:localhost` the variable values travel to this process, which writes every shard
# into its own working directory (the relative path resolves here):

# %%
local_io = tf.saved_model.SaveOptions(experimental_io_device="/job:localhost")
tf.saved_model.save(model, "saved_model", options=local_io)
print(*tree(tmp / "saved_model"), sep="\n")

# %% [markdown]
# Loading is the mirror image. Inside the worker's strategy scope, a load without options asks the worker to read
# `saved_model/variables/...` relative to its own directory, where nothing is; TensorFlow's error already suggests the
# fix:

# %%
load_failure = None
try:
    with strategy.scope():
        tf.saved_model.load("saved_model")
except FileNotFoundError as err:
    load_failure = tf_server.describe_error(err)
print(load_failure)
print("hint:", getattr(load_failure, "hint", None))
verify(
    {
        "the load fails on the worker, and the hint names experimental_io_device='/job:localhost'": load_failure
        is not None
        and "experimental_io_device" in load_failure.hint
        and "/job:localhost" in load_failure.hint
    }
)

# %% [markdown]
# With `LoadOptions(experimental_io_device='/job:localhost')` this process reads the files and the values go to the
# worker's variables (the first line below). The restored values are compared bit for bit with the model's weights;
# the loaded `serving_default` [signature](../README.md#glossary) (a [ConcreteFunction](../README.md#glossary)), called
# on the same 64 digits, **up to float32 rounding** (`roundtrip.assert_close`: max abs diff ≤ 1e-5 × the largest
# logit): it is another graph than `predict`, which may add in another order, and the last digits depend on the CPU.


# %%
def restored_values_match(variables, reference_model):
    """Whether the restored variables hold the model's weights, bit for bit (matched by shape)."""
    expected = {tuple(w.shape): w.numpy() for w in reference_model.weights}
    return len(variables) == len(expected) and all(
        np.array_equal(v.numpy(), expected[tuple(v.shape)]) for v in variables
    )


local_load = tf.saved_model.LoadOptions(experimental_io_device="/job:localhost")
with strategy.scope():
    loaded = tf.saved_model.load("saved_model", options=local_load)
serve = loaded.signatures["serving_default"]
print(len(serve.variables), "variables restored on", serve.variables[0].device)
saved_model_values_match = restored_values_match(serve.variables, model)
print("restored values equal the model's weights:", saved_model_values_match)
saved_model_closeness = roundtrip.assert_close(reference, serve(x), what="predictions")
print("predictions vs the model's:", saved_model_closeness)

# %% [markdown]
# <a id="a-path-both-processes-reach"></a>
# ## A path both processes reach needs no I/O device
#
# The worker failed because *it* could not reach the path it was given, not because it is remote. Give the same save,
# with **no options**, an **absolute** path inside the notebook's folder: both processes share this machine's disk, so the
# path names the same folder for both. The worker writes its shard there itself, and a load inside the scope, also
# without options, lets the worker read it back:

# %%
shared_path = tmp / "shared_path"  # absolute: the same folder for this process and the worker
tf.saved_model.save(model, str(shared_path))  # no options: each host writes its own shard, as in the failed save
shared_files = tree(shared_path)
print(*shared_files, sep="\n")
with strategy.scope():
    shared_loaded = tf.saved_model.load(str(shared_path))  # no options: the worker reads its variables itself
shared_variables = shared_loaded.signatures["serving_default"].variables
print(len(shared_variables), "variables restored on", shared_variables[0].device)
shared_values_match = restored_values_match(shared_variables, model)
print("restored values equal the model's weights:", shared_values_match)

# %% [markdown]
# What counts is the path as the worker sees it. On a real cluster, where each host has its own disk:
#
# - a path on your VM's own disk (`/tmp/model`, a relative path) exists only there: save and load with
#   `experimental_io_device='/job:localhost'`, as above;
# - a path that every host reaches under the same name needs no I/O device, like the absolute path here: a
#   `gs://bucket/...` path or a network file system mounted at the same path everywhere (not tried here).
#
# ## Keras 3: options only through `tf.saved_model` and `ExportArchive`
#
# Keras 3's `model.save` and `keras.models.load_model` take no `options` argument:

# %%
keras_refusals = {}
for name, call in [
    ("model.save", lambda: model.save("model.keras", options=local_io)),
    ("keras.models.load_model", lambda: keras.models.load_model("model.keras", options=local_load)),
]:
    try:
        call()
    except (ValueError, TypeError) as err:
        keras_refusals[name] = f"{type(err).__name__}: {err}"
        print(f"{name}: {keras_refusals[name]}")
verify({"model.save and keras.models.load_model both refuse options": len(keras_refusals) == 2})

# %% [markdown]
# `model.export(...)` accepts an `options` argument without complaint, but does not hand it to the writer: the export
# fails on the worker exactly like the plain save did.

# %%
export_failure = None
try:
    model.export("exported", options=local_io, verbose=False)
except tf.errors.NotFoundError as err:
    export_failure = tf_server.describe_error(err)
print(export_failure)
verify(
    {
        "model.export ignores options: NotFoundError in op SaveV2, raised by /job:worker": export_failure is not None
        and (export_failure.type, export_failure.op, export_failure.job) == ("NotFoundError", "SaveV2", "/job:worker")
    }
)

# %% [markdown]
# The lower-level export API, `keras.export.ExportArchive`, does accept them in `write_out`. We write to a fresh
# folder, since the failed export may have left a partial `exported/` behind (the failed save did).

# %%
archive = keras.export.ExportArchive()
archive.track_and_add_endpoint("serve", model, [tf.TensorSpec((None, 28, 28, 1), tf.float32)])
archive.write_out("exported_archive", options=local_io, verbose=False)
print(*tree(tmp / "exported_archive"), sep="\n")
with strategy.scope():
    exported = tf.saved_model.load("exported_archive", options=local_load)
export_values_match = restored_values_match(exported.variables, model)
print("restored values equal the model's weights:", export_values_match)
export_closeness = roundtrip.assert_close(reference, exported.serve(x), what="predictions")
print("predictions:", export_closeness)

# %% [markdown]
# A `.keras` file needs no I/O device: Keras reads the variable values and writes the zip from Python, in this process,
# so a relative path lands in the notebook's folder (first line below). Loaded inside the scope, the variables go back
# to the worker:

# %%
model.save("model.keras")
print("model.keras in the notebook's dir:", Path("model.keras").is_file(), "| worker's dir:", tree(worker.workdir))
with strategy.scope():
    reloaded = keras.models.load_model("model.keras")
print("reloaded kernel on", reloaded.layers[0].kernel.value.device)
keras_file_weights = roundtrip.assert_identical_weights(model, reloaded)
print("weights bitwise identical:", keras_file_weights, "arrays")
keras_file_closeness = roundtrip.assert_close(reference, reloaded.predict(x, verbose=0), what="predictions")
print("predictions:", keras_file_closeness)

# %% [markdown]
# ## The seed's Keras 2 way: `tf_keras`
#
# The original tutorial passes the options straight to `model.save` and `load_model`. That still works with the Keras 2
# package, imported explicitly (we do not set `TF_USE_LEGACY_KERAS`):

# %%
import tf_keras

tf_keras.utils.set_random_seed(0)
legacy = models.get_model(strategy, keras=tf_keras)
legacy.fit(train_dataset, epochs=1, steps_per_epoch=20, verbose=0)
legacy_reference = legacy.predict(x, verbose=0)
legacy.save("legacy_saved_model", options=local_io)
with strategy.scope():
    legacy_loaded = tf_keras.models.load_model("legacy_saved_model", options=local_load)
print("tf_keras kernel on", legacy_loaded.layers[0].kernel.device)
legacy_weights = roundtrip.assert_identical_weights(legacy, legacy_loaded)
print("weights bitwise identical:", legacy_weights, "arrays")
legacy_closeness = roundtrip.assert_close(legacy_reference, legacy_loaded.predict(x, verbose=0), what="predictions")
print("predictions:", legacy_closeness)

# %% [markdown]
# ## What this means on a Cloud TPU Node
#
# Not run here (no TPU), but it follows from the cells above:
#
# - With a TPU Node (such as the older Colab TPU runtime), `TPUStrategy` puts the variables on other hosts'
#   TPUs, `/job:worker/...`, while your notebook's VM is `/job:localhost`: the split built here. (On a TPU VM your
#   process runs on the TPU host itself, and nothing here applies.)
# - A path on your VM's disk is out of the workers' reach: pass the I/O device options, as the seed tutorial advises.
#   A `gs://` path that every host reaches needs none.
# - In Keras 3 the options go through `tf.saved_model.save` / `load` (or `ExportArchive.write_out`); `model.save` /
#   `load_model` refuse them, `model.export` drops them. A `.keras` file needs none.

# %% [markdown]
# ## Exercises
#
# The worker still runs: use it and the files written above.
#
# ### Exercise 1: a training checkpoint from the worker
#
# Predict whether `tf.train.Checkpoint(model=model).write("ckpt/model")` (a TF checkpoint, the format
# `tf.train.CheckpointManager` keeps) fails on the worker like the SavedModel. Then make it work with
# `tf.train.CheckpointOptions` (it has the same `experimental_io_device`) and read the checkpoint back into a fresh model
# on the worker, `models.get_model(strategy)`. The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 1
checkpoint_failure = None
try:
    tf.train.Checkpoint(model=model).write("ckpt/model")
except tf.errors.NotFoundError as err:
    checkpoint_failure = tf_server.describe_error(err)
print("without options:", checkpoint_failure, "| raised on", getattr(checkpoint_failure, "job", None))
checkpoint_io = tf.train.CheckpointOptions(experimental_io_device="/job:localhost")
tf.train.Checkpoint(model=model).write("ckpt_local/model", options=checkpoint_io)
print("with the I/O device:", tree(tmp / "ckpt_local"))
fresh = models.get_model(strategy)
tf.train.Checkpoint(model=fresh).read("ckpt_local/model", options=checkpoint_io).assert_existing_objects_matched()
checkpoint_weights = roundtrip.assert_identical_weights(model, fresh)
print("read back on", fresh.layers[0].kernel.value.device, "| weights bitwise identical:", checkpoint_weights, "arrays")
verify(
    {
        "a TF checkpoint without options fails on the worker too": getattr(checkpoint_failure, "job", None)
        == "/job:worker",
        "with CheckpointOptions' I/O device it is written here and read back bitwise": checkpoint_weights == 6,
        "the fresh model's variables are on the worker": fresh.layers[0].kernel.value.device.startswith("/job:worker/"),
    }
)

# %% [markdown]
# ### Exercise 2: a `model.export` of the worker's model after all
#
# `model.export` ignored the options and failed on the worker. Without `ExportArchive`, get a `model.export` SavedModel
# of this model into a relative folder, `"exported_here"`, then load it back onto the worker and check its `serve`
# endpoint on the 64 digits against `reference` (compare the restored values first, as the lesson does). Hint: which
# process does the writing when the variables are local?
# The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 2
local_copy = keras.models.load_model("model.keras")  # no scope: the variables are created in this process
local_copy_device = local_copy.layers[0].kernel.value.device
print("local copy on", local_copy_device)
local_copy.export("exported_here", verbose=False)  # no options: this process holds every variable and writes them
print("exported_here:", sorted(p.name for p in (tmp / "exported_here").iterdir()))
with strategy.scope():
    exported_here = tf.saved_model.load("exported_here", options=local_load)
print("loaded back on", exported_here.variables[0].device)
exported_here_values_match = restored_values_match(exported_here.variables, local_copy)
print("restored values equal the model's weights:", exported_here_values_match)
exported_here_closeness = roundtrip.assert_close(reference, exported_here.serve(x), what="predictions")
print("serve vs the model's predictions:", exported_here_closeness)
export_served_on = exported_here.variables[0].device
verify(
    {
        "loaded outside any scope, the copy's variables live in this process": local_copy_device.startswith(
            "/job:localhost/"
        ),
        "its model.export, loaded with the I/O device, restores onto the worker": export_served_on.startswith(
            "/job:worker/"
        ),
        "its values are the model's weights, bitwise": exported_here_values_match,
        "and serves the model's predictions up to float32 rounding": exported_here_closeness.max_abs_diff
        <= exported_here_closeness.tolerance,
    }
)

# %% [markdown]
# ## What we verified
#
# First stop the worker (`worker.stop()` ends its process and removes its folder) and remove this notebook's temp
# folder; then check every claim of this lesson.

# %%
worker.stop()
os.chdir(notebook_dir)
shutil.rmtree(tmp)
print(worker, "| listening sockets left:", len(tf_server.listening_sockets(worker.pid)))

on_worker = "/job:worker/"
shard_missing = "NotFoundError: no_io_device/variables/variables_temp; No such file or directory"
nothing_to_read = "FileNotFoundError: Failed to find any matching files for saved_model/variables/variables"
keras_load_refusal = keras_refusals["keras.models.load_model"]
verify(
    {
        "the model's variables lived on the remote worker": kernel.value.device
        == on_worker + "replica:0/task:0/device:CPU:0",
        "so did the optimizer's step counter": model.optimizer.iterations.value.device.startswith(on_worker),
        "saving to a relative path without an I/O device failed on the worker": str(save_failure) == shard_missing,
        "that failure came from op SaveV2 on /job:worker": (save_failure.op, save_failure.job)
        == ("SaveV2", "/job:worker"),
        "this process's shard of that save held only the object graph": local_shard_keys
        == ["_CHECKPOINTABLE_OBJECT_GRAPH"],
        "loading it without an I/O device failed on the worker too": str(load_failure) == nothing_to_read,
        "TensorFlow's hint for it names experimental_io_device='/job:localhost'": "experimental_io_device"
        in load_failure.hint
        and "/job:localhost" in load_failure.hint,
        "with the I/O device '/job:localhost' it was saved here and restored bitwise": saved_model_values_match,
        "that SavedModel loaded onto the worker with LoadOptions": serve.variables[0].device.startswith(on_worker),
        "an absolute path both processes reach: saved with no options": "variables/variables.index" in shared_files,
        "it loaded back bitwise onto the worker with no options too": shared_values_match
        and shared_variables[0].device.startswith(on_worker),
        "Keras 3's model.save refuses options (ValueError)": keras_refusals["model.save"]
        == "ValueError: The following argument(s) are not supported: ['options']",
        "Keras 3's load_model refuses them (TypeError)": keras_load_refusal.startswith("TypeError:")
        and "'options'" in keras_load_refusal,
        "model.export ignores them and fails on the worker": (export_failure.type, export_failure.job)
        == ("NotFoundError", "/job:worker"),
        "ExportArchive.write_out takes them: restored bitwise": export_values_match,
        "a .keras file needs no I/O device: weights bitwise": keras_file_weights == 6,
        "tf_keras takes the options in save and load_model, as in the seed": legacy_weights == 6
        and legacy_loaded.layers[0].kernel.device.startswith(on_worker),
        "every round trip predicted the same up to float32 rounding": all(
            c.max_abs_diff <= c.tolerance
            for c in [saved_model_closeness, export_closeness, keras_file_closeness, legacy_closeness]
        ),
        "the worker process and both folders are gone": not (worker.alive() or tmp.exists() or worker.workdir.exists()),
        "the server listened on every interface; once stopped, on nothing": {s.scope for s in worker_sockets}
        == {"every interface"}
        and worker.listening() == tf_server.listening_sockets(worker.pid) == [],
    }
)


# %% [markdown]
# ---
# ← Previous: [04 · Mix and match: which loader reads which saved model?](04_mix_and_match.ipynb) | [All notebooks](../README.md) | Next: [06 · Subclassed models: saving before the first call, and models as code](06_subclassed_models.ipynb) →
