"""A Source answering from tests/tui/recorded.json (captured from the demo
config, then fixed): for snapshot tests only, where the picture must not
depend on timing.  Its clock advances one second per poll, and each poll
returns the next recorded reading of the port counters, so rates, trends
and 'drops rising' come out of the real Source code."""
import json
import os

from vswitch import control
from vswitch.tui.source import Source

RECORDED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recorded.json")


class RecordedSource(Source):
    def __init__(self):
        self.polls = 0
        super().__init__("/run/vswitch/vswitch.sock", clock=lambda: float(self.polls))
        with open(RECORDED) as f:
            self.data = json.load(f)

    def request(self, cmd, what=None, name=None, **fields):
        if cmd == "reload":
            raise control.ControlError(self.data["reload"]["error"])
        if cmd in ("trace", "trace_status", "trace_stop"):
            return json.loads(json.dumps(self.data["trace"]))       # every packet asked for, at once
        if cmd == "capture_status":
            return json.loads(json.dumps(self.data["captures"]))
        if what == "ports":
            readings = self.data["ports"]
            self.polls += 1
            return json.loads(json.dumps(readings[min(self.polls, len(readings)) - 1]))
        if what == "port":
            return json.loads(json.dumps(self.data["port"][name]))
        return json.loads(json.dumps(self.data[what]))
