"""Network namespaces and veth pairs: the lab of the end-to-end tests, `make
demo` and the kernel-port benchmark.

A Lab owns every namespace it creates; their names carry the creating process's
pid so parallel workers and other users of the machine never collide.
Interfaces live inside namespaces (never in the root namespace), so their
names can be short and fixed; deleting a namespace deletes its veths.
"""
import json
import os
import shutil
import subprocess
import tempfile
import uuid

VLAN_TAG_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vlan_tag.c")


class Unavailable(Exception):
    """This machine cannot make network namespaces (no root, no `ip netns`)."""


def run(*cmd, check=True, timeout=30):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, timeout=timeout)


def probe():
    """Raise Unavailable with the reason when namespaces cannot be made here."""
    if not shutil.which("ip"):
        raise Unavailable("the `ip` command (iproute2) is missing")
    name = f"vsprobe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    r = run("ip", "netns", "add", name, check=False)
    if r.returncode != 0:
        raise Unavailable(f"`ip netns add` is not permitted here: {r.stderr.strip()}")
    run("ip", "netns", "del", name, check=False)


class Lab:
    def __init__(self):
        self.tag = f"{os.getpid()}-{uuid.uuid4().hex[:4]}"
        self.namespaces = []

    def ns(self, short):
        """The full name of one of this lab's namespaces."""
        return f"vs{short}-{self.tag}"

    def add_ns(self, short):
        name = self.ns(short)
        run("ip", "netns", "add", name)
        self.namespaces.append(name)
        self.exec(short, "ip", "link", "set", "lo", "up")
        # no IPv6 chatter (router solicitations, DAD) on the test links
        self.exec(short, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
        self.exec(short, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
        return name

    def exec(self, short, *cmd, check=True, timeout=30):
        return run("ip", "netns", "exec", self.ns(short), *cmd, check=check, timeout=timeout)

    def popen(self, short, cmd, **kwargs):
        return subprocess.Popen(["ip", "netns", "exec", self.ns(short), *cmd], **kwargs)

    def veth(self, ns_a, if_a, ns_b, if_b, offloads=True):
        """A veth pair between two of the lab's namespaces, both ends up.
        Offloads stay on (TSO, GSO, GRO, checksum: what a Linux host has by
        default) unless offloads=False, for ports that cannot take
        super-frames or partial checksums."""
        run("ip", "link", "add", if_a, "netns", self.ns(ns_a), "type", "veth", "peer", "name", if_b,
            "netns", self.ns(ns_b))
        for short, ifname in ((ns_a, if_a), (ns_b, if_b)):
            if not offloads:
                self.no_offloads(short, ifname)
            self.exec(short, "ip", "link", "set", ifname, "up")

    def no_offloads(self, short, ifname):
        """Every frame leaves ifname segmented and with its checksums done."""
        self.exec(short, "ethtool", "-K", ifname, "tso", "off", "gso", "off", "gro", "off", "tx", "off")

    def offload(self, short, ifname, feature):
        """Whether an ethtool -k feature (e.g. tcp-segmentation-offload) is on."""
        out = self.exec(short, "ethtool", "-k", ifname).stdout
        return any(line.split(":")[0].strip() == feature and line.split(":")[1].split()[0] == "on"
                   for line in out.splitlines() if ":" in line)

    def host(self, short, ifname, address, gateway=None):
        """A Linux host: an address on its interface and a default route."""
        self.exec(short, "ip", "addr", "add", address, "dev", ifname)
        if gateway:
            self.exec(short, "ip", "route", "add", "default", "via", gateway)

    def vlan_host(self, short, ifname, vid):
        """The host's frames on `ifname` carry tag `vid` on the wire, as a
        VLAN sub-interface would send them (this kernel has no 8021q): tc
        BPF programs from vlan_tag.c push it on egress and pop it on ingress."""
        obj = os.path.join(tempfile.mkdtemp(prefix="vs-vlan-"), f"vlan_tag_{vid}.o")
        run("clang", "-O2", "-target", "bpf", f"-DVID={vid}", "-c", VLAN_TAG_SOURCE, "-o", obj)
        self.exec(short, "tc", "qdisc", "add", "dev", ifname, "clsact")
        for direction in ("egress", "ingress"):
            self.exec(short, "tc", "filter", "add", "dev", ifname, direction, "bpf", "da", "obj", obj, "sec", direction)
        shutil.rmtree(os.path.dirname(obj))

    def mac(self, short, ifname):
        return json.loads(self.exec(short, "ip", "-j", "link", "show", ifname).stdout)[0]["address"]

    def close(self):
        for name in reversed(self.namespaces):
            run("ip", "netns", "del", name, check=False)
        self.namespaces.clear()
