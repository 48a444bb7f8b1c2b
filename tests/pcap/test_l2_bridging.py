"""Golden tests: L2 bridging (SPEC.md "Forwarding behaviour", L2), byte for byte.

Learning, known unicast, flooding, the 802.1D reserved group, moves, aging
on the pcap clock, mac_limit, static MACs and the port-level drops (runt,
giant, no_interface).  Every expected frame is built from bytes in
l2frames.wire*, independently of the scapy frames fed in.
"""
from l2frames import (BCAST, UNKNOWN, A, B, C, D, W, X, Y, Z, bridge, bridge_cfg, bridge_stats, config, eth, macs,
                      raw, wire)

S = "02:00:00:00:00:5a"   # a static MAC


def ok(run):
    assert run.returncode == 0, run.stderr
    return run


# ---- learning, known unicast, flooding -------------------------------------------------------

def test_learned_mac_gets_known_unicast_on_one_member_only(offline):
    run = ok(offline(bridge_cfg(), {
        "a": [eth(BCAST, A, 1.0, "f1"), eth(B, A, 3.0, "f3")],
        "b": [eth(A, B, 2.0, "f2")],
    }))
    assert run.sent("a") == [wire(A, B, "f2")]
    assert run.sent("b") == [wire(BCAST, A, "f1"), wire(B, A, "f3")]
    assert run.sent("c") == [wire(BCAST, A, "f1")]
    assert (run.port("a")["flooded"], run.port("a")["forwarded"]) == (1, 1)
    assert (run.port("b")["flooded"], run.port("b")["forwarded"]) == (0, 1)
    assert macs(run) == {A: ("a", False, 0.0), B: ("b", False, 1.0)}
    stats = bridge_stats(run)
    assert (stats["entries"], stats["learned"], stats["moved"]) == (2, 2, 0)


def test_unknown_unicast_is_flooded_to_every_other_member(offline):
    run = ok(offline(bridge_cfg(("a", "b", "c", "d")), {"a": [eth(UNKNOWN, A, 1.0)]}))
    for port in ("b", "c", "d"):
        assert run.sent(port) == [wire(UNKNOWN, A)]
    assert run.sent("a") == []
    assert run.port("a")["flooded"] == 1


def test_broadcast_and_multicast_are_flooded_never_back_to_the_receiver(offline):
    dsts = [BCAST, "01:00:5e:00:00:fb", "33:33:00:00:00:01", "01:00:0c:cc:cc:cc"]
    run = ok(offline(bridge_cfg(("a", "b", "c", "d")),
                     {"b": [eth(dst, B, 1.0 + i, f"m{i}") for i, dst in enumerate(dsts)]}))
    expected = [wire(dst, B, f"m{i}") for i, dst in enumerate(dsts)]
    for port in ("a", "c", "d"):
        assert run.sent(port) == expected
    assert run.sent("b") == []
    assert run.port("b")["flooded"] == len(dsts)


def test_each_port_sends_in_input_order(offline):
    # a and b take turns; the frames c gets keep the order they came in
    frames_a = [eth(BCAST, A, 1.0, "a1"), eth(UNKNOWN, A, 3.0, "a3"), eth("01:00:5e:01:02:03", A, 5.0, "a5")]
    frames_b = [eth(UNKNOWN, B, 2.0, "b2"), eth("33:33:00:00:00:02", B, 4.0, "b4"), eth(BCAST, B, 6.0, "b6")]
    run = ok(offline(bridge_cfg(), {"a": frames_a, "b": frames_b}))
    a_out = [wire(BCAST, A, "a1"), wire(UNKNOWN, A, "a3"), wire("01:00:5e:01:02:03", A, "a5")]
    b_out = [wire(UNKNOWN, B, "b2"), wire("33:33:00:00:00:02", B, "b4"), wire(BCAST, B, "b6")]
    assert run.sent("b") == a_out
    assert run.sent("a") == b_out
    assert run.sent("c") == [a_out[0], b_out[0], a_out[1], b_out[1], a_out[2], b_out[2]]
    assert [ts for ts, _ in run.frames("c")] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_multicast_source_is_not_learned_but_the_frame_is_forwarded(offline):
    run = ok(offline(bridge_cfg(), {
        "a": [eth(UNKNOWN, "01:00:5e:00:00:01", 1.0, "m1"), eth(BCAST, BCAST, 2.0, "m2")],
        "b": [eth(BCAST, "03:00:00:00:00:01", 3.0, "m3"),
              # a frame to the "MAC" a multicast source used is not steered to a
              eth("03:00:00:00:00:01", B, 4.0, "m4")],
    }))
    assert run.sent("b") == [wire(UNKNOWN, "01:00:5e:00:00:01", "m1"), wire(BCAST, BCAST, "m2")]
    assert run.sent("c") == [wire(UNKNOWN, "01:00:5e:00:00:01", "m1"), wire(BCAST, BCAST, "m2"),
                             wire(BCAST, "03:00:00:00:00:01", "m3"), wire("03:00:00:00:00:01", B, "m4")]
    assert run.sent("a") == [wire(BCAST, "03:00:00:00:00:01", "m3"), wire("03:00:00:00:00:01", B, "m4")]
    assert macs(run) == {B: ("b", False, 0.0)}
    assert bridge_stats(run)["learned"] == 1


def test_802_1d_reserved_group_is_never_forwarded(offline):
    reserved = [f"01:80:c2:00:00:{i:02x}" for i in range(16)]
    run = ok(offline(bridge_cfg(), {"a": [eth(dst, A, 1.0 + i) for i, dst in enumerate(reserved)]}))
    for port in ("a", "b", "c"):
        assert run.sent(port) == []
    a = run.port("a")
    assert a["drops"] == {"l2_reserved_group": 16}
    assert (a["rx_packets"], a["rx_dropped"], a["flooded"]) == (16, 16, 0)


def test_groups_just_outside_the_reserved_range_are_flooded(offline):
    dsts = ["01:80:c2:00:00:10", "01:80:c2:00:00:20", "01:80:c2:00:01:00", "01:80:c2:01:00:00"]
    run = ok(offline(bridge_cfg(), {"a": [eth(dst, A, 1.0 + i, f"g{i}") for i, dst in enumerate(dsts)]}))
    expected = [wire(dst, A, f"g{i}") for i, dst in enumerate(dsts)]
    assert run.sent("b") == expected
    assert run.sent("c") == expected
    assert run.port("a")["drops"] == {}


def test_known_unicast_behind_the_receiving_member_is_dropped(offline):
    run = ok(offline(bridge_cfg(), {
        "a": [eth(BCAST, A, 1.0, "f1"), eth(BCAST, B, 2.0, "f2"), eth(B, A, 3.0, "f3")],
    }))
    assert run.sent("a") == []
    assert run.sent("b") == [wire(BCAST, A, "f1"), wire(BCAST, B, "f2")]
    assert run.sent("c") == [wire(BCAST, A, "f1"), wire(BCAST, B, "f2")]
    assert run.port("a")["drops"] == {"l2_same_interface": 1}
    assert run.port("a")["rx_dropped"] == 1


def test_flood_in_a_single_member_bridge_has_no_member(offline):
    cfg = config(("a", "b"), bridge(["a"]))    # b is in no bridge
    run = ok(offline(cfg, {"a": [eth(BCAST, A, 1.0), eth(UNKNOWN, A, 2.0), eth("01:00:5e:00:00:01", A, 3.0)]}))
    assert run.sent("a") == [] and run.sent("b") == []
    assert run.port("a")["drops"] == {"l2_flood_no_member": 3}
    assert run.port("a")["flooded"] == 0


# ---- moves -----------------------------------------------------------------------------------

def test_mac_seen_on_another_member_moves(offline):
    run = ok(offline(bridge_cfg(), {
        "a": [eth(BCAST, A, 1.0, "f1"), eth(C, A, 5.0, "f5")],
        "b": [eth(BCAST, A, 3.0, "f3")],                      # A moves a -> b
        "c": [eth(A, C, 2.0, "f2"), eth(A, C, 4.0, "f4"), eth(A, C, 6.0, "f6")],
    }))
    assert run.sent("a") == [wire(A, C, "f2"), wire(BCAST, A, "f3"), wire(A, C, "f6")]
    assert run.sent("b") == [wire(BCAST, A, "f1"), wire(A, C, "f4")]
    assert run.sent("c") == [wire(BCAST, A, "f1"), wire(BCAST, A, "f3"), wire(C, A, "f5")]
    assert bridge_stats(run)["moved"] == 2                     # a -> b, then b -> a
    assert macs(run) == {A: ("a", False, 1.0), C: ("c", False, 0.0)}


# ---- aging on the pcap clock -------------------------------------------------------------------

def test_mac_silent_longer_than_mac_aging_is_forgotten(offline):
    run = ok(offline(bridge_cfg(mac_aging=10), {
        "a": [eth(BCAST, A, 100.0, "f1")],
        "b": [eth(BCAST, B, 105.0, "f2")],
        "c": [eth(A, C, 111.0, "f3"),    # A silent 11 s: forgotten, flooded
              eth(B, C, 111.0, "f4")],   # B silent 6 s: known
    }))
    assert run.sent("a") == [wire(BCAST, B, "f2"), wire(A, C, "f3")]
    assert run.sent("b") == [wire(BCAST, A, "f1"), wire(A, C, "f3"), wire(B, C, "f4")]
    assert run.port("c")["flooded"] == 1 and run.port("c")["forwarded"] == 1
    assert macs(run) == {B: ("b", False, 6.0), C: ("c", False, 0.0)}
    stats = bridge_stats(run)
    assert (stats["entries"], stats["aged"]) == (2, 1)


def test_mac_refreshed_in_time_is_kept(offline):
    run = ok(offline(bridge_cfg(mac_aging=10), {
        "a": [eth(BCAST, A, 100.0, "f1"), eth(UNKNOWN, A, 108.0, "f2")],   # A refreshed at 108
        "b": [eth(BCAST, B, 100.0, "f0")],                                  # B never again
        "c": [eth(A, C, 115.0, "f3"), eth(B, C, 115.0, "f4")],
    }))
    assert run.sent("a") == [wire(BCAST, B, "f0"), wire(A, C, "f3"), wire(B, C, "f4")]
    assert run.sent("b") == [wire(BCAST, A, "f1"), wire(UNKNOWN, A, "f2"), wire(B, C, "f4")]
    assert macs(run) == {A: ("a", False, 7.0), C: ("c", False, 0.0)}


def test_mac_entries_count_only_live_entries(offline):
    # B expires at 110 s; the last frame (110.5 s) comes less than a second after
    # the one before, so only an exact count can tell
    run = ok(offline(bridge_cfg(mac_aging=10), {
        "a": [eth(BCAST, A, 100.0), eth(BCAST, A, 109.8)],
        "b": [eth(BCAST, B, 100.0)],
        "c": [eth(BCAST, C, 110.5)],
    }))
    assert macs(run) == {A: ("a", False, 0.7), C: ("c", False, 0.0)}
    assert bridge_stats(run)["entries"] == 2


def test_mac_aging_zero_never_ages(offline):
    run = ok(offline(bridge_cfg(mac_aging=0), {
        "a": [eth(BCAST, A, 100.0, "f1")],
        "c": [eth(A, C, 1_000_100.0, "f2")],           # eleven days later
    }))
    assert run.sent("a") == [wire(A, C, "f2")]
    assert run.sent("b") == [wire(BCAST, A, "f1")]
    assert macs(run)[A] == ("a", False, 1_000_000.0)
    assert bridge_stats(run)["aged"] == 0


def test_default_mac_aging_is_300_seconds(offline):
    run = ok(offline(bridge_cfg(), {
        "a": [eth(BCAST, A, 100.0, "f1")],
        "b": [eth(BCAST, B, 100.0, "f2")],
        "c": [eth(A, C, 399.0, "f3"),                  # A silent 299 s: known
              eth(B, C, 401.0, "f4")],                 # B silent 301 s: forgotten
    }))
    assert run.sent("a") == [wire(BCAST, B, "f2"), wire(A, C, "f3"), wire(B, C, "f4")]
    assert run.sent("b") == [wire(BCAST, A, "f1"), wire(B, C, "f4")]


def test_mac_table_churn_keeps_forwarding_exact(offline):
    # a new MAC every 2 s with mac_aging 1: hundreds of entries expire, are swept
    # and replaced, so the table fills with tombstones and is rebuilt on the way
    n = 600
    host = [f"02:00:00:01:{i >> 8:02x}:{i & 0xff:02x}" for i in range(n)]
    frames_a, frames_c = [], []
    for i in range(n):
        t = 100.0 + 2 * i
        frames_a.append(eth(BCAST, host[i], t, f"hello{i}"))
        frames_c.append(eth(host[i], C, t + 0.5, f"to{i}"))            # known: a only
        if i:
            frames_c.append(eth(host[i - 1], C, t + 0.75, f"old{i}"))  # silent 2.75 s: flooded
    run = ok(offline(bridge_cfg(mac_limit=2, mac_aging=1), {"a": frames_a, "c": frames_c}))
    expect_a, expect_b = [], []
    for i in range(n):
        expect_b.append(wire(BCAST, host[i], f"hello{i}"))
        expect_a.append(wire(host[i], C, f"to{i}"))
        if i:
            expect_a.append(wire(host[i - 1], C, f"old{i}"))
            expect_b.append(wire(host[i - 1], C, f"old{i}"))
    assert run.sent("a") == expect_a
    assert run.sent("b") == expect_b
    stats = bridge_stats(run)
    assert (stats["limit_refused"], stats["moved"], stats["entries"]) == (0, 0, 2)
    assert macs(run) == {host[-1]: ("a", False, 0.75), C: ("c", False, 0.0)}


def test_a_wide_bridge_floods_to_every_member(offline):
    members = [f"p{i}" for i in range(24)]
    run = ok(offline(bridge_cfg(members), {"p5": [eth(BCAST, A, 1.0, "wide")], "p17": [eth(A, B, 2.0, "back")]}))
    for port in members:
        expected = [wire(A, B, "back")] if port == "p5" else [wire(BCAST, A, "wide")]
        assert run.sent(port) == expected, port


# ---- mac_limit -----------------------------------------------------------------------------------

def test_mac_limit_refuses_new_macs_and_floods_to_them(offline):
    run = ok(offline(bridge_cfg(mac_limit=2), {
        "a": [eth(BCAST, X, 1.0, "f1"), eth(BCAST, Y, 2.0, "f2"),
              eth(BCAST, Z, 3.0, "f3")],                   # third MAC: refused
        "c": [eth(Z, C, 4.0, "f4"),                        # to Z: flooded (C refused too)
              eth(X, C, 5.0, "f5")],                       # to X: known (C refused again)
    }))
    assert run.sent("a") == [wire(Z, C, "f4"), wire(X, C, "f5")]
    assert run.sent("b") == [wire(BCAST, X, "f1"), wire(BCAST, Y, "f2"), wire(BCAST, Z, "f3"), wire(Z, C, "f4")]
    assert macs(run) == {X: ("a", False, 4.0), Y: ("a", False, 3.0)}
    stats = bridge_stats(run)
    assert (stats["entries"], stats["learned"], stats["limit_refused"]) == (2, 2, 3)


def test_mac_limit_frees_up_when_entries_age_out(offline):
    run = ok(offline(bridge_cfg(("a", "b", "d"), mac_limit=2, mac_aging=10), {
        "a": [eth(BCAST, X, 100.0, "f1"), eth(BCAST, Y, 101.0, "f2"), eth(BCAST, Z, 102.0, "f3"),
              eth(BCAST, Z, 122.0, "f6")],                 # W and D hold both places again: refused
        "b": [eth(BCAST, W, 120.0, "f4")],                 # X and Y have aged out: learned
        "d": [eth(W, D, 121.0, "f5")],                     # to W: known
    }))
    assert run.sent("b") == [wire(BCAST, X, "f1"), wire(BCAST, Y, "f2"), wire(BCAST, Z, "f3"),
                             wire(W, D, "f5"), wire(BCAST, Z, "f6")]
    assert run.sent("a") == [wire(BCAST, W, "f4")]
    assert macs(run) == {W: ("b", False, 2.0), D: ("d", False, 1.0)}
    stats = bridge_stats(run)
    assert (stats["entries"], stats["learned"], stats["limit_refused"], stats["aged"]) == (2, 4, 2, 2)


def test_a_known_mac_still_moves_at_the_limit(offline):
    run = ok(offline(bridge_cfg(mac_limit=2), {
        "a": [eth(BCAST, X, 1.0, "f1"), eth(BCAST, Y, 2.0, "f2")],
        "b": [eth(BCAST, X, 3.0, "f3")],                   # not a new MAC: moves
        "c": [eth(X, Z, 4.0, "f4")],                       # Z refused, X now behind b
    }))
    assert run.sent("b") == [wire(BCAST, X, "f1"), wire(BCAST, Y, "f2"), wire(X, Z, "f4")]
    assert macs(run) == {X: ("b", False, 1.0), Y: ("a", False, 2.0)}
    stats = bridge_stats(run)
    assert (stats["moved"], stats["limit_refused"]) == (1, 1)


# ---- static MACs --------------------------------------------------------------------------------

STATIC = f'[{{macaddress: "{S}", interface: b}}]'


def test_static_mac_is_forwarded_to_its_member_without_being_learned(offline):
    run = ok(offline(bridge_cfg(static_macs=STATIC), {"c": [eth(S, C, 1.0, "f1")]}))
    assert run.sent("b") == [wire(S, C, "f1")]
    assert run.sent("a") == []
    assert run.port("c")["forwarded"] == 1
    assert run.state["macs"] == [
        {"bridge": "br0", "mac": C, "interface": "c", "static": False, "age": 0},
        {"bridge": "br0", "mac": S, "interface": "b", "static": True, "age": 0},
    ]
    assert bridge_stats(run)["entries"] == 1        # learned entries; the static one is not learned


def test_static_mac_never_moves_and_never_ages(offline):
    run = ok(offline(bridge_cfg(static_macs=STATIC, mac_aging=10), {
        "a": [eth(BCAST, S, 2.0, "f2")],             # S seen elsewhere: flooded, not moved
        "c": [eth(S, C, 3.0, "f3"),
              eth(S, C, 1000.0, "f4")],              # long after any aging
        "b": [eth(S, B, 1001.0, "f5")],              # to S from its own member
    }))
    assert run.sent("b") == [wire(BCAST, S, "f2"), wire(S, C, "f3"), wire(S, C, "f4")]
    assert run.sent("c") == [wire(BCAST, S, "f2")]
    assert run.sent("a") == []
    assert run.port("b")["drops"] == {"l2_same_interface": 1}
    assert macs(run)[S] == ("b", True, 0)
    assert bridge_stats(run)["moved"] == 0


def test_static_macs_do_not_count_against_mac_limit(offline):
    run = ok(offline(bridge_cfg(static_macs=STATIC, mac_limit=1), {
        "a": [eth(BCAST, A, 1.0, "f1")],                   # the one learned place
        "c": [eth(A, C, 2.0, "f2")],                       # C refused
    }))
    assert run.sent("a") == [wire(A, C, "f2")]
    assert macs(run) == {A: ("a", False, 1.0), S: ("b", True, 0)}
    assert bridge_stats(run)["limit_refused"] == 1


# ---- port-level drops ------------------------------------------------------------------------------

def test_runts_are_dropped_and_counted(offline):
    run = ok(offline(bridge_cfg(), {"a": [raw(b"", 1.0), raw(b"\xff", 2.0), raw(b"\xff" * 13, 3.0),
                                          eth(BCAST, A, 4.0, "ok")]}))
    assert run.sent("b") == [wire(BCAST, A, "ok")]
    a = run.port("a")
    assert a["drops"] == {"runt": 3}
    assert (a["rx_packets"], a["rx_bytes"], a["rx_dropped"]) == (4, 14 + 60, 3)


def test_minimum_header_only_frame_is_not_a_runt(offline):
    run = ok(offline(bridge_cfg(), {"a": [eth(BCAST, A, 1.0, "", size=0)]}))
    assert run.sent("b") == [wire(BCAST, A, "", size=0)]
    assert len(run.sent("b")[0]) == 14
    assert run.port("a")["drops"] == {}


def test_giant_is_longer_than_the_port_mtu(offline):
    # a and b: default mtu 1500 in br0; s (mtu 1000) and t in br1
    cfg = config(("a", "b", ("s", "mtu: 1000"), "t"), bridge(["a", "b"]) + "  br1: {interfaces: [s, t]}\n")
    run = ok(offline(cfg, {
        "a": [eth(BCAST, A, 1.0, "1514", size=1500), eth(BCAST, A, 2.0, "1515", size=1501)],
        "s": [eth(UNKNOWN, C, 3.0, "1014", size=1000), eth(UNKNOWN, C, 4.0, "1015", size=1001)],
    }))
    assert run.sent("b") == [wire(BCAST, A, "1514", size=1500)]
    assert run.sent("t") == [wire(UNKNOWN, C, "1014", size=1000)]
    assert [len(f) for f in run.sent("b") + run.sent("t")] == [1514, 1014]
    assert run.port("a")["drops"] == {"giant": 1}
    assert run.port("s")["drops"] == {"giant": 1}


def test_a_member_with_a_smaller_mtu_does_not_get_frames_too_big_for_it(offline):
    cfg = config(("a", "b", ("s", "mtu: 1000")), bridge(["a", "b", "s"]))
    run = ok(offline(cfg, {"a": [eth(BCAST, A, 1.0, "big", size=1001), eth(BCAST, A, 2.0, "fits", size=1000)]}))
    assert run.sent("b") == [wire(BCAST, A, "big", size=1001), wire(BCAST, A, "fits", size=1000)]
    assert run.sent("s") == [wire(BCAST, A, "fits", size=1000)]
    # the frame was flooded (b took it); the copy s could not take is s's tx drop
    assert run.port("a")["drops"] == {} and run.port("a")["flooded"] == 2
    assert run.port("s")["tx_dropped"] == 1


def test_jumbo_records_are_giants_and_nothing_breaks(offline):
    sizes = [1600, 2048, 9014, 65535]
    run = ok(offline(bridge_cfg(), {"a": [eth(BCAST, A, 1.0 + i, "j", size=n - 14) for i, n in enumerate(sizes)]
                                    + [eth(BCAST, A, 9.0, "after")]}))
    assert run.sent("b") == [wire(BCAST, A, "after")]
    assert run.port("a")["drops"] == {"giant": 4}


def test_frames_on_a_port_neither_bridged_nor_routed_are_dropped(offline):
    cfg = config(("a", "b", "lone"), bridge(["a", "b"]))
    run = ok(offline(cfg, {"lone": [eth(BCAST, A, 1.0), eth(B, A, 2.0)]}))
    assert run.sent("a") == [] and run.sent("b") == [] and run.sent("lone") == []
    lone = run.port("lone")
    assert lone["drops"] == {"no_interface": 2}
    assert (lone["rx_packets"], lone["rx_dropped"]) == (2, 2)
    assert run.state["macs"] == []
