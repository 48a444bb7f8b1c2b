"""`make demo`: the appliance on a live lab of network namespaces.

As root: an appliance namespace running `vswitch run configs/demo-netns.yaml`,
two hosts on its bridge, a third on VLAN 10 of a trunk port (its frames
tagged by the kernel: netlab.Lab.vlan_host) in the same bridge, and one
routed host, each joined by a veth pair whose appliance end is an af_packet
port (the hosts' offloads left on); background pings between the bridged
hosts, from the VLAN host and across the router, and an iperf3 TCP stream
(20 Mbit/s) across the router; on a terminal the TUI (`vswitch tui`) until
it quits, else a refreshing `vswitch show ports` until Ctrl-C (or --seconds
N).  Everything is torn down on the way out: the appliance is stopped with
SIGINT, the traffic is ended by pid, the namespaces (and with them the
veths) are deleted.

Without root: says so and runs the pcap-replay demo instead
(configs/demo-pcap-loop.yaml; the TUI on a terminal, else --stats).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from vswitch import netlab
from vswitch.tui import app as tui_app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB_CONFIG = os.path.join(ROOT, "configs", "demo-netns.yaml")
FALLBACK_CONFIG = os.path.join(ROOT, "configs", "demo-pcap-loop.yaml")
VSWITCH = [sys.executable, "-m", "vswitch"]
SOCKET_WAIT_S = 20
DEFAULT_SOCKET = os.path.join(os.environ.get("XDG_RUNTIME_DIR") or "/tmp", "vswitch-demo.sock")

# host namespace -> (the appliance's veth end, address/len, gateway, VLAN tag on the wire or None)
HOSTS = {
    "h1": ("lan1", "10.0.1.11/24", "10.0.1.1", None),
    "h2": ("lan2", "10.0.1.12/24", "10.0.1.1", None),
    "v1": ("trunk", "10.0.1.13/24", "10.0.1.1", 10),
    "r1": ("wan", "10.0.2.2/24", "10.0.2.1", None),
}
HOST_IF = "eth0"
# (from host, to address): switched h1 <-> h2, tagged v1 -> h1, routed h1 -> r1, r1 -> h2 and v1 -> r1
PINGS = [("h1", "10.0.1.12"), ("v1", "10.0.1.11"), ("h1", "10.0.2.2"), ("r1", "10.0.1.12"), ("v1", "10.0.2.2")]
IPERF = ("h1", "r1", "10.0.2.2", "20M")   # client, server, server address, rate: TCP across the router


def interrupt(proc, timeout=15):
    """Stop a child we started as Ctrl-C would, killing it if it hangs; its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode

class Terminated(Exception):
    """SIGTERM: leave the way Ctrl-C does, through the teardown."""


def why_no_lab():
    """None when a namespace lab can be built here, else the reason."""
    if os.geteuid() != 0:
        return "not root"
    for tool in ("ip", "ping", "tc", "clang"):
        if not shutil.which(tool):
            return f"the `{tool}` command is missing (make system-packages)"
    try:
        netlab.probe()
    except netlab.Unavailable as why:
        return str(why)
    return None


class DemoLab(netlab.Lab):
    """The demo's namespaces and what runs in them."""

    def __init__(self):
        super().__init__()
        self.pings = []          # (from, to, Popen)
        self.iperf = []          # server, client
        self.appliance = None
        self.appliance_rc = None
        self.log = None

    def build(self):
        self.add_ns("app")
        for host, (app_if, address, gateway, vid) in HOSTS.items():
            self.add_ns(host)
            self.veth(host, HOST_IF, "app", app_if)
            if vid is not None:
                self.vlan_host(host, HOST_IF, vid)
            self.host(host, HOST_IF, address, gateway)

    def start_appliance(self, socket_path):
        if os.path.exists(socket_path):
            os.unlink(socket_path)
        self.log = tempfile.NamedTemporaryFile(prefix="vswitch-demo-", suffix=".log", delete=False)
        self.appliance = self.popen("app", [*VSWITCH, "run", LAB_CONFIG, "--socket", socket_path], cwd=ROOT,
                                    stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_socket(self.appliance, socket_path, self.log_text)

    def log_text(self):
        with open(self.log.name) as f:
            return f.read()[-4000:]

    def start_traffic(self):
        for host, address in PINGS:
            proc = self.popen(host, ["ping", "-q", "-i", "0.2", "-W", "1", address], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self.pings.append((host, address, proc))
        if shutil.which("iperf3"):
            client, server, address, rate = IPERF
            quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            self.iperf.append(self.popen(server, ["iperf3", "-s"], **quiet))
            time.sleep(0.3)
            self.iperf.append(self.popen(client, ["iperf3", "-c", address, "-t", "0", "-b", rate], **quiet))

    def stop_traffic(self):
        """SIGINT each ping (by pid): it prints its summary; return {"h1 -> 10.0.1.12": received}."""
        results = {}
        for host, address, proc in self.pings:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                out, _ = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            results[f"{host} -> {address}"] = ping_received(out or "")
        self.pings.clear()
        for proc in reversed(self.iperf):
            interrupt(proc, timeout=5)
        self.iperf.clear()
        return results

    def stop_appliance(self):
        proc, self.appliance = self.appliance, None
        if proc is None:
            return None
        return interrupt(proc)

    def close(self):
        """Everything down, in reverse; safe to call twice."""
        results = self.stop_traffic()
        self.appliance_rc = self.stop_appliance()
        super().close()
        if self.log is not None:
            self.log.close()
            os.unlink(self.log.name)
            self.log = None
        return results


def ping_received(summary):
    """'5 packets transmitted, 5 received, ...' -> 5 (0 when there is no summary)."""
    for line in summary.splitlines():
        if "packets transmitted" in line:
            return int(line.split(",")[1].split()[0])
    return 0


def show_ports(socket_path, as_json=False):
    """`vswitch show ports` output, or None while the socket does not answer."""
    if not os.path.exists(socket_path):
        return None
    r = subprocess.run([*VSWITCH, "show", "ports", *(["--json"] if as_json else []), "--socket", socket_path],
                       cwd=ROOT, capture_output=True, text=True, timeout=10)
    return r.stdout if r.returncode == 0 else None


def watch(lab, socket_path, seconds, clear):
    """Refresh `show ports` every second until Ctrl-C, or for `seconds`."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while deadline is None or time.monotonic() < deadline:
        if lab.appliance.poll() is not None:
            raise RuntimeError(f"the appliance exited {lab.appliance.returncode}:\n{lab.log_text()}")
        if clear:
            print("\033[H\033[2J", end="")
            print(f"vswitch demo lab — {time.strftime('%H:%M:%S')} — Ctrl-C stops and tears it all down\n")
            print(show_ports(socket_path) or "(the appliance does not answer)", flush=True)
        time.sleep(1)


def interactive(args):
    """On a terminal, not asked for a fixed run or JSON: show the TUI."""
    return sys.stdin.isatty() and sys.stdout.isatty() and args.seconds is None and not args.json


def wait_for_socket(proc, socket_path, log_text):
    deadline = time.monotonic() + SOCKET_WAIT_S
    while show_ports(socket_path) is None:
        if proc.poll() is not None:
            raise RuntimeError(f"vswitch run exited {proc.returncode}:\n{log_text()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the appliance did not open {socket_path} in {SOCKET_WAIT_S} s:\n{log_text()}")
        time.sleep(0.2)


def on_sigterm(signum, frame):
    raise Terminated()


def lab_demo(args):
    lab = DemoLab()
    pings, ports, rc = {}, None, 0
    try:
        lab.build()
        lab.start_appliance(args.socket)
        lab.start_traffic()
        if interactive(args):
            tui_app.run(args.socket)        # quitting it tears the lab down
        else:
            watch(lab, args.socket, args.seconds, clear=not args.json)
        ports = show_ports(args.socket, as_json=args.json)
    except (KeyboardInterrupt, Terminated):
        pass
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        print(f"demo: {e}", file=sys.stderr)
        rc = 1
    finally:
        namespaces = list(lab.namespaces)
        pings = lab.close()
    if args.json:
        print(json.dumps({"ports": json.loads(ports) if ports else None, "pings": pings,
                          "appliance_exit": lab.appliance_rc, "namespaces": namespaces}, indent=1))
    else:
        if ports:
            print(ports)
        for what, received in pings.items():
            print(f"ping {what}: {received} replies")
        print("demo lab torn down")
    return rc


def fallback_demo(args, reason):
    tui = interactive(args)
    print(f"demo: {reason}: no namespace lab; showing the pcap-replay demo instead "
          f"(vswitch run {os.path.relpath(FALLBACK_CONFIG, ROOT)} {'with the TUI' if tui else '--stats'})",
          file=sys.stderr)
    if tui:
        # the appliance's messages would scribble over the TUI: into a log file
        log = tempfile.NamedTemporaryFile(prefix="vswitch-demo-", suffix=".log", delete=False)
        proc = subprocess.Popen([*VSWITCH, "run", FALLBACK_CONFIG, "--socket", args.socket], cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    else:
        proc = subprocess.Popen([*VSWITCH, "run", FALLBACK_CONFIG, "--stats", "--socket", args.socket], cwd=ROOT)
    try:
        if tui:
            wait_for_socket(proc, args.socket, lambda: open(log.name).read())
            tui_app.run(args.socket)
        else:
            proc.wait(timeout=args.seconds)
    except (KeyboardInterrupt, Terminated, subprocess.TimeoutExpired):
        pass
    except RuntimeError as e:
        print(f"demo: {e}", file=sys.stderr)
    finally:
        interrupt(proc)
    return 0 if proc.returncode in (0, -signal.SIGINT) else proc.returncode


def main(argv=None):
    parser = argparse.ArgumentParser(prog="vswitch.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help=f"control socket (default {DEFAULT_SOCKET})")
    parser.add_argument("--seconds", type=float, help="stop by itself after N seconds (default: at Ctrl-C)")
    parser.add_argument("--json", action="store_true",
                        help="no live screen; at the end print the final ports, ping replies and namespaces as JSON")
    parser.add_argument("--no-lab", action="store_true", help="skip the namespace lab: the pcap-replay demo")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)   # even when started with SIGINT ignored (`cmd &`)
    reason = "--no-lab" if args.no_lab else why_no_lab()
    if reason:
        return fallback_demo(args, reason)
    return lab_demo(args)


if __name__ == "__main__":
    sys.exit(main())
