# pagerd — Zircon's userspace pager and VMO model on Linux.
# `make run` runs the main job on its built-in default; `make test` runs every test.

GO        ?= go
PKGS      ?= ./...
TESTFLAGS ?= -race -count=1 -timeout 20m
BENCHTIME ?= 1s

.PHONY: all build test run bench lint check-env clean

all: build

check-env:
	@./scripts/check-env.sh

build: check-env
	$(GO) build $(PKGS)
	$(GO) build -o build/bin/ ./cmd/...

# The test command CI runs (README): vet, then every test with the race detector.
test: check-env
	$(GO) vet $(PKGS)
	$(GO) test $(TESTFLAGS) $(PKGS)

# The main job on its built-in default. Until the pagerd service exists this
# is the demo: a pager VMO, a C thread faulting on it, the READ packets and supplies.
run: check-env
	$(GO) run ./cmd/pager-demo

bench: check-env
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

lint: check-env
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

clean:
	rm -rf build
