"""`show port NAME` on a kernel (af_packet) port: the driver facts a
kernel interface has (its name, link speed), and its one rx queue counting
what a Linux host in a namespace sends through a veth."""
import json
import os
import subprocess
import time

import pytest

from tui_lab import ROOT, START_TIMEOUT_S, VSWITCH  # noqa: E402
from vswitch import control  # noqa: E402

CONFIG = """\
version: 1
workers: 1
ports:
  lan1: {{driver: af_packet, interface: lan1, mtu: 1400, addresses: [10.0.1.1/24], macaddress: "02:00:00:00:01:01"}}
control_socket: {socket}
"""
PINGS = 5


@pytest.fixture
def host_lab(lab):
    """The appliance's namespace and host h1 on lan1 (the lab fixture: tests/conftest.py)."""
    lab.add_ns("app")
    lab.add_ns("h1")
    lab.veth("app", "lan1", "h1", "eth0")
    lab.host("h1", "eth0", "10.0.1.11/24")
    return lab


def test_kernel_port_facts_and_queue(host_lab, tmp_path):
    lab = host_lab
    sock = str(tmp_path / "vswitch.sock")
    (tmp_path / "vswitch.yaml").write_text(CONFIG.format(socket=sock))
    proc = lab.popen("app", [*VSWITCH, "run", str(tmp_path / "vswitch.yaml")], cwd=ROOT,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not os.path.exists(sock):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no control socket"
            time.sleep(0.05)
        ping = lab.exec("h1", "ping", "-c", str(PINGS), "-i", "0.2", "-W", "1", "10.0.1.1", check=False)
        assert f"{PINGS} received" in ping.stdout, ping.stdout
        port = control.request(sock, "show", what="port", name="lan1")
        assert port["driver"] == "af_packet" and port["interface"] == "lan1"
        assert port["mtu"] == 1400 and port["mac"] == "02:00:00:00:01:01"
        speed = lab.exec("app", "cat", "/sys/class/net/lan1/speed").stdout.strip()
        assert port["link_speed_mbps"] == int(speed), "the kernel's own figure, read in the port's namespace"
        assert port["pci"] is None and port["virtio_features"] is None
        [queue] = port["queues"]
        assert queue["queue"] == 0 and queue["worker"] == 0
        assert queue["rx_packets"] >= PINGS, "the echo requests (and ARP) came in on queue 0"
        assert queue["rx_packets"] == port["rx_packets"] - port["drops"]["giant"]
        text = subprocess.run([*VSWITCH, "show", "port", "lan1", "--socket", sock], cwd=ROOT,
                              capture_output=True, text=True, timeout=30).stdout
        assert f"link speed (Mb/s)  {speed}" in text and "interface          lan1" in text
        json.loads(subprocess.run([*VSWITCH, "show", "port", "lan1", "--json", "--socket", sock], cwd=ROOT,
                                  capture_output=True, text=True, timeout=30).stdout)
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
