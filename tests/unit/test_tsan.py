"""The C core's concurrency under ThreadSanitizer (tsan_harness.c)."""
import glob
import os
import shutil
import subprocess

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1Q, Ether
from scapy.utils import wrpcap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))


def capture(path):
    """Routed frames to several prefixes, and bridged frames from many MACs spread
    over both workers (the flow hash covers the IP addresses)."""
    frames = []
    for i in range(256):
        frames.append(Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:01")
                      / IP(src="10.0.0.2", dst=f"192.0.2.{i}") / UDP(sport=1000 + i, dport=9))
        frames.append(Ether(src=f"02:00:00:00:{i:02x}:01", dst=f"02:00:00:00:{(i * 7) % 256:02x}:01")
                      / Dot1Q(vlan=10) / IP(src=f"10.9.0.{i}", dst="10.9.1.1") / UDP())
    wrpcap(str(path), frames)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is needed to build the harness")
def test_no_race_between_workers_and_table_changes(tmp_path):
    binary = tmp_path / "tsan_harness"
    sources = sorted(glob.glob(os.path.join(ROOT, "pipeline", "*.c")) + glob.glob(os.path.join(ROOT, "drivers", "*.c")))
    build = subprocess.run(["gcc", "-std=gnu11", "-O1", "-g", "-fsanitize=thread", "-march=x86-64-v2",
                            "-I", os.path.join(ROOT, "pipeline"), os.path.join(HERE, "tsan_harness.c"), *sources,
                            "-o", str(binary), "-lpthread"], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    capture(tmp_path / "in.pcap")
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1")
    run = subprocess.run([str(binary), str(tmp_path / "in.pcap"), "3"], capture_output=True, text=True,
                         env=env, timeout=300)
    if "FATAL: ThreadSanitizer: unexpected memory mapping" in run.stderr:
        pytest.skip("ThreadSanitizer cannot run under this kernel's address-space layout (ASLR entropy)")
    assert run.returncode == 0, run.stderr[-4000:]
    assert "WARNING: ThreadSanitizer" not in run.stderr
    assert "frames forwarded by 2 workers" in run.stdout
