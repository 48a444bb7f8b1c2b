"""The slow path: what the C core punts, handled in Python.

ARP (answering for our addresses, resolving next hops with a small queue
per neighbour), ICMP echo to our addresses, and the ICMP errors the core
asks for (time exceeded, net unreachable, fragmentation needed), rate
limited as SPEC.md says.  Time is the punted packet's timestamp, so in
offline mode everything follows the pcap clock.
"""
import dataclasses
import heapq
import itertools

from vswitch import packets
from vswitch.pipeline import DROP, NO_PORT, ffi, lib
from vswitch.routing import HOST, Installed, Neighbor, ip_text

NS = 1_000_000_000
ARP_QUEUE_MAX = 3           # packets waiting per unresolved neighbour
ARP_RETRIES = 3             # requests, one second apart, before giving up
ARP_RETRY_NS = 1 * NS
ICMP_RATE_PER_S = 1000      # ICMP errors, whole appliance
ICMP_BURST = 50
PUNT_BATCH = 64


@dataclasses.dataclass
class L3Interface:
    """A router interface as the slow path sees it."""
    name: str
    iface: int                 # core iface id
    mac: bytes
    addresses: list            # [(ip, prefixlen)]

    def address_for(self, ip):
        """Our address on the subnet holding `ip`, else our first address."""
        for ours, length in self.addresses:
            if length == 0 or (ours ^ ip) >> (32 - length) == 0:
                return ours
        return self.addresses[0][0]

    def owns(self, ip):
        return any(ours == ip for ours, _ in self.addresses)

    def on_link(self, ip):
        return any(length and (ours ^ ip) >> (32 - length) == 0 for ours, length in self.addresses)


class TokenBucket:
    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens_ns = burst * NS  # tokens scaled by 1e9: exact refill in ns
        self.last_ns = None

    def take(self, now_ns):
        if self.last_ns is not None and now_ns > self.last_ns:
            self.tokens_ns = min(self.burst * NS, self.tokens_ns + (now_ns - self.last_ns) * self.rate)
        if self.last_ns is None or now_ns > self.last_ns:
            self.last_ns = now_ns
        if self.tokens_ns < NS:
            return False
        self.tokens_ns -= NS
        return True


class Timers:
    """One-shot timers on the appliance's clock."""

    def __init__(self):
        self.heap = []
        self.seq = itertools.count()

    def at(self, when_ns, fn):
        entry = [when_ns, next(self.seq), fn]
        heapq.heappush(self.heap, entry)
        return entry

    @staticmethod
    def cancel(entry):
        entry[2] = None

    def next_deadline(self):
        while self.heap and self.heap[0][2] is None:
            heapq.heappop(self.heap)
        return self.heap[0][0] if self.heap else None

    def run_due(self, now_ns):
        while self.heap and self.heap[0][0] <= now_ns:
            _, _, fn = heapq.heappop(self.heap)
            if fn:
                fn(now_ns)


class SlowPath:
    def __init__(self, dp, routes, l3_ifaces, bridge_ifaces, log=None):
        self.dp = dp
        self.routes = routes
        self.l3 = l3_ifaces            # core iface id -> L3Interface
        self.bridge_ifaces = bridge_ifaces
        self.neighbors = {}            # (iface, ip) -> Neighbor
        self.timers = Timers()
        self.icmp_bucket = TokenBucket(ICMP_RATE_PER_S, ICMP_BURST)
        self.counters = {"icmp_errors_sent": 0, "icmp_rate_limited": 0, "icmp_errors_suppressed": 0,
                         "echo_replies": 0, "arp_replies": 0, "arp_requests": 0}
        self.log = log or (lambda msg: None)
        self._punted = ffi.new("struct vs_pkt *[]", PUNT_BATCH)
        self._handlers = {
            lib.VS_PUNT_ARP: self.on_arp,
            lib.VS_PUNT_LOCAL: self.on_local,
            lib.VS_PUNT_TTL: self.on_ttl_expired,
            lib.VS_PUNT_NO_ROUTE: self.on_no_route,
            lib.VS_PUNT_FRAG_NEEDED: self.on_frag_needed,
            lib.VS_PUNT_ARP_PENDING: self.on_arp_pending,
        }

    # ---- plumbing ---------------------------------------------------------

    def poll(self):
        """Handle every punted packet waiting; returns how many."""
        handled = 0
        while True:
            n = lib.vs_punt_poll(self.dp, self._punted, PUNT_BATCH)
            for i in range(n):
                pkt = self._punted[i]
                frame = bytes(ffi.buffer(lib.vs_pkt_data(pkt), pkt.len))
                try:
                    self._handlers[pkt.punt_reason](pkt, frame)
                finally:
                    lib.vs_pkt_free(self.dp, pkt)
            handled += n
            if n < PUNT_BATCH:
                return handled

    def drop(self, in_port, reason):
        lib.vs_slow_drop(self.dp, in_port, DROP[reason])

    def send(self, iface, frame, ts, in_port=NO_PORT, vlan_pcp=-1):
        lib.vs_inject(self.dp, lib.VS_INJECT_IFACE, iface, in_port, frame, len(frame), ts, vlan_pcp)

    def route(self, ip_packet, ts):
        """Originate an IPv4 packet: the core routes it (ARP included)."""
        frame = packets.pad(b"\0" * 14 + ip_packet)
        lib.vs_inject(self.dp, lib.VS_INJECT_ROUTE, -1, NO_PORT, frame, len(frame), ts, -1)

    # ---- ARP --------------------------------------------------------------

    def on_arp(self, pkt, frame):
        ifc = self.l3.get(pkt.in_iface)
        arp = packets.Arp.parse(frame)
        # a bridge's router hears a copy of every broadcast ARP the bridge floods
        from_bridge_flood = frame[:6] == packets.BROADCAST_MAC and pkt.in_iface in self.bridge_ifaces
        if ifc is None or arp is None:
            if not from_bridge_flood:
                self.drop(pkt.in_port, "arp_malformed")
            return
        neighbor = self.neighbors.get((ifc.iface, arp.spa))
        if neighbor and neighbor.state != "static" and (neighbor.state == "incomplete" or arp.sha != neighbor.mac):
            self.resolved(neighbor, arp.sha, pkt.ts_ns)  # any ARP from a neighbour we track updates it
        if arp.op == packets.Arp.REQUEST:
            if not ifc.owns(arp.tpa):
                if not from_bridge_flood:
                    self.drop(pkt.in_port, "arp_not_for_us")
                return
            if neighbor is None and arp.spa and ifc.on_link(arp.spa):
                self.learn(ifc.iface, arp.spa, arp.sha, pkt.ts_ns)  # the asker, as Linux does
            self.send(ifc.iface, packets.arp_reply(arp, ifc.mac), pkt.ts_ns)
            self.counters["arp_replies"] += 1

    def learn(self, iface, ip, mac, ts):
        neighbor = Neighbor(ip=ip, iface=iface)
        self.neighbors[(iface, ip)] = neighbor
        self.resolved(neighbor, mac, ts)

    def add_static(self, iface, ip, mac):
        neighbor = self.neighbors.get((iface, ip)) or Neighbor(ip=ip, iface=iface)
        self.neighbors[(iface, ip)] = neighbor
        neighbor.state = "static"
        self._set_forward(neighbor, mac)

    def _set_forward(self, neighbor, mac):
        neighbor.mac = mac
        if neighbor.adj:
            self.routes.adjs.set(neighbor.adj, lib.VS_ADJ_FORWARD, neighbor.iface, neighbor.ip, mac)
        else:
            neighbor.adj = self.routes.adjs.new(lib.VS_ADJ_FORWARD, neighbor.iface, neighbor.ip, mac)
        if self.routes.get(neighbor.ip, 32) is None:
            self.routes.add(neighbor.ip, 32, Installed(neighbor.adj, HOST, iface=None))

    def resolved(self, neighbor, mac, ts):
        """The neighbour answered: forward to it, release what waited."""
        if neighbor.timer:
            self.timers.cancel(neighbor.timer)
            neighbor.timer = None
        if neighbor.state == "static":
            return
        neighbor.state = "reachable"
        self._set_forward(neighbor, mac)
        waiting, neighbor.queue = neighbor.queue, []
        ifc = self.l3[neighbor.iface]
        for frame, in_port, pcp in waiting:
            self.send(neighbor.iface, mac + ifc.mac + frame[12:], ts, in_port, pcp)
        if waiting:
            self.log(f"neighbor {ip_text(neighbor.ip)} resolved, {len(waiting)} released")

    def gateway(self, iface, ip):
        """The neighbour a static route goes through; its adjacency stays
        INCOMPLETE until ARP answers."""
        neighbor = self.neighbors.get((iface, ip))
        if neighbor is None:
            neighbor = Neighbor(ip=ip, iface=iface)
            neighbor.adj = self.routes.adjs.new(lib.VS_ADJ_INCOMPLETE, iface, ip)
            self.neighbors[(iface, ip)] = neighbor
        return neighbor

    def on_arp_pending(self, pkt, frame):
        key = (pkt.out_iface, pkt.nh_ip)
        neighbor = self.neighbors.get(key)
        if neighbor and neighbor.mac and neighbor.state != "incomplete":
            ifc = self.l3[pkt.out_iface]
            self.send(pkt.out_iface, neighbor.mac + ifc.mac + frame[12:], pkt.ts_ns, pkt.in_port, _pcp(pkt))
            return
        if neighbor is None:
            neighbor = Neighbor(ip=pkt.nh_ip, iface=pkt.out_iface)
            self.neighbors[key] = neighbor
        if len(neighbor.queue) >= ARP_QUEUE_MAX:
            self.drop(pkt.in_port, "arp_queue_full")
            return
        neighbor.queue.append((frame, pkt.in_port, _pcp(pkt)))
        if neighbor.timer is None:
            neighbor.requests = 0
            self._solicit(neighbor, pkt.ts_ns)

    def _solicit(self, neighbor, now):
        if neighbor.requests == ARP_RETRIES:
            self._give_up(neighbor)
            return
        ifc = self.l3[neighbor.iface]
        self.send(neighbor.iface, packets.arp_request(ifc.mac, ifc.address_for(neighbor.ip), neighbor.ip), now)
        self.counters["arp_requests"] += 1
        neighbor.requests += 1
        neighbor.timer = self.timers.at(now + ARP_RETRY_NS, lambda t, n=neighbor: self._solicit(n, t))

    def _give_up(self, neighbor):
        neighbor.timer = None
        for _, in_port, _ in neighbor.queue:
            self.drop(in_port, "arp_timeout")
        neighbor.queue = []
        neighbor.requests = 0
        if neighbor.adj == 0:  # a glean-made entry: forget it; a gateway stays incomplete
            del self.neighbors[(neighbor.iface, neighbor.ip)]
        self.log(f"neighbor {ip_text(neighbor.ip)} did not answer ARP")

    def input_ended(self):
        """Offline mode: the clock stops; whatever still waits for ARP is dropped."""
        for neighbor in list(self.neighbors.values()):
            if neighbor.timer:
                self.timers.cancel(neighbor.timer)
            if neighbor.queue:
                self._give_up(neighbor)

    # ---- packets to us and ICMP errors -------------------------------------

    def on_local(self, pkt, frame):
        ip = packets.Ipv4(frame[14:])
        if ip.proto != 1 or ip.is_fragment:
            self.drop(pkt.in_port, "local_unsupported")
            return
        message = ip.payload
        if len(message) < 8 or packets.checksum(message) != 0:
            self.drop(pkt.in_port, "icmp_malformed")
            return
        if message[0] != packets.ICMP_ECHO_REQUEST or message[1] != 0:
            self.drop(pkt.in_port, "local_unsupported")
            return
        self.route(packets.echo_reply(ip, ip.dst), pkt.ts_ns)
        self.counters["echo_replies"] += 1

    def on_ttl_expired(self, pkt, frame):
        self._icmp_error(pkt, frame, packets.ICMP_TIME_EXCEEDED, 0)

    def on_no_route(self, pkt, frame):
        self._icmp_error(pkt, frame, packets.ICMP_UNREACHABLE, packets.UNREACH_NET)

    def on_frag_needed(self, pkt, frame):
        self._icmp_error(pkt, frame, packets.ICMP_UNREACHABLE, packets.UNREACH_FRAG_NEEDED, mtu=pkt.mtu)

    def _icmp_error(self, pkt, frame, icmp_type, code, mtu=0):
        ifc = self.l3.get(pkt.in_iface)
        ip = packets.Ipv4(frame[14:])
        # RFC 1812 4.3.2.7: never about ICMP errors, later fragments, or
        # packets from addresses that do not name one host
        if (ifc is None or packets.is_icmp_error(ip) or ip.is_later_fragment or not _unicast_source(ip.src)
                or frame[0] & 1):
            self.counters["icmp_errors_suppressed"] += 1
            return
        if not self.icmp_bucket.take(pkt.ts_ns):
            self.counters["icmp_rate_limited"] += 1
            return
        self.route(packets.icmp_error(ip, icmp_type, code, ifc.address_for(ip.src), mtu), pkt.ts_ns)
        self.counters["icmp_errors_sent"] += 1


def _pcp(pkt):
    """The PCP a punted packet arrived with, or -1 if it arrived untagged."""
    return pkt.vlan_pcp if pkt.arrived_tagged else -1


def _unicast_source(ip):
    first = ip >> 24
    return ip != 0 and first != 127 and first < 224 and ip != 0xFFFFFFFF
