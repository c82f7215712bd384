# `make run` and `make test` are the whole set-up: each creates .venv and installs into it.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck services clean protos chromium

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	exec $(VENV)/bin/ticketing run

services:
	bash .ci/services

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check domain services command_api query_api projections tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: $(STAMP) services chromium lint typecheck
	$(VENV)/bin/pytest

# The browser tests drive Debian's chromium (never a browser Playwright downloads).
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache .hypothesis

protos: $(STAMP)
	$(VENV)/bin/python protos/generate.py
