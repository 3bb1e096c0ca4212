# The two commands: `make run` and `make test`. Everything else is a step they call.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test setup init lint typecheck pytest bench format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

## Migrate the store, create the default release, ingest the default knowledge base.
init: setup
	$(BIN)/llmops db upgrade
	$(BIN)/llmops kb ingest

run: init
	$(BIN)/streamlit run app.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy llmops

pytest: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: init
	$(BIN)/python bench/tracing_overhead.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/chat_turn.py
	$(BIN)/python bench/dashboards.py --traces 100000
	$(BIN)/python bench/evals.py
	$(BIN)/python bench/evals.py --quality

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
