# Thin driver over CMake + Ninja.  `make test` and `make run` install missing Debian packages
# first (scripts/deps.sh), so they work on a fresh Debian 12 machine.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps deps-run install build test test-unit test-asan test-tsan test-fuzz fuzz test-crash-long test-stress-long test-chaos-long test-cluster-long bench bench-grpc bench-serverless bench-replication bench-seed run clean format
FUZZ_SECONDS ?= 600

all: build

deps:
	@scripts/deps.sh build test cross

# Only what building and running the server needs (no test, sanitizer or cross toolchains).
deps-run:
	@scripts/deps.sh build

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Every test: the release suite, then the sanitizer builds.
test: build
	ctest --test-dir $(BUILD) --output-on-failure -j2 -LE 'crash-long|fuzz-long|stress-long|chaos-long|cluster-long'
	$(MAKE) --no-print-directory test-asan test-tsan test-fuzz

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j2 -L unit

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_C_FLAGS_DEBUG=-O1 -g" \
	  -DHS_SANITIZE=address,undefined >/dev/null
	ninja -C build-asan
	ctest --test-dir build-asan --output-on-failure -j2 -LE 'crash-long|fuzz-long|stress-long|chaos-long|cluster-long'

# The concurrency tests under ThreadSanitizer.
test-tsan: deps
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_C_FLAGS_DEBUG=-O1 -g" \
	  -DHS_SANITIZE=thread >/dev/null
	ninja -C build-tsan
	ctest --test-dir build-tsan --output-on-failure -L concurrency

# libFuzzer targets (clang), each briefly: label fuzz.  `make fuzz` runs each FUZZ_SECONDS.
build-fuzz/build.ninja:
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	  "-DCMAKE_C_FLAGS_DEBUG=-O1 -g" -DHS_FUZZ=ON -DHS_SANITIZE=address,undefined >/dev/null

test-fuzz: deps build-fuzz/build.ninja
	cmake build-fuzz -DHS_FUZZ_SECONDS=20 >/dev/null
	ninja -C build-fuzz
	ctest --test-dir build-fuzz --output-on-failure -L fuzz

fuzz: deps build-fuzz/build.ninja
	cmake build-fuzz -DHS_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	ninja -C build-fuzz
	ctest --test-dir build-fuzz --output-on-failure -L fuzz

# The long crash run (200 kill -9 cycles).
test-crash-long: build
	ctest --test-dir $(BUILD) --output-on-failure -L crash-long

# The long eviction stress run (2 minutes of searches, inserts and statistics with one loaded
# collection at a time); STRESS_BUILD=build-asan or build-tsan runs it under a sanitizer.
STRESS_BUILD ?= $(BUILD)
test-stress-long: build
	ctest --test-dir $(STRESS_BUILD) --output-on-failure -L stress-long

# The long chaos run: 30 kill -9 cycles of the real server under load over gRPC and HTTP
# (tests/chaos/chaos_kill.py; HS_CHAOS_CYCLES, HS_CHAOS_SEED); CHAOS_BUILD=build-asan runs it
# against the sanitizer build's server.
CHAOS_BUILD ?= $(BUILD)
test-chaos-long: build
	ctest --test-dir $(CHAOS_BUILD) --output-on-failure -V -L chaos-long

# The long replication run: a leader and two followers, 100,000 writes with random kill -9 of the
# followers, then digest equality (tests/integration/test_replication.py; HS_REPL_LONG_WRITES,
# HS_REPL_SEED), and 200 failover cycles on a real etcd, the leader killed with kill -9 or frozen
# with SIGSTOP (tests/integration/test_failover.py); CLUSTER_BUILD=build-asan runs it against the sanitizer build's server.
CLUSTER_BUILD ?= $(BUILD)
test-cluster-long: build
	ctest --test-dir $(CLUSTER_BUILD) --output-on-failure -V -L cluster-long

# Benchmarks beside the peers (hnswlib, faiss) on Fashion-MNIST and the hyperbolic set.
bench: build
	@scripts/deps.sh bench
	bench/run.sh $(BUILD)

# Replication throughput and lag: a leader and a follower on loopback under 2,000 and 10,000
# points/s (dim 128) for 30 s each, then a new follower catching up 200k records
# (bench/repl_bench.py; bench/README.md "Replication").  About 2 minutes.
bench-replication: build
	bench/repl_bench.py $(BUILD)

# End-to-end through a running server over gRPC (after make bench has prepared the data).
bench-grpc: build
	bench/grpc_bench.sh $(BUILD)

# The seed's large configuration, 1M x 1024 l2 through gRPC per quantization mode (bench/README.md
# "1M x 1024"; SEED_N / SEED_DIM make it smaller).
bench-seed: build
	@scripts/deps.sh bench
	bench/seed_bench.sh $(BUILD)

# Many small collections on one node (bench/README.md "Serverless"): SERVERLESS_COUNT of 20
# points x 32-d; about 6 minutes and 1.6 GB of disk at the default 100,000.
SERVERLESS_COUNT ?= 100000
bench-serverless: build
	rm -rf $(BUILD)/serverless-data
	$(BUILD)/bin/hs-storage-bench serverless $(BUILD)/serverless-data --count $(SERVERLESS_COUNT) \
	  --points 20 --dim 32 --durability async
	rm -rf $(BUILD)/serverless-data

# Builds and starts the server on ./data (gRPC :50051, HTTP :50050; see README.md).
run: deps-run $(BUILD)/build.ninja
	ninja -C $(BUILD) hyperspace-server
	$(BUILD)/bin/hyperspace-server --data-dir ./data $(ARGS)

# Installs the binaries, header, static + shared library, pkg-config file, systemd unit and
# default settings under PREFIX (default /usr/local), staged under DESTDIR when given.
PREFIX ?= /usr/local
install: deps-run $(BUILD)/build.ninja
	cmake $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	ninja -C $(BUILD) hyperspace-server hyperspace-cli hyperspace hyperspace_shared
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
