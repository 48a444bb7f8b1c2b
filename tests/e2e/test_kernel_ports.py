"""Kernel ports end to end: Linux hosts in network namespaces talk through the
appliance's af_packet and tap ports.  The appliance runs in its own
namespace (`ip netns exec`); each host namespace is joined to it by a veth
pair whose appliance end is an af_packet port.  The peers are the Linux
stack: its ARP, ICMP and UDP against ours.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VSWITCH = [sys.executable, "-m", "vswitch"]

UDP_RECEIVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(10)
print("ready", flush=True)
data, peer = s.recvfrom(2048)
print(data.decode(), peer[0], flush=True)
"""

UDP_SENDER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(20):
    s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.1)
"""


class Appliance:
    """`vswitch run CONFIG` inside the lab's appliance namespace."""

    def __init__(self, lab, workdir, config):
        self.socket = str(workdir / "vswitch.sock")
        self.config = workdir / "vswitch.yaml"
        self.config.write_text(textwrap.dedent(config).format(socket=self.socket))
        self.proc = lab.popen("app", [*VSWITCH, "run", str(self.config)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"vswitch run exited {self.proc.returncode}: {self.proc.stderr.read()}")
            if os.path.exists(self.socket) and self.show("ports", check=False) is not None:
                return
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError("the appliance did not open its control socket in 20 s")
            time.sleep(0.1)

    def show(self, what, check=True):
        r = subprocess.run([*VSWITCH, "show", what, "--json", "--socket", self.socket], cwd=ROOT,
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            assert not check, r.stderr
            return None
        return json.loads(r.stdout)

    def stop(self):
        """SIGINT, as Ctrl-C would: the appliance exits 0."""
        self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("the appliance did not stop on SIGINT") from None
        assert rc == 0, self.proc.stderr.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def appliance(lab, tmp_path):
    started = []

    def start(config):
        a = Appliance(lab, tmp_path, config)
        started.append(a)
        return a
    yield start
    for a in started:
        a.kill()


def ping(lab, host, address, count=3):
    r = lab.exec(host, "ping", "-c", str(count), "-i", "0.2", "-W", "2", address, check=False, timeout=30)
    assert r.returncode == 0, f"ping {address} from {host}:\n{r.stdout}{r.stderr}"
    return r.stdout


def two_hosts(lab, offloads=True):
    """h1 and h2, each with eth0 joined to lan1 / lan2 in the appliance namespace."""
    for short in ("app", "h1", "h2"):
        lab.add_ns(short)
    lab.veth("h1", "eth0", "app", "lan1", offloads=offloads)
    lab.veth("h2", "eth0", "app", "lan2", offloads=offloads)


def test_af_packet_bridge(lab, appliance):
    two_hosts(lab)
    lab.host("h1", "eth0", "10.0.0.1/24")
    lab.host("h2", "eth0", "10.0.0.2/24")
    app = appliance("""\
        version: 1
        workers: 1
        control_socket: {socket}
        ports:
          p1: {{driver: af_packet, interface: lan1}}
          p2: {{driver: af_packet, interface: lan2}}
        bridges:
          br0: {{interfaces: [p1, p2]}}
        """)
    ping(lab, "h1", "10.0.0.2")
    macs = {(m["mac"], m["interface"]) for m in app.show("macs")}
    assert (lab.mac("h1", "eth0"), "p1") in macs, macs
    assert (lab.mac("h2", "eth0"), "p2") in macs, macs
    ports = {p["name"]: p for p in app.show("ports")}
    assert ports["p1"]["driver"] == "af_packet"
    assert ports["p1"]["rx_packets"] >= 3 and ports["p2"]["tx_packets"] >= 3, ports
    app.stop()


def test_mac_aging_and_moves_seen_by_show_macs(lab, appliance):
    two_hosts(lab)
    lab.host("h1", "eth0", "10.0.0.1/24")
    lab.host("h2", "eth0", "10.0.0.2/24")
    app = appliance("""\
        version: 1
        workers: 1
        control_socket: {socket}
        ports:
          p1: {{driver: af_packet, interface: lan1}}
          p2: {{driver: af_packet, interface: lan2}}
        bridges:
          br0: {{interfaces: [p1, p2], mac_aging: 2}}
        """)
    h1 = lab.mac("h1", "eth0")
    r = lab.exec("h1", "arping", "-c", "2", "-w", "3", "-I", "eth0", "10.0.0.2", check=False)
    assert r.returncode == 0, r.stdout + r.stderr          # Linux ARP across the bridge, both ways
    macs = {m["mac"]: m for m in app.show("macs")}
    assert macs[h1]["interface"] == "p1" and macs[h1]["age"] < 2 and not macs[h1]["static"], macs
    # h1's MAC now speaks from behind p2: the entry moves there at once
    lab.exec("h1", "ip", "link", "set", "eth0", "down")
    lab.exec("h2", "ip", "link", "set", "eth0", "address", h1)
    moved = time.monotonic()
    lab.exec("h2", "arping", "-c", "1", "-w", "1", "-I", "eth0", "10.0.0.9", check=False)
    macs = {m["mac"]: m for m in app.show("macs")}
    assert macs[h1]["interface"] == "p2", macs
    while h1 in {m["mac"] for m in app.show("macs")}:   # then silence: aged out after mac_aging (2 s)
        assert time.monotonic() < moved + 10, app.show("macs")
        time.sleep(0.1)
    assert time.monotonic() - moved >= 1.9, ("aged out too early", macs)
    app.stop()


def test_af_packet_vlan_trunk(lab, appliance):
    """h1 is a Linux host on VLAN 10 of a trunk (its frames tagged on the
    wire, lab.vlan_host), bridged to the untagged h2 and routed to h3 on
    VLAN 20 of the same trunk.  veth (like most NICs) moves a received tag
    into the packet's metadata; the driver puts it back."""
    two_hosts(lab)
    lab.add_ns("h3")
    lab.veth("h3", "eth0", "app", "lan3")
    lab.vlan_host("h1", "eth0", 10)
    lab.vlan_host("h3", "eth0", 20)
    lab.host("h1", "eth0", "10.0.0.1/24", gateway="10.0.0.254")
    lab.host("h2", "eth0", "10.0.0.2/24")
    lab.host("h3", "eth0", "10.20.0.2/24", gateway="10.20.0.1")
    app = appliance("""\
        version: 1
        workers: 1
        control_socket: {socket}
        ports:
          p1: {{driver: af_packet, interface: lan1}}
          p2: {{driver: af_packet, interface: lan2}}
          p3: {{driver: af_packet, interface: lan3}}
        vlans:
          p1.10: {{link: p1, id: 10}}
          p3.20: {{link: p3, id: 20, addresses: [10.20.0.1/24]}}
        bridges:
          br0: {{interfaces: [p1.10, p2], addresses: [10.0.0.254/24]}}
        """)
    ping(lab, "h1", "10.0.0.2")        # across the bridge, tagged on one side only
    ping(lab, "h2", "10.0.0.1")
    ping(lab, "h1", "10.20.0.2")       # routed from VLAN 10 to VLAN 20
    macs = {(m["mac"], m["interface"]) for m in app.show("macs")}
    assert (lab.mac("h1", "eth0"), "p1.10") in macs, macs
    assert (lab.mac("h2", "eth0"), "p2") in macs, macs
    neighbors = {n["ip"]: n["interface"] for n in app.show("neighbors")}
    assert neighbors.get("10.20.0.2") == "p3.20", neighbors
    ports = {p["name"]: p for p in app.show("ports")}
    assert "unknown_vlan" not in ports["p1"]["drops"], ports["p1"]
    app.stop()


# Two routed af_packet ports, one per host subnet; two workers.
ROUTER = """\
    version: 1
    workers: 2
    control_socket: {socket}
    ports:
      p1: {{driver: af_packet, interface: lan1, addresses: [10.1.0.1/24]}}
      p2: {{driver: af_packet, interface: lan2, addresses: [10.2.0.1/24]}}
    """


def test_af_packet_router(lab, appliance):
    two_hosts(lab)
    lab.host("h1", "eth0", "10.1.0.2/24", gateway="10.1.0.1")
    lab.host("h2", "eth0", "10.2.0.2/24", gateway="10.2.0.1")
    app = appliance(ROUTER)
    ping(lab, "h1", "10.1.0.1")      # the router itself
    ping(lab, "h1", "10.2.0.2")      # across, both hosts' ARP against ours
    ping(lab, "h2", "10.1.0.1")      # the far router address, from the other side
    receiver = lab.popen("h2", [sys.executable, "-c", UDP_RECEIVER, "5555"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout.readline().strip() == "ready", receiver.stderr.read()
        lab.exec("h1", sys.executable, "-c", UDP_SENDER, "10.2.0.2", "5555", "hello-across", timeout=30)
        out, err = receiver.communicate(timeout=15)
        assert receiver.returncode == 0, err
        assert out.split() == ["hello-across", "10.1.0.2"]
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    neighbors = {n["ip"]: n for n in app.show("neighbors")}
    assert neighbors["10.1.0.2"]["macaddress"] == lab.mac("h1", "eth0")
    assert neighbors["10.2.0.2"]["macaddress"] == lab.mac("h2", "eth0")
    workers = app.show("workers")
    assert sorted(q for w in workers for q in w["rx_queues"]) == ["p1:0", "p2:0"]
    assert all(len(w["rx_queues"]) == 1 for w in workers), "one queue per worker, round robin"
    app.stop()


def test_tap_port_routes_to_a_linux_host(lab, appliance):
    for short in ("app", "h1", "h3"):
        lab.add_ns(short)
    lab.veth("h1", "eth0", "app", "lan1")
    lab.host("h1", "eth0", "10.1.0.2/24", gateway="10.1.0.1")
    app = appliance("""\
        version: 1
        workers: 1
        control_socket: {socket}
        ports:
          p1: {{driver: af_packet, interface: lan1, addresses: [10.1.0.1/24]}}
          t0: {{driver: tap, interface: vstap0, addresses: [10.3.0.1/24]}}
        """)
    # the appliance made vstap0 (and brought it up); its kernel side becomes host h3
    lab.exec("app", "ip", "link", "set", "vstap0", "netns", lab.ns("h3"))
    lab.exec("h3", "ip", "link", "set", "vstap0", "up")
    lab.host("h3", "vstap0", "10.3.0.2/24", gateway="10.3.0.1")
    ping(lab, "h3", "10.3.0.1")
    ping(lab, "h1", "10.3.0.2")
    ping(lab, "h3", "10.1.0.2")
    ports = {p["name"]: p for p in app.show("ports")}
    assert ports["t0"]["driver"] == "tap" and ports["t0"]["rx_packets"] >= 6, ports
    app.stop()
    # closing the tap's fd removed the interface, wherever it was
    assert lab.exec("h3", "ip", "link", "show", "vstap0", check=False).returncode != 0


def test_missing_interface_is_a_clear_error(tmp_path):
    cfg = tmp_path / "x.yaml"
    cfg.write_text(f"version: 1\ncontrol_socket: {tmp_path}/s.sock\n"
                   "ports:\n  p1: {driver: af_packet, interface: vsnosuch0}\n")
    r = subprocess.run([*VSWITCH, "run", str(cfg)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "port 'p1': interface vsnosuch0: no such interface (check with: ip link show vsnosuch0)" in r.stderr


def test_without_privileges_the_error_says_what_to_do():
    """As an unprivileged user (nobody), each kernel port names the fix."""
    unprivileged = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if os.geteuid() != 0 or subprocess.run([*unprivileged, sys.executable, "-c", "import vswitch"], cwd=ROOT,
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root, setpriv and a checkout the nobody user can read")
    with tempfile.TemporaryDirectory(prefix="vswitch-noperm-") as work:  # /tmp: readable by nobody
        os.chmod(work, 0o755)
        for driver, fix in (("af_packet", "run as root or give CAP_NET_RAW"),
                            ("tap", "run as root or give CAP_NET_ADMIN")):
            cfg = os.path.join(work, f"{driver}.yaml")
            with open(cfg, "w") as f:
                f.write(f"version: 1\ncontrol_socket: {work}/s.sock\n"
                        f"ports:\n  p1: {{driver: {driver}, interface: vsnoperm0}}\n")
            os.chmod(cfg, 0o644)
            r = subprocess.run([*unprivileged, *VSWITCH, "run", cfg], cwd=ROOT, capture_output=True, text=True,
                               timeout=30)
            assert r.returncode == 1
            assert "not permitted" in r.stderr and fix in r.stderr, r.stderr


RING_HOLDER = """
import json
from vswitch.pipeline import check, lib, port_stats
dp = lib.vs_dp_create(1024, 1, 16, 16)
port = check(lib.vs_port_af_packet_open(dp, b"p1", b"lan1", 1500))
print("ready", flush=True)
input()                               # nobody polls the ring while the host floods it
first, second = port_stats(dp, port), port_stats(dp, port)
lib.vs_port_stats_clear(dp, port)
print(json.dumps([first, second, port_stats(dp, port)]), flush=True)
lib.vs_dp_destroy(dp)
"""

FLOOD = """
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
frame = bytes.fromhex("ffffffffffff02000000200188b5") + bytes(46)
sent = 0
for _ in range(200000):   # more than 16 MiB of ring holds
    try:
        s.send(frame)
        sent += 1
    except BlockingIOError:
        pass
print(sent)
"""


def test_kernel_ring_drops_are_counted(lab):
    """Frames the kernel had no room for in the rx ring (PACKET_STATISTICS
    tp_drops) are the port's rx_dropped, reason kernel_rx_dropped, read once."""
    for short in ("app", "h1"):
        lab.add_ns(short)
    lab.veth("h1", "eth0", "app", "lan1")
    holder = lab.popen("app", [sys.executable, "-c", RING_HOLDER], cwd=ROOT, stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        sent = int(lab.exec("h1", sys.executable, "-c", FLOOD, timeout=60).stdout)
        out, err = holder.communicate("\n", timeout=30)
        assert holder.returncode == 0, err
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    first, second, cleared = json.loads(out)
    dropped = first["drops"].get("kernel_rx_dropped", 0)
    assert 0 < dropped < sent, (sent, first)
    assert first["rx_dropped"] == dropped
    assert second["rx_dropped"] == dropped, "read twice, counted once"
    assert cleared["rx_dropped"] == 0
