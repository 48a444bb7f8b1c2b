"""Source's rates from counter deltas: per second, L2 bits, and a restart
(counters going backwards) starting the rates again instead of going negative."""
from vswitch.tui.source import Source


class Readings(Source):
    """Port counters handed in by the test, one reading per poll, 2 s apart."""

    def __init__(self, readings):
        self.readings = iter(readings)
        self.t = 0.0
        super().__init__("unused.sock", clock=lambda: self.t)

    def request(self, cmd, what=None):
        if what != "ports":
            return []
        self.t += 2.0
        rx_packets, rx_bytes, dropped = next(self.readings)
        return [{"name": "p", "rx_packets": rx_packets, "rx_bytes": rx_bytes, "tx_packets": 0, "tx_bytes": 0,
                 "rx_dropped": dropped, "tx_dropped": 0}]


def test_rates_restart_and_rising_drops():
    source = Readings([(100, 6000, 0), (300, 18000, 0), (700, 42000, 5), (50, 3000, 5), (250, 15000, 5)])
    first, second, third, restarted, after = (source.poll()["ports"][0] for _ in range(5))
    assert first["rates"]["rx_pps"] is None and not first["drops_rising"]
    assert second["rates"]["rx_pps"] == 100 and second["rates"]["rx_bps"] == (18000 - 6000) / 2 * 8
    assert third["rates"]["rx_pps"] == 200 and third["drops_rising"]
    assert restarted["rates"] == {"rx_pps": None, "rx_bps": None, "tx_pps": None, "tx_bps": None}
    assert not restarted["drops_rising"]
    assert after["rates"]["rx_pps"] == 100 and not after["drops_rising"]
    assert after["history"] == {"rx": [100, 200, 100], "tx": [0, 0, 0]}
