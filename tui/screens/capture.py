"""`vswitch capture` in the TUI: `k` on a port (the ports screen's selected
one, the port detail's own) asks for a pcap file and a count, then shows the
capture live (written, dropped) until its count or `x`.  The app follows the
capture (VswitchApp.start_capture), so closing the dialog does not end it;
the ports screen lists every running capture, this TUI's or another
client's."""
from rich.text import Text
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from vswitch.tui.screens.base import VswitchScreen

DEFAULT_COUNT = 100
REFRESH_S = 0.2             # the dialog redraws the app's latest status this often
KEYS = [("k", "capture", "Capture"), ("x", "stop_capture", "Stop capture")]


def default_file(port):
    return f"/tmp/vswitch-{port}.pcap"


def status_text(status):
    """'capturing P → F: 12/100 written, 0 dropped' (80 columns' worth), or how it ended."""
    of = f"/{status['count']}" if status["count"] else ""
    text = f"{status['port']} → {status['file']}: {status['written']}{of} written, {status['dropped']} dropped"
    return f"capturing {text}" if status["running"] else f"capture {text}: {status['outcome'] or 'ended'}"


class PortActionsScreen(VswitchScreen):
    """A screen showing a port: KEYS capture it and stop its capture."""

    def selected_port(self):
        """The port the keys act on, or None."""
        raise NotImplementedError

    def action_capture(self):
        port = self.selected_port()
        if port is not None:
            self.app.push_screen(CaptureDialog(port))

    def action_stop_capture(self):
        port = self.selected_port()
        if port is not None:
            self.app.stop_capture(port)


class CaptureDialog(ModalScreen):
    BINDINGS = [("escape", "app.pop_screen", "Close"), ("x", "stop", "Stop capture")]

    def __init__(self, port):
        super().__init__()
        self.port = port

    def compose(self):
        with Vertical(id="capture"):
            yield Static(Text(f"capture on {self.port}: the frames it receives and sends", style="bold"))
            yield Static("pcap file (on the appliance's machine):")
            yield Input(default_file(self.port), compact=True, id="capture-file")
            yield Static("frames (0: until x):")
            yield Input(str(DEFAULT_COUNT), type="integer", compact=True, id="capture-count")
            yield Static("", id="capture-progress")
            yield Static("Enter starts   x stops   escape closes (the capture goes on)", classes="hint")

    def on_mount(self):
        self.redraw()
        self.set_interval(REFRESH_S, self.redraw)

    def on_input_submitted(self, event):
        count = self.query_one("#capture-count", Input).value
        if not count.isdigit():
            self.query_one("#capture-progress", Static).update(
                Text(f"frames: a whole number (0: until x), not {count!r}", style="bold red"))
            return
        self.app.start_capture(self.port, self.query_one("#capture-file", Input).value, int(count))
        self.redraw()

    def action_stop(self):
        self.app.stop_capture(self.port)

    def redraw(self):
        """The app's latest word on this port's capture; the form locked while it runs."""
        followed = self.app.capturing.get(self.port)
        running = followed is not None and followed["running"]
        for field in self.query(Input):
            field.disabled = running    # x reaches the dialog, not a text box
        progress = self.query_one("#capture-progress", Static)
        if followed is None:
            progress.update("")
        elif followed["error"]:
            progress.update(Text(followed["error"], style="bold red"))
        elif followed["status"] is not None:
            progress.update(Text(status_text(followed["status"]), style="yellow" if running else "green"))
