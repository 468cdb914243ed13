# Two commands do everything on a fresh machine:
#   make run    the main job (the paper junction's spin-resolved conductances at one angle)
#   make test   the test suite, Kwant cross-checks included (this is what .ci/run calls)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run scan test test-all install kwant bench

$(BIN)/jaxsge: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

install: $(BIN)/jaxsge

$(VENV)/.kwant: $(BIN)/jaxsge scripts/install_kwant.sh
	VENV=$(VENV) bash scripts/install_kwant.sh
	touch $@

kwant: $(VENV)/.kwant

run: install
	$(BIN)/jaxsge conductance configs/paper.toml

scan: install
	$(BIN)/jaxsge scan configs/fig3_small.toml --compare xi=7.2,9.6 --out results/fig3_small

test: kwant
	$(BIN)/python -m pytest

test-all: kwant
	$(BIN)/python -m pytest -m ""

bench: kwant
	$(BIN)/python scripts/benchmark_transport.py
