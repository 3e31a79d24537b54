# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv if it is missing and installs what it needs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.jobmagic-installed
ARTIFACTS ?= artifacts

.PHONY: help install test test-floors lint typecheck pytest demo lab sandbox bench chromium clean labextension labextension-check

help:
	@echo "make demo     run jobmagic end to end against a local sandbox (no account needed)"
	@echo "make test     ruff, mypy, import contracts and the whole test suite (notebooks and browser included)"
	@echo "make test-floors  the suite but notebooks and browser, on the lowest versions we declare"
	@echo "make lab      JupyterLab on notebooks/ with a sandbox running and the Runs panel"
	@echo "make labextension  build the JupyterLab extension from source (needs Node 20)"
	@echo "make sandbox  a local sandbox control plane in the foreground"
	@echo "make bench    the benchmarks in benchmarks/"

# jobmagic is built by hatchling with JupyterLab's builder hook (pyproject.toml). Both go in
# first, so the editable installs below build in this venv instead of an isolated one (which
# would fetch JupyterLab for every install); SKIP_JUPYTER_BUILDER leaves the Runs panel to the
# `labextension` target, which builds it only where Node is.
BUILD_TOOLS := 'hatchling>=1.21' 'hatch-jupyter-builder>=0.9' 'editables>=0.5'
EDITABLE := SKIP_JUPYTER_BUILDER=1 $(BIN)/python -m pip install --quiet --no-build-isolation -e

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip $(BUILD_TOOLS)
	$(EDITABLE) '.[sandbox,plot,dev]'
	$(MAKE) --no-print-directory labextension
	touch $(STAMP) $(DEMO_STAMP)

# The JupyterLab extension (labextension/: the Runs panel, its status-bar item and notices),
# built from source with JupyterLab's own tooling and linked into this venv's JupyterLab.
# It needs Node 20 to build (never to install a wheel); without Node this says so, and all
# else works. jlpm is JupyterLab's pinned yarn; yarn.lock fixes every package.
JLPM = PATH="$(abspath $(BIN)):$$PATH" $(abspath $(BIN))/jlpm
labextension:
	@if command -v node >/dev/null 2>&1; then \
		cd labextension && $(JLPM) install --immutable >/dev/null && $(JLPM) build >/dev/null && cd .. && \
		PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter-builder develop --overwrite . >/dev/null && \
		echo "Built the JupyterLab extension (labextension/ -> jobmagic/labextension) and linked it."; \
	else \
		echo "Node is not installed, so the JupyterLab Runs panel was not built (everything else works)."; \
		echo "Install Node 20 (https://nodejs.org), then: make labextension"; \
	fi

# The extension's own checks: prettier + eslint, the TypeScript compiler, and its Jest tests.
labextension-check: $(STAMP)
	@if command -v node >/dev/null 2>&1; then \
		cd labextension && $(JLPM) lint:check && $(JLPM) typecheck && $(JLPM) test --silent; \
	elif [ -n "$$JOBMAGIC_REQUIRE_BROWSER" ]; then \
		echo "Node is required here (CI) to check the JupyterLab extension"; exit 1; \
	else \
		echo "Node is not installed: skipping the JupyterLab extension's lint, types and Jest tests"; \
	fi

# `make demo` needs only the demo extra (the sandbox, nbclient, nbconvert, ipykernel): no
# test tools, no JupyterLab, no Node. A venv made by `make install` has it already.
DEMO_STAMP := $(VENV)/.jobmagic-demo-installed
$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(BUILD_TOOLS)
	$(EDITABLE) '.[demo]'
	touch $(DEMO_STAMP)

install: $(STAMP)

# The browser tests need Debian's chromium; install it when we may (root), else they skip
# locally with a clear reason (CI sets JOBMAGIC_REQUIRE_BROWSER=1 and installs it).
chromium:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser tests…"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check conftest.py jobmagic tests benchmarks tools
	$(BIN)/ruff format --check conftest.py jobmagic tests benchmarks tools
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) chromium
	$(BIN)/python -m pytest

test: lint typecheck labextension-check pytest

# The floors in pyproject.toml, proved: a venv of its own (inside $(VENV), so git ignores it
# and `make clean` removes it) holding exactly the versions in constraints/floors.txt, and the
# suite but the notebook and browser tests run on it. The test tools are the dev extra's,
# resolved around the floors: a tool the tests start to import is there without a second list.
FLOORS_VENV ?= $(VENV)/floors
FLOORS_BIN := $(FLOORS_VENV)/bin
FLOORS_STAMP := $(FLOORS_VENV)/.jobmagic-floors-installed

$(FLOORS_STAMP): pyproject.toml constraints/floors.txt
	test -x $(FLOORS_BIN)/python || $(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_BIN)/python -m pip install --quiet --upgrade pip $(BUILD_TOOLS)
	SKIP_JUPYTER_BUILDER=1 $(FLOORS_BIN)/python -m pip install --quiet --no-build-isolation \
		-c constraints/floors.txt -e '.[sandbox,plot,dev]'
	touch $(FLOORS_STAMP)

# No browser runs here, so CI's demand for one (JOBMAGIC_REQUIRE_BROWSER) is lifted: where
# Chromium is missing, the browser modules skip at collection instead of failing it.
test-floors: $(FLOORS_STAMP)
	JOBMAGIC_REQUIRE_BROWSER= $(FLOORS_BIN)/python -m pytest -p no:cacheprovider \
		-m "not browser and not notebook"

demo: $(DEMO_STAMP)
	$(BIN)/python -m jobmagic demo --out $(ARTIFACTS)/demo

# As root (a container), `jobmagic lab` adds --allow-root by itself; LAB_ARGS go to JupyterLab.
lab: $(STAMP)
	$(BIN)/python -m jobmagic lab notebooks $(if $(LAB_ARGS),-- $(LAB_ARGS))

sandbox: $(STAMP)
	$(BIN)/jobmagic sandbox

# One table of every benchmark, written to benchmarks/results.json; BENCH_ARGS=--quick for
# tiny sizes, `benchmarks/run_all.py --readme` to put the table in README.md.
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(ARTIFACTS) .mypy_cache .ruff_cache .pytest_cache .hypothesis
