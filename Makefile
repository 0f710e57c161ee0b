# dronecoop — one way to install, check, test and run, locally and in CI.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: install demo serve check test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

## The main job: a shared DSS and two partners' USS nodes on localhost, a morning of
## planning between them, then the nodes keep running (Ctrl-C stops them).
demo: install
	$(BIN)/dronecoop demo

## Run one node (DSS + USS) on an embedded SQLite store with a development signing key.
serve: install
	$(BIN)/dronecoop serve

## Static checks: formatting, lint, strict typing, known vulnerabilities.
check: install
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pip-audit --progress-spinner off --skip-editable

## The whole test suite against real SQLite and PostgreSQL (started or installed if needed).
test: install
	-bash scripts/services.sh
	bash scripts/test.sh

## Benchmarks (not tests): prints tables with ratios against named baselines.
bench: install
	-bash scripts/services.sh
	$(PY) bench/dss.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis var
