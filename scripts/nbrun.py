"""Execute the notebooks headless: `run` (to build/, with a timing table) or `record` (in place).

    python scripts/nbrun.py run    [notebooks/NN_*.ipynb ...]   # make run
    python scripts/nbrun.py record [notebooks/NN_*.ipynb ...]   # make record
    python scripts/nbrun.py clean  [notebooks/NN_*.ipynb ...]   # normalise only, no execution (make sync runs it)

Each notebook runs in a fresh kernel of this Python, with the notebooks/ folder as its
working directory.  Recording happens under the same conditions as the nbval test run:
ipykernel only captures C++-level (absl) output when it is *not* under pytest, and it
decides that from ``PYTEST_CURRENT_TEST``; we set that variable for the kernel so the
stored outputs hold exactly the streams the test run produces.

Stored notebooks are normalised by libraries, so re-recording adds no noise: nbclient does
not record per-cell timings (``record_timing=False``), nbconvert's
``CoalesceStreamsPreprocessor`` joins the stream chunks a print was split into, nbstripout
(``--keep-output --keep-count``, plus ``STRIP_EXTRA_KEYS``) drops volatile metadata and numbers
the cell ids, and nbformat writes the file.  ``tests/test_sources.py`` runs ``nbstripout --verify``
with ``NBSTRIPOUT_ARGS`` over the committed notebooks.

The terminal gets one line per notebook, the table (notebook, seconds, status) and, for a failure, the failing cell
and its error.  The kernel's own stderr (TensorFlow's C++ start-up lines, ipykernel's notices) goes to
``build/logs/NN_name.kernel.log``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert.preprocessors import CoalesceStreamsPreprocessor
from nbstripout import strip_output

from helpers.atomic_save import save_atomically

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"
LOGS = "logs"  # under BUILD: one kernel stderr log per notebook
CELL_TIMEOUT = 600  # seconds; a cell that hangs fails the run instead of blocking it

# nbstripout's own default extra keys (its CLI adds them itself), then ours: language_info holds the Python version of
# whoever recorded the notebook. The command-line form is what the test and .pre-commit-config.yaml run.
NBSTRIPOUT_DEFAULT_KEYS = (
    "metadata.signature metadata.widgets cell.metadata.collapsed cell.metadata.ExecuteTime cell.metadata.execution "
    "cell.metadata.heading_collapsed cell.metadata.hidden cell.metadata.scrolled"
).split()
STRIP_EXTRA_KEYS = ["metadata.language_info"]
NBSTRIPOUT_ARGS = ["--keep-output", "--keep-count", "--extra-keys", " ".join(STRIP_EXTRA_KEYS)]


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Join split stream chunks and strip volatile metadata, exactly as ``nbstripout NBSTRIPOUT_ARGS`` does."""
    nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})
    return strip_output(
        nb,
        keep_output=True,
        keep_count=True,
        keep_id=False,
        extra_keys=NBSTRIPOUT_DEFAULT_KEYS + STRIP_EXTRA_KEYS,
    )


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    """Validate, then write with nbformat's writer, atomically (never a half-written notebook)."""
    nbformat.validate(nb)
    save_atomically(lambda tmp: nbformat.write(nb, tmp), path)


def failing_cell(nb: nbformat.NotebookNode) -> str:
    """The first code cell with an error output: its number (code cells counted from 0), first source line, error."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    for number, cell in enumerate(code):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                first = next((line for line in cell.source.splitlines() if line.strip()), "")
                return f"code cell {number} (`{first[:80]}`) raised {out['ename']}: {out['evalue'][:300]}"
    return ""


def execute(path: Path, log: Path) -> tuple[nbformat.NotebookNode, float, str]:
    """Run ``path`` in a fresh kernel whose stderr goes to ``log``; return the notebook, seconds and a status."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # start from a clean slate
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    os.environ["PYTEST_CURRENT_TEST"] = "nbrun"  # see module docstring
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    start = time.monotonic()
    status = "ok"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as stderr:
        try:
            client.execute(stderr=stderr)  # passed on to the kernel's Popen
        except CellExecutionError as err:
            status = "FAILED: " + str(err).strip().splitlines()[-1][:120]
        except Exception as err:  # kernel died, timeout, ...
            status = f"FAILED: {type(err).__name__}: {err}"[:130]
    return nb, time.monotonic() - start, status


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["run", "record", "clean"])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 1
    if args.mode == "clean":
        for p in paths:
            nb = normalise(nbformat.read(p, as_version=4))
            if nbformat.writes(nb) + "\n" != p.read_text(encoding="utf-8"):  # unchanged: keep its mtime, so that
                write(nb, p)  # jupytext --sync never takes an untouched notebook for newer than its edited .py
        return 0
    BUILD.mkdir(exist_ok=True)
    rows, failures = [], []
    for i, p in enumerate(paths, 1):
        print(f"[{i}/{len(paths)}] {p.name}", flush=True)
        log = BUILD / LOGS / f"{p.stem}.kernel.log"
        nb, seconds, status = execute(p, log)
        nb = normalise(nb)
        target = p if (args.mode == "record" and status == "ok") else BUILD / p.name
        write(nb, target)
        if status != "ok":
            failures.append((p.name, failing_cell(nb) or status, target, log))
        rows.append((p.name, status, seconds))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'notebook':<{width}}  {'seconds':>7}  status")
    for name, status, seconds in rows:
        print(f"{name:<{width}}  {seconds:7.1f}  {'ok' if status == 'ok' else 'FAILED'}")
    print(f"{'total':<{width}}  {sum(r[2] for r in rows):7.1f}  {len(rows) - len(failures)} ok, {len(failures)} failed")
    for name, what, executed, log in failures:
        print(f"\n{name}: {what}\n  executed copy: {_shown(executed)}\n  kernel log: {_shown(log)}")
    failed = len(failures)
    if args.mode == "record" and failed:
        print("failed notebooks were NOT recorded; their executed copies are in build/", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
