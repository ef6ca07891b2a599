# gitflagger developer commands. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export GOTOOLCHAIN := local

.DEFAULT_GOAL := help
.PHONY: help deps venv image lint test test-unit demo demo-gitops demo-simulate ledger-readme testbed-build testbed testbed-down bench bench-quick clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

deps: ## Install the Debian packages the demo, tests and image need (as root; else print the apt line)
	@scripts/install-deps.sh

image: deps ## Build the controller image without Docker: dist/gitflagger-oci.tar (OCI layout)
	@scripts/build-image.sh dist/gitflagger-oci.tar

venv: $(BIN)/.installed ## Create the virtualenv with gitflagger and its test tools

lint: venv ## ruff and mypy --strict
	$(BIN)/ruff check gitflagger tests
	$(BIN)/mypy

# Worker processes for pytest-xdist (tests/xdist_order.py). Most testbed tests wait on controllers
# and intervals rather than compute, so more workers than cores pay off; TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 4
PYTEST_XDIST = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup)

test-unit: venv ## Fast tests only: no testbed
	$(BIN)/pytest $(PYTEST_XDIST) -m "not testbed"

test: deps lint testbed-build image ## Lint, then every test, testbed included
	$(BIN)/pytest $(PYTEST_XDIST)

demo: deps venv testbed-build ## A canary release end to end on the local testbed, then its git history
	@bash tests/demo_cluster.sh

demo-gitops: deps venv testbed-build ## The same release in git-only mode: Flux applies every step gitflagger commits
	@bash tests/demo_gitops.sh

demo-simulate: venv ## The same story without a cluster: gitflagger simulate on the fixtures
	@bash tests/demo.sh

ledger-readme: venv ## Regenerate the README's list of refused Canary fields from the field ledger
	$(BIN)/python -m tests.unit.model.ledger_readme

testbed-build: ## Build the testbed's Kubernetes, etcd and kwok binaries (cached)
	@tests/testbed/build.sh >/dev/null

testbed: venv testbed-build ## Start the local testbed and print its kubeconfig
	$(BIN)/python -m tests.testbed up

testbed-down: venv ## Stop the local testbed
	$(BIN)/python -m tests.testbed down

bench: venv ## All benchmarks; writes bench-report.json
	$(BIN)/python -m tests.bench --report bench-report.json

bench-quick: venv ## Small benchmarks (< 2 minutes)
	$(BIN)/python -m tests.bench --quick --report bench-report.json

clean: ## Remove the virtualenv and caches (not the testbed build cache)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis demo-out bench-report.json dist
