"""`make new NB=NN_name` (scripts/new_notebook.py), run on a copy of the repository: the notebook it adds passes the
static checks there, and its previous neighbour links to it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import new_notebook  # noqa: E402


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A copy of the working tree (git's files, tracked or not ignored), never the repository itself."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    dest = tmp_path_factory.mktemp("repo")
    for name in filter(None, listed.decode().split("\0")):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def _notebooks(root: Path) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def added(repo) -> tuple[str, Path, dict]:
    """`make new` for the next number in the copy: its name, the previous notebook, that one's files before."""
    previous = _notebooks(repo)[-1]
    name = f"{int(previous.name[:2]) + 1:02d}_new_lesson"
    lesson = repo / "lessons" / f"{previous.stem}.py"
    before = {"lesson": lesson.read_text(encoding="utf-8"), "notebook": nbformat.read(previous, as_version=4)}
    done = subprocess.run(
        [sys.executable, str(repo / "scripts" / "new_notebook.py"), name],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"make record NB=notebooks/{name}.ipynb" in done.stdout
    return name, previous, before


def test_the_new_notebook_passes_the_static_checks(repo, added):
    """tests/test_notebooks.py and test_sources.py on the new notebook (all but the check of recorded outputs, which
    `make record` makes true), the shared cells of every lesson, and the README's regenerated tables."""
    name, previous, _ = added
    checks = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "tests/test_notebooks.py",
            "tests/test_sources.py",
            "tests/test_readme.py",
            "-k",
            f"({name} and not test_executed_outputs_are_clean) or test_cells_every_notebook_shares_are_identical"
            f" or test_previous_and_next_links_close_every_notebook[{previous.name}]"
            " or test_readme_tables_match_the_notebooks",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert checks.returncode == 0, checks.stdout[-4000:] + checks.stderr[-2000:]
    assert " passed" in checks.stdout and "deselected" in checks.stdout
    lint = [sys.executable, "-m", "ruff"]
    new_lesson = f"lessons/{name}.py"
    for command in (["check", new_lesson], ["format", "--check", new_lesson]):
        done = subprocess.run([*lint, *command], cwd=repo, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_previous_notebook_changes_only_in_its_navigation_line(repo, added):
    name, previous, before = added
    after = nbformat.read(previous, as_version=4)
    assert after.cells[:-1] == before["notebook"].cells[:-1]  # outputs kept
    assert after.cells[-1].source.endswith(f"Next: [{name[:2]} · TODO: title]({name}.ipynb) →")
    old = before["lesson"].splitlines()
    new = (repo / "lessons" / f"{previous.stem}.py").read_text(encoding="utf-8").splitlines()
    assert len(old) == len(new) and [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b] == [
        len(new) - 1
    ]
    lesson = jupytext.read(repo / "lessons" / f"{name}.py")
    assert nbformat.read(repo / "notebooks" / f"{name}.ipynb", as_version=4).metadata == {
        "colab": {"name": f"{name}.ipynb", "toc_visible": True},
        "kernelspec": nbformat.read(_notebooks(repo)[0], as_version=4).metadata["kernelspec"],
    }
    assert sum("TODO" in c.source for c in lesson.cells) >= 6  # every placeholder says what to fill in


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give one name"),
        (["01_a", "02_b"], "give one name"),
        (["10 name"], "is not NN_name"),
        (["Preemption"], "is not NN_name"),
    ],
)
def test_bad_names_are_refused(args, message, capsys):
    assert new_notebook.main(args) == 2
    assert message in capsys.readouterr().err


def test_a_taken_number_is_refused_before_anything_is_written(repo, added):
    files = sorted(p for p in repo.rglob("*") if p.is_file())
    with pytest.raises(new_notebook.NewNotebookError, match="already taken by 01_"):
        new_notebook.add("01_another", repo)
    assert sorted(p for p in repo.rglob("*") if p.is_file()) == files
