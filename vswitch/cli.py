"""The `vswitch` command line (SPEC.md "Commands")."""
import argparse
import sys

from vswitch import config


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
    try:
        appliance = Appliance(cfg, offline=args.until_idle)
    except (RunError, CoreError) as err:
        print(f"vswitch: {err}", file=sys.stderr)
        return 1
    try:
        if args.until_idle:
            appliance.run_offline()
            if args.stats:
                appliance.print_stats(None, 0)
            if args.state_json:
                write_state(appliance, args.state_json)
        else:
            appliance.run_live(stats_interval=1.0 if args.stats else None)
    finally:
        appliance.close()
    return 0


def write_state(appliance, path):
    import json

    from vswitch import state
    with open(path, "w") as f:
        json.dump(state.snapshot(appliance), f, indent=1)


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
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check a config file without running it",
                       description="Check a config: exit 0 if valid, else 1 with FILE:LINE:COL: message lines.")
    p.add_argument("config", metavar="CONFIG.yaml")
    p.set_defaults(func=cmd_validate)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)
