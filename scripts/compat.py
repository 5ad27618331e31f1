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
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build" / "compat"
DOCS = ROOT / "docs"
RESULTS = DOCS / "compat"
README = ROOT / "README.md"
sys.path.insert(0, str(ROOT / "scripts"))
from project import HELPERS_URL  # noqa: E402  (pyproject's [project.urls] Repository)

PIP_TIMEOUT = 1800  # seconds for one pip install (a cold install of a TF stack takes a few minutes)
NBVAL_TIMEOUT = 3600  # seconds for the whole nbval run of one stack
VERSIONS_OF = (
    "tensorflow",
    "tf-nightly",
    "keras",
    "keras-nightly",
    "tf-keras",
    "tf-keras-nightly",
    "tensorflow-hub",
    "tensorflow-datasets",
    "tensorflow-metadata",
    "protobuf",
    "numpy",
)


@dataclasses.dataclass(frozen=True)
class Stack:
    """A TensorFlow stack to run the notebooks on."""

    name: str
    title: str
    requirements: Path
    constraints: Path | None = None
    no_deps: Path | None = None  # packages installed without their dependencies
    python: str = "3"  # wanted Python minor version, e.g. "3.13"; "3" = the project's Python
    helpers_no_deps: bool = False  # install the helpers without dependencies (PIP_NO_DEPS for the Setup cell)

    @property
    def files(self) -> list[Path]:
        return [p for p in (self.requirements, self.constraints, self.no_deps) if p is not None]


STACKS = {
    "pinned": Stack("pinned", "Pinned (requirements.txt)", ROOT / "requirements.txt"),
    "colab": Stack(
        "colab",
        "Colab",
        ROOT / "compat/colab/requirements.txt",
        constraints=ROOT / "compat/colab/constraints.txt",
        python="3.13",
    ),
    "nightly": Stack(
        "nightly",
        "Nightly",
        ROOT / "compat/nightly/requirements.txt",
        no_deps=ROOT / "compat/nightly/no-deps.txt",
        helpers_no_deps=True,
    ),
}


class CompatError(RuntimeError):
    """A stack could not be built or set up; the message says what to do."""


# What the Setup cell may install on Colab: the helpers, the one dependency of theirs that Colab lacks
# (tensorflow-datasets imports importlib_resources when it prepares a dataset but does not declare it), and the
# tensorflow-metadata repair. Never TensorFlow, Keras, protobuf or numpy.
SETUP_MAY_INSTALL = frozenset({"distsave-helpers", "importlib-resources", "tensorflow-metadata"})
NEVER_REPLACED = ("tensorflow", "keras", "tf-keras", "protobuf", "numpy")


def check_setup(stack: Stack, info: dict, before: dict[str, str], after: dict[str, str]) -> None:
    """Fail if the Setup cell installed anything but SETUP_MAY_INSTALL on Colab, or replaced the stack's own
    TensorFlow, Keras, tf_keras, protobuf or numpy (``before``/``after``: ``versions()`` around the Setup cell)."""
    if stack.name != "colab":
        return
    extra = sorted({_name(p) for p in info["setup_installs"]} - SETUP_MAY_INSTALL)
    if extra:
        raise CompatError(f"the Setup cell installs {extra} on Colab; it may install only {sorted(SETUP_MAY_INSTALL)}")
    changed = [f"{n} {before.get(n)} -> {after.get(n)}" for n in NEVER_REPLACED if before.get(n) != after.get(n)]
    if changed:
        raise CompatError(f"the Setup cell replaced Colab's own packages: {', '.join(changed)}")


def _stack(name: str) -> Stack:
    try:
        return STACKS[name]
    except KeyError:
        raise CompatError(f"unknown stack {name!r}: use one of {', '.join(STACKS)}") from None


def find_python(minor: str) -> tuple[str, str]:
    """An interpreter for Python ``minor`` ("3.13"), or the project's own one; returns (path, note)."""
    if minor == "3":
        return _base_python(), ""
    candidates = [shutil.which(f"python{minor}") or ""]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{minor}*/bin/python{minor}")), reverse=True)
    candidates += sorted(glob.glob(f"/usr/local/bin/python{minor}")) + sorted(glob.glob(f"/usr/bin/python{minor}"))
    for exe in filter(None, candidates):
        probe = subprocess.run(
            [exe, "-c", "import sys, venv; print(sys.version.split()[0])"], capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0 and probe.stdout.startswith(minor):
            return exe, ""
    base = _base_python()
    return base, f"Python {minor} is not on this machine; ran on the project's Python instead"


def _base_python() -> str:
    return getattr(sys, "_base_executable", None) or sys.executable


def _run(cmd: list[str], *, timeout: float = PIP_TIMEOUT, env: dict | None = None, what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise CompatError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def stack_dir(stack: Stack) -> Path:
    return BUILD / stack.name


def venv_python(stack: Stack) -> Path:
    return stack_dir(stack) / "venv" / "bin" / "python"


def _pip_install_stack(stack: Stack, py: Path) -> None:
    """Install the stack's packages; with ``constraints`` every version is the stack's own."""
    cmd = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(stack.requirements)]
    if stack.constraints:
        cmd += ["-c", str(stack.constraints)]
    _run(cmd, what=f"installing the {stack.name} stack")
    if stack.no_deps:
        _run(
            [
                str(py),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "--no-deps",
                "-r",
                str(stack.no_deps),
            ],
            what=f"installing {stack.no_deps.name}",
        )


def build(stack: Stack) -> Path:
    """Create the stack's virtualenv once; a stamp holding the hash of the stack's files marks it complete."""
    exe, note = find_python(stack.python)
    digest = hashlib.sha256(exe.encode() + b"".join(p.read_bytes() for p in stack.files)).hexdigest()
    home = stack_dir(stack)
    stamp = home / "built.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("sha256") == digest and venv_python(stack).exists():
        return venv_python(stack)
    print(
        f"[compat] building the {stack.name} environment in {home.relative_to(ROOT)} (a few minutes, once)", flush=True
    )
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    _run([exe, "-m", "venv", str(home / "venv")], timeout=300, what="creating the virtualenv")
    py = venv_python(stack)
    _pip_install_stack(stack, py)
    kernels = home / "jupyter"
    _run(
        [
            str(py),
            "-m",
            "ipykernel",
            "install",
            "--prefix",
            str(kernels),
            "--name",
            kernel_name(stack),
            "--display-name",
            f"Python ({stack.title} stack)",
        ],
        timeout=300,
        what="registering the kernel",
    )
    (home / "pristine.txt").write_text("\n".join(_freeze(py)) + "\n")
    tmp = stamp.with_suffix(".tmp")
    tmp.write_text(json.dumps({"sha256": digest, "python": exe, "note": note}))
    os.replace(tmp, stamp)
    return py


def kernel_name(stack: Stack) -> str:
    return f"distsave-{stack.name}"


def setup_cell_source(notebook: Path | None = None) -> str:
    """The Setup cell (the first code cell that installs on Colab) of ``notebook`` (default: the first notebook)."""
    notebook = notebook or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))[0]
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code" and '"google.colab" in sys.modules' in cell.source:
            return cell.source
    raise CompatError(f"{notebook.name} has no Setup cell (a code cell testing '\"google.colab\" in sys.modules')")


# Runs inside the stack's Python: the Setup cell as Colab runs it. `google.colab` is present there, and the helpers
# come from this checkout instead of GitHub (this machine reaches only the package registries).
_AS_ON_COLAB = """
import sys, types
sys.modules["google.colab"] = types.ModuleType("google.colab")
source = sys.stdin.read()
exec(compile(source, "<Setup cell>", "exec"), {"__name__": "__main__"})
"""


@functools.cache
def helpers_wheel() -> Path:
    """A wheel of this checkout's helpers: what pip builds from the GitHub address on Colab.

    Built once per process, so that the dry run needs no build step (pip hands PIP_DRY_RUN on to the pip that fills an
    isolated build environment, which then stays empty)."""
    out = BUILD / "wheel"
    shutil.rmtree(out, ignore_errors=True)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--disable-pip-version-check",
            "-q",
            "--no-deps",
            "-w",
            str(out),
            str(ROOT),
        ],
        what="building the helpers' wheel",
    )
    wheels = sorted(out.glob("distsave_helpers-*.whl"))
    if len(wheels) != 1:
        raise CompatError(f"expected one helpers wheel in {out}, found {[w.name for w in wheels]}")
    return wheels[0]


def run_setup_cell(stack: Stack, *, dry_run_report: Path | None = None) -> None:
    """Execute the Setup cell in the stack's Python as on Colab; with ``dry_run_report``, pip only reports."""
    source = setup_cell_source()
    if HELPERS_URL not in source:
        raise CompatError(
            f"the Setup cell does not install from {HELPERS_URL} (pyproject's [project.urls] "
            "Repository): regenerate the notebooks' Setup cell"
        )
    source = source.replace(HELPERS_URL, helpers_wheel().as_uri())
    env = {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    if dry_run_report:
        env.update(PIP_DRY_RUN="1", PIP_REPORT=str(dry_run_report))
    if stack.helpers_no_deps:
        env["PIP_NO_DEPS"] = "1"
    proc = subprocess.run(
        [str(venv_python(stack)), "-c", _AS_ON_COLAB],
        input=source,
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        env={**os.environ, **env},
        cwd=stack_dir(stack),
    )
    if proc.returncode != 0:
        raise CompatError(f"the Setup cell failed on the {stack.name} stack:\n{proc.stderr[-3000:]}")


def _freeze(py: Path) -> list[str]:
    out = _run([str(py), "-m", "pip", "freeze", "--all", "--disable-pip-version-check"], timeout=120, what="pip freeze")
    return sorted(ln for ln in out.splitlines() if ln and not ln.startswith("#"))


def _name(line: str) -> str:
    return re.split(r"\s*(?:==|@)\s*", line, maxsplit=1)[0].lower().replace("_", "-")


def reset(stack: Stack) -> None:
    """Put the stack back as it was built (its own versions, no helpers, nothing a Setup cell added or repaired)."""
    py = venv_python(stack)
    pristine = stack_dir(stack) / "pristine.txt"
    now = _freeze(py)
    if now == pristine.read_text().splitlines():
        return
    added = sorted({_name(ln) for ln in now} - {_name(ln) for ln in pristine.read_text().splitlines()})
    if added:
        _run([str(py), "-m", "pip", "uninstall", "-y", "-q", *added], what="removing what the Setup cell added")
    _run(
        [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps", "-r", str(pristine)],
        what="restoring the stack's versions",
    )
    if _freeze(py) != pristine.read_text().splitlines():
        raise CompatError(f"could not restore {stack_dir(stack)}; delete that folder and run again")


def installed_by(report: Path) -> list[str]:
    """``name==version`` of every package a pip ``--report`` says it would install."""
    data = json.loads(report.read_text())
    return sorted(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in data.get("install", []))


def setup(stack: Stack) -> dict:
    """Build, reset, dry-run then run the Setup cell; return what it installed and whether tfds imports.
    On Colab, fail (``check_setup``) if it installed more than the helpers and their repair."""
    py = build(stack)
    reset(stack)
    home = stack_dir(stack)
    tfds_before = tfds_works(py)
    before = versions(py)
    report = home / "setup-dry-run.json"
    run_setup_cell(stack, dry_run_report=report)
    would_install = installed_by(report)
    run_setup_cell(stack)
    tfds_after = tfds_works(py)
    if tfds_after is not True:
        raise CompatError(f"after the Setup cell, tensorflow_datasets is still broken on {stack.name}:\n{tfds_after}")
    info = {"setup_installs": would_install, "tfds_before_setup": tfds_before}
    check_setup(stack, info, before, versions(py))
    return info


TFDS_WORKS = "import tensorflow_datasets as tfds; tfds.load, tfds.builder"


def tfds_works(py: Path) -> bool | str:
    """True if tensorflow_datasets is usable in ``py``, else its errors.

    On a broken protobuf / tensorflow-metadata pair, `import tensorflow_datasets` itself succeeds: tfds logs the
    protobuf VersionError and leaves a module without `load`, so the learner's first `tfds.load` raises."""
    proc = subprocess.run(
        [str(py), "-c", TFDS_WORKS],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    if proc.returncode == 0:
        return True
    errors = [ln.strip() for ln in proc.stderr.splitlines() if re.match(r"[\w.]+(Error|Exception): ", ln)]
    short = [e.split(" Runtime version")[0] for e in dict.fromkeys(errors)]  # protobuf's advice, cut
    return " then ".join(short)[:400] or "(no message)"


def versions(py: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {'python': sys.version.split()[0]}\n"
        f"for name in {VERSIONS_OF!r}:\n"
        "    try: out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    return json.loads(_run([str(py), "-c", code], timeout=120, what="reading versions"))


# ---------------------------------------------------------------------------------------------------- nbval run

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
        "-c",
        "tests/pytest.ini",
        "--rootdir=.",
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
                row["first_error"] = {"cell": num, "source": first_line, "error": _error_line(text)}
            elif kind == "differ":
                lines = _diff_lines(text)
                row["differ"].append(
                    {
                        "cell": num,
                        "source": first_line,
                        **lines,
                        "version_only": _versionless(lines["committed"]) == _versionless(lines["got"]),
                    }
                )
        rows.append(row)
    return rows


def _error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if re.match(r"\s*[A-Za-z_.]*(Error|Exception|Exit)\b.*:", ln)]
    return (lines[-1] if lines else text.strip().splitlines()[-1] if text.strip() else "?")[:200]


_VERSION = re.compile(r"\b\d+\.\d+\.\d+([.-]?(dev|rc|a|b)\d+)?\b")  # three parts: 2.20.0, not 0.9518


def _versionless(line: str) -> str:
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


# ---------------------------------------------------------------------------------------------------- documents


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load_results() -> dict[str, dict]:
    return {
        name: json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
        for name in STACKS
        if (RESULTS / f"{name}.json").exists()
    }


def _stack_versions(res: dict) -> str:
    v = res["versions"]
    tf = v.get("tensorflow") or v.get("tf-nightly", "?")
    keras = v.get("keras") or v.get("keras-nightly", "?")
    tfk = v.get("tf-keras") or v.get("tf-keras-nightly", "?")
    return f"Python {v['python']}, TF {tf}, Keras {keras}, tf_keras {tfk}"


def _verdict(res: dict) -> str:
    rows = res["notebooks"]
    ended = sum(r["ran_to_end"] for r in rows)
    differ = [d for r in rows for d in r["differ"]]
    versions_only = sum(d.get("version_only", False) for d in differ)
    checked = sum(r["checked"] for r in rows)
    ran = f"{ended} of {len(rows)} notebooks run to the end"
    stopped = [f"{r['notebook'][:2]} at cell {r['first_error']['cell']}" for r in rows if not r["ran_to_end"]]
    if stopped:
        ran += f" (stopped: {', '.join(stopped)}; see the notes in docs/compatibility.md)"
    return (
        f"{ran}; {len(differ)} of {checked} checked outputs differ from the committed ones, "
        f"{versions_only} of them only in a printed version number"
    )


def readme_table(results: dict[str, dict]) -> str:
    lines = ["| Stack | Versions | Checked on | Result |", "|---|---|---|---|"]
    pinned = results.get("pinned")
    lines.append(
        "| Pinned (`requirements.txt`) | "
        + (_stack_versions(pinned) if pinned else "TF 2.21.0, Keras 3.15.1, tf_keras 2.21.0")
        + " | every `make test`"
        + (f"; `make compat` {pinned['date']}" if pinned else "")
        + " | strict nbval: every checked output matches"
        + (f"; {_verdict(pinned)}" if pinned else "")
        + " |"
    )
    for name in ("colab", "nightly"):
        res = results.get(name)
        if res:
            lines.append(f"| {res['title']} | {_stack_versions(res)} | {res['date']} | {_verdict(res)} |")
    return "\n".join(lines)


def compatibility_md(results: dict[str, dict]) -> str:
    out = [
        "# Compatibility: the notebooks on other TensorFlow stacks",
        "",
        "Generated by `make compat STACK=colab|nightly|pinned` (`scripts/compat.py`); do not edit by hand.",
        "The committed outputs are recorded on the pinned stack (`requirements.txt`), where `make test` checks "
        "them strictly. For another stack, `make compat` builds a separate environment, installs the helpers "
        "the way the notebooks' Setup cell does on Colab, runs every notebook headless with nbval (same "
        "sanitizer), and lists:",
        "",
        "- whether each notebook runs to the end, or the first cell that raises and its error;",
        "- which checked outputs differ from the committed ones (the first differing line, committed → got).",
        "",
        "Colab runs in CI after `make test`; the nightly row is run by hand and dated.",
        "",
        readme_table(results),
        "",
    ]
    for res in results.values():
        out += [
            f"## {res['title']}: {res['date']}",
            "",
            f"{_stack_versions(res)}; "
            f"protobuf {res['versions'].get('protobuf', '?')}, "
            f"tensorflow-metadata {res['versions'].get('tensorflow-metadata', '?')}.",
            "",
        ]
        if res.get("python_note"):
            out += [f"Note: {res['python_note']}.", ""]
        if res.get("setup_installs") is not None:
            before = res.get("tfds_before_setup")
            out += [
                "Setup cell: installs "
                + ", ".join(f"`{p}`" for p in res["setup_installs"])
                + ". "
                + (
                    "`tfds.load` worked before it."
                    if before is True
                    else f"Before it, `import tensorflow_datasets as tfds; tfds.load` failed: `{before}`; after it, "
                    "it works."
                ),
                "",
            ]
        out += ["| Notebook | Ran to the end | Checked outputs that differ |", "|---|---|---|"]
        for r in res["notebooks"]:
            end = (
                "yes"
                if r["ran_to_end"]
                else (
                    f"no: code cell {r['first_error']['cell']} (`{r['first_error'].get('source', '')}`) raised "
                    f"`{r['first_error']['error']}`"
                    if r["first_error"]
                    else "no"
                )
            )
            out.append(f"| {r['notebook']} | {end} | {len(r['differ'])} of {r['checked']} |")
        out.append("")
        details = [(r["notebook"], d) for r in res["notebooks"] for d in r["differ"]]
        if details:
            out += ["Which outputs differ (code cells counted from 0):", ""]
            out += [
                f"- {nb} cell {d['cell']} (`{d['source']}`): `{d['committed']}` → `{d['got']}`"
                + (" (a printed version number)" if d.get("version_only") else "")
                for nb, d in details
            ]
            out.append("")
        if res.get("notes"):
            out += ["Notes:", "", *(f"- {note}" for note in res["notes"]), ""]
    return "\n".join(out).rstrip() + "\n"


def write_docs() -> None:
    results = load_results()
    DOCS.mkdir(exist_ok=True)
    write_text(DOCS / "compatibility.md", compatibility_md(results))
    text = README.read_text(encoding="utf-8")
    start, end = "<!-- compat:start -->", "<!-- compat:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        write_text(README, f"{head}{start}\n{readme_table(results)}\n{end}{tail}")


def run(stack: Stack, notebooks: list[Path], workers: int) -> int:
    info = setup(stack)
    py = venv_python(stack)
    built = json.loads((stack_dir(stack) / "built.json").read_text())
    print(f"[compat] {stack.name}: Setup cell installed {', '.join(info['setup_installs'])}", flush=True)
    print(f"[compat] running {len(notebooks)} notebooks in the {stack.name} kernel", flush=True)
    xml = run_notebooks(stack, notebooks, workers)
    rows = summarise(xml, notebooks)
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
        print(f"[compat] {r['notebook']}: {status}; {len(r['differ'])} of {r['checked']} checked outputs differ")
    print(f"[compat] {_verdict(result)}; details in docs/compatibility.md")
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
        stack = _stack(args.stack)
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
