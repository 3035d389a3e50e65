# Two entry points on a fresh machine: `make demo` and `make test`.
# Each creates the virtual environment on first use and installs what it needs, no more:
# `make demo` the simulator and the live view (.[demo]), `make test` the test tools as well
# (.[test]). One marker per extra, so `make test` after `make demo` adds the rest.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clients

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-demo $(VENV)/.installed-test: $(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[$*]'
	touch $@

# Clients written by other people that cannot share .[test]'s environment: current ccxt (the
# extra pins 4.5.70, the last release with BitMart), Binance's SDK (it wants an aiohttp and
# a urllib3 newer than ccxt 4.5.70 pins) and OKX's. They go to a directory of their own,
# which each venue's conformance tests run them from, as subprocesses (tests/clients/).
CLIENTS_REQUIREMENTS := tests/clients/clients.txt

$(VENV)/.installed-clients: $(CLIENTS_REQUIREMENTS) | $(BIN)/python
	rm -rf $(VENV)/clients
	$(BIN)/pip install --quiet --target $(VENV)/clients -r $(CLIENTS_REQUIREMENTS)
	touch $@

clients: $(VENV)/.installed-clients

# `make demo VENUE=binance`: the simulator's Binance face and a Binance tracker.
VENUE ?= bitmart

demo: $(VENV)/.installed-demo
	$(BIN)/tracker demo --venue $(VENUE)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check tracker tests bench simulator harness
	$(BIN)/lint-imports

test: lint clients
	$(BIN)/pytest -q
