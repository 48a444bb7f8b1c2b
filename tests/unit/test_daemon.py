"""The live appliance's commands: `clear`, `port NAME up|down`, `reload` and
SIGHUP, against a real `vswitch run CONFIG --socket P` forwarding a looping
pcap into null ports while the test talks to it."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from scapy.all import IP, UDP, Ether, rdpcap, wrpcap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VSWITCH = [sys.executable, "-m", "vswitch"]

# src replays routed traffic forever: 192.0.2.10 -> 10.9.1.x, routed via
# 198.51.100.254 (static neighbour) out of the null port `out`.  lan plays
# three broadcasts once (the bridge learns three MACs, then it is quiet).
# wan only transmits, into a pcap written at shutdown.
CONFIG = """\
version: 1
workers: 1
ports:
  src:   {driver: pcap, rx_pcap: src.pcap, loop: true, addresses: [192.0.2.1/24], macaddress: "02:00:00:00:02:01"}
  out:   {driver: "null", addresses: [198.51.100.1/24], macaddress: "02:00:00:00:03:01"}
  other: {driver: "null", addresses: [203.0.113.1/24]}
  lan:   {driver: pcap, rx_pcap: lan.pcap}
  srv:   {driver: "null"}
  wan:   {driver: pcap, tx_pcap: wan.pcap, addresses: [192.168.7.1/24], macaddress: "02:00:00:00:07:01"}
bridges:
  br: {interfaces: [lan, srv], addresses: [10.0.1.1/24]}
routes:
  - {to: 10.9.0.0/16, via: 198.51.100.254}
neighbors:
  - {ip: 198.51.100.254, macaddress: "02:00:00:00:03:fe", interface: out}
"""
ROUTE_10_9 = {"to": "10.9.0.0/16", "via": "198.51.100.254", "interface": "out", "type": "static"}
ROUTE_10_8 = {"to": "10.8.0.0/16", "via": "203.0.113.9", "interface": "other", "type": "static"}
CONNECTED_OUT = {"to": "198.51.100.0/24", "via": None, "interface": "out", "type": "connected"}


class Live:
    """A running appliance on a config in tmp_path, and the CLI against it."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.config = tmp_path / "vswitch.yaml"
        self.sock = str(tmp_path / "vswitch.sock")
        src = [Ether(dst="02:00:00:00:02:01", src="02:00:00:00:02:0a") /
               IP(src="192.0.2.10", dst=f"10.9.1.{i}") / UDP(sport=1000 + i, dport=53) / (b"x" * 18)
               for i in range(1, 9)]
        lan = [Ether(dst="ff:ff:ff:ff:ff:ff", src=f"02:00:00:00:01:{i:02x}") /
               IP(src=f"10.0.1.{i}", dst="10.0.1.255") / UDP() for i in range(11, 14)]
        wrpcap(str(tmp_path / "src.pcap"), src)
        wrpcap(str(tmp_path / "lan.pcap"), lan)
        self.write(CONFIG)
        self.proc = subprocess.Popen([*VSWITCH, "run", str(self.config), "--socket", self.sock], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.sock):
            assert self.proc.poll() is None, self.proc.stderr.read()
            assert time.monotonic() < deadline, "control socket never appeared"
            time.sleep(0.05)

    def write(self, text):
        self.config.write_text(textwrap.dedent(text))

    def cli(self, *args, expect=0):
        proc = subprocess.run([*VSWITCH, *args, "--socket", self.sock], cwd=ROOT, capture_output=True, text=True,
                              timeout=30)
        assert proc.returncode == expect, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        return proc

    def show(self, what):
        return json.loads(self.cli("show", what, "--json").stdout)

    def port(self, name):
        return next(p for p in self.show("ports") if p["name"] == name)

    def moving(self, port, key, timeout=5):
        """Does port's counter `key` move within timeout?"""
        first = self.port(port)[key]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if self.port(port)[key] != first:
                return True
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            assert self.proc.wait(timeout=10) == 0, self.proc.stderr.read()


@pytest.fixture
def live(tmp_path):
    app = Live(tmp_path)
    try:
        assert app.moving("src", "rx_packets"), "traffic flows"
        yield app
    finally:
        app.stop()


def test_clear_counters_resets(live):
    # lan played its three frames once and srv got them: quiet counters, exact checks
    assert (live.port("lan")["rx_packets"], live.port("srv")["tx_packets"]) == (3, 3)
    assert "counters cleared on port lan" in live.cli("clear", "counters", "lan").stdout
    assert live.port("lan")["rx_packets"] == 0 and live.port("lan")["rx_bytes"] == 0
    assert live.port("srv")["tx_packets"] == 3, "other ports keep their counters"
    live.cli("clear", "counters")
    assert live.port("srv")["tx_packets"] == 0
    live.cli("clear", "counters", "nope", expect=1)


def test_clear_macs_empties_show_macs(live):
    deadline = time.monotonic() + 5
    while len(live.show("macs")) < 3:
        assert time.monotonic() < deadline, "the bridge did not learn lan's three MACs"
        time.sleep(0.1)
    assert "3 learned MACs flushed from bridge br" in live.cli("clear", "macs", "br").stdout
    assert live.show("macs") == []
    live.cli("clear", "macs", "src", expect=1)  # in no bridge


def test_clear_neighbors_keeps_static_ones(live):
    live.cli("clear", "neighbors")
    assert {"ip": "198.51.100.254", "macaddress": "02:00:00:00:03:fe", "interface": "out",
            "state": "static"} in live.show("neighbors")
    assert "not a router interface" in live.cli("clear", "neighbors", "lan", expect=1).stderr


def test_port_down_and_up(live):
    assert CONNECTED_OUT in live.show("routes")
    out = live.cli("port", "out", "down").stdout
    assert "port out down" in out and "198.51.100.0/24" in out
    assert live.port("out")["link"] == "down"
    assert CONNECTED_OUT not in live.show("routes")
    assert not live.moving("out", "tx_packets", timeout=1), "nothing leaves a port that is down"
    assert live.port("src")["drops"].get("interface_down", 0) > 0
    assert "already down" in live.cli("port", "out", "down").stdout

    live.cli("port", "out", "up")
    assert live.port("out")["link"] == "up"
    assert CONNECTED_OUT in live.show("routes")
    assert live.moving("out", "tx_packets")
    kinds = [(e["kind"], e["message"]) for e in live.show("events")]
    assert ("port", "port out down (administratively)") in kinds
    assert ("port", "port out up (administratively)") in kinds


def test_port_unknown_is_a_clear_error(live):
    proc = live.cli("port", "nope", "down", expect=1)
    assert "no port called 'nope'" in proc.stderr


def test_port_up_sends_gratuitous_arp(live):
    live.cli("port", "wan", "down")
    live.cli("port", "wan", "up")
    live.stop()  # tx_pcap files are written at shutdown
    garp = (b"\xff" * 6 + bytes.fromhex("020000000701") + b"\x08\x06" + bytes.fromhex("0001080006040001")
            + bytes.fromhex("020000000701") + bytes([192, 168, 7, 1]) + b"\0" * 6 + bytes([192, 168, 7, 1]))
    garp += b"\0" * (60 - len(garp))
    assert [bytes(p) for p in rdpcap(str(live.dir / "wan.pcap"))] == [garp]


def test_reload_adds_and_removes_a_route_without_drops(live):
    routes = live.show("routes")
    assert ROUTE_10_9 in routes and ROUTE_10_8 not in routes
    live.write(CONFIG.replace("routes:\n", "routes:\n  - {to: 10.8.0.0/16, via: 203.0.113.9}\n"))
    out = live.cli("reload").stdout
    assert out.splitlines() == ["route 10.8.0.0/16 via 203.0.113.9 added"]
    assert ROUTE_10_8 in live.show("routes") and ROUTE_10_9 in live.show("routes")
    assert "10.8.0.0/16" in live.show("config")["text"]

    live.write(CONFIG)
    assert live.cli("reload").stdout.splitlines() == ["route 10.8.0.0/16 via 203.0.113.9 removed"]
    assert live.show("routes") == routes
    assert live.cli("reload").stdout.splitlines() == ["no changes"]
    src = live.port("src")
    assert src["drops"] == {} and src["rx_dropped"] == 0, "the unaffected path lost nothing"
    assert live.moving("src", "rx_packets") and live.moving("out", "tx_packets")
    assert any(e["kind"] == "reload" for e in live.show("events"))


def test_reload_applies_neighbors_addresses_and_bridge_settings(live):
    live.write(CONFIG.replace("addresses: [203.0.113.1/24]", "addresses: [203.0.113.1/24, 203.0.114.1/24]")
               .replace("br: {interfaces: [lan, srv], addresses: [10.0.1.1/24]}",
                        "br: {interfaces: [lan, srv], addresses: [10.0.1.1/24], mac_aging: 10, mac_limit: 200000,"
                        " static_macs: [{macaddress: '02:00:00:00:00:aa', interface: srv}]}")
               + '  - {ip: 203.0.114.9, macaddress: "02:00:00:00:03:09", interface: other}\n')
    out = live.cli("reload").stdout
    for line in ("address 203.0.114.1/24 on other added", "neighbor 203.0.114.9 on other added (02:00:00:00:03:09)",
                 "static MAC 02:00:00:00:00:aa on br (srv) added",
                 "bridge br mac_aging 10 mac_limit 200000 (was 300, 65536)"):
        assert line in out.splitlines()
    assert {"to": "203.0.114.0/24", "via": None, "interface": "other", "type": "connected"} in live.show("routes")
    assert {"ip": "203.0.114.9", "macaddress": "02:00:00:00:03:09", "interface": "other",
            "state": "static"} in live.show("neighbors")
    assert {"bridge": "br", "mac": "02:00:00:00:00:aa", "interface": "srv", "static": True,
            "age": 0} in live.show("macs")
    live.write(CONFIG)
    live.cli("reload")
    assert all(r["to"] != "203.0.114.0/24" for r in live.show("routes"))
    assert all(n["ip"] != "203.0.114.9" for n in live.show("neighbors"))
    assert all(not m["static"] for m in live.show("macs"))


def test_reload_of_a_broken_file_keeps_the_running_config(live):
    routes = live.show("routes")
    live.write(CONFIG.replace("via: 198.51.100.254}", "via: 198.51.200.254}"))
    proc = live.cli("reload", expect=1)
    line = next(i for i, text in enumerate(CONFIG.splitlines(), 1) if "10.9.0.0/16" in text)
    assert proc.stderr.startswith(f"{live.config}:{line}:"), proc.stderr
    assert "outside every connected subnet" in proc.stderr
    assert live.show("routes") == routes
    assert live.show("config")["text"] == CONFIG
    assert live.moving("out", "tx_packets")


def test_reload_that_adds_a_bridge_member_is_refused(live):
    live.write(CONFIG.replace("  srv:   {driver: \"null\"}\n", "  srv:   {driver: \"null\"}\n  x: {driver: \"null\"}\n")
               .replace("[lan, srv]", "[lan, srv, x]"))
    proc = live.cli("reload", expect=1)
    assert "changing ports needs a restart in this version: port 'x' added" in proc.stderr
    assert "changing bridges needs a restart in this version: bridge 'br' interfaces changed" in proc.stderr
    assert [p["name"] for p in live.show("ports")] == ["src", "out", "other", "lan", "srv", "wan"]
    assert live.show("config")["text"] == CONFIG


def test_reload_adds_and_removes_a_routed_port(live):
    added = CONFIG.replace("  srv:   {driver: \"null\"}\n",
                           "  srv:   {driver: \"null\"}\n  x: {driver: \"null\", addresses: [10.7.0.1/24]}\n")
    live.write(added)
    proc = live.cli("reload")
    assert "port x added (null)" in proc.stdout
    assert [p["name"] for p in live.show("ports")] == ["src", "out", "other", "lan", "srv", "x", "wan"]
    assert {"to": "10.7.0.0/24", "via": None, "interface": "x", "type": "connected"} in live.show("routes")
    live.write(CONFIG)
    proc = live.cli("reload")
    assert "port x removed" in proc.stdout
    assert [p["name"] for p in live.show("ports")] == ["src", "out", "other", "lan", "srv", "wan"]
    assert not [r for r in live.show("routes") if r["to"].startswith("10.7.")]
    assert live.moving("out", "tx_packets"), "forwarding went on"


def test_sighup_reloads(live):
    live.write(CONFIG.replace("routes:\n", "routes:\n  - {to: 10.8.0.0/16, via: 203.0.113.9}\n"))
    live.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while ROUTE_10_8 not in live.show("routes"):
        assert time.monotonic() < deadline, "SIGHUP did not reload"
        time.sleep(0.1)
    assert any(e["kind"] == "reload" and "reloaded" in e["message"] for e in live.show("events"))


def test_bridge_set_aging_grows_the_table_and_keeps_entries():
    """The core half of a mac_aging/mac_limit reload: a higher limit than the
    table was sized for rebuilds it bigger, statics kept; not a bridge: -1."""
    from vswitch._core import ffi, lib
    dp = lib.vs_dp_create(1024, 1, 16, 16)
    try:
        members = [lib.vs_port_null_open(dp, f"p{i}".encode(), 1500) for i in range(2)]
        bridge = lib.vs_iface_add_bridge(dp, 300 * 10**9, 4)
        for member in members:
            assert lib.vs_bridge_add_member(dp, bridge, member) == 0

        def mac(i):
            return bytes([2, 0, 0, 0, i >> 8, i & 255])
        assert lib.vs_mac_add_static(dp, bridge, mac(1), members[1]) == 0
        full = next(i for i in range(2, 5000) if lib.vs_mac_add_static(dp, bridge, mac(i), members[0]) != 0)
        assert full < 1000, "a mac_limit of 4 sizes a small table"
        assert lib.vs_bridge_set_aging(dp, bridge, 0, 100_000) == 0
        assert all(lib.vs_mac_add_static(dp, bridge, mac(i), members[0]) == 0 for i in range(full, 2000))
        info = ffi.new("struct vs_mac_info *")
        assert lib.vs_mac_lookup(dp, bridge, mac(1), info) == 1 and info.iface == members[1] and info.is_static
        assert lib.vs_bridge_set_aging(dp, members[0], 0, 10) == -1
    finally:
        lib.vs_dp_destroy(dp)
