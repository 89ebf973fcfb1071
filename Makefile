# The two commands a developer needs: `make up` and `make test`.
# Both create the virtual environment in .venv on first use.
# `make bench` measures speed; bench/README.md describes it.
# `make schemas` regenerates the event schemas in libs/contracts/schemas.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
CONSOLE := services/console
# `npm ci` in the console, for its end-to-end tests; `gateway up` checks the same stamp.
CONSOLE_STAMP := $(CONSOLE)/node_modules/.installed

PACKAGES := \
	-e libs/contracts[nats] \
	-e tools/emulator \
	-e tools/cli[local] \
	-e services/edge \
	-e services/router \
	-e services/accounting[chdb] \
	-e services/sessions \
	-e services/catalog

.PHONY: up test lint install clean bench bench-profile schemas console-packages

up: $(STAMP)
	$(BIN)/gateway up

test: $(STAMP) console-packages
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

install: $(STAMP)

# Regenerate the event JSON Schemas and the AsyncAPI document after a change to the event models.
schemas: $(STAMP)
	$(BIN)/python -m gateway_contracts.event_schemas libs/contracts/schemas

# Options for bench/run.py, for example BENCH_ARGS="--skip litellm --scale 0.2".
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-profile: $(BENCH_STAMP)
	$(BIN)/python bench/profile_hot_path.py $(BENCH_ARGS)

$(BENCH_STAMP): $(STAMP) bench/requirements.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -r bench/requirements.txt
	touch $(BENCH_STAMP)

$(STAMP): constraints.txt requirements-dev.txt libs/*/pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required; set PYTHON=python3.11 (or newer).")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt $(PACKAGES)
	touch $(STAMP)

# Without npm the console's tests skip themselves with the reason, and the rest of the suite runs.
console-packages:
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "npm not found: the web console's tests will be skipped"; \
	elif [ ! -f $(CONSOLE_STAMP) ] || [ $(CONSOLE)/package-lock.json -nt $(CONSOLE_STAMP) ]; then \
		echo "cd $(CONSOLE) && npm ci"; \
		cd $(CONSOLE) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	fi

clean:
	rm -rf $(VENV) $(CONSOLE)/node_modules $(CONSOLE)/.next
