# sreplat — the two commands that matter: `make up` (run the platform on this machine) and
# `make test` (install everything the suite needs, system packages included, and run it).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
ENV    ?= local
PYTEST_ARGS ?=
# Two pytest workers: most tests wait on subprocesses and sockets, so two halve the wall time on a
# 2-core machine (~11 instead of ~18 minutes). PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= 2

.PHONY: help up down status test check lint typecheck pytest system-deps-up system-deps-test \
        bench bench-apps bench-cli bench-images bench-gcp bench-chaos bench-promote clean base-digests lock \
        screenshot

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# --- installs ---------------------------------------------------------------------------------
# One virtualenv for the CLI and the apps (the images install only apps/).
$(VENV)/.runtime: pyproject.toml apps/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ./apps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime pyproject.toml apps/pyproject.toml
	$(PIP) install -q -e './apps[dev]' -e '.[dev]'
	touch $@

# checkov (Terraform scanner) in its own virtualenv: its pinned dependencies would fight ours.
CHECKOV_VERSION ?= 3.3.30
CHECKOV := .tools/checkov/.installed
$(CHECKOV):
	test -x .tools/checkov/bin/python || $(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install -q --upgrade pip
	.tools/checkov/bin/pip install -q 'checkov==$(CHECKOV_VERSION)'
	touch $@

# The upstream images (Dockerfile bases, Redis) are used by digest, as recorded in base-images.json;
# this asks their registries what the tags name today and rewrites the file: review, then commit.
base-digests: $(VENV)/.runtime  ## re-resolve base-images.json (base image and Redis digests) from the registries
	$(PY) scripts/refresh_base_digests.py base-images.json

# The images install apps/requirements.lock with --require-hashes: refresh it after changing the
# apps' dependencies (tests/apps/test_pins.py fails until then). Resolved from PyPI for the
# images' Python (3.11 on Debian 12, Linux), whatever this machine's pip configuration says.
lock: $(VENV)/.dev  ## re-resolve apps/requirements.lock (exact versions + hashes) from apps/pyproject.toml
	$(VENV)/bin/uv pip compile apps/pyproject.toml --generate-hashes --python-version 3.11 \
		--python-platform linux --custom-compile-command "make lock" --quiet -o apps/requirements.lock

system-deps-up:  ## system packages `make up` needs (apt, when root)
	scripts/system-deps.sh up

system-deps-test:  ## system packages the test suite needs (apt, when root), and a Docker engine
	scripts/system-deps.sh test
	scripts/start-dockerd.sh

# --- the main job -----------------------------------------------------------------------------
up: system-deps-up $(VENV)/.runtime  ## run the whole platform on this machine (target `local`)
	$(VENV)/bin/sreplat bootstrap --env $(ENV) --yes

status: $(VENV)/.runtime  ## health of the local platform
	$(VENV)/bin/sreplat status --env $(ENV)

down: $(VENV)/.runtime  ## stop the local platform and remove its state
	$(VENV)/bin/sreplat destroy --env $(ENV) --yes

# --- tests ------------------------------------------------------------------------------------
test: system-deps-test $(VENV)/.dev lint typecheck pytest  ## install everything and run the suite

lint: $(VENV)/.dev  ## ruff, actionlint (workflows), hadolint (Dockerfile)
	$(VENV)/bin/ruff check src apps tests benchmarks
	$(VENV)/bin/ruff format --check src apps tests benchmarks
	$(VENV)/bin/actionlint -no-color
	$(VENV)/bin/hadolint --config .hadolint.yaml apps/Dockerfile

typecheck: $(VENV)/.dev  ## mypy --strict on src/ and apps/
	$(VENV)/bin/mypy

# KUBECACHEDIR: client-go inside the Helm SDK caches API discovery there (else ~/.kube/cache); it
# reads the variable only from the environment the process starts with.
pytest: $(VENV)/.dev $(CHECKOV)
	KUBECACHEDIR=$(CURDIR)/.cache/kube $(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# --- benchmarks (figures and ratios, never timed assertions) ----------------------------------
bench: bench-apps bench-cli bench-images bench-gcp bench-chaos bench-promote  ## every benchmark

bench-apps: system-deps-test $(VENV)/.dev  ## API and worker throughput against naive baselines
	$(PY) benchmarks/bench_apps.py

bench-cli: system-deps-test $(VENV)/.dev  ## CLI start-up and local bootstrap/status wall time
	$(PY) benchmarks/bench_cli.py

bench-images: system-deps-test $(VENV)/.dev  ## image builds: concurrent vs serial, re-run for a known SHA
	$(PY) benchmarks/bench_images.py

bench-gcp: $(VENV)/.dev  ## gcp status/bootstrap against latency-injected doubles
	$(PY) benchmarks/bench_gcp.py

bench-promote: system-deps-test $(VENV)/.dev  ## promote (copy by digest) vs rebuild-and-deploy of a new SHA
	$(PY) benchmarks/bench_promote.py

CHAOS_ARGS ?=
bench-chaos: system-deps-test $(VENV)/.dev  ## the local platform under load and injected faults (5 min; CHAOS_ARGS=--duration N)
	$(PY) benchmarks/bench_chaos.py $(CHAOS_ARGS)

# --- docs -------------------------------------------------------------------------------------
screenshot: $(VENV)/.runtime  ## docs/slo-burn-rate.png: the local Prometheus SLO graph, real traffic, headless Chromium
	scripts/system-deps.sh screenshot
	$(PY) scripts/screenshot_slo.py

clean:  ## remove the virtualenv and caches (not environment state)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
