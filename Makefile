# The index of what a developer can do here: `make help` lists it.
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: help deps build plugins go-plugins run test test-short bench gobench fmt lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/wasmgate and the demo backend bin/echo
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/wasmgate ./cmd/wasmgate
	$(GO) build -o $(BIN)/echo ./cmd/echo

run: build go-plugins ## start the demo: echo backend on :9000 and the gateway with gateway.toml
	@set -e; \
	$(BIN)/echo -listen 127.0.0.1:9000 -name echo & echo_pid=$$!; \
	trap 'kill $$echo_pid 2>/dev/null' EXIT INT TERM; \
	$(BIN)/wasmgate run -c gateway.toml --console

# What the tests need beyond Go, installed from Debian when missing, so a
# fresh machine needs nothing set up by hand.
# command:Debian package, for every program the tests run.
TEST_TOOLS := curl:curl dnsmasq:dnsmasq-base etcd:etcd-server wat2wasm:wabt npm:npm
deps: ## install what the tests need (Debian packages), if missing
	@missing=""; for t in $(TEST_TOOLS); do \
		PATH="$$PATH:/usr/sbin:/sbin" command -v $${t%%:*} >/dev/null || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Plugins built from source: Go plugins on sdk/go (their own modules, built
# for wasip1), and a plugin written in AssemblyScript with a third-party SDK
# from the npm registry. The tests run them through the gateway. Outputs go
# to plugins/build (not committed).
# Every plugins/NAME/main.go is a Go plugin, built to plugins/build/NAME.wasm
# with dashes turned to underscores (key-auth -> key_auth.wasm).
GO_PLUGINS := $(patsubst plugins/%/main.go,%,$(wildcard plugins/*/main.go))
plugins: go-plugins ## build the plugins in plugins/ (Go plugins on sdk/go; AssemblyScript from npm)
	cd plugins/as-add-header && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build

# The demo (gateway.toml) needs only Go: `make run` builds these, not the
# AssemblyScript plugin.
go-plugins: ## build the Go plugins in plugins/ and the SDK's allocation probe
	@set -e; for p in $(GO_PLUGINS); do \
		echo "plugin $$p"; \
		(cd plugins/$$p && GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o ../build/$$(echo $$p | tr - _).wasm .); \
	done
	cd sdk/go/internal/allocprobe && GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o ../../../../plugins/build/sdk_allocprobe.wasm .

test: deps plugins ## run every test with the race detector (what CI runs)
	$(GO) vet ./...
	# sdk/go and plugins/ are modules of their own: vetted for both the
	# host (their tests run there, on the emulated host) and wasip1.
	cd sdk/go && $(GO) vet ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet ./... && $(GO) test -race -count=1 ./...
	cd plugins && $(GO) vet ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet ./... && $(GO) test -race -count=1 ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) test -race -count=1 -timeout 15m ./...

test-short: ## unit tests only, no race detector
	$(GO) test -short ./...

bench: build go-plugins ## load benchmark: wasmgate (bare and with policies) vs nginx (installs nginx and wrk from apt if missing)
	WASMGATE_BIN=$(BIN)/wasmgate benchmarks/run.sh

gobench: go-plugins ## Go microbenchmarks of the hot path and of each policy, with allocations
	$(GO) test -run '^$$' -bench . -benchmem ./proxy/...

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

lint: ## vet and gofmt check
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))"

clean: ## remove build outputs
	rm -rf $(BIN) plugins/build plugins/*/node_modules
