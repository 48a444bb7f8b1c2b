"""vswitch: a software switch and IPv4 router with a C forwarding core."""
