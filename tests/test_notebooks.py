"""Static checks of the committed notebooks (nbval re-executes them separately)."""

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from project import REPO  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_header_badges_setup_and_summary(path):
    nb = nbformat.read(path, as_version=4)
    head = nb.cells[0].source
    assert head.startswith("# "), "first cell is the title"
    assert f"colab.research.google.com/github/{REPO}/blob/main/notebooks/{path.name}" in head
    assert f"github.com/{REPO}/blob/main/notebooks/{path.name}" in head
    assert "What you'll learn" in head and "Expected run time" in head
    setup = [c for c in _code(nb) if '"google.colab" in sys.modules' in c.source]
    assert len(setup) == 1, "one Setup cell that installs only on Colab"
    assert '"-m", "pip", "install"' in setup[0].source and "tensorflow-metadata<1.18" in setup[0].source
    assert any(c.cell_type == "markdown" and "What we verified" in c.source for c in nb.cells)
    assert "assert" in _code(nb)[-1].source, "the notebook ends with asserted facts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_outputs_are_clean(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(_code(nb)):
        assert cell.execution_count is not None, f"code cell {i} was not executed"
        for out in cell.outputs:
            if out.output_type == "error":
                assert "NBVAL_RAISES_EXCEPTION" in cell.source, f"code cell {i} stored an error"
            text = out.get("text", "") + json.dumps(out.get("data", {}).get("text/plain", ""))
            assert not re.search(r"/(root|home/\w+|tmp)/|/work/", text), f"code cell {i} shows a machine path"
            assert not re.search(r"0x[0-9a-f]{8,}", text), f"code cell {i} shows a memory address"
            assert "\r" not in text, f"code cell {i} stored a progress bar"


def _checked(cell) -> bool:
    return not re.search(r"#\s*NBVAL_(IGNORE_OUTPUT|SKIP)", cell.source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_at_least_80_percent_of_code_cells_are_output_checked(path):
    cells = _code(nbformat.read(path, as_version=4))
    checked = sum(_checked(c) for c in cells)
    assert cells and checked / len(cells) >= 0.8, f"{checked}/{len(cells)} code cells output-checked"


def _texts(cell):
    for out in cell.outputs:
        yield out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))


# A float at float32-rounding level (1e-5 .. 1e-9) in checked output differs on another CPU; allowed only as a
# tolerance ("≤ 1e-05", "< 1e-05") or masked ("≈2e-06").
ROUNDING_LEVEL = re.compile(r"(?<![≤<≈\d.])(?<![≤<] )\b\d(\.\d+)?e-0?[5-9]\b")
RAW_DIFF = re.compile(r"max abs diff(?: [a-z' ]+)?:? \[?-?\d")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_outputs_hold_no_machine_dependent_digits(path):
    for i, cell in enumerate(_code(nbformat.read(path, as_version=4))):
        if not _checked(cell):
            continue
        for text in _texts(cell):
            found = ROUNDING_LEVEL.search(text)
            assert not found, (
                f"code cell {i} prints {found.group()} unmasked: print it with roundtrip.approx / Closeness"
            )
            raw = RAW_DIFF.search(text)
            assert not raw, f"code cell {i} prints a raw path difference ({raw.group()}): use roundtrip.assert_close"


# Tolerances for comparisons across execution paths live in helpers.roundtrip (RTOL, CURVE_RTOL) only.
HARD_CODED_TOLERANCE = re.compile(r"\b1e-0?[5-8]\b|[=<]=\s*0\.0\b|\batol\s*=")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_hard_coded_path_tolerances(path):
    for i, cell in enumerate(_code(nbformat.read(path, as_version=4))):
        found = HARD_CODED_TOLERANCE.search(cell.source)
        assert not found, f"code cell {i} hard-codes {found.group()!r}: use helpers.roundtrip (RTOL, assert_close)"


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.name}" in readme, f"README does not list {path.name}"
