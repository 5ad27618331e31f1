"""A pytest plugin for `make compat` (compat_nbval loads it with ``-p compat_cells``): what nbval found in each
notebook cell, as data in pytest's structured report instead of text to parse back.

For each cell nbval runs, the call report's ``user_properties`` get one ``("nbval", {...})`` entry, which
pytest-reportlog (``--report-log``) writes out as JSON:

* ``cell``: the code cell's number (from 0), ``outcome``: ``"pass"``, ``"differ"`` (outputs differ from the committed
  ones) or ``"raised"`` (the cell raised, or nbval stopped it: a timeout, a dead kernel, a kernel that did not start);
* ``error``: for ``"raised"``, ``"<exception type>: <first line of its message>"``, as the kernel reported it;
* ``committed`` / ``got``: for ``"differ"``, the first committed line and the line got in its place, after nbval's
  sanitizer, in the first output (a stream or a MIME type) that differs;
* ``warnings``: the Python warnings the cell showed (category, message, file name, line). The kernel records them
  through ``warnings.showwarning``, which an IPython startup file of this plugin wraps: the warnings a learner sees,
  as the kernel's filters let them through, and nothing else printed.

nbval is used through its own objects: ``IPyNbCell.compare_outputs`` (wrapped: its inputs give the differing
lines) and ``IPyNbFile.get_kernel_message`` (wrapped: the kernel's ``error`` messages give the exception).
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest
from nbval.plugin import IPyNbCell, IPyNbFile, NbCellError, transform_streams_for_comparison

LOG_ENV = "DISTSAVE_WARNINGS_LOG"
STARTUP = """\
# Written by scripts/compat_cells.py: record every warning the kernel shows, then show it as before.
import json as _json
import os as _os
import warnings as _warnings

_LOG = _os.environ.get("DISTSAVE_WARNINGS_LOG")
if _LOG:
    _show = _warnings.showwarning

    def _record_and_show(message, category, filename, lineno, file=None, line=None):
        try:
            with open(_LOG, "a", encoding="utf-8") as out:
                out.write(_json.dumps({"category": category.__name__, "message": str(message),
                                       "filename": _os.path.basename(str(filename)), "lineno": lineno}) + "\\n")
        except OSError:
            pass
        _show(message, category, filename, lineno, file, line)

    _warnings.showwarning = _record_and_show
"""

_STATE: dict[str, Path] = {}  # this process's IPYTHONDIR
_ORIGINAL = {"compare_outputs": IPyNbCell.compare_outputs, "get_kernel_message": IPyNbFile.get_kernel_message}


def _compare_outputs(self, test, ref, skip_compare=None):
    same = _ORIGINAL["compare_outputs"](self, test, ref, skip_compare)
    if not same:
        self.compat_differ = first_difference(self, test, ref, skip_compare or self.parent.skip_compare)
    return same


def _get_kernel_message(self, timeout=None, stream="iopub"):
    msg = _ORIGINAL["get_kernel_message"](self, timeout=timeout, stream=stream)
    if msg.get("msg_type") == "error":
        self.__dict__.setdefault("compat_errors", []).append(msg["content"])
    return msg


def _flatten(cell: IPyNbCell, outputs: list, skip: tuple) -> dict[str, list]:
    """nbval's comparison form: one list of sanitized values per output key (stream name or MIME type)."""
    flat: dict[str, list] = defaultdict(list)
    for output in transform_streams_for_comparison(outputs):
        for key, value in output.items():
            if key in skip:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime not in skip:
                        flat[mime].append(cell.sanitize(data))
            else:
                flat[key].append(cell.sanitize(value))
    return flat


def first_difference(cell: IPyNbCell, test: list, ref: list, skip: tuple) -> dict[str, str]:
    """The first committed line and the line got in its place, in the first output key whose values differ."""
    got, committed = _flatten(cell, test, skip), _flatten(cell, ref, skip)
    for key in [*committed, *(k for k in got if k not in committed)]:
        if got.get(key) != committed.get(key):
            old = "\n".join(map(str, committed.get(key, []))).splitlines()
            new = "\n".join(map(str, got.get(key, []))).splitlines()
            tag, i1, i2, j1, j2 = next(
                op for op in difflib.SequenceMatcher(None, old, new).get_opcodes() if op[0] != "equal"
            )
            return {"committed": old[i1] if i1 < i2 else "(nothing)", "got": new[j1] if j1 < j2 else "(nothing)"}
    return {"committed": "(see nbval.log)", "got": "(see nbval.log)"}


def _error(content: dict) -> str:
    first = next((ln for ln in str(content.get("evalue", "")).splitlines() if ln.strip()), "")
    return f"{content.get('ename', '?')}: {first}".rstrip(": ")


def _new_warnings(notebook: IPyNbFile) -> list[dict]:
    log = notebook.__dict__.get("compat_log")
    if log is None or not log.exists():
        return []
    with log.open(encoding="utf-8") as f:
        f.seek(notebook.__dict__.get("compat_offset", 0))
        lines = f.readlines()
        notebook.compat_offset = f.tell()
    return [json.loads(ln) for ln in lines if ln.endswith("\n")]


def cell_result(item: IPyNbCell, call: pytest.CallInfo) -> dict:
    errors = item.parent.__dict__.pop("compat_errors", [])
    result: dict = {"cell": item.cell_num, "outcome": "pass"}
    exc = call.excinfo.value if call.excinfo is not None else None
    if exc is not None and not isinstance(exc, pytest.skip.Exception):
        differ = item.__dict__.get("compat_differ")
        if differ is not None and not errors:
            result.update(outcome="differ", **differ)
        else:
            message = str(exc) if isinstance(exc, NbCellError) else f"{type(exc).__name__}: {exc}"
            result.update(outcome="raised", error=(_error(errors[-1]) if errors else message)[:200])
    if call.when == "call":
        result["warnings"] = _new_warnings(item.parent)
    return result


def _ipython_dir() -> Path:
    """This process's IPYTHONDIR for the kernels it starts (a temporary one, never the user's): a profile whose startup
    file records warnings."""
    home = _STATE.get("ipython_dir")
    if home is None:
        home = _STATE["ipython_dir"] = Path(tempfile.mkdtemp(prefix="compat-ipython-"))
        startup = home / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-distsave-record-warnings.py").write_text(STARTUP, encoding="utf-8")
        os.environ["IPYTHONDIR"] = str(home)
    return home


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """Before a notebook's kernel starts (its first cell's setup): a warnings log for it, and the startup file."""
    if isinstance(item, IPyNbCell) and "compat_log" not in item.parent.__dict__:
        home = _ipython_dir()
        fd, name = tempfile.mkstemp(prefix=f"{Path(str(item.parent.path)).stem}-", suffix=".jsonl", dir=home)
        os.close(fd)
        item.parent.compat_log = Path(name)
        os.environ[LOG_ENV] = name
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if isinstance(item, IPyNbCell) and (call.when == "call" or (call.when == "setup" and call.excinfo is not None)):
        outcome.get_result().user_properties.append(("nbval", cell_result(item, call)))


def pytest_configure(config):
    IPyNbCell.compare_outputs = _compare_outputs
    IPyNbFile.get_kernel_message = _get_kernel_message


def pytest_unconfigure(config):
    IPyNbCell.compare_outputs = _ORIGINAL["compare_outputs"]
    IPyNbFile.get_kernel_message = _ORIGINAL["get_kernel_message"]
