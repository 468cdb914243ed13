# Two commands do everything on a fresh machine:
#   make run    the main job: the Fig. 3 phi scan (theta = pi/2, xi = 1.2 Lz and 1.6 Lz) on a
#               30 x 30 junction, figure in results/fig3_small/polar.png
#   make test   the test suite, Kwant cross-checks included (this is what .ci/run calls)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run conductance ensemble test test-all install kwant bench

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
	$(BIN)/jaxsge scan configs/fig3_small.toml --compare xi=7.2,9.6 --out results/fig3_small

conductance: install
	$(BIN)/jaxsge conductance configs/paper.toml

ensemble: install
	$(BIN)/python scripts/fig3_ensemble.py --reduced

test: kwant
	$(BIN)/python -m pytest

test-all: kwant
	$(BIN)/python -m pytest -m ""

bench: kwant
	$(BIN)/python scripts/benchmark_transport.py
