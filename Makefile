# driftloop: `make demo` and `make test` are the two set-up commands (see README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Telemetry off by default for every tool in the stack.
export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 60

.PHONY: install install-dev demo test test-slow test-all lint bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

demo: install
	$(VENV)/bin/driftloop demo --out .driftloop/demo

test: install-dev
	$(PY) -m pytest -m "not slow" --doctest-modules monitors models flows deploy tests $(PYTEST_ARGS)

test-slow: install-dev
	$(PY) -m pytest -m slow -rP $(PYTEST_ARGS)

test-all: install-dev
	$(PY) -m pytest --doctest-modules monitors models flows deploy tests $(PYTEST_ARGS)

bench: install-dev
	$(PY) -m benchmarks.run $(BENCH_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy monitors models flows deploy

clean:
	rm -rf .driftloop build *.egg-info
