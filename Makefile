# tidings: build, run and check. Every target sets up what it needs first.
#   make run     .venv + `tidings serve` on 127.0.0.1:6001 (PORT=6002 for another port)
#   make test    .venv + Node clients, then the whole pytest suite
#   make check   style + types + test (what CI runs)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.installed
NODE_DIR := tests/conformance/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
PYTEST_ARGS ?=
# `make run PORT=6002`: the listener's port (TIDINGS_HTTP_PORT in the environment works too).
PORT ?=

.PHONY: help venv node browser run test reliability style types check bench bench-deps constraints clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# Re-installs only when the project metadata or the pins change.
$(VENV_STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,redis,uvloop,postgres,mysql]'
	@touch $@

venv: $(VENV_STAMP)  ## create .venv and install tidings with dev, redis, postgres and mysql extras (pinned)

# `npm ci` wipes node_modules, so the stamp lives inside it and is written last.
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found; install Node.js 20" >&2; exit 1; }
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

node: $(NODE_STAMP)  ## install the Node conformance clients (npm ci)

# The dashboard's browser tests drive Debian's chromium through Playwright (whose own
# browser download is not used).
CHROMIUM ?= /usr/bin/chromium
browser:  ## install Debian's chromium for the dashboard tests (apt-get, as root or with sudo)
	@test -x $(CHROMIUM) || { \
	  sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium; }
	@test -x $(CHROMIUM) || { echo "error: $(CHROMIUM) missing after apt-get install chromium" >&2; exit 1; }

run: venv  ## start `tidings serve` (127.0.0.1:6001; PORT=6002 picks another port)
	$(BIN)/tidings serve $(if $(PORT),--port $(PORT))

# pytest exits 5 when it collected no tests; like any non-zero exit, make fails on it.
# Coverage (lines + branches) is measured and printed per package, whatever the outcome;
# COV_FAIL_UNDER=N fails the run below N % (.ci/run sets it). The 15 slowest tests are listed.
# TEST_WORKERS pytest-xdist processes share the tests (most tests wait on servers and
# clients, so two take a third off even on two cores; worksteal evens out the long ones);
# TEST_WORKERS=0 runs them in one process.
COV_FAIL_UNDER ?=
TEST_WORKERS ?= 2
COVERAGE_JSON := build/coverage.json
test: venv node browser  ## run the whole test suite, with coverage and the 15 slowest tests
	@mkdir -p build
	status=0; $(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal --cov --cov-report=json:$(COVERAGE_JSON) --cov-report= \
	  --durations=15 $(if $(COV_FAIL_UNDER),--cov-fail-under=$(COV_FAIL_UNDER)) \
	  $(PYTEST_ARGS) || status=$$?; \
	if [ -f $(COVERAGE_JSON) ]; then $(BIN)/python -m tests.support.coverage_summary $(COVERAGE_JSON); fi; \
	exit $$status

# The short versions run with `make test`; these are the long ones (minutes), plus every
# test marked `timing`, whose duration and RSS bounds (tests/support/timing.py) are asserted
# here only (`make test` checks outcomes; both print the figures measured).
reliability: venv node  ## long reliability runs (20-round churn, soak) + the duration/RSS bounds
	TIDINGS_RELIABILITY_LONG=1 TIDINGS_TEST_TIMING=1 $(BIN)/pytest -m "reliability or timing" tests $(PYTEST_ARGS)

style: venv  ## ruff lint + format check + the import layers (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

types: venv  ## mypy --strict over src and tests
	$(BIN)/mypy

check: style types test  ## everything CI runs

bench: venv  ## measure throughput and latency on this machine
	$(BIN)/tidings bench

# The bench's baselines: nginx + nchan from Debian (root or sudo), Node ws 8.23.0 and Soketi 1.6.1.
# Soketi pins uWebSockets.js to a GitHub tag; package.json overrides it with the npm package of
# its prebuilt binaries, which want three GLIBC_2.38 symbols: on an older glibc (Debian 12) that
# need is marked weak in the binary and a shim defining them is built (preloaded by the bench).
SOKETI_DIR := benchmarks/baselines/soketi
UWS_NODE := $(SOKETI_DIR)/node_modules/uWebSockets.js/uws_linux_x64_115.node
bench-deps: venv  ## install the bench baselines (apt: nginx-light libnginx-mod-nchan; npm: ws, Soketi) and matplotlib
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,redis,uvloop,postgres,bench]'
	$$( [ "$$(id -u)" -eq 0 ] || echo sudo ) apt-get update
	$$( [ "$$(id -u)" -eq 0 ] || echo sudo ) apt-get install -y nginx-light libnginx-mod-nchan gcc
	cd benchmarks/baselines && npm ci --no-audit --no-fund --loglevel=error
	cd $(SOKETI_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@if [ -f $(UWS_NODE) ]; then \
	  $(BIN)/python benchmarks/baselines/elf_weak_version.py $(UWS_NODE) GLIBC_2.38 && \
	  gcc -O2 -shared -fPIC -o $(SOKETI_DIR)/node_modules/.glibc238-shim.so benchmarks/baselines/glibc238-shim.c; \
	else echo "note: $(UWS_NODE) absent (not x86-64 Linux?): the bench skips Soketi"; fi

constraints:  ## re-resolve pyproject.toml and pin every installed package in constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,redis,uvloop,postgres,bench]'
	$(BIN)/python -m pip freeze --disable-pip-version-check --exclude-editable > constraints.txt.tmp
	mv constraints.txt.tmp constraints.txt
	@touch $(VENV_STAMP)

clean:  ## remove the venv, Node modules, caches and build output
	rm -rf $(VENV) $(NODE_DIR)/node_modules build dist src/*.egg-info \
	  .mypy_cache .ruff_cache .pytest_cache .hypothesis bench-results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
