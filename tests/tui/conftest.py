"""Fixtures of the TUI's tests: a real appliance (tui_lab.Appliance), and
local time pinned to UTC."""
import os
import time

import pytest
from tui_lab import Appliance


@pytest.fixture
def appliance(tmp_path):
    live = Appliance(tmp_path)
    live.start()
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def utc():
    """Event times print in local time: pin it so pictures do not depend on the machine."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()
