"""The TUI's data source: polls the control socket (the same requests
`vswitch show --json` makes) and turns counters into rates.

Called from Textual thread workers, never from the UI thread: every call
opens a connection and may wait on the appliance.  Each request is its own
connection, so an appliance that restarts is picked up by the next poll;
counters that go backwards (a restart, `vswitch clear counters`) restart
the rates instead of showing negative ones.
"""
import collections
import time

from vswitch import control

SPARK_POINTS = 24           # samples of rx/tx rate kept per port for its sparkline
TABLES = ("ports", "macs", "routes", "neighbors", "workers", "events")
EVENTS_KEPT = 1000          # the log's history
COUNTERS = ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_dropped", "tx_dropped")
BITS_PER_BYTE = 8           # rates are L2: frame bytes (no preamble, FCS or gap) x 8


class EventHistory:
    """The events shown in the log: the appliance's (`show events`, each
    taken once) and the TUI's own, in arrival order, the last EVENTS_KEPT."""

    def __init__(self):
        self.items = collections.deque(maxlen=EVENTS_KEPT)
        self.total = 0                  # events ever added; EventLog draws those past its count
        self._newest = None             # (time, message) of the newest appliance event taken

    def take(self, events):
        for e in events:
            if self._newest is None or (e["time"], e["message"]) > self._newest:
                self._add(e)
                self._newest = (e["time"], e["message"])

    def note(self, message, clock=time.time):
        self._add({"time": clock(), "kind": "tui", "message": message})

    def since(self, total):
        """Events added after the first `total` (those still kept)."""
        fresh = min(self.total - total, len(self.items))
        return list(self.items)[len(self.items) - fresh:]

    def _add(self, event):
        self.items.append(event)
        self.total += 1


def rate(new, old, seconds):
    """Per second between two counter readings; None when there is no
    previous reading or the counter went backwards."""
    if old is None or new < old or seconds <= 0:
        return None
    return (new - old) / seconds


class Source:
    def __init__(self, socket_path, clock=time.monotonic):
        self.socket_path = socket_path
        self.clock = clock
        self._previous = None           # (time, {port: counters row})
        self._queue_previous = {}       # port -> (time, {queue: rx_packets})
        self.history = collections.defaultdict(
            lambda: {"rx": collections.deque(maxlen=SPARK_POINTS), "tx": collections.deque(maxlen=SPARK_POINTS)})

    def request(self, cmd, **fields):
        return control.request(self.socket_path, cmd, **fields)

    def poll(self):
        """Every table at once: {"ports": [...], "macs": [...], ..., "captures"}, each port
        row with "rates" (pps and L2 bps, None until the second poll),
        "drops_rising" and "history" (recent rx/tx pps) added.  Raises
        control.ControlError when the appliance cannot be reached."""
        ports = self.request("show", what="ports")
        now = self.clock()              # when the counters were read, not after the other tables
        data = {"ports": ports, **{what: self.request("show", what=what) for what in TABLES if what != "ports"},
                "captures": self.request("capture_status")}     # every client's; leases untouched
        self._add_rates(ports, now)
        return data

    def _add_rates(self, rows, now):
        before_t, before = self._previous or (now, {})
        dt = now - before_t
        for row in rows:
            old = before.get(row["name"], {})
            if any(row[k] < old[k] for k in COUNTERS if k in old):
                old = {}                # restarted or cleared: start again from this reading
            row["rates"] = {}
            for side in ("rx", "tx"):
                byte_rate = rate(row[f"{side}_bytes"], old.get(f"{side}_bytes"), dt)
                row["rates"][f"{side}_pps"] = rate(row[f"{side}_packets"], old.get(f"{side}_packets"), dt)
                row["rates"][f"{side}_bps"] = None if byte_rate is None else byte_rate * BITS_PER_BYTE
            dropped = row["rx_dropped"] + row["tx_dropped"]
            row["drops_rising"] = bool(old) and dropped > old["rx_dropped"] + old["tx_dropped"]
            history = self.history[row["name"]]
            if row["rates"]["rx_pps"] is not None:
                history["rx"].append(row["rates"]["rx_pps"])
                history["tx"].append(row["rates"]["tx_pps"])
            row["history"] = {"rx": list(history["rx"]), "tx": list(history["tx"])}
        self._previous = (now, {row["name"]: row for row in rows})

    def port(self, name):
        """`show port NAME`, each rx queue with "rx_pps" (None at first)."""
        data = self.request("show", what="port", name=name)
        now = self.clock()
        before_t, before = self._queue_previous.get(name, (now, {}))
        for q in data["queues"]:
            q["rx_pps"] = rate(q["rx_packets"], before.get(q["queue"]), now - before_t)
        self._queue_previous[name] = (now, {q["queue"]: q["rx_packets"] for q in data["queues"]})
        return data

    def config(self):
        return self.request("show", what="config")

    def reload(self):
        """The lines saying what changed; ControlError with FILE:LINE:COL
        lines when the new config is refused."""
        return self.request("reload")
