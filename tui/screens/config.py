"""The running config, and `reload`: the changes applied, or the errors
(FILE:LINE:COL: message) when the appliance refuses the new file."""
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.containers import VerticalScroll
from textual.widgets import Static

from vswitch import control
from vswitch.tui.screens.base import VswitchScreen


class ConfigScreen(VswitchScreen):
    BINDINGS = [("R", "reload", "Reload config")]

    def body(self):
        yield Static("", id="config-file")
        yield Static("", id="reload-result")
        with VerticalScroll(id="config-scroll"):
            yield Static("", id="config-text")

    def on_screen_resume(self):
        super().on_screen_resume()
        self.fetch()

    @work(thread=True, exclusive=True, group="config")
    def fetch(self):
        try:
            data = self.app.source.config()
        except control.ControlError:
            return          # the banner already says why
        self.app.call_from_thread(self.draw, data)

    def draw(self, data):
        self.query_one("#config-file", Static).update(Text(f"running config: {data['file']}   R: reload it",
                                                           style="bold"))
        self.query_one("#config-text", Static).update(Syntax(data["text"], "yaml", line_numbers=True))

    def action_reload(self):
        self.query_one("#reload-result", Static).update("reloading…")
        self.reload()

    @work(thread=True, exclusive=True, group="reload")
    def reload(self):
        try:
            lines = self.app.source.reload()
        except control.ControlError as err:
            result = Text("reload refused, the running config stays:\n", style="bold red")
            result.append(str(err), style="red")
        else:
            result = Text("reload applied:\n", style="bold green")
            result.append("\n".join(lines) or "no changes", style="green")
        self.app.call_from_thread(self.query_one("#reload-result", Static).update, result)
        self.fetch()
