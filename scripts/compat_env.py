"""The stacks `make compat` runs the notebooks on, and their separate virtualenvs (scripts/compat.py).

A stack's environment lives under ``build/compat/<stack>/``: built once from ``compat/<stack>/`` (``pinned`` uses the
project's requirements.txt) and rebuilt when the stack's files change, with a Jupyter kernel of its own. ``reset``
puts it back as it was built (the stack's own versions, nothing a Setup cell added); ``versions`` and ``tfds_works``
read what it holds.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helpers.atomic_save import save_atomically

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build" / "compat"

PIP_TIMEOUT = 1800  # seconds for one pip install (a cold install of a TF stack takes a few minutes)
VERSIONS_OF = (
    "tensorflow",
    "tf-nightly",
    "keras",
    "keras-nightly",
    "tf-keras",
    "tf-keras-nightly",
    "tensorflow-hub",
    "tensorflow-datasets",
    "tensorflow-metadata",
    "protobuf",
    "numpy",
)


@dataclasses.dataclass(frozen=True)
class Stack:
    """A TensorFlow stack to run the notebooks on."""

    name: str
    title: str
    requirements: Path
    constraints: Path | None = None
    no_deps: Path | None = None  # packages installed without their dependencies
    python: str = "3"  # wanted Python minor version, e.g. "3.13"; "3" = the project's Python
    helpers_no_deps: bool = False  # install the helpers without dependencies (PIP_NO_DEPS for the Setup cell)

    @property
    def files(self) -> list[Path]:
        return [p for p in (self.requirements, self.constraints, self.no_deps) if p is not None]


STACKS = {
    "pinned": Stack("pinned", "Pinned (requirements.txt)", ROOT / "requirements.txt"),
    "colab": Stack(
        "colab",
        "Colab",
        ROOT / "compat/colab/requirements.txt",
        constraints=ROOT / "compat/colab/constraints.txt",
        python="3.13",
    ),
    "nightly": Stack(
        "nightly",
        "Nightly",
        ROOT / "compat/nightly/requirements.txt",
        no_deps=ROOT / "compat/nightly/no-deps.txt",
        helpers_no_deps=True,
    ),
}


class CompatError(RuntimeError):
    """A stack could not be built or set up; the message says what to do."""


def get_stack(name: str) -> Stack:
    try:
        return STACKS[name]
    except KeyError:
        raise CompatError(f"unknown stack {name!r}: use one of {', '.join(STACKS)}") from None


def find_python(minor: str) -> tuple[str, str]:
    """An interpreter for Python ``minor`` ("3.13"), or the project's own one; returns (path, note)."""
    if minor == "3":
        return _base_python(), ""
    candidates = [shutil.which(f"python{minor}") or ""]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{minor}*/bin/python{minor}")), reverse=True)
    candidates += sorted(glob.glob(f"/usr/local/bin/python{minor}")) + sorted(glob.glob(f"/usr/bin/python{minor}"))
    for exe in filter(None, candidates):
        probe = subprocess.run(
            [exe, "-c", "import sys, venv; print(sys.version.split()[0])"], capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0 and probe.stdout.startswith(minor):
            return exe, ""
    base = _base_python()
    return base, f"Python {minor} is not on this machine; ran on the project's Python instead"


def _base_python() -> str:
    return getattr(sys, "_base_executable", None) or sys.executable


def run_checked(cmd: list[str], *, timeout: float = PIP_TIMEOUT, env: dict | None = None, what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise CompatError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def stack_dir(stack: Stack) -> Path:
    return BUILD / stack.name


def venv_python(stack: Stack) -> Path:
    return stack_dir(stack) / "venv" / "bin" / "python"


def _pip_install_stack(stack: Stack, py: Path) -> None:
    """Install the stack's packages; with ``constraints`` every version is the stack's own."""
    cmd = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(stack.requirements)]
    if stack.constraints:
        cmd += ["-c", str(stack.constraints)]
    run_checked(cmd, what=f"installing the {stack.name} stack")
    if stack.no_deps:
        run_checked(
            [
                str(py),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "--no-deps",
                "-r",
                str(stack.no_deps),
            ],
            what=f"installing {stack.no_deps.name}",
        )


def build(stack: Stack) -> Path:
    """Create the stack's virtualenv once; a stamp holding the hash of the stack's files marks it complete."""
    exe, note = find_python(stack.python)
    digest = hashlib.sha256(exe.encode() + b"".join(p.read_bytes() for p in stack.files)).hexdigest()
    home = stack_dir(stack)
    stamp = home / "built.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("sha256") == digest and venv_python(stack).exists():
        return venv_python(stack)
    print(
        f"[compat] building the {stack.name} environment in {home.relative_to(ROOT)} (a few minutes, once)", flush=True
    )
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    run_checked([exe, "-m", "venv", str(home / "venv")], timeout=300, what="creating the virtualenv")
    py = venv_python(stack)
    _pip_install_stack(stack, py)
    kernels = home / "jupyter"
    run_checked(
        [
            str(py),
            "-m",
            "ipykernel",
            "install",
            "--prefix",
            str(kernels),
            "--name",
            kernel_name(stack),
            "--display-name",
            f"Python ({stack.title} stack)",
        ],
        timeout=300,
        what="registering the kernel",
    )
    (home / "pristine.txt").write_text("\n".join(freeze(py)) + "\n")
    stamp_text = json.dumps({"sha256": digest, "python": exe, "note": note})
    save_atomically(lambda tmp: tmp.write_text(stamp_text), stamp)
    return py


def kernel_name(stack: Stack) -> str:
    return f"distsave-{stack.name}"


def freeze(py: Path) -> list[str]:
    out = run_checked(
        [str(py), "-m", "pip", "freeze", "--all", "--disable-pip-version-check"], timeout=120, what="pip freeze"
    )
    return sorted(ln for ln in out.splitlines() if ln and not ln.startswith("#"))


def package_name(line: str) -> str:
    """The canonical name (PEP 503) in a requirement line such as ``name==version`` or ``name @ url``."""
    return canonicalize_name(Requirement(line).name)


def reset(stack: Stack) -> None:
    """Put the stack back as it was built (its own versions, no helpers, nothing a Setup cell added or repaired)."""
    py = venv_python(stack)
    pristine = stack_dir(stack) / "pristine.txt"
    now = freeze(py)
    if now == pristine.read_text().splitlines():
        return
    added = sorted({package_name(ln) for ln in now} - {package_name(ln) for ln in pristine.read_text().splitlines()})
    if added:
        run_checked([str(py), "-m", "pip", "uninstall", "-y", "-q", *added], what="removing what the Setup cell added")
    run_checked(
        [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps", "-r", str(pristine)],
        what="restoring the stack's versions",
    )
    if freeze(py) != pristine.read_text().splitlines():
        raise CompatError(f"could not restore {stack_dir(stack)}; delete that folder and run again")


TFDS_WORKS = "import tensorflow_datasets as tfds; tfds.load, tfds.builder"


def tfds_works(py: Path) -> bool | str:
    """True if tensorflow_datasets is usable in ``py``, else its errors.

    On a broken protobuf / tensorflow-metadata pair, `import tensorflow_datasets` itself succeeds: tfds logs the
    protobuf VersionError and leaves a module without `load`, so the learner's first `tfds.load` raises."""
    proc = subprocess.run(
        [str(py), "-c", TFDS_WORKS],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    if proc.returncode == 0:
        return True
    errors = [ln.strip() for ln in proc.stderr.splitlines() if re.match(r"[\w.]+(Error|Exception): ", ln)]
    short = [e.split(" Runtime version")[0] for e in dict.fromkeys(errors)]  # protobuf's advice, cut
    return " then ".join(short)[:400] or "(no message)"


def versions(py: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {'python': sys.version.split()[0]}\n"
        f"for name in {VERSIONS_OF!r}:\n"
        "    try: out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    return json.loads(run_checked([str(py), "-c", code], timeout=120, what="reading versions"))
