"""Reproducible benchmark inputs: route sets and pcaps, generated from a seed.

Everything here is deterministic for given parameters, and cached under
bench/build/ keyed by them, so a second `make bench` reuses the files.

Route sets follow the shape of a real Internet table: about 60% /24, 15% /16,
the rest spread over /8-/32 (some longer than /24).  Lengths whose address
space cannot hold their share (a million-route table cannot have 150,000
/16s) are capped at a quarter of their space; the excess goes to /24.
Prefixes avoid 0/8, 10/8 (the benchmark's own subnets), 127/8 and 224/3.

Frames are 64 bytes on the wire (60 in the pcap, FCS not captured): Ethernet,
IPv4 (valid header checksum, TTL 64), UDP with checksum 0 and 18 bytes of
payload.  They are packed with struct, not scapy, so a million frames take
seconds.
"""
import argparse
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "build")

# The benchmark topology (shared by vswitch configs and the peers).
ROUTER_MAC = "02:00:00:00:00:01"       # the ingress pcap port's MAC: L3 frames are sent to it
INGRESS_ADDR = "10.0.0.1/24"
EGRESS_MAC = "02:00:00:00:00:02"
EGRESS_ADDR = "10.1.0.1/16"
NEXT_HOPS = [("10.1.0.%d" % (2 + i), "02:00:00:00:01:%02x" % (2 + i)) for i in range(4)]
SOURCE_NET = 0x0A000000               # 10.0.0.0/24: the senders behind the ingress port

FRAME_LEN = 60                         # + 4 bytes FCS = a 64-byte frame
PEER_FRAMES = 4096                     # DPDK's pcap PMD keeps infinite_rx frames in mbufs: 4,096 at most

# Share of each prefix length in a route set (sums to 1).
LENGTH_SHARE = {24: 0.60, 16: 0.15}
_REST = {8: 1, 9: 1, 10: 1, 11: 2, 12: 3, 13: 4, 14: 6, 15: 6,
         17: 10, 18: 12, 19: 16, 20: 18, 21: 16, 22: 24, 23: 20,
         25: 5, 26: 4, 27: 3, 28: 2, 29: 2, 30: 2, 31: 1, 32: 3}
_rest_total = sum(_REST.values())
for _length, _weight in _REST.items():
    LENGTH_SHARE[_length] = 0.25 * _weight / _rest_total
SPACE_CAP = 0.25                       # at most this fraction of all prefixes of one length

# First octets a generated prefix may start with.
_FIRST_OCTETS = [o for o in range(1, 224) if o not in (10, 127)]


def ip_text(value):
    return "%d.%d.%d.%d" % (value >> 24, value >> 16 & 255, value >> 8 & 255, value & 255)


def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(":"))


def mac_text(raw):
    return ":".join("%02x" % b for b in raw)


def _cache_path(name):
    os.makedirs(BUILD, exist_ok=True)
    return os.path.join(BUILD, name)


def _lengths_for(count):
    """How many routes of each prefix length a set of `count` routes has."""
    want = {length: int(round(share * count)) for length, share in LENGTH_SHARE.items()}
    for length in list(want):
        # Prefixes of this length inside the allowed first octets.
        space = len(_FIRST_OCTETS) * (1 << (length - 8))
        cap = max(1, int(space * SPACE_CAP))
        if want[length] > cap:
            want[length] = cap
    want[24] += count - sum(want.values())   # the capped excess and rounding
    return want


def routes(count, seed=1):
    """A sorted list of distinct (network, prefixlen, next_hop_index)."""
    rng = random.Random(f"routes-{count}-{seed}")
    out = set()
    taken = set()
    for length, n in sorted(_lengths_for(count).items()):
        host_bits = 32 - length
        made = 0
        while made < n:
            first = rng.choice(_FIRST_OCTETS)
            rest = rng.getrandbits(length - 8) if length > 8 else 0
            network = (first << 24 | rest << host_bits) if length > 8 else first << 24
            key = (network, length)
            if key in taken:
                continue
            taken.add(key)
            out.add((network, length, rng.randrange(len(NEXT_HOPS))))
            made += 1
    return sorted(out)


def route_files(count, seed=1):
    """Write (cached) the vswitch route file and the l3fwd rule files of one
    route set; returns {"vswitch": path, "l3fwd_v4": path, "l3fwd_v6": path, "count": n}."""
    base = f"routes-{count}-s{seed}"
    paths = {"vswitch": _cache_path(base + ".txt"), "l3fwd_v4": _cache_path(base + ".l3fwd-v4.cfg"),
             "l3fwd_v6": _cache_path("l3fwd-v6.cfg"), "count": count}
    if all(os.path.exists(paths[k]) for k in ("vswitch", "l3fwd_v4", "l3fwd_v6")):
        return paths
    table = routes(count, seed)
    with open(paths["vswitch"] + ".tmp", "w") as vs, open(paths["l3fwd_v4"] + ".tmp", "w") as l3:
        vs.write(f"# {count} generated routes, seed {seed}: PREFIX NEXTHOP\n")
        l3.write(f"# {count} generated routes, seed {seed}, all out of port 1\n")
        for network, length, hop in table:
            prefix = f"{ip_text(network)}/{length}"
            vs.write(f"{prefix} {NEXT_HOPS[hop][0]}\n")
            l3.write(f"R{prefix} 1\n")
    os.replace(paths["vswitch"] + ".tmp", paths["vswitch"])
    os.replace(paths["l3fwd_v4"] + ".tmp", paths["l3fwd_v4"])
    with open(paths["l3fwd_v6"], "w") as v6:
        v6.write("# l3fwd needs an IPv6 rule file to use the IPv4 one; the benchmark sends no IPv6\n"
                 "R2001:db8::/32 1\n")
    return paths


def _checksum(header):
    s = sum(struct.unpack("!10H", header))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class PcapWriter:
    """Classic microsecond pcap, Ethernet; one fixed-size record at a time."""

    def __init__(self, path):
        self.f = open(path, "wb", buffering=1 << 22)
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.n = 0

    def frame(self, data):
        self.n += 1
        self.f.write(struct.pack("<IIII", self.n // 1000000, self.n % 1000000, len(data), len(data)))
        self.f.write(data)

    def close(self):
        self.f.close()


def _udp_frame(dst_mac, src_mac, src_ip, dst_ip, sport, dport, ident):
    """A 60-byte Ethernet/IPv4/UDP frame with a correct IPv4 header checksum."""
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 46, ident & 0xFFFF, 0, 64, 17, 0, src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", sport, dport, 26, 0)
    return dst_mac + src_mac + b"\x08\x00" + ip + udp + bytes(18)


def l3_pcap(route_count, frames, seed=1, distinct=False):
    """Frames to the router MAC, destinations uniformly random inside random
    routes of the route set (`distinct`: every destination different).
    Returns the path (cached)."""
    path = _cache_path(f"l3-r{route_count}-f{frames}{'-distinct' if distinct else ''}-s{seed}.pcap")
    if os.path.exists(path):
        return path
    table = routes(route_count, seed)
    rng = random.Random(f"l3-{route_count}-{frames}-{distinct}-{seed}")
    dst_mac = mac_bytes(ROUTER_MAC)
    src_mac = mac_bytes("02:00:00:00:00:aa")
    seen = set()
    out = PcapWriter(path + ".tmp")
    pack_udp = struct.Struct("!HHHH").pack
    head = dst_mac + src_mac + b"\x08\x00"
    made = 0
    while made < frames:
        network, length, _ = table[rng.randrange(len(table))]
        dst = network | (rng.getrandbits(32 - length) if length < 32 else 0)
        if distinct:
            if dst in seen:
                continue
            seen.add(dst)
        src = SOURCE_NET | rng.randrange(2, 255)
        ip = struct.pack("!BBHHHBBHII", 0x45, 0, 46, made & 0xFFFF, 0, 64, 17, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        out.frame(head + ip + pack_udp(rng.randrange(1024, 65536), 9, 26, 0) + bytes(18))
        made += 1
    out.close()
    os.replace(path + ".tmp", path)
    return path


def l2_macs(count, seed=1):
    rng = random.Random(f"macs-{count}-{seed}")
    macs = set()
    while len(macs) < count:
        # locally administered unicast: first octet 0x02 | random bits, multicast bit clear
        first = (rng.getrandbits(8) & 0xFC) | 0x02
        macs.add(bytes([first]) + rng.getrandbits(40).to_bytes(5, "big"))
    return sorted(macs)


def l2_pcaps(mac_count, seed=1):
    """Two pcaps for a bridge of two looping pcap ports: side A's frames come
    from half of the MACs and go to MACs of side B, and the other way round,
    so once every source has been seen each lookup hits and forwards to the
    other port.  Each side has max(4096, mac_count/2) frames (every source at
    least once).  Returns (path_a, path_b) (cached)."""
    per_side = max(PEER_FRAMES, mac_count // 2)
    paths = tuple(_cache_path(f"l2-m{mac_count}-f{per_side}-s{seed}-{side}.pcap") for side in "ab")
    if all(os.path.exists(p) for p in paths):
        return paths
    macs = l2_macs(mac_count, seed)
    rng = random.Random(f"l2-{mac_count}-{seed}")
    rng.shuffle(macs)
    half = mac_count // 2
    sides = (macs[:half], macs[half:])
    for side, path in enumerate(paths):
        sources, targets = sides[side], sides[1 - side]
        out = PcapWriter(path + ".tmp")
        for i in range(per_side):
            src = sources[i % len(sources)]
            dst = targets[rng.randrange(len(targets))]
            src_ip = 0x0A020000 | side << 15 | i % len(sources)
            dst_ip = 0x0A020000 | (1 - side) << 15 | rng.randrange(len(targets))
            out.frame(_udp_frame(dst, src, src_ip, dst_ip, rng.randrange(1024, 65536), 9, i))
        out.close()
        os.replace(path + ".tmp", path)
    return paths


def count_distinct_destinations(path):
    """Distinct IPv4 destinations in a pcap of our fixed-size frames (a check)."""
    with open(path, "rb") as f:
        data = f.read()
    step = 16 + FRAME_LEN
    return len({data[i + 16 + 30:i + 16 + 34] for i in range(24, len(data), step)})


def main(argv=None):
    parser = argparse.ArgumentParser(description="generate the benchmark inputs (cached in bench/build)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--routes", type=int, action="append", help="route set size (repeatable)")
    parser.add_argument("--l3-frames", type=int, default=PEER_FRAMES)
    parser.add_argument("--distinct", action="store_true", help="every destination different")
    parser.add_argument("--l2-macs", type=int, action="append", help="L2 MAC count (repeatable)")
    args = parser.parse_args(argv)
    for count in args.routes or []:
        files = route_files(count, args.seed)
        print(files["vswitch"], files["l3fwd_v4"])
        print(l3_pcap(count, args.l3_frames, args.seed, args.distinct))
    for count in args.l2_macs or []:
        print(*l2_pcaps(count, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
