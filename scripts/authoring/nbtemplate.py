"""Authoring helper: build a notebook from (kind, source) pairs with the standard header and Setup cell.

Used by scripts/authoring/make_NN.py files to (re)generate a notebook's cells; the
outputs are then recorded with `make record NB=notebooks/NN_*.ipynb`.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from nbrun import normalise, write  # noqa: E402
from project import REPO  # noqa: E402  (pyproject's [project.urls]; after a rename regenerate the headers)
ROOT = Path(__file__).resolve().parents[2]


def header(filename: str, title: str, purpose: str, learn: list[str], runtime: str) -> str:
    colab = f"https://colab.research.google.com/github/{REPO}/blob/main/notebooks/{filename}"
    github = f"https://github.com/{REPO}/blob/main/notebooks/{filename}"
    items = "\n".join(f"- {x}" for x in learn)
    return f"""# {title}

{purpose}

<table align="left">
  <td><a target="_blank" href="{colab}"><img src="https://www.tensorflow.org/images/colab_logo_32px.png" />Run in Google Colab</a></td>
  <td><a target="_blank" href="{github}"><img src="https://www.tensorflow.org/images/GitHub-Mark-32px.png" />View source on GitHub</a></td>
</table>
<br clear="all">

**What you'll learn**

{items}

**Expected run time:** {runtime} on a 2-core CPU, no GPU needed."""


SETUP_MD = """## Setup

On Colab the next cell installs this collection's small `helpers` package (and the Keras 2 package `tf_keras`);
locally, `make lab` / `make run` have already installed the pinned stack from `requirements.txt`, so it installs nothing.
It does not upgrade TensorFlow: the notebooks run on the TensorFlow your runtime has (see the compatibility table in
the README). One repair comes first on some Colab images: there `tensorflow-metadata` was built for a newer
`protobuf` than the one installed, and `import tensorflow_datasets` fails with a protobuf `VersionError`. The cell
tries that import in a separate process and, if it fails, installs the last `tensorflow-metadata` built for the
installed protobuf; nothing is imported in this notebook before that, so no restart is needed.

A number printed after **≈** (a loss, an accuracy, the tiny gap between two ways of computing the same thing) comes
out of float32 arithmetic whose last digits depend on your CPU, so yours may differ in those digits; the cell's
asserts check what the number means."""

SETUP = f'''import os
import subprocess
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TF's C++ logs; must be set before TF is imported

if "google.colab" in sys.modules:
    packages = ["distsave-helpers[legacy] @ git+https://github.com/{REPO}"]
    probe = [sys.executable, "-c", "import tensorflow_metadata.proto.v0.schema_pb2"]
    if subprocess.run(probe, capture_output=True).returncode != 0:  # protobuf VersionError (tensorflow/metadata#68)
        packages.append("tensorflow-metadata<1.18")  # the last releases built for protobuf 5
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *packages], check=True)

# Keras 3.15 warns "`shuffle=True` was passed, but will be ignored" on every fit() with a tf.data.Dataset;
# our datasets are shuffled in the input pipeline, so the warning carries no information here.
warnings.filterwarnings("ignore", message="`shuffle=True` was passed")'''


SPLIT_MD = """### Two replicas on one CPU

As in notebook 01: split the CPU into 2 logical devices before TensorFlow starts its runtime (on a GPU runtime the
GPU is hidden, so every runtime runs the same lesson; notebook 01 says why)."""

SPLIT = """import tensorflow as tf

from helpers import devices

replica_devices = devices.use_cpu_replicas(2).devices
print("replicas:", len(replica_devices))"""


def build(filename: str, cells: list[tuple[str, str]]) -> Path:
    """Write notebooks/<filename> from (kind, source) pairs, kind 'md' or 'code'. Outputs are empty.

    ``NB_OUT_DIR`` redirects the output (tests/test_notebooks.py uses it to check that the
    committed notebooks still match their generators).
    """
    nb = nbformat.v4.new_notebook()
    for kind, src in cells:
        src = src.strip("\n")
        nb.cells.append(nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src))
    nb.metadata["colab"] = {"name": filename, "toc_visible": True}
    path = Path(os.environ.get("NB_OUT_DIR", ROOT / "notebooks")) / filename
    write(normalise(nb), path)
    return path
