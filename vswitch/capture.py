"""`vswitch capture`: a port's frames, received and sent, into a pcap file.

The workers copy frames into bounded rings (capture.c); the appliance's main
loop calls `poll` every round, which has the core write what is waiting into
the file.  A capture ends when its count is written, when the client stops
it, or when no client has asked about it for LEASE_S (the `vswitch capture`
that started it is gone): the file is never left growing unattended.
"""
import os
import time

from vswitch.control import ControlError
from vswitch.pipeline import CoreError, check, ffi, lib

LEASE_S = 10.0          # a running capture no client asked about for this long is stopped
CLIENT_POLL_S = 0.2     # a client asks capture_status this often, renewing the lease well within LEASE_S
MAX_COUNT = 1 << 40


def follow(request, port, count, path, started=lambda status: None, progress=lambda status: None,
           stopped=lambda: False):
    """A client's capture (`vswitch capture`, the TUI): start it, ask
    capture_status every CLIENT_POLL_S (which keeps it alive) until it ends;
    capture_stop when stopped() is true or on Ctrl-C.  Returns the last
    status; started(status) once it runs, progress(status) after each ask.
    request(cmd, **fields) asks the appliance (control.request on a socket)."""
    status = request("capture", port=port, count=count, file=path)
    started(status)
    try:
        while status["running"]:
            if stopped():
                return request("capture_stop", port=port)
            time.sleep(CLIENT_POLL_S)
            status = request("capture_status", port=port)
            progress(status)
    except KeyboardInterrupt:
        status = request("capture_stop", port=port)
    return status


class Captures:
    def __init__(self, app):
        self.app = app
        self.running = {}    # port name -> {"file", "count", "lease"}
        self.finished = {}   # port name -> the last status of its last capture

    def start(self, port, count, path):
        app = self.app
        if port not in app.cfg.ports:
            raise ControlError(f"no port called {port!r}; ports: {', '.join(app.cfg.ports)}")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_COUNT:
            raise ControlError(f"capture count must be a whole number (0: until stopped), not {count!r}")
        if not isinstance(path, str) or not os.path.isabs(path):
            raise ControlError(f"capture file must be an absolute path, not {path!r}")
        if port in self.running:
            raise ControlError(f"a capture is already running on {port} (into {self.running[port]['file']}); "
                               f"one at a time per port")
        try:
            check(lib.vs_capture_start(app.dp, app.iface_ids[port], path.encode(), count))
        except CoreError as err:
            raise ControlError(f"capture on {port}: {err}") from None
        self.running[port] = {"file": path, "count": count, "lease": time.monotonic() + LEASE_S}
        self.finished.pop(port, None)
        app.log(f"capture on {port} into {path} started" + (f" ({count} frames)" if count else ""), kind="capture")
        return self.status(port)

    def status(self, port):
        """The capture on `port`, running or the last one finished; asking renews its lease."""
        if port in self.running:
            self.running[port]["lease"] = time.monotonic() + LEASE_S
            return self._read(port)
        if port in self.finished:
            return self.finished[port]
        raise ControlError(f"no capture on {port!r}")

    def all(self):
        """Every capture, running or finished, without renewing leases (for a watcher such as the TUI)."""
        return [self._read(port) for port in self.running] + \
            [status for port, status in self.finished.items() if port not in self.running]

    def stop(self, port):
        if port not in self.running:
            return self.status(port)
        return self._finish(port, "stopped")

    def poll(self):
        """Write what the workers copied; end what is done or abandoned."""
        now = time.monotonic()
        for port in list(self.running):
            if lib.vs_capture_drain(self.app.dp, self.app.iface_ids[port]) < 0:
                self._finish(port, f"failed: {ffi.string(lib.vs_last_error()).decode()}")
            elif not self._read(port)["running"]:
                self._finish(port, "complete")
            elif now > self.running[port]["lease"]:
                self._finish(port, "abandoned (no client asked for it)")

    def stop_all(self):
        for port in list(self.running):
            self._finish(port, "stopped")

    def _read(self, port):
        s = ffi.new("struct vs_capture_stats *")
        lib.vs_capture_stats_get(self.app.dp, self.app.iface_ids[port], s)
        return self._shape(port, s, running=bool(s.running))

    def _shape(self, port, s, running, outcome=None):
        info = self.running[port]
        return {"port": port, "file": info["file"], "count": info["count"], "written": s.written,
                "dropped": s.dropped, "running": running, "outcome": outcome}

    def _finish(self, port, outcome):
        s = ffi.new("struct vs_capture_stats *")
        if lib.vs_capture_stop(self.app.dp, self.app.iface_ids[port], s) < 0:
            outcome = f"failed: {ffi.string(lib.vs_last_error()).decode()}"
        status = self._shape(port, s, running=False, outcome=outcome)
        del self.running[port]
        self.finished[port] = status
        self.app.log(f"capture on {port} {outcome}: {s.written} frames written to {status['file']}, "
                     f"{s.dropped} dropped", kind="capture")
        return status
