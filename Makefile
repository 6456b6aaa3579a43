PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BENCH_INSTALLED := $(VENV)/.installed-bench

.PHONY: run blocks test lint format bench clean automations ui-deps

# The temporary Prefect server a laptop run starts has no network to report to, and
# its shutdown is no concern of the person reading the summary.
run: $(INSTALLED)
	PREFECT_SERVER_ANALYTICS_ENABLED=false PREFECT_SERVER_LOGGING_LEVEL=CRITICAL \
		$(BIN)/python -m flows.trends --sample

blocks: $(INSTALLED)
	$(BIN)/python -m blocks

test: $(INSTALLED)
	$(BIN)/python -m pytest -n auto --dist loadfile

lint: $(INSTALLED)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# Uses TRENDS_DATABASE_URL's server when set; sizes come from BENCH_* variables.
bench: $(BENCH_INSTALLED)
	$(BIN)/python -m benchmarks

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Alerts on the daily deployments, on the Prefect API of PREFECT_API_URL.
automations: $(INSTALLED)
	$(BIN)/python -m deploy.automations

# Debian's Chromium for the UI tests; Playwright drives it without a browser download.
ui-deps:
	test -x /usr/bin/chromium || (apt-get update -q && apt-get install -y -q chromium)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(BENCH_INSTALLED): $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
