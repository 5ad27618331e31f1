"""Devices and strategies: real multi-replica training on logical CPUs, on any runtime.

``MirroredStrategy`` needs more than one device to show anything interesting.  Every
notebook runs its replicas on ``n`` *logical* CPU devices split from the first physical
CPU, whatever the machine has: a laptop, a CPU-only Colab runtime, or a Colab GPU runtime.

Why not the GPU when there is one?  A Colab GPU runtime has one GPU, and these lessons
want 2 replicas whose results they can check:

- a GPU computes float32 convolutions with other algorithms than a CPU (and, on NVIDIA
  Ampere or newer GPUs, matrix products and convolutions in TensorFloat-32 by default:
  ``tf.config.experimental.enable_tensor_float_32_execution``), so predictions and losses
  would differ from a CPU run by more than float32 rounding;
- notebooks 05 and 07 start more TensorFlow processes on the same machine, and by default
  each process maps nearly all of a GPU's memory (https://www.tensorflow.org/guide/gpu).

So by default any GPU is hidden from this process and from the processes it starts
(``CUDA_VISIBLE_DEVICES=-1``).  No run of these lessons on a GPU has been checked here
(docs/accelerators.md says what is shown and what is not).

**Keeping the GPUs.**  With the environment variable ``DISTSAVE_KEEP_GPUS=1`` set before the
call, :func:`use_cpu_replicas` runs the ``n`` replicas on GPUs instead: the first ``n`` GPUs
(each with memory growth on) if there are that many, else the first GPU split into ``n``
logical GPUs of :data:`GPU_MEMORY_LIMIT_MB` each (``tf.config.set_logical_device_configuration``
with ``memory_limit``, as the GPU guide does to simulate several GPUs).  It also sets
``TF_FORCE_GPU_ALLOW_GROWTH=true`` (unless set), read by this process's runtime when it starts and by the processes
started from here.  On a machine
without a GPU the variable changes nothing.  ``make gpu-check`` runs every notebook this way.

The split must happen before TensorFlow initialises its runtime (the first op, the first
strategy, the first ``tf.config.list_logical_devices`` call).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "GPU_MEMORY_LIMIT_MB",
    "KEEP_GPUS_ENV",
    "ReplicaDevices",
    "keep_gpus_requested",
    "mirrored_strategy",
    "plan_cpu_replicas",
    "plan_replicas",
    "replica_devices",
    "use_cpu_replicas",
]

#: Set it to ``1`` (before :func:`use_cpu_replicas` runs) to run the replicas on the GPUs.
KEEP_GPUS_ENV = "DISTSAVE_KEEP_GPUS"
#: Memory of each logical GPU (MB) when one physical GPU is split: the GPU guide's example value, plenty for MNIST.
GPU_MEMORY_LIMIT_MB = 1024

_RESTART_HINT = (
    "TensorFlow is already initialised, so the CPU can no longer be split into {n} logical "
    "devices. Restart the kernel (or the Python process) and call "
    "helpers.devices.use_cpu_replicas({n}) before anything else touches TensorFlow."
)
_GPU_RESTART_HINT = (
    "TensorFlow is already initialised, so its GPUs can no longer be set up as {n} replicas. "
    "Restart the kernel (or the Python process) and call helpers.devices.use_cpu_replicas({n}) "
    "before anything else touches TensorFlow."
)

GPU_REASON = (
    "GPUs are hidden: the lessons run their replicas on logical CPUs so that every runtime computes "
    "the same float32 results (a GPU uses other convolution algorithms, and TensorFloat-32 on recent GPUs) "
    "and the worker processes of notebooks 05 and 07 do not compete for one GPU's memory."
)
KEEP_REASON = (
    f"{KEEP_GPUS_ENV}=1: the replicas run on the GPUs; results differ from the CPU runs by more than float32 "
    "rounding, so the recorded outputs of the lessons are not expected to match"
)


@dataclass(frozen=True)
class ReplicaDevices:
    """What :func:`use_cpu_replicas` set up.

    Attributes:
        devices: the replica device names, ``("/cpu:0", ..., "/cpu:{n-1}")``, or ``("/gpu:0", ...)``
            with ``DISTSAVE_KEEP_GPUS=1`` on a machine with a GPU.
        hidden_gpus: how many physical GPUs were hidden from TensorFlow (0 on a CPU-only machine).
        reason: why GPUs were hidden or kept (empty when there were none).
        kept_gpus: how many physical GPUs the replicas run on (0 unless ``DISTSAVE_KEEP_GPUS=1``).
        split_gpu: the replicas are logical GPUs split from one physical GPU.
    """

    devices: tuple[str, ...]
    hidden_gpus: int
    reason: str
    kept_gpus: int = 0
    split_gpu: bool = False

    @property
    def num_replicas(self) -> int:
        return len(self.devices)


def _check_count(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer number of replicas, got {n!r}")
    return n


def keep_gpus_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``DISTSAVE_KEEP_GPUS`` asks for the GPUs: ``"1"`` yes; unset, ``""`` or ``"0"`` no.

    Args:
        environ: the environment to read (default: ``os.environ``).

    Raises:
        ValueError: any other value; the message says what to set.
    """
    value = (os.environ if environ is None else environ).get(KEEP_GPUS_ENV)
    if value is None or value.strip() in ("", "0"):
        return False
    if value.strip() == "1":
        return True
    raise ValueError(
        f"{KEEP_GPUS_ENV}={value!r} is not understood: set {KEEP_GPUS_ENV}=1 to run the replicas on the GPUs, "
        f"or unset it (or set {KEEP_GPUS_ENV}=0) to run them on logical CPUs"
    )


def plan_cpu_replicas(n: int, physical_gpus: Sequence[object]) -> ReplicaDevices:
    """The plan for ``n`` replicas given the machine's physical GPUs (pure logic, no TensorFlow).

    Always ``n`` logical CPUs; any GPUs are hidden, with :data:`GPU_REASON` as the reason.
    """
    n = _check_count(n)
    hidden = len(physical_gpus)
    return ReplicaDevices(_cpu_names(n), hidden, GPU_REASON if hidden else "")


def plan_replicas(n: int, physical_gpus: Sequence[object], keep_gpus: bool) -> ReplicaDevices:
    """The plan for ``n`` replicas (pure logic, no TensorFlow).

    Without ``keep_gpus``, or without a GPU: :func:`plan_cpu_replicas`.  With both: the first
    ``n`` GPUs if there are ``n``, else the first GPU split into ``n`` logical GPUs; the GPUs
    not used are hidden.
    """
    n = _check_count(n)
    if not isinstance(keep_gpus, bool):
        raise TypeError(f"keep_gpus must be a bool, got {type(keep_gpus).__name__}")
    if not keep_gpus or not physical_gpus:
        return plan_cpu_replicas(n, physical_gpus)
    gpus = tuple(f"/gpu:{i}" for i in range(n))
    if len(physical_gpus) >= n:
        return ReplicaDevices(gpus, len(physical_gpus) - n, KEEP_REASON, kept_gpus=n)
    return ReplicaDevices(gpus, len(physical_gpus) - 1, KEEP_REASON, kept_gpus=1, split_gpu=n > 1)


def use_cpu_replicas(n: int = 2) -> ReplicaDevices:
    """Split the first physical CPU into ``n`` logical devices and hide any GPU.

    With ``DISTSAVE_KEEP_GPUS=1`` and at least one GPU, the replicas are GPUs instead (see the
    module docstring and :func:`plan_replicas`).  Call it before anything else touches
    TensorFlow's runtime.  Calling it again with the same ``n`` is harmless (re-running a
    notebook cell works).

    Raises:
        ValueError: ``n`` is not a positive integer, or ``DISTSAVE_KEEP_GPUS`` is neither ``1``,
            ``0`` nor empty.
        RuntimeError: TensorFlow was initialised before the split; the message says to
            restart the kernel.
    """
    n = _check_count(n)
    keep = keep_gpus_requested()

    import tensorflow as tf

    physical_gpus = tf.config.list_physical_devices("GPU")
    plan = plan_replicas(n, physical_gpus, keep)
    if plan.kept_gpus:
        return _use_gpus(tf, plan, physical_gpus)
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


def _use_gpus(tf, plan: ReplicaDevices, physical_gpus: Sequence[object]) -> ReplicaDevices:
    """Apply a GPU plan (not run here: no GPU on the machines that check this collection)."""
    n = plan.num_replicas
    used = list(physical_gpus[: plan.kept_gpus])
    try:
        tf.config.set_visible_devices(used, "GPU")
        if plan.split_gpu:
            split = [tf.config.LogicalDeviceConfiguration(memory_limit=GPU_MEMORY_LIMIT_MB)] * n
            tf.config.set_logical_device_configuration(used[0], split)
        else:
            for gpu in used:
                tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError as err:
        if len(tf.config.list_logical_devices("GPU")) == n:  # the same set-up again: harmless
            return plan
        raise RuntimeError(_GPU_RESTART_HINT.format(n=n)) from err
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")  # this runtime and the processes started from here
    return plan


def _cpu_names(n: int) -> tuple[str, ...]:
    return tuple(f"/cpu:{i}" for i in range(n))


def replica_devices() -> list[str]:
    """The device names to mirror over: the logical CPUs, or the GPUs kept by ``DISTSAVE_KEEP_GPUS=1``."""
    import tensorflow as tf

    if keep_gpus_requested():
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return [f"/gpu:{i}" for i in range(len(gpus))]
    return list(_cpu_names(len(tf.config.list_logical_devices("CPU"))))


def mirrored_strategy(num_replicas: int | None = None):
    """A ``tf.distribute.MirroredStrategy`` over the first ``num_replicas`` replica devices (default: all).

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
