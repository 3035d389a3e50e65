# Two entry points on a fresh machine: `make demo` and `make test`.
# Each creates the virtual environment on first use and installs what it needs, no more:
# `make demo` the simulator and the live view (.[demo]), `make test` the test tools as well
# (.[test]). One marker per extra, so `make test` after `make demo` adds the rest.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-demo $(VENV)/.installed-test: $(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[$*]'
	touch $@

# `make demo VENUE=binance`: the simulator's Binance face and a Binance tracker.
VENUE ?= bitmart

demo: $(VENV)/.installed-demo
	$(BIN)/tracker demo --venue $(VENUE)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check tracker tests bench simulator harness
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -q
