# ddmsp developer entry points. `make test` is exactly what CI runs (.ci/run).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: venv binaries cluster-up cluster-down cluster-status test lint crds demo bench clean

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
	$(PY) -m pytest $(PYTEST_ARGS)

demo: venv binaries
	$(PY) -m ddmsp demo

# Orgs with roles and SAML at Datadog latency and rate limits (bench/README.md); BENCH_ARGS
# e.g. "--orgs 1000". The orgs-only benchmark: $(PY) bench/clientorgs_scale.py --count 200
BENCH_ARGS ?= --orgs 200 --roles 3
bench: venv binaries
	$(PY) bench/converge.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
