"""`vswitch show port NAME [--json]` (the TUI's port detail) against a real appliance."""
import json
import subprocess
import time

from tui_lab import ROOT, VSWITCH
from vswitch import control
from vswitch.pipeline import DROP_REASONS


def show(appliance, *args):
    return subprocess.run([*VSWITCH, "show", *args, "--socket", appliance.socket], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)


def test_show_port_json_and_text(appliance):
    proc = show(appliance, "port", "src", "--json")
    assert proc.returncode == 0, proc.stderr
    port = json.loads(proc.stdout)
    # the `show ports` shape, and more
    ports = json.loads(show(appliance, "ports", "--json").stdout)
    assert set(next(p for p in ports if p["name"] == "src")) - {"drops"} <= set(port)
    assert port["driver"] == "pcap" and port["mtu"] == 1500 and port["mac"] == "02:00:00:00:02:01"
    assert port["pci"] is None and port["virtio_features"] is None and port["interface"] is None
    assert port["link_speed_mbps"] is None
    assert list(port["drops"]) == DROP_REASONS, "every drop reason, counted or not"
    [queue] = port["queues"]
    assert queue["queue"] == 0 and queue["worker"] == 0
    # the queue's counter was read after the port's: it has at least as much
    assert queue["rx_packets"] >= port["rx_packets"] > 0
    assert queue["rx_bytes"] == queue["rx_packets"] * 60, "60-byte frames"
    assert json.loads(show(appliance, "port", "srv", "--json").stdout)["queues"] == [], "a null port has no rx queue"

    text = show(appliance, "port", "src").stdout
    assert "mac                02:00:00:00:02:01" in text and "pci                -" in text
    assert "rx queues:" in text and "ttl_expired" in text


def test_clear_counters_clears_the_queue_counters(appliance):
    def queue_packets():
        return control.request(appliance.socket, "show", what="port", name="src")["queues"][0]["rx_packets"]
    time.sleep(1)
    before = queue_packets()
    assert before > 100_000, "a second of a looping pcap"
    control.request(appliance.socket, "clear", what="counters", name="src")
    port_after = next(p for p in control.request(appliance.socket, "show", what="ports") if p["name"] == "src")
    after = queue_packets()
    assert port_after["rx_packets"] <= after < before / 4, "the queue counts again from zero, as the port does"


def test_show_port_refuses_what_is_not_a_port(appliance):
    proc = show(appliance, "port", "br")
    assert proc.returncode == 1 and "no port called 'br'; ports: src, out, lan, srv" in proc.stderr
    proc = show(appliance, "port")
    assert proc.returncode == 2 and "vswitch show port NAME" in proc.stderr
