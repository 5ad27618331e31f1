"""Devices and strategies: real multi-replica training on a laptop CPU.

``MirroredStrategy`` needs more than one device to show anything interesting.  On a
machine without GPUs we split the CPU into ``n`` *logical* devices, which must happen
before TensorFlow initialises its runtime (the first op, the first strategy, the
first ``tf.config.list_logical_devices`` call).  On a machine with GPUs the GPUs are
used instead and the CPU is left alone.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["split_cpu", "replica_devices", "mirrored_strategy"]

_RESTART_HINT = (
    "TensorFlow is already initialised, so the CPU can no longer be split into {n} logical "
    "devices. Restart the kernel (or the Python process) and call helpers.devices.split_cpu({n}) "
    "before anything else touches TensorFlow."
)


def split_cpu(n: int = 2) -> list[str]:
    """Make ``n`` replicas available and return their device names.

    With GPUs present, returns the GPU names (nothing is split).  Otherwise splits the
    first physical CPU into ``n`` logical CPUs ``/cpu:0 ... /cpu:{n-1}``.  Calling it
    again with the same ``n`` is harmless (re-running a notebook cell works).

    Raises:
        ValueError: ``n`` is not a positive integer.
        RuntimeError: TensorFlow was initialised before the split; the message says to
            restart the kernel.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer number of replicas, got {n!r}")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return [f"/gpu:{i}" for i in range(len(gpus))]
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == n:
        return _cpu_names(n)
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * n
        )
    except RuntimeError as err:  # "Virtual devices cannot be modified after being initialized"
        raise RuntimeError(_RESTART_HINT.format(n=n)) from err
    return _cpu_names(n)


def _cpu_names(n: int) -> list[str]:
    return [f"/cpu:{i}" for i in range(n)]


def replica_devices() -> list[str]:
    """Device names to mirror over: all GPUs, else all logical CPUs."""
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return [f"/gpu:{i}" for i in range(len(gpus))]
    return _cpu_names(len(tf.config.list_logical_devices("CPU")))


def mirrored_strategy(num_replicas: int | None = None) -> tf.distribute.MirroredStrategy:
    """A ``MirroredStrategy`` over the first ``num_replicas`` replica devices (default: all).

    Raises:
        ValueError: more replicas were asked for than devices exist; the message says how
            to get more (``split_cpu`` in a fresh kernel).
    """
    devices = replica_devices()
    if num_replicas is None:
        num_replicas = len(devices)
    if isinstance(num_replicas, bool) or not isinstance(num_replicas, int) or num_replicas < 1:
        raise ValueError(f"num_replicas must be a positive integer, got {num_replicas!r}")
    if num_replicas > len(devices):
        raise ValueError(
            f"asked for {num_replicas} replicas but only {len(devices)} device(s) exist "
            f"({devices}); call helpers.devices.split_cpu({num_replicas}) in a fresh kernel first"
        )
    return tf.distribute.MirroredStrategy(devices[:num_replicas])
