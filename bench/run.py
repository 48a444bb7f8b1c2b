"""`make bench`: vswitch beside DPDK (testpmd, l3fwd) and Open vSwitch-DPDK.

Runs every case, prints one table (Mpps per core, cycles per packet, the
peer's figure beside ours and the ratio against the target) and writes
bench/results.json.

    .venv/bin/python bench/run.py                 # everything (~3 minutes once the inputs are cached)
    .venv/bin/python bench/run.py --quick         # a short smoke run
    .venv/bin/python bench/run.py --only l3-1k,ovs
    .venv/bin/python bench/run.py --seconds 10

--only takes case names (testpmd, l2-1k, l2-64k, l3-1k, l3-10k, l3-10k-1m,
l3-1m) and/or the groups vswitch, peers, testpmd, l3fwd, ovs, and `kernel`:
kernel-attached ports (af_xdp, af_packet) between namespaces beside Linux's
own forwarding (bench/kernel_ports.py; needs root).
"""
import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import gen             # noqa: E402
import kernel_ports    # noqa: E402
import peers           # noqa: E402
import vswitch_bench   # noqa: E402

BIG_FRAMES = 1 << 20   # >= 1,000,000 distinct destinations: lookups miss the caches

# name, title, kind, parameters, peer
CASES = [
    ("testpmd", "DPDK testpmd io, pcap->null (ceiling)", "peer-only", {}, "testpmd"),
    ("l2-1k", "L2 bridging, 1k MACs", "l2", {"macs": 1024}, "ovs"),
    ("l2-64k", "L2 bridging, 64k MACs", "l2", {"macs": 65536}, None),
    ("l3-1k", "L3 1k routes (4k dsts)", "l3", {"routes": 1000, "frames": gen.PEER_FRAMES}, "l3fwd-lpm"),
    ("l3-10k", "L3 10k routes (4k dsts)", "l3", {"routes": 10000, "frames": gen.PEER_FRAMES}, "l3fwd-fib"),
    ("l3-10k-1m", "L3 10k routes (1M dsts)", "l3", {"routes": 10000, "frames": BIG_FRAMES, "distinct": True}, None),
    ("l3-1m", "L3 1M routes (1M dsts)", "l3", {"routes": 1000000, "frames": BIG_FRAMES, "distinct": True}, None),
]
PEER_TITLES = {"testpmd": "testpmd io", "ovs": "OVS-DPDK NORMAL", "l3fwd-lpm": "l3fwd LPM", "l3fwd-fib": "l3fwd FIB"}
TARGETS = {"l2-1k": ("ovs", 2.0), "l3-1k": ("l3fwd-lpm", 1.0), "l3-10k": ("l3fwd-fib", 1.0)}
SCALING_TARGET = 1.9
FULL_TABLE_TARGET = 0.85


def log(msg):
    print(msg, flush=True)


def machine():
    info = {"python": platform.python_version(), "kernel": platform.release(), "cpus": os.cpu_count()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "Hypervisor vendor", "Core(s) per socket", "Socket(s)", "L3 cache"):
                info[key.strip()] = value.strip()
    except OSError:
        pass
    try:
        with open("/etc/debian_version") as f:
            info["debian"] = f.read().strip()
    except OSError:
        pass
    try:
        info["vswitch_commit"] = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                                capture_output=True, text=True).stdout.strip() or None
    except OSError:
        info["vswitch_commit"] = None
    hz = peers.tsc_hz()
    info["cpu_mhz"] = round(hz / 1e6, 1) if hz else None
    info["dpdk"] = peers.dpdk_version()
    info["ovs"] = peers.ovs_version()
    return info


def selected(only):
    """The set of (case name, "vswitch" | "peer") to run, from --only."""
    everything = ({(c[0], "vswitch") for c in CASES if c[2] != "peer-only"} | {(c[0], "peer") for c in CASES if c[4]}
                  | {("kernel", "kernel")})
    if not only:
        return everything
    chosen = set()
    for word in (w.strip() for w in only.split(",")):
        if word == "kernel":
            chosen.add(("kernel", "kernel"))
        elif word == "vswitch":
            chosen |= {x for x in everything if x[1] == "vswitch"}
        elif word == "peers":
            chosen |= {x for x in everything if x[1] == "peer"}
        elif word in ("l3fwd", "ovs"):
            chosen |= {(c[0], "peer") for c in CASES if c[4] and c[4].split("-")[0] == word}
        elif any(c[0] == word for c in CASES):
            chosen |= {x for x in everything if x[0] == word}
        else:
            raise SystemExit(f"bench/run.py: unknown --only name {word!r} (cases: "
                             f"{', '.join(c[0] for c in CASES)}; groups: vswitch, peers, l3fwd, ovs, kernel)")
    return chosen


def run_peer(peer, params, seconds, warmup):
    if peer == "testpmd":
        return peers.testpmd(gen.l3_pcap(1000, gen.PEER_FRAMES), seconds, warmup, log=log)
    if peer == "ovs":
        a, b = gen.l2_pcaps(params["macs"])
        return peers.ovs_l2(a, b, seconds, warmup + 3, log=log)   # 8k megaflows to install first
    lookup = peer.split("-")[1]
    routes = gen.route_files(params["routes"])
    pcap = gen.l3_pcap(params["routes"], params["frames"])
    return peers.l3fwd(lookup, pcap, routes["l3fwd_v4"], routes["l3fwd_v6"], seconds, warmup, log=log)


def run_ours(kind, params, workers, seconds):
    if kind == "l2":
        return vswitch_bench.bench_l2(params["macs"], workers, seconds, log=log)
    return vswitch_bench.bench_l3(params["routes"], params["frames"], workers, seconds,
                                  distinct=params.get("distinct", False), log=log)


def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 s per case, 1 worker, no 1M-route table, no 64k MACs")
    parser.add_argument("--only", help="comma-separated case names or groups (see the module doc)")
    parser.add_argument("--seconds", type=int, help="seconds sampled per run (default 5, --quick 2)")
    parser.add_argument("--workers", default=None, help="worker counts to run, e.g. 1,2 (default 1,2; --quick 1)")
    parser.add_argument("--no-install", action="store_true", help="do not apt-get install missing peer packages")
    parser.add_argument("--output", default=os.path.join(HERE, "results.json"))
    parser.add_argument("--markdown", metavar="FILE", default=os.path.join(HERE, "build", "last-run.md"),
                        help="where to write the table and the machine as Markdown (default bench/build/last-run.md)")
    args = parser.parse_args(argv)

    def terminate(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")     # so every cleanup (hugepages, peers) runs
    signal.signal(signal.SIGTERM, terminate)
    seconds = args.seconds or (2 if args.quick else 5)
    warmup = 1.0 if args.quick else 2.0
    worker_counts = [int(w) for w in (args.workers or ("1" if args.quick else "1,2")).split(",")]
    chosen = selected(args.only)
    if args.quick:
        chosen = {x for x in chosen if x[0] not in ("l3-1m", "l3-10k-1m", "l2-64k")}
    started = time.time()
    command = " ".join(["make bench"] if argv is None and os.environ.get("MAKELEVEL") else
                       [os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(ROOT) else "python3",
                        "bench/run.py", *(sys.argv[1:] if argv is None else argv)])

    if not os.path.exists(vswitch_bench.VSWITCH) and any(who == "vswitch" for _, who in chosen):
        raise SystemExit(f"{vswitch_bench.VSWITCH} missing: run `make bench` (it sets up the venv first)")

    peer_problem = None
    if any(who == "peer" for _, who in chosen):
        peer_problem = None if args.no_install else peers.ensure_packages(log=log)
    info = machine()
    info["loadavg_start"] = os.getloadavg()
    log(f"machine: {info.get('Model name')}, {info['cpus']} CPUs, kernel {info['kernel']}, Debian "
        f"{info.get('debian')}, DPDK {info['dpdk']}, OVS {info['ovs']}; load average "
        f"{' '.join(f'{x:.2f}' for x in info['loadavg_start'])}")
    log(f"{seconds} s sampled per run after {warmup:.0f} s warm-up; workers: {worker_counts}")
    log("generating inputs (cached in bench/build) ...")
    t0 = time.monotonic()
    for name, _, kind, params, _ in CASES:
        if (name, "vswitch") in chosen or (name, "peer") in chosen:
            if kind == "l2":
                gen.l2_pcaps(params["macs"])
            elif kind == "l3":
                gen.route_files(params["routes"])
                gen.l3_pcap(params["routes"], params["frames"], distinct=params.get("distinct", False))
    log(f"  inputs ready in {time.monotonic() - t0:.1f} s")

    results = {"machine": info, "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
               "command": command, "seconds": seconds, "warmup_s": warmup, "cases": {}}
    hz = peers.tsc_hz()

    for name, title, kind, params, peer in CASES:
        run_vs = (name, "vswitch") in chosen
        run_pr = (name, "peer") in chosen
        if not run_vs and not run_pr:
            continue
        case = {"title": title, "params": params, "vswitch": {}, "peer": None}
        results["cases"][name] = case
        if run_vs:
            for workers in worker_counts[:1]:
                case["vswitch"][workers] = _ours(kind, params, workers, seconds, title)
        if run_pr:
            log(f"[{title}] {PEER_TITLES[peer]} ...")
            if peer_problem:
                case["peer"] = {"name": peer, "unavailable": peer_problem}
            else:
                try:
                    r = run_peer(peer, params, seconds, warmup)
                    r["name"] = peer
                    if hz:
                        r["cycles_per_packet_hz"] = hz / (r["mpps"] * 1e6)
                    case["peer"] = r
                    log(f"  {r['mpps']:.2f} Mpps (samples {r['samples_mpps']})")
                except peers.Unavailable as err:
                    case["peer"] = {"name": peer, "unavailable": str(err)}
                    log(f"  n/a: {err}")
                except Exception as err:  # a broken peer must not lose the rest of the run
                    case["peer"] = {"name": peer, "unavailable": f"{type(err).__name__}: {err}"}
                    log(f"  n/a: {type(err).__name__}: {err}")
                    traceback.print_exc()
        if run_vs:
            for workers in worker_counts[1:]:
                case["vswitch"][workers] = _ours(kind, params, workers, seconds, title)

    if ("kernel", "kernel") in chosen:
        log("kernel-attached ports between namespaces (bench/kernel_ports.py) ...")
        try:
            results["kernel"] = kernel_ports.run_all(seconds, warmup, gen.BUILD, log=log)
        except (kernel_ports.Unavailable, kernel_ports.netlab.Unavailable) as err:
            results["kernel"] = {"unavailable": str(err)}
            log(f"  n/a: {err}")

    info["loadavg_end"] = os.getloadavg()
    results["elapsed_s"] = round(time.time() - started, 1)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=1, default=str)
    parts = [table(results, worker_counts, hz)] if results["cases"] else []
    if "unavailable" not in results.get("kernel", {"unavailable": ""}):
        parts.append(kernel_ports.table(results["kernel"]))
    text = "\n\n".join(parts)
    log("")
    log(text)
    log("")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(results, text))
        log(f"markdown: {os.path.relpath(args.markdown, os.getcwd())}")
    log(f"results: {os.path.relpath(args.output, os.getcwd())}; {results['elapsed_s']:.0f} s in all; "
        f"load average at the end {' '.join(f'{x:.2f}' for x in info['loadavg_end'])}")
    return 0


def markdown(results, text):
    m = results["machine"]
    return "\n".join([
        f"- date: {results['date']}",
        f"- command: `{results['command']}` ({results['elapsed_s']:.0f} s)",
        f"- machine: {m.get('Model name')} ({m.get('Hypervisor vendor', 'bare metal')} guest), {m['cpus']} CPUs "
        f"at {m.get('cpu_mhz')} MHz, kernel {m['kernel']}, Debian {m.get('debian')}, Python {m['python']}",
        f"- vswitch: commit {m.get('vswitch_commit')}; peers: DPDK {m.get('dpdk')}, Open vSwitch {m.get('ovs')}",
        f"- load average (1/5/15 min) at the start {' '.join(f'{x:.2f}' for x in m['loadavg_start'])}, at the end "
        f"{' '.join(f'{x:.2f}' for x in m['loadavg_end'])}",
        f"- {results['seconds']} s sampled per run after {results['warmup_s']:.0f} s of warm-up",
        "", "```", text, "```", ""])


def _ours(kind, params, workers, seconds, title):
    log(f"[{title}] vswitch, {workers} worker(s) ...")
    try:
        r = run_ours(kind, params, workers, seconds)
    except vswitch_bench.BenchError as err:
        log(f"  FAILED: {err}")
        return {"error": str(err)}
    except Exception as err:
        log(f"  FAILED: {type(err).__name__}: {err}")
        traceback.print_exc()
        return {"error": f"{type(err).__name__}: {err}"}
    s = r["summary"]
    per = ", ".join(f"w{i}@cpu{w['cpu']} {w['mpps']:.2f} Mpps {w['cycles_per_packet']:.0f} cyc {w['busy_percent']:.0f}%"
                    for i, w in enumerate(r["workers"]))
    log(f"  {s['mpps_total']:.2f} Mpps ({per}); loaded in {r['load_s']} s; forwarded {s['tx_packets']} of "
        f"{s['rx_packets']} received" + (f"; DROPS {s['drops']}" if s["dropped"] or s["drops"] else ""))
    r.pop("samples", None)
    return r


def _ratio_cell(norm, raw, target, label=""):
    """'1.23x (raw 1.10x)  >= 1.0x MET' style cells; the target is judged on the normalized ratio."""
    if norm is None and raw is None:
        return "", ""
    judged = norm if norm is not None else raw
    cell = f"{judged:.2f}x" + (f" (raw {raw:.2f}x)" if norm is not None and raw is not None else "")
    return cell, f">= {target:g}x{label} " + ("MET" if judged >= target else "missed")


def table(results, worker_counts, hz):
    head = ["case", "wk", "Mpps/core", "cpu%", "Mpps/cpu-s", "cyc/pkt", "fwd", "peer", "Mpps", "cpu%",
            "Mpps/cpu-s", "cyc/pkt", "ratio", "target"]
    left = {0, 7, 12, 13}
    rows = []
    cases = results["cases"]
    notes = []

    def ours(name, workers):
        r = cases.get(name, {}).get("vswitch", {}).get(workers)
        return r["summary"] if r and "summary" in r else None

    def div(a, b):
        return a / b if a is not None and b else None

    for name, title, kind, params, peer in CASES:
        case = cases.get(name)
        if not case:
            continue
        p = case.get("peer")
        if p and "unavailable" in p:
            peer_cells = [PEER_TITLES[p["name"]], "n/a", "", "", ""]
            notes.append(f"{PEER_TITLES[p['name']]}: n/a ({p['unavailable']})")
        elif p:
            peer_cells = [PEER_TITLES[p["name"]], fmt(p["mpps"]), fmt(100 * p["cpu"]["cpu_share"], 0),
                          fmt(p.get("mpps_per_cpu")), fmt(p.get("cycles_per_packet_cpu"), 0)]
            if p.get("pmd_cycles_per_packet"):
                notes.append(f"{PEER_TITLES[p['name']]}: its own pmd-stats say {p['pmd_cycles_per_packet']:.0f} "
                             f"processing cycles per packet")
        else:
            peer_cells = [""] * 5
        if kind == "peer-only":
            rows.append([title, "1", "", "", "", "", "", *peer_cells, "", ""])
            continue
        for workers in worker_counts:
            r = case["vswitch"].get(workers)
            if r is None:
                continue
            cells = peer_cells if workers == worker_counts[0] else [""] * 5
            if "error" in r:
                rows.append([title, str(workers), "FAILED", "", "", "", "", *cells, "", ""])
                notes.append(f"{title}, {workers} worker(s) FAILED: {r['error'][:400]}")
                continue
            s = r["summary"]
            fwd = "ok" if s["forwarded_ratio"] > 0.99 and not s["drops"] else f"{100 * s['forwarded_ratio']:.0f}%"
            if s["drops"]:
                notes.append(f"{title}, {workers} worker(s): drops {s['drops']}")
            ratio = target = ""
            if workers == 1 and name in TARGETS and p and "mpps" in p:
                ratio, target = _ratio_cell(div(s["mpps_per_cpu"], p.get("mpps_per_cpu")),
                                            div(s["mpps_per_core"], p["mpps"]), TARGETS[name][1])
            elif workers == 1 and name == "l3-1m":
                base = ours("l3-10k-1m", 1)
                if base:
                    ratio, target = _ratio_cell(div(s["mpps_per_cpu"], base["mpps_per_cpu"]),
                                                div(s["mpps_per_core"], base["mpps_per_core"]), FULL_TABLE_TARGET,
                                                " of 10k")
                base4k = ours("l3-10k", 1)
                if base4k:
                    notes.append(f"1M routes against 10k routes with the 4k-destination pcap: "
                                 f"{div(s['mpps_per_cpu'], base4k['mpps_per_cpu']):.2f}x per CPU-second, "
                                 f"{div(s['mpps_per_core'], base4k['mpps_per_core']):.2f}x raw")
            elif workers > 1:
                one = ours(name, 1)
                if one:
                    norm = div(s["mpps_per_cpu"], one["mpps_per_cpu"])
                    ratio, target = _ratio_cell(norm * workers if norm else None,
                                                div(s["mpps_total"], one["mpps_total"]), SCALING_TARGET, " of 1")
            rows.append([title, str(workers), fmt(s["mpps_per_core"]), fmt(100 * s["cpu_share"], 0),
                         fmt(s["mpps_per_cpu"]), fmt(s["cycles_per_packet_cpu"], 0), fwd, *cells, ratio, target])
    testpmd = cases.get("testpmd", {}).get("peer")
    l3 = ours("l3-1k", 1)
    if testpmd and "mpps" in testpmd and l3 and testpmd.get("mpps_per_cpu"):
        notes.append(f"vswitch L3 1k routes at {l3['mpps_per_cpu'] / testpmd['mpps_per_cpu']:.2f}x of the "
                     f"testpmd io ceiling per CPU-second")
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) if i in left else str(c).rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths))).rstrip() for row in [head] + rows]
    lines.insert(1, "-" * max(len(x) for x in lines))
    legend = [
        "Mpps/core: median of the per-second rate (vswitch: `show workers` packets_per_s per worker; peers: the TX",
        "  port's counter). cpu%: share of its core the forwarding thread really got over the window (its own",
        "  utime+stime; below 100% when other work shares the machine). Mpps/cpu-s: packets per CPU-second of",
        "  the forwarding threads; cyc/pkt: core Hz x CPU-seconds / packets. Ratios and targets use the",
        "  per-CPU-second figures (raw wall-clock ratio beside); 2-worker rows: total against 1 worker.",
        "  fwd: frames sent / frames received over the window, no drops.",
    ]
    if hz:
        legend.append(f"  Core clock {hz / 1e9:.2f} GHz.")
    if os.cpu_count() <= 2 and max(worker_counts) >= 2:
        legend.append("  With 2 workers on this 2-core machine the control plane and the sampler share a core "
                      "with worker 0.")
    return "\n".join(lines + [""] + legend + ([""] + [f"note: {n}" for n in notes] if notes else []))


if __name__ == "__main__":
    sys.exit(main())
