#!/usr/bin/env python3
"""Write the malformed-frame corpus for the packet-path fuzz harness.

    make_corpus.py [ROOT]          rewrite ROOT/corpus and ROOT/egress-gap (default ROOT: beside this file)
    make_corpus.py --check [ROOT]  exit 1 if they differ from what would be written

One input per file, in the harness format (harness.h): byte 0 is the
ingress port (bits 0-2) and the harness's pressure/answer flags (bits 3-7),
the rest is the Ethernet frame.  Names say what each frame is; the topology
they aim at (ports, MACs, addresses, routes) is the one harness.c builds.
corpus/ is the fuzzing corpus; egress-gap/ holds one frame per case the
strict accounting reports in the FZ_EGRESS_GAP=1 topology (harness.c).
Frames are built with scapy with every field given, so the output is the
same on every machine.
"""
import argparse
import os
import sys

from scapy.layers.inet import ICMP, IP, UDP, IPOption_RR
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- the harness topology (harness.c) ---------------------------------------
TRUNK, LAN1, LAN2, WAN, SMALL, DOWN, SOLO, EDGE = range(8)
PRESSURE, ANSWER_IFACE, ANSWER_ROUTE, REPEAT, RING_FULL = 0x08, 0x10, 0x20, 0x40, 0x80
ANSWER_BOTH = ANSWER_IFACE | ANSWER_ROUTE

MAC_WAN, MAC_SMALL, MAC_DOWN = "02:00:00:00:01:01", "02:00:00:00:02:01", "02:00:00:00:03:01"
MAC_V20, MAC_BR0 = "02:00:00:00:14:01", "02:00:00:00:0a:01"
MAC_B1, MAC_B2, MAC_AA, MAC_CC, MAC_D1 = ("02:00:00:00:00:b1", "02:00:00:00:00:b2", "02:00:00:00:00:aa",
                                          "02:00:00:00:00:cc", "02:00:00:00:00:d1")
HOST = "02:00:00:00:99:01"        # a sender nobody has learned
HOST2 = "02:00:00:00:99:02"
BCAST = "ff:ff:ff:ff:ff:ff"
MCAST = "01:00:5e:00:00:01"

IP_WAN, IP_SMALL, IP_BR0, IP_V20 = "192.0.2.1", "198.51.100.1", "10.0.10.1", "10.0.20.1"
PEER_WAN, PEER_SMALL, PEER_BR0, PEER_V20 = "192.0.2.50", "198.51.100.50", "10.0.10.50", "10.0.20.50"
FAR = "8.8.8.8"                   # default route, out of wan

MTU, SMALL_MTU, MAX_FRAME = 1500, 576, 1856   # FZ_MTU, FZ_SMALL_MTU, VS_PKT_MAX_FRAME


def eth(dst, src=HOST, etype=None):
    return Ether(dst=dst, src=src) if etype is None else Ether(dst=dst, src=src, type=etype)


def ipv4(src, dst, ttl=64, **kw):
    return IP(src=src, dst=dst, ttl=ttl, id=1, **kw)


def echo(payload=b"fuzz"):
    return ICMP(type=8, code=0, id=0x1234, seq=1) / Raw(payload)


def arp(op, hwsrc, psrc, pdst, hwdst="00:00:00:00:00:00"):
    return ARP(hwtype=1, ptype=0x0800, hwlen=6, plen=4, op=op, hwsrc=hwsrc, psrc=psrc, hwdst=hwdst, pdst=pdst)


def routed(dst_ip, src_ip=PEER_WAN, dst_mac=MAC_WAN, ttl=64, size=None, **kw):
    """A UDP packet to a router MAC; size pads it to that IP total length."""
    pkt = ipv4(src_ip, dst_ip, ttl, **kw) / UDP(sport=1000, dport=2000)
    if size:
        pkt = pkt / Raw(b"\x00" * (size - len(pkt)))
    return eth(dst_mac) / pkt


class Corpus:
    def __init__(self):
        self.files = {}

    def add(self, name, port, frame, flags=0):
        data = bytes([port | flags]) + bytes(frame)
        assert name not in self.files, name
        self.files[name] = data

    def truncations(self, prefix, port, frame, start, stop, flags=0):
        """Every length from start to stop (inclusive) of frame."""
        raw = bytes(frame)
        for n in range(start, min(stop, len(raw)) + 1):
            self.add(f"{prefix}-{n:03d}", port, raw[:n], flags)


# ---- the frames ---------------------------------------------------------------

def runts_and_giants(c):
    frame = bytes(eth(BCAST) / arp(1, HOST, PEER_BR0, IP_BR0))
    c.truncations("runt-lan1", LAN1, frame, 0, 14)                 # every cut of an Ethernet header
    c.truncations("runt-wan", WAN, bytes(eth(MAC_WAN) / ipv4(PEER_WAN, IP_WAN) / echo()), 0, 14)
    c.add("runt-down", DOWN, frame[:10])
    for port, mtu, name in ((LAN1, MTU, "lan1"), (WAN, MTU, "wan"), (SMALL, SMALL_MTU, "small")):
        for extra in (0, 1):                                        # at the MTU, one over
            c.add(f"giant-{name}-mtu{extra:+d}", port,
                  eth(BCAST if port == LAN1 else HOST2) / Raw(b"\xaa" * (mtu + extra)))
    c.add("giant-trunk-v10-tagged-mtu+0", TRUNK, eth(BCAST) / Dot1Q(vlan=10) / Raw(b"\xaa" * MTU))
    c.add("giant-trunk-v10-tagged-mtu+1", TRUNK, eth(BCAST) / Dot1Q(vlan=10) / Raw(b"\xaa" * (MTU + 1)))
    c.add("giant-max-frame", LAN1, eth(BCAST) / Raw(b"\xbb" * (MAX_FRAME - 14)))
    c.add("giant-over-max-frame", LAN1, eth(BCAST) / Raw(b"\xbb" * (MAX_FRAME + 50)))  # the harness cuts it
    c.add("giant-routed-1500", WAN, routed(FAR, size=MTU))


def vlans(c):
    tagged_echo = eth(MAC_V20) / Dot1Q(vlan=20) / ipv4(PEER_V20, IP_V20) / echo(b"")
    c.truncations("vlan20-echo-cut", TRUNK, tagged_echo, 12, len(tagged_echo))  # tag, IPv4, ICMP
    stacked = eth(BCAST) / Dot1Q(vlan=10) / Dot1Q(vlan=20) / Dot1Q(vlan=30) / ipv4(PEER_BR0, IP_BR0) / echo(b"")
    c.truncations("stacked3-cut", TRUNK, stacked, 14, 30)
    c.add("stacked3-full", TRUNK, stacked)
    c.add("stacked-v10-in-v10", TRUNK, eth(BCAST) / Dot1Q(vlan=10) / Dot1Q(vlan=10) / Raw(b"x" * 40))
    c.add("stacked-vid0-outer-v20-inner", TRUNK,
          eth(MAC_V20) / Dot1Q(vlan=0) / Dot1Q(vlan=20) / ipv4(PEER_V20, IP_V20) / echo())
    c.add("stacked-to-router-v20", TRUNK, eth(MAC_V20) / Dot1Q(vlan=20) / Dot1Q(vlan=20) / ipv4(PEER_V20, FAR))
    c.add("qinq-88a8-not-a-tag", TRUNK, eth(BCAST, etype=0x88A8) / Raw(b"\x00\x0a\x08\x00" + b"y" * 40))
    for vid in (0, 1, 10, 20, 30, 40, 99, 4095):
        c.add(f"trunk-vid{vid:04d}-bcast", TRUNK, eth(BCAST) / Dot1Q(vlan=vid, prio=5) / Raw(b"z" * 46))
    c.add("lan1-vid0-priority-tagged", LAN1, eth(BCAST) / Dot1Q(vlan=0, prio=3) / Raw(b"z" * 46))
    c.add("lan1-vid10-not-a-vlan-here", LAN1, eth(BCAST) / Dot1Q(vlan=10) / Raw(b"z" * 46))
    c.add("trunk-untagged-no-interface", TRUNK, eth(BCAST) / Raw(b"z" * 46))
    c.add("trunk-v40-to-d1", TRUNK, eth(MAC_D1) / Dot1Q(vlan=40, prio=7) / Raw(b"z" * 46))
    c.add("trunk-v10-to-b1-pcp", TRUNK, eth(MAC_B1, src=HOST2) / Dot1Q(vlan=10, prio=6) / Raw(b"z" * 46))


def ipv4_headers(c):
    good = eth(MAC_WAN) / ipv4(PEER_WAN, FAR) / UDP(sport=1, dport=2) / Raw(b"q" * 8)
    c.truncations("ipv4-cut", WAN, good, 14, 42)                    # every cut of the IPv4 header and UDP
    for ihl in range(0, 5):
        c.add(f"ipv4-ihl{ihl}", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, FAR, ihl=ihl) / Raw(b"q" * 20))
    c.add("ipv4-ihl15-short", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, FAR, ihl=15) / Raw(b"q" * 10))
    c.add("ipv4-ihl15-fits", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, FAR, ihl=15) / Raw(b"q" * 60))
    c.add("ipv4-options-rr", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, FAR, options=[IPOption_RR()]) / UDP())
    for total in (0, 19, 20, 27, 29, 100, 65535):
        c.add(f"ipv4-total{total:05d}", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, FAR, len=total) / UDP() / Raw(b"p"))
    c.add("ipv4-total-below-options", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, FAR, len=22, options=[IPOption_RR()]))
    c.add("ipv4-padded-frame", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, FAR) / UDP() / Raw(b"\x00" * 30))
    for chk in (0x0000, 0xFFFF, 0x1234):
        c.add(f"ipv4-checksum-{chk:04x}", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, FAR, chksum=chk) / UDP())
    for version in (0, 3, 5, 6, 15):
        c.add(f"ipv4-version{version}", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, FAR, version=version) / UDP())
    for ttl in (0, 1, 2, 255):
        c.add(f"ttl{ttl:03d}-forwarded", WAN, routed(FAR, ttl=ttl))
        c.add(f"ttl{ttl:03d}-to-us", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, IP_WAN, ttl=ttl) / echo())
    c.add("ttl001-forwarded-answered", WAN, routed(FAR, ttl=1), ANSWER_BOTH)
    c.add("ttl001-repeat-policed", WAN, routed(FAR, ttl=1), REPEAT | ANSWER_ROUTE)
    c.add("ttl000-from-bridge", LAN1, routed(FAR, src_ip=PEER_BR0, dst_mac=MAC_BR0, ttl=0), ANSWER_ROUTE)
    for name, src in (("blackhole", "100.64.1.1"), ("broadcast", "192.0.2.255"), ("ourselves", IP_WAN)):
        c.add(f"ttl001-answer-routed-to-{name}", WAN, routed(FAR, src_ip=src, ttl=1), ANSWER_ROUTE)
    c.add("ipv6-to-router", WAN, eth(MAC_WAN, etype=0x86DD) / Raw(b"\x60" + b"\x00" * 39))
    c.add("llc-length-to-router", WAN, eth(MAC_WAN, etype=0x0040) / Raw(b"\xaa\xaa\x03" + b"\x00" * 61))


def mtu_paths(c):
    to_h7 = "198.51.100.7"
    for total, flags in ((SMALL_MTU, 0), (SMALL_MTU + 1, 0), (SMALL_MTU + 1, 2), (MTU, 2)):
        df = "DF" if flags == 2 else "nodf"
        c.add(f"mtu-to-small-{total}-{df}", WAN, routed(to_h7, size=total, flags=flags))
    c.add("mtu-frag-needed-answered", WAN, routed(to_h7, size=1000, flags=2), ANSWER_BOTH)
    c.add("mtu-frag-needed-repeat", WAN, routed(to_h7, size=1000, flags=2), REPEAT)
    c.add("mtu-later-fragment", WAN, routed(to_h7, size=1000, frag=100))
    c.add("mtu-small-to-wan-full", SMALL, routed(FAR, src_ip=PEER_SMALL, dst_mac=MAC_SMALL, size=SMALL_MTU))
    c.add("mtu-via-bridge-1500", WAN, routed("10.0.10.9", size=MTU, flags=2))


def l3_destinations(c):
    """Every kind of adjacency, reached from every kind of routed interface."""
    dsts = {
        "default": FAR, "glean-wan": "192.0.2.77", "local-wan": IP_WAN, "bcast-wan": "192.0.2.255",
        "gateway": "192.0.2.254", "glean-small": "198.51.100.77", "local-small": IP_SMALL,
        "host-small": "198.51.100.7", "incomplete-25": "198.51.100.200", "incomplete-static": "203.0.113.5",
        "glean-br0": "10.0.10.77", "local-br0": IP_BR0, "bcast-br0": "10.0.10.255",
        "br0-known": "10.0.10.9", "br0-unknown": "10.0.10.10", "br0-static": "10.0.10.170",
        "glean-v20": "10.0.20.77", "local-v20": IP_V20, "v20-26": "10.0.20.70", "br0-via-15": "198.19.1.1",
        "blackhole": "100.64.1.1", "unset-adjacency": "172.16.0.1", "limited-bcast": "255.255.255.255",
        "multicast": "224.0.0.5", "zero": "0.0.0.0", "down-subnet": "192.168.99.1",
    }
    for name, dst in dsts.items():
        c.add(f"l3-wan-{name}", WAN, routed(dst))
    for name in ("default", "br0-known", "br0-unknown", "br0-static", "v20-26", "glean-br0", "local-br0",
                 "incomplete-static", "unset-adjacency"):
        c.add(f"l3-lan2-{name}", LAN2, routed(dsts[name], src_ip=PEER_BR0, dst_mac=MAC_BR0))
        c.add(f"l3-trunk-v20-{name}", TRUNK,
              eth(MAC_V20) / Dot1Q(vlan=20) / ipv4(PEER_V20, dsts[name]) / UDP(sport=1, dport=2))
    c.add("l3-trunk-v10-irb-default", TRUNK, eth(MAC_BR0) / Dot1Q(vlan=10, prio=4) / ipv4(PEER_BR0, FAR) / UDP())
    c.add("l3-small-incomplete", SMALL, routed("203.0.113.5", src_ip=PEER_SMALL, dst_mac=MAC_SMALL))
    c.add("l3-down-port", DOWN, routed(FAR, dst_mac=MAC_DOWN))
    # what the stand-in control plane does with each punt: answer out of an interface, re-route, both
    for name in ("glean-wan", "incomplete-static", "local-wan", "glean-br0", "unset-adjacency", "glean-v20"):
        c.add(f"l3-wan-{name}-answered", WAN, routed(dsts[name]), ANSWER_BOTH)
    c.add("l3-lan1-glean-br0-answered", LAN1, routed("10.0.10.77", src_ip=PEER_BR0, dst_mac=MAC_BR0), ANSWER_BOTH)
    c.add("l3-wan-glean-repeat-policed", WAN, routed("192.0.2.77"), REPEAT | ANSWER_ROUTE)
    c.add("l3-wan-glean-ring-full", WAN, routed("192.0.2.77"), RING_FULL | REPEAT)
    c.add("l3-wan-unset-ring-full", WAN, routed("172.16.0.1"), RING_FULL | ANSWER_ROUTE)
    c.add("l3-lan2-br0-unknown-pressure", LAN2, routed("10.0.10.10", src_ip=PEER_BR0, dst_mac=MAC_BR0), PRESSURE)
    c.add("l3-wan-glean-pressure", WAN, routed("192.0.2.77"), PRESSURE | ANSWER_BOTH)


def icmp_to_us(c):
    request = eth(MAC_WAN) / ipv4(PEER_WAN, IP_WAN) / echo(b"abcdefgh")
    c.truncations("icmp-echo-cut", WAN, request, 34, len(request))   # every cut of the ICMP header
    c.add("icmp-echo-bad-checksum", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, IP_WAN) / ICMP(type=8, chksum=1) / Raw(b"x"))
    c.add("icmp-echo-code1", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, IP_WAN) / ICMP(type=8, code=1) / Raw(b"x"))
    c.add("icmp-unreachable-to-us", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, IP_WAN) / ICMP(type=3, code=1) /
          ipv4(IP_WAN, PEER_WAN) / UDP())
    c.add("icmp-fragment-to-us", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, IP_WAN, flags=1) / echo())
    c.add("udp-to-us", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, IP_WAN) / UDP(sport=53, dport=53))
    c.add("icmp-echo-padded", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, IP_WAN) / echo(b"") / Raw(b"\x00" * 18))
    c.add("icmp-echo-answered", WAN, request, ANSWER_BOTH)
    c.add("icmp-echo-repeat-policed", WAN, request, REPEAT | ANSWER_BOTH)
    c.add("icmp-echo-big-answered", WAN, eth(MAC_WAN) / ipv4(PEER_WAN, IP_WAN) / echo(b"e" * 1400), ANSWER_BOTH)
    c.add("icmp-echo-small-answered", SMALL, eth(MAC_SMALL) / ipv4(PEER_SMALL, IP_SMALL) / echo(b"e" * 500),
          ANSWER_BOTH)
    c.add("icmp-echo-irb-answered", LAN1, eth(MAC_BR0, src=MAC_B1) / ipv4(PEER_BR0, IP_BR0) / echo(), ANSWER_BOTH)
    c.add("icmp-echo-v20-answered", TRUNK, eth(MAC_V20) / Dot1Q(vlan=20) / ipv4(PEER_V20, IP_V20) / echo(),
          ANSWER_BOTH)


def arps(c):
    request = eth(BCAST) / arp(1, HOST, PEER_WAN, IP_WAN)
    c.truncations("arp-request-cut", WAN, request, 14, 42)          # every cut of the ARP header
    c.add("arp-request-padded", WAN, bytes(request) + b"\x00" * 18)
    c.add("arp-request-other", WAN, eth(BCAST) / arp(1, HOST, PEER_WAN, "192.0.2.99"))
    c.add("arp-reply-to-us", WAN, eth(MAC_WAN) / arp(2, HOST, PEER_WAN, IP_WAN, hwdst=MAC_WAN))
    c.add("arp-reply-to-other", WAN, eth(HOST2) / arp(2, HOST, PEER_WAN, "192.0.2.99", hwdst=HOST2))
    c.add("arp-gratuitous", WAN, eth(BCAST) / arp(1, HOST, PEER_WAN, PEER_WAN))
    c.add("arp-multicast-dst", WAN, eth(MCAST) / arp(1, HOST, PEER_WAN, IP_WAN))
    c.add("arp-bad-hwtype", WAN, eth(BCAST) / ARP(hwtype=6, ptype=0x0800, hwlen=6, plen=4, op=1, hwsrc=HOST,
                                                  psrc=PEER_WAN, hwdst="00:00:00:00:00:00", pdst=IP_WAN))
    c.add("arp-bad-plen", WAN, eth(BCAST) / ARP(hwtype=1, ptype=0x0800, hwlen=6, plen=16, op=1, hwsrc=HOST,
                                                psrc=PEER_WAN, hwdst="00:00:00:00:00:00", pdst=IP_WAN))
    c.add("arp-small", SMALL, eth(BCAST) / arp(1, HOST, PEER_SMALL, IP_SMALL))
    c.add("arp-v20-tagged", TRUNK, eth(BCAST) / Dot1Q(vlan=20) / arp(1, HOST, PEER_V20, IP_V20))
    c.add("arp-v20-tagged-cut", TRUNK, bytes(eth(BCAST) / Dot1Q(vlan=20) / arp(1, HOST, PEER_V20, IP_V20))[:24])
    c.add("arp-irb-for-us", LAN1, eth(BCAST) / arp(1, HOST, PEER_BR0, IP_BR0))
    c.add("arp-irb-for-other", LAN1, eth(BCAST) / arp(1, HOST, PEER_BR0, "10.0.10.99"))
    c.add("arp-irb-reply-to-router", LAN2, eth(MAC_BR0) / arp(2, HOST, PEER_BR0, IP_BR0, hwdst=MAC_BR0))
    c.add("arp-irb-from-trunk-v10", TRUNK, eth(BCAST) / Dot1Q(vlan=10) / arp(1, HOST, PEER_BR0, IP_BR0))
    c.add("arp-br1-no-router", SOLO, eth(BCAST) / arp(1, HOST, "10.9.9.9", "10.9.9.1"))
    c.add("arp-request-answered", WAN, request, ANSWER_BOTH)
    c.add("arp-irb-answered", LAN1, eth(BCAST) / arp(1, HOST, PEER_BR0, IP_BR0), ANSWER_BOTH)
    c.add("arp-v20-answered", TRUNK, eth(BCAST) / Dot1Q(vlan=20) / arp(1, HOST, PEER_V20, IP_V20), ANSWER_BOTH)
    c.add("arp-repeat-policed", WAN, request, REPEAT)
    c.add("arp-ring-full", WAN, request, RING_FULL | REPEAT)
    c.add("arp-irb-pressure", LAN1, eth(BCAST) / arp(1, HOST, PEER_BR0, IP_BR0), PRESSURE)
    c.add("arp-irb-ring-full", LAN1, eth(BCAST) / arp(1, HOST, PEER_BR0, IP_BR0), RING_FULL | REPEAT)


def l2(c):
    payload = Raw(b"l2" * 23)
    for low in range(0x10):
        c.add(f"l2-reserved-01-80-c2-00-00-{low:02x}", LAN1, eth(f"01:80:c2:00:00:{low:02x}") / payload)
    c.add("l2-reserved-01-80-c2-00-00-10-flooded", LAN1, eth("01:80:c2:00:00:10") / payload)
    c.add("l2-reserved-on-routed", WAN, eth("01:80:c2:00:00:00") / payload)
    c.add("l2-bcast-lan1", LAN1, eth(BCAST) / payload)
    c.add("l2-mcast-lan1", LAN1, eth(MCAST) / payload)
    c.add("l2-unknown-unicast", LAN1, eth(HOST2) / payload)
    c.add("l2-known-b1-from-lan2", LAN2, eth(MAC_B1) / payload)
    c.add("l2-known-b1-from-lan1", LAN1, eth(MAC_B1) / payload)          # same interface
    c.add("l2-known-b2-to-trunk-v10", LAN1, eth(MAC_B2) / payload)     # tag pushed
    c.add("l2-static-aa-from-lan1", LAN1, eth(MAC_AA) / payload)
    c.add("l2-static-aa-from-lan2", LAN2, eth(MAC_AA) / payload)
    c.add("l2-move-b1-to-lan2", LAN2, eth(HOST2, src=MAC_B1) / payload)
    c.add("l2-static-aa-as-source", LAN1, eth(HOST2, src=MAC_AA) / payload)
    c.add("l2-src-multicast", LAN1, eth(HOST2, src=MCAST) / payload)
    c.add("l2-src-broadcast", LAN1, eth(BCAST, src=BCAST) / payload)
    c.add("l2-src-zero", LAN1, eth(HOST2, src="00:00:00:00:00:00") / payload)
    c.add("l2-src-router-mac", LAN1, eth(HOST2, src=MAC_BR0) / payload)
    c.add("l2-to-wan-mac-bridged", LAN1, eth(MAC_WAN) / ipv4(PEER_BR0, FAR) / UDP())
    c.add("l2-br1-flood-no-member", SOLO, eth(BCAST) / payload)
    c.add("l2-br1-static-same-member", SOLO, eth(MAC_CC) / payload)
    c.add("l2-br2-new-source-limit", EDGE, eth(BCAST, src=HOST2) / payload)
    c.add("l2-br2-d1-from-trunk", TRUNK, eth(MAC_D1, src=HOST2) / Dot1Q(vlan=40) / payload)
    c.add("l2-br2-d1-repeat-ages", TRUNK, eth(MAC_D1, src=HOST2) / Dot1Q(vlan=40) / payload, REPEAT)
    c.add("l2-br2-d1-source-repeat", EDGE, eth(BCAST, src=MAC_D1) / payload, REPEAT)
    c.add("l2-learn-then-forward", LAN1, eth(HOST2, src=HOST2) / payload, REPEAT)
    c.add("l2-flood-pressure", LAN1, eth(BCAST) / payload, PRESSURE)
    c.add("l2-flood-pressure-repeat", LAN1, eth(BCAST) / payload, PRESSURE | REPEAT)
    c.add("l2-flood-ring-full", LAN1, eth(BCAST) / payload, RING_FULL)
    c.add("l2-routed-port-unicast-other", WAN, eth(HOST2) / payload)
    c.add("l2-routed-port-multicast", WAN, eth(MCAST) / payload)
    c.add("l2-routed-port-ipv4-to-other-mac", WAN, eth(HOST2) / ipv4(PEER_WAN, FAR) / UDP())
    c.add("l2-routed-v20-ipv4-to-other-mac", TRUNK, eth(HOST2) / Dot1Q(vlan=20) / ipv4(PEER_V20, FAR) / UDP())
    c.add("l2-routed-port-bcast-ip", WAN, eth(BCAST) / ipv4(PEER_WAN, "192.0.2.255") / UDP())
    c.add("l2-down-port-bcast", DOWN, eth(BCAST) / payload)
    c.add("l2-down-port-arp", DOWN, eth(BCAST) / arp(1, HOST, "192.168.99.2", "192.168.99.1"))


def egress_gap(c):
    """One frame per way a frame gets two fates today (harness.c, egress gap)."""
    c.add("flood-to-down-member", LAN1, eth(BCAST, etype=0x88B5) / Raw(b"x" * 46))
    c.add("unicast-to-smaller-mtu-member", LAN1, eth(MAC_B2, etype=0x88B5) / Raw(b"x" * 1100))
    c.add("routed-out-of-down-port", WAN, routed("192.168.99.1"))


def build():
    sets = {"corpus": (runts_and_giants, vlans, ipv4_headers, mtu_paths, l3_destinations, icmp_to_us, arps, l2),
            "egress-gap": (egress_gap,)}
    out = {}
    for sub, makers in sets.items():
        c = Corpus()
        for make in makers:
            make(c)
        out[sub] = c.files
    return out


def sync(path, files, check):
    """Make path hold exactly files; with check, only list the differences."""
    existing = {n for n in os.listdir(path) if not n.startswith(".")} if os.path.isdir(path) else set()
    if check:
        stale = sorted(existing - files.keys())
        differ = sorted(n for n, data in files.items()
                        if n not in existing or open(os.path.join(path, n), "rb").read() != data)
        for n in stale + differ:
            print(f"{path}/{n}: {'not made by make_corpus.py' if n in stale else 'missing or different'}")
        return not stale and not differ
    os.makedirs(path, exist_ok=True)
    for n in existing - files.keys():
        os.remove(os.path.join(path, n))
    for n, data in files.items():
        with open(os.path.join(path, n), "wb") as f:
            f.write(data)
    print(f"{len(files)} inputs, {sum(map(len, files.values()))} bytes in {path}")
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    ap.add_argument("root", nargs="?", default=HERE)
    args = ap.parse_args()
    ok = [sync(os.path.join(args.root, sub), files, args.check) for sub, files in build().items()]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
