# %% [markdown]
# # 03 · The TensorFlow SavedModel: `tf.saved_model`, `model.export`, and fine-tuning a loaded model
#
# Save a Keras model as a TensorFlow SavedModel, load it without Keras, run it on one device and on 2 replicas, and train it again inside a bigger model under `MirroredStrategy`.
#
# **This notebook answers:** How do I save a model as a TensorFlow SavedModel, call it without Keras, and fine-tune it inside another model under a strategy?
#
# <table align="left">
#   <td><a target="_blank" href="https://colab.research.google.com/github/tf-distribute-notebooks/save-and-load/blob/main/notebooks/03_tf_saved_model.ipynb"><img src="https://www.tensorflow.org/images/colab_logo_32px.png" />Run in Google Colab</a></td>
#   <td><a target="_blank" href="https://github.com/tf-distribute-notebooks/save-and-load/blob/main/notebooks/03_tf_saved_model.ipynb"><img src="https://www.tensorflow.org/images/GitHub-Mark-32px.png" />View source on GitHub</a></td>
# </table>
# <br clear="all">
#
# **What you'll learn**
#
# - `tf.saved_model.save` / `tf.saved_model.load`: what comes back (a `_UserObject`), and its `serving_default` signature, a ConcreteFunction (how to call it; these terms are explained where they first appear, and in the [glossary](../README.md#glossary))
# - distributed inference with `strategy.run` over `experimental_distribute_dataset`, checked against one device
# - Keras 3's `model.export` and `keras.export.ExportArchive` (a custom signature) vs `tf.saved_model.save`
# - fine-tuning a loaded SavedModel under `MirroredStrategy`: Keras 3's `TFSMLayer` and the seed's `hub.KerasLayer` with `tf_keras`, and exactly when each one works
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
# As in notebook 01: split the CPU into 2 logical devices before TensorFlow starts its runtime (on a GPU runtime the
# GPU is hidden, so every runtime runs the same lesson; notebook 01 says why).

# %%
import tensorflow as tf

from helpers import devices

replica_devices = devices.use_cpu_replicas(2).devices
print("replicas:", len(replica_devices))

# %% [markdown]
# Keras 3 (`import keras`; `tf.keras` gives the same classes here, the cell checks it) is the main path. The seed tutorial's Keras 2 way,
# used in the last section, goes through an explicit `import tf_keras`; both live in one process.

# %%
import re
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow_hub as hub
import tf_keras

from helpers import data, mnist_prep, models, roundtrip
from helpers.claims import verify

tf.get_logger().setLevel("ERROR")
versions = f"TensorFlow {tf.__version__} | Keras {keras.__version__} | tf_keras {tf_keras.__version__}"
print(versions, "| tensorflow_hub", hub.__version__)
print("tf.keras is Keras 3:", tf.keras.Model is keras.Model)
print("MNIST source:", mnist_prep.prepare(log=None))

# %%
strategy = tf.distribute.MirroredStrategy(replica_devices)
train_dataset, eval_dataset = data.get_data(strategy, batch_size_per_replica=64, repeat=True)
eval_subset = eval_dataset.take(20)  # the first 2560 test images: enough to compare accuracies, and fast
print("replicas in sync:", strategy.num_replicas_in_sync)

tmp = Path(tempfile.mkdtemp())  # every SavedModel of this notebook goes here; removed at the end


def relative_files(path):
    return sorted(str(p.relative_to(tmp)) for p in Path(path).rglob("*") if p.is_file())


# %% [markdown]
# ## A briefly trained model
#
# The model of notebook 01 (`helpers.models.get_model`), built under the strategy and trained for only 30 steps: good
# enough to predict, and far enough from converged that fine-tuning later has something to improve.

# %%
keras.utils.set_random_seed(0)
model = models.get_model(strategy)
model.fit(train_dataset, epochs=1, steps_per_epoch=30, verbose=2)
_, base_accuracy = model.evaluate(eval_subset, verbose=0)
print("base accuracy:", roundtrip.approx(base_accuracy))
verify({"30 steps are enough to predict: accuracy above 0.7": base_accuracy > 0.7})

# %% [markdown]
# ## `tf.saved_model.save` and `tf.saved_model.load`
#
# `tf.saved_model.save` writes TensorFlow's own format: a graph (`saved_model.pb`) plus the variables
# (`variables/`). `tf.saved_model.load` reads it back with TensorFlow alone, no Keras call. The
# [SavedModel guide](https://www.tensorflow.org/guide/saved_model) describes the format.

# %%
saved_path = tmp / "tf_saved"
tf.saved_model.save(model, str(saved_path))
for name in relative_files(saved_path):
    print(name)

# %%
loaded = tf.saved_model.load(str(saved_path))
print("type:", type(loaded).__name__)
print("signatures:", list(loaded.signatures.keys()))
print("callable (has __call__):", callable(loaded))

# %% [markdown]
# What comes back is not a Keras model. `_UserObject` is the generic object `tf.saved_model.load` builds for a saved
# Python object whose class it does not restore: it carries what was saved (variables, signatures, traced functions)
# and none of the Keras model's methods. A Keras 3 model saved this way has no traced `__call__`, so the object is
# not callable (the last line); it is called through its signature.
#
# ### The `serving_default` signature is a ConcreteFunction
#
# A SavedModel stores the ConcreteFunctions traced from `tf.function`s (the
# [tf.function guide](https://www.tensorflow.org/guide/function) explains tracing): one graph each, with a fixed input
# spec. `loaded.signatures["serving_default"]` is one of them, and it returns a dict of named outputs. Its structure,
# printed as shapes and dtypes:

# %%
infer = loaded.signatures["serving_default"]
print("a ConcreteFunction:", isinstance(infer, tf.types.experimental.ConcreteFunction))


def describe(structure):
    # shapes and dtypes of a (nested) signature structure; dict keys sorted, since their order can vary
    described = tf.nest.map_structure(lambda s: (tuple(s.shape), s.dtype.name), structure)
    return dict(sorted(described.items())) if isinstance(described, dict) else described


args, kwargs = infer.structured_input_signature
print("positional inputs:", describe(args))
print("keyword inputs:   ", describe(kwargs))
print("outputs:          ", describe(infer.structured_outputs))

# %% [markdown]
# The input is declared as a keyword argument, `inputs`. A call that passes the batch **positionally** works too: the
# signature takes positional tensors in the order of its inputs (it has one). Both calls run
# the same graph on the same batch, so their logits are identical. Two tensors for its one input are refused.

# %%
images, labels = next(iter(eval_dataset))
(input_name,) = kwargs
by_keyword = infer(**{input_name: images})["output_0"]
by_position = infer(images)["output_0"]
print("logits:", tuple(by_keyword.shape), "by keyword,", tuple(by_position.shape), "by position")
positional_identical = np.array_equal(by_keyword.numpy(), by_position.numpy())
print("keyword and positional call give identical logits:", positional_identical)
too_many = None
try:
    infer(images, images)  # one input, two tensors
except TypeError as err:
    too_many = err
print(f"{type(too_many).__name__}: {str(too_many).split(' Received')[0]}")

# %% [markdown]
# The signature's logits equal the Keras model's up to float32 rounding: the SavedModel's graph computes the same
# products as the Keras call but may add them in another order, and which last digits that changes depends on your
# CPU. `roundtrip.assert_close` allows a difference of `roundtrip.RTOL` = 0.00001 relative to the size of the logits.

# %%
keras_logits = model(images, training=False)
signature_vs_keras = roundtrip.assert_close(keras_logits, by_keyword, what="logits")
print("signature vs the Keras model:", signature_vs_keras)

# %% [markdown]
# ### Distributed inference with `strategy.run`
#
# Loaded **inside** `strategy.scope()`, the SavedModel's variables become mirrored variables, one copy per replica
# (the first line below).
# `experimental_distribute_dataset` splits each global batch of 128 into 2 × 64; `strategy.run` calls the signature on
# each replica, and `strategy.gather` concatenates the per-replica results in order.

# %%
with strategy.scope():
    loaded_in_scope = tf.saved_model.load(str(saved_path))
infer_in_scope = loaded_in_scope.signatures["serving_default"]
in_scope_variable = infer_in_scope.variables[0]
print("variable type in scope:", type(in_scope_variable).__name__, "with", len(in_scope_variable.values), "copies")


@tf.function
def distributed_logits(dist_images):
    per_replica = strategy.run(lambda x: infer_in_scope(x)["output_0"], args=(dist_images,))
    return strategy.gather(per_replica, axis=0)


test_images = eval_dataset.map(lambda x, y: x).take(10)  # 1280 images
first = next(iter(strategy.experimental_distribute_dataset(test_images)))
print("one global batch on the replicas:", [tuple(v.shape) for v in first.values])
distributed = np.concatenate(
    [distributed_logits(x).numpy() for x in strategy.experimental_distribute_dataset(test_images)]
)
single_device = np.concatenate([infer(x)["output_0"].numpy() for x in test_images])
print("distributed:", distributed.shape, "| single device:", single_device.shape)
distributed_vs_single = roundtrip.assert_close(single_device, distributed, what="logits")
print("distributed vs single device:", distributed_vs_single)

# %% [markdown]
# ## Keras 3's `model.export` and `keras.export.ExportArchive`
#
# `model.export(path)` also writes a SavedModel. Besides the `serving_default` signature it stores an endpoint `serve`,
# an attribute of the loaded object (and a signature of the same name).

# %%
export_path = tmp / "keras_export"
model.export(str(export_path), verbose=False)
exported = tf.saved_model.load(str(export_path))
print("signatures:", list(exported.signatures.keys()))
print("has serve:", hasattr(exported, "serve"), "| callable:", callable(exported))
serve_vs_keras = roundtrip.assert_close(keras_logits, exported.serve(images), what="logits")
print("serve vs the Keras model:", serve_vs_keras)

# %% [markdown]
# `exported.serve` is not a signature: it is a `RestoredFunction`, the class `tf.saved_model.load` gives a saved
# `tf.function` (it *is* a `tf.function`, the first line checks it). It takes the batch positionally (as above) and
# returns the logits, not a dict. Its parameter is not named like the signature's input, so the signature-style keyword
# call fails:

# %%
serve_is_tf_function = isinstance(exported.serve, tf.types.experimental.PolymorphicFunction)
print("exported.serve is a", type(exported.serve).__name__, "| a tf.function:", serve_is_tf_function)
(serve_input_name,) = exported.signatures["serving_default"].structured_input_signature[1]
print("the signature's input:", repr(serve_input_name))
serve_keyword_error = "no error"
try:
    exported.serve(**{serve_input_name: images})
except TypeError as err:
    serve_keyword_error = f"{type(err).__name__}: {str(err).split(' Received')[0]}"  # the rest prints the whole batch
print(serve_keyword_error)
verify(
    {
        "serve is a restored tf.function, and the signature-style keyword call fails (TypeError)": serve_is_tf_function
        and serve_keyword_error.startswith("TypeError")
        and "missing a required argument" in serve_keyword_error
    }
)

# %% [markdown]
# `ExportArchive` lets us choose the endpoints. Here one endpoint, `classify`, returns probabilities and
# predicted classes instead of logits; it becomes the default signature too.

# %%
archive = keras.export.ExportArchive()
archive.track(model)


def classify(x):
    probabilities = tf.nn.softmax(model(x, training=False))
    return {"probabilities": probabilities, "classes": tf.argmax(probabilities, axis=-1)}


archive.add_endpoint("classify", classify, input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])
archive_path = tmp / "archive"
archive.write_out(str(archive_path), verbose=False)
custom = tf.saved_model.load(str(archive_path))
print("signatures:", list(custom.signatures.keys()))
print("outputs:", describe(custom.signatures["serving_default"].structured_outputs))
result = custom.classify(images)
print("classes of the first 10:", result["classes"][:10].numpy().tolist())
print("labels:                 ", labels[:10].numpy().tolist())
sums = result["probabilities"].numpy().sum(axis=1)
print("probabilities sum to 1:", roundtrip.assert_close(np.ones_like(sums), sums, what="probability sums"))

# %% [markdown]
# None of the three loaded objects is callable: whichever of the three writers saved the Keras 3 model, no
# `__call__` was saved, so `loaded(x)` fails and the SavedModel must be called through `signatures[...]` or a named
# endpoint (`serve`, `classify`).

# %%
routes = {"tf.saved_model.save": loaded, "model.export": exported, "ExportArchive": custom}
print("callable:", {route: callable(obj) for route, obj in routes.items()})
loaded_call_error = "no error"
try:
    loaded(images)
except TypeError as err:
    loaded_call_error = f"{type(err).__name__}: {err}"
print(loaded_call_error)
verify(
    {
        "none of the three loaded Keras 3 SavedModels is callable: loaded(x) raises TypeError": not any(
            callable(obj) for obj in routes.values()
        )
        and loaded_call_error.startswith("TypeError")
    }
)


# %% [markdown]
# ## Fine-tuning a loaded SavedModel, Keras 3: `TFSMLayer`
#
# `keras.layers.TFSMLayer` wraps one endpoint of a SavedModel as a Keras layer; with `trainable=True` its variables are
# trained. We put it inside a bigger model, under the strategy: a new `Dense` head on top of the loaded logits, initialised
# to the identity so that the bigger model starts with the accuracy of the SavedModel.


# %%
def tfsm_model(path):
    inputs = keras.Input(shape=(28, 28, 1))
    wrapped = keras.layers.TFSMLayer(path, call_endpoint="serving_default", trainable=True)
    logits = wrapped(inputs)["output_0"]
    outputs = keras.layers.Dense(10, kernel_initializer="identity")(logits)
    bigger = keras.Model(inputs, outputs)
    bigger.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.Adam(1e-3),
        metrics=["accuracy"],
    )
    return bigger, wrapped


keras.utils.set_random_seed(0)
with strategy.scope():
    bigger, wrapped = tfsm_model(str(export_path))
print("wrapped trainable weights:", len(wrapped.trainable_weights), "| first one:", wrapped.trainable_weights[0].name)
before = [w.numpy().copy() for w in wrapped.trainable_weights]
_, tfsm_before = bigger.evaluate(eval_subset, verbose=0)
bigger.fit(train_dataset, epochs=2, steps_per_epoch=30, verbose=2)
_, tfsm_after = bigger.evaluate(eval_subset, verbose=0)
tfsm_changed = sum(not np.array_equal(b, w.numpy()) for b, w in zip(before, wrapped.trainable_weights, strict=True))
print(f"wrapped weights changed: {tfsm_changed} of {len(before)}")
print(f"accuracy: {roundtrip.approx(tfsm_before)} before -> {roundtrip.approx(tfsm_after)} after fine-tuning")
verify(
    {
        # the same images are right, give or take one whose two top logits tie within float32 rounding
        # (accuracy counts images: 1 of 2560 is 0.0004)
        "the identity head changes nothing: the bigger model starts at the SavedModel's accuracy (±1 image)": round(
            abs(tfsm_before - base_accuracy) * 2560
        )
        <= 1,
        "fine-tuning under MirroredStrategy changed every wrapped weight and raised the accuracy above 0.8": (
            tfsm_changed == len(before) > 0 and tfsm_after > tfsm_before + 0.01 and tfsm_after > 0.8
        ),
    }
)

# %% [markdown]
# On Keras 3.13 and 3.15 the same model **without** a strategy fails at its first training step (keras-nightly
# 3.16.0.dev2026102704 trains it: the README's compatibility table; not shown here): Adam names each of its *slot
# variables* (the per-weight state, such as the momentum) after the weight it belongs to, and that name,
# `sequential_conv2d_kernel:0_momentum`, is not a valid *name scope* (the prefix TensorFlow puts on names; `:` is not
# allowed in it).

# %%
keras.utils.set_random_seed(0)
no_strategy_model, no_strategy_wrapped = tfsm_model(str(export_path))
print("first wrapped weight:", no_strategy_wrapped.trainable_weights[0].name)
tfsm_error = "no error"
try:
    no_strategy_model.fit(train_dataset, epochs=1, steps_per_epoch=1, verbose=0)
except ValueError as err:
    tfsm_error = f"{type(err).__name__}: {err}"
print(tfsm_error)
verify(
    {
        "without a strategy, fit fails: ValueError ... is not a valid scope name": "is not a valid scope name"
        in tfsm_error
    }
)

# %% [markdown]
# The `:0` is there under the strategy as well (the first weight's name printed in the training cell above), and there
# training works; these cells show *that* the strategy makes the difference on this Keras, not why. Exercise 1 tries a
# strategy with a single replica.
#
# ## Fine-tuning a loaded SavedModel, the seed's way: `hub.KerasLayer` and `tf_keras`
#
# The seed tutorial fine-tunes with `hub.KerasLayer(tf.saved_model.load(dir), trainable=True)`. Given an object,
# `hub.KerasLayer` calls it, so it needs a callable SavedModel, which no Keras 3 SavedModel is (the `callable:` line
# at the end of the `model.export` section).
# Given a non-callable object, `hub.KerasLayer` treats it as a model *handle* (which must be a string, a path or URL)
# and refuses it. So the seed's call fails for a Keras 3 SavedModel, whether written by `tf.saved_model.save` or by
# `model.export`, loaded outside or inside the strategy scope:

# %%
hub_errors = {}
for route, keras3_savedmodel in [
    ("tf.saved_model.save, loaded outside the scope", loaded),
    ("tf.saved_model.save, loaded inside the scope ", loaded_in_scope),
    ("model.export, loaded outside the scope       ", exported),
]:
    hub_errors[route] = "no error"
    try:
        hub.KerasLayer(keras3_savedmodel, trainable=True)
    except ValueError as err:
        hub_errors[route] = f"{type(err).__name__}: {err}"
    print(f"{route}: {hub_errors[route].split(', got ')[0]}")  # the rest names the object and its address
hub_error = hub_errors["tf.saved_model.save, loaded outside the scope"]
print(hub_error.split(" object at ")[0], "object at 0x…>")  # in full, without the address that changes every run
verify(
    {
        "hub.KerasLayer refuses a loaded Keras 3 SavedModel, from either writer, loaded in or outside the scope": len(
            hub_errors
        )
        == 3
        and all(e.startswith("ValueError: Expected a string, got") for e in hub_errors.values())
    }
)

# %% [markdown]
# <a id="hub-keraslayer-keras-3-savedmodel"></a>
# ### `hub.KerasLayer` and a Keras 3 SavedModel: inference only
#
# Give `hub.KerasLayer` the SavedModel's **path** and name a signature (`signature="serving_default"`, and
# `output_key="output_0"` to pick the logits out of the dict): it then calls the signature, and the `tf_keras` model
# around it predicts what the Keras model predicts, up to float32 rounding. With `trainable=True` added, building the
# model (its first call of the layer) raises a `ValueError`: `hub.KerasLayer` does not train through a signature. So a
# Keras 3 SavedModel can run in `hub.KerasLayer`, but to fine-tune one, use `TFSMLayer` (above).


# %%
def hub_signature_model(trainable):
    with strategy.scope():
        layer = hub.KerasLayer(str(saved_path), signature="serving_default", output_key="output_0", trainable=trainable)
        return tf_keras.Sequential([tf_keras.Input(shape=(28, 28, 1)), layer])


hub_inference = hub_signature_model(trainable=False)
hub_vs_keras = roundtrip.assert_close(keras_logits, hub_inference.predict(images, verbose=0), what="logits")
print("hub.KerasLayer(path, signature=...) vs the Keras model:", hub_vs_keras)
hub_trainable_error = None
try:
    hub_signature_model(trainable=True)
except ValueError as err:
    hub_trainable_error = re.search(r"Setting hub\.KerasLayer\.trainable = True is unsupported[^.]*\.", str(err))
    print(f"with trainable=True: {type(err).__name__}: {hub_trainable_error.group()}")
verify(
    {
        "hub.KerasLayer(path, signature=...) predicts like the Keras model, up to float32 rounding": hub_vs_keras.rtol
        == roundtrip.RTOL
        and hub_vs_keras.max_abs_diff <= hub_vs_keras.tolerance,
        "with trainable=True it raises ValueError: ... trainable = True is unsupported ...": hub_trainable_error
        is not None,
    }
)

# %% [markdown]
# ### Fine-tuning a `tf_keras` SavedModel with `hub.KerasLayer`
#
# A `tf_keras` (Keras 2) model saved with `tf.saved_model.save` *is* callable: Keras 2 saves its `__call__` as a traced
# function, restored like `serve` above. We build the same CNN with `tf_keras` (`models.get_model(strategy,
# keras=tf_keras)`), train it for 30 steps and save it.

# %%
tf_keras.utils.set_random_seed(0)
k2_model = models.get_model(strategy, keras=tf_keras)
k2_history = k2_model.fit(train_dataset, epochs=1, steps_per_epoch=30, verbose=0)
print("loss per epoch:", roundtrip.approx(k2_history.history["loss"]))
_, k2_base_accuracy = k2_model.evaluate(eval_subset, verbose=0)
k2_path = tmp / "tf_keras_saved"
tf.saved_model.save(k2_model, str(k2_path))
print("base accuracy:", roundtrip.approx(k2_base_accuracy))
k2_reloaded = tf.saved_model.load(str(k2_path))
print("callable after loading:", callable(k2_reloaded), "| its __call__ is a", type(k2_reloaded.__call__).__name__)
verify(
    {
        "the tf_keras model learned (loss under 2.0, an untrained one's is about 2.3) and predicts: accuracy above 0.7": (
            k2_history.history["loss"][0] < 2.0 and k2_base_accuracy > 0.7
        ),
        "saved with tf.saved_model.save, the tf_keras model comes back callable": callable(k2_reloaded),
    }
)


# %% [markdown]
# Load the SavedModel **inside** the strategy scope (so its variables are mirrored), wrap it in `hub.KerasLayer`,
# and fine-tune it inside a `tf_keras` model whose head is a `tf_keras` `Dense` layer, again initialised to the
# identity. We train with `verbose=0` and print the loss of each epoch.


# %%
def hub_model_on(loaded_savedmodel):
    with strategy.scope():
        layer = hub.KerasLayer(loaded_savedmodel, trainable=True)
        head = tf_keras.layers.Dense(10, kernel_initializer="identity")
        bigger = tf_keras.Sequential([tf_keras.Input(shape=(28, 28, 1)), layer, head])
        bigger.compile(
            loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            optimizer=tf_keras.optimizers.Adam(1e-3),
            metrics=["accuracy"],
        )
    return bigger, layer


tf_keras.utils.set_random_seed(0)
with strategy.scope():
    k2_loaded = tf.saved_model.load(str(k2_path))
hub_model, hub_layer = hub_model_on(k2_loaded)
print("wrapped trainable weights:", len(hub_layer.trainable_weights))
print("variable type:", type(hub_layer.trainable_weights[0]).__name__)
hub_before = [w.numpy().copy() for w in hub_layer.trainable_weights]
_, hub_acc_before = hub_model.evaluate(eval_subset, verbose=0)
hub_history = hub_model.fit(train_dataset, epochs=2, steps_per_epoch=30, verbose=0)
hub_losses = hub_history.history["loss"]
print("loss per epoch:", roundtrip.approx(hub_losses))
_, hub_acc_after = hub_model.evaluate(eval_subset, verbose=0)
hub_changed = sum(
    not np.array_equal(b, w.numpy()) for b, w in zip(hub_before, hub_layer.trainable_weights, strict=True)
)
print(f"wrapped weights changed: {hub_changed} of {len(hub_before)}")
print(f"accuracy: {roundtrip.approx(hub_acc_before)} before -> {roundtrip.approx(hub_acc_after)} after fine-tuning")
verify(
    {
        "the identity head changes nothing: the tf_keras model starts at the SavedModel's accuracy (±1 image)": round(
            abs(hub_acc_before - k2_base_accuracy) * 2560
        )
        <= 1,
        "hub.KerasLayer fine-tunes the tf_keras SavedModel loaded in the scope: the loss falls, every wrapped weight "
        "changes, accuracy rises above 0.8": hub_losses[1] < hub_losses[0]
        and hub_changed == len(hub_before) > 0
        and hub_acc_after > hub_acc_before + 0.01
        and hub_acc_after > 0.8,
    }
)

# %% [markdown]
# Loaded **outside** the scope, the same SavedModel's variables are single-device variables, not `MirroredVariable`s:
# `UninitializedVariable` is the plain `tf.Variable` class `tf.saved_model.load` creates them as (it then assigns the
# saved values). Building the model in the scope fails:

# %%
loaded_outside = tf.saved_model.load(str(k2_path))
outside_variable = loaded_outside.trainable_variables[0]
outside_is_variable = isinstance(outside_variable, tf.Variable)
print("variable type outside the scope:", type(outside_variable).__name__, "| a tf.Variable:", outside_is_variable)
saved_by_shape = {tuple(w.shape): w.numpy() for w in k2_model.trainable_weights}  # the 6 shapes differ
outside_values_restored = all(
    np.array_equal(v.numpy(), saved_by_shape[tuple(v.shape)]) for v in loaded_outside.trainable_variables
)
print("it holds the saved values:", outside_values_restored)
outside_error = "no error"
try:
    hub_model_on(loaded_outside)
except ValueError as err:
    outside_error = f"{type(err).__name__}: {err}"  # it embeds the variable's values: print the gist
    gist = re.search(r"was not created in the distribution strategy scope", outside_error)
    print(f"{type(err).__name__}: Variable (...) {gist.group()} ...")
verify(
    {
        "loaded outside the scope, its variables are plain tf.Variables holding the saved values": outside_is_variable
        and outside_values_restored,
        "building the model in the scope then fails: ValueError ... was not created in the distribution strategy "
        "scope": outside_error.startswith("ValueError")
        and "was not created in the distribution strategy scope" in outside_error,
    }
)

# %% [markdown]
# <a id="fine-tuning-when-each-works"></a>
# ### Fine-tuning a loaded SavedModel: when each way works
#
# | SavedModel written by | wrapped with | result under `MirroredStrategy` |
# |---|---|---|
# | Keras 3: `model.export(dir)` | `keras.layers.TFSMLayer(dir, call_endpoint="serving_default", trainable=True)`, model built inside `strategy.scope()` | trains (with no strategy, on Keras 3.13–3.15: `ValueError: ... is not a valid scope name`) |
# | Keras 3: `model.export` or `tf.saved_model.save` | `hub.KerasLayer(tf.saved_model.load(dir), trainable=True)`, loaded inside or outside the scope | `ValueError: Expected a string, got <..._UserObject ...>`: the loaded object is not callable |
# | Keras 3: `tf.saved_model.save` | `hub.KerasLayer(dir, signature="serving_default", output_key="output_0")` | inference only; with `trainable=True`: `ValueError: Setting hub.KerasLayer.trainable = True is unsupported when calling a SavedModel signature.` |
# | `tf_keras`: `tf.saved_model.save(tf_keras_model, dir)` | `hub.KerasLayer(tf.saved_model.load(dir), trainable=True)` in a `tf_keras` model, loaded **inside** `strategy.scope()` | trains |
# | `tf_keras`: `tf.saved_model.save(tf_keras_model, dir)` | the same, loaded **outside** the scope | `ValueError: Variable ... was not created in the distribution strategy scope` |
#
# So the seed's `hub.KerasLayer(tf.saved_model.load(dir), trainable=True)` fine-tunes only a `tf_keras` SavedModel, loaded
# inside the scope you train under; a Keras 3 SavedModel is fine-tuned with `TFSMLayer`.

# %% [markdown]
# ## Exercises

# %% [markdown]
# ### Exercise 1: `TFSMLayer` under a single replica
#
# Build `tfsm_model(str(export_path))` inside the scope of `tf.distribute.MirroredStrategy(replica_devices[:1])` and
# train it for 3 steps. Does it fail like the model without a strategy? The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 1
one_replica = tf.distribute.MirroredStrategy(replica_devices[:1])
with one_replica.scope():
    one_replica_model, one_replica_wrapped = tfsm_model(str(export_path))
start = one_replica_wrapped.trainable_weights[0].numpy().copy()
one_replica_model.fit(train_dataset, epochs=1, steps_per_epoch=3, verbose=0)
one_replica_trained = not np.array_equal(start, one_replica_wrapped.trainable_weights[0].numpy())
print("first weight:", one_replica_wrapped.trainable_weights[0].name, "| trained:", one_replica_trained)
verify(
    {
        "under a 1-replica MirroredStrategy, the TFSMLayer model trains (unlike with no strategy)": (
            one_replica.num_replicas_in_sync == 1 and one_replica_trained
        )
    }
)

# %% [markdown]
# ### Exercise 2: a SavedModel you can call
#
# None of the three writers saved a `__call__`. Write your own: a `tf.Module` that holds `model` and has a `__call__`
# decorated with `@tf.function(input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])` returning the logits.
# Save the module with `tf.saved_model.save`, load it back, and call the loaded object directly on `images`. Is it
# callable now, and do its logits equal the Keras model's up to float32 rounding? The solution is in the next cell
# (hidden: click to show it).


# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 2
class Classifier(tf.Module):
    def __init__(self, keras_model):
        super().__init__()
        self.model = keras_model  # tracked: its variables are saved with the module

    @tf.function(input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)])
    def __call__(self, x):
        return self.model(x, training=False)


tf.saved_model.save(Classifier(model), str(tmp / "module"))
restored = tf.saved_model.load(str(tmp / "module"))
print("type:", type(restored).__name__, "| callable:", callable(restored))
module_vs_keras = roundtrip.assert_close(keras_logits, restored(images), what="logits")
print("restored(images) vs the Keras model:", module_vs_keras)
verify(
    {
        "a tf.Module with a traced __call__ comes back callable": callable(restored),
        "calling it gives the Keras model's logits up to float32 rounding": module_vs_keras.rtol == roundtrip.RTOL
        and module_vs_keras.max_abs_diff <= module_vs_keras.tolerance,
    }
)

# %% [markdown]
# ## What we verified

# %%
shutil.rmtree(tmp)

close = all(
    check.rtol == roundtrip.RTOL and check.max_abs_diff <= check.tolerance
    for check in (signature_vs_keras, distributed_vs_single, serve_vs_keras, hub_vs_keras)
)
verify(
    {
        "tf.keras is Keras 3, and the strategy has 2 replicas": tf.keras.Model is keras.Model
        and strategy.num_replicas_in_sync == 2,
        "tf.saved_model.save → load: only `serving_default` (output `output_0`), not callable; its logits equal the "
        "Keras model's up to float32 rounding": list(loaded.signatures) == ["serving_default"]
        and not callable(loaded)
        and list(infer.structured_outputs) == ["output_0"]
        and signature_vs_keras.rtol == roundtrip.RTOL
        and signature_vs_keras.max_abs_diff <= signature_vs_keras.tolerance,
        "the signature is a ConcreteFunction: called with the batch by keyword or positionally, identical logits": (
            isinstance(infer, tf.types.experimental.ConcreteFunction)
            and args == ()
            and len(kwargs) == 1
            and positional_identical
        ),
        "a signature with one input refuses two tensors (TypeError: too many positional arguments)": (
            isinstance(too_many, TypeError) and "too many positional arguments" in str(too_many)
        ),
        "strategy.run over experimental_distribute_dataset on 2 replicas (mirrored variables) = single-device "
        "inference, up to float32 rounding": len(in_scope_variable.values) == 2
        and distributed.shape == single_device.shape == (1280, 10)
        and close,
        "model.export adds a `serve` endpoint, a restored tf.function (not a signature): call it positionally": (
            hasattr(exported, "serve")
            and serve_is_tf_function
            and serve_keyword_error.startswith("TypeError")
            and "missing a required argument" in serve_keyword_error
        ),
        "ExportArchive stores a custom `classify` endpoint/signature": hasattr(custom, "classify")
        and set(custom.signatures["serving_default"].structured_outputs) == {"probabilities", "classes"},
        "none of the three loaded Keras 3 SavedModels is callable": not any(callable(obj) for obj in routes.values())
        and loaded_call_error.startswith("TypeError"),
        "TFSMLayer fine-tunes under MirroredStrategy, fails without a strategy (`:0` in the weight names either way)": (
            base_accuracy > 0.7
            and round(abs(tfsm_before - base_accuracy) * 2560) <= 1
            and tfsm_changed == len(before) > 0
            and tfsm_after > tfsm_before + 0.01
            and tfsm_after > 0.8
            and wrapped.trainable_weights[0].name.endswith(":0")
            and no_strategy_wrapped.trainable_weights[0].name.endswith(":0")
            and "is not a valid scope name" in tfsm_error
        ),
        "hub.KerasLayer refuses a loaded Keras 3 SavedModel (either writer, loaded in or outside the scope); with its "
        "path and signature= it runs inference, but not with trainable=True": hub_error.startswith(
            "ValueError: Expected a string, got"
        )
        and len(hub_errors) == 3
        and all(e.startswith("ValueError: Expected a string, got") for e in hub_errors.values())
        and hub_trainable_error is not None,
        "hub.KerasLayer fine-tunes a callable tf_keras SavedModel loaded in the scope": callable(k2_reloaded)
        and k2_base_accuracy > 0.7
        and round(abs(hub_acc_before - k2_base_accuracy) * 2560) <= 1
        and hub_changed == len(hub_before) > 0
        and hub_acc_after > hub_acc_before + 0.01
        and hub_acc_after > 0.8
        and hub_losses[1] < hub_losses[0],
        "... but only when the SavedModel is loaded inside the strategy scope": outside_is_variable
        and outside_values_restored
        and "was not created in the distribution strategy scope" in outside_error,
    }
)


# %% [markdown]
# ---
# ← Previous: [02 · Save and load a Keras model trained under `MirroredStrategy`](02_keras_save_load.ipynb) | [All notebooks](../README.md) | Next: [04 · Mix and match: which loader reads which saved model?](04_mix_and_match.ipynb) →
