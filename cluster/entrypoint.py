"""One worker of cluster/job.yaml: build TF_CONFIG from the pod's place in the Indexed Job, then become the worker.

    python entrypoint.py SCRIPT WORKDIR        # in every pod: the Job's command
    python entrypoint.py --write-scripts DIR   # when building the image: notebook 07's and 10's worker scripts

In a pod, ``TF_CONFIG`` comes from the environment the Job gives it:

* ``JOB_COMPLETION_INDEX`` (set by Kubernetes in every pod of an Indexed Job): this worker's task index;
* ``CLUSTER_WORKERS``: the number of workers (the Job's ``completions`` and ``parallelism``);
* ``CLUSTER_JOB_NAME`` and ``CLUSTER_SERVICE``: the Job's name and the headless Service's name (the pod template's
  ``subdomain``); worker ``i`` is reached at ``<job>-<i>.<service>``, the DNS name Kubernetes gives that pod;
* ``CLUSTER_PORT`` (default 2222): the port every worker listens on.

Then the process *becomes* ``python SCRIPT WORKDIR`` (``os.execv``, same PID), so Kubernetes' SIGTERM reaches the
worker script itself. The scripts are those of notebooks 07 and 10, unchanged. Standard library only: the image
needs no helpers.

``CLUSTER_HOSTS_OVERRIDE`` is for tests on one machine: a JSON object mapping pod DNS names to ``127.x.x.x:port``
addresses, used instead of ``<name>:<CLUSTER_PORT>`` (tests/test_cluster.py runs two "pods" that way).

Every bad environment is a ``ValueError`` that says what to set; the command line prints it and exits with
:data:`BAD_ENVIRONMENT` (the Job fails at once instead of retrying).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

DEFAULT_PORT = 2222
BAD_ENVIRONMENT = 2  #: exit code for a bad environment or command line (job.yaml's podFailurePolicy: FailJob)
#: The lesson files whose ``%%writefile`` cells are the worker scripts (and 07's shared module, mnist_setup.py).
LESSONS = ("07_multi_worker.py", "10_preemption.py")
WRITEFILE = re.compile(r"^# %%writefile (?P<name>\S+)\n", re.MULTILINE)
CELL = re.compile(r"^# %%(?: .*)?$\n", re.MULTILINE)


def _count(env: Mapping[str, str], name: str, what: str, minimum: int) -> int:
    text = env.get(name)
    if text is None or not text.strip():
        raise ValueError(f"{name} is not set: {what}")
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"{name}={text!r} is not an integer: {what}") from None
    if value < minimum:
        raise ValueError(f"{name}={text!r} must be at least {minimum}: {what}")
    return value


def _name(env: Mapping[str, str], name: str, what: str) -> str:
    text = (env.get(name) or "").strip()
    if not text:
        raise ValueError(f"{name} is not set: {what}")
    return text


def worker_names(job: str, service: str, workers: int) -> list[str]:
    """The pod DNS names of an Indexed Job's workers: ``<job>-<index>.<service>``."""
    return [f"{job}-{index}.{service}" for index in range(workers)]


def _overrides(text: str, names: list[str]) -> dict[str, str]:
    """Parse ``CLUSTER_HOSTS_OVERRIDE``: pod DNS names to loopback ``host:port`` addresses."""
    what = 'it maps pod DNS names to loopback addresses, e.g. {"job-0.svc": "127.0.0.2:23456"} (for tests only)'
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"CLUSTER_HOSTS_OVERRIDE is not JSON: {what}") from None
    if not isinstance(mapping, dict):
        raise ValueError(f"CLUSTER_HOSTS_OVERRIDE is not a JSON object: {what}")
    for name, address in mapping.items():
        if name not in names:
            raise ValueError(f"CLUSTER_HOSTS_OVERRIDE names {name!r}, which is none of the workers {names}: {what}")
        host, _, port = str(address).rpartition(":")
        try:
            loopback = ipaddress.ip_address(host).is_loopback and 0 < int(port) < 65536
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"CLUSTER_HOSTS_OVERRIDE maps {name!r} to {address!r}, not a loopback host:port: {what}")
    return mapping


def tf_config(env: Mapping[str, str]) -> str:
    """The ``TF_CONFIG`` JSON for the worker that ``env`` describes (see the module docstring).

    Raises:
        ValueError: a variable is missing or malformed, the index is not below the worker count, or ``TF_CONFIG``
            is already set (then the platform configures the workers itself: run the script without this entrypoint).
    """
    if env.get("TF_CONFIG"):
        raise ValueError(
            "TF_CONFIG is already set (a TFJob or Vertex AI sets it for each worker): "
            "run the worker script directly, without this entrypoint"
        )
    workers = _count(env, "CLUSTER_WORKERS", "set it to the Job's completions (= parallelism), e.g. 2", 1)
    index = _count(
        env,
        "JOB_COMPLETION_INDEX",
        "Kubernetes sets it in the pods of a Job with completionMode: Indexed; elsewhere set it to this worker's "
        f"index (0 to {workers - 1})",
        0,
    )
    if index >= workers:
        raise ValueError(
            f"JOB_COMPLETION_INDEX={index} is not below CLUSTER_WORKERS={workers}: "
            "make CLUSTER_WORKERS equal to the Job's completions, so that every index is a worker"
        )
    job = _name(env, "CLUSTER_JOB_NAME", "set it to the Job's metadata.name (pod hostnames are <job>-<index>)")
    service = _name(env, "CLUSTER_SERVICE", "set it to the headless Service's name (= the pod template's subdomain)")
    port = DEFAULT_PORT
    if (env.get("CLUSTER_PORT") or "").strip():
        port = _count(env, "CLUSTER_PORT", "set it to the port every worker listens on, e.g. 2222", 1)
        if port > 65535:
            raise ValueError(f"CLUSTER_PORT={port} is not a TCP port: set it to a port from 1 to 65535, e.g. 2222")
    names = worker_names(job, service, workers)
    overrides = _overrides(env["CLUSTER_HOSTS_OVERRIDE"], names) if env.get("CLUSTER_HOSTS_OVERRIDE") else {}
    addresses = [overrides.get(name, f"{name}:{port}") for name in names]
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def lesson_scripts(lessons_dir: str | os.PathLike) -> dict[str, str]:
    """The ``%%writefile NAME`` cells of notebooks 07 and 10: file name to source, as the notebooks write them."""
    scripts = {}
    for lesson in LESSONS:
        path = Path(lessons_dir) / lesson
        if not path.is_file():
            raise ValueError(f"{path} does not exist: pass the lessons/ folder of a checkout of this repository")
        for cell in CELL.split(path.read_text(encoding="utf-8")):
            match = WRITEFILE.match(cell)
            if match:
                scripts[match["name"]] = cell[match.end() :].rstrip("\n") + "\n"
    return scripts


def write_scripts(out_dir: str | os.PathLike, lessons_dir: str | os.PathLike | None = None) -> list[Path]:
    """Write notebook 07's and 10's worker scripts into ``out_dir`` (created if needed); return their paths."""
    lessons_dir = Path(lessons_dir) if lessons_dir is not None else Path(__file__).resolve().parent.parent / "lessons"
    scripts = lesson_scripts(lessons_dir)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    written = []
    for name, source in sorted(scripts.items()):
        written.append(Path(out_dir) / name)
        written[-1].write_text(source, encoding="utf-8")
    return written


def worker_command(script: str, workdir: str) -> list[str]:
    """``python SCRIPT WORKDIR`` with this interpreter; a local ``workdir`` is created if it does not exist yet.

    Raises:
        ValueError: ``script`` is not an existing ``.py`` file.
    """
    if not script.endswith(".py") or not os.path.isfile(script):
        raise ValueError(
            f"{script} is not a Python file in this image: write the scripts with "
            "`python entrypoint.py --write-scripts DIR` when building it (see docs/cluster.md)"
        )
    if "://" not in workdir:  # gs:// and other TensorFlow file systems need no folder made in advance
        os.makedirs(workdir, exist_ok=True)
    return [sys.executable, script, workdir]


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("script", nargs="?", help="the worker script, e.g. /app/scripts/preempt_train.py")
    parser.add_argument("workdir", nargs="?", help="the folder every worker shares, e.g. /shared/preempt")
    parser.add_argument("--write-scripts", metavar="DIR", help="write 07's and 10's worker scripts into DIR")
    args = parser.parse_args(argv)
    env = dict(os.environ if env is None else env)
    try:
        if args.write_scripts:
            for path in write_scripts(args.write_scripts):
                print(path)
            return 0
        if not (args.script and args.workdir):
            raise ValueError("give the worker script and the shared folder: entrypoint.py SCRIPT WORKDIR")
        env["TF_CONFIG"] = tf_config(env)
        command = worker_command(args.script, args.workdir)
    except ValueError as err:
        print(f"entrypoint: ValueError: {err}", file=sys.stderr, flush=True)
        return BAD_ENVIRONMENT
    print(f"entrypoint: TF_CONFIG={env['TF_CONFIG']}", flush=True)
    os.execve(command[0], command, env)  # becomes the worker: same PID, so it receives the pod's SIGTERM


if __name__ == "__main__":
    sys.exit(main())
