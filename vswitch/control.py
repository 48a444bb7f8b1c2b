"""The control socket: one JSON request per connection, one JSON reply.

Served from the appliance's main loop (the thread that owns the slow path),
so a request never races the tables it reads.  Request: {"cmd": ..., ...};
reply: {"ok": true, "data": ...} or {"ok": false, "error": "..."}.
"""
import errno
import json
import os
import selectors
import socket

SOCKET_MODE = 0o660
MAX_REQUEST = 1 << 16
CLIENT_TIMEOUT_S = 10


class ControlError(Exception):
    """The appliance cannot be reached, or it refused the request."""


class ControlServer:
    def __init__(self, path, handle):
        self.path = path
        self.handle = handle            # request dict -> data (raise ControlError to refuse)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        if os.path.exists(path):
            _remove_stale(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, SOCKET_MODE)
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sock, selectors.EVENT_READ)

    def poll(self, timeout):
        """Serve whatever is waiting, for at most `timeout` seconds."""
        for _ in self.selector.select(timeout):
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                continue
            with conn:
                conn.settimeout(CLIENT_TIMEOUT_S)
                try:
                    conn.sendall(self._reply(_read_line(conn)).encode() + b"\n")
                except OSError:
                    pass  # the client went away; nothing to tell it

    def _reply(self, raw):
        try:
            request = json.loads(raw)
            return json.dumps({"ok": True, "data": self.handle(request)})
        except ControlError as err:
            return json.dumps({"ok": False, "error": str(err)})
        except (ValueError, KeyError, TypeError) as err:
            return json.dumps({"ok": False, "error": f"bad request: {err}"})

    def close(self):
        self.selector.close()
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _remove_stale(path):
    """Refuse to steal the socket of an appliance that is still running."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise ControlError(f"another appliance is already serving {path}")


def _read_line(conn):
    data = b""
    while not data.endswith(b"\n") and len(data) < MAX_REQUEST:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode()


def request(path, cmd, **args):
    """Send one request to the appliance at `path`; return its data."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CLIENT_TIMEOUT_S)
    try:
        sock.connect(path)
    except FileNotFoundError:
        raise ControlError(f"no appliance is running (no control socket at {path}); "
                           f"start one with: vswitch run CONFIG.yaml") from None
    except PermissionError:
        raise ControlError(f"permission denied on {path}: run as root or as a member of its group") from None
    except OSError as err:
        if err.errno == errno.ECONNREFUSED:
            raise ControlError(f"no appliance is running (stale control socket at {path})") from None
        raise ControlError(f"{path}: {err.strerror}") from None
    with sock:
        sock.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        reply = b""
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            reply += chunk
    if not reply:
        raise ControlError(f"the appliance at {path} closed the connection without answering")
    answer = json.loads(reply)
    if not answer.get("ok"):
        raise ControlError(answer.get("error", "request refused"))
    return answer["data"]
