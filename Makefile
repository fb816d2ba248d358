# The exact commands CI runs (.ci/run calls `make test`). Uses the project's virtual environment.
# `make test-fast` is the lane to run while editing: ruff and the unit tests that need neither a
# database nor minutes (no `db`, no `slow` marker), in about a minute; it is not what CI runs.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test test-fast lint typecheck pytest format

install:
	python3 -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[dev]"

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

test-fast: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow and not db" tests/unit

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
