# senca-st: `make demo` runs the pipeline on the embedded demo; `make test` runs the test suite.
# Both create .venv and install everything on first use (no network needed beyond PyPI).

VENV ?= .venv
PYTHON ?= python3
CORES ?= 2
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install demo test test-fast lint clean-results

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls GBs of CUDA wheels.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[workflow,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	snakemake --cores $(CORES)
	$(PY) -m senca_st.summary results/metrics/ari.tsv

test: install
	$(PY) -m pytest tests

test-fast: install
	$(PY) -m pytest -m "not slow and not slurm" tests

lint: install
	snakefmt --check Snakefile rules
	snakemake --lint

clean-results:
	rm -rf results logs benchmarks/runs .snakemake
