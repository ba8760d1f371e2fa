# pagerd — Zircon's userspace pager and VMO model on Linux.
# `make run` runs the main job on its built-in default; `make test` runs every test.

GO        ?= go
PKGS      ?= ./...
TESTFLAGS ?= -race -count=1 -timeout 20m
BENCHTIME ?= 1s
DURATION  ?= 10m
FUZZTIME  ?= 5s

.PHONY: all build test run bench lint check-env clean cabi stress fuzz

all: build

check-env:
	@./scripts/check-env.sh

build: check-env
	$(GO) build $(PKGS)
	$(GO) build -o build/bin/ ./cmd/...

# The test command CI runs (README): vet, every Go test with the race
# detector (the stress tests and pagerd fault injection at their short
# default durations), the C ABI tests and the C example pager
# (scripts/cabi-test.sh), then every fuzz target for FUZZTIME.
test: check-env
	$(GO) vet $(PKGS)
	$(GO) test $(TESTFLAGS) $(PKGS)
	GO=$(GO) ./scripts/cabi-test.sh
	GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

# The long reliability runs (docs/RELIABILITY.md): the in-process stress,
# the stress across processes through pagerd and pagerd killed during
# write-back, each for DURATION (make stress DURATION=1h).
stress: check-env
	PAGERD_STRESS_DURATION=$(DURATION) PAGERD_CRASH_DURATION=$(DURATION) \
	  $(GO) test -race -count=1 -timeout 0 -v -run 'TestStress|TestKillDuringWriteback' ./stress/ ./integration/

# Every fuzz target for FUZZTIME each (make fuzz FUZZTIME=10m).
fuzz: check-env
	GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

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
