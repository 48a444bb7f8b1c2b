"""One port in depth (`show port NAME`): driver facts, per-rx-queue
counters and every drop reason with its count.  Escape goes back."""
import threading

from textual import work
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from vswitch import control
from vswitch.tui.screens import capture
from vswitch.tui.widgets import Cell, KeyedTable, si

FACTS = [("driver", "driver"), ("interface", "interface"), ("PCI address", "pci"), ("link", "link"),
         ("admin", "admin"), ("link speed Mb/s", "link_speed_mbps"), ("MTU", "mtu"), ("MAC", "mac"),
         ("virtio features", "virtio_features"), ("rx packets", "rx_packets"), ("rx bytes", "rx_bytes"),
         ("tx packets", "tx_packets"), ("tx bytes", "tx_bytes"), ("forwarded", "forwarded"),
         ("flooded", "flooded"), ("punted", "punted"), ("rx errors", "rx_errors"), ("tx errors", "tx_errors")]
QUEUE_COLUMNS = [("queue", "QUEUE", "up"), ("worker", "WORKER", "up"), ("rx_pps", "RX pps", "down"),
                 ("rx_packets", "RX pkts", "down"), ("rx_bytes", "RX bytes", "down")]
DROP_COLUMNS = [("reason", "DROP REASON", "up"), ("count", "COUNT", "down")]


def facts_text(data):
    width = max(len(label) for label, _ in FACTS)
    return "\n".join(f"{label:<{width}}  {'-' if data[key] is None else data[key]}" for label, key in FACTS)


class PortScreen(capture.PortActionsScreen):
    BINDINGS = [("escape", "app.pop_screen", "Back"), *capture.KEYS]

    def __init__(self, name):
        super().__init__()
        self.port_name = name
        self._fetching = threading.Lock()   # one fetch at a time: Source keeps the queues' last reading

    def body(self):
        yield Static(f"port {self.port_name}", id="port-title")
        yield Static("", id="port-capture")
        with Horizontal(id="port-detail"):
            yield Static("", id="port-facts")
            with Vertical():
                yield KeyedTable(QUEUE_COLUMNS, id="port-queues")
                yield KeyedTable(DROP_COLUMNS, sort_by="count", id="port-drops")   # counted ones first

    def show(self, snapshot):
        mine = [c for c in snapshot["captures"] if c["port"] == self.port_name and c["running"]]
        line = self.query_one("#port-capture", Static)
        line.update(capture.status_text(mine[0]) if mine else "")
        line.display = bool(mine)
        self.fetch()

    def selected_port(self):
        return self.port_name

    @work(thread=True, group="port-detail")
    def fetch(self):
        if not self._fetching.acquire(blocking=False):
            return          # the last fetch still waits on the appliance
        try:
            try:
                data = self.app.source.port(self.port_name)
            except control.ControlError as err:
                self.app.call_from_thread(self.query_one("#port-facts", Static).update, str(err))
                return
            self.app.call_from_thread(self.draw, data)
        finally:
            self._fetching.release()

    def draw(self, data):
        self.query_one("#port-facts", Static).update(facts_text(data))
        self.query_one("#port-queues", KeyedTable).sync({
            str(q["queue"]): {"queue": Cell(q["queue"], sort=q["queue"]),
                              "worker": Cell("-" if q["worker"] is None else q["worker"]),
                              "rx_pps": Cell(si(q["rx_pps"]), sort=q["rx_pps"] or 0),
                              "rx_packets": Cell(si(q["rx_packets"]), sort=q["rx_packets"]),
                              "rx_bytes": Cell(si(q["rx_bytes"]), sort=q["rx_bytes"])}
            for q in data["queues"]})
        self.query_one("#port-drops", KeyedTable).sync({
            reason: {"reason": Cell(reason, style="bold red" if n else ""),
                     "count": Cell(n, sort=n, style="bold red" if n else "dim")}
            for reason, n in data["drops"].items()})
