"""Rewrite the README's generated parts from the notebooks: the notebook table and the "Which API when" table.

    python scripts/nbrun.py run | tee build/run.txt
    python scripts/readme_table.py build/run.txt     # with fresh run times
    python scripts/readme_table.py                   # keep the run times the README has

The notebook table takes each notebook's title and its one-line question ("**This notebook answers:** …") from its
header cell, and its teaching time from its size and run time (scripts/budget.py), as does the learning-paths table;
the "Which API when" section is
docs/which_api.md (its one source, also a page of the docs site), with its links made relative to the README.
tests/test_readme.py checks both.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
from budget import CORE, run_seconds, size  # scripts/ is on sys.path
from project import REPO  # the GitHub owner/name, from pyproject's [project.urls]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
MARK, END = "<!-- notebook-table -->", "<!-- /notebook-table -->"
PATHS_MARK, PATHS_END = "<!-- paths -->", "<!-- /paths -->"
API_MARK, API_END = "<!-- which-api:start -->", "<!-- which-api:end -->"
API_HEADING = "## Which API when"
API_PAGE = ROOT / "docs" / "which_api.md"
ANSWERS = "**This notebook answers:**"


def splice(text: str, mark: str, end: str, new: str) -> str:
    """``text`` with what lies between the markers ``mark`` and ``end`` replaced by ``new`` (markers kept). The one way
    the README's generated parts are written (this script, and scripts/compat_docs.py for the compatibility table).

    Raises ValueError naming a missing marker: without it the README would keep a stale table unnoticed."""
    if mark not in text:
        raise ValueError(f"README.md has no {mark} marker: put the {mark} ... {end} pair back where that part goes")
    start = text.index(mark) + len(mark)
    stop = text.find(end, start)
    if stop < 0:
        raise ValueError(f"README.md has no {end} marker after {mark}: put it back after the generated part")
    return text[:start] + "\n" + new + "\n" + text[stop:]


def _seconds(run_table: str | None, readme: str) -> dict[str, str]:
    """Run times from a `make run` table, else the ones the README shows."""
    if run_table:
        return {name: f"{s:.0f} s" for name, s in run_seconds(Path(run_table).read_text(encoding="utf-8")).items()}
    return dict(re.findall(r"\]\(notebooks/(\d\d_\S+\.ipynb)\).*?\| ([\d]+ s) \|", readme))


def _minutes(seconds: dict[str, str]) -> dict[str, int]:
    """Teaching time per notebook (scripts/budget.py) from its size and its run time."""
    return {
        path.name: size(path).minutes(float(seconds[path.name].removesuffix(" s")))
        for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
        if path.name in seconds
    }


def notebook_table(seconds: dict[str, str]) -> str:
    minutes = _minutes(seconds)
    rows = [
        "| # | Notebook | The question it answers | CPU time¹ | Teaching time² |",
        "|---|----------|---------------|-----------|----------------|",
    ]
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
            f"{seconds.get(path.name, '–')} | {f'{minutes[path.name]} min' if path.name in minutes else '–'} |"
        )
    return "\n".join(rows)


def _hours(total: int) -> str:
    hours, rest = divmod(total, 60)
    return f"{hours} h {rest} min" if hours and rest else f"{hours} h" if hours else f"{rest} min"


def paths_table(seconds: dict[str, str]) -> str:
    """The learning paths with their teaching times: core 01-04, advanced the rest."""
    minutes = _minutes(seconds)
    names = [path.name for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))]
    core = [n for n in names if n[:2] in CORE]
    advanced = [n for n in names if n[:2] not in CORE]

    def cell(group: list[str]) -> str:
        if any(n not in minutes for n in group):
            return "– (run `make run`, then `python scripts/readme_table.py build/run.txt`)"
        return f"{_hours(sum(minutes[n] for n in group))}: " + ", ".join(f"{n[:2]} {minutes[n]} min" for n in group)

    return "\n".join(
        [
            "| Path | Notebooks | For | Teaching time² (with exercises) |",
            "|---|---|---|---|",
            f"| **Core** | {' → '.join(n[:2] for n in core)} | everyone who trains with a strategy and needs the "
            f"model back | {cell(core)} |",
            f"| **Advanced** | {' → '.join(n[:2] for n in advanced)} | TPU / remote workers, custom model classes, "
            "multi-worker jobs, picking a format by cost, long training runs that must survive crashes and preemption "
            f"| {cell(advanced)} |",
        ]
    )


def which_api() -> str:
    """docs/which_api.md, the one source of the "Which API when" table, as a README section (links from the README)."""
    source = API_PAGE.read_text(encoding="utf-8").strip() + "\n"
    source = source.replace("# Which API when", API_HEADING, 1)
    source = source.replace("](../notebooks/", "](notebooks/").replace("](../README.md#", "](#")
    return re.sub(r"\]\((cluster|accelerators|compatibility)\.md", r"](docs/\1.md", source)


def render(readme: str, run_table: str | None = None) -> str:
    seconds = _seconds(run_table, readme)
    readme = splice(readme, MARK, END, notebook_table(seconds))
    readme = splice(readme, PATHS_MARK, PATHS_END, paths_table(seconds))
    return splice(readme, API_MARK, API_END, which_api())


def main(run_table: str | None = None) -> None:
    path = ROOT / "README.md"
    path.write_text(render(path.read_text(encoding="utf-8"), run_table), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
