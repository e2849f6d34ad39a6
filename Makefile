# Two commands do everything on a fresh machine (see README.md):
#   make book   build the executed HTML book into _build/html (GPU when there is one)
#   make pdf    the same, then one PDF per edition into _build/html/pdf (XeLaTeX)
#   make test   lint (code and the publishing workflow), offline smoke build of both editions
#               (HTML and PDF), and the test suite (with every notebook run in a fresh Colab-like
#               environment, and the built book opened offline in a headless browser)
# They create .venv and install requirements.txt + the package, unless a virtual environment
# is already active, in which case they install into that one. `make pdf` and `make test` also
# install the system tools they need with apt-get when they are missing (TeX for the PDF;
# Chromium and poppler-utils for the tests): see scripts/install_tools.sh.

SHELL := /bin/bash
PYTHON ?= python3

ifdef VIRTUAL_ENV
ENV_DIR := $(VIRTUAL_ENV)
else
ENV_DIR := .venv
endif
PY := $(ENV_DIR)/bin/python
INSTALLED := $(ENV_DIR)/.cnnx-installed
# make test runs every notebook in a fresh Colab-like environment, then builds the smoke book
# from those executions (they are saved here) instead of running the pages a second time.
EXECUTED := $(CURDIR)/_build/colab-executed

.PHONY: book pdf test smoke unit lint format sync env clean

book: $(INSTALLED)
	$(PY) scripts/build_book.py $(if $(FORCE),--force)

# The PDF needs the execution cache of the HTML build: its pages are not run a second time.
pdf: $(INSTALLED)
	bash scripts/install_tools.sh pdf
	$(PY) scripts/build_book.py $(if $(FORCE),--force)
	$(PY) scripts/build_pdf.py

test: lint
	bash scripts/install_tools.sh test
	rm -rf $(EXECUTED)
	CNNX_COLAB_EXECUTED=$(EXECUTED) $(PY) -m pytest -rP tests/test_colab.py
	$(MAKE) smoke FROM=$(EXECUTED)
	$(PY) scripts/build_pdf.py --smoke
	CNNX_SMOKE_BUILT=1 $(PY) -m pytest

smoke: $(INSTALLED)
	$(PY) scripts/build_book.py --smoke $(if $(FROM),--executed $(FROM))

unit: $(INSTALLED)
	$(PY) -m pytest -m "not book"

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(ENV_DIR)/bin/actionlint
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
