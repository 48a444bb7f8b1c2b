"""Golden tests: ICMP the router originates (SPEC.md "Forwarding behaviour", L3).

Time exceeded, net unreachable, fragmentation needed (with their exact
format, the 576-byte cap and the rate limit), the cases where no error may
be sent, and echo replies for every one of our addresses."""
import struct

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Padding, Raw

from l3frames import (A_IP, A_MAC, B_IP, B_MAC, H1, H1_MAC, H2, H2_MAC, arp_reply_frame, at, config, drops,
                      echo_reply, echo_request, eth, icmp_checksum_ok, icmp_error, ip_bytes, ipv4_checksum_ok,
                      neighbor, ok, our_arp_request, pcap_port, routed, times, two_ports, udp_packet)


def from_h1(pkt, t=1.0):
    return at(t, eth(A_MAC, H1_MAC, pkt))


# ---- TTL expiry -------------------------------------------------------------------

@pytest.mark.parametrize("ttl", [1, 0])
def test_ttl_expired_sends_time_exceeded(offline, ttl):
    pkt = udp_packet(H1, H2, ttl=ttl)
    run = ok(offline(two_ports(), {"a": [from_h1(pkt, 5.25)]}))
    out = run.sent("a")
    assert out == [icmp_error(pkt, 11, 0, A_IP, H1, H1_MAC, A_MAC)]
    assert run.sent("b") == []
    assert drops(run, "a") == {"ttl_expired": 1}
    assert times(run, "a") == [5.25]  # the timestamp of the frame that caused it
    assert ipv4_checksum_ok(out[0]) and icmp_checksum_ok(out[0])


def test_time_exceeded_fields_byte_by_byte(offline):
    """The same check without scapy's help for the ICMP error itself."""
    pkt = udp_packet(H1, H2, ttl=1, size=100, tos=0x10, ident=0xBEEF)
    run = ok(offline(two_ports(), {"a": [from_h1(pkt)]}))
    (frame,) = run.sent("a")
    original = ip_bytes(pkt)
    assert frame[0:6] == bytes.fromhex("020000000110") and frame[6:12] == bytes.fromhex("020000000101")
    assert frame[12:14] == b"\x08\x00"
    ip = frame[14:34]
    assert ip[0] == 0x45 and ip[1] == 0                                   # ihl 5, tos 0
    assert struct.unpack("!H", ip[2:4])[0] == 20 + 8 + len(original)
    assert ip[4:6] == b"\0\0" and ip[6:8] == b"\0\0"                     # id 0, flags/frag 0
    assert ip[8] == 64 and ip[9] == 1                                    # TTL 64, ICMP
    assert ip[12:16] == bytes([10, 0, 1, 1]) and ip[16:20] == bytes([10, 0, 1, 10])
    icmp = frame[34:34 + 8 + len(original)]
    assert icmp[0:2] == b"\x0b\x00" and icmp[4:8] == b"\0\0\0\0"
    assert icmp[8:] == original                                          # TTL still 1: as received
    assert len(frame) == 14 + 20 + 8 + len(original)


def test_ttl_1_to_our_own_address_is_answered(offline):
    req = echo_request(H1, A_IP, ttl=1)
    run = ok(offline(two_ports(), {"a": [from_h1(req)]}))
    assert run.sent("a") == [echo_reply(A_IP, H1, H1_MAC, A_MAC)]
    assert drops(run, "a") == {}


def test_ttl_2_is_forwarded(offline):
    pkt = udp_packet(H1, H2, ttl=2)
    run = ok(offline(two_ports(), {"a": [from_h1(pkt)]}))
    assert run.sent("b") == [routed(pkt, B_MAC, H2_MAC)]
    assert run.sent("a") == []


def test_icmp_error_quote_excludes_ethernet_padding(offline):
    pkt = IP(src=H1, dst=H2, ttl=1, id=3) / UDP(sport=1, dport=2) / Raw(b"abc")  # 31 bytes
    frame = Ether(dst=A_MAC, src=H1_MAC) / pkt / Padding(b"\xee" * 15)
    run = ok(offline(two_ports(), {"a": [at(1.0, frame)]}))
    want = icmp_error(pkt, 11, 0, A_IP, H1, H1_MAC, A_MAC)
    assert len(want) == 14 + 20 + 8 + 31
    assert run.sent("a") == [want]


def test_icmp_error_is_padded_to_60(offline):
    """A tiny original (20-byte IP header only) makes a 48-byte IP datagram: padded to 60."""
    pkt = IP(src=H1, dst=H2, ttl=1, id=3, proto=253)
    run = ok(offline(two_ports(), {"a": [from_h1(pkt)]}))
    want = icmp_error(pkt, 11, 0, A_IP, H1, H1_MAC, A_MAC)
    assert len(want) == 62  # 14 + 20 + 8 + 20 is over 60 already
    assert run.sent("a") == [want]


def test_icmp_error_quote_is_cut_to_576(offline):
    pkt = udp_packet(H1, H2, ttl=1, size=1400)
    run = ok(offline(two_ports(), {"a": [from_h1(pkt)]}))
    (frame,) = run.sent("a")
    assert frame == icmp_error(pkt, 11, 0, A_IP, H1, H1_MAC, A_MAC)
    assert len(frame) == 14 + 576
    assert struct.unpack("!H", frame[16:18])[0] == 576
    assert frame[14 + 28:] == ip_bytes(pkt)[:548]
    assert icmp_checksum_ok(frame)


def test_icmp_error_original_of_exactly_548_is_not_cut(offline):
    pkt = udp_packet(H1, H2, ttl=1, size=548)
    run = ok(offline(two_ports(), {"a": [from_h1(pkt)]}))
    (frame,) = run.sent("a")
    assert len(frame) == 14 + 576
    assert frame[14 + 28:] == ip_bytes(pkt)


def test_icmp_error_source_is_the_ingress_address_on_the_senders_subnet(offline):
    """Port a has two subnets; the error comes from the one holding the sender."""
    h9, h9_mac = "10.0.9.50", "02:00:00:00:09:50"
    cfg = two_ports(a_addresses=(A_IP + "/24", "10.0.9.1/24"), extra_neighbors=[neighbor(h9, h9_mac, "a")])
    pkt1 = udp_packet(h9, H2, ttl=1, ident=1)
    pkt2 = udp_packet(H1, H2, ttl=1, ident=2)
    run = ok(offline(cfg, {"a": [at(1.0, eth(A_MAC, h9_mac, pkt1)), at(2.0, eth(A_MAC, H1_MAC, pkt2))]}))
    assert run.sent("a") == [icmp_error(pkt1, 11, 0, "10.0.9.1", h9, h9_mac, A_MAC),
                             icmp_error(pkt2, 11, 0, A_IP, H1, H1_MAC, A_MAC)]


def test_icmp_error_from_ingress_interface_not_egress(offline):
    """Arrived on b, bound for a: the error comes from b's address, out of b."""
    pkt = udp_packet(H2, H1, ttl=1)
    run = ok(offline(two_ports(), {"b": [at(1.0, eth(B_MAC, H2_MAC, pkt))]}))
    assert run.sent("b") == [icmp_error(pkt, 11, 0, B_IP, H2, H2_MAC, B_MAC)]
    assert run.sent("a") == []
    assert drops(run, "b") == {"ttl_expired": 1}


def test_icmp_error_for_remote_sender_goes_through_the_fib(offline):
    """Source behind a gateway on b: the error is routed to the gateway's MAC;
    its source is b's address (the first one: no subnet of b holds the sender)."""
    gw, gw_mac = "10.0.2.254", "02:00:00:00:02:fe"
    cfg = two_ports(routes=[{"to": "198.51.100.0/24", "via": gw}], extra_neighbors=[neighbor(gw, gw_mac, "b")])
    pkt = udp_packet("198.51.100.9", H1, ttl=1)
    run = ok(offline(cfg, {"b": [at(1.0, eth(B_MAC, gw_mac, pkt))]}))
    assert run.sent("b") == [icmp_error(pkt, 11, 0, B_IP, "198.51.100.9", gw_mac, B_MAC)]


def test_icmp_error_to_unresolved_sender_waits_for_arp(offline):
    """No static neighbour for the sender: the error is sent once ARP resolves it."""
    h5, h5_mac = "10.0.1.55", "02:00:00:00:01:55"
    pkt = udp_packet(h5, H2, ttl=1)
    run = ok(offline(two_ports(), {"a": [at(1.0, eth(A_MAC, h5_mac, pkt)),
                                         at(1.5, arp_reply_frame(h5_mac, h5, A_MAC, A_IP))]}))
    assert run.frames("a") == [(1.0, our_arp_request(A_MAC, A_IP, h5)),
                               (1.5, icmp_error(pkt, 11, 0, A_IP, h5, h5_mac, A_MAC))]


# ---- no route ----------------------------------------------------------------------

def test_no_route_sends_net_unreachable(offline):
    pkt = udp_packet(H1, "192.0.2.77", size=120)
    run = ok(offline(two_ports(), {"a": [from_h1(pkt, 3.5)]}))
    assert run.frames("a") == [(3.5, icmp_error(pkt, 3, 0, A_IP, H1, H1_MAC, A_MAC))]
    assert run.sent("b") == []
    assert drops(run, "a") == {"no_route": 1}


def test_no_route_checked_before_ttl(offline):
    """No route and TTL 1: the route lookup comes first (RFC 1812 5.2.x order is the
    implementation's; SPEC only needs one error and one counter)."""
    pkt = udp_packet(H1, "192.0.2.77", ttl=1)
    run = ok(offline(two_ports(), {"a": [from_h1(pkt)]}))
    assert len(run.sent("a")) == 1
    assert sum(drops(run, "a").values()) == 1


# ---- MTU ---------------------------------------------------------------------------

def test_df_too_big_sends_frag_needed_with_next_hop_mtu(offline):
    pkt = udp_packet(H1, H2, size=1001, flags="DF")
    run = ok(offline(two_ports(b_mtu=1000), {"a": [from_h1(pkt, 2.0)]}))
    (frame,) = run.sent("a")
    assert frame == icmp_error(pkt, 3, 4, A_IP, H1, H1_MAC, A_MAC, mtu=1000)
    assert frame[34:42] == bytes([3, 4]) + frame[36:38] + b"\0\0" + struct.pack("!H", 1000)
    assert len(frame) == 14 + 576
    assert run.sent("b") == []
    assert drops(run, "a") == {"frag_needed": 1}
    assert times(run, "a") == [2.0]


def test_df_clear_too_big_is_dropped_silently(offline):
    pkt = udp_packet(H1, H2, size=1400)
    run = ok(offline(two_ports(b_mtu=1000), {"a": [from_h1(pkt)]}))
    assert run.sent("a") == [] and run.sent("b") == []
    assert drops(run, "a") == {"mtu_exceeded": 1}


@pytest.mark.parametrize("flags", ["DF", 0])
def test_exactly_mtu_sized_passes(offline, flags):
    pkt = udp_packet(H1, H2, size=1000, flags=flags)
    run = ok(offline(two_ports(b_mtu=1000), {"a": [from_h1(pkt)]}))
    assert run.sent("b") == [routed(pkt, B_MAC, H2_MAC)]
    assert run.sent("a") == []
    assert drops(run, "a") == {}


def test_frag_needed_mtu_of_a_vlan_egress(offline):
    """A vlan inherits its link's MTU."""
    cfg = config({"a": pcap_port("a", [A_IP + "/24"], A_MAC), "t": pcap_port("t", mac=B_MAC, mtu=600)},
                 vlans={"t.7": {"link": "t", "id": 7, "addresses": [B_IP + "/24"]}},
                 neighbors=[neighbor(H1, H1_MAC, "a"), neighbor(H2, H2_MAC, "t.7")])
    big = udp_packet(H1, H2, size=601, flags="DF", ident=1)
    fits = udp_packet(H1, H2, size=600, flags="DF", ident=2)
    run = ok(offline(cfg, {"a": [from_h1(big, 1.0), from_h1(fits, 2.0)]}))
    assert run.sent("a") == [icmp_error(big, 3, 4, A_IP, H1, H1_MAC, A_MAC, mtu=600)]
    assert run.sent("t") == [routed(fits, B_MAC, H2_MAC, vlan=7)]


# ---- when no ICMP error may be sent --------------------------------------------------

def test_no_error_about_an_icmp_error(offline):
    inner = udp_packet(H2, "10.0.7.7")
    for_error = IP(src=H1, dst=H2, ttl=1, id=9) / ICMP(type=11, code=0) / Raw(ip_bytes(inner)[:28])
    unreach = IP(src=H1, dst=H2, ttl=1, id=10) / ICMP(type=3, code=1) / Raw(ip_bytes(inner)[:28])
    echo = echo_request(H1, H2, ttl=1)  # not an error: this one gets a time exceeded
    run = ok(offline(two_ports(), {"a": [from_h1(for_error, 1.0), from_h1(unreach, 2.0), from_h1(echo, 3.0)]}))
    assert run.sent("a") == [icmp_error(echo, 11, 0, A_IP, H1, H1_MAC, A_MAC)]
    assert drops(run, "a") == {"ttl_expired": 3}


def test_no_error_about_non_first_fragments(offline):
    later = udp_packet(H1, H2, ttl=1, frag=100, ident=1)
    last = udp_packet(H1, H2, ttl=1, frag=185, flags="MF", ident=2)
    first = udp_packet(H1, H2, ttl=1, frag=0, flags="MF", ident=3)
    run = ok(offline(two_ports(), {"a": [from_h1(later, 1.0), from_h1(last, 2.0), from_h1(first, 3.0)]}))
    assert run.sent("a") == [icmp_error(first, 11, 0, A_IP, H1, H1_MAC, A_MAC)]
    assert drops(run, "a") == {"ttl_expired": 3}


def test_no_net_unreachable_about_non_first_fragments(offline):
    later = udp_packet(H1, "192.0.2.1", frag=64)
    first = udp_packet(H1, "192.0.2.1", flags="MF")
    run = ok(offline(two_ports(), {"a": [from_h1(later, 1.0), from_h1(first, 2.0)]}))
    assert run.sent("a") == [icmp_error(first, 3, 0, A_IP, H1, H1_MAC, A_MAC)]
    assert drops(run, "a") == {"no_route": 2}


@pytest.mark.parametrize("src", ["0.0.0.0", "255.255.255.255", "224.0.0.1", "239.255.0.1", "10.0.1.255"])
def test_no_error_about_packets_from_non_unicast_sources(offline, src):
    """With a default route in place an error to these sources would have a way out: none may go."""
    gw, gw_mac = "10.0.2.254", "02:00:00:00:02:fe"
    cfg = two_ports(b_mtu=1000, routes=[{"to": "default", "via": gw}], extra_neighbors=[neighbor(gw, gw_mac, "b")])
    expired = udp_packet(src, H2, ttl=1, ident=1)
    too_big = udp_packet(src, H2, size=1200, flags="DF", ident=2)
    run = ok(offline(cfg, {"a": [from_h1(expired, 1.0), from_h1(too_big, 2.0)]}))
    assert run.sent("a") == [] and run.sent("b") == []
    assert drops(run, "a") == {"ttl_expired": 1, "frag_needed": 1}


def test_no_net_unreachable_about_packets_from_non_unicast_sources(offline):
    pkts = [udp_packet(src, "192.0.2.1", ident=i)
            for i, src in enumerate(["0.0.0.0", "255.255.255.255", "224.0.0.1"])]
    run = ok(offline(two_ports(), {"a": [from_h1(p, 1.0 + i) for i, p in enumerate(pkts)]}))
    assert run.sent("a") == [] and run.sent("b") == []
    assert drops(run, "a") == {"no_route": 3}


# ---- rate limit ----------------------------------------------------------------------

def test_icmp_errors_are_rate_limited_burst_50_then_1_per_ms(offline):
    t0 = 10.0
    first = [from_h1(udp_packet(H1, H2, ttl=1, ident=i), t0) for i in range(100)]
    later = [from_h1(udp_packet(H1, H2, ttl=1, ident=1000 + i), t0 + 0.010) for i in range(10)]
    run = ok(offline(two_ports(), {"a": first + later}))
    frames = run.frames("a")
    assert len(frames) == 60
    assert [f for _, f in frames[:50]] == [icmp_error(p, 11, 0, A_IP, H1, H1_MAC, A_MAC) for p in first[:50]]
    assert [f for _, f in frames[50:]] == [icmp_error(p, 11, 0, A_IP, H1, H1_MAC, A_MAC) for p in later]
    assert times(run, "a") == [t0] * 50 + [t0 + 0.010] * 10
    assert drops(run, "a") == {"ttl_expired": 110}


def test_icmp_rate_limit_is_shared_by_all_errors_and_ports(offline):
    """One bucket for the whole appliance: 30 time-exceeded on a, 30 unreachable on b."""
    on_a = [from_h1(udp_packet(H1, H2, ttl=1, ident=i), 1.0) for i in range(30)]
    on_b = [at(1.0, eth(B_MAC, H2_MAC, udp_packet(H2, "192.0.2.1", ident=i))) for i in range(30)]
    run = ok(offline(two_ports(), {"a": on_a, "b": on_b}))
    assert len(run.sent("a")) == 30
    assert len(run.sent("b")) == 20
    assert drops(run, "a") == {"ttl_expired": 30}
    assert drops(run, "b") == {"no_route": 30}


def test_icmp_rate_limit_refill_caps_at_burst(offline):
    """After a long quiet spell the bucket holds 50, not more."""
    first = [from_h1(udp_packet(H1, H2, ttl=1, ident=i), 1.0) for i in range(50)]
    later = [from_h1(udp_packet(H1, H2, ttl=1, ident=100 + i), 100.0) for i in range(80)]
    run = ok(offline(two_ports(), {"a": first + later}))
    assert len(run.sent("a")) == 100


# ---- echo ----------------------------------------------------------------------------

def test_echo_request_to_ingress_address(offline):
    req = echo_request(H1, A_IP, tos=0x28, data=b"x" * 3)
    run = ok(offline(two_ports(), {"a": [from_h1(req, 7.0)]}))
    want = echo_reply(A_IP, H1, H1_MAC, A_MAC, tos=0x28, data=b"x" * 3)
    assert len(want) == 60  # short: padded
    assert run.frames("a") == [(7.0, want)]
    assert drops(run, "a") == {}
    assert run.sent("b") == []


def test_echo_request_to_address_of_another_interface(offline):
    req = echo_request(H1, B_IP, ident=7, seq=300)
    run = ok(offline(two_ports(), {"a": [from_h1(req)]}))
    assert run.sent("a") == [echo_reply(B_IP, H1, H1_MAC, A_MAC, ident=7, seq=300)]
    assert run.sent("b") == []


def test_echo_large_and_odd_payload(offline):
    data = bytes(range(256)) * 5 + b"\x01\x02\x03"  # 1283 bytes, odd
    req = echo_request(H1, A_IP, data=data, ident=0xFFFF, seq=0xFFFF)
    run = ok(offline(two_ports(), {"a": [from_h1(req)]}))
    (frame,) = run.sent("a")
    assert frame == echo_reply(A_IP, H1, H1_MAC, A_MAC, data=data, ident=0xFFFF, seq=0xFFFF)
    assert icmp_checksum_ok(frame) and ipv4_checksum_ok(frame)


def test_echo_reply_checksum_edge(offline):
    """Reply checksums near 0x0000/0xffff."""
    reqs, wants = [], []
    for i, data in enumerate([b"\xf7\xff", b"\x00\x00", b"\xff\xff" * 4, b"\x08\x00"]):
        reqs.append(from_h1(echo_request(H1, A_IP, ident=i, seq=0, data=data), 1.0 + i))
        wants.append(echo_reply(A_IP, H1, H1_MAC, A_MAC, ident=i, seq=0, data=data))
    run = ok(offline(two_ports(), {"a": reqs}))
    assert run.sent("a") == wants


def test_echo_reply_needs_arp_for_the_requester(offline):
    h5, h5_mac = "10.0.1.55", "02:00:00:00:01:55"
    req = echo_request(h5, A_IP)
    run = ok(offline(two_ports(static=False), {"a": [at(1.0, eth(A_MAC, h5_mac, req)),
                                                     at(1.25, arp_reply_frame(h5_mac, h5, A_MAC, A_IP))]}))
    assert run.frames("a") == [(1.0, our_arp_request(A_MAC, A_IP, h5)),
                               (1.25, echo_reply(A_IP, h5, h5_mac, A_MAC))]


def test_echo_on_vlan_subinterface_reply_tagged_pcp_0(offline):
    cfg = config({"t": pcap_port("t", mac=A_MAC)},
                 vlans={"t.5": {"link": "t", "id": 5, "addresses": [A_IP + "/24"]}},
                 neighbors=[neighbor(H1, H1_MAC, "t.5")])
    req = echo_request(H1, A_IP)
    run = ok(offline(cfg, {"t": [at(1.0, eth(A_MAC, H1_MAC, req, vlan=5, pcp=6))]}))
    assert run.sent("t") == [echo_reply(A_IP, H1, H1_MAC, A_MAC, vlan=5)]


def test_echo_to_bridge_address_irb(offline):
    br_mac, h3, h3_mac = "02:00:00:00:03:01", "10.0.3.30", "02:00:00:00:03:30"
    cfg = config({"m1": pcap_port("m1"), "m2": pcap_port("m2")},
                 bridges={"br0": {"interfaces": ["m1", "m2"], "addresses": ["10.0.3.1/24"], "macaddress": br_mac}},
                 neighbors=[neighbor(h3, h3_mac, "br0")])
    req = echo_request(h3, "10.0.3.1")
    run = ok(offline(cfg, {"m2": [at(1.0, eth(br_mac, h3_mac, req))]}))
    assert run.sent("m2") == [echo_reply("10.0.3.1", h3, h3_mac, br_mac)]
    assert run.sent("m1") == []


@pytest.mark.parametrize("pkt, reason", [
    (IP(src=H1, dst=A_IP, id=1) / UDP(sport=1, dport=7) / Raw(b"hello"), "local_unsupported"),
    (IP(src=H1, dst=B_IP, id=1, proto=6) / Raw(b"\0" * 20), "local_unsupported"),
    (IP(src=H1, dst=A_IP, id=1) / ICMP(type=13, code=0) / Raw(b"\0" * 12), "local_unsupported"),
    (IP(src=H1, dst=A_IP, id=1) / ICMP(type=0, code=0, id=1, seq=1), "local_unsupported"),
    (IP(src=H1, dst=A_IP, id=1) / ICMP(type=8, code=0, id=1, seq=1, chksum=0x1234) / Raw(b"abcd"),
     "icmp_malformed"),
    (IP(src=H1, dst=A_IP, id=1, proto=1) / Raw(b"\x08\x00\xf7\xff"), "icmp_malformed"),
])
def test_non_echo_packets_to_us_are_dropped(offline, pkt, reason):
    run = ok(offline(two_ports(), {"a": [from_h1(pkt)]}))
    assert run.sent("a") == [] and run.sent("b") == []
    assert drops(run, "a") == {reason: 1}


def test_echo_request_with_ip_options_gets_a_plain_reply(offline):
    req = IP(src=H1, dst=A_IP, id=5, options=b"\x94\x04\x00\x00") / ICMP(type=8, id=9, seq=2) / Raw(b"opt")
    run = ok(offline(two_ports(), {"a": [from_h1(req)]}))
    assert run.sent("a") == [echo_reply(A_IP, H1, H1_MAC, A_MAC, ident=9, seq=2, data=b"opt")]


def test_echo_request_padding_is_not_echoed(offline):
    req = IP(src=H1, dst=A_IP, id=5) / ICMP(type=8, id=1, seq=1)  # 28 bytes of IP
    frame = Ether(dst=A_MAC, src=H1_MAC) / req / Padding(b"\x5a" * 18)
    run = ok(offline(two_ports(), {"a": [at(1.0, frame)]}))
    assert run.sent("a") == [echo_reply(A_IP, H1, H1_MAC, A_MAC, ident=1, seq=1, data=b"")]


# ---- ICMP errors on VLANs and bridges ----------------------------------------------------

def test_time_exceeded_on_vlan_subinterface(offline):
    """Arrived tagged on t.5: the error comes from t.5's address, tagged VID 5, PCP 0."""
    cfg = config({"t": pcap_port("t", mac=A_MAC), "b": pcap_port("b", [B_IP + "/24"], B_MAC)},
                 vlans={"t.5": {"link": "t", "id": 5, "addresses": ["10.0.5.1/24"]}},
                 neighbors=[neighbor("10.0.5.9", H1_MAC, "t.5"), neighbor(H2, H2_MAC, "b")])
    pkt = udp_packet("10.0.5.9", H2, ttl=1)
    run = ok(offline(cfg, {"t": [at(1.0, eth(A_MAC, H1_MAC, pkt, vlan=5, pcp=7))]}))
    assert run.sent("t") == [icmp_error(pkt, 11, 0, "10.0.5.1", "10.0.5.9", H1_MAC, A_MAC, vlan=5)]
    assert drops(run, "t") == {"ttl_expired": 1}


BR_MAC, BR_IP = "02:00:00:00:03:01", "10.0.3.1"
H3, H3_MAC = "10.0.3.30", "02:00:00:00:03:30"


def irb_config(m1_mtu=None):
    return config(
        {"a": pcap_port("a", [A_IP + "/24"], A_MAC), "m1": pcap_port("m1", mtu=m1_mtu), "m2": pcap_port("m2")},
        bridges={"br0": {"interfaces": ["m1", "m2"], "addresses": [BR_IP + "/24"], "macaddress": BR_MAC}},
        neighbors=[neighbor(H1, H1_MAC, "a"), neighbor(H3, H3_MAC, "br0")])


def test_time_exceeded_from_bridge_address(offline):
    """Arrived through br0 on m1: the error comes from br0's address, back through the MAC table to m1."""
    pkt = udp_packet(H3, H1, ttl=1)
    run = ok(offline(irb_config(), {"m1": [at(1.0, eth(BR_MAC, H3_MAC, pkt))]}))
    assert run.sent("m1") == [icmp_error(pkt, 11, 0, BR_IP, H3, H3_MAC, BR_MAC)]
    assert run.sent("m2") == [] and run.sent("a") == []
    assert drops(run, "m1") == {"ttl_expired": 1}


def test_frag_needed_for_a_bridge_member_mtu(offline):
    """The frame would leave through m1 (mtu 1000): DF set → fragmentation needed with 1000,
    whatever way the bridge's router interface gets its MTU (Linux: the smallest member's)."""
    learn = udp_packet(H3, H1, ident=1)
    big = udp_packet(H1, H3, size=1200, flags="DF", ident=2)
    run = ok(offline(irb_config(m1_mtu=1000), {"m1": [at(1.0, eth(BR_MAC, H3_MAC, learn))],
                                              "a": [at(2.0, eth(A_MAC, H1_MAC, big))]}))
    assert run.sent("m1") == [] and run.sent("m2") == []
    assert run.sent("a") == [routed(learn, A_MAC, H1_MAC),
                             icmp_error(big, 3, 4, A_IP, H1, H1_MAC, A_MAC, mtu=1000)]
    assert drops(run, "a") == {"frag_needed": 1}


def test_icmp_error_goes_to_the_resolved_mac_not_the_frame_source(offline):
    """The error is routed like any packet we originate: to H1's neighbour entry, whatever
    Ethernet source the offending frame had."""
    pkt = udp_packet(H1, H2, ttl=1)
    run = ok(offline(two_ports(), {"a": [at(1.0, eth(A_MAC, "02:00:00:00:01:99", pkt))]}))
    assert run.sent("a") == [icmp_error(pkt, 11, 0, A_IP, H1, H1_MAC, A_MAC)]
