"""The end-to-end tests' network namespaces: the lab that `make demo` and
the kernel-port benchmark use too (vswitch/netlab.py)."""
from vswitch.netlab import Lab, Unavailable, probe, run  # noqa: F401
