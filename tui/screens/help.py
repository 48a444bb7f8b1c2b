"""`?`: every key, the screen's own and the app's."""
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = ("vswitch tui: live state of a running appliance, polled over its control socket.\n"
         "Rates are L2 (frame bytes x 8, no preamble/FCS/gap).  Tables: arrows move, s sorts.\n")


KEYS_PER_LINE = 4


def binding_lines(bindings):
    """'key description' pairs, KEYS_PER_LINE to a line so all fit on 80x24."""
    pairs = []
    for b in bindings:
        b = b if isinstance(b, Binding) else Binding(*b)
        if b.description and b.show:
            pairs.append(f"{b.key_display or b.key} {b.description} ".ljust(15))   # a space even after a long one
    return ["  " + "".join(pairs[i:i + KEYS_PER_LINE]).rstrip() for i in range(0, len(pairs), KEYS_PER_LINE)]


class HelpScreen(ModalScreen):
    BINDINGS = [("escape", "app.pop_screen", "Close"), ("question_mark", "app.pop_screen", "Close")]

    def __init__(self, screen_bindings, app_bindings):
        super().__init__()
        self.text = "\n".join([INTRO, "This screen:", *(binding_lines(screen_bindings) or ["  (no keys of its own)"]),
                               "", "Everywhere:", *binding_lines(app_bindings), "", "escape or ? closes this."])

    def compose(self):
        with VerticalScroll(id="help"):
            yield Static(self.text)
