"""Building and reading the few packets the control plane handles: ARP,
ICMP echo and ICMP errors.  Plain bytes in, bytes out; no I/O."""
import struct

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
BROADCAST_MAC = b"\xff" * 6
MIN_FRAME = 60          # frames we originate are padded to this (FCS excluded)
ICMP_ERROR_MAX = 576    # an ICMP error datagram, quoted packet included
ICMP_ERROR_TYPES = {3, 4, 5, 11, 12}

ICMP_ECHO_REPLY = 0
ICMP_UNREACHABLE = 3
ICMP_ECHO_REQUEST = 8
ICMP_TIME_EXCEEDED = 11
UNREACH_NET = 0
UNREACH_FRAG_NEEDED = 4


def mac_bytes(text):
    return bytes(int(part, 16) for part in text.replace("-", ":").split(":"))


def mac_text(raw):
    return ":".join(f"{b:02x}" for b in raw)


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pad(frame):
    return frame + b"\0" * (MIN_FRAME - len(frame)) if len(frame) < MIN_FRAME else frame


def ethernet(dst, src, ethertype, payload):
    return dst + src + struct.pack("!H", ethertype) + payload


class Arp:
    """An Ethernet/IPv4 ARP packet (RFC 826)."""
    __slots__ = ("op", "sha", "spa", "tha", "tpa")
    REQUEST, REPLY = 1, 2

    def __init__(self, op, sha, spa, tha, tpa):
        self.op, self.sha, self.spa, self.tha, self.tpa = op, sha, spa, tha, tpa

    @classmethod
    def parse(cls, frame):
        """The ARP in an Ethernet frame, or None if it is not Ethernet/IPv4 ARP."""
        body = frame[14:42]
        if len(body) < 28:
            return None
        htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", body[:8])
        if (htype, ptype, hlen, plen) != (1, ETH_P_IP, 6, 4) or op not in (cls.REQUEST, cls.REPLY):
            return None
        sha, spa, tha, tpa = struct.unpack("!6sI6sI", body[8:28])
        return cls(op, sha, spa, tha, tpa)

    def frame(self, eth_dst, eth_src):
        body = struct.pack("!HHBBH6sI6sI", 1, ETH_P_IP, 6, 4, self.op, self.sha, self.spa, self.tha, self.tpa)
        return pad(ethernet(eth_dst, eth_src, ETH_P_ARP, body))


def arp_request(src_mac, src_ip, target_ip):
    return Arp(Arp.REQUEST, src_mac, src_ip, b"\0" * 6, target_ip).frame(BROADCAST_MAC, src_mac)


def arp_reply(request, our_mac):
    """Our answer to `request`, sent straight back to the asker."""
    return Arp(Arp.REPLY, our_mac, request.tpa, request.sha, request.spa).frame(request.sha, our_mac)


def ipv4_header(src, dst, payload_len, proto=1, ttl=64, tos=0):
    header = struct.pack("!BBHHHBBHII", 0x45, tos, 20 + payload_len, 0, 0, ttl, proto, 0, src, dst)
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:]


class Ipv4:
    """The fields of an IPv4 header the slow path needs."""
    __slots__ = ("tos", "total_length", "flags_offset", "ttl", "proto", "src", "dst", "header_len", "packet")

    def __init__(self, packet):
        ver_ihl, self.tos, self.total_length, _, self.flags_offset, self.ttl, self.proto, _, self.src, self.dst = \
            struct.unpack("!BBHHHBBHII", packet[:20])
        self.header_len = (ver_ihl & 0xF) * 4
        self.packet = packet[:self.total_length]

    @property
    def is_fragment(self):
        return bool(self.flags_offset & 0x2000) or bool(self.flags_offset & 0x1FFF)

    @property
    def is_later_fragment(self):
        return bool(self.flags_offset & 0x1FFF)

    @property
    def payload(self):
        return self.packet[self.header_len:]


def icmp(icmp_type, code, rest, data):
    """An ICMP message; `rest` is the 4 bytes after the checksum."""
    body = struct.pack("!BBH", icmp_type, code, 0) + rest + data
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


def echo_reply(request, our_ip):
    """The IPv4 packet answering an ICMP echo request (already validated)."""
    message = request.payload
    reply = icmp(ICMP_ECHO_REPLY, 0, message[4:8], message[8:])
    return ipv4_header(our_ip, request.src, len(reply), tos=request.tos) + reply


def icmp_error(original, icmp_type, code, our_ip, mtu=0):
    """An ICMP error about `original` (an Ipv4), quoting as much as fits in 576 bytes."""
    quote = original.packet[:ICMP_ERROR_MAX - 20 - 8]
    message = icmp(icmp_type, code, struct.pack("!HH", 0, mtu), quote)
    return ipv4_header(our_ip, original.src, len(message)) + message


def is_icmp_error(ip):
    return ip.proto == 1 and len(ip.payload) >= 1 and ip.payload[0] in ICMP_ERROR_TYPES
