"""Facts about this repository that several scripts and tests need, read from one place: pyproject.toml."""

from __future__ import annotations

from pathlib import Path

import tomllib

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
