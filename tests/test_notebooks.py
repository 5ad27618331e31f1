"""Static checks of the committed notebooks (nbval re-executes them separately)."""

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from budget import MAX_CORE_RUN_SECONDS, MAX_RUN_SECONDS, over_budget, run_seconds, size  # noqa: E402
from project import REPO  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: a call of helpers.claims.verify with its claims written out, as `verify({` or, formatted, `verify(\n    {`
VERIFY = re.compile(r"\bverify\(\s*\{")


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_header_badges_setup_and_summary(path):
    nb = nbformat.read(path, as_version=4)
    head = nb.cells[0].source
    assert head.startswith("# "), "first cell is the title"
    assert f"colab.research.google.com/github/{REPO}/blob/main/notebooks/{path.name}" in head
    assert f"github.com/{REPO}/blob/main/notebooks/{path.name}" in head
    assert "What you'll learn" in head and "Expected run time" in head
    answers = [line for line in head.splitlines() if line.startswith("**This notebook answers:** ")]
    assert len(answers) == 1 and answers[0].endswith("?"), "the header needs one '**This notebook answers:** …?' line"
    setup = [c for c in _code(nb) if '"google.colab" in sys.modules' in c.source]
    assert len(setup) == 1, "one Setup cell (what it installs: tests/test_sources.py)"
    assert any(c.cell_type == "markdown" and "What we verified" in c.source for c in nb.cells)
    assert VERIFY.search(_code(nb)[-1].source), "the notebook ends with verified claims"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_outputs_are_clean(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(_code(nb)):
        assert cell.execution_count is not None, f"code cell {i} was not executed"
        for out in cell.outputs:
            if out.output_type == "error":
                assert "NBVAL_RAISES_EXCEPTION" in cell.source, f"code cell {i} stored an error"
            text = out.get("text", "") + json.dumps(out.get("data", {}).get("text/plain", ""))
            assert not re.search(r"/(root|home/\w+|tmp)/|/work/", text), f"code cell {i} shows a machine path"
            assert not re.search(r"0x[0-9a-f]{8,}", text), f"code cell {i} shows a memory address"
            assert "\r" not in text, f"code cell {i} stored a progress bar"


def _checked(cell) -> bool:
    return not re.search(r"#\s*NBVAL_(IGNORE_OUTPUT|SKIP)", cell.source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_at_least_80_percent_of_code_cells_are_output_checked(path):
    cells = _code(nbformat.read(path, as_version=4))
    checked = sum(_checked(c) for c in cells)
    assert cells and checked / len(cells) >= 0.8, f"{checked}/{len(cells)} code cells output-checked"


def _texts(cell):
    for out in cell.outputs:
        yield out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))


# A float at float32-rounding level (1e-5 .. 1e-9) in checked output differs on another CPU; allowed only as a
# tolerance ("≤ 1e-05", "< 1e-05") or masked ("≈2e-06").
ROUNDING_LEVEL = re.compile(r"(?<![≤<≈\d.])(?<![≤<] )\b\d(\.\d+)?e-0?[5-9]\b")
RAW_DIFF = re.compile(r"max abs diff(?: [a-z' ]+)?:? \[?-?\d")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_outputs_hold_no_machine_dependent_digits(path):
    for i, cell in enumerate(_code(nbformat.read(path, as_version=4))):
        if not _checked(cell):
            continue
        for text in _texts(cell):
            found = ROUNDING_LEVEL.search(text)
            assert not found, (
                f"code cell {i} prints {found.group()} unmasked: print it with roundtrip.approx / Closeness"
            )
            raw = RAW_DIFF.search(text)
            assert not raw, f"code cell {i} prints a raw path difference ({raw.group()}): use roundtrip.assert_close"


# Tolerances for comparisons across execution paths live in helpers.roundtrip (RTOL, CURVE_RTOL) only.
HARD_CODED_TOLERANCE = re.compile(r"\b1e-0?[5-8]\b|[=<]=\s*0\.0\b|\batol\s*=")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_hard_coded_path_tolerances(path):
    for i, cell in enumerate(_code(nbformat.read(path, as_version=4))):
        found = HARD_CODED_TOLERANCE.search(cell.source)
        assert not found, f"code cell {i} hard-codes {found.group()!r}: use helpers.roundtrip (RTOL, assert_close)"


def _exercises(nb) -> list[tuple[object, object]]:
    """(task markdown cell, solution code cell) pairs of the `## Exercises` section."""
    cells = nb.cells
    pairs = []
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown" and re.search(r"^### Exercise \d+: ", cell.source, flags=re.MULTILINE):
            pairs.append((cell, cells[i + 1] if i + 1 < len(cells) else None))
    return pairs


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_to_three_exercises_with_hidden_checked_solutions(path):
    nb = nbformat.read(path, as_version=4)
    pairs = _exercises(nb)
    assert 1 <= len(pairs) <= 3, f"{len(pairs)} exercises"
    headings = [c.source for c in nb.cells if c.cell_type == "markdown"]
    exercises_at = next(i for i, h in enumerate(headings) if re.search(r"^## Exercises$", h, flags=re.MULTILINE))
    verified_at = next(i for i, h in enumerate(headings) if "## What we verified" in h)
    assert exercises_at < verified_at, "the exercises come before 'What we verified'"
    for n, (task, solution) in enumerate(pairs, start=1):
        assert re.search(rf"^### Exercise {n}: ", task.source, flags=re.MULTILINE), f"exercise {n} is numbered {n}"
        assert solution is not None and solution.cell_type == "code", f"exercise {n} has no solution cell"
        assert solution.source.startswith(f"# @title Solution to exercise {n}\n"), f"exercise {n}'s solution title"
        assert solution.metadata.get("jupyter", {}).get("source_hidden") is True, f"solution {n} is not hidden"
        assert solution.metadata.get("cellView") == "form", f"solution {n} is not collapsed on Colab"
        assert VERIFY.search(solution.source), f"solution {n} checks nothing: end it with helpers.claims.verify"
        assert _checked(solution), f"solution {n}'s output is not checked"


# Lesson text talks to the learner, not to the maintainers of the collection.
MAINTAINER_TALK = re.compile(r"\bnbval\b|\bCI\b|\bmask(s|ed|ing)?\b|sanitiz|checked outputs?\b|\bcommitted\b", re.I)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_maintainer_talk_in_the_lesson_text(path):
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "markdown":
            found = MAINTAINER_TALK.search(cell.source)
            assert not found, f"markdown cell {i} talks about {found.group()!r}"


ISSUE_REFERENCE = re.compile(r"(?<![\[/\w.-])([\w.-]+/[\w.-]+)#(\d+)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_issue_references_are_links(path):
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "markdown":
            continue
        for m in ISSUE_REFERENCE.finditer(cell.source):
            repo, number = m.groups()
            link = f"]({'https://github.com/'}{repo}/issues/{number})"
            assert cell.source[m.end() :].startswith(link) and cell.source[: m.start()].endswith("["), (
                f"markdown cell {i}: write {repo}#{number} as [{repo}#{number}](https://github.com/{repo}/issues/{number})"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_spelling_for_strategies_and_loading(path):
    for i, cell in enumerate(_code(nbformat.read(path, as_version=4))):
        assert "devices.mirrored_strategy(" not in cell.source, f"code cell {i}: use tf.distribute.MirroredStrategy"
        assert "keras.saving.load_model(" not in cell.source, f"code cell {i}: use keras.models.load_model"


@pytest.mark.parametrize("index", range(len(NOTEBOOKS)), ids=[p.name for p in NOTEBOOKS])
def test_previous_and_next_links_close_every_notebook(index):
    last = nbformat.read(NOTEBOOKS[index], as_version=4).cells[-1]
    assert last.cell_type == "markdown"
    links = re.findall(r"\]\(([^)\s]+)\)", last.source)
    expected = [NOTEBOOKS[index - 1].name] if index > 0 else []
    expected += ["../README.md"]
    expected += [NOTEBOOKS[index + 1].name] if index + 1 < len(NOTEBOOKS) else []
    assert links == expected, f"the last cell links {links}, expected {expected}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_fits_a_workshop_slot(path):
    """<= 1,800 markdown words outside Setup, <= 25 code cells (hidden solutions included), 1-3 exercises."""
    problems = over_budget(path.name, size(path))
    assert not problems, "; ".join(problems)


def test_readme_run_times_fit_the_budget():
    """The run times the README shows (from `make run`): <= 75 s each, the core path 01-04 <= 4 min."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    seconds = {name: float(s) for name, s in re.findall(r"\]\(notebooks/(\d\d_\S+\.ipynb)\).*\| (\d+) s \|", readme)}
    assert set(seconds) == {p.name for p in NOTEBOOKS}, "the README shows a run time for every notebook"
    slow = {name: s for name, s in seconds.items() if s > MAX_RUN_SECONDS}
    assert not slow, f"over {MAX_RUN_SECONDS} s in make run: {slow}"
    core = sum(s for name, s in seconds.items() if name[:2] in ("01", "02", "03", "04"))
    assert core <= MAX_CORE_RUN_SECONDS, f"the core path 01-04 takes {core:.0f} s (at most {MAX_CORE_RUN_SECONDS})"
    assert run_seconds("01_a.ipynb   12.5  ok\n02_b.ipynb  3.0  FAILED\n") == {"01_a.ipynb": 12.5}


# Checks are claims: helpers.claims.verify pairs each with its condition (issue: no assert walls, no scaffolding).
RAISE_ASSERTION = re.compile(r"^\s*raise AssertionError\b", re.MULTILINE)
BARE_ASSERT = re.compile(r"^assert\b", re.MULTILINE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_claims_are_checked_with_verify(path):
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    for i, cell in enumerate(_code(nb)):
        assert not RAISE_ASSERTION.search(cell.source), f"code cell {i} raises AssertionError: state it as a claim"
    verified_at = next(
        i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## What we verified" in c.source
    )
    verified = [c for c in cells[verified_at:] if c.cell_type == "code"]
    assert verified and all(VERIFY.search(c.source) for c in verified), "'What we verified' calls verify({...})"
    for cell in verified:
        assert not BARE_ASSERT.search(cell.source), "'What we verified' holds claims, not a wall of asserts"
        assert 'print("✓' not in cell.source, "the ✓ lines come from verify, each with its check"
