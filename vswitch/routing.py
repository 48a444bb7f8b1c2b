"""The control plane's view of the FIB: routes, adjacencies, neighbours.

The C core holds the DIR-24-8 table and the adjacency array; this module
decides what goes in them.  Every prefix installed in the core is recorded
here, so a delete can name the covering route that takes over.
"""
import dataclasses

from vswitch.pipeline import CoreError, check, ffi, lib

# Installed-route kinds; only the first three are user-visible routes.
CONNECTED, STATIC, BLACKHOLE, LOCAL, BROADCAST, HOST = "connected", "static", "blackhole", "local", "broadcast", "host"
USER_KINDS = (CONNECTED, STATIC, BLACKHOLE)


def mask(length):
    return (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF if length else 0


def int_ip(text):
    """Dotted quad -> host-order int."""
    a, b, c, d = (int(x) for x in text.split("."))
    return a << 24 | b << 16 | c << 8 | d


def ip_text(ip):
    return f"{ip >> 24}.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255}"


@dataclasses.dataclass
class Installed:
    adj: int
    kind: str
    via: int | None = None
    iface: str | None = None


@dataclasses.dataclass
class Neighbor:
    ip: int
    iface: int                 # core iface id
    mac: bytes | None = None
    state: str = "incomplete"  # incomplete | reachable | static
    adj: int = 0               # its adjacency (gateway next hop and /32 host route)
    queue: list = dataclasses.field(default_factory=list)  # (frame, in_port) waiting for ARP
    requests: int = 0
    timer: object = None


class AdjacencyTable:
    """Numbers for adjacencies in the core's array (0 means 'no route')."""

    def __init__(self, dp, capacity):
        self.dp = dp
        self.capacity = capacity
        self.free = list(range(capacity - 1, 0, -1))

    def new(self, adj_type, iface=-1, nh_ip=0, mac=None):
        if not self.free:
            raise CoreError(f"all {self.capacity} adjacencies are in use")
        adj = self.free.pop()
        self.set(adj, adj_type, iface, nh_ip, mac)
        return adj

    def set(self, adj, adj_type, iface=-1, nh_ip=0, mac=None):
        check(lib.vs_adj_set(self.dp, adj, adj_type, iface, nh_ip, mac if mac else ffi.NULL))

    def release(self, adj):
        self.set(adj, lib.VS_ADJ_NONE)
        self.free.append(adj)


class RouteTable:
    """Prefixes in the core's FIB, by (network, length)."""

    def __init__(self, dp, adjacencies):
        self.dp = dp
        self.adjs = adjacencies
        self.installed = {}

    def add(self, network, length, entry):
        check(lib.vs_fib_add(self.dp, network, length, entry.adj))
        self.installed[(network, length)] = entry

    def delete(self, network, length):
        self.installed.pop((network, length))
        parent_adj, parent_len = 0, 0
        for shorter in range(length - 1, -1, -1):
            covering = self.installed.get((network & mask(shorter), shorter))
            if covering:
                parent_adj, parent_len = covering.adj, shorter
                break
        check(lib.vs_fib_delete(self.dp, network, length, parent_adj, parent_len))

    def get(self, network, length):
        return self.installed.get((network, length))

    def user_routes(self):
        """What `show routes` lists: connected, static and blackhole routes."""
        return sorted(((net, length, e) for (net, length), e in self.installed.items() if e.kind in USER_KINDS),
                      key=lambda r: (r[0], r[1]))
