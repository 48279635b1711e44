# costtrack: `make run` serves the demo, `make test` proves it on PostgreSQL and Redis.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-test migrate demo lint security pytest e2e-deps services worker relay beat clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(STAMP)

install-test: $(TEST_STAMP)

migrate: install
	$(BIN)/costtrack migrate --noinput

demo: migrate
	$(BIN)/costtrack demo

run: demo
	$(BIN)/costtrack collectstatic --noinput --verbosity 0
	DEBUG=$${DEBUG:-true} $(BIN)/costtrack runserver $(HOST):$(PORT)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

security: install-test
	$(BIN)/bandit -q -c pyproject.toml -r costtrack orgunits costs budgets allocation notifications recommendations

e2e-deps:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium and chromium-driver for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; }

services:
	@bash .ci/services.sh

pytest: install-test
	$(BIN)/pytest

test: install-test e2e-deps services lint security
	$(BIN)/pytest

# A Celery worker and, beside it, the job relay: the dispatcher that hands the jobs requests
# record (costtrack.core.jobs) to Redis as they commit, and reaps those of dead workers.
worker: install
	$(BIN)/costtrack jobs relay & relay=$$!; \
	trap 'kill $$relay 2>/dev/null' EXIT INT TERM; \
	$(BIN)/celery -A costtrack worker --loglevel=INFO

relay: install
	$(BIN)/costtrack jobs relay

beat: install
	$(BIN)/celery -A costtrack beat --loglevel=INFO

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .hypothesis db.sqlite3
