# Two commands on a fresh machine with Python 3.11:
#   make demo   - install into .venv and run the weekly routine on the example content (in demo/)
#   make test   - install into .venv and run every test (the corpus tier runs when ../shared is there)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo screenshots test fuzz mutate lint bench clean

# The accessibility tests inject axe-core (an npm package) into Chromium.
node_modules/.installed: package.json package-lock.json
	if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --silent && touch $@; fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# A fresh secret key for this checkout's own project; .env is never committed.
.env:
	$(PYTHON) -c "import secrets; print('DIGEST_SECRET_KEY=' + secrets.token_urlsafe(48))" > .env

demo: $(VENV)/.installed .env
	DIGEST=$(CURDIR)/$(BIN)/digest PYTHON=$(CURDIR)/$(BIN)/python ./examples/demo.sh

# The README's pictures (docs/screenshots/), from the demo's preview and report, in Chromium.
screenshots: demo
	$(BIN)/python examples/screenshots.py demo

test: $(VENV)/.installed node_modules/.installed
	$(BIN)/python -m pytest

# Property-based tests, random and twenty times longer than in `make test`.
fuzz: $(VENV)/.installed
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -m fuzz

# Mutation testing of the modules that decide a person's status (see [tool.mutmut] in
# pyproject.toml); the survivors and why they survive are in docs/mutation.md.
mutate: $(VENV)/.installed node_modules/.installed
	$(BIN)/python -m pip install --quiet "mutmut>=3.2"
	rm -rf mutants
	$(BIN)/mutmut run
	$(BIN)/mutmut results

lint: $(VENV)/.installed
	$(BIN)/ruff check digest tests bench
	$(BIN)/mypy

# digest against its floors, as ratios (bench/ratios.py); PostgreSQL too when DIGEST_TEST_DATABASE_URL is set.
bench: $(VENV)/.installed
	$(BIN)/python bench/ratios.py

# Build output only: digest.db, outbox/ and .env are this checkout's own project data, never cleaned.
clean:
	rm -rf $(VENV) demo mutants preview
