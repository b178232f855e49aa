# FlowRT: `make run` starts the server, `make test` runs the whole suite.
# Both set everything up first on a fresh machine (venv, Python packages, apt packages).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.runtime
DEV_STAMP := $(VENV)/.dev
APT_PACKAGES := $(shell grep -v '^\#' packages.apt 2>/dev/null)
RUN_ARGS ?=

.PHONY: setup apt run test lint bench fuzz clean image

setup: $(DEV_STAMP) apt

# the runtime only: what `make run` needs (no test tools, no apt peers)
$(RUNTIME_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

# everything the tests need on top of the runtime
$(DEV_STAMP): $(RUNTIME_STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

# apt packages the tests use as real peers; installed only when missing. A temporary
# policy-rc.d keeps the packages' system services (Open vSwitch, Prometheus...) from
# starting: the tests start their own private instances.
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing apt packages:$$missing"; \
		made_policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		status=$$?; [ -n "$$made_policy" ] && rm -f /usr/sbin/policy-rc.d; exit $$status; \
	fi

# the server needs only the Python environment, not the test peers
run: $(RUNTIME_STAMP)
	$(VENV)/bin/flowrt run $(RUN_ARGS)

test: setup
	$(VENV)/bin/ruff check --no-cache src tests bench fuzz
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check --no-cache src tests bench fuzz

bench: setup
	$(PY) bench/decode.py

# coverage-guided fuzzing of the decoder (atheris); FUZZ_SECONDS bounds the run
FUZZ_SECONDS ?= 60
fuzz: setup
	$(PY) -m pip install --quiet atheris
	$(PY) fuzz/make_corpus.py fuzz/corpus
	$(PY) fuzz/sflow_decode_fuzz.py fuzz/corpus -max_total_time=$(FUZZ_SECONDS)

# the container image (deploy/Dockerfile) with podman or docker, whichever is installed;
# IMAGE_BASE replaces the python:3.11-slim base (e.g. a local image where no registry is);
# IMAGE_BUILD_ARGS adds engine options (e.g. --ulimit nofile=4096:4096 in a sandbox)
IMAGE ?= flowrt:latest
IMAGE_BASE ?=
IMAGE_BUILD_ARGS ?=
image:
	@engine=$$(command -v podman || command -v docker) || { echo "make image: needs podman or docker" >&2; exit 1; }; \
	format=""; case "$$engine" in *podman) format="--format=docker";; esac; \
	set -x; "$$engine" build $$format $(if $(IMAGE_BASE),--build-arg BASE=$(IMAGE_BASE)) $(IMAGE_BUILD_ARGS) \
		-f deploy/Dockerfile -t $(IMAGE) .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
