"""scripts/project.py: the repository's address comes from pyproject.toml, and a bad one is refused."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import project  # noqa: E402


def test_every_user_of_the_address_agrees_with_pyproject():
    assert project.HELPERS_URL == f"git+https://github.com/{project.REPO}"
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        text = path.read_text(encoding="utf-8")
        assert f"colab.research.google.com/github/{project.REPO}/blob/main/notebooks/{path.name}" in text
        assert project.HELPERS_URL in text
    assert f"colab.research.google.com/github/{project.REPO}/" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "url", ["", "https://gitlab.com/a/b", "https://github.com/only-owner", "https://github.com/a/b/tree/main"]
)
def test_a_missing_or_non_github_address_is_refused(tmp_path, monkeypatch, url):
    urls = f'[project.urls]\nRepository = "{url}"\n' if url else ""
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\n{urls}')
    monkeypatch.setattr(project, "ROOT", tmp_path)
    with pytest.raises(ValueError, match=r"must be https://github.com/<owner>/<name>"):
        project.repository_url()
