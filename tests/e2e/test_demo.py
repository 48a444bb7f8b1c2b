"""`make demo` as root: the namespace lab forwards (switched, VLAN-tagged and
routed pings get replies, every lab port counts frames both ways, iperf3's
stream crosses the router) and nothing of it is left afterwards."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from vswitch import netlab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_demo_lab_forwards_and_cleans_up(tmp_path):
    try:
        netlab.probe()
    except netlab.Unavailable as why:
        pytest.skip(str(why))
    r = subprocess.run([sys.executable, "-m", "vswitch.demo", "--seconds", "4", "--json",
                        "--socket", str(tmp_path / "demo.sock")], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    ports = {p["name"]: p for p in result["ports"]}
    assert set(ports) == {"lan1", "lan2", "trunk", "wan"}
    for name, port in ports.items():
        assert port["rx_packets"] > 0 and port["tx_packets"] > 0, port
    if shutil.which("iperf3"):   # 20 Mbit/s of TCP for about 3 s, far beyond what the pings send
        assert ports["wan"]["tx_bytes"] > 1_000_000, ports["wan"]
    assert set(result["pings"]) == {"h1 -> 10.0.1.12", "v1 -> 10.0.1.11", "h1 -> 10.0.2.2", "r1 -> 10.0.1.12",
                                    "v1 -> 10.0.2.2"}
    assert all(received > 0 for received in result["pings"].values()), result["pings"]
    assert result["appliance_exit"] == 0, "stopped by SIGINT, exits 0"
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert len(result["namespaces"]) == 5
    assert not [ns for ns in result["namespaces"] if ns in left], left
    # the veths lived only in those namespaces; none leaked into this one
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert not any(f": {name}@" in links for name in ports), links


def test_demo_without_a_lab_falls_back_to_pcap_replay(tmp_path):
    """What `make demo` does without root (forced here with --no-lab, as any user)."""
    r = subprocess.run([sys.executable, "-m", "vswitch.demo", "--no-lab", "--seconds", "3",
                        "--socket", str(tmp_path / "demo.sock")], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "no namespace lab" in r.stderr and "demo-pcap-loop.yaml" in r.stderr, r.stderr
    assert "lan-hosts" in r.stdout, r.stdout   # the --stats counters of the replay config


def test_not_root_is_the_reason(monkeypatch):
    from vswitch import demo
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert demo.why_no_lab() == "not root"
