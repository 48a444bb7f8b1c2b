"""What every screen has: the header, the connection banner, the footer
with its bindings, and `show(snapshot)` called after each poll."""
from textual.screen import Screen
from textual.widgets import Footer, Header

from vswitch.tui.widgets import Banner


class VswitchScreen(Screen):
    AUTO_FOCUS = "DataTable"        # keys go to the table (not a filter box) until asked otherwise
    ready = False                   # composed: a poll that lands while the screen is being built waits

    def on_mount(self):
        self.ready = True

    def compose(self):
        yield Header()
        yield Banner(id="banner")
        yield from self.body()
        yield Footer()

    def body(self):
        return []

    def on_screen_resume(self):
        self.show_error(self.app.error)
        if self.app.snapshot is not None:
            self.show(self.app.snapshot)

    def show(self, snapshot):
        """Draw the latest poll (the dict Source.poll returns)."""

    def show_error(self, message):
        self.query_one(Banner).show_error(message)
