"""`vswitch show ... --json` against a running appliance: the shapes SPEC.md
fixes, live counters, and clear errors without one."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VSWITCH = [sys.executable, "-m", "vswitch"]

SHAPES = {
    "ports": {"name", "driver", "link", "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_dropped",
              "tx_dropped", "rx_errors", "tx_errors", "drops"},
    "macs": {"bridge", "mac", "interface", "static", "age"},
    "routes": {"to", "via", "interface", "type"},
    "neighbors": {"ip", "macaddress", "interface", "state"},
    "workers": {"id", "cpu", "rx_queues", "packets", "busy_percent", "cycles_per_packet"},
}


def show(sock, what, json_out=True):
    cmd = [*VSWITCH, "show", what, "--socket", sock] + (["--json"] if json_out else [])
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if json_out else proc.stdout


@pytest.fixture(scope="module")
def appliance(tmp_path_factory):
    sock = str(tmp_path_factory.mktemp("ctl") / "vswitch.sock")
    proc = subprocess.Popen([*VSWITCH, "run", "configs/demo-pcap-loop.yaml", "--socket", sock], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not os.path.exists(sock):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "control socket never appeared"
        time.sleep(0.05)
    time.sleep(1.5)  # one worker sample period
    yield sock
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    assert not os.path.exists(sock), "the socket is removed on shutdown"


@pytest.mark.parametrize("what", sorted(SHAPES))
def test_json_shapes(appliance, what):
    rows = show(appliance, what)
    assert isinstance(rows, list) and rows
    for row in rows:
        assert SHAPES[what] <= set(row), f"{what} row lacks {SHAPES[what] - set(row)}"


def test_values_match_the_config_and_traffic(appliance):
    ports = {p["name"]: p for p in show(appliance, "ports")}
    assert ports["lan-hosts"]["driver"] == "pcap" and ports["lan-hosts"]["link"] == "up"
    assert ports["lan-hosts"]["rx_packets"] > 0 and ports["internet"]["tx_packets"] > 0
    assert isinstance(ports["lan-hosts"]["drops"], dict)
    routes = show(appliance, "routes")
    assert {"to": "0.0.0.0/0", "via": "198.51.100.254", "interface": "internet", "type": "static"} in routes
    assert {"to": "10.0.1.0/24", "via": None, "interface": "br-lan", "type": "connected"} in routes
    neighbors = show(appliance, "neighbors")
    assert {"ip": "198.51.100.254", "macaddress": "02:00:00:00:03:fe", "interface": "internet",
            "state": "static"} in neighbors
    macs = show(appliance, "macs")
    assert {"bridge": "br-lan", "mac": "02:00:00:00:01:0a", "interface": "lan-server", "static": True,
            "age": 0} in macs
    assert any(not m["static"] and m["interface"] == "lan-hosts" for m in macs)
    workers = show(appliance, "workers")
    assert workers[0]["rx_queues"] == ["lan-hosts:0", "branch:0"]
    assert workers[0]["packets"] > 0 and workers[0]["busy_percent"] > 0 and workers[0]["cycles_per_packet"] > 0


def test_counters_move(appliance):
    def rx():
        return next(p["rx_packets"] for p in show(appliance, "ports") if p["name"] == "lan-hosts")
    first = rx()
    deadline = time.monotonic() + 10
    while rx() == first:
        assert time.monotonic() < deadline, "rx_packets did not move in 10 s"
        time.sleep(0.2)


def test_config_and_events(appliance):
    cfg = show(appliance, "config")
    assert cfg["file"] == "configs/demo-pcap-loop.yaml" and "br-lan" in cfg["text"]
    events = show(appliance, "events")
    assert any("running" in e["message"] for e in events)


def test_tables_for_people(appliance):
    text = show(appliance, "ports", json_out=False)
    assert text.splitlines()[0].split()[:3] == ["PORT", "DRIVER", "LINK"]
    assert "lan-hosts" in text
    assert "198.51.100.254" in show(appliance, "routes", json_out=False)


def test_no_appliance_is_a_clear_error(tmp_path):
    proc = subprocess.run([*VSWITCH, "show", "ports", "--socket", str(tmp_path / "none.sock")], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "no appliance is running" in proc.stderr and "Traceback" not in proc.stderr
