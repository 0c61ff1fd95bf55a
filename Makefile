# VGI Platform — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUF := node_modules/.bin/buf
VGI_CONFIG ?=

.PHONY: run run-insecure test install gen check-contracts lint typecheck pytest contracts-release demo bench bench-quick clean
.PHONY: partner-kit go-toolchain

## install: the virtualenv with pinned packages, the project in editable mode, and buf.
install: $(STAMP) $(BUF)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(BUF): package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

## run: serve every surface on 127.0.0.1:50051 with the embedded SQLite store and a dev PKI.
run: install
	$(VENV)/bin/vgi pki init --dir var/pki --if-missing
	$(VENV)/bin/vgi serve --pki var/pki --database sqlite:///var/vgi.db $(if $(VGI_CONFIG),--config $(VGI_CONFIG))

## run-insecure: the same in plaintext (loopback only), e.g. for `grpcurl -plaintext`.
run-insecure: install
	$(VENV)/bin/vgi pki init --dir var/pki --if-missing
	$(VENV)/bin/vgi serve --insecure --pki var/pki $(if $(VGI_CONFIG),--config $(VGI_CONFIG))

## demo: starts `vgi serve --simulated-clock` on a temporary store and dev PKI, waits for health SERVING, runs
## `vgi simulate` against it (1,000 chargers, 3 aggregators), then stops it with SIGTERM (also on failure);
## writes var/demo/report.md, var/demo/chart.png and the platform's log var/demo/platform.log.
demo: $(STAMP)
	@set -euo pipefail; mkdir -p var/demo; tmp=$$(mktemp -d); \
	trap 'kill -TERM $$pid 2>/dev/null && wait $$pid || true; rm -rf "$$tmp"' EXIT; \
	$(VENV)/bin/vgi pki init --dir "$$tmp/pki" >/dev/null; \
	$(VENV)/bin/vgi serve --pki "$$tmp/pki" --simulated-clock --listen 127.0.0.1:0 --grace 1 \
		--database "sqlite:///$$tmp/vgi.db" >var/demo/platform.log 2>&1 & pid=$$!; \
	for _ in $$(seq 300); do port=$$(sed -n 's/^vgi: serving .* on port \([0-9]*\)$$/\1/p' var/demo/platform.log); \
		[ -n "$$port" ] || { kill -0 $$pid; sleep 0.1; continue; }; \
		$(VENV)/bin/grpcurl -cacert "$$tmp/pki/ca.pem" -cert "$$tmp/pki/clients/operator-op-1.pem" \
			-key "$$tmp/pki/clients/operator-op-1.key" 127.0.0.1:$$port grpc.health.v1.Health/Check 2>/dev/null \
			| grep -q '"SERVING"' && break; sleep 0.1; done; \
	echo "platform: pid $$pid on 127.0.0.1:$$port, simulated clock (log: var/demo/platform.log)"; \
	$(VENV)/bin/vgi simulate --target 127.0.0.1:$$port --pki "$$tmp/pki" --out var/demo

## gen: regenerate the Python stubs in gen/ from proto/.
gen: install
	$(PY) tools/protos.py gen

## check-contracts: buf lint, buf breaking against proto/baseline.binpb, stale stubs.
check-contracts: install
	$(PY) tools/protos.py lint
	$(PY) tools/protos.py breaking
	$(PY) tools/protos.py check-stale
	$(PY) tools/partner_kit.py check

## partner-kit: dist/partner-kit/ — the contracts, the third-party .proto files they import (from the
## installed packages) and a self-contained descriptor set; commit it (check-contracts fails when stale).
partner-kit: install
	$(PY) tools/partner_kit.py build

## go-toolchain: Debian's Go, grpc-go, protoc-gen-go(-grpc) and protoc for the Go partner client test (apt, when missing).
go-toolchain:
	tools/go-toolchain.sh

## contracts-release: make the current contracts the breaking-change baseline (commit it on its own).
contracts-release: install
	$(PY) tools/protos.py release

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

## pytest: the test suite, on SQLite and, when one answers on 127.0.0.1:5432, on PostgreSQL.
pytest: install go-toolchain
	$(VENV)/bin/pytest -q

## bench: every SPEC section 5 target against its baseline measured in the same run (under 10 minutes);
## prints the table and writes bench/results/latest.json.
bench: install
	$(PY) -m bench.run

## bench-quick: the same suite at small sizes (under a minute), to keep it working; no thresholds asserted.
bench-quick: install
	$(PY) -m bench.run --quick

## test: everything CI checks.
test: lint typecheck check-contracts pytest bench-quick

clean:
	rm -rf $(VENV) node_modules build
