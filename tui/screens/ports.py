"""The home screen: one row per port, its rates, totals, drops and trends."""
from textual.binding import Binding
from textual.widgets import Static

from vswitch.tui.screens import capture
from vswitch.tui.widgets import Cell, EventLog, KeyedTable, si, sparkline

TREND_POINTS = 12       # characters of each rx/tx sparkline
# what matters most first, so that 80 columns show rates, drops and errors
COLUMNS = [("name", "PORT", "up"), ("link", "LINK", "up"),
           ("rx_pps", "RX pps", "down"), ("tx_pps", "TX pps", "down"),
           ("rx_bps", "RX bit/s", "down"), ("tx_bps", "TX bit/s", "down"),
           ("drops", "DROPS", "down"), ("errors", "ERRS", "down"),
           ("rx_trend", "RX trend", None), ("tx_trend", "TX trend", None),
           ("rx_packets", "RX pkts", "down"), ("tx_packets", "TX pkts", "down"), ("driver", "DRIVER", "up")]
RATES_NOTE = "L2 rates (frame bytes x 8; no preamble, FCS, gap)  Enter: detail  s: sort"


def port_cells(row):
    down = row["link"] != "up"
    dropped = row["rx_dropped"] + row["tx_dropped"]
    errors = row["rx_errors"] + row["tx_errors"]
    rates = row["rates"]
    drop_style = "bold white on red" if row["drops_rising"] else ("yellow" if dropped else "")
    return {
        "name": Cell(row["name"], style="bold red" if down else "bold"),
        "driver": Cell(row["driver"]),
        "link": Cell(row["link"], style="bold white on red" if down else "green"),
        **{key: Cell(si(rate), sort=rate or 0) for key, rate in rates.items()},
        **{key: Cell(si(row[key]), sort=row[key]) for key in ("rx_packets", "tx_packets")},
        "drops": Cell(si(dropped), sort=dropped, style=drop_style),
        "errors": Cell(si(errors), sort=errors, style="yellow" if errors else ""),
        "rx_trend": Cell(sparkline(row["history"]["rx"], TREND_POINTS), style="cyan"),
        "tx_trend": Cell(sparkline(row["history"]["tx"], TREND_POINTS), style="magenta"),
    }


def running_captures(captures):
    """One line per running capture, any client's: what a person should not forget is on."""
    return "\n".join(capture.status_text(c) for c in captures if c["running"])


class PortsScreen(capture.PortActionsScreen):
    BINDINGS = [Binding("enter", "open_port", "Port detail", show=True), *capture.KEYS]

    def body(self):
        yield Static(RATES_NOTE, id="rates-note")
        yield Static("", id="captures")
        yield KeyedTable(COLUMNS, id="ports")
        yield EventLog(id="events-pane")

    def show(self, snapshot):
        self.query_one(KeyedTable).sync({row["name"]: port_cells(row) for row in snapshot["ports"]})
        self.query_one(EventLog).show_events(self.app.events)
        lines = self.query_one("#captures", Static)
        lines.update(running_captures(snapshot["captures"]))
        lines.display = any(c["running"] for c in snapshot["captures"])

    def selected_port(self):
        return self.query_one(KeyedTable).selected_key()

    def on_data_table_row_selected(self, event):
        self.app.open_port(event.row_key.value)

    def action_open_port(self):
        name = self.selected_port()
        if name is not None:
            self.app.open_port(name)
