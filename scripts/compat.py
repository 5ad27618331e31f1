"""Run every notebook on another TensorFlow stack and write docs/compatibility.md (`make compat STACK=...`).

    python scripts/compat.py run   colab|nightly|pinned   # build (once) + Setup cell + nbval + docs
    python scripts/compat.py setup colab|nightly|pinned   # build (once) + the Setup cell's install only
    python scripts/compat.py docs                         # docs/compatibility.md + README table from docs/compat/*.json

For a stack, ``run``:

1. builds a separate virtualenv under ``build/compat/<stack>/`` (once; rebuilt when the stack's files change)
   from ``compat/<stack>/`` (``pinned`` uses the project's requirements.txt);
2. puts the stack back in its original state (Colab's own versions, no helpers installed), then installs the
   helpers the way a learner gets them: it executes the notebooks' Setup cell in that environment, as on Colab,
   with the helpers' GitHub address replaced by this checkout;
3. runs every notebook headless with nbval in a kernel of that environment, with the same sanitizer as ``make test``;
4. writes ``docs/compat/<stack>.json`` and regenerates ``docs/compatibility.md`` and the README's table.

The exit status is non-zero if a notebook does not run to the end (a cell raises where no exception is expected).
Outputs that differ from the committed ones are reported, not failed: the pinned stack is checked strictly by
``make test``.

The work is split by concern: ``compat_env`` (the stacks and their virtualenvs), ``compat_setup`` (the Setup cell),
``compat_nbval`` (nbval and its report, with the plugin ``compat_cells``), ``compat_docs`` (the JSON results,
docs/compatibility.md, the README table).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from compat_docs import RESULTS, load_results, verdict, write_docs, write_json
from compat_env import NOTEBOOKS, CompatError, Stack, get_stack, stack_dir, venv_python, versions
from compat_nbval import run_notebooks, summarise
from compat_setup import setup


def run(stack: Stack, notebooks: list[Path], workers: int) -> int:
    info = setup(stack)
    py = venv_python(stack)
    built = json.loads((stack_dir(stack) / "built.json").read_text())
    print(f"[compat] {stack.name}: Setup cell installed {', '.join(info['setup_installs'])}", flush=True)
    print(f"[compat] running {len(notebooks)} notebooks in the {stack.name} kernel", flush=True)
    report = run_notebooks(stack, notebooks, workers)
    rows = summarise(report, notebooks)
    old = load_results().get(stack.name, {})
    result = {
        "stack": stack.name,
        "title": stack.title,
        "date": dt.date.today().isoformat(),
        "versions": versions(py),
        "python_note": built.get("note", ""),
        **info,
        "notebooks": rows,
        "notes": old.get("notes", []),
    }
    write_json(RESULTS / f"{stack.name}.json", result)
    write_docs()
    for r in rows:
        status = "ran to the end" if r["ran_to_end"] else f"STOPPED: {r['first_error']}"
        differ = f"{len(r['differ'])} of {r['checked']} checked outputs differ"
        print(f"[compat] {r['notebook']}: {status}; {differ}; {len(r['warnings'])} distinct warnings shown")
    print(f"[compat] {verdict(result)}; details in docs/compatibility.md")
    return 0 if all(r["ran_to_end"] for r in rows) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["run", "setup", "docs"])
    parser.add_argument("stack", nargs="?", default="colab")
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("PYTEST_WORKERS", "2")))
    args = parser.parse_args(argv)
    try:
        if args.command == "docs":
            write_docs()
            return 0
        stack = get_stack(args.stack)
        if args.command == "setup":
            print(json.dumps(setup(stack), indent=1))
            return 0
        notebooks = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
        return run(stack, notebooks, args.workers)
    except (CompatError, subprocess.TimeoutExpired) as err:
        print(f"[compat] error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
