# %% [markdown]
# # 08 · What does saving and loading cost under a strategy?
#
# Seven ways to save the tutorial's CNN (and a wider variant), with no strategy and under `MirroredStrategy` (2 replicas): size on disk, save time, load time.
#
# **This notebook answers:** How big is each save format on disk, and how long do saving and loading take, with and without a strategy?
#
# <table align="left">
#   <td><a target="_blank" href="https://colab.research.google.com/github/tf-distribute-notebooks/save-and-load/blob/main/notebooks/08_save_load_cost.ipynb"><img src="https://www.tensorflow.org/images/colab_logo_32px.png" />Run in Google Colab</a></td>
#   <td><a target="_blank" href="https://github.com/tf-distribute-notebooks/save-and-load/blob/main/notebooks/08_save_load_cost.ipynb"><img src="https://www.tensorflow.org/images/GitHub-Mark-32px.png" />View source on GitHub</a></td>
# </table>
# <br clear="all">
#
# **What you'll learn**
#
# - how big each format is on disk, what grows with the parameters and what is fixed
# - that a `MirroredStrategy` model is saved as **one** copy of each variable
# - that `model.export` leaves the optimizer out but, in Keras 3.13–3.15, writes each weight twice
# - which formats keep Adam's state, and which give it back (`load_weights` only into a built optimizer)
# - what `BackupAndRestore` writes, in Keras 3 and in `tf_keras`
# - how long saving and loading take, and which timing difference holds at which model size
# - going deeper: `Checkpoint.restore` before `optimizer.build`, `expect_partial()`, sharded weights, export formats
#
# **Expected run time:** about 40 s on a 2-core CPU, no GPU needed.

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
import ast
import contextlib
import functools
import gc
import json
import logging
import logging.handlers
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tf_keras
from matplotlib.figure import Figure
from packaging.version import Version

from helpers import data, mnist_prep, models, roundtrip
from helpers.claims import verify

# %matplotlib inline
tf.get_logger().setLevel("ERROR")  # hide TF's Python INFO logs ("Using MirroredStrategy with devices ...")
print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| tf_keras", tf_keras.__version__)
print("MNIST source:", mnist_prep.prepare(log=None))  # reuse, download, or build offline (helpers/mnist_prep.py)


# %% [markdown]
# ## Two model sizes, two strategies
#
# The tutorial's CNN has a `Dense(64)` hidden layer, the *wide* variant `Dense(512)`. We don't train: a file holds the
# same variables whatever their values. But `optimizer.build` creates Adam's state, as the first training step would
# (`iterations`, the learning rate, two moments per weight tensor), and we set `iterations` to 10: a restored optimizer
# says 10, a fresh one 0. The models that weights are loaded into are built the same way, because `load_weights`
# refills only a built optimizer (notebook 04 shows both cases; "Going deeper" compares `Checkpoint.restore`).


# %%
def build_model(keras_module, strategy, dense_units, steps_done=10):
    """The tutorial CNN (helpers.models.get_model) with a `Dense(dense_units)` hidden layer and Adam's state created."""
    model = models.get_model(strategy, keras=keras_module, dense_units=dense_units)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        # Adam's variables now exist: load_weights refills only a built optimizer ("Going deeper" shows why)
        model.optimizer.build(model.trainable_variables)
        model.optimizer.iterations.assign(steps_done)  # as if `steps_done` training steps had run
    return model


SIZES = {"tutorial CNN": 64, "wide CNN": 512}
strategy = tf.distribute.MirroredStrategy(replica_devices)
STRATEGIES = {"no strategy": None, "Mirrored(2)": strategy}
print("replicas in sync:", strategy.num_replicas_in_sync)

params = {}
for size_name, units in SIZES.items():
    model = build_model(keras, None, units)
    params[size_name] = model.count_params()
    n_opt = len(model.optimizer.variables)
    print(
        f"{size_name:<13} Dense({units}): {params[size_name]:>9,} parameters = {4 * params[size_name]:>10,} bytes "
        f"of float32; {n_opt} optimizer variables (with the moments: {12 * params[size_name]:>10,} bytes)"
    )

# %% [markdown]
# A fixed batch of 16 test images checks that every load gives back the saved model's predictions.

# %%
_, eval_dataset = data.get_data()
x_probe = next(iter(eval_dataset))[0][:16]
print("probe batch:", tuple(x_probe.shape))


# %% [markdown]
# ## Seven savers, seven loaders
#
# | format | save | load (inside `strategy.scope()` when there is one) |
# |---|---|---|
# | `.keras` | `model.save("model.keras")` | `keras.models.load_model` rebuilds and compiles the model |
# | `.weights.h5` | `model.save_weights("model.weights.h5")` | `load_weights` into a model built by code |
# | `model.export` | `model.export(dir)` (serving SavedModel) | `tf.saved_model.load(dir)` |
# | `tf.saved_model.save` | `tf.saved_model.save(model, dir)` | `tf.saved_model.load(dir)` |
# | `tf.train.Checkpoint` | `Checkpoint(model=, optimizer=).write(prefix)` | `.read(prefix)` into a model built by code |
# | `CheckpointManager` | `CheckpointManager(checkpoint, dir).save()` | `.restore(tf.train.latest_checkpoint(dir))` |
# | `tf_keras` SavedModel | `tf_keras` `model.save(dir)` (Keras 2) | `tf_keras.models.load_model(dir)` |
#
# The `tf_keras` row saves a `tf_keras` model built by the same code.


# %%
class Models:
    """The models of one (size, strategy) case: what we save, and what weights-only formats restore into."""

    def __init__(self, strategy, units):
        keras.utils.set_random_seed(0)
        self.k3 = build_model(keras, strategy, units)  # Keras 3: saved by six formats
        self.k2 = build_model(tf_keras, strategy, units)  # Keras 2 (tf_keras): its SavedModel
        self.target = build_model(keras, strategy, units, steps_done=0)  # built by code: other weights, fresh Adam


def checkpoint_of(model):
    return tf.train.Checkpoint(model=model, optimizer=model.optimizer)


def restore_checkpoint(m, prefix):
    checkpoint_of(m.target).read(prefix).assert_existing_objects_matched()
    return m.target


def save_with_manager(m, path):
    tf.train.CheckpointManager(checkpoint_of(m.k3), str(path), max_to_keep=1).save()


def restore_latest(m, path):
    checkpoint_of(m.target).restore(tf.train.latest_checkpoint(str(path))).assert_existing_objects_matched()
    return m.target


def load_weights(m, path):
    m.target.load_weights(path / "model.weights.h5")
    return m.target


FORMATS = {  # name: (save(models, folder), load(models, folder) -> something to predict with)
    ".keras": (lambda m, p: m.k3.save(p / "model.keras"), lambda m, p: keras.models.load_model(p / "model.keras")),
    ".weights.h5": (lambda m, p: m.k3.save_weights(p / "model.weights.h5"), load_weights),
    "model.export": (
        lambda m, p: m.k3.export(str(p / "export"), verbose=False),
        lambda m, p: tf.saved_model.load(str(p / "export")),
    ),
    "tf.saved_model.save": (
        lambda m, p: tf.saved_model.save(m.k3, str(p / "saved_model")),
        lambda m, p: tf.saved_model.load(str(p / "saved_model")),
    ),
    "tf.train.Checkpoint": (
        lambda m, p: checkpoint_of(m.k3).write(str(p / "ckpt")),
        lambda m, p: restore_checkpoint(m, str(p / "ckpt")),
    ),
    "CheckpointManager": (save_with_manager, restore_latest),
    "tf_keras SavedModel": (
        lambda m, p: m.k2.save(str(p / "tf_keras")),
        lambda m, p: tf_keras.models.load_model(str(p / "tf_keras")),
    ),
}


def predict(restored, x):
    if isinstance(restored, (keras.Model, tf_keras.Model)):
        return restored(x)
    return restored.signatures["serving_default"](x)  # a plain SavedModel: {"output_0": logits}


def assert_weights_kept(saved, restored):
    """Assert the restored weights are bitwise the saved ones; return how many arrays were compared."""
    if isinstance(restored, (keras.Model, tf_keras.Model)):
        return roundtrip.assert_identical_weights(saved, restored)
    # a plain SavedModel: the variables its signature uses, in no particular order
    loaded = [v.numpy() for v in restored.signatures["serving_default"].variables]
    for i, w in enumerate(saved.get_weights()):
        assert any(w.shape == v.shape and np.array_equal(w, v) for v in loaded), f"weight array #{i} differs"
    return len(saved.get_weights())


def optimizer_steps(restored):
    """The restored optimizer's `iterations`, or None if the load gave no Keras model (a plain SavedModel object)."""
    if isinstance(restored, (keras.Model, tf_keras.Model)):
        return int(restored.optimizer.iterations.numpy())
    return None


def disk_size(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


# %% [markdown]
# ## The benchmark
#
# Each format, in each of the 2 × 2 cases: save `REPEATS` times into new folders and load each copy back (inside the
# strategy's scope). We report the **median** (middle) wall-clock time of the call, first repeat included, with its
# *tracing* (TensorFlow turning the Python code into a graph on a first call).
# After each load the weights must be bitwise the saved ones, the predictions equal up to float32 rounding (a
# SavedModel's graph may add in another order).

# %%
REPEATS = 4
tmp = Path(tempfile.mkdtemp())


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


results = {}  # (size, strategy, format) -> {"bytes", "save", "load", "weights", "close", "restored"}
for size_name, units in SIZES.items():
    for strategy_name, strat in STRATEGIES.items():
        m = Models(strat, units)
        for fmt, (save, load) in FORMATS.items():
            r = results[size_name, strategy_name, fmt] = {"save": [], "load": [], "close": []}
            saved = m.k2 if fmt.startswith("tf_keras") else m.k3
            for i in range(REPEATS):
                folder = tmp / f"{len(results)}-{i}"
                folder.mkdir()
                seconds, _ = timed(functools.partial(save, m, folder))
                r["save"].append(seconds)
                r.setdefault("bytes", disk_size(folder))
                with strat.scope() if strat is not None else contextlib.nullcontext():
                    seconds, restored = timed(functools.partial(load, m, folder))
                r["load"].append(seconds)
                r["weights"] = assert_weights_kept(saved, restored)
                r.setdefault("iterations", optimizer_steps(restored))  # first load: the target was fresh
                r["close"].append(roundtrip.assert_close(saved(x_probe), predict(restored, x_probe), what=fmt))
                if i < REPEATS - 1:
                    shutil.rmtree(folder)
            r["restored"] = restored
        worst = max(
            (c for fmt in FORMATS for c in results[size_name, strategy_name, fmt]["close"]),
            key=lambda c: c.max_abs_diff,
        )
        print(f"{size_name}, {strategy_name}: {len(FORMATS)} formats × {REPEATS} saves and loads")
        print(f"    after every load: weights identical, predictions {worst}")

# %% [markdown]
# ## Size on disk
#
# Bytes on disk for one save, in KiB (1 KiB = 1024 bytes).

# %%
CASES = [(s, t) for s in SIZES for t in STRATEGIES]
print(f"{'':<22}" + "".join(f"{f'{s}, {params[s]:,} params':>32}" for s in SIZES))
print(f"{'format':<22}" + "".join(f"{t:>16}" for _, t in CASES))
for fmt in FORMATS:
    print(f"{fmt:<22}" + "".join(f"{results[s, t, fmt]['bytes'] / 1024:>12,.0f} KiB" for s, t in CASES))

# %% [markdown]
# - **The strategy barely matters** (Keras 3.13 and 3.15). A `MirroredStrategy` model holds each variable once per
#   replica in memory (the variable table at the end), but every format writes it once.
# - **`model.export` is the smallest**: it leaves out the optimizer. The other six hold weights **and** optimizer state.
#
# On Keras ≥ 3.15 the wide CNN's `.keras` file is 32,548 KiB; on 3.13 (Colab's) 32,547 KiB: 3.15 writes
# `"input_axes": null` and `"output_axes": null` into every weight initializer's config.
#
# The two model sizes separate what grows with the model (bytes per added parameter) from the fixed part:

# %%
dp = params["wide CNN"] - params["tutorial CNN"]
per_param, overhead = {}, {}
print(f"{'format':<22}{'bytes per parameter':>20}{'fixed part':>14}")
for fmt in FORMATS:
    small, wide = (results[s, "no strategy", fmt]["bytes"] for s in SIZES)
    per_param[fmt] = (wide - small) / dp
    overhead[fmt] = small - round(per_param[fmt]) * params["tutorial CNN"]
    print(f"{fmt:<22}{per_param[fmt]:>20.2f}{overhead[fmt] / 1024:>10,.0f} KiB")

# %% [markdown]
# Every format that keeps the optimizer writes **12 bytes per parameter**: the float32 weight plus Adam's two float32
# moments. The fixed part is smallest for the checkpoints and largest for the three SavedModel writers, whose traced
# graph (`saved_model.pb`) comes on top of the variables.
#
# On Keras 3.13 and 3.15 `model.export` writes **8 bytes** per parameter, not 4: no moments, but each weight twice.
# Its variables checkpoint lists every weight under two names:

# %%
export_dir = tmp / "export-check"
small_model = build_model(keras, None, SIZES["tutorial CNN"])
small_model.export(str(export_dir), verbose=False)
keys = tf.train.load_checkpoint(str(export_dir / "variables" / "variables")).get_variable_to_shape_map()
keys = sorted(k.split("/.ATTRIBUTES")[0] for k in keys if k != "_CHECKPOINTABLE_OBJECT_GRAPH")
for prefix in ("_all_variables", "variables"):
    names = [k for k in keys if k.startswith(prefix + "/")]
    print(f"{prefix + '/…':<18}{len(names)} arrays")
print("total arrays in the export's checkpoint:", len(keys), "| weight tensors in the model:", len(small_model.weights))

# %% [markdown]
# (Keras 3.13 and 3.15 store both lists: 1.4 MB extra for the tutorial CNN, 200 MB at 5·10⁷ parameters. The
# keras-nightly 3.16.0.dev2026102704 stores each weight once without a strategy, still twice under `MirroredStrategy`:
# the README's compatibility table; not shown here.)
#
# ## Optimizer state: in the file, and back after the load
#
# Moments *in the file* are not yet a working optimizer. The step counter after each format's first load (saved: 10;
# the models built by code started at 0):

# %%
print(f"{'format':<22}{'Adam moments in the file':>26}{'optimizer iterations after load':>34}")
for fmt in FORMATS:
    steps = {results[(*case, fmt)]["iterations"] for case in CASES}  # the same in all four cases
    (after_load,) = steps
    shown = "no optimizer (not a Keras model)" if after_load is None else after_load
    print(f"{fmt:<22}{'yes' if round(per_param[fmt]) == 12 else 'no':>26}{shown!s:>34}")

# %% [markdown]
# - `.keras`, `.weights.h5` and both checkpoints give the optimizer back (10 steps; "Going deeper" checks the moments
#   bit for bit after training); `.weights.h5` only because the optimizer it loads into was built.
# - `tf.saved_model.load` (a plain object, no optimizer) and `tf_keras.models.load_model` (a **fresh** optimizer) give
#   no Adam state back, though both files hold the moments.
#
# ## What Keras's `BackupAndRestore` writes
#
# The callback saves during `fit` so that an interrupted run can resume. One epoch of 2 steps with each Keras:

# %%
images, labels = next(iter(eval_dataset))  # 64 test digits
backup_files = {}
for name, keras_module in (("keras", keras), ("tf_keras", tf_keras)):
    backup_dir = tmp / f"backup-{name}"
    callback = keras_module.callbacks.BackupAndRestore(str(backup_dir), delete_checkpoint=False)
    models.get_model(keras=keras_module).fit(images, labels, batch_size=32, epochs=1, verbose=0, callbacks=[callback])
    backup_files[name] = sorted(str(f.relative_to(backup_dir)) for f in backup_dir.rglob("*") if f.is_file())
    print(f"{name:<9}", backup_files[name])

# %% [markdown]
# Keras 3 writes a `.weights.h5` file plus a JSON file for how far training got; `tf_keras` writes a TensorFlow
# checkpoint in a `chief` folder: its callback knows about multiple workers, Keras 3's does not (notebook 07).
#
# ## Save and load times
#
# Medians on your machine, with whatever else it is doing: read the orders of magnitude, not the digits.

# %%
median_ms = {key: {k: 1000 * statistics.median(r[k]) for k in ("save", "load")} for key, r in results.items()}
for fmt in FORMATS:
    print(fmt)
    for s, t in CASES:
        ms = median_ms[s, t, fmt]
        print(f"    {s + ', ' + t:<28}save {ms['save']:.1f} ms   load {ms['load']:.1f} ms")

# %%
fig = Figure(figsize=(11, 4.2))
axes = fig.subplots(1, 2, sharey=True)
width = 0.8 / len(CASES)
xs = np.arange(len(FORMATS))
for ax, what in zip(axes, ("save", "load"), strict=True):
    for i, (s, t) in enumerate(CASES):
        ax.bar(xs + i * width, [median_ms[s, t, fmt][what] for fmt in FORMATS], width, label=f"{s}, {t}")
    ax.set_xticks(xs + 0.4 - width / 2)
    ax.set_xticklabels(list(FORMATS), rotation=35, ha="right")
    ax.set_yscale("log")
    ax.set_title(f"{what} time (median of {REPEATS})")
axes[0].set_ylabel("milliseconds (log scale)")
axes[1].legend(fontsize=8)
fig.tight_layout()
fig


# %% [markdown]
# The three SavedModel writers trace the model into a graph before they write; a checkpoint writes only the variables.
# How much slower were they, and how does a checkpoint restore compare with `keras.models.load_model`?

# %%
SAVEDMODEL_WRITERS = ["model.export", "tf.saved_model.save", "tf_keras SavedModel"]
checkpoint_faster = {}
for case in CASES:
    ms = {fmt: median_ms[(*case, fmt)] for fmt in FORMATS}
    save_ratio = min(ms[fmt]["save"] for fmt in SAVEDMODEL_WRITERS) / ms["tf.train.Checkpoint"]["save"]
    load_ratio = ms[".keras"]["load"] / ms["tf.train.Checkpoint"]["load"]
    checkpoint_faster[case] = save_ratio > 1  # a checkpoint write beats every SavedModel writer
    print(
        f"{', '.join(case):<27} fastest SavedModel save {roundtrip.approx(save_ratio, 2)}× a checkpoint write; "
        f".keras load {roundtrip.approx(load_ratio, 2)}× a checkpoint restore"
    )
verify(
    {
        "a tf.train.Checkpoint write beat the fastest SavedModel writer in all four cases": all(
            checkpoint_faster.values()
        )
    }
)

# %% [markdown]
# At these sizes (up to 2.8 M parameters) a `tf.train.Checkpoint` write beat the fastest SavedModel writer in all four
# cases: most of a SavedModel save is not writing bytes, since the checkpoint writes more bytes than `model.export`.
#
# **At larger sizes the gap closes.** At 5·10⁷ parameters ([notebook 11](11_checkpoint_cost_at_scale.ipynb)'s full
# results, Keras 3.15) `model.export` writes 400 MB (weights twice, no optimizer), a checkpoint 600 MB, and which one is
# faster changed between two full runs on the same machine: in 11's run the checkpoint took 0.63 s against 0.94 s for
# the export with no strategy (0.80 s against 0.89 s under Mirrored(2)); an earlier run had the export ahead, 1.66 s
# against 1.75 s. That is within the disk's own variation there (11's raw write probes ranged from 306 to 1,680 MB/s).
# Choose by what you need back: a checkpoint to resume training, an export to serve.
#
# ## Loading inside the scope gives mirrored variables
#
# Which kind of variable each format's restored model has (tutorial CNN):


# %%
def variable_kind(restored):
    if isinstance(restored, keras.Model):
        variable = restored.weights[0].value  # the tf.Variable behind a Keras 3 variable
    elif isinstance(restored, tf_keras.Model):
        variable = restored.weights[0]
    else:
        variable = restored.signatures["serving_default"].variables[0]
    return type(variable).__name__


kinds = {(t, fmt): variable_kind(results["tutorial CNN", t, fmt]["restored"]) for t in STRATEGIES for fmt in FORMATS}
print(f"{'format':<22}" + "".join(f"{t:>22}" for t in STRATEGIES))
for fmt in FORMATS:
    print(f"{fmt:<22}" + "".join(f"{kinds[t, fmt]:>22}" for t in STRATEGIES))
mirrored_copies = len(results["tutorial CNN", "Mirrored(2)", ".keras"]["restored"].weights[0].value.values)
print("copies of one MirroredVariable in memory:", mirrored_copies)

# %% [markdown]
# Every format, `tf.saved_model.load` included, creates mirrored variables inside `strategy.scope()` and single ones
# outside any scope: the loading context decides, not the file.
#
# ## Takeaways
#
# - **During training, back up with `tf.train.Checkpoint` + `CheckpointManager`**: weights *and* optimizer state, the
#   smallest fixed part, and at these sizes the fastest save. Restoring needs the model-building code.
# - **To hand a Keras model to Keras, save `.keras`**: `keras.models.load_model` rebuilds the compiled model with its
#   optimizer state (custom classes must be registered in the loading program, notebook 06).
# - **To serve, `model.export`**: no optimizer state; `tf.saved_model.load` gives a plain TensorFlow object.
# - `.weights.h5` writes what a checkpoint writes, from the Keras side, and refills only a built optimizer.
# - The strategy does not change the files: load inside the scope you want to use the model under.
#
# The full decision table: [Which API when](../docs/which_api.md).

# %% [markdown] jp-MarkdownHeadingCollapsed=true
# ## Going deeper: restoring optimizer state, sharded weights, export formats
#
# ### Build the optimizer before or after the restore?
#
# A compiled Adam has 2 variables (`iterations`, the learning rate) until `optimizer.build` or the first training step
# creates the moments. A model trained for one step, restored into models built by code with an unbuilt optimizer:

# %%
keras.utils.set_random_seed(0)
trained = models.get_model(strategy)
trained.train_on_batch(images, labels)  # one step on 64 digits: Adam's moments are no longer zeros
deeper = tmp / "deeper"
deeper.mkdir()
trained.save_weights(deeper / "model.weights.h5")
checkpoint_path = checkpoint_of(trained).save(str(deeper / "ckpt"))


def built_by_code():
    """The tutorial CNN, compiled under the strategy; its optimizer is not built (2 variables)."""
    return models.get_model(strategy)


def steps_and_variables(model):
    return int(model.optimizer.iterations.numpy()), len(model.optimizer.variables)


h5_target = built_by_code()
with warnings.catch_warnings(record=True) as caught, strategy.scope():
    warnings.simplefilter("always")
    h5_target.load_weights(deeper / "model.weights.h5")  # optimizer not built
skipped = [w for w in caught if str(w.message).startswith("Skipping variable loading for optimizer")]
h5_unbuilt = steps_and_variables(h5_target)
print("load_weights, optimizer not built:  iterations {}, {} optimizer variables".format(*h5_unbuilt))
reason = str(skipped[0].message).split(", ", 1)[1].split(". ")[0]  # without the optimizer's numbered name
print(f"    {skipped[0].category.__name__}: Skipping variable loading for optimizer …, {reason}")
with strategy.scope():
    h5_target.optimizer.build(h5_target.trainable_variables)
    h5_target.load_weights(deeper / "model.weights.h5")  # optimizer built
h5_state = roundtrip.assert_same_optimizer_state(trained, h5_target)
print(f"load_weights, optimizer built:      {h5_state} optimizer variables, bitwise the saved ones")

ckpt_target = built_by_code()
checkpoint_of(ckpt_target).restore(checkpoint_path)  # optimizer not built
ckpt_unbuilt = steps_and_variables(ckpt_target)
print("Checkpoint.restore, not built:      iterations {}, {} optimizer variables".format(*ckpt_unbuilt))
with strategy.scope():
    ckpt_target.optimizer.build(ckpt_target.trainable_variables)  # after the restore
ckpt_state = roundtrip.assert_same_optimizer_state(trained, ckpt_target)
print(f"  then optimizer.build:              {ckpt_state} optimizer variables, bitwise the saved ones")
verify(
    {
        "load_weights skips an unbuilt optimizer with a warning (iterations 0), and refills a built one bitwise": (
            h5_unbuilt == (0, 2) and len(skipped) > 0 and h5_state == 14
        ),
        "Checkpoint.restore restores the step at once and Adam's moments when optimizer.build creates them": (
            ckpt_unbuilt == (1, 2) and ckpt_state == 14
        ),
    }
)

# %% [markdown]
# `load_weights` fills only an optimizer that exists: build it first. `Checkpoint.restore` restores what exists (the
# step counter) and keeps the rest waiting until `build` creates the moments. Either order works.
#
# ### Restoring for inference only: `expect_partial()`
#
# A model that only predicts never builds its optimizer, so the moments are never restored. TensorFlow logs that when
# the restore is garbage-collected (the cell collects the log); `status.expect_partial()` says it is intended:


# %%
@contextlib.contextmanager
def tensorflow_warnings():
    """Collect the `tensorflow` logger's warnings instead of printing them; collect garbage before returning."""
    logger, handler = tf.get_logger(), logging.handlers.BufferingHandler(capacity=10_000)
    saved = logger.level, logger.handlers[:], logger.propagate
    logger.handlers[:], logger.propagate = [handler], False
    logger.setLevel(logging.WARNING)
    try:
        yield handler.buffer
    finally:
        gc.collect()  # the unrestored values are reported when the restore's bookkeeping is deleted
        logger.setLevel(saved[0])
        logger.handlers[:], logger.propagate = saved[1], saved[2]


def restore_for_inference(partial):
    model = built_by_code()
    status = tf.train.Checkpoint(model=model).restore(checkpoint_path)
    if partial:
        status.expect_partial()
    return roundtrip.assert_identical_weights(trained, model)


inference_warnings = {}
for partial in (False, True):
    with tensorflow_warnings() as records:
        arrays = restore_for_inference(partial)
    messages = [record.getMessage() for record in records]
    inference_warnings[partial] = messages
    print(
        f"{'with' if partial else 'without'} expect_partial(): {arrays} weight arrays bitwise, {len(messages)} warnings"
    )
    if messages:
        print("   ", messages[0].split(". ")[0] + ".")
        unrestored = [m for m in messages if m.startswith("Value in checkpoint could not be found")]
        print(f"    {len(unrestored)} ×", unrestored[0].rsplit(".", 1)[0] + ".N")
verify(
    {
        "an inference-only restore logs 13 warnings; expect_partial() silences them": (
            len(inference_warnings[False]) == 13 and inference_warnings[True] == []
        )
    }
)

# %% [markdown]
# The 12 unrestored values are Adam's moments; the weights are restored either way.
#
# ### Sharded weights (Keras ≥ 3.10)
#
# `model.save_weights("….weights.json", max_shard_size=…)` (in GB) spreads a `.weights.h5`'s content over numbered
# files plus a JSON map; `load_weights` of the JSON reads them. A shard holds whole tensors, so the limit must fit the
# largest (the `Dense(64)` kernel):

# %%
(tmp / "too-small").mkdir()
too_small = None
try:
    trained.save_weights(tmp / "too-small" / "model.weights.json", max_shard_size=0.001)  # less than that kernel
except ValueError as err:
    too_small = err
print(f"{type(too_small).__name__}: {too_small}")
sharded = tmp / "sharded"
sharded.mkdir()
trained.save_weights(sharded / "model.weights.json", max_shard_size=0.002)  # in GB
shard_files = sorted(f.name for f in sharded.iterdir())
weight_map = json.loads((sharded / "model.weights.json").read_text())["weight_map"]
print(len(shard_files), "files:", ", ".join(shard_files))
for entry, files in weight_map.items():
    print(f"    {entry:<20}", ", ".join(files if isinstance(files, list) else [files]))
with strategy.scope():
    sharded_target = built_by_code()
    sharded_target.optimizer.build(sharded_target.trainable_variables)
    sharded_target.load_weights(sharded / "model.weights.json")
sharded_arrays = roundtrip.assert_identical_weights(trained, sharded_target)
sharded_state = roundtrip.assert_same_optimizer_state(trained, sharded_target)
print(f"loaded under Mirrored(2): {sharded_arrays} weight arrays and {sharded_state} optimizer variables, bitwise")
verify(
    {
        "a shard limit below the largest tensor is refused (ValueError)": isinstance(too_small, ValueError)
        and "exceeds the maximum shard size" in str(too_small),
        "sharded weights: 1 JSON + 3 shards, loaded back bitwise under Mirrored(2)": (
            len(shard_files) == 4
            and shard_files[0] == "model.weights.json"
            and sharded_arrays == 6
            and sharded_state == 14
        ),
    }
)

# %% [markdown]
# Adam's variables span all three shards. On Keras ≥ 3.15 and on 3.13 alike this layout loads back bit for bit: the
# stale-shard read fixed in 3.15 by [keras-team/keras#22739](https://github.com/keras-team/keras/issues/22739) does not
# touch it.
#
# ### `model.export(format=...)`
#
# An unknown format makes `model.export` list the ones it offers:

# %%
format_error = None
try:
    trained.export(str(tmp / "unused"), format="?")
except ValueError as err:
    format_error = err
print(f"{type(format_error).__name__}: {format_error}")
export_formats = ast.literal_eval(str(format_error).split("Supported formats are: ")[1].rstrip("."))
KERAS_3_15 = Version(keras.version()) >= Version("3.15")
verify(
    {
        "model.export lists its formats (torch from Keras 3.15 on)": export_formats
        == ["tf_saved_model", "onnx", "openvino", "litert"] + (["torch"] if KERAS_3_15 else [])
    }
)

# %% [markdown]
# On Keras ≥ 3.15: five formats, `torch` included; on 3.13: the first four. This collection uses the default,
# `tf_saved_model`: the SavedModel that `tf.saved_model.load` reads with TensorFlow alone, inside a strategy's scope too
# (above). The others are for other runtimes (ONNX, OpenVINO, LiteRT, PyTorch).

# %%
shutil.rmtree(tmp)
print("temporary folder removed:", not tmp.exists())

# %% [markdown]
# ## Exercises
#
# ### Exercise 1: a checkpoint without `optimizer=`
#
# Predict how many bytes per parameter `tf.train.Checkpoint(model=model)` writes for the tutorial CNN when you leave out
# `optimizer=`, then measure it with `disk_size` in a temporary folder. If it is not 4, find a checkpoint that holds only
# the weights. The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 1
n, ex_model = params["tutorial CNN"], build_model(keras, None, SIZES["tutorial CNN"])
checkpoint_bytes = {}
for name, checkpoint in [
    ("model=model", tf.train.Checkpoint(model=ex_model)),
    ("weights=model.weights", tf.train.Checkpoint(weights=ex_model.weights)),
]:
    with tempfile.TemporaryDirectory() as folder:
        checkpoint.write(os.path.join(folder, "ckpt"))
        checkpoint_bytes[name] = disk_size(folder)
    print(f"tf.train.Checkpoint({name}): {checkpoint_bytes[name] / n:.1f} bytes per parameter")
verify(
    {
        "Checkpoint(model=model) writes 12 bytes per parameter: a Keras 3 model brings its optimizer along": (
            round(checkpoint_bytes["model=model"] / n) == 12
        ),
        "Checkpoint(weights=model.weights) writes 4: one float32 per weight": (
            round(checkpoint_bytes["weights=model.weights"] / n) == 4
        ),
    }
)

# %% [markdown]
# ### Exercise 2: from a training checkpoint to a serving export
#
# A server needs neither Adam's moments nor the Python code. Write a `tf.train.Checkpoint` of
# `build_model(keras, None, SIZES["tutorial CNN"])` and its optimizer, as training would. Then, as a serving job:
# build the model by code (`models.get_model()`), restore the weights (`expect_partial()`), `model.export` it, load
# the export with `tf.saved_model.load`, and check its predictions on `x_probe` and each artifact's bytes per
# parameter. The solution is in the next cell (hidden: click to show it).

# %% cellView="form" jupyter={"source_hidden": true}
# @title Solution to exercise 2
with tempfile.TemporaryDirectory() as folder:
    folder = Path(folder)
    training = build_model(keras, None, SIZES["tutorial CNN"])  # Adam built, at step 10
    checkpoint_of(training).write(str(folder / "training" / "ckpt"))
    serving = models.get_model()  # built by code: its optimizer is never built, so its moments stay unrestored
    tf.train.Checkpoint(model=serving).read(str(folder / "training" / "ckpt")).expect_partial()
    serving.export(str(folder / "export"), verbose=False)
    served = tf.saved_model.load(str(folder / "export"))
    served_close = roundtrip.assert_close(training(x_probe), served.serve(x_probe), what="the export")
    per_parameter = {name: disk_size(folder / name) / params["tutorial CNN"] for name in ("training", "export")}
print(
    f"training checkpoint ≈{round(per_parameter['training'])} bytes per parameter, "
    f"export ≈{round(per_parameter['export'])}; the export's predictions: {served_close}"
)
verify(
    {
        "the serving model got the checkpoint's weights bitwise": roundtrip.assert_identical_weights(training, serving)
        == 6,
        "the export serves the trained model's predictions, up to float32 rounding": (
            served_close.max_abs_diff <= served_close.tolerance
        ),
        "the export holds about 8 bytes per parameter, the training checkpoint 12": (
            round(per_parameter["training"]) == 12 and round(per_parameter["export"]) == 8
        ),
    }
)

# %% [markdown]
# ## What we verified

# %%
wide_keras_kib = round(results["wide CNN", "no strategy", ".keras"]["bytes"] / 1024)
initializer_fields = keras.initializers.GlorotUniform().get_config()
sizes_by_case = [{fmt: results[(*case, fmt)]["bytes"] for fmt in FORMATS} for case in CASES]
verify(
    {
        "every format loads back the saved weights bit for bit and the predictions up to float32 rounding, "
        "with and without MirroredStrategy": all(
            r["weights"] == 6 and len(r["close"]) == REPEATS and all(c.max_abs_diff <= c.tolerance for c in r["close"])
            for r in results.values()
        ),
        "sizes under Mirrored(2) are within 2 KiB of no strategy (.weights.h5 to the byte): one copy per variable": all(
            abs(results[s, "Mirrored(2)", fmt]["bytes"] - results[s, "no strategy", fmt]["bytes"]) < 2048
            and results[s, "Mirrored(2)", ".weights.h5"]["bytes"] == results[s, "no strategy", ".weights.h5"]["bytes"]
            for s in SIZES
            for fmt in FORMATS
        ),
        "the wide CNN's .keras is 32,548 KiB on Keras >= 3.15 (initializers gained input_axes), 32,547 KiB on 3.13": (
            ("input_axes" in initializer_fields and wide_keras_kib == 32_548)
            if KERAS_3_15
            else ("input_axes" not in initializer_fields and wide_keras_kib == 32_547)
        ),
        "12 bytes per parameter (weights + Adam moments) for all formats but model.export: 8 (weights twice)": all(
            abs(per_param[fmt] - (8 if fmt == "model.export" else 12)) < 0.01 for fmt in FORMATS
        )
        and len(keys) == 2 * len(small_model.weights) == 12,
        "fixed part under 200 KiB, smallest for tf.train.Checkpoint, largest for the 3 SavedModel writers": all(
            0 < overhead[fmt] < 200 * 1024 for fmt in FORMATS
        )
        and min(overhead, key=overhead.get) == "tf.train.Checkpoint"
        and min(overhead[f] for f in SAVEDMODEL_WRITERS)
        > max(overhead[f] for f in FORMATS if f not in SAVEDMODEL_WRITERS),
        "in every case model.export is the smallest file; Checkpoint < .weights.h5 < .keras < tf.saved_model.save": all(
            min(sizes, key=sizes.get) == "model.export"
            and sizes["tf.train.Checkpoint"] < sizes[".weights.h5"] < sizes[".keras"] < sizes["tf.saved_model.save"]
            for sizes in sizes_by_case
        ),
        ".keras, .weights.h5 and both checkpoints give the optimizer back (iterations 10); the tf_keras SavedModel "
        "holds the moments but loads with a fresh optimizer (0); the SavedModels load with none": {
            fmt: {results[(*case, fmt)]["iterations"] for case in CASES} for fmt in FORMATS
        }
        == {
            ".keras": {10},
            ".weights.h5": {10},
            "model.export": {None},
            "tf.saved_model.save": {None},
            "tf.train.Checkpoint": {10},
            "CheckpointManager": {10},
            "tf_keras SavedModel": {0},
        },
        "Keras 3 BackupAndRestore writes .weights.h5 + JSON; tf_keras BackupAndRestore writes a TF checkpoint": (
            backup_files["keras"] == ["latest.weights.h5", "training_metadata.json"]
            and backup_files["tf_keras"]
            == ["chief/checkpoint", "chief/ckpt-1.data-00000-of-00001", "chief/ckpt-1.index"]
        ),
        "loading inside strategy.scope() gives MirroredVariables (2 copies) for every format; outside, plain ones": (
            {kinds[t, fmt] for t, fmt in kinds if t == "Mirrored(2)"} == {"MirroredVariable"}
            and "MirroredVariable" not in {kinds[t, fmt] for t, fmt in kinds if t == "no strategy"}
            and mirrored_copies == strategy.num_replicas_in_sync == 2
        ),
        "at these sizes tf.train.Checkpoint saves faster (median) than every SavedModel writer, in all four cases": all(
            median_ms[(*case, "tf.train.Checkpoint")]["save"]
            < min(median_ms[(*case, fmt)]["save"] for fmt in SAVEDMODEL_WRITERS)
            for case in CASES
        ),
        "load_weights refills only a built optimizer; Checkpoint.restore restores the step at once and the moments "
        "when optimizer.build creates them, bitwise": (
            h5_unbuilt == (0, 2) and len(skipped) > 0 and h5_state == 14 and ckpt_unbuilt == (1, 2) and ckpt_state == 14
        ),
        "an inference-only restore logs 13 warnings about the unrestored moments; expect_partial() silences them": (
            len(inference_warnings[False]) == 13 and inference_warnings[True] == []
        ),
        "sharded weights: 1 JSON + 3 shards, loaded back bitwise under Mirrored(2); a shard must fit the largest tensor": (
            isinstance(too_small, ValueError)
            and "exceeds the maximum shard size" in str(too_small)
            and len(shard_files) == 4
            and shard_files[0] == "model.weights.json"
            and sharded_arrays == 6
            and sharded_state == 14
        ),
        "model.export lists its formats (torch from Keras 3.15 on); this collection uses tf_saved_model": export_formats
        == ["tf_saved_model", "onnx", "openvino", "litert"] + (["torch"] if KERAS_3_15 else []),
    }
)


# %% [markdown]
# ---
# ← Previous: [07 · Multi-worker: `MultiWorkerMirroredStrategy`, saving, and surviving a killed worker](07_multi_worker.ipynb) | [All notebooks](../README.md) | Next: [09 · Crash-safe saves: keep the last good model when a save is killed](09_crash_safe_saves.ipynb) →
