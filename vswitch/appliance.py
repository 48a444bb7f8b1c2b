"""The appliance: a data plane built from a Config, and the loops that run it.

`build` opens ports and fills the core's tables (interfaces, bridges, FIB,
adjacencies, static neighbours); `run_offline` replays pcap inputs on the
pcap clock (`vswitch run --until-idle`); `run_live` starts the worker
threads, each of which enters C once and polls until stopped, while this
thread serves the slow path and its timers.
"""
import collections
import os
import signal
import sys
import threading
import time

from vswitch import config as config_mod
from vswitch import admin, control, packets, state
from vswitch.capture import Captures
from vswitch import reload as reload_mod
from vswitch.pipeline import CoreError, check, ffi, lib, port_stats, punt_stats
from vswitch.routing import AdjacencyTable, RouteTable, int_ip, mask
from vswitch.slowpath import NS, SlowPath, L3Interface
from vswitch.trace import Tracer

AVAILABLE_DRIVERS = ("pcap", "null", "af_packet", "af_xdp", "tap")
OFFLINE_DRIVERS = ("pcap", "null")
KERNEL_DRIVERS = ("af_packet", "af_xdp", "tap")   # each rx queue polled by one worker
POOL_BUFFERS_OFFLINE = 8192
POOL_BUFFERS_PER_WORKER = 16384     # 32 MiB of 2 KiB buffers per worker
SPARE_ADJACENCIES = 65536           # for neighbours learned at run time
SPARE_FIB_GROUPS = 4096             # /24s that will hold /32 neighbour routes
PUNT_RATE_PER_S = 10000             # per punt reason, per worker
PUNT_BURST = 1000
LIVE_POLL_SLEEP_S = 0.001
WORKER_SAMPLE_S = 1.0               # busy % and rates cover the last second
EVENTS_KEPT = 1000
REFUSAL_EVENT_EVERY_S = 60.0        # a refusal that goes on (MAC limit, punt drops): one event a minute
RELOAD_LINES_PRINTED = 50           # on the appliance's stderr; the client gets every line


# `vswitch capture` and `vswitch trace`: control requests -> handlers
OBSERVE_COMMANDS = {
    "capture": lambda app, req: app.captures.start(req["port"], req.get("count", 0), req["file"]),
    "capture_status": lambda app, req: app.captures.status(req["port"]) if "port" in req else app.captures.all(),
    "capture_stop": lambda app, req: app.captures.stop(req["port"]),
    "trace": lambda app, req: app.tracer.arm(req.get("count", 1)),
    "trace_status": lambda app, req: app.tracer.status(),
    "trace_stop": lambda app, req: app.tracer.stop(),
}


class RunError(Exception):
    """The config is valid but cannot run here (driver, offline-mode rules, ...)."""


def check_runnable(cfg, offline):
    """Refuse what `validate` accepts but this version or mode cannot run."""
    problems = port_problems(cfg, list(cfg.ports), offline)
    if problems:
        raise RunError("\n".join(problems))


def port_problems(cfg, names, offline=False):
    """Why ports `names` of cfg cannot be opened in this version or mode
    (opening them tells the rest: no such interface, no permission)."""
    problems = []
    for name in names:
        port = cfg.ports[name]
        if port.driver not in AVAILABLE_DRIVERS:
            problems.append(f"port '{name}': driver {port.driver} is not available in this version")
        elif offline and port.driver not in OFFLINE_DRIVERS:
            problems.append(f"port '{name}': driver {port.driver} needs live mode; "
                            f"--until-idle runs only pcap and null ports")
        elif offline and port.options.get("loop"):
            problems.append(f"port '{name}': --until-idle cannot replay a 'loop: true' pcap forever")
    return [f"{cfg.path}: {p}" for p in problems]


def _ip(addr):
    return int(addr.ip), addr.prefixlen


class Appliance:
    def __init__(self, cfg, offline=False, log=None):
        check_runnable(cfg, offline)
        self.cfg = cfg
        self.offline = offline
        self.workers = 1 if offline else cfg.workers
        self._print = log or (lambda msg: print(msg, file=sys.stderr))
        self.events = collections.deque(maxlen=EVENTS_KEPT)
        self.dp = None
        self.iface_ids = {}
        self.link_ifindex = {}          # af_packet/af_xdp port -> its interface's ifindex, None while gone
        self.link_counts = collections.defaultdict(lambda: {"lost": 0, "reattached": 0})
        self.link_reattach_failed = {}  # port -> the last re-attach error logged
        self.worker_queues = [[] for _ in range(self.workers)]
        self.worker_cpus = self._choose_cpus()
        self.worker_rates = [state.idle_worker_rate() for _ in range(self.workers)]
        self.refusals_told = {}         # (what, name) -> (count, monotonic time) of note_refusals' last event
        try:
            self._build()
        except Exception:
            self.close()
            raise
        self.captures = Captures(self)
        self.tracer = Tracer(self)

    def log(self, message, kind="info"):
        """An event: printed, and kept for `vswitch show events`."""
        self.events.append({"time": time.time(), "kind": kind, "message": message})
        self._print(message)

    def _choose_cpus(self):
        """Pinned CPUs: the configured list, else the last N CPUs we may use
        (leaving the first ones to the control plane and the kernel)."""
        if self.cfg.worker_cpus:
            return list(self.cfg.worker_cpus)
        allowed = sorted(os.sched_getaffinity(0))
        return [allowed[(len(allowed) - self.workers + w) % len(allowed)] for w in range(self.workers)]

    # ---- building ------------------------------------------------------------

    def _build(self):
        cfg = self.cfg
        long_24s = {r.network >> 8 for r in cfg.routes if r.prefixlen > 24}
        max_adj = SPARE_ADJACENCIES + len(cfg.routes) + len(cfg.neighbors)
        pool = POOL_BUFFERS_OFFLINE if self.offline else POOL_BUFFERS_PER_WORKER * self.workers
        # each af_xdp rx queue keeps a fill ring of buffers lent to the kernel
        pool += lib.VS_AF_XDP_FILL_RING * sum(self.rx_queues(p) for p in cfg.ports.values() if p.driver == "af_xdp")
        self.dp = lib.vs_dp_create(pool, self.workers, max_adj, len(long_24s) + SPARE_FIB_GROUPS)
        if self.dp == ffi.NULL:
            raise CoreError(ffi.string(lib.vs_last_error()).decode())
        for reason in range(lib.VS_PUNT_MAX):
            lib.vs_dp_set_punt_policer(self.dp, reason, PUNT_RATE_PER_S, PUNT_BURST)
        self.adjs = AdjacencyTable(self.dp, max_adj)
        self.routes = RouteTable(self.dp, self.adjs)
        self._open_ports()
        self._add_vlans_and_bridges()
        l3 = self._add_router_interfaces()
        bridge_ids = frozenset(self.iface_ids[name] for name in cfg.bridges)
        self.slow = SlowPath(self.dp, self.routes, l3, bridge_ids, log=self.log)
        self._add_routes()
        for n in cfg.neighbors:
            self.slow.add_static(self.iface_ids[n.interface], int_ip(n.ip), packets.mac_bytes(n.macaddress))

    def _open_ports(self):
        for port in self.cfg.ports.values():
            self.open_port(port)

    def open_port(self, port):
        """Open one configured port (at start, or added by a reload); its core id."""
        name = port.name.encode()
        if port.driver == "pcap":
            rx = port.options.get("rx_pcap")
            tx = port.options.get("tx_pcap")
            if tx:
                os.makedirs(os.path.dirname(tx) or ".", exist_ok=True)
            loop = bool(port.options.get("loop"))
            queues = self.rx_queues(port)
            pid = lib.vs_port_pcap_open(self.dp, name, (rx or "").encode(), (tx or "").encode(),
                                        loop, queues, port.mtu)
        elif port.driver == "af_packet":
            pid = lib.vs_port_af_packet_open(self.dp, name, port.options["interface"].encode(), port.mtu)
        elif port.driver == "af_xdp":
            pid = lib.vs_port_af_xdp_open(self.dp, name, port.options["interface"].encode(),
                                          self.rx_queues(port), port.mtu,
                                          bool(port.options.get("fix_checksums", False)))
            if pid >= 0:
                self.log(admin.af_xdp_description(self, port, pid), kind="port")
        elif port.driver == "tap":
            pid = lib.vs_port_tap_open(self.dp, name, port.options["interface"].encode(), port.mtu)
        else:
            pid = lib.vs_port_null_open(self.dp, name, port.mtu)
        if pid < 0:
            raise RunError(f"port '{port.name}': {ffi.string(lib.vs_last_error()).decode()}")
        self.iface_ids[port.name] = pid
        if port.driver in admin.REATTACH:   # what the link watch compares against
            self.link_ifindex[port.name] = admin.interface_index(port.options["interface"])
        return pid

    def _add_vlans_and_bridges(self):
        cfg = self.cfg
        for vlan in cfg.vlans.values():
            iface = check(lib.vs_iface_add_vlan(self.dp, self.iface_ids[vlan.link], vlan.id))
            lib.vs_iface_set_mtu(self.dp, iface, vlan.mtu)
            self.iface_ids[vlan.name] = iface
        for bridge in cfg.bridges.values():
            iface = check(lib.vs_iface_add_bridge(self.dp, bridge.mac_aging * NS, bridge.mac_limit))
            self.iface_ids[bridge.name] = iface
            # as Linux does: the router interface's MTU is its smallest member's
            lib.vs_iface_set_mtu(self.dp, iface, min((cfg.interface(m).mtu for m in bridge.interfaces),
                                                     default=config_mod.DEFAULT_MTU))
            for member in bridge.interfaces:
                check(lib.vs_bridge_add_member(self.dp, iface, self.iface_ids[member]))
            for mac, member in bridge.static_macs:
                check(lib.vs_mac_add_static(self.dp, iface, packets.mac_bytes(mac), self.iface_ids[member]))

    def router_mac(self, name, cfg=None):
        """SPEC: macaddress if given, else the port's own (derived from the
        name for ports without hardware, and for bridges)."""
        cfg = cfg or self.cfg
        obj = cfg.interface(name)
        if obj.macaddress:
            return obj.macaddress
        if name in cfg.vlans:
            return self.router_mac(cfg.vlans[name].link, cfg)
        return config_mod.derived_mac(name)

    def _add_router_interfaces(self):
        self.l3 = {}
        for name in self.cfg.iface_names():
            if self.cfg.interface(name).addresses:
                self.add_router_interface(name, self.cfg)
        return self.l3

    def add_router_interface(self, name, cfg):
        """Interface `name` of `cfg` routes: its MAC in the core, its L3Interface
        (addresses not installed yet)."""
        iface = self.iface_ids[name]
        mac = packets.mac_bytes(self.router_mac(name, cfg))
        lib.vs_iface_set_l3(self.dp, iface, mac, 1)
        ifc = self.l3[iface] = L3Interface(name, iface, mac, [_ip(a) for a in cfg.interface(name).addresses])
        return ifc

    def _add_routes(self):
        self.local_adj = self.adjs.new(lib.VS_ADJ_LOCAL)
        self.broadcast_adj = self.adjs.new(lib.VS_ADJ_BROADCAST)
        self.blackhole_adj = self.adjs.new(lib.VS_ADJ_BLACKHOLE)
        for ifc in self.l3.values():
            for ip, length in ifc.addresses:
                admin.install_address(self, ifc, ip, length)
        for route in self.cfg.routes:
            admin.install_route(self, route.network, route.prefixlen, route.via, route.blackhole)

    def _connected_iface(self, ip):
        best = None
        for ifc in self.l3.values():
            for ours, length in ifc.addresses:
                if (ours ^ ip) & mask(length) == 0 and (best is None or length > best[0]):
                    best = (length, ifc)
        return best[1]

    # ---- running ---------------------------------------------------------------

    def run_offline(self):
        """Replay every rx_pcap in timestamp order until all is consumed."""
        next_ts = ffi.new("uint64_t *")
        while True:
            deadline = self.slow.timers.next_deadline()
            rc = lib.vs_offline_run(self.dp, deadline if deadline is not None else 2**64 - 1, next_ts)
            if rc == lib.VS_OFFLINE_PUNT:
                self.slow.poll()
            elif rc == lib.VS_OFFLINE_TIMER:
                lib.vs_dp_set_clock(self.dp, deadline)
                self.slow.timers.run_due(deadline)
            else:
                break
        self.slow.input_ended()
        check(lib.vs_port_flush_files(self.dp))

    def run_live(self, stats_interval=None, stop_event=None, socket_path=None):
        """Forward until SIGINT/SIGTERM (or stop_event): workers in C; the slow
        path, timers and the control socket here."""
        stop = stop_event or threading.Event()
        hangup = threading.Event()
        if stop_event is None:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            signal.signal(signal.SIGHUP, lambda *_: hangup.set())  # SPEC: same as `vswitch reload`
        self._assign_queues()
        server = self._open_control_socket(socket_path or self.cfg.control_socket)
        threads = [threading.Thread(target=self._worker, args=(w,), name=f"worker{w}", daemon=True)
                   for w in range(self.workers)]
        next_stats = next_sample = time.monotonic()
        previous = None
        try:
            for t in threads:
                t.start()
            self.log(f"vswitch: running {len(self.cfg.ports)} ports on {self.workers} worker(s), "
                     f"control socket {server.path}; Ctrl-C stops")
            while not stop.is_set():
                handled = self.slow.poll()
                self.slow.timers.run_due(lib.vs_dp_clock(self.dp))
                self.captures.poll()
                self.tracer.poll()
                now = time.monotonic()
                if now >= next_sample:
                    self._sample_workers(now)
                    admin.watch_links(self)
                    self.note_refusals(now)
                    lib.vs_rcu_reclaim(self.dp)
                    next_sample = now + WORKER_SAMPLE_S
                if stats_interval and now >= next_stats:
                    previous = self.print_stats(previous, now)
                    next_stats = now + stats_interval
                if hangup.is_set():
                    hangup.clear()
                    self.reload_on_signal()
                server.poll(0 if handled else LIVE_POLL_SLEEP_S)
        finally:
            lib.vs_dp_stop(self.dp)
            for t in threads:
                if t.is_alive():
                    t.join()
            self.captures.stop_all()
            server.close()
            check(lib.vs_port_flush_files(self.dp))

    def note_refusals(self, now):
        """An event when the core refused something: new MACs over a bridge's
        mac_limit, punts over the policer's rate or into a full punt ring.
        Looked at once a sample period (never per packet); the first refusal
        of a kind is told at once, then at most every REFUSAL_EVENT_EVERY_S
        with the count since, so a flood does not push every other event
        out of the log."""
        counts = {("mac_limit", row["name"]): row["limit_refused"] for row in state.bridges(self)}
        for reason, s in punt_stats(self.dp).items():
            counts[("punt_policed", reason)] = s["policed"]
            counts[("punt_ring_full", reason)] = s["ring_full"]
        for key, count in counts.items():
            told, told_at = self.refusals_told.get(key, (0, None))
            if count < told:                # counters cleared
                self.refusals_told[key] = (count, told_at)
                continue
            if count == told or (told_at is not None and now - told_at < REFUSAL_EVENT_EVERY_S):
                continue
            self.refusals_told[key] = (count, now)
            what, name = key
            new = count - told
            if what == "mac_limit":
                self.log(f"bridge {name}: MAC limit reached, {new} new MAC(s) not learned", kind="limit")
            elif what == "punt_policed":
                self.log(f"punt {name}: {new} packet(s) over the rate limit dropped", kind="drop")
            else:
                self.log(f"punt {name}: {new} packet(s) dropped, punt queue full", kind="drop")

    def _open_control_socket(self, path):
        try:
            return control.ControlServer(path, self.handle_request)
        except PermissionError:
            raise RunError(f"cannot create the control socket {path}: permission denied; run as root, or set "
                           f"control_socket: (or --socket) to a path you can write") from None
        except (OSError, control.ControlError) as err:
            raise RunError(f"cannot create the control socket {path}: {err}") from None

    def _worker(self, w):
        try:
            os.sched_setaffinity(0, {self.worker_cpus[w]})  # 0 = this thread
        except OSError as err:
            self.log(f"worker {w}: cannot pin to CPU {self.worker_cpus[w]}: {err.strerror}", kind="warning")
        lib.vs_worker_run(self.dp, w)

    def _sample_workers(self, now):
        stats = ffi.new("struct vs_worker_stats *")
        for w in range(self.workers):
            lib.vs_worker_stats_get(self.dp, w, stats)
            self.worker_rates[w] = state.worker_rate(self.worker_rates[w], stats, now)

    def handle_request(self, req):
        cmd = req["cmd"]
        if cmd == "show":
            return state.show(self, req["what"], req.get("name"))
        try:
            if cmd == "clear":
                return admin.clear(self, req["what"], req.get("name"))
            if cmd == "port":
                if req["state"] not in ("up", "down"):
                    raise control.ControlError(f"port state must be up or down, not {req['state']!r}")
                return admin.set_port(self, req["name"], req["state"] == "up")
        except CoreError as err:  # a table full, say: tell the client, keep forwarding
            raise control.ControlError(f"{cmd}: {err}") from None
        if cmd == "reload":
            return self.reload()
        if cmd in OBSERVE_COMMANDS:
            return OBSERVE_COMMANDS[cmd](self, req)
        raise control.ControlError(f"unknown command {req['cmd']!r}")

    def port_problems(self, cfg, names):
        """Why ports a reload adds cannot be opened (reload.verify): the
        checks of a start, and a kernel interface that is not there."""
        problems = port_problems(cfg, names)
        for name in names:
            ifname = cfg.ports[name].options.get("interface")
            if cfg.ports[name].driver in admin.REATTACH and admin.interface_index(ifname) is None:
                problems.append(f"{cfg.path}: port '{name}': no interface {ifname} here; create it first")
        return problems

    def reload(self):
        """Re-read the config file and apply what changed (reload.py); the
        lines saying what changed.  Refused (ControlError): nothing changes."""
        try:
            lines = reload_mod.reload(self)
        except reload_mod.ReloadError as err:
            self.log(f"reload of {self.cfg.path} refused: " + "; ".join(str(err).splitlines()), kind="reload")
            raise
        for line in lines[:RELOAD_LINES_PRINTED]:
            self._print(f"reload: {line}")
        if len(lines) > RELOAD_LINES_PRINTED:
            self._print(f"reload: ... and {len(lines) - RELOAD_LINES_PRINTED} more changes")
        return lines

    def reload_on_signal(self):
        try:
            self.reload()
        except control.ControlError:
            pass  # already logged; the running config stays

    def rx_queues(self, port):
        """A port's rx queues.  af_xdp: as configured, else one (a socket per
        queue); af_packet and tap: one.  pcap: as configured, else one per
        worker for a loop (a traffic generator per core), else one; offline,
        always one."""
        if port.driver == "af_xdp":
            return port.options.get("rx_queues", 1)
        if self.offline or not port.options.get("rx_pcap"):
            return 1
        return port.options.get("rx_queues", self.workers if port.options.get("loop") else 1)

    def _assign_queues(self):
        """Deal every rx queue to a worker, round robin (see assign_queues)."""
        for port in self.cfg.ports.values():
            self.assign_queues(port)

    def assign_queues(self, port):
        """A pcap port's queue q goes to worker q % N; each queue of a kernel
        port (af_packet, af_xdp, tap) to the worker with the fewest queues so
        far (the lowest id on a tie), which carries the round on from
        wherever the ports before it left it."""
        pid = self.iface_ids[port.name]
        if port.driver == "pcap":
            for queue in range(self.rx_queues(port) if port.options.get("rx_pcap") else 0):
                self._assign(queue % self.workers, port.name, pid, queue)
        elif port.driver in KERNEL_DRIVERS:
            for queue in range(self.rx_queues(port)):
                w = min(range(self.workers), key=lambda w: (len(self.worker_queues[w]), w))
                self._assign(w, port.name, pid, queue)

    def _assign(self, w, name, pid, queue):
        check(lib.vs_worker_assign(self.dp, w, pid, queue))
        self.worker_queues[w].append(f"{name}:{queue}")

    def port_stats(self):
        return {name: port_stats(self.dp, self.iface_ids[name]) for name in self.cfg.ports}

    def print_stats(self, previous, now):
        stats = self.port_stats()
        lines = [f"{'port':<12} {'rx pkts':>12} {'rx pps':>11} {'tx pkts':>12} {'tx pps':>11} {'drops':>10}"]
        for name, s in stats.items():
            rx_rate = tx_rate = 0.0
            if previous:
                dt = now - previous[0]
                rx_rate = (s["rx_packets"] - previous[1][name]["rx_packets"]) / dt
                tx_rate = (s["tx_packets"] - previous[1][name]["tx_packets"]) / dt
            lines.append(f"{name:<12} {s['rx_packets']:>12} {rx_rate:>11.0f} {s['tx_packets']:>12} "
                         f"{tx_rate:>11.0f} {s['rx_dropped']:>10}")
        clear = "\033[H\033[2J" if sys.stdout.isatty() else ""
        print(clear + "\n".join(lines), flush=True)
        return (now, stats)

    def close(self):
        if self.dp:
            lib.vs_dp_destroy(self.dp)
            self.dp = None
