"""The C forwarding core (vswitch._core) and its thin Python binding.

Everything per packet lives in C; this module only names the constants and
turns the core's error returns into exceptions.
"""
from vswitch._core import ffi, lib

NO_PORT = lib.VS_NO_PORT
DROP_REASONS = [ffi.string(lib.vs_drop_reason_name(i)).decode() for i in range(lib.vs_drop_reason_count())]
DROP = {name: i for i, name in enumerate(DROP_REASONS)}
PUNT_REASONS = ["arp", "local", "ttl_expired", "no_route", "frag_needed", "arp_pending"]


class CoreError(RuntimeError):
    """A call into the C core failed; the message is the core's own."""


def check(rc):
    """Raise CoreError with the core's message when a call returned < 0."""
    if rc < 0:
        raise CoreError(ffi.string(lib.vs_last_error()).decode())
    return rc


def port_stats(dp, port):
    """A port's counters (summed over workers and the control plane) as a dict."""
    s = ffi.new("struct vs_port_stats *")
    lib.vs_port_stats_get(dp, port, s)
    stats = {field: getattr(s, field) for field in (
        "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_dropped", "tx_dropped",
        "rx_errors", "tx_errors", "forwarded", "flooded", "punted")}
    stats["drops"] = {name: s.drops[i] for i, name in enumerate(DROP_REASONS) if s.drops[i]}
    return stats


def punt_stats(dp):
    s = ffi.new("struct vs_punt_stats *")
    lib.vs_punt_stats_get(dp, s)
    return {name: {"punted": s.punted[i], "policed": s.policed[i], "ring_full": s.ring_full[i]}
            for i, name in enumerate(PUNT_REASONS)}
