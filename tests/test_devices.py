import pytest

from helpers import devices


@pytest.mark.parametrize("bad", [0, -1, 2.0, "2", True, None])
def test_use_cpu_replicas_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="positive integer"):
        devices.use_cpu_replicas(bad)
    with pytest.raises(ValueError, match="positive integer"):
        devices.plan_cpu_replicas(bad, [])


def test_plan_on_a_cpu_only_runtime():
    plan = devices.plan_cpu_replicas(2, physical_gpus=[])
    assert plan.devices == ("/cpu:0", "/cpu:1") and plan.num_replicas == 2
    assert plan.hidden_gpus == 0 and plan.reason == ""


@pytest.mark.parametrize("gpus", [["GPU:0"], ["GPU:0", "GPU:1"], ["GPU:0", "GPU:1", "GPU:2", "GPU:3"]])
def test_plan_on_gpu_runtimes_is_the_same_replicas_with_the_gpus_hidden(gpus):
    # A Colab GPU runtime has 1 GPU; with 2 or more the choice is the same: the checked outputs hold on every runtime.
    plan = devices.plan_cpu_replicas(2, physical_gpus=gpus)
    assert plan.devices == ("/cpu:0", "/cpu:1")
    assert plan.hidden_gpus == len(gpus)
    assert "hidden" in plan.reason and "float32" in plan.reason and "memory" in plan.reason


def test_plan_for_other_counts():
    assert devices.plan_cpu_replicas(1, []).devices == ("/cpu:0",)
    assert devices.plan_cpu_replicas(4, ["GPU:0"]).devices == ("/cpu:0", "/cpu:1", "/cpu:2", "/cpu:3")


def test_split_then_strategy_has_two_replicas(python_subprocess):
    result = python_subprocess(
        "from helpers import devices\n"
        "a, b = devices.use_cpu_replicas(2), devices.use_cpu_replicas(2)\n"  # second call: same count, harmless
        "print(a.devices, a == b, a.hidden_gpus)\n"
        "s = devices.mirrored_strategy()\n"
        "print(s.num_replicas_in_sync, devices.mirrored_strategy(1).num_replicas_in_sync)\n"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "('/cpu:0', '/cpu:1') True 0"
    assert lines[1] == "2 1"


def test_late_split_says_restart_the_kernel(python_subprocess):
    result = python_subprocess(
        "import tensorflow as tf\n"
        "from helpers import devices\n"
        "tf.constant(1.0) + 1\n"  # initialises the runtime
        "try:\n"
        "    devices.use_cpu_replicas(2)\n"
        "except RuntimeError as err:\n"
        "    print('RAISED', err)\n"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "RAISED" in result.stdout
    assert "restart the kernel" in result.stdout.lower()


def test_too_many_replicas_is_a_clear_error(python_subprocess):
    result = python_subprocess(
        "from helpers import devices\n"
        "devices.use_cpu_replicas(2)\n"
        "try:\n"
        "    devices.mirrored_strategy(3)\n"
        "except ValueError as err:\n"
        "    print('RAISED', err)\n"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "RAISED asked for 3 replicas but only 2" in result.stdout
    assert "use_cpu_replicas(3)" in result.stdout


# DISTSAVE_KEEP_GPUS: the opt-in to run the replicas on the GPUs. No GPU here, so the planning and the calls it makes
# to tf.config are tested on CPU (a recording stand-in for tf.config); the real GPU run is `make gpu-check`.


@pytest.mark.parametrize(
    ("value", "keep"), [(None, False), ("", False), ("0", False), (" 0 ", False), ("1", True), (" 1\n", True)]
)
def test_keep_gpus_reads_the_environment_variable(value, keep):
    environ = {} if value is None else {devices.KEEP_GPUS_ENV: value}
    assert devices.keep_gpus_requested(environ) is keep


@pytest.mark.parametrize("bad", ["yes", "true", "2", "gpu", "-1"])
def test_keep_gpus_rejects_other_values_and_says_what_to_set(bad):
    with pytest.raises(ValueError, match="DISTSAVE_KEEP_GPUS=1 to run the replicas on the GPUs") as err:
        devices.keep_gpus_requested({devices.KEEP_GPUS_ENV: bad})
    assert repr(bad) in str(err.value) and "DISTSAVE_KEEP_GPUS=0" in str(err.value)


@pytest.mark.parametrize("gpus", [[], ["GPU:0"], ["GPU:0", "GPU:1"]])
def test_without_the_opt_in_the_plan_is_unchanged(gpus):
    assert devices.plan_replicas(2, gpus, keep_gpus=False) == devices.plan_cpu_replicas(2, gpus)


def test_opt_in_without_a_gpu_changes_nothing():
    assert devices.plan_replicas(2, [], keep_gpus=True) == devices.plan_cpu_replicas(2, [])


def test_opt_in_with_one_gpu_splits_it_into_logical_gpus():
    plan = devices.plan_replicas(2, ["GPU:0"], keep_gpus=True)
    assert plan.devices == ("/gpu:0", "/gpu:1") and plan.num_replicas == 2
    assert plan.kept_gpus == 1 and plan.split_gpu and plan.hidden_gpus == 0
    assert "DISTSAVE_KEEP_GPUS=1" in plan.reason


@pytest.mark.parametrize(("count", "hidden"), [(2, 0), (4, 2)])
def test_opt_in_with_enough_gpus_uses_the_first_n(count, hidden):
    plan = devices.plan_replicas(2, [f"GPU:{i}" for i in range(count)], keep_gpus=True)
    assert plan.devices == ("/gpu:0", "/gpu:1")
    assert plan.kept_gpus == 2 and not plan.split_gpu and plan.hidden_gpus == hidden


def test_opt_in_with_fewer_gpus_than_replicas_splits_the_first():
    plan = devices.plan_replicas(4, ["GPU:0", "GPU:1"], keep_gpus=True)
    assert plan.devices == ("/gpu:0", "/gpu:1", "/gpu:2", "/gpu:3")
    assert plan.kept_gpus == 1 and plan.split_gpu and plan.hidden_gpus == 1
    one = devices.plan_replicas(1, ["GPU:0"], keep_gpus=True)
    assert one.devices == ("/gpu:0",) and not one.split_gpu


def test_plan_replicas_checks_its_arguments():
    with pytest.raises(ValueError, match="positive integer"):
        devices.plan_replicas(0, ["GPU:0"], keep_gpus=True)
    with pytest.raises(TypeError, match="keep_gpus must be a bool"):
        devices.plan_replicas(2, ["GPU:0"], keep_gpus="1")


class _RecordingConfig:
    """Stands in for ``tf.config`` on a machine with GPUs: records what ``_use_gpus`` asks of it."""

    def __init__(self, initialised: bool = False, logical_gpus: int = 0):
        self.calls: list[tuple] = []
        self.initialised, self.logical_gpus = initialised, logical_gpus
        self.experimental = self

    def LogicalDeviceConfiguration(self, memory_limit=None):  # noqa: N802 (tf's name)
        return ("logical", memory_limit)

    def _record(self, *call):
        if self.initialised:
            raise RuntimeError("cannot be modified after being initialized")
        self.calls.append(call)

    def set_visible_devices(self, devices, kind):
        self._record("visible", tuple(devices), kind)

    def set_logical_device_configuration(self, device, configs):
        self._record("split", device, tuple(configs))

    def set_memory_growth(self, device, enable):
        self._record("growth", device, enable)

    def list_logical_devices(self, kind):
        return ["gpu"] * self.logical_gpus


class _FakeTF:
    def __init__(self, config):
        self.config = config


def test_one_gpu_is_split_with_a_memory_limit(monkeypatch):
    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    config = _RecordingConfig()
    plan = devices.plan_replicas(2, ["GPU:0"], keep_gpus=True)
    assert devices._use_gpus(_FakeTF(config), plan, ["GPU:0"]) == plan
    limit = ("logical", devices.GPU_MEMORY_LIMIT_MB)
    assert config.calls == [("visible", ("GPU:0",), "GPU"), ("split", "GPU:0", (limit, limit))]
    assert devices.os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"  # for the processes started from here


def test_enough_gpus_are_used_as_they_are_with_memory_growth(monkeypatch):
    monkeypatch.setenv("TF_FORCE_GPU_ALLOW_GROWTH", "false")  # the learner's own setting wins
    config = _RecordingConfig()
    gpus = ["GPU:0", "GPU:1", "GPU:2"]
    devices._use_gpus(_FakeTF(config), devices.plan_replicas(2, gpus, keep_gpus=True), gpus)
    assert config.calls == [
        ("visible", ("GPU:0", "GPU:1"), "GPU"),
        ("growth", "GPU:0", True),
        ("growth", "GPU:1", True),
    ]
    assert devices.os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "false"


def test_gpu_set_up_after_initialisation(monkeypatch):
    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    plan = devices.plan_replicas(2, ["GPU:0"], keep_gpus=True)
    # the same set-up again (a re-run cell): harmless
    assert devices._use_gpus(_FakeTF(_RecordingConfig(initialised=True, logical_gpus=2)), plan, ["GPU:0"]) == plan
    # another count: restart the kernel
    with pytest.raises(RuntimeError, match="Restart the kernel"):
        devices._use_gpus(_FakeTF(_RecordingConfig(initialised=True, logical_gpus=4)), plan, ["GPU:0"])


def test_bad_opt_in_value_fails_before_tensorflow_starts(python_subprocess):
    result = python_subprocess(
        "import sys\n"
        "from helpers import devices\n"
        "try:\n"
        "    devices.use_cpu_replicas(2)\n"
        "except ValueError as err:\n"
        "    print('RAISED', err)\n"
        "print('tensorflow imported:', 'tensorflow' in sys.modules)\n",
        env={"DISTSAVE_KEEP_GPUS": "yes"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "RAISED DISTSAVE_KEEP_GPUS='yes' is not understood" in result.stdout
    assert "tensorflow imported: False" in result.stdout


def test_opt_in_on_a_machine_without_a_gpu_gives_the_same_cpu_replicas(python_subprocess):
    result = python_subprocess(
        "from helpers import devices\n"
        "plan = devices.use_cpu_replicas(2)\n"
        "print(plan.devices, plan.kept_gpus, devices.replica_devices())\n",
        env={"DISTSAVE_KEEP_GPUS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "('/cpu:0', '/cpu:1') 0 ['/cpu:0', '/cpu:1']"


def test_a_save_writes_values_not_devices(python_subprocess):
    # docs/accelerators.md, "What a save writes": shown here for a variable mirrored on 2 logical CPUs. On GPUs the
    # copies live on /gpu:N instead; the VariablePolicy docs say the default writes no device either way (not run here).
    result = python_subprocess(
        "import os, tempfile\n"
        "from helpers import devices\n"
        "devices.use_cpu_replicas(2)\n"
        "import numpy as np\n"
        "import tensorflow as tf\n"
        "from tensorflow.core.protobuf import saved_model_pb2\n"
        "with devices.mirrored_strategy().scope():\n"
        "    module = tf.Module()\n"
        "    module.v = tf.Variable([1.0, 2.0], name='v')\n"
        "print('copies:', [c.device.split('/')[-1] for c in module.v.values])\n"
        "def saved_devices(path):\n"
        "    proto = saved_model_pb2.SavedModel()\n"
        "    with open(os.path.join(path, 'saved_model.pb'), 'rb') as f:\n"
        "        proto.ParseFromString(f.read())\n"
        "    nodes = proto.meta_graphs[0].object_graph_def.nodes\n"
        "    return [n.variable.device for n in nodes if n.WhichOneof('kind') == 'variable']\n"
        "tmp = tempfile.mkdtemp()\n"
        "tf.saved_model.save(module, tmp + '/default')\n"
        "policy = tf.saved_model.experimental.VariablePolicy.SAVE_VARIABLE_DEVICES\n"
        "options = tf.saved_model.SaveOptions(experimental_variable_policy=policy)\n"
        "tf.saved_model.save(module, tmp + '/with_devices', options=options)\n"
        "print('SavedModel, default policy:', saved_devices(tmp + '/default'))\n"
        "recorded = saved_devices(tmp + '/with_devices')\n"
        "print('SavedModel, SAVE_VARIABLE_DEVICES:', [d.split('/')[-1] for d in recorded])\n"
        "path = tf.train.Checkpoint(v=module.v).write(tmp + '/ckpt')\n"
        "print('checkpoint values:', [name for name, _ in tf.train.list_variables(path) if 'VARIABLE_VALUE' in name])\n"
        "plain = tf.Variable([0.0, 0.0])\n"
        "tf.train.Checkpoint(v=plain).read(path).assert_consumed()\n"
        "print('restored into a plain variable:', plain.device.split('/')[-1], np.array_equal(plain, module.v))\n"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [
        "copies: ['device:CPU:0', 'device:CPU:1']",
        "SavedModel, default policy: ['']",  # one variable, no device: the value only
        "SavedModel, SAVE_VARIABLE_DEVICES: ['device:CPU:0']",  # the opt-in records the first copy's device
        "checkpoint values: ['v/.ATTRIBUTES/VARIABLE_VALUE']",  # one value, not one per replica
        "restored into a plain variable: device:CPU:0 True",
    ]
