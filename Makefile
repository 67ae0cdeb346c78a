# AppOS — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
SITE = $(shell $(VPY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
PROTOS := $(wildcard proto/appos/v1/*.proto)

.PHONY: run install install-dev system-deps proto test lint typecheck unit integration bench clean dashboard

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
	echo "$(CURDIR)" > "$(SITE)/appos-checkout.pth"
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

## dashboard: the console's static build (a placeholder page until the dashboard issue)
dashboard: dashboard/dist/index.html

dashboard/dist/index.html: dashboard/placeholder/index.html
	mkdir -p dashboard/dist && cp dashboard/placeholder/index.html $@

## test: lint, types, unit, integration and end-to-end tests against real Redis and Docker
test: install-dev dashboard lint typecheck
	$(VPY) -m pytest -n 2 --dist loadgroup

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

clean:
	rm -rf appos $(VENV) .mypy_cache .ruff_cache .pytest_cache
