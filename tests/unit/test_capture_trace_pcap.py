"""`vswitch capture` and `vswitch trace` on pcap ports, no root needed: a
running appliance replays a capture forever into a routed port, and what
the commands report is checked against the input (the namespace version,
with frames a test puts on the wire, is tests/e2e/test_capture_trace.py)"""
import json
import os
import signal
import struct
import subprocess
import sys
import time

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap, wrpcap

from vswitch import control

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VSWITCH = [sys.executable, "-m", "vswitch"]
CONFIG = """\
version: 1
workers: 1
ports:
  src: {driver: pcap, rx_pcap: src.pcap, loop: true, addresses: [192.0.2.1/24], macaddress: "02:00:00:00:02:01"}
  out: {driver: "null", addresses: [198.51.100.1/24], macaddress: "02:00:00:00:03:01"}
  lan: {driver: pcap, rx_pcap: lan.pcap, loop: true}
  trunk: {driver: "null"}
vlans:
  trunk.10: {link: trunk, id: 10}
bridges:
  br: {interfaces: [lan, trunk.10]}
routes:
  - {to: 10.9.0.0/16, via: 198.51.100.254}
  - {to: 10.8.0.0/16, type: blackhole}
neighbors:
  - {ip: 198.51.100.254, macaddress: "02:00:00:00:03:fe", interface: out}
"""


def inputs():
    """Seven frames routed out of `out`, then one to a blackhole route."""
    frames = [Ether(dst="02:00:00:00:02:01", src="02:00:00:00:02:0a") / IP(src="192.0.2.10", dst=f"10.9.1.{i}") /
              UDP(sport=1000 + i, dport=53) / (b"x" * 18) for i in range(1, 8)]
    frames.append(Ether(dst="02:00:00:00:02:01", src="02:00:00:00:02:0a") / IP(src="192.0.2.10", dst="10.8.0.1") /
                  UDP(sport=999, dport=53) / (b"x" * 18))
    return [bytes(f) for f in frames]


def forwarding(sock):
    try:
        return any(p["tx_packets"] for p in control.request(sock, "show", what="ports"))
    except control.ControlError:
        return False  # not serving yet


@pytest.fixture
def live(tmp_path):
    wrpcap(str(tmp_path / "src.pcap"), [Ether(f) for f in inputs()])
    wrpcap(str(tmp_path / "lan.pcap"), [Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:01:0b") /
                                        IP(src="10.0.1.11", dst="10.0.1.255") / UDP(dport=7)])
    (tmp_path / "vswitch.yaml").write_text(CONFIG)
    sock = str(tmp_path / "vswitch.sock")
    proc = subprocess.Popen([*VSWITCH, "run", str(tmp_path / "vswitch.yaml"), "--socket", sock], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(sock) or not forwarding(sock):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the appliance never forwarded"
            time.sleep(0.05)
        yield sock
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def pcap_records(path):
    """How many records a (big) classic pcap holds, without parsing frames."""
    data, off, n = path.read_bytes(), 24, 0
    while off < len(data):
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
        n += 1
    assert off == len(data), "the last record is whole"
    return n


def vswitch(sock, *args, expect=0):
    r = subprocess.run([*VSWITCH, *args, "--socket", sock], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == expect, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    return r


def test_capture_of_a_replaying_port_is_the_input_in_order(live, tmp_path):
    r = vswitch(live, "capture", "src", "-c", "40", "-w", str(tmp_path / "src-cap.pcap"))
    assert "40 frames written to" in r.stdout
    got = [bytes(p) for p in rdpcap(str(tmp_path / "src-cap.pcap"))]
    want = inputs()
    start = want.index(got[0])
    assert got == [want[(start + i) % len(want)] for i in range(40)], "the input, looping, with no frame lost"


def test_trace_of_routed_and_blackholed_packets(live):
    # 80: past a 32-frame burst of lan, a whole one of src (its 8 frames, 4 times)
    out = json.loads(vswitch(live, "trace", "-c", "80", "--json").stdout)
    assert out["lost"] == 0 and len(out["packets"]) == 80
    by_dst = {p["summary"].split(" > ")[2].split()[0]: [s["text"] for s in p["steps"]]
              for p in out["packets"] if p["port"] == "src"}
    assert by_dst["10.9.1.3"][1:] == [
        "classified: interface src (router interface)",
        "l3: to the router MAC of src",
        "ipv4 192.0.2.10 > 10.9.1.3 ttl 64 len 46: header ok",
        by_dst["10.9.1.3"][4],
        "adjacency: forward to 02:00:00:00:03:fe on out via 198.51.100.254",
        "rewrite: ttl 64 -> 63, src MAC 02:00:00:00:03:01 dst MAC 02:00:00:00:03:fe",
        "tx out"]
    assert by_dst["10.9.1.3"][4].startswith("fib: 10.9.1.3 matched 10.9.0.0/16 (static via 198.51.100.254)")
    assert by_dst["10.8.0.1"][-2].startswith("fib: 10.8.0.1 matched 10.8.0.0/16 (blackhole), adjacency ")
    assert by_dst["10.8.0.1"][-1] == "drop: blackhole"


def test_trace_of_a_frame_flooded_into_a_vlan(live):
    out = json.loads(vswitch(live, "trace", "-c", "40", "--json").stdout)
    flooded = [[s["text"] for s in p["steps"]] for p in out["packets"] if p["port"] == "lan"]
    assert flooded, "40 packets reach past a 32-frame burst of src"
    assert flooded[0][1:] == [
        "classified: interface lan (member of bridge br)",
        "mac learn 02:00:00:00:01:0b on lan: " + flooded[0][2].rsplit(": ", 1)[1],
        "mac lookup ff:ff:ff:ff:ff:ff in br: group address: flood",
        "flood in br to 1 member",
        "tx trunk (interface trunk.10, vlan 10 tag pushed)"]


def test_bad_requests_say_what_to_do(live, tmp_path):
    assert "no port called 'nope'; ports: src, out" in vswitch(live, "capture", "nope", "-w", "x.pcap",
                                                              expect=1).stderr
    assert "trace count must be 1-10000" in vswitch(live, "trace", "-c", "0", expect=1).stderr
    running = subprocess.Popen([*VSWITCH, "capture", "out", "-w", str(tmp_path / "a.pcap"), "--socket", live],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert running.stderr.readline().startswith("capturing on out")
    assert "a capture is already running on out" in vswitch(live, "capture", "out", "-w", str(tmp_path / "b.pcap"),
                                                            expect=1).stderr
    deadline = time.monotonic() + 10
    while True:  # a busy port: frames arrive as soon as a worker gets the CPU
        [status] = control.request(live, "capture_status")
        assert (status["port"], status["running"]) == ("out", True)
        if status["written"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status["written"] > 0, "a capture of a port sending millions of frames a second writes some"
    running.send_signal(signal.SIGINT)
    assert running.wait(timeout=30) == 0
    [status] = control.request(live, "capture_status")
    assert (status["running"], status["outcome"]) == (False, "stopped")
    assert status["written"] == pcap_records(tmp_path / "a.pcap") > 0
