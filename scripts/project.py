"""Facts about this repository that several scripts and tests need, read from one place: pyproject.toml.

python scripts/project.py relink   # after changing [project.urls] Repository: rewrite the links to this repository
                                   # in lessons/*.py (badges, Colab install line) and README.md, then `make sync`
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def repository_url() -> str:
    """The GitHub address in pyproject's ``[project.urls] Repository``."""
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"].get("urls", {})
    url = urls.get("Repository", "").rstrip("/")
    if not url.startswith("https://github.com/") or url.count("/") != 4:
        raise ValueError(
            f"pyproject.toml [project.urls] Repository must be https://github.com/<owner>/<name>, got {url!r}"
        )
    return url


#: GitHub owner/name: the Colab/GitHub badges, the Colab install line, the README table and the tests use it.
REPO = repository_url().removeprefix("https://github.com/")
#: What the notebooks' Setup cell installs the helpers from on Colab.
HELPERS_URL = f"git+{repository_url()}"

# Links to this collection's own files: the badges (…/<owner>/<name>/blob/main/notebooks/…) and the Setup cell's
# `git+https://github.com/<owner>/<name>"`. Links to other projects (keras-team/keras#…) do not match.
OWN_LINKS = re.compile(
    r"(?P<head>colab\.research\.google\.com/github/|https://github\.com/)(?P<repo>[\w.-]+/[\w.-]+)"
    r"(?P<tail>/blob/main/notebooks/)"
    r"|(?P<head2>git\+https://github\.com/)(?P<repo2>[\w.-]+/[\w.-]+)(?P<tail2>\")"
)


def relink(text: str, repo: str | None = None) -> str:
    """``text`` with every link to this collection pointing at ``repo`` (owner/name; default: pyproject's)."""
    repo = repo or REPO

    def sub(m: re.Match) -> str:
        head, tail = (m["head"], m["tail"]) if m["head"] else (m["head2"], m["tail2"])
        return f"{head}{repo}{tail}"

    return OWN_LINKS.sub(sub, text)


def relink_files(root: Path = ROOT) -> list[Path]:
    """Rewrite the links in lessons/*.py and README.md; return the files that changed."""
    changed = []
    for path in [*sorted((root / "lessons").glob("[0-9][0-9]_*.py")), root / "README.md"]:
        text = path.read_text(encoding="utf-8")
        new = relink(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":
    if sys.argv[1:] != ["relink"]:
        sys.exit("usage: python scripts/project.py relink")
    for path in relink_files():
        print("relinked", path.relative_to(ROOT))
    print(f"links point at {REPO}; now run `make sync`")
