"""Shared test helpers: run the appliance offline on pcaps made by the test;
a namespace lab (vswitch/netlab.py) for the tests that need Linux hosts."""
import json
import os
import re
import struct
import subprocess
import sys
import textwrap

import pytest
from scapy.utils import PcapReader, wrpcap

from vswitch import netlab

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VSWITCH = [sys.executable, "-m", "vswitch"]


class OfflineRun:
    """The result of `vswitch run CONFIG --until-idle`: what each port sent."""

    def __init__(self, workdir, proc):
        self.workdir = workdir
        self.proc = proc
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def frames(self, port):
        """[(timestamp_seconds, frame_bytes)] the port transmitted, in order."""
        path = os.path.join(self.workdir, "out", f"{port}.pcap")
        with PcapReader(path) as reader:
            return [(float(pkt.time), bytes(pkt)) for pkt in reader]

    def sent(self, port):
        return [frame for _, frame in self.frames(port)]

    @property
    def state(self):
        """The end-of-run state: ports (with drops by reason), macs, routes,
        neighbors in the `show --json` shapes, plus punt and slow-path counters."""
        with open(os.path.join(self.workdir, "state.json")) as f:
            return json.load(f)

    def port(self, name):
        return next(p for p in self.state["ports"] if p["name"] == name)


@pytest.fixture
def offline(tmp_path):
    """offline(config_yaml, {port: [scapy packets with .time]}) -> OfflineRun.

    Every port named in the config as `NAME: {driver: pcap, ...}` should use
    rx_pcap: in/NAME.pcap and tx_pcap: out/NAME.pcap; the fixture writes the
    inputs it is given (and empty ones for pcap ports it is not given)."""

    def run(config_text, inputs=None, extra_args=()):
        config_text = textwrap.dedent(config_text)
        (tmp_path / "in").mkdir(exist_ok=True)
        for port in re.findall(r"in/([\w.-]+)\.pcap", config_text):
            write_empty_pcap(tmp_path / "in" / f"{port}.pcap")
        for port, pkts in (inputs or {}).items():
            wrpcap(str(tmp_path / "in" / f"{port}.pcap"), pkts)
        config_path = tmp_path / "vswitch.yaml"
        config_path.write_text(config_text)
        proc = subprocess.run([*VSWITCH, "run", str(config_path), "--until-idle",
                               "--state-json", str(tmp_path / "state.json"), *extra_args],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        return OfflineRun(str(tmp_path), proc)

    return run


def write_empty_pcap(path):
    """A classic microsecond pcap with no records, Ethernet link type."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))


@pytest.fixture
def lab():
    """A namespace lab, removed afterwards; the test is skipped (with the
    reason) where namespaces cannot be made."""
    try:
        netlab.probe()
    except netlab.Unavailable as why:
        pytest.skip(str(why))
    lab = netlab.Lab()
    try:
        yield lab
    finally:
        lab.close()
