"""The GitHub Actions workflows (.github/workflows) run what the README and .ci/run say, and are locked down.

* ci.yml runs exactly ``bash .ci/run`` (Python 3.11, in a Debian container so that .ci/run's ``apt-get install
  chromium`` is Debian's browser), with pip's cache and the prepared MNIST cached;
* nightly.yml runs the ``make compat STACK=nightly`` the README documents, uploads its result and, when a notebook
  stops, fails with an error annotation naming the notebook and the cell (its script is run here on sample results);
* docs.yml builds with ``make docs`` and deploys with upload-pages-artifact + deploy-pages, one deployment at a time;
* every ``uses:`` is pinned to a full commit SHA with the release tag in a comment, every workflow sets
  ``permissions:``.

``make lint`` runs actionlint over the same files (syntax, expressions, action inputs, shellcheck when installed).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
README = ROOT / "README.md"
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
TAG_COMMENT = re.compile(r"^#\s*v\d+(\.\d+)*\s*$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?P<comment>#.*)?$")


def _load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def _on(doc: dict) -> dict:
    """The ``on:`` section (YAML 1.1 reads the bare key ``on`` as True)."""
    triggers = doc.get("on", doc.get(True))
    return {triggers: None} if isinstance(triggers, str) else dict(triggers or {})


def _steps(doc: dict) -> list[dict]:
    return [step for job in doc["jobs"].values() for step in job.get("steps", [])]


def _runs(doc: dict) -> list[str]:
    """The shell commands of every step (a ``shell: python`` step's script is not a command line)."""
    return [step["run"].strip() for step in _steps(doc) if "run" in step and step.get("shell") != "python"]


def unpinned(text: str) -> list[str]:
    """Every ``uses:`` in a workflow's text that is not ``owner/repo[/path]@<40-hex SHA>  # vX[.Y.Z]`` (local
    ``./`` actions excepted; ``docker://`` images must be pinned by ``@sha256:`` digest)."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        m = USES_LINE.match(line)
        if not m:
            continue
        ref, comment = m["ref"].strip("'\""), (m["comment"] or "").strip()
        if ref.startswith("./"):
            continue
        if ref.startswith("docker://"):
            pinned = "@sha256:" in ref
        else:
            pinned = bool(SHA_PIN.match(ref)) and bool(TAG_COMMENT.match(comment))
        if not pinned:
            problems.append(f"line {number}: {line.strip()}")
    return problems


def missing_permissions(doc: dict) -> list[str]:
    """What is missing or too broad in a workflow's ``permissions:`` (top level required; never ``write-all``)."""
    problems = [] if "permissions" in doc else ["no top-level permissions:"]
    scopes = [("workflow", doc.get("permissions"))] + [(j, v.get("permissions")) for j, v in doc["jobs"].items()]
    problems += [f"{where}: permissions: write-all" for where, p in scopes if p == "write-all"]
    if isinstance(doc.get("permissions"), dict):
        problems += [f"workflow: {k}: write (grant it per job)" for k, v in doc["permissions"].items() if v == "write"]
    return problems


def test_the_three_workflows_exist_and_parse():
    names = {p.name for p in WORKFLOWS.glob("*.y*ml")}
    assert {"ci.yml", "nightly.yml", "docs.yml"} <= names
    for name in names:
        doc = _load(name)
        assert doc["name"] and doc["jobs"] and _on(doc), name


def test_ci_runs_exactly_the_ci_script_on_python_311_in_debian():
    doc = _load("ci.yml")
    assert set(_on(doc)) == {"push", "pull_request"}
    (job,) = doc["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    # Debian's image: `apt-get install chromium` (as .ci/run does it) is the real browser there, a snap shim on Ubuntu.
    assert re.fullmatch(r"python:3\.11-slim-(bookworm|trixie)", job["container"]["image"])
    runs = _runs(doc)
    assert runs.count("bash .ci/run") == 1, runs
    others = [r for r in runs if r != "bash .ci/run"]
    # The only other commands prepare the machine (apt); the checks themselves are all inside .ci/run.
    assert all(re.match(r"apt-get update", r) for r in others), others
    lines = [ln.strip() for r in others for ln in r.splitlines()]
    assert not [ln for ln in lines if re.match(r"(make|pytest|python3?|bash|sh|\.ci/)\b", ln)], others
    caches = {
        s["with"]["path"]: s["with"].get("key", "")
        for s in _steps(doc)
        if "actions/cache/restore@" in s.get("uses", "")
    }
    assert set(caches) == {"~/.cache/pip", "data/tensorflow_datasets"}
    assert "hashFiles('helpers/mnist_" in caches["data/tensorflow_datasets"]
    assert "hashFiles('requirements.txt'" in caches["~/.cache/pip"]


def _readme_compat_commands() -> set[str]:
    """The ``make compat`` commands README.md documents: written out, or as the README's ``STACK=<name>`` variants of
    the documented ``make compat STACK=…`` command."""
    text = README.read_text(encoding="utf-8")
    commands = set(re.findall(r"make compat STACK=[a-z]+", text))
    if commands:
        commands |= {f"make compat STACK={s}" for s in re.findall(r"`STACK=([a-z]+)`", text)}
    return commands


def test_nightly_runs_the_make_compat_the_readme_documents():
    doc = _load("nightly.yml")
    assert set(_on(doc)) == {"schedule", "workflow_dispatch"} and _on(doc)["schedule"][0]["cron"]
    compat = [ln.strip() for r in _runs(doc) for ln in r.splitlines() if "make compat" in ln]
    assert compat == ["make compat STACK=nightly"], compat
    assert compat[0] in _readme_compat_commands(), "README.md does not document `make compat STACK=nightly`"
    uploads = [s for s in _steps(doc) if "actions/upload-artifact@" in s.get("uses", "")]
    assert len(uploads) == 1 and uploads[0]["if"].startswith("always()")
    assert uploads[0]["with"]["path"].split() == ["docs/compat/nightly.json", "docs/compatibility.md"]


def _stopped_step_script() -> str:
    (step,) = [s for s in _steps(_load("nightly.yml")) if s.get("id") == "stopped"]
    assert step["shell"] == "python" and step["if"].startswith("always()")
    return step["run"]


def _run_stopped_step(tmp_path: Path, result: dict | None, started: float = 0.0) -> subprocess.CompletedProcess:
    script = tmp_path / "stopped.py"
    script.write_text(_stopped_step_script(), encoding="utf-8")
    if result is not None:
        (tmp_path / "docs" / "compat").mkdir(parents=True)
        (tmp_path / "docs" / "compat" / "nightly.json").write_text(json.dumps(result), encoding="utf-8")
    env = {
        **os.environ,
        "COMPAT_STARTED": str(started),
        "COMPAT_OUTCOME": "failure",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True)


def _row(notebook: str, error: dict | None = None) -> dict:
    return {"notebook": notebook, "ran_to_end": error is None, "first_error": error}


SAMPLE = {
    "date": "2026-12-01",
    "versions": {"tf-nightly": "2.23.0.dev20261130", "keras-nightly": "3.16.0.dev2026113004"},
    "notebooks": [
        _row("01_data_prep.ipynb"),
        _row(
            "03_tf_saved_model.ipynb",
            {"cell": 16, "source": "keras.utils.set_random_seed(0)", "error": "AssertionError: 50% done, not 100%"},
        ),
        _row("08_save_load_cost.ipynb", {"cell": None, "error": "not run (see nbval.log)"}),
    ],
}


def test_nightly_failure_names_the_notebook_and_the_cell(tmp_path):
    proc = _run_stopped_step(tmp_path, SAMPLE)
    assert proc.returncode == 1, proc.stderr
    errors = [ln for ln in proc.stdout.splitlines() if ln.startswith("::error")]
    assert errors == [
        "::error file=notebooks/03_tf_saved_model.ipynb,title=Nightly%3A 03_tf_saved_model.ipynb stopped at code cell"
        " 16::03_tf_saved_model.ipynb stopped at code cell 16 (`keras.utils.set_random_seed(0)`): AssertionError:"
        " 50%25 done, not 100%25",
        "::error file=notebooks/08_save_load_cost.ipynb,title=Nightly%3A 08_save_load_cost.ipynb stopped before its"
        " first cell::08_save_load_cost.ipynb stopped before its first cell: not run (see nbval.log)",
    ]
    assert "1 of 3 notebooks ran to the end on tf-nightly 2.23.0.dev20261130" in proc.stdout
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "03_tf_saved_model.ipynb stopped at code cell 16" in summary and "2026-12-01" in summary


def test_nightly_passes_when_every_notebook_ran_to_the_end(tmp_path):
    proc = _run_stopped_step(tmp_path, {**SAMPLE, "notebooks": SAMPLE["notebooks"][:1]})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "::error" not in proc.stdout and "1 of 1 notebooks ran to the end" in proc.stdout


def test_nightly_fails_when_make_compat_wrote_no_new_result(tmp_path):
    (tmp_path / "stale").mkdir()
    (tmp_path / "none").mkdir()
    stale = _run_stopped_step(tmp_path / "stale", SAMPLE, started=4e9)  # older than the run: the committed file
    missing = _run_stopped_step(tmp_path / "none", None)
    for proc in (stale, missing):
        assert proc.returncode == 1
        assert proc.stdout.startswith("::error title=make compat STACK=nightly::it wrote no new")


def test_docs_builds_with_make_docs_and_deploys_to_pages_one_at_a_time():
    doc = _load("docs.yml")
    assert "push" in _on(doc) and "workflow_dispatch" in _on(doc)
    assert doc["concurrency"]["group"] == "pages" and doc["concurrency"]["cancel-in-progress"] is False
    build, deploy = doc["jobs"]["build"], doc["jobs"]["deploy"]
    assert [s["run"] for s in build["steps"] if "run" in s] == ["make docs"]
    upload = [s for s in build["steps"] if "actions/upload-pages-artifact@" in s.get("uses", "")]
    assert len(upload) == 1 and upload[0]["with"]["path"] == "build/site"
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert ["actions/deploy-pages@" in s["uses"] for s in deploy["steps"]] == [True]


@pytest.mark.parametrize("name", ["ci.yml", "nightly.yml", "docs.yml"])
def test_every_action_is_pinned_by_commit_sha_with_its_tag(name):
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    parsed = [s["uses"] for s in _steps(yaml.safe_load(text)) if "uses" in s]
    assert parsed and len(parsed) == sum(1 for ln in text.splitlines() if USES_LINE.match(ln))
    assert unpinned(text) == [], f"{name}: actions not pinned to a full commit SHA with '# vX' after it"


def test_an_unpinned_action_is_reported():
    sha = "3d3c42e5aac5ba805825da76410c181273ba90b1"
    text = "\n".join(
        [
            "    steps:",
            f"      - uses: actions/checkout@{sha} # v7.0.1",
            "      - uses: actions/checkout@v7",
            f"      - uses: actions/checkout@{sha}",
            f"      - uses: actions/checkout@{sha[:12]} # v7.0.1",
            "      - uses: ./.github/actions/local",
            "      - uses: docker://alpine:3",
            f"        uses: actions/cache/restore@{sha} # v5",
        ]
    )
    assert unpinned(text) == [
        "line 3: - uses: actions/checkout@v7",
        f"line 4: - uses: actions/checkout@{sha}",
        f"line 5: - uses: actions/checkout@{sha[:12]} # v7.0.1",
        "line 7: - uses: docker://alpine:3",
    ]


@pytest.mark.parametrize("name", ["ci.yml", "nightly.yml", "docs.yml"])
def test_every_workflow_sets_minimal_permissions(name):
    doc = _load(name)
    assert missing_permissions(doc) == []
    assert doc["permissions"] == {"contents": "read"}


def test_missing_or_broad_permissions_are_reported():
    doc = {"jobs": {"a": {"permissions": "write-all"}, "b": {}}}
    assert missing_permissions(doc) == ["no top-level permissions:", "a: permissions: write-all"]
    assert missing_permissions({"permissions": {"pages": "write"}, "jobs": {}}) == [
        "workflow: pages: write (grant it per job)"
    ]
