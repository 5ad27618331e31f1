import pytest

from helpers import devices


@pytest.mark.parametrize("bad", [0, -1, 2.0, "2", True, None])
def test_split_cpu_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="positive integer"):
        devices.split_cpu(bad)


def test_split_then_strategy_has_two_replicas(python_subprocess):
    result = python_subprocess(
        "from helpers import devices\n"
        "print(devices.split_cpu(2), devices.split_cpu(2))\n"  # second call: same count, harmless
        "s = devices.mirrored_strategy()\n"
        "print(s.num_replicas_in_sync, devices.mirrored_strategy(1).num_replicas_in_sync)\n"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "['/cpu:0', '/cpu:1'] ['/cpu:0', '/cpu:1']"
    assert lines[1] == "2 1"


def test_late_split_says_restart_the_kernel(python_subprocess):
    result = python_subprocess(
        "import tensorflow as tf\n"
        "from helpers import devices\n"
        "tf.constant(1.0) + 1\n"  # initialises the runtime
        "try:\n"
        "    devices.split_cpu(2)\n"
        "except RuntimeError as err:\n"
        "    print('RAISED', err)\n"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "RAISED" in result.stdout
    assert "restart the kernel" in result.stdout.lower()


def test_too_many_replicas_is_a_clear_error(python_subprocess):
    result = python_subprocess(
        "from helpers import devices\n"
        "devices.split_cpu(2)\n"
        "try:\n"
        "    devices.mirrored_strategy(3)\n"
        "except ValueError as err:\n"
        "    print('RAISED', err)\n"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "RAISED asked for 3 replicas but only 2" in result.stdout
    assert "split_cpu(3)" in result.stdout
