"""The offline runner end to end: one bridge, one frame, flooded."""
from scapy.layers.l2 import Ether


def test_broadcast_is_flooded_to_the_other_members(offline):
    frame = Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff", type=0x88b5) / (b"x" * 46)
    frame.time = 1.0
    run = offline("""
        version: 1
        ports:
          a: {driver: pcap, rx_pcap: in/a.pcap, tx_pcap: out/a.pcap}
          b: {driver: pcap, tx_pcap: out/b.pcap}
          c: {driver: pcap, tx_pcap: out/c.pcap}
        bridges:
          br0: {interfaces: [a, b, c]}
    """, {"a": [frame]})
    assert run.returncode == 0, run.stderr
    assert run.sent("a") == []
    assert run.sent("b") == [bytes(frame)]
    assert run.sent("c") == [bytes(frame)]
    assert run.port("a")["flooded"] == 1
    assert run.state["macs"] == [{"bridge": "br0", "mac": "02:00:00:00:00:01", "interface": "a",
                                  "static": False, "age": 0}]
