"""Several workers: the same frames out as one worker, and table changes
under traffic that lose nothing."""
import collections
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap, wrpcap

from vswitch import config
from vswitch.appliance import Appliance
from vswitch.pipeline import lib, port_stats
from vswitch.routing import Installed, STATIC

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VSWITCH = [sys.executable, "-m", "vswitch"]
ROUTER_MAC = "02:00:00:00:00:01"
HOST_MAC = "02:00:00:00:00:0a"


def routed_traffic(count, seed=7):
    rng = random.Random(seed)
    frames = []
    for i in range(count):
        dst = rng.choice(["198.51.100.", "203.0.113.", "192.0.2."]) + str(rng.randint(2, 254))
        pkt = (Ether(src=HOST_MAC, dst=ROUTER_MAC) / IP(src=f"10.0.0.{rng.randint(2, 250)}", dst=dst, ttl=64, id=i)
               / UDP(sport=rng.randint(1024, 65535), dport=9) / (b"%06d" % i))
        frames.append(pkt)
    return frames


def router_config(workers, rx_queues, rx_pcap, out_dir, sock, loop=False):
    src = f"{{driver: pcap, rx_pcap: {rx_pcap}, rx_queues: {rx_queues}, loop: {str(loop).lower()}, " \
          f"addresses: [10.0.0.1/24], macaddress: \"{ROUTER_MAC}\"}}"
    sink = "{driver: null" if loop else "{driver: pcap, tx_pcap: %s/%%s.pcap" % out_dir
    return textwrap.dedent(f"""\
        version: 1
        workers: {workers}
        control_socket: {sock}
        ports:
          src: {src}
          a: {sink % 'a' if not loop else sink}, addresses: [198.51.100.1/24], macaddress: "02:00:00:00:01:01"}}
          b: {sink % 'b' if not loop else sink}, addresses: [203.0.113.1/24], macaddress: "02:00:00:00:02:01"}}
        routes:
          - {{to: 192.0.2.0/24, via: 198.51.100.9}}
        neighbors:
          - {{ip: 198.51.100.9, macaddress: "02:00:00:00:01:09", interface: a}}
          - {{ip: 10.0.0.2, macaddress: "{HOST_MAC}", interface: src}}
        """) + "".join(
        f"  - {{ip: {net}.{h}, macaddress: \"02:00:00:{side}:00:{h:02x}\", interface: {port}}}\n"
        for net, side, port in (("198.51.100", "01", "a"), ("203.0.113", "02", "b"))
        for h in range(1, 255) if not (net == "198.51.100" and h in (1, 9)) and not (net == "203.0.113" and h == 1))


def show(sock, what):
    out = subprocess.run([*VSWITCH, "show", what, "--json", "--socket", sock], cwd=ROOT, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return {row["name"]: row for row in json.loads(out.stdout)} if what == "ports" else json.loads(out.stdout)


def run_until_drained(cfg_path, sock, expected_rx):
    proc = subprocess.Popen([*VSWITCH, "run", str(cfg_path)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "traffic never drained"
            if os.path.exists(sock):
                ports = show(sock, "ports")
                if ports["src"]["rx_packets"] == expected_rx:
                    break
            time.sleep(0.1)
        workers = show(sock, "workers")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0, proc.stderr.read()
        return ports, workers
    finally:
        if proc.poll() is None:
            proc.kill()


def test_two_workers_send_the_same_frames_as_one(tmp_path):
    frames = routed_traffic(3000)
    wrpcap(str(tmp_path / "in.pcap"), frames)
    outputs = {}
    for workers in (1, 2):
        out_dir = tmp_path / f"out{workers}"
        sock = str(tmp_path / f"s{workers}.sock")
        cfg = tmp_path / f"w{workers}.yaml"
        cfg.write_text(router_config(workers, workers, tmp_path / "in.pcap", out_dir, sock))
        ports, worker_rows = run_until_drained(cfg, sock, len(frames))
        assert ports["src"]["rx_dropped"] == 0, ports["src"]["drops"]
        assert len(worker_rows) == workers
        if workers == 2:
            assert all(w["packets"] > 0 for w in worker_rows), "both workers had traffic"
        outputs[workers] = {port: collections.Counter(bytes(p) for p in rdpcap(str(out_dir / f"{port}.pcap")))
                            for port in ("a", "b")}
    assert sum(outputs[1]["a"].values()) + sum(outputs[1]["b"].values()) == len(frames)
    assert outputs[1] == outputs[2]


def test_route_and_neighbour_changes_under_traffic_lose_nothing(tmp_path):
    """Two workers forward a looping capture while the control plane flaps a
    more specific route between the two egress ports and rewrites a
    neighbour's MAC: every frame leaves by the old or the new path."""
    wrpcap(str(tmp_path / "in.pcap"), routed_traffic(2000, seed=3))
    cfg_path = tmp_path / "flap.yaml"
    cfg_path.write_text(router_config(2, 2, tmp_path / "in.pcap", tmp_path, tmp_path / "s.sock", loop=True))
    app = Appliance(config.load(str(cfg_path)), log=lambda msg: None)
    stop = threading.Event()
    runner = threading.Thread(target=app.run_live, kwargs={"stop_event": stop})
    runner.start()
    try:
        gateway_b = app.slow.gateway(app.iface_ids["b"], 0xCB00710A)   # 203.0.113.10
        app.slow.add_static(app.iface_ids["b"], 0xCB00710A, bytes.fromhex("0200000002aa"))
        net = 0xC0000200  # 192.0.2.0/24
        flips = 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            for length in (25, 26):  # more specifics of half the /24 via b, then gone
                app.routes.add(net, length, Installed(gateway_b.adj, STATIC, via=0xCB00710A, iface="b"))
            for length in (26, 25):
                app.routes.delete(net, length)
            mac = bytes.fromhex("0200000002aa" if flips % 2 else "0200000002bb")
            app.routes.adjs.set(gateway_b.adj, lib.VS_ADJ_FORWARD, app.iface_ids["b"], 0xCB00710A, mac)
            flips += 1
    finally:
        stop.set()
        runner.join()
    stats = {name: port_stats(app.dp, app.iface_ids[name]) for name in ("src", "a", "b")}
    app.close()
    assert flips > 10
    assert stats["src"]["rx_packets"] > 100_000
    assert stats["src"]["drops"] == {}
    assert stats["src"]["rx_packets"] == stats["a"]["tx_packets"] + stats["b"]["tx_packets"]
