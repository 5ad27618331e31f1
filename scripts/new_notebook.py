"""Add a notebook to the collection: `make new NB=NN_name` (= python scripts/new_notebook.py NN_name).

1. writes ``lessons/NN_name.py`` from the template below: the header (title, purpose and question placeholders, the
   Colab/GitHub badges of *this* file, What you'll learn, Expected run time), the Setup and device-split cells copied
   from the first lesson, a lesson placeholder, ``## Exercises`` with Exercise 1 and its hidden solution,
   ``## What we verified`` with ``helpers.claims.verify`` and the navigation line;
2. pairs it with ``notebooks/NN_name.ipynb`` (``jupytext --sync``, as ``make sync``) and gives the notebook the
   kernelspec and Colab metadata of an existing one (jupytext.toml keeps notebook metadata out of the .py);
3. points the neighbours' Previous/Next links at it (lesson and notebook, outputs kept);
4. regenerates the README's tables (scripts/readme_table.py).

Every placeholder says TODO; CONTRIBUTING.md ("Adding a notebook") lists what to fill in, then
``make sync`` and ``make record NB=notebooks/NN_name.ipynb``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
from jupytext.config import load_jupytext_config
from nbrun import normalise, write  # scripts/ is on sys.path
from project import REPO

ROOT = Path(__file__).resolve().parent.parent
FORMAT = "py:percent"
NAME = re.compile(r"\d\d_[a-z0-9]+(?:_[a-z0-9]+)*")
SOLUTION_METADATA = {"cellView": "form", "jupyter": {"source_hidden": True}}

HEADER = """# {number} · TODO: title

TODO: one or two sentences: what the learner does here, and why it matters.

**This notebook answers:** TODO: the one question this notebook answers?

<table align="left">
  <td><a target="_blank" href="https://colab.research.google.com/github/{repo}/blob/main/notebooks/{file}"><img \
src="https://www.tensorflow.org/images/colab_logo_32px.png" />Run in Google Colab</a></td>
  <td><a target="_blank" href="https://github.com/{repo}/blob/main/notebooks/{file}"><img \
src="https://www.tensorflow.org/images/GitHub-Mark-32px.png" />View source on GitHub</a></td>
</table>
<br clear="all">

**What you'll learn**

- TODO: the first thing
- TODO: the second thing

**Expected run time:** about TODO s on a 2-core CPU, no GPU needed."""

SPLIT_TEXT = """### Two replicas on one CPU

As in notebook 01: split the CPU into 2 logical devices before TensorFlow starts its runtime (on a GPU runtime the
GPU is hidden, so every runtime runs the same lesson; notebook 01 says why)."""

IMPORTS = """from helpers.claims import verify

tf.get_logger().setLevel("ERROR")  # hide TF's Python INFO logs ("Using MirroredStrategy with devices ...")"""

LESSON_TEXT = """## TODO: the first section

TODO: what this step shows. One step per code cell; print what the learner should look at."""

LESSON_CODE = """# TODO: the lesson's code
strategy = tf.distribute.MirroredStrategy(replica_devices)
print("replicas in sync:", strategy.num_replicas_in_sync)"""

EXERCISE = """## Exercises

### Exercise 1: TODO title

TODO: the task, and what to predict before running it. The solution is in the next cell (hidden: click to show it)."""

SOLUTION = """# @title Solution to exercise 1
# TODO: the solution; it ends with verify({...}) of what the learner should find
one_replica = tf.distribute.MirroredStrategy(replica_devices[:1])
print("replicas in sync:", one_replica.num_replicas_in_sync)
verify({"TODO: what the solution shows": one_replica.num_replicas_in_sync == 1})"""

VERIFIED = """# TODO: one claim per fact the notebook showed, each next to its check; verify asserts them all
verify({"TODO: a claim this notebook showed": strategy.num_replicas_in_sync == 2})"""


class NewNotebookError(ValueError):
    """The notebook cannot be added as asked; the message says why."""


def notebook_name(arg: str) -> str:
    """``NN_name`` from ``NN_name``, ``lessons/NN_name.py`` or ``notebooks/NN_name.ipynb``."""
    name = Path(arg).name.removesuffix(".py").removesuffix(".ipynb")
    if not NAME.fullmatch(name):
        raise NewNotebookError(f"{arg!r} is not NN_name (two digits, then lower-case words joined by _): e.g. 10_name")
    return name


def title(notebook: Path) -> str:
    """``NN · Topic``: the first line of the header cell, as the navigation links show it."""
    return nbformat.read(notebook, as_version=4).cells[0].source.splitlines()[0].removeprefix("# ").strip()


def navigation(previous: Path | None, following: Path | None) -> str:
    """The last cell: a rule, then links to the previous notebook, the README and the next one."""
    links = [f"← Previous: [{title(previous)}]({previous.name})"] if previous else []
    links.append("[All notebooks](../README.md)")
    links += [f"Next: [{title(following)}]({following.name}) →"] if following else []
    return "---\n" + " | ".join(links)


def _shared_cells(lesson: Path) -> tuple[str, str, str]:
    """The Setup markdown and code cells and the device-split cell of ``lesson`` (identical in every lesson)."""
    cells = jupytext.read(lesson, fmt=FORMAT).cells
    at = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("## Setup"))
    split = next(c.source for c in cells if c.cell_type == "code" and "devices.use_cpu_replicas(2)" in c.source)
    return cells[at].source, cells[at + 1].source, split


def template(name: str, first_lesson: Path, nav: str) -> nbformat.NotebookNode:
    setup_text, setup_code, split = _shared_cells(first_lesson)
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        md(HEADER.format(number=name[:2], repo=REPO, file=f"{name}.ipynb")),
        md(setup_text),
        code(setup_code),
        md(SPLIT_TEXT),
        code(split),
        code(IMPORTS),
        md(LESSON_TEXT),
        code(LESSON_CODE),
        md(EXERCISE),
        code(SOLUTION, metadata=SOLUTION_METADATA),
        md("## What we verified"),
        code(VERIFIED),
        md(nav),
    ]
    return nb


def _relink(lesson: Path, notebook: Path, nav: str, config) -> None:
    """Give a neighbour's lesson and notebook the navigation line ``nav`` (the notebook keeps its outputs)."""
    source = jupytext.read(lesson, fmt=FORMAT)
    source.cells[-1].source = nav
    lesson.write_text(jupytext.writes(source, fmt=FORMAT, config=config), encoding="utf-8")
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[-1].source = nav
    write(normalise(nb), notebook)


def add(name: str, root: Path = ROOT) -> list[Path]:
    """Add notebook ``name`` (``NN_name``) to the collection in ``root``; return the files written or changed."""
    lessons, notebooks = root / "lessons", root / "notebooks"
    existing = sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))
    if not existing:
        raise NewNotebookError(f"no notebooks in {notebooks}: the template copies its Setup cell from the first one")
    taken = [p.name for p in existing if p.name[:2] == name[:2]] + [
        p.name for p in (lessons / f"{name}.py", notebooks / f"{name}.ipynb") if p.exists()
    ]
    if taken:
        raise NewNotebookError(f"{name}: number or name already taken by {', '.join(sorted(set(taken)))}")
    config = load_jupytext_config(str(root))
    previous = max((p for p in existing if p.name < name), default=None)
    following = min((p for p in existing if p.name > name), default=None)
    notebook = notebooks / f"{name}.ipynb"
    lesson = lessons / f"{name}.py"

    nb = template(name, lessons / f"{existing[0].stem}.py", navigation(previous, following))
    lesson.write_text(jupytext.writes(nb, fmt=FORMAT, config=config), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "jupytext", "--sync", "--quiet", str(lesson)], cwd=root, check=True)
    paired = nbformat.read(notebook, as_version=4)
    metadata = nbformat.read(existing[0], as_version=4).metadata
    paired.metadata = nbformat.from_dict(
        {"colab": {**metadata.get("colab", {}), "name": notebook.name}, "kernelspec": metadata["kernelspec"]}
    )
    write(normalise(paired), notebook)
    changed = [lesson, notebook]

    order = sorted([*existing, notebook])
    for neighbour in filter(None, (previous, following)):
        at = order.index(neighbour)
        nav = navigation(order[at - 1] if at > 0 else None, order[at + 1] if at + 1 < len(order) else None)
        _relink(lessons / f"{neighbour.stem}.py", neighbour, nav, config)
        changed += [lessons / f"{neighbour.stem}.py", neighbour]

    subprocess.run([sys.executable, str(root / "scripts" / "readme_table.py")], cwd=root, check=True)
    return [*changed, root / "README.md"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", nargs="*", help="NN_name, e.g. 10_preemption")
    args = parser.parse_args(argv)
    try:
        if len(args.name) != 1:
            raise NewNotebookError("give one name: make new NB=NN_name (e.g. make new NB=10_preemption)")
        name = notebook_name(args.name[0])
        changed = add(name)
    except NewNotebookError as err:
        print(f"new_notebook: {err}", file=sys.stderr)
        return 2
    for path in changed:
        print("wrote", path.relative_to(ROOT))
    print(
        f"Now fill in every TODO in lessons/{name}.py (CONTRIBUTING.md, 'Adding a notebook'), "
        f"then: make sync && make record NB=notebooks/{name}.ipynb"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
