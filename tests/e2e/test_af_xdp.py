"""af_xdp ports end to end: Linux hosts in network namespaces talk through
the appliance's AF_XDP sockets (veth: copy mode, the XDP program in the veth
driver).  Same lab as test_kernel_ports.py: the appliance in its own
namespace, each host joined to it by a veth pair.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from vswitch.pipeline import lib

from vswitch import netlab
from test_kernel_ports import (ROOT, UDP_RECEIVER, UDP_SENDER, VSWITCH,  # noqa: F401
                               appliance, ping, two_hosts)
from test_resilience import cli, wait_for_event

ROUTER_XDP = """\
    version: 1
    workers: 2
    control_socket: {socket}
    ports:
      p1: {{driver: af_xdp, interface: lan1, addresses: [10.1.0.1/24], fix_checksums: true}}
      p2: {{driver: af_xdp, interface: lan2, addresses: [10.2.0.1/24], fix_checksums: true}}
    """

TCP_RECEIVER = """
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(1)
s.settimeout(30)
print("ready", flush=True)
conn, peer = s.accept()
conn.settimeout(30)
h, n = hashlib.sha256(), 0
while True:
    data = conn.recv(65536)
    if not data:
        break
    h.update(data)
    n += len(data)
print(n, h.hexdigest(), peer[0], flush=True)
"""

TCP_SENDER = """
import socket, sys
data = bytes(range(256)) * (int(sys.argv[3]) // 256)
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
s.sendall(data)
s.close()
"""

TCP_BYTES = 4 << 20   # 4 MiB: a few thousand full-sized segments each way (data and ACKs)


def xdp_attached(lab, ns, ifname):
    """Does `ip link show` list an XDP program on the interface?"""
    return "prog/xdp" in lab.exec(ns, "ip", "-d", "link", "show", ifname).stdout


def offloads_for_af_xdp(lab, host):
    """What a host must set for TCP over af_xdp (README): no segmentation
    offloads (AF_XDP takes no super-frames); checksum offload stays on, the
    port's fix_checksums completes what it leaves partial."""
    lab.exec(host, "ethtool", "-K", "eth0", "tx", "on", "tso", "off", "gso", "off", "gro", "off")


def udp_across(lab, sender, receiver_host, address, text):
    receiver = lab.popen(receiver_host, [sys.executable, "-c", UDP_RECEIVER, "5555"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout.readline().strip() == "ready", receiver.stderr.read()
        lab.exec(sender, sys.executable, "-c", UDP_SENDER, address, "5555", text, timeout=30)
        out, err = receiver.communicate(timeout=15)
        return receiver.returncode, out, err
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()


def tcp_across(lab, sender, receiver_host, address):
    receiver = lab.popen(receiver_host, [sys.executable, "-c", TCP_RECEIVER, "6000"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout.readline().strip() == "ready", receiver.stderr.read()
        lab.exec(sender, sys.executable, "-c", TCP_SENDER, address, "6000", str(TCP_BYTES), timeout=60)
        out, err = receiver.communicate(timeout=60)
        assert receiver.returncode == 0, err
        return out.split()
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()


def test_af_xdp_bridge_and_detach_on_stop(lab, appliance):
    two_hosts(lab, offloads=False)
    lab.host("h1", "eth0", "10.0.0.1/24")
    lab.host("h2", "eth0", "10.0.0.2/24")
    app = appliance("""\
        version: 1
        workers: 1
        control_socket: {socket}
        ports:
          p1: {{driver: af_xdp, interface: lan1}}
          p2: {{driver: af_xdp, interface: lan2}}
        bridges:
          br0: {{interfaces: [p1, p2]}}
        """)
    assert xdp_attached(lab, "app", "lan1") and xdp_attached(lab, "app", "lan2")
    events = [e["message"] for e in app.show("events")]
    assert "p1: af_xdp on lan1: 1 rx queue, copy mode, XDP program in the driver" in events, events
    ping(lab, "h1", "10.0.0.2")
    code, out, err = udp_across(lab, "h2", "h1", "10.0.0.1", "hello-bridged")
    assert code == 0 and out.split() == ["hello-bridged", "10.0.0.2"], err
    macs = {(m["mac"], m["interface"]) for m in app.show("macs")}
    assert (lab.mac("h1", "eth0"), "p1") in macs and (lab.mac("h2", "eth0"), "p2") in macs, macs
    ports = {p["name"]: p for p in app.show("ports")}
    assert ports["p1"]["driver"] == "af_xdp" and ports["p1"]["link"] == "up"
    assert ports["p1"]["rx_packets"] >= 3 and ports["p2"]["tx_packets"] >= 3, ports
    # SIGTERM, as a service manager stops it: sockets closed, programs detached
    app.proc.send_signal(signal.SIGTERM)
    assert app.proc.wait(timeout=15) == 0, app.proc.stderr.read()
    assert not xdp_attached(lab, "app", "lan1") and not xdp_attached(lab, "app", "lan2")


def test_af_xdp_vlan_trunk(lab, appliance):
    """h1, a Linux host on VLAN 10 of a trunk (its frames tagged on the
    wire, lab.vlan_host), is bridged to the untagged h2.  XDP sees only tags
    inside the frame: veth would hand a tag over beside it (VLAN offload),
    so h1 sends them in the frame (txvlan off; README)."""
    two_hosts(lab, offloads=False)
    lab.exec("h1", "ethtool", "-K", "eth0", "txvlan", "off")
    lab.vlan_host("h1", "eth0", 10)
    lab.host("h1", "eth0", "10.0.0.1/24")
    lab.host("h2", "eth0", "10.0.0.2/24")
    app = appliance("""\
        version: 1
        workers: 1
        control_socket: {socket}
        ports:
          p1: {{driver: af_xdp, interface: lan1}}
          p2: {{driver: af_xdp, interface: lan2}}
        vlans:
          p1.10: {{link: p1, id: 10}}
        bridges:
          br0: {{interfaces: [p1.10, p2]}}
        """)
    ping(lab, "h1", "10.0.0.2")
    ping(lab, "h2", "10.0.0.1")
    macs = {(m["mac"], m["interface"]) for m in app.show("macs")}
    assert (lab.mac("h1", "eth0"), "p1.10") in macs and (lab.mac("h2", "eth0"), "p2") in macs, macs
    app.stop()


FRAMES_SENDER = """
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for _ in range(10):
    for frame in sys.argv[1:]:
        s.send(bytes.fromhex(frame))
    time.sleep(0.2)
"""

FRAMES_RECEIVER = """
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind(("eth0", 0))
s.settimeout(10)
print("ready", flush=True)
seen = {}
while len(seen) < int(sys.argv[2]):
    frame = s.recv(2048)
    if frame[6:12] == bytes.fromhex(sys.argv[1]):
        seen[frame[34:36]] = frame.hex()   # keyed by source port
for frame in seen.values():
    print(frame, flush=True)
"""


def test_fix_checksums_byte_for_byte(lab, appliance):
    """Frames with wrong TCP/UDP checksums (as offload leaves them), VLAN-
    tagged, come out of the other port untagged with the right ones; a UDP
    checksum of 0 (none) stays 0, and a fragment's stays as it came."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Dot1Q, Ether
    two_hosts(lab, offloads=False)
    app = appliance("""\
        version: 1
        workers: 1
        control_socket: {socket}
        ports:
          p1: {{driver: af_xdp, interface: lan1, fix_checksums: true}}
          p2: {{driver: af_xdp, interface: lan2}}
        vlans:
          p1.10: {{link: p1, id: 10}}
        bridges:
          br0: {{interfaces: [p1.10, p2]}}
        """)
    src = "02:00:00:00:10:01"
    eth = Ether(src=src, dst="ff:ff:ff:ff:ff:ff")
    ip = IP(src="10.0.0.1", dst="10.0.0.2")
    payload = b"fix-checksums".ljust(40, b".")
    frames = [eth / Dot1Q(vlan=10) / ip / TCP(sport=1001, dport=80, chksum=0x1234) / payload,
              eth / Dot1Q(vlan=10) / ip / UDP(sport=1002, dport=53, chksum=0x4321) / payload,
              eth / Dot1Q(vlan=10) / ip / UDP(sport=1003, dport=53, chksum=0) / payload,
              eth / Dot1Q(vlan=10) / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF")
              / UDP(sport=1004, dport=53, len=200, chksum=0x4321) / payload]
    receiver = lab.popen("h2", [sys.executable, "-c", FRAMES_RECEIVER, src.replace(":", ""), str(len(frames))],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout.readline().strip() == "ready", receiver.stderr.read()
        lab.exec("h1", sys.executable, "-c", FRAMES_SENDER, *(bytes(f).hex() for f in frames), timeout=30)
        out, err = receiver.communicate(timeout=15)
        assert receiver.returncode == 0, err
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    got = {Ether(bytes.fromhex(line))[IP].payload.sport: Ether(bytes.fromhex(line)) for line in out.split()}
    for sport, layer in ((1001, TCP), (1002, UDP)):
        right = IP(bytes(got[sport][IP]))
        del right[layer].chksum
        assert got[sport][layer].chksum == IP(bytes(right))[layer].chksum != 0, got[sport].show(dump=True)
        assert bytes(got[sport][layer].payload) == payload
    assert got[1003][UDP].chksum == 0
    assert got[1004][UDP].chksum == 0x4321, "a first fragment has no whole segment to sum: left alone"
    app.stop()


def test_af_xdp_router_ping_udp_tcp(lab, appliance):
    """Routed across two af_xdp ports on two workers; the hosts leave their
    TCP/UDP checksums to offload (partial in the frames we get), the ports
    complete them (fix_checksums)."""
    two_hosts(lab, offloads=False)
    for host in ("h1", "h2"):
        offloads_for_af_xdp(lab, host)
    lab.host("h1", "eth0", "10.1.0.2/24", gateway="10.1.0.1")
    lab.host("h2", "eth0", "10.2.0.2/24", gateway="10.2.0.1")
    app = appliance(ROUTER_XDP)
    ping(lab, "h1", "10.1.0.1")
    ping(lab, "h1", "10.2.0.2")
    ping(lab, "h2", "10.1.0.1")
    code, out, err = udp_across(lab, "h1", "h2", "10.2.0.2", "hello-across")
    assert code == 0 and out.split() == ["hello-across", "10.1.0.2"], err
    size, digest, peer = tcp_across(lab, "h1", "h2", "10.2.0.2")
    expected = hashlib.sha256(bytes(range(256)) * (TCP_BYTES // 256)).hexdigest()
    assert (int(size), digest, peer) == (TCP_BYTES, expected, "10.1.0.2")
    size, digest, peer = tcp_across(lab, "h2", "h1", "10.1.0.2")
    assert (int(size), digest, peer) == (TCP_BYTES, expected, "10.2.0.2")
    ports = {p["name"]: p for p in app.show("ports")}
    assert ports["p1"]["rx_packets"] > TCP_BYTES // 1500 and ports["p2"]["tx_packets"] > TCP_BYTES // 1500, ports
    workers = app.show("workers")
    assert sorted(q for w in workers for q in w["rx_queues"]) == ["p1:0", "p2:0"]
    app.stop()


def udp_checksum_errors(lab, host):
    """The host's UDP InCsumErrors (/proc/net/snmp)."""
    lines = [line.split() for line in lab.exec(host, "cat", "/proc/net/snmp").stdout.splitlines()
             if line.startswith("Udp:")]
    return int(lines[1][lines[0].index("InCsumErrors")])


def test_partial_checksums_are_lost_without_fix_checksums(lab, appliance):
    """The reason for fix_checksums: without it, a host's offloaded (partial)
    UDP checksums go out as they came and the receiving Linux drops them."""
    two_hosts(lab, offloads=False)
    offloads_for_af_xdp(lab, "h1")
    lab.host("h1", "eth0", "10.1.0.2/24", gateway="10.1.0.1")
    lab.host("h2", "eth0", "10.2.0.2/24", gateway="10.2.0.1")
    appliance(ROUTER_XDP.replace("fix_checksums: true", "fix_checksums: false"))
    ping(lab, "h1", "10.2.0.2")
    before = udp_checksum_errors(lab, "h2")
    code, out, _ = udp_across(lab, "h1", "h2", "10.2.0.2", "partial")
    assert code != 0 and "partial" not in out, "delivered although its checksum was never completed?"
    assert udp_checksum_errors(lab, "h2") > before


def test_af_xdp_to_af_packet_routing(lab, appliance):
    two_hosts(lab, offloads=False)
    offloads_for_af_xdp(lab, "h1")
    lab.host("h1", "eth0", "10.1.0.2/24", gateway="10.1.0.1")
    lab.host("h2", "eth0", "10.2.0.2/24", gateway="10.2.0.1")
    app = appliance("""\
        version: 1
        workers: 1
        control_socket: {socket}
        ports:
          p1: {{driver: af_xdp, interface: lan1, addresses: [10.1.0.1/24], fix_checksums: true}}
          p2: {{driver: af_packet, interface: lan2, addresses: [10.2.0.1/24]}}
        """)
    ping(lab, "h1", "10.2.0.2")
    ping(lab, "h2", "10.1.0.2")
    code, out, err = udp_across(lab, "h1", "h2", "10.2.0.2", "xdp-to-packet")
    assert code == 0 and out.split() == ["xdp-to-packet", "10.1.0.2"], err
    code, out, err = udp_across(lab, "h2", "h1", "10.1.0.2", "packet-to-xdp")
    assert code == 0 and out.split() == ["packet-to-xdp", "10.2.0.2"], err
    size, _, _ = tcp_across(lab, "h1", "h2", "10.2.0.2")
    assert int(size) == TCP_BYTES
    app.stop()


def test_reload_adds_and_removes_an_af_xdp_port(lab, appliance):
    two_hosts(lab, offloads=False)
    lab.host("h1", "eth0", "10.1.0.2/24", gateway="10.1.0.1")
    lab.host("h2", "eth0", "10.2.0.2/24", gateway="10.2.0.1")
    app = appliance("""\
        version: 1
        workers: 1
        control_socket: {socket}
        ports:
          p1: {{driver: af_packet, interface: lan1, addresses: [10.1.0.1/24]}}
        """)
    base = app.config.read_text()
    app.config.write_text(base + "  p2: {driver: af_xdp, interface: lan2, addresses: [10.2.0.1/24]}\n")
    r = cli(app, "reload")
    assert r.returncode == 0 and "port p2 added (af_xdp)" in r.stdout, r.stdout + r.stderr
    assert xdp_attached(lab, "app", "lan2")
    assert any(e["message"] == "p2: af_xdp on lan2: 1 rx queue, copy mode, XDP program in the driver"
               for e in app.show("events"))
    ping(lab, "h1", "10.2.0.2")
    app.config.write_text(base)
    r = cli(app, "reload")
    assert r.returncode == 0 and "port p2 removed" in r.stdout, r.stdout + r.stderr
    assert not xdp_attached(lab, "app", "lan2"), "its XDP program detached with it"
    assert {p["name"] for p in app.show("ports")} == {"p1"}
    app.stop()


def test_frames_longer_than_a_buffer_are_counted(lab, appliance):
    """A host with a bigger MTU sends frames that do not fit a 2 KiB buffer
    (1792 bytes of frame): the kernel drops them at the socket, and the port
    counts them as xdp_rx_dropped."""
    two_hosts(lab, offloads=False)
    for ns, ifname in (("h1", "eth0"), ("app", "lan1")):
        lab.exec(ns, "ip", "link", "set", ifname, "mtu", "3000")
    lab.host("h1", "eth0", "10.1.0.2/24", gateway="10.1.0.1")
    lab.host("h2", "eth0", "10.2.0.2/24", gateway="10.2.0.1")
    app = appliance(ROUTER_XDP)
    ping(lab, "h1", "10.2.0.2")
    lab.exec("h1", "ping", "-c", "5", "-i", "0.2", "-W", "1", "-s", "2500", "-M", "do", "10.2.0.2", check=False)
    p1 = {p["name"]: p for p in app.show("ports")}["p1"]
    assert p1["drops"].get("xdp_rx_dropped", 0) >= 5, p1
    assert p1["rx_dropped"] >= 5
    ping(lab, "h1", "10.2.0.2")   # and normal frames still pass
    app.stop()


def test_interface_deleted_and_recreated_is_reattached(lab, appliance):
    two_hosts(lab, offloads=False)
    lab.host("h1", "eth0", "10.1.0.2/24", gateway="10.1.0.1")
    lab.host("h2", "eth0", "10.2.0.2/24", gateway="10.2.0.1")
    app = appliance(ROUTER_XDP)
    ping(lab, "h1", "10.2.0.2")
    before = app.show("ports")
    lab.exec("h2", "ip", "link", "del", "eth0")   # both ends: lan2 vanishes under the appliance
    wait_for_event(app, "p2: interface lan2 gone")
    ports = {p["name"]: p for p in app.show("ports")}
    assert ports["p2"]["link"] == "down" and ports["p1"]["link"] == "up", ports
    lab.veth("h2", "eth0", "app", "lan2", offloads=False)          # same names, a new ifindex
    lab.host("h2", "eth0", "10.2.0.2/24", gateway="10.2.0.1")
    wait_for_event(app, "re-attached")
    assert xdp_attached(lab, "app", "lan2")
    ping(lab, "h1", "10.2.0.2")
    ping(lab, "h2", "10.1.0.2")
    ports = {p["name"]: p for p in app.show("ports")}
    assert ports["p2"]["link"] == "up" and ports["p2"]["link_losses"] == 1, ports
    assert ports["p2"]["rx_packets"] > {p["name"]: p for p in before}["p2"]["rx_packets"]
    app.stop()
    assert not xdp_attached(lab, "app", "lan2")


def multiqueue_veth(lab, ns_a, if_a, ns_b, if_b, queues):
    """A veth pair with `queues` rx and tx queues on each end (a sender's
    flows spread over its tx queues by hash; each lands on the peer's rx
    queue of the same number), offloads off (see netlab.Lab.no_offloads)."""
    q = ["numrxqueues", str(queues), "numtxqueues", str(queues)]
    netlab.run("ip", "link", "add", if_a, "netns", lab.ns(ns_a), *q, "type", "veth", "peer", "name", if_b,
              "netns", lab.ns(ns_b), *q)
    for short, ifname in ((ns_a, if_a), (ns_b, if_b)):
        lab.no_offloads(short, ifname)
        lab.exec(short, "ip", "link", "set", ifname, "up")


FLOWS_SENDER = """
import socket, sys
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(int(sys.argv[3]))]
for round in range(5):
    for i, s in enumerate(socks):
        s.sendto(f"{i}".encode(), (sys.argv[1], int(sys.argv[2])))
"""

FLOWS_RECEIVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(3)
print("ready", flush=True)
flows = set()
try:
    while True:
        data, peer = s.recvfrom(2048)
        flows.add(data.decode())
except socket.timeout:
    pass
print(len(flows), flush=True)
"""


def test_two_rx_queues_two_sockets_two_workers(lab, appliance):
    """rx_queues: 2 on a two-queue veth: a socket per queue, each polled by
    its own worker; flows from many sockets reach both."""
    for short in ("app", "h1", "h2"):
        lab.add_ns(short)
    multiqueue_veth(lab, "h1", "eth0", "app", "lan1", queues=2)
    lab.veth("h2", "eth0", "app", "lan2", offloads=False)
    lab.host("h1", "eth0", "10.1.0.2/24", gateway="10.1.0.1")
    lab.host("h2", "eth0", "10.2.0.2/24", gateway="10.2.0.1")
    app = appliance(ROUTER_XDP.replace("interface: lan1,", "interface: lan1, rx_queues: 2,"))
    workers = app.show("workers")
    assert [w["rx_queues"] for w in workers] == [["p1:0", "p2:0"], ["p1:1"]], workers
    ping(lab, "h1", "10.2.0.2")
    receiver = lab.popen("h2", [sys.executable, "-c", FLOWS_RECEIVER, "5556"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout.readline().strip() == "ready", receiver.stderr.read()
        lab.exec("h1", sys.executable, "-c", FLOWS_SENDER, "10.2.0.2", "5556", "64", timeout=30)
        out, err = receiver.communicate(timeout=15)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    assert int(out) == 64, ("every flow arrives", out, err)
    assert all(w["packets"] > 0 for w in app.show("workers")), "both queues received: worker 1 polls only p1:1"
    app.stop()


def test_generic_xdp_where_the_driver_has_none(lab, appliance):
    """macvlan has no XDP in its driver: the program is attached in generic
    (skb) mode, and forwarding works the same."""
    two_hosts(lab, offloads=False)
    lab.exec("app", "ip", "link", "add", "mv1", "link", "lan1", "type", "macvlan", "mode", "passthru")
    lab.exec("app", "ip", "link", "set", "mv1", "up")
    lab.host("h1", "eth0", "10.1.0.2/24", gateway="10.1.0.1")
    lab.host("h2", "eth0", "10.2.0.2/24", gateway="10.2.0.1")
    app = appliance(ROUTER_XDP.replace("interface: lan1", "interface: mv1"))
    assert "xdpgeneric" in lab.exec("app", "ip", "link", "show", "mv1").stdout
    events = [e["message"] for e in app.show("events")]
    assert "p1: af_xdp on mv1: 1 rx queue, copy mode, XDP program in generic (skb) mode" in events, events
    ping(lab, "h1", "10.2.0.2")
    ping(lab, "h2", "10.1.0.2")
    app.stop()
    assert not xdp_attached(lab, "app", "mv1")


SOCKET_HOLDER = """
import json
from vswitch.pipeline import check, lib, port_stats
dp = lib.vs_dp_create(8192, 1, 16, 16)
free = [lib.vs_dp_free_buffers(dp)]
port = check(lib.vs_port_af_xdp_open(dp, b"p1", b"lan1", 1, 1500, 0))
free.append(lib.vs_dp_free_buffers(dp))
print("ready", flush=True)
input()                               # nobody polls the rx ring while the host floods it
stats = port_stats(dp, port)
print("flooded", flush=True)
input()                               # lan1 is deleted and made again
check(lib.vs_port_af_xdp_reattach(dp, port, b"lan1"))
free.append(lib.vs_dp_free_buffers(dp))
print(json.dumps([free, stats]), flush=True)
lib.vs_dp_destroy(dp)
"""

FLOOD = """
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
frame = bytes.fromhex("ffffffffffff02000000200188b5") + bytes(46)
for _ in range(5000):
    s.send(frame)
"""


def test_buffers_lent_to_the_kernel_come_back_on_reattach(lab):
    """The fill ring's buffers leave the pool while a socket lives; frames
    the kernel could not place (no polling: the fill ring runs dry) are
    xdp_rx_dropped; a re-attach gives back every buffer the old socket held
    (in its fill and rx rings) and lends the new one its own."""
    for short in ("app", "h1"):
        lab.add_ns(short)
    lab.veth("h1", "eth0", "app", "lan1", offloads=False)
    holder = lab.popen("app", [sys.executable, "-c", SOCKET_HOLDER], cwd=ROOT, stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        lab.exec("h1", sys.executable, "-c", FLOOD, timeout=60)
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "flooded", holder.stderr.read()
        lab.exec("h1", "ip", "link", "del", "eth0")
        lab.veth("h1", "eth0", "app", "lan1", offloads=False)
        out, err = holder.communicate("\n", timeout=30)
        assert holder.returncode == 0, err
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    (before, opened, reattached), stats = json.loads(out)
    lent = before - opened
    assert lent == lib.VS_AF_XDP_FILL_RING, "the fill ring's buffers are lent"
    assert reattached == opened, "the old socket's buffers all came back, the new socket has as many"
    assert stats["drops"].get("xdp_rx_dropped", 0) >= 5000 - lent, stats
    assert stats["rx_dropped"] == stats["drops"]["xdp_rx_dropped"] + stats["drops"].get("kernel_rx_dropped", 0)


def test_missing_interface_is_a_clear_error(lab, tmp_path):
    """p2's interface does not exist: exit 1 naming it, and p1, opened
    before, leaves no XDP program behind."""
    for short in ("app", "h1"):
        lab.add_ns(short)
    lab.veth("h1", "eth0", "app", "lan1", offloads=False)
    cfg = tmp_path / "x.yaml"
    cfg.write_text(f"version: 1\ncontrol_socket: {tmp_path}/s.sock\n"
                   "ports:\n  p1: {driver: af_xdp, interface: lan1}\n  p2: {driver: af_xdp, interface: vsnosuch0}\n")
    r = lab.exec("app", *VSWITCH, "run", str(cfg), check=False)
    assert r.returncode == 1
    assert "port 'p2': interface vsnosuch0: no such interface (check with: ip link show vsnosuch0)" in r.stderr
    assert not xdp_attached(lab, "app", "lan1")


def test_a_killed_appliance_leaves_no_xdp_program(lab, appliance):
    """The program is attached through a link owned by the process: SIGKILL
    (no clean-up code runs) detaches it too."""
    two_hosts(lab, offloads=False)
    app = appliance("""\
        version: 1
        workers: 1
        control_socket: {socket}
        ports:
          p1: {{driver: af_xdp, interface: lan1}}
        """)
    assert xdp_attached(lab, "app", "lan1")
    app.kill()
    deadline = time.monotonic() + 5   # the last reference goes when the kernel has reaped the process
    while xdp_attached(lab, "app", "lan1"):
        assert time.monotonic() < deadline, "still attached 5 s after SIGKILL"
        time.sleep(0.1)


def test_more_queues_than_the_interface_has_is_a_clear_error(lab, tmp_path):
    for short in ("app", "h1"):
        lab.add_ns(short)
    multiqueue_veth(lab, "h1", "eth0", "app", "lan1", queues=1)
    cfg = tmp_path / "x.yaml"
    cfg.write_text(f"version: 1\ncontrol_socket: {tmp_path}/s.sock\n"
                   "ports:\n  p1: {driver: af_xdp, interface: lan1, rx_queues: 2}\n")
    r = lab.exec("app", *VSWITCH, "run", str(cfg), check=False)
    assert r.returncode == 1
    assert "port 'p1': interface lan1: cannot bind rx queue 1" in r.stderr and "ethtool -l lan1" in r.stderr, r.stderr
    assert not xdp_attached(lab, "app", "lan1"), "nothing left behind"


PASS_PROGRAM = """
__attribute__((section("xdp"), used)) int pass(void *ctx) { return 2; }
char program_license[] __attribute__((section("license"), used)) = "GPL";
"""


def test_interface_in_use_is_a_clear_error(lab, appliance, tmp_path):
    """Another XDP program on the interface, or another vswitch on it: exit
    1 saying so, and what was there stays."""
    if not shutil.which("clang"):
        pytest.skip("clang (Makefile DEB_PACKAGES) is missing: no way to build the other XDP program")
    for short in ("app", "h1", "h2"):
        lab.add_ns(short)
    lab.veth("h1", "eth0", "app", "lan1", offloads=False)
    lab.veth("h2", "eth0", "app", "lan2", offloads=False)
    (tmp_path / "pass.c").write_text(PASS_PROGRAM)
    netlab.run("clang", "-O2", "-target", "bpf", "-c", str(tmp_path / "pass.c"), "-o", str(tmp_path / "pass.o"))
    lab.exec("app", "ip", "link", "set", "dev", "lan1", "xdpdrv", "obj", str(tmp_path / "pass.o"), "sec", "xdp")
    cfg = tmp_path / "x.yaml"
    head = f"version: 1\ncontrol_socket: {tmp_path}/s.sock\nports:\n"
    cfg.write_text(head + "  p1: {driver: af_xdp, interface: lan1}\n")
    r = lab.exec("app", *VSWITCH, "run", str(cfg), check=False)
    assert r.returncode == 1
    assert ("port 'p1': interface lan1: another XDP program is attached (see: ip link show lan1; "
            "remove it with: ip link set dev lan1 xdp off)") in r.stderr, r.stderr
    assert xdp_attached(lab, "app", "lan1"), "the other program stays"
    app = appliance("""\
        version: 1
        workers: 1
        control_socket: {socket}
        ports:
          p2: {{driver: af_xdp, interface: lan2}}
        """)
    cfg.write_text(head + "  q2: {driver: af_xdp, interface: lan2}\n")
    r = lab.exec("app", *VSWITCH, "run", str(cfg), check=False)
    assert r.returncode == 1
    assert "port 'q2': interface lan2: rx queue 0 is taken by another AF_XDP socket" in r.stderr, r.stderr
    assert app.proc.poll() is None and xdp_attached(lab, "app", "lan2"), "the first one runs on"
    app.stop()


def test_without_privileges_the_error_says_what_to_do():
    unprivileged = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if os.geteuid() != 0 or subprocess.run([*unprivileged, sys.executable, "-c", "import vswitch"], cwd=ROOT,
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root, setpriv and a checkout the nobody user can read")
    with tempfile.TemporaryDirectory(prefix="vswitch-noperm-") as work:  # /tmp: readable by nobody
        os.chmod(work, 0o755)
        cfg = os.path.join(work, "xdp.yaml")
        with open(cfg, "w") as f:
            f.write(f"version: 1\ncontrol_socket: {work}/s.sock\nports:\n  p1: {{driver: af_xdp, interface: lo}}\n")
        os.chmod(cfg, 0o644)
        r = subprocess.run([*unprivileged, *VSWITCH, "run", cfg], cwd=ROOT, capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 1
        fix = "not permitted; run as root or give CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF"
        assert fix in r.stderr, r.stderr
