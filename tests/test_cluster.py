"""cluster/: the manifests agree with each other and with the scripts; the entrypoint builds TF_CONFIG or says what
to set; and the Job's own container command runs notebook 10's preemption for 2 "pods" on this machine.

The pods' DNS names (``distsave-train-<i>.distsave-workers``) are mapped to 127.0.0.2 and 127.0.0.3 on free ports
through the entrypoint's ``CLUSTER_HOSTS_OVERRIDE``; everything else each "pod" gets is the Job's environment plus the
``JOB_COMPLETION_INDEX`` Kubernetes adds. The image paths of the command (/app, /shared) are mapped to temporary
folders, and the scripts in /app/scripts are the ones ``entrypoint.py --write-scripts`` writes from the lessons.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import multiworker
from helpers.multiworker_config import PAUSE_AT_ENV, PAUSED_FILE_ENV
from helpers.preemption import NOT_GOOGLE_CLOUD
from helpers.processes import ProcessGroup, free_ports, run_python

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "cluster"
_spec = importlib.util.spec_from_file_location("cluster_entrypoint", CLUSTER / "entrypoint.py")
entrypoint = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(entrypoint)


def manifest(name: str) -> dict:
    (doc,) = list(yaml.safe_load_all((CLUSTER / name).read_text(encoding="utf-8")))
    return doc


JOB, SERVICE, VOLUME = manifest("job.yaml"), manifest("service.yaml"), manifest("volume.yaml")
POD = JOB["spec"]["template"]["spec"]
(CONTAINER,) = POD["containers"]


def job_env() -> dict[str, str]:
    """The container's environment as the Job gives it (literal values only: nothing comes from the downward API)."""
    env = {}
    for item in CONTAINER["env"]:
        assert set(item) == {"name", "value"}, f"{item['name']}: only literal values, so that the test can give them"
        env[item["name"]] = item["value"]
    return env


def pod_env(index: int, **extra: str) -> dict[str, str]:
    """What pod ``index`` sees: the Job's environment, the index Kubernetes adds, and the test's extra variables."""
    return {**job_env(), "JOB_COMPLETION_INDEX": str(index), **extra}


# ----------------------------------------------------------------------------- fast: the manifests agree
def test_the_manifests_agree_with_each_other():
    env = job_env()
    spec = JOB["spec"]
    assert spec["completionMode"] == "Indexed"
    assert int(env["CLUSTER_WORKERS"]) == spec["completions"] == spec["parallelism"] == 2
    assert env["CLUSTER_JOB_NAME"] == JOB["metadata"]["name"] == SERVICE["spec"]["selector"]["job-name"]
    assert env["CLUSTER_SERVICE"] == POD["subdomain"] == SERVICE["metadata"]["name"]
    assert SERVICE["spec"]["clusterIP"] == "None"  # headless
    (port,) = CONTAINER["ports"]
    (service_port,) = SERVICE["spec"]["ports"]
    assert int(env["CLUSTER_PORT"]) == port["containerPort"] == service_port["port"] == service_port["targetPort"]
    (volume,) = POD["volumes"]
    (mount,) = CONTAINER["volumeMounts"]
    assert (
        volume["persistentVolumeClaim"]["claimName"] == VOLUME["metadata"]["name"] and mount["name"] == volume["name"]
    )
    assert VOLUME["spec"]["accessModes"] == ["ReadWriteMany"]
    script, workdir = CONTAINER["args"]
    assert CONTAINER["command"] == ["python", "/app/entrypoint.py"]
    assert script.startswith("/app/scripts/") and workdir.startswith(mount["mountPath"] + "/")


def test_the_commented_gpu_lines_are_the_containers_resources_once_uncommented():
    """job.yaml shows a GPU pod's resources commented out (nothing here has a GPU): uncommented, they are the worker
    container's limits, and the rest of the Job is unchanged (TF_CONFIG comes from the same environment)."""
    text = (CLUSTER / "job.yaml").read_text(encoding="utf-8")
    gpu = re.sub(r"^( *)# (resources:|  limits:|    nvidia\.com/gpu: \d+)$", r"\1\2", text, flags=re.MULTILINE)
    (doc,) = list(yaml.safe_load_all(gpu))
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    assert container.pop("resources") == {"limits": {"nvidia.com/gpu": 4}}
    assert doc == JOB
    assert "PER_REPLICA_BATCH" in text and "GPU pods" in (ROOT / "docs" / "cluster.md").read_text(encoding="utf-8")


def test_the_failure_policy_matches_the_scripts():
    """Exit code 42 (preempt_train.py's restart code) restarts the pod; the entrypoint's bad-environment code fails
    the Job; the handler sees SIGTERM as the notice everywhere, as in notebook 10."""
    assert POD["restartPolicy"] == "Never"  # podFailurePolicy requires it
    rules = {
        (r["action"], tuple(r["onExitCodes"]["values"]))
        for r in JOB["spec"]["podFailurePolicy"]["rules"]
        if "onExitCodes" in r
    }
    source = entrypoint.lesson_scripts(ROOT / "lessons")["preempt_train.py"]
    restart = int(re.search(r"^RESTART_CODE = (\d+)", source, flags=re.MULTILINE)[1])
    assert rules == {("Ignore", (restart,)), ("FailJob", (entrypoint.BAD_ENVIRONMENT,))}
    assert all(
        r["onExitCodes"]["containerName"] == CONTAINER["name"]
        for r in JOB["spec"]["podFailurePolicy"]["rules"]
        if "onExitCodes" in r
    )
    disruption = [r for r in JOB["spec"]["podFailurePolicy"]["rules"] if "onPodConditions" in r]
    assert [(r["action"], r["onPodConditions"][0]["type"]) for r in disruption] == [("Ignore", "DisruptionTarget")]
    assert {k: job_env()[k] for k in NOT_GOOGLE_CLOUD} == NOT_GOOGLE_CLOUD
    grace = POD["terminationGracePeriodSeconds"]
    assert f"`job.yaml` sets {grace} s" in (ROOT / "docs" / "cluster.md").read_text(encoding="utf-8")


def test_make_lint_validates_every_manifest_against_the_version_the_docs_state():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    (line,) = [ln for ln in makefile.splitlines() if "kubernetes_validate" in ln]
    assert "--strict" in line and line.rstrip().endswith("cluster/*.yaml")
    version = re.search(r"--kubernetes-version (\d+\.\d+)\.0", line)[1]
    assert sorted(p.name for p in CLUSTER.glob("*.yaml")) == [
        "job.yaml",
        "networkpolicy.yaml",
        "service.yaml",
        "volume.yaml",
    ]
    assert f"Kubernetes {version}" in (ROOT / "docs" / "cluster.md").read_text(encoding="utf-8")


def test_links_to_this_page_from_the_readme_and_the_notebooks_work_on_the_site():
    sys.path.insert(0, str(ROOT / "scripts"))
    import docs_site  # noqa: PLC0415  (scripts/ is not a package)

    assert docs_site.offline_markdown("[page](docs/cluster.md)") == "[page](cluster.md)"  # README.md -> index.md
    assert docs_site.offline_markdown("[page](../docs/cluster.md#the-image)") == "[page](../cluster.md#the-image)"


# ----------------------------------------------------------------------------- fast: TF_CONFIG and bad environments
def test_tf_config_names_every_pod_by_its_dns_name():
    for index in (0, 1):
        config = json.loads(entrypoint.tf_config(pod_env(index)))
        assert config == {
            "cluster": {"worker": ["distsave-train-0.distsave-workers:2222", "distsave-train-1.distsave-workers:2222"]},
            "task": {"type": "worker", "index": index},
        }
    env = pod_env(2, CLUSTER_WORKERS="3", CLUSTER_PORT="", CLUSTER_JOB_NAME="j", CLUSTER_SERVICE="s")
    assert json.loads(entrypoint.tf_config(env))["cluster"]["worker"] == ["j-0.s:2222", "j-1.s:2222", "j-2.s:2222"]


def test_the_hosts_override_maps_names_to_loopback_addresses_only():
    override = json.dumps({"distsave-train-1.distsave-workers": "127.0.0.3:23456"})
    config = json.loads(entrypoint.tf_config(pod_env(0, CLUSTER_HOSTS_OVERRIDE=override)))
    assert config["cluster"]["worker"] == ["distsave-train-0.distsave-workers:2222", "127.0.0.3:23456"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            {"JOB_COMPLETION_INDEX": None},
            "JOB_COMPLETION_INDEX is not set: Kubernetes sets it .* completionMode: Indexed",
        ),
        ({"JOB_COMPLETION_INDEX": "one"}, "JOB_COMPLETION_INDEX='one' is not an integer"),
        ({"JOB_COMPLETION_INDEX": "-1"}, "JOB_COMPLETION_INDEX='-1' must be at least 0"),
        (
            {"JOB_COMPLETION_INDEX": "2"},
            "JOB_COMPLETION_INDEX=2 is not below CLUSTER_WORKERS=2: make CLUSTER_WORKERS equal",
        ),
        ({"CLUSTER_WORKERS": None}, "CLUSTER_WORKERS is not set: set it to the Job's completions"),
        ({"CLUSTER_WORKERS": "two"}, "CLUSTER_WORKERS='two' is not an integer: set it to the Job's completions"),
        ({"CLUSTER_WORKERS": "1.5"}, "CLUSTER_WORKERS='1.5' is not an integer"),
        ({"CLUSTER_WORKERS": "0"}, "CLUSTER_WORKERS='0' must be at least 1"),
        ({"CLUSTER_JOB_NAME": None}, "CLUSTER_JOB_NAME is not set: set it to the Job's metadata.name"),
        ({"CLUSTER_SERVICE": " "}, "CLUSTER_SERVICE is not set: set it to the headless Service's name"),
        ({"CLUSTER_PORT": "http"}, "CLUSTER_PORT='http' is not an integer: set it to the port"),
        ({"CLUSTER_PORT": "70000"}, "CLUSTER_PORT=70000 is not a TCP port"),
        ({"TF_CONFIG": '{"cluster": {}}'}, "TF_CONFIG is already set .* run the worker script directly"),
        ({"CLUSTER_HOSTS_OVERRIDE": "127.0.0.2"}, "CLUSTER_HOSTS_OVERRIDE is not JSON"),
        ({"CLUSTER_HOSTS_OVERRIDE": '{"other-0.svc": "127.0.0.2:1"}'}, "names 'other-0.svc', which is none of"),
        ({"CLUSTER_HOSTS_OVERRIDE": '{"distsave-train-0.distsave-workers": "10.0.0.2:1"}'}, "not a loopback"),
    ],
)
def test_a_bad_environment_says_what_to_set(change, match):
    env = pod_env(0)
    for name, value in change.items():
        if value is None:
            env.pop(name)
        else:
            env[name] = value
    with pytest.raises(ValueError, match=match):
        entrypoint.tf_config(env)


def test_the_command_line_exits_with_code_2_and_the_reason(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text("print('never run')\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    cases = [
        ({**env, **pod_env(0), "JOB_COMPLETION_INDEX": "5"}, [str(script), str(tmp_path / "w")], "is not below"),
        ({**env, **pod_env(0)}, [str(tmp_path / "missing.py"), str(tmp_path / "w")], "--write-scripts DIR"),
        ({**env, **pod_env(0)}, [str(script)], "entrypoint.py SCRIPT WORKDIR"),
    ]
    for case_env, args, reason in cases:
        cmd = [sys.executable, str(CLUSTER / "entrypoint.py"), *args]
        out = subprocess.run(cmd, env=case_env, capture_output=True, text=True, timeout=60)
        assert out.returncode == entrypoint.BAD_ENVIRONMENT and out.stdout == ""
        assert out.stderr.startswith("entrypoint: ValueError: ") and reason in out.stderr, out.stderr
    assert not (tmp_path / "w").exists()  # nothing was started or created


def test_the_scripts_written_for_the_image_are_the_notebooks_cells(tmp_path):
    """``--write-scripts`` writes exactly the ``%%writefile`` cells of notebooks 07 and 10 (the sources the notebooks
    show), with 07's shared module next to its scripts."""
    written = {p.name: p.read_text(encoding="utf-8") for p in entrypoint.write_scripts(tmp_path / "scripts")}
    cells = {}
    for notebook in ("07_multi_worker.ipynb", "10_preemption.ipynb"):
        for cell in json.loads((ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and source.startswith("%%writefile "):
                name, _, body = source.removeprefix("%%writefile ").partition("\n")
                cells[name.strip()] = body
    assert set(written) == set(cells) >= {"mnist_setup.py", "ctl.py", "tf_keras_fit.py", "preempt_train.py"}
    assert {name: text.rstrip() for name, text in written.items()} == {n: t.rstrip() for n, t in cells.items()}
    with pytest.raises(ValueError, match="lessons/ folder of a checkout"):
        entrypoint.write_scripts(tmp_path / "elsewhere", lessons_dir=tmp_path)


# ----------------------------------------------------------------------------- real: the Job's command, 2 "pods"
HARD_TIMEOUT = 240


def image_paths(tmp_path: Path) -> dict[str, Path]:
    """The image's paths on this machine: /app (the entrypoint, and the scripts it writes) and the /shared mount."""
    entrypoint.write_scripts(tmp_path / "app" / "scripts")
    (tmp_path / "shared").mkdir()
    (mount,) = CONTAINER["volumeMounts"]
    return {"/app/": tmp_path / "app", mount["mountPath"] + "/": tmp_path / "shared"}


def pod_command(paths: dict[str, Path], args: list[str] | None = None) -> list[str]:
    """The Job's container command + args, with python as this interpreter and the image's paths mapped by ``paths``
    (/app/entrypoint.py is the repository's cluster/entrypoint.py)."""

    def local(word: str) -> str:
        if word == "/app/entrypoint.py":
            return str(CLUSTER / "entrypoint.py")
        for prefix, path in paths.items():
            if word.startswith(prefix):
                return str(path / word.removeprefix(prefix))
        return word

    python, *rest = CONTAINER["command"] + (args if args is not None else CONTAINER["args"])
    assert python == "python"
    return [sys.executable, *(local(word) for word in rest)]


def start_pods(group, paths, logs: Path, attempt: int, extra: dict[int, dict[str, str]] | None = None, args=None):
    """Start one process per worker, as the Job starts its pods: same command, the Job's environment, new addresses."""
    names = entrypoint.worker_names(JOB["metadata"]["name"], SERVICE["metadata"]["name"], JOB["spec"]["completions"])
    ports = free_ports(len(names))
    override = json.dumps(
        {name: f"127.0.0.{2 + i}:{port}" for i, (name, port) in enumerate(zip(names, ports, strict=True))}
    )
    procs = []
    for i in range(len(names)):
        env = pod_env(i, CLUSTER_HOSTS_OVERRIDE=override, **(extra or {}).get(i, {}))
        procs.append(group.start(pod_command(paths, args), env=env, log=multiworker.log_path(logs, attempt, i)))
    return procs


def steps(logs: Path, attempt: int, worker: int) -> tuple[list[int], list[str]]:
    lines = multiworker.events(multiworker.log_path(logs, attempt, worker))
    return multiworker.step_losses(lines)[0], [line for line in lines if not line.startswith("step ")]


LINUX_ONLY = pytest.mark.skipif(
    sys.platform != "linux", reason="needs 127.0.0.2 and 127.0.0.3 on loopback and /proc (Linux)"
)


@LINUX_ONLY
def test_the_jobs_command_survives_a_sigterm_to_one_pod(tmp_path, hard_timeout, monkeypatch):
    """10's preempt_train.py through the Job's own command for 2 pods: it trains; a SIGTERM to pod 1 (which waits
    after step 7 for it, as in notebook 10) makes both pods save after step 8 and exit with 42 well within the
    grace period; the replacement pods (same names, new addresses) resume at step 9: 0 steps redone."""
    monkeypatch.delenv("TF_CONFIG", raising=False)
    paths, logs = image_paths(tmp_path), tmp_path / "logs"
    logs.mkdir()
    workdir = Path(pod_command(paths)[-1])
    paused = tmp_path / "paused-pod1"
    pause = {1: {PAUSE_AT_ENV: "2:2", PAUSED_FILE_ENV: str(paused)}}  # notebook 10's hook: a known step
    grace = POD["terminationGracePeriodSeconds"]
    start = time.monotonic()
    with ProcessGroup() as group:
        first = start_pods(group, paths, logs, attempt=1, extra=pause)
        multiworker.wait_for_file(paused, timeout=120, procs=first)
        cmdline = Path(f"/proc/{first[1].pid}/cmdline").read_bytes().split(b"\0")
        assert any(arg.endswith(b"preempt_train.py") for arg in cmdline) and not any(
            b"entrypoint" in a for a in cmdline
        )
        sent = time.monotonic()
        group.kill(first[1], signal.SIGTERM)  # what the kubelet does to a pod it stops
        preempted = group.wait(grace, first)
        sigterm_to_exit = time.monotonic() - sent
        temp_left = (workdir / "workertemp_1").exists()  # pod 1 saved into it, then deleted it
        second = start_pods(group, paths, logs, attempt=2)  # the replacement pods
        resumed = group.wait(120, second)
        alive = group.alive()
    seconds = time.monotonic() - start
    print(f"2 pods: {seconds:.1f} s; SIGTERM to exit {sigterm_to_exit:.1f} s; codes {preempted} then {resumed}")
    assert preempted == [42, 42] and resumed == [0, 0] and alive == []
    assert sigterm_to_exit < grace
    for i in (0, 1):
        header = multiworker.log_path(logs, 1, i).read_text(encoding="utf-8").splitlines()[0]
        assert header.startswith("entrypoint: TF_CONFIG=") and f'"index": {i}' in header
    before, notes_before = steps(logs, 1, 0)
    after, notes_after = steps(logs, 2, 0)
    assert before == steps(logs, 1, 1)[0] == list(range(1, 9))  # trained in lockstep to step 8, then saved
    replicas = "replicas: 1 on this worker, 2 in all; global batch 32"  # one CPU replica per pod
    assert notes_before[:2] == [replicas, "starting at step 1"]
    assert notes_before[-1] == "saved after step 8, exiting with code 42"
    assert after == steps(logs, 2, 1)[0] == list(range(9, 16)) and notes_after == [
        replicas,
        "starting at step 9",
        "finished after step 15",
    ]
    redone = set(before) & set(after)
    print(f"steps redone: {len(redone)}")
    assert not redone and set(before) | set(after) == set(range(1, 16))
    checkpoint = workdir / "checkpoints"
    assert sorted(p.name for p in checkpoint.iterdir()) == ["checkpoint", "ckpt-1.data-00000-of-00001", "ckpt-1.index"]
    assert sum(p.stat().st_size for p in checkpoint.iterdir()) < 10_000  # "a few kB" (volume.yaml)
    assert not temp_left
    # The handler's constructor creates workertemp_1 on every start of pod 1 and deletes it only after a preemption
    # save: after a run that ends normally it stays behind, empty.
    assert list((workdir / "workertemp_1").iterdir()) == []


@pytest.mark.slow  # ~10 s, mostly importing TensorFlow
def test_without_the_handler_a_worker_carries_on_after_sigterm(monkeypatch):
    """Once a MultiWorkerMirroredStrategy exists, TensorFlow itself catches SIGTERM (its preemption notifier logs it)
    and the process goes on: 07's scripts, which have no PreemptionCheckpointHandler, stop only at the SIGKILL that
    ends the grace period (docs/cluster.md)."""
    monkeypatch.delenv("TF_CONFIG", raising=False)
    (port,) = free_ports(1)
    code = """
        import os, signal, time
        import tensorflow as tf
        tf.distribute.MultiWorkerMirroredStrategy()
        status = open("/proc/self/status").read().split("SigCgt:")[1].split()[0]
        print("SIGTERM caught by a handler:", bool(int(status, 16) >> (signal.SIGTERM - 1) & 1))
        print("Python's handler:", signal.getsignal(signal.SIGTERM) == signal.SIG_DFL and "the default")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)
        print("alive after SIGTERM")
    """
    config = json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}"]}, "task": {"type": "worker", "index": 0}})
    run = run_python(code, env={"TF_CONFIG": config}, timeout=120)
    assert run.returncode == 0
    assert run.stdout.splitlines() == [
        "SIGTERM caught by a handler: True",  # TensorFlow's, in C++: Python still reports the default
        "Python's handler: the default",
        "alive after SIGTERM",
    ]


@LINUX_ONLY
@pytest.mark.slow  # ~30 s: notebook 07 runs ctl.py under nbval; this adds only the Job's command around it
def test_the_jobs_command_runs_07s_ctl_script(tmp_path, hard_timeout, monkeypatch):
    """07's route A through the same entrypoint (the args job.yaml names for 07): both pods train 3 epochs, the chief
    saves model.keras into the shared folder, the other pod removes its temporary copy."""
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", os.environ.get("TFDS_DATA_DIR", str(ROOT / "data" / "tensorflow_datasets")))
    assert "/app/scripts/ctl.py" in (CLUSTER / "job.yaml").read_text(encoding="utf-8")
    paths, logs = image_paths(tmp_path), tmp_path / "logs"
    logs.mkdir()
    args = ["/app/scripts/ctl.py", "/shared/ctl"]
    with ProcessGroup() as group:
        codes = group.wait(180, start_pods(group, paths, logs, attempt=1, args=args))
    assert codes == [0, 0], multiworker.log_path(logs, 1, 0).read_text(encoding="utf-8")[-2000:]
    workdir = tmp_path / "shared" / "ctl"
    assert (workdir / "model.keras").is_file() and (workdir / "predictions.npy").is_file()
    assert not list(workdir.glob("workertemp_*"))
    assert steps(logs, 1, 0)[0] == steps(logs, 1, 1)[0] == list(range(1, 16))
