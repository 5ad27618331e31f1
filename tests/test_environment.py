"""The tested environment is pinned once, consistently, installed as pinned, and on one Python (3.11)."""

import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import compat_env  # noqa: E402
import nbrun  # noqa: E402

PYTHON = "3.11"  # the pinned stack's Python: requirements.txt's versions are tested on it


def _pins(lines: list[str], where: str) -> dict[str, str]:
    """``{canonical name: version}`` of ``name==version`` requirement lines (comments and blanks skipped)."""
    pins = {}
    for line in filter(None, (ln.split("#")[0].strip() for ln in lines)):
        req = Requirement(line)
        (spec,) = req.specifier  # exactly one pin per line
        assert spec.operator == "==", f"{where} must pin exactly: {line!r}"
        pins[canonicalize_name(req.name)] = spec.version
    return pins


def _requirements() -> dict[str, str]:
    return _pins((ROOT / "requirements.txt").read_text().splitlines(), "requirements.txt")


def _environment_yml() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_environment_yml_and_requirements_agree():
    deps = _environment_yml()["dependencies"]
    (pip,) = [d["pip"] for d in deps if isinstance(d, dict)]
    assert _pins([p for p in pip if p != "-e ."], "environment.yml") == _requirements()
    assert "-e ." in pip and f"python={PYTHON}" in deps


def test_one_python_everywhere():
    """environment.yml, pyproject (requires-python, ruff's target), the Makefile's venv, the CI and docs workflows
    and this venv are all Python 3.11; requires-python also admits Colab's Python (make compat runs the notebooks
    there)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requires = SpecifierSet(pyproject["project"]["requires-python"])
    assert str(requires) == f">={PYTHON}" and compat_env.STACKS["colab"].python in requires
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + PYTHON.replace(".", "")
    assert re.search(r"^PYTHON_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)[1] == PYTHON
    workflows = ROOT / ".github" / "workflows"
    for name in ("ci.yml", "nightly.yml"):
        assert (
            yaml.safe_load((workflows / name).read_text())["jobs"]
            .popitem()[1]["container"]["image"]
            .startswith(f"python:{PYTHON}-")
        )
    setup = [s for s in yaml.safe_load((workflows / "docs.yml").read_text())["jobs"]["build"]["steps"] if "with" in s]
    assert [s["with"]["python-version"] for s in setup if "python-version" in s["with"]] == [PYTHON]
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == PYTHON


@pytest.fixture
def fake_env(tmp_path):
    """An environment whose python says it is 3.10 and logs how it is called."""
    (tmp_path / "bin").mkdir()
    python = tmp_path / "bin" / "python"
    python.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\necho 3.10\n')
    python.chmod(0o755)
    return tmp_path


def _make(*args: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "MAKEFLAGS"}
    }
    return subprocess.run(["make", "-C", str(ROOT), *args], capture_output=True, text=True, env=env, timeout=60)


def test_a_wrong_python_stops_make_before_any_install(fake_env):
    done = _make("install", f"VIRTUAL_ENV={fake_env}")
    assert done.returncode != 0
    assert f"has Python 3.10; the tested stack needs Python {PYTHON}" in done.stderr
    assert (fake_env / "calls").read_text().count("\n") == 1 and "pip" not in (fake_env / "calls").read_text()


def test_a_missing_python_is_named(tmp_path):
    done = _make("install", f"ENV_DIR={tmp_path / 'venv'}", "PYTHON=python3.99")
    assert done.returncode != 0 and not (tmp_path / "venv").exists()
    assert f"no python3.99 found; the tested stack needs Python {PYTHON}" in done.stderr


def test_installed_versions_match_the_pins():
    wrong = {n: (v, metadata.version(n)) for n, v in _requirements().items() if metadata.version(n) != v}
    assert not wrong, f"installed versions differ from requirements.txt (pinned, installed): {wrong}"


def test_one_tensorflow_only():
    installed = {canonicalize_name(d.metadata["Name"]) for d in metadata.distributions()}
    assert "tensorflow-cpu" not in installed and "tensorflow" in installed


def test_pre_commit_runs_the_same_checks_with_the_pinned_tools():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "jupytext-sync", "nbstripout"} <= set(hooks)
    pins = _requirements()
    for hook in hooks.values():
        for name, version in _pins(hook.get("additional_dependencies", []), hook["id"]).items():
            assert pins.get(name) == version, f"{hook['id']}: {name}=={version} is not requirements.txt's pin"
    assert hooks["nbstripout"]["args"] == nbrun.NBSTRIPOUT_ARGS
    assert hooks["jupytext-sync"]["args"] == ["--sync"]
