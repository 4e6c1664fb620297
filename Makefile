# Hallmark: the two set-up commands are `make demo` and `make test`.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# ccache hits across clones in other folders (CI builds a fresh clone).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

.PHONY: all deps configure build test bench bench-compare soak chaos fuzz format demo demo-stop clean
.PHONY: bench-sync

all: build

deps:
	@bash scripts/install-deps

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

bench: build
	@$(BUILD_DIR)/bin/hallmark-microbench --benchmark_min_time=0.5

# Hallmark beside a 3-member etcd in one run (bench/compare-etcd.sh, docs/bench.md); installs
# Debian's etcd-server if missing. COMPARE_RECORDS sets the writes per side.
COMPARE_RECORDS ?= 50000
bench-compare: build
	@bash scripts/install-deps bench
	@bash bench/compare-etcd.sh $(COMPARE_RECORDS)

# Catching up (docs/bench.md): builds a chain of SYNC_ITEMS registrations offline for a
# 4-validator testnet in SYNC_DIR (ports 25500-25699), starts the validators on it and times a
# fresh node joining them: by replaying every block, then again by state sync (a snapshot of
# node0's). Not part of `make test`.
SYNC_ITEMS ?= 100000
SYNC_DIR ?= /tmp/hallmark-bench-sync
bench-sync: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target hallmarkd hallmark-bench
	@$(BUILD_DIR)/bin/hallmark-bench gen-chain --dir $(SYNC_DIR) --items $(SYNC_ITEMS) --force
	@$(BUILD_DIR)/bin/hallmark-bench sync --dir $(SYNC_DIR)
	@$(BUILD_DIR)/bin/hallmark-bench sync --dir $(SYNC_DIR) --state-sync

# The consensus simulator's long run: 100,000 fault seeds and 20,000 Twins scenarios (a third
# of them with validator set changes), and 10,000 fault seeds and 4,000 Twins scenarios with
# set changes in every one; and 2,000 seeds each of a quorum lost for 20 s, 60 s and 5 minutes.
soak: build
	@$(BUILD_DIR)/bin/hallmark-sim --seed 1 --seeds 100000
	@$(BUILD_DIR)/bin/hallmark-sim --twins 1 --validators 4 --seed 1 --seeds 10000
	@$(BUILD_DIR)/bin/hallmark-sim --twins 2 --validators 7 --seed 1 --seeds 10000
	@$(BUILD_DIR)/bin/hallmark-sim --seed 100001 --seeds 10000 --set-changes always
	@$(BUILD_DIR)/bin/hallmark-sim --twins 1 --validators 4 --seed 10001 --seeds 2000 --set-changes always
	@$(BUILD_DIR)/bin/hallmark-sim --twins 2 --validators 7 --seed 10001 --seeds 2000 --set-changes always
	@for ms in 20000 60000 300000; do $(BUILD_DIR)/bin/hallmark-sim --seed 1 --seeds 2000 --quorum-loss $$ms || exit 1; done

# The fault suite's long runs over real processes (tests/faults): 200 SIGTERM stops of validators
# under load for each seed in CHAOS_SEEDS (each seed picks other stop moments), then every group
# of tests/faults/scenarios.py in its long form (more, longer and random faults; the seed picks
# nodes, durations and moments). docs/reliability.md has the figures.
CHAOS_SEEDS ?= 1 2 3
chaos: build
	@for seed in $(CHAOS_SEEDS); do \
	  echo "== seed $$seed"; \
	  HALLMARK_SEED=$$seed bash tests/faults/sigterm_loop.sh $(BUILD_DIR)/bin 200 || exit 1; \
	  python3 tests/faults/scenarios.py $(BUILD_DIR)/bin all --long --seed $$seed; \
	  rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 77 ] || exit 1; \
	done

# libFuzzer with ASan and UBSan (clang): each target for FUZZ_SECONDS, from the committed corpus.
# New inputs the fuzzer finds stay in build-fuzz/corpus; crashes are written to build-fuzz/.
FUZZ_SECONDS ?= 60
fuzz: deps
	@CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHALLMARK_FUZZ=ON \
	  -DHALLMARK_SANITIZE=address,undefined >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target proof_bundle_fuzz json_fuzz
	@for t in proof_bundle json; do \
	  mkdir -p build-fuzz/corpus/$$t && \
	  (cd build-fuzz && ./bin/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    corpus/$$t ../tests/fuzz/corpus/$$t) || exit 1; \
	done

# The demo needs only the two programs, not every test.
demo: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target hallmarkd hallmark
	@bash scripts/demo.sh $(BUILD_DIR)/bin

demo-stop:
	@bash scripts/devnet.sh stop devnet

format:
	@git ls-files '*.h' '*.cpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
