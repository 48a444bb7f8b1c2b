"""The Trace screen and the capture dialog against a real appliance
(tui_lab): packets traced through the running core, a pcap written by it."""
import time

import pytest
from scapy.all import IP, Ether, PcapReader, rdpcap
from textual.widgets import Input, Static

from test_live import SIZE, rows, run, text_of, until
from vswitch import control
from vswitch.trace import render_packet
from vswitch.tui.screens.capture import CaptureDialog
from vswitch.tui.screens.port import PortScreen
from vswitch.tui.screens.ports import PortsScreen
from vswitch.tui.screens.trace import TraceScreen

pytestmark = pytest.mark.asyncio

TRACED = 80              # more than two bursts of 32: both src and lan among them, whichever comes first
PCAP_HEADER, PCAP_RECORD_HEADER = 24, 16
QUIT_STOPS_S = 2                # well inside the appliance's 10 s lease
FRAME_LEN = {"src": 60, "lan": 42}      # tui_lab's pcaps: routed UDP padded to 60, unpadded broadcasts


async def test_trace_shows_the_packets_and_their_steps(appliance):
    app = run(appliance.socket)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None, "the first poll")
        await pilot.press("t")
        assert isinstance(app.screen, TraceScreen)
        await pilot.press("e", "backspace", "backspace", *str(TRACED), "enter")
        status = app.screen.query_one("#trace-status", Static)
        await until(pilot, lambda: "; done" in text_of(status), "the trace to finish")
        assert text_of(status).startswith(f"{TRACED} of {TRACED} traced")
        assert rows(app, "#trace-packets") == [str(n) for n in range(1, TRACED + 1)]
        packets = app.screen.packets
        assert {p["port"] for p in packets} <= {"src", "lan"}, "only src and lan receive"
        steps = app.screen.query_one("#trace-steps", Static)
        for n in (1, 2):            # the first packet's steps, then (cursor down) the second's
            shown = text_of(steps).splitlines()
            assert shown == render_packet(n, packets[n - 1]), "the lines `vswitch trace` prints"
            port = packets[n - 1]["port"]
            assert shown[0].startswith(f"Packet {n}: worker 0, {port} queue 0")
            assert shown[2] == f"   1  rx {port} queue 0 len {FRAME_LEN[port]}"
            assert any(line.split()[1] in ("tx", "drop:") for line in shown[2:]), shown
            await pilot.press("down")
        routed = next(n for n, p in enumerate(packets, 1) if p["port"] == "src")
        table = app.screen.query_one("#trace-packets")
        table.move_cursor(row=routed - 1)
        await pilot.pause()
        assert "  tx out" in text_of(steps), "src's packets are routed out of out"
        assert "ttl 64 -> 63" in text_of(steps)


async def test_trace_count_must_be_a_number(appliance):
    app = run(appliance.socket)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t", "e", "backspace", "backspace", "enter")
        assert "a whole number" in text_of(app.screen.query_one("#trace-status", Static))
        app.screen.query_one("#trace-count", Input).value = "20000"
        await pilot.press("T")
        await until(pilot, lambda: "trace count must be 1-10000" in text_of(app.screen.query_one("#trace-status")),
                    "the appliance's refusal")


async def test_capture_from_the_ports_screen(appliance, tmp_path):
    app = run(appliance.socket)
    counted, until_stopped = tmp_path / "src.pcap", tmp_path / "out.pcap"
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None and rows(app) == ["src", "out", "lan", "srv"],
                    "the ports")
        await pilot.press("k")                  # the cursor is on src
        assert isinstance(app.screen, CaptureDialog) and app.screen.port == "src"
        assert app.screen.query_one("#capture-file", Input).value == "/tmp/vswitch-src.pcap"
        app.screen.query_one("#capture-file", Input).value = str(counted)
        app.screen.query_one("#capture-count", Input).value = "50"
        await pilot.press("enter")
        progress = app.screen.query_one("#capture-progress", Static)
        await until(pilot, lambda: text_of(progress).endswith(": complete"), "the capture to reach its count")
        assert text_of(progress).startswith(f"capture src → {counted}: 50/50 written, ")
        frames = rdpcap(str(counted))
        assert len(frames) == 50
        assert all(f[Ether].src == "02:00:00:00:02:0a" and f[Ether].dst == "02:00:00:00:02:01" for f in frames)
        await pilot.press("escape", "down", "k")        # out: captured until x
        app.screen.query_one("#capture-file", Input).value = str(until_stopped)
        app.screen.query_one("#capture-count", Input).value = "0"
        await pilot.press("enter", "escape")
        assert isinstance(app.screen, PortsScreen)
        line = app.screen.query_one("#captures", Static)
        await until(pilot, lambda: line.display and text_of(line).startswith(f"capturing out → {until_stopped}: "),
                    "the running capture on the ports screen")
        await until(pilot, lambda: app.capturing["out"]["status"]["written"] >= 100, "frames routed out of out")
        await pilot.press("x")
        await until(pilot, lambda: not app.capturing["out"]["running"], "the capture to stop")
        status = app.capturing["out"]["status"]
        assert status["outcome"] == "stopped"
        await until(pilot, lambda: not line.display, "the line gone")
        # out sends at the core's full rate: millions of frames, too many for scapy to read them all
        assert until_stopped.stat().st_size == PCAP_HEADER + status["written"] * (PCAP_RECORD_HEADER + 60)
        with PcapReader(str(until_stopped)) as frames:
            first = [f for _, f in zip(range(100), frames)]
        assert len(first) == 100 and all(f[Ether].dst == "02:00:00:00:03:fe" and f[IP].ttl == 63 for f in first), \
            "routed to the next hop"
        events = [e["message"] for e in app.events.items]
        assert any(m.startswith("capture on out stopped") for m in events), "the appliance's event in the log"


async def test_capture_from_the_port_detail_and_quitting_stops_it(appliance, tmp_path):
    """k in a port's detail; the capture shown there while it runs; quitting
    the TUI stops it at once (not after the appliance's 10 s lease)."""
    app = run(appliance.socket)
    pcap = tmp_path / "lan.pcap"
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None and rows(app) == ["src", "out", "lan", "srv"],
                    "the ports")
        await pilot.press("down", "down", "enter")
        await until(pilot, lambda: isinstance(app.screen, PortScreen), "lan's detail")
        await pilot.press("k")
        assert app.screen.port == "lan"
        app.screen.query_one("#capture-file", Input).value = str(pcap)
        app.screen.query_one("#capture-count", Input).value = "0"
        await pilot.press("enter", "escape")
        line = app.screen.query_one("#port-capture", Static)
        await until(pilot, lambda: line.display and text_of(line).startswith(f"capturing lan → {pcap}: "),
                    "the capture in the port's detail")
    deadline = time.monotonic() + QUIT_STOPS_S      # the follower wakes from its poll's sleep, then stops it
    while (status := control.request(appliance.socket, "capture_status"))[0]["running"]:
        assert time.monotonic() < deadline, "the capture still runs after quitting"
        time.sleep(0.05)
    [status] = status
    assert status["port"] == "lan" and status["outcome"] == "stopped"
    assert pcap.stat().st_size == PCAP_HEADER + status["written"] * (PCAP_RECORD_HEADER + FRAME_LEN["lan"])
