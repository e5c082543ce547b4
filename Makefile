# Driftline: everything starts here. Needs only python3 (>= 3.10) on the machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help venv servers test lint typecheck semconv unit demo bench clean

help:
	@echo "make demo   - the sample app through the processor: traces, live drift, alerts, an HTML report"
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

# Real servers that some tests run (a real Prometheus scrapes the processor; promtool checks
# deploy/compose/prometheus.yml). Installed only when missing, with apt-get as root or through
# passwordless sudo; never fails the build: without it those tests skip, except in CI where they fail.
SERVER_PACKAGES := prometheus
servers:
	@command -v prometheus >/dev/null 2>&1 && exit 0; \
	command -v apt-get >/dev/null 2>&1 || { echo "servers: no apt-get; tests needing $(SERVER_PACKAGES) skip"; exit 0; }; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "servers: not root and no passwordless sudo; tests needing $(SERVER_PACKAGES) skip"; exit 0; fi; \
	log=$$(mktemp); echo "servers: apt-get install $(SERVER_PACKAGES)"; \
	install="$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(SERVER_PACKAGES)"; \
	if $$install >$$log 2>&1 || { $$SUDO apt-get update -q >>$$log 2>&1 && $$install >>$$log 2>&1; }; then :; \
	else tail -n 5 $$log; echo "servers: could not install $(SERVER_PACKAGES); tests needing it skip"; fi; \
	rm -f $$log

unit: $(STAMP) servers
	$(PY) -m pytest -q -m "not slow"

test: lint typecheck unit

demo: $(STAMP)
	$(PY) deploy/demo/run.py

bench: $(STAMP)
	$(PY) -m tests.benchmarks.run

clean:
	rm -rf $(VENV) build dist *.egg-info .bench
