"""Devices and strategies: real multi-replica training on logical CPUs, on any runtime.

``MirroredStrategy`` needs more than one device to show anything interesting.  Every
notebook runs its replicas on ``n`` *logical* CPU devices split from the first physical
CPU, whatever the machine has: a laptop, a CPU-only Colab runtime, or a Colab GPU runtime.

Why not the GPU when there is one?  A Colab GPU runtime has one GPU, and these lessons
want 2 replicas whose results they can check:

- a GPU computes float32 convolutions with other algorithms than a CPU (and, on Ampere or
  newer GPUs, matrix products in TensorFloat-32 by default), so predictions and losses
  would differ from a CPU run by more than float32 rounding;
- notebooks 05 and 07 start more TensorFlow processes on the same machine, and each
  process reserves most of a GPU's memory by default.

Saving and loading work the same on every device, so the lessons lose nothing.  The GPU
is hidden from this process and from the processes it starts (``CUDA_VISIBLE_DEVICES``).

The split must happen before TensorFlow initialises its runtime (the first op, the first
strategy, the first ``tf.config.list_logical_devices`` call).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ReplicaDevices", "plan_cpu_replicas", "use_cpu_replicas", "replica_devices", "mirrored_strategy"]

_RESTART_HINT = (
    "TensorFlow is already initialised, so the CPU can no longer be split into {n} logical "
    "devices. Restart the kernel (or the Python process) and call "
    "helpers.devices.use_cpu_replicas({n}) before anything else touches TensorFlow."
)

GPU_REASON = (
    "GPUs are hidden: the lessons run their replicas on logical CPUs so that every runtime computes "
    "the same float32 results (a GPU uses other convolution algorithms, and TensorFloat-32 on recent GPUs) "
    "and the worker processes of notebooks 05 and 07 do not compete for one GPU's memory."
)


@dataclass(frozen=True)
class ReplicaDevices:
    """What :func:`use_cpu_replicas` set up.

    Attributes:
        devices: the replica device names, ``("/cpu:0", ..., "/cpu:{n-1}")``.
        hidden_gpus: how many physical GPUs were hidden from TensorFlow (0 on a CPU-only machine).
        reason: why GPUs were hidden (empty when there were none).
    """

    devices: tuple[str, ...]
    hidden_gpus: int
    reason: str

    @property
    def num_replicas(self) -> int:
        return len(self.devices)


def _check_count(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer number of replicas, got {n!r}")
    return n


def plan_cpu_replicas(n: int, physical_gpus: Sequence[object]) -> ReplicaDevices:
    """The plan for ``n`` replicas given the machine's physical GPUs (pure logic, no TensorFlow).

    Always ``n`` logical CPUs; any GPUs are hidden, with :data:`GPU_REASON` as the reason.
    """
    n = _check_count(n)
    hidden = len(physical_gpus)
    return ReplicaDevices(_cpu_names(n), hidden, GPU_REASON if hidden else "")


def use_cpu_replicas(n: int = 2) -> ReplicaDevices:
    """Split the first physical CPU into ``n`` logical devices and hide any GPU.

    Call it before anything else touches TensorFlow's runtime.  Calling it again with the
    same ``n`` is harmless (re-running a notebook cell works).

    Raises:
        ValueError: ``n`` is not a positive integer.
        RuntimeError: TensorFlow was initialised before the split; the message says to
            restart the kernel.
    """
    import tensorflow as tf

    n = _check_count(n)
    plan = plan_cpu_replicas(n, tf.config.list_physical_devices("GPU"))
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == n:
        return plan
    try:
        if plan.hidden_gpus:
            tf.config.set_visible_devices([], "GPU")
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as err:  # "... cannot be modified after being initialized"
        raise RuntimeError(_RESTART_HINT.format(n=n)) from err
    if plan.hidden_gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"  # worker processes started from here see no GPU either
    return plan


def _cpu_names(n: int) -> tuple[str, ...]:
    return tuple(f"/cpu:{i}" for i in range(n))


def replica_devices() -> list[str]:
    """The logical CPU device names to mirror over."""
    import tensorflow as tf

    return list(_cpu_names(len(tf.config.list_logical_devices("CPU"))))


def mirrored_strategy(num_replicas: int | None = None):
    """A ``tf.distribute.MirroredStrategy`` over the first ``num_replicas`` logical CPUs (default: all).

    Raises:
        ValueError: more replicas were asked for than devices exist; the message says how
            to get more (``use_cpu_replicas`` in a fresh kernel).
    """
    import tensorflow as tf

    devices = replica_devices()
    if num_replicas is None:
        num_replicas = len(devices)
    if isinstance(num_replicas, bool) or not isinstance(num_replicas, int) or num_replicas < 1:
        raise ValueError(f"num_replicas must be a positive integer, got {num_replicas!r}")
    if num_replicas > len(devices):
        raise ValueError(
            f"asked for {num_replicas} replicas but only {len(devices)} device(s) exist "
            f"({devices}); call helpers.devices.use_cpu_replicas({num_replicas}) in a fresh kernel first"
        )
    return tf.distribute.MirroredStrategy(devices[:num_replicas])
