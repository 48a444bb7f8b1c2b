"""Property tests: bridge MAC learning, aging, moves, limit and statics against
a reference model, through the real data path.

Frames are written to the members' rx pcap files and replayed with
vs_offline_run, so the pcap clock drives learning and aging exactly as in
`--until-idle` mode.  The run is stepped one timestamp at a time (deadline =
t + 1); after each step the MAC table (vs_mac_dump, vs_mac_lookup), the
bridge counters and every port's counters are compared with the model.
Between frames the control plane may add static entries or flush.

The model (SPEC "Forwarding behaviour", L2):
- the source MAC is learned on the ingress member unless it is multicast or a
  static entry; a live entry seen on another member moves;
- an entry is live while now - last_seen <= aging (aging 0 = never ages);
- at mac_limit live dynamic entries a new MAC is refused (limit_refused);
  expired entries do not count; statics never count, age or move;
- forwarding: 01:80:c2:00:00:0x dropped, multicast/broadcast and unknown
  unicast flooded to the other members, known unicast to its member, or
  dropped when that is the ingress member.
Frames processed in (timestamp, port order, file order), as the SPEC says.
"""

import os
import shutil
import struct
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vswitch._core import ffi, lib

PCAP_MAGIC_NS = 0xA1B23C4D
T0 = 10**9  # first frame at 1 s of pcap time

# Port 0 is a null port that is NOT in the bridge: nothing may ever reach it.
# Ports 1-3 are pcap ports and the bridge's members (iface id = port id).
OUTSIDER = 0
MEMBERS = [1, 2, 3]
N_PORTS = 4

SRCS = [
    bytes.fromhex("020000000001"),
    bytes.fromhex("020000000002"),
    bytes.fromhex("020000000003"),
    bytes.fromhex("0a1b2c3d4e5f"),
    bytes.fromhex("000000000000"),  # all-zero: a unicast MAC like any other
    bytes.fromhex("01005e000001"),  # multicast source: never learned
]
UNICAST = [m for m in SRCS if not m[0] & 1]
DSTS = UNICAST + [
    b"\xff" * 6,
    bytes.fromhex("0180c200000e"),  # 802.1D reserved group: dropped
    bytes.fromhex("0180c2000010"),  # just multicast: flooded
    bytes.fromhex("01005e000001"),
]

DROP = {ffi.string(lib.vs_drop_reason_name(i)).decode(): i for i in range(lib.vs_drop_reason_count())}
RESERVED = DROP["l2_reserved_group"]
SAME_IFACE = DROP["l2_same_interface"]


def is_reserved(mac):
    return mac[:5] == b"\x01\x80\xc2\x00\x00" and mac[5] & 0xF0 == 0


def frame(dst, src, seq):
    return dst + src + b"\x88\xb5" + struct.pack(">I", seq) + bytes(42)


def write_pcap(path, records):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", PCAP_MAGIC_NS, 2, 4, 0, 0, 65535, 1))
        for ts, data in records:
            f.write(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(data), len(data)) + data)


# ---- the reference ---------------------------------------------------------


class RefBridge:
    def __init__(self, aging, limit):
        self.aging, self.limit = aging, limit
        self.dyn = {}      # mac -> [iface, last_seen]
        self.static = {}   # mac -> iface
        self.learned = self.moved = self.refused = self.aged = 0
        self.ports = {p: {"rx": 0, "tx": 0, "fwd": 0, "flood": 0, RESERVED: 0, SAME_IFACE: 0}
                      for p in range(N_PORTS)}

    def expire(self, now):
        for mac, (_, seen) in list(self.dyn.items()):
            if self.aging and now - seen > self.aging:
                del self.dyn[mac]
                self.aged += 1

    def learn(self, mac, iface, now):
        if mac[0] & 1 or mac in self.static:
            return
        self.expire(now)
        e = self.dyn.get(mac)
        if e:
            if e[0] != iface:
                self.moved += 1
            e[:] = [iface, now]
        elif len(self.dyn) >= self.limit:
            self.refused += 1
        else:
            self.dyn[mac] = [iface, now]
            self.learned += 1

    def where(self, mac, now):
        if mac in self.static:
            return self.static[mac]
        self.expire(now)
        e = self.dyn.get(mac)
        return e[0] if e else None

    def frame(self, port, dst, src, now):
        s = self.ports[port]
        s["rx"] += 1
        self.learn(src, port, now)
        if is_reserved(dst):
            s[RESERVED] += 1
            return
        out = None if dst[0] & 1 else self.where(dst, now)
        if out is None:
            s["flood"] += 1
            for m in MEMBERS:
                if m != port:
                    self.ports[m]["tx"] += 1
        elif out == port:
            s[SAME_IFACE] += 1
        else:
            s["fwd"] += 1
            self.ports[out]["tx"] += 1

    def add_static(self, mac, iface, now):
        self.expire(now)
        self.dyn.pop(mac, None)
        self.static[mac] = iface

    def flush(self, iface, include_static, now):
        self.expire(now)
        for mac, (i, _) in list(self.dyn.items()):
            if iface < 0 or i == iface:
                del self.dyn[mac]
        if include_static:
            for mac, i in list(self.static.items()):
                if iface < 0 or i == iface:
                    del self.static[mac]

    def table(self, now):
        self.expire(now)
        rows = {(mac, i, 0, seen) for mac, (i, seen) in self.dyn.items()}
        return rows | {(mac, i, 1, 0) for mac, i in self.static.items()}


# ---- scenarios ---------------------------------------------------------------


@st.composite
def scenarios(draw):
    aging = draw(st.sampled_from([0, 1000, 2 * 10**9]), label="aging_ns")
    limit = draw(st.sampled_from([1, 1, 2, 3, 1000]), label="mac_limit")
    near = [0, 1] + ([aging - 1, aging, aging + 1] if aging else [])
    # Mostly within one pcap second, so expired entries often wait in the table
    # for the next sweep (once a second) and the lookups must see through them.
    delta = st.one_of(
        st.sampled_from(near),
        st.sampled_from(near),
        st.integers(0, 3 * (aging or 10**6)),
        st.integers(0, 3 * (aging or 10**6)),
        st.just(1_500_000_000),  # crosses an offline sweep
    )
    frames = st.tuples(
        st.just("frame"),
        st.sampled_from(MEMBERS),
        st.sampled_from(SRCS),
        st.sampled_from(DSTS),
        delta,
    )
    statics = st.tuples(st.just("static"), st.sampled_from(MEMBERS), st.sampled_from(UNICAST), delta)
    flushes = st.tuples(
        st.just("flush"), st.sampled_from([-1] + MEMBERS), st.booleans(), delta)
    steps = draw(st.lists(st.one_of(frames, frames, frames, frames, frames, statics, flushes),
                          min_size=1, max_size=40))
    initial = draw(st.dictionaries(st.sampled_from(UNICAST), st.sampled_from(MEMBERS), max_size=2))
    tail = draw(st.sampled_from([0, 1] + near[2:] + [10**10]), label="final_clock_advance")
    return aging, limit, initial, steps, tail


# ---- the harness -------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir():
    d = tempfile.mkdtemp(prefix="vs-mac-prop-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run_scenario(workdir, aging, limit, initial, steps, tail):
    # Give every step its time and sequence number, then the order the core uses.
    timed, t = [], T0
    for seq, step in enumerate(steps):
        t += step[-1]
        timed.append((t, seq, step))
    per_port = {p: [] for p in MEMBERS}
    for ts, seq, step in timed:
        if step[0] == "frame":
            per_port[step[1]].append((ts, frame(step[3], step[2], seq)))
    paths = {}
    for p in MEMBERS:
        paths[p] = os.path.join(workdir, "p%d.pcap" % p)
        write_pcap(paths[p], per_port[p])

    dp = lib.vs_dp_create(64, 1, 16, 4)
    assert dp
    try:
        assert lib.vs_port_null_open(dp, b"outsider", 1500) == OUTSIDER
        for p in MEMBERS:
            rc = lib.vs_port_pcap_open(dp, b"p%d" % p, paths[p].encode(), ffi.NULL, 0, 1, 1500)
            assert rc == p, ffi.string(lib.vs_last_error())
        br = lib.vs_iface_add_bridge(dp, aging, limit)
        assert br == lib.VS_MAX_PORTS   # the first VLAN or bridge interface id
        for p in MEMBERS:
            assert lib.vs_bridge_add_member(dp, br, p) == 0

        ref = RefBridge(aging, limit)
        for mac, member in initial.items():
            assert lib.vs_mac_add_static(dp, br, mac, member) == 0
            ref.add_static(mac, member, 0)

        # Frames before control-plane steps at equal times; frames by port, then file order.
        def order(item):
            ts, seq, step = item
            return (ts, 0, step[1], seq) if step[0] == "frame" else (ts, 1, 0, seq)

        timed.sort(key=order)
        next_ts = ffi.new("uint64_t *")
        i = 0
        while i < len(timed):
            now = timed[i][0]
            rc = lib.vs_offline_run(dp, now + 1, next_ts)
            assert rc in (lib.VS_OFFLINE_DONE, lib.VS_OFFLINE_TIMER)
            lib.vs_dp_set_clock(dp, now)
            assert lib.vs_dp_clock(dp) == now
            while i < len(timed) and timed[i][0] == now:
                _, _, step = timed[i]
                if step[0] == "frame":
                    ref.frame(step[1], step[3], step[2], now)
                elif step[0] == "static":
                    lib.vs_mac_age(dp)  # the control plane ages before editing the table
                    assert lib.vs_mac_add_static(dp, br, step[2], step[1]) == 0
                    ref.add_static(step[2], step[1], now)
                else:
                    lib.vs_mac_age(dp)
                    lib.vs_mac_flush(dp, br, step[1], int(step[2]))
                    ref.flush(step[1], step[2], now)
                i += 1
            compare(dp, br, ref, now, "after t=%d" % now)
        assert lib.vs_offline_run(dp, 2**64 - 1, next_ts) == lib.VS_OFFLINE_DONE

        # Time passes with no traffic: aging is read against the dp clock.
        now = timed[-1][0] + tail
        lib.vs_dp_set_clock(dp, now)
        compare(dp, br, ref, now, "after the clock moved to %d" % now)
        lib.vs_mac_age(dp)
        ref.expire(now)
        compare(dp, br, ref, now, "after vs_mac_age", aged=True)
    finally:
        lib.vs_dp_destroy(dp)


def show(rows):
    return sorted((m.hex(":"), i, s, t) for m, i, s, t in rows)


def compare(dp, br, ref, now, when, aged=False):
    want = ref.table(now)
    out = ffi.new("struct vs_mac_info[64]")
    n = lib.vs_mac_dump(dp, br, out, 64)
    got = {(bytes(out[k].mac), out[k].iface, out[k].is_static, out[k].last_seen_ns) for k in range(n)}
    assert n == len(got), "%s: duplicate entries in the dump" % when
    assert got == want, "%s: table\n core      %s\n reference %s" % (when, show(got), show(want))

    info = ffi.new("struct vs_mac_info *")
    for mac in SRCS:
        found = lib.vs_mac_lookup(dp, br, mac, info)
        row = [r for r in want if r[0] == mac]
        assert found == len(row), "%s: lookup %s" % (when, mac.hex(":"))
        if found:
            assert (bytes(info.mac), info.iface, info.is_static, info.last_seen_ns) == row[0]

    bs = ffi.new("struct vs_bridge_stats *")
    lib.vs_bridge_stats_get(dp, br, bs)
    counters = {"learned": bs.learned, "moved": bs.moved, "limit_refused": bs.limit_refused,
                "entries": bs.entries}
    expect = {"learned": ref.learned, "moved": ref.moved, "limit_refused": ref.refused,
              "entries": len(ref.dyn)}  # live learned entries at `now` (ref.table expired the rest)
    if aged:  # exact only once every expired entry has been swept
        counters["aged"] = bs.aged
        expect["aged"] = ref.aged
    assert counters == expect, "%s: bridge stats" % when

    ps = ffi.new("struct vs_port_stats *")
    for p in range(N_PORTS):
        lib.vs_port_stats_get(dp, p, ps)
        got_p = {"rx": ps.rx_packets, "tx": ps.tx_packets, "fwd": ps.forwarded, "flood": ps.flooded,
                 RESERVED: ps.drops[RESERVED], SAME_IFACE: ps.drops[SAME_IFACE]}
        assert got_p == ref.ports[p], "%s: port %d counters" % (when, p)
        assert ps.rx_dropped == ps.drops[RESERVED] + ps.drops[SAME_IFACE], "%s: port %d other drops" % (when, p)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_mac_learning_matches_reference(workdir, scenario):
    run_scenario(workdir, *scenario)


# ---- fixed cases, so the corners are always covered ---------------------------------

A, B, C, Z = SRCS[0], SRCS[1], SRCS[2], SRCS[4]
BCAST = b"\xff" * 6


@pytest.mark.parametrize(
    "aging,limit,initial,steps,tail",
    [
        # ages exactly after `aging` of silence: live at +aging, gone at +aging+1
        (1000, 10, {}, [("frame", 1, A, BCAST, 0), ("frame", 2, B, A, 1000), ("frame", 2, B, A, 1)], 0),
        # aging 0: never ages, even after a long silence
        (0, 10, {}, [("frame", 1, A, BCAST, 0), ("frame", 2, B, A, 10**10)], 10**12),
        # move, then the limit: C refused while A and B live, learned once A expired
        (1000, 2, {}, [("frame", 1, A, BCAST, 0), ("frame", 2, A, BCAST, 10), ("frame", 2, B, BCAST, 10),
                       ("frame", 3, C, BCAST, 10), ("frame", 3, B, BCAST, 995), ("frame", 3, C, A, 1)], 0),
        # statics neither move nor age nor count toward the limit; frames to them go to their member
        (1000, 1, {A: 3}, [("frame", 1, A, BCAST, 0), ("frame", 1, B, A, 5000), ("frame", 2, C, A, 1)], 10**9),
        # the all-zero MAC is learned, forwarded to and aged like any other,
        # and never sends frames to a port outside the bridge
        (0, 10, {}, [("frame", 2, B, Z, 0), ("frame", 1, Z, B, 1), ("frame", 3, C, Z, 1)], 0),
        # equal timestamps: port order decides (port 1's frame first though listed second),
        # so A ends up on member 2
        (1000, 10, {}, [("frame", 3, B, A, 0), ("frame", 2, A, B, 5), ("frame", 1, A, B, 0),
                        ("frame", 3, B, A, 1)], 0),
        # a learned MAC made static frees its place under the limit
        (0, 1, {}, [("frame", 1, A, BCAST, 0), ("static", 2, A, 1), ("frame", 3, B, A, 1),
                    ("frame", 1, C, B, 1)], 0),
        # flush one member, then all including statics
        (0, 10, {C: 1}, [("frame", 1, A, BCAST, 0), ("frame", 2, B, BCAST, 1), ("flush", 1, False, 1),
                         ("frame", 3, B, A, 1), ("flush", -1, True, 1), ("frame", 3, A, C, 1)], 0),
    ],
    ids=["aging-boundary", "never-ages", "move-and-limit", "statics", "zero-mac", "ties",
         "static-replaces-learned", "flush"],
)
def test_mac_fixed_cases(workdir, aging, limit, initial, steps, tail):
    run_scenario(workdir, aging, limit, initial, steps, tail)
