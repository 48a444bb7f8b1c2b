"""Golden tests: offline mode (`vswitch run --until-idle`) and pcap ports.

SPEC.md "Offline mode (--until-idle) and pcap ports": the rx_pcaps are
merged in timestamp order (ties: port order in the file, then file order)
and processed one frame at a time; the pcap timestamps are the clock; each
tx frame carries the timestamp of the frame that caused it; input is classic
pcap (µs or ns, either byte order), Ethernet only, records cut short are
dropped and counted; every tx_pcap is written; only pcap and null ports, no
loop, workers treated as 1.
"""
import os
import struct

import pytest

from l2frames import (BCAST, MAGIC_US, UNKNOWN, A, B, X, Y, bridge, bridge_cfg, config, eth, macs, read_pcap, wire,
                      wire_tagged, write_pcap, tagged)


def ok(run):
    assert run.returncode == 0, run.stderr
    return run


def refused(run, *words):
    """Exit 1 with a one-line-ish message (no traceback) naming every word."""
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    for word in words:
        assert word in run.stderr, (word, run.stderr)


def out_records(run, port):
    """[(sec, usec, frame)] of out/PORT.pcap, read with struct."""
    header, records = read_pcap(os.path.join(run.workdir, "out", f"{port}.pcap"))
    assert header["magic"] == MAGIC_US and header["linktype"] == 1
    return [(sec, frac, data) for sec, frac, caplen, wire_len, data in records]


def raw_port(name, tx=True):
    """A pcap port reading raw/NAME.pcap, a file the test writes itself."""
    tx_opt = f", tx_pcap: out/{name}.pcap" if tx else ""
    return f"  {name}: {{driver: pcap, rx_pcap: raw/{name}.pcap{tx_opt}}}\n"


def raw_config(raw_names, plain_names, body):
    text = "version: 1\nports:\n" + "".join(raw_port(n) for n in raw_names)
    text += "".join(f"  {n}: {{driver: pcap, rx_pcap: in/{n}.pcap, tx_pcap: out/{n}.pcap}}\n" for n in plain_names)
    return text + body


def write_raw(tmp_path, name, records, **kwargs):
    path = tmp_path / "raw" / f"{name}.pcap"
    write_pcap(str(path), records, **kwargs)
    return path


# ---- the merge ------------------------------------------------------------------------------------

def test_inputs_are_merged_across_ports_in_timestamp_order(offline):
    run = ok(offline(bridge_cfg(), {
        "a": [eth(BCAST, A, 1.0, "a1"), eth(BCAST, A, 3.0, "a3"), eth(BCAST, A, 5.5, "a5.5")],
        "b": [eth(BCAST, B, 2.0, "b2"), eth(BCAST, B, 4.0, "b4"), eth(BCAST, B, 5.0, "b5")],
    }))
    assert run.frames("c") == [(1.0, wire(BCAST, A, "a1")), (2.0, wire(BCAST, B, "b2")),
                               (3.0, wire(BCAST, A, "a3")), (4.0, wire(BCAST, B, "b4")),
                               (5.0, wire(BCAST, B, "b5")), (5.5, wire(BCAST, A, "a5.5"))]


def test_a_mac_learned_from_an_earlier_frame_on_one_port_steers_a_later_frame_on_another(offline):
    run = ok(offline(bridge_cfg(), {"a": [eth(BCAST, X, 1.0, "x")], "b": [eth(X, Y, 2.0, "y")]}))
    assert run.sent("a") == [wire(X, Y, "y")]
    assert run.sent("c") == [wire(BCAST, X, "x")]
    # the same frame half a second before X spoke: flooded
    run = ok(offline(bridge_cfg(), {"a": [eth(BCAST, X, 1.0, "x")], "b": [eth(X, Y, 0.5, "y")]}))
    assert run.sent("a") == [wire(X, Y, "y")]
    assert run.sent("c") == [wire(X, Y, "y"), wire(BCAST, X, "x")]


def test_each_frame_sees_the_effect_of_the_one_a_microsecond_before(offline):
    run = ok(offline(bridge_cfg(), {
        "a": [eth(BCAST, X, 1.0, "1"), eth(Y, X, 1.000002, "3")],
        "b": [eth(X, Y, 1.000001, "2")],
    }))
    assert run.sent("a") == [wire(X, Y, "2")]
    assert run.sent("b") == [wire(BCAST, X, "1"), wire(Y, X, "3")]
    assert run.sent("c") == [wire(BCAST, X, "1")]


@pytest.mark.parametrize("order", [("a", "b", "c"), ("b", "a", "c")])
def test_equal_timestamps_go_in_the_order_of_the_ports_in_the_file(offline, order):
    # same bridge either way; only the order of the `ports:` entries differs
    inputs = {"a": [eth(BCAST, X, 1.0, "x")], "b": [eth(X, Y, 1.0, "y")]}
    run = ok(offline(config(order, bridge(["a", "b", "c"])), inputs))
    if order[0] == "a":      # X is learned first, so b's frame goes to a only
        assert run.sent("c") == [wire(BCAST, X, "x")]
        assert run.sent("b") == [wire(BCAST, X, "x")]
    else:                    # b's frame comes first and is flooded
        assert run.sent("c") == [wire(X, Y, "y"), wire(BCAST, X, "x")]
        assert run.sent("b") == [wire(BCAST, X, "x")]
    assert run.sent("a") == [wire(X, Y, "y")]


def test_equal_timestamps_on_one_port_go_in_file_order(offline):
    frames = [eth(UNKNOWN, A, 7.0, f"n{i}") for i in range(5)]
    run = ok(offline(bridge_cfg(), {"a": frames, "b": [eth(BCAST, B, 7.0, "b")]}))
    expected_from_a = [wire(UNKNOWN, A, f"n{i}") for i in range(5)]
    assert run.sent("c") == expected_from_a + [wire(BCAST, B, "b")]     # port a before port b
    assert run.sent("b") == expected_from_a


def test_a_file_out_of_timestamp_order_is_still_processed_in_timestamp_order(offline):
    # SPEC: frames are processed in timestamp order (ties: port order, then file order)
    run = ok(offline(bridge_cfg(), {
        "a": [eth(BCAST, A, 5.0, "a5"), eth(BCAST, A, 1.0, "a1")],
        "b": [eth(BCAST, B, 3.0, "b3")],
    }))
    assert run.frames("c") == [(1.0, wire(BCAST, A, "a1")), (3.0, wire(BCAST, B, "b3")),
                               (5.0, wire(BCAST, A, "a5"))]


# ---- timestamps and the tx files ------------------------------------------------------------------

def test_every_tx_frame_carries_the_timestamp_of_the_frame_that_caused_it(offline, tmp_path):
    f1, f2, f3 = wire(BCAST, A, "1"), wire(UNKNOWN, A, "2"), wire(BCAST, B, "3")
    write_raw(tmp_path, "a", [(1, 250000, f1), (7, 1, f2)])
    write_raw(tmp_path, "b", [(1234567890, 999999, f3)])
    run = ok(offline(raw_config(("a", "b"), ("c",), bridge(["a", "b", "c"]))))
    assert out_records(run, "c") == [(1, 250000, f1), (7, 1, f2), (1234567890, 999999, f3)]
    assert out_records(run, "b") == [(1, 250000, f1), (7, 1, f2)]
    assert out_records(run, "a") == [(1234567890, 999999, f3)]


def test_tx_pcap_is_classic_microsecond_ethernet_with_whole_records(offline):
    run = ok(offline(bridge_cfg(), {"a": [eth(BCAST, A, 3.5, "big", size=1500), eth(BCAST, A, 4.0, "", size=0)]}))
    header, records = read_pcap(os.path.join(run.workdir, "out", "b.pcap"))
    assert header["magic"] == MAGIC_US
    assert header["version"] == (2, 4)
    assert header["linktype"] == 1
    assert header["snaplen"] >= 1518
    assert [(sec, usec, caplen, wire_len) for sec, usec, caplen, wire_len, _ in records] == [
        (3, 500000, 1514, 1514), (4, 0, 14, 14)]
    assert [data for *_, data in records] == [wire(BCAST, A, "big", size=1500), wire(BCAST, A, "", size=0)]


def test_nanosecond_pcap_is_accepted_and_ordered_to_the_nanosecond(offline, tmp_path):
    f1, f2, late, early = (wire(BCAST, A, "1"), wire(BCAST, A, "2"), wire(BCAST, A, "late"), wire(BCAST, B, "early"))
    write_raw(tmp_path, "a", [(1, 123456400, f1), (2, 500000400, f2), (5, 700, late)], nano=True)
    write_raw(tmp_path, "b", [(5, 300, early)], nano=True)     # 400 ns before "late", same microsecond
    run = ok(offline(raw_config(("a", "b"), ("c",), bridge(["a", "b", "c"]))))
    assert out_records(run, "c") == [(1, 123456, f1), (2, 500000, f2), (5, 0, early), (5, 0, late)]
    assert run.port("a")["rx_packets"] == 3


@pytest.mark.parametrize("nano", [False, True], ids=["us", "ns"])
def test_big_endian_pcap_is_accepted(offline, tmp_path, nano):
    scale = 1000 if nano else 1
    f1, f2, f3 = wire(BCAST, A, "1"), wire(UNKNOWN, A, "2"), wire(BCAST, B, "3")
    write_raw(tmp_path, "a", [(10, 250 * scale, f1), (12, 0, f2)], nano=nano, endian=">")
    write_raw(tmp_path, "b", [(11, 999999, f3)])                       # little-endian µs alongside
    run = ok(offline(raw_config(("a", "b"), ("c",), bridge(["a", "b", "c"]))))
    assert out_records(run, "c") == [(10, 250, f1), (11, 999999, f3), (12, 0, f2)]
    assert {m: v[0] for m, v in macs(run).items()} == {A: "a", B: "b"}


def test_records_cut_short_are_dropped_and_counted_on_their_port(offline, tmp_path):
    f1, f2, f3 = wire(BCAST, A, "1"), wire(BCAST, A, "2"), wire(BCAST, A, "3")
    write_raw(tmp_path, "a", [(1, 0, f1), (2, 0, f2[:40], len(f2)), (3, 0, f3), (4, 0, f2[:14], 1514)])
    run = ok(offline(raw_config(("a",), ("b", "c"), bridge(["a", "b", "c"]))))
    assert run.sent("b") == [f1, f3]
    a = run.port("a")
    assert a["drops"] == {"pcap_truncated": 2}
    assert a["rx_dropped"] == 2
    assert a["rx_packets"] == 4
    assert run.port("b")["drops"] == {} and run.port("c")["drops"] == {}


def test_a_file_ending_inside_a_record_keeps_what_came_before(offline, tmp_path):
    f1 = wire(BCAST, A, "1")
    path = write_raw(tmp_path, "a", [(1, 0, f1)])
    with open(path, "ab") as f:
        f.write(struct.pack("<IIII", 2, 0, 60, 60) + b"\x00" * 10)   # promises 60 bytes, has 10
    run = ok(offline(raw_config(("a",), ("b",), bridge(["a", "b"]))))
    assert run.sent("b") == [f1]
    assert run.port("a")["drops"] == {"pcap_truncated": 1}


# ---- what is refused ------------------------------------------------------------------------------

def pcapng(frame):
    """A minimal pcapng file: section header, one Ethernet interface, one packet."""
    shb = struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
    idb = struct.pack("<IIHHII", 1, 20, 1, 0, 0, 20)
    padded = frame + b"\x00" * (-len(frame) % 4)
    epb = struct.pack("<IIIIIII", 6, 32 + len(padded), 0, 0, 1000000, len(frame), len(frame)) + padded \
        + struct.pack("<I", 32 + len(padded))
    return shb + idb + epb


def test_pcapng_input_is_refused_naming_the_file(offline, tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.pcap").write_bytes(pcapng(wire(BCAST, A)))
    run = offline(raw_config(("a",), ("b",), bridge(["a", "b"])))
    refused(run, "a.pcap")
    assert "pcapng" in run.stderr or "not a classic pcap" in run.stderr, run.stderr


@pytest.mark.parametrize("linktype", [0, 101, 113, 127])
def test_non_ethernet_link_type_is_refused_naming_the_file(offline, tmp_path, linktype):
    write_raw(tmp_path, "a", [(1, 0, wire(BCAST, A))], linktype=linktype)
    run = offline(raw_config(("a",), ("b",), bridge(["a", "b"])))
    refused(run, "a.pcap", str(linktype))
    assert "link" in run.stderr.lower(), run.stderr


@pytest.mark.parametrize("content", [
    b"", b"\x00" * 23, b"not a pcap file at all, just some text....\n" * 3,
    struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1),      # Kuznetzov's modified pcap
], ids=["empty", "short", "text", "modified-pcap"])
def test_a_file_that_is_not_pcap_at_all_is_refused(offline, tmp_path, content):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.pcap").write_bytes(content)
    run = offline(raw_config(("a",), ("b",), bridge(["a", "b"])))
    refused(run, "a.pcap")


def test_a_loop_port_is_refused(offline):
    cfg = """
        version: 1
        ports:
          gen: {driver: pcap, rx_pcap: in/gen.pcap, loop: true}
          b: {driver: pcap, tx_pcap: out/b.pcap}
        bridges:
          br0: {interfaces: [gen, b]}
    """
    run = offline(cfg, {"gen": [eth(BCAST, A, 1.0)]})
    refused(run, "gen", "loop")


@pytest.mark.parametrize("driver", ["af_packet", "tap", "af_xdp", "virtio"])
def test_drivers_other_than_pcap_and_null_are_refused(offline, driver):
    options = {"af_packet": "interface: veth9", "tap": "interface: vs-tap9", "af_xdp": "interface: veth9",
               "virtio": 'pci: "0000:00:05.0"'}[driver]
    cfg = f"""
        version: 1
        ports:
          a: {{driver: pcap, rx_pcap: in/a.pcap, tx_pcap: out/a.pcap}}
          kern: {{driver: {driver}, {options}}}
        bridges:
          br0: {{interfaces: [a, kern]}}
    """
    run = offline(cfg, {"a": [eth(BCAST, A, 1.0)]})
    refused(run, "kern", driver)


def test_a_null_port_is_allowed_and_counts_what_it_is_sent(offline):
    cfg = """
        version: 1
        ports:
          a: {driver: pcap, rx_pcap: in/a.pcap, tx_pcap: out/a.pcap}
          sink: {driver: null}
        bridges:
          br0: {interfaces: [a, sink]}
    """
    run = ok(offline(cfg, {"a": [eth(BCAST, A, 1.0), eth(UNKNOWN, A, 2.0, size=100)]}))
    sink = run.port("sink")
    assert (sink["tx_packets"], sink["tx_bytes"], sink["rx_packets"]) == (2, 60 + 114, 0)
    assert sink["driver"] == "null"


# ---- the tx files, workers, counters --------------------------------------------------------------

def test_every_tx_pcap_is_written_even_when_nothing_is_sent(offline):
    cfg = """
        version: 1
        ports:
          a: {driver: pcap, rx_pcap: in/a.pcap, tx_pcap: out/a.pcap}
          b: {driver: pcap, rx_pcap: in/b.pcap, tx_pcap: out/b.pcap}
          quiet: {driver: pcap, tx_pcap: out/deeper/still/quiet.pcap}
        bridges:
          br0: {interfaces: [a, b]}
    """
    run = ok(offline(cfg, {"a": [eth(BCAST, A, 1.0)]}))      # b sends; a and quiet send nothing
    for rel in ("out/a.pcap", "out/deeper/still/quiet.pcap"):
        path = os.path.join(run.workdir, rel)
        with open(path, "rb") as f:
            blob = f.read()
        assert len(blob) == 24, rel
        header, records = read_pcap(path)
        assert (header["magic"], header["version"], header["linktype"], records) == (MAGIC_US, (2, 4), 1, [])
    assert run.sent("a") == []                                 # and scapy reads it too
    assert run.sent("b") == [wire(BCAST, A)]


def test_no_input_at_all_still_writes_every_tx_pcap(offline):
    run = ok(offline(bridge_cfg()))
    for port in ("a", "b", "c"):
        assert run.sent(port) == []
        assert os.path.getsize(os.path.join(run.workdir, "out", f"{port}.pcap")) == 24


@pytest.mark.parametrize("workers", ["2", "[0, 1]"])
def test_workers_are_treated_as_one(offline, workers):
    # an order-sensitive run: X is learned by a at the same timestamp b sends to it
    inputs = {"a": [eth(BCAST, X, 1.0, "x"), eth(Y, X, 2.0, "x2")], "b": [eth(X, Y, 1.0, "y")]}
    run = ok(offline(config(("a", "b", "c"), bridge(["a", "b", "c"]), head=f"workers: {workers}\n"), inputs))
    assert run.sent("a") == [wire(X, Y, "y")]
    assert run.sent("b") == [wire(BCAST, X, "x"), wire(Y, X, "x2")]
    assert run.sent("c") == [wire(BCAST, X, "x")]


def test_port_counters_match_what_went_in_and_out(offline):
    cfg = config(("trunk", "acc", "c"), "vlans:\n  trunk.10: {link: trunk, id: 10}\n"
                                       + bridge(["trunk.10", "acc", "c"]))
    inputs = {"trunk": [tagged(BCAST, A, 1.0, vid=10, size=100, tag="t1"), tagged(B, A, 3.0, vid=10, tag="t2"),
                        tagged(BCAST, A, 4.0, vid=77, tag="bad")],
              "acc": [eth(A, B, 2.0, "u1", size=200)]}
    run = ok(offline(cfg, inputs))
    assert run.sent("acc") == [wire(BCAST, A, "t1", size=100), wire(B, A, "t2")]
    assert run.sent("c") == [wire(BCAST, A, "t1", size=100)]
    assert run.sent("trunk") == [wire_tagged(A, B, 10, tag="u1", size=200)]
    expected = {  # rx_packets, rx_bytes, tx_packets, tx_bytes, rx_dropped
        "trunk": (3, 118 + 64 + 64, 1, 218, 1),
        "acc": (1, 214, 2, 114 + 60, 0),
        "c": (0, 0, 1, 114, 0),
    }
    for port, numbers in expected.items():
        p = run.port(port)
        assert (p["rx_packets"], p["rx_bytes"], p["tx_packets"], p["tx_bytes"], p["rx_dropped"]) == numbers, port
        assert p["tx_bytes"] == sum(len(f) for f in run.sent(port))
        assert (p["tx_dropped"], p["rx_errors"], p["tx_errors"]) == (0, 0, 0)
    assert run.port("trunk")["drops"] == {"unknown_vlan": 1}


def test_a_run_is_reproducible(offline):
    inputs = {"a": [eth(BCAST, X, 1.0, "x"), eth(UNKNOWN, X, 1.5, "u")],
              "b": [eth(X, Y, 1.0, "y"), eth(BCAST, Y, 1.5, "yb")],
              "c": [eth(Y, A, 1.25, "c")]}
    outputs = []
    for _ in range(2):
        run = ok(offline(bridge_cfg(mac_aging=10), inputs))
        outputs.append({p: open(os.path.join(run.workdir, "out", f"{p}.pcap"), "rb").read() for p in "abc"})
    assert outputs[0] == outputs[1]
