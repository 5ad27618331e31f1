"""Run every notebook with its replicas on the GPUs, and report what held: `make gpu-check`.

    python scripts/gpu_check.py [notebooks/NN_*.ipynb ...]

On a machine with a GPU, each notebook runs in a fresh kernel (scripts/nbrun.py's executor)
with ``DISTSAVE_KEEP_GPUS=1``, so ``helpers.devices.use_cpu_replicas(2)`` puts the 2 replicas on
2 GPUs, or on 2 logical GPUs split from the only one.  The report says, per notebook, whether
it ran to the end and how many ``verify`` claims held: ``helpers.claims.verify`` prints
``✓ claim`` for each claim that holds and raises on any that does not, so a notebook that ran
to the end held every claim it printed.  The recorded outputs are NOT compared: a GPU computes
other float32 results (docs/accelerators.md).  The executed copies go to ``build/gpu-check/``,
the kernels' stderr to ``build/gpu-check/logs/``; the notebooks themselves are not touched.

On a machine without a GPU it says that it checked nothing and exits 0.  Exit status 1 if a
notebook did not run to the end.

Nobody has run this on a GPU yet: the machines this collection is developed and checked on
have none.  Its planning is unit-tested on CPU (tests/test_gpu_check.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nbrun  # noqa: E402

from helpers.devices import KEEP_GPUS_ENV  # noqa: E402

ROOT = nbrun.ROOT
OUT = ROOT / "build" / "gpu-check"
COUNT_GPUS = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"
NOTHING_CHECKED = (
    "gpu-check: no GPU visible to TensorFlow on this machine, so it checked nothing (run it where there is one)"
)


@dataclass(frozen=True)
class Plan:
    """What ``make gpu-check`` will do: run ``notebooks`` with ``env``, or nothing (``run`` false)."""

    run: bool
    notebooks: tuple[Path, ...]
    env: dict[str, str]
    message: str


@dataclass(frozen=True)
class Claims:
    """The ``verify`` claims one executed notebook printed: held (``✓``) and not held (``✗``)."""

    held: int
    failed: int
    verify_cells: int


def plan(gpu_count: int, notebooks: Sequence[Path], environ: Mapping[str, str]) -> Plan:
    """Decide what to run (pure logic): every notebook with ``DISTSAVE_KEEP_GPUS=1`` if there is a GPU, else nothing.

    Raises:
        ValueError: ``gpu_count`` is not a count, or there are no notebooks.
    """
    if isinstance(gpu_count, bool) or not isinstance(gpu_count, int) or gpu_count < 0:
        raise ValueError(f"gpu_count must be the number of GPUs TensorFlow sees (0 or more), got {gpu_count!r}")
    if not notebooks:
        raise ValueError("no notebooks to check; pass notebooks/NN_name.ipynb paths or run it from the repository")
    env = {**environ, KEEP_GPUS_ENV: "1"}
    if gpu_count == 0:
        return Plan(False, (), env, NOTHING_CHECKED)
    how = "2 logical GPUs split from the only GPU" if gpu_count == 1 else "/gpu:0 and /gpu:1"
    message = (
        f"gpu-check: {gpu_count} GPU(s); {len(notebooks)} notebook(s) with {KEEP_GPUS_ENV}=1, replicas on {how} "
        "(outputs are not compared: numerics differ on a GPU)"
    )
    return Plan(True, tuple(notebooks), env, message)


def count_claims(nb: nbformat.NotebookNode) -> Claims:
    """Count the ``✓``/``✗`` lines that ``verify`` printed in the cells that call it."""
    held = failed = cells = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or "verify(" not in cell.source:
            continue
        cells += 1
        for out in cell.get("outputs", []):
            if out.get("output_type") != "stream":
                continue
            for line in out.get("text", "").splitlines():
                held += line.startswith("✓ ")
                failed += line.startswith("✗ ")
    return Claims(held, failed, cells)


def count_gpus(environ: Mapping[str, str]) -> int:
    """How many physical GPUs TensorFlow sees, asked in a separate process (this one never starts TensorFlow)."""
    result = subprocess.run(
        [sys.executable, "-c", COUNT_GPUS], capture_output=True, text=True, env=dict(environ), timeout=300
    )
    if result.returncode != 0:
        raise RuntimeError(f"could not ask TensorFlow for its GPUs:\n{result.stderr[-2000:]}")
    return int(result.stdout.strip().splitlines()[-1])


def run(the_plan: Plan, out: Path = OUT) -> int:
    """Execute the plan's notebooks, print one row per notebook, return the exit status."""
    print(the_plan.message, flush=True)
    if not the_plan.run:
        return 0
    os.environ.update(the_plan.env)  # the kernels inherit this process's environment
    rows = []
    for i, path in enumerate(the_plan.notebooks, 1):
        print(f"[{i}/{len(the_plan.notebooks)}] {path.name}", flush=True)
        nb, seconds, status = nbrun.execute(path, out / "logs" / f"{path.stem}.kernel.log")
        nb = nbrun.normalise(nb)
        out.mkdir(parents=True, exist_ok=True)
        nbrun.write(nb, out / path.name)
        claims = count_claims(nb)
        rows.append((path.name, seconds, status == "ok", claims, nbrun.failing_cell(nb) or status))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'notebook':<{width}}  {'seconds':>7}  ran to the end  claims held  claims failed")
    for name, seconds, ok, claims, _ in rows:
        print(f"{name:<{width}}  {seconds:7.1f}  {'yes' if ok else 'NO':<14}  {claims.held:>11}  {claims.failed:>13}")
    failed = [r for r in rows if not r[2] or r[3].failed]
    print(f"{len(rows) - len(failed)} of {len(rows)} notebooks ran to the end with every claim held")
    for name, _, _, _, why in failed:
        print(f"\n{name}: {why}\n  executed copy: {nbrun._shown(out / name)}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    notebooks = [p.resolve() for p in args.notebooks] or sorted(nbrun.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    environ = dict(os.environ)
    the_plan = plan(count_gpus(environ), notebooks, environ)
    return run(the_plan)


if __name__ == "__main__":
    sys.exit(main())
