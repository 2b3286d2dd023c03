# DeepShadows: one target per user action.  Every target creates or updates the local
# virtual environment (.venv) from the pinned requirements by itself.
#
#   make paper-figures [PROFILE=smoke|default|paper] [DATA=synthetic|PATH] [SCHEDULER=tcp://HOST:8786]
#   make test                                                             the test suite + notebooks (smoke)
#   make lab          JupyterLab with the .py notebooks opening as notebooks
#   make paper-gpu    [PROFILE=paper] the profile on a GPU, wall time per notebook -> bench/results.json (no GPU: smoke on the CPU)
#   make bench        every benchmark -> bench/results.json (one run; takes ~1 h)
#   make sync         re-pair notebooks/*.py and notebooks/*.ipynb (jupytext)
#   make constraints  re-resolve requirements/constraints.txt from the ranges
#   make clean        remove build/ (executed notebooks); keeps .venv and figures/

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The first Python on PATH in the supported range 3.10-3.12 (override: make PYTHON=python3.12).
PYTHON ?= $(shell for p in python3 python3.12 python3.11 python3.10; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null \
	&& { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

PROFILE ?= default
DATA ?= synthetic
BUILD := build/$(PROFILE)
FIGURES ?= figures
LIB := $(shell find deepshadows_lib -name "*.py")
# SCHEDULER=tcp://HOST:8786: the studies' trainings run on that Dask cluster
SCHEDULER ?=
NB = $(PY) -m deepshadows_lib.cli figures --profile $(PROFILE) --data $(DATA) --build $(BUILD) --figures $(FIGURES) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) --notebook

.PHONY: help venv test paper-figures paper-gpu lab bench sync constraints clean

help:
	@sed -n '2,11p' Makefile | sed 's/^# \{0,1\}//'

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -n "$(PYTHON)" || { echo "error: need Python 3.10-3.12 on PATH (or make PYTHON=/path/to/python3.x)"; exit 2; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# Notebooks pass results through files in $(BUILD): 01 writes the stores that 02, 03 and
# 05 read; 02 writes the model and predictions that 04, 05 and 06 read.  make skips what
# is up to date.
$(BUILD)/01_file_creation.ipynb: notebooks/01_file_creation.py $(LIB) $(STAMP)
	$(NB) 01_file_creation
$(BUILD)/02_deepshadows.ipynb: notebooks/02_deepshadows.py $(BUILD)/01_file_creation.ipynb
	$(NB) 02_deepshadows
$(BUILD)/03_uncertainty.ipynb: notebooks/03_uncertainty.py $(BUILD)/01_file_creation.ipynb
	$(NB) 03_uncertainty
$(BUILD)/04_gradcam.ipynb: notebooks/04_gradcam.py $(BUILD)/02_deepshadows.ipynb
	$(NB) 04_gradcam
$(BUILD)/05_three_class.ipynb: notebooks/05_three_class.py $(BUILD)/02_deepshadows.ipynb
	$(NB) 05_three_class
# 06 (beyond the paper) compares its ensemble with the CNN that 02 trained.
$(BUILD)/06_beyond.ipynb: notebooks/06_beyond.py $(BUILD)/02_deepshadows.ipynb
	$(NB) 06_beyond

NOTEBOOKS := $(patsubst notebooks/%.py,$(BUILD)/%.ipynb,$(wildcard notebooks/0*.py))

paper-figures: $(STAMP) $(NOTEBOOKS)
	$(PY) -m deepshadows_lib.cli figures --profile $(PROFILE) --data $(DATA) --build $(BUILD) --figures $(FIGURES) --check

# jupytext's JupyterLab extension opens the .py notebooks as notebooks (default viewer
# set for this environment only; edits keep the .py/.ipynb pair in sync).  Run as root
# (containers, Colab-like machines) JupyterLab needs --allow-root: added, with a note.
# LAB_ARGS passes options (e.g. --no-browser --ip=127.0.0.1 --port=8899); LAB_DIR the
# directory served (tests/test_lab.py serves copies of the notebooks).
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings
LAB_DIR ?= notebooks/
LAB_ARGS ?=
lab: $(STAMP)
	@mkdir -p $(LAB_SETTINGS)
	@echo '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}' > $(LAB_SETTINGS)/overrides.json
	@if [ "$$(id -u)" = 0 ]; then echo "note: running as root (a container?): starting JupyterLab with --allow-root; on a shared machine run it as an ordinary user"; fi
	$(VENV)/bin/jupyter lab $(LAB_DIR) $(LAB_ARGS) $$([ "$$(id -u)" = 0 ] && echo --allow-root)

bench: $(STAMP)
	$(PY) bench/run_all.py --out bench/results.json
	$(PY) bench/readme_tables.py --results bench/results.json --readme README.md

# The paper profile (or PROFILE=...) on a GPU: a short precision check of mixed bfloat16
# + XLA against float32, then every notebook, timed.  Without a GPU (and no PROFILE=) it
# says so and runs the smoke profile on the CPU, its figures under build/smoke-gpu/.
given = $(filter command line environment,$(origin $(1)))
GPU_ARGS := $(if $(call given,PROFILE),--profile $(PROFILE)) $(if $(call given,FIGURES),--figures $(FIGURES))
paper-gpu: $(STAMP)
	$(PY) bench/paper_gpu.py --data $(DATA) $(GPU_ARGS)

sync: $(STAMP)
	$(PY) -m jupytext --sync notebooks/0*.py

constraints: $(STAMP)
	$(PY) requirements/compile.py

clean:
	rm -rf build
