"""Golden tests: 802.1Q sub-interfaces as bridge members, byte for byte.

SPEC.md: tags are added/removed at vlan sub-interfaces; only 0x8100 is a
tag; VID 0 (priority-tagged) counts as untagged; a pushed tag has PCP 0
unless the frame arrived tagged, whose PCP is kept; untagged frames on a
port that has vlans belong to the port itself; tagged frames whose VLAN has
no `vlans` entry are dropped and counted (`unknown_vlan`).
"""
import struct

from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw

from l2frames import BCAST, UNKNOWN, A, B, C, ETYPE, config, eth, mac, macs, payload, raw, tagged, wire, wire_tagged

PORTS = ("trunk", "trunk2", "acc10", "acc20", "native")


def vlan_cfg(native=False, vlans=None, bridges=None, ports=PORTS):
    """trunk carries VLANs 10 and 20, trunk2 VLAN 10.
    br10 = trunk.10 + acc10 + trunk2.10, br20 = trunk.20 + acc20;
    with native=True, trunk itself (its untagged frames) is in brn with native."""
    vlans = vlans or {"trunk.10": "{link: trunk, id: 10}", "trunk.20": "{link: trunk, id: 20}",
                      "trunk2.10": "{link: trunk2, id: 10}"}
    bridges = bridges or {"br10": "[trunk.10, acc10, trunk2.10]", "br20": "[trunk.20, acc20]"}
    if native:
        bridges = {**bridges, "brn": "[trunk, native]"}
    body = "vlans:\n" + "".join(f"  {n}: {v}\n" for n, v in vlans.items())
    body += "bridges:\n" + "".join(f"  {n}: {{interfaces: {m}}}\n" for n, m in bridges.items())
    return config(ports, body)


def ok(run):
    assert run.returncode == 0, run.stderr
    return run


def silent(run, *ports):
    for port in ports:
        assert run.sent(port) == [], port


# ---- tag pop / push ---------------------------------------------------------------------------

def test_tagged_in_on_a_trunk_leaves_an_access_port_untagged(offline):
    run = ok(offline(vlan_cfg(), {"trunk": [tagged(BCAST, A, 1.0, vid=10, pcp=5, tag="f1")]}))
    assert run.sent("acc10") == [wire(BCAST, A, "f1")]
    assert run.sent("trunk2") == [wire_tagged(BCAST, A, 10, pcp=5, tag="f1")]
    silent(run, "trunk", "acc20", "native")
    assert macs(run) == {A: ("trunk.10", False, 0.0)}


def test_untagged_in_on_an_access_port_gets_the_vlan_tag_with_pcp_0(offline):
    run = ok(offline(vlan_cfg(), {
        "trunk": [tagged(BCAST, A, 1.0, vid=10, pcp=5, tag="f1")],
        "acc10": [eth(A, B, 2.0, "f2"),              # known: out trunk.10 only
                  eth(BCAST, B, 3.0, "f3")],         # flooded: both trunks
    }))
    assert run.sent("trunk") == [wire_tagged(A, B, 10, pcp=0, tag="f2"), wire_tagged(BCAST, B, 10, pcp=0, tag="f3")]
    assert run.sent("trunk2") == [wire_tagged(BCAST, A, 10, pcp=5, tag="f1"),
                                  wire_tagged(BCAST, B, 10, pcp=0, tag="f3")]
    silent(run, "acc20", "native")
    assert macs(run) == {A: ("trunk.10", False, 2.0), B: ("acc10", False, 0.0)}


def test_pcp_is_kept_and_vid_rewritten_between_two_trunks(offline):
    cfg = vlan_cfg(vlans={"trunk.10": "{link: trunk, id: 10}", "trunk2.30": "{link: trunk2, id: 30}"},
                   bridges={"brx": "[trunk.10, trunk2.30, acc10]"})
    run = ok(offline(cfg, {
        "trunk": [tagged(BCAST, A, 1.0, vid=10, pcp=7, tag="p7"), tagged(BCAST, A, 2.0, vid=10, pcp=0, tag="p0")],
        "trunk2": [tagged(BCAST, B, 3.0, vid=30, pcp=3, tag="p3")],
        "acc10": [eth(BCAST, C, 4.0, tag="u")],
    }))
    assert run.sent("trunk2") == [wire_tagged(BCAST, A, 30, pcp=7, tag="p7"),
                                  wire_tagged(BCAST, A, 30, pcp=0, tag="p0"),
                                  wire_tagged(BCAST, C, 30, pcp=0, tag="u")]
    assert run.sent("trunk") == [wire_tagged(BCAST, B, 10, pcp=3, tag="p3"), wire_tagged(BCAST, C, 10, pcp=0, tag="u")]
    assert run.sent("acc10") == [wire(BCAST, A, "p7"), wire(BCAST, A, "p0"), wire(BCAST, B, "p3")]


def test_two_vlans_of_one_trunk_are_separate_broadcast_domains(offline):
    run = ok(offline(vlan_cfg(), {
        "trunk": [tagged(BCAST, A, 1.0, vid=10, tag="v10"), tagged(BCAST, A, 2.0, vid=20, tag="v20")],
        "acc20": [eth(A, B, 3.0, "to-a-20"), eth(UNKNOWN, B, 5.0, "unk-20")],
        "acc10": [eth(A, C, 4.0, "to-a-10"), eth(UNKNOWN, C, 6.0, "unk-10")],
    }))
    assert run.sent("acc10") == [wire(BCAST, A, "v10")]
    assert run.sent("acc20") == [wire(BCAST, A, "v20")]
    assert run.sent("trunk") == [wire_tagged(A, B, 20, tag="to-a-20"), wire_tagged(A, C, 10, tag="to-a-10"),
                                 wire_tagged(UNKNOWN, B, 20, tag="unk-20"), wire_tagged(UNKNOWN, C, 10, tag="unk-10")]
    assert run.sent("trunk2") == [wire_tagged(BCAST, A, 10, tag="v10"), wire_tagged(UNKNOWN, C, 10, tag="unk-10")]
    silent(run, "native")
    # the same MAC learned once per bridge, on its own sub-interface
    assert macs(run, "br10")[A][0] == "trunk.10"
    assert macs(run, "br20")[A][0] == "trunk.20"


def test_two_vlans_of_one_port_in_one_bridge(offline):
    # "never back out of the receiving member": the member is trunk.10, so trunk.20 gets it
    cfg = vlan_cfg(vlans={"trunk.10": "{link: trunk, id: 10}", "trunk.20": "{link: trunk, id: 20}"},
                   bridges={"br": "[trunk.10, trunk.20, acc10]"})
    run = ok(offline(cfg, {"trunk": [tagged(BCAST, A, 1.0, vid=10, pcp=2, tag="f1")]}))
    assert run.sent("trunk") == [wire_tagged(BCAST, A, 20, pcp=2, tag="f1")]
    assert run.sent("acc10") == [wire(BCAST, A, "f1")]


def test_static_mac_behind_a_vlan_sub_interface(offline):
    cfg = vlan_cfg().replace("br10: {interfaces: [trunk.10, acc10, trunk2.10]}",
                             f'br10: {{interfaces: [trunk.10, acc10, trunk2.10], '
                             f'static_macs: [{{macaddress: "{C}", interface: trunk2.10}}]}}')
    run = ok(offline(cfg, {"acc10": [eth(C, B, 1.0, "to-c")],
                           "trunk": [tagged(C, A, 2.0, vid=10, pcp=4, tag="to-c-tagged")]}))
    assert run.sent("trunk2") == [wire_tagged(C, B, 10, tag="to-c"), wire_tagged(C, A, 10, pcp=4, tag="to-c-tagged")]
    silent(run, "trunk", "acc10", "acc20", "native")
    assert macs(run, "br10")[C] == ("trunk2.10", True, 0)


# ---- what is a tag, and whose frame is it -----------------------------------------------------------

def test_untagged_frames_on_a_port_with_vlans_belong_to_the_port(offline):
    frames = {"trunk": [eth(BCAST, A, 1.0, "u1"), eth(UNKNOWN, A, 2.0, "u2")]}
    run = ok(offline(vlan_cfg(), frames))                  # trunk itself in no bridge
    silent(run, *PORTS)
    assert run.port("trunk")["drops"] == {"no_interface": 2}
    run = ok(offline(vlan_cfg(native=True), frames))       # trunk itself in brn
    assert run.sent("native") == [wire(BCAST, A, "u1"), wire(UNKNOWN, A, "u2")]
    silent(run, "trunk", "trunk2", "acc10", "acc20")
    assert macs(run) == {A: ("trunk", False, 0.0)}


def test_priority_tagged_frames_count_as_untagged(offline):
    run = ok(offline(vlan_cfg(native=True), {
        "trunk": [tagged(BCAST, A, 1.0, vid=0, pcp=3, tag="pt1")],      # the port's own frame
        "acc10": [tagged(BCAST, B, 2.0, vid=0, pcp=6, tag="pt2")],      # access port: br10
    }))
    assert run.sent("native") == [wire(BCAST, A, "pt1")]              # tag removed
    # pushed at trunk.10 / trunk2.10; the priority tag's PCP is the frame's PCP
    assert run.sent("trunk") == [wire_tagged(BCAST, B, 10, pcp=6, tag="pt2")]
    assert run.sent("trunk2") == [wire_tagged(BCAST, B, 10, pcp=6, tag="pt2")]
    silent(run, "acc10", "acc20")
    assert macs(run) == {A: ("trunk", False, 1.0), B: ("acc10", False, 0.0)}


def test_priority_tagged_frame_on_a_port_not_in_any_bridge(offline):
    run = ok(offline(vlan_cfg(), {"trunk": [tagged(BCAST, A, 1.0, vid=0, pcp=1)]}))
    silent(run, *PORTS)
    assert run.port("trunk")["drops"] == {"no_interface": 1}


def test_tag_with_no_vlans_entry_is_dropped(offline):
    run = ok(offline(vlan_cfg(native=True), {
        "trunk": [tagged(BCAST, A, 1.0, vid=99), tagged(BCAST, A, 2.0, vid=4095), tagged(BCAST, A, 3.0, vid=30)],
        "acc10": [tagged(BCAST, B, 4.0, vid=10)],          # acc10 has no vlans at all
        "trunk2": [tagged(BCAST, C, 5.0, vid=20)],         # VLAN 20 exists, but on trunk only
    }))
    silent(run, *PORTS)
    assert run.port("trunk")["drops"] == {"unknown_vlan": 3}
    assert run.port("acc10")["drops"] == {"unknown_vlan": 1}
    assert run.port("trunk2")["drops"] == {"unknown_vlan": 1}
    assert run.state["macs"] == []


def test_a_vlan_in_no_bridge_and_without_addresses(offline):
    vlans = {"trunk.10": "{link: trunk, id: 10}", "trunk.30": "{link: trunk, id: 30}"}
    run = ok(offline(vlan_cfg(vlans=vlans, bridges={"br10": "[trunk.10, acc10]"}),
                     {"trunk": [tagged(BCAST, A, 1.0, vid=30)]}))
    silent(run, *PORTS)
    assert run.port("trunk")["drops"] == {"no_interface": 1}


def test_the_dei_bit_is_not_part_of_the_vid(offline):
    frame = Ether(dst=BCAST, src=A, type=0x8100) / Dot1Q(prio=5, dei=1, vlan=10, type=ETYPE) / Raw(payload("dei"))
    frame.time = 1.0
    run = ok(offline(vlan_cfg(), {"trunk": [frame]}))
    assert run.sent("acc10") == [wire(BCAST, A, "dei")]
    assert run.port("trunk")["drops"] == {}


def test_only_0x8100_is_a_tag(offline):
    # an 0x88a8 (or 0x9100) header is just an ethertype: the frame is untagged
    frames = {"trunk": [tagged(BCAST, A, 1.0, vid=10, tpid=0x88A8, tag="s"),
                        tagged(BCAST, A, 2.0, vid=20, tpid=0x9100, tag="q")],
              "acc10": [tagged(BCAST, B, 3.0, vid=10, tpid=0x88A8, tag="s-acc")]}
    run = ok(offline(vlan_cfg(native=True), frames))
    assert run.sent("native") == [wire_tagged(BCAST, A, 10, tpid=0x88A8, tag="s"),
                                  wire_tagged(BCAST, A, 20, tpid=0x9100, tag="q")]
    # from the access port into br10: the 802.1Q tag goes in front of the 0x88a8 header
    s_acc = mac(BCAST) + mac(B) + struct.pack("!HHHH", 0x8100, 10, 0x88A8, 10) + struct.pack("!H", ETYPE) \
        + payload("s-acc")
    assert run.sent("trunk") == [s_acc]
    assert run.sent("trunk2") == [s_acc]
    silent(run, "acc10", "acc20")
    run = ok(offline(vlan_cfg(), {"trunk": frames["trunk"]}))   # trunk itself unbridged
    assert run.port("trunk")["drops"] == {"no_interface": 2}


def test_stacked_tags_the_outer_selects_the_vlan_the_inner_is_payload(offline):
    qinq = Ether(dst=BCAST, src=A, type=0x8100) / Dot1Q(prio=2, vlan=10) / Dot1Q(prio=1, vlan=100, type=ETYPE) \
        / Raw(payload("qq"))
    qinq.time = 1.0
    unknown_outer = Ether(dst=BCAST, src=A, type=0x8100) / Dot1Q(vlan=99) / Dot1Q(vlan=10, type=ETYPE) \
        / Raw(payload("uq"))
    unknown_outer.time = 2.0
    run = ok(offline(vlan_cfg(), {"trunk": [qinq, unknown_outer]}))
    inner = struct.pack("!HH", 0x8100, 1 << 13 | 100) + struct.pack("!H", ETYPE) + payload("qq")
    assert run.sent("acc10") == [mac(BCAST) + mac(A) + inner]
    assert run.sent("trunk2") == [mac(BCAST) + mac(A) + struct.pack("!HH", 0x8100, 2 << 13 | 10) + inner]
    silent(run, "trunk", "acc20")
    assert run.port("trunk")["drops"] == {"unknown_vlan": 1}


def test_a_deep_tag_stack_is_just_payload_under_the_outer_tag(offline):
    tags = b"".join(struct.pack("!HH", 0x8100, 200 + i) for i in range(20))
    inner = tags + struct.pack("!H", ETYPE) + payload("deep")
    frame = raw(mac(BCAST) + mac(A) + struct.pack("!HH", 0x8100, 10) + inner, 1.0)
    run = ok(offline(vlan_cfg(), {"trunk": [frame]}))
    assert run.sent("acc10") == [mac(BCAST) + mac(A) + inner]
    assert run.sent("trunk2") == [mac(BCAST) + mac(A) + struct.pack("!HH", 0x8100, 10) + inner]


# ---- port-level drops on tagged frames ---------------------------------------------------------------

def test_tag_cut_short_is_dropped(offline):
    head = mac(BCAST) + mac(A)
    cut = [head + b"\x81\x00", head + b"\x81\x00\x00", head + b"\x81\x00\x00\x0a", head + b"\x81\x00\x00\x0a\x88"]
    whole = head + b"\x81\x00\x00\x0a" + struct.pack("!H", ETYPE)     # 18 bytes: tag complete, no payload
    run = ok(offline(vlan_cfg(), {
        "trunk": [raw(f, 1.0 + i) for i, f in enumerate(cut)] + [raw(whole, 10.0)],
        "acc10": [raw(head + b"\x81\x00\x00", 11.0)],
    }))
    assert run.port("trunk")["drops"] == {"vlan_truncated": 4}
    assert run.port("acc10")["drops"] == {"vlan_truncated": 1}
    assert run.sent("acc10") == [head + struct.pack("!H", ETYPE)]
    assert run.sent("trunk2") == [whole]


def test_giant_counts_the_l2_payload_after_the_tag(offline):
    run = ok(offline(vlan_cfg(), {
        "trunk": [tagged(BCAST, A, 1.0, vid=10, size=1500, tag="t1518"),     # 1518 bytes: fits
                  tagged(BCAST, A, 2.0, vid=10, size=1501, tag="t1519"),     # one byte too many
                  tagged(BCAST, A, 3.0, vid=0, size=1500, tag="p1518")],     # priority-tagged (no bridge)
        "acc10": [eth(BCAST, B, 4.0, "u1514", size=1500), eth(BCAST, B, 5.0, "u1515", size=1501)],
    }))
    assert run.sent("acc10") == [wire(BCAST, A, "t1518", size=1500)]
    assert run.sent("trunk2") == [wire_tagged(BCAST, A, 10, tag="t1518", size=1500),
                                  wire_tagged(BCAST, B, 10, tag="u1514", size=1500)]
    assert run.sent("trunk") == [wire_tagged(BCAST, B, 10, tag="u1514", size=1500)]
    assert [len(f) for f in run.sent("trunk")] == [1518]
    assert run.port("trunk")["drops"] == {"giant": 1, "no_interface": 1}
    assert run.port("acc10")["drops"] == {"giant": 1}


def test_a_vlan_with_a_smaller_mtu(offline):
    cfg = vlan_cfg(vlans={"trunk.10": "{link: trunk, id: 10, mtu: 1000}"}, bridges={"br10": "[trunk.10, acc10]"})
    run = ok(offline(cfg, {"trunk": [tagged(BCAST, A, 1.0, vid=10, size=1000, tag="1018"),
                                     tagged(BCAST, A, 2.0, vid=10, size=1001, tag="1019")]}))
    assert run.sent("acc10") == [wire(BCAST, A, "1018", size=1000)]
    assert run.port("trunk")["drops"] == {"giant": 1}
