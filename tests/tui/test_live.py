"""Pilot tests of `vswitch tui` against a real appliance (conftest.Appliance):
what the screens show is what the running forwarding core counts."""
import re
import time

import pytest
from scapy.all import ICMP, IP, Ether, wrpcap
from textual.widgets import Input, Static

from tui_lab import Appliance
from vswitch.tui.app import VswitchApp
from vswitch.tui.screens.port import PortScreen
from vswitch.tui.source import Source
from vswitch.tui.widgets import Banner, EventLog, KeyedTable

POLL_S = 0.2
WAIT_S = 10
SIZE = (120, 32)

pytestmark = pytest.mark.asyncio



async def until(pilot, check, what, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def cell(app, row, column):
    return app.screen.query_one(KeyedTable).get_cell(row, column).plain


def rows(app, selector="KeyedTable"):
    table = app.screen.query_one(selector, KeyedTable)
    return [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]


def port_row(app, name):
    return next(r for r in app.snapshot["ports"] if r["name"] == name)


def text_of(static):
    content = static.content
    return getattr(content, "plain", None) or getattr(content, "code", None) or str(content)


def run(socket):
    return VswitchApp(Source(socket), interval=POLL_S)


async def test_rates_become_nonzero_and_move(appliance):
    app = run(appliance.socket)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot and (port_row(app, "src")["rates"]["rx_pps"] or 0) > 0,
                    "src to receive")
        readings = set()            # distinct non-zero rates shown (a loaded machine may stall a beat)
        totals = []

        def moved():
            text = cell(app, "src", "rx_pps")
            if text not in ("0", "-"):
                readings.add(text)
            totals.append(port_row(app, "src")["rx_packets"])
            return len(readings) >= 3
        await until(pilot, moved, "src's rate to move")
        assert totals[-1] > totals[0]
        assert rows(app) == ["src", "out", "lan", "srv"]
        out = port_row(app, "out")
        assert out["rates"]["tx_pps"] > 0 and out["rates"]["tx_bps"] > 0, "routed traffic leaves out"
        # 60-byte frames: L2 bits per second are 480 x packets per second, give or take the clock
        src = port_row(app, "src")["rates"]
        assert src["rx_bps"] == pytest.approx(src["rx_pps"] * 60 * 8, rel=0.01)
        assert cell(app, "srv", "rx_pps") == "0" and cell(app, "src", "link") == "up"
        assert set(cell(app, "src", "rx_trend")) - {"▁"}, "the trend shows the rate"


async def test_switching_screens_and_port_detail(appliance):
    app = run(appliance.socket)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None, "the first poll")
        await pilot.press("m")
        await until(pilot, lambda: len(rows(app)) == 4, "three learned MACs and the static one")
        assert rows(app) == [f"br 02:00:00:00:01:{i:02x}" for i in (10, 11, 12, 13)]
        assert cell(app, "br 02:00:00:00:01:0a", "static") == "static"
        assert cell(app, "br 02:00:00:00:01:0b", "interface") == "lan"
        await pilot.press("r")
        await until(pilot, lambda: "10.9.0.0/16" in rows(app), "the routes")
        assert cell(app, "10.9.0.0/16", "via") == "198.51.100.254"
        assert cell(app, "10.9.0.0/16", "type") == "static"
        assert cell(app, "192.0.2.0/24", "type") == "connected"
        await pilot.press("n")
        await until(pilot, lambda: rows(app) == ["out 198.51.100.254"], "the neighbour")
        assert cell(app, "out 198.51.100.254", "state") == "static"
        await pilot.press("w")
        await until(pilot, lambda: rows(app) == ["0"] and float(cell(app, "0", "mpps")) > 0, "the worker busy")
        assert cell(app, "0", "rx_queues") == "src:0, lan:0"
        await pilot.press("c")
        await until(pilot, lambda: "version: 1" in text_of(app.screen.query_one("#config-text", Static)),
                    "the running config")
        await pilot.press("l")
        await until(pilot, lambda: any("running 4 ports" in e["message"] for e in app.events.items), "the events")
        assert app.screen.query_one(EventLog).lines, "the log shows them"
        await pilot.press("p")
        await until(pilot, lambda: rows(app) == ["src", "out", "lan", "srv"], "the ports again")
        await pilot.press("down", "down", "enter")      # the cursor on lan
        await until(pilot, lambda: isinstance(app.screen, PortScreen), "the port detail")
        await until(pilot, lambda: rows(app, "#port-queues") == ["0"], "lan's rx queue")
        facts = text_of(app.screen.query_one("#port-facts", Static))
        assert re.search(r"driver\s+pcap", facts) and re.search(r"MTU\s+1500", facts)
        assert re.search(r"PCI address\s+-", facts), "pcap ports have no PCI address"
        drops = rows(app, "#port-drops")
        assert "ttl_expired" in drops and "giant" in drops and len(drops) > 20, "every drop reason"
        queue = app.screen.query_one("#port-queues", KeyedTable)
        assert int(queue.get_cell("0", "worker").plain) == 0
        await pilot.press("escape")
        assert not isinstance(app.screen, PortScreen)


async def test_filtering_the_mac_table(appliance):
    app = run(appliance.socket)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        await until(pilot, lambda: len(rows(app)) == 4, "the MAC table")
        await pilot.press("slash", *"01:0c")
        await until(pilot, lambda: rows(app) == ["br 02:00:00:00:01:0c"], "the filter by MAC")
        app.screen.query_one(Input).value = "srv"
        await until(pilot, lambda: rows(app) == ["br 02:00:00:00:01:0a"], "the filter by interface")
        app.screen.query_one(Input).value = "br lan"
        await until(pilot, lambda: len(rows(app)) == 3, "bridge and interface together")
        app.screen.query_one(Input).value = "nomatch"
        await until(pilot, lambda: rows(app) == [], "nothing")
        await pilot.press("escape")
        await until(pilot, lambda: len(rows(app)) == 4, "the filter cleared")


async def test_reload_shows_the_errors_then_the_changes(appliance):
    app = run(appliance.socket)
    good = appliance.config.read_text()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        result = app.screen.query_one("#reload-result", Static)
        appliance.config.write_text(good.replace('srv: {driver: "null"}', 'srv: {driverr: "null"}'))
        await pilot.press("R")
        await until(pilot, lambda: "refused" in text_of(result), "the refusal")
        # the line and column of the bad key, as `vswitch validate` prints them
        assert f"{appliance.config}:7:9:" in text_of(result), text_of(result)
        appliance.config.write_text(good.replace("routes:\n", "routes:\n  - {to: 10.77.0.0/16, via: 198.51.100.254}\n"))
        await pilot.press("R")
        await until(pilot, lambda: "applied" in text_of(result), "the reload")
        assert "10.77.0.0/16" in text_of(result)
        await pilot.press("r")
        await until(pilot, lambda: "10.77.0.0/16" in rows(app), "the new route in the routes table")


async def test_no_appliance_says_so_and_reconnects(tmp_path):
    appliance = Appliance(tmp_path)
    app = run(appliance.socket)
    try:
        async with app.run_test(size=SIZE) as pilot:
            banner = app.screen.query_one(Banner)
            await until(pilot, lambda: banner.display and "no appliance is running" in text_of(banner),
                        "the no-appliance message")
            assert appliance.socket in text_of(banner)
            appliance.start()
            await until(pilot, lambda: not banner.display and app.snapshot is not None, "the connection")
            appliance.stop()
            await until(pilot, lambda: banner.display, "the message again once the appliance stops")
            stale = app.snapshot["ports"]
            appliance.start()
            await until(pilot, lambda: not banner.display and app.snapshot["ports"] is not stale
                        and (port_row(app, "src")["rates"]["rx_pps"] or 0) > 0, "rates after the restart")
            messages = [e["message"] for e in app.events.items]
            assert sum("connected to" in m for m in messages) == 2
            assert sum("running 4 ports" in m for m in messages) == 2, "both runs' events, each once"
    finally:
        appliance.stop()


async def test_refusals_reach_the_log_and_rising_drops_are_marked(tmp_path):
    """Three MACs into a bridge limited to two, and a flood of pings to the
    router (punted, far over the punt policer's rate): the appliance's
    events say so, and the ports screen marks src's drops as rising."""
    appliance = Appliance(tmp_path)
    appliance.config.write_text(appliance.config.read_text().replace("    addresses: [10.0.1.1/24]\n",
                                                                     "    addresses: [10.0.1.1/24]\n    mac_limit: 2\n"))
    wrpcap(str(tmp_path / "src.pcap"), [Ether(dst="02:00:00:00:02:01", src="02:00:00:00:02:0a") /
                                        IP(src="192.0.2.10", dst="192.0.2.1") / ICMP(id=7, seq=i)
                                        for i in range(8)])
    app = run(appliance.socket)
    try:
        appliance.start()
        async with app.run_test(size=SIZE) as pilot:
            def logged(text):
                return any(text in e["message"] for e in app.events.items)
            await until(pilot, lambda: logged("bridge br: MAC limit reached"), "the MAC limit event")
            await until(pilot, lambda: logged("punt local: ") and logged("over the rate limit dropped"),
                        "the punt policer event")
            await until(pilot, lambda: app.screen.query_one(KeyedTable).get_cell("src", "drops").style
                        == "bold white on red", "src's drops marked as rising")
            assert port_row(app, "src")["drops"]["punt_policed"] > 0
    finally:
        appliance.stop()


async def test_sort_and_cursor_stay_across_updates(appliance):
    app = run(appliance.socket)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot and port_row(app, "lan")["rates"]["rx_pps"], "rates")
        table = app.screen.query_one(KeyedTable)
        await pilot.press("down", "down")
        assert table.selected_key() == "lan"
        await pilot.press("s", "s", "s")           # PORT, LINK, then RX pps (largest first)
        assert str(table.columns["rx_pps"].label).endswith("▾")

        def by_rx_pps():
            return sorted(rows(app), key=lambda name: -table.get_cell(name, "rx_pps").sort_value)
        for _ in range(3):                          # three more polls: still sorted, the cursor still on lan
            polled = app.snapshot
            await until(pilot, lambda: app.snapshot is not polled, "a poll")
            await pilot.pause()
            assert rows(app) == by_rx_pps(), [(n, table.get_cell(n, "rx_pps").sort_value) for n in rows(app)]
            assert table.selected_key() == "lan"
        assert set(rows(app)[2:]) == {"out", "srv"}, "the ports that receive nothing come last"
