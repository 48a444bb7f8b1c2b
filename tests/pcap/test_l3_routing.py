"""Golden tests: IPv4 forwarding (SPEC.md "Forwarding behaviour", L3).

Routed ports, longest-prefix match, blackholes, route files, VLAN
sub-interfaces, IRB, and the RFC 1812 header checks with their counters."""
import struct

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Padding, Raw
from scapy.utils import checksum

from l3frames import (A_IP, A_MAC, B_MAC, BCAST, H1, H1_MAC, H2, H2_MAC, assert_silent, at, config, drops,
                      eth, ipv4_checksum_ok, neighbor, ok, pcap_port, routed, times, two_ports, udp_packet)


# ---- plain routing between two ports ----------------------------------------------

def test_routed_between_two_ports_rewrites_macs_and_decrements_ttl(offline):
    pkt = udp_packet(H1, H2, ttl=64, size=100)
    frame = at(1.0, eth(A_MAC, H1_MAC, pkt))
    run = ok(offline(two_ports(), {"a": [frame]}))
    out = run.sent("b")
    assert out == [routed(pkt, B_MAC, H2_MAC)]
    assert run.sent("a") == []
    got = Ether(out[0])
    assert got[IP].ttl == 63
    assert ipv4_checksum_ok(out[0])
    assert got[IP].chksum == IP(bytes(got[IP]))[IP].chksum  # scapy agrees the header checksum is right
    assert drops(run, "a") == {}
    assert run.port("a")["forwarded"] == 1
    assert run.port("b")["tx_packets"] == 1
    assert times(run, "b") == [1.0]


def test_routed_both_directions_and_several_ttls(offline):
    frames = []
    expected_b = []
    for i, ttl in enumerate((2, 17, 128, 255)):
        pkt = udp_packet(H1, H2, ttl=ttl, ident=i)
        frames.append(at(1.0 + i, eth(A_MAC, H1_MAC, pkt)))
        expected_b.append(routed(pkt, B_MAC, H2_MAC))
    back = udp_packet(H2, H1, ttl=9, size=300, tos=0xB8)
    run = ok(offline(two_ports(), {"a": frames, "b": [at(10.0, eth(B_MAC, H2_MAC, back))]}))
    assert run.sent("b") == expected_b
    assert run.sent("a") == [routed(back, A_MAC, H1_MAC)]
    for frame in expected_b + run.sent("a"):
        assert ipv4_checksum_ok(frame)


def test_checksum_update_with_carry_and_ip_options(offline):
    """Incremental checksum update (RFC 1624) must agree with a full recompute,
    also at the 0xffff/0x0000 edge and with options in the header."""
    frames, expected = [], []
    for ident in range(0, 0x10000, 0x0FFF):  # header checksums all over the range
        pkt = udp_packet(H1, H2, ttl=200, ident=ident)
        frames.append(at(1.0, eth(A_MAC, H1_MAC, pkt)))
        expected.append(routed(pkt, B_MAC, H2_MAC))
    opt = IP(src=H1, dst=H2, ttl=30, id=5, options=b"\x94\x04\x00\x00") / UDP(sport=1, dport=2) / Raw(b"o" * 30)
    frames.append(at(2.0, eth(A_MAC, H1_MAC, opt)))
    expected.append(routed(opt, B_MAC, H2_MAC))
    run = ok(offline(two_ports(), {"a": frames}))
    assert run.sent("b") == expected
    assert all(ipv4_checksum_ok(f) for f in run.sent("b"))


def test_ethernet_padding_is_trimmed(offline):
    """A short packet arrives padded to 60 bytes; it leaves as 14 + IP total length."""
    pkt = IP(src=H1, dst=H2, ttl=64, id=1) / UDP(sport=1, dport=2) / Raw(b"hi")  # 30 bytes of IP
    frame = Ether(dst=A_MAC, src=H1_MAC) / pkt / Padding(b"\xaa" * 16)
    assert len(bytes(frame)) == 60
    run = ok(offline(two_ports(), {"a": [at(1.0, frame)]}))
    out = run.sent("b")
    assert out == [routed(pkt, B_MAC, H2_MAC)]
    assert len(out[0]) == 14 + 30


def test_mtu_sized_packet_from_1500_port_is_routed(offline):
    pkt = udp_packet(H1, H2, size=1500, flags="DF")
    run = ok(offline(two_ports(), {"a": [at(1.0, eth(A_MAC, H1_MAC, pkt))]}))
    assert run.sent("b") == [routed(pkt, B_MAC, H2_MAC)]
    assert len(run.sent("b")[0]) == 1514


def test_no_arp_needed_with_static_neighbors(offline):
    run = ok(offline(two_ports(), {"a": [at(1.0, eth(A_MAC, H1_MAC, udp_packet(H1, H2)))]}))
    assert len(run.sent("b")) == 1 and run.sent("b")[0][12:14] == b"\x08\x00"
    neighbors = {n["ip"]: n for n in run.state["neighbors"]}
    assert neighbors[H2]["state"] == "static"
    assert neighbors[H2]["macaddress"] == H2_MAC
    assert neighbors[H2]["interface"] == "b"


# ---- longest-prefix match ---------------------------------------------------------

GW = {n: f"10.0.2.{n}" for n in range(2, 8)}
GW_MAC = {n: f"02:00:00:00:0f:{n:02x}" for n in range(2, 8)}

LPM_ROUTES = [
    {"to": "default", "via": GW[2]},
    {"to": "172.0.0.0/8", "via": GW[3]},
    {"to": "172.16.0.0/16", "via": GW[4]},
    {"to": "172.16.5.0/24", "via": GW[5]},
    {"to": "172.16.5.5/32", "via": GW[6]},
    {"to": "172.16.5.128/25", "via": GW[7]},
]


LPM_CASES = [
    ("8.8.8.8", 2), ("173.0.0.1", 2), ("172.255.0.1", 3), ("172.17.5.5", 3), ("172.16.0.1", 4),
    ("172.16.255.255", 4), ("172.16.4.5", 4), ("172.16.5.4", 5), ("172.16.5.5", 6), ("172.16.5.6", 5),
    ("172.16.5.127", 5), ("172.16.5.128", 7), ("172.16.5.255", 7), ("172.16.6.5", 4), ("171.255.255.255", 2),
]


def test_longest_prefix_match(offline):
    """/8, /16, /24, /25, /32 and default overlapping: each packet takes the longest match."""
    neighbors = [neighbor(GW[n], GW_MAC[n], "b") for n in GW]
    pkts = [udp_packet(H1, dst, ident=i) for i, (dst, _) in enumerate(LPM_CASES)]
    run = ok(offline(two_ports(routes=LPM_ROUTES, extra_neighbors=neighbors),
                     {"a": [at(1.0 + i, eth(A_MAC, H1_MAC, p)) for i, p in enumerate(pkts)]}))
    assert run.sent("b") == [routed(p, B_MAC, GW_MAC[gw]) for p, (_, gw) in zip(pkts, LPM_CASES)]
    assert drops(run, "a") == {}


def test_longest_prefix_match_many_in_one_run(offline):
    """Routes on two egress ports, connected routes and host routes in one table."""
    neighbors = [neighbor(GW[n], GW_MAC[n], "b") for n in GW] + [neighbor("10.0.3.9", "02:00:00:00:03:09", "c")]
    routes = LPM_ROUTES + [{"to": "172.16.9.0/24", "via": "10.0.3.9"}, {"to": "10.0.0.0/8", "via": GW[3]}]
    cfg = two_ports(routes=routes, extra_neighbors=neighbors,
                    extra_ports={"c": pcap_port("c", ["10.0.3.1/24"], "02:00:00:00:03:01")})
    cases = [("172.16.9.1", "c", "02:00:00:00:03:09"), ("172.16.5.5", "b", GW_MAC[6]),
             ("10.0.2.20", "b", H2_MAC), ("10.9.9.9", "b", GW_MAC[3]), ("10.0.3.9", "c", "02:00:00:00:03:09"),
             ("1.2.3.4", "b", GW_MAC[2])]
    frames, expected = [], {"b": [], "c": [], "a": []}
    for i, (dst, port, mac) in enumerate(cases):
        pkt = udp_packet(H1, dst, ident=i)
        frames.append(at(1.0 + i, eth(A_MAC, H1_MAC, pkt)))
        expected[port].append(routed(pkt, {"b": B_MAC, "c": "02:00:00:00:03:01"}[port], mac))
    run = ok(offline(cfg, {"a": frames}))
    assert {p: run.sent(p) for p in "abc"} == expected
    assert drops(run, "a") == {}


# ---- blackhole and route files ------------------------------------------------------

def test_blackhole_is_a_silent_drop(offline):
    routes = [{"to": "default", "via": GW[2]}, {"to": "203.0.113.0/24", "type": "blackhole"},
              {"to": "198.51.100.0/24", "via": GW[3]}, {"to": "198.51.100.64/26", "type": "blackhole"}]
    neighbors = [neighbor(GW[2], GW_MAC[2], "b"), neighbor(GW[3], GW_MAC[3], "b")]
    hole1 = udp_packet(H1, "203.0.113.7")
    hole2 = udp_packet(H1, "198.51.100.70", ttl=1)  # blackholed before any TTL check: no ICMP either
    through = udp_packet(H1, "198.51.100.7")
    run = ok(offline(two_ports(routes=routes, extra_neighbors=neighbors), {"a": [
        at(1.0, eth(A_MAC, H1_MAC, hole1)), at(2.0, eth(A_MAC, H1_MAC, hole2)),
        at(3.0, eth(A_MAC, H1_MAC, through))]}))
    assert run.sent("b") == [routed(through, B_MAC, GW_MAC[3])]
    assert run.sent("a") == []  # no ICMP about blackholed packets
    assert drops(run, "a") == {"blackhole": 2}
    assert run.port("a")["rx_dropped"] == 2


def test_routes_from_route_files(offline, tmp_path):
    (tmp_path / "table.txt").write_text(
        "# a small table\n"
        "192.168.0.0/16 10.0.2.2\n"
        "\n"
        "192.168.7.0/24 blackhole   # hole inside\n"
        "192.168.7.7/32 10.0.2.3\n"
        "100.64.0.0/10 10.0.2.3\n")
    neighbors = [neighbor(GW[2], GW_MAC[2], "b"), neighbor(GW[3], GW_MAC[3], "b")]
    cases = [("192.168.1.1", GW_MAC[2]), ("192.168.7.1", None), ("192.168.7.7", GW_MAC[3]),
             ("100.127.255.254", GW_MAC[3])]
    frames, expected = [], []
    for i, (dst, mac) in enumerate(cases):
        pkt = udp_packet(H1, dst, ident=i)
        frames.append(at(1.0 + i, eth(A_MAC, H1_MAC, pkt)))
        if mac:
            expected.append(routed(pkt, B_MAC, mac))
    run = ok(offline(two_ports(route_files=["table.txt"], extra_neighbors=neighbors), {"a": frames}))
    assert run.sent("b") == expected
    assert run.sent("a") == []
    assert drops(run, "a") == {"blackhole": 1}
    routes = {r["to"]: r for r in run.state["routes"]}
    assert routes["192.168.0.0/16"]["via"] == GW[2]
    assert routes["192.168.7.0/24"]["type"] == "blackhole"


# ---- VLAN sub-interfaces ------------------------------------------------------------

T_MAC = "02:00:00:00:0b:01"       # the trunk port's MAC, inherited by trunk.10
T20_MAC = "02:00:00:00:0b:20"     # trunk.20 has its own
V10_HOST, V10_MAC = "10.0.10.5", "02:00:00:00:10:05"
V20_HOST, V20_MAC = "10.0.20.5", "02:00:00:00:20:05"


def vlan_config():
    return config(
        {"a": pcap_port("a", [A_IP + "/24"], A_MAC), "trunk": pcap_port("trunk", mac=T_MAC)},
        vlans={"trunk.10": {"link": "trunk", "id": 10, "addresses": ["10.0.10.1/24"]},
               "trunk.20": {"link": "trunk", "id": 20, "addresses": ["10.0.20.1/24"], "macaddress": T20_MAC}},
        neighbors=[neighbor(H1, H1_MAC, "a"), neighbor(V10_HOST, V10_MAC, "trunk.10"),
                   neighbor(V20_HOST, V20_MAC, "trunk.20")])


def test_vlan_to_vlan_keeps_pcp(offline):
    pkt = udp_packet(V10_HOST, V20_HOST)
    frame = at(1.0, eth(T_MAC, V10_MAC, pkt, vlan=10, pcp=5))
    run = ok(offline(vlan_config(), {"trunk": [frame]}))
    assert run.sent("trunk") == [routed(pkt, T20_MAC, V20_MAC, vlan=20, pcp=5)]
    assert run.sent("a") == []


def test_untagged_to_vlan_pushes_tag_with_pcp_0(offline):
    pkt = udp_packet(H1, V10_HOST, tos=0xE0)
    run = ok(offline(vlan_config(), {"a": [at(1.0, eth(A_MAC, H1_MAC, pkt))]}))
    assert run.sent("trunk") == [routed(pkt, T_MAC, V10_MAC, vlan=10, pcp=0)]


def test_vlan_to_untagged_port_pops_tag(offline):
    pkt = udp_packet(V20_HOST, H1, size=200)
    run = ok(offline(vlan_config(), {"trunk": [at(1.0, eth(T20_MAC, V20_MAC, pkt, vlan=20, pcp=3))]}))
    assert run.sent("a") == [routed(pkt, A_MAC, H1_MAC)]
    assert run.sent("trunk") == []


def test_vlan_router_mac_is_per_subinterface(offline):
    """trunk.20 answers only on its own MAC; the link's MAC on VLAN 20 is not ours there."""
    pkt = udp_packet(V20_HOST, H1)
    run = ok(offline(vlan_config(), {"trunk": [at(1.0, eth(T_MAC, V20_MAC, pkt, vlan=20))]}))
    assert_silent(run, ["a", "trunk"])
    assert drops(run, "trunk") == {"l3_not_for_us": 1}


def test_hairpin_back_out_of_the_ingress_port(offline):
    h11, h11_mac = "10.0.1.11", "02:00:00:00:01:11"
    pkt = udp_packet(H1, h11)
    run = ok(offline(two_ports(extra_neighbors=[neighbor(h11, h11_mac, "a")]),
                     {"a": [at(1.0, eth(A_MAC, H1_MAC, pkt))]}))
    assert run.sent("a") == [routed(pkt, A_MAC, h11_mac)]
    assert run.sent("b") == []


# ---- IRB: a bridge with addresses ----------------------------------------------------

BR_MAC, BR_IP = "02:00:00:00:03:01", "10.0.3.1"
H3, H3_MAC = "10.0.3.30", "02:00:00:00:03:30"
H4, H4_MAC = "10.0.3.40", "02:00:00:00:03:40"


def irb_config():
    return config(
        {"a": pcap_port("a", [A_IP + "/24"], A_MAC), "m1": pcap_port("m1"), "m2": pcap_port("m2"),
         "m3": pcap_port("m3")},
        bridges={"br0": {"interfaces": ["m1", "m2", "m3"], "addresses": [BR_IP + "/24"], "macaddress": BR_MAC}},
        neighbors=[neighbor(H1, H1_MAC, "a"), neighbor(H3, H3_MAC, "br0"), neighbor(H4, H4_MAC, "br0")])


def test_irb_member_to_routed_port(offline):
    pkt = udp_packet(H3, H1)
    run = ok(offline(irb_config(), {"m1": [at(1.0, eth(BR_MAC, H3_MAC, pkt))]}))
    assert run.sent("a") == [routed(pkt, A_MAC, H1_MAC)]
    assert_silent(run, ["m1", "m2", "m3"])  # routed, not bridged
    assert [m["mac"] for m in run.state["macs"]] == [H3_MAC]


def test_irb_routed_into_bridge_known_mac_goes_to_one_member(offline):
    learn = udp_packet(H3, H1, ident=1)
    pkt = udp_packet(H1, H3, ident=2, size=400)
    run = ok(offline(irb_config(), {"m2": [at(1.0, eth(BR_MAC, H3_MAC, learn))],
                                    "a": [at(2.0, eth(A_MAC, H1_MAC, pkt))]}))
    assert run.sent("m2") == [routed(pkt, BR_MAC, H3_MAC)]
    assert run.sent("m1") == [] and run.sent("m3") == []
    assert run.sent("a") == [routed(learn, A_MAC, H1_MAC)]


def test_irb_routed_into_bridge_unknown_mac_is_flooded_to_all_members(offline):
    pkt = udp_packet(H1, H4)
    run = ok(offline(irb_config(), {"a": [at(1.0, eth(A_MAC, H1_MAC, pkt))]}))
    want = routed(pkt, BR_MAC, H4_MAC)
    assert {m: run.sent(m) for m in ("m1", "m2", "m3")} == {"m1": [want], "m2": [want], "m3": [want]}
    assert run.sent("a") == []


def test_irb_hairpin_member_to_member_through_the_router(offline):
    """H3 (m1) sends to the router MAC for H4 (m3, learned): routed back into the bridge."""
    learn = at(1.0, eth(BCAST, H4_MAC, udp_packet(H4, "10.0.3.255")))
    pkt = udp_packet(H3, H4)
    run = ok(offline(irb_config(), {"m3": [learn], "m1": [at(2.0, eth(BR_MAC, H3_MAC, pkt))]}))
    assert run.sent("m3") == [routed(pkt, BR_MAC, H4_MAC)]
    assert run.sent("m2") == [bytes(learn)]   # the broadcast that taught the bridge where H4 is
    assert run.sent("m1") == [bytes(learn)]
    assert run.sent("a") == []


def test_irb_vlan_member(offline):
    """A vlan sub-interface as bridge member: routed frames into the bridge get its tag."""
    cfg = config(
        {"a": pcap_port("a", [A_IP + "/24"], A_MAC), "t": pcap_port("t"), "m2": pcap_port("m2")},
        vlans={"t.30": {"link": "t", "id": 30}},
        bridges={"br0": {"interfaces": ["t.30", "m2"], "addresses": [BR_IP + "/24"], "macaddress": BR_MAC}},
        neighbors=[neighbor(H1, H1_MAC, "a"), neighbor(H4, H4_MAC, "br0")])
    up = udp_packet(H4, H1, ident=1)
    down = udp_packet(H1, H4, ident=2)
    run = ok(offline(cfg, {"t": [at(1.0, eth(BR_MAC, H4_MAC, up, vlan=30, pcp=2))],
                           "a": [at(2.0, eth(A_MAC, H1_MAC, down))]}))
    assert run.sent("a") == [routed(up, A_MAC, H1_MAC)]
    assert run.sent("t") == [routed(down, BR_MAC, H4_MAC, vlan=30, pcp=0)]
    assert run.sent("m2") == []


def test_irb_bridged_traffic_still_bridged(offline):
    """A frame between two members (not to the router MAC) stays L2: not routed, TTL untouched."""
    learn = at(1.0, eth(BCAST, H4_MAC, udp_packet(H4, "10.0.3.255")))
    pkt = udp_packet(H3, H4)
    frame = at(2.0, eth(H4_MAC, H3_MAC, pkt))
    run = ok(offline(irb_config(), {"m3": [learn], "m1": [frame]}))
    assert run.sent("m3") == [bytes(frame)]
    assert run.sent("a") == []


# ---- RFC 1812 header checks and other L3 drops -----------------------------------------

def good_ip(**kw):
    return bytearray(bytes(udp_packet(H1, H2, **kw)))


def with_checksum(raw):
    raw = bytearray(raw)
    hlen = (raw[0] & 0xF) * 4
    raw[10:12] = b"\0\0"
    raw[10:12] = struct.pack("!H", checksum(bytes(raw[:hlen])))
    return bytes(raw)


def _truncated_header():
    return bytes(good_ip())[:12]


def _options_cut():
    raw = good_ip(size=40)
    raw[0] = 0x4F  # 60-byte header in a 40-byte packet (frame not padded)
    return bytes(raw)


def _bad_version():
    raw = good_ip()
    raw[0] = 0x65
    return with_checksum(raw)


def _ihl(n):
    raw = good_ip()
    raw[0] = 0x40 | n
    return with_checksum(raw)


def _total_length(n):
    raw = good_ip()
    raw[2:4] = struct.pack("!H", n)
    return with_checksum(raw)


def _bad_checksum():
    raw = bytearray(with_checksum(good_ip()))
    raw[10] ^= 0x01
    return bytes(raw)


HEADER_CASES = {
    "truncated_12_bytes": (_truncated_header, "ip_truncated"),
    "ihl_beyond_frame": (_options_cut, "ip_truncated"),
    "version_6": (_bad_version, "ip_bad_version"),
    "ihl_4": (_ihl, "ip_bad_ihl"),
    "ihl_0": (lambda: _ihl(0), "ip_bad_ihl"),
    "total_length_beyond_frame": (lambda: _total_length(61), "ip_bad_length"),
    "total_length_below_header": (lambda: _total_length(19), "ip_bad_length"),
    "total_length_zero": (lambda: _total_length(0), "ip_bad_length"),
    "bad_checksum": (_bad_checksum, "ip_bad_checksum"),
}


@pytest.mark.parametrize("case", HEADER_CASES)
def test_rfc1812_header_check(offline, case):
    make, reason = HEADER_CASES[case]
    ip = make() if case != "ihl_4" else make(4)
    frame = at(1.0, Ether(dst=A_MAC, src=H1_MAC, type=0x0800) / Raw(ip))
    run = ok(offline(two_ports(), {"a": [frame]}))
    assert_silent(run, ["a", "b"])
    assert drops(run, "a") == {reason: 1}
    assert run.port("a")["rx_dropped"] == 1
    assert run.port("a")["rx_packets"] == 1


def test_total_length_within_padding_is_fine(offline):
    """Total length shorter than the frame (padding) is legal; the padding goes."""
    pkt = udp_packet(H1, H2, size=40)
    frame = Ether(dst=A_MAC, src=H1_MAC) / pkt / Padding(b"\0" * 6)
    run = ok(offline(two_ports(), {"a": [at(1.0, frame)]}))
    assert run.sent("b") == [routed(pkt, B_MAC, H2_MAC)]


def test_unicast_to_another_mac_on_routed_port(offline):
    frame = at(1.0, eth("02:00:00:00:99:99", H1_MAC, udp_packet(H1, H2)))
    run = ok(offline(two_ports(), {"a": [frame]}))
    assert_silent(run, ["a", "b"])
    assert drops(run, "a") == {"l3_not_for_us": 1}


def test_unsupported_ethertype_to_router_mac(offline):
    frames = [at(1.0, Ether(dst=A_MAC, src=H1_MAC, type=0x86DD) / Raw(b"\x60" + b"\0" * 59)),
              at(2.0, Ether(dst=A_MAC, src=H1_MAC, type=0x88B5) / Raw(b"x" * 46))]
    run = ok(offline(two_ports(), {"a": frames}))
    assert_silent(run, ["a", "b"])
    assert drops(run, "a") == {"l3_unsupported_ethertype": 2}


@pytest.mark.parametrize("dst_ip", ["224.0.0.5", "239.1.2.3", "233.252.0.1"])
def test_multicast_destination_ip_dropped(offline, dst_ip):
    run = ok(offline(two_ports(), {"a": [at(1.0, eth(A_MAC, H1_MAC, udp_packet(H1, dst_ip)))]}))
    assert_silent(run, ["a", "b"])
    assert drops(run, "a") == {"l3_multicast": 1}


def test_multicast_mac_dropped(offline):
    run = ok(offline(two_ports(), {"a": [at(1.0, eth("01:00:5e:00:00:05", H1_MAC, udp_packet(H1, "224.0.0.5")))]}))
    assert_silent(run, ["a", "b"])
    assert drops(run, "a") == {"l3_multicast": 1}


@pytest.mark.parametrize("dst_ip, dst_mac", [
    ("255.255.255.255", A_MAC),          # limited broadcast to our MAC
    ("255.255.255.255", BCAST),          # limited broadcast, broadcast MAC
    ("10.0.2.255", A_MAC),               # directed broadcast of another connected subnet
    ("10.0.1.255", BCAST),               # broadcast on the local subnet
])
def test_broadcast_destination_dropped(offline, dst_ip, dst_mac):
    run = ok(offline(two_ports(), {"a": [at(1.0, eth(dst_mac, H1_MAC, udp_packet(H1, dst_ip)))]}))
    assert_silent(run, ["a", "b"])
    assert drops(run, "a") == {"l3_broadcast": 1}


def test_l3_drops_do_not_stop_later_traffic(offline):
    """A mix of bad frames and one good one: only the good one comes out, each drop named."""
    good = udp_packet(H1, H2, ident=99)
    frames = [at(1.0, Ether(dst=A_MAC, src=H1_MAC, type=0x0800) / Raw(_bad_checksum())),
              at(1.1, Ether(dst=A_MAC, src=H1_MAC, type=0x0800) / Raw(_bad_version())),
              at(1.2, Ether(dst=A_MAC, src=H1_MAC, type=0x0800) / Raw(b"\x45")),
              at(1.3, eth(A_MAC, H1_MAC, udp_packet(H1, "239.0.0.1"))),
              at(1.4, eth(A_MAC, H1_MAC, good))]
    run = ok(offline(two_ports(), {"a": frames}))
    assert run.sent("b") == [routed(good, B_MAC, H2_MAC)]
    assert drops(run, "a") == {"ip_bad_checksum": 1, "ip_bad_version": 1, "ip_truncated": 1, "l3_multicast": 1}
    assert run.port("a")["rx_packets"] == 5
