# Two commands set everything up: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HASH := $(shell cat pyproject.toml | sha1sum | cut -c1-12)
# `make serve` needs the runtime only; the test and lint targets add the dev extras.
RUNTIME := $(VENV)/.runtime-$(HASH)
STAMP := $(VENV)/.installed-$(HASH)
# `make serve PORT=9000 HOST=0.0.0.0`; unset, the SESSIONKEEPER_* settings decide.
SERVE_ARGS := $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

.PHONY: serve test lint typecheck bench clean browser

$(VENV)/bin/pip:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml | $(VENV)/bin/pip
	test -f $(STAMP) || $(BIN)/pip install --quiet -e .
	rm -f $(VENV)/.runtime-*
	touch $(RUNTIME)

$(STAMP): pyproject.toml | $(VENV)/bin/pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* $(VENV)/.runtime-*
	touch $(STAMP) $(RUNTIME)

serve: $(RUNTIME)
	$(BIN)/sessionkeeper serve $(SERVE_ARGS)

# The suite runs in TEST_WORKERS processes, each taking whole test files (module fixtures such
# as a live server stay shared within a file). Most end-to-end tests wait on server processes,
# a browser or a sleep, so two workers fit the two cores of the CI machine. TEST_WORKERS=0 runs
# it in one process.
TEST_WORKERS ?= 2
test: $(STAMP) browser lint typecheck
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

# The browser tests drive Debian's Chromium through Playwright (never `playwright install`,
# which downloads a browser of its own).
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null \
	  || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null; }; }

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
