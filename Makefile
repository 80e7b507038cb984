# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
DEMO_HOME := $(CURDIR)/.procward-demo

.PHONY: run stop install test test-tools lint typecheck unit chaos bench bench-quick bench-check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Start the demo (examples/procward.toml) under a daemon in ./.procward-demo.
run: $(STAMP)
	PROCWARD_HOME=$(DEMO_HOME) $(BIN)/procward up -c examples/procward.toml || true
	@sleep 3  # let flaky show its backoff before the second look
	PROCWARD_HOME=$(DEMO_HOME) $(BIN)/procward status || true
	@echo
	@echo "The demo keeps running. Look again with:"
	@echo "  PROCWARD_HOME=$(DEMO_HOME) $(BIN)/procward status"
	@echo "or in a browser (it turns HTTP on, on 127.0.0.1, and prints the link):"
	@echo "  PROCWARD_HOME=$(DEMO_HOME) $(BIN)/procward dashboard --print-url"
	@echo "Stop it with: make stop"
	@echo
	@echo "The command is $(BIN)/procward. To call it as procward:"
	@echo "  export PATH=\"$(CURDIR)/$(BIN):\$$PATH\"   (this shell), or: make install   (~/.local/bin)"

## Link the venv's procward into ~/.local/bin (on PATH in most distributions).
INSTALL_DIR ?= $(HOME)/.local/bin
install: $(STAMP)
	mkdir -p $(INSTALL_DIR)
	ln -sf $(CURDIR)/$(BIN)/procward $(INSTALL_DIR)/procward
	@case ":$$PATH:" in *":$(INSTALL_DIR):"*) ;; \
	  *) echo "$(INSTALL_DIR) is not on your PATH: add it, e.g. in ~/.profile";; esac

stop: $(STAMP)
	PROCWARD_HOME=$(DEMO_HOME) $(BIN)/procward down

## Lint, type-check and run the whole test suite.
test: $(STAMP) test-tools lint typecheck unit

## What some tests drive for real: openssl (TLS certificates), zsh and fish
## (completion scripts), node (PM2 ecosystem files, Debian's nodejs), chromium
## (the dashboard's browser test), redis-server (the fleet's tests, decision 0048). Installed from Debian when missing and
## allowed; the tests that need one skip, saying why, where it cannot be had
## (the browser and fleet tests fail instead when CI is set). A tool is its package's
## name, but node's is nodejs.
TEST_TOOLS := openssl zsh fish node chromium redis-server
test-tools:
	@missing=$$(for t in $(TEST_TOOLS); do command -v $$t >/dev/null || echo $$t; done); \
	missing=$$(for t in $$missing; do case $$t in node) echo nodejs;; *) echo $$t;; esac; done); \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $$missing"; \
	  apt-get install -y -qq --no-install-recommends $$missing >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null 2>&1 && \
	    apt-get install -y -qq --no-install-recommends $$missing >/dev/null 2>&1; } || \
	  echo "could not install $$missing: the tests that need them will skip"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -n 2

## The long chaos and abuse suite (tests/chaos; `make test` runs a short one):
## >= 200 kill -9s and 5,000 fuzzed inputs per transport. Replay a failure with the
## seed it prints: PROCWARD_CHAOS_SEED=N make chaos
CHAOS_KILLS    ?= 200
CHAOS_EXAMPLES ?= 5000
CHAOS_FLOOD    ?= 1000
chaos: $(STAMP)
	PROCWARD_CHAOS_KILLS=$(CHAOS_KILLS) PROCWARD_CHAOS_EXAMPLES=$(CHAOS_EXAMPLES) \
	PROCWARD_CHAOS_FLOOD=$(CHAOS_FLOOD) \
	  $(BIN)/pytest tests/chaos -m chaos --timeout 3600

# The benchmark also wants the chart's extra (matplotlib).
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

bench-quick: $(BENCH_STAMP)
	$(BIN)/python -m bench --quick

## procward's own rows against bench/budgets.toml: exit 1 when one got worse
## (run it before committing a change that may cost time or memory; not in CI).
bench-check: $(BENCH_STAMP)
	$(BIN)/python -m bench --check

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
