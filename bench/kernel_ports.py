"""Kernel-attached ports: packets per second forwarded between two network
namespaces through the appliance (af_xdp and af_packet ports, 1 worker),
beside the Linux kernel's own IPv4 forwarding and a Linux bridge on the same
veth topology, with the same generator and sink, in one run.

    src (dpdk-testpmd txonly) --veth-- dut --veth-- snk (XDP_DROP)
    s0 10.1.0.2                  d0 10.1.0.1 / d1 10.2.0.1   k0 10.2.0.2

The generator is testpmd's txonly engine on an af_packet vdev (60-byte UDP
frames, 10.1.0.2 -> 10.2.0.2, to d0's MAC) pinned to CPU 0; the sink is an
XDP program that drops everything on k0, read from `ip -s link` (the veth
counts what XDP saw).  The forwarding rate is the median of one-second
rates at the sink; the offered rate is what s0 sent.  The appliance's worker
is pinned to CPU 1; the kernel forwards in the softirq of whichever CPU the
generator's frames arrive on (CPU 0), so it shares its CPU with the
generator: read the kernel's figures as "what one core does generator
included" and ours as "one dedicated core".
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import vswitch_bench                  # noqa: E402
from vswitch import netlab            # noqa: E402  (the namespace lab of the e2e tests and the demo)

GENERATOR_CPU = 0
WORKER_CPU = 1
FRAME_BYTES = 60
SRC_IP, DST_IP = "10.1.0.2", "10.2.0.2"
DUT_MAC_IN, DUT_MAC_OUT = "02:00:00:00:b0:01", "02:00:00:00:b0:02"
XDP_DROP_C = """\
__attribute__((section("xdp"), used)) int xdp_drop(void *ctx) { (void)ctx; return 1; /* XDP_DROP */ }
__attribute__((section("license"), used)) char _license[] = "GPL";
"""

# name, title, what forwards
CASES = [
    ("linux-router", "Linux IPv4 forwarding", "kernel-router"),
    ("linux-bridge", "Linux bridge", "kernel-bridge"),
    ("af_packet-router", "vswitch router, af_packet ports", "af_packet"),
    ("af_xdp-router", "vswitch router, af_xdp ports", "af_xdp"),
    ("af_packet-bridge", "vswitch bridge, af_packet ports", "af_packet"),
    ("af_xdp-bridge", "vswitch bridge, af_xdp ports", "af_xdp"),
]


class Unavailable(Exception):
    pass


def xdp_drop_object(build_dir):
    """The sink's XDP program, compiled with clang's BPF target."""
    obj = os.path.join(build_dir, "xdp_drop.o")
    if not os.path.exists(obj):
        src = os.path.join(build_dir, "xdp_drop.c")
        with open(src, "w") as f:
            f.write(XDP_DROP_C)
        subprocess.run(["clang", "-O2", "-target", "bpf", "-c", src, "-o", obj], check=True)
    return obj


class Topology:
    """src, dut and snk namespaces, two veth pairs, the XDP sink."""

    def __init__(self, build_dir):
        self.lab = netlab.Lab()
        for short in ("src", "dut", "snk"):
            self.lab.add_ns(short)
        self.lab.veth("src", "s0", "dut", "d0", offloads=False)   # plain frames for every forwarder alike
        self.lab.veth("dut", "d1", "snk", "k0", offloads=False)
        self.lab.exec("snk", "ip", "link", "set", "k0", "xdp", "obj", xdp_drop_object(build_dir), "sec", "xdp")
        self.sink_mac = self.lab.mac("snk", "k0")

    def counter(self, short, ifname, direction):
        out = self.lab.exec(short, "ip", "-s", "-j", "link", "show", ifname).stdout
        return json.loads(out)[0]["stats64"][direction]["packets"]

    def close(self):
        self.lab.close()


def kernel_router(topo):
    x = topo.lab.exec
    x("dut", "sysctl", "-qw", "net.ipv4.ip_forward=1")
    x("dut", "ip", "link", "set", "d0", "address", DUT_MAC_IN)
    x("dut", "ip", "addr", "add", "10.1.0.1/24", "dev", "d0")
    x("dut", "ip", "addr", "add", "10.2.0.1/24", "dev", "d1")
    x("dut", "ip", "neigh", "replace", DST_IP, "lladdr", topo.sink_mac, "dev", "d1", "nud", "permanent")
    return DUT_MAC_IN, None


def kernel_bridge(topo):
    r = topo.lab.exec("dut", "ip", "link", "add", "br0", "type", "bridge", check=False)
    if r.returncode != 0:
        raise Unavailable(f"this kernel has no bridge: {r.stderr.strip()}")
    for ifname in ("d0", "d1"):
        topo.lab.exec("dut", "ip", "link", "set", ifname, "master", "br0")
    topo.lab.exec("dut", "ip", "link", "set", "br0", "up")
    return topo.sink_mac, None


def vswitch_config(driver, bridge, sock):
    ports = (f"  d0: {{driver: {driver}, interface: d0}}\n  d1: {{driver: {driver}, interface: d1}}\n"
             if bridge else
             f"  d0: {{driver: {driver}, interface: d0, addresses: [10.1.0.1/24], macaddress: \"{DUT_MAC_IN}\"}}\n"
             f"  d1: {{driver: {driver}, interface: d1, addresses: [10.2.0.1/24], macaddress: \"{DUT_MAC_OUT}\"}}\n")
    return (f"version: 1\nworkers: [{WORKER_CPU}]\ncontrol_socket: {json.dumps(sock)}\nports:\n{ports}"
            + ("bridges:\n  br: {interfaces: [d0, d1]}\n" if bridge else ""))


def start_vswitch(topo, driver, bridge, tmp, log):
    sock = os.path.join(tmp, "vswitch.sock")
    cfg = os.path.join(tmp, "bench.yaml")
    text = vswitch_config(driver, bridge, sock)
    if not bridge:
        text += f"neighbors:\n  - {{ip: {DST_IP}, macaddress: \"{topo.sink_mac}\", interface: d1}}\n"
    with open(cfg, "w") as f:
        f.write(text)
    errlog = open(os.path.join(tmp, "vswitch.log"), "w+")
    proc = topo.lab.popen("dut", [vswitch_bench.VSWITCH, "run", cfg, "--socket", sock], stdout=errlog,
                          stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            errlog.seek(0)
            raise Unavailable(f"vswitch run exited {proc.returncode}: {errlog.read().strip()[-600:]}")
        if os.path.exists(sock):
            try:
                vswitch_bench.show("workers", sock)
                break
            except Exception:  # not serving yet
                pass
        if time.monotonic() > deadline:
            raise Unavailable("vswitch did not answer within 30 s")
        time.sleep(0.2)
    return (topo.sink_mac if bridge else DUT_MAC_IN), (proc, sock)


def generator(topo, dst_mac, tmp):
    """testpmd txonly on s0, CPU 0 (main and forwarding lcore share it)."""
    cmd = ["dpdk-testpmd", f"--lcores=0@{GENERATOR_CPU},1@{GENERATOR_CPU}", "--no-huge", "-m", "1024",
           "--no-pci", "--file-prefix", f"vsbench{os.getpid()}", "--vdev",
           "net_af_packet0,iface=s0,qdisc_bypass=1", "--", "--forward-mode=txonly", f"--txpkts={FRAME_BYTES}",
           f"--tx-ip={SRC_IP},{DST_IP}", f"--eth-peer=0,{dst_mac}", "--total-num-mbufs=8192",
           "--stats-period", "1"]
    log_file = open(os.path.join(tmp, "testpmd.log"), "w")
    return topo.lab.popen("src", cmd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          start_new_session=True)


def measure(topo, seconds, warmup):
    time.sleep(warmup)
    rates, offered = [], []
    sink = topo.counter("snk", "k0", "rx")
    sent = topo.counter("src", "s0", "tx")
    t = time.monotonic()
    for _ in range(seconds):
        time.sleep(1.0)
        now = time.monotonic()
        sink2, sent2 = topo.counter("snk", "k0", "rx"), topo.counter("src", "s0", "tx")
        rates.append((sink2 - sink) / (now - t) / 1e6)
        offered.append((sent2 - sent) / (now - t) / 1e6)
        sink, sent, t = sink2, sent2, now
    return statistics.median(rates), statistics.median(offered), rates


def stop(proc, sig=2, timeout=20):
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def run_case(name, kind, seconds, warmup, build_dir, log=print):
    topo = Topology(build_dir)
    tmp = tempfile.mkdtemp(prefix="vswitch-kbench-")
    dut = gen_proc = None
    try:
        bridge = name.endswith("-bridge")
        if kind == "kernel-router":
            dst_mac, dut = kernel_router(topo)
        elif kind == "kernel-bridge":
            dst_mac, dut = kernel_bridge(topo)
        else:
            dst_mac, dut = start_vswitch(topo, kind, bridge, tmp, log)
        gen_proc = generator(topo, dst_mac, tmp)
        mpps, offered, samples = measure(topo, seconds, warmup)
        result = {"mpps": mpps, "offered_mpps": offered, "samples_mpps": [round(s, 3) for s in samples]}
        if dut is not None:
            workers = vswitch_bench.show("workers", dut[1])
            result["cycles_per_packet"] = workers[0].get("cycles_per_packet")
            result["busy_percent"] = workers[0].get("busy_percent")
            result["drops"] = {p["name"]: p["drops"] for p in vswitch_bench.show("ports", dut[1]) if p["drops"]}
        if gen_proc.poll() is not None:
            raise Unavailable(f"the generator exited {gen_proc.returncode}; see {tmp}/testpmd.log")
        return result
    finally:
        if gen_proc is not None:
            stop(gen_proc)
        if dut is not None:
            stop(dut[0])
        topo.close()
        shutil.rmtree(tmp, ignore_errors=True)


def available_drivers():
    sys.path.insert(0, ROOT)
    from vswitch.appliance import AVAILABLE_DRIVERS
    return AVAILABLE_DRIVERS


def run_all(seconds, warmup, build_dir, only=None, log=print):
    """Every case (or those named in `only`); {name: result or {"unavailable": why}}."""
    netlab.probe()
    if not shutil.which("dpdk-testpmd"):
        raise Unavailable("dpdk-testpmd is missing (Debian package dpdk)")
    drivers = available_drivers()
    results = {}
    for name, title, kind in CASES:
        if only and name not in only:
            continue
        log(f"[{title}] ...")
        if kind not in ("kernel-router", "kernel-bridge") and kind not in drivers:
            results[name] = {"title": title, "unavailable": f"driver {kind} is not in this version"}
            log(f"  n/a: {results[name]['unavailable']}")
            continue
        try:
            results[name] = {"title": title, **run_case(name, kind, seconds, warmup, build_dir, log)}
            r = results[name]
            log(f"  {r['mpps']:.3f} Mpps forwarded of {r['offered_mpps']:.3f} offered (samples {r['samples_mpps']})"
                + (f"; worker {r['cycles_per_packet']:.0f} cycles/packet, {r['busy_percent']:.0f}% busy"
                   if r.get("cycles_per_packet") else ""))
        except (Unavailable, subprocess.CalledProcessError) as err:
            results[name] = {"title": title, "unavailable": str(err)}
            log(f"  n/a: {err}")
    return results


def table(results):
    base = {"router": results.get("linux-router", {}).get("mpps"),
            "bridge": results.get("linux-bridge", {}).get("mpps")}
    lines = [f"{'case':<34} {'Mpps':>7} {'offered':>8} {'cyc/pkt':>8} {'vs Linux':>9}"]
    for name, title, _ in CASES:
        r = results.get(name)
        if r is None:
            continue
        if "unavailable" in r:
            lines.append(f"{title:<34} {'n/a: ' + r['unavailable'][:60]}")
            continue
        ref = base["router" if name.endswith("router") else "bridge"]
        ratio = f"{r['mpps'] / ref:.2f}x" if ref and not name.startswith("linux") else "-"
        cyc = f"{r['cycles_per_packet']:.0f}" if r.get("cycles_per_packet") else "-"
        lines.append(f"{title:<34} {r['mpps']:>7.3f} {r['offered_mpps']:>8.3f} {cyc:>8} {ratio:>9}")
    return "\n".join(lines)
