"""helpers.atomic_save, and the real kill test behind notebook 09 (crash-safe saves) (benchmarks.kill_matrix).

The unit tests need no TensorFlow. The kill tests start real writer processes, SIGKILL them at the first change
under the target's directory, and restore what is left in a fresh loader process.
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import pytest

from benchmarks import kill_matrix
from helpers import atomic_save
from helpers.atomic_save import leftovers, remove_leftovers, save_atomically


# ------------------------------------------------------------------------------------------------------- files
def test_a_file_is_replaced_and_the_temporary_keeps_the_full_ending(tmp_path):
    target = tmp_path / "model.weights.h5"
    target.write_text("old")
    seen: list[Path] = []

    def save(path: Path) -> None:
        seen.append(path)
        assert not path.exists() and target.read_text() == "old"  # the previous one is untouched while saving
        path.write_text("new")

    assert save_atomically(save, target) == target
    assert target.read_text() == "new"
    (tmp,) = seen
    assert tmp.parent == tmp_path and tmp.name.startswith(".saving-") and tmp.name.endswith("-model.weights.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.weights.h5"]


def test_a_relative_target_and_a_new_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = save_atomically(lambda p: p.write_bytes(b"x"), "fresh.keras")
    assert result == tmp_path / "fresh.keras" and result.read_bytes() == b"x"


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_save_that_fails_halfway_leaves_the_previous_file_and_no_temporary(tmp_path, exc):
    target = tmp_path / "model.keras"
    target.write_bytes(b"good")

    def half_then_fail(path: Path) -> None:
        path.write_bytes(b"ha")
        raise exc

    with pytest.raises(type(exc)):
        save_atomically(half_then_fail, target)
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


# ------------------------------------------------------------------------------------------------- directories
def _write_dir(files: dict[str, str]):
    def save(path: Path) -> None:
        for name, text in files.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_text(text)

    return save


def test_a_directory_replaces_a_directory_in_one_exchange(tmp_path):
    target = tmp_path / "exported"
    _write_dir({"saved_model.pb": "old", "variables/variables.index": "old"})(target)
    before = target.stat().st_ino
    save_atomically(_write_dir({"saved_model.pb": "new", "assets/a": "new"}), target)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == ["assets", "assets/a", "saved_model.pb"]
    assert (target / "saved_model.pb").read_text() == "new" and target.stat().st_ino != before
    assert [p.name for p in tmp_path.iterdir()] == ["exported"]  # the previous directory was removed


def test_the_directory_fallback_without_renameat2(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic_save, "_renameat2_exchange", lambda a, b: False)
    target = tmp_path / "ckpt_dir"
    _write_dir({"ckpt.index": "old"})(target)
    save_atomically(_write_dir({"ckpt.index": "new"}), target)
    assert (target / "ckpt.index").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt_dir"]


def test_the_fallback_puts_the_previous_directory_back_if_the_second_rename_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic_save, "_renameat2_exchange", lambda a, b: False)
    target = tmp_path / "saved"
    _write_dir({"f": "old"})(target)
    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:  # old → .replaced-… worked; new → target fails
            raise OSError("simulated failure")
        real_replace(src, dst)

    monkeypatch.setattr(atomic_save.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="simulated"):
        save_atomically(_write_dir({"f": "new"}), target)
    assert (target / "f").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["saved"]


def test_exchange_swaps_two_directories_on_linux(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _write_dir({"x": "A"})(a)
    _write_dir({"y": "B"})(b)
    if not atomic_save.exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here (the fallback is tested above)")
    assert [p.name for p in a.iterdir()] == ["y"] and [p.name for p in b.iterdir()] == ["x"]


def test_fsync_tree_counts_files_and_directories(tmp_path):
    _write_dir({"a": "1", "sub/b": "2", "sub/c": "3"})(tmp_path / "d")
    assert atomic_save.fsync_tree(tmp_path / "d") == 3 + 2
    assert atomic_save.fsync_tree(tmp_path / "d" / "a") == 1


# -------------------------------------------------------------------------------------------------- bad input
def test_a_missing_parent_directory_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*create it first"):
        save_atomically(lambda p: p.write_text("x"), tmp_path / "no" / "such" / "model.keras")


@pytest.mark.parametrize("target", ["", ".", "..", "some/dir/"])
def test_a_target_without_a_name_is_refused(target):
    with pytest.raises(ValueError, match="must name a file or directory"):
        save_atomically(lambda p: p.write_text("x"), target)


@pytest.mark.parametrize("target", [3, None, b"model.keras"])
def test_a_target_that_is_not_a_path_is_refused(target):
    with pytest.raises(TypeError, match="target must be a"):
        save_atomically(lambda p: p.write_text("x"), target)


URLS = [
    "gs://bucket/model.keras",
    "s3://bucket/dir/model.weights.h5",
    "hdfs://namenode:8020/models/exported",
    "GS://Bucket/m.keras",
    "az://container/m.keras",
    "my-store+v2.x://host/m.keras",
]


@pytest.mark.parametrize("url", URLS)
def test_a_url_is_refused_before_anything_is_written(tmp_path, monkeypatch, url):
    monkeypatch.chdir(tmp_path)
    calls: list[Path] = []
    with pytest.raises(ValueError, match=r"is a URL \((\w|[+.-])+://\)") as refused:
        save_atomically(calls.append, url)
    message = str(refused.value)
    assert url in message and "tf.io.gfile.copy(local_file, url, overwrite=True)" in message
    assert "tf.train.CheckpointManager" in message and "copy then a delete" in message
    assert calls == [] and list(tmp_path.iterdir()) == []  # today's bug: it looked for <cwd>/gs:/bucket


def test_a_url_that_went_through_pathlib_is_refused_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    collapsed = Path("gs://bucket/model.keras")  # pathlib collapses the double slash: gs:/bucket/model.keras
    assert str(collapsed) == "gs:/bucket/model.keras"
    with pytest.raises(ValueError, match=r"is a URL \(gs://\)"):
        save_atomically(lambda p: p.write_text("x"), collapsed)


@pytest.mark.parametrize(
    "call",
    [
        lambda url: atomic_save.leftovers(url),
        lambda url: atomic_save.remove_leftovers(url),
        lambda url: atomic_save.fsync_tree(url),
        lambda url: atomic_save.exchange("local-dir", url),
        lambda url: atomic_save.exchange(url, "local-dir"),
    ],
    ids=["leftovers", "remove_leftovers", "fsync_tree", "exchange target", "exchange new"],
)
def test_every_function_that_takes_a_path_refuses_a_url(call):
    with pytest.raises(ValueError, match=r"is a URL \(gs://\)"):
        call("gs://bucket/model.keras")


def test_a_file_url_names_the_plain_path():
    with pytest.raises(ValueError, match="file:// URL; pass the plain path instead: '/tmp/m.keras'"):
        save_atomically(lambda p: p.write_text("x"), "file:///tmp/m.keras")


@pytest.mark.parametrize("path", ["C:\\models\\m.keras", "C:/models/m.keras", "c:m.keras", "m.keras", "./ab:/m.keras"])
def test_windows_drives_and_plain_paths_are_not_urls(path):
    assert atomic_save.local_path(path) == Path(path)


def test_a_drive_like_folder_still_saves(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "C:").mkdir()  # on Linux "C:" is an ordinary folder name; on Windows, the drive
    assert save_atomically(lambda p: p.write_text("x"), "C:/m.keras") == tmp_path / "C:" / "m.keras"


@pytest.mark.parametrize("path", [3, None, b"gs://bucket/m.keras"])
def test_local_path_refuses_what_is_not_a_path(path):
    with pytest.raises(TypeError, match="checkpoint_dir must be a"):
        atomic_save.local_path(path, "checkpoint_dir")


def test_save_must_be_callable(tmp_path):
    with pytest.raises(TypeError, match="save must be a callable"):
        save_atomically("model.save", tmp_path / "m.keras")


@pytest.mark.parametrize("writes", [lambda p: None, lambda p: p.mkdir()], ids=["nothing", "an empty directory"])
def test_a_callable_that_writes_nothing_at_its_path(tmp_path, writes):
    target = tmp_path / "model.keras"
    target.write_text("old")
    with pytest.raises(ValueError, match="without writing anything there"):
        save_atomically(writes, target)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_a_callable_that_ignores_its_path_is_caught(tmp_path):
    target = tmp_path / "model.keras"
    with pytest.raises(ValueError, match="must write to the path it is given"):
        save_atomically(lambda p: target.write_text("written in place"), target)


def test_a_file_where_a_directory_is(tmp_path):
    target = tmp_path / "model.keras"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(IsADirectoryError, match="is a directory but the save wrote a file"):
        save_atomically(lambda p: p.write_text("zip"), target)
    assert (target / "keep").exists() and [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_a_directory_where_a_file_is(tmp_path):
    target = tmp_path / "exported"
    target.write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file but the save wrote a directory"):
        save_atomically(_write_dir({"saved_model.pb": "pb"}), target)
    assert target.read_text() == "x" and [p.name for p in tmp_path.iterdir()] == ["exported"]


# -------------------------------------------------------------------------------------------------- leftovers
def test_leftovers_finds_only_the_temporaries_of_that_target(tmp_path):
    target = tmp_path / "model.keras"
    ours = [tmp_path / ".saving-0123456789ab-model.keras", tmp_path / ".replaced-ba9876543210-model.keras"]
    others = [".saving-xyz-model.keras", ".saving-0123456789ab-other.keras", "model.keras", ".saving-0123456789ab-"]
    ours[0].write_text("partial")
    ours[1].mkdir()
    for name in others:
        (tmp_path / name).write_text("x")
    assert leftovers(target) == sorted(ours)
    assert remove_leftovers(target) == sorted(ours)
    assert leftovers(target) == [] and all((tmp_path / n).exists() for n in others)
    assert leftovers(tmp_path / "missing-dir" / "m.keras") == []


# ------------------------------------------------------------------------------ the kill matrix's pure helpers
def test_kill_matrix_names_of_temporaries_are_stable():
    # error_line (kill_matrix re-exports helpers.tf_errors.error_line) is tested in test_tf_errors.py
    assert kill_matrix.normalise(".saving-0123456789ab-model.keras") == ".saving-*-model.keras"
    assert kill_matrix.normalise("part.data-00000-of-00001.tempstate123456") == "part.data-00000-of-00001.tempstate*"


def test_kill_matrix_describes_the_first_change():
    before = {"model.keras": (False, 100, 1, 7), "d": (True, 4096, 1, 8)}
    assert kill_matrix.describe_change(before, {**before, "model.keras": (False, 0, 2, 7)}) == "truncated model.keras"
    created = {**before, ".saving-0123456789ab-model.keras": (False, 0, 2, 9)}
    assert kill_matrix.describe_change(before, created) == "created .saving-*-model.keras"
    assert kill_matrix.describe_change(before, {"d": before["d"], "model.keras": (False, 100, 3, 11)}) == (
        "replaced model.keras"
    )


def test_kill_matrix_refuses_unknown_formats_and_modes():
    with pytest.raises(ValueError, match="unknown format"):
        kill_matrix.check_formats(["keras", "pickle"])
    with pytest.raises(ValueError, match="unknown mode"):
        kill_matrix.check_modes(["careful"])
    with pytest.raises(SystemExit):
        kill_matrix.main(["--kills", "0", "--formats", "keras"])


def test_kill_matrix_summary_and_markdown_from_rows():
    def row(fmt, mode, kill, lost, error=""):
        outcome = "error" if lost else "previous"
        return {
            "format": fmt,
            "mode": mode,
            "kill": kill,
            "lost_last_good": str(lost),
            "error": error,
            "outcome": outcome,
        }

    rows = [
        row("keras", "naive", "none", False),
        row("keras", "naive", "0", True, "ValueError: File not found"),
        row("keras", "naive", "1", True, "ValueError: File not found"),
        row("keras", "safe", "0", False),
        row("checkpoint_manager", "naive", "0", False),
    ]
    assert kill_matrix.summary(rows) == {
        "keras": {"naive": (2, 2), "safe": (0, 1)},
        "checkpoint_manager": {"naive": (0, 1)},
    }
    text = kill_matrix.markdown(rows)
    assert '| `model.save("model.keras")` |' in text and "| 2 of 2 | 0 of 1 |" in text
    assert "`` ValueError: File not found `` (kill 0)" in text
    assert "n/a: already writes a new name each time" in text


# ------------------------------------------------------------------------------------------ real kill tests
HIDDEN = 1000  # Dense(1000 → 1000 → 1000): 2,002,000 parameters, 24 MB with Adam: a save takes ~0.1 s


def _kill_at_first_change(fmt: str, modes: list[str], tmp_path: Path) -> dict[str, dict]:
    runs = [
        kill_matrix.write_run(kill_matrix.Run(fmt, mode, "0", 0.0, tmp_path / fmt / mode), HIDDEN, 0.0, timeout=240)
        for mode in modes
    ]
    results = kill_matrix.load_runs(fmt, runs, HIDDEN, tmp_path, timeout=240)
    return {run.mode: kill_matrix._row(run, results[f"{run.mode}/0"]) for run in runs}


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL of a process group")
def test_a_kill_at_the_first_change_loses_a_naive_keras_file_but_never_a_safe_one(tmp_path):
    rows = _kill_at_first_change("keras", ["naive", "safe"], tmp_path)
    naive, safe = rows["naive"], rows["safe"]
    # naive: model.save emptied the file first; what is left is not a zip, and Keras says "File not found"
    assert naive["first_change"] == "truncated model.keras"
    assert not zipfile.is_zipfile(tmp_path / "keras" / "naive" / "artifacts" / "model.keras")
    assert (naive["previous_loadable"], naive["new_present"], naive["lost_last_good"]) == (False, False, True)
    assert naive["error"].startswith("ValueError: File not found: filepath=<path>.")
    # safe: the save was writing a hidden temporary; the target still holds the GOOD weights, bitwise
    assert safe["first_change"] == "created .saving-*-model.keras"
    assert (safe["previous_loadable"], safe["new_present"], safe["lost_last_good"]) == (True, False, False)
    assert safe["leftovers"] == ".saving-*-model.keras" and safe["error"] == ""


EXPECTED_NAIVE_AT_FIRST_CHANGE = {
    "weights_h5": "error",
    "export": "previous",
    "tf_saved_model": "previous",
    "checkpoint_write": "previous",
    "checkpoint_manager": "previous",
    "model_checkpoint": "error",
    "backup_and_restore": "error",
    "backup_and_restore_double": "previous",
}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(EXPECTED_NAIVE_AT_FIRST_CHANGE))
def test_a_kill_at_the_first_change_for_the_other_formats(tmp_path, fmt):
    modes = ["naive", "safe"] if kill_matrix.has_variant(fmt, "safe") else ["naive"]
    rows = _kill_at_first_change(fmt, modes, tmp_path)
    assert rows["naive"]["outcome"] == EXPECTED_NAIVE_AT_FIRST_CHANGE[fmt]
    if "safe" in rows:
        assert rows["safe"]["outcome"] == "previous" and rows["safe"]["first_change"].startswith("created .saving-")


def test_kill_matrix_csv_and_chart_are_written_atomically(tmp_path):
    rows = [
        {c: "" for c in kill_matrix.COLUMNS}
        | {"format": "keras", "mode": m, "kill": "0", "lost_last_good": str(m == "naive"), "outcome": "previous"}
        for m in ("naive", "safe")
    ]
    csv_path = kill_matrix.write_csv(rows, tmp_path / "kill_matrix.csv")
    assert [r["mode"] for r in kill_matrix.read_csv(csv_path)] == ["naive", "safe"]
    png = kill_matrix.chart(kill_matrix.read_csv(csv_path), tmp_path / "kill_matrix.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kill_matrix.csv", "kill_matrix.png"]


def test_notebook_09_shows_the_committed_kill_matrix():
    """Notebook 09's kill table is `benchmarks.kill_matrix.markdown` of the committed results, line for line."""
    import nbformat

    from benchmarks import kill_matrix

    root = Path(__file__).resolve().parent.parent
    rows = kill_matrix.read_csv(root / "benchmarks" / "results" / "kill_matrix.csv")
    nb = nbformat.read(root / "notebooks" / "09_crash_safe_saves.ipynb", as_version=4)
    shown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for line in kill_matrix.markdown(rows).splitlines():
        assert line in shown, f"notebook 09's kill table differs from benchmarks/results/kill_matrix.csv: {line[:80]}"
    assert all(kills >= 5 for modes in kill_matrix.summary(rows).values() for _, kills in modes.values())
