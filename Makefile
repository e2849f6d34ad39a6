# Two commands do everything on a fresh machine (see README.md):
#   make book   build the executed HTML book into _build/html (GPU when there is one)
#   make test   lint, offline smoke build of the whole book, and the test suite
# Both create .venv and install requirements.txt + the package, unless a virtual environment
# is already active, in which case they install into that one.

SHELL := /bin/bash
PYTHON ?= python3

ifdef VIRTUAL_ENV
ENV_DIR := $(VIRTUAL_ENV)
else
ENV_DIR := .venv
endif
PY := $(ENV_DIR)/bin/python
INSTALLED := $(ENV_DIR)/.cnnx-installed

.PHONY: book test smoke unit lint format sync env clean

book: $(INSTALLED)
	$(PY) scripts/build_book.py $(if $(FORCE),--force)

test: lint smoke
	CNNX_SMOKE_BUILT=1 $(PY) -m pytest

smoke: $(INSTALLED)
	$(PY) scripts/build_book.py --smoke

unit: $(INSTALLED)
	$(PY) -m pytest -m "not book"

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) scripts/sync_pages.py --check

format: $(INSTALLED)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

sync: $(INSTALLED)
	$(PY) scripts/sync_pages.py

env: $(INSTALLED)

$(INSTALLED): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(ENV_DIR)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	@touch $@

clean:
	rm -rf _build
