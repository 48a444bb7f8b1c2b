# fuzz.mk — the packet-path fuzz harness: sanitizer replay and libFuzzer.
#
# Included by the top Makefile, or run alone from anywhere:
#   make -f tests/fuzz/fuzz.mk fuzz-sanitize   # ASan+UBSan build, replay the committed corpus
#   make -f tests/fuzz/fuzz.mk fuzz-run        # libFuzzer for FUZZ_SECONDS over a copy of the corpus
#   make -f tests/fuzz/fuzz.mk fuzz-corpus     # regenerate tests/fuzz/corpus and egress-gap (make_corpus.py, scapy)
#   make -f tests/fuzz/fuzz.mk fuzz-cov        # line coverage of the core by the corpus (clang + llvm-cov)
#   make -f tests/fuzz/fuzz.mk fuzz-mutants    # plant known bugs in a copy of the core: each must be caught
#   make -f tests/fuzz/fuzz.mk fuzz-gso        # libFuzzer over drivers/gso.c for FUZZ_SECONDS from FUZZ_GSO_SEEDS
# Output goes to tests/fuzz/build/ (gitignored); the committed corpus is only read.
# Needs gcc or clang with their sanitizer runtimes; fuzz-run needs clang and
# libFuzzer: Debian packages clang and libclang-rt-dev (libclang-rt-14-dev on
# Debian 12, libclang-rt-19-dev on Debian 13).
#
# Every variable is FUZZ_-prefixed so that including this file changes
# nothing else in the top Makefile.

FUZZ_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
# Included anywhere in the top Makefile, this file must not become its default goal.
FUZZ_SAVED_GOAL := $(.DEFAULT_GOAL)
FUZZ_ROOT := $(abspath $(FUZZ_DIR)/../..)
FUZZ_BUILD ?= $(FUZZ_DIR)/build
FUZZ_CORPUS := $(FUZZ_DIR)/corpus
FUZZ_PYTHON ?= $(FUZZ_ROOT)/.venv/bin/python

FUZZ_SECONDS ?= 60
# bytes per input: the port byte and a frame, a little over the core's largest
FUZZ_MAX_LEN ?= 2048
# seconds for one input: longer is a hang, a finding
FUZZ_TIMEOUT ?= 10
# more libFuzzer flags, e.g. -jobs=4 -workers=4
FUZZ_FLAGS ?=

# clang when there is one (the fuzzer needs it), else gcc for the replay.
FUZZ_CLANG ?= $(firstword $(shell command -v clang clang-19 clang-16 clang-15 clang-14 2>/dev/null))
FUZZ_SAN_CC ?= $(or $(FUZZ_CLANG),gcc)
FUZZ_LLVM_PROFDATA ?= $(firstword $(shell command -v llvm-profdata llvm-profdata-19 llvm-profdata-14 2>/dev/null))
FUZZ_LLVM_COV ?= $(firstword $(shell command -v llvm-cov llvm-cov-19 llvm-cov-14 2>/dev/null))

# The core under test: this checkout's, or another tree's (FUZZ_CORE=/path, e.g. a mutant).
FUZZ_CORE ?= $(FUZZ_ROOT)
FUZZ_CORE_SRCS := $(sort $(wildcard $(FUZZ_CORE)/pipeline/*.c)) $(sort $(wildcard $(FUZZ_CORE)/drivers/*.c))
FUZZ_CORE_HDRS := $(wildcard $(FUZZ_CORE)/pipeline/*.h)
FUZZ_HARNESS := $(FUZZ_DIR)/harness.c
FUZZ_DEPS := $(FUZZ_CORE_SRCS) $(FUZZ_CORE_HDRS) $(FUZZ_HARNESS) $(FUZZ_DIR)/harness.h $(FUZZ_DIR)/fuzz.mk

FUZZ_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Wno-unused-parameter \
	-I$(FUZZ_CORE)/pipeline -I$(FUZZ_DIR)
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all
# The harness wraps the pool so ASan sees use-after-free of packet buffers.
FUZZ_LDFLAGS := -Wl,--wrap=vs_pool_alloc -Wl,--wrap=vs_pool_free -lpthread
FUZZ_ENV := ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: fuzz-sanitize fuzz-build fuzz-run fuzz-gso fuzz-corpus fuzz-cov fuzz-mutants fuzz-clean

$(FUZZ_BUILD)/replay: $(FUZZ_DEPS) $(FUZZ_DIR)/replay.c
	@mkdir -p $(@D)
	$(FUZZ_SAN_CC) $(FUZZ_CFLAGS) $(FUZZ_SANITIZE) -o $@ $(FUZZ_DIR)/replay.c $(FUZZ_HARNESS) $(FUZZ_CORE_SRCS) $(FUZZ_LDFLAGS)

fuzz-sanitize: $(FUZZ_BUILD)/replay
	$(FUZZ_ENV) $(FUZZ_BUILD)/replay $(FUZZ_CORPUS)

# The harness itself is sanitized but not coverage-guided: its bookkeeping
# branches are not what the fuzzer should explore, and cost half the time.
$(FUZZ_BUILD)/harness-fuzz.o: $(FUZZ_DEPS)
	@test -n "$(FUZZ_CLANG)" || { echo "fuzz-run needs clang (Debian: apt-get install clang libclang-rt-dev)"; exit 1; }
	@mkdir -p $(@D)
	$(FUZZ_CLANG) $(FUZZ_CFLAGS) $(FUZZ_SANITIZE) -c -o $@ $(FUZZ_HARNESS)

$(FUZZ_BUILD)/fuzz-packet: $(FUZZ_BUILD)/harness-fuzz.o $(FUZZ_DEPS) $(FUZZ_DIR)/fuzz_target.c
	$(FUZZ_CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o $@ $(FUZZ_DIR)/fuzz_target.c $(FUZZ_BUILD)/harness-fuzz.o $(FUZZ_CORE_SRCS) $(FUZZ_LDFLAGS)

fuzz-build: $(FUZZ_BUILD)/fuzz-packet

# New interesting inputs land in build/corpus; the committed corpus is copied, never written.
fuzz-run: $(FUZZ_BUILD)/fuzz-packet
	@mkdir -p $(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/artifacts
	cp -R $(FUZZ_CORPUS)/. $(FUZZ_BUILD)/corpus/
	$(FUZZ_ENV) $(FUZZ_BUILD)/fuzz-packet -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) \
		-timeout=$(FUZZ_TIMEOUT) -dict=$(FUZZ_DIR)/packet.dict -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_BUILD)/artifacts/ $(FUZZ_FLAGS) $(FUZZ_BUILD)/corpus

# drivers/gso.c alone: any virtio_net_hdr before any frame (gso_target.c).  The seeds are written by
# tests/fuzz/test_fuzz.py (scapy super-frames); new inputs land beside them.
FUZZ_GSO_SEEDS ?= $(FUZZ_BUILD)/gso-corpus
$(FUZZ_BUILD)/fuzz-gso: $(FUZZ_DEPS) $(FUZZ_DIR)/gso_target.c $(wildcard $(FUZZ_CORE)/drivers/*.h)
	@test -n "$(FUZZ_CLANG)" || { echo "fuzz-gso needs clang (Debian: apt-get install clang libclang-rt-dev)"; exit 1; }
	@mkdir -p $(@D)
	$(FUZZ_CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o $@ $(FUZZ_DIR)/gso_target.c $(FUZZ_CORE_SRCS) -lpthread

fuzz-gso: $(FUZZ_BUILD)/fuzz-gso
	@mkdir -p $(FUZZ_GSO_SEEDS) $(FUZZ_BUILD)/artifacts
	$(FUZZ_ENV) $(FUZZ_BUILD)/fuzz-gso -max_total_time=$(FUZZ_SECONDS) -max_len=70000 \
		-timeout=$(FUZZ_TIMEOUT) -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/gso- \
		$(FUZZ_FLAGS) $(FUZZ_GSO_SEEDS)

fuzz-corpus:
	$(FUZZ_PYTHON) $(FUZZ_DIR)/make_corpus.py $(FUZZ_DIR)

$(FUZZ_BUILD)/replay-cov: $(FUZZ_DEPS) $(FUZZ_DIR)/replay.c
	@test -n "$(FUZZ_CLANG)" || { echo "fuzz-cov needs clang"; exit 1; }
	@mkdir -p $(@D)
	$(FUZZ_CLANG) $(FUZZ_CFLAGS) -fprofile-instr-generate -fcoverage-mapping \
		-o $@ $(FUZZ_DIR)/replay.c $(FUZZ_HARNESS) $(FUZZ_CORE_SRCS) $(FUZZ_LDFLAGS)

# Coverage of the committed corpus, or of FUZZ_COV_INPUTS (e.g. build/corpus after fuzz-run).
FUZZ_COV_INPUTS ?= $(FUZZ_CORPUS)
fuzz-cov: $(FUZZ_BUILD)/replay-cov
	@test -n "$(FUZZ_LLVM_COV)" -a -n "$(FUZZ_LLVM_PROFDATA)" || { echo "fuzz-cov needs llvm-cov and llvm-profdata"; exit 1; }
	rm -f $(FUZZ_BUILD)/cov.profraw
	LLVM_PROFILE_FILE=$(FUZZ_BUILD)/cov.profraw $(FUZZ_BUILD)/replay-cov $(FUZZ_COV_INPUTS)
	$(FUZZ_LLVM_PROFDATA) merge -o $(FUZZ_BUILD)/cov.profdata $(FUZZ_BUILD)/cov.profraw
	$(FUZZ_LLVM_COV) report $(FUZZ_BUILD)/replay-cov -instr-profile=$(FUZZ_BUILD)/cov.profdata $(FUZZ_CORE_SRCS)

fuzz-mutants:
	$(FUZZ_PYTHON) $(FUZZ_DIR)/mutants.py

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

.DEFAULT_GOAL := $(FUZZ_SAVED_GOAL)
