# CodeCourt's two commands: `make run` and `make test`. Both install any
# missing Debian package first (scripts/install-deps.sh), then build with
# CMake into build/.

BUILD      ?= build
ASAN_BUILD ?= build-asan
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
STATE      ?= $(CURDIR)/.state
CTEST_ARGS ?=

FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all deps configure build run test asan fuzz bench images clean

all: build

deps:
	@./scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCC_WERROR=ON >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

# Starts NATS (JetStream), PostgreSQL, Redis and every actor on loopback,
# with their data in .state/; Ctrl-C stops everything.
run: build
	@$(BUILD)/bin/cc-local --state $(STATE)

# Runs every test with ctest; non-zero exit status on any failure.
test: build
	@ctest --test-dir $(BUILD) --output-on-failure --timeout 900 -j$(JOBS) $(CTEST_ARGS)

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCC_SANITIZE=ON -DCC_WERROR=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	@# Sanitized code runs several times slower: the blob round trip uses
	@# 64 MiB instead of 256 (the bounded-memory check is the same).
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 CC_TEST_BIG_MIB=64 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure --timeout 1200 -j$(JOBS) $(CTEST_ARGS)

# Coverage-guided fuzzing with libFuzzer (clang): every target in
# tests/fuzz for FUZZ_SECONDS each, seeded from tests/fuzz/corpus/NAME
# (read only; what a run finds goes to $(FUZZ_BUILD)/corpus). Results of the
# long runs: docs/fuzzing.md.
fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCC_FUZZ=ON -DCC_WERROR=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS)
	@set -e; for t in $(FUZZ_BUILD)/bin/fuzz_*; do \
	  echo "== $$t"; mkdir -p $(FUZZ_BUILD)/corpus/$$(basename $$t); \
	  n=$$(basename $$t); seeds=tests/fuzz/corpus/$${n#fuzz_}; [ -d $$seeds ] || seeds=; \
	  $$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ_BUILD)/corpus/$$n $$seeds 2>&1 | tail -2; \
	done

# Benchmarks print figures and ratios against a baseline measured in the
# same run; see docs/benchmarks.md.
bench: build
	@echo "== runtime vs raw nats.c (issue 2)"; $(BUILD)/bin/cc-bench-runtime
	@echo "== judge sandbox (issue 3)"; $(BUILD)/bin/bench-judge-sandbox
	@echo "== gateway (issue 4)"; $(BUILD)/bin/bench-gateway
	@if [ -x $(BUILD)/bin/bench-submission ]; then \
	  echo "== submissions (issue 6)"; $(BUILD)/bin/bench-submission; fi
	@if [ -x $(BUILD)/bin/bench-contest ]; then \
	  echo "== contest scoreboard and rebuild (issue 18)"; $(BUILD)/bin/bench-contest; fi

# OCI images of every built process into $(BUILD)/images/*.tar, built
# offline from Debian packages (needs root); see images/README.md.
images: build
	@BUILD=$(BUILD) ./scripts/build-images.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
