"""The notebooks' Setup cell, run in a stack's environment as Colab runs it (scripts/compat.py).

``setup`` builds the stack's environment (once), puts it back as the stack ships, dry-runs then runs the Setup cell
there with the helpers' GitHub address replaced by a wheel of this checkout, and checks what it did: on Colab it may
install only the helpers and their repair (``check_setup``), and ``tensorflow_datasets`` must work afterwards.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from compat_env import (
    BUILD,
    NOTEBOOKS,
    PIP_TIMEOUT,
    ROOT,
    CompatError,
    Stack,
    build,
    package_name,
    reset,
    run_checked,
    stack_dir,
    tfds_works,
    venv_python,
    versions,
)
from project import HELPERS_URL  # pyproject's [project.urls] Repository (scripts/ is on sys.path)

# What the Setup cell may install on Colab: the helpers, the one dependency of theirs that Colab lacks
# (tensorflow-datasets imports importlib_resources when it prepares a dataset but does not declare it), and the
# tensorflow-metadata repair. Never TensorFlow, Keras, protobuf or numpy.
SETUP_MAY_INSTALL = frozenset({"distsave-helpers", "importlib-resources", "tensorflow-metadata"})
NEVER_REPLACED = ("tensorflow", "keras", "tf-keras", "protobuf", "numpy")


def check_setup(stack: Stack, info: dict, before: dict[str, str], after: dict[str, str]) -> None:
    """Fail if the Setup cell installed anything but SETUP_MAY_INSTALL on Colab, or replaced the stack's own
    TensorFlow, Keras, tf_keras, protobuf or numpy (``before``/``after``: ``versions()`` around the Setup cell)."""
    if stack.name != "colab":
        return
    extra = sorted({package_name(p) for p in info["setup_installs"]} - SETUP_MAY_INSTALL)
    if extra:
        raise CompatError(f"the Setup cell installs {extra} on Colab; it may install only {sorted(SETUP_MAY_INSTALL)}")
    changed = [f"{n} {before.get(n)} -> {after.get(n)}" for n in NEVER_REPLACED if before.get(n) != after.get(n)]
    if changed:
        raise CompatError(f"the Setup cell replaced Colab's own packages: {', '.join(changed)}")


def setup_cell_source(notebook: Path | None = None) -> str:
    """The Setup cell (the first code cell that installs on Colab) of ``notebook`` (default: the first notebook)."""
    notebook = notebook or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))[0]
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code" and '"google.colab" in sys.modules' in cell.source:
            return cell.source
    raise CompatError(f"{notebook.name} has no Setup cell (a code cell testing '\"google.colab\" in sys.modules')")


# Runs inside the stack's Python: the Setup cell as Colab runs it. `google.colab` is present there, and the helpers
# come from this checkout instead of GitHub (this machine reaches only the package registries).
_AS_ON_COLAB = """
import sys, types
sys.modules["google.colab"] = types.ModuleType("google.colab")
source = sys.stdin.read()
exec(compile(source, "<Setup cell>", "exec"), {"__name__": "__main__"})
"""


@functools.cache
def helpers_wheel() -> Path:
    """A wheel of this checkout's helpers: what pip builds from the GitHub address on Colab.

    Built once per process, so that the dry run needs no build step (pip hands PIP_DRY_RUN on to the pip that fills an
    isolated build environment, which then stays empty)."""
    out = BUILD / "wheel"
    shutil.rmtree(out, ignore_errors=True)
    run_checked(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--disable-pip-version-check",
            "-q",
            "--no-deps",
            "-w",
            str(out),
            str(ROOT),
        ],
        what="building the helpers' wheel",
    )
    wheels = sorted(out.glob("distsave_helpers-*.whl"))
    if len(wheels) != 1:
        raise CompatError(f"expected one helpers wheel in {out}, found {[w.name for w in wheels]}")
    return wheels[0]


def run_setup_cell(stack: Stack, *, dry_run_report: Path | None = None) -> None:
    """Execute the Setup cell in the stack's Python as on Colab; with ``dry_run_report``, pip only reports."""
    source = setup_cell_source()
    if HELPERS_URL not in source:
        raise CompatError(
            f"the Setup cell does not install from {HELPERS_URL} (pyproject's [project.urls] "
            "Repository): regenerate the notebooks' Setup cell"
        )
    source = source.replace(HELPERS_URL, helpers_wheel().as_uri())
    env = {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    if dry_run_report:
        env.update(PIP_DRY_RUN="1", PIP_REPORT=str(dry_run_report))
    if stack.helpers_no_deps:
        env["PIP_NO_DEPS"] = "1"
    proc = subprocess.run(
        [str(venv_python(stack)), "-c", _AS_ON_COLAB],
        input=source,
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        env={**os.environ, **env},
        cwd=stack_dir(stack),
    )
    if proc.returncode != 0:
        raise CompatError(f"the Setup cell failed on the {stack.name} stack:\n{proc.stderr[-3000:]}")


def installed_by(report: Path) -> list[str]:
    """``name==version`` of every package a pip ``--report`` says it would install."""
    data = json.loads(report.read_text())
    return sorted(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in data.get("install", []))


def setup(stack: Stack) -> dict:
    """Build, reset, dry-run then run the Setup cell; return what it installed and whether tfds imports.
    On Colab, fail (``check_setup``) if it installed more than the helpers and their repair."""
    py = build(stack)
    reset(stack)
    home = stack_dir(stack)
    tfds_before = tfds_works(py)
    before = versions(py)
    report = home / "setup-dry-run.json"
    run_setup_cell(stack, dry_run_report=report)
    would_install = installed_by(report)
    run_setup_cell(stack)
    tfds_after = tfds_works(py)
    if tfds_after is not True:
        raise CompatError(f"after the Setup cell, tensorflow_datasets is still broken on {stack.name}:\n{tfds_after}")
    info = {"setup_installs": would_install, "tfds_before_setup": tfds_before}
    check_setup(stack, info, before, versions(py))
    return info
