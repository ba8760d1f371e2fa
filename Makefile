# pagerd — Zircon's userspace pager and VMO model on Linux.
# `make run` runs the main job on its built-in default; `make test` runs every test.

GO        ?= go
PKGS      ?= ./...
TESTFLAGS ?= -race -count=1 -timeout 20m
BENCHTIME ?= 1s

.PHONY: all build test run bench lint check-env clean cabi

all: build

check-env:
	@./scripts/check-env.sh

build: check-env
	$(GO) build $(PKGS)
	$(GO) build -o build/bin/ ./cmd/...

# The test command CI runs (README): vet, every Go test with the race
# detector, then the C ABI tests and the C example pager (scripts/cabi-test.sh).
test: check-env
	$(GO) vet $(PKGS)
	$(GO) test $(TESTFLAGS) $(PKGS)
	GO=$(GO) ./scripts/cabi-test.sh

# libzircon: build/cabi/libzircon.so and .a, for `cc -Iinclude prog.c -Lbuild/cabi -lzircon`.
cabi: check-env
	GO=$(GO) ./scripts/cabi.sh

# The main job on its built-in default: pagerd in the foreground serving a
# demo store (build/demo, created with sample data on first run; writes to it
# survive restarts). It prints the pagerctl commands to try from another
# terminal; Ctrl-C writes dirty pages back and exits.
run: check-env
	$(GO) build -o build/bin/ ./cmd/pagerd ./cmd/pagerctl
	build/bin/pagerd -demo build/demo

# The fault-latency benchmark (table on stdout, JSON and SVG plot in build/),
# then the Go microbenchmarks with allocations.
bench: check-env
	mkdir -p build
	$(GO) run ./cmd/pagerbench -json build/bench.json -svg build/bench.svg
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

lint: check-env
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

clean:
	rm -rf build
