"""Measure vswitch itself: write a config into a temp dir, run the appliance
live, read `show workers` (the JSON of `vswitch show workers --json`, asked
over the control socket with the project's own client) once a second, stop
it with SIGINT.

L3: a looping pcap port `in` (frames to its MAC) routes into a null port
`out`, whose next hops are static neighbours.  L2: a bridge of two looping
pcap ports `a` and `b` without tx files (what they are sent is counted and
freed, like a null port): each side's frames go to MACs that are sources on
the other side, so once the first pass has taught every MAC, every lookup
hits and forwards to the other member.  (A bridge of one pcap port and a
null port cannot measure hits: every MAC would be learned on the pcap port,
the port the frames arrive on, and a learning bridge drops those.)
"""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

import cpu
import gen

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
try:
    from vswitch import control as _control      # run.py runs under the project's venv
except ImportError:
    _control = None
VSWITCH = os.path.join(ROOT, ".venv", "bin", "vswitch")
READY_TIMEOUT_S = 300       # a million routes take a while to load


class BenchError(Exception):
    pass


def _quote(value):
    return json.dumps(value)        # a JSON string is a valid YAML string


def l3_config(pcap, route_file, workers, sock):
    hops = "\n".join(f"  - {{ip: {ip}, macaddress: {_quote(mac)}, interface: out}}" for ip, mac in gen.NEXT_HOPS)
    return f"""version: 1
workers: {workers}
control_socket: {_quote(sock)}
ports:
  in: {{driver: pcap, rx_pcap: {_quote(pcap)}, loop: true, addresses: [{gen.INGRESS_ADDR}],
        macaddress: {_quote(gen.ROUTER_MAC)}}}
  out: {{driver: "null", addresses: [{gen.EGRESS_ADDR}], macaddress: {_quote(gen.EGRESS_MAC)}}}
route_files:
  - {_quote(route_file)}
neighbors:
{hops}
"""


def l2_config(pcap_a, pcap_b, workers, sock, mac_limit):
    return f"""version: 1
workers: {workers}
control_socket: {_quote(sock)}
ports:
  a: {{driver: pcap, rx_pcap: {_quote(pcap_a)}, loop: true}}
  b: {{driver: pcap, rx_pcap: {_quote(pcap_b)}, loop: true}}
bridges:
  br:
    interfaces: [a, b]
    mac_limit: {mac_limit}
"""


def _cli(args, sock, timeout=20):
    """`vswitch ARGS --socket SOCK`, run on CPU 0 (the control plane's CPU)."""
    def pin():
        try:
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        except OSError:
            pass
    return subprocess.run([VSWITCH, *args, "--socket", sock], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=pin)


def diagnose(pid, why):
    """Write the threads' states and C stacks of a vswitch that stopped answering to bench/build/."""
    path = os.path.join(gen.BUILD, f"vswitch-unresponsive-{time.strftime('%Y%m%d-%H%M%S')}.txt")
    lines = [why, ""]
    for tid in sorted(os.listdir(f"/proc/{pid}/task")):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/task/{tid}/wchan") as f:
                wchan = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        lines.append(f"thread {tid}: state {fields[0]}, cpu {fields[36]}, utime {fields[11]}, stime {fields[12]}, "
                     f"wchan {wchan or '-'}")
    if shutil.which("gdb"):
        try:
            r = subprocess.run(["gdb", "-batch", "-p", str(pid), "-ex", "thread apply all bt 30"],
                               capture_output=True, text=True, timeout=120)
            lines += ["", r.stdout[-20000:]]
        except subprocess.TimeoutExpired:
            lines.append("gdb timed out")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _request(what, sock, timeout):
    """`vswitch show WHAT --json` through the control socket.  In-process with
    the project's own client when it imports (a new CLI process per sample
    can take seconds just to start on a loaded machine); else the CLI."""
    if _control is not None:
        old = _control.CLIENT_TIMEOUT_S
        _control.CLIENT_TIMEOUT_S = timeout
        try:
            return _control.request(sock, "show", what=what)
        except (TimeoutError, socket.timeout):
            raise subprocess.TimeoutExpired(f"show {what}", timeout) from None
        except _control.ControlError as err:
            raise BenchError(f"vswitch show {what}: {err}") from None
        finally:
            _control.CLIENT_TIMEOUT_S = old
    r = _cli(["show", what, "--json"], sock, timeout=timeout)
    if r.returncode != 0:
        raise BenchError(f"vswitch show {what}: {r.stderr.strip() or r.stdout.strip()}")
    return json.loads(r.stdout)


def show(what, sock, pid=None, log=print):
    try:
        return _request(what, sock, 20)
    except subprocess.TimeoutExpired:
        if pid is None:
            raise
        where = diagnose(pid, f"`vswitch show {what}` got no answer within 20 s")
        log(f"  `vswitch show {what}` got no answer within 20 s; threads and stacks in "
            f"{os.path.relpath(where, ROOT)}; asking again (60 s)")
        try:
            return _request(what, sock, 60)
        except subprocess.TimeoutExpired:
            raise BenchError(f"vswitch stopped answering its control socket (`show {what}`); see "
                             f"{os.path.relpath(where, ROOT)}") from None


def _port_totals(ports):
    return {p["name"]: {k: p[k] for k in ("rx_packets", "tx_packets", "rx_dropped", "tx_dropped")} | {
        "drops": dict(p.get("drops") or {})} for p in ports}


def run_config(text, workers, seconds, warmup=2.0, log=print, keep_dir=False):
    """Run one config; returns {"workers": [{"mpps", "cycles_per_packet", "busy_percent"} medians],
    "ports": {name: deltas over the sampling window}, "load_s": ..., "samples": [...]}"""
    tmp = tempfile.mkdtemp(prefix="vswitch-bench-")
    sock = os.path.join(tmp, "vswitch.sock")
    text = text.replace("__SOCK__", sock)
    cfg = os.path.join(tmp, "bench.yaml")
    with open(cfg, "w") as f:
        f.write(text)
    errlog = open(os.path.join(tmp, "vswitch.log"), "w+")
    started = time.monotonic()
    proc = subprocess.Popen([VSWITCH, "run", cfg, "--socket", sock], stdout=errlog, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        # ready: the control socket answers
        while True:
            if proc.poll() is not None:
                errlog.seek(0)
                raise BenchError(f"vswitch run exited with {proc.returncode}: {errlog.read().strip()[-2000:]}")
            if os.path.exists(sock):
                try:
                    _request("workers", sock, 20)
                    break
                except (subprocess.TimeoutExpired, BenchError, OSError):
                    pass
            if time.monotonic() - started > READY_TIMEOUT_S:
                raise BenchError(f"vswitch did not answer on {sock} within {READY_TIMEOUT_S} s")
            time.sleep(0.25)
        load_s = time.monotonic() - started
        time.sleep(warmup)
        before = _port_totals(show("ports", sock, proc.pid, log))
        meter = cpu.Meter(proc.pid, n=workers)
        meter.start()
        samples = []
        next_at = time.monotonic()
        for _ in range(seconds):
            next_at += 1.0
            time.sleep(max(0.0, next_at - time.monotonic()))
            samples.append(show("workers", sock, proc.pid, log))
        after = _port_totals(show("ports", sock, proc.pid, log))
        used = meter.stop()
        if proc.poll() is not None:
            raise BenchError(f"vswitch run exited with {proc.returncode} during the measurement")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log(f"  vswitch (pid {proc.pid}) did not stop on SIGINT within 30 s; killing it")
                proc.kill()
                proc.wait()
        errlog.close()
        if not keep_dir:
            shutil.rmtree(tmp, ignore_errors=True)
    n_workers = len(samples[0])
    per_worker = []
    for w in range(n_workers):
        rows = [s[w] for s in samples]
        per_worker.append({
            "cpu": rows[0].get("cpu"),
            "mpps": statistics.median(r["packets_per_s"] for r in rows) / 1e6,
            "cycles_per_packet": statistics.median(r["cycles_per_packet"] for r in rows),
            "busy_percent": statistics.median(r["busy_percent"] for r in rows),
        })
    ports = {}
    for name, a in after.items():
        b = before[name]
        drops = {k: v - b["drops"].get(k, 0) for k, v in a["drops"].items() if v - b["drops"].get(k, 0)}
        ports[name] = {k: a[k] - b[k] for k in ("rx_packets", "tx_packets", "rx_dropped", "tx_dropped")}
        ports[name]["drops"] = drops
    return {"workers": per_worker, "ports": ports, "load_s": round(load_s, 1), "seconds": seconds,
            "exit_code": proc.returncode, "samples": samples, "cpu": used}


def summarize(result, tx_ports):
    """Totals and the forwarding check of one run."""
    workers = result["workers"]
    total = sum(w["mpps"] for w in workers)
    rx = sum(p["rx_packets"] for p in result["ports"].values())
    tx = sum(result["ports"][name]["tx_packets"] for name in tx_ports)
    dropped = sum(p["rx_dropped"] + p["tx_dropped"] for p in result["ports"].values())
    drops = {}
    for p in result["ports"].values():
        for k, v in p["drops"].items():
            drops[k] = drops.get(k, 0) + v
    return {
        **cpu.normalized(tx, result["cpu"], cpu.core_hz()),
        "cpu_share": result["cpu"]["cpu_share"],
        "mpps_total": total,
        "mpps_per_core": total / len(workers),
        "cycles_per_packet": statistics.mean(w["cycles_per_packet"] for w in workers),
        "busy_percent": statistics.mean(w["busy_percent"] for w in workers),
        "rx_packets": rx, "tx_packets": tx, "dropped": dropped, "drops": drops,
        "forwarded_ratio": tx / rx if rx else 0.0,
    }


def bench_l3(route_count, frames, workers, seconds, distinct=False, log=print):
    routes = gen.route_files(route_count)
    pcap = gen.l3_pcap(route_count, frames, distinct=distinct)
    result = run_config(l3_config(pcap, routes["vswitch"], workers, "__SOCK__"), workers, seconds, log=log)
    result["summary"] = summarize(result, ["out"])
    result["input"] = {"pcap": os.path.relpath(pcap, ROOT), "routes": os.path.relpath(routes["vswitch"], ROOT)}
    return result


def bench_l2(mac_count, workers, seconds, log=print):
    a, b = gen.l2_pcaps(mac_count)
    result = run_config(l2_config(a, b, workers, "__SOCK__", max(65536, 2 * mac_count)), workers, seconds,
                        log=log)
    result["summary"] = summarize(result, ["a", "b"])
    result["input"] = {"pcap": [os.path.relpath(p, ROOT) for p in (a, b)]}
    return result
