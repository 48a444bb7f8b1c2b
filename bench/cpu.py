"""CPU time actually given to the forwarding threads of a process.

On a small machine shared with other work, a polling thread does not get its
whole core: Mpps measured over wall-clock time then says as much about the
neighbours as about the forwarder.  Reading the threads' own CPU time
(/proc/PID/task/TID/stat, utime + stime) over the same window gives the
share of the core each one got, and packets per CPU-second, which compares
forwarders fairly when the machine is not idle.
"""
import os
import time

TICK = os.sysconf("SC_CLK_TCK")


def core_hz():
    """The core clock as the kernel reports it (under KVM: the TSC frequency)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) * 1e6
    except OSError:
        pass
    return None


def thread_times(pid):
    """{tid: (name, cpu seconds)} of every thread of pid."""
    out = {}
    base = f"/proc/{pid}/task"
    try:
        tids = os.listdir(base)
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"{base}/{tid}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / TICK)
    return out


class Meter:
    """CPU seconds of a process's busiest `n` threads between start() and stop()."""

    def __init__(self, pid, n=1):
        self.pid = pid
        self.n = n
        self.begin = None

    def start(self):
        self.t0 = time.monotonic()
        self.begin = thread_times(self.pid)

    def stop(self):
        wall = time.monotonic() - self.t0
        end = thread_times(self.pid)
        used = sorted(((end[t][1] - self.begin.get(t, ("", 0.0))[1], end[t][0], t) for t in end), reverse=True)
        top = used[:self.n]
        cpu_s = sum(u for u, _, _ in top)
        return {"wall_s": wall, "cpu_s": cpu_s, "cpu_share": cpu_s / wall / self.n if wall else 0.0,
                "threads": [{"tid": t, "name": name, "cpu_s": round(u, 2)} for u, name, t in top]}


def normalized(packets, meter_result, hz):
    """Mpps per CPU-second and cycles per packet of CPU time actually used."""
    cpu_s = meter_result["cpu_s"]
    if not packets or not cpu_s:
        return {"mpps_per_cpu": None, "cycles_per_packet_cpu": None}
    return {"mpps_per_cpu": packets / cpu_s / 1e6, "cycles_per_packet_cpu": hz * cpu_s / packets if hz else None}
