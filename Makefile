# recsys-causal: `make report` builds the book, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PARAMS ?= params/default.yaml
RUN_NAME ?= default
TEST_RUNS := build/test-runs
# pytest-xdist: two workers; tests sharing a session fixture (the end-to-end book, the notebooks)
# stay on one worker. `make test XDIST=` runs the suite in one process.
XDIST ?= -n 2 --dist loadgroup

.PHONY: report test nbval lint install clean-runs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

## Execute every chapter on $(PARAMS) (simulated data by default) and render HTML + PDF into _book/.
report: $(VENV)/.installed
	$(BIN)/recsys-causal run --params $(PARAMS) --run-name $(RUN_NAME)

## The whole suite: unit, statistical, bad-input, end-to-end, browser/PDF and nbval notebook tests.
test: $(VENV)/.installed
	rm -rf $(TEST_RUNS)
	RECSYS_CAUSAL_PARAMS=params/test.yaml RECSYS_CAUSAL_RUNS_DIR=$(TEST_RUNS) \
		$(BIN)/pytest tests notebooks --nbval-lax --nbval-cell-timeout=600 -p no:cacheprovider $(XDIST) $(PYTEST_ARGS)

## Only the notebooks, on the tiny profile (what reviewers run).
nbval: $(VENV)/.installed
	RECSYS_CAUSAL_PARAMS=params/test.yaml RECSYS_CAUSAL_RUNS_DIR=$(TEST_RUNS) \
		$(BIN)/pytest --nbval-lax notebooks

lint: $(VENV)/.installed
	$(BIN)/ruff check .

clean-runs:
	rm -rf data/runs build _book
