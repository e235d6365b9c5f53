# Two commands for a fresh machine with Python 3.11 and make:
#   make run    install, migrate the embedded database, load demo data once, start Neptune
#   make test   install dev tools, then lint, type-check and test
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check --quiet
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# The demo runs with a development master key generated into the data directory.
export NEPTUNE_DEV_MODE ?= 1

.PHONY: run test lint types unit bench lock clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements/lock.txt requirements/build.txt pyproject.toml
	$(PIP) install --require-hashes -r requirements/build.txt
	$(PIP) install --require-hashes -r requirements/lock.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	@touch $@

$(DEV_STAMP): $(STAMP) requirements/dev.txt
	$(PIP) install --require-hashes -r requirements/lock.txt -r requirements/dev.txt
	@touch $@

run: $(STAMP)
	$(BIN)/neptune run

test: $(DEV_STAMP) lint types unit

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

types: $(DEV_STAMP)
	$(BIN)/mypy

unit: $(DEV_STAMP)
	$(BIN)/pytest

bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/store_bench.py
	$(BIN)/python benchmarks/turn_overhead.py
	$(BIN)/python benchmarks/knowledge_search.py
	$(BIN)/python benchmarks/offline_model.py
	$(BIN)/python benchmarks/ws_load.py --sessions 100
	$(BIN)/python benchmarks/ws_load.py --sessions 1000

# Regenerate the hashed lock files after editing requirements/*.in (needs `uv` on PATH).
lock:
	uv pip compile --python-version 3.11 --generate-hashes requirements/build.in -o requirements/build.txt
	uv pip compile --python-version 3.11 --generate-hashes requirements/runtime.in -o requirements/lock.txt
	uv pip compile --python-version 3.11 --generate-hashes requirements/dev.in -o requirements/dev.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
