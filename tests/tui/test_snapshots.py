"""Pictures of every screen (pytest-textual-snapshot), drawn from recorded
data (recorded.py) so they do not depend on timing.  After an intended
change of look: pytest tests/tui/test_snapshots.py --snapshot-update, and
look at the report before committing the new pictures."""
import pytest

from tui_recorded import RecordedSource
from vswitch.tui.app import VswitchApp

POLLS = 6           # readings in recorded.json: enough for rates, trends and rising drops
NEVER_S = 3600      # no timer poll during a test: each one is made by settle()
SMALL = (80, 24)
LARGE = (140, 40)


async def settle(pilot):
    """Let every worker finish and the screen redraw."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def after(*keys):
    """run_before: all the recorded polls, then the keys, each settled."""
    async def run_before(pilot):
        await settle(pilot)
        for _ in range(POLLS - 1):
            pilot.app.poll()
            await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
    return run_before


def app():
    return VswitchApp(RecordedSource(), interval=NEVER_S)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "140x40"])
def test_ports(snap_compare, size):
    assert snap_compare(app(), terminal_size=size, run_before=after())


@pytest.mark.parametrize("keys", [("enter",), ("m",), ("m", "slash", "0", "b"), ("r",), ("n",), ("w",),
                                  ("c",), ("c", "R"), ("l",), ("question_mark",), ("t",), ("t", "T", "down", "down"),
                                  ("k",)],
                         ids=["port", "macs", "macs-filtered", "routes", "neighbors", "workers",
                              "config", "config-reload-refused", "log", "help", "trace-idle", "trace", "capture"])
def test_screen(snap_compare, keys):
    assert snap_compare(app(), terminal_size=SMALL, run_before=after(*keys))
