"""The workshop budget of a notebook, and the teaching time that follows from its size.

    python scripts/budget.py                 # every notebook: words, code cells, exercises, estimate
    python scripts/budget.py build/run.txt   # the same with the run times of a `make run` table

A notebook fits a 45-minute workshop slot, exercises included, when it has at most
:data:`MAX_WORDS` markdown words outside its Setup cell, at most :data:`MAX_CODE_CELLS` code
cells (hidden exercise solutions included), :data:`MIN_EXERCISES` to :data:`MAX_EXERCISES`
numbered exercises, and runs in at most :data:`MAX_RUN_SECONDS` of `make run`.

The teaching time is an estimate from those counts, not a guess per notebook:
reading at :data:`WORDS_PER_MINUTE`, :data:`MINUTES_PER_CODE_CELL` to read and run each code
cell, the measured CPU time, and :data:`MINUTES_PER_EXERCISE` per exercise, rounded up to
5 minutes. A notebook at every limit comes to 45 minutes.
tests/test_notebooks.py enforces the limits; scripts/readme_table.py writes the estimates into the README.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

MAX_WORDS = 1800
MAX_CODE_CELLS = 25
MIN_EXERCISES, MAX_EXERCISES = 1, 3
MAX_RUN_SECONDS = 75
#: the core path, 01–04, in `make run`
CORE = ("01", "02", "03", "04")
MAX_CORE_RUN_SECONDS = 240
SLOT_MINUTES = 45

WORDS_PER_MINUTE = 200
MINUTES_PER_CODE_CELL = 0.5
MINUTES_PER_EXERCISE = 6

SETUP_HEADING = "## Setup"
EXERCISE = re.compile(r"^### Exercise (\d+)\b", re.MULTILINE)


@dataclass(frozen=True)
class Size:
    """What a notebook asks of its reader."""

    words: int  # markdown words outside the Setup cell
    code_cells: int  # hidden solutions included
    exercises: int  # "### Exercise N" headings

    def minutes(self, run_seconds: float) -> int:
        """Teaching time in minutes, rounded up to 5: reading, cells, CPU time, exercises."""
        if run_seconds < 0:
            raise ValueError(f"run_seconds must be >= 0, got {run_seconds}")
        raw = (
            self.words / WORDS_PER_MINUTE
            + self.code_cells * MINUTES_PER_CODE_CELL
            + run_seconds / 60
            + self.exercises * MINUTES_PER_EXERCISE
        )
        return 5 * math.ceil(raw / 5)


def size(path: Path) -> Size:
    """Count a notebook's markdown words (Setup cell excluded), code cells and numbered exercises."""
    cells = nbformat.read(path, as_version=4).cells
    markdown = [c.source for c in cells if c.cell_type == "markdown"]
    words = sum(len(s.split()) for s in markdown if not s.lstrip().startswith(SETUP_HEADING))
    exercises = sum(len(EXERCISE.findall(s)) for s in markdown)
    return Size(words, sum(c.cell_type == "code" for c in cells), exercises)


def over_budget(name: str, s: Size) -> list[str]:
    """What in ``s`` breaks the workshop budget (empty when it fits)."""
    problems = []
    if s.words > MAX_WORDS:
        problems.append(f"{name}: {s.words} markdown words outside Setup (at most {MAX_WORDS})")
    if s.code_cells > MAX_CODE_CELLS:
        problems.append(f"{name}: {s.code_cells} code cells (at most {MAX_CODE_CELLS}, hidden solutions included)")
    if not MIN_EXERCISES <= s.exercises <= MAX_EXERCISES:
        problems.append(f"{name}: {s.exercises} exercises (between {MIN_EXERCISES} and {MAX_EXERCISES})")
    return problems


def run_seconds(run_table: str) -> dict[str, float]:
    """notebook file name → seconds, from the table `make run` prints (scripts/nbrun.py run)."""
    found = re.findall(r"^(\d\d_\S+\.ipynb)\s+([\d.]+)\s+ok", run_table, flags=re.MULTILINE)
    return {name: float(seconds) for name, seconds in found}


def main(argv: list[str]) -> int:
    seconds = run_seconds(Path(argv[0]).read_text(encoding="utf-8")) if argv else {}
    problems = []
    print(f"{'notebook':40} words  cells  exercises  run s  teaching min")
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        s = size(path)
        run = seconds.get(path.name)
        problems += over_budget(path.name, s)
        if run is not None and run > MAX_RUN_SECONDS:
            problems.append(f"{path.name}: {run:.0f} s in make run (at most {MAX_RUN_SECONDS})")
        minutes = s.minutes(run) if run is not None else "–"
        run_text = f"{run:.0f}" if run is not None else "–"
        print(f"{path.name:40} {s.words:5}  {s.code_cells:5}  {s.exercises:9}  {run_text:>5}  {minutes:>12}")
    print("\n".join(problems) or "every notebook fits a 45-minute slot")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
