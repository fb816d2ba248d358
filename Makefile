# The exact commands CI runs (.ci/run calls `make test`). Uses the project's virtual environment.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test lint typecheck pytest format

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

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
