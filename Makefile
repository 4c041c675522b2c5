# pdesolve developer commands. Everything runs inside a local .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench verify docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pdesolve demo

test: $(STAMP)
	$(BIN)/python -m pytest

test-all: $(STAMP) docs
	$(BIN)/python -m pytest -m "slow or not slow"

DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

# Builds site/ offline; --strict turns a broken cross-reference into a failure.
docs: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

verify: $(STAMP)
	$(BIN)/pdesolve verify

bench: $(STAMP)
	$(BIN)/pdesolve bench reference

clean:
	rm -rf $(VENV) runs site .pytest_cache
