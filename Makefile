# Aristobot — `make run` starts everything, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UI_SOURCES := $(shell find ui/src ui/index.html ui/vite.config.* ui/package.json -type f 2>/dev/null)

.PHONY: run test lint format check-tests ui bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

ui/node_modules/.package-lock.json: ui/package-lock.json
	npm --prefix ui ci --no-audit --no-fund

ui/dist/index.html: ui/node_modules/.package-lock.json $(UI_SOURCES)
	npm --prefix ui run build

ui: ui/dist/index.html

run: $(VENV)/.installed ui
	$(BIN)/aristobot migrate
	$(BIN)/aristobot dev

lint: $(VENV)/.installed-test
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy .

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The whole suite runs twice: on SQLite (the embedded default) and on PostgreSQL.
check-tests: $(VENV)/.installed-test ui
	$(BIN)/pytest
	ARISTOBOT_TEST_DB=postgresql $(BIN)/pytest

test: lint check-tests

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@ $(VENV)/.installed-test $(VENV)/.installed

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/connectors.py
	$(BIN)/python bench/webhook.py
	$(BIN)/python bench/strategies.py

clean:
	rm -rf $(VENV) ui/node_modules ui/dist .mypy_cache .ruff_cache .pytest_cache test-artifacts
