"""scripts/compat.py (`make compat`) and its modules, and the notebooks' Setup cell on a rebuilt Colab-like stack."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import compat_docs  # noqa: E402
import compat_env  # noqa: E402
import compat_nbval  # noqa: E402
import compat_setup  # noqa: E402

import compat  # noqa: E402

SETUP_MAY_INSTALL = compat_setup.SETUP_MAY_INSTALL
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _name(pinned: str) -> str:
    return canonicalize_name(Requirement(pinned).name)


def _version(pinned: str) -> str:
    (spec,) = Requirement(pinned).specifier
    return spec.version


@pytest.mark.slow  # builds Colab's venv (about 2 min); CI's `make compat STACK=colab` runs the same setup() and fails
def test_setup_cell_repairs_colab_and_installs_only_the_helpers():  # through check_setup on the same conditions
    """On the exact Colab pins (compat/colab), Python 3.13 where the machine has it: the broken protobuf /
    tensorflow-metadata pair is found and repaired, nothing else but the helpers is installed, tfds works."""
    stack = compat_env.STACKS["colab"]
    info = compat_setup.setup(stack)  # builds the environment once, puts it back as Colab ships it, runs the Setup cell
    assert "VersionError" in info["tfds_before_setup"], info["tfds_before_setup"]  # Colab's image is broken...
    assert compat_env.tfds_works(compat_env.venv_python(stack)) is True  # ...and repaired
    installed = {_name(p): _version(p) for p in info["setup_installs"]}
    assert set(installed) == SETUP_MAY_INSTALL, info["setup_installs"]
    assert installed["tensorflow-metadata"].startswith("1.17."), installed
    constraints = compat_env.STACKS["colab"].constraints.read_text().splitlines()
    pins = {_name(ln): _version(ln) for ln in constraints if ln.strip() and not ln.startswith("#")}
    now = compat_env.versions(compat_env.venv_python(stack))
    for package in ("tensorflow", "keras", "tf_keras", "protobuf", "numpy"):
        assert now[_name(package)] == pins[_name(package)], (package, now)


_COLAB = {"tensorflow": "2.20.0", "keras": "3.13.2", "tf-keras": "2.20.1", "protobuf": "5.29.6", "numpy": "2.1.3"}


def test_check_setup_accepts_the_helpers_and_the_repair():
    info = {"setup_installs": ["distsave-helpers==0.1.0", "importlib_resources==7.1.0", "tensorflow-metadata==1.17.3"]}
    compat_setup.check_setup(compat_env.STACKS["colab"], info, _COLAB, dict(_COLAB))  # no error


@pytest.mark.parametrize(
    ("installs", "after", "message"),
    [
        (
            ["distsave-helpers==0.1.0", "tensorflow==2.21.0"],
            {**_COLAB, "tensorflow": "2.21.0"},
            r"installs \['tensorflow'\]",
        ),
        (
            ["distsave-helpers==0.1.0"],
            {**_COLAB, "numpy": "2.3.0"},
            "replaced Colab's own packages: numpy 2.1.3 -> 2.3.0",
        ),
    ],
)
def test_check_setup_refuses_a_setup_cell_that_touches_colabs_stack(installs, after, message):
    with pytest.raises(compat_env.CompatError, match=message):
        compat_setup.check_setup(compat_env.STACKS["colab"], {"setup_installs": installs}, _COLAB, after)


@pytest.mark.parametrize("stack", sorted(compat_env.STACKS))
def test_every_compatibility_row_covers_every_notebook(stack):
    """docs/compatibility.md and the README's table are generated from docs/compat/<stack>.json: a row that was run
    on fewer notebooks than notebooks/ holds (say, before a notebook was added) must be re-run, not published."""
    result = json.loads((ROOT / "docs" / "compat" / f"{stack}.json").read_text(encoding="utf-8"))
    covered = sorted(r["notebook"] for r in result["notebooks"])
    assert covered == NOTEBOOKS, (
        f"docs/compat/{stack}.json covers {len(covered)} of {len(NOTEBOOKS)} notebooks "
        f"(missing: {sorted(set(NOTEBOOKS) - set(covered))}); run `make compat STACK={stack}`"
    )


def test_unknown_stack_is_refused_with_the_choices():
    with pytest.raises(compat_env.CompatError, match="use one of pinned, colab, nightly"):
        compat_env.get_stack("conda")
    assert compat.main(["run", "conda"]) == 2


def test_setup_cell_source_needs_a_setup_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print('no setup here')")]
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(compat_env.CompatError, match="has no Setup cell"):
        compat_setup.setup_cell_source(path)


def test_installed_by_reads_a_pip_report(tmp_path):
    report = tmp_path / "r.json"
    report.write_text(
        json.dumps(
            {
                "install": [
                    {"metadata": {"name": "b-pkg", "version": "2"}},
                    {"metadata": {"name": "a_pkg", "version": "1.0"}},
                ]
            }
        )
    )
    assert compat_setup.installed_by(report) == ["a_pkg==1.0", "b-pkg==2"]


def _demo_notebook(path: Path) -> Path:
    """A notebook whose cells pass, print another version than committed, warn twice (from two lines: shown twice),
    raise, and would pass."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    stdout = lambda text: [nbformat.v4.new_output("stream", name="stdout", text=text)]  # noqa: E731
    cells = [
        ("print(1)", stdout("1\n")),
        ("print('TensorFlow 2.20.0\\nKeras')", stdout("TensorFlow 2.21.0\nKeras\n")),
        ("import warnings\n" + "warnings.warn('old API', DeprecationWarning)\n" * 2, []),
        ("model.save('m')", []),
        ("print(3)", stdout("3\n")),
    ]
    for i, (source, outputs) in enumerate(cells):
        nb.cells.append(nbformat.v4.new_code_cell(source, execution_count=i + 1, outputs=outputs))
    nbformat.write(nb, path)
    return path


def test_summarise_reads_what_nbval_found_from_pytests_report_log(tmp_path):
    """nbval with compat_cells and pytest-reportlog on a real kernel (the project's Python, no TensorFlow): a raising
    cell is told from a differing output, the error is the kernel's, the warnings are the ones the cells showed."""
    path = _demo_notebook(tmp_path / "09_demo.ipynb")
    report = tmp_path / "report.jsonl"
    cmd = [sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider", "-p", "compat_cells"]
    cmd += ["--nbval", "--nbval-current-env", "-q", f"--report-log={report}", path.name]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts")}
    subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, timeout=300)
    [row] = compat_nbval.summarise(report, [path])
    assert row["ran_to_end"] is False
    assert row["first_error"] == {
        "cell": 3,
        "source": "model.save('m')",
        "error": "NameError: name 'model' is not defined",
    }
    assert row["differ"] == [
        {
            "cell": 1,
            "source": "print('TensorFlow 2.20.0\\nKeras')",
            "committed": "TensorFlow 2.21.0",
            "got": "TensorFlow 2.20.0",
            "version_only": True,
        },
        {
            "cell": 2,
            "source": "import warnings",
            "committed": "(nothing)",
            "got": row["differ"][1]["got"],
            "version_only": False,
        },
    ]
    assert "DeprecationWarning: old API" in row["differ"][1]["got"]  # the warning printed on stderr
    assert row["warnings"] == [{"category": "DeprecationWarning", "message": "old API", "cell": 2, "count": 2}]
    assert row["checked"] == 5


def test_summarise_reports_a_notebook_nbval_never_ran(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1")]
    path = tmp_path / "10_lost.ipynb"
    nbformat.write(nb, path)
    report = tmp_path / "report.jsonl"
    report.write_text(json.dumps({"$report_type": "SessionStart"}) + "\n")
    [row] = compat_nbval.summarise(report, [path])
    assert row["ran_to_end"] is False and "not run" in row["first_error"]["error"]


def test_compatibility_md_is_generated_from_the_committed_results():
    """docs/compatibility.md is exactly what `python scripts/compat.py docs` makes of docs/compat/*.json."""
    committed = (ROOT / "docs" / "compatibility.md").read_text(encoding="utf-8")
    assert compat_docs.compatibility_md(compat_docs.load_results()) == committed, "run `python scripts/compat.py docs`"


def test_warnings_are_listed_per_stack_only_for_runs_that_collected_them():
    row = {"notebook": "03.ipynb", "ran_to_end": True, "first_error": None, "checked": 1, "differ": []}
    res = {"title": "Nightly", "date": "2026-12-07", "versions": {"python": "3.11"}, "notebooks": [row]}
    assert "warnings" not in compat_docs.compatibility_md({"nightly": res})
    assert "The notebooks showed no Python warnings." in compat_docs.compatibility_md(
        {"nightly": {**res, "notebooks": [{**row, "warnings": []}]}}
    )
    shown = [{"category": "DeprecationWarning", "message": "`x` is deprecated\nuse y", "cell": 4, "count": 3}]
    page = compat_docs.compatibility_md({"nightly": {**res, "notebooks": [{**row, "warnings": shown}]}})
    assert "- 03.ipynb cell 4: `DeprecationWarning: 'x' is deprecated` (3 times)" in page


def test_docs_table_names_each_stack_and_its_result():
    result = {
        "title": "Colab",
        "date": "2026-11-30",
        "versions": {"python": "3.13.0", "tensorflow": "2.20.0", "keras": "3.13.2", "tf-keras": "2.20.1"},
        "notebooks": [
            {
                "notebook": "01.ipynb",
                "ran_to_end": True,
                "first_error": None,
                "checked": 10,
                "differ": [{"cell": 2, "source": "x", "committed": "a", "got": "b", "version_only": False}],
            }
        ],
    }
    table = compat_docs.readme_table({"colab": result})
    assert "| Colab | Python 3.13.0, TF 2.20.0, Keras 3.13.2, tf_keras 2.20.1 | 2026-11-30 |" in table
    assert "1 of 1 notebooks run to the end; 1 of 10 checked outputs differ from the committed ones, 0 of them" in table
    assert "01.ipynb cell 2 (`x`): `a` → `b`" in compat_docs.compatibility_md({"colab": result})


def test_docs_rewrites_the_pages_and_only_the_readmes_table(tmp_path, monkeypatch):
    """`compat.py docs`: docs/compatibility.md and the README's marked table from docs/compat/*.json, written
    atomically (no temporary left behind); the rest of the README is kept byte for byte."""
    (tmp_path / "compat").mkdir()
    (tmp_path / "compat" / "pinned.json").write_bytes((compat_docs.RESULTS / "pinned.json").read_bytes())
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n<!-- compat:start -->\nold table\n<!-- compat:end -->\n## Next\n", encoding="utf-8")
    monkeypatch.setattr(compat_docs, "DOCS", tmp_path)
    monkeypatch.setattr(compat_docs, "RESULTS", tmp_path / "compat")
    monkeypatch.setattr(compat_docs, "README", readme)
    assert compat.main(["docs"]) == 0
    table = compat_docs.readme_table(compat_docs.load_results())
    assert readme.read_text(encoding="utf-8") == (
        f"# Title\n<!-- compat:start -->\n{table}\n<!-- compat:end -->\n## Next\n"
    )
    assert table in (tmp_path / "compatibility.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "compat", "compatibility.md"]


@pytest.mark.parametrize(
    ("committed", "got", "version_only"),
    [
        ("TensorFlow 2.21.0 | Keras 3.15.1", "TensorFlow 2.23.0-dev20261026 | Keras 3.16.0.dev2026102704", True),
        ("saved with Keras 3.15.1", "saved with Keras 3.13.2", True),
        (".keras      32,548 KiB", ".keras      32,547 KiB", False),
        ("accuracy: 0.9518", "accuracy: 0.9516", False),
    ],
)
def test_a_printed_version_number_is_told_from_other_differences(committed, got, version_only):
    assert (compat_nbval.versionless(committed) == compat_nbval.versionless(got)) is version_only
