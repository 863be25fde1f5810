# Tessera: the commands a user and CI run. `make help` lists them.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 20
SOURCES = $(shell git ls-files 'src/*.h' 'src/*.cc' 'bench/*.h' 'bench/*.cc' 'tests/*.h' 'tests/*.cc')

.PHONY: help deps build release test demo bench sim fuzz fuzz-build fuzz-smoke format lint banned-calls clean

help:
	@echo "make demo    install what is missing, build, start a local cluster and show it"
	@echo "make test    install, build (debug: ASan + UBSan), fuzz briefly, run every test"
	@echo "make bench   build (release) and run the benchmarks"
	@echo "make sim     run SEEDS (default 1000) new seeds of every simulation workload"
	@echo "make fuzz    run the fuzz targets for FUZZ_SECONDS (default 20; try 600)"
	@echo "make format  reformat the sources with clang-format"
	@echo "make lint    check clang-format and clang-tidy (both must be clean)"
	@echo "make clean   remove build/"

deps:
	@scripts/install-deps

build: deps
	@cmake --preset debug >/dev/null
	@cmake --build --preset debug -j $(JOBS)

release: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

test: build fuzz-smoke
	@ctest --preset debug

demo: release
	@scripts/demo

# New seeds each time (the first one from the clock); a failing seed prints its replay command.
SEEDS ?= 1000
sim: build
	@./build/debug/src/sim/tess-sim --workload all --seeds $(SEEDS) --first-seed $$(date +%s) \
	    --coverage

bench: release
	@./build/release/bench/rpc_bench
	@./build/release/bench/ec_bench
	@./build/release/bench/drive_bench
	@./build/release/bench/bucket_bench
	@./build/release/bench/meta_bench

fuzz-build: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS) --target frame_decoder_fuzz

# Fuzzes a scratch copy of the committed corpus; a crash fails the target and leaves the input in
# build/fuzz/artifacts/ (add it to tests/fuzz/corpus/ once fixed).
fuzz-smoke fuzz: fuzz-build
	@rm -rf build/fuzz/run && mkdir -p build/fuzz/run/corpus build/fuzz/artifacts
	@cp tests/fuzz/corpus/frame_decoder/* build/fuzz/run/corpus/
	@echo "fuzzing the RPC frame decoder for $(FUZZ_SECONDS) s"
	@./build/fuzz/tests/fuzz/frame_decoder_fuzz -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=build/fuzz/artifacts/ -print_final_stats=1 build/fuzz/run/corpus \
	    2>&1 | grep -E "^(stat::number_of_executed_units|stat::new_units_added|==|SUMMARY)" ; \
	    exit $${PIPESTATUS[0]}

format:
	@clang-format -i $(SOURCES)

# Calls our code must not make. std::sto* throw on malformed input (one bad value in etcd once
# terminated every tessd): parse with std::from_chars into a Result (cluster/parse.h).
banned-calls:
	@if git grep -nE 'std::sto[a-z]+\(' -- src bench tests; then \
	    echo "lint: std::sto* throws on malformed input; use std::from_chars"; exit 1; fi

lint: build banned-calls
	@clang-format --dry-run --Werror $(SOURCES)
	@scripts/run-clang-tidy build/debug $(filter %.cc,$(SOURCES))

clean:
	rm -rf build
