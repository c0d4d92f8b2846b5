# iEchor SSO. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

TOOLS      := $(CURDIR)/.tools
BUF        := $(TOOLS)/npm/node_modules/.bin/buf
GOOGLEAPIS := $(TOOLS)/googleapis
PLUGINS    := protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapiv2
# Every Go module of the workspace except the tools module, as package patterns.
PKGS        = $(shell go list -m -f '{{.Path}}/...' | grep -v '/tools/')
SKIP_REPORT := $(CURDIR)/.cache/skipped-suites.txt
# -shuffle=on: tests must not depend on their order (the seed is printed, -shuffle=SEED repeats it).
# -p: one test binary more than the cores, because the assertion service's one-minute database
# outage holds one for a minute in which it mostly waits.
TEST_FLAGS ?= -race -count=1 -timeout 15m -shuffle=on -p $(shell echo $$(( $$(getconf _NPROCESSORS_ONLN) + 1 )))
# The race detector sleeps a second at the exit of every test binary by default, so that goroutines
# still running can report a race: a minute over the suite's fifty binaries. A race during a test
# fails that test whatever this says; only one in a goroutine outliving every test could go unseen.
TEST_GORACE := $(strip atexit_sleep_ms=0 $(GORACE))

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: run
run: ## Run the whole suite in one process on the embedded defaults (SQLite and in-process stores under ./data).
	@mkdir -p data
	go run ./services/ssod/cmd/ssod

.PHONY: build
build: ## Build every service binary into ./bin.
	@mkdir -p bin
	go build -o bin/ ./services/ssod/cmd/ssod ./services/domain/cmd/domain ./services/provisioning/cmd/provisioning \
		./services/connection/cmd/connection ./services/assertion/cmd/assertion ./services/gateway/cmd/gateway

.PHONY: test
test: browser ## Run every test against SQLite, the in-process store, and the local PostgreSQL and Redis when they answer.
	@mkdir -p .cache && rm -f $(SKIP_REPORT)
	SSO_SKIP_REPORT=$(SKIP_REPORT) GORACE="$(TEST_GORACE)" go test $(TEST_FLAGS) $(PKGS)
	@if [ -s $(SKIP_REPORT) ]; then \
		echo "NOTE: these suites did not run because their backend was unreachable:"; \
		sort -u $(SKIP_REPORT) | sed 's/^/  /'; \
		echo "Set SSO_REQUIRE_BACKENDS=1 to make that a failure (CI does)."; \
	fi

.PHONY: browser
browser: ## Install Debian's chromium for the end-to-end browser test when it is missing.
	@command -v chromium >/dev/null || { echo "installing chromium"; apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

.PHONY: bench
bench: ## Run the Go benchmarks that the README's performance table reports.
	go test -run '^$$' -bench . -benchmem -count 1 -skip BenchmarkSignIn $(PKGS)
	go test -run '^$$' -bench BenchmarkSignIn -benchtime 1500x -count 1 ./services/ssod

# Fuzzing: each target runs FUZZTIME. Go minimizes every new interesting input for up to
# -fuzzminimizetime (60 s by default), which on the large-input targets (a whole SAMLResponse, a
# metadata document) used the whole run on the first input; 0 keeps the workers fuzzing. A crasher is
# then written as found: re-run its target with FUZZMINIMIZETIME=30s to shrink it.
FUZZTIME         ?= 30s
FUZZMINIMIZETIME ?= 0

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 30s); FUZZ=FuzzName runs the targets of that name only.
	@for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' services | xargs -n1 dirname | sort -u); do \
		for target in $$(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' $$dir/*_test.go); do \
			if [ -n "$${FUZZ:-}" ] && [ "$$target" != "$$FUZZ" ]; then continue; fi; \
			echo "== $$target ./$$dir ($(FUZZTIME))"; \
			go test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./$$dir; \
		done; \
	done

.PHONY: lint
lint: $(BUF) $(GOOGLEAPIS) ## gofmt, go vet over the workspace, every module on its own (tools/check-modules.sh), buf lint, buf format, buf breaking against HEAD~1.
	@unformatted=$$(gofmt -l services gen tools); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	go vet $(PKGS)
	tools/check-modules.sh
	$(BUF) lint proto
	$(BUF) format -d --exit-code proto
	BUF=$(BUF) tools/check-breaking.sh

.PHONY: generate
generate: $(BUF) $(GOOGLEAPIS) $(addprefix $(TOOLS)/bin/,$(PLUGINS)) ## Regenerate gen/ from proto/ with the pinned plugins.
	@mkdir -p .cache
	flock .cache/generate.lock $(MAKE) --no-print-directory generate-locked

.PHONY: generate-locked
generate-locked:
	find gen -type f \( -name '*.pb.go' -o -name '*.pb.gw.go' -o -name '*.swagger.json' \) -delete
	$(BUF) generate
	cd gen && go mod tidy

.PHONY: check-generated
check-generated: generate ## Fail when gen/ differs from what `make generate` makes.
	@if [ -n "$$(git status --porcelain -- gen)" ]; then \
		echo "gen/ is out of date with proto/; run make generate and commit:"; git status --porcelain -- gen; exit 1; \
	fi

.PHONY: saml-fixtures
saml-fixtures: ## Re-sign the SAML test fixtures with xmlsec1 (installed from Debian's packages when missing).
	command -v xmlsec1 >/dev/null || (apt-get update -qq && apt-get install -y -qq xmlsec1)
	services/assertion/testdata/make-fixtures.sh

# --- tools, fetched into .tools (ignored by git) ---

$(BUF): tools/package.json tools/package-lock.json
	mkdir -p $(TOOLS)/npm
	cp tools/package.json tools/package-lock.json $(TOOLS)/npm/
	cd $(TOOLS)/npm && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Only the googleapis files the protos import are taken from the npm package.
$(GOOGLEAPIS): $(BUF)
	rm -rf $@ && mkdir -p $@/google/api
	for f in annotations http field_behavior; do \
		cp $(TOOLS)/npm/node_modules/google-proto-files/google/api/$$f.proto $@/google/api/; \
	done

$(TOOLS)/bin/%: tools/go.mod tools/go.sum
	cd tools && go build -o $(TOOLS)/bin/ $$(go list -f '{{.ImportPath}}' tool | grep '/$*$$')

.PHONY: clean
clean: ## Remove fetched tools, build output and local state.
	rm -rf .tools .cache bin
