"""The worker scripts of notebooks 07 (routes A and B) and 10 with 2 local replicas per worker, as on a GPU cluster.

On a machine with GPUs, every ``MultiWorkerMirroredStrategy`` worker takes each of its GPUs as a local replica: the
global batch is the per-replica batch × workers × devices per worker, and ``strategy.run`` returns a ``PerReplica``
value with one tensor per local replica, which the script must reduce. On a CPU the strategy gives each worker one
device (``CollectiveAllReduceExtended._initialize_local_devices``: the GPUs if there are any, else ``CPU:0`` only), so
the notebooks never meet a ``PerReplica`` of more than one tensor.

What this test stands in for: a cluster of 2 machines with 2 GPUs each. It runs 2 real worker processes (``TF_CONFIG``,
collectives between the processes); in each, before the script starts, the CPU is split into 2 logical devices and
that lookup is patched to return both (:data:`STAND_IN`). The worker scripts are the lessons' own ``%%writefile`` cells,
unchanged (``cluster/entrypoint.py``'s ``lesson_scripts``, which also writes them for the cluster image); only the
device type differs from a GPU machine. No GPU runs here.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from helpers import multiworker
from helpers.processes import ProcessGroup

ROOT = Path(__file__).resolve().parent.parent
HARD_TIMEOUT = 240  # per test (conftest's hard_timeout); each takes 10-20 s on a 2-core CPU
_spec = importlib.util.spec_from_file_location("cluster_entrypoint", ROOT / "cluster" / "entrypoint.py")
entrypoint = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(entrypoint)

#: Runs SCRIPT (next to this file) with sys.argv[1:] as its arguments, every worker having 2 local CPU replicas.
STAND_IN = """\
import os
import runpy
import sys

import tensorflow as tf
from tensorflow.python.distribute import collective_all_reduce_strategy

(cpu,) = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


def two_local_replicas(self, cluster_resolver, worker_device):  # instead of "the GPUs if any, else CPU:0"
    return tuple(f"{worker_device}/device:CPU:{i}" for i in range(2)), "CPU"


collective_all_reduce_strategy.CollectiveAllReduceExtended._initialize_local_devices = two_local_replicas
script = os.path.join(os.path.dirname(os.path.abspath(__file__)), SCRIPT)
sys.argv[0] = script
runpy.run_path(script, run_name="__main__")
"""


def run_with_two_local_replicas(folder: Path, name: str) -> list[list[str]]:
    """Run the lesson script ``name`` on 2 workers with 2 local replicas each; return each worker's event lines."""
    for script, source in entrypoint.lesson_scripts(ROOT / "lessons").items():
        (folder / script).write_text(source, encoding="utf-8")
    stand_in = folder / f"two_local_replicas_{name}"
    stand_in.write_text(f"SCRIPT = {name!r}\n" + STAND_IN, encoding="utf-8")
    workdir = folder / "shared"
    workdir.mkdir()
    with ProcessGroup() as group:
        codes = group.wait(180, multiworker.launch(group, stand_in, workdir))
    logs = [multiworker.log_path(workdir, 1, i) for i in range(2)]
    assert codes == [0, 0], "\n".join(log.read_text(encoding="utf-8", errors="replace")[-3000:] for log in logs)
    return [multiworker.events(log) for log in logs]


@pytest.fixture(autouse=True)
def _no_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", os.environ.get("TFDS_DATA_DIR", str(ROOT / "data" / "tensorflow_datasets")))


def replicas_line(lines: list[str]) -> str:
    (line,) = [line for line in lines if line.startswith("replicas: ")]
    return line


def test_route_a_custom_loop_reduces_every_value_it_takes_out_of_strategy_run(tmp_path, hard_timeout):
    """07's ctl.py: 32 per replica × 4 replicas = 128 images a step, 640 an epoch, 320 of them on each worker."""
    workers = run_with_two_local_replicas(tmp_path, "ctl.py")
    for index, lines in enumerate(workers):
        assert replicas_line(lines) == "replicas: 2 on this worker, 4 in all; global batch 32 × 4 = 128"
        assert multiworker.step_losses(lines)[0] == list(range(1, 16)), index
        epochs = [line for line in lines if " done at step " in line]
        assert epochs == [f"epoch {e}/3 done at step {5 * e}: 640 images, 320 on this worker" for e in (1, 2, 3)]
    assert workers[0][-1] == "saved model.keras and its predictions"
    assert (tmp_path / "shared" / "model.keras").is_file()


def test_route_b_tf_keras_fit(tmp_path, hard_timeout):
    """07's tf_keras_fit.py: fit takes nothing out of strategy.run itself; it trains 15 steps of 128 images."""
    workers = run_with_two_local_replicas(tmp_path, "tf_keras_fit.py")
    for lines in workers:
        assert replicas_line(lines) == "replicas: 2 on this worker, 4 in all; global batch 32 × 4 = 128"
        assert multiworker.step_losses(lines)[0] == list(range(1, 16))
    assert workers[0][-1] == "saved model and its predictions"


def test_preempt_train_reduces_the_replicas_losses(tmp_path, hard_timeout):
    """10's preempt_train.py: handler.run returns train_step's reduced loss; 16 per replica × 4 = 64 a step."""
    workers = run_with_two_local_replicas(tmp_path, "preempt_train.py")
    for lines in workers:
        assert replicas_line(lines) == "replicas: 2 on this worker, 4 in all; global batch 64"
        assert multiworker.step_losses(lines)[0] == list(range(1, 16))
        assert lines[-1] == "finished after step 15"
