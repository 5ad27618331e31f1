"""Tests of ``benchmarks.checkpoint`` (cost at scale) and ``benchmarks.charts``.

Argument checks, the page-cache and disk-bandwidth probes, the atomic writer, the CSV / chart / markdown writers on
synthetic rows, and one real tiny run (a 1e4-parameter model, a subprocess: TensorFlow starts fresh) whose CSV schema
is checked. The committed full results in ``benchmarks/results/`` must follow the same schema.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import charts
from benchmarks import checkpoint as bench

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


# ---------------------------------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1e6", 1_000_000), ("5e7", 50_000_000), ("10000000", 10_000_000), ("1_000", 1_000), (2e4, 20_000)],
)
def test_parse_size_accepts_counts(text, expected):
    assert bench.parse_size(text) == expected


@pytest.mark.parametrize("bad", ["abc", "", "0", "-1e6", "1234.5", "1e12", "nan", "inf", True, "999"])
def test_parse_size_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="size must be"):
        bench.parse_size(bad)


def test_size_labels_and_widths():
    assert [bench.size_label(n) for n in (1_000_000, 50_000_000, 10_200, 1_000)] == ["1e6", "5e7", "10200", "1e3"]
    for params, width in ((1_000_000, 500), (10_000_000, 1581), (50_000_000, 3535)):
        assert bench.dense_width(params) == width
        exact = bench.LAYERS * (width * width + width)
        assert abs(exact - params) / params < 0.005  # "about 1e6, 1e7, 5e7"


def test_unknown_format_and_strategy_are_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"unknown format.*\.keras, \.weights\.h5"):
        bench.check_formats([".keras", "pickle"])
    with pytest.raises(ValueError, match="unknown format"):
        bench.check_formats([])
    with pytest.raises(ValueError, match="choose from: none, mirrored"):
        bench.check_strategies(["tpu"])
    assert bench.check_formats(["Checkpoint sharded", ".keras"]) == (".keras", "Checkpoint sharded")  # table order


@pytest.mark.parametrize(
    "kwargs",
    [{"repeats": 0}, {"repeats": 1.5}, {"warmup": -1}, {"sizes": ()}, {"sizes": ("1e13",)}, {"formats": ("x",)}],
)
def test_config_validates_every_field(kwargs):
    with pytest.raises(ValueError):
        bench.Config(**kwargs)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--formats", "pickle"], "unknown format"),
        (["--sizes", "12abc"], "size must be"),
        (["--sizes", "1e2"], "between"),
        (["--repeats", "0"], "integer >= 1"),
        (["--strategies", "tpu"], "unknown strateg"),
    ],
)
def test_command_line_refuses_bad_input_before_starting_tensorflow(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------- files


def test_atomic_write_replaces_whole_files_or_leaves_the_old_one(tmp_path):
    target = tmp_path / "sub" / "out.csv"
    bench.atomic_write(target, b"old")
    bench.atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    with pytest.raises(TypeError):
        bench.atomic_write(target, "not bytes")  # fails inside the write
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.csv"]  # no temporary file left behind
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fs_type(path: Path) -> str:
    best, kind = "", ""
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount, fs, *_ = line.split()
        if (str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
            best, kind = mount, fs
    return kind


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="posix_fadvise + mincore: Linux")


@linux_only
def test_evict_drops_a_file_from_the_page_cache(tmp_path):
    if _fs_type(tmp_path.resolve()) in ("tmpfs", "ramfs", "overlay"):
        pytest.skip("the page cache of a memory file system cannot be dropped")
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(2 * 2**20))
    path.read_bytes()
    assert bench.cached_fraction(path) == 1.0
    assert bench.evict(tmp_path) is True  # a folder: every file in it
    assert bench.cached_fraction(tmp_path) == 0.0
    (tmp_path / "empty").touch()
    assert bench.cached_fraction(tmp_path / "empty") == 0.0
    with pytest.raises(FileNotFoundError):
        bench.evict(tmp_path / "missing")


@linux_only
def test_disk_bandwidth_probe(tmp_path):
    disk = bench.disk_bandwidth(tmp_path, 3 * 2**20 + 5, runs=2)
    assert disk.nbytes == 3 * 2**20 + 5 and disk.runs == 2
    assert disk.write_s > 0 and disk.read_s > 0 and disk.write_Bps > 0 and disk.read_Bps > 0
    assert disk.evicted
    if _fs_type(tmp_path.resolve()) not in ("tmpfs", "ramfs", "overlay"):
        assert disk.cached_after_evict == 0.0
    assert list(tmp_path.iterdir()) == []  # the probe file is removed
    with pytest.raises(ValueError, match="nbytes"):
        bench.disk_bandwidth(tmp_path, 0)
    with pytest.raises(ValueError, match="runs"):
        bench.disk_bandwidth(tmp_path, 10, runs=0)
    with pytest.raises(FileNotFoundError):
        bench.disk_bandwidth(tmp_path / "missing", 10)


def test_raw_probes_are_combined_and_ratios_above_one_flagged(tmp_path):
    probes = [bench.DiskBandwidth(100_000_000, 1, w, r, 0.0, True) for w, r in ((0.25, 0.05), (0.2, 0.1), (0.4, 0.08))]
    disk, spread = bench.combine_probes(probes)
    assert (disk.runs, disk.write_s, disk.read_s, disk.evicted) == (3, 0.25, 0.08, True)
    assert spread == pytest.approx(
        {"raw_probes": 3, "raw_write_MBps_min": 250, "raw_write_MBps_max": 500}
        | {"raw_read_MBps_min": 1000, "raw_read_MBps_max": 2000}
    )
    with pytest.raises(ValueError, match="no raw disk probes"):
        bench.combine_probes([])
    with pytest.raises(ValueError, match="different sizes"):
        bench.combine_probes([probes[0], bench.DiskBandwidth(5, 1, 1.0, 1.0, None, True)])
    raw = {"size": "1e7", "params": 8_333_333, "strategy": "", "format": bench.RAW, "runs": 3, "bytes": disk.nbytes}
    raw |= {"files": 1, "save_call_s": disk.write_s, "save_s": disk.write_s, "load_s": disk.read_s, "error": ""}
    row = {"size": "1e7", "params": 8_333_333, "strategy": "Mirrored(2)", "format": "CheckpointManager", "runs": 3}
    row |= {"bytes": 100_000_000, "files": 2, "save_call_s": 0.2, "save_s": 0.22, "load_s": 0.2, "error": ""}
    fast = {**row, "strategy": "no strategy", "save_s": 0.1}
    for r in (raw, row, fast):
        bench._add_ratios(r, disk, spread)
    assert raw["above_raw"] == "" and raw["save_ratio"] == 1.0
    assert row["save_ratio"] == pytest.approx(100 / 0.22 / 400)  # 455 MB/s against a median of 400
    assert row["save_ratio_min"] < 1 < row["save_ratio"] < row["save_ratio_max"]
    assert row["above_raw"] == "save 1.14 > 1, within the raw probes' spread"
    assert fast["above_raw"] == "save 2.50 > 1, above every raw probe"
    bench.write_results(bench.Results([raw, row, fast], [], {}), tmp_path)
    text = bench.markdown_summary(tmp_path / bench.CSV_NAME)
    assert "median of 3 probes interleaved with the formats; min–max 250–500" in text
    assert "| CheckpointManager | Mirrored(2) | 100 | 0.22 | 0.20 | 1.14 † | 0.40 |" in text
    assert "- 1e7, CheckpointManager, Mirrored(2): save 1.14 > 1, within the raw probes' spread." in text
    assert charts.png_bytes(charts.ratio_chart(bench.read_csv(tmp_path / bench.CSV_NAME))).startswith(b"\x89PNG")


# ---------------------------------------------------------------------------------------------------- writers


def _synthetic_results() -> bench.Results:
    rows, stall = [], []
    for size, params, scale in (("1e4", 10_200, 1), ("5e7", 49_999_040, 5000)):
        disk = bench.DiskBandwidth(12 * params, 3, 0.5 * scale / 1000, 0.1 * scale / 1000, 0.0, True)
        raw = {"size": size, "params": params, "strategy": "", "format": bench.RAW, "runs": 3, "bytes": disk.nbytes}
        raw |= {"files": 1, "save_call_s": disk.write_s, "save_s": disk.write_s, "load_s": disk.read_s, "error": ""}
        bench._add_ratios(raw, disk)
        rows.append(raw)
        for strategy in ("no strategy", "Mirrored(2)"):
            for i, fmt in enumerate(bench.FORMATS):
                files = 9 if fmt == "Checkpoint sharded" else 2
                row = {"size": size, "params": params, "strategy": strategy, "format": fmt, "runs": 3}
                row |= {"bytes": 12 * params + i, "files": files, "save_call_s": 0.1 * scale / 1000 * (i + 1)}
                row |= {"save_s": scale / 1000 * (i + 1), "load_s": scale / 2000 * (i + 1)}
                row |= {"cached_before_load": 0.0, "restores_optimizer": fmt in bench.RESTORES_OPTIMIZER}
                row["error"] = ""
                bench._add_ratios(row, disk)
                rows.append(row)
            stall.append(
                {"size": size, "params": params, "strategy": strategy, "checkpoints": 3, "steps_between": 5}
                | {"step_s": 0.9, "sync_save_s": 1.5, "sync_stall_s": 1.4, "async_call_s": 0.05}
                | {"async_stall_s": 1.2, "stall_fraction": 0.8, "error": ""}
            )
    failed = {"size": "5e7", "params": 49_999_040, "strategy": "Mirrored(2)", "format": "Checkpoint sharded"}
    rows[-1] = failed | {"runs": 0, "restores_optimizer": True, "error": "ValueError: nope"}
    bench._add_ratios(rows[-1], disk)
    meta = {"machine": {"cpu": "Test CPU", "cores": 2, "memory_GiB": 8.0, "tensorflow": "2.x", "keras": "3.x"}}
    meta["machine"] |= {"date": "2026-01-01 00:00 UTC", "filesystem": {"type": "ext4", "mount": "/"}}
    return bench.Results(rows, stall, meta)


def test_write_results_csv_schema_json_and_charts(tmp_path):
    results = _synthetic_results()
    written = bench.write_results(results, tmp_path)
    names = sorted(p.name for p in written)
    assert names == sorted([bench.CSV_NAME, bench.STALL_NAME, bench.META_NAME, *_CHARTS])
    with open(tmp_path / bench.CSV_NAME, newline="") as f:
        assert tuple(next(csv.reader(f))) == bench.CSV_FIELDS
    rows = bench.read_csv(tmp_path / bench.CSV_NAME)
    assert len(rows) == len(results.rows)
    assert rows[1]["params"] == 10_200 and isinstance(rows[1]["save_s"], float) and rows[1]["restores_optimizer"]
    assert rows[-1]["error"] == "ValueError: nope" and rows[-1]["save_s"] is None
    assert json.loads((tmp_path / bench.META_NAME).read_text()) == results.meta
    for png in _CHARTS:
        assert (tmp_path / png).read_bytes().startswith(b"\x89PNG")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left
    with pytest.raises(ValueError, match="not in the schema"):
        bench._csv_text([{"size": "1e6", "colour": "red"}], bench.CSV_FIELDS)


_CHARTS = ("checkpoint_ratios.png", "checkpoint_stall.png")


def test_charts_refuse_empty_input_and_render_png():
    with pytest.raises(ValueError, match="no measured rows"):
        charts.ratio_chart([])
    with pytest.raises(ValueError, match="no measured stall rows"):
        charts.stall_chart([{"error": "ValueError: x"}])
    with pytest.raises(TypeError):
        charts.png_bytes("not a figure")
    fig = charts.ratio_chart(_synthetic_results().rows)
    assert len(fig.axes) == 4  # save and load, for each of the 2 sizes
    assert charts.png_bytes(fig).startswith(b"\x89PNG")


def test_markdown_summary_shows_the_largest_size_and_is_deterministic(tmp_path):
    bench.write_results(_synthetic_results(), tmp_path)
    text = bench.markdown_summary(tmp_path / bench.CSV_NAME)
    assert text == bench.markdown_summary(tmp_path / bench.CSV_NAME)
    assert "Test CPU, 2 cores" in text and "2026-01-01" in text and "ext4" in text
    assert "**At 5e7 (49,999,040 parameters" in text and "1e4" not in text.split("**At 5e7")[1].split("**Async")[0]
    formats_table, stall_table = text.split("**Async checkpoints")
    assert len([line for line in formats_table.splitlines() if line.startswith("| ")]) == 1 + 2 * len(bench.FORMATS)
    assert "failed: ValueError: nope" in formats_table
    assert len([line for line in stall_table.splitlines() if line.startswith("| ")]) == 1 + 4  # every size
    assert "| 5e7 | Mirrored(2) | 5 | 1.50 | 0.05 | 1.20 | **0.80** |" in stall_table
    assert "- **Sharding**, no strategy: 8 data files instead of 1; save 1.60×, load 1.60×" in text
    assert "- **Sharding**, Mirrored(2): failed: ValueError: nope" in text
    (tmp_path / "empty.csv").write_text(",".join(bench.CSV_FIELDS) + "\n")
    with pytest.raises(ValueError, match="no rows"):
        bench.markdown_summary(tmp_path / "empty.csv")


# ------------------------------------------------------------------------------------------- the list of formats
def test_one_list_of_save_formats_serves_both_benchmarks():
    from benchmarks import formats, kill_matrix

    assert len(formats.BY_KEY) == len(formats.BY_LABEL) == len(formats.ALL)  # names are unique in both benchmarks
    assert bench.FORMATS == tuple(f.label for f in formats.ALL if f.cost)
    assert list(kill_matrix.FORMATS) == [f.key for f in formats.ALL if f.kill_matrix]
    assert all((f.save is None) != (f.callback is None) for f in formats.ALL)  # a direct save or a callback
    # the committed results (and the notebooks showing them) use the names of the list, and agree with what it says:
    # which formats restore the optimizer, and which have no safe variant (only naive rows)
    cost_rows = [r for r in bench.read_csv(RESULTS / bench.CSV_NAME) if r["format"] != bench.RAW]
    assert {r["format"] for r in cost_rows} == set(bench.FORMATS)
    assert all(r["restores_optimizer"] == (r["format"] in bench.RESTORES_OPTIMIZER) for r in cost_rows)
    modes: dict[str, set[str]] = {}
    for r in kill_matrix.read_csv(RESULTS / "kill_matrix.csv"):
        modes.setdefault(r["format"], set()).add(r["mode"])
    assert set(modes) == set(kill_matrix.FORMATS)
    assert {k for k, m in modes.items() if m == {"naive"}} == set(kill_matrix.NO_SAFE_VARIANT)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda k, d: k.write_run(k.Run("pickle", "naive", "0", 0.0, d), 10, 0.0), "unknown format"),
        (lambda k, d: k.write_run(k.Run("keras", "careful", "0", 0.0, d), 10, 0.0), "unknown mode"),
        (lambda k, d: k.write_run(k.Run("keras", "naive", "0", 0.0, d), 0, 0.0), "hidden must be"),
        (lambda k, d: k.write_run(k.Run("keras", "naive", "0", 0.0, d), 10, -1.0), "delay_s must be"),
        (lambda k, d: k.run_format("keras", ["naive"], 0, 10, d), "kills must be"),
    ],
)
def test_kill_matrix_refuses_bad_arguments_before_starting_a_writer(tmp_path, call, message):
    from benchmarks import kill_matrix

    with pytest.raises(ValueError, match=message):
        call(kill_matrix, tmp_path / "run")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------------- real runs


def test_tiny_run_writes_the_csv_schema(tmp_path):
    """A real run on a 10,200-parameter model: every format, the raw probe, the async stall, the files."""
    formats = list(bench.FORMATS)
    cmd = [sys.executable, "-m", "benchmarks.checkpoint", "--sizes", "1e4", "--repeats", "1", "--warmup", "0"]
    cmd += ["--strategies", "none", "--stall-checkpoints", "2", "--out", str(tmp_path), "--formats", *formats]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / bench.CSV_NAME, newline="") as f:
        assert tuple(next(csv.reader(f))) == bench.CSV_FIELDS
    rows = bench.read_csv(tmp_path / bench.CSV_NAME)
    assert [r["format"] for r in rows] == [bench.RAW, *formats]
    assert {r["params"] for r in rows} == {10_200}
    for r in rows:
        assert r["error"] == "", r
        assert r["bytes"] > 0 and r["save_s"] > 0 and r["load_s"] > 0 and r["save_ratio"] > 0 and r["load_ratio"] > 0
        if sys.platform.startswith("linux") and _fs_type(tmp_path.resolve()) not in ("tmpfs", "ramfs", "overlay"):
            assert r["cached_before_load"] == 0.0
    by = {r["format"]: r for r in rows}
    assert by["Checkpoint sharded"]["files"] > by["tf.train.Checkpoint"]["files"] == 2  # .index + data shard(s)
    assert by["tf.train.Checkpoint"]["bytes"] < by[".keras"]["bytes"]
    (stall,) = bench.read_csv(tmp_path / bench.STALL_NAME)
    assert stall["error"] == "" and stall["checkpoints"] == 2 and stall["sync_save_s"] > 0
    meta = json.loads((tmp_path / bench.META_NAME).read_text())
    assert meta["machine"]["tensorflow"] and meta["machine"]["filesystem"]["type"]
    assert meta["async_same_checkpoint_second_write"].startswith("ValueError: tf.function only supports singleton")
    assert meta["threads_at_end"] <= 8  # Checkpoint async reuses one Checkpoint per model (write_async)
    assert by[bench.RAW]["raw_probes"] == len(formats) + 1  # one probe before each format, one after the last
    assert (tmp_path / "checkpoint_ratios.png").exists() and (tmp_path / "checkpoint_stall.png").exists()
    assert "**At 1e4 (10,200 parameters" in bench.markdown_summary(tmp_path / bench.CSV_NAME)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # work folder removed


def test_committed_results_follow_the_schema():
    """``benchmarks/results/`` holds a full run: 3 sizes, every format under both strategies, the stall, charts."""
    with open(RESULTS / bench.CSV_NAME, newline="") as f:
        assert tuple(next(csv.reader(f))) == bench.CSV_FIELDS
    rows = bench.read_csv(RESULTS / bench.CSV_NAME)
    assert [r["size"] for r in rows if r["format"] == bench.RAW] == ["1e6", "1e7", "5e7"]
    measured = {(r["size"], r["strategy"], r["format"]) for r in rows if r["format"] != bench.RAW}
    assert len(measured) == 3 * 2 * len(bench.FORMATS)
    assert all(r["runs"] >= 3 for r in rows if not r["error"])
    stall = bench.read_csv(RESULTS / bench.STALL_NAME)
    assert {(s["size"], s["strategy"]) for s in stall} == {
        (s, t) for s in ("1e6", "1e7", "5e7") for t in bench.STRATEGIES.values()
    }
    for png in _CHARTS:
        assert (RESULTS / png).read_bytes().startswith(b"\x89PNG")
    assert bench.markdown_summary(RESULTS / bench.CSV_NAME).startswith("**Machine:**")
