"""The tables behind `vswitch show macs|routes|neighbors|workers`."""
from textual.widgets import Input

from vswitch.tui.screens.base import VswitchScreen
from vswitch.tui.widgets import Cell, KeyedTable

NEIGHBOR_STYLES = {"reachable": "green", "incomplete": "yellow", "static": "cyan"}
ROUTE_STYLES = {"connected": "green", "static": "cyan", "blackhole": "red"}


def text(value):
    return "-" if value is None else str(value)


class TableScreen(VswitchScreen):
    """One keyed table drawn from one list in the snapshot."""
    TABLE = ""          # the snapshot's key
    COLUMNS = []        # (column key, label, sort order)

    def body(self):
        yield KeyedTable(self.COLUMNS, id=self.TABLE)

    def show(self, snapshot):
        self.query_one(KeyedTable).sync({self.row_key(r): self.cells(r) for r in self.rows(snapshot[self.TABLE])})

    def rows(self, rows):
        return rows


class MacsScreen(TableScreen):
    TABLE = "macs"
    COLUMNS = [("bridge", "BRIDGE", "up"), ("mac", "MAC", "up"), ("interface", "INTERFACE", "up"),
               ("static", "STATIC", "down"), ("age", "AGE s", "up")]
    BINDINGS = [("slash", "focus_filter", "Filter"), ("escape", "clear_filter", "Clear filter")]

    def body(self):
        yield Input(placeholder="filter: words matching bridge, MAC or interface (all must match)",
                    id="mac-filter")
        yield from super().body()

    def rows(self, rows):
        words = self.query_one(Input).value.lower().split()
        return [r for r in rows
                if all(any(w in r[k].lower() for k in ("bridge", "mac", "interface")) for w in words)]

    def row_key(self, r):
        return f"{r['bridge']} {r['mac']}"

    def cells(self, r):
        return {"bridge": Cell(r["bridge"]), "mac": Cell(r["mac"]), "interface": Cell(r["interface"]),
                "static": Cell("static" if r["static"] else "learned", sort=r["static"],
                               style="cyan" if r["static"] else ""),
                "age": Cell(f"{r['age']:.1f}", sort=r["age"])}

    def on_input_changed(self, event):
        if self.app.snapshot is not None:
            self.show(self.app.snapshot)

    def action_focus_filter(self):
        self.query_one(Input).focus()

    def action_clear_filter(self):
        self.query_one(Input).value = ""
        self.query_one(KeyedTable).focus()


class RoutesScreen(TableScreen):
    TABLE = "routes"
    COLUMNS = [("to", "TO", "up"), ("type", "TYPE", "up"), ("via", "NEXT HOP", "up"),
               ("interface", "INTERFACE", "up")]

    def row_key(self, r):
        return r["to"]

    def cells(self, r):
        return {"to": Cell(r["to"]), "type": Cell(r["type"], style=ROUTE_STYLES.get(r["type"], "")),
                "via": Cell(text(r["via"])), "interface": Cell(text(r["interface"]))}


class NeighborsScreen(TableScreen):
    TABLE = "neighbors"
    COLUMNS = [("ip", "IP", "up"), ("macaddress", "MAC", "up"), ("interface", "INTERFACE", "up"),
               ("state", "STATE", "up")]

    def row_key(self, r):
        return f"{r['interface']} {r['ip']}"

    def cells(self, r):
        return {"ip": Cell(r["ip"]), "macaddress": Cell(text(r["macaddress"])), "interface": Cell(r["interface"]),
                "state": Cell(r["state"], style=NEIGHBOR_STYLES.get(r["state"], ""))}


class WorkersScreen(TableScreen):
    TABLE = "workers"
    COLUMNS = [("id", "WORKER", "up"), ("cpu", "CPU", "up"), ("rx_queues", "RX QUEUES", None),
               ("mpps", "Mpps", "down"), ("busy", "BUSY %", "down"), ("cpp", "CYCLES/PKT", "down")]

    def row_key(self, r):
        return str(r["id"])

    def cells(self, r):
        busy = r["busy_percent"]
        return {"id": Cell(r["id"], sort=r["id"]), "cpu": Cell(r["cpu"], sort=r["cpu"]),
                "rx_queues": Cell(", ".join(r["rx_queues"]) or "-"),
                "mpps": Cell(f"{r['packets_per_s'] / 1e6:.3f}", sort=r["packets_per_s"]),
                "busy": Cell(f"{busy:.1f}", sort=busy, style="bold red" if busy > 90 else ""),
                "cpp": Cell(f"{r['cycles_per_packet']:.0f}", sort=r["cycles_per_packet"])}
