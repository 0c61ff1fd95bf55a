# VGI Platform — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUF := node_modules/.bin/buf
VGI_CONFIG ?=

.PHONY: run run-insecure test unit install gen check-contracts lint typecheck pytest contracts-release demo bench bench-quick hunt fuzz partner-kit go-toolchain clean

## install: the virtualenv with pinned packages and the project in editable mode (Python 3.11+ only).
## buf (Node/npm) is installed only by the targets that check contracts (check-contracts, contracts-release, test).
install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(BUF): package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

# The dev PKI var/pki unless the config file or VGI_PKI_DIR names the TLS files: flags would override both.
RUN_PKI = $(if $(VGI_CONFIG)$(VGI_PKI_DIR),,--pki var/pki)
# The admin listeners on fixed loopback ports (the docs' probes use them) unless configured otherwise;
# with another VGI_LISTEN they take free ports (named in the serving line), so two platforms can run.
RUN_ADMIN = $(if $(VGI_CONFIG)$(VGI_LISTEN)$(VGI_ADMIN_LISTEN),,VGI_ADMIN_LISTEN=127.0.0.1:50052) \
	$(if $(VGI_CONFIG)$(VGI_LISTEN)$(VGI_ADMIN_GRPC_LISTEN),,VGI_ADMIN_GRPC_LISTEN=127.0.0.1:50053)

## run: serve every surface on 127.0.0.1:50051 with a dev PKI, probes on 127.0.0.1:50052 (HTTP) and :50053
## (gRPC health); the store and every other setting come from VGI_* variables and VGI_CONFIG=file.toml
## (default: SQLite in var/vgi.db).
run: install
	$(VENV)/bin/vgi pki init --dir var/pki --if-missing
	$(RUN_ADMIN) $(VENV)/bin/vgi serve $(RUN_PKI) $(if $(VGI_CONFIG),--config $(VGI_CONFIG))

## run-insecure: the same in plaintext (loopback only), e.g. for `grpcurl -plaintext`.
run-insecure: install
	$(VENV)/bin/vgi pki init --dir var/pki --if-missing
	$(RUN_ADMIN) $(VENV)/bin/vgi serve --insecure $(RUN_PKI) $(if $(VGI_CONFIG),--config $(VGI_CONFIG))

## demo: starts `vgi serve --simulated-clock` on a temporary store and dev PKI, waits for health SERVING, runs
## `vgi simulate` against it (1,000 chargers, 3 aggregators; two managed ones through the OCPP gateway), then stops
## it with SIGTERM (also on failure);
## writes var/demo/report.md, var/demo/chart.png and the platform's log var/demo/platform.log.
demo: $(STAMP)
	@set -euo pipefail; mkdir -p var/demo; tmp=$$(mktemp -d); pid=; \
	trap 'kill -TERM $$pid 2>/dev/null && wait $$pid || true; rm -rf "$$tmp"' EXIT; \
	$(VENV)/bin/vgi pki init --dir "$$tmp/pki" >/dev/null; \
	$(VENV)/bin/vgi serve --pki "$$tmp/pki" --simulated-clock --listen 127.0.0.1:0 --grace 1 \
		--ocpp-listen 127.0.0.1:0 --database "sqlite:///$$tmp/vgi.db" >var/demo/platform.log 2>&1 & pid=$$!; \
	for _ in $$(seq 300); do port=$$(sed -n 's/^vgi: serving .* on port \([0-9]*\)$$/\1/p' var/demo/platform.log); \
		[ -n "$$port" ] || { kill -0 $$pid; sleep 0.1; continue; }; \
		$(VENV)/bin/grpcurl -cacert "$$tmp/pki/ca.pem" -cert "$$tmp/pki/clients/operator-op-1.pem" \
			-key "$$tmp/pki/clients/operator-op-1.key" 127.0.0.1:$$port grpc.health.v1.Health/Check 2>/dev/null \
			| grep -q '"SERVING"' && break; sleep 0.1; done; \
	ocpp=$$(sed -n 's/^vgi: ocpp gateway on port \([0-9]*\)$$/\1/p' var/demo/platform.log); \
	echo "platform: pid $$pid on 127.0.0.1:$$port, OCPP gateway on 127.0.0.1:$$ocpp, simulated clock (log: var/demo/platform.log)"; \
	$(VENV)/bin/vgi simulate --target 127.0.0.1:$$port --pki "$$tmp/pki" --ocpp 127.0.0.1:$$ocpp --out var/demo

## gen: regenerate the Python stubs in gen/ from proto/, and docs/CONFIGURATION.md from server/config.py.
gen: install
	$(PY) tools/protos.py gen
	$(PY) tools/config_doc.py

## check-contracts: buf lint, buf breaking against proto/baseline.binpb, stale stubs.
check-contracts: install $(BUF)
	$(PY) tools/protos.py lint
	$(PY) tools/protos.py breaking
	$(PY) tools/protos.py check-stale
	$(PY) tools/config_doc.py --check
	$(PY) tools/partner_kit.py check

## partner-kit: dist/partner-kit/ — the contracts, the third-party .proto files they import (from the
## installed packages) and a self-contained descriptor set; commit it (check-contracts fails when stale).
partner-kit: install
	$(PY) tools/partner_kit.py build

## go-toolchain: Debian's Go, grpc-go, protoc-gen-go(-grpc) and protoc for the Go partner client test (apt, when missing).
go-toolchain:
	tools/go-toolchain.sh

## contracts-release: make the current contracts the breaking-change baseline (commit it on its own).
contracts-release: install $(BUF)
	$(PY) tools/protos.py release

## lint: ruff (lint and format) and the import-linter layering contracts of pyproject.toml (docs/ARCHITECTURE.md).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: install
	$(VENV)/bin/mypy

## pytest: the test suite, on SQLite and, when one answers on 127.0.0.1:5432, on PostgreSQL; four worker processes
## (pytest-xdist), each test file whole on one of them (--dist loadfile): most tests wait on servers, subprocesses
## and commits, so two workers left the two cores about half idle.
pytest: install $(BUF) go-toolchain
	$(VENV)/bin/pytest -q -n 4 --dist loadfile

## unit: the fast tier (well under a minute): the domain rules (tests/domain and the pure F8–F10 tests of
## tests/settlement) and the application use cases on a real SQLite store, no gRPC server (their PostgreSQL
## half runs in `make pytest`).
UNIT_TESTS := tests/domain tests/application tests/settlement/test_baseline.py tests/settlement/test_evaluation.py \
	tests/settlement/test_settlement.py tests/settlement/test_money_properties.py
unit: install
	$(VENV)/bin/pytest -q -k "not postgres" $(UNIT_TESTS)

## bench: every SPEC section 5 target against its baseline measured in the same run (under 10 minutes);
## prints the table and writes bench/results/latest.json.
bench: install
	$(PY) -m bench.run

## bench-quick: the same suite at small sizes (under a minute), to keep it working; no thresholds asserted.
bench-quick: install
	$(PY) -m bench.run --quick

## hunt: flaky-test hunt — the suite RUNS times in random order with LOAD busy processes beside it
## (docs/TESTING.md); prints one line per run with its seed, exits non-zero if any run failed.
RUNS ?= 5
LOAD ?= 0
hunt: install
	$(PY) tools/hunt.py --runs $(RUNS) --load $(LOAD)

## fuzz: the adversarial fuzz suite at length (VGI_FUZZ_EXAMPLES per RPC, default 300; VGI_FUZZ_SEED replays a run).
fuzz: install
	VGI_FUZZ_EXAMPLES=$${VGI_FUZZ_EXAMPLES:-300} $(VENV)/bin/pytest -q tests/hardening/test_fuzz_rpcs.py

## test: everything CI checks.
test: lint typecheck check-contracts pytest bench-quick

clean:
	rm -rf $(VENV) node_modules build
