"""The peers, measured on the same machine, inputs and core as vswitch.

- DPDK testpmd, io forwarding, pcap -> null: the framework's ceiling.
- DPDK l3fwd built from the packaged example sources (LPM and FIB lookups).
- Open vSwitch with DPDK: a NORMAL (learning) bridge, one PMD thread.

DPDK apps run with --no-huge --no-pci on virtual devices: RX is the pcap PMD
replaying a pcap from mbufs forever (infinite_rx), TX the null PMD.  Rates
come from DPDK telemetry (the null port's opackets read once a second);
Open vSwitch's from `ovs-ofctl dump-ports` once a second, its cycles from
`dpif-netdev/pmd-stats-show`.  A peer that cannot run raises Unavailable
with the reason; no number is ever made up.
"""
import glob
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

import cpu

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "build")
DEB_PACKAGES = ["dpdk", "dpdk-dev", "libdpdk-dev", "dpdk-doc", "openvswitch-switch-dpdk"]
BUILD_PACKAGES = ["pkg-config", "make", "gcc"]
EXAMPLES = "/usr/share/dpdk/examples"
OVS_DPDK_BINARIES = ["/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"]
OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
DPDK_RUNTIME = "/var/run/dpdk"
HUGEPAGES_2M = "/sys/kernel/mm/hugepages/hugepages-2048kB"
NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages"       # the persistent pool of the default (2 MiB) size
OVS_HUGEPAGES = 1024            # 2 GiB of 2 MiB pages, given back after the run
OVS_SOCKET_MEM_MB = 1024
FORWARD_CPU = 1                 # the core every forwarding thread is pinned to
CONTROL_CPU = 0


class Unavailable(Exception):
    """This peer cannot run here; the message says why."""


def _run(cmd, timeout=120, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


# ---- packages -------------------------------------------------------------------

def _missing(packages):
    return [p for p in packages if _run(["dpkg", "-s", p]).returncode != 0]


def ensure_packages(log=print):
    """Install the peers' Debian packages if missing; returns a reason string
    if they are still not there, else None."""
    missing = _missing(DEB_PACKAGES + BUILD_PACKAGES)
    if not missing:
        return None
    if os.geteuid() != 0:
        return f"Debian packages missing ({' '.join(missing)}) and not root to install them"
    log(f"installing Debian packages: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = _run(["apt-get", "update", "-qq"], timeout=600, env=env)
    if r.returncode == 0:
        # policy-rc.d-free install: these packages do not start the daemons we use on their own
        r = _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], timeout=1200, env=env)
    still = _missing(DEB_PACKAGES + BUILD_PACKAGES)
    if still:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or [""]
        return f"cannot install {' '.join(still)}: {tail[0]}"
    return None


def dpdk_version():
    r = _run(["pkg-config", "--modversion", "libdpdk"])
    return r.stdout.strip() if r.returncode == 0 else None


def ovs_version():
    binary = _ovs_vswitchd()
    if not binary:
        return None
    r = _run([binary, "--version"])
    first = r.stdout.splitlines()[0] if r.stdout else ""
    return first.split()[-1] if first else None


def tsc_hz():
    return cpu.core_hz()


# ---- DPDK processes and their telemetry -------------------------------------------

def _which(*names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


class Telemetry:
    """DPDK's telemetry v2 socket of one process (SOCK_SEQPACKET, JSON)."""

    def __init__(self, prefix, proc, timeout=60):
        path = os.path.join(DPDK_RUNTIME, prefix, "dpdk_telemetry.v2")
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise Unavailable(f"exited with {proc.returncode} before it was ready")
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                self.sock.connect(path)
                json.loads(self.sock.recv(4096))
                return
            except (OSError, ValueError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise Unavailable(f"no telemetry socket at {path} after {timeout} s") from None
                time.sleep(0.2)

    def query(self, cmd):
        self.sock.send(cmd.encode())
        reply = json.loads(self.sock.recv(1 << 20))
        return reply[cmd.split(",")[0]]

    def close(self):
        self.sock.close()


def _stop(proc, log, grace=20):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log(f"  pid {proc.pid} did not stop on SIGINT within {grace} s; killing it")
            proc.kill()
            proc.wait()


def _median_rate(read_counter, seconds, warmup):
    """Median per-second rate of a growing counter after a warm-up."""
    time.sleep(warmup)
    prev_t, prev = time.monotonic(), read_counter()
    start = prev
    rates = []
    next_at = prev_t
    for _ in range(seconds):
        next_at += 1.0
        time.sleep(max(0.0, next_at - time.monotonic()))
        t, value = time.monotonic(), read_counter()
        rates.append((value - prev) / (t - prev_t))
        prev_t, prev = t, value
    return statistics.median(rates), rates, prev - start


def _run_dpdk_app(name, cmd, prefix, seconds, warmup, log, tx_port=1, rx_port=0):
    """Start a DPDK app, read the TX port's opackets once a second, stop it."""
    logfile = os.path.join(BUILD, f"{name}.log")
    os.makedirs(BUILD, exist_ok=True)
    out = open(logfile, "w")
    # DPDK puts its runtime dir (and the telemetry socket) under $RUNTIME_DIRECTORY when set
    env = {k: v for k, v in os.environ.items() if k not in ("RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR")}
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    tel = None
    try:
        try:
            tel = Telemetry(prefix, proc)
        except Unavailable as err:
            out.flush()
            with open(logfile) as f:
                tail = " | ".join(line.strip() for line in f.read().strip().splitlines()[-3:])
            raise Unavailable(f"{name}: {err}: {tail}") from None
        time.sleep(warmup)
        rx_before = tel.query(f"/ethdev/stats,{rx_port}")["ipackets"]
        meter = cpu.Meter(proc.pid)
        meter.start()
        mpps, samples, sent = _median_rate(lambda: tel.query(f"/ethdev/stats,{tx_port}")["opackets"],
                                           seconds, 0)
        used = meter.stop()
        rx = tel.query(f"/ethdev/stats,{rx_port}")["ipackets"] - rx_before
        if proc.poll() is not None:
            raise Unavailable(f"{name} exited with {proc.returncode} during the measurement")
        if sent == 0:
            raise Unavailable(f"{name} forwarded nothing (see {os.path.relpath(logfile, HERE)})")
    finally:
        if tel:
            tel.close()
        _stop(proc, log)
        out.close()
        shutil.rmtree(os.path.join(DPDK_RUNTIME, prefix), ignore_errors=True)
    return {"mpps": mpps / 1e6, "samples_mpps": [round(s / 1e6, 3) for s in samples], "tx_packets": sent,
            "rx_packets": rx, "cpu": used, **cpu.normalized(sent, used, cpu.core_hz())}


def _eal(prefix, cores, vdevs):
    args = ["-l", cores, "--no-huge", "--no-pci", "-m", "1024", "--file-prefix", prefix]
    for v in vdevs:
        args += ["--vdev", v]
    return args


def _prefix(name):
    return f"vsbench-{os.getpid()}-{name}"


def testpmd(pcap, seconds, warmup=2.0, log=print):
    binary = _which("dpdk-testpmd", "testpmd")
    if not binary:
        raise Unavailable("dpdk-testpmd not found")
    prefix = _prefix("testpmd")
    cmd = [binary, *_eal(prefix, f"{CONTROL_CPU},{FORWARD_CPU}",
                         [f"net_pcap0,rx_pcap={pcap},infinite_rx=1", "net_null0,no-rx=1"]),
           "--", "--forward-mode=io", "--nb-cores=1", "--stats-period", "1", "--no-flush-rx", "--auto-start"]
    return _run_dpdk_app("testpmd", cmd, prefix, seconds, warmup, log)


# ---- l3fwd, built from the packaged example sources --------------------------------

def build_l3fwd(log=print):
    """Build l3fwd (cached per DPDK version) from a patched copy of the
    packaged sources; returns the binary's path."""
    version = dpdk_version()
    if not version:
        raise Unavailable("libdpdk (pkg-config) not found")
    src = os.path.join(EXAMPLES, "l3fwd")
    if not os.path.isdir(src):
        raise Unavailable(f"{src} missing (Debian package dpdk-doc)")
    work = os.path.join(BUILD, f"l3fwd-dpdk{version}")
    binary = os.path.join(work, "l3fwd", "build", "l3fwd")
    if os.path.exists(binary):
        return binary
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    shutil.copytree(src, os.path.join(work, "l3fwd"))
    if os.path.isdir(os.path.join(EXAMPLES, "common")):
        shutil.copytree(os.path.join(EXAMPLES, "common"), os.path.join(work, "common"))
    # The virtual devices refuse RX checksum offload, which l3fwd requests
    # in its port configuration: turn the request off in our copy.
    main_c = os.path.join(work, "l3fwd", "main.c")
    with open(main_c) as f:
        text = f.read()
    patched, n = re.subn(r"(\.offloads\s*=\s*)RTE_ETH_RX_OFFLOAD_CHECKSUM\b", r"\g<1>0", text)
    if n == 0:
        patched, n = re.subn(r"(\.offloads\s*=\s*)DEV_RX_OFFLOAD_CHECKSUM\b", r"\g<1>0", text)
    if n == 0:
        log("  l3fwd: no RX checksum offload request found to patch (it may not ask for it in this version)")
    with open(main_c, "w") as f:
        f.write(patched)
    log(f"  building l3fwd from {src} (DPDK {version}) in {os.path.relpath(work, os.path.dirname(HERE))}")
    r = _run(["make", "-C", os.path.join(work, "l3fwd"), "-j2"], timeout=600)
    if r.returncode != 0 or not os.path.exists(binary):
        with open(os.path.join(work, "build.log"), "w") as f:
            f.write(r.stdout + r.stderr)
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or [""]
        raise Unavailable(f"l3fwd build failed: {tail[0][:200]}")
    return binary


def l3fwd(lookup, pcap, rules_v4, rules_v6, seconds, warmup=2.0, log=print):
    binary = build_l3fwd(log)
    prefix = _prefix(f"l3fwd-{lookup}")
    cmd = [binary, *_eal(prefix, str(FORWARD_CPU), [f"net_pcap0,rx_pcap={pcap},infinite_rx=1", "net_null0,no-rx=1"]),
           "--", "-p", "0x3", f"--config=(0,0,{FORWARD_CPU}),(1,0,{FORWARD_CPU})", "--lookup", lookup,
           "--rule_ipv4", rules_v4, "--rule_ipv6", rules_v6, "--parse-ptype"]
    return _run_dpdk_app(f"l3fwd-{lookup}", cmd, prefix, seconds, warmup, log)


# ---- Open vSwitch with DPDK ----------------------------------------------------------

def _ovs_vswitchd():
    for path in OVS_DPDK_BINARIES:
        if os.access(path, os.X_OK):
            return path
    return None


def _meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


class Hugepages:
    """Reserve 2 MiB pages on top of whatever the persistent pool holds, and a
    private hugetlbfs mount; release() gives both back (the pool returns to
    its size before, normally 0)."""

    def __init__(self, pages, mount_dir, log):
        self.log = log
        self.mount_dir = mount_dir
        self.mounted = False
        self.reserved = False
        if not os.path.isdir(HUGEPAGES_2M) or _meminfo("Hugepagesize") != 2048:
            raise Unavailable("the default hugepage size is not 2 MiB here")
        try:
            with open(NR_HUGEPAGES) as f:
                self.before = int(f.read())
            self.reserved = True
            with open(NR_HUGEPAGES, "w") as f:
                f.write(str(self.before + pages))
        except OSError as err:
            self.release()
            raise Unavailable(f"cannot reserve hugepages: {err.strerror}") from None
        free = _meminfo("HugePages_Free") or 0
        if free < pages // 2:
            self.release()
            raise Unavailable(f"only {free} of {pages} 2 MiB hugepages could be reserved")
        os.makedirs(mount_dir, exist_ok=True)
        r = _run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", mount_dir])
        if r.returncode != 0:
            self.release()
            raise Unavailable(f"cannot mount hugetlbfs: {r.stderr.strip()}")
        self.mounted = True

    def release(self):
        if self.mounted:
            for f in glob.glob(os.path.join(self.mount_dir, "*")):
                try:
                    os.unlink(f)
                except OSError:
                    pass
            r = _run(["umount", self.mount_dir])
            if r.returncode != 0:
                self.log(f"  warning: umount {self.mount_dir}: {r.stderr.strip()}")
            self.mounted = False
        if self.reserved:
            try:
                with open(NR_HUGEPAGES, "w") as f:
                    f.write(str(self.before))
            except OSError as err:
                self.log(f"  warning: could not give the hugepages back: {err.strerror}")
            self.reserved = False


def _pid_of(pidfile, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            time.sleep(0.1)
    return None


def _kill_pid(pid, log, name):
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    log(f"  {name} (pid {pid}) did not stop on SIGTERM; killing it")
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _parse_dump_ports(text):
    """{port_no: {"rx": n, "tx": n, "rx_drop": n, "tx_drop": n}} from `ovs-ofctl dump-ports`."""
    ports = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"\s*port\s+(\S+?):\s*rx pkts=(\d+|\?), bytes=\S+, drop=(\d+|\?)", line)
        if m:
            current = m.group(1).strip('"')
            ports[current] = {"rx": _num(m.group(2)), "rx_drop": _num(m.group(3))}
            continue
        m = re.match(r"\s*tx pkts=(\d+|\?), bytes=\S+, drop=(\d+|\?)", line)
        if m and current is not None:
            ports[current].update(tx=_num(m.group(1)), tx_drop=_num(m.group(2)))
    return ports


def _num(text):
    return 0 if text == "?" else int(text)


def _parse_pmd_cycles(text):
    """Average processing cycles per packet from `dpif-netdev/pmd-stats-show`."""
    m = re.search(r"avg processing cycles per packet:\s*([\d.]+)", text)
    if m:
        return float(m.group(1))
    m = re.search(r"avg cycles per packet:\s*([\d.]+)", text)
    return float(m.group(1)) if m else None


def ovs_l2(pcap_a, pcap_b, seconds, warmup=3.0, log=print, devargs=None, count="tx"):
    """A NORMAL bridge of two pcap DPDK ports (each replaying one side's
    frames forever, dropping what it is sent), one PMD thread.  `devargs`
    replaces the two ports (experiments); count: rate of "tx" or "rx"."""
    vswitchd = _ovs_vswitchd()
    if not vswitchd:
        raise Unavailable("ovs-vswitchd-dpdk not found (Debian package openvswitch-switch-dpdk)")
    for tool in ("ovsdb-tool", "ovsdb-server", "ovs-vsctl", "ovs-ofctl", "ovs-appctl"):
        if not shutil.which(tool):
            raise Unavailable(f"{tool} not found")
    tmp = tempfile.mkdtemp(prefix="vsbench-ovs-")
    env = dict(os.environ, OVS_RUNDIR=tmp, OVS_DBDIR=tmp, OVS_LOGDIR=tmp, OVS_SYSCONFDIR=tmp)
    db = os.path.join(tmp, "conf.db")
    db_sock = os.path.join(tmp, "db.sock")
    vsctl = ["ovs-vsctl", f"--db=unix:{db_sock}", "--timeout=60"]
    vswitchd_ctl = os.path.join(tmp, "ovs-vswitchd.ctl")
    bridge = "vsbench0"
    prefix = _prefix("ovs")
    pids = {}
    huge = None

    def run(cmd, timeout=120):
        r = _run(cmd, timeout=timeout, env=env)
        if r.returncode != 0:
            raise Unavailable(f"{' '.join(cmd[:3])}: {(r.stderr or r.stdout).strip()[:300]}")
        return r.stdout

    try:
        huge = Hugepages(OVS_HUGEPAGES, os.path.join(tmp, "huge"), log)
        run(["ovsdb-tool", "create", db, OVS_SCHEMA])
        run(["ovsdb-server", db, f"--remote=punix:{db_sock}", f"--pidfile={tmp}/ovsdb-server.pid",
             f"--unixctl={tmp}/ovsdb-server.ctl", f"--log-file={tmp}/ovsdb-server.log", "--detach"])
        pids["ovsdb-server"] = _pid_of(f"{tmp}/ovsdb-server.pid")
        run([*vsctl, "--no-wait", "init"])
        extra = f"--no-pci --huge-dir={huge.mount_dir} --file-prefix={prefix}"
        run([*vsctl, "--no-wait", "set", "Open_vSwitch", ".", "other_config:dpdk-init=true",
             f"other_config:dpdk-socket-mem={OVS_SOCKET_MEM_MB}", f"other_config:dpdk-lcore-mask={1 << CONTROL_CPU:#x}",
             f"other_config:pmd-cpu-mask={1 << FORWARD_CPU:#x}", f'other_config:dpdk-extra="{extra}"'])
        r = subprocess.run([vswitchd, f"unix:{db_sock}", f"--pidfile={tmp}/ovs-vswitchd.pid",
                            f"--unixctl={vswitchd_ctl}", f"--log-file={tmp}/ovs-vswitchd.log", "--detach"],
                           capture_output=True, text=True, timeout=180, env=env)
        pids["ovs-vswitchd"] = _pid_of(f"{tmp}/ovs-vswitchd.pid", timeout=5)
        if r.returncode != 0:
            raise Unavailable(f"ovs-vswitchd did not start: {_log_tail(tmp + '/ovs-vswitchd.log')}")
        run([*vsctl, "add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev"])
        devargs = devargs or [f"net_pcap{i},rx_pcap={pcap},infinite_rx=1" for i, pcap in enumerate((pcap_a, pcap_b))]
        for i, dev in enumerate(devargs):
            run([*vsctl, "add-port", bridge, f"p{i}", "--", "set", "Interface", f"p{i}", "type=dpdk",
                 f"options:dpdk-devargs={dev}", "ofport_request=%d" % (i + 1)])
        for i in range(2):
            err = run([*vsctl, "get", "Interface", f"p{i}", "error"]).strip()
            if err and err != "[]":
                raise Unavailable(f"OVS port p{i}: {err}: {_log_tail(tmp + '/ovs-vswitchd.log')}")
        flows = run(["ovs-ofctl", "dump-flows", bridge])
        if "NORMAL" not in flows:
            raise Unavailable(f"the bridge has no NORMAL flow: {flows.strip()}")

        def tx_total():
            ports = _parse_dump_ports(run(["ovs-ofctl", "dump-ports", bridge], timeout=30))
            return sum(ports.get(p, {}).get(count, 0) for p in ("1", "2"))

        appctl = ["ovs-appctl", "-t", vswitchd_ctl]
        time.sleep(warmup)
        run([*appctl, "dpif-netdev/pmd-stats-clear"])
        before = _parse_dump_ports(run(["ovs-ofctl", "dump-ports", bridge], timeout=30))
        meter = cpu.Meter(pids["ovs-vswitchd"])
        meter.start()
        mpps, samples, sent = _median_rate(tx_total, seconds, 0)
        used = meter.stop()
        after = _parse_dump_ports(run(["ovs-ofctl", "dump-ports", bridge], timeout=30))
        pmd = run([*appctl, "dpif-netdev/pmd-stats-show"])
        rx = sum(after.get(p, {}).get("rx", 0) - before.get(p, {}).get("rx", 0) for p in ("1", "2"))
        drops = sum(after.get(p, {}).get(k, 0) - before.get(p, {}).get(k, 0) for p in ("1", "2")
                    for k in ("rx_drop", "tx_drop"))
        if sent == 0:
            raise Unavailable(f"OVS forwarded nothing: {_log_tail(tmp + '/ovs-vswitchd.log')}")
        with open(os.path.join(BUILD, "ovs-pmd-stats.txt"), "w") as f:
            f.write(pmd)
        return {"mpps": mpps / 1e6, "samples_mpps": [round(s / 1e6, 3) for s in samples], "tx_packets": sent,
                "rx_packets": rx, "dropped": drops, "pmd_cycles_per_packet": _parse_pmd_cycles(pmd), "cpu": used,
                **cpu.normalized(sent, used, cpu.core_hz())}
    finally:
        if pids.get("ovs-vswitchd") or os.path.exists(vswitchd_ctl):
            _run(["ovs-appctl", "-t", vswitchd_ctl, "exit", "--cleanup"], timeout=30, env=env)
            time.sleep(0.5)
        for name in ("ovs-vswitchd", "ovsdb-server"):
            _kill_pid(pids.get(name) or _pid_of(f"{tmp}/{name}.pid", timeout=0.2), log, name)
        # the bridge's internal port is a kernel tap device that outlives ovs-vswitchd: it is ours, remove it
        if os.path.exists(f"/sys/class/net/{bridge}"):
            _run(["ip", "link", "del", bridge])
        if huge:
            huge.release()
        shutil.rmtree(os.path.join(DPDK_RUNTIME, prefix), ignore_errors=True)
        logs = os.path.join(BUILD, "ovs-logs")
        shutil.rmtree(logs, ignore_errors=True)
        os.makedirs(logs, exist_ok=True)
        for f in glob.glob(os.path.join(tmp, "*.log")):
            shutil.copy(f, logs)
        shutil.rmtree(tmp, ignore_errors=True)


def _log_tail(path, lines=3):
    try:
        with open(path) as f:
            tail = f.read().strip().splitlines()[-lines:]
        return " | ".join(line.split("|")[-1].strip() for line in tail)
    except OSError:
        return "(no log)"
