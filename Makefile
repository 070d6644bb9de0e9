# Teamline: two commands for a new user.
#   make demo   set up and run the product with demo data on http://127.0.0.1:8000
#   make test   set up and run the whole test suite (what CI runs)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup setup-test lint catalogs

demo: setup
	$(BIN)/teamline demo

test: setup-test
	bash scripts/test.sh

# The product alone (what `make demo` needs) …
setup: $(VENV)/.installed node_modules/.installed catalogs

# … and the test tools and the browser on top (what `make test` needs).
setup-test: setup $(VENV)/.installed-test
	bash scripts/install-chromium.sh
	bash scripts/install-xmlsec1.sh

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Teamline needs Python 3.11 ($(PYTHON))"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

# The translation catalogs (.po → .mo, with Babel; only stale ones): build output, not committed.
catalogs: $(VENV)/.installed
	$(BIN)/python -m teamline.core.catalogs

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install -q -e ".[test]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy src
