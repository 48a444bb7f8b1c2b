"""The `vswitch` command line (SPEC.md "Commands")."""
import argparse
import json
import os
import sys
import time

from vswitch import config, control

DEFAULT_SOCKET = "/run/vswitch/vswitch.sock"
TRACE_DEFAULT_COUNT = 10           # also the TUI's Trace screen's
TRACE_DEFAULT_TIMEOUT_S = 10.0
SHOW_TARGETS = ("ports", "port", "macs", "routes", "neighbors", "workers", "config", "events")
# `show port NAME`: the facts shown above its tables, in this order: (label, key)
PORT_FACTS = [("driver", "driver"), ("interface", "interface"), ("pci", "pci"), ("link", "link"),
              ("admin", "admin"), ("link speed (Mb/s)", "link_speed_mbps"), ("mtu", "mtu"), ("mac", "mac"),
              ("virtio features", "virtio_features")]
PORT_COUNTERS = ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_dropped", "tx_dropped",
                 "rx_errors", "tx_errors", "forwarded", "flooded", "punted")
QUEUE_COLUMNS = [("QUEUE", "queue"), ("WORKER", "worker"), ("RX PKTS", "rx_packets"), ("RX BYTES", "rx_bytes")]
# Columns of the human tables: (heading, key)
SHOW_COLUMNS = {
    "ports": [("PORT", "name"), ("DRIVER", "driver"), ("LINK", "link"), ("RX PKTS", "rx_packets"),
              ("RX BYTES", "rx_bytes"), ("TX PKTS", "tx_packets"), ("TX BYTES", "tx_bytes"),
              ("RX DROP", "rx_dropped"), ("TX DROP", "tx_dropped")],
    "macs": [("BRIDGE", "bridge"), ("MAC", "mac"), ("INTERFACE", "interface"), ("STATIC", "static"),
             ("AGE", "age")],
    "routes": [("TO", "to"), ("VIA", "via"), ("INTERFACE", "interface"), ("TYPE", "type")],
    "neighbors": [("IP", "ip"), ("MAC", "macaddress"), ("INTERFACE", "interface"), ("STATE", "state")],
    "workers": [("ID", "id"), ("CPU", "cpu"), ("RX QUEUES", "rx_queues"), ("PACKETS", "packets"),
                ("PPS", "packets_per_s"), ("BUSY %", "busy_percent"), ("CYCLES/PKT", "cycles_per_packet")],
}


def load_or_report(path):
    """The Config at path, or None after printing FILE:LINE:COL lines."""
    try:
        return config.load(path)
    except config.ConfigError as err:
        for issue in err.issues:
            print(issue, file=sys.stderr)
        return None


def cmd_validate(args):
    if load_or_report(args.config) is None:
        return 1
    print(f"{args.config}: valid")
    return 0


def cmd_run(args):
    from vswitch.appliance import Appliance, RunError
    from vswitch.pipeline import CoreError

    cfg = load_or_report(args.config)
    if cfg is None:
        return 1
    appliance = None
    try:
        appliance = Appliance(cfg, offline=args.until_idle)
        if args.until_idle:
            appliance.run_offline()
            if args.stats:
                appliance.print_stats(None, 0)
            if args.state_json:
                write_state(appliance, args.state_json)
        else:
            appliance.run_live(stats_interval=1.0 if args.stats else None, socket_path=args.socket)
    except (RunError, CoreError) as err:
        print(f"vswitch: {err}", file=sys.stderr)
        return 1
    finally:
        if appliance:
            appliance.close()
    return 0


def render_table(rows, columns):
    def cell(value):
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list):
            return ",".join(value) or "-"
        return str(value)
    grid = [[heading for heading, _ in columns]] + [[cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
    return "\n".join("  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in grid)


def show_text(what, data):
    if what == "config":
        return f"# {data['file']}\n{data['text']}"
    if what == "port":
        return port_text(data)
    if what == "events":
        return "\n".join(f"{time.strftime('%H:%M:%S', time.localtime(e['time']))} {e['kind']:<8} {e['message']}"
                         for e in data)
    text = render_table(data, SHOW_COLUMNS[what])
    if what == "ports":
        drops = [f"  {row['name']}: " + ", ".join(f"{k} {v}" for k, v in sorted(row["drops"].items()))
                 for row in data if row["drops"]]
        if drops:
            text += "\n\ndrops by reason:\n" + "\n".join(drops)
    return text


def port_text(data):
    def fact(value):
        return "-" if value is None else str(value)
    width = max(len(label) for label, _ in PORT_FACTS)
    lines = [f"port {data['name']}"] + [f"  {label:<{width}}  {fact(data[key])}" for label, key in PORT_FACTS]
    lines += ["", "counters:"] + [f"  {key:<{width}}  {data[key]}" for key in PORT_COUNTERS]
    lines += ["", "rx queues:", render_table(data["queues"], QUEUE_COLUMNS) if data["queues"] else "  (none polled)"]
    lines += ["", "drops by reason:"] + [f"  {reason:<24} {n}" for reason, n in data["drops"].items()]
    return "\n".join(lines)


def cmd_show(args):
    if (args.what == "port") != (args.name is not None):
        print("vswitch: `show port` takes a port name (vswitch show port NAME); the other tables take none",
              file=sys.stderr)
        return 2
    fields = {"name": args.name} if args.name is not None else {}
    try:
        data = control.request(args.socket, "show", what=args.what, **fields)
    except control.ControlError as err:
        print(f"vswitch: {err}", file=sys.stderr)
        return 1
    print(json.dumps(data, indent=1) if args.json else show_text(args.what, data))
    return 0


def _control(args, cmd, **fields):
    """One request; prints the reply's lines, or the error's (FILE:LINE:COL lines as they are)."""
    try:
        lines = control.request(args.socket, cmd, **fields)
    except control.ControlError as err:
        text = str(err)
        print(text if cmd == "reload" else f"vswitch: {text}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


def cmd_clear(args):
    return _control(args, "clear", what=args.what, name=args.name)


def cmd_port(args):
    return _control(args, "port", name=args.name, state=args.state)


def cmd_reload(args):
    return _control(args, "reload")


def cmd_capture(args):
    from vswitch.capture import follow

    path = os.path.abspath(args.write)   # the appliance does not share our working directory
    until = f" until {args.count} frames" if args.count else ""
    try:
        status = follow(lambda cmd, **f: control.request(args.socket, cmd, **f), args.port, args.count, path,
                        started=lambda _: print(f"capturing on {args.port} into {path}{until}; Ctrl-C stops",
                                                file=sys.stderr))
    except control.ControlError as err:
        print(f"vswitch: {err}", file=sys.stderr)
        return 1
    print(f"{status['written']} frames written to {status['file']}, "
          f"{status['dropped']} dropped (capture ring full)")
    if (status.get("outcome") or "").startswith("failed"):
        print(f"vswitch: capture {status['outcome']}", file=sys.stderr)
        return 1
    return 0


def cmd_trace(args):
    from vswitch.trace import collect, render_text

    try:
        status = collect(lambda cmd, **f: control.request(args.socket, cmd, **f), args.count, args.timeout,
                         armed=lambda _: print(f"tracing the next {args.count} packets (at most {args.timeout:g} s; "
                                               "Ctrl-C stops)", file=sys.stderr))
    except control.ControlError as err:
        print(f"vswitch: {err}", file=sys.stderr)
        return 1
    got = len(status["packets"])
    if args.json:
        print(json.dumps({k: status[k] for k in ("count", "lost", "packets")}, indent=1))
    else:
        print(render_text(status), end="")
    if got < args.count:
        lost = f", {status['lost']} not recorded (trace buffer full)" if status["lost"] else ""
        print(f"vswitch: {got} of {args.count} packets traced{lost}", file=sys.stderr)
    return 0 if got else 1


def cmd_tui(args):
    if args.interval <= 0:
        print("vswitch: --interval must be a positive number of seconds", file=sys.stderr)
        return 2
    from vswitch.tui import app
    return app.run(args.socket, args.interval)


def write_state(appliance, path):
    import json

    from vswitch import state
    with open(path, "w") as f:
        json.dump(state.snapshot(appliance), f, indent=1)


def add_socket_option(parser):
    parser.add_argument("--socket", metavar="P", default=DEFAULT_SOCKET,
                        help=f"control socket (default {DEFAULT_SOCKET})")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="vswitch",
        description="Software switch and IPv4 router with a C forwarding core.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the appliance in the foreground until SIGINT/SIGTERM",
                       description="Run the appliance. With --until-idle: offline mode, replaying every "
                                   "rx_pcap on the pcap clock, writing every tx_pcap, then exiting 0.")
    p.add_argument("config", metavar="CONFIG.yaml")
    p.add_argument("--until-idle", action="store_true",
                   help="offline mode: stop once every pcap input is consumed and every queue drained")
    p.add_argument("--stats", action="store_true", help="print port counters every second (at the end offline)")
    p.add_argument("--state-json", metavar="FILE",
                   help="offline mode: at the end, write ports, macs, routes and neighbors (the `show --json` "
                        "shapes) to FILE")
    p.add_argument("--socket", metavar="P", help="control socket (default: the config's control_socket)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("show", help="live state of the running appliance",
                       description="Live state from the running appliance: tables for people, --json for scripts.")
    p.add_argument("what", choices=SHOW_TARGETS)
    p.add_argument("name", nargs="?", metavar="NAME", help="port: the port to show in depth")
    p.add_argument("--json", action="store_true", help="print JSON (the shapes SPEC.md fixes)")
    add_socket_option(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("clear", help="reset counters, flush learned MACs or neighbours",
                       description="Reset port counters, flush learned MACs (static ones stay) or learned "
                                   "neighbours (static ones stay; gateways go back to incomplete), of everything "
                                   "or of one port/bridge/interface.")
    p.add_argument("what", choices=("counters", "macs", "neighbors"))
    p.add_argument("name", nargs="?", metavar="NAME",
                   help="counters: a port; macs: a bridge or one of its members; neighbors: a router interface")
    add_socket_option(p)
    p.set_defaults(func=cmd_clear)

    p = sub.add_parser("port", help="set a port administratively up or down",
                       description="down: nothing in or out, connected routes withdrawn, its learned MACs and "
                                   "neighbours flushed; up: routes restored, gratuitous ARP for its addresses.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("state", choices=("up", "down"))
    add_socket_option(p)
    p.set_defaults(func=cmd_port)

    p = sub.add_parser("reload", help="re-read the running appliance's config file and apply what changed",
                       description="Re-read the config file the appliance was started with, print what "
                                   "changed; exit 1 with the errors if the new config is refused (the old one "
                                   "keeps running). SIGHUP to `vswitch run` does the same.")
    add_socket_option(p)
    p.set_defaults(func=cmd_reload)

    p = sub.add_parser("capture", help="copy what a port receives and sends into a pcap file",
                       description="Copy every frame a port receives (as received) and sends (as sent) into a "
                                   "pcap file while the appliance runs, until N frames are written or Ctrl-C. "
                                   "Frames the capture buffer had no room for are counted as dropped.")
    p.add_argument("port", metavar="PORT")
    p.add_argument("-c", dest="count", type=int, default=0, metavar="N", help="stop after N frames (default: Ctrl-C)")
    p.add_argument("-w", dest="write", required=True, metavar="FILE.pcap", help="the pcap file to write")
    add_socket_option(p)
    p.set_defaults(func=cmd_capture)

    p = sub.add_parser("trace", help="the next N packets' path through the pipeline, every decision named",
                       description="Record the path of the next N packets the appliance receives: classification, "
                                   "MAC learning and lookup, route, next hop, rewrite, where each copy went or "
                                   "why it was dropped.")
    p.add_argument("-c", dest="count", type=int, default=TRACE_DEFAULT_COUNT, metavar="N",
                   help=f"packets to trace (default {TRACE_DEFAULT_COUNT})")
    p.add_argument("--timeout", type=float, default=TRACE_DEFAULT_TIMEOUT_S, metavar="S",
                   help=f"stop waiting after S seconds (default {TRACE_DEFAULT_TIMEOUT_S:g})")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_socket_option(p)
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("tui", help="the terminal UI attached to a running appliance",
                       description="Live ports, MACs, routes, neighbours, workers, config (with reload) and "
                                   "events of the running appliance, trace and capture; ? lists the keys.")
    add_socket_option(p)
    p.add_argument("--interval", metavar="S", type=float, default=1.0, help="refresh every S seconds (default 1)")
    p.set_defaults(func=cmd_tui)

    p = sub.add_parser("validate", help="check a config file without running it",
                       description="Check a config: exit 0 if valid, else 1 with FILE:LINE:COL: message lines.")
    p.add_argument("config", metavar="CONFIG.yaml")
    p.set_defaults(func=cmd_validate)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)
