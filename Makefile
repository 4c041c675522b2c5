# pdesolve developer commands. Everything runs inside a local .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all test-lowest dist test-wheel bench bench-training anchors verify docs figures browser clean

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
	PDESOLVE_TEST_XLA_OPT=1 $(PYTEST) -m "slow or not slow"

# The oldest dependency versions pyproject.toml allows (each ">=" lower bound installed exactly, from
# .ci/lowest_constraints.py) in a fresh venv: `pdesolve verify` and the smoke tests must pass.
LOWEST := .venv-lowest
test-lowest:
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST)/bin/python .ci/lowest_constraints.py > $(LOWEST)/constraints.txt
	$(LOWEST)/bin/python -m pip install --quiet -c $(LOWEST)/constraints.txt -e . pytest
	$(LOWEST)/bin/python -m pip list 2>/dev/null | grep -iE '^(jax|jaxlib|equinox|diffrax|optax|lineax|optimistix|jaxtyping|numpy|h5py) '
	$(LOWEST)/bin/pdesolve verify
	$(LOWEST)/bin/python -m pytest -q -p no:cacheprovider tests/test_smoke.py

# The release artefacts: an sdist and a wheel in dist/.
dist: $(STAMP)
	$(BIN)/python -m pip install --quiet build
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

# The wheel and the sdist, each installed into a fresh venv and tested from a directory outside
# the checkout (so the installed package, not the source tree, is what runs).
test-wheel: dist
	@set -e; for artefact in dist/pdesolve-*.whl dist/pdesolve-*.tar.gz; do \
	  env=$$(mktemp -d); echo "== $$artefact in $$env"; \
	  $(PYTHON) -m venv $$env/venv; \
	  $$env/venv/bin/python -m pip install --quiet "$$artefact" pytest; \
	  cp tests/test_smoke.py $$env/; \
	  (cd $$env && venv/bin/pdesolve doctor && venv/bin/python -m pytest -q -p no:cacheprovider -c /dev/null test_smoke.py); \
	  rm -rf $$env; \
	done

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

# The PyTorch anchors of `pdesolve bench training` (optional extra; `make test` never installs them).
anchors: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[anchors]"

bench-training: anchors
	$(BIN)/pdesolve bench training

clean:
	rm -rf $(VENV) $(LOWEST) dist runs site .pytest_cache
