"""The helpers package as a whole: one concern per module, one exception type per failure family."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import helpers
from helpers import errors, multiworker, tf_server
from helpers.processes import free_ports

PACKAGE = Path(helpers.__file__).resolve().parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def _tree(name: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))


def test_the_package_docstring_lists_every_module():
    for name in MODULES:
        assert f":mod:`helpers.{name}`" in helpers.__doc__, name


@pytest.mark.parametrize("name", MODULES)
def test_no_module_imports_from_scripts(name):
    """helpers/ is the installed package: it never reaches into scripts/ (nor edits sys.path to get there)."""
    for node in ast.walk(_tree(name)):
        assert not (isinstance(node, ast.Attribute) and ast.unparse(node) == "sys.path"), name
        if isinstance(node, ast.Import):
            assert not any(alias.name.split(".")[0] == "scripts" for alias in node.names), name
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] != "scripts", name


def test_exceptions_are_defined_only_in_errors():
    for name in MODULES:
        if name == "errors":
            continue
        for node in ast.walk(_tree(name)):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(base) for base in node.bases}
                assert not any(b.endswith(("Error", "Exception")) for b in bases), f"{name}.{node.name}"


def test_one_worker_error_for_the_server_starter_and_the_launcher(tmp_path):
    """A process that exits early is the same WorkerError, whether it was a tf.distribute.Server or a worker."""
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(4)"])
    dead.wait(30)
    with pytest.raises(errors.WorkerError, match="exited with code 4") as server:
        tf_server.wait_for_port(free_ports(1)[0], timeout=30, proc=dead)
    with pytest.raises(errors.WorkerError, match="exited with code 4") as launcher:
        multiworker.wait_for_file(tmp_path / "never", timeout=30, procs=[dead])
    assert type(server.value) is type(launcher.value) is errors.WorkerError


@pytest.mark.parametrize(
    "module, must_not_load",
    [
        ("helpers.data", ["helpers.mnist_prep", "tensorflow"]),  # the pipeline does not drag in the preparation
        ("helpers.multiworker", ["helpers.multiworker_hooks", "tensorflow"]),  # the launcher is not the worker
        ("helpers.multiworker_hooks", ["tensorflow"]),  # TensorFlow only once the worker runs
        ("helpers.tf_server", ["tensorflow"]),
        ("helpers.tf_errors", ["tensorflow"]),
    ],
)
def test_modules_import_only_what_they_need(module, must_not_load):
    code = f"import sys, {module}; print([m for m in {must_not_load!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
