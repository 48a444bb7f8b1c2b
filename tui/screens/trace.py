"""`t`: `vswitch trace` in the TUI.  T (or Enter in the count box) traces
the next N packets; a thread worker polls trace_status (vswitch.trace.collect,
as the CLI does) and the table fills as they come; the selected packet's
numbered steps are the lines `vswitch trace` prints (trace.render_packet)."""
import threading

from rich.text import Text
from textual import work
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Static
from textual.worker import WorkerState

from vswitch import control
from vswitch.cli import TRACE_DEFAULT_COUNT, TRACE_DEFAULT_TIMEOUT_S
from vswitch.trace import collect, render_packet
from vswitch.tui.screens.base import VswitchScreen
from vswitch.tui.widgets import Cell, KeyedTable

COLUMNS = [("n", "#", "up"), ("worker", "WORKER", "up"), ("port", "PORT", "up"), ("summary", "SUMMARY", None)]
STEP_STYLES = {"drop": "bold red", "tx": "green", "punt": "yellow", "icmp_error": "yellow"}
IDLE = "T or Enter: trace the next packets received on any port"


def steps_text(n, pkt):
    """render_packet's lines, each step coloured by its kind (drops red, tx green)."""
    header, summary, *steps = render_packet(n, pkt)
    text = Text(header + "\n", style="bold")
    text.append(summary + "\n", style="cyan")
    for line, step in zip(steps, pkt["steps"]):
        text.append(line + "\n", style=STEP_STYLES.get(step["kind"], ""))
    return text


def progress_text(status, asked, outcome=None):
    """'3 of 10 traced, 1 lost …' and, once finished, how it ended."""
    got = len(status["packets"])
    text = Text(f"{got} of {asked} traced", style="bold")
    if status["lost"]:
        text.append(f", {status['lost']} lost (trace buffer full)", style="bold red")
    text.append(f"; {outcome}" if outcome else "; tracing… x stops", style="" if outcome else "yellow")
    return text


class TraceScreen(VswitchScreen):
    AUTO_FOCUS = "#trace-packets"
    BINDINGS = [("T", "trace", "Run trace"), ("e", "edit_count", "Count"), ("x", "stop", "Stop")]

    def __init__(self):
        super().__init__()
        self.packets = []                   # the latest status's packets, in the order traced
        self._stop = threading.Event()      # x: the running trace stops waiting
        self.tracing = False                # one at a time: a second would disarm the first's

    def body(self):
        with Horizontal(id="trace-controls"):
            yield Static("packets:", id="trace-count-label")
            yield Input(str(TRACE_DEFAULT_COUNT), type="integer", compact=True, id="trace-count")
            yield Static(IDLE, id="trace-status")
        yield KeyedTable(COLUMNS, id="trace-packets")
        with VerticalScroll(id="trace-steps-scroll"):
            yield Static("", id="trace-steps")

    def action_edit_count(self):
        self.query_one("#trace-count", Input).focus()

    def on_input_submitted(self, event):
        self.query_one("#trace-packets", KeyedTable).focus()
        self.action_trace()

    def action_trace(self):
        text = self.query_one("#trace-count", Input).value
        if not text.isdigit():
            self.query_one("#trace-status", Static).update(Text(f"packets to trace: a whole number, not {text!r} "
                                                                "(e edits it)", style="bold red"))
            return
        if self.tracing:
            self.query_one("#trace-status", Static).update(Text("a trace is running; x stops it", style="bold red"))
            return
        self._stop.clear()
        self.tracing = True
        self.trace(int(text))

    def on_worker_state_changed(self, event):
        if event.worker.group == "trace" and event.state in (WorkerState.SUCCESS, WorkerState.ERROR,
                                                               WorkerState.CANCELLED):
            self.tracing = False

    def action_stop(self):
        self._stop.set()

    @work(thread=True, group="trace")
    def trace(self, count):
        call = self.app.call_from_thread
        try:
            status = collect(self.app.source.request, count, TRACE_DEFAULT_TIMEOUT_S,
                             armed=lambda s: call(self.draw, s, count), progress=lambda s: call(self.draw, s, count),
                             stopped=lambda: self._stop.is_set() or self.app.quitting.is_set())
        except control.ControlError as err:
            call(self.query_one("#trace-status", Static).update, Text(str(err), style="bold red"))
            return
        if self.app.quitting.is_set():
            return
        if len(status["packets"]) + status["lost"] >= count:
            outcome = "done"
        elif self._stop.is_set():
            outcome = "stopped"
        else:
            outcome = f"no more within {TRACE_DEFAULT_TIMEOUT_S:g} s"
        call(self.draw, status, count, outcome)

    def draw(self, status, asked, outcome=None):
        self.packets = status["packets"]
        self.query_one("#trace-status", Static).update(progress_text(status, asked, outcome))
        self.query_one("#trace-packets", KeyedTable).sync({
            str(n): {"n": Cell(n, sort=n), "worker": Cell(pkt["worker"], sort=pkt["worker"]),
                     "port": Cell(pkt["port"]), "summary": Cell(pkt["summary"])}
            for n, pkt in enumerate(self.packets, 1)})
        self.show_steps()

    def on_data_table_row_highlighted(self, event):
        self.show_steps()

    def show_steps(self):
        key = self.query_one("#trace-packets", KeyedTable).selected_key()
        steps = self.query_one("#trace-steps", Static)
        if key is None or int(key) > len(self.packets):
            steps.update("")
            return
        n = int(key)
        steps.update(steps_text(n, self.packets[n - 1]))
