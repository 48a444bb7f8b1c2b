"""The screens, and the keys that switch to them.  A new screen is one line in SCREENS."""
from vswitch.tui.screens.config import ConfigScreen
from vswitch.tui.screens.log import LogScreen
from vswitch.tui.screens.ports import PortsScreen
from vswitch.tui.screens.tables import MacsScreen, NeighborsScreen, RoutesScreen, WorkersScreen
from vswitch.tui.screens.trace import TraceScreen

# (key, mode name, footer label, screen class); the first is the home screen
SCREENS = [
    ("p", "ports", "Ports", PortsScreen),
    ("t", "trace", "Trace", TraceScreen),      # second: in the footer even at 80 columns
    ("m", "macs", "MACs", MacsScreen),
    ("r", "routes", "Routes", RoutesScreen),
    ("n", "neighbors", "Neighbours", NeighborsScreen),
    ("w", "workers", "Workers", WorkersScreen),
    ("c", "config", "Config", ConfigScreen),
    ("l", "log", "Log", LogScreen),
]
