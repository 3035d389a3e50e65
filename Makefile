# Two entry points on a fresh machine: `make demo` and `make test`.
# Both create the virtual environment they need on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/tracker demo

lint: $(VENV)/.installed
	$(BIN)/ruff check tracker tests bench

test: lint
	$(BIN)/pytest -q
