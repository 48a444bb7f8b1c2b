"""`vswitch clear ...` and `vswitch port NAME up|down` on the running appliance.

Served from the appliance's main loop (control socket), with workers
running: every table change goes through the same RCU-safe calls the
build uses.  Each function returns the lines the CLI prints.  The helpers
for router addresses and neighbours are shared with reload.py.
"""
import ctypes
import fcntl
import socket
import struct

from vswitch import packets
from vswitch.control import ControlError
from vswitch.pipeline import ffi, lib, port_stats
from vswitch.routing import BLACKHOLE, BROADCAST, CONNECTED, HOST, LOCAL, STATIC, Installed, ip_text, mask

CLEAR_RETRIES = 5   # a worker's in-flight counter update can land after a clear: clear again


# ---- shared helpers ------------------------------------------------------------

def port_link_up(app, name):
    """Is the port under interface `name` up, administratively and its link
    (bridges: always)?"""
    cfg = app.cfg
    if name in cfg.vlans:
        name = cfg.vlans[name].link
    if name in cfg.ports:
        pid = app.iface_ids[name]
        return bool(lib.vs_port_admin_up(app.dp, pid)) and bool(lib.vs_port_oper_up(app.dp, pid))
    return True


def port_interfaces(app, port):
    """The port and its vlans: the interfaces that go down with it."""
    return [port] + [v.name for v in app.cfg.vlans.values() if v.link == port]


def l3_of(app, name):
    return app.l3.get(app.iface_ids[name])


def install_connected(app, ifc, ip, length):
    net = ip & mask(length)
    if app.routes.get(net, length) is None:
        glean = app.adjs.new(lib.VS_ADJ_GLEAN, ifc.iface)
        app.routes.add(net, length, Installed(glean, CONNECTED, iface=ifc.name))


def withdraw_connected(app, ifc, ip, length):
    net = ip & mask(length)
    entry = app.routes.get(net, length)
    if entry is not None and entry.kind == CONNECTED:
        app.routes.delete(net, length)
        app.adjs.release(entry.adj)


def install_address(app, ifc, ip, length):
    """An address on a router interface: its connected route (if the link is
    up), the subnet's broadcast /32, our own /32."""
    if port_link_up(app, ifc.name):
        install_connected(app, ifc, ip, length)
    if length <= 30:
        app.routes.add((ip & mask(length)) | (~mask(length) & 0xFFFFFFFF), 32,
                       Installed(app.broadcast_adj, BROADCAST))
    app.routes.add(ip, 32, Installed(app.local_adj, LOCAL, iface=ifc.name))


def remove_address(app, ifc, ip, length):
    withdraw_connected(app, ifc, ip, length)
    for host, kind in (((ip & mask(length)) | (~mask(length) & 0xFFFFFFFF), BROADCAST), (ip, LOCAL)):
        entry = app.routes.get(host, 32)
        if entry is not None and entry.kind == kind:
            app.routes.delete(host, 32)


def install_route(app, network, length, via, blackhole):
    """A static or blackhole route; its gateway's adjacency stays INCOMPLETE
    until ARP answers."""
    if blackhole:
        entry = Installed(app.blackhole_adj, BLACKHOLE)
    else:
        ifc = app._connected_iface(via)
        neighbor = app.slow.gateway(ifc.iface, via)
        if not neighbor.adj:  # a neighbour met by ARP for a host on the link: now a gateway too
            neighbor.adj = app.adjs.new(lib.VS_ADJ_INCOMPLETE, ifc.iface, via)
        entry = Installed(neighbor.adj, STATIC, via=via, iface=ifc.name)
    app.routes.add(network, length, entry)


def gateway_adjs(app):
    """Adjacencies that static routes go through."""
    return {e.adj for e in app.routes.installed.values() if e.kind == STATIC}


def forget_neighbor(app, neighbor, gateways):
    """Flush one neighbour: its /32 host route goes; a gateway of a static
    route goes back to INCOMPLETE (the slow path re-resolves it on the next
    packet), any other is removed."""
    slow = app.slow
    if neighbor.timer:
        slow.timers.cancel(neighbor.timer)
        neighbor.timer = None
    neighbor.queue = []
    neighbor.requests = 0
    host = app.routes.get(neighbor.ip, 32)
    if neighbor.adj and host is not None and host.kind == HOST and host.adj == neighbor.adj:
        app.routes.delete(neighbor.ip, 32)
    if neighbor.adj and neighbor.adj in gateways:
        neighbor.state, neighbor.mac = "incomplete", None
        app.adjs.set(neighbor.adj, lib.VS_ADJ_INCOMPLETE, neighbor.iface, neighbor.ip)
    else:
        if neighbor.adj:
            app.adjs.release(neighbor.adj)
        del slow.neighbors[(neighbor.iface, neighbor.ip)]


def flush_neighbors(app, ifaces, include_static=False):
    """Flush the learned neighbours on the given core iface ids; how many."""
    gateways = gateway_adjs(app)
    flushed = [n for (iface, _), n in app.slow.neighbors.items()
               if iface in ifaces and (include_static or n.state != "static")]
    for neighbor in flushed:
        forget_neighbor(app, neighbor, gateways)
    return len(flushed)


def learned_macs(app, bridge):
    stats = ffi.new("struct vs_bridge_stats *")
    lib.vs_bridge_stats_get(app.dp, app.iface_ids[bridge], stats)
    return stats.entries


# ---- clear -----------------------------------------------------------------------

def clear(app, what, name=None):
    handler = {"counters": clear_counters, "macs": clear_macs, "neighbors": clear_neighbors}.get(what)
    if handler is None:
        raise ControlError(f"nothing called {what!r} to clear (counters, macs, neighbors)")
    return handler(app, name)


def clear_counters(app, name):
    if name is not None and name not in app.cfg.ports:
        raise ControlError(f"no port called {name!r}; ports: {', '.join(app.cfg.ports)}")
    names = [name] if name else list(app.cfg.ports)
    pids = [app.iface_ids[n] for n in names] + ([-1] if name is None else [])
    for _ in range(CLEAR_RETRIES):
        before = {pid: port_stats(app.dp, pid)["rx_packets"] for pid in pids}
        for pid in pids:
            lib.vs_port_stats_clear(app.dp, pid)
        # a worker's increment in flight during the clear can write the old value back
        if all(port_stats(app.dp, pid)["rx_packets"] < before[pid] or before[pid] == 0 for pid in pids):
            break
    app.log(f"counters cleared on {name or 'all ports'}", kind="clear")
    return [f"counters cleared on port {n}" for n in names]


def clear_macs(app, name):
    cfg = app.cfg
    if name is None:
        targets = [(bridge, -1) for bridge in cfg.bridges]
    elif name in cfg.bridges:
        targets = [(name, -1)]
    elif name in cfg.ports or name in cfg.vlans:
        bridge = cfg.bridge_of(name)
        if bridge is None:
            raise ControlError(f"{name!r} is in no bridge: it has no learned MACs")
        targets = [(bridge.name, app.iface_ids[name])]
    else:
        raise ControlError(f"no bridge, port or vlan called {name!r}")
    lines = []
    for bridge, member in targets:
        before = learned_macs(app, bridge)
        lib.vs_mac_flush(app.dp, app.iface_ids[bridge], member, 0)
        flushed = before - learned_macs(app, bridge) if member >= 0 else before
        where = f" learned on {name}" if member >= 0 else ""
        lines.append(f"{max(flushed, 0)} learned MACs{where} flushed from bridge {bridge}")
    app.log(f"learned MACs flushed ({name or 'all bridges'})", kind="clear")
    return lines


def clear_neighbors(app, name):
    if name is None:
        targets = list(app.l3.values())
    else:
        if name not in app.iface_ids:
            raise ControlError(f"no interface called {name!r}")
        ifc = l3_of(app, name)
        if ifc is None:
            raise ControlError(f"{name!r} is not a router interface (it has no addresses)")
        targets = [ifc]
    lines = [f"{flush_neighbors(app, {ifc.iface})} learned neighbours flushed on {ifc.name}" for ifc in targets]
    app.log(f"neighbours flushed ({name or 'all interfaces'})", kind="clear")
    return lines


# ---- port up/down ----------------------------------------------------------------

def set_port(app, name, up):
    cfg = app.cfg
    if name not in cfg.ports:
        raise ControlError(f"no port called {name!r}; ports: {', '.join(cfg.ports)}")
    pid = app.iface_ids[name]
    state = "up" if up else "down"
    if bool(lib.vs_port_admin_up(app.dp, pid)) == up:
        return [f"port {name} is already {state}"]
    oper = bool(lib.vs_port_oper_up(app.dp, pid))
    if up:
        lib.vs_port_set_admin(app.dp, pid, 1)
        lines = port_up(app, name, pid) if oper else [f"link of port {name} is down: its routes wait for it"]
    else:
        lib.vs_port_set_admin(app.dp, pid, 0)  # first: nothing in or out from here on
        lines = port_down(app, name, pid) if oper else []
    app.log(f"port {name} {state} (administratively)", kind="port")
    return [f"port {name} {state}"] + lines


def port_down(app, name, pid):
    """The port stopped forwarding (admin or link down, already set): its
    connected routes, learned neighbours and learned MACs go."""
    lines = []
    for iface_name in port_interfaces(app, name):
        ifc = l3_of(app, iface_name)
        if ifc is not None:
            for ip, length in ifc.addresses:
                withdraw_connected(app, ifc, ip, length)
                lines.append(f"connected route {ip_text(ip & mask(length))}/{length} on {iface_name} withdrawn")
            n = flush_neighbors(app, {ifc.iface})
            if n:
                lines.append(f"{n} learned neighbours on {iface_name} flushed")
        bridge = app.cfg.bridge_of(iface_name)
        if bridge is not None:
            lib.vs_mac_flush(app.dp, app.iface_ids[bridge.name], app.iface_ids[iface_name], 0)
            lines.append(f"MACs learned on {iface_name} flushed from bridge {bridge.name}")
    return lines


def port_up(app, name, pid):
    """The port forwards again (admin and link up): connected routes back,
    gratuitous ARP."""
    lines = []
    now = lib.vs_dp_clock(app.dp)
    for iface_name in port_interfaces(app, name):
        ifc = l3_of(app, iface_name)
        if ifc is None:
            continue
        for ip, length in ifc.addresses:
            install_connected(app, ifc, ip, length)
            lines.append(f"connected route {ip_text(ip & mask(length))}/{length} on {iface_name} restored")
        for ip, _ in ifc.addresses:
            app.slow.send(ifc.iface, packets.arp_request(ifc.mac, ip, ip), now)  # gratuitous ARP
            lines.append(f"gratuitous ARP for {ip_text(ip)} sent on {iface_name}")
    return lines


# ---- link watch (kernel interfaces that go down, vanish and come back) ------------

SIOCGIFFLAGS = 0x8913
SIOCETHTOOL = 0x8946
ETHTOOL_GLINK = 0x0000000a   # the carrier as the driver sees it (netif_carrier_ok), not delayed
IFF_UP = 0x1
IFF_RUNNING = 0x40           # operstate up: follows the carrier, but up to a second late


def interface_index(ifname):
    """The kernel interface's ifindex, or None when there is none by that name."""
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        return None


def interface_running(ifname):
    """Is the interface up with its carrier on?  ioctls on a socket, so they
    answer for the appliance's own namespace whatever /sys shows."""
    name = ifname.encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            flags = struct.unpack("16sH22x", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22x", name, 0)))[1]
            if not flags & IFF_UP:
                return False
            link = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_GLINK, 0), 8)
            try:
                fcntl.ioctl(s, SIOCETHTOOL, struct.pack("16sP16x", name, ctypes.addressof(link)))
            except OSError:   # no ethtool link report from this driver: its operstate will do
                return bool(flags & IFF_RUNNING)
            return bool(struct.unpack("II", link.raw)[1])
    except OSError:
        return False


# Drivers whose port can follow its interface when it is deleted and re-created.
REATTACH = {"af_packet": lib.vs_port_af_packet_reattach, "af_xdp": lib.vs_port_af_xdp_reattach}


def watch_links(app):
    """Once a second from the live loop: each kernel port's interface, by
    name.  Gone: the link goes down (rx and tx stop; connected routes,
    neighbours and MACs go, as on `port down`), counted and logged.  Back
    with a new ifindex (deleted and re-created, or between two checks): a
    new socket on it (REATTACH: for af_xdp also a new XDP program).  The link is up
    while the interface is up with its carrier on (`ip link set down` here
    or on a veth's peer takes it down); up again: the routes come back and a
    gratuitous ARP goes out.  A failed re-attach is logged and tried again
    next time."""
    for name, port in app.cfg.ports.items():
        if port.driver not in REATTACH:
            continue
        ifname = port.options["interface"]
        pid = app.iface_ids[name]
        index = interface_index(ifname)
        known = app.link_ifindex.get(name)
        if index != known:
            if known is not None:
                link_down(app, name, pid, f"interface {ifname} gone")
                app.link_ifindex[name] = None
            if index is None or not reattach(app, name, pid, ifname):
                continue
            app.link_ifindex[name] = index
            app.log(f"{name}: interface {ifname} back (ifindex {index}): re-attached", kind="port")
            if port.driver == "af_xdp":
                app.log(af_xdp_description(app, port, pid), kind="port")
        running = interface_running(ifname)
        if running != bool(lib.vs_port_oper_up(app.dp, pid)):
            if running:
                link_up(app, name, pid, f"interface {ifname} running")
            else:
                link_down(app, name, pid, f"interface {ifname} down or no carrier")


def reattach(app, name, pid, ifname):
    """New sockets on the re-created interface; the link stays down until the
    watch sees it running."""
    if REATTACH[app.cfg.ports[name].driver](app.dp, pid, ifname.encode()) != 0:
        error = ffi.string(lib.vs_last_error()).decode()
        if app.link_reattach_failed.get(name) != error:   # once per cause, not every second
            app.log(f"{name}: re-attach to {ifname} failed: {error}; trying again", kind="warning")
            app.link_reattach_failed[name] = error
        return False
    lib.vs_port_set_oper(app.dp, pid, 0)
    app.link_reattach_failed.pop(name, None)
    app.link_counts[name]["reattached"] += 1
    return True


def af_xdp_description(app, port, pid):
    """How an af_xdp port (its config) runs: what the kernel granted
    (zero-copy, XDP in the driver) decides its speed, so it is said when the
    port opens."""
    modes = lib.vs_port_af_xdp_modes(app.dp, pid)
    queues = app.rx_queues(port)
    return (f"{port.name}: af_xdp on {port.options['interface']}: {queues} rx queue{'s' if queues > 1 else ''}, "
            f"{'zero-copy' if modes & lib.VS_AF_XDP_ZEROCOPY else 'copy mode'}, XDP program "
            f"{'in generic (skb) mode' if modes & lib.VS_AF_XDP_GENERIC else 'in the driver'}")


def link_up(app, name, pid, why):
    lib.vs_port_set_oper(app.dp, pid, 1)
    lines = port_up(app, name, pid) if lib.vs_port_admin_up(app.dp, pid) else []
    app.log(f"{name}: {why}: link up" + (f"; {len(lines)} changes" if lines else ""), kind="port")


def link_down(app, name, pid, why):
    was_forwarding = port_link_up(app, name)
    lib.vs_port_set_oper(app.dp, pid, 0)   # first: nothing in or out from here on
    app.link_counts[name]["lost"] += 1
    if was_forwarding:
        port_down(app, name, pid)
    app.log(f"{name}: {why}: link down", kind="port")
