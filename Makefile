# AgentOS — every developer and CI task is a target here; CI calls only these.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       ?= bin/agentos
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/nexixai/agentos/internal/buildinfo.version=$(VERSION)
STORAGE_PKGS := ./internal/db/... ./internal/tenant/... ./internal/audit/... ./impl/orchestrator/store/...

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-13s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: generate
generate: ## Regenerate gen/ from spec/, the JSON Schemas, docs/configuration.md and docs/conformance.md
	$(GO) generate ./generators/...
	$(GO) run ./generators/cmd/schemas -dir spec/schemas
	$(GO) run ./generators/cmd/configdoc -out docs/configuration.md
	$(GO) run ./generators/cmd/conformance -prs spec/prs.md -features features -out docs/conformance.md

.PHONY: verify
verify: ## Fail on generated drift, hand-written files in gen/, lint errors, breaking /v1 changes, uncovered PRS ids
	$(GO) run ./generators/cmd/verify
	$(GO) run ./generators/cmd/schemas -dir spec/schemas
	$(GO) run ./generators/cmd/configdoc -out docs/configuration.md
	$(GO) run ./generators/cmd/conformance -prs spec/prs.md -features features -out docs/conformance.md
	@git diff --exit-code -- spec/schemas docs/configuration.md docs/conformance.md || { echo "generated docs or schemas are stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- gen spec/schemas docs/configuration.md docs/conformance.md)" || { git status --porcelain -- gen spec/schemas docs; echo "untracked or modified generated files"; exit 1; }

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); test -z "$$out" || { echo "gofmt would change:"; echo "$$out"; exit 1; }
	$(GO) vet ./...

.PHONY: build
build: ## Build bin/agentos
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/agentos

.PHONY: test
test: lint ## Unit, storage (SQLite + PostgreSQL when TEST_DATABASE_URL is set) and conformance tests, with -race
	@if [ -z "$${TEST_DATABASE_URL:-}" ]; then echo "note: TEST_DATABASE_URL is unset, PostgreSQL halves are skipped (.ci/run sets it)"; fi
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v -E '/internal/(db|tenant|audit)(/|$$)|/impl/orchestrator/store$$|/features$$')
	@echo "--- storage contract suites, per backend ---"
	$(GO) test -race -count=1 -v $(STORAGE_PKGS) 2>&1 | grep -E '^\s*--- (PASS|FAIL|SKIP): [^/ ]+/(sqlite|postgres) |^\s*--- FAIL|^(ok|FAIL|panic)|Error' ; test $${PIPESTATUS[0]} -eq 0
	@echo "--- conformance suite (godog), per backend ---"
	$(GO) test -race -count=1 -v -run TestFeatures ./features/ 2>&1 | grep -E '^[0-9]+ (scenarios|steps)|^\s*--- (PASS|FAIL|SKIP): TestFeatures(/[a-z]+)? |^\s*--- FAIL|Error|suite_test|^(ok|FAIL|panic)' ; test $${PIPESTATUS[0]} -eq 0

FUZZ     ?= ^Fuzz
FUZZTIME ?= 20s
.PHONY: fuzz
fuzz: ## Run each request fuzz target matching FUZZ for FUZZTIME: make fuzz FUZZ=FuzzCreateRun FUZZTIME=5m
	@for f in $$($(GO) test -list '$(FUZZ)' ./internal/badinput/ | grep '^Fuzz'); do \
	  echo "--- $$f"; \
	  $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./internal/badinput/ || exit 1; \
	done

.PHONY: run
run: build ## Start the whole platform on the embedded default (SQLite in ./data, two embedded workers)
	$(BIN) serve --data-dir ./data --workers 2

.PHONY: bench
bench: ## Run the benchmarks and load tests (PostgreSQL on 127.0.0.1) and write docs/benchmarks.md
	tools/bench.sh
	tools/bench-orchestrator.sh
	tools/bench-workers.sh

.PHONY: bench-workers
bench-workers: ## Run only the end-to-end worker benchmarks and update their section of docs/benchmarks.md
	tools/bench-workers.sh

.PHONY: bench-modelpolicy
bench-modelpolicy: ## Run only the Model Policy load harness and update its section of docs/benchmarks.md
	tools/bench-modelpolicy.sh

.PHONY: conformance
conformance: ## Run the godog suite against a deployment: make conformance AGENTOS_TARGET=127.0.0.1 (or the AGENTOS_*_URL variables)
	@if [ -n "$${AGENTOS_TARGET:-}" ]; then \
	  export AGENTOS_ORCHESTRATOR_URL=$${AGENTOS_ORCHESTRATOR_URL:-http://$$AGENTOS_TARGET:50081} \
	         AGENTOS_MODELPOLICY_URL=$${AGENTOS_MODELPOLICY_URL:-http://$$AGENTOS_TARGET:50082} \
	         AGENTOS_FEDERATION_URL=$${AGENTOS_FEDERATION_URL:-http://$$AGENTOS_TARGET:50083}; fi; \
	GODOG_FORMAT=$${GODOG_FORMAT:-pretty} $(GO) test -count=1 -run TestFeatures ./features/ -v

.PHONY: baseline
baseline: ## Accept the current spec as the /v1 compatibility baseline (after a release)
	$(GO) run ./generators/cmd/verify -update-baseline

.PHONY: clean
clean: ## Remove build output (keeps ./data)
	rm -rf bin
