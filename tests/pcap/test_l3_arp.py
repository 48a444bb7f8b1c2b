"""Golden tests: ARP (SPEC.md "Forwarding behaviour", L3, and "Offline mode").

Answering requests for our addresses, learning the asker, resolving next
hops with a queue of 3 and 3 requests 1 s apart on the pcap clock, and the
per-reason punt policer."""
import pytest
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from l3frames import (A_IP, A_MAC, B_IP, B_MAC, BCAST, H1, H1_MAC, H2, H2_MAC, arp_reply_frame, arp_request_frame,
                      assert_silent, at, config, drops, echo_reply, echo_request, eth, icmp_error, neighbor, ok,
                      our_arp_reply, our_arp_request, pcap_port, routed, times, two_ports, udp_packet)


def neighbors_by_ip(run):
    return {n["ip"]: n for n in run.state["neighbors"]}


# ---- answering ----------------------------------------------------------------------

def test_arp_request_for_our_address_is_answered(offline):
    req = at(2.5, arp_request_frame(H1_MAC, H1, A_IP))
    run = ok(offline(two_ports(static=False), {"a": [req]}))
    assert run.frames("a") == [(2.5, our_arp_reply(A_MAC, A_IP, H1_MAC, H1))]
    assert len(run.sent("a")[0]) == 60
    assert run.sent("b") == []
    assert drops(run, "a") == {}


def test_arp_request_padded_like_a_real_nic_is_answered(offline):
    req = arp_request_frame(H1_MAC, H1, A_IP) / Raw(b"\0" * 18)
    assert len(bytes(req)) == 60
    run = ok(offline(two_ports(static=False), {"a": [at(1.0, req)]}))
    assert run.sent("a") == [our_arp_reply(A_MAC, A_IP, H1_MAC, H1)]


def test_unicast_arp_request_to_our_mac_is_answered(offline):
    req = at(1.0, arp_request_frame(H1_MAC, H1, A_IP, eth_dst=A_MAC))
    run = ok(offline(two_ports(static=False), {"a": [req]}))
    assert run.sent("a") == [our_arp_reply(A_MAC, A_IP, H1_MAC, H1)]


def test_arp_request_teaches_us_the_asker(offline):
    """After H1 asked for our address, a packet to H1 is forwarded with no ARP of ours."""
    pkt = udp_packet(H2, H1)
    run = ok(offline(two_ports(static=False, extra_neighbors=[neighbor(H2, H2_MAC, "b")]), {
        "a": [at(1.0, arp_request_frame(H1_MAC, H1, A_IP))],
        "b": [at(2.0, eth(B_MAC, H2_MAC, pkt))]}))
    assert run.frames("a") == [(1.0, our_arp_reply(A_MAC, A_IP, H1_MAC, H1)),
                               (2.0, routed(pkt, A_MAC, H1_MAC))]
    n = neighbors_by_ip(run)[H1]
    assert (n["state"], n["macaddress"], n["interface"]) == ("reachable", H1_MAC, "a")


def test_arp_request_for_an_address_not_ours(offline):
    frames = [at(1.0, arp_request_frame(H1_MAC, H1, "10.0.1.77")),
              at(2.0, arp_request_frame(H1_MAC, H1, B_IP)),       # ours, but on b, not on a
              at(3.0, arp_request_frame(H1_MAC, H1, "10.0.1.77", eth_dst=A_MAC))]
    run = ok(offline(two_ports(static=False), {"a": frames[:1] + frames[2:]}))
    assert_silent(run, ["a", "b"])
    assert drops(run, "a") == {"arp_not_for_us": 2}


def _arp_bytes(**fields):
    return bytes(ARP(op=1, hwsrc=H1_MAC, psrc=H1, pdst=A_IP, **fields))


MALFORMED = {
    "truncated": bytes(ARP(op=1, hwsrc=H1_MAC, psrc=H1, pdst=A_IP))[:20],
    "hwtype_ieee802": _arp_bytes(hwtype=6),
    "ptype_ipv6": _arp_bytes(ptype=0x86DD),
    "hwlen_8": _arp_bytes(hwlen=8),
    "plen_16": _arp_bytes(plen=16),
}


@pytest.mark.parametrize("case", MALFORMED)
@pytest.mark.parametrize("dst", [BCAST, A_MAC])
def test_malformed_arp(offline, case, dst):
    frame = at(1.0, Ether(dst=dst, src=H1_MAC, type=0x0806) / Raw(MALFORMED[case]))
    run = ok(offline(two_ports(static=False), {"a": [frame]}))
    assert_silent(run, ["a", "b"])
    assert drops(run, "a") == {"arp_malformed": 1}
    assert not any(n["ip"] == H1 for n in run.state["neighbors"])


def test_arp_on_vlan_subinterface(offline):
    cfg = config({"t": pcap_port("t", mac=A_MAC)},
                 vlans={"t.5": {"link": "t", "id": 5, "addresses": [A_IP + "/24"]},
                        "t.6": {"link": "t", "id": 6, "addresses": [B_IP + "/24"], "macaddress": B_MAC}})
    run = ok(offline(cfg, {"t": [at(1.0, arp_request_frame(H1_MAC, H1, A_IP, vlan=5)),
                                 at(2.0, arp_request_frame(H2_MAC, H2, B_IP, vlan=6)),
                                 at(3.0, arp_request_frame(H2_MAC, H2, A_IP, vlan=6))]}))  # A_IP is not on t.6
    assert run.sent("t") == [our_arp_reply(A_MAC, A_IP, H1_MAC, H1, vlan=5),
                             our_arp_reply(B_MAC, B_IP, H2_MAC, H2, vlan=6)]
    assert drops(run, "t") == {"arp_not_for_us": 1}


def test_static_neighbor_is_not_overridden_by_arp(offline):
    """A static entry stays as configured whatever ARP says."""
    other_mac = "02:00:00:00:02:99"
    pkt = udp_packet(H1, H2)
    run = ok(offline(two_ports(), {
        "b": [at(1.0, arp_request_frame(other_mac, H2, B_IP)), at(1.5, arp_reply_frame(other_mac, H2, B_MAC, B_IP))],
        "a": [at(2.0, eth(A_MAC, H1_MAC, pkt))]}))
    assert run.sent("b") == [our_arp_reply(B_MAC, B_IP, other_mac, H2), routed(pkt, B_MAC, H2_MAC)]
    n = neighbors_by_ip(run)[H2]
    assert (n["state"], n["macaddress"]) == ("static", H2_MAC)


# ---- IRB ------------------------------------------------------------------------------

BR_MAC, BR_IP = "02:00:00:00:03:01", "10.0.3.1"
H3, H3_MAC = "10.0.3.30", "02:00:00:00:03:30"
H5, H5_MAC = "10.0.3.50", "02:00:00:00:03:50"


def irb_config():
    return config(
        {"a": pcap_port("a", [A_IP + "/24"], A_MAC), "m1": pcap_port("m1"), "m2": pcap_port("m2"),
         "m3": pcap_port("m3")},
        bridges={"br0": {"interfaces": ["m1", "m2", "m3"], "addresses": [BR_IP + "/24"], "macaddress": BR_MAC}},
        neighbors=[neighbor(H1, H1_MAC, "a")])


def test_arp_for_bridge_address_is_flooded_and_answered(offline):
    req = at(1.0, arp_request_frame(H3_MAC, H3, BR_IP))
    run = ok(offline(irb_config(), {"m1": [req]}))
    assert run.sent("m1") == [our_arp_reply(BR_MAC, BR_IP, H3_MAC, H3)]
    assert run.sent("m2") == [bytes(req)] and run.sent("m3") == [bytes(req)]  # still a broadcast in the bridge
    assert run.sent("a") == []
    assert neighbors_by_ip(run)[H3]["state"] == "reachable"
    assert neighbors_by_ip(run)[H3]["interface"] == "br0"


def test_arp_in_bridge_for_another_host_is_only_bridged(offline):
    req = at(1.0, arp_request_frame(H3_MAC, H3, H5))
    run = ok(offline(irb_config(), {"m1": [req]}))
    assert run.sent("m2") == [bytes(req)] and run.sent("m3") == [bytes(req)]
    assert run.sent("m1") == [] and run.sent("a") == []
    assert drops(run, "m1") == {}  # a broadcast the router overhears is not a drop


def test_resolution_through_a_bridge(offline):
    """The request floods to every member; the reply teaches the bridge where H5 is."""
    pkt = udp_packet(H1, H5)
    run = ok(offline(irb_config(), {"a": [at(1.0, eth(A_MAC, H1_MAC, pkt))],
                                    "m2": [at(1.2, arp_reply_frame(H5_MAC, H5, BR_MAC, BR_IP))]}))
    req = our_arp_request(BR_MAC, BR_IP, H5)
    assert run.frames("m1") == [(1.0, req)]
    assert run.frames("m3") == [(1.0, req)]
    assert run.frames("m2") == [(1.0, req), (1.2, routed(pkt, BR_MAC, H5_MAC))]


# ---- resolving next hops ------------------------------------------------------------------

def test_unresolved_next_hop_queues_3_and_releases_them_on_reply(offline):
    pkts = [udp_packet(H1, H2, ident=i, size=60 + i) for i in range(5)]
    a_in = [at(1.0 + 0.1 * i, eth(A_MAC, H1_MAC, p)) for i, p in enumerate(pkts[:4])]
    a_in.append(at(2.0, eth(A_MAC, H1_MAC, pkts[4])))
    b_in = [at(1.5, arp_reply_frame(H2_MAC, H2, B_MAC, B_IP))]
    run = ok(offline(two_ports(static=False, extra_neighbors=[neighbor(H1, H1_MAC, "a")]), {"a": a_in, "b": b_in}))
    assert run.frames("b") == [
        (1.0, our_arp_request(B_MAC, B_IP, H2)),
        (1.5, routed(pkts[0], B_MAC, H2_MAC)),
        (1.5, routed(pkts[1], B_MAC, H2_MAC)),
        (1.5, routed(pkts[2], B_MAC, H2_MAC)),
        (2.0, routed(pkts[4], B_MAC, H2_MAC)),
    ]
    assert run.sent("a") == []
    assert drops(run, "a") == {"arp_queue_full": 1}
    n = neighbors_by_ip(run)[H2]
    assert (n["state"], n["macaddress"], n["interface"]) == ("reachable", H2_MAC, "b")


def test_arp_queue_is_per_neighbor(offline):
    h2b = "10.0.2.21"
    to_h2 = [udp_packet(H1, H2, ident=i) for i in range(4)]
    to_h2b = [udp_packet(H1, h2b, ident=10 + i) for i in range(3)]
    frames = [at(1.0, eth(A_MAC, H1_MAC, p)) for p in to_h2 + to_h2b]
    run = ok(offline(two_ports(static=False, extra_neighbors=[neighbor(H1, H1_MAC, "a")]), {"a": frames}))
    assert run.frames("b") == [(1.0, our_arp_request(B_MAC, B_IP, H2)), (1.0, our_arp_request(B_MAC, B_IP, h2b))]
    assert drops(run, "a") == {"arp_queue_full": 1, "arp_timeout": 6}


def test_arp_retries_1s_apart_then_timeout(offline):
    """Requests at t0, t0+1, t0+2; at t0+3 the queue is dropped. A later packet starts over."""
    t0 = 10.0
    cfg = two_ports(static=False, extra_neighbors=[neighbor(H1, H1_MAC, "a")],
                    extra_ports={"clock": pcap_port("clock")})
    waiting = [at(t0, eth(A_MAC, H1_MAC, udp_packet(H1, H2, ident=1))),
               at(t0 + 0.2, eth(A_MAC, H1_MAC, udp_packet(H1, H2, ident=2))),
               at(t0 + 2.5, eth(A_MAC, H1_MAC, udp_packet(H1, H2, ident=3))),
               at(t0 + 3.5, eth(A_MAC, H1_MAC, udp_packet(H1, H2, ident=4)))]
    ticks = [at(t0 + dt, Ether(dst=BCAST, src="02:00:00:00:ee:ee", type=0x88B5) / Raw(b"tick" * 12))
             for dt in (0.5, 1.5, 2.5, 3.2, 4.5, 5.0)]
    run = ok(offline(cfg, {"a": waiting, "clock": ticks}))
    req = our_arp_request(B_MAC, B_IP, H2)
    assert run.frames("b") == [(t0, req), (t0 + 1, req), (t0 + 2, req), (t0 + 3.5, req), (t0 + 4.5, req)]
    # three dropped at t0+3; the fourth still waits when the input ends at t0+5
    assert drops(run, "a") == {"arp_timeout": 4}
    assert run.sent("a") == []


def test_arp_timeout_counted_at_t0_plus_3(offline):
    """The state after the third silent second: a reply at t0+3.2 comes too late for the queue."""
    t0 = 10.0
    cfg = two_ports(static=False, extra_neighbors=[neighbor(H1, H1_MAC, "a")])
    waiting = [at(t0, eth(A_MAC, H1_MAC, udp_packet(H1, H2, ident=1)))]
    late = [at(t0 + 0.5, Ether(dst=BCAST, src="02:00:00:00:ee:ee", type=0x88B5) / Raw(b"t" * 46)),
            at(t0 + 1.5, Ether(dst=BCAST, src="02:00:00:00:ee:ee", type=0x88B5) / Raw(b"t" * 46)),
            at(t0 + 3.2, arp_reply_frame(H2_MAC, H2, B_MAC, B_IP))]
    run = ok(offline(cfg, {"a": waiting, "b": late}))
    req = our_arp_request(B_MAC, B_IP, H2)
    assert run.frames("b") == [(t0, req), (t0 + 1, req), (t0 + 2, req)]
    assert drops(run, "a") == {"arp_timeout": 1}


def test_input_end_stops_the_clock(offline):
    """No later frame: one request, then the queue is dropped when the input ends."""
    pkts = [at(5.0, eth(A_MAC, H1_MAC, udp_packet(H1, H2, ident=i))) for i in range(2)]
    run = ok(offline(two_ports(static=False, extra_neighbors=[neighbor(H1, H1_MAC, "a")]), {"a": pkts}))
    assert run.frames("b") == [(5.0, our_arp_request(B_MAC, B_IP, H2))]
    assert drops(run, "a") == {"arp_timeout": 2}
    assert run.sent("a") == []


def test_static_route_resolves_the_gateway_not_the_destination(offline):
    gw, gw_mac = "10.0.2.254", "02:00:00:00:02:fe"
    pkt = udp_packet(H1, "172.16.8.9")
    cfg = two_ports(static=False, routes=[{"to": "172.16.0.0/16", "via": gw}],
                    extra_neighbors=[neighbor(H1, H1_MAC, "a")])
    run = ok(offline(cfg, {"a": [at(1.0, eth(A_MAC, H1_MAC, pkt))],
                           "b": [at(1.1, arp_reply_frame(gw_mac, gw, B_MAC, B_IP))]}))
    assert run.frames("b") == [(1.0, our_arp_request(B_MAC, B_IP, gw)), (1.1, routed(pkt, B_MAC, gw_mac))]
    n = neighbors_by_ip(run)[gw]
    assert (n["state"], n["macaddress"]) == ("reachable", gw_mac)
    assert "172.16.8.9" not in neighbors_by_ip(run)


def test_arp_request_source_is_our_address_on_that_subnet(offline):
    """b has two subnets: the request for a next hop names our address on the next hop's subnet."""
    cfg = config({"a": pcap_port("a", [A_IP + "/24"], A_MAC),
                  "b": pcap_port("b", [B_IP + "/24", "10.0.22.1/24"], B_MAC)},
                 neighbors=[neighbor(H1, H1_MAC, "a")])
    run = ok(offline(cfg, {"a": [at(1.0, eth(A_MAC, H1_MAC, udp_packet(H1, "10.0.22.7")))]}))
    assert run.sent("b") == [our_arp_request(B_MAC, "10.0.22.1", "10.0.22.7")]


def test_queued_packet_keeps_its_pcp_out_of_a_vlan(offline):
    """Routed frames keep the PCP they arrived with, also after waiting for ARP."""
    t_mac, v20_mac = "02:00:00:00:0b:01", "02:00:00:00:20:05"
    cfg = config({"t": pcap_port("t", mac=t_mac)},
                 vlans={"t.10": {"link": "t", "id": 10, "addresses": ["10.0.10.1/24"]},
                        "t.20": {"link": "t", "id": 20, "addresses": ["10.0.20.1/24"]}},
                 neighbors=[neighbor("10.0.10.5", "02:00:00:00:10:05", "t.10")])
    pkt = udp_packet("10.0.10.5", "10.0.20.5")
    run = ok(offline(cfg, {"t": [at(1.0, eth(t_mac, "02:00:00:00:10:05", pkt, vlan=10, pcp=5)),
                                 at(1.5, arp_reply_frame(v20_mac, "10.0.20.5", t_mac, "10.0.20.1", vlan=20))]}))
    assert run.frames("t") == [(1.0, our_arp_request(t_mac, "10.0.20.1", "10.0.20.5", vlan=20)),
                               (1.5, routed(pkt, t_mac, v20_mac, vlan=20, pcp=5))]


# ---- punt policing ------------------------------------------------------------------------

def test_arp_flood_is_policed_per_reason(offline):
    """1500 ARP requests at one instant: 1000 answered, 500 policed; pings at the same
    instant are another punt reason and are all answered."""
    flood = [at(3.0, arp_request_frame(H1_MAC, H1, A_IP)) for _ in range(1500)]
    pings = [at(3.0, eth(A_MAC, H1_MAC, echo_request(H1, A_IP, seq=i))) for i in range(5)]
    run = ok(offline(two_ports(), {"a": flood + pings}))
    reply = our_arp_reply(A_MAC, A_IP, H1_MAC, H1)
    assert run.sent("a") == [reply] * 1000 + [echo_reply(A_IP, H1, H1_MAC, A_MAC, seq=i) for i in range(5)]
    assert times(run, "a") == [3.0] * 1005
    assert drops(run, "a") == {"punt_policed": 500}


def test_ping_flood_does_not_starve_arp_and_policer_refills(offline):
    """1100 pings at one instant: 1000 answered, 100 policed, an ARP request at the same
    instant still answered; 10 ms later the echo policer holds 100 more (10000/s)."""
    t = 4.0
    flood = [at(t, eth(A_MAC, H1_MAC, echo_request(H1, A_IP, seq=i))) for i in range(1100)]
    asks = [at(t, arp_request_frame(H1_MAC, H1, A_IP))]
    later = [at(t + 0.010, eth(A_MAC, H1_MAC, echo_request(H1, A_IP, seq=5000 + i))) for i in range(150)]
    run = ok(offline(two_ports(), {"a": flood + asks + later}))
    out = run.frames("a")
    assert [f for _, f in out[:1000]] == [echo_reply(A_IP, H1, H1_MAC, A_MAC, seq=i) for i in range(1000)]
    assert out[1000] == (t, our_arp_reply(A_MAC, A_IP, H1_MAC, H1))
    assert [f for _, f in out[1001:]] == [echo_reply(A_IP, H1, H1_MAC, A_MAC, seq=5000 + i) for i in range(100)]
    assert times(run, "a")[1001:] == [round(t + 0.010, 6)] * 100
    assert drops(run, "a") == {"punt_policed": 150}


def test_request_from_the_pending_neighbor_resolves_it(offline):
    """H2 asks for our address while packets wait for it: we answer and release them."""
    pkts = [udp_packet(H1, H2, ident=i) for i in range(2)]
    run = ok(offline(two_ports(static=False, extra_neighbors=[neighbor(H1, H1_MAC, "a")]), {
        "a": [at(1.0, eth(A_MAC, H1_MAC, p)) for p in pkts],
        "b": [at(1.3, arp_request_frame(H2_MAC, H2, B_IP))]}))
    out = run.frames("b")
    assert out[0] == (1.0, our_arp_request(B_MAC, B_IP, H2))
    reply = (1.3, our_arp_reply(B_MAC, B_IP, H2_MAC, H2))
    assert reply in out[1:]  # before or after the released packets: SPEC does not say
    assert [f for f in out[1:] if f != reply] == [(1.3, routed(p, B_MAC, H2_MAC)) for p in pkts]
    assert len(out) == 4
    assert drops(run, "a") == {}


def test_second_address_of_an_interface(offline):
    """a has 10.0.1.1/24 and 10.0.9.1/24: ARP and echo for the second one are answered from it."""
    h9, h9_mac = "10.0.9.50", "02:00:00:00:09:50"
    cfg = two_ports(static=False, a_addresses=(A_IP + "/24", "10.0.9.1/24"))
    run = ok(offline(cfg, {"a": [at(1.0, arp_request_frame(h9_mac, h9, "10.0.9.1")),
                                 at(2.0, eth(A_MAC, h9_mac, echo_request(h9, "10.0.9.1")))]}))
    assert run.frames("a") == [(1.0, our_arp_reply(A_MAC, "10.0.9.1", h9_mac, h9)),
                               (2.0, echo_reply("10.0.9.1", h9, h9_mac, A_MAC))]
    assert neighbors_by_ip(run)[h9]["state"] == "reachable"


def test_expired_or_too_big_packets_to_unresolved_host_trigger_no_arp(offline):
    """TTL and MTU are checked before a packet waits for ARP: errors at once, no request."""
    expired = udp_packet(H1, H2, ttl=1, ident=1)
    too_big = udp_packet(H1, H2, size=1100, flags="DF", ident=2)
    cfg = two_ports(b_mtu=1000, static=False, extra_neighbors=[neighbor(H1, H1_MAC, "a")])
    run = ok(offline(cfg, {"a": [at(1.0, eth(A_MAC, H1_MAC, expired)), at(2.0, eth(A_MAC, H1_MAC, too_big))]}))
    assert run.sent("b") == []
    assert run.frames("a") == [(1.0, icmp_error(expired, 11, 0, A_IP, H1, H1_MAC, A_MAC)),
                               (2.0, icmp_error(too_big, 3, 4, A_IP, H1, H1_MAC, A_MAC, mtu=1000))]
    assert drops(run, "a") == {"ttl_expired": 1, "frag_needed": 1}
