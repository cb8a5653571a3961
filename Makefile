# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint openapi contracts-test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## set up, then start the whole stack (Ctrl-C stops it)
	$(BIN)/ndxp-sim up

test: $(STAMP)  ## set up, then lint, type-check and run the whole test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

openapi: $(STAMP)  ## regenerate the committed OpenAPI files from the code
	$(BIN)/ndxp-sim openapi --write

contracts-test: $(STAMP)  ## schemathesis (schemathesis.toml) against the mocks and the gateway
	$(BIN)/pytest -p no:randomly tests/integration/test_schemathesis.py

clean:
	rm -rf $(VENV) .ndxp .pytest_cache .mypy_cache .ruff_cache
