"""scripts/project.py: the repository's address comes from pyproject.toml, and a bad one is refused."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import project  # noqa: E402

HINT = "pyproject's [project.urls] Repository changed? run `python scripts/project.py relink` and `make sync`"


def test_every_link_to_this_collection_agrees_with_pyproject():
    """Every badge and install line in the lessons (the notebooks are their jupytext pairs) and the README points at
    pyproject's repository. That they are there at all is checked by test_notebooks (badges), test_sources (the Setup
    cell) and test_readme (the README's table)."""
    for path in [*sorted((ROOT / "lessons").glob("*.py")), ROOT / "README.md"]:
        assert project.relink(path.read_text(encoding="utf-8")) == path.read_text(encoding="utf-8"), (path.name, HINT)


def test_relink_rewrites_only_the_links_to_this_collection(tmp_path, monkeypatch):
    (tmp_path / "lessons").mkdir()
    lesson = tmp_path / "lessons" / "01_x.py"
    lesson.write_text(
        "# [Colab](https://colab.research.google.com/github/old/repo/blob/main/notebooks/01_x.ipynb)\n"
        "# [GitHub](https://github.com/old/repo/blob/main/notebooks/01_x.ipynb)\n"
        "# see https://github.com/keras-team/keras/issues/20585\n"
        'packages = ["distsave-helpers[legacy] @ git+https://github.com/old/repo"]\n'
    )
    (tmp_path / "README.md").write_text("[clone](https://github.com/tensorflow/docs)\n")
    monkeypatch.setattr(project, "REPO", "new-owner/new.name")
    assert project.relink_files(tmp_path) == [lesson]
    text = lesson.read_text()
    assert text.count("new-owner/new.name") == 3 and "old/repo" not in text
    assert "keras-team/keras/issues/20585" in text
    assert (tmp_path / "README.md").read_text() == "[clone](https://github.com/tensorflow/docs)\n"


@pytest.mark.parametrize(
    "url", ["", "https://gitlab.com/a/b", "https://github.com/only-owner", "https://github.com/a/b/tree/main"]
)
def test_a_missing_or_non_github_address_is_refused(tmp_path, monkeypatch, url):
    urls = f'[project.urls]\nRepository = "{url}"\n' if url else ""
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\n{urls}')
    monkeypatch.setattr(project, "ROOT", tmp_path)
    with pytest.raises(ValueError, match=r"must be https://github.com/<owner>/<name>"):
        project.repository_url()
