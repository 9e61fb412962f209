# senca-st: `make demo` runs the pipeline on the embedded demo (one seed: 1 min 40 s on 2 cores after
# the install, measured in a fresh clone); `make demo-full` runs the paper's study on it (five seeds, every ablation); `make test`
# runs the test suite. `make help` lists the targets.
# Both create .venv and install everything on first use (no network needed beyond PyPI).
# `make bench` runs the peers by their own recipes (benchmarks/peers.py: GraphST with mclust EEE,
# Banksy at lambda 0.2, SpaGCN) and senca_rna at config.yaml's settings, on the same sections, k and
# ARI rule (default HER2ST A1 B1 C1 D1 from ../shared/data/her2st, DLPFC 151673 151674 from
# ../shared/data/dlpfc), adds the pipeline's own rows when results/metrics/ari.tsv exists, prints one
# table and writes $(BENCH_OUT)/table.tsv (per-run lines in $(BENCH_OUT)/runs.tsv; runs found there
# are reused). Seeds $(BENCH_SEEDS) for all but GraphST, which runs $(GRAPHST_SEEDS): on the CPU it
# takes about half an hour per DLPFC section. First use installs the pinned `[peers]` extra into .venv.
# Narrow it with BENCH_ARGS, e.g. make bench BENCH_ARGS="--sections A1,B1".

VENV ?= .venv
PYTHON ?= python3
CORES ?= 2
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PEERS_STAMP := $(VENV)/.peers-installed
BENCH_OUT ?= results/peers
BENCH_ARGS ?=
BENCH_SEEDS ?= 0,1,2,3,4
GRAPHST_SEEDS ?= 0
PIPELINE_ARI ?= results/metrics/ari.tsv
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help install demo demo-full test test-fast lint clean-results bench

help:
	@echo "senca-st targets (each installs into $(VENV) on first use):"
	@echo "  make demo          the demo section, one seed: senca and its baselines (1 min 40 s on 2 cores); prints the ARI table"
	@echo "  make demo-full     the paper's study on the demo: five seeds, every ablation (about 20 min on 2 cores)"
	@echo "  make test          the whole test suite, as CI runs it (.ci/run)"
	@echo "  make test-fast     the tests not marked slow or slurm"
	@echo "  make lint          snakefmt --check and snakemake --lint"
	@echo "  make bench         GraphST, Banksy, SpaGCN and senca_rna side by side: benchmarks/peers.py, BENCH_ARGS=..."
	@echo "  make install       only create $(VENV) and install senca-st with its workflow and test tools"
	@echo "  make clean-results remove results/, logs/, benchmarks/runs/ and .snakemake/"
	@echo "Outputs: results/<sample>/section.h5ad (open with scanpy/squidpy), region_markers.tsv, clusters.tsv;"
	@echo "report: snakemake --report results/report.html"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls GBs of CUDA wheels. torchvision 0.29.1 imports
	# only beside torch 2.14.1 (pip takes both from this machine's disk where they lie there).
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -c constraints.txt -e '.[workflow,dev]'
	touch $(STAMP)

install: $(STAMP)

# GraphST, Banksy, SpaGCN, pymclustr and what they import undeclared; torch stays pinned by constraints.txt.
$(PEERS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -c constraints.txt -e '.[workflow,dev,peers]'
	touch $(PEERS_STAMP)

demo: install
	snakemake --cores $(CORES) --configfile config/quick.yaml
	$(PY) -m senca_st.evaluation.summary results/metrics/ari.tsv
	@echo "Per section: results/<sample>/section.h5ad (scanpy/squidpy), region_markers.tsv; figures: results/report/"
	@echo "HTML report: snakemake --configfile config/quick.yaml --report results/report.html"

demo-full: install
	snakemake --cores $(CORES)
	$(PY) -m senca_st.evaluation.summary results/metrics/ari.tsv
	@echo "Per section: results/<sample>/section.h5ad (scanpy/squidpy), region_markers.tsv; figures: results/report/"
	@echo "HTML report: snakemake --report results/report.html"

# Two pytest workers (pytest-xdist), each taking whole test files (--dist loadfile) so that a
# module's shared run (a finished demo, a SLURM cluster) is built once, in the order tests/conftest.py
# gives: the SLURM and whole-pipeline files first (--no-loadscope-reorder, else xdist starts
# with the files of most tests). The whole-pipeline tests spend much of their time starting jobs and
# waiting on SLURM's status checks, so two workers on two cores finish the suite well before one
# does. TEST_WORKERS=0 runs it in one process. OMP_WAIT_POLICY=PASSIVE: torch's OpenMP threads
# sleep instead of spinning while they wait, so one worker's idle threads do not take the other's
# cores.
TEST_WORKERS ?= 2
PYTEST := OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: install
	$(PYTEST) tests

test-fast: install
	$(PYTEST) -m "not slow and not slurm" tests

BENCH := $(PY) benchmarks/peers.py --threads $(CORES) --runs $(BENCH_OUT)/runs.tsv

bench: $(PEERS_STAMP)
	$(BENCH) --methods banksy,spagcn,senca_rna --seeds $(BENCH_SEEDS) $(BENCH_ARGS) > /dev/null
	$(BENCH) --methods graphst --seeds $(GRAPHST_SEEDS) $(BENCH_ARGS) > /dev/null
	$(BENCH) --table-only --seeds $(BENCH_SEEDS),$(GRAPHST_SEEDS) --out $(BENCH_OUT)/table.tsv \
		$(if $(wildcard $(PIPELINE_ARI)),--pipeline-ari $(PIPELINE_ARI)) $(BENCH_ARGS)

lint: install
	snakefmt --check Snakefile rules
	snakemake --lint

clean-results:
	rm -rf results logs benchmarks/runs .snakemake
