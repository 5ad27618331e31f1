"""The tested environment is pinned once, consistently, and installed as pinned."""

import re
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


def test_ci_runs_the_readme_test_command():
    commands = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines() if not ln.lstrip().startswith("#")]
    order = [commands.index(c) for c in ("make test", "make nbval-other-cpu", "make compat STACK=colab")]
    assert order == sorted(order)
    assert "make test" in (ROOT / "README.md").read_text()
