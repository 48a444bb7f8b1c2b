"""The appliance's state in the shapes SPEC.md fixes for `show ... --json`."""
from vswitch import admin, packets
from vswitch.control import ControlError
from vswitch.pipeline import DROP_REASONS, ffi, lib, port_stats, punt_stats
from vswitch.routing import ip_text

MAC_DUMP_MAX = 1 << 20
SYS_NET = "/sys/class/net"


def ports(app):
    return [_port_row(app, name, port, port_stats(app.dp, app.iface_ids[name])) for name, port in app.cfg.ports.items()]


def _port_row(app, name, port, s):
    """A port's `show ports` row, from its counters s (pipeline.port_stats)."""
    return {
        "name": name, "driver": port.driver,
        "link": "up" if admin.port_link_up(app, name) else "down",
        "link_losses": app.link_counts[name]["lost"] if name in app.link_counts else 0,
        **{k: s[k] for k in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_dropped", "tx_dropped",
                             "rx_errors", "tx_errors", "forwarded", "flooded", "punted")},
        "drops": s["drops"],
    }


def port(app, name):
    """One port in depth (`show port NAME`): its counters with every drop
    reason (zeros too), per-rx-queue counters, and what the driver knows.
    Facts a driver does not have (a PCI address, virtio features, a link
    speed off a kernel interface) are null."""
    if name not in app.cfg.ports:
        raise ControlError(f"no port called {name!r}; ports: {', '.join(app.cfg.ports)}")
    cfg_port = app.cfg.ports[name]
    pid = app.iface_ids[name]
    s = port_stats(app.dp, pid)
    ifname = cfg_port.options.get("interface")
    return {
        **_port_row(app, name, cfg_port, s),
        "drops": {reason: s["drops"].get(reason, 0) for reason in DROP_REASONS},
        "interface": ifname, "pci": None, "virtio_features": None,
        "link_speed_mbps": _kernel_link_speed(ifname) if ifname else None,
        "mtu": cfg_port.mtu, "mac": app.router_mac(name),
        "admin": "up" if lib.vs_port_admin_up(app.dp, pid) else "down",
        "queues": _rx_queues(app, name, pid),
    }


def _rx_queues(app, name, pid):
    rows = []
    s = ffi.new("struct vs_rxq_stats *")
    for queues in app.worker_queues:
        for label in queues:
            port_name, queue = label.rsplit(":", 1)
            if port_name != name:
                continue
            lib.vs_rxq_stats_get(app.dp, pid, int(queue), s)
            rows.append({"queue": int(queue), "worker": s.worker if s.worker >= 0 else None,
                         "rx_packets": s.packets, "rx_bytes": s.bytes})
    return sorted(rows, key=lambda r: r["queue"])


def _kernel_link_speed(ifname):
    """Mb/s as the kernel reports it; None when it does not know (a link
    down, a virtual interface without a speed)."""
    try:
        with open(f"{SYS_NET}/{ifname}/speed") as f:
            speed = int(f.read())
    except (OSError, ValueError):
        return None
    return speed if speed > 0 else None


def macs(app):
    names = {iface: name for name, iface in app.iface_ids.items()}
    now = lib.vs_dp_clock(app.dp)
    rows = []
    for bridge in app.cfg.bridges:
        bridge_iface = app.iface_ids[bridge]
        entries = ffi.new("struct vs_mac_info[]", MAC_DUMP_MAX)
        n = lib.vs_mac_dump(app.dp, bridge_iface, entries, MAC_DUMP_MAX)
        for e in sorted(entries[0:n], key=lambda e: bytes(e.mac)):
            rows.append({"bridge": bridge, "mac": packets.mac_text(bytes(e.mac)), "interface": names[e.iface],
                         "static": bool(e.is_static),
                         "age": 0 if e.is_static else round(max(0, now - e.last_seen_ns) / 1e9, 3)})
    return rows


def routes(app):
    return [{"to": f"{ip_text(net)}/{length}", "via": ip_text(e.via) if e.via is not None else None,
             "interface": e.iface, "type": e.kind}
            for net, length, e in app.routes.user_routes()]


def neighbors(app):
    rows = []
    for (iface, ip), n in sorted(app.slow.neighbors.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        rows.append({"ip": ip_text(ip), "macaddress": packets.mac_text(n.mac) if n.mac else None,
                     "interface": app.slow.l3[iface].name, "state": n.state})
    return rows


def bridges(app):
    rows = []
    for name in app.cfg.bridges:
        s = ffi.new("struct vs_bridge_stats *")
        lib.vs_bridge_stats_get(app.dp, app.iface_ids[name], s)
        rows.append({"name": name, **{k: getattr(s, k) for k in ("entries", "learned", "moved", "limit_refused", "aged")}})
    return rows


def idle_worker_rate():
    return {"at": None, "raw": None, "packets_per_s": 0.0, "busy_percent": 0.0, "cycles_per_packet": 0.0}


def worker_rate(previous, stats, now):
    """Rates over the last sample period from two readings of vs_worker_stats."""
    raw = {k: getattr(stats, k) for k in ("packets", "bursts", "idle_polls", "busy_cycles", "cycles")}
    rate = {"at": now, "raw": raw, "packets_per_s": 0.0, "busy_percent": 0.0, "cycles_per_packet": 0.0}
    if previous["raw"] is not None:
        d = {k: raw[k] - previous["raw"][k] for k in raw}
        rate["packets_per_s"] = d["packets"] / max(now - previous["at"], 1e-9)
        rate["busy_percent"] = 100.0 * d["busy_cycles"] / d["cycles"] if d["cycles"] else 0.0
        rate["cycles_per_packet"] = d["busy_cycles"] / d["packets"] if d["packets"] else 0.0
    return rate


def workers(app):
    """Totals read now; rates from the last sample period."""
    rows = []
    now = ffi.new("struct vs_worker_stats *")
    for w, rate in enumerate(app.worker_rates):
        lib.vs_worker_stats_get(app.dp, w, now)
        rows.append({"id": w, "cpu": app.worker_cpus[w], "rx_queues": list(app.worker_queues[w]),
                     "packets": now.packets, "idle_polls": now.idle_polls,
                     "packets_per_s": round(rate["packets_per_s"], 1),
                     "busy_percent": round(rate["busy_percent"], 1),
                     "cycles_per_packet": round(rate["cycles_per_packet"], 1)})
    return rows


def show(app, what, name=None):
    """`vswitch show WHAT [NAME]`: the data behind both the table and --json."""
    if what == "port":
        return port(app, name)
    if what == "config":
        return {"file": app.cfg.path, "text": app.cfg.source_text}
    if what == "events":
        return list(app.events)
    table = {"ports": ports, "macs": macs, "routes": routes, "neighbors": neighbors, "workers": workers,
             "bridges": bridges}.get(what)
    if table is None:
        raise ControlError(f"nothing called {what!r} to show")
    return table(app)


def snapshot(app):
    return {"ports": ports(app), "macs": macs(app), "routes": routes(app), "neighbors": neighbors(app),
            "bridges": bridges(app),
            "punts": punt_stats(app.dp), "slow_path": dict(app.slow.counters)}
