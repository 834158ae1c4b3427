# Every target runs inside .venv, created from requirements.lock by `make install`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
# `dvc plots show|diff` page with vega inlined (named in .dvc/config): renders offline.
PLOTS_TEMPLATE := .dvc/plots/offline.html
# -pyc: venvs made before the bytecode was compiled at install are synced once more.
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-12)-pyc

.PHONY: install develop lock demo plots test test-fast lint bench e2e kind-e2e clean \
	cluster-bin cluster-up cluster-down cluster-shell host-tools

install: $(STAMP) develop $(PLOTS_TEMPLATE)

# Progress goes to stderr: `make cluster-up` prints only its two lines on stdout.
$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required" >&2; exit 1; }
	@echo "installing requirements.lock into $(VENV)" >&2
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) >&2
	@$(BIN)/pip install --quiet --disable-pip-version-check "$$(grep '^uv==' requirements.lock)" >&2
	@# Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE (set on these machines)
	@# every process would compile the modules it imports from source, seconds per stage.
	@$(UV) pip sync --compile-bytecode --python $(BIN)/python requirements.lock >&2
	@rm -f $(VENV)/.installed-*
	@touch $@

# The packages are mapped from folders (operator/ -> sentiment_operator), so the
# editable install is a link tree that must be refreshed when modules are added.
develop:
	@$(UV) pip install --quiet --python $(BIN)/python --no-deps -e . \
		--config-settings editable_mode=strict >&2

$(PLOTS_TEMPLATE): $(STAMP) training/plots_html.py
	@$(BIN)/python -m training.plots_html >&2

# The pipeline's plots as one HTML page that needs no network (dvc_plots/index.html).
plots: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc plots show

lock:
	$(UV) pip compile pyproject.toml --all-extras --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o requirements.lock

# A local copy of the IMDB reviews, used by the demo when it exists (written to
# ingest.source in params.yaml, a param DVC tracks); otherwise the demo uses the
# source params.yaml names (the Stanford archive by default).
IMDB_LOCAL ?= $(abspath ../shared/datasets/imdb/train.csv.gz)

demo: install
	@source=""; if [ -f "$(IMDB_LOCAL)" ]; then \
		echo "Using the local copy $(IMDB_LOCAL)"; source="--source=$(IMDB_LOCAL)"; \
	fi; PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m training.demo $$source

# The local cluster: Kubernetes built from its Go modules, run in network namespaces.
CLUSTER := $(BIN)/python -m local_cluster

cluster-bin: install
	@$(CLUSTER) build >/dev/null

cluster-up: cluster-bin
	@$(CLUSTER) up

cluster-down: install
	@$(CLUSTER) down

cluster-shell: install
	@$(CLUSTER) shell

# Debian packages the tests use (Prometheus, wrk, nftables); apt-get where we are root.
host-tools:
	@scripts/host-tools.sh

test: install host-tools cluster-bin
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not integration and not e2e"

# The whole loop on one machine: dvc, MLflow, the operator on the emulator, Prometheus.
e2e: install host-tools cluster-bin
	$(BIN)/python -m pytest -m e2e

# The same loop on a kind cluster (needs docker, kind and kubectl; CI runs it on GitHub).
kind-e2e: install
	scripts/kind-e2e.sh

lint: install host-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile.server Dockerfile.operator
	$(BIN)/actionlint .github/workflows/*.yaml
	shellcheck scripts/*.sh .ci/run

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache
