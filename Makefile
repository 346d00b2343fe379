# pgmcp — see README.md. `make help` lists the targets.

GO        ?= go
BIN       ?= bin/pgmcp
PKGS      ?= ./...
# Tests start PostgreSQL clusters and build the binary; give them room.
TESTFLAGS ?= -race -count=1 -timeout 30m
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := bin/staticcheck-$(STATICCHECK_VERSION)
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)

.PHONY: help build test bench lint fmt demo fuzz check clean dist

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## Build bin/pgmcp
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/pgmcp

test: ## Run every test (race detector on), then check no test postgres is left running
	@status=0; $(GO) test $(TESTFLAGS) $(PKGS) || status=$$?; \
	bash .ci/leftover-postgres || status=1; \
	exit $$status

bench: ## Run the benchmarks (medians: add -count 6 and compare with benchstat)
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# staticcheck reads its checks from staticcheck.conf (all of them).
lint: $(STATICCHECK) ## gofmt check, go.mod/go.sum tidy check, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@# Fails, printing the diff, when go.mod or go.sum is not what go mod tidy makes.
	$(GO) mod tidy -diff
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)

$(STATICCHECK):
	@mkdir -p bin
	GOBIN=$(CURDIR)/bin/.staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv bin/.staticcheck/staticcheck $@ && rm -rf bin/.staticcheck

fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go')

demo: build ## Serve the built-in demo database over HTTP at 127.0.0.1:8080
	$(BIN) demo --http 127.0.0.1:8080

fuzz: ## Fuzz the SQL guard for a minute (FUZZTIME=10m for longer)
	$(GO) test -run '^$$' -fuzz FuzzCheck -fuzztime $${FUZZTIME:-60s} ./sqlguard

check: lint test ## What CI runs

dist: ## Build release archives, Claude Desktop bundles, checksums and server.json into dist/ (every target whose C compiler is here)
	$(GO) run ./tests/dist $(DISTFLAGS)

clean: ## Remove build output
	rm -rf bin dist

.PHONY: bench-compare
bench-compare: ## Compare pgmcp with peer MCP servers, speed and security (npm installs the peers; ~20 min); rewrites docs/BENCHMARKS.md
	$(GO) run ./tests/bench -update-docs docs/BENCHMARKS.md $(BENCHFLAGS)
