"""The GitHub Actions workflows (.github/workflows) run what the README and .ci/run say, and are locked down.

* ci.yml runs exactly ``bash .ci/run`` (Python 3.11, in a Debian container so that .ci/run's ``apt-get install
  chromium`` is Debian's browser), with pip's cache and the prepared MNIST cached;
* nightly.yml runs the ``make compat STACK=nightly`` the README documents, uploads its result and, when a notebook
  stops, fails with an error annotation naming the notebook and the cell (its script is run here on sample results);
* docs.yml deploys only a commit whose CI run passed (workflow_run), built from requirements-docs.txt alone (no
  TensorFlow), with upload-pages-artifact + deploy-pages, one deployment at a time;
* every ``uses:`` is pinned to a full commit SHA with the release tag in a comment, every workflow sets
  ``permissions:``.

The container jobs run as root on a checkout and a HOME that the runner's user owns: .ci/run and the workflows' steps
are run here in that situation (a repository and HOME chowned to another uid; needs root), with make and the
installers stubbed, so that git's "dubious ownership" refusal and pip's disabled cache are caught here, not on GitHub.

``make lint`` runs actionlint over the same files (syntax, expressions, action inputs, shellcheck when installed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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
    # The only other commands prepare the machine (apt, pip's cache directory); the checks are all inside .ci/run.
    assert all(re.match(r"apt-get update|mkdir -p \"\$HOME/\.cache/pip\"$", r) for r in others), others
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


def test_docs_deploys_only_a_commit_whose_ci_passed_one_at_a_time():
    doc = _load("docs.yml")
    # Only when a CI run completes (no push or manual trigger that could publish an untested commit) ...
    assert _on(doc) == {
        "workflow_run": {"workflows": [_load("ci.yml")["name"]], "types": ["completed"], "branches": ["main"]}
    }
    assert doc["concurrency"]["group"] == "pages" and doc["concurrency"]["cancel-in-progress"] is False
    build, deploy = doc["jobs"]["build"], doc["jobs"]["deploy"]
    # ... and the run passed, on a push to this repository's main (a fork's pull request can have a branch named main)
    condition = " ".join(build["if"].split())
    for part in [
        "github.event.workflow_run.conclusion == 'success'",
        "github.event.workflow_run.event == 'push'",
        "github.event.workflow_run.head_branch == 'main'",
        "github.event.workflow_run.head_repository.full_name == github.repository",
    ]:
        assert part in condition, part
    assert condition.count("&&") == 3 and "||" not in condition
    (checkout,) = [s for s in build["steps"] if "actions/checkout@" in s.get("uses", "")]
    assert checkout["with"]["ref"] == "${{ github.event.workflow_run.head_sha }}"  # the commit CI tested
    # Built from the docs requirements alone, with the command make docs runs.
    runs = [s["run"] for s in build["steps"] if "run" in s]
    assert runs[0].startswith("python -m pip install") and runs[0].endswith("-r requirements-docs.txt")
    docs_recipe = re.search(r"^docs:.*\n\t(.*)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)[1]
    assert runs[1:] == [docs_recipe.replace("$(PY)", "python")] == ["python scripts/docs_site.py build"]
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


# --- The container jobs: root, on a checkout and a HOME that another user owns ---

OTHER_UID = 65534  # nobody: the runner's user owns the checkout and HOME, the job runs as root
needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="needs root: chown to another uid, as GitHub's container jobs see the checkout (CI runs as root)",
)


def _chown_tree(path: Path, uid: int = OTHER_UID) -> None:
    for p in [path, *path.rglob("*")]:
        os.chown(p, uid, uid, follow_symlinks=False)


def _bare_env(home: Path, path: str = "/usr/local/bin:/usr/bin:/bin") -> dict[str, str]:
    """A job's environment: no git config but what the steps write, no pip settings from this machine."""
    return {"PATH": path, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "LANG": "C.UTF-8"}


def _foreign_checkout(tmp_path: Path) -> tuple[Path, Path]:
    """A git checkout holding .ci/run and what it copies, and a HOME, both owned by another uid."""
    repo, home = tmp_path / "checkout", tmp_path / "home"
    for name in [".ci/run", "docs/site/package.json", "docs/site/package-lock.json"]:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "checkout"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True, env=_bare_env(tmp_path), timeout=60)
    home.mkdir()
    _chown_tree(repo)
    _chown_tree(home)
    return repo, home


GIT_LS_FILES = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]  # tests/test_new_notebook.py's


@needs_root
def test_ci_run_works_as_root_on_a_checkout_another_user_owns(tmp_path):
    """.ci/run as GitHub runs it: root, a checkout and HOME owned by the runner's user, no TTY. make, npm and chromium
    are stubs; each make runs the git call that tests/test_new_notebook.py makes, which git refuses there unless .ci/run
    trusts the checkout."""
    repo, home = _foreign_checkout(tmp_path)
    bare = _bare_env(home)
    refused = subprocess.run(GIT_LS_FILES, cwd=repo, env=bare, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "dubious ownership" in refused.stderr  # the failure this test guards against
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    log = tmp_path / "make.log"
    scripts = {
        "make": f'echo "$*" >> {log}\nexec {" ".join(GIT_LS_FILES)} >/dev/null',
        "npm": "exit 0",
        "chromium": "exit 0",
        "apt-get": 'echo "apt-get was called: chromium and npm are on PATH" >&2; exit 9',
    }
    for name, body in scripts.items():
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)
    env = _bare_env(home, f"{stubs}:{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin")
    done = subprocess.run(
        ["bash", ".ci/run"], cwd=repo, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert log.read_text().splitlines() == ["test", "nbval-other-cpu", "compat STACK=colab"]
    assert not (home / ".gitconfig").exists()  # trusted for .ci/run's processes only, not in anyone's git config


def _steps_between(doc: dict, first: str, last: str) -> list[dict]:
    """The steps after the one using ``first`` and before the one using ``last`` (action names)."""
    steps = _steps(doc)
    start = next(i for i, s in enumerate(steps) if first in s.get("uses", ""))
    end = next(i for i, s in enumerate(steps) if last in s.get("uses", ""))
    return steps[start + 1 : end]


def _pip_cache_dir(home: Path) -> subprocess.CompletedProcess:
    env = {**_bare_env(home), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pip", "cache", "dir"], env=env, capture_output=True, text=True, timeout=120
    )


@needs_root
@pytest.mark.parametrize("name", ["ci.yml", "nightly.yml"])
def test_pip_keeps_its_cache_as_root_in_the_runners_home(tmp_path, name):
    """pip run as root disables a cache directory that root does not own; the container's HOME is the runner user's.
    The steps between the checkout and the restore of pip's cache must give it one that root owns."""
    home = tmp_path / "home"
    home.mkdir()
    _chown_tree(home)
    before = _pip_cache_dir(home)
    assert before.returncode != 0 and "cache is disabled" in before.stderr  # what the steps must prevent
    steps = [s for s in _steps_between(_load(name), "actions/checkout@", "actions/cache/restore@") if "run" in s]
    assert steps, f"{name}: no step gives pip a cache directory before its cache is restored"
    for step in steps:
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=tmp_path,
            env={**_bare_env(home), "GITHUB_OUTPUT": str(tmp_path / "out")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
    after = _pip_cache_dir(home)
    assert after.returncode == 0 and after.stdout.strip() == str(home / ".cache" / "pip"), after.stderr


def test_nightly_pip_cache_is_bounded(tmp_path):
    """One cache key per ISO week (not per run), saved only when that key was not restored, after the files older than
    7 days are dropped: at most one new nightly cache a week, holding about a week's downloads."""
    doc = _load("nightly.yml")
    steps = _steps(doc)
    (week,) = [s for s in steps if s.get("id") == "week"]
    (restore,) = [s for s in steps if "actions/cache/restore@" in s.get("uses", "") and "pip" in s["with"]["path"]]
    (save,) = [s for s in steps if "actions/cache/save@" in s.get("uses", "") and "pip" in s["with"]["path"]]
    assert "github.run_id" not in json.dumps(doc)
    assert (
        restore["with"]["key"] == "${{ steps.week.outputs.key }}" and restore["with"]["restore-keys"] == "pip-nightly-"
    )
    assert save["with"]["key"] == "${{ steps.pip-cache.outputs.cache-primary-key }}"
    assert save["if"] == "always() && steps.pip-cache.outputs.cache-hit != 'true'"
    (prune,) = steps[steps.index(save) - 1 : steps.index(save)]
    assert prune["if"] == save["if"]
    # The key: this ISO week.
    out = tmp_path / "github_output"
    subprocess.run(["bash", "-e", "-c", week["run"]], env={**os.environ, "GITHUB_OUTPUT": str(out)}, check=True)
    assert re.fullmatch(r"key=pip-nightly-\d{4}-w\d{2}\n", out.read_text())
    # The pruning: files older than 7 days go, newer ones stay.
    cache = tmp_path / ".cache" / "pip" / "http-v2" / "a"
    cache.mkdir(parents=True)
    old, new = cache / "old.body", cache / "new.body"
    old.write_text("x")
    new.write_text("x")
    eight_days_ago = time.time() - 8 * 86400
    os.utime(old, (eight_days_ago, eight_days_ago))
    subprocess.run(["bash", "-e", "-c", prune["run"]], env={**os.environ, "HOME": str(tmp_path)}, check=True)
    assert not old.exists() and new.exists()


# --- The docs site builds from requirements-docs.txt alone ---

NOT_FOR_DOCS = {"tensorflow", "tf-nightly", "keras", "keras-nightly", "tf-keras", "tensorflow-hub", "jax", "torch"}


def _pins(path: Path) -> dict[str, Requirement]:
    lines = [ln.split("#")[0].strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return {canonicalize_name(r.name): r for r in map(Requirement, filter(None, lines))}


def _closure(names: set[str]) -> set[str]:
    """``names`` and everything they require (without extras), as installed here."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for spec in metadata.requires(name) or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def test_docs_requirements_are_the_pinned_ones_and_need_no_tensorflow():
    docs, pinned = _pins(ROOT / "requirements-docs.txt"), _pins(ROOT / "requirements.txt")
    assert {"sphinx", "myst-nb", "nbformat"} <= set(docs)
    for name, req in docs.items():
        assert str(req.specifier).startswith("==") and req.specifier == pinned[name].specifier, req
    pulled_in = _closure(set(docs))
    assert not pulled_in & NOT_FOR_DOCS, pulled_in & NOT_FOR_DOCS


BLOCK_TF = """
import importlib.abc, runpy, sys
from pathlib import Path

class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"tensorflow", "keras", "tf_keras", "tensorflow_hub", "tensorflow_datasets", "helpers",
                                  "benchmarks", "numpy"}:
            raise ImportError(f"the docs build imported {name}")

sys.meta_path.insert(0, NoTensorFlow())
sys.path.insert(0, "scripts")
import docs_site, myst_nb, sphinx_book_theme
docs_site.stage(Path(sys.argv[1]))
runpy.run_path("docs/site/conf.py")
print("ok")
"""


def test_the_docs_build_imports_no_tensorflow(tmp_path):
    """Staging the pages, the Sphinx configuration and its extensions import nothing from TensorFlow, Keras, numpy or
    the helpers (docs.yml installs none of them)."""
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_TF, str(tmp_path / "stage")], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
