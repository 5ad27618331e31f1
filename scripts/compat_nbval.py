"""nbval over the notebooks in a stack's kernel, and what it found (scripts/compat.py).

``run_notebooks`` runs nbval with the same sanitizer as ``make test``, with the plugin ``compat_cells`` and pytest's
structured report (pytest-reportlog, ``--report-log``); ``summarise`` reads from that report, per notebook, whether it
ran to the end (or the first cell that raised, with its error), which checked outputs differ from the committed ones,
and the Python warnings its cells showed. Nothing is parsed out of nbval's or pytest's text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
from compat_env import ROOT, CompatError, Stack, kernel_name, stack_dir

NBVAL_TIMEOUT = 3600  # seconds for the whole nbval run of one stack


def run_notebooks(stack: Stack, notebooks: list[Path], workers: int) -> Path:
    """nbval over ``notebooks`` in the stack's kernel; returns pytest's report log (JSON lines)."""
    home = stack_dir(stack)
    report = home / "nbval.jsonl"
    report.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-o",
        "addopts=",
        "-p",
        "no:cacheprovider",
        "-p",
        "compat_cells",
        "--nbval",
        f"--nbval-kernel-name={kernel_name(stack)}",
        "--nbval-sanitize-with=tests/nbval_sanitize.cfg",
        "--nbval-cell-timeout=600",
        "-q",
        f"--report-log={report}",
        *[str(p.relative_to(ROOT)) for p in notebooks],
    ]
    if workers > 1:
        cmd += ["-n", str(workers), "--dist", "loadfile"]
    env = {
        **os.environ,
        "JUPYTER_PATH": str(home / "jupyter" / "share" / "jupyter"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "scripts"), os.environ.get("PYTHONPATH")])),
    }
    log = home / "nbval.log"
    with log.open("w") as out:
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=NBVAL_TIMEOUT)
    if not report.exists():
        raise CompatError(f"nbval wrote no report; see {log.relative_to(ROOT)}")
    return report


def cell_results(report: Path) -> dict[str, dict[int, dict]]:
    """``{notebook file name: {code cell: compat_cells' result}}`` from a pytest report log."""
    cells: dict[str, dict[int, dict]] = {}
    for line in report.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("$report_type") != "TestReport":
            continue
        for name, value in entry.get("user_properties", []):
            if name == "nbval":
                notebook = Path(entry["nodeid"].split("::")[0]).name
                cells.setdefault(notebook, {}).setdefault(value["cell"], value)
    return cells


def _warnings(got: dict[int, dict]) -> list[dict]:
    """The distinct warnings a notebook showed: category, message, the first cell that showed it, how many times."""
    seen: dict[tuple[str, str], dict] = {}
    for num in sorted(got):
        for w in got[num].get("warnings", []):
            key = (w["category"], w["message"])
            if key in seen:
                seen[key]["count"] += 1
            else:
                seen[key] = {"category": w["category"], "message": w["message"], "cell": num, "count": 1}
    return list(seen.values())


def summarise(report: Path, notebooks: list[Path]) -> list[dict]:
    """Per notebook: ran to the end (or the first cell that raised, with its error), the checked outputs that
    differ from the committed ones, and the warnings it showed."""
    cells = cell_results(report)
    rows = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        got = cells.get(path.name, {})
        row: dict = {
            "notebook": path.name,
            "cells": len(code),
            "checked": sum(1 for c in code if "NBVAL_IGNORE_OUTPUT" not in c.source and c.execution_count),
            "ran_to_end": bool(got) and len(got) == len(code) and all(c["outcome"] != "raised" for c in got.values()),
            "first_error": None,
            "differ": [],
            "warnings": _warnings(got),
        }
        if not got:
            row["first_error"] = {"cell": None, "error": "not run (see nbval.log)"}
        for num in sorted(got):
            cell = got[num]
            first_line = next((ln for ln in code[num].source.splitlines() if ln.strip()), "")[:80]
            if cell["outcome"] == "raised" and row["first_error"] is None:
                row["first_error"] = {"cell": num, "source": first_line, "error": cell["error"]}
            elif cell["outcome"] == "differ":
                committed, now = cell["committed"][:120], cell["got"][:120]
                row["differ"].append(
                    {
                        "cell": num,
                        "source": first_line,
                        "committed": committed,
                        "got": now,
                        "version_only": versionless(committed) == versionless(now),
                    }
                )
        rows.append(row)
    return rows


_VERSION = re.compile(r"\b\d+\.\d+\.\d+([.-]?(dev|rc|a|b)\d+)?\b")  # three parts: 2.20.0, not 0.9518


def versionless(line: str) -> str:
    """``line`` with every version number (2.20.0, 3.16.0.dev2026102704) replaced by "V"."""
    return _VERSION.sub("V", line)
