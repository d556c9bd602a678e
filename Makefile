# wgangp: every target creates the environment (.venv, `pip install -e ".[dev]"`) on first use.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
ARGS ?=
PYTEST_ARGS ?=

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install wgangp with its dev extras

train: $(STAMP)  ## train WGAN-GP on 8 Gaussians on the CPU (about 4 minutes); ARGS="..." adds overrides
	$(PY) src/train.py experiment=toy generator_iters=1400 $(ARGS)

test: $(STAMP)  ## run the test suite (CPU, no downloads)
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP)  ## run the long checks marked `slow`
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: $(STAMP)  ## s per generator iteration: reference vs Lightning vs bare loop, fp32/bf16, % of peak (~8 min); ARGS="--models toy"
	$(PY) scripts/bench.py $(ARGS)

bench-data: $(STAMP)  ## samples/second of every data module, in memory vs DataLoader (tiny generated files)
	$(PY) scripts/bench_data.py

lint: $(STAMP)  ## ruff
	$(PY) -m ruff check src tests scripts

.PHONY: help install train test test-slow bench bench-data lint
