"""The packet-path fuzz harness: sanitizer replay of the corpus, a bounded
libFuzzer run, and the corpus itself.

The C side is tests/fuzz/harness.c; these tests build it through
tests/fuzz/fuzz.mk exactly as `make fuzz-sanitize` / `make fuzz-run` do.
FUZZ_SECONDS (default 30 here) bounds the libFuzzer run.
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MK = os.path.join(HERE, "fuzz.mk")
BUILD = os.path.join(HERE, "build")
CORPUS = os.path.join(HERE, "corpus")
EGRESS_GAP = os.path.join(HERE, "egress-gap")
REPLAY = os.path.join(BUILD, "replay")
FUZZ_SECONDS = int(os.environ.get("FUZZ_SECONDS", "30"))
ACCOUNTED = re.compile(r"^(\d+) frames, all accounted for$", re.M)

# Every fate the core itself can give a received frame in the harness
# topology.  Not here: what the control plane counts (arp_*, local_unsupported,
# icmp_malformed) and pcap_truncated (the pcap loader).
CORE_FATES = {
    "forwarded", "flooded", "punted", "runt", "vlan_truncated", "unknown_vlan", "giant", "interface_down",
    "no_interface", "l2_reserved_group", "l2_same_interface", "l2_flood_no_member", "l3_not_for_us",
    "l3_multicast", "l3_broadcast", "l3_unsupported_ethertype", "ip_truncated", "ip_bad_version", "ip_bad_ihl",
    "ip_bad_length", "ip_bad_checksum", "ttl_expired", "no_route", "blackhole", "mtu_exceeded", "frag_needed",
    "punt_policed", "punt_queue_full", "no_buffer", "tx_queue_full",
}


def make(*targets, env=None, timeout=600):
    return subprocess.run(["make", "--no-print-directory", "-f", MK, *targets], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def replay(*args, env=None):
    return subprocess.run([REPLAY, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def corpus_size():
    return len([n for n in os.listdir(CORPUS) if not n.startswith(".")])


@pytest.fixture(scope="module")
def sanitize_run():
    """`make fuzz-sanitize`: the ASan+UBSan build, replayed over the corpus."""
    r = make("fuzz-sanitize")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return r


def libfuzzer_missing():
    """Why libFuzzer cannot be built here, or None."""
    clang = next((c for c in ("clang", "clang-19", "clang-16", "clang-15", "clang-14") if shutil.which(c)), None)
    if clang is None:
        return "clang is not installed (Debian: apt-get install clang libclang-rt-dev)"
    probe = os.path.join(BUILD, "probe")
    os.makedirs(probe, exist_ok=True)
    src = os.path.join(probe, "probe.c")
    with open(src, "w") as f:
        f.write("#include <stdint.h>\n#include <stddef.h>\n"
                "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n")
    r = subprocess.run([clang, "-fsanitize=fuzzer,address", "-o", os.path.join(probe, "probe"), src],
                       capture_output=True, text=True)
    if r.returncode:
        return f"{clang} cannot link libFuzzer (Debian: apt-get install libclang-rt-dev): {r.stderr.strip()[-300:]}"
    return None


def test_replay_accounts_for_every_corpus_frame(sanitize_run):
    m = ACCOUNTED.search(sanitize_run.stdout)
    assert m, sanitize_run.stdout
    assert int(m.group(1)) >= corpus_size()   # repeat-flagged inputs feed their frame more than once


def test_corpus_reaches_every_core_drop_reason(sanitize_run):
    r = replay("-v", CORPUS)
    assert r.returncode == 0, r.stderr[-4000:]
    reached = {m.group(1) for m in re.finditer(r"^  (\S+)\s+\d+$", r.stdout, re.M)}
    assert CORE_FATES <= reached, f"never reached: {sorted(CORE_FATES - reached)}"


def test_egress_gap_frames_are_fine_in_the_strict_topology(sanitize_run):
    r = replay(EGRESS_GAP)
    assert r.returncode == 0 and ACCOUNTED.search(r.stdout), r.stderr[-2000:]


@pytest.mark.parametrize("case", sorted(os.listdir(EGRESS_GAP)))
def test_egress_drop_is_a_frames_only_fate(sanitize_run, case):
    r = replay(os.path.join(EGRESS_GAP, case), env={"FZ_EGRESS_GAP": "1"})
    assert r.returncode == 0, r.stderr[-2000:]


def test_corpus_is_what_make_corpus_writes():
    pytest.importorskip("scapy")
    r = subprocess.run([sys.executable, os.path.join(HERE, "make_corpus.py"), "--check"], capture_output=True,
                       text=True)
    assert r.returncode == 0, "run `make -f tests/fuzz/fuzz.mk fuzz-corpus`:\n" + r.stdout[-2000:]


def corpus_state():
    return {n: os.stat(os.path.join(CORPUS, n)).st_mtime_ns for n in os.listdir(CORPUS)}


def test_libfuzzer_bounded_run():
    missing = libfuzzer_missing()
    if missing:
        pytest.skip(missing)
    before = corpus_state()
    r = make("fuzz-run", f"FUZZ_SECONDS={FUZZ_SECONDS}", timeout=FUZZ_SECONDS + 600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert ACCOUNTED.search(r.stdout), out[-3000:]
    assert re.search(r"Done \d+ runs in \d+ second", out), out[-3000:]
    assert corpus_state() == before, "the fuzzer must write to build/corpus only"


GSO_SECONDS = min(FUZZ_SECONDS, 15)


def gso_seeds(folder):
    """Super-frames as the kernel hands them over (gso_target.c's input: a
    virtio_net_hdr, a VLAN tag taken off or 0, the frame): one per kind."""
    import struct
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Dot1Q, Ether
    os.makedirs(folder, exist_ok=True)
    eth, payload = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02"), bytes(range(256)) * 12
    ip4, ip6 = IP(src="10.0.0.1", dst="10.0.0.2"), IPv6(src="fd00::1", dst="fd00::2")
    seeds = {  # name: (flags, gso_type, hdr_len, csum_start, csum_offset, tag, frame)
        "tcp4": (1, 1, 54, 34, 16, 0, eth / ip4 / TCP(flags="FPAC") / payload),
        "tcp6": (1, 4, 74, 54, 16, 0, eth / ip6 / TCP(flags="PA") / payload),
        "udp4-gso": (1, 5, 42, 34, 6, 0, eth / ip4 / UDP() / payload),
        "tcp4-tag-taken-off": (1, 1, 54, 34, 16, 0x8100000a, eth / ip4 / TCP() / payload),
        "tcp4-tag-in-frame": (1, 1, 58, 38, 16, 0, eth / Dot1Q(vlan=10) / ip4 / TCP() / payload),
        "udp4-partial-csum": (1, 0, 0, 34, 6, 0, eth / ip4 / UDP() / payload[:1000]),
    }
    for name, (flags, gso_type, hdr_len, start, offset, tag, frame) in seeds.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(struct.pack("<BBHHHH", flags, gso_type, hdr_len, 1000, start, offset) +
                    struct.pack(">I", tag) + bytes(frame))


def test_gso_libfuzzer_bounded_run():
    """drivers/gso.c under libFuzzer from scapy seeds: no sanitizer report, and
    every segment's length, payload and checksums check (gso_target.c)."""
    missing = libfuzzer_missing()
    if missing:
        pytest.skip(missing)
    pytest.importorskip("scapy")
    seeds = os.path.join(BUILD, "gso-corpus")
    gso_seeds(seeds)
    r = make("fuzz-gso", f"FUZZ_SECONDS={GSO_SECONDS}", f"FUZZ_GSO_SEEDS={seeds}", timeout=GSO_SECONDS + 600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert re.search(r"Done \d+ runs in \d+ second", out), out[-3000:]
