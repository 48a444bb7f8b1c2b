# vswitch — every target sets up what it needs on a fresh Debian 12/13 machine.
#   make test    the whole test suite (what .ci/run calls)
#   make demo    the appliance on a live lab, with live counters
#   make bench   the benchmarks, beside DPDK and Open vSwitch (not part of test)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Debian packages the build and the tests need (clang: libFuzzer and the sanitizer build).
DEB_PACKAGES := gcc clang libclang-rt-dev tcpdump ethtool iproute2 iputils-ping iputils-arping iperf3
CORE_SOURCES := $(wildcard pipeline/*.c pipeline/*.h drivers/*.c drivers/*.h) pipeline/build.py
STAMP := $(VENV)/.installed

.PHONY: test demo bench system-packages clean

test: $(STAMP)
	$(PY) -m pytest -q tests

# The control socket goes where any user may create it; `vswitch show ... --socket` that path.
# As root: a namespace lab (configs/demo-netns.yaml, vswitch/demo.py) with live `show ports`,
# torn down on Ctrl-C; without root: says so and replays configs/demo-pcap-loop.yaml --stats.
DEMO_SOCKET ?= $(or $(XDG_RUNTIME_DIR),/tmp)/vswitch-demo.sock
demo: $(STAMP)
	$(PY) -m vswitch.demo --socket $(DEMO_SOCKET)

bench: $(STAMP)
	$(PY) bench/run.py

# Installs only what is missing; needs root when something is.
system-packages:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:" $$missing "- run: sudo make system-packages"; exit 1; fi; \
	    echo "installing Debian packages:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }

$(STAMP): $(VENV)/bin/python pyproject.toml setup.py $(CORE_SOURCES) | system-packages
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info vswitch/_core*.so tests/fuzz/build

# fuzz-sanitize, fuzz-run, fuzz-corpus, ...: the packet path under ASan/UBSan and libFuzzer
include tests/fuzz/fuzz.mk
