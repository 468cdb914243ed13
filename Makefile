# Two commands do everything on a fresh machine:
#   make run    the main job: the Fig. 3 phi scan (theta = pi/2, xi = 1.2 Lz and 1.6 Lz) on a
#               30 x 30 junction, figure in results/fig3_small/polar.png
#   make test   the API reference built with warnings as errors, then the test suite, Kwant
#               cross-checks included (this is what .ci/run calls)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run conductance ensemble test test-all install kwant docs bench device-check

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

$(VENV)/.docs: $(BIN)/jaxsge pyproject.toml
	$(BIN)/python -m pip install -q -e ".[docs]"
	touch $@

# The API reference from the docstrings (docs/api), in build/docs/index.html. -W: a docstring
# whose markup does not render is an error (make test runs this too).
DOCS_BUILD = rm -rf docs/api/_generated build/docs && $(BIN)/python -m sphinx -W --keep-going -q -b html docs/api build/docs

docs: $(VENV)/.docs
	$(DOCS_BUILD)

run: install
	$(BIN)/jaxsge scan configs/fig3_small.toml --compare xi=7.2,9.6 --out results/fig3_small --overwrite

conductance: install
	$(BIN)/jaxsge conductance configs/paper.toml

ensemble: install
	$(BIN)/python scripts/fig3_ensemble.py --reduced

# One pytest process per test folder (as the package is grouped): a long single process once
# crashed inside XLA's compiler after ~15 min of compilations; separate processes also bound memory.
# Two groups run at a time (the machine CI runs on has 2 cores, and most of a test's time is XLA's
# single-threaded compiler), longest first so that the two streams end together (times per group
# in docs/performance.md); -O keeps each group's output in one piece, -k runs every group even
# after a failure (make still exits non-zero). A folder missing from this list still runs, last.
TEST_ORDER := solve cli observables engine ensemble device well transforms model io core plot
TEST_GROUPS := $(TEST_ORDER) $(filter-out $(TEST_ORDER),$(patsubst tests/%/,%,$(sort $(wildcard tests/*/))))
TEST_JOBS ?= 2

# The API reference is built first (quick), so that the run ends on pytest's own summary lines.
test: kwant $(VENV)/.docs
	@echo "== docs (API reference, warnings as errors)"
	$(DOCS_BUILD)
	@$(MAKE) --no-print-directory -k -j$(TEST_JOBS) -O $(addprefix test-group-,$(TEST_GROUPS))

# One test folder: make test-group-solve. --durations lists the slowest tests of each group.
test-group-%:
	@echo "== tests/$* (started $$(date +%T))"
	@$(BIN)/python -m pytest -q --durations=5 tests/$*

test-all: kwant
	$(BIN)/python -m pytest -m ""

# Benchmarks of the solver paths (dense LU against Krylov, by size) and of the ensemble engine;
# each writes a JSON record under results/ (long on a CPU: see each script's --help for one case).
bench: install
	$(BIN)/python scripts/benchmark_paths.py
	$(BIN)/python scripts/benchmark_ensemble.py

# The whole device verification in one command (meant for a GPU): correctness against the stored
# CPU references, timings, memory; results/device_check/device_check.json, .md and jax_trace.tar.gz.
device-check: install
	PYTHONPATH=. $(BIN)/python scripts/device_check.py --out results/device_check --trace results/device_check
