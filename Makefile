# SwiftVerse: `make run` starts the service, `make test` runs every test.
# Both install what is missing first (`make deps`, Debian packages via apt-get).

SHELL := /bin/bash
SWIFT ?= swift
VENV := .venv
PYTHON := $(VENV)/bin/python
DEBIAN_PACKAGES := libsqlite3-dev postgresql libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler \
	libprotobuf-dev libssl-dev zlib1g-dev libmimalloc-dev openssl pkg-config nghttp2-client nghttp2-server etcd-server \
	python3 python3-venv valgrind iproute2 chromium chromium-driver firefox-esr
PY_PACKAGES := grpcio==1.85.3 grpcio-tools==1.85.1 h2==4.4.1 protobuf==7.36.2 pexpect==4.9.0 selenium==4.38.0 marionette-driver==3.7.1 grpcio-health-checking==1.85.1 grpcio-reflection==1.85.1
# Release builds drop Swift's run-time exclusivity checks (about 13% of the instructions
# per chat push, most of them inside SwiftNIO). Debug builds, which `make test` runs,
# keep them, so an access conflict still fails the tests.
RELEASE_FLAGS := -c release -Xswiftc -enforce-exclusivity=unchecked

.PHONY: all deps venv build build-release proto check-proto test test-swift test-interop test-chat test-web test-hardening test-allocations chaos soak run cluster bench bench-transport bench-delivery-cg bench-anchors bench-scale fuzz fuzz-seeds clean

all: build

## deps: install missing Debian packages (safe to re-run)
deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

## venv: Python virtualenv with grpcio (interop peer), grpc_tools (codegen) and h2 (bad-input tests)
venv: $(VENV)/.ok
$(VENV)/.ok: Makefile
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	@$(PYTHON) -m pip install -q --disable-pip-version-check $(PY_PACKAGES)
	@touch $@

build: deps
	$(SWIFT) build

build-release: deps
	$(SWIFT) build $(RELEASE_FLAGS)

## proto: regenerate CModules/CSwiftVerseProto and Sources/VerseProtobuf/Generated from proto/
proto: deps venv
	tools/gen-protos.sh $(PYTHON)

## check-proto: the committed generated code is exactly what `make proto` produces
check-proto: proto
	@if [ -n "$$(git status --porcelain -- CModules/CSwiftVerseProto Sources/VerseProtobuf/Generated)" ]; then \
		git status --short -- CModules/CSwiftVerseProto Sources/VerseProtobuf/Generated; \
		echo "generated code differs from proto/: run 'make proto' and commit"; exit 1; \
	else echo "generated code matches proto/"; fi

test: deps venv check-proto test-swift test-interop test-chat test-web test-hardening test-allocations

# The Swift suites include multi-process cluster tests that start the executables.
test-swift:
	$(SWIFT) build
	$(SWIFT) build --build-tests
	@status=0; SWIFTVERSE_PYTHON=$(abspath $(PYTHON)) $(SWIFT) test --skip-build --no-parallel || status=$$?; \
	tools/test-leftovers.sh; \
	exit $$status

test-interop:
	$(SWIFT) build --product interop-server
	$(SWIFT) build --product interop-client
	Tests/interop/run-interop.sh $$($(SWIFT) build --show-bin-path) $(PYTHON)

test-chat:
	$(SWIFT) build
	Tests/chat/run-chat-tests.sh $$($(SWIFT) build --show-bin-path) $(PYTHON)

# The web client in headless Chromium (screenshots in .build/test-output/web).
test-web:
	$(SWIFT) build
	Tests/web/run-web-tests.sh $$($(SWIFT) build --show-bin-path) $(PYTHON)

# Abuse probes with a good client alongside (Tests/hardening).
test-hardening:
	$(SWIFT) build
	Tests/hardening/run-hardening-tests.sh $$($(SWIFT) build --show-bin-path) $(PYTHON)

# Heap allocations per unary call and per push delivery (valgrind DHAT) within Tests/allocations/limits.txt.
test-allocations:
	$(SWIFT) build
	tools/alloc-count.sh $$($(SWIFT) build --show-bin-path) --check Tests/allocations/limits.txt

## chaos: the fault-injection suite in full (every fault three times under chat load; table in .build/test-output/chaos.md)
chaos: deps
	$(SWIFT) build
	$(SWIFT) build --build-tests
	@status=0; SWIFTVERSE_CHAOS=full $(SWIFT) test --skip-build --no-parallel --filter ChaosTests || status=$$?; \
	tools/test-leftovers.sh; \
	exit $$status

## soak: SOAK_MINUTES (30) of chat load with churn; RSS, descriptors and threads flat within 10%, nothing lost
soak: build-release venv
	tools/soak.sh $$($(SWIFT) build -c release --show-bin-path) $(PYTHON)

## run: the whole chat service in one process (node + gate, no etcd), clients on 127.0.0.1:48000
run: build-release
	mkdir -p .data
	$$($(SWIFT) build -c release --show-bin-path)/chat-server --embedded --listen 127.0.0.1:48000 --store sqlite:.data/chat.sqlite

## cluster: etcd + PostgreSQL + 2 chat-server nodes + 1 gate on 127.0.0.1:48000, in the foreground
cluster: build-release
	tools/cluster.sh $$($(SWIFT) build -c release --show-bin-path)

## bench: chat-bench's standard scenarios (fan-out, saturation, 2-gate cluster, unary, idle memory), the transport, allocations, scale
bench: build-release
	tools/bench-chat.sh $$($(SWIFT) build -c release --show-bin-path)
	tools/bench-transport.sh $$($(SWIFT) build -c release --show-bin-path)
	tools/alloc-count.sh $$($(SWIFT) build -c release --show-bin-path)
	tools/bench-scale.sh $$($(SWIFT) build -c release --show-bin-path)

## bench-scale: 100,000 clients on one gate, a connection each, 1% chatting (as many as the
## open-file limit allows): memory per client, CPU per delivery, latency (see docs/PERFORMANCE.md)
bench-scale: build-release
	tools/bench-scale.sh $$($(SWIFT) build -c release --show-bin-path)

## bench-anchors: SwiftVerse next to the reference gates (gRPC C++) under the neutral load generator
bench-anchors: build-release
	../shared/bench-anchors/build.sh cpp
	EXTRA_SERVER="swiftverse=$$($(SWIFT) build -c release --show-bin-path)/chat-server --embedded --store none --http-listen off --listen 127.0.0.1:{port} --log-level warning" \
	  SERVERS="anchor-cpp" ../shared/bench-anchors/compare.sh all

## bench-delivery-cg: callgrind instructions per push delivery, metrics on and off (see docs/PERFORMANCE.md)
bench-delivery-cg: deps build-release
	tools/bench-delivery-cg.sh $$($(SWIFT) build -c release --show-bin-path)

## bench-transport: unary calls/s and streaming messages/s vs nghttpd (see docs/PERFORMANCE.md)
bench-transport: deps build-release
	tools/bench-transport.sh $$($(SWIFT) build -c release --show-bin-path)

## fuzz: libFuzzer on each fuzz target for FUZZ_SECONDS (default 60) from the committed seeds;
## non-zero on a crash, a leak or a timeout (the input lands in Tests/Fuzz/crashes/: commit it)
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -c release --build-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING \
	-Xcc -fsanitize=fuzzer-no-link -Xcc -fsanitize=address
fuzz: deps
	$(SWIFT) build $(FUZZ_FLAGS) --product verse-fuzz
	tools/fuzz.sh $$($(SWIFT) build $(FUZZ_FLAGS) --show-bin-path)/verse-fuzz $(FUZZ_SECONDS)

## fuzz-seeds: rewrite the seed corpus (Tests/Fuzz/corpus) from Tests/Fuzz/make-seeds.py
fuzz-seeds: venv
	$(PYTHON) Tests/Fuzz/make-seeds.py

clean:
	rm -rf .build .build-fuzz $(VENV)
