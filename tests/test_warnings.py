"""pyproject's filterwarnings: a DeprecationWarning attributed to the project's own code fails the tests, one raised
inside a third-party library does not (make compat lists the warnings the notebooks show, per stack)."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILTERS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"][
    "filterwarnings"
]
OWN = sorted(
    [f"helpers.{p.stem}" for p in (ROOT / "helpers").glob("*.py")]
    + [f"benchmarks.{p.stem}" for p in (ROOT / "benchmarks").glob("*.py")]
    + [p.stem for p in (ROOT / "scripts").glob("*.py")]
)
THIRD_PARTY = ["tensorflow.python.util.deprecation", "keras.src.saving", "tf_keras.src.engine", "numpy", "helpers_x"]


def _errors_for(module: str) -> bool:
    """Whether the filters (the last matching one wins) turn a DeprecationWarning from ``module`` into an error."""
    verdict = "default"
    for spec in FILTERS:
        action, _message, category, regex = (spec.split(":") + ["", "", ""])[:4]
        if category in ("", "DeprecationWarning") and (not regex or re.match(regex, module)):
            verdict = action
    return verdict == "error"


def test_every_project_module_is_covered_and_no_other():
    uncovered = [m for m in OWN if not _errors_for(m)]
    assert not uncovered, f"add {uncovered} to pyproject's error::DeprecationWarning filters"
    assert not [m for m in THIRD_PARTY if _errors_for(m)]


def test_pytest_fails_a_test_whose_own_code_warns(tmp_path):
    """The real pytest with pyproject's configuration: the project's DeprecationWarning fails, TensorFlow's does not."""
    (tmp_path / "test_demo.py").write_text(
        "import warnings\n\n\n"
        "def test_own():\n"
        "    warnings.warn_explicit('old', DeprecationWarning, 'helpers/saving.py', 1, module='helpers.saving')\n\n\n"
        "def test_third_party():\n"
        "    warnings.warn_explicit('old', DeprecationWarning, 'x.py', 1, module='tensorflow.python.x')\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), "-q"]
        + [str(tmp_path / "test_demo.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 failed, 1 passed" in done.stdout, done.stdout[-2000:]
    failed = [ln for ln in done.stdout.splitlines() if ln.startswith("FAILED")]
    assert len(failed) == 1 and "test_demo.py::test_own" in failed[0]
    assert re.search(r"^E +DeprecationWarning: old$", done.stdout, re.M)
