# FlowRT: `make run` starts the server, `make test` runs the whole suite.
# Both set everything up first on a fresh machine (venv, Python packages, apt packages).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.runtime
DEV_STAMP := $(VENV)/.dev
APT_PACKAGES := $(shell grep -v '^\#' packages.apt 2>/dev/null)
RUN_ARGS ?=

.PHONY: setup apt run test lint bench fuzz fuzz-coverage clean image

setup: $(DEV_STAMP) apt

# the runtime only: what `make run` needs (no test tools, no apt peers)
$(RUNTIME_STAMP): pyproject.toml setup.py src/flowrt/_core/_ingest.c src/flowrt/_core/sumtable.h src/flowrt/_core/keyhash.h
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

# Static checks first (seconds): style, types, the layering contract. Then the whole suite
# on the compiled ingest core (built in place by the editable install; the import check
# makes a failed build loud), then the whole-process tests again on the reference path
# (FLOWRT_NO_EXTENSIONS=1); tests/core compares both paths sample for sample.
REFERENCE_PATH_TESTS := tests/integration/test_acceptance.py tests/integration/test_accounting.py \
	tests/integration/test_process.py tests/integration/test_replay.py
test: lint
	$(PY) -c "from flowrt._core import load_native; assert load_native(), 'flowrt._core not built'"
	$(PY) -m pytest -q
	FLOWRT_NO_EXTENSIONS=1 $(PY) -m pytest -q $(REFERENCE_PATH_TESTS)

lint: setup
	$(VENV)/bin/ruff check --no-cache src tests bench fuzz
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

bench: setup
	$(PY) bench/decode.py

# coverage-guided fuzzing of the decoder (atheris); FUZZ_SECONDS bounds the run
FUZZ_SECONDS ?= 60
# then the compiled core under AddressSanitizer + UndefinedBehaviorSanitizer (gcc),
# FUZZ_RUNS inputs (or FUZZ_SECONDS, whichever ends first)
FUZZ_RUNS ?= 10000000
ASAN_SO := build/asan/_ingest$(shell $(PY) -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
fuzz: setup
	$(PY) -m pip install --quiet atheris
	$(PY) fuzz/make_corpus.py fuzz/corpus
	$(PY) fuzz/sflow_decode_fuzz.py fuzz/corpus -max_total_time=$(FUZZ_SECONDS)
	mkdir -p build/asan
	gcc -shared -fPIC -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer \
		-fsanitize=address,undefined -fno-sanitize-recover=undefined \
		$(shell $(PY) -c "import sysconfig; print('-I' + sysconfig.get_paths()['include'])") \
		src/flowrt/_core/_ingest.c -o $(ASAN_SO)
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
		FLOWRT_CORE_SO=$(ASAN_SO) $(PY) fuzz/core_fuzz.py fuzz/corpus \
		--runs $(FUZZ_RUNS) --seconds $(FUZZ_SECONDS)

# line and branch coverage of the decode path reached by fuzz/corpus (after `make fuzz`)
fuzz-coverage: setup
	$(PY) -m pip install --quiet coverage
	$(PY) fuzz/coverage_report.py fuzz/corpus

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
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis .mypy_cache .import_linter_cache
