# %% [markdown]
# # 02 · Save and load a Keras model trained under `MirroredStrategy`
#
# Train on 2 replicas, save one `.keras` file, and load it back on other device setups: the predictions, the optimizer
# state and the training all carry over.
#
# **This notebook answers:** How do I save a Keras model trained under a strategy, and load it back with no strategy, on one device, or with another number of replicas?
#
# <table align="left">
#   <td><a target="_blank" href="https://colab.research.google.com/github/tf-distribute-notebooks/save-and-load/blob/main/notebooks/02_keras_save_load.ipynb"><img src="https://www.tensorflow.org/images/colab_logo_32px.png" />Run in Google Colab</a></td>
#   <td><a target="_blank" href="https://github.com/tf-distribute-notebooks/save-and-load/blob/main/notebooks/02_keras_save_load.ipynb"><img src="https://www.tensorflow.org/images/GitHub-Mark-32px.png" />View source on GitHub</a></td>
# </table>
# <br clear="all">
#
# **What you'll learn**
#
# - saving a model trained under `MirroredStrategy` to one `.keras` file, and what that file holds
# - loading it with no strategy and training on **without** calling `compile` again
# - loading it under `OneDeviceStrategy`, and under a `MirroredStrategy` with fewer replicas (1) or more (4, in a new
#   process), and a TensorFlow crash on a batch that leaves a replica empty
# - what goes wrong when a model loaded *outside* `strategy.scope()` is trained under the strategy, and the fix
# - how to check a round trip: weights and optimizer state (bitwise, by position), predictions (up to float32 rounding), and the continued loss curve
# - the seed tutorial's Keras 2 SavedModel directory through `tf_keras`, and why Keras 3's `model.save('a_directory')` raises
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
import re
import shutil
import signal
import tempfile
import zipfile
from pathlib import Path

import keras
import numpy as np
import tf_keras

from helpers import data, mnist_prep, models, plots, processes, roundtrip
from helpers.claims import verify

# %matplotlib inline
tf.get_logger().setLevel("ERROR")  # hide TF's Python INFO logs ("Using MirroredStrategy with devices ...")
print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| tf_keras", tf_keras.__version__)
print("tf.keras is Keras 3:", tf.keras.__version__ == keras.__version__)
print("MNIST source:", mnist_prep.prepare(log=None))  # reuse, download, or build offline (helpers/mnist_prep.py)

# %% [markdown]
# ## Train briefly under `MirroredStrategy` (2 replicas)
#
# The seed tutorial's model and pipeline from notebook 01, here from `helpers`: 5 epochs of 40 steps, a global batch
# of 128 (64 per replica). The 5 epoch losses are the original run's loss curve. A fixed batch of 128 test images is
# the probe for every round trip below.

# %%
strategy = tf.distribute.MirroredStrategy(replica_devices)
print("replicas in sync:", strategy.num_replicas_in_sync)

keras.utils.set_random_seed(0)  # same initial weights and same shuffled batches on every run
train_dataset, eval_dataset = data.get_data(strategy, repeat=True)
model = models.get_model(strategy)

EPOCHS, STEPS = 5, 40
TRAINED_STEPS = EPOCHS * STEPS
history = model.fit(train_dataset, epochs=EPOCHS, steps_per_epoch=STEPS, verbose=2)
original_losses = history.history["loss"]
verify(
    {
        "the original run learned: its last epoch's loss is under half its first": original_losses[-1]
        < original_losses[0] / 2
    }
)
print("optimizer steps taken:", int(model.optimizer.iterations.numpy()))

x_probe, y_probe = next(iter(eval_dataset))  # the probe for every round trip below
print("probe batch of test images:", tuple(x_probe.shape))

# %% [markdown]
# ## Save to a `.keras` file
#
# One call, outside any scope. Everything this notebook writes goes to a temporary working folder; paths are printed
# relative to it. A `.keras` file is a zip archive: `config.json` holds the architecture and how the model was compiled,
# `model.weights.h5` the layer weights **and** the optimizer's variables, `metadata.json` the Keras version ("Going
# deeper: inside the `.keras` file" opens them; the Keras guide [Save, serialize, and export
# models](https://keras.io/guides/serialization_and_saving/) describes the format).

# %%
tmp = Path(tempfile.mkdtemp())
notebook_dir = Path.cwd()
os.chdir(tmp)
keras_path = tmp / "mnist_cnn.keras"
model.save(keras_path)
saved_weights = model.get_weights()  # the saved state: the original model trains on later
with zipfile.ZipFile(keras_path) as archive:
    members = archive.namelist()
print("saved:", keras_path.relative_to(tmp), "| files in the archive:", members)

# %% [markdown]
# ## How we check a round trip
#
# 1. **Weights**: every weight array is bitwise identical to the saved model's.
# 2. **Optimizer state**: every optimizer variable (step counter, learning rate, Adam's two moments per weight) is
#    bitwise identical, compared **by position**: on Keras 3.13 and 3.15 reloading drops the model-name prefix from
#    variable *paths* (the 3.16 nightly keeps it).
# 3. **Predictions** on the probe batch are equal up to float32 rounding (at most `roundtrip.RTOL` = 0.00001 relative
#    to the size of the logits): on another device setup the same products may be added in another order, which
#    changes last digits depending on your CPU.
# 4. **Training continues** where the saved run stopped ("Did training really continue?").


# %%
def check_round_trip(restored):
    n_weights = roundtrip.assert_identical_weights(model, restored)
    n_vars = roundtrip.assert_same_optimizer_state(model, restored)
    predictions = roundtrip.assert_same_predictions(model, restored, x_probe)
    print(f"weights: {n_weights} arrays, bitwise identical")
    print(
        f"optimizer state: {n_vars} variables, bitwise identical by position, "
        f"iterations = {int(restored.optimizer.iterations.numpy())}"
    )
    print(f"predictions: {predictions}")
    return n_weights, predictions


# %% [markdown]
# ## 1. Restore with no strategy
#
# `keras.models.load_model` rebuilds the model from `config.json`, compiles it with the saved compile settings and loads
# the weights and optimizer variables. Outside any scope the variables are plain (not mirrored), on the default device,
# and the model trains under TensorFlow's default strategy (`model.distribute_strategy`): one device, one replica.

# %%
plain = keras.models.load_model(keras_path)
kernel = plain.layers[0].kernel.value
print("kernel variable:", type(model.layers[0].kernel.value).__name__, "→", type(kernel).__name__)
plain_strategy = plain.distribute_strategy
print("on", kernel.device.split("/")[-1], "| fit runs under", type(plain_strategy).__name__, end=" ")
print("with", plain_strategy.num_replicas_in_sync, "replica")
weights_plain, diff_plain = check_round_trip(plain)

# %% [markdown]
# Adam's state: a step counter, its learning rate and, for each of the 6 weight arrays, a first moment (`momentum`) and
# a second moment (`velocity`). All of them came back, with their trained values:

# %%
kinds = {}
for saved, restored in zip(model.optimizer.variables, plain.optimizer.variables, strict=True):
    kind = next(k for k in ("iteration", "learning_rate", "momentum", "velocity") if saved.path.endswith(k))
    kinds.setdefault(kind, []).append((saved.numpy(), restored.numpy()))
print("first moment's path:", model.optimizer.variables[2].path, "→", plain.optimizer.variables[2].path)
for kind, pairs in kinds.items():
    equal = all(np.array_equal(a, b) for a, b in pairs)
    print(f"{kind:<14} {len(pairs)} variable(s), bitwise equal: {equal}")
moments_trained = all(np.any(b != 0) for kind in ("momentum", "velocity") for _, b in kinds[kind])
print("every moment holds trained (nonzero) values:", moments_trained)

# %% [markdown]
# ## Continue training, without `compile`
#
# To be compared step by step, the continued runs must train on the same batches in the same order: `continue_dataset`
# is 80 batches of the training set, read once and cached ("Going deeper: why the continued runs read cached batches"
# shows why `train_dataset` would not do).
#
# No `compile()` call: the loaded model already has its optimizer, loss and metrics, so `fit` just goes on.

# %%
CONTINUE_EPOCHS = 2
continue_dataset = train_dataset.take(CONTINUE_EPOCHS * STEPS).cache()
print("cached batches:", sum(1 for _ in continue_dataset))  # this full pass fills the cache
continue_dataset = continue_dataset.repeat()  # fit(steps_per_epoch=...) then never runs out

plain_losses = plain.fit(continue_dataset, epochs=CONTINUE_EPOCHS, steps_per_epoch=STEPS, verbose=2).history["loss"]
print("optimizer steps now:", int(plain.optimizer.iterations.numpy()))

# %% [markdown]
# ## 2. Restore under `OneDeviceStrategy`
#
# Load inside the strategy's scope so the variables are created on its device; the model keeps that strategy as its
# `distribute_strategy`, and `fit` runs under it.

# %%
one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
with one_device.scope():
    on_one_device = keras.models.load_model(keras_path)
kernel = on_one_device.layers[0].kernel.value
print("kernel variable:", type(kernel).__name__, "on", kernel.device.split("/")[-1], end=" ")
print("| fit runs under", type(on_one_device.distribute_strategy).__name__)
weights_one_device, diff_one_device = check_round_trip(on_one_device)
one_device_losses = on_one_device.fit(
    continue_dataset, epochs=CONTINUE_EPOCHS, steps_per_epoch=STEPS, verbose=2
).history["loss"]

# %% [markdown]
# ## 3. Restore under a strategy with a different replica count
#
# The file holds one copy of each variable, not one per replica ("Going deeper: inside the `.keras` file" counts them),
# so it loads under another number of replicas than it was saved with. First fewer: a `MirroredStrategy` over 1 device.

# %%
mirrored_1 = tf.distribute.MirroredStrategy(replica_devices[:1])
print(f"replicas in sync: {mirrored_1.num_replicas_in_sync} (saved with {strategy.num_replicas_in_sync})")
with mirrored_1.scope():
    on_1_replica = keras.models.load_model(keras_path)
kernel = on_1_replica.layers[0].kernel.value
print("kernel variable:", type(kernel).__name__, "with", len(kernel.values), "component(s)")
weights_1_replica, diff_1_replica = check_round_trip(on_1_replica)
one_replica_losses = on_1_replica.fit(
    continue_dataset, epochs=CONTINUE_EPOCHS, steps_per_epoch=STEPS, verbose=2
).history["loss"]

# %% [markdown]
# ### More replicas than at save time: 4, in a new process
#
# This notebook's 2-device split cannot change once TensorFlow runs (notebook 01 shows the error), so the script below
# runs in a new Python process: it splits its CPU into 4 before TensorFlow starts, loads the `.keras` file inside a
# 4-replica `MirroredStrategy`, and trains on. The global batch stays 128: 32 images per replica per step instead of 64.
#
# Its training images are the first 40 cached batches of `continue_dataset` and 5 more: 5125, like most data sets not a
# multiple of the global batch. `batch(128)` would end with a batch of 5, split (2, 2, 1, 0): one replica gets no image.
# The script drops that batch with `drop_remainder=True`; `--keep-last-batch` keeps it.

# %%
# %%writefile on_more_replicas.py
"""Load a .keras file into a MirroredStrategy over N logical CPUs and train on (notebook 02)."""

import argparse

import keras
import numpy as np
import tensorflow as tf

from helpers import devices, roundtrip

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("model", help="the .keras file")
parser.add_argument("data", help=".npz with training images and labels, and a probe batch")
parser.add_argument("--replicas", type=int, default=4)
parser.add_argument("--keep-last-batch", action="store_true", help="keep a last batch smaller than the global batch")
parser.add_argument("--out", help=".npz to write the loaded weights and optimizer state, predictions and losses to")
args = parser.parse_args()

devices.use_cpu_replicas(args.replicas)  # a new process: split the CPU before TensorFlow starts
strategy = tf.distribute.MirroredStrategy(devices.replica_devices())
GLOBAL_BATCH = 128  # as when the model was saved; per replica: 128 / N
print("replicas in sync:", strategy.num_replicas_in_sync)

with strategy.scope():  # load inside the scope you will train under
    model = keras.models.load_model(args.model)
kernel = model.layers[0].kernel.value
print("kernel variable:", type(kernel).__name__, "with", len(kernel.values), "components")
loaded_weights = model.get_weights()
loaded_optimizer = [v.numpy() for v in model.optimizer.variables]
steps_before = int(model.optimizer.iterations.numpy())

data = np.load(args.data)
train = tf.data.Dataset.from_tensor_slices((data["images"], data["labels"]))
train = train.batch(GLOBAL_BATCH, drop_remainder=not args.keep_last_batch)
per_replica = [images.values for images, _ in strategy.experimental_distribute_dataset(train)]
print(f"{len(data['images'])} images, {len(per_replica)} batches per epoch")
print("first batch, per replica:", [tuple(x.shape) for x in per_replica[0]])
print("images per replica in the last batch:", tuple(int(x.shape[0]) for x in per_replica[-1]))

logits = model.predict(data["probe"], batch_size=GLOBAL_BATCH, verbose=0)  # the probe batch, split N ways
print("predictions on the probe batch:", logits.shape, "| training 2 epochs ...")
losses = model.fit(train, epochs=2, verbose=0).history["loss"]  # 2 passes over the same batches
print("optimizer steps:", steps_before, "→", int(model.optimizer.iterations.numpy()))
print("loss per epoch:", roundtrip.approx(losses))
if args.out:
    weights = {f"weight_{i}": w for i, w in enumerate(loaded_weights)}
    optimizer = {f"optimizer_{i}": v for i, v in enumerate(loaded_optimizer)}
    np.savez(args.out, logits=logits, losses=losses, **weights, **optimizer)

# %% [markdown]
# The notebook writes those images and the probe batch to a file and runs the script twice at once in a `ProcessGroup`
# (leaving its `with` block stops and reaps both, even if a cell fails): as written, and with `--keep-last-batch`. The
# first run saves what it loaded and computed to `on_4_replicas.npz`; the next cell compares its weights and optimizer
# state with the saved model's (bitwise) and its predictions with this notebook's (up to float32 rounding).

# %%
batches = list(continue_dataset.take(STEPS + 1).as_numpy_iterator())  # the first 41 cached batches
n_images = STEPS * len(x_probe) + 5  # 40 batches of 128, and 5 images more
images, labels = (np.concatenate(parts)[:n_images] for parts in zip(*batches, strict=True))
np.savez("on_more_replicas_data.npz", images=images, labels=labels, probe=x_probe.numpy())

script = ["on_more_replicas.py", keras_path.name, "on_more_replicas_data.npz"]
unbuffered = {"PYTHONUNBUFFERED": "1"}  # every printed line reaches the log, even if the process aborts
with processes.ProcessGroup() as group:
    group.python([*script, "--out", "on_4_replicas.npz"], env=unbuffered, log="dropped.log", err_log="dropped.err")
    group.python([*script, "--keep-last-batch"], env=unbuffered, log="kept.log", err_log="kept.err")
    dropped_code, kept_code = group.wait(timeout=300)
assert None not in (dropped_code, kept_code), "a script did not finish within 300 s"

dropped_log, kept_log = processes.read_log("dropped.log"), processes.read_log("kept.log")
print("-- as written (drop_remainder=True): exit code", dropped_code)
print(dropped_log, end="")
kept_signal = signal.Signals(-kept_code).name if kept_code < 0 else "no signal"
print("-- with --keep-last-batch: exit code", kept_code, f"({kept_signal})")
print(kept_log, end="")
kept_errors = [
    line.split("] ", 1)[-1] for line in processes.read_log("kept.err").splitlines() if "Check failed" in line
]
print("its error output:", *kept_errors[:1])

# %%
on_4 = np.load("on_4_replicas.npz")
weights_4_replicas = roundtrip.assert_identical_weights(saved_weights, [on_4[f"weight_{i}"] for i in range(6)])
optimizer_4_replicas = [on_4[f"optimizer_{i}"] for i in range(len(model.optimizer.variables))]
same_optimizer_4 = all(
    np.array_equal(a, b) for a, b in zip(roundtrip.optimizer_state(model), optimizer_4_replicas, strict=True)
)
logits_2_replicas = model.predict(x_probe, batch_size=len(x_probe), verbose=0)  # 2 × 64 probe images
diff_4_replicas = roundtrip.assert_close(logits_2_replicas, on_4["logits"], what="predictions")
losses_4_replicas = on_4["losses"].tolist()
print(f"weights: {weights_4_replicas} arrays, bitwise identical to the saved ones")
print(f"optimizer state: {len(optimizer_4_replicas)} variables, bitwise identical by position: {same_optimizer_4}")
print(f"predictions, 4 replicas × 32 against 2 × 64: {diff_4_replicas}")
print(
    "loss per epoch on 4 replicas:",
    roundtrip.approx(losses_4_replicas),
    "| falls:",
    losses_4_replicas[1] < losses_4_replicas[0],
)

# %% [markdown]
# The 4-replica run trained on from the saved optimizer state (200 steps → 280), its loss falling.
#
# With the last batch of 5 kept, the process died inside `fit`: TensorFlow's C++ code failed a check and aborted the
# whole process (`SIGABRT`), with no Python exception to catch. That batch, which left a replica with no image, is its
# only difference from the first run. A TensorFlow bug: tf.distribute is designed to give such a replica an
# [empty batch](https://www.tensorflow.org/tutorials/distribute/input#partial_batches), and the oneDNN CPU kernel of the
# max-pooling gradient aborts on it (not shown here:
# [tensorflow/tensorflow#126128](https://github.com/tensorflow/tensorflow/issues/126128), open; TF 2.20–2.23). Drop it
# (`drop_remainder=True`), or `repeat()` before `batch()` so none is partial.
#
# ## 4. Load inside the scope you will train under
#
# A model keeps the strategy whose scope it was created or loaded in as `model.distribute_strategy`. One loaded outside
# any scope uses whichever strategy is current when `fit` runs: with no scope, the default one (section 1); inside
# `with strategy.scope():`, the `MirroredStrategy`, whose variable update starts by asserting that the variable is mirrored
# ([`MirroredExtended._update`](https://github.com/tensorflow/tensorflow/blob/v2.21.0/tensorflow/python/distribute/mirrored_strategy.py)).
# These variables are plain, so `fit` fails before its first step with a bare `AssertionError`, and leaves the model
# object unable to train at all. The fix: load inside the scope.

# %%
outside = keras.models.load_model(keras_path)  # loaded outside any scope
print("loaded outside the scope:", type(outside.layers[0].kernel.value).__name__, end=" | ")
outside_error = outside_retry_error = "no error"
with strategy.scope():
    print("fit would run under", type(outside.distribute_strategy).__name__)
    try:
        outside.fit(continue_dataset, epochs=1, steps_per_epoch=1, verbose=0)
    except AssertionError as err:
        outside_error = type(err).__name__ + (f": {err}" if str(err) else " (no message)")
print("fit inside strategy.scope():", outside_error)
outside_steps = int(outside.optimizer.iterations.numpy())
outside_unchanged = roundtrip.assert_identical_weights(saved_weights, outside)
print(f"no step taken: iterations = {outside_steps}, weights: {outside_unchanged} arrays still the saved ones")
try:  # the failed fit left this model object unusable, even outside the scope: load it again
    outside.fit(continue_dataset, epochs=1, steps_per_epoch=1, verbose=0)
except ValueError as err:
    outside_retry_error = f"{type(err).__name__}: {err}"
print("fit again, outside the scope:", outside_retry_error)

with strategy.scope():  # the fix: load inside the scope
    inside = keras.models.load_model(keras_path)
inside_kernel = inside.layers[0].kernel.value
print(
    "loaded inside the scope:", type(inside_kernel).__name__, "with", len(inside_kernel.values), "components", end=" | "
)
print(
    "fit runs under",
    type(inside.distribute_strategy).__name__,
    "with",
    inside.distribute_strategy.num_replicas_in_sync,
    "replicas",
)
inside.fit(continue_dataset, epochs=1, steps_per_epoch=1, verbose=0)
inside_steps = int(inside.optimizer.iterations.numpy())
print("fit inside strategy.scope(): iterations", TRAINED_STEPS, "→", inside_steps)
verify(
    {
        "loaded outside the scope, fit under it raises a bare AssertionError, takes no step, leaves the model unusable": (
            outside_error == "AssertionError (no message)"
            and outside_steps == TRAINED_STEPS
            and outside_unchanged == 6
            and "Creating variables on a non-first call" in outside_retry_error
        ),
        "loaded inside the scope, it trains on 2 replicas": (
            inside.distribute_strategy is strategy
            and len(inside_kernel.values) == 2
            and inside_steps == TRAINED_STEPS + 1
        ),
    }
)

# %% [markdown]
# ## Did training really continue?
#
# The original model now trains on, in-process, on the same cached batches: if the save kept everything, each restored
# copy follows that curve. Of the 4-replica run, only the first epoch trained on these batches.

# %%
reference_losses = model.fit(continue_dataset, epochs=CONTINUE_EPOCHS, steps_per_epoch=STEPS, verbose=2).history["loss"]

continued = {
    "no strategy": plain_losses,
    "OneDeviceStrategy": one_device_losses,
    "Mirrored, 1 replica": one_replica_losses,
    "Mirrored, 4 replicas": losses_4_replicas[:1],  # its first epoch: the same 40 batches
}
curve_checks = {
    name: roundtrip.assert_close(reference_losses[: len(losses)], losses, rtol=roundtrip.CURVE_RTOL, what="loss curves")
    for name, losses in continued.items()
}
print("original run (2 replicas):     ", roundtrip.approx(original_losses))
print("continued in-process:          ", roundtrip.approx(reference_losses))
for name, losses in continued.items():
    gap = roundtrip.approx(curve_checks[name].max_abs_diff, 6)
    print(f"restored, {name + ':':<21}", roundtrip.approx(losses), "| max gap:", gap)
print(f"every restored curve is within roundtrip.CURVE_RTOL = {roundtrip.CURVE_RTOL:g} of the in-process one")

steps_before = np.arange(1, EPOCHS + 1) * STEPS
steps_after = TRAINED_STEPS + np.arange(1, CONTINUE_EPOCHS + 1) * STEPS
curves = {
    "original run (Mirrored, 2 replicas)": (steps_before, original_losses),
    "original, continued in-process": (steps_after, reference_losses),
}
curves.update({f"restored, {name}": (steps_after[: len(losses)], losses) for name, losses in continued.items()})
starts = [losses[0] for losses in (*continued.values(), reference_losses)]
verify(
    {
        "every continued run starts near the saved run's last loss, not back at the untrained ≈ 2.3": all(
            abs(start - original_losses[-1]) < 0.1 < original_losses[0] - start for start in starts
        )
    }
)
plots.loss_curves(curves, title="Mean loss per 40-step epoch: the restored copies carry on the curve")

# %% [markdown]
# The restored copies' lines lie on the in-process one. Trained on other device setups, their losses may differ in the
# last digits, and 80 steps can grow such differences: hence the looser `roundtrip.CURVE_RTOL` (0.001).
#
# ## Keras 2 (`tf_keras`): the seed tutorial's SavedModel directory
#
# The seed tutorial ran on Keras 2, where `model.save('a_directory')` writes a TensorFlow SavedModel (the format of the
# [SavedModel guide](https://www.tensorflow.org/guide/saved_model); notebook 03 covers it). That Keras lives on as the
# `tf_keras` package; import it explicitly (the same model from `helpers`, built with `keras=tf_keras`):

# %%
keras.utils.set_random_seed(0)
k2_model = models.get_model(strategy, keras=tf_keras)
k2_history = k2_model.fit(train_dataset, epochs=1, steps_per_epoch=STEPS, verbose=0)
k2_loss = k2_history.history["loss"][0]
print(
    f"tf_keras model under {strategy.num_replicas_in_sync} replicas, loss after {STEPS} steps:",
    roundtrip.approx(k2_loss),
)

k2_dir = tmp / "k2_saved_model"
k2_model.save(k2_dir)  # no extension: tf_keras writes a SavedModel directory
print(k2_dir.relative_to(tmp), "contains", sorted(p.name for p in k2_dir.iterdir()))
verify({"the tf_keras model learned (an untrained model's loss is about 2.3)": k2_loss < 2.0})

# %%
k2_restored = tf_keras.models.load_model(k2_dir)
print("restored type:", type(k2_restored).__name__, "from", type(k2_restored).__module__.split(".")[0])
weights_k2 = roundtrip.assert_identical_weights(k2_model, k2_restored)
diff_k2 = roundtrip.assert_same_predictions(k2_model, k2_restored, x_probe)
print(f"weights: {weights_k2} arrays, bitwise identical")
print(f"predictions: {diff_k2}")
k2_iterations = (int(k2_model.optimizer.iterations.numpy()), int(k2_restored.optimizer.iterations.numpy()))
print("optimizer iterations: saved model", k2_iterations[0], "| restored", k2_iterations[1])
k2_restored.train_on_batch(x_probe, y_probe)
k2_after_one_step = int(k2_restored.optimizer.iterations.numpy())
print("restored, after one more training step:", k2_after_one_step)

# %% [markdown]
# The restored optimizer counts from 0, and one more step takes it to 1: in this round trip the tf_keras optimizer
# starts over, where the `.keras` file kept its state.
#
# ### Keras 3 refuses a directory
#
# The same call on the Keras 3 model raises and writes nothing; the message names the fix, the `.keras` suffix.

# %%
dir_error = "no error"
try:
    model.save(tmp / "a_directory")
except ValueError as err:
    dir_error = f"{type(err).__name__}: {str(err).replace(str(tmp) + os.sep, '')}"
print(dir_error)
dir_written = (tmp / "a_directory").exists()
print("anything written?", dir_written)
verify(
    {
        "Keras 3's model.save('a_directory') raises ValueError and writes nothing": dir_error.startswith(
            "ValueError: Invalid filepath extension"
        )
        and not dir_written
    }
)

# %% [markdown] jp-MarkdownHeadingCollapsed=true
# ## Going deeper: inside the `.keras` file
#
# Open the zip (`config.json` and `metadata.json` as described above): `model.weights.h5` is an HDF5 file with one group
# for the layers and one for the optimizer (and `vars`, empty for this model). Count the arrays in each:

# %%
import json

import h5py

with zipfile.ZipFile(keras_path) as archive:
    config = json.loads(archive.read("config.json"))
    metadata = json.loads(archive.read("metadata.json"))
    archive.extract("model.weights.h5", tmp / "unzipped")

print("config.json top-level keys:", list(config))
print("model class:", config["class_name"], "| layers:", [layer["class_name"] for layer in config["config"]["layers"]])
print("compile_config keys:", list(config["compile_config"]))
print("optimizer:", config["compile_config"]["optimizer"]["class_name"])
print("saved with Keras", metadata["keras_version"])


def count_arrays(group):
    return sum(1 if isinstance(item, h5py.Dataset) else count_arrays(item) for item in group.values())


with h5py.File(tmp / "unzipped" / "model.weights.h5", "r") as weights:
    groups = sorted(weights.keys())
    arrays_per_group = {name: count_arrays(weights[name]) for name in groups if isinstance(weights[name], h5py.Group)}
print("top-level groups in model.weights.h5:", groups)
print("arrays per group:", arrays_per_group)
print("optimizer variables in the model:", len(model.optimizer.variables))

# %% [markdown]
# The `layers` group holds the model's 6 weight arrays (3 kernels, 3 biases) once, not once per replica. The
# `optimizer` group holds as many arrays as the live optimizer has variables: the step counter, the learning rate, and
# Adam's two moments for each of the 6 weight arrays: 2 + 2 × 6 = 14.
#
# ## Going deeper: why the continued runs read cached batches
#
# `data.get_data` shuffles with a fixed seed, yet every new iterator over the dataset is shuffled differently. Two
# iterators over `train_dataset` start with other batches:

# %%
first_labels = [next(iter(train_dataset))[1][:10].numpy().tolist() for _ in range(2)]
print("first labels, iterator 1:", first_labels[0])
print("first labels, iterator 2:", first_labels[1])

# %% [markdown]
# `fit` reads its dataset through an iterator too, so `fit` calls on `train_dataset` would train on different batches
# and their loss curves could not be compared step by step. `take(80).cache()` reads 80 batches once; every later
# pass reads the cache in the same order.
#
# ## Exercises

# %% [markdown]
# ### Exercise 1: weights only, into a freshly built model
#
# `model.save_weights(path)` (the path must end in `.weights.h5`) writes the `model.weights.h5` part of the archive
# alone. Save `model`'s weights that way, build a new model with `models.get_model(strategy)` and call `load_weights`.
# Are its weights and its optimizer state `model`'s? If the optimizer's are not, find how to restore them too
# (hint: read the warning). The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 1
weights_path = tmp / "mnist_cnn.weights.h5"
model.save_weights(weights_path)
fresh = models.get_model(strategy)  # compiled, but its Adam has no moments yet: they are created at the first step
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    fresh.load_weights(weights_path)
skipped = [re.search(r"Skipping .*saved optimizer has (\d+) variables", str(w.message)) for w in caught]
skipped = [int(match.group(1)) for match in skipped if match]  # the saved counts it skipped
fresh_steps = int(fresh.optimizer.iterations.numpy())
weights_first = roundtrip.assert_identical_weights(model, fresh)  # the 6 weight arrays did load
print("load_weights warned, saved optimizer variables skipped:", *skipped, "| optimizer steps:", fresh_steps)
with strategy.scope():
    fresh.optimizer.build(fresh.trainable_variables)  # create Adam's 14 variables first, in the scope
fresh.load_weights(weights_path)
weights_only = roundtrip.assert_identical_weights(model, fresh)
optimizer_only = roundtrip.assert_same_optimizer_state(model, fresh)
print(f"with the optimizer built: {weights_only} weights, {optimizer_only} optimizer variables bitwise identical")
verify(
    {
        "load_weights into an unbuilt optimizer restores the weights but skips the optimizer's 14 saved variables": (
            weights_first == 6 and skipped == [14] and fresh_steps == 0
        ),
        "with the optimizer built in the scope first, the weights file restores weights and optimizer state bitwise": (
            weights_only == 6 and optimizer_only == 14 and int(fresh.optimizer.iterations.numpy()) == 280
        ),
    }
)

# %% [markdown]
# ### Exercise 2: load without the compile settings
#
# `keras.models.load_model(keras_path, compile=False)` skips the saved compile settings. Load the file that way inside
# `strategy.scope()` and `fit` one step: what happens? Then compile it yourself (a new `Adam`, the same loss): are the
# weights the saved ones, and at which step does its optimizer stand? The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 2
with strategy.scope():
    uncompiled = keras.models.load_model(keras_path, compile=False)
uncompiled_error = "no error"
try:
    uncompiled.fit(continue_dataset, epochs=1, steps_per_epoch=1, verbose=0)
except ValueError as err:
    uncompiled_error = f"{type(err).__name__}: {err}"
print(uncompiled_error)
with strategy.scope():
    uncompiled.compile(
        optimizer=keras.optimizers.Adam(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
recompiled_steps = int(uncompiled.optimizer.iterations.numpy())
uncompiled_weights = roundtrip.assert_identical_weights(saved_weights, uncompiled)
print(f"weights: {uncompiled_weights} arrays, the saved ones | compiled again: optimizer steps = {recompiled_steps}")
verify(
    {
        "loaded with compile=False, fit asks for compile() (ValueError)": uncompiled_error.startswith("ValueError")
        and "compile()" in uncompiled_error,
        "compile=False keeps the saved weights (bitwise) but not the optimizer: compiled anew, it starts at step 0": (
            uncompiled_weights == 6 and recompiled_steps == 0
        ),
    }
)

# %% [markdown]
# ### Exercise 3: compile inside the scope instead?
#
# Load `keras_path` outside any scope again, as in section 4, then call `compile` with a new `keras.optimizers.Adam()`
# and the same loss **inside** `with strategy.scope():`, and `fit` one step there. Does compiling under the scope make
# the model trainable on 2 replicas? The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 3
recompiled = keras.models.load_model(keras_path)  # outside any scope: plain variables
recompile_error = "no error"
with strategy.scope():
    recompiled.compile(
        optimizer=keras.optimizers.Adam(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    try:
        recompiled.fit(continue_dataset, epochs=1, steps_per_epoch=1, verbose=0)
    except ValueError as err:
        recompile_error = f"{type(err).__name__}: {err}"
print(recompile_error)
recompiled_kernel = type(recompiled.layers[0].kernel.value).__name__
print("kernel variable:", recompiled_kernel, "(compile does not re-create variables)")
verify(
    {
        "compiled inside the scope, a model loaded outside it still has plain variables, and fit refuses them": (
            recompiled_kernel != "MirroredVariable"
            and "must only be passed a variable created in this tf.distribute.Strategy.scope()" in recompile_error
        )
    }
)

# %% [markdown]
# ## What we verified

# %%
os.chdir(notebook_dir)
shutil.rmtree(tmp)
kind_counts = {kind: len(pairs) for kind, pairs in kinds.items()}
verify(
    {
        "a .keras file is a zip of config.json (architecture + compile config), model.weights.h5, metadata.json": (
            members == ["metadata.json", "config.json", "model.weights.h5"]
            and {"class_name", "config", "compile_config"} <= set(config)
        ),
        "it holds each weight once, not once per replica, and the optimizer's 14 variables": (
            arrays_per_group["layers"] == len(saved_weights) == 6
            and arrays_per_group["optimizer"] == len(model.optimizer.variables) == 14
        ),
        "saved under 2 replicas, loaded with no strategy, OneDeviceStrategy, Mirrored(1) and, in a new process, "
        "Mirrored(4): weights bitwise identical, predictions equal up to float32 rounding": (
            strategy.num_replicas_in_sync == 2
            and mirrored_1.num_replicas_in_sync == 1
            and all(
                n == len(model.get_weights()) == 6
                for n in (weights_plain, weights_one_device, weights_1_replica, weights_4_replicas, weights_k2)
            )
            and all(
                d.rtol == roundtrip.RTOL and d.max_abs_diff <= d.tolerance
                for d in (diff_plain, diff_one_device, diff_1_replica, diff_4_replicas, diff_k2)
            )
        ),
        "optimizer state (iteration, learning rate, Adam's 6 + 6 moments) restored bitwise, compared by position, "
        "also in the 4-replica process": (
            kind_counts == {"iteration": 1, "learning_rate": 1, "momentum": 6, "velocity": 6}
            and all(np.array_equal(a, b) for pairs in kinds.values() for a, b in pairs)
            and moments_trained
            and same_optimizer_4
            and len(optimizer_4_replicas) == 14
        ),
        "loaded with no strategy, fit runs under the default strategy (1 replica); loaded in a scope, under that strategy": (
            type(plain_strategy).__name__ == "_DefaultDistributionStrategy"
            and plain_strategy.num_replicas_in_sync == 1
            and on_one_device.distribute_strategy is one_device
            and on_1_replica.distribute_strategy is mirrored_1
        ),
        "the restored copies train on without compile() and follow the in-process continuation of the loss curve "
        "(within roundtrip.CURVE_RTOL)": (
            int(plain.optimizer.iterations.numpy()) == TRAINED_STEPS + CONTINUE_EPOCHS * STEPS
            and all(c.rtol == roundtrip.CURVE_RTOL and c.max_abs_diff <= c.tolerance for c in curve_checks.values())
            and first_labels[0] != first_labels[1]
        ),
        "on 4 replicas, 32 images per replica, training goes on from step 200 to 280 and the loss falls": (
            dropped_code == 0
            and losses_4_replicas[1] < losses_4_replicas[0]
            and "first batch, per replica: [(32, 28, 28, 1), (32, 28, 28, 1), (32, 28, 28, 1), (32, 28, 28, 1)]"
            in dropped_log
            and "optimizer steps: 200 → 280" in dropped_log
        ),
        "4 replicas and a last batch of 5 images (2, 2, 1, 0): fit aborts the process (SIGABRT); "
        "drop_remainder=True avoids it": (
            "last batch: (2, 2, 1, 0)" in kept_log
            and kept_code == -signal.SIGABRT
            and bool(kept_errors)
            and "Check failed" in kept_errors[0]
        ),
        "loaded outside strategy.scope(), fit under the scope raises a bare AssertionError and takes no step (and "
        "leaves the model unusable); loaded inside the scope, it trains on 2 replicas": (
            outside_error == "AssertionError (no message)"
            and outside_steps == TRAINED_STEPS
            and outside_unchanged == 6
            and "Creating variables on a non-first call" in outside_retry_error
            and inside.distribute_strategy is strategy
            and len(inside_kernel.values) == 2
            and inside_steps == TRAINED_STEPS + 1
        ),
        "tf_keras: model.save(dir) writes a SavedModel directory; tf_keras.models.load_model(dir) restores the "
        "weights bitwise, but its optimizer restarts from iteration 0": k2_iterations == (STEPS, 0)
        and k2_after_one_step == 1,
        "Keras 3: model.save('a_directory') raises ValueError and writes nothing": "Invalid filepath extension"
        in dir_error
        and not dir_written,
    }
)


# %% [markdown]
# ---
# ← Previous: [01 · Getting started with `tf.distribute`: `MirroredStrategy`, MNIST and the tutorial's model](01_data_prep.ipynb) | [All notebooks](../README.md) | Next: [03 · The TensorFlow SavedModel: `tf.saved_model`, `model.export`, and fine-tuning a loaded model](03_tf_saved_model.ipynb) →
