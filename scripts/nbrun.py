"""Execute the notebooks headless: `run` (to build/, with a timing table) or `record` (in place).

    python scripts/nbrun.py run    [notebooks/NN_*.ipynb ...]   # make run
    python scripts/nbrun.py record [notebooks/NN_*.ipynb ...]   # make record
    python scripts/nbrun.py clean  [notebooks/NN_*.ipynb ...]   # normalise only, no execution

Each notebook runs in a fresh kernel of this Python, with the notebooks/ folder as its
working directory.  Recording happens under the same conditions as the nbval test run:
ipykernel only captures C++-level (absl) output when it is *not* under pytest, and it
decides that from ``PYTEST_CURRENT_TEST``; we set that variable for the kernel so the
stored outputs hold exactly the streams the test run produces.

Stored notebooks are normalised so re-recording adds no noise: sorted keys, indent 1,
execution counts 1..n, consecutive stream chunks joined, no per-cell timing metadata, a
fixed kernelspec.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"
CELL_TIMEOUT = 600  # seconds; a cell that hangs fails the run instead of blocking it

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip volatile metadata so that a re-run only changes what really changed."""
    nb.metadata = nbformat.from_dict(
        {
            "kernelspec": KERNELSPEC,
            "language_info": {"name": "python"},
            **({"colab": nb.metadata["colab"]} if "colab" in nb.metadata else {}),
        }
    )
    count = 0
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        if cell.cell_type == "code":
            cell.outputs = _merge_streams(cell.outputs)
            if cell.outputs or cell.get("execution_count"):
                count += 1
                cell.execution_count = count
                for out in cell.outputs:
                    if "execution_count" in out:
                        out.execution_count = count
            else:
                cell.execution_count = None
    return nb


def _merge_streams(outputs: list) -> list:
    """Join consecutive stdout (or stderr) chunks: how a print is split depends on flush timing."""
    merged: list = []
    for out in outputs:
        if (
            out.get("output_type") == "stream"
            and merged
            and merged[-1].get("output_type") == "stream"
            and merged[-1].get("name") == out.get("name")
        ):
            merged[-1]["text"] = merged[-1]["text"] + out["text"]
        else:
            merged.append(out)
    return merged


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    """Validate, then write atomically (never a half-written notebook)."""
    nbformat.validate(nb)
    text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    tmp = path.with_suffix(".ipynb.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


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
