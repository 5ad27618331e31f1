"""Lesson sources (lessons/*.py, py:percent) and notebooks (notebooks/*.ipynb) are jupytext pairs, kept in sync and
normalised; the cells every notebook shares are identical."""

import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupytext.config import load_jupytext_config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import compat_setup  # noqa: E402
import nbrun  # noqa: E402
import project  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))
CONFIG = load_jupytext_config(str(ROOT))
FORMAT = "py:percent"
SYNC_HINT = "run `make sync` (jupytext --sync), then `make record NB=...` if code changed"


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells]


def test_every_notebook_has_a_lesson_source_and_back():
    assert NOTEBOOKS and [p.stem for p in NOTEBOOKS] == [p.stem for p in LESSONS]
    assert CONFIG is not None and CONFIG.formats == ["notebooks///ipynb,lessons///py:percent"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_pair_is_in_sync(notebook):
    lesson = ROOT / "lessons" / f"{notebook.stem}.py"
    nb = nbformat.read(notebook, as_version=4)
    assert _cells(jupytext.read(lesson, fmt=FORMAT)) == _cells(nb), (
        f"{lesson.name} and {notebook.name} differ: {SYNC_HINT}"
    )
    # and the .py is exactly what jupytext writes for this notebook, so syncing in either direction changes nothing
    expected = jupytext.writes(nb, fmt=FORMAT, config=CONFIG)
    assert lesson.read_text(encoding="utf-8") == expected, f"{lesson.name} is not jupytext's text: {SYNC_HINT}"


def test_notebooks_are_normalised_by_nbstripout():
    """The committed notebooks are fixed points of `nbstripout NBSTRIPOUT_ARGS` (what make record / make sync apply)."""
    done = subprocess.run(
        [sys.executable, "-m", "nbstripout", *nbrun.NBSTRIPOUT_ARGS, "--verify", *map(str, NOTEBOOKS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, f"not normalised, run `make sync`: {done.stdout}{done.stderr}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_file_is_written_by_nbformat(notebook):
    text = notebook.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert text == nbformat.writes(nb) + "\n", f"{notebook.name} is not in nbformat's layout: run `make sync`"
    assert nbrun.normalise(nbformat.reads(text, as_version=4)) == nb
    # Colab's table of contents and the Python 3 kernel; nothing of jupytext's (a notebook made from a lesson source
    # starts with jupytext's metadata instead: copy these two keys from another notebook)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{notebook.name}: no python3 kernelspec"
    assert nb.metadata.get("colab", {}).get("name") == notebook.name, f"{notebook.name}: metadata.colab.name"
    assert "jupytext" not in nb.metadata, f"{notebook.name}: jupytext metadata in the notebook"


def test_normalise_matches_the_nbstripout_command_line(tmp_path):
    """nbrun.normalise (used by make record) and the nbstripout CLI (used by the checks) strip the same keys."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1)", execution_count=3)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    cell.metadata.update({"collapsed": False, "scrolled": True, "execution": {"a": 1}, "tags": ["keep"]})
    nb.cells = [cell]
    nb.metadata.update({"language_info": {"name": "python", "version": "3.x"}, "widgets": {}, "kernelspec": {}})
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    subprocess.run([sys.executable, "-m", "nbstripout", *nbrun.NBSTRIPOUT_ARGS, str(path)], check=True, timeout=60)
    assert nbformat.read(path, as_version=4) == nbrun.normalise(nbformat.from_dict(nb))
    assert nbformat.read(path, as_version=4).cells[0].metadata == {"tags": ["keep"]}


def _lesson_cells(path: Path) -> list[tuple[str, str]]:
    return _cells(jupytext.read(path, fmt=FORMAT))


def _setup(cells: list[tuple[str, str]]) -> tuple[str, str]:
    """The Setup markdown cell and the code cell after it."""
    i = next(i for i, (kind, src) in enumerate(cells) if kind == "markdown" and src.startswith("## Setup"))
    assert cells[i + 1][0] == "code"
    return cells[i][1], cells[i + 1][1]


def _device_split(cells: list[tuple[str, str]]) -> str:
    found = [src for kind, src in cells if kind == "code" and "devices.use_cpu_replicas(2)" in src]
    assert len(found) == 1, "one cell splits the CPU into 2 replicas"
    return found[0]


@pytest.mark.parametrize("shared", [_setup, _device_split], ids=["setup", "device-split"])
def test_cells_every_notebook_shares_are_identical(shared):
    by_lesson = {p.name: shared(_lesson_cells(p)) for p in LESSONS}
    first = by_lesson[LESSONS[0].name]
    differing = [name for name, cell in by_lesson.items() if cell != first]
    assert not differing, f"differ from {LESSONS[0].name}: {differing}; copy the cell from there"


def test_setup_cell_installs_the_helpers_only_on_colab():
    """The fast static check of the Setup cell (identical in every lesson, above; CI's `make compat STACK=colab` runs
    it on Colab's stack): it installs only on Colab, with pip in a subprocess (no %pip), the helpers from pyproject's
    Repository, and it is the cell scripts/compat.py finds and runs."""
    _, code = _setup(_lesson_cells(LESSONS[0]))
    assert 'if "google.colab" in sys.modules:' in code
    assert '[sys.executable, "-m", "pip", "install"' in code and "%pip" not in code
    assert project.HELPERS_URL in code, "run `python scripts/project.py relink` and `make sync`"
    assert compat_setup.setup_cell_source(ROOT / "notebooks" / f"{LESSONS[0].stem}.ipynb") == code
