"""The appliance's events, full screen."""
from vswitch.tui.screens.base import VswitchScreen
from vswitch.tui.widgets import EventLog


class LogScreen(VswitchScreen):
    def body(self):
        yield EventLog(id="events")

    def show(self, snapshot):
        self.query_one(EventLog).show_events(self.app.events)
