"""`vswitch run` in the foreground: forwards live, stops cleanly on signals,
refuses what this version cannot run."""
import os
import re
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VSWITCH = [sys.executable, "-m", "vswitch"]


def read_stats_rows(proc, want_rows, timeout=20):
    """Lines of the --stats table for the lan-hosts port, as (rx_packets, rx_pps)."""
    rows = []
    deadline = time.monotonic() + timeout
    while len(rows) < want_rows and time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.match(r"\S*lan-hosts\s+(\d+)\s+(\d+)", line)
        if m:
            rows.append((int(m.group(1)), int(m.group(2))))
    return rows


def test_demo_config_forwards_live_and_stops_on_sigint():
    proc = subprocess.Popen([*VSWITCH, "run", "configs/demo-pcap-loop.yaml", "--stats"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        rows = read_stats_rows(proc, 3)
        assert len(rows) == 3, proc.stderr.read() if proc.poll() is not None else "no stats"
        counts = [count for count, _ in rows]
        assert counts[0] < counts[1] < counts[2], "counters move"
        assert rows[2][1] > 10_000, "a replaying pcap port forwards well over 10 kpps"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigterm_stops_cleanly():
    proc = subprocess.Popen([*VSWITCH, "run", "configs/demo-pcap-loop.yaml", "--stats"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert read_stats_rows(proc, 1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_run_refuses_drivers_this_version_lacks(tmp_path):
    cfg = tmp_path / "x.yaml"
    cfg.write_text('version: 1\nports:\n  uplink: {driver: ixgbe, pci: "0000:03:00.0"}\n')
    assert subprocess.run([*VSWITCH, "validate", str(cfg)], cwd=ROOT).returncode == 0
    proc = subprocess.run([*VSWITCH, "run", str(cfg)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "driver ixgbe is not available in this version" in proc.stderr
