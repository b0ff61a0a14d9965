# One entry point for the chores. `make demo` and `make test` work on a fresh Debian machine
# with Python 3.11: they install the Debian packages and the virtual environment they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-stamp
AXE := tests/a11y/node_modules/axe-core/axe.min.js
export PATH := $(BIN):$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup system demo test lint format bench clean

setup: system $(STAMP) $(AXE)

system:
	@echo "setup 1/3: Debian packages (dicom3tools, chromium, bubblewrap, postgresql, python3-venv)"
	@bash scripts/system-packages.sh

$(STAMP): pyproject.toml
	@echo "setup 2/3: virtual environment $(VENV)/"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@echo "setup 3/3: Python packages (a few minutes the first time; pip names each one)"
	$(BIN)/pip install --progress-bar off -e '.[dev]' \
	  | { grep --line-buffered -E '^(Collecting|Successfully)' || true; }; test $${PIPESTATUS[0]} -eq 0
	$(BIN)/pip install --quiet --no-deps pycanon==1.3.6  # see pyproject.toml: exact pins of its own
	@touch $(STAMP)

# axe-core for the site's accessibility test: the npm package, pinned by its lock file
$(AXE): tests/a11y/package.json tests/a11y/package-lock.json
	@echo "setup: axe-core (npm ci in tests/a11y/)"
	npm ci --prefix tests/a11y --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $(AXE)

DEMO_TIMINGS := $(CURDIR)/.portal-cache/demo-timings.jsonl

demo: export PORTAL_TIMINGS = $(DEMO_TIMINGS)
demo: setup  ## every challenge's pipeline on its embedded default (synthetic DaT-Park, ML-KIDCAR)
	@mkdir -p .portal-cache && rm -f $(DEMO_TIMINGS) && date +%s > .portal-cache/demo-start
	dvc repro
	@bash scripts/demo-finish.sh

test: setup  ## lint, then the test suite (what CI runs)
	ruff check portal tests bench
	pytest

lint: setup
	ruff check portal tests bench
	ruff format --check portal tests bench

format: setup
	ruff check --fix portal tests bench
	ruff format portal tests bench

bench: setup  ## benchmarks: ratios against baselines measured in the same run
	python -m bench

clean:
	rm -rf raw data runs site mlflow.db mlartifacts bench/results .pytest_cache .portal-envs .portal-cache
