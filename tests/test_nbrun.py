"""scripts/nbrun.py: `make run` / `make record` report failures and store clean notebooks."""

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import nbrun  # noqa: E402


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_run_reports_a_raising_cell_and_exits_non_zero(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(nbrun, "BUILD", tmp_path / "build")
    good = _notebook(tmp_path / "01_good.ipynb", "print('hello')")
    bad = _notebook(tmp_path / "02_bad.ipynb", "print('before')", "raise ValueError('boom')", "print('never')")
    assert nbrun.main(["run", str(good), str(bad)]) == 1
    table = capsys.readouterr().out
    assert "01_good.ipynb" in table and "ok" in table
    assert "02_bad.ipynb" in table and "FAILED" in table and "ValueError" in table
    assert "1 ok, 1 failed" in table
    assert "02_bad.ipynb: code cell 1 (`raise ValueError('boom')`) raised ValueError: boom" in table
    assert "kernel log: " in table and (tmp_path / "build" / "logs" / "02_bad.kernel.log").is_file()
    executed = nbformat.read(tmp_path / "build" / "01_good.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "hello\n"


def test_kernel_stderr_goes_to_a_log_not_the_terminal(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(nbrun, "BUILD", tmp_path / "build")
    nb = _notebook(tmp_path / "04_noisy.ipynb", "import os\nos.write(2, b'C++ start-up line\\n')", "print('lesson')")
    assert nbrun.main(["run", str(nb)]) == 0
    terminal = capfd.readouterr()
    assert "C++ start-up line" not in terminal.out + terminal.err
    assert "04_noisy.ipynb" in terminal.out and "1 ok, 0 failed" in terminal.out
    assert "C++ start-up line" in (tmp_path / "build" / "logs" / "04_noisy.kernel.log").read_text()


def test_record_does_not_overwrite_a_failing_notebook(tmp_path, monkeypatch):
    monkeypatch.setattr(nbrun, "BUILD", tmp_path / "build")
    bad = _notebook(tmp_path / "03_bad.ipynb", "1 / 0")
    before = bad.read_text()
    assert nbrun.main(["record", str(bad)]) == 1
    assert bad.read_text() == before
    assert (tmp_path / "build" / "03_bad.ipynb").exists()


def test_normalise_is_idempotent_and_joins_streams():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1); print(2)")
    cell.execution_count = 7
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="1\n"),
        nbformat.v4.new_output("stream", name="stdout", text="2\n"),
        nbformat.v4.new_output("stream", name="stderr", text="warn\n"),
    ]
    cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00"}
    nb.cells = [cell]
    nb.metadata["language_info"] = {"name": "python", "version": "3.12.3"}
    once = nbrun.normalise(nb)
    assert [o["text"] for o in once.cells[0].outputs] == ["1\n2\n", "warn\n"]
    assert once.cells[0].execution_count == 7 and "execution" not in once.cells[0].metadata
    assert once.cells[0].id == "0" and "language_info" not in once.metadata
    twice = nbrun.normalise(nbformat.from_dict(once))
    assert twice == once


def test_write_is_nbformat_and_leaves_no_temporary_file(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# title")])
    target = tmp_path / "x.ipynb"
    nbrun.write(nb, target)
    assert target.read_text(encoding="utf-8") == nbformat.writes(nb) + "\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.ipynb"]


def test_write_refuses_an_invalid_notebook_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "x.ipynb"
    target.write_text("old")
    bad = nbformat.v4.new_notebook()
    bad.cells = [{"cell_type": "code", "id": "0", "metadata": {}}]  # no source, no outputs
    with pytest.raises(nbformat.ValidationError):
        nbrun.write(nbformat.from_dict(bad), target)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.ipynb"]


def test_clean_normalises_in_place_without_running(tmp_path):
    path = _notebook(tmp_path / "05_x.ipynb", "print('not run')")
    nb = nbformat.read(path, as_version=4)
    nb.metadata["language_info"] = {"name": "python", "version": "3.x"}
    nbformat.write(nb, path)
    assert nbrun.main(["clean", str(path)]) == 0
    cleaned = nbformat.read(path, as_version=4)
    assert "language_info" not in cleaned.metadata and cleaned.cells[0].outputs == []
    assert [p.name for p in tmp_path.iterdir()] == ["05_x.ipynb"]
