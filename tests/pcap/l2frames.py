"""Helpers for the L2 and offline-mode golden tests.

Input frames are built with scapy (`eth`, `tagged`, `raw`); the frames a
test expects to see transmitted are built independently, byte by byte
(`wire`, `wire_tagged`), so a scapy quirk cannot hide a forwarding bug.
Raw pcap files (nanosecond, big-endian, truncated records, pcapng, other
link types) are written and read with struct (`write_pcap`, `read_pcap`).
"""
import os
import struct

from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw

# Host MACs used across the tests.
A = "02:00:00:00:00:0a"
B = "02:00:00:00:00:0b"
C = "02:00:00:00:00:0c"
D = "02:00:00:00:00:0d"
X = "02:00:00:00:00:aa"
Y = "02:00:00:00:00:bb"
Z = "02:00:00:00:00:cc"
W = "02:00:00:00:00:dd"
BCAST = "ff:ff:ff:ff:ff:ff"
UNKNOWN = "02:00:00:00:99:99"   # never a source in any test

ETYPE = 0x88B5                   # IEEE local experimental: no meaning to the appliance


def payload(tag, size=46):
    """A recognisable payload: the tag, then filler up to size bytes."""
    body = tag.encode() if isinstance(tag, str) else bytes(tag)
    return (body + b"." * size)[:max(size, len(body))]


# ---- inputs (scapy) --------------------------------------------------------

def _timed(pkt, t):
    pkt.time = t
    return pkt


def eth(dst, src, t, tag="x", etype=ETYPE, size=46):
    """An untagged frame, built with scapy, stamped t (seconds)."""
    return _timed(Ether(dst=dst, src=src, type=etype) / Raw(payload(tag, size)), t)


def tagged(dst, src, t, vid, pcp=0, tag="x", etype=ETYPE, size=46, tpid=0x8100):
    """An 802.1Q-tagged frame (outer TPID tpid), built with scapy."""
    return _timed(Ether(dst=dst, src=src, type=tpid) / Dot1Q(prio=pcp, vlan=vid, type=etype)
                  / Raw(payload(tag, size)), t)


def raw(data, t):
    """Any bytes as a pcap record (runts, cut tags)."""
    return _timed(Raw(load=bytes(data)), t)


# ---- expected outputs (independent bytes) ----------------------------------

def mac(text):
    return bytes(int(part, 16) for part in text.split(":"))


def wire(dst, src, tag="x", etype=ETYPE, size=46):
    """The untagged frame's bytes, built without scapy."""
    return mac(dst) + mac(src) + struct.pack("!H", etype) + payload(tag, size)


def wire_tagged(dst, src, vid, pcp=0, tag="x", etype=ETYPE, size=46, tpid=0x8100):
    return (mac(dst) + mac(src) + struct.pack("!HH", tpid, pcp << 13 | vid) + struct.pack("!H", etype)
            + payload(tag, size))


# ---- configs ----------------------------------------------------------------

def pcap_port(name, rx=True, tx=True, extra=""):
    """One `ports:` line for a pcap port using the fixture's in/ and out/ paths."""
    opts = ["driver: pcap"]
    if rx:
        opts.append(f"rx_pcap: in/{name}.pcap")
    if tx:
        opts.append(f"tx_pcap: out/{name}.pcap")
    if extra:
        opts.append(extra)
    return f"  {name}: {{{', '.join(opts)}}}\n"


def config(ports, body="", head=""):
    """A version-1 config: `ports` (names, or (name, extra-options) pairs) as
    pcap ports, then `body` (vlans:, bridges:, ... at column 0)."""
    text = "version: 1\n" + head + "ports:\n"
    for port in ports:
        name, extra = (port, "") if isinstance(port, str) else port
        text += pcap_port(name, extra=extra)
    return text + body


def bridge(members, name="br0", **options):
    """A `bridges:` section with one bridge."""
    opts = [f"interfaces: [{', '.join(members)}]"] + [f"{k}: {v}" for k, v in options.items()]
    return f"bridges:\n  {name}: {{{', '.join(opts)}}}\n"


def bridge_cfg(members=("a", "b", "c"), **options):
    """The common topology: pcap ports `members`, all in bridge br0."""
    return config(members, bridge(members, **options))


def bridge_stats(run, name="br0"):
    return next(b for b in run.state["bridges"] if b["name"] == name)


def macs(run, bridge_name=None):
    """{mac: (interface, static, age)} from the end-of-run state."""
    return {m["mac"]: (m["interface"], m["static"], m["age"]) for m in run.state["macs"]
            if bridge_name is None or m["bridge"] == bridge_name}


# ---- raw pcap files ----------------------------------------------------------

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D


def write_pcap(path, records, nano=False, endian="<", linktype=1, snaplen=65535):
    """records: (ts_seconds_int, ts_fraction_int, data) or
    (sec, frac, data, wire_len) for records whose caplen < len."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack(endian + "IHHiIII", MAGIC_NS if nano else MAGIC_US, 2, 4, 0, 0, snaplen, linktype))
        for rec in records:
            sec, frac, data = rec[:3]
            wire_len = rec[3] if len(rec) > 3 else len(data)
            f.write(struct.pack(endian + "IIII", sec, frac, len(data), wire_len))
            f.write(data)


def read_pcap(path):
    """(header dict, [(sec, frac, caplen, wire_len, data)]) of a classic pcap."""
    with open(path, "rb") as f:
        blob = f.read()
    magic = struct.unpack("<I", blob[:4])[0]
    endian = "<" if magic in (MAGIC_US, MAGIC_NS) else ">"
    magic, major, minor, zone, sigfigs, snaplen, linktype = struct.unpack(endian + "IHHiIII", blob[:24])
    header = {"magic": magic, "version": (major, minor), "snaplen": snaplen, "linktype": linktype,
              "endian": endian}
    records, off = [], 24
    while off < len(blob):
        sec, frac, caplen, wire_len = struct.unpack(endian + "IIII", blob[off:off + 16])
        off += 16
        records.append((sec, frac, caplen, wire_len, blob[off:off + caplen]))
        off += caplen
    return header, records
