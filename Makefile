# ddmsp developer entry points. `make test` is exactly what CI runs (.ci/run).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# Integration tests mostly wait on Datadog-like latency and Kubernetes: three workers, each
# with its own local control plane; tests of one xdist_group (the Docker engine) share one.
PYTEST_WORKERS ?= 3

.PHONY: venv binaries cluster-up cluster-down cluster-status test lint crds demo bench image bench-image clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'

venv: $(PY)

binaries:
	hack/build-binaries

cluster-up: venv
	hack/controlplane up

cluster-down: venv
	hack/controlplane down

cluster-status: venv
	hack/controlplane status

crds: venv
	$(PY) -m ddmsp crds --output crds/
	rm -f helm/ddmsp/crds/*.yaml && cp crds/*.yaml helm/ddmsp/crds/

lint: venv
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/mypy

test: venv binaries lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=30 $(PYTEST_ARGS)

demo: venv binaries
	$(PY) -m ddmsp demo

# Orgs with roles and SAML at Datadog latency and rate limits (bench/README.md); BENCH_ARGS
# e.g. "--orgs 1000". The orgs-only benchmark: $(PY) bench/clientorgs_scale.py --count 200
BENCH_ARGS ?= --orgs 200 --roles 3
bench: venv binaries
	$(PY) bench/converge.py $(BENCH_ARGS)

# The operator image from the Dockerfile; where no registry is reachable, on a Debian base
# made locally (hack/image: debootstrap, cached in ~/.cache/ddmsp/images). Needs a Docker
# engine: `hack/image engine-up` starts one.
IMAGE ?= ddmsp:0.1.0
image:
	hack/image build $(IMAGE)

# Image size and time from `docker run` to Ready (bench/results/image.json)
bench-image: venv binaries
	$(PY) bench/image.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
