# %% [markdown]
# # 04 · Mix and match: which loader reads which saved model?
#
# Six savers × five loaders, every pair tried under `MirroredStrategy`, and the seed tutorial's "Keras save →
# `tf.saved_model.load`" mix, done both ways.
#
# **This notebook answers:** Which loader reads which saved model, and which save and load calls fit my goal?
#
# <table align="left">
#   <td><a target="_blank" href="https://colab.research.google.com/github/tf-distribute-notebooks/save-and-load/blob/main/notebooks/04_mix_and_match.ipynb"><img src="https://www.tensorflow.org/images/colab_logo_32px.png" />Run in Google Colab</a></td>
#   <td><a target="_blank" href="https://github.com/tf-distribute-notebooks/save-and-load/blob/main/notebooks/04_mix_and_match.ipynb"><img src="https://www.tensorflow.org/images/GitHub-Mark-32px.png" />View source on GitHub</a></td>
# </table>
# <br clear="all">
#
# **What you'll learn**
#
# - what six savers write, and which of five loaders reads each with the same predictions
# - what `.keras`, `.h5` and `load_weights` give back of the optimizer
# - how to call a SavedModel loaded inside a strategy scope
# - how to bring Keras 2 (`tf_keras`) files into Keras 3
# - which save and load calls fit which goal ("Which API when")
#
# **Expected run time:** about 30 s on a 2-core CPU, no GPU needed.

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
# As in notebook 01: split the CPU into 2 logical devices before TensorFlow starts, so `MirroredStrategy` has 2 [replicas](../README.md#glossary).

# %%
import tensorflow as tf

from helpers import devices

replica_devices = devices.use_cpu_replicas(2).devices
print("replicas:", len(replica_devices))

# %%
import contextlib
import logging
import re
import shutil
import tempfile
import textwrap
from pathlib import Path

import keras
import numpy as np
import tensorflow_hub as hub
import tf_keras
from packaging.version import Version

from helpers import data, load_attempts, mnist_prep, models, roundtrip
from helpers.claims import verify

tf.get_logger().setLevel("ERROR")  # hide TF's Python INFO logs ("Using MirroredStrategy with devices ...")
print(
    "TensorFlow",
    tf.__version__,
    "| Keras",
    keras.__version__,
    "| tf_keras",
    tf_keras.__version__,
    "| TF Hub",
    hub.__version__,
)
print("MNIST source:", mnist_prep.prepare(log=None))  # reuse, download, or build offline (helpers/mnist_prep.py)
strategy = tf.distribute.MirroredStrategy(replica_devices)
print("replicas in sync:", strategy.num_replicas_in_sync)

# %% [markdown]
# ## Two models and a fixed batch
#
# The tutorial's CNN, created in `strategy.scope()` by `helpers.models.get_model` with Keras 3 and with Keras 2
# (`tf_keras`), each trained 20 steps, so that Adam has moments (running averages of each gradient).
#
# Every load is judged on one **fixed batch** of 16 test images: a loader *works* if its model predicts the original's
# logits **up to float32 rounding** (`roundtrip.assert_close`, max abs diff ≤ 1e-5 × the largest logit: a loaded
# SavedModel runs another graph, which adds in another order).

# %%
train_dataset, eval_dataset = data.get_data(strategy, repeat=True)
x = next(iter(eval_dataset))[0][:16]  # the first 16 test images, scaled to [0, 1]
print("fixed batch:", x.shape, x.dtype.name)

keras.utils.set_random_seed(0)
k3_model = models.get_model(strategy)  # Keras 3
history = k3_model.fit(train_dataset, epochs=1, steps_per_epoch=20, verbose=2)

# %%
tf_keras.utils.set_random_seed(0)
tfk_model = models.get_model(strategy, keras=tf_keras)  # Keras 2 (tf_keras)
# verbose=0: tf_keras' epoch line would show its timings in another layout; we print the loss instead
tfk_loss = tfk_model.fit(train_dataset, epochs=1, steps_per_epoch=20, verbose=0).history["loss"][-1]
print("tf_keras model: loss after 20 steps", roundtrip.approx(tfk_loss, 2))
k3_loss = history.history["loss"][-1]
verify(
    {
        "both models learned: their loss is below a uniform guess's, ln 10 ≈ 2.30": k3_loss < np.log(10)
        and tfk_loss < np.log(10)
    }
)

reference = {"keras": k3_model.predict(x, verbose=0), "tf_keras": tfk_model.predict(x, verbose=0)}
print({name: logits.shape for name, logits in reference.items()})

# %% [markdown]
# ## Six savers, one artifact each
#
# Only `tf_keras`'s SavedModel carries `keras_metadata.pb`, the description `tf_keras` needs to rebuild a Keras model;
# `model.export` and `tf.saved_model.save` of a Keras 3 model write a plain SavedModel (graph + variables). Saving to
# `.h5` logs a warning (through `absl`); we print its gist.


# %%
@contextlib.contextmanager
def absl_warnings_caught():
    """Collect what Keras and tf_keras log through absl, instead of printing it with a timestamp."""
    logger, records = logging.getLogger("absl"), []
    handler, level = logging.Handler(logging.WARNING), logger.level
    handler.emit = records.append  # keep each log record
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = True


tmp = Path(tempfile.mkdtemp(prefix="nb04-"))
artifacts = {
    "keras .save(.keras)": tmp / "model.keras",
    "keras .save(.h5)": tmp / "model.h5",
    "keras .export(dir)": tmp / "exported",
    "tf.saved_model.save": tmp / "tf_saved_model",
    "tf_keras .save(dir)": tmp / "tf_keras_saved_model",
    "keras .save_weights": tmp / "model.weights.h5",
}
k3_model.save(artifacts["keras .save(.keras)"])
with absl_warnings_caught() as records:
    k3_model.save(artifacts["keras .save(.h5)"])  # the legacy HDF5 format
h5_warning = " ".join(record.getMessage() for record in records)
k3_model.export(artifacts["keras .export(dir)"], verbose=False)  # verbose=False: skip the signature summary
tf.saved_model.save(k3_model, str(artifacts["tf.saved_model.save"]))
tfk_model.save(str(artifacts["tf_keras .save(dir)"]))  # a path without extension: tf_keras writes a SavedModel
k3_model.save_weights(artifacts["keras .save_weights"])  # Keras 3 requires the .weights.h5 suffix

for saver, path in artifacts.items():
    kind = "dir " if path.is_dir() else {b"PK": "zip ", b"\x89H": "HDF5"}[path.read_bytes()[:2]]  # the file's magic
    content = sorted(p.name for p in path.iterdir()) if path.is_dir() else ""
    print(f"{saver:22} {kind} {path.name:22} {content}")
print("model.save('model.h5') logs:", re.search(r"This file format is considered legacy\.[^,]*", h5_warning)[0])

# %% [markdown]
# ## Five loaders, each ending in predictions
#
# Every loader **loads inside `strategy.scope()`** (the restored variables are [mirrored](../README.md#glossary) on both replicas), then predicts
# the fixed batch *through the strategy*, as the seed tutorial does:
#
# - `keras.models.load_model(path)` and `tf_keras.models.load_model(path)`: `model.predict(x)`
# - `tf.saved_model.load(path)`: the `serving_default` [signature](../README.md#glossary) via `strategy.run` on a distributed batch
# - `keras.layers.TFSMLayer(path, call_endpoint="serving_default")` in a Keras 3 `Sequential`, and
#   `hub.KerasLayer(path)` (defaults) in a `tf_keras` `Sequential`: `model.predict(x)`
#
# For a weights file, the two Keras loaders first build the model and its optimizer (why: below), then `load_weights`.

# %%
WEIGHTS = artifacts["keras .save_weights"]


def one_output(out):
    """SavedModel signatures and TFSMLayer return {output_name: logits}; unwrap the single output."""
    if isinstance(out, dict):
        (out,) = out.values()
    return out


# Each loader loads `path` (we call it inside strategy.scope()) and returns a function batch -> logits.
def keras_load_model(path):
    if path == WEIGHTS:
        model = models.get_model(keras=keras)
        model.optimizer.build(model.trainable_variables)  # or load_weights skips Adam's state (shown below)
        model.load_weights(path)
    else:
        model = keras.models.load_model(path)
    return lambda batch: model.predict(batch, verbose=0)


def tf_saved_model_load(path):
    loaded = tf.saved_model.load(str(path))
    serve = loaded.signatures["serving_default"]

    def predict(batch):
        dist_batch = next(iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch))))
        per_replica = one_output(strategy.run(serve, args=(dist_batch,)))  # 8 images per replica
        return tf.concat(strategy.experimental_local_results(per_replica), axis=0)

    return predict


def tfsm_layer(path):
    layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
    model = keras.Sequential([keras.Input(shape=(28, 28, 1)), layer])
    return lambda batch: one_output(model.predict(batch, verbose=0))


def tf_keras_load_model(path):
    if path == WEIGHTS:
        model = models.get_model(keras=tf_keras)
        model.optimizer.build(model.trainable_variables)
        model.load_weights(str(path))
    else:
        model = tf_keras.models.load_model(str(path))
    return lambda batch: model.predict(batch, verbose=0)


def hub_keras_layer(path):
    model = tf_keras.Sequential([tf_keras.Input(shape=(28, 28, 1)), hub.KerasLayer(str(path))])
    return lambda batch: model.predict(batch, verbose=0)


loaders = {
    "keras load_model": keras_load_model,
    "tf.saved_model.load": tf_saved_model_load,
    "keras TFSMLayer": tfsm_layer,
    "tf_keras load_model": tf_keras_load_model,
    "hub.KerasLayer": hub_keras_layer,
}

# %% [markdown]
# ### The matrix
#
# Each of the 30 pairs: `ok` if the predictions match up to float32 rounding, else the exception raised while loading or
# predicting (or `≠ predictions`).

# %%
logging.getLogger("absl").setLevel(logging.ERROR)  # tf_keras and the .h5 load log warnings: "Going deeper" shows one
matrix, errors = {}, {}
for saver, path in artifacts.items():
    expected = reference["tf_keras" if saver.startswith("tf_keras") else "keras"]
    for loader_name, load in loaders.items():
        try:
            with strategy.scope():
                predict = load(path)
            logits = predict(x)
        except Exception as err:
            matrix[saver, loader_name], errors[saver, loader_name] = type(err).__name__, err
        else:
            try:
                roundtrip.assert_close(expected, logits, what=f"{saver} → {loader_name}")
                matrix[saver, loader_name] = "ok"
            except AssertionError:
                matrix[saver, loader_name] = "≠ predictions"

print(f"{'saver ↓  loader →':22}", *(f"{name:22}" for name in loaders), sep="")
for saver in artifacts:
    print(f"{saver:22}", *(f"{matrix[saver, name]:22}" for name in loaders), sep="")


# %% [markdown]
# ### Why each failing pair fails
#
# Each error's first line (shortened; `<path>` is the artifact), grouped by loader and message:

# %%
legend = {}
for (saver, loader_name), err in errors.items():
    message = f"{type(err).__name__}: {str(err).strip().splitlines()[0]}".replace(str(artifacts[saver]), "<path>")
    legend.setdefault((loader_name, message), []).append(saver)
for (loader_name, message), savers in legend.items():
    print(f"{loader_name}  ←  {', '.join(savers)}")
    print(textwrap.indent(textwrap.fill(textwrap.shorten(message, 420), 110), "    "))

# %% [markdown]
# - **`keras.models.load_model`** reads Keras 3's `.keras` and `.h5` files (and, through `load_weights`, its weights);
#   it refuses every SavedModel directory with `File format not supported`, pointing at `TFSMLayer` (Keras ≥ 3.15:
#   "V3 `.keras` files, legacy H5 format files"; 3.13: "… files and legacy H5 …").
# - **`tf.saved_model.load` and `keras.layers.TFSMLayer`** read every SavedModel here, whoever wrote it; a file is not
#   a SavedModel directory (`OSError`).
# - **`tf_keras.models.load_model`** rebuilds a Keras model only from its own SavedModel (with `keras_metadata.pb`);
#   from a Keras 3 SavedModel it returns a bare [`_UserObject`](../README.md#glossary). It cannot read Keras 3's `.keras` or
#   `.h5` (`batch_shape`), but loads a Keras 3 `.weights.h5`, skipping the Adam state ("Going deeper").
# - **`hub.KerasLayer`** with its defaults calls the SavedModel's `__call__`, which only the `tf_keras` SavedModel has
#   (`callable: True` below); for Keras 3 SavedModels it asks for a signature name ([notebook 03](03_tf_saved_model.ipynb)
#   passes one).
#
# ## What comes back of the optimizer
#
# `load_weights` restores Adam's state only into an optimizer that has its variables; a compiled Adam creates them at
# its first step, so a fresh model gets the weights, a warning and step count 0.
# `model.optimizer.build(model.trainable_variables)` creates them first:


# %%
def load_weights_warnings(model):
    """model.load_weights(WEIGHTS); return the UserWarnings it emits (the optimizer's numbered name shortened)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(WEIGHTS)
    messages = [str(w.message).strip() for w in caught if issubclass(w.category, UserWarning)]
    return [re.sub(r"optimizer '\w+'", "optimizer '<name>'", message) for message in messages]


with strategy.scope():
    unbuilt = models.get_model(keras=keras)  # compiled; its Adam has no moments yet
    built = models.get_model(keras=keras)
    built.optimizer.build(built.trainable_variables)  # creates the moments (and the step count) now
    unbuilt_warnings, built_warnings = load_weights_warnings(unbuilt), load_weights_warnings(built)
for name, model, caught in [("not built:", unbuilt, unbuilt_warnings), ("built:", built, built_warnings)]:
    weights, steps = roundtrip.assert_identical_weights(k3_model, model), int(model.optimizer.iterations.numpy())
    print(f"{name:11} weights bitwise: {weights} arrays | iterations: {steps} | warnings: {len(caught)}")
    for message in caught:
        print("   ", message)
optimizer_state = roundtrip.assert_same_optimizer_state(k3_model, built)
print("built:      optimizer state bitwise identical:", optimizer_state, "variables")

# %% [markdown]
# From a Keras 3 `.h5` the weights and the step count come back, Adam's moments do not, and `fit` fails, on Keras
# 3.13, 3.15 and 3.16.0.dev ([compatibility notes](../docs/compatibility.md)). Compiled with `loss="mse"`, an `.h5`
# does not load on 3.13 and 3.15, even with `safe_mode=False` (our model, with a loss object, does); 3.16.0.dev loads
# it. For both, load with `compile=False` and compile again: a fresh Adam, which trains.

# %%
with strategy.scope():
    from_keras = keras.models.load_model(artifacts["keras .save(.keras)"])
    from_h5 = keras.models.load_model(artifacts["keras .save(.h5)"])
for name, restored in {".keras": from_keras, ".h5": from_h5}.items():
    print(f"{name:6} weights bitwise: {roundtrip.assert_identical_weights(k3_model, restored)} arrays", end=" | ")
    print(f"iterations: {int(restored.optimizer.iterations.numpy())}", end=" | ")
    print(f"optimizer variables: {len(restored.optimizer.variables)} of {len(k3_model.optimizer.variables)}")
keras_state = roundtrip.assert_same_optimizer_state(k3_model, from_keras)
print(".keras optimizer state bitwise identical:", keras_state, "variables")
h5_fit_error = None
try:
    from_h5.fit(tf.data.Dataset.from_tensors((x, np.zeros(16, "int64"))), verbose=0)  # one step on the fixed batch
except ValueError as err:
    h5_fit_error = re.sub(r"<Variable [^>]*>", "<Variable …>", str(err))
    print(textwrap.fill(f".h5, then fit: {type(err).__name__}: {h5_fit_error}", 110, subsequent_indent="    "))
verify({"fit fails on the model loaded from .h5 (ValueError)": h5_fit_error is not None})

with strategy.scope():
    mse_model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
    mse_model.compile(optimizer="adam", loss="mse")  # the loss as a string
mse_errors = {}
with absl_warnings_caught():  # the legacy warning again
    mse_model.save(tmp / "mse.h5")
    for call, kwargs in {"load_model(path)": {}, "load_model(path, safe_mode=False)": {"safe_mode": False}}.items():
        try:
            keras.models.load_model(tmp / "mse.h5", **kwargs)
        except ValueError as err:
            mse_errors[call] = f"{type(err).__name__}: {err}"
            print(f"loss='mse', {call}: {mse_errors[call]}")
with strategy.scope():
    mse_loaded = keras.models.load_model(tmp / "mse.h5", compile=False)
    mse_loaded.compile(optimizer="adam", loss="mse")  # a fresh Adam
mse_weights = roundtrip.assert_identical_weights(mse_model, mse_loaded)
mse_loaded.fit(tf.data.Dataset.from_tensors((np.ones((8, 4)), np.ones((8, 1)))), verbose=0)  # one batch of 8
mse_steps = int(mse_loaded.optimizer.iterations.numpy())
print(f"compile=False in the scope: weights bitwise {mse_weights} arrays; compiled again, fit trained {mse_steps} step")

# %% [markdown]
# ## Keras 2 files in Keras 3
#
# Keras 2 (TF ≤ 2.15, or `tf_keras`) saves `.h5`, `.keras` or a SavedModel: `tfk_model` writes all three, an
# old-style model (first layer with `input_shape=`) the two files. Three loaders try each:


# %%
def load_results(path):
    """What keras.models.load_model (compiled, compile=False) and tf_keras.models.load_model make of `path`."""
    calls = {
        "keras load_model": lambda: keras.models.load_model(path),
        "compile=False": lambda: keras.models.load_model(path, compile=False),
        "tf_keras load_model": lambda: tf_keras.models.load_model(str(path)),
    }  # load_attempts.outcome: "ok, Adam steps N", "ok" (no optimizer), or the error's type and innermost cause
    return {call: load_attempts.outcome(load, scope=strategy.scope, hide=str(path)) for call, load in calls.items()}


old_style = tf_keras.Sequential([tf_keras.layers.Flatten(input_shape=(28, 28, 1)), tf_keras.layers.Dense(10)])
old_style.compile(optimizer="adam", loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
old_style.fit(tf.data.Dataset.from_tensors((x, np.zeros(16, "int64"))), verbose=0)  # one step
keras2_files = {".h5": tmp / "k2.h5", ".keras": tmp / "k2.keras", "SavedModel dir": artifacts["tf_keras .save(dir)"]}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # tf_keras warns that .h5 is a legacy format
    tfk_model.save(str(keras2_files[".h5"]))
    tfk_model.save(str(keras2_files[".keras"]))
    old_style.save(str(tmp / "old_style.h5"))
    old_style.save(str(tmp / "old_style.keras"))
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Do not pass an `input_shape`")  # Keras 3's advice on old models
    keras2_results = {name: load_results(path) for name, path in keras2_files.items()}
    for suffix in [".h5", ".keras"]:
        keras2_results[f"{suffix}, input_shape="] = load_results(tmp / f"old_style{suffix}")
for name, results in keras2_results.items():
    print(name)
    for call, result in results.items():
        print(textwrap.fill(f"{call}: {result}", 110, initial_indent="    ", subsequent_indent="        "))

# %% [markdown]
# On Keras 3.13 and 3.15 (`tf_keras` 2.20, 2.21), Keras 3 rebuilds a Keras 2 model from `.h5`, and from `.keras` if
# it starts with an `Input`, with `compile=False` only; it refuses the SavedModel (the matrix shows what reads it).
# `tf_keras` reads all its files. To migrate, in `strategy.scope()`: load with `compile=False`, else build the
# architecture in Keras 3 and copy in the weights `tf_keras` reads; `compile`; save `.keras`. Adam's state stays behind:


# %%
def migrate(path):
    """A tf_keras file → a compiled Keras 3 model (call it in the strategy's scope): the weights, a fresh Adam."""
    if path.is_dir():  # Keras 3 cannot rebuild it: the architecture in Keras 3 code, tf_keras reads the weights
        model = models.get_model(keras=keras)
        model.set_weights(tf_keras.models.load_model(str(path), compile=False).get_weights())
    else:
        model = keras.models.load_model(path, compile=False)  # the architecture and the weights
        model.compile(
            optimizer=keras.optimizers.Adam(),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    model.optimizer.build(model.trainable_variables)  # a fresh Adam's variables, so that the .keras file holds them
    return model


tfk_steps, migration = int(tfk_model.optimizer.iterations.numpy()), {}
for name, path in keras2_files.items():
    with strategy.scope():
        migrate(path).save(tmp / "migrated.keras")
        back = keras.models.load_model(tmp / "migrated.keras")  # a Keras 3 .keras from now on
    weights, steps = roundtrip.assert_identical_weights(tfk_model, back), int(back.optimizer.iterations.numpy())
    back.fit(tf.data.Dataset.from_tensors((x, np.zeros(16, "int64"))), verbose=0)  # one step on the fixed batch
    migration[name] = (weights, steps, int(back.optimizer.iterations.numpy()))
    print(f"{name:15} → .keras: weights bitwise {weights} arrays | Adam steps {steps} of {tfk_steps}", end=" | ")
    print(f"after one fit step: {migration[name][2]}")
verify(
    {
        "each migrated .keras holds tfk_model's weights bitwise, a fresh Adam (step 0), and trains": all(
            result == (6, 0, 1) for result in migration.values()
        )
        and tfk_steps == 20,
    }
)

# %% [markdown]
# ## The seed's mix, done both ways
#
# The seed tutorial loads a saved Keras model with `tf.saved_model.load` *inside* a new `MirroredStrategy`
# scope and calls its serving signature. A Keras 3 SavedModel comes from `model.export`.
#
# ### Keras 3: `model.export` → `tf.saved_model.load` in the scope
#
# `signatures["serving_default"]` is a ConcreteFunction, a traced graph with a fixed input signature and named outputs
# ([notebook 03](03_tf_saved_model.ipynb) shows how to call one; [tf.function
# guide](https://www.tensorflow.org/guide/function)).

# %%
another_strategy = tf.distribute.MirroredStrategy(replica_devices)
with another_strategy.scope():
    loaded = tf.saved_model.load(str(artifacts["keras .export(dir)"]))
inference_func = loaded.signatures["serving_default"]
print("callable:", callable(loaded), "| signatures:", list(loaded.signatures))
print("ConcreteFunction:", isinstance(inference_func, tf.types.experimental.ConcreteFunction))
print("outputs:", list(inference_func.structured_outputs))
print("variables:", {type(v).__name__ for v in loaded.variables}, "on", len(loaded.variables[0].values), "devices")
k3_weights = roundtrip.assert_identical_weights(k3_model, loaded.variables)  # same order as the model's weights
print("weights bitwise identical to the model's:", k3_weights, "arrays")

# %% [markdown]
# The seed calls it through `strategy.run` on a distributed dataset: each replica gets 8 of the 16 images; concatenating
# the per-replica results (`experimental_local_results`, in replica order) gives the 16 logits.

# %%
dist_dataset = another_strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x))
for batch in dist_dataset:
    result = another_strategy.run(inference_func, args=(batch,))
print("per replica:", [tuple(t.shape) for t in another_strategy.experimental_local_results(result["output_0"])])
logits = tf.concat(another_strategy.experimental_local_results(result["output_0"]), axis=0)
k3_seed = roundtrip.assert_close(reference["keras"], logits, what="logits")
print("vs the original model:", k3_seed)

# %% [markdown]
# Outside the scope it can also be called directly on the whole batch; *inside*, a direct call fails with an error about
# [cross-replica and in-replica contexts](../README.md#glossary): there, go through `strategy.run`.

# %%
k3_direct = roundtrip.assert_close(reference["keras"], inference_func(x), what="logits")
print("direct call outside the scope:", k3_direct)

in_scope_error = None
try:
    with another_strategy.scope():
        inference_func(x)
except tf.errors.InvalidArgumentError as err:
    in_scope_error = err
print(type(in_scope_error).__name__)
verify(
    {
        "called directly inside the scope, the signature fails (InvalidArgumentError)": isinstance(
            in_scope_error, tf.errors.InvalidArgumentError
        ),
        "its message: a cross-replica graph run in an in-replica context": "cross-replica context in an in-replica context"
        in str(in_scope_error),
    }
)

# %% [markdown]
# ### Keras 2: `tf_keras` `model.save(dir)` → `tf.saved_model.load` in the scope
#
# The same steps on the `tf_keras` SavedModel. It is callable, but the seed uses the signature, whose output is named
# after the last layer.

# %%
with another_strategy.scope():
    tfk_loaded = tf.saved_model.load(str(artifacts["tf_keras .save(dir)"]))
tfk_func = tfk_loaded.signatures["serving_default"]
print("callable:", callable(tfk_loaded), "| outputs:", list(tfk_func.structured_outputs))
tfk_weights = roundtrip.assert_identical_weights(tfk_model, tfk_loaded.variables)
print("weights bitwise identical to the tf_keras model's:", tfk_weights, "arrays")

for batch in dist_dataset:
    tfk_result = another_strategy.run(tfk_func, args=(batch,))
tfk_logits = tf.concat(another_strategy.experimental_local_results(one_output(tfk_result)), axis=0)
tfk_seed = roundtrip.assert_close(reference["tf_keras"], tfk_logits, what="logits")
print("vs the original tf_keras model:", tfk_seed)

# %% [markdown]
# ## Which API when
#
# The seed tutorial's rule: **save** with the Keras API unless you need the lower-level control of
# `tf.saved_model.save`; **load** with `keras.models.load_model` to get a Keras model back (only if you saved one),
# else with `tf.saved_model.load`. The matrix above sharpens it for Keras 3. The rows this notebook shows (all
# eight goals, from multi-worker backups to parameter servers: [Which API when](../docs/which_api.md)):
#
# | goal | save call | load call | scope | see notebook |
# |---|---|---|---|---|
# | **keep training** (same or another strategy, fewer or more replicas) | `model.save("model.keras")` | `keras.models.load_model("model.keras")`: the compiled model with its optimizer state; custom classes registered (with `get_config`) or passed as `custom_objects=` | load inside the `strategy.scope()` you will train under (loaded outside it, `fit` under the scope fails); save inside or outside one; batch with `drop_remainder=True` (a replica left empty aborts max pooling's training on CPUs, TF 2.20–2.23: [tensorflow/tensorflow#126128](https://github.com/tensorflow/tensorflow/issues/126128)) | [02](02_keras_save_load.ipynb) (other strategies, 4 replicas; loaded outside the scope), [06](06_subclassed_models.ipynb) (custom classes), [04](04_mix_and_match.ipynb) (optimizer state bitwise) |
# | **read a legacy `.h5` or a Keras 2 (`tf_keras`) file** | prefer `.keras`: load, then `model.save("model.keras")` | an `.h5` (Keras 3's or 2's), or a Keras 2 `.keras` of a model starting with an `Input`: `keras.models.load_model(path, compile=False)`, then `compile` (loaded compiled, a Keras 3 `.h5` has no Adam moments and cannot `fit`; on Keras 3.13 and 3.15 a `loss="mse"` config does not load); other Keras 2 files: the architecture in Keras 3 code, then `set_weights(tf_keras.models.load_model(path).get_weights())` | inside the `strategy.scope()` you will train under | [04](04_mix_and_match.ipynb) (weights bitwise, Adam's state lost; Keras 2 files on Keras 3.13, 3.15) |
# | **serve without Keras** | `model.export(dir)` | `tf.saved_model.load(dir).signatures["serving_default"]`, a ConcreteFunction | outside a scope, call it directly; loaded inside `strategy.scope()`, call it through `strategy.run` (a direct call there fails) | [03](03_tf_saved_model.ipynb), this notebook (the seed's mix), [08](08_save_load_cost.ipynb) (smallest file) |
# | **fine-tune inside another model** | Keras 3: `model.export(dir)`; Keras 2: `tf.saved_model.save(tf_keras_model, dir)` | Keras 3: `keras.layers.TFSMLayer(dir, call_endpoint="serving_default", trainable=True)`; Keras 2: `hub.KerasLayer(tf.saved_model.load(dir), trainable=True)` in a `tf_keras` model (a Keras 3 SavedModel there: `Expected a string`) | inside `strategy.scope()` (without one, `TFSMLayer` training fails on Keras 3.13 and 3.15, not on 3.16.0.dev); load the SavedModel for `hub.KerasLayer` there too | [03](03_tf_saved_model.ipynb) (when each way works) |
# %% [markdown] jp-MarkdownHeadingCollapsed=true
# ## Going deeper: the warning behind one `ok`
#
# `tf_keras` loading Keras 3's `.weights.h5`, an `ok` in the matrix, logs a warning the matrix cell silenced:

# %%
with absl_warnings_caught() as records, strategy.scope():
    tf_keras_load_model(WEIGHTS)
absl_warnings = [record.getMessage().strip() for record in records]
print(*absl_warnings, sep="\n")

# %% [markdown]
# The layer weights load (the predictions in the matrix match); the optimizer state does not: Keras 3's Adam has
# 14 variables, `tf_keras`'s 13.
#
# ## Exercises
#
# ### Exercise 1: from Keras 2 to Keras 3
#
# Move `tfk_model`'s trained weights, through a file, into a Keras 3 model created under `strategy`, and save that model as `.keras`. Check its weights (bitwise) and its logits on
# the fixed batch against `reference["tf_keras"]`. Does Adam's state come along? The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 1
tfk_model.save_weights(str(tmp / "tf_keras_weights.h5"))  # tf_keras writes the weights as HDF5
with strategy.scope():
    migrated = models.get_model(keras=keras)  # the same architecture, in Keras 3
    migrated.load_weights(tmp / "tf_keras_weights.h5")  # Keras 3 reads that legacy layout
migrated.save(tmp / "migrated.keras")
migrated_weights = roundtrip.assert_identical_weights(tfk_model, migrated)
migrated_close = roundtrip.assert_close(reference["tf_keras"], migrated.predict(x, verbose=0), what="logits")
migrated_steps = int(migrated.optimizer.iterations.numpy())
print(
    f"weights bitwise: {migrated_weights} arrays | logits vs tf_keras: {migrated_close} | Adam steps: {migrated_steps}"
)
verify(
    {
        "tf_keras' HDF5 weights load bitwise into the Keras 3 model under the strategy": migrated_weights == 6,
        "it predicts what the tf_keras model did, up to float32 rounding": migrated_close.max_abs_diff
        <= migrated_close.tolerance,
        "Adam's state does not come along (step count 0)": migrated_steps == 0,
    }
)

# %% [markdown]
# ### Exercise 2: one loader for every artifact
#
# Write `load_any(path)`: called inside `strategy.scope()`, it picks a loader from what is at `path` (the file name, or
# what the directory holds) and returns a function from a batch to logits. Run it on all six `artifacts` and compare
# each result with the original model's logits (`reference`). The solution is in the next cell (hidden: click to show
# it).


# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 2
def load_any(path):
    """Load what a saver wrote at `path` (inside a strategy scope); return a function batch -> logits."""
    if path.is_dir() and (path / "keras_metadata.pb").exists():  # tf_keras' own SavedModel: a Keras model again
        model = tf_keras.models.load_model(str(path))
    elif path.is_dir():  # any other SavedModel: its serving signature
        layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
        return lambda batch: one_output(layer(batch))
    elif path.name.endswith(".weights.h5"):  # weights only: build the architecture and its optimizer first
        model = models.get_model(keras=keras)
        model.optimizer.build(model.trainable_variables)
        model.load_weights(path)
    else:  # .keras or legacy .h5
        model = keras.models.load_model(path)
    return lambda batch: model(batch)


any_closeness = {}
for saver, path in artifacts.items():
    with strategy.scope():
        predict = load_any(path)
    any_closeness[saver] = roundtrip.assert_close(
        reference["tf_keras" if saver.startswith("tf_keras") else "keras"], predict(x)
    )
    print(f"{saver:22} {any_closeness[saver]}")
verify(
    {
        "load_any reads all six artifacts, each predicting the original's logits up to float32 rounding": len(
            any_closeness
        )
        == 6
        and all(c.max_abs_diff <= c.tolerance for c in any_closeness.values()),
    }
)

# %% [markdown]
# ## What we verified

# %%
shutil.rmtree(tmp)  # the temporary artifacts
EXPECTED = {  # (saver, loader) → result, row by row as printed above
    "keras .save(.keras)": ["ok", "OSError", "OSError", "TypeError", "ValueError"],
    "keras .save(.h5)": ["ok", "OSError", "OSError", "TypeError", "ValueError"],
    "keras .export(dir)": ["ValueError", "ok", "ok", "AttributeError", "ValueError"],
    "tf.saved_model.save": ["ValueError", "ok", "ok", "AttributeError", "ValueError"],
    "tf_keras .save(dir)": ["ValueError", "ok", "ok", "ok", "ok"],
    "keras .save_weights": ["ok", "OSError", "OSError", "ok", "ValueError"],
}
refusal = str(errors["keras .export(dir)", "keras load_model"])
supported = (  # the wording of the refusal depends on the Keras version
    "only supports V3 `.keras` files, legacy H5 format files"
    if Version(keras.version()) >= Version("3.15")
    else "only supports V3 `.keras` files and legacy H5 format files"  # Keras 3.13
)
unbuilt_warning = "Skipping variable loading for optimizer '<name>', because it has 2 variables whereas the saved optimizer has 14 variables."
tf_keras_warning = "Skipping variable loading for optimizer 'Adam', because it has 13 variables whereas the saved optimizer has 14 variables."
mse_error = "ValueError: Could not deserialize 'keras.metrics.mse' because it is not a KerasSaveable subclass"
seed_mix = [k3_seed, k3_direct, tfk_seed]
k2 = keras2_results  # Keras 2 files: what each loader made of them
verify(
    {
        "the 30 saver × loader pairs gave the matrix printed above": {
            saver: [matrix[saver, name] for name in loaders] for saver in artifacts
        }
        == EXPECTED,
        "tf.saved_model.load and TFSMLayer read every SavedModel (Keras 3 export, tf.saved_model.save, tf_keras)": all(
            matrix[saver, name] == "ok"
            for saver in ["keras .export(dir)", "tf.saved_model.save", "tf_keras .save(dir)"]
            for name in ["tf.saved_model.load", "keras TFSMLayer"]
        ),
        "Keras 3 load_model refuses SavedModels, pointing at TFSMLayer": supported in refusal
        and "TFSMLayer" in refusal,
        "tf_keras gives a Keras 3 SavedModel back as a bare _UserObject": "_UserObject"
        in str(errors["keras .export(dir)", "tf_keras load_model"]),
        "hub.KerasLayer with its defaults asks a Keras 3 SavedModel for a signature name": "Signature name has to be specified"
        in str(errors["keras .export(dir)", "hub.KerasLayer"]),
        "tf_keras cannot read Keras 3's .h5 (batch_shape)": "batch_shape"
        in str(errors["keras .save(.h5)", "tf_keras load_model"]),
        "model.save('model.h5') logs a legacy-format warning": "This file format is considered legacy" in h5_warning,
        "load_weights into an unbuilt Adam: one warning, step count 0": unbuilt_warnings == [unbuilt_warning]
        and int(unbuilt.optimizer.iterations.numpy()) == 0,
        "after optimizer.build: no warning, Adam's 14 variables bitwise, step count 20": not built_warnings
        and optimizer_state == 14
        and int(built.optimizer.iterations.numpy()) == 20,
        "a .keras file gives Adam's state back bitwise": keras_state == 14,
        "a Keras 3 .h5 gives the weights bitwise and the step count, not Adam's moments": roundtrip.assert_identical_weights(
            k3_model, from_h5
        )
        == 6
        and int(from_h5.optimizer.iterations.numpy()) == 20
        and len(from_h5.optimizer.variables) == 2,
        "fit on that model fails": "This optimizer can only be called for the variables it was originally built with"
        in h5_fit_error,
        "an .h5 compiled with loss='mse' does not load on Keras 3.13/3.15, even with safe_mode=False (nightly 3.16 loads it)": list(
            mse_errors.values()
        )
        == (2 * [mse_error] if Version(keras.version()) < Version("3.16.0.dev0") else []),
        "loaded with compile=False and compiled again, it trains": mse_weights == 2 and mse_steps == 1,
        "tf_keras loads Keras 3's .weights.h5 but skips its Adam state (13 vs 14 variables)": absl_warnings
        == [tf_keras_warning],
        "Keras 3 load_model refuses tf_keras' compiled .h5 (the loss's 'fn') and .keras (the optimizer's arguments)": "unexpected keyword argument 'fn'"
        in k2[".h5"]["keras load_model"]
        and "Argument(s) not recognized" in k2[".keras"]["keras load_model"],
        "with compile=False it reads tf_keras' .h5 (also of an input_shape= model) and a .keras that begins with Input": k2[
            ".h5"
        ]["compile=False"]
        == k2[".h5, input_shape="]["compile=False"]
        == k2[".keras"]["compile=False"]
        == "ok",
        "a tf_keras .keras of an input_shape= model does not load, even with compile=False (batch_input_shape)": "batch_input_shape"
        in k2[".keras, input_shape="]["compile=False"],
        "Keras 3 refuses tf_keras' SavedModel (legacy SavedModel format)": "legacy SavedModel format is not supported"
        in k2["SavedModel dir"]["keras load_model"],
        "tf_keras reads all its files, Adam's step count back from .h5 and .keras only": [
            results["tf_keras load_model"] for results in k2.values()
        ]
        == ["ok, Adam steps 20", "ok, Adam steps 20", "ok, Adam steps 0", "ok, Adam steps 1", "ok, Adam steps 1"],
        "each tf_keras file migrates to a Keras 3 .keras under the strategy: weights bitwise, a fresh Adam, trains": all(
            result == (6, 0, 1) for result in migration.values()
        ),
        "the seed's mix: a loaded signature is a ConcreteFunction": isinstance(
            inference_func, tf.types.experimental.ConcreteFunction
        ),
        "the seed's mix restored every weight bitwise, for Keras 3 and tf_keras": k3_weights == tfk_weights == 6,
        "and predicted the original's logits up to float32 rounding (strategy.run, and a direct call outside the scope)": all(
            c.max_abs_diff <= c.tolerance for c in seed_mix
        ),
        "a loaded signature called directly inside the scope fails": "cross-replica context in an in-replica context"
        in str(in_scope_error),
        "the temporary artifacts are gone": not tmp.exists(),
    }
)


# %% [markdown]
# ---
# ← Previous: [03 · The TensorFlow SavedModel: `tf.saved_model`, `model.export`, and fine-tuning a loaded model](03_tf_saved_model.ipynb) | [All notebooks](../README.md) | Next: [05 · Saving from a remote worker: `experimental_io_device`](05_local_io_device.ipynb) →
