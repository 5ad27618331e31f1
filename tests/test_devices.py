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
