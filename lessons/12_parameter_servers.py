# %% [markdown]
# # 12 · Parameter servers: sharded variables, and loading them anywhere
#
# Train with `ParameterServerStrategy` on a real cluster of 2 workers and 2 parameter servers on this machine, with
# variables split into shards across the servers, then save them every way there is and load them back: on one
# machine, into another number of shards or parameter servers, in a new process, and after a worker is lost.
#
# **This notebook answers:** What can I save from parameter-server training with sharded variables, and where can I load it?
#
# <table align="left">
#   <td><a target="_blank" href="https://colab.research.google.com/github/tf-distribute-notebooks/save-and-load/blob/main/notebooks/12_parameter_servers.ipynb"><img src="https://www.tensorflow.org/images/colab_logo_32px.png" />Run in Google Colab</a></td>
#   <td><a target="_blank" href="https://github.com/tf-distribute-notebooks/save-and-load/blob/main/notebooks/12_parameter_servers.ipynb"><img src="https://www.tensorflow.org/images/GitHub-Mark-32px.png" />View source on GitHub</a></td>
# </table>
# <br clear="all">
#
# **What you'll learn**
#
# - how a `ClusterCoordinator` schedules training steps on workers while the variables live, sharded, on parameter servers;
# - that the parameter servers write the checkpoint themselves, so its path must be one every task reaches;
# - which saves of sharded variables load anywhere (a checkpoint's weights, a SavedModel) and which do not (the
#   optimizer's per-shard slots into another partitioning, a Keras 3 `.keras` file);
# - what the coordinator does when a worker is lost.
#
# **Expected run time:** about 50 s on a 2-core CPU, no GPU needed.

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
import contextlib
import tempfile
from pathlib import Path

import keras
import numpy as np
import tf_keras

from helpers import atomic_save, processes, ps_cluster, roundtrip
from helpers.claims import verify

tf.get_logger().setLevel("ERROR")  # hide TF's Python INFO logs
tf.config.threading.set_intra_op_parallelism_threads(1)  # a small machine runs 5 TensorFlow processes here
tmp = Path(tempfile.mkdtemp())  # removed at the end

# %% [markdown]
# ## A cluster on one machine
#
# Parameter-server training has three roles. **Parameter servers** (PS) hold the variables. **Workers** run the
# training steps, reading the variables from the PS and sending updates back, each at its own pace (asynchronous
# training). The **coordinator**, this notebook, creates the variables and schedules steps on the workers.
#
# `ps_cluster.start` runs each worker and each PS as a `tf.distribute.Server` in its own subprocess on `127.0.0.1`,
# each in its own working directory, and waits until all four listen. TensorFlow's
# [tutorial](https://www.tensorflow.org/tutorials/distribute/parameter_server_training) starts them inside the
# notebook's process instead; separate processes are what let us lose a worker later (a server cannot be stopped
# from inside its process) and show which process writes which file. Each server gets 3 inter-op threads and 1
# intra-op thread (the tutorial gives a worker `workers + 1` inter-op threads on a small machine).
#
# Like every TensorFlow server, they listen on every network interface: read
# [notebook 05, "Who can reach the worker"](05_local_io_device.ipynb#who-can-reach-the-worker) before running this
# anywhere but on a network you trust. They are stopped in the section [Stopping the cluster](#stopping-the-cluster)
# below, and also when this process ends, whatever happens in between.

# %%
cluster = ps_cluster.start(workers=2, ps=2)  # waits (at most 90 s per server) until every server listens
print(cluster)
print({job: len(addresses) for job, addresses in cluster.cluster_spec.items()})

# %% [markdown]
# ## Sharded variables
#
# `variable_partitioner=FixedShardsPartitioner(2)` splits every variable created under the strategy's scope into 2
# shards along its first axis, placed on the PS in turn: a `ShardedVariable`. The model is a `tf.Module` with three
# variables; the optimizer is Keras 3's Adam.

# %%
strategy = tf.distribute.ParameterServerStrategy(
    cluster.resolver(), variable_partitioner=tf.distribute.experimental.partitioners.FixedShardsPartitioner(2)
)
coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)


class Net(tf.Module):
    def __init__(self):
        super().__init__()
        self.w1 = tf.Variable(tf.random.stateless_normal([8, 16], seed=[0, 1]) * 0.3, name="w1")
        self.b1 = tf.Variable(tf.zeros([16]), name="b1")
        self.w2 = tf.Variable(tf.random.stateless_normal([16, 2], seed=[0, 2]) * 0.3, name="w2")

    @tf.function(input_signature=[tf.TensorSpec([None, 8], tf.float32)])
    def __call__(self, x):
        return tf.nn.relu(x @ self.w1 + self.b1) @ self.w2


with strategy.scope():
    net = Net()
    optimizer = keras.optimizers.Adam(0.05)
    optimizer.build(net.trainable_variables)
print(type(net.w1).__name__, "w1:", [tuple(s.shape) for s in net.w1.variables])
print("on:", [s.device for s in net.w1.variables])
print("trainable_variables:", [v.name for v in net.trainable_variables])
slots = [v for v in optimizer.variables if "momentum" in v.path]
print("Adam momentum slots:", [(v.path, tuple(v.shape)) for v in slots])

# %% [markdown]
# `trainable_variables` lists the **shards**, so the optimizer builds one slot per shard: a momentum of shape
# `(4, 16)` for each half of `w1`, not one of `(8, 16)`. Remember that for the restores below.
#
# ## Training: `schedule` and `join`
#
# Each worker builds its own input pipeline from `dataset_fn` (`create_per_worker_dataset`). `schedule` queues one
# step and returns at once with a `RemoteValue`; the coordinator runs it on whichever worker is free. `join` waits
# until every scheduled step has run.


# %%
def dataset_fn():
    x = tf.random.stateless_normal([512, 8], seed=[1, 2])
    y = tf.cast(tf.reduce_sum(x[:, :3], axis=1) > 0, tf.int64)  # a class that depends on 3 of the 8 features
    return tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(32)


loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def make_train_step(strategy, net, optimizer):
    @tf.function
    def train_step(iterator):
        def replica_fn(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, net(x))
            grads = tape.gradient(loss, net.trainable_variables)
            optimizer.apply_gradients(zip(grads, net.trainable_variables, strict=True))
            return loss

        return strategy.run(replica_fn, args=next(iterator))

    return train_step


def train(coordinator, train_step, steps):
    iterator = iter(coordinator.create_per_worker_dataset(dataset_fn))
    results = [coordinator.schedule(train_step, args=(iterator,)) for _ in range(steps)]
    coordinator.join()
    return [float(r.fetch()) for r in results]


train_step = make_train_step(strategy, net, optimizer)
losses = train(coordinator, train_step, 40)
print(
    f"{len(losses)} steps; mean loss of the first 5 {roundtrip.approx(np.mean(losses[:5]))}, "
    f"of the last 5 {roundtrip.approx(np.mean(losses[-5:]))}"
)
verify(
    {
        "the loss fell: the mean of the last 5 steps is below that of the first 5": np.mean(losses[-5:])
        < np.mean(losses[:5])
    }
)

# %% [markdown]
# ## When a worker is lost
#
# This runs in a separate Python process with its own cluster and one coordinator. In a process that has built a
# second `ParameterServerStrategy`, as this notebook does below, we measured on TensorFlow 2.21 that losing a
# worker **aborts the coordinator's process** (`Check failed: … GrpcChannelCache …`) instead of being retried; that
# is not shown here, since it would end this notebook's process.
#
# The program schedules 60 training steps and kills worker 1 (SIGKILL, as a machine that disappears) right away.
# The coordinator runs the lost worker's unfinished steps again on another worker (the tutorial's
# [fault tolerance](https://www.tensorflow.org/tutorials/distribute/parameter_server_training#fault_tolerance)), so
# `join` returns with all 60 done; after worker 1 is restarted at the same address, training goes on.
# Its cluster is stopped when its `with` block ends; `run_python` stops the program itself if it runs over 150 s.

# %%
LOST_WORKER = """
import os

import tensorflow as tf
from helpers import ps_cluster

tf.get_logger().setLevel("CRITICAL")  # the coordinator logs the lost worker's error; we print what matters
with ps_cluster.start(workers=2, ps=2) as cluster:
    strategy = tf.distribute.ParameterServerStrategy(cluster.resolver())
    coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
    with strategy.scope():
        w = tf.Variable(tf.zeros([8, 1]))

    @tf.function
    def train_step():
        x = tf.random.normal([32, 8])
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((x @ w - tf.reduce_sum(x, axis=1, keepdims=True)) ** 2)
        w.assign_sub(0.05 * tape.gradient(loss, w))
        return loss

    scheduled = [coordinator.schedule(train_step) for _ in range(60)]
    cluster.kill("worker", 1)
    coordinator.join()
    print("worker 1 running after the kill:", cluster.alive("worker", 1))
    print("steps that returned a loss:", len([r.fetch() for r in scheduled]), "of 60")
    cluster.restart("worker", 1)  # the same address; waits until it listens
    more = [coordinator.schedule(train_step) for _ in range(10)]
    coordinator.join()
    print("after the restart:", len([r.fetch() for r in more]), "more steps", flush=True)
os._exit(0)  # the cluster is stopped; skip TensorFlow's teardown, which can hang after a lost worker
"""
lost = processes.run_python(LOST_WORKER, cwd=tmp, timeout=150)
print("exit code:", lost.returncode)
print(lost.stdout.strip())
verify(
    {
        "with a worker lost, join returns and every scheduled step ran": lost.returncode == 0
        and "returned a loss: 60 of 60" in lost.stdout,
        "training goes on after the worker is restarted": "after the restart: 10 more steps" in lost.stdout,
    }
)

# %% [markdown]
# A lost **parameter server** is different: its variables are gone, the coordinator raises an error, and the way back
# is a new cluster restored from the last checkpoint (section 1's). That is not run here; see the tutorial's
# [fault tolerance](https://www.tensorflow.org/tutorials/distribute/parameter_server_training#fault_tolerance)
# section.

# %% [markdown]
# ## 1. A checkpoint from the coordinator, written by the parameter servers
#
# `tf.train.CheckpointManager` is called on the coordinator, but each PS writes the shards it holds. With a relative
# path, each process resolves it in its own working directory; the PS's has no `ckpts` folder:

# %%
ckpt = tf.train.Checkpoint(net=net, optimizer=optimizer)
(tmp / "coordinator_cwd").mkdir()
with contextlib.chdir(tmp / "coordinator_cwd"):
    try:
        ckpt.write("ckpts/relative")
    except tf.errors.NotFoundError as err:
        relative_error = err
        print(type(err).__name__, "| 'No such file or directory' in it:", "No such file or directory" in str(err))

manager = tf.train.CheckpointManager(ckpt, str(tmp / "ckpts"), max_to_keep=2)  # an absolute path, seen by all
path = manager.save()
print(sorted(p.name for p in (tmp / "ckpts").iterdir()))
print("save_counter on:", ckpt.save_counter.device)
verify(
    {
        "a relative checkpoint path fails on a PS: NotFoundError, no such directory": "No such file"
        in str(relative_error),
        "a checkpoint with an absolute path is written": manager.latest_checkpoint == path,
    }
)

# %% [markdown]
# Three data files, one per task that holds variables: the two PS and the coordinator (it holds `save_counter`). In a real cluster the
# path must be on storage that every task reaches (a shared file system, a bucket). The checkpoint stores each
# `ShardedVariable` **whole**, but the optimizer's slots **per shard**:

# %%
stored = dict(tf.train.list_variables(path))
print("net/w1:", stored["net/w1/.ATTRIBUTES/VARIABLE_VALUE"])
print("optimizer variables of shape [4, 16]:", sum(shape == [4, 16] for shape in stored.values()))
saved = {name: tf.convert_to_tensor(getattr(net, name)).numpy() for name in ("w1", "b1", "w2")}  # shards joined
verify({"a ShardedVariable is stored whole": stored["net/w1/.ATTRIBUTES/VARIABLE_VALUE"] == [8, 16]})

# %% [markdown]
# ## 2. Restored with no strategy, on one machine
#
# A plain `Net()`, no cluster: the weights come back bitwise. The same checkpoint with the optimizer fails, because
# an unsharded `w1` has one momentum of `(8, 16)` and the checkpoint holds two of `(4, 16)`; this is
# [keras-team/tf-keras#838](https://github.com/keras-team/tf-keras/issues/838) with Keras 3's optimizer.

# %%
plain = Net()
tf.train.Checkpoint(net=plain).restore(path).expect_partial()
x = dataset_fn().take(1).get_single_element()[0][:8]
same_plain = all(np.array_equal(saved[n], getattr(plain, n).numpy()) for n in saved)
print("weights bitwise equal:", same_plain)

plain_optimizer = keras.optimizers.Adam(0.05)
plain_optimizer.build(Net().trainable_variables)
try:
    tf.train.Checkpoint(net=Net(), optimizer=plain_optimizer).restore(path)
except ValueError as err:
    slot_error = err
    print(type(err).__name__ + ":", str(err).split(" when ")[0])
verify(
    {
        "the weights restore bitwise with no strategy": same_plain,
        "the per-shard optimizer slots do not restore unsharded (ValueError)": "incompatible tensor" in str(slot_error),
    }
)

# %% [markdown]
# ## 3. Into another number of shards, and 4. training resumed
#
# Under a 3-shard partitioner the weights are split again on restore (`FixedShardsPartitioner(3)` over the same 2
# PS), bitwise. To resume training with the optimizer's state, restore into the **same** partitioning: then
# everything matches, the step counter included, and training continues from the saved loss.

# %%
strategy3 = tf.distribute.ParameterServerStrategy(
    cluster.resolver(), variable_partitioner=tf.distribute.experimental.partitioners.FixedShardsPartitioner(3)
)
with strategy3.scope():
    net3 = Net()
tf.train.Checkpoint(net=net3).restore(path).expect_partial()
print("w1 in 3 shards:", [tuple(s.shape) for s in net3.w1.variables])
same3 = all(np.array_equal(saved[n], tf.convert_to_tensor(getattr(net3, n)).numpy()) for n in saved)

with strategy.scope():
    resumed, resumed_optimizer = Net(), keras.optimizers.Adam(0.05)
    resumed_optimizer.build(resumed.trainable_variables)
tf.train.Checkpoint(net=resumed, optimizer=resumed_optimizer).restore(path).assert_consumed()
print("step counter restored:", int(resumed_optimizer.iterations.numpy()) == int(optimizer.iterations.numpy()))
more = train(coordinator, make_train_step(strategy, resumed, resumed_optimizer), 10)
print(f"resumed: mean loss of 10 more steps {roundtrip.approx(np.mean(more))}")
verify(
    {
        "the weights restore bitwise into 3 shards": same3,
        "a restore into the same partitioning consumes the whole checkpoint and resumes": np.mean(more)
        < np.mean(losses[:5]),
    }
)

# %% [markdown]
# **Another number of parameter servers.** The checkpoint names no task, only variables. A separate Python process
# starts its own cluster of 1 worker and **3** PS and restores the same files into 3 shards, one on each PS. It only
# needs the checkpoint's absolute path, on storage every task reaches.

# %%
OTHER_CLUSTER = """
import os

import numpy as np, tensorflow as tf
from helpers import ps_cluster

with ps_cluster.start(workers=1, ps=3) as cluster:
    partitioner = tf.distribute.experimental.partitioners.FixedShardsPartitioner(3)
    strategy = tf.distribute.ParameterServerStrategy(cluster.resolver(), variable_partitioner=partitioner)
    with strategy.scope():  # restored by name (net/w1, net/b1, net/w2): no Net class needed
        net = tf.Module()
        net.w1, net.b1, net.w2 = tf.Variable(tf.zeros([8, 16])), tf.Variable(tf.zeros([16])), tf.Variable(tf.zeros([16, 2]))
    tf.train.Checkpoint(net=net).restore(CHECKPOINT).expect_partial()
    print("w1 in", [tuple(v.shape) for v in net.w1.variables], "on", len({v.device for v in net.w1.variables}), "PS")
    saved = np.load("saved.npz")
    print("bitwise:", all(np.array_equal(saved[n], tf.convert_to_tensor(getattr(net, n)).numpy()) for n in saved))
os._exit(0)  # the cluster is stopped
"""
np.savez(tmp / "saved.npz", **saved)
other = processes.run_python(OTHER_CLUSTER.replace("CHECKPOINT", repr(path)), cwd=tmp, timeout=150)
print("exit code:", other.returncode, "|", other.stdout.strip())
verify({"the weights restore bitwise into 3 shards on a cluster of 3 PS": "bitwise: True" in other.stdout})

# %% [markdown]
# ## 5. A SavedModel, loaded in a new process with no cluster
#
# [tensorflow/tensorflow#60560](https://github.com/tensorflow/tensorflow/issues/60560) reports that a SavedModel
# holding a `ShardedVariable` does not load with `tf.saved_model.load`. Saved from this `tf.Module` under the
# strategy, it loads in a fresh Python process that knows nothing of the cluster, as one `(8, 16)` variable, and
# serves the same predictions (up to float32 rounding: the sharded and the whole matrix products add in different
# orders). A Keras model's SavedModel is not checked here.

# %%
tf.saved_model.save(net, str(tmp / "net_savedmodel"))
np.save(tmp / "x.npy", x.numpy())
np.save(tmp / "expected.npy", net(x).numpy())
run = processes.run_python(
    """
import numpy as np, tensorflow as tf
loaded = tf.saved_model.load("net_savedmodel")
print(type(loaded.w1).__name__, loaded.w1.shape)
np.save("served.npy", loaded(tf.constant(np.load("x.npy"))).numpy())
""",
    cwd=tmp,
    timeout=120,
)
print("exit code:", run.returncode, "|", run.stdout.strip())
closeness = roundtrip.assert_close(np.load(tmp / "expected.npy"), np.load(tmp / "served.npy"), what="predictions")
print(closeness)
verify({"the SavedModel loads and serves in a process with no cluster": run.returncode == 0})
# %% [markdown]
# ## 6. Keras 3 and sharded variables: the `.keras` file
#
# A Keras 3 model built under the same strategy gets sharded kernels too, but Keras 3 has no code for them: its
# gradient, its checkpoint and its `.keras` save all fail, and the failed `.keras` save leaves a file behind that
# does not load. [Notebook 09](09_crash_safe_saves.ipynb)'s atomic save leaves nothing instead.


# %%
def keras_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)])


def attempt(action):
    try:
        action()
        return "ok"
    except Exception as err:  # we print what each one raises
        return f"{type(err).__name__}: {str(err).splitlines()[0][:90]}"


def gradient(model):
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x))
    return tape.gradient(loss, model.trainable_variables)


with strategy.scope():
    sharded_model = keras_model()
print("kernel:", type(sharded_model.layers[0].kernel.value).__name__)
outcomes = {
    "gradient": attempt(lambda: gradient(sharded_model)),
    "checkpoint": attempt(lambda: tf.train.Checkpoint(model=sharded_model).write(str(tmp / "keras_ckpt"))),
    "model.save": attempt(lambda: sharded_model.save(tmp / "sharded.keras")),
    "load_model": attempt(lambda: keras.models.load_model(tmp / "sharded.keras")),
    "atomic save": attempt(lambda: atomic_save.save_atomically(sharded_model.save, tmp / "atomic.keras")),
}
for what, outcome in outcomes.items():
    print(f"{what:12} {outcome}")
left = {name: (tmp / name).exists() for name in ("sharded.keras", "atomic.keras")}
print("file left behind by the failed model.save, by the atomic save:", left)
verify(
    {
        "model.save of sharded variables raises AttributeError": outcomes["model.save"].startswith("AttributeError"),
        "its half-written file does not load": outcomes["load_model"].startswith("ValueError"),
        "the atomic save leaves no file": not (tmp / "atomic.keras").exists(),
    }
)

# %% [markdown]
# `get_weights()` joins the shards, so the way that works is to gather them into the same model built with no
# strategy and save that one (atomically):

# %%
gathered = keras_model()
gathered.set_weights(sharded_model.get_weights())
atomic_save.save_atomically(gathered.save, tmp / "gathered.keras")
reloaded = keras.models.load_model(tmp / "gathered.keras")
same_keras = all(np.array_equal(a, b) for a, b in zip(sharded_model.get_weights(), reloaded.get_weights(), strict=True))
print("weights bitwise equal after the round trip:", same_keras)
verify({"the gathered weights save as .keras and load bitwise": same_keras})

# %% [markdown]
# ## The Keras routes that train today
#
# - **Keras 3**'s `fit` has no parameter-server support (Keras 3.15's source has no `ClusterCoordinator`; not shown
#   here). A Keras 3 model trains with the custom loop above under a strategy **without** a partitioner: each
#   variable then lives whole on one PS, and its `.keras` file saves and loads as on one machine.
# - **`tf_keras`** (Keras 2) `fit` works with a `DatasetCreator` and `steps_per_epoch`, under the partitioned strategy.

# %%
whole_strategy = tf.distribute.ParameterServerStrategy(cluster.resolver())  # no partitioner
whole_coordinator = tf.distribute.coordinator.ClusterCoordinator(whole_strategy)
with whole_strategy.scope():
    keras3_model, keras3_optimizer = keras_model(), keras.optimizers.Adam(0.05)
    keras3_optimizer.build(keras3_model.trainable_variables)
keras3_losses = train(whole_coordinator, make_train_step(whole_strategy, keras3_model, keras3_optimizer), 30)
atomic_save.save_atomically(keras3_model.save, tmp / "keras3.keras")
keras3_back = keras.models.load_model(tmp / "keras3.keras")
same_keras3 = all(
    np.array_equal(a, b) for a, b in zip(keras3_model.get_weights(), keras3_back.get_weights(), strict=True)
)
print("kernel on:", keras3_model.layers[0].kernel.value.device)
print(
    f"Keras 3, custom loop: loss {roundtrip.approx(keras3_losses[0])} → {roundtrip.approx(np.mean(keras3_losses[-5:]))}"
)

with strategy.scope():
    legacy = tf_keras.Sequential(
        [tf_keras.layers.Dense(16, activation="relu", input_shape=(8,)), tf_keras.layers.Dense(2)]
    )
    legacy.compile(tf_keras.optimizers.Adam(0.05), tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
history = legacy.fit(
    tf_keras.utils.experimental.DatasetCreator(lambda _: dataset_fn()), epochs=2, steps_per_epoch=20, verbose=0
)
print(f"tf_keras fit: loss per epoch {roundtrip.approx(history.history['loss'])}")
verify(
    {
        "Keras 3 trains with the coordinator when variables are whole": np.mean(keras3_losses[-5:]) < keras3_losses[0],
        "its .keras file reloads bitwise": same_keras3,
        "tf_keras fit with a DatasetCreator trains: the loss falls": history.history["loss"][-1]
        < history.history["loss"][0],
    }
)

# %% [markdown]
# <a id="stopping-the-cluster"></a>
# ## Stopping the cluster
#
# `cluster.stop()` ends every server (SIGTERM, then SIGKILL, with bounded waits). If this notebook stops earlier, the
# servers end with its process.

# %%
cluster.stop()
print(cluster)

# %% [markdown]
# ## Exercises
#
# ### Exercise 1: fine-tune on one machine
#
# Restore section 1's checkpoint into a `Net()` with no strategy and train it for 10 steps on one machine with a
# fresh Adam (the per-shard slots cannot come along, section 2). Does the loss stay below the loss the cluster
# started from? The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 1
local_net, local_optimizer = Net(), keras.optimizers.Adam(0.05)
tf.train.Checkpoint(net=local_net).restore(path).expect_partial()
local_losses = []
for features, labels in dataset_fn().take(10):
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, local_net(features))
    grads = tape.gradient(loss, local_net.trainable_variables)
    local_optimizer.apply_gradients(zip(grads, local_net.trainable_variables, strict=True))
    local_losses.append(float(loss))
print(f"mean loss of 10 local steps {roundtrip.approx(np.mean(local_losses))}")
verify(
    {
        "fine-tuning the restored weights on one machine starts from the trained model": np.mean(local_losses)
        < np.mean(losses[:5])
    }
)

# %% [markdown]
# ## What we verified

# %%
import shutil

shutil.rmtree(tmp, ignore_errors=True)
verify(
    {
        "FixedShardsPartitioner(2) makes each variable a ShardedVariable of 2 shards": len(net.w1.variables) == 2,
        "the optimizer's slots are per shard": [tuple(v.shape) for v in slots if "w1" in v.path] == [(4, 16), (4, 16)],
        "the loss fell under ClusterCoordinator schedule/join": np.mean(losses[-5:]) < np.mean(losses[:5]),
        "the PS write the checkpoint: a relative path fails there": "No such file" in str(relative_error),
        "weights restore bitwise with no strategy and into 3 shards": same_plain and same3,
        "and into 3 shards on another cluster, of 3 PS": "bitwise: True" in other.stdout,
        "per-shard slots do not restore into an unsharded optimizer": "incompatible tensor" in str(slot_error),
        "the SavedModel serves in a new process with no cluster": run.returncode == 0,
        "Keras 3's model.save fails on sharded variables": outcomes["model.save"].startswith("AttributeError"),
        "gathered weights save as .keras and reload bitwise": same_keras,
        "with a worker lost, every scheduled step ran, and training goes on after its restart": "60 of 60"
        in lost.stdout
        and "10 more steps" in lost.stdout,
    }
)

# %% [markdown]
# ---
# ← Previous: [11 · Checkpoint cost at scale: what checkpointing a big model costs the training run](11_checkpoint_cost_at_scale.ipynb) | [All notebooks](../README.md)
