"""`vswitch tui`: the Textual app.  Polls the appliance every `interval`
seconds in a thread worker (Source), keeps the latest snapshot, and hands
it to the screen on show; screens switch with one key each (SCREENS)."""
import signal
import threading

from textual import work
from textual.app import App
from textual.binding import Binding

from vswitch import control
from vswitch.capture import follow
from vswitch.tui.screens import SCREENS
from vswitch.tui.screens.help import HelpScreen
from vswitch.tui.screens.port import PortScreen
from vswitch.tui.source import EventHistory, Source

DEFAULT_INTERVAL_S = 1.0

CSS = """
#banner { display: none; background: $error; color: $text; padding: 0 1; text-style: bold; }
#rates-note, #config-file, #port-title { color: $text-muted; padding: 0 1; }
#ports { height: 1fr; }
#events-pane { height: 8; border-top: solid $primary; }
#port-detail { height: 1fr; }
#port-facts { width: 36; padding: 0 1; }
#port-queues { height: auto; max-height: 8; }
#port-drops { height: 1fr; border-top: solid $primary; }
#reload-result { padding: 0 1; height: auto; max-height: 12; }
#captures, #port-capture { display: none; color: $warning; padding: 0 1; text-style: bold; }
#trace-controls { height: 1; padding: 0 1; }
#trace-count-label { width: auto; padding-right: 1; }
#trace-count { width: 8; }
#trace-status { width: 1fr; padding-left: 2; }
#trace-packets { height: 1fr; }
#trace-steps-scroll { height: 1fr; border-top: solid $primary; padding: 0 1; }
HelpScreen, CaptureDialog { align: center middle; }
#capture { width: 72; max-width: 100%; height: auto; border: thick $primary; background: $surface; padding: 1 2; }
#capture Input { margin-bottom: 1; }
#capture .hint { color: $text-muted; }
#help { width: 72; max-width: 100%; height: auto; max-height: 100%; border: thick $primary; background: $surface; padding: 1 2; }
"""


class VswitchApp(App):
    CSS = CSS
    ENABLE_COMMAND_PALETTE = False  # every action has a key; the footer needs the room
    TITLE = "vswitch"
    MODES = {mode: screen for _, mode, _, screen in SCREENS}
    DEFAULT_MODE = SCREENS[0][1]
    BINDINGS = [Binding(key, f"switch_mode('{mode}')", label) for key, mode, label, _ in SCREENS] + [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),   # as everywhere else in the demo
    ]

    def __init__(self, source, interval=DEFAULT_INTERVAL_S):
        super().__init__()
        self.source = source
        self.interval = interval
        self.snapshot = None        # the latest poll (Source.poll), None before the first
        self.error = None           # why the last poll failed, None while connected
        self.events = EventHistory()
        self._polling = threading.Lock()    # one poll at a time: Source keeps the last reading
        # the captures this TUI started: port -> {"running", "status" (the latest), "error", "stop" (an Event)}
        self.capturing = {}
        # set on quitting: thread workers still waiting (a trace, a capture) stop and leave the UI alone;
        # Textual does not cancel them, and the process waits for its threads
        self.quitting = threading.Event()

    def on_unmount(self):
        self.quitting.set()

    def on_mount(self):
        self.sub_title = self.source.socket_path
        self.poll()
        self.set_interval(self.interval, self.poll)

    @work(thread=True, group="poll")
    def poll(self):
        if not self._polling.acquire(blocking=False):
            return          # the last poll still waits on the appliance: skip this beat, never pile up
        try:
            try:
                data = self.source.poll()
            except control.ControlError as err:
                self.call_from_thread(self.lost, str(err))
                return
            self.call_from_thread(self.received, data)
        finally:
            self._polling.release()

    def received(self, data):
        if self.error is not None:
            self.events.note(f"connected to {self.source.socket_path}")
        self.error = None
        self.snapshot = data
        self.events.take(data["events"])
        self._draw()

    def lost(self, message):
        if self.error != message:
            self.events.note(message)
        self.error = message
        self._draw()

    def _draw(self):
        if not self.is_running:
            return      # quitting: a poll that lands now finds the screens being taken apart
        if not self.screen_stack:
            return      # between modes: the next screen draws itself when it resumes
        screen = self.screen
        if getattr(screen, "ready", False):     # a VswitchScreen, composed (not the help, say)
            screen.show_error(self.error)
            if self.snapshot is not None:
                screen.show(self.snapshot)

    def open_port(self, name):
        self.push_screen(PortScreen(name))

    def start_capture(self, port, path, count):
        if self.capturing.get(port, {}).get("running"):
            return
        stop = threading.Event()
        self.capturing[port] = {"running": True, "status": None, "error": None, "stop": stop}
        self.follow_capture(port, path, count, stop)

    def stop_capture(self, port):
        """This TUI's capture on `port` stops through its follower; another client's by capture_stop."""
        followed = self.capturing.get(port)
        if followed is not None and followed["running"]:
            followed["stop"].set()
        else:
            self.request_capture_stop(port)

    @work(thread=True, group="capture")
    def follow_capture(self, port, path, count, stop):
        followed = self.capturing[port]

        def update(status):     # read by the capture dialog's timer: single assignments, no call into the UI
            followed["status"] = status
        try:
            update(follow(self.source.request, port, count, path, started=update, progress=update,
                          stopped=lambda: stop.is_set() or self.quitting.is_set()))
        except control.ControlError as err:
            followed["error"] = str(err)
        followed["running"] = False

    @work(thread=True, group="capture")
    def request_capture_stop(self, port):
        try:
            self.source.request("capture_stop", port=port)
        except control.ControlError as err:
            self.call_from_thread(self.events.note, f"capture on {port} not stopped: {err}")

    def action_help(self):
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(self.screen.BINDINGS, self.BINDINGS))


def run(socket_path, interval=DEFAULT_INTERVAL_S):
    app = VswitchApp(Source(socket_path), interval)
    # SIGTERM quits as q does: the terminal restored, the caller's teardown
    # (make demo's) run; an exception raised inside Textual's loop would leave
    # its threads behind and the process hanging
    previous = signal.signal(signal.SIGTERM, lambda *_: app.exit())
    try:
        app.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
