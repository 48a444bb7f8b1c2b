"""A real appliance for the TUI's tests: `vswitch run CFG --socket S` in a
subprocess, forwarding looping pcaps into null ports."""
import os
import subprocess
import sys
import time

from scapy.all import IP, UDP, Ether, wrpcap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VSWITCH = [sys.executable, "-m", "vswitch"]
START_TIMEOUT_S = 20

# src loops routed traffic 192.0.2.10 -> 10.9.1.x out of `out`; lan loops
# broadcasts from three hosts into bridge br (they are learned on lan); srv
# holds one static MAC.
CONFIG = """\
version: 1
workers: 1
ports:
  src: {driver: pcap, rx_pcap: src.pcap, loop: true, addresses: [192.0.2.1/24], macaddress: "02:00:00:00:02:01"}
  out: {driver: "null", addresses: [198.51.100.1/24], macaddress: "02:00:00:00:03:01"}
  lan: {driver: pcap, rx_pcap: lan.pcap, loop: true}
  srv: {driver: "null"}
bridges:
  br:
    interfaces: [lan, srv]
    addresses: [10.0.1.1/24]
    static_macs:
      - {macaddress: "02:00:00:00:01:0a", interface: srv}
routes:
  - {to: 10.9.0.0/16, via: 198.51.100.254}
neighbors:
  - {ip: 198.51.100.254, macaddress: "02:00:00:00:03:fe", interface: out}
"""


class Appliance:
    def __init__(self, tmp_path):
        self.config = tmp_path / "vswitch.yaml"
        self.socket = str(tmp_path / "vswitch.sock")
        self.proc = None
        wrpcap(str(tmp_path / "src.pcap"),
               [Ether(dst="02:00:00:00:02:01", src="02:00:00:00:02:0a") /
                IP(src="192.0.2.10", dst=f"10.9.1.{i}") / UDP(sport=1000 + i, dport=53) / (b"x" * 18)
                for i in range(1, 9)])
        wrpcap(str(tmp_path / "lan.pcap"),
               [Ether(dst="ff:ff:ff:ff:ff:ff", src=f"02:00:00:00:01:{i:02x}") /
                IP(src=f"10.0.1.{i}", dst="10.0.1.255") / UDP() for i in range(11, 14)])
        self.config.write_text(CONFIG)

    def start(self):
        self.proc = subprocess.Popen([*VSWITCH, "run", str(self.config), "--socket", self.socket], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None:
                raise AssertionError(f"vswitch run exited: {self.proc.stderr.read()}")
            assert time.monotonic() < deadline, "the appliance did not create its control socket"
            time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            assert self.proc.wait(timeout=10) == 0
        self.proc = None
