# CodeCourt's two commands: `make run` and `make test`. Both install any
# missing Debian package first (scripts/install-deps.sh), then build with
# CMake into build/.

BUILD      ?= build
ASAN_BUILD ?= build-asan
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
STATE      ?= $(CURDIR)/.state
CTEST_ARGS ?=

.PHONY: all deps configure build run test asan bench clean

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
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure --timeout 1200 -j$(JOBS) $(CTEST_ARGS)

# Benchmarks print figures and ratios against a baseline measured in the
# same run; see docs/benchmarks.md.
bench: build
	@$(BUILD)/bin/cc-bench-runtime

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
