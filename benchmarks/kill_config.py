"""The kill matrix's settings: formats, modes, seeds, the CSV columns, and the checks of a selection.

Part of :mod:`benchmarks.kill_matrix` (which re-exports every name).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from benchmarks import formats
from benchmarks.formats import SaveFormat

ROOT = Path(__file__).resolve().parent.parent
SEED_GOOD, SEED_NEW = 1, 2
INPUTS, OUTPUTS = 1000, 1000
DEFAULT_HIDDEN = 5000  #: Dense(1000 → 5000 → 1000): 10,006,000 parameters, 120 MB with Adam's two moments
POLL_S = 0.001

#: The formats the kill matrix runs (:data:`benchmarks.formats.ALL`), by their names in its results.
FORMATS: dict[str, SaveFormat] = {f.key: f for f in formats.ALL if f.kill_matrix}
#: Formats whose own save already keeps the previous state under another name: no ``safe`` variant.
NO_SAFE_VARIANT = {key: f.no_safe_variant for key, f in FORMATS.items() if f.no_safe_variant}
#: Formats that save during ``fit``, as a callback.
CALLBACK_FORMATS = {key for key, f in FORMATS.items() if f.callback is not None}
MODES = ("naive", "safe")
COLUMNS = [
    "format",
    "mode",
    "kill",
    "fraction",
    "kill_after_ms",
    "save_seconds",
    "save_finished_before_kill",
    "first_change",
    "previous_loadable",
    "new_present",
    "lost_last_good",
    "outcome",
    "error",
    "leftovers",
    "note",
]


def check_formats(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ValueError(f"unknown format(s) {unknown or names!r}; choose from {', '.join(FORMATS)}")
    return list(dict.fromkeys(names))


def check_modes(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in MODES]
    if unknown or not names:
        raise ValueError(f"unknown mode(s) {unknown or names!r}; choose from {', '.join(MODES)}")
    return list(dict.fromkeys(names))


def has_variant(fmt: str, mode: str) -> bool:
    return mode == "naive" or fmt not in NO_SAFE_VARIANT


_TOKENS = [
    (re.compile(r"\.saving-[0-9a-f]{12}-"), ".saving-*-"),
    (re.compile(r"\.replaced-[0-9a-f]{12}-"), ".replaced-*-"),
    (re.compile(r"tempstate\d+"), "tempstate*"),
    (re.compile(r"\.tmp[0-9a-f]{32}"), ".tmp*"),
]


def normalise(name: str) -> str:
    """A file name with its random parts replaced by ``*`` (stable across runs)."""
    for pattern, repl in _TOKENS:
        name = pattern.sub(repl, name)
    return name
