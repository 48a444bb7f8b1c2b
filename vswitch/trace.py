"""`vswitch trace`: the next N received packets' path, every decision named.

The core records numbers (pipeline.c, trace.c): step kinds, interface ids,
drop reasons, addresses, adjacency ids.  This module arms it, collects the
records from the appliance's main loop and names what the numbers mean
(ports, interfaces, bridges, routes, reasons), as VPP's `show trace` does.
"""
import struct
import time

from vswitch.control import ControlError
from vswitch.packets import ETH_P_ARP, ETH_P_IP, mac_text
from vswitch.pipeline import DROP_REASONS, PUNT_REASONS, ffi, lib
from vswitch.routing import BLACKHOLE, BROADCAST, CONNECTED, HOST, LOCAL, STATIC, ip_text, mask

MAX_COUNT = 10000          # packets one trace may ask for
CLIENT_POLL_S = 0.1        # a client asks trace_status this often
POLL_BATCH = 64            # records copied out of the core per call
ETH_P_VLAN = 0x8100
ADJ_TYPES = {lib.VS_ADJ_NONE: "none", lib.VS_ADJ_BLACKHOLE: "blackhole", lib.VS_ADJ_LOCAL: "local",
             lib.VS_ADJ_BROADCAST: "broadcast", lib.VS_ADJ_GLEAN: "glean", lib.VS_ADJ_INCOMPLETE: "incomplete",
             lib.VS_ADJ_FORWARD: "forward"}
LEARN = {lib.VS_LEARN_NEW: "new", lib.VS_LEARN_REFRESHED: "known", lib.VS_LEARN_MOVED: "moved here",
         lib.VS_LEARN_STATIC: "static entry, unchanged", lib.VS_LEARN_LIMIT: "not learned: mac_limit reached",
         lib.VS_LEARN_GROUP_SOURCE: "not learned: multicast source"}
L3_WHY = {lib.VS_TR_L3_ROUTER_MAC: "to the router MAC of {}", lib.VS_TR_L3_BROADCAST: "broadcast on router interface {}",
          lib.VS_TR_L3_ARP_COPY: "broadcast ARP: a copy for the router interface of {}"}
ROUTE_KINDS = {CONNECTED: "connected", STATIC: "static", BLACKHOLE: "blackhole", LOCAL: "our address",
               BROADCAST: "subnet broadcast", HOST: "neighbour"}
IP_PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP"}
NO_IFACE = lib.VS_TR_NONE


def summary(frame, length):
    """One line about a frame from its first bytes: MACs, tags, IPv4 or ARP."""
    if len(frame) < 14:
        return f"runt, {length} bytes"
    parts = [f"{mac_text(frame[6:12])} > {mac_text(frame[0:6])}"]
    etype, off = struct.unpack_from("!H", frame, 12)[0], 14
    while etype == ETH_P_VLAN and len(frame) >= off + 4:
        tci, etype = struct.unpack_from("!HH", frame, off)
        parts.append(f"vlan {tci & 0xfff} pcp {tci >> 13}")
        off += 4
    if etype == ETH_P_IP and len(frame) >= off + 20:
        ip = frame[off:]
        proto = IP_PROTOCOLS.get(ip[9], f"proto {ip[9]}")
        text = f"IPv4 {ip_text(struct.unpack_from('!I', ip, 12)[0])} > {ip_text(struct.unpack_from('!I', ip, 16)[0])}"
        hl = (ip[0] & 0xf) * 4
        if ip[9] in (6, 17) and len(ip) >= hl + 4:
            sport, dport = struct.unpack_from("!HH", ip, hl)
            proto += f" {sport} > {dport}"
        elif ip[9] == 1 and len(ip) >= hl + 2:
            proto += f" type {ip[hl]} code {ip[hl + 1]}"
        parts.append(f"{text} {proto} ttl {ip[8]}")
    elif etype == ETH_P_ARP and len(frame) >= off + 28:
        arp = frame[off:]
        op, sender, target = struct.unpack_from("!H", arp, 6)[0], arp[14:18], arp[24:28]
        if op == 1:
            parts.append(f"ARP who-has {ip_text(int.from_bytes(target, 'big'))} "
                         f"tell {ip_text(int.from_bytes(sender, 'big'))}")
        else:
            parts.append(f"ARP {ip_text(int.from_bytes(sender, 'big'))} is-at {mac_text(arp[8:14])}")
    else:
        parts.append(f"ethertype 0x{etype:04x}")
    return ", ".join(parts) + f", {length} bytes"


class Tracer:
    """Arms the core's trace budget and turns its records into named steps."""

    def __init__(self, app):
        self.app = app
        self.count = 0
        self.packets = []
        self.lost_before = 0
        self.records = ffi.new("struct vs_trace_rec[]", POLL_BATCH)

    # ---- control requests --------------------------------------------------------

    def arm(self, count):
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
            raise ControlError(f"trace count must be 1-{MAX_COUNT}, not {count!r}")
        lib.vs_trace_arm(self.app.dp, 0)
        self._drain(keep=False)           # records of an earlier trace are not this one's
        self.packets = []
        self.count = count
        self.lost_before = lib.vs_trace_lost(self.app.dp)
        lib.vs_trace_arm(self.app.dp, count)
        return self.status()

    def status(self):
        """Packets traced so far; `pending` packets are still to come, `lost`
        ones were not recorded (their worker's trace ring was full)."""
        self.poll()
        return {"count": self.count, "pending": lib.vs_trace_pending(self.app.dp),
                "lost": lib.vs_trace_lost(self.app.dp) - self.lost_before, "packets": self.packets}

    def stop(self):
        lib.vs_trace_arm(self.app.dp, 0)
        return self.status()

    # ---- main loop ------------------------------------------------------------------

    def poll(self):
        """Collect finished records (cheap when no trace is armed)."""
        if self.count and len(self.packets) < self.count:
            self._drain(keep=True)

    def _drain(self, keep):
        while (n := lib.vs_trace_poll(self.app.dp, self.records, POLL_BATCH)) > 0:
            if keep:  # named now: the batch buffer is reused
                self.packets.extend(self.render(self.records[i]) for i in range(n))
        del self.packets[self.count:]

    # ---- naming ---------------------------------------------------------------------

    def render(self, rec):
        names = {iface: name for name, iface in self.app.iface_ids.items()}
        frame = bytes(ffi.buffer(rec.frame, rec.snap_len))
        steps = [self._step(rec.steps[i], names) for i in range(rec.n_steps)]
        if rec.lost_steps:
            steps.append({"kind": "truncated", "text": f"... {rec.lost_steps} more steps not recorded"})
        return {"worker": rec.worker, "port": names.get(rec.port, str(rec.port)), "queue": rec.queue,
                "time": self._wall_time(rec.ts_ns), "len": rec.len, "summary": summary(frame, rec.len),
                "frame": frame.hex(), "steps": steps}

    def _wall_time(self, ts_ns):
        if self.app.offline:
            return ts_ns / 1e9            # the pcap clock
        return time.time() - (time.monotonic_ns() - ts_ns) / 1e9

    def _route(self, dst):
        """The installed route a destination matches (the longest prefix)."""
        for length in range(32, -1, -1):
            entry = self.app.routes.get(dst & mask(length), length)
            if entry is not None:
                return f"{ip_text(dst & mask(length))}/{length}", entry
        return None, None

    def _step(self, s, names):
        def iface(i):
            return names.get(i, f"#{i}")
        kind, a, b, c, d, mac = s.kind, s.a, s.b, s.c, s.d, mac_text(bytes(s.mac))
        if kind == lib.VS_TR_RX:
            return {"kind": "rx", "text": f"rx {iface(a)} queue {b} len {c}"}
        if kind == lib.VS_TR_CLASSIFY:
            cfg = self.app.cfg
            name = iface(a)
            bridge = cfg.bridge_of(name) if name in cfg.ports or name in cfg.vlans else None
            role = (f"member of bridge {bridge.name}" if bridge else
                    "router interface" if a in self.app.l3 else "neither bridged nor routed")
            tag = f", vlan {b} tag popped" if b else (", priority tag popped" if c else "")
            return {"kind": "classify", "text": f"classified: interface {name} ({role}{tag})"}
        if kind == lib.VS_TR_LEARN:
            return {"kind": "learn", "text": f"mac learn {mac} on {iface(a)}: {LEARN.get(b, b)}"}
        if kind == lib.VS_TR_L2_LOOKUP:
            if c:
                result = "group address: flood"
            elif b == NO_IFACE:
                result = "miss: flood"
            else:
                result = f"hit on {iface(b)}"
            return {"kind": "mac_lookup", "text": f"mac lookup {mac} in {iface(a)}: {result}"}
        if kind == lib.VS_TR_FLOOD:
            return {"kind": "flood", "text": f"flood in {iface(a)} to {b} member{'s' if b != 1 else ''}"}
        if kind == lib.VS_TR_L3:
            return {"kind": "l3", "text": "l3: " + L3_WHY.get(b, "{}").format(iface(a))}
        if kind == lib.VS_TR_IPV4:
            return {"kind": "ipv4", "text": f"ipv4 {ip_text(b)} > {ip_text(c)} ttl {a} len {d}: header ok"}
        if kind == lib.VS_TR_FIB:
            if not c:
                return {"kind": "fib", "text": f"fib: {ip_text(b)} matches no route"}
            adjacency = f"adjacency {c} {ADJ_TYPES.get(a, a)}"
            prefix, entry = self._route(b)
            if entry is None:  # withdrawn since the packet went by
                return {"kind": "fib", "text": f"fib: {ip_text(b)} matched a route since removed, {adjacency}"}
            how = ROUTE_KINDS.get(entry.kind, entry.kind) + (f" via {ip_text(entry.via)}" if entry.via else "")
            return {"kind": "fib", "text": f"fib: {ip_text(b)} matched {prefix} ({how}), {adjacency}"}
        if kind == lib.VS_TR_ADJ:
            return {"kind": "adjacency", "text": self._adjacency(c, iface(a), b, mac)}
        if kind == lib.VS_TR_REWRITE:
            macs = f", src MAC {mac_text(bytes(self._iface_mac(c)))} dst MAC {mac}" \
                if c in self.app.l3 and any(bytes(s.mac)) else ""
            return {"kind": "rewrite", "text": f"rewrite: ttl {a} -> {b}{macs}"}
        if kind == lib.VS_TR_TX:
            tag = f", vlan {c} tag pushed" if c else ""
            via = f" (interface {iface(b)}{tag})" if b != a or c else ""
            return {"kind": "tx", "text": f"tx {iface(a)}{via}"}
        if kind == lib.VS_TR_PUNT:
            reason = PUNT_REASONS[a] if a < len(PUNT_REASONS) else str(a)
            extra = f": resolve {ip_text(c)} on {iface(b)}" if a == lib.VS_PUNT_ARP_PENDING else f" (on {iface(b)})"
            return {"kind": "punt", "reason": reason, "text": f"punt to the control plane: {reason}{extra}"}
        if kind == lib.VS_TR_REPORT:
            reason = PUNT_REASONS[a] if a < len(PUNT_REASONS) else str(a)
            outcome = "handed to the control plane" if not b else f"not sent: {DROP_REASONS[b]}"
            return {"kind": "icmp_error", "reason": reason, "text": f"icmp error ({reason}): {outcome}"}
        if kind == lib.VS_TR_DROP:
            reason = DROP_REASONS[a] if a < len(DROP_REASONS) else str(a)
            which = "" if b == NO_IFACE else f" (the copy for {iface(b)})"
            return {"kind": "drop", "reason": reason, "text": f"drop{which}: {reason}"}
        return {"kind": str(kind), "text": f"step {kind} ({a}, {b}, {c})"}

    def _iface_mac(self, iface):
        return self.app.l3[iface].mac

    @staticmethod
    def _adjacency(adj_type, ifname, nh, mac):
        if adj_type == lib.VS_ADJ_FORWARD:
            via = f" via {ip_text(nh)}" if nh else ""
            return f"adjacency: forward to {mac} on {ifname}{via}"
        if adj_type == lib.VS_ADJ_GLEAN:
            return f"adjacency: glean on {ifname} (the destination itself needs ARP)"
        if adj_type == lib.VS_ADJ_INCOMPLETE:
            return f"adjacency: next hop {ip_text(nh)} on {ifname}, its MAC not known yet"
        return f"adjacency: {ADJ_TYPES.get(adj_type, adj_type)}"


def collect(request, count, timeout_s, armed=lambda status: None, progress=lambda status: None,
            stopped=lambda: False):
    """A client's trace (`vswitch trace`, the TUI): arm it for `count`
    packets, ask trace_status every CLIENT_POLL_S until `count` packets are
    traced or lost, `timeout_s` passes, stopped() is true or Ctrl-C; then
    trace_stop, whose status it returns.  armed(status) once armed,
    progress(status) after each ask; request(cmd, **fields) asks the
    appliance (control.request on a socket)."""
    armed(request("trace", count=count))
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not stopped():
            status = request("trace_status")
            progress(status)
            if len(status["packets"]) + status["lost"] >= count:
                break
            time.sleep(CLIENT_POLL_S)
    except KeyboardInterrupt:
        pass
    return request("trace_stop")


def render_packet(n, pkt):
    """Packet number n's lines: its header, summary and numbered steps."""
    stamp = time.strftime("%H:%M:%S", time.localtime(pkt["time"])) + f".{int(pkt['time'] * 1e6) % 1000000:06d}"
    return [f"Packet {n}: worker {pkt['worker']}, {pkt['port']} queue {pkt['queue']}, {stamp}",
            f"  {pkt['summary']}",
            *(f"  {i:>2}  {step['text']}" for i, step in enumerate(pkt["steps"], 1))]


def render_text(status):
    """What `vswitch trace` prints: every packet's lines, a blank line after each."""
    lines = []
    for n, pkt in enumerate(status["packets"], 1):
        lines.extend(render_packet(n, pkt))
        lines.append("")
    return "\n".join(lines)
