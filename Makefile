# pdesolve developer commands. Everything runs inside a local .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench verify docs figures browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pdesolve demo

# Test files are spread over TEST_WORKERS processes (pytest-xdist); a file stays in one process, so
# its module-scoped fixtures (shared compiled functions) are built once. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

test: $(STAMP)
	$(PYTEST)

test-all: $(STAMP) docs browser
	$(PYTEST) -m "slow or not slow"

# Headless Chromium for the report's browser test (tests/report/test_report_browser.py), from Debian's
# packages; the test is skipped where it is absent.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } || \
	  echo "could not install chromium; tests/report/test_report_browser.py will be skipped"

DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

# Builds site/ offline; --strict turns a broken cross-reference into a failure.
docs: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

# Re-runs every example at its documentation settings and rewrites docs/figures/ (a few minutes).
figures: $(STAMP)
	@for script in examples/[a-z]*.py; do echo "== $$script"; $(BIN)/python $$script --out docs/figures || exit 1; done

verify: $(STAMP)
	$(BIN)/pdesolve verify

bench: $(STAMP)
	$(BIN)/pdesolve bench reference

clean:
	rm -rf $(VENV) runs site .pytest_cache
