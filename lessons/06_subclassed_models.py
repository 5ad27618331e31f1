# %% [markdown]
# # 06 · Subclassed models: saving before the first call, and models as code
#
# The tutorial's last caveat, re-checked on Keras 3: what a `keras.Model` subclass can and cannot save before it has been called, how to make it loadable in another program, and why loading a model can mean running code.
#
# **This notebook answers:** What can a subclassed Keras model save before its first call, and how do I make it loadable in another program?
#
# <table align="left">
#   <td><a target="_blank" href="https://colab.research.google.com/github/tf-distribute-notebooks/save-and-load/blob/main/notebooks/06_subclassed_models.ipynb"><img src="https://www.tensorflow.org/images/colab_logo_32px.png" />Run in Google Colab</a></td>
#   <td><a target="_blank" href="https://github.com/tf-distribute-notebooks/save-and-load/blob/main/notebooks/06_subclassed_models.ipynb"><img src="https://www.tensorflow.org/images/GitHub-Mark-32px.png" />View source on GitHub</a></td>
# </table>
# <br clear="all">
#
# **What you'll learn**
#
# - what `.keras`, `model.export` and `tf.saved_model.save` do with a subclassed model that was never called
# - the three fixes that make it loadable: registration, `get_config`/`from_config`, building before saving
# - `custom_objects=` and `keras.saving.custom_object_scope` for classes that were never registered
# - the same model trained under `MirroredStrategy` and loaded into another strategy's scope
# - the tutorial's Keras 2 check `save_spec()` (through `tf_keras`), and what replaces it in Keras 3
# - why `load_model` refuses a Python `lambda` or a `TFSMLayer` (`safe_mode`), and when `safe_mode=False` is acceptable
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
# As in notebook 01: split the CPU into 2 logical devices before TensorFlow starts, so `MirroredStrategy` has 2 [replicas](../README.md#glossary).
# This notebook uses the tutorial's tiny toy dataset, not MNIST.

# %%
import tensorflow as tf

from helpers import devices

replica_devices = devices.use_cpu_replicas(2).devices
print("replicas:", len(replica_devices))

# %%
import json
import sys
import tempfile
import textwrap
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np
import tf_keras  # the Keras 2 package, imported explicitly: the tutorial's own behaviour (section 4)

from helpers import processes, roundtrip
from helpers.claims import verify

tf.get_logger().setLevel("ERROR")  # hide TF's Python INFO logs ("Using MirroredStrategy with devices ...")
print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| tf_keras", tf_keras.__version__)
print("tf.keras is Keras 3:", tf.keras.Model is keras.Model)
tmp = Path(tempfile.mkdtemp(prefix="nb06-"))  # every file of this notebook goes here; removed at the end
x = tf.reshape(tf.range(10, dtype=tf.float32), (2, 5))  # two examples to compare predictions on


# %% [markdown]
# ## 1 · The tutorial's model, saved before it was ever called
#
# This is the tutorial's `SubclassedModel`, written against Keras 3 (`keras`, which `tf.keras` is here). A subclassed
# model has no input shape until it is first called, so right after construction it has no weights at all.


# %%
class SubclassedModel(keras.Model):
    """Example model defined by subclassing `keras.Model`."""

    output_name = "output_layer"

    def __init__(self):
        super().__init__()
        self._dense_layer = keras.layers.Dense(5, dtype=tf.dtypes.float32, name=self.output_name)

    def call(self, inputs):
        return self._dense_layer(inputs)


keras.utils.set_random_seed(0)
my_model = SubclassedModel()
print("built:", my_model.built, "| weights:", len(my_model.weights))

# %% [markdown]
# **`.keras` format.** The tutorial expected an error here. Keras 3 saves the file, with a warning: what goes in is the
# class name, the constructor config and a weights file, though the model has no weights yet (0, the cell above).
#
# **The two SavedModel writers.** `model.export` (Keras 3's SavedModel for serving) *traces* the model's call, i.e. runs
# it once symbolically to record a graph for its [signatures](../README.md#glossary), so it refuses a model that was
# never built. `tf.saved_model.save` succeeds, but with no traced call to save: the SavedModel has **no signatures**,
# and the loaded object is not callable, so nothing can be served or called from it.

# %%
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", UserWarning)
    my_model.save(tmp / "uncalled.keras")
for w in caught:
    print(f"{w.category.__name__}: {w.message}")
with zipfile.ZipFile(tmp / "uncalled.keras") as zf:
    print("files in the archive:", sorted(zf.namelist()))
    saved_config = json.loads(zf.read("config.json"))
config_names = {key: saved_config[key] for key in ("module", "class_name", "registered_name")}
print("config.json identifies the class only by name:", config_names)

export_error = None
try:
    my_model.export(tmp / "uncalled_export", verbose=False)
except ValueError as err:
    export_error = f"{type(err).__name__}: {err}"
print("model.export:", export_error)
tf.saved_model.save(my_model, str(tmp / "uncalled_savedmodel"))
uncalled_sm = tf.saved_model.load(str(tmp / "uncalled_savedmodel"))
uncalled_signatures = list(uncalled_sm.signatures.keys())
print("tf.saved_model.save: signature keys:", uncalled_signatures, "| callable:", callable(uncalled_sm))
verify(
    {
        "an uncalled model saves to .keras, with a 'not yet been built' warning": any(
            "has not yet been built" in str(w.message) for w in caught
        ),
        "model.export refuses it (ValueError)": export_error is not None and "not yet been built" in export_error,
        "tf.saved_model.save writes it with no signatures": uncalled_signatures == [] and not callable(uncalled_sm),
    }
)


# %% [markdown]
# **Loading the `.keras` file in a fresh process.** A `.keras` file stores the *name* of the class, not its code, so a
# new Python process that has not defined the class cannot rebuild the model. `processes.run_python` runs this loader
# program in a new process (in `tmp`, the file name as `sys.argv[1]`) and returns its exit code and output.
#
# The same happens in *this* process, where the class is defined (the last line): Keras does not search your program
# for classes. It finds a custom class only in its registry (a table of names to classes, Fix 1) or in the objects you
# pass to the load (end of section 2), and `SubclassedModel` is in neither.

# %%
PLAIN_LOADER = """
import sys

import keras

try:
    keras.models.load_model(sys.argv[1])
except TypeError as err:
    print(f"{type(err).__name__}: {err}".split(" Full object config")[0])  # the message ends in a long config dump
    sys.exit(1)
print("loaded")
"""
plain_run = processes.run_python(PLAIN_LOADER, "uncalled.keras", cwd=tmp)
print("fresh process, exit code:", plain_run.returncode)
print(plain_run.stdout.rstrip())
in_process_error = None
try:
    keras.models.load_model(tmp / "uncalled.keras")
except TypeError as err:
    in_process_error = f"{type(err).__name__}: {err}"
print("this process:", str(in_process_error).split(". Make sure")[0] + ".")
verify(
    {
        "a fresh process cannot load it: Could not locate class 'SubclassedModel'": plain_run.returncode == 1
        and plain_run.stdout.startswith("TypeError: Could not locate class 'SubclassedModel'"),
        "neither can this one, where the class is defined": "Could not locate class" in str(in_process_error),
    }
)


# %% [markdown]
# ## 2 · The fixes
#
# ### Fix 1: register the class
#
# `@keras.saving.register_keras_serializable(package=...)` records the class under `package>ClassName`. That alone is not
# enough for the tutorial's class: Keras rebuilds a model by calling `cls(**config)`, and the config always holds the base
# arguments, such as `trainable` and `dtype` (printed below), that `__init__(self)` does not accept.


# %%
@keras.saving.register_keras_serializable(package="distsave")
class RegisteredModel(keras.Model):
    output_name = "output_layer"

    def __init__(self):  # the tutorial's signature: no arguments
        super().__init__()
        self._dense_layer = keras.layers.Dense(5, dtype=tf.dtypes.float32, name=self.output_name)

    def call(self, inputs):
        return self._dense_layer(inputs)


print("registered as:", keras.saving.get_registered_name(RegisteredModel))
print("its config:", sorted(RegisteredModel().get_config()))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # "not yet been built", as above
    RegisteredModel().save(tmp / "registered.keras")
registered_error = None
try:
    keras.models.load_model(tmp / "registered.keras")
except TypeError as err:
    registered_error = f"{type(err).__name__}: {err}"
    print(type(err).__name__ + ":", registered_error.splitlines()[-1])  # the last line of a long message
verify(
    {
        "registered, it still fails to load: the config does not fit __init__(self)": "Unable to revive model from config"
        in str(registered_error)
    }
)


# %% [markdown]
# ### Fix 2: `get_config` / `from_config`
#
# Accept `**kwargs` and pass them to `super().__init__`, put every constructor argument of your own into `get_config`,
# and (if the config holds anything that is not plain data) rebuild it in `from_config`. Here `from_config` only writes
# out the default, `cls(**config)`. The model is still saved **before** it is called.


# %%
@keras.saving.register_keras_serializable(package="distsave")
class SubclassedModel(keras.Model):
    """The tutorial's model, made serializable."""

    output_name = "output_layer"

    def __init__(self, units=5, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self._dense_layer = keras.layers.Dense(units, dtype=tf.dtypes.float32, name=self.output_name)

    def call(self, inputs):
        return self._dense_layer(inputs)

    def get_config(self):
        return {**super().get_config(), "units": self.units}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


keras.utils.set_random_seed(0)
uncalled = SubclassedModel()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # "not yet been built": we know, that is the point
    uncalled.save(tmp / "serializable_uncalled.keras")
restored_uncalled = keras.models.load_model(tmp / "serializable_uncalled.keras")
print("loaded:", type(restored_uncalled).__name__, "| config:", {"units": restored_uncalled.units})
restored_uncalled_built = restored_uncalled.built
print("built:", restored_uncalled_built, "| weights:", len(restored_uncalled.weights))
uncalled_diff = roundtrip.max_abs_diff(uncalled(x), restored_uncalled(x))
predictions_differ = uncalled_diff > 1.0  # whole units apart: other weights, not float32 rounding
verify(
    {
        "an uncalled model round-trips without weights": not restored_uncalled_built,
        "after their first call the two copies predict differently (by more than 1)": predictions_differ,
    }
)

# %% [markdown]
# It loads, but there were no weights to save: each copy draws its own random kernel at its first call.
#
# ### Fix 3: build (call) before saving
#
# Call the model once (or `fit` it, as in section 3) before saving. Now the weights are in the file and come back bit for
# bit; the restored model makes the same call on the same inputs, so its predictions are identical too.
# `model.export` and `tf.saved_model.save` get traced functions as well.

# %%
keras.utils.set_random_seed(0)
called = SubclassedModel()
reference = called(x)  # the first call creates the weights
called.save(tmp / "called.keras")
restored = keras.models.load_model(tmp / "called.keras")
print("built:", restored.built, "| weights:", [w.path for w in restored.weights])
called_weights = roundtrip.assert_identical_weights(called, restored)
called_identical = np.array_equal(reference.numpy(), restored(x).numpy())  # the same call on the same inputs
print("weights bitwise identical:", called_weights, "arrays | identical predictions:", called_identical)

called.export(tmp / "called_export", verbose=False)
called_export_signatures = sorted(tf.saved_model.load(str(tmp / "called_export")).signatures.keys())
tf.saved_model.save(called, str(tmp / "called_savedmodel"))
called_sm_signatures = sorted(tf.saved_model.load(str(tmp / "called_savedmodel")).signatures.keys())
print("model.export signatures:        ", called_export_signatures)
print("tf.saved_model.save signatures: ", called_sm_signatures)
verify(
    {
        "built before saving: weights bitwise identical, identical predictions": called_weights == 2
        and called_identical,
        "model.export and tf.saved_model.save now have signatures": called_export_signatures
        == ["serve", "serving_default"]
        and called_sm_signatures == ["serving_default"],
    }
)

# %% [markdown]
# ### The fixed model in a fresh process
#
# A fresh process still needs the class: the file holds config and weights, the **code** comes from your program. In a
# project the class lives in a module that the training and the loading program both import; this loader carries a
# copy. It saves the weights it loaded, for us to compare bit for bit.

# %%
FIXED_LOADER = """
import sys

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="distsave")
class SubclassedModel(keras.Model):
    output_name = "output_layer"

    def __init__(self, units=5, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self._dense_layer = keras.layers.Dense(units, dtype="float32", name=self.output_name)

    def call(self, inputs):
        return self._dense_layer(inputs)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


model = keras.models.load_model(sys.argv[1])
np.savez("fresh_weights.npz", *model.get_weights())
print("loaded", type(model).__name__, "| built:", model.built, "| weights:", len(model.weights))
"""
fixed_run = processes.run_python(FIXED_LOADER, "called.keras", cwd=tmp)
print("exit code:", fixed_run.returncode)
print(fixed_run.stdout.rstrip())
with np.load(tmp / "fresh_weights.npz") as fresh_weights:
    fresh_weight_count = roundtrip.assert_identical_weights(called, [fresh_weights[k] for k in fresh_weights.files])
verify(
    {
        "a fresh process that defines the registered class loads the file": fixed_run.returncode == 0
        and fixed_run.stdout.startswith("loaded SubclassedModel"),
        "its loaded weights are bitwise identical to this process's": fresh_weight_count == 2,
    }
)

# %% [markdown]
# <a id="custom-objects"></a>
# ### Without registration: `custom_objects=` and `custom_object_scope`
#
# The loading program can also pass the class to the load, as a dict from the name stored in the file
# (`registered_name` in `config.json`; for an unregistered class, its class name) to the class:
#
# - `keras.models.load_model(path, custom_objects={"UnregisteredModel": UnregisteredModel})`, for this one call;
# - `with keras.saving.custom_object_scope({"UnregisteredModel": UnregisteredModel}):`, for every load inside the
#   block, also those made by code you call and cannot pass arguments to (here a small `load_for_serving`).
#
# The class below is Fix 2's model, `get_config` included, but **not** registered. Both ways load it, with the weights
# and the predictions identical.


# %%
class UnregisteredModel(keras.Model):
    """Fix 2's model without @register_keras_serializable."""

    def __init__(self, units=5, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self._dense_layer = keras.layers.Dense(units, name="output_layer")

    def call(self, inputs):
        return self._dense_layer(inputs)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def load_for_serving(path):  # stands for code that calls load_model for you, with no custom_objects argument
    return keras.models.load_model(path)


keras.utils.set_random_seed(0)
unregistered = UnregisteredModel()
unregistered_reference = unregistered(x)
unregistered.save(tmp / "unregistered.keras")
with zipfile.ZipFile(tmp / "unregistered.keras") as zf:
    print("registered_name in the file:", json.loads(zf.read("config.json"))["registered_name"])
unregistered_error = None
try:
    load_for_serving(tmp / "unregistered.keras")
except TypeError as err:
    unregistered_error = f"{type(err).__name__}: {err}"
print("no custom objects:", str(unregistered_error).split(". Make sure")[0] + ".")

custom_objects = {"UnregisteredModel": UnregisteredModel}
by_argument = keras.models.load_model(tmp / "unregistered.keras", custom_objects=custom_objects)
with keras.saving.custom_object_scope(custom_objects):
    by_scope = load_for_serving(tmp / "unregistered.keras")
custom_loads = {"custom_objects=": by_argument, "custom_object_scope": by_scope}
custom_identical = {}
for route, restored_model in custom_loads.items():
    weights = roundtrip.assert_identical_weights(unregistered, restored_model)
    same = np.array_equal(unregistered_reference.numpy(), restored_model(x).numpy())  # the same call, same inputs
    custom_identical[route] = weights == 2 and same
    print(f"{route}: {type(restored_model).__name__} | weights bitwise identical: {weights} arrays", end="")
    print(f" | identical predictions: {same}")
print("registered after these loads:", keras.saving.get_registered_object("UnregisteredModel") is not None)
verify(
    {
        "without custom objects, the unregistered class is unknown": str(unregistered_error).startswith(
            "TypeError: Could not locate class 'UnregisteredModel'"
        ),
        "custom_objects= and custom_object_scope both load it: identical weights and predictions": list(
            custom_identical.values()
        )
        == [True, True]
        and [type(m).__name__ for m in custom_loads.values()] == ["UnregisteredModel"] * 2,
        "neither registers the class": keras.saving.get_registered_object("UnregisteredModel") is None,
    }
)

# %% [markdown]
# **Which one when.** Register the classes of your own project, in a module that every saving and loading program
# imports: every `load_model` then finds them. Pass `custom_objects=` for a file whose classes were not registered
# (someone else's, older code) when you make the `load_model` call yourself; use `custom_object_scope` when the load
# happens inside code you call, or for several loads. Neither registers anything: the names count only for that call
# or block. Exercise 1 shows which of them wins over a registered class of the same name.

# %% [markdown]
# ## 3 · Under `MirroredStrategy`
#
# The tutorial's toy data: 100 examples whose features and targets are both `[0, 1, 2, 3, 4]`, batched with the
# [global batch](../README.md#glossary) `64 per replica × 2 replicas = 128`, so one epoch is a single batch of 100,
# which the strategy splits between the two replicas (the cell prints each share). The model is created and compiled
# inside the strategy's scope; `fit` makes the first call, which builds the weights as
# [mirrored variables](../README.md#glossary). A Keras 3 variable wraps a TensorFlow variable, which its `.value`
# returns: here a `MirroredVariable`, with one copy per replica device.

# %%
strategy = tf.distribute.MirroredStrategy(replica_devices)
BATCH_SIZE_PER_REPLICA = 64
BATCH_SIZE = BATCH_SIZE_PER_REPLICA * strategy.num_replicas_in_sync
dataset_size = 100
dataset = (
    tf.data.Dataset.from_tensors((tf.range(5, dtype=tf.float32), tf.range(5, dtype=tf.float32)))
    .repeat(dataset_size)
    .batch(BATCH_SIZE)
)
print(
    "replicas:",
    strategy.num_replicas_in_sync,
    "| global batch:",
    BATCH_SIZE,
    "| batches per epoch:",
    int(dataset.cardinality()),
)
features, _ = next(iter(strategy.experimental_distribute_dataset(dataset)))
replica_shares = [int(t.shape[0]) for t in strategy.experimental_local_results(features)]
print("examples per replica in that batch:", replica_shares)

keras.utils.set_random_seed(0)
with strategy.scope():
    mirrored_model = SubclassedModel()
    mirrored_model.compile(optimizer="adam", loss="mean_squared_error")
print("built before fit:", mirrored_model.built)
history = mirrored_model.fit(dataset, epochs=2, verbose=2)
kernel = mirrored_model._dense_layer.kernel
print(
    "built after fit:",
    mirrored_model.built,
    "|",
    type(kernel.value).__name__,
    [v.device.split("/")[-1] for v in kernel.value.values],
)

# %% [markdown]
# Save, then load inside **another** strategy's scope: the variables are mirrored again, the weights and the optimizer
# state (step count and Adam's moments) come back bitwise identical, and the predictions agree up to float32 rounding.

# %%
mirrored_model.save(tmp / "mirrored.keras")
another_strategy = tf.distribute.MirroredStrategy(replica_devices)
with another_strategy.scope():
    mirrored_restored = keras.models.load_model(tmp / "mirrored.keras")
restored_kernel = mirrored_restored._dense_layer.kernel
print("loaded:", type(mirrored_restored).__name__, "|", type(restored_kernel.value).__name__)
mirrored_weights = roundtrip.assert_identical_weights(mirrored_model, mirrored_restored)
n_opt = roundtrip.assert_same_optimizer_state(mirrored_model, mirrored_restored)
print(
    "weights identical:",
    mirrored_weights,
    "arrays | optimizer variables identical:",
    n_opt,
    "| iterations:",
    int(mirrored_restored.optimizer.iterations.numpy()),
)
mirrored_closeness = roundtrip.assert_same_predictions(mirrored_model, mirrored_restored, x)
print("predictions:", mirrored_closeness)
verify(
    {
        "the batch of 100 was split 50 + 50 between the replicas": replica_shares == [50, 50],
        "fit built mirrored weights, and the loss fell": type(kernel.value).__name__ == "MirroredVariable"
        and history.history["loss"][1] < history.history["loss"][0],
        "loaded in another strategy's scope, the variables are mirrored again": type(restored_kernel.value).__name__
        == "MirroredVariable",
        "weights and optimizer state bitwise identical": mirrored_weights == 2 and n_opt > 0,
        "predictions equal up to float32 rounding": mirrored_closeness.max_abs_diff <= mirrored_closeness.tolerance,
    }
)


# %% [markdown]
# ## 4 · The tutorial's Keras 2 path: `save_spec()` with `tf_keras`
#
# The tutorial checks `model.save_spec()`: it is `None` until the model has been called, and a Keras 2 SavedModel save
# needs it. Here is the tutorial's class written against `tf_keras` (imported explicitly, no `TF_USE_LEGACY_KERAS`),
# created in the strategy's scope. Saving it now (Keras 2 writes a SavedModel directory) fails (we print the message's
# first sentence, the object's memory address replaced by its name).


# %%
class LegacySubclassedModel(tf_keras.Model):
    """The tutorial's model, Keras 2 (`tf_keras`)."""

    output_name = "output_layer"

    def __init__(self):
        super().__init__()
        self._dense_layer = tf_keras.layers.Dense(5, dtype=tf.dtypes.float32, name=self.output_name)

    def call(self, inputs):
        return self._dense_layer(inputs)


tf_keras.utils.set_random_seed(0)
with strategy.scope():
    legacy_model = LegacySubclassedModel()
spec_before = legacy_model.save_spec()
print("save_spec() is None:", spec_before is None)
legacy_error = None
try:
    legacy_model.save(str(tmp / "legacy_uncalled"))
except ValueError as err:
    legacy_error = f"{type(err).__name__}: {err}"
    print(legacy_error.split(".To define")[0].replace(str(legacy_model), "<LegacySubclassedModel>") + ".")
verify(
    {
        "tf_keras: save_spec() is None before the first call, and the save fails": spec_before is None
        and "cannot be saved" in str(legacy_error),
    }
)

# %% [markdown]
# After `fit` (2 epochs on the toy dataset) the save spec, the input signature
# the save traces with, is defined and the SavedModel save works; loaded in another strategy's scope it gives mirrored
# variables, bitwise identical weights and the same predictions up to float32 rounding. Keras 3 models have no
# `save_spec` at all (the last line): check `model.built` (and `model.weights`) instead, as in sections 1 and 2.

# %%
with strategy.scope():
    legacy_model.compile(optimizer="adam", loss="mean_squared_error")
legacy_history = legacy_model.fit(dataset, epochs=2, verbose=0)
legacy_losses = legacy_history.history["loss"]
print("losses:", roundtrip.approx(legacy_losses, 2))
spec_after = legacy_model.save_spec()
print("save_spec():", spec_after)

legacy_model.save(str(tmp / "legacy_savedmodel"))
print("SavedModel files:", sorted(p.name for p in (tmp / "legacy_savedmodel").iterdir()))
with another_strategy.scope():
    legacy_restored = tf_keras.models.load_model(str(tmp / "legacy_savedmodel"))
print("variables:", type(legacy_restored.weights[0]).__name__)
legacy_weights = roundtrip.assert_identical_weights(legacy_model, legacy_restored)
print("weights bitwise identical:", legacy_weights, "arrays")
legacy_closeness = roundtrip.assert_same_predictions(legacy_model, legacy_restored, x)
print("predictions:", legacy_closeness)

save_spec_error = None
try:
    SubclassedModel().save_spec()
except AttributeError as err:
    save_spec_error = f"{type(err).__name__}: {err}"
print("Keras 3:", save_spec_error)
verify(
    {
        "after fit (the loss fell) save_spec() is defined and the SavedModel save works": legacy_losses[1]
        < legacy_losses[0]
        and spec_after is not None,
        "loaded in another scope: identical weights, predictions up to float32 rounding": legacy_weights == 2
        and legacy_closeness.max_abs_diff <= legacy_closeness.tolerance,
        "Keras 3 models have no save_spec": "has no attribute 'save_spec'" in str(save_spec_error),
    }
)

# %% [markdown]
# ## 5 · Models are code: `safe_mode`
#
# A `keras.layers.Lambda` layer stores its function. For a Python `lambda` that means its *bytecode*, the compiled
# Python instructions (the `code` entry of the layer's config, printed first), and loading it runs that code. Keras 3
# refuses this by default (`safe_mode=True`): a `.keras` file from someone else could run anything.
#
# **When `safe_mode=False` is acceptable**: only for files you created yourself or fully trust (the same trust you
# give a Python script you are about to run). This file we just wrote, so we may load it (the last lines). Pass it per
# call rather than calling `keras.config.enable_unsafe_deserialization()`, which in its docstring's words "disables
# safe mode globally".

# %%
lambda_model = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Lambda(lambda t: t * 2.0)])
lambda_model.save(tmp / "lambda.keras")
lambda_function = lambda_model.layers[0].get_config()["function"]
print("the stored function:", lambda_function["class_name"], "with", sorted(lambda_function["config"]))
lambda_error = None
try:
    keras.models.load_model(tmp / "lambda.keras")
except ValueError as err:
    lambda_error = f"{type(err).__name__}: {err}"
    print("\n".join(textwrap.wrap(lambda_error, 110)))

lambda_restored = keras.models.load_model(tmp / "lambda.keras", safe_mode=False)  # our own file
lambda_closeness = roundtrip.assert_same_predictions(lambda_model, lambda_restored, x)
print(
    "safe_mode=False:", [type(layer).__name__ for layer in lambda_restored.layers], "| predictions:", lambda_closeness
)
print(lambda_restored(x).numpy())
verify(
    {
        "the file stores the lambda's bytecode": lambda_function["class_name"] == "__lambda__"
        and "code" in lambda_function["config"],
        "safe_mode refuses it, naming safe_mode=False": "safe_mode=False" in str(lambda_error),
        "safe_mode=False loads our own file; same predictions up to float32 rounding": lambda_closeness.max_abs_diff
        <= lambda_closeness.tolerance,
    }
)


# %% [markdown]
# **The safe alternative**: write the computation as a small registered layer. The file then holds only its name and
# config (`factor`); the code comes from your program, exactly as for the model in section 2. It loads with the default
# `safe_mode=True`.


# %%
@keras.saving.register_keras_serializable(package="distsave")
class Scale(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


scale_model = keras.Sequential([keras.Input(shape=(5,)), Scale(2.0)])
scale_model.save(tmp / "scale.keras")
scale_restored = keras.models.load_model(tmp / "scale.keras")  # safe_mode=True, the default
scale_closeness = roundtrip.assert_same_predictions(lambda_model, scale_restored, x)
print(
    "loaded:", [type(layer).__name__ for layer in scale_restored.layers], "| factor:", scale_restored.layers[0].factor
)
print("predictions vs the lambda model:", scale_closeness)
verify(
    {
        "a registered layer loads with safe_mode on, predicting like the lambda (up to float32 rounding)": scale_closeness.max_abs_diff
        <= scale_closeness.tolerance,
    }
)

# %% [markdown]
# <a id="tfsmlayer-in-a-keras-file"></a>
# **A `TFSMLayer` inside a `.keras` file** is refused the same way. The layer wraps a SavedModel, and the `.keras` file stores only the SavedModel's *path* (`filepath` in the layer's config, printed
# below); loading the file loads that SavedModel, whose graph then runs on every call: code that is not in the
# `.keras` file. Since Keras 3.12.1 and 3.13.2
# ([keras-team/keras#22035](https://github.com/keras-team/keras/issues/22035)) `safe_mode` refuses it (older versions
# loaded it without asking). The opt-in is again `safe_mode=False`, for a file and a SavedModel you trust; here both
# are ours (Fix 3's `called_export`). The reloaded layer runs the same function on the same inputs: identical
# predictions.

# %%
tfsm_inputs = keras.Input(shape=(5,))
tfsm_outputs = keras.layers.TFSMLayer(str(tmp / "called_export"), call_endpoint="serve")(tfsm_inputs)
tfsm_model = keras.Model(tfsm_inputs, tfsm_outputs)
tfsm_reference = tfsm_model(x)
tfsm_model.save(tmp / "tfsm.keras")
with zipfile.ZipFile(tmp / "tfsm.keras") as zf:
    tfsm_config = json.loads(zf.read("config.json"))["config"]["layers"][1]["config"]
print("the .keras file points to the SavedModel:", Path(tfsm_config["filepath"]).name)
tfsm_error = None
try:
    keras.models.load_model(tmp / "tfsm.keras")
except ValueError as err:
    tfsm_error = f"{type(err).__name__}: {err}"
    print("\n".join(textwrap.wrap(tfsm_error.split(" This carries")[0], 110)))
tfsm_restored = keras.models.load_model(tmp / "tfsm.keras", safe_mode=False)  # our own file and SavedModel
tfsm_identical = np.array_equal(tfsm_reference.numpy(), tfsm_restored(x).numpy())
print("safe_mode=False:", [type(layer).__name__ for layer in tfsm_restored.layers], end=" | ")
print("identical predictions:", tfsm_identical)
verify(
    {
        "safe_mode refuses a .keras file with a TFSMLayer (an external SavedModel)": str(tfsm_error).startswith(
            "ValueError: Requested the deserialization of a `TFSMLayer`, which loads an external"
        )
        and "safe_mode=False" in str(tfsm_error),
        "safe_mode=False loads ours, with identical predictions": [
            type(layer).__name__ for layer in tfsm_restored.layers
        ]
        == ["InputLayer", "TFSMLayer"]
        and tfsm_identical,
    }
)

# %% [markdown]
# ## Exercises
#
# ### Exercise 1: load a file into another class
#
# `called.keras` was saved from the registered `SubclassedModel`, so its `config.json` names the class
# `distsave>SubclassedModel`. You want its weights in a new version, `PatchedModel(SubclassedModel)`, whose `call`
# applies a softmax. Load `called.keras` with
# `custom_objects={"distsave>SubclassedModel": PatchedModel}`, then inside
# `keras.saving.custom_object_scope({"distsave>SubclassedModel": PatchedModel})`. Predict the class you get back each
# time, and check the weights. The solution is in the next cell (hidden: click to show it).


# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 1
class PatchedModel(SubclassedModel):
    def call(self, inputs):
        return tf.nn.softmax(super().call(inputs))


patched = {"distsave>SubclassedModel": PatchedModel}
by_argument_patched = keras.models.load_model(tmp / "called.keras", custom_objects=patched)
with keras.saving.custom_object_scope(patched):
    by_scope_patched = keras.models.load_model(tmp / "called.keras")
patched_classes = [type(by_argument_patched).__name__, type(by_scope_patched).__name__]
print("custom_objects=:", patched_classes[0], "| custom_object_scope:", patched_classes[1])
patched_weights = roundtrip.assert_identical_weights(called, by_scope_patched)
print("weights bitwise identical:", patched_weights, "arrays")
verify(
    {
        "custom_objects= does not override a registered class (it fills in unknown names only)": patched_classes[0]
        == "SubclassedModel",
        "custom_object_scope does: the weights load bitwise into PatchedModel": patched_classes[1] == "PatchedModel"
        and patched_weights == 2,
    }
)

# %% [markdown]
# ### Exercise 2: a layer as a constructor argument
#
# Write a registered `HeadModel(head, **kwargs)`: a hidden `Dense(8, activation="relu")`, then `head`, a layer passed
# to the constructor. A layer is not plain data: `get_config` must serialize it and `from_config` rebuild it
# (`keras.saving.serialize_keras_object` / `deserialize_keras_object`). Create
# `HeadModel(keras.layers.Dense(5, name="head"))` under `strategy`, call it on `x`, save it, and load it in
# `another_strategy`'s scope: what comes back as `head`, and are the weights and predictions the same? The solution is
# in the next cell (hidden: click to show it).


# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 2
@keras.saving.register_keras_serializable(package="distsave")
class HeadModel(keras.Model):
    def __init__(self, head, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(8, activation="relu")
        self.head = head  # a layer object: not plain data

    def call(self, inputs):
        return self.head(self.hidden(inputs))

    def get_config(self):
        return {**super().get_config(), "head": keras.saving.serialize_keras_object(self.head)}

    @classmethod
    def from_config(cls, config):
        return cls(head=keras.saving.deserialize_keras_object(config.pop("head")), **config)


keras.utils.set_random_seed(0)
with strategy.scope():
    head_model = HeadModel(keras.layers.Dense(5, name="head"))
head_model(x)  # the first call builds the weights
head_model.save(tmp / "head.keras")
with another_strategy.scope():
    head_restored = keras.models.load_model(tmp / "head.keras")
head_kernel = head_restored.head.kernel.value
print("head:", type(head_restored.head).__name__, head_restored.head.name, "|", type(head_kernel).__name__)
head_weights = roundtrip.assert_identical_weights(head_model, head_restored)
head_closeness = roundtrip.assert_same_predictions(head_model, head_restored, x)
print("weights bitwise identical:", head_weights, "arrays | predictions:", head_closeness)
verify(
    {
        "the head comes back as a Dense layer with mirrored variables": type(head_restored.head).__name__ == "Dense"
        and type(head_kernel).__name__ == "MirroredVariable",
        "its weights come back bitwise identical": head_weights == 4,
        "and its predictions equal up to float32 rounding": head_closeness.max_abs_diff <= head_closeness.tolerance,
    }
)

# %% [markdown]
# ### Exercise 3: `**kwargs` without `get_config`
#
# Write a registered subclass whose `__init__` takes only `**kwargs` (passed to `super().__init__`) and has **no**
# `get_config`. Call it once, save it to `.keras` and load it back. Predict: does it load, like Fix 2, or fail, like
# Fix 1? The solution is in the next cell (hidden: click to show it).


# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 3
@keras.saving.register_keras_serializable(package="distsave")
class KwargsModel(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._dense_layer = keras.layers.Dense(5, name="output_layer")

    def call(self, inputs):
        return self._dense_layer(inputs)


kwargs_model = KwargsModel()
kwargs_model(x)
kwargs_model.save(tmp / "kwargs.keras")
kwargs_restored = keras.models.load_model(tmp / "kwargs.keras")
kwargs_weights = roundtrip.assert_identical_weights(kwargs_model, kwargs_restored)
print("loaded:", type(kwargs_restored).__name__, "| weights bitwise identical:", kwargs_weights, "arrays")
verify(
    {
        "it loads, weights bitwise: get_config is needed only for constructor arguments of your own": kwargs_weights
        == 2,
    }
)

# %% [markdown]
# ## What we verified

# %%
import shutil

shutil.rmtree(tmp)
closeness = [mirrored_closeness, legacy_closeness, scale_closeness, lambda_closeness]
verify(
    {
        "tf.keras is Keras 3 here": tf.keras.Model is keras.Model,
        "an uncalled subclassed model: export refuses it, tf.saved_model.save has no signatures": uncalled_signatures
        == []
        and "not yet been built" in export_error,
        "an unregistered class cannot be loaded, in a fresh process or in this one": plain_run.returncode == 1
        and plain_run.stdout.startswith("TypeError: Could not locate class 'SubclassedModel'")
        and "register_keras_serializable" in plain_run.stdout
        and "Could not locate class" in in_process_error,
        "registration needs a constructor that accepts the config": "Unable to revive model from config"
        in registered_error,
        "an uncalled model round-trips without weights: the copies predict differently": not restored_uncalled_built
        and predictions_differ,
        "built before saving: weights bitwise identical, identical predictions here": called_weights == 2
        and called_identical,
        "built, it gets signatures from both SavedModel writers": called_export_signatures
        == ["serve", "serving_default"]
        and called_sm_signatures == ["serving_default"],
        "a fresh process with the registered class loads it, weights bitwise identical": fixed_run.returncode == 0
        and fixed_run.stdout.startswith("loaded SubclassedModel")
        and fresh_weight_count == 2,
        "an unregistered class loads with custom_objects= or in custom_object_scope, and stays unregistered": unregistered_error.startswith(
            "TypeError: Could not locate class 'UnregisteredModel'"
        )
        and [type(m).__name__ for m in custom_loads.values()] == ["UnregisteredModel"] * 2
        and keras.saving.get_registered_object("UnregisteredModel") is None,
        "under MirroredStrategy the batch of 100 was split 50 + 50": replica_shares == [50, 50],
        "fit built mirrored weights, the loss fell; loaded in another scope, still mirrored": type(
            kernel.value
        ).__name__
        == type(restored_kernel.value).__name__
        == "MirroredVariable"
        and history.history["loss"][1] < history.history["loss"][0],
        "the mirrored model came back with identical weights and optimizer state": mirrored_weights == 2 and n_opt > 0,
        "tf_keras: save_spec() is None before fit, defined after, and the SavedModel save then works": spec_before
        is None
        and spec_after is not None
        and "cannot be saved" in legacy_error
        and legacy_weights == 2
        and legacy_losses[1] < legacy_losses[0],
        "Keras 3 has no save_spec": "has no attribute 'save_spec'" in save_spec_error,
        "safe_mode refuses a Python lambda (its bytecode is in the file)": "safe_mode=False" in lambda_error
        and lambda_function["class_name"] == "__lambda__"
        and "code" in lambda_function["config"],
        "safe_mode refuses a .keras file with a TFSMLayer; safe_mode=False loads ours": tfsm_error.startswith(
            "ValueError: Requested the deserialization of a `TFSMLayer`, which loads an external"
        )
        and "safe_mode=False" in tfsm_error
        and [type(layer).__name__ for layer in tfsm_restored.layers] == ["InputLayer", "TFSMLayer"]
        and tfsm_identical,
        "every comparison across execution paths is within float32 rounding": all(
            c.max_abs_diff <= c.tolerance for c in closeness
        ),
        "the temporary folder is gone": not tmp.exists(),
    }
)


# %% [markdown]
# ---
# ← Previous: [05 · Saving from a remote worker: `experimental_io_device`](05_local_io_device.ipynb) | [All notebooks](../README.md) | Next: [07 · Multi-worker: `MultiWorkerMirroredStrategy`, saving, and surviving a killed worker](07_multi_worker.ipynb) →
