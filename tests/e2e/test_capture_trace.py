"""`vswitch capture` and `vswitch trace` against a running appliance.

The appliance runs in its own namespace with an af_packet port `lan` (a
bridge member) whose veth peer sits in namespace `inj`, where the test puts
exact frames on the wire with a packet socket and reads what comes back.
The other bridge member `lan2` and the routed port `wan` are pcap ports
whose tx_pcap files (written at shutdown) say what left through them.
Three frames tell the story: one routed out of `wan`, one broadcast flooded
to `lan2`, one with TTL 1 (dropped; the appliance answers with an ICMP time
exceeded out of `lan`).  A fourth, with a bad IP checksum, is only traced.
"""
import json
import subprocess
import sys
import time

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from test_kernel_ports import ROOT, VSWITCH, appliance  # noqa: F401  (fixtures)

HOST_MAC = "02:00:00:00:00:10"
BR_MAC = "02:00:00:00:0a:01"
WAN_MAC = "02:00:00:00:01:01"
GW_MAC = "02:00:00:00:01:20"
CONFIG = """\
version: 1
workers: 1
control_socket: {socket}
ports:
  lan:  {{driver: af_packet, interface: lan}}
  lan2: {{driver: pcap, tx_pcap: lan2.pcap}}
  wan:  {{driver: pcap, tx_pcap: wan.pcap, addresses: [192.0.2.1/24], macaddress: "WAN_MAC"}}
bridges:
  br: {{interfaces: [lan, lan2], addresses: [10.0.1.1/24], macaddress: "BR_MAC"}}
neighbors:
  - {{ip: 192.0.2.20, macaddress: "GW_MAC", interface: wan}}
  - {{ip: 10.0.1.10, macaddress: "HOST_MAC", interface: br}}
""".replace("WAN_MAC", WAN_MAC).replace("BR_MAC", BR_MAC).replace("GW_MAC", GW_MAC).replace("HOST_MAC", HOST_MAC)


def frames():
    def udp(dst_mac, dst_ip, ttl, fill):
        return Ether(dst=dst_mac, src=HOST_MAC) / IP(src="10.0.1.10", dst=dst_ip, ttl=ttl) / \
            UDP(sport=1234, dport=5678) / (fill * 30)
    routed = bytes(udp(BR_MAC, "192.0.2.20", 64, b"r"))
    flooded = bytes(udp("ff:ff:ff:ff:ff:ff", "10.0.1.255", 64, b"f"))
    expiring = bytes(udp(BR_MAC, "192.0.2.20", 1, b"t"))
    bad = udp(BR_MAC, "192.0.2.20", 64, b"b")
    bad[IP].chksum = 0x1234
    return routed, flooded, expiring, bytes(bad)


# Sends the frames given in hex out of eth0, 50 ms apart, then prints (as
# JSON hex) every frame that arrives on eth0 within the next 1.5 s.
INJECT = """
import json, socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("eth0", 0))
for frame in sys.argv[1:]:
    s.send(bytes.fromhex(frame))
    time.sleep(0.05)
s.settimeout(0.1)
got, end = [], time.time() + 1.5
while time.time() < end:
    try:
        data, addr = s.recvfrom(65535)
    except socket.timeout:
        continue
    if addr[2] != socket.PACKET_OUTGOING:
        got.append(data.hex())
print(json.dumps(got))
"""


@pytest.fixture
def running(lab, appliance, tmp_path):  # noqa: F811  (pytest fixtures)
    for short in ("app", "inj"):
        lab.add_ns(short)
    lab.veth("app", "lan", "inj", "eth0")
    return appliance(CONFIG)


def inject(lab, *frames):
    r = lab.exec("inj", sys.executable, "-c", INJECT, *(f.hex() for f in frames), timeout=30)
    return [bytes.fromhex(h) for h in json.loads(r.stdout)]


def cli(app, *args):
    """A long-running CLI command against the appliance, started; returns once it says it is ready."""
    proc = subprocess.Popen([*VSWITCH, *args, "--socket", app.socket], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    assert line.startswith(("capturing on", "tracing the next")), line + proc.stderr.read()
    return proc


def finish(proc):
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return out


def test_capture_holds_exactly_the_frames_that_crossed_each_port(lab, running, tmp_path):
    routed, flooded, expiring, _ = frames()
    lan = cli(running, "capture", "lan", "-c", "4", "-w", str(tmp_path / "lan-cap.pcap"))
    wan = cli(running, "capture", "wan", "-c", "1", "-w", str(tmp_path / "wan-cap.pcap"))
    lan2 = cli(running, "capture", "lan2", "-c", "1", "-w", str(tmp_path / "lan2-cap.pcap"))
    back = inject(lab, routed, flooded, expiring)
    for proc in (lan, wan, lan2):
        assert "frames written to" in finish(proc)
    running.stop()  # the tx_pcap files are written at shutdown

    # lan: the three frames as received, then the one frame the host got back
    assert len(back) == 1, back
    icmp = Ether(back[0])
    assert icmp[IP].src == "10.0.1.1" and icmp[IP].dst == "10.0.1.10" and icmp[ICMP].type == 11, icmp.summary()
    assert [bytes(p) for p in rdpcap(str(tmp_path / "lan-cap.pcap"))] == [routed, flooded, expiring, back[0]]

    # wan and lan2: what the capture saw leave is what the port's own pcap got
    wan_sent = [bytes(p) for p in rdpcap(str(tmp_path / "wan.pcap"))]
    assert [bytes(p) for p in rdpcap(str(tmp_path / "wan-cap.pcap"))] == wan_sent
    out = Ether(wan_sent[0])
    assert (out.src, out.dst, out[IP].ttl, bytes(out[UDP].payload)) == (WAN_MAC, GW_MAC, 63, b"r" * 30)
    assert [bytes(p) for p in rdpcap(str(tmp_path / "lan2-cap.pcap"))] == \
        [bytes(p) for p in rdpcap(str(tmp_path / "lan2.pcap"))] == [flooded]


def test_capture_stops_on_ctrl_c_and_refuses_what_it_cannot_do(lab, running, tmp_path):
    proc = cli(running, "capture", "lan", "-w", str(tmp_path / "all.pcap"))
    routed, flooded, _, _ = frames()
    inject(lab, routed, flooded)
    time.sleep(0.3)
    proc.send_signal(2)  # SIGINT, as Ctrl-C
    assert "2 frames written to" in finish(proc)
    assert [bytes(p) for p in rdpcap(str(tmp_path / "all.pcap"))] == [routed, flooded]

    for args, message in ((["nope", "-w", "x.pcap"], "no port called 'nope'"),
                          (["lan", "-w", str(tmp_path / "no" / "dir.pcap")], "No such file or directory")):
        r = subprocess.run([*VSWITCH, "capture", *args, "--socket", running.socket], cwd=ROOT,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and message in r.stderr, r.stderr


def test_trace_names_every_decision(lab, running):
    routed, flooded, expiring, bad = frames()
    proc = cli(running, "trace", "-c", "4", "--json", "--timeout", "20")
    inject(lab, routed, flooded, expiring, bad)
    result = json.loads(finish(proc))
    assert result["lost"] == 0 and len(result["packets"]) == 4
    steps = [[s["text"] for s in pkt["steps"]] for pkt in result["packets"]]
    assert [pkt["frame"] for pkt in result["packets"]] == [f.hex() for f in (routed, flooded, expiring, bad)]

    head = [f"rx lan queue 0 len {len(routed)}", "classified: interface lan (member of bridge br)"]
    assert steps[0] == head + [
        f"mac learn {HOST_MAC} on lan: new",
        "l3: to the router MAC of br",
        "ipv4 10.0.1.10 > 192.0.2.20 ttl 64 len 58: header ok",
        steps[0][5],  # the adjacency number is the appliance's business
        f"adjacency: forward to {GW_MAC} on wan via 192.0.2.20",
        f"rewrite: ttl 64 -> 63, src MAC {WAN_MAC} dst MAC {GW_MAC}",
        "tx wan"]
    assert steps[0][5].startswith("fib: 192.0.2.20 matched 192.0.2.20/32 (neighbour), adjacency ")
    assert steps[1] == head + [
        f"mac learn {HOST_MAC} on lan: known",
        "mac lookup ff:ff:ff:ff:ff:ff in br: group address: flood",
        "flood in br to 1 member",
        "tx lan2"]
    assert steps[2][-3:] == ["adjacency: forward to 02:00:00:00:01:20 on wan via 192.0.2.20",
                             "drop: ttl_expired",
                             "icmp error (ttl_expired): handed to the control plane"]
    assert steps[3][-2:] == ["l3: to the router MAC of br", "drop: ip_bad_checksum"]
    assert result["packets"][0]["summary"].startswith(f"{HOST_MAC} > {BR_MAC}, IPv4 10.0.1.10 > 192.0.2.20 UDP")
    assert [p["drops"] for p in running.show("ports") if p["name"] == "lan"] == \
        [{"ttl_expired": 1, "ip_bad_checksum": 1}]


def test_trace_text_and_timeout(lab, running):
    routed = frames()[0]
    proc = cli(running, "trace", "-c", "2", "--timeout", "3")
    inject(lab, routed)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "1 of 2 packets traced" in err
    lines = out.splitlines()
    assert lines[0].startswith("Packet 1: worker 0, lan queue 0, ")
    assert lines[2] == f"   1  rx lan queue 0 len {len(routed)}"
    assert lines[-1] == "   9  tx wan"
