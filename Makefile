# Driftline: everything starts here. Needs only python3 (>= 3.10) on the machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help venv test lint typecheck semconv unit demo bench clean

help:
	@echo "make demo   - run the sample app against a fake LLM provider, print its spans and metrics"
	@echo "make test   - create .venv, install, lint, type-check, run the whole test suite"
	@echo "make bench  - benchmarks (overhead vs floor and peers) -> docs/performance.md"

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	# An editable install does not run build_py, so place the activation .pth as a wheel would.
	$(PY) -c "import shutil, sysconfig; shutil.copy('instrumentation/auto/driftline-auto.pth', sysconfig.get_paths()['purelib'])"
	touch $(STAMP)

venv: $(STAMP)

semconv: $(STAMP)
	$(PY) -m driftline.semconv.generate

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m driftline.semconv.generate --check

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

test: lint typecheck unit

demo: $(STAMP)
	$(PY) deploy/demo/run.py

bench: $(STAMP)
	$(PY) -m tests.benchmarks.run

clean:
	rm -rf $(VENV) build dist *.egg-info .bench
