"""`vswitch reload` and SIGHUP: re-read the config file, apply the difference.

As DESIGN.md "Control plane" says: parse → validate the whole (config.load)
→ verify() the difference can be applied live and build the plan → apply()
the smallest change, with the workers running → keep the old config on any
error.  A plan is a list of Changes, each one line for the user and one
small function, in an order that never leaves a route without its next hop:
routes and neighbours that go, addresses, neighbours that come, routes that
come, then bridge tables.

Ports in no bridge and without vlans come and go live: a new one is opened
and its queues dealt to the workers; a removed one loses its routes and
neighbours first, then the core swaps it out and closes it after a grace
period (vs_port_remove).  What a live reload cannot change in this version
(other changes to the set of ports, vlans and bridges, bridge membership,
drivers, MTUs, MACs, workers, the control socket, whether an interface is
routed) is refused with the reason, and the running config stays.
"""
import dataclasses

from vswitch import config as config_mod
from vswitch import packets
from vswitch.admin import (flush_neighbors, forget_neighbor, gateway_adjs, install_address, install_route,
                           remove_address)
from vswitch.control import ControlError
from vswitch.pipeline import check, lib
from vswitch.routing import int_ip, ip_text, mask
from vswitch.slowpath import NS


class ReloadError(ControlError):
    """The new config is rejected; the running one stays."""


@dataclasses.dataclass
class Change:
    text: str
    apply: object          # fn(app)


# ---- entry point -------------------------------------------------------------------

def reload(app):
    """Re-read app.cfg.path; apply what changed; the lines to print."""
    old = app.cfg
    try:
        new = config_mod.load(old.path)
    except config_mod.ConfigError as err:
        raise ReloadError("\n".join(map(str, err.issues)) + "\nreload refused: the running config is unchanged")
    plan = verify(old, new, app.port_problems)
    apply(app, new, plan)
    return [c.text for c in plan] or ["no changes"]


def verify(old, new, port_problems):
    """Everything checked before anything changes: the plan, or ReloadError.
    port_problems(cfg, names): why those ports could not be opened here."""
    problems = restart_needed(old, new) + port_problems(new, [n for n in new.ports if n not in old.ports])
    if problems:
        raise ReloadError("\n".join(problems) + "\nreload refused: the running config is unchanged")
    return [*route_changes(old, new, removals=True), *neighbor_changes(old, new, removals=True),
            *port_removals(old, new), *address_changes(old, new), *port_additions(old, new),
            *neighbor_changes(old, new, removals=False),
            *route_changes(old, new, removals=False), *static_mac_changes(old, new), *bridge_setting_changes(old, new)]


def apply(app, new, plan):
    try:
        for change in plan:
            change.apply(app)
        prune_gateways(app)
    except Exception as err:  # a table full, say: report it, keep serving
        app.log(f"reload of {new.path} failed while applying: {err}", kind="reload")
        raise ControlError(f"reload failed while applying: {err}; some changes may be in effect; "
                           f"fix the cause and reload again") from None
    app.cfg = new
    app.log(f"config reloaded from {new.path}: " + (f"{len(plan)} change(s)" if plan else "no changes"), kind="reload")


# ---- what needs a restart ------------------------------------------------------------

RESTART = "changing {what} needs a restart in this version: {detail}"
PORT_FIELDS = ("driver", "options", "mtu", "macaddress")
VLAN_FIELDS = ("link", "id", "mtu", "macaddress")


def restart_needed(old, new):
    problems = []
    for what, kind, fields in (("ports", "port", PORT_FIELDS), ("vlans", "vlan", VLAN_FIELDS),
                               ("bridges", "bridge", ("interfaces", "macaddress"))):
        before, after = getattr(old, what), getattr(new, what)
        live = standalone_ports(old, new) if what == "ports" else ()
        details = [f"{kind} '{n}' added" for n in after if n not in before and n not in live]
        details += [f"{kind} '{n}' removed" for n in before if n not in after and n not in live]
        for name in before.keys() & after.keys():
            details += [f"{kind} '{name}' {field} changed" for field in fields
                        if _field(before[name], field) != _field(after[name], field)]
            if bool(before[name].addresses) != bool(after[name].addresses):
                details.append(f"{kind} '{name}' {'becomes' if after[name].addresses else 'stops being'} "
                               f"a router interface")
        problems += [RESTART.format(what=what, detail=d) for d in sorted(details)]
    for field in ("workers", "worker_cpus", "control_socket"):
        if getattr(old, field) != getattr(new, field):
            problems.append(RESTART.format(what=field, detail=f"{getattr(old, field)} -> {getattr(new, field)}"))
    return problems


def standalone_ports(old, new):
    """Ports added or removed that a live reload can open or close: in no
    bridge and carrying no vlans, in the config they are in."""
    def standalone(cfg, name):
        return cfg.bridge_of(name) is None and all(v.link != name for v in cfg.vlans.values())
    return ({n for n in new.ports if n not in old.ports and standalone(new, n)}
            | {n for n in old.ports if n not in new.ports and standalone(old, n)})


def _field(obj, field):
    value = getattr(obj, field)
    if field == "macaddress" and value:
        return packets.mac_bytes(value)
    if field == "interfaces":
        return sorted(value)
    return value


# ---- routes ---------------------------------------------------------------------------

def resolver(cfg):
    """via -> the name of the router interface whose subnet holds it (longest)."""
    subnets = [(int(a.ip), a.prefixlen, name) for name in cfg.iface_names()
               for a in cfg.interface(name).addresses]
    cache = {}

    def iface_for(via):
        if via not in cache:
            best = max(((length, name) for ip, length, name in subnets if (ip ^ via) & mask(length) == 0),
                       default=(None, None))
            cache[via] = best[1]
        return cache[via]
    return iface_for


def route_table(cfg):
    """(network, length) -> (via, blackhole, interface)."""
    iface_for = resolver(cfg)
    return {(r.network, r.prefixlen): (r.via, r.blackhole, None if r.blackhole else iface_for(r.via))
            for r in cfg.routes}


def route_text(key, value):
    (network, length), (via, blackhole, _) = key, value
    to = "default" if length == 0 else f"{ip_text(network)}/{length}"
    return f"route {to} " + ("blackhole" if blackhole else f"via {ip_text(via)}")


def route_changes(old, new, removals):
    before, after = route_table(old), route_table(new)
    if removals:
        return [Change(f"{route_text(k, v)} removed", lambda app, k=k: delete_route(app, k))
                for k, v in before.items() if k not in after]
    changes = []
    for key, value in after.items():
        if key not in before:
            changes.append(Change(f"{route_text(key, value)} added", lambda app, k=key, v=value: add_route(app, k, v)))
        elif before[key] != value:
            was = "blackhole" if before[key][1] else f"via {ip_text(before[key][0])}"
            changes.append(Change(f"{route_text(key, value)} changed (was {was})",
                                  lambda app, k=key, v=value: add_route(app, k, v)))  # replaces in place
    return changes


def delete_route(app, key):
    if app.routes.get(*key) is not None:
        app.routes.delete(*key)


def add_route(app, key, value):
    via, blackhole, _ = value
    install_route(app, key[0], key[1], via, blackhole)


def prune_gateways(app):
    """Gateways no static route uses any more, never resolved: forgotten."""
    used = gateway_adjs(app)
    for neighbor in list(app.slow.neighbors.values()):
        if neighbor.state == "incomplete" and neighbor.adj and neighbor.adj not in used and not neighbor.queue:
            forget_neighbor(app, neighbor, used)


# ---- neighbours ------------------------------------------------------------------------

def neighbor_table(cfg):
    return {(n.interface, n.ip): packets.mac_bytes(n.macaddress) for n in cfg.neighbors}


def neighbor_changes(old, new, removals):
    before, after = neighbor_table(old), neighbor_table(new)
    if removals:
        return [Change(f"neighbor {ip} on {iface} removed", lambda app, k=(iface, ip): remove_neighbor(app, k))
                for (iface, ip) in before if (iface, ip) not in after]
    return [Change(f"neighbor {ip} on {iface} {'added' if (iface, ip) not in before else 'changed'} "
                   f"({packets.mac_text(mac)})", lambda app, k=(iface, ip), m=mac: set_neighbor(app, k, m))
            for (iface, ip), mac in after.items() if before.get((iface, ip)) != mac]


def _neighbor_key(app, key):
    iface, ip = key
    return app.iface_ids[iface], int_ip(ip)


def remove_neighbor(app, key):
    neighbor = app.slow.neighbors.get(_neighbor_key(app, key))
    if neighbor is not None:
        forget_neighbor(app, neighbor, gateway_adjs(app))


def set_neighbor(app, key, mac):
    iface, ip = _neighbor_key(app, key)
    existing = app.slow.neighbors.get((iface, ip))
    if existing is not None and existing.state != "static":
        app.slow.resolved(existing, mac, lib.vs_dp_clock(app.dp))  # releases what waited for ARP
    app.slow.add_static(iface, ip, mac)


# ---- addresses -------------------------------------------------------------------------

def address_changes(old, new):
    changes = []
    for name in new.iface_names():
        if name not in old.iface_names():
            continue   # a new port: port_additions installs its addresses
        before = [(int(a.ip), a.prefixlen) for a in old.interface(name).addresses]
        after = [(int(a.ip), a.prefixlen) for a in new.interface(name).addresses]
        if before == after:
            continue
        changes += [Change(f"address {ip_text(ip)}/{length} on {name} removed",
                           lambda app, n=name, a=(ip, length): drop_address(app, n, a))
                    for ip, length in before if (ip, length) not in after]
        changes += [Change(f"address {ip_text(ip)}/{length} on {name} added",
                           lambda app, n=name, a=(ip, length): add_address(app, n, a))
                    for ip, length in after if (ip, length) not in before]
        changes.append(Change(f"learned neighbours on {name} flushed",
                              lambda app, n=name: flush_neighbors(app, {app.iface_ids[n]})))
    return changes


def drop_address(app, name, address):
    ifc = app.l3[app.iface_ids[name]]
    remove_address(app, ifc, *address)
    ifc.addresses.remove(address)


def add_address(app, name, address):
    ifc = app.l3[app.iface_ids[name]]
    ifc.addresses.append(address)
    install_address(app, ifc, *address)


# ---- ports -----------------------------------------------------------------------------

def port_removals(old, new):
    return [Change(f"port {name} removed", lambda app, n=name: remove_port(app, n))
            for name in old.ports if name not in new.ports]


def port_additions(old, new):
    return [Change(f"port {name} added ({port.driver})", lambda app, p=port, cfg=new: add_port(app, p, cfg))
            for name, port in new.ports.items() if name not in old.ports]


def remove_port(app, name):
    if name in app.captures.running:
        app.captures.stop(name)
    pid = app.iface_ids[name]
    ifc = app.l3.get(pid)
    if ifc is not None:
        for address in ifc.addresses:
            remove_address(app, ifc, *address)
        flush_neighbors(app, {pid}, include_static=True)
        del app.l3[pid]
    check(lib.vs_port_remove(app.dp, pid))
    del app.iface_ids[name]
    for link_state in (app.link_ifindex, app.link_counts, app.link_reattach_failed):
        link_state.pop(name, None)
    app.worker_queues[:] = [[q for q in queues if q.rpartition(":")[0] != name] for queues in app.worker_queues]


def add_port(app, port, cfg):
    app.open_port(port)
    if port.addresses:
        ifc = app.add_router_interface(port.name, cfg)
        for address in ifc.addresses:
            install_address(app, ifc, *address)
    app.assign_queues(port)


# ---- bridges ---------------------------------------------------------------------------

def static_mac_changes(old, new):
    changes = []
    for name, bridge in new.bridges.items():
        before = {packets.mac_bytes(m): member for m, member in old.bridges[name].static_macs}
        after = {packets.mac_bytes(m): member for m, member in bridge.static_macs}
        gone = {mac: member for mac, member in before.items() if mac not in after}
        for mac, member in gone.items():
            changes.append(Change(f"static MAC {packets.mac_text(mac)} on {name} ({member}) removed",
                                  lambda app, b=name, m=member, keep=after: refill_member(app, b, m, keep)))
        for mac, member in after.items():
            if before.get(mac) != member:
                changes.append(Change(f"static MAC {packets.mac_text(mac)} on {name} ({member}) "
                                      f"{'added' if mac not in before else 'changed'}",
                                      lambda app, b=name, m=mac, i=member: add_static_mac(app, b, m, i)))
    return changes


def refill_member(app, bridge, member, keep):
    """No single-entry delete in the core: flush the member's entries
    (static ones too) and put back the statics it keeps."""
    bridge_iface, member_iface = app.iface_ids[bridge], app.iface_ids[member]
    lib.vs_mac_flush(app.dp, bridge_iface, member_iface, 1)
    for mac, other in keep.items():
        if other == member:
            check(lib.vs_mac_add_static(app.dp, bridge_iface, mac, member_iface))


def add_static_mac(app, bridge, mac, member):
    check(lib.vs_mac_add_static(app.dp, app.iface_ids[bridge], mac, app.iface_ids[member]))


def bridge_setting_changes(old, new):
    changes = []
    for name, bridge in new.bridges.items():
        was = old.bridges[name]
        if (was.mac_aging, was.mac_limit) == (bridge.mac_aging, bridge.mac_limit):
            continue
        changes.append(Change(f"bridge {name} mac_aging {bridge.mac_aging} mac_limit {bridge.mac_limit} "
                              f"(was {was.mac_aging}, {was.mac_limit})",
                              lambda app, b=bridge: check(lib.vs_bridge_set_aging(
                                  app.dp, app.iface_ids[b.name], b.mac_aging * NS, b.mac_limit))))
    return changes
