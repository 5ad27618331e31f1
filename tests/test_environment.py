"""The tested environment is pinned once, consistently, and installed as pinned."""

import re
import sys
from importlib import metadata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import nbrun  # noqa: E402


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt must pin exactly: {line!r}"
            pins[_canon(name)] = version
    return pins


def _environment_yml() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"^\s+- ([A-Za-z0-9_.\-]+)==(\S+)\s*$", line)
        if m:
            pins[_canon(m.group(1))] = m.group(2)
    return pins


def test_environment_yml_and_requirements_agree():
    assert _environment_yml() == _requirements()
    text = (ROOT / "environment.yml").read_text()
    assert "python=3.11" in text and "- -e ." in text


def test_installed_versions_match_the_pins():
    wrong = {n: (v, metadata.version(n)) for n, v in _requirements().items() if metadata.version(n) != v}
    assert not wrong, f"installed versions differ from requirements.txt (pinned, installed): {wrong}"


def test_one_tensorflow_only():
    installed = {_canon(d.metadata["Name"]) for d in metadata.distributions()}
    assert "tensorflow-cpu" not in installed and "tensorflow" in installed


def test_pre_commit_runs_the_same_checks_with_the_pinned_tools():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "jupytext-sync", "nbstripout"} <= set(hooks)
    pins = _requirements()
    for hook in hooks.values():
        for requirement in hook.get("additional_dependencies", []):
            name, _, version = requirement.partition("==")
            assert pins.get(_canon(name)) == version, f"{hook['id']}: {requirement} is not requirements.txt's pin"
    assert hooks["nbstripout"]["args"] == nbrun.NBSTRIPOUT_ARGS
    assert hooks["jupytext-sync"]["args"] == ["--sync"]
