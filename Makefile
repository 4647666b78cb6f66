# burrow: `make` builds build/burrow; `make run` starts a demo; `make test` runs every test.
JOBS    ?= $(shell nproc)
WERROR  ?= OFF
PYTEST  := /usr/bin/python3 -m pytest
CMAKE_FLAGS := -DBURROW_WERROR=$(WERROR)

.PHONY: all build asan fuzz-build deps bench-deps run test unit e2e e2e-tls e2e-wss e2e-asan fuzz fuzz-smoke bench bench-quick docs clean

all: build

deps:
	@scripts/deps.sh

build:
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

asan:
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DBURROW_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j $(JOBS)

fuzz-build:
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DBURROW_FUZZ=ON \
		-DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" \
		-DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

run: deps build
	@scripts/demo.sh

unit: build asan
	@cd build && ctest --output-on-failure
	@cd build-asan && ctest --output-on-failure

e2e: build
	@BURROW_BIN=$(CURDIR)/build/burrow $(PYTEST) -q tests/e2e

# The same tests with every client over TLS, pinned to its server's key.
e2e-tls: build
	@BURROW_E2E_TRANSPORT=tls BURROW_BIN=$(CURDIR)/build/burrow $(PYTEST) -q tests/e2e

# And over WebSocket inside TLS (the filter layer on top of TLS).
e2e-wss: build
	@BURROW_E2E_TRANSPORT=wss BURROW_BIN=$(CURDIR)/build/burrow $(PYTEST) -q tests/e2e

e2e-asan: asan
	@BURROW_BIN=$(CURDIR)/build-asan/burrow $(PYTEST) -q tests/e2e

# Each fuzz target for a few seconds over its seed corpus: a smoke test in `make test`.
# New inputs go to build-fuzz/corpus (the seeds in tests/fuzz/corpus stay as they are),
# crash files to build-fuzz/.
FUZZ_RUN = for s in tests/fuzz/fuzz_*.c; do n=$$(basename $$s .c); \
		c=tests/fuzz/corpus/$$n; w=build-fuzz/corpus/$$n; mkdir -p $$c $$w; \
		build-fuzz/$$n -max_total_time=$(1) -print_final_stats=0 -artifact_prefix=build-fuzz/ \
			$$w $$c >build-fuzz/$$n.log 2>&1 || { tail -50 build-fuzz/$$n.log; exit 1; }; \
		echo "fuzz: $$n ok ($(1) s)"; \
	done

fuzz-smoke: fuzz-build
	@$(call FUZZ_RUN,10)

fuzz: fuzz-build
	@$(call FUZZ_RUN,$${FUZZ_SECONDS:-120})

test: deps
	@$(MAKE) --no-print-directory unit e2e e2e-tls e2e-wss e2e-asan fuzz-smoke docs-check
	@echo "make test: all passed"

bench-deps:
	@scripts/deps.sh bench

bench: bench-deps build
	@bench/bench.sh

bench-quick: bench-deps build
	@bench/bench.sh --quick

# docs/configuration.md's option table is generated from the option table in the code.
docs: build
	@scripts/gen-docs.sh

docs-check: build
	@scripts/gen-docs.sh --check

clean:
	rm -rf build build-asan build-fuzz
