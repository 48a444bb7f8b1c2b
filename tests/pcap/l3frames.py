"""Shared pieces of the L3 golden tests: addresses, configs, frame builders.

Every expected frame here is built with scapy (or plain byte arithmetic)
from SPEC.md's rules, never by calling vswitch code."""
import json
import struct

from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw
from scapy.utils import checksum

# The usual topology: two routed ports, a host behind each.
A_MAC, A_IP = "02:00:00:00:01:01", "10.0.1.1"      # router interface on port a
B_MAC, B_IP = "02:00:00:00:02:01", "10.0.2.1"      # router interface on port b
H1_MAC, H1 = "02:00:00:00:01:10", "10.0.1.10"      # host on a
H2_MAC, H2 = "02:00:00:00:02:20", "10.0.2.20"      # host on b
BCAST = "ff:ff:ff:ff:ff:ff"
ZERO_MAC = "00:00:00:00:00:00"


# ---- configs ------------------------------------------------------------------

def pcap_port(name, addresses=None, mac=None, mtu=None):
    port = {"driver": "pcap", "rx_pcap": f"in/{name}.pcap", "tx_pcap": f"out/{name}.pcap"}
    if addresses:
        port["addresses"] = list(addresses)
    if mac:
        port["macaddress"] = mac
    if mtu:
        port["mtu"] = mtu
    return port


def config(ports, vlans=None, bridges=None, routes=None, route_files=None, neighbors=None):
    """A version 1 config; every value written as JSON (a YAML flow subset)."""
    lines = ["version: 1", "ports:"]
    lines += [f"  {name}: {json.dumps(opts)}" for name, opts in ports.items()]
    for section, entries in (("vlans", vlans), ("bridges", bridges)):
        if entries:
            lines.append(f"{section}:")
            lines += [f"  {name}: {json.dumps(opts)}" for name, opts in entries.items()]
    for section, entries in (("routes", routes), ("route_files", route_files), ("neighbors", neighbors)):
        if entries:
            lines.append(f"{section}:")
            lines += [f"  - {json.dumps(entry)}" for entry in entries]
    return "\n".join(lines) + "\n"


def neighbor(ip, mac, interface):
    return {"ip": ip, "macaddress": mac, "interface": interface}


def two_ports(b_mtu=None, routes=None, route_files=None, static=True, extra_ports=None, extra_neighbors=(),
              a_addresses=(A_IP + "/24",)):
    """Ports a (10.0.1.1/24) and b (10.0.2.1/24); H1 and H2 static neighbours unless static=False."""
    ports = {"a": pcap_port("a", a_addresses, A_MAC), "b": pcap_port("b", [B_IP + "/24"], B_MAC, b_mtu)}
    ports.update(extra_ports or {})
    neighbors = [neighbor(H1, H1_MAC, "a"), neighbor(H2, H2_MAC, "b")] if static else []
    neighbors += list(extra_neighbors)
    return config(ports, routes=routes, route_files=route_files, neighbors=neighbors)


# ---- frames -------------------------------------------------------------------

def at(t, pkt):
    pkt.time = t
    return pkt


def payload_bytes(n):
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


def udp_packet(src, dst, ttl=64, size=60, ident=0x1234, tos=0, flags=0, frag=0):
    """IP/UDP with a deterministic payload; `size` is the IP total length."""
    ip = IP(src=src, dst=dst, ttl=ttl, id=ident, tos=tos, flags=flags, frag=frag)
    return ip / UDP(sport=4321, dport=5678) / Raw(payload_bytes(size - 28))


def eth(dst_mac, src_mac, ip, vlan=None, pcp=0):
    if vlan is None:
        return Ether(dst=dst_mac, src=src_mac) / ip
    return Ether(dst=dst_mac, src=src_mac) / Dot1Q(vlan=vlan, prio=pcp) / ip


def ip_bytes(pkt):
    """The IPv4 packet (no Ethernet, no padding) inside a scapy frame or IP layer."""
    raw = bytes(pkt[IP])
    total = struct.unpack("!H", raw[2:4])[0]
    return raw[:total]


def routed_ip(pkt):
    """What a router makes of an IPv4 packet: TTL - 1 and a fresh header checksum."""
    raw = bytearray(ip_bytes(pkt))
    hlen = (raw[0] & 0xF) * 4
    raw[8] -= 1
    raw[10:12] = b"\0\0"
    raw[10:12] = struct.pack("!H", checksum(bytes(raw[:hlen])))
    return bytes(raw)


def ether_bytes(dst_mac, src_mac, ethertype, payload, vlan=None, pcp=0):
    if vlan is None:
        return bytes(Ether(dst=dst_mac, src=src_mac, type=ethertype)) + payload
    return bytes(Ether(dst=dst_mac, src=src_mac) / Dot1Q(vlan=vlan, prio=pcp, type=ethertype)) + payload


def routed(pkt, src_mac, dst_mac, vlan=None, pcp=0):
    """The frame a routed `pkt` leaves with (no padding: 14 + IP total length)."""
    return ether_bytes(dst_mac, src_mac, 0x0800, routed_ip(pkt), vlan, pcp)


def pad60(frame):
    """Frames we originate are padded with zeros to 60 bytes."""
    return frame + b"\0" * (60 - len(frame)) if len(frame) < 60 else frame


def originated(dst_mac, src_mac, ethertype, payload, vlan=None):
    """A frame we originate: padded to 60 bytes as an untagged frame; out of a VLAN
    sub-interface the tag (PCP 0) is pushed after that, like on any routed frame
    (SPEC.md is silent on whether the 60 includes the tag; the implementation
    pads first, which gives 64-byte tagged frames: 802.1Q allows both)."""
    frame = pad60(ether_bytes(dst_mac, src_mac, ethertype, payload))
    if vlan is None:
        return frame
    return frame[:12] + struct.pack("!HH", 0x8100, vlan) + frame[12:]


def icmp_error(original, icmp_type, code, src, dst, dst_mac, src_mac, mtu=0, vlan=None):
    """The ICMP error frame SPEC.md and the implementation fix: quote as received, 576 max."""
    quote = ip_bytes(original)[: 576 - 28]
    if icmp_type == 3:
        icmp = ICMP(type=icmp_type, code=code, nexthopmtu=mtu)
    else:
        icmp = ICMP(type=icmp_type, code=code)
    ip = IP(ihl=5, tos=0, id=0, flags=0, frag=0, ttl=64, proto=1, src=src, dst=dst) / icmp / Raw(quote)
    return originated(dst_mac, src_mac, 0x0800, bytes(ip), vlan)


def echo_request(src, dst, ident=0x4242, seq=1, data=b"ping-data-0123456789", ttl=64, tos=0):
    return IP(src=src, dst=dst, ttl=ttl, tos=tos, id=0x777) / ICMP(type=8, code=0, id=ident, seq=seq) / Raw(data)


def echo_reply(src, dst, dst_mac, src_mac, ident=0x4242, seq=1, data=b"ping-data-0123456789", tos=0,
               vlan=None):
    ip = IP(ihl=5, tos=tos, id=0, flags=0, frag=0, ttl=64, proto=1, src=src, dst=dst) / \
        ICMP(type=0, code=0, id=ident, seq=seq) / Raw(data)
    return originated(dst_mac, src_mac, 0x0800, bytes(ip), vlan)


def arp_request_frame(src_mac, src_ip, target_ip, eth_dst=BCAST, vlan=None):
    """An ARP request as a host sends it (not padded unless asked)."""
    arp = ARP(op=1, hwsrc=src_mac, psrc=src_ip, hwdst=ZERO_MAC, pdst=target_ip)
    return eth(eth_dst, src_mac, arp, vlan)


def arp_reply_frame(src_mac, src_ip, dst_mac, dst_ip, vlan=None):
    arp = ARP(op=2, hwsrc=src_mac, psrc=src_ip, hwdst=dst_mac, pdst=dst_ip)
    return eth(dst_mac, src_mac, arp, vlan)


def our_arp_request(our_mac, our_ip, target_ip, vlan=None):
    """The request the router sends to resolve target_ip."""
    arp = ARP(op=1, hwtype=1, ptype=0x0800, hwlen=6, plen=4, hwsrc=our_mac, psrc=our_ip, hwdst=ZERO_MAC,
              pdst=target_ip)
    return originated(BCAST, our_mac, 0x0806, bytes(arp), vlan)


def our_arp_reply(our_mac, our_ip, asker_mac, asker_ip, vlan=None):
    arp = ARP(op=2, hwtype=1, ptype=0x0800, hwlen=6, plen=4, hwsrc=our_mac, psrc=our_ip, hwdst=asker_mac,
              pdst=asker_ip)
    return originated(asker_mac, our_mac, 0x0806, bytes(arp), vlan)


# ---- checks -------------------------------------------------------------------

def ok(run):
    assert run.returncode == 0, run.stderr
    return run


def drops(run, port):
    return {k: v for k, v in run.port(port)["drops"].items() if v}


def all_sent(run, ports):
    return {p: run.sent(p) for p in ports}


def assert_silent(run, ports):
    """No port transmitted anything."""
    assert {p: run.sent(p) for p in ports} == {p: [] for p in ports}


def ipv4_checksum_ok(frame, offset=14):
    hlen = (frame[offset] & 0xF) * 4
    return checksum(frame[offset:offset + hlen]) == 0


def icmp_checksum_ok(frame, offset=14):
    hlen = (frame[offset] & 0xF) * 4
    total = struct.unpack("!H", frame[offset + 2:offset + 4])[0]
    return checksum(frame[offset + hlen:offset + total]) == 0


def times(run, port):
    return [round(t, 6) for t, _ in run.frames(port)]
