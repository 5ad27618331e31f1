"""Rewrite the README's notebook table from the notebooks' headers and a `make run` table.

python scripts/nbrun.py run | tee build/run.txt
python scripts/readme_table.py build/run.txt
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
from project import REPO  # the GitHub owner/name, from pyproject's [project.urls] (scripts/ is on sys.path)

ROOT = Path(__file__).resolve().parent.parent

MARK, END = "<!-- notebook-table -->", "<!-- /notebook-table -->"


def main(run_table: str | None = None) -> None:
    seconds: dict[str, str] = {}
    if run_table:
        for line in Path(run_table).read_text().splitlines():
            m = re.match(r"^(\d\d_\S+\.ipynb)\s+([\d.]+)\s+ok", line)
            if m:
                seconds[m.group(1)] = f"{float(m.group(2)):.0f} s"
    rows = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        head = nbformat.read(path, as_version=4).cells[0].source.splitlines()
        title = head[0].lstrip("# ").split("·", 1)[-1].strip()
        purpose = next(line for line in head[1:] if line.strip())
        badge = (
            f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{REPO}/blob/main/notebooks/{path.name})"
        )
        rows.append(
            f"| {path.name[:2]} | [{title}](notebooks/{path.name}) {badge} | {purpose} | "
            f"{seconds.get(path.name, '–')} |"
        )
    readme = ROOT / "README.md"
    text = readme.read_text()
    start = text.index(MARK) + len(MARK)
    end = text.index(END, start)
    table = ["| # | Notebook | What it shows | CPU time¹ |", "|---|----------|---------------|-----------|", *rows]
    readme.write_text(text[:start] + "\n" + "\n".join(table) + "\n" + text[end:])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
