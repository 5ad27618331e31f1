"""The docs site: stage the pages, then build them with Sphinx + myst-nb (``make docs``).

    python scripts/docs_site.py build     # build/site-src (staged pages) -> build/site (HTML); fails on any warning

The pages are the committed, executed notebooks (never re-run: ``nb_execution_mode = "off"`` in docs/site/conf.py),
README.md as the index page, CONTRIBUTING.md, docs/compatibility.md, docs/cluster.md and docs/accelerators.md. Staging
changes copies only:

* badge images live on other sites (colab.research.google.com, tensorflow.org); a page that loads them makes
  requests that leave the site, so ``[![label](image)](link)`` becomes ``[label](link)`` and a notebook's badge table
  (``<table>`` of ``<a><img …>text</a>``) becomes one line of links;
* links to ``README.md`` point at the index page;
* a solution cell hidden in Jupyter (``jupyter.source_hidden``) gets myst-nb's ``hide-input`` tag, so the site shows it
  behind "Show code cell source" as well;
* the index page gets the (hidden) table of contents that gives Sphinx its page order, previous/next links and search.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = ROOT / "docs" / "site"
STAGE = ROOT / "build" / "site-src"
SITE = ROOT / "build" / "site"

LINKED_BADGE = re.compile(r"\[!\[(?P<label>[^\]]*)\]\(https?://[^)]*\)\]\((?P<link>[^)]*)\)")
EXTERNAL_IMG = re.compile(r"<img\s+[^>]*src=\"https?://[^\"]*\"[^>]*/?>\s*")
BADGE_TABLE = re.compile(r"<table[^>]*>(?P<body>.*?)</table>\s*(?:<br clear=\"all\">)?", re.S)
BADGE_LINK = re.compile(r"<a [^>]*href=\"(?P<link>[^\"]+)\"[^>]*>\s*(?:<img[^>]*>)?\s*(?P<label>[^<]+?)\s*</a>")
README_LINK = re.compile(r"\]\((?P<up>(?:\.\./)*)README\.md(?P<anchor>#[^)]*)?\)")
#: docs/cluster.md, accelerators.md, which_api.md and compatibility.md are staged at the site's top level: from
#: README.md or a notebook, a link to them loses its docs/.
TOP_LEVEL_DOCS = ("cluster", "accelerators", "which_api")
DOCS_LINK = re.compile(
    r"\]\((?P<up>(?:\.\./)*)docs/(?P<page>cluster|accelerators|compatibility|which_api)\.md(?P<anchor>#[^)]*)?\)"
)


def _badge_line(match: re.Match) -> str:
    links = [f"[{m['label']}]({m['link']})" for m in BADGE_LINK.finditer(match["body"])]
    return " · ".join(links) if links and "http" in match["body"] else match[0]


def external_images(text: str) -> int:
    """How many images from other sites ``text`` would load (markdown badges and ``<img src="http…">``)."""
    return len(LINKED_BADGE.findall(text)) + len(EXTERNAL_IMG.findall(text))


def offline_markdown(text: str) -> str:
    """``text`` without images from other sites (badges become links), and with README.md links sent to the index."""
    text = LINKED_BADGE.sub(r"[\g<label>](\g<link>)", text)
    text = BADGE_TABLE.sub(_badge_line, text)
    text = EXTERNAL_IMG.sub("", text)
    text = DOCS_LINK.sub(lambda m: f"]({m['up']}{m['page']}.md{m['anchor'] or ''})", text)
    return README_LINK.sub(lambda m: f"]({m['up']}index.md{m['anchor'] or ''})", text)


def stage_notebook(source: Path, target: Path) -> int:
    """Stage one notebook; return how many external images it would have loaded."""
    nb = nbformat.read(source, as_version=4)
    removed = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            removed += external_images(cell.source)
            cell.source = offline_markdown(cell.source)
        elif cell.metadata.get("jupyter", {}).get("source_hidden"):
            tags = cell.metadata.setdefault("tags", [])
            if "hide-input" not in tags:
                tags.append("hide-input")
    nbformat.write(nb, target)
    return removed


def toctree(notebooks: list[Path]) -> str:
    entries = [f"notebooks/{p.stem}" for p in notebooks] + ["compatibility", *TOP_LEVEL_DOCS, "CONTRIBUTING"]
    return "\n```{toctree}\n:hidden:\n:maxdepth: 1\n\n" + "\n".join(entries) + "\n```\n"


def stage(stage_dir: Path = STAGE) -> dict[str, int]:
    """Copy the pages into ``stage_dir`` (emptied first); return, per page, the external images it no longer loads."""
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise SystemExit("no notebooks/NN_*.ipynb found: run from a checkout of this repository")
    shutil.rmtree(stage_dir, ignore_errors=True)
    (stage_dir / "notebooks").mkdir(parents=True)
    removed = {f"notebooks/{nb.stem}": stage_notebook(nb, stage_dir / "notebooks" / nb.name) for nb in notebooks}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    removed["index"] = external_images(readme)
    readme = readme.replace("](docs/compatibility.md", "](compatibility.md")
    (stage_dir / "index.md").write_text(offline_markdown(readme) + toctree(notebooks), encoding="utf-8")
    compat = (ROOT / "docs" / "compatibility.md").read_text(encoding="utf-8")
    (stage_dir / "compatibility.md").write_text(offline_markdown(compat.replace("](../", "](")), encoding="utf-8")
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    (stage_dir / "CONTRIBUTING.md").write_text(offline_markdown(contributing), encoding="utf-8")
    removed["compatibility"], removed["CONTRIBUTING"] = external_images(compat), external_images(contributing)
    for name in TOP_LEVEL_DOCS:
        page = (ROOT / "docs" / f"{name}.md").read_text(encoding="utf-8")
        (stage_dir / f"{name}.md").write_text(offline_markdown(page.replace("](../", "](")), encoding="utf-8")
        removed[name] = external_images(page)
    return removed


def build(stage_dir: Path = STAGE, site: Path = SITE) -> int:
    """Stage, then ``sphinx-build -W`` (warnings are errors) into ``site``; return sphinx-build's exit status."""
    removed = stage(stage_dir)
    print(f"staged {len(removed)} pages; external images replaced by links: {sum(removed.values())}", flush=True)
    shutil.rmtree(site, ignore_errors=True)
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-c", str(CONF_DIR)]
    return subprocess.call([*cmd, str(stage_dir), str(site)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["build"])
    parser.parse_args(argv)
    status = build()
    if status == 0:
        print(f"site: {SITE.relative_to(ROOT)}/index.html")
    return status


if __name__ == "__main__":
    sys.exit(main())
