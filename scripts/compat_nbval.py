"""nbval over the notebooks in a stack's kernel, and what its JUnit report says (scripts/compat.py).

``run_notebooks`` runs nbval with the same sanitizer as ``make test``; ``summarise`` reads, per notebook, whether it
ran to the end (or the first cell that raised, with its error) and which checked outputs differ from the committed
ones, from pytest's diff lines.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
from compat_env import ROOT, CompatError, Stack, kernel_name, stack_dir

NBVAL_TIMEOUT = 3600  # seconds for the whole nbval run of one stack
_ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;]*m")  # colour codes, raw or as JUnit XML escapes them


def run_notebooks(stack: Stack, notebooks: list[Path], workers: int) -> Path:
    """nbval over ``notebooks`` in the stack's kernel; returns the JUnit XML report."""
    home = stack_dir(stack)
    xml = home / "nbval.xml"
    xml.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-o",
        "addopts=",
        "-p",
        "no:cacheprovider",
        "--nbval",
        f"--nbval-kernel-name={kernel_name(stack)}",
        "--nbval-sanitize-with=tests/nbval_sanitize.cfg",
        "--nbval-cell-timeout=600",
        "-q",
        "--junitxml",
        str(xml),
        *[str(p.relative_to(ROOT)) for p in notebooks],
    ]
    if workers > 1:
        cmd += ["-n", str(workers), "--dist", "loadfile"]
    env = {**os.environ, "JUPYTER_PATH": str(home / "jupyter" / "share" / "jupyter")}
    log = home / "nbval.log"
    with log.open("w") as out:
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=NBVAL_TIMEOUT)
    if not xml.exists():
        raise CompatError(f"nbval wrote no report; see {log.relative_to(ROOT)}")
    return xml


def summarise(xml: Path, notebooks: list[Path]) -> list[dict]:
    """Per notebook: ran to the end (or the first cell that raised, with its error), and the checked outputs that
    differ from the committed ones."""
    cases: dict[str, dict[int, tuple[str, str]]] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        m = re.fullmatch(r"Cell (\d+)", case.get("name", ""))
        if not m:
            continue
        failure = case.find("failure")
        error = case.find("error")
        node = failure if failure is not None else error
        text = _ANSI.sub("", (node.get("message", "") + "\n" + (node.text or ""))) if node is not None else ""
        kind = "pass" if node is None else "differ" if "Cell outputs differ" in text else "raised"
        cases.setdefault(case.get("classname", ""), {})[int(m.group(1))] = (kind, text)
    rows = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        key = next((k for k in cases if k.endswith(path.stem) or k.endswith(path.name)), None)
        got = cases.get(key, {})
        row: dict = {
            "notebook": path.name,
            "cells": len(code),
            "checked": sum(1 for c in code if "NBVAL_IGNORE_OUTPUT" not in c.source and c.execution_count),
            "ran_to_end": bool(got) and len(got) == len(code) and all(k != "raised" for k, _ in got.values()),
            "first_error": None,
            "differ": [],
        }
        if not got:
            row["first_error"] = {"cell": None, "error": "not run (see nbval.log)"}
        for num in sorted(got):
            kind, text = got[num]
            first_line = next((ln for ln in code[num].source.splitlines() if ln.strip()), "")[:80]
            if kind == "raised" and row["first_error"] is None:
                row["first_error"] = {"cell": num, "source": first_line, "error": error_line(text)}
            elif kind == "differ":
                lines = _diff_lines(text)
                row["differ"].append(
                    {
                        "cell": num,
                        "source": first_line,
                        **lines,
                        "version_only": versionless(lines["committed"]) == versionless(lines["got"]),
                    }
                )
        rows.append(row)
    return rows


def error_line(text: str) -> str:
    """The last ``SomeError: message`` line of a failure's text (the exception a cell raised), at most 200 chars."""
    lines = [ln.strip() for ln in text.splitlines() if re.match(r"\s*[A-Za-z_.]*(Error|Exception|Exit)\b.*:", ln)]
    return (lines[-1] if lines else text.strip().splitlines()[-1] if text.strip() else "?")[:200]


_VERSION = re.compile(r"\b\d+\.\d+\.\d+([.-]?(dev|rc|a|b)\d+)?\b")  # three parts: 2.20.0, not 0.9518


def versionless(line: str) -> str:
    """``line`` with every version number (2.20.0, 3.16.0.dev2026102704) replaced by "V"."""
    return _VERSION.sub("V", line)


def _diff_lines(text: str) -> dict:
    """The first committed line and the line got instead, from nbval's diff.

    nbval asserts ``reference_output == test_output``; pytest marks the right side (this run) with "-" and the left
    side (the committed output) with "+"."""
    lines = [ln.strip() for ln in text.splitlines()]
    got = [ln[2:] for ln in lines if ln.startswith("- ")]
    committed = [ln[2:] for ln in lines if ln.startswith("+ ")]
    return {
        "committed": (committed[0] if committed else "(see nbval.log)")[:120],
        "got": (got[0] if got else "(see nbval.log)")[:120],
    }
