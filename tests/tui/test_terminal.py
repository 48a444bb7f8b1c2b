"""`vswitch tui` and `make demo`'s TUI in a real terminal (a pty): the
messages a person sees instead of a traceback, and a clean quit with q."""
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from tui_lab import ROOT, VSWITCH

TERM_SIZE = {"COLUMNS": "100", "LINES": "30", "TERM": "xterm-256color"}
WAIT_S = 15
ESCAPES = re.compile(rb"\x1b(\[[0-9;?<>]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-B]|[=>])")


class Terminal:
    """A command on a pty; `screen` is everything it wrote, escapes removed."""

    def __init__(self, argv, prefix=()):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(ROOT)
            os.environ.update(TERM_SIZE)
            os.execvp((prefix or argv)[0], [*prefix, *argv])
        self.raw = b""

    def screen(self):
        return ESCAPES.sub(b"", self.raw).decode(errors="replace")

    def read(self, timeout):
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 1 << 16)
        except OSError:         # the child closed the terminal
            return False
        self.raw += data
        return bool(data)

    def wait_for(self, text):
        deadline = time.monotonic() + WAIT_S
        while text not in self.screen() and time.monotonic() < deadline:
            if not self.read(0.1):
                break
        assert text in self.screen(), f"{text!r} never shown; the terminal has:\n{self.screen()[-2000:]}"

    def quit(self, signum=None):
        """q (or the signal), then the exit code."""
        if signum is None:
            os.write(self.fd, b"q")
        else:
            os.kill(self.pid, signum)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and self.read(0.1):
            pass
        for _ in range(int(WAIT_S / 0.1)):
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError("it did not quit")


def test_no_appliance_is_a_message_not_a_traceback(tmp_path):
    term = Terminal([*VSWITCH, "tui", "--socket", str(tmp_path / "none.sock")])
    term.wait_for("no appliance is running")
    assert term.quit() == 0
    assert "Traceback" not in term.screen()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to take away root's right to ignore file modes")
def test_a_socket_we_may_not_use_is_a_message(tmp_path):
    path = str(tmp_path / "theirs.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    os.chown(path, 65534, 65534)        # nobody's, mode 0660 like the appliance's: we are not in its group
    os.chmod(path, 0o660)
    no_override = "-dac_override,-dac_read_search"
    try:
        term = Terminal([*VSWITCH, "tui", "--socket", path],
                        prefix=("setpriv", "--bounding-set", no_override, "--inh-caps", no_override))
        term.wait_for("permission denied on")
        assert term.quit() == 0
        assert "Traceback" not in term.screen()
    finally:
        listener.close()


@pytest.mark.parametrize("signum", [None, signal.SIGTERM], ids=["q", "SIGTERM"])
def test_the_demo_without_a_lab_opens_the_tui_and_quitting_stops_it(tmp_path, signum):
    sock = tmp_path / "demo.sock"
    term = Terminal([sys.executable, "-m", "vswitch.demo", "--no-lab", "--socket", str(sock)])
    term.wait_for("lan-hosts")
    term.wait_for("L2 rates")
    assert term.quit(signum) == 0
    assert not sock.exists(), "the appliance stopped and removed its socket"
    assert "Traceback" not in term.screen()


def test_interval_must_be_positive():
    r = subprocess.run([*VSWITCH, "tui", "--interval", "0"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--interval must be a positive number of seconds" in r.stderr
