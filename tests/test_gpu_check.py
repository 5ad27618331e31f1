"""scripts/gpu_check.py (`make gpu-check`): its planning and its report, tested on CPU.

No machine this collection is checked on has a GPU, so nothing here runs a notebook on one: the
GPU/no-GPU decision, the environment the kernels get and the claim counting are tested with a GPU
count passed in, and the runner end to end on two tiny notebooks without TensorFlow.
"""

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import gpu_check  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_without_a_gpu_it_plans_nothing_and_says_so(capsys):
    plan = gpu_check.plan(0, NOTEBOOKS, {"PATH": "/bin"})
    assert not plan.run and plan.notebooks == ()
    assert "checked nothing" in plan.message
    assert gpu_check.run(plan) == 0
    assert "checked nothing" in capsys.readouterr().out


@pytest.mark.parametrize(("gpus", "how"), [(1, "2 logical GPUs split from the only GPU"), (4, "/gpu:0 and /gpu:1")])
def test_with_a_gpu_it_runs_every_notebook_with_the_gpus_kept(gpus, how):
    plan = gpu_check.plan(gpus, NOTEBOOKS, {"PATH": "/bin", "DISTSAVE_KEEP_GPUS": "0"})
    assert plan.run and plan.notebooks == tuple(NOTEBOOKS) and len(plan.notebooks) >= 12  # every notebook, in order
    assert plan.env == {"PATH": "/bin", "DISTSAVE_KEEP_GPUS": "1"}  # the learner's environment, GPUs kept
    assert how in plan.message and "not compared" in plan.message


@pytest.mark.parametrize("bad", [-1, 1.0, "1", True, None])
def test_plan_rejects_a_bad_gpu_count(bad):
    with pytest.raises(ValueError, match="gpu_count must be the number of GPUs"):
        gpu_check.plan(bad, NOTEBOOKS, {})


def test_plan_needs_notebooks():
    with pytest.raises(ValueError, match="no notebooks to check"):
        gpu_check.plan(1, [], {})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_claims_are_counted_in_every_recorded_notebook(path):
    # The recorded (CPU) outputs: every verify cell printed its claims, none failed.
    claims = gpu_check.count_claims(nbformat.read(path, as_version=4))
    assert claims.verify_cells >= 1 and claims.held >= claims.verify_cells and claims.failed == 0


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_run_reports_per_notebook_whether_it_ran_and_its_claims(tmp_path, monkeypatch, capsys):
    import os

    monkeypatch.setenv("DISTSAVE_KEEP_GPUS", "0")  # run() sets it to 1 for the kernels; monkeypatch restores it
    verify = "from helpers.claims import verify\n"
    good = _notebook(
        tmp_path / "01_good.ipynb",
        "import os\nkept = os.environ['DISTSAVE_KEEP_GPUS']",
        verify + "verify({'the kernel sees DISTSAVE_KEEP_GPUS=1': kept == '1', 'one more': True})",
    )
    bad = _notebook(tmp_path / "02_bad.ipynb", verify + "verify({'holds': True, 'does not hold': False})", "print(1)")
    before = good.read_text()
    plan = gpu_check.plan(1, [good, bad], dict(os.environ))
    assert gpu_check.run(plan, out=tmp_path / "out") == 1
    report = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in report.splitlines() if line.startswith(("01_", "02_"))}
    assert rows["01_good.ipynb"][2:] == ["yes", "2", "0"]
    assert rows["02_bad.ipynb"][2:] == ["NO", "1", "1"]
    assert "1 of 2 notebooks ran to the end with every claim held" in report
    assert "ClaimError" in report and (tmp_path / "out" / "02_bad.ipynb").exists()
    assert good.read_text() == before  # the notebooks themselves are not touched


def test_main_on_this_machine(capsys, monkeypatch):
    # Asks TensorFlow (in another process) how many GPUs it sees; the machines that run these tests have none.
    import os

    gpus = gpu_check.count_gpus(os.environ)
    if gpus:
        pytest.skip(f"{gpus} GPU(s) here: run `make gpu-check` itself")
    monkeypatch.setattr(gpu_check, "count_gpus", lambda environ: gpus)  # asked once is enough
    assert gpu_check.main([]) == 0
    assert "checked nothing" in capsys.readouterr().out
