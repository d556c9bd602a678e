# wgangp: every target creates the environment (.venv, `pip install -e ".[dev]"`) on first use.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
ARGS ?=
PYTEST_ARGS ?=
# The suite runs in one pytest-xdist worker per core (`auto`), each test module on one worker (module fixtures).
TEST_WORKERS ?= auto
# Table 2's sweep (sweeps/random_archs.yaml; PRESET=small: random_archs_small.yaml, PRESET=cpu:
# random_archs_cpu.yaml) and its folder.
PRESET ?= full
SWEEP_CONFIG = $(if $(filter small cpu,$(PRESET)),random_archs_$(PRESET),$(if $(filter full,$(PRESET)),random_archs,$(error PRESET=$(PRESET): use PRESET=full (the paper's sweep), PRESET=cpu (Fashion-MNIST, CPU hours) or PRESET=small (CPU minutes))))
SWEEP_DIR ?= logs/sweeps/$(SWEEP_CONFIG)
# the sweep's records folder under results/: table2, table2_cpu, table2_small
SWEEP_TABLE = $(subst random_archs,table2,$(SWEEP_CONFIG))
ONE_SIDED_DIR ?= logs/sweeps/one_sided
# The CPU presets run one thread per run: on a small shared CPU several threads per run contend (docs/performance.md).
SWEEP_ENV = $(if $(filter small cpu,$(PRESET)),OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1})

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install wgangp with its dev extras

train: $(STAMP)  ## train WGAN-GP on 8 Gaussians on the CPU (no download); ARGS="..." adds overrides
	$(PY) src/train.py experiment=toy generator_iters=1400 $(ARGS)

test: $(STAMP)  ## run the test suite (CPU, no downloads)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-package: $(STAMP)  ## the wheel in a fresh venv, the console scripts outside the checkout, the card's command (slow)
	$(PY) -m pytest -m slow tests/test_package.py $(PYTEST_ARGS)

test-slow: $(STAMP)  ## run the long checks marked `slow`
	$(PY) -m pytest -m slow -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: $(STAMP)  ## s per generator iteration: reference vs Lightning vs bare loop, fp32/bf16, % of peak; ARGS="--models toy"
	$(PY) scripts/bench.py $(ARGS)

params: $(STAMP)  ## parameter counts of every model= option's generator and critic (Markdown table)
	$(PY) scripts/params.py

bench-data: $(STAMP)  ## samples/second of every data module, in memory vs DataLoader (tiny generated files)
	$(PY) scripts/bench_data.py

sweep-random-archs: $(STAMP)  ## Table 2 (Sec. 5.1): 200 Table 1 archs x {WGAN-GP, GAN}, then the table; PRESET=cpu: Fashion-MNIST, CPU hours; small: minutes
	$(SWEEP_ENV) $(PY) src/train.py --config-dir sweeps --config-name $(SWEEP_CONFIG) hydra.sweep.dir=$(SWEEP_DIR) $(ARGS)
	$(PY) scripts/table2.py $(SWEEP_DIR) --table $(SWEEP_TABLE)

sweep-one-sided: $(STAMP)  ## App. C: 174 archs x {two-sided, one-sided penalty}, then the comparison
	$(PY) src/train.py --config-dir sweeps --config-name one_sided hydra.sweep.dir=$(ONE_SIDED_DIR) $(ARGS)
	$(PY) scripts/table2.py $(ONE_SIDED_DIR) --table one_sided

table2: $(STAMP)  ## print and write Table 2 (Markdown, CSV, per-architecture CSV) of SWEEP_DIR=...
	$(PY) scripts/table2.py $(SWEEP_DIR) $(ARGS)

FIG3_CONFIG = $(if $(filter cpu,$(PRESET)),fig3_cpu,fig3)
FIG3_DIR ?= logs/sweeps/$(FIG3_CONFIG)
FIG2_DIR ?= logs/sweeps/lsun_fig2
fig3: $(STAMP)  ## Fig. 3: 4 methods on CIFAR-10 (sweeps/fig3.yaml), then the plot; PRESET=cpu: Fashion-MNIST
	$(if $(filter cpu,$(PRESET)),OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1}) $(PY) src/train.py --config-dir sweeps --config-name $(FIG3_CONFIG) hydra.sweep.dir=$(FIG3_DIR) $(ARGS)
	$(PY) scripts/fig3_plot.py $(FIG3_DIR)

TECHNIQUES_DIR ?= logs/sweeps/techniques_cpu
LIMITED_DATA_DIR ?= logs/sweeps/limited_data_cpu
sweep-techniques: $(STAMP)  ## RpGAN+R1+R2, lazy penalty, DiffAugment, hinge+SN, DCGAN vs WGAN-GP on Fashion-MNIST, 3 seeds (CPU hours), then records and docs
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) src/train.py --config-dir sweeps --config-name techniques_cpu hydra.sweep.dir=$(TECHNIQUES_DIR) $(ARGS)
	$(PY) scripts/techniques.py $(TECHNIQUES_DIR) --table techniques_cpu

sweep-limited-data: $(STAMP)  ## Fig. 5b on 1000 Fashion-MNIST images: WGAN-GP with and without DiffAugment / ADA, then records and docs
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) src/train.py --config-dir sweeps --config-name limited_data_cpu hydra.sweep.dir=$(LIMITED_DATA_DIR) $(ARGS)
	$(PY) scripts/techniques.py $(LIMITED_DATA_DIR) --table limited_data_cpu

results: $(STAMP)  ## re-render every docs table drawn from the committed records under results/
	$(PY) scripts/render_results.py

fig3-plot: $(STAMP)  ## Fig. 3's two panels (IS vs iterations and wall-clock) from FIG3_DIR's metrics.csv
	$(PY) scripts/fig3_plot.py $(FIG3_DIR)

lsun-fig2: $(STAMP)  ## Fig. 2: 7 LSUN architectures x 4 methods (sweeps/lsun_fig2.yaml), then the sample grid
	$(PY) src/train.py --config-dir sweeps --config-name lsun_fig2 hydra.sweep.dir=$(FIG2_DIR) $(ARGS)
	$(PY) scripts/fig2_grid.py $(FIG2_DIR)

fig2-grid: $(STAMP)  ## Fig. 2's sample grid (rows architectures, columns methods) from FIG2_DIR's checkpoints
	$(PY) scripts/fig2_grid.py $(FIG2_DIR)

lint: $(STAMP)  ## ruff check and ruff format --check (no file is changed)
	$(PY) -m ruff check src tests scripts docs/examples
	$(PY) -m ruff format --check src tests scripts docs/examples

.PHONY: help install train test test-package test-slow bench params bench-data lint sweep-random-archs sweep-one-sided table2 fig3 fig3-plot lsun-fig2 fig2-grid sweep-techniques sweep-limited-data results
