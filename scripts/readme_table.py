"""Rewrite the README's generated parts from the notebooks: the notebook table and the "Which API when" table.

    python scripts/nbrun.py run | tee build/run.txt
    python scripts/readme_table.py build/run.txt     # with fresh run times
    python scripts/readme_table.py                   # keep the run times the README has

The notebook table takes each notebook's title and its one-line question ("**This notebook answers:** …") from its
header cell; the "Which API when" section is
notebook 04's cell of that name, with its links made relative to the README. tests/test_readme.py checks both.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
from project import REPO  # the GitHub owner/name, from pyproject's [project.urls] (scripts/ is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
MARK, END = "<!-- notebook-table -->", "<!-- /notebook-table -->"
API_MARK, API_END = "<!-- which-api:start -->", "<!-- which-api:end -->"
API_HEADING = "## Which API when"
API_SOURCE = "04_mix_and_match.ipynb"
ANSWERS = "**This notebook answers:**"


def _between(text: str, mark: str, end: str, new: str) -> str:
    start = text.index(mark) + len(mark)
    stop = text.index(end, start)
    return text[:start] + "\n" + new + "\n" + text[stop:]


def _seconds(run_table: str | None, readme: str) -> dict[str, str]:
    """Run times from a `make run` table, else the ones the README shows."""
    if run_table:
        found = re.findall(r"^(\d\d_\S+\.ipynb)\s+([\d.]+)\s+ok", Path(run_table).read_text(), flags=re.MULTILINE)
        return {name: f"{float(s):.0f} s" for name, s in found}
    return dict(re.findall(r"\]\(notebooks/(\d\d_\S+\.ipynb)\).*\| ([\d]+ s) \|$", readme, flags=re.MULTILINE))


def notebook_table(seconds: dict[str, str]) -> str:
    rows = ["| # | Notebook | The question it answers | CPU time¹ |", "|---|----------|---------------|-----------|"]
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        head = nbformat.read(path, as_version=4).cells[0].source.split("\n\n")
        title = head[0].lstrip("# ").split("·", 1)[-1].strip()
        question = next((" ".join(p.split()) for p in head if p.startswith(ANSWERS)), None)
        if question is None:
            raise SystemExit(f"{path.name}: the header cell has no line starting with {ANSWERS}")
        purpose = question.removeprefix(ANSWERS).strip()
        badge = (
            f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{REPO}/blob/main/notebooks/{path.name})"
        )
        rows.append(
            f"| {path.name[:2]} | [{title}](notebooks/{path.name}) {badge} | {purpose} | "
            f"{seconds.get(path.name, '–')} |"
        )
    return "\n".join(rows)


def which_api() -> str:
    """Notebook 04's "Which API when" cell, with its notebook links pointing into notebooks/."""
    cells = nbformat.read(NOTEBOOKS / API_SOURCE, as_version=4).cells
    source = next(c.source for c in cells if c.cell_type == "markdown" and c.source.startswith(API_HEADING))
    source = re.sub(r"\]\((\d\d_[\w]+\.ipynb)", r"](notebooks/\1", source)
    # what "above" and "this notebook" mean in 04, said so that it also reads right in the README
    here = f"[04](notebooks/{API_SOURCE})"
    for old, new in (
        ("The matrix above", f"The matrix in [notebook 04](notebooks/{API_SOURCE})"),
        (", matrix above", f", {here} (the matrix)"),
        ("this notebook (the seed's mix)", f"{here} (the seed's mix)"),
    ):
        source = source.replace(old, new)
    return source


def render(readme: str, run_table: str | None = None) -> str:
    readme = _between(readme, MARK, END, notebook_table(_seconds(run_table, readme)))
    return _between(readme, API_MARK, API_END, which_api())


def main(run_table: str | None = None) -> None:
    path = ROOT / "README.md"
    path.write_text(render(path.read_text(encoding="utf-8"), run_table), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
