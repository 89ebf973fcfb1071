# The two commands a developer needs: `make up` and `make test`.
# Both create the virtual environment in .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

PACKAGES := \
	-e libs/contracts[nats] \
	-e tools/emulator \
	-e tools/cli[local] \
	-e services/edge \
	-e services/router \
	-e services/accounting[chdb] \
	-e services/sessions \
	-e services/catalog

.PHONY: up test lint install clean

up: $(STAMP)
	$(BIN)/gateway up

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

install: $(STAMP)

$(STAMP): constraints.txt requirements-dev.txt libs/*/pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required; set PYTHON=python3.11 (or newer).")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt $(PACKAGES)
	touch $(STAMP)

clean:
	rm -rf $(VENV)
