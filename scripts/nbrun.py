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

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"
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
    """Validate, then write with nbformat's writer through a temporary file (never a half-written notebook)."""
    nbformat.validate(nb)
    tmp = path.with_name(path.name + ".tmp")
    try:
        nbformat.write(nb, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def execute(path: Path) -> tuple[nbformat.NotebookNode, float, str]:
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
    try:
        client.execute()
    except CellExecutionError as err:
        status = "FAILED: " + str(err).strip().splitlines()[-1][:120]
    except Exception as err:  # kernel died, timeout, ...
        status = f"FAILED: {type(err).__name__}: {err}"[:130]
    return nb, time.monotonic() - start, status


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
            write(normalise(nbformat.read(p, as_version=4)), p)
        return 0
    BUILD.mkdir(exist_ok=True)
    rows, failed = [], 0
    for p in paths:
        print(f"executing {p.name} ...", flush=True)
        nb, seconds, status = execute(p)
        nb = normalise(nb)
        target = p if (args.mode == "record" and status == "ok") else BUILD / p.name
        write(nb, target)
        failed += status != "ok"
        rows.append((p.name, status, seconds))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'notebook':<{width}}  {'seconds':>7}  status")
    for name, status, seconds in rows:
        print(f"{name:<{width}}  {seconds:7.1f}  {status}")
    print(f"{'total':<{width}}  {sum(r[2] for r in rows):7.1f}  {len(rows) - failed} ok, {failed} failed")
    if args.mode == "record" and failed:
        print("failed notebooks were NOT recorded; their executed copies are in build/", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
