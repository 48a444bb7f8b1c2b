"""The config file (SPEC.md "Config file (YAML, version 1)") → a validated Config.

The YAML is composed into nodes and walked by hand rather than constructed,
so every scalar starts as the string the user wrote (no YAML 1.1 surprises:
`no` is a name, `00:11:22:33:44:55` a MAC, `driver: null` the null driver)
and every problem points at the key or value it is about. All independent
problems are collected in one pass and raised together as one ConfigError,
sorted by position.

Paths in the file are relative to the file's folder; Config holds them
absolute. A problem inside a route file is reported under the config's path
as given joined with the entry as written (config "configs/x.yaml" and entry
"routes/t.txt" give "configs/routes/t.txt"): that is the file as the user
finds it from where they ran the command.
"""
from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import re
import socket
from dataclasses import dataclass, field
from typing import NamedTuple

import netaddr
import yaml

DEFAULT_CONTROL_SOCKET = "/run/vswitch/vswitch.sock"
DEFAULT_MTU = 1500
MTU_RANGE = (68, 1500)
DEFAULT_MAC_AGING = 300
DEFAULT_MAC_LIMIT = 65536

# Driver name → the port keys it takes besides COMMON_PORT_KEYS.
DRIVER_OPTIONS = {
    "ixgbe": ("pci", "rx_queues", "tx_queues"),
    "virtio": ("pci", "rx_queues", "tx_queues"),
    "vhost-user": ("socket", "mode", "queues"),
    "af_xdp": ("interface", "rx_queues", "fix_checksums"),
    "af_packet": ("interface",),
    "tap": ("interface",),
    "pcap": ("rx_pcap", "tx_pcap", "loop", "rx_queues"),
    "null": (),
}
REQUIRED_OPTIONS = {
    "ixgbe": ("pci",), "virtio": ("pci",), "vhost-user": ("socket",),
    "af_xdp": ("interface",), "af_packet": ("interface",), "tap": ("interface",),
}
COMMON_PORT_KEYS = ("driver", "mtu", "addresses", "macaddress")
ALL_OPTIONS = tuple(dict.fromkeys(key for keys in DRIVER_OPTIONS.values() for key in keys))

TOP_KEYS = ("version", "workers", "control_socket", "ports", "vlans", "bridges",
            "routes", "route_files", "neighbors")
VLAN_KEYS = ("link", "id", "mtu", "addresses", "macaddress")
BRIDGE_KEYS = ("interfaces", "addresses", "macaddress", "mac_aging", "mac_limit", "static_macs")
STATIC_MAC_KEYS = ("macaddress", "interface")
ROUTE_KEYS = ("to", "via", "type")
NEIGHBOR_KEYS = ("ip", "macaddress", "interface")

QUEUES_RANGE = (1, 64)
WORKERS_RANGE = (1, 1024)
CPU_RANGE = (0, 4095)
MAC_AGING_RANGE = (0, 1_000_000)  # seconds; the Linux bridge's own bounds
MAC_LIMIT_RANGE = (1, 1 << 24)
UNIX_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL
MAX_ISSUES_PER_ROUTE_FILE = 100  # a broken million-line table must not flood the screen

NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}")
INTEGER_RE = re.compile(r"-?[0-9]+")
MAC_RE = re.compile(r"[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(?:\1[0-9a-fA-F]{2}){4}")
PCI_RE = re.compile(r"(?:([0-9a-f]{4}):)?([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])")
KERNEL_IFNAME_RE = re.compile(r"[^/:\s]{1,15}")  # what Linux's dev_valid_name() accepts
PREFIX_LENGTHS = {str(length): length for length in range(33)}
ALL_ONES = 0xFFFFFFFF
MASKS = tuple(ALL_ONES ^ (ALL_ONES >> length) for length in range(33))  # by prefix length


# ---------------------------------------------------------------- public types

@dataclass(frozen=True)
class Issue:
    """One problem in a config or route file; line and col are 1-based."""
    file: str
    line: int
    col: int
    message: str

    def __str__(self):
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class ConfigError(Exception):
    """A config was rejected; .issues lists every problem found."""

    def __init__(self, issues):
        self.issues = list(issues)
        super().__init__("\n".join(map(str, self.issues)))


@dataclass
class Port:
    name: str
    driver: str
    mtu: int = DEFAULT_MTU
    addresses: list[netaddr.IPNetwork] = field(default_factory=list)
    macaddress: str | None = None
    # Only the driver keys the file gives (absent ones take the driver's default).
    options: dict = field(default_factory=dict)
    line: int = 0


@dataclass
class Vlan:
    name: str
    link: str
    id: int
    mtu: int = DEFAULT_MTU
    addresses: list[netaddr.IPNetwork] = field(default_factory=list)
    macaddress: str | None = None
    line: int = 0


@dataclass
class Bridge:
    name: str
    interfaces: list[str] = field(default_factory=list)
    addresses: list[netaddr.IPNetwork] = field(default_factory=list)
    macaddress: str | None = None
    mac_aging: int = DEFAULT_MAC_AGING
    mac_limit: int = DEFAULT_MAC_LIMIT
    static_macs: list[tuple[str, str]] = field(default_factory=list)
    line: int = 0


class Route(NamedTuple):
    """A static route; addresses are IPv4 host-order ints."""
    network: int
    prefixlen: int
    via: int | None
    blackhole: bool
    file: str
    line: int


@dataclass
class Neighbor:
    ip: str
    macaddress: str
    interface: str
    line: int


@dataclass
class Config:
    path: str
    dir: str
    source_text: str
    version: int = 1
    workers: int = 1
    worker_cpus: list[int] | None = None
    control_socket: str = DEFAULT_CONTROL_SOCKET
    ports: dict[str, Port] = field(default_factory=dict)
    vlans: dict[str, Vlan] = field(default_factory=dict)
    bridges: dict[str, Bridge] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    route_files: list[str] = field(default_factory=list)  # absolute paths, in order
    neighbors: list[Neighbor] = field(default_factory=list)

    def iface_names(self):
        """Every port, vlan and bridge name, in that order."""
        return [*self.ports, *self.vlans, *self.bridges]

    def interface(self, name):
        """The Port, Vlan or Bridge called name (KeyError if none)."""
        for table in (self.ports, self.vlans, self.bridges):
            if name in table:
                return table[name]
        raise KeyError(name)

    def bridge_of(self, name):
        """The Bridge that port or vlan `name` is a member of, or None."""
        return next((bridge for bridge in self.bridges.values() if name in bridge.interfaces), None)


def load(path):
    """Read and validate the config file at path; raise ConfigError listing every problem."""
    text = _read_source(path)
    root = _compose(path, text)
    loader = _Loader(path, text)
    with _gc_paused():
        loader.read(root)
    if loader.issues:
        raise ConfigError(loader.sorted_issues())
    return loader.cfg


def derived_mac(name):
    """A locally administered unicast MAC for name, the same on every run."""
    digest = hashlib.sha256(name.encode()).digest()
    return "02:" + ":".join(f"{byte:02x}" for byte in digest[:5])


# ---------------------------------------------------------------- reading the YAML

@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic GC while a million routes are built: it would otherwise
    walk them again and again, about a third of the load time, to free nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_source(path):
    try:
        with open(path, "rb") as source:
            data = source.read()
    except OSError as err:
        raise ConfigError([Issue(path, 1, 1, f"cannot read config: {err.strerror}")]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - data.rfind(b"\n", 0, err.start)
        raise ConfigError([Issue(path, line, col, "file is not valid UTF-8")]) from None


def _compose(path, text):
    """The YAML node tree of text; syntax errors become a ConfigError at their position."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        message = ", ".join(part for part in (err.context, err.problem) if part)
        raise ConfigError([Issue(path, mark.line + 1, mark.column + 1, message)]) from None
    except yaml.reader.ReaderError as err:
        line = text.count("\n", 0, err.position) + 1
        col = err.position - text.rfind("\n", 0, err.position)
        message = f"character {chr(err.character)!r} is not allowed"
        raise ConfigError([Issue(path, line, col, message)]) from None


def _is_empty(node):
    """An absent section, or a key written with no value (`ports:`): both count as empty."""
    return node is None or (isinstance(node, yaml.ScalarNode) and node.style is None and node.value == "")


def _shape(node):
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"


# ---------------------------------------------------------------- IPv4 and MAC text

def _ipv4(text, inet_pton=socket.inet_pton, AF_INET=socket.AF_INET, from_bytes=int.from_bytes):
    """Host-order int of a dotted quad; ValueError if text is anything else.

    The defaults bind globals as locals: route files call this a million times.
    """
    try:
        return from_bytes(inet_pton(AF_INET, text), "big")
    except OSError:
        raise ValueError(text) from None


def _ipv4_text(value):
    return socket.inet_ntoa(value.to_bytes(4, "big"))


def _prefix(text):
    """(network, prefixlen) of "A.B.C.D/N" or "default"; ValueError(message) naming the problem."""
    if text == "default":
        return 0, 0
    address, _, length = text.partition("/")
    try:
        network = _ipv4(address)
        prefixlen = PREFIX_LENGTHS[length]
    except (ValueError, KeyError):
        raise ValueError(f"must be a prefix like 10.0.0.0/24 or default, got {text!r}") from None
    if network & ~MASKS[prefixlen]:
        raise ValueError(f"{text} has host bits set (network is "
                         f"{_ipv4_text(network & MASKS[prefixlen])}/{prefixlen})")
    return network, prefixlen


def _is_unicast_ipv4(value):
    first_octet = value >> 24
    return first_octet not in (0, 127) and first_octet < 224


# ---------------------------------------------------------------- the loader

class _Subnet(NamedTuple):
    network: int
    mask: int
    owner: str  # interface name
    node: yaml.ScalarNode  # the address it comes from

    def contains(self, ip):
        return ip & self.mask == self.network


class _Loader:
    """Walks the node tree once, filling self.cfg and collecting self.issues."""

    def __init__(self, path, text):
        self.path = path
        self.cfg = Config(path=path, dir=os.path.dirname(os.path.abspath(path)), source_text=text)
        self.issues = []
        self.file_order = {path: 0}  # issues sort by file, then position
        self.kind_of = {}  # interface name → "port" | "vlan" | "bridge" (its first definition)
        self.address_entries = []  # (value node, ip, prefixlen, owner name) of every interface address
        self.addresses_key = {}  # interface name → its `addresses` key node, when it lists any
        self.addresses_complete = True  # false once an address was unreadable
        self.subnets = []  # every connected subnet, a _Subnet
        self.own_addresses = {}  # ip → owner name
        self.member_of = {}  # port/vlan name → the bridge it is in
        self.route_by_prefix = {}  # network << 6 | prefixlen → Route, or what else the prefix is (str)
        self.via_problems = {}  # via → message or None; route tables repeat few next hops
        self.next_hops = {"blackhole": None}  # route file next hop text → via, for the same reason
        self.tx_pcap_owner = {}  # absolute tx_pcap path → port name

    # ---- reporting

    def error(self, node, message):
        mark = node.start_mark
        self.issues.append(Issue(self.path, mark.line + 1, mark.column + 1, message))

    def sorted_issues(self):
        return sorted(self.issues, key=lambda issue: (self.file_order[issue.file], issue.line, issue.col))

    def label(self, name):
        return f"{self.kind_of[name]} '{name}'"

    # ---- the shape of the tree

    def mapping(self, node, what):
        """{key: (key node, value node)} of a mapping node, in file order; None if node is not one."""
        if _is_empty(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping")
            return None
        entries = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, f"keys must be strings, got {_shape(key_node)}")
            elif key_node.value in entries:
                self.error(key_node, f"duplicate key '{key_node.value}'")
            else:
                entries[key_node.value] = (key_node, value_node)
        return entries

    def check_keys(self, entries, allowed, where, anchor, required=(), hint=""):
        """Drop and report keys not in allowed; report required ones missing at anchor."""
        for key in [key for key in entries if key not in allowed]:
            self.error(entries.pop(key)[0], f"unknown key '{key}'{where}{hint}")
        for key in required:
            if key not in entries:
                self.error(anchor, f"missing key '{key}'{where}")

    def fields(self, node, allowed, what, anchor, required=()):
        entries = self.mapping(node, what)
        if entries is not None:
            self.check_keys(entries, allowed, f" in {what}", anchor, required)
        return entries

    def items(self, node, what):
        if _is_empty(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list")
            return []
        return node.value

    # ---- scalars: each returns the value, or None after reporting why not

    def scalar(self, node, key, kind):
        if isinstance(node, yaml.ScalarNode):
            return node.value
        self.error(node, f"{key} must be {kind}, got {_shape(node)}")
        return None

    def string(self, node, key):
        text = self.scalar(node, key, "a string")
        if text == "":
            self.error(node, f"{key} must not be empty")
            return None
        return text

    def integer(self, node, key, value_range):
        text = self.scalar(node, key, "an integer")
        if text is None:
            return None
        if not INTEGER_RE.fullmatch(text):
            self.error(node, f"{key} must be an integer, got {text!r}")
            return None
        low, high = value_range
        if not low <= int(text) <= high:
            self.error(node, f"{key} must be {low}-{high}, got {int(text)}")
            return None
        return int(text)

    def read_integer(self, target, key, entries, value_range):
        """Set target.key from entries[key] when it is given and valid (else keep the default)."""
        if key in entries:
            value = self.integer(entries[key][1], key, value_range)
            if value is not None:
                setattr(target, key, value)

    def boolean(self, node, key):
        """true or false, spelled exactly so (not YAML 1.1's yes/no/on/off)."""
        text = self.choice(node, key, ("true", "false"))
        return None if text is None else text == "true"

    def choice(self, node, key, choices):
        text = self.scalar(node, key, " or ".join(choices))
        if text is not None and text not in choices:
            self.error(node, f"{key} must be {' or '.join(choices)}, got {text!r}")
            return None
        return text

    def ipv4(self, node, key):
        text = self.scalar(node, key, "an IPv4 address")
        if text is None:
            return None
        try:
            return _ipv4(text)
        except ValueError:
            self.error(node, f"{key} must be an IPv4 address, got {text!r}")
            return None

    def unicast_mac(self, node, key):
        """A MAC that may be a source address, normalized to lower-case aa:bb:cc:dd:ee:ff."""
        text = self.scalar(node, key, "a MAC address")
        if text is None:
            return None
        if not MAC_RE.fullmatch(text):
            self.error(node, f"{key} must be six hex pairs like 02:00:00:00:00:01, got {text!r}")
            return None
        mac = text.lower().replace("-", ":")
        if int(mac[:2], 16) & 1:
            self.error(node, f"{key} {mac} is a multicast address")
        elif mac == "00:00:00:00:00:00":
            self.error(node, f"{key} {mac} is the all-zero address")
        else:
            return mac
        return None

    def relative_path(self, node, key):
        """(as shown to the user, absolute) of a path relative to the config's folder."""
        text = self.string(node, key)
        if text is None:
            return None, None
        shown = os.path.join(os.path.dirname(self.path), text)
        return shown, os.path.abspath(os.path.join(self.cfg.dir, text))

    def existing_file(self, node, key):
        shown, path = self.relative_path(node, key)
        if path is None:
            return None
        if not os.path.exists(path):
            self.error(node, f"{key} {shown} does not exist")
        elif not os.path.isfile(path):
            self.error(node, f"{key} {shown} is not a file")
        else:
            return path
        return None

    def output_file(self, node, key):
        shown, path = self.relative_path(node, key)
        if path is not None and os.path.isdir(path):
            self.error(node, f"{key} {shown} is a folder")
            return None
        return path

    def socket_path(self, node, key):
        path = self.relative_path(node, key)[1]
        if path is not None and len(os.fsencode(path)) > UNIX_SOCKET_PATH_MAX:
            self.error(node, f"{key} {path} is too long for a UNIX socket "
                             f"(at most {UNIX_SOCKET_PATH_MAX} bytes)")
            return None
        return path

    # ---- port options (the driver-specific keys)

    def pci_address(self, node, key):
        """A PCI address, normalized to lower case with its domain: 0000:03:00.0."""
        text = self.string(node, key)
        if text is None:
            return None
        match = PCI_RE.fullmatch(text.lower())
        if match is None:
            self.error(node, f"{key} must be a PCI address like 0000:03:00.0, got {text!r}")
            return None
        domain, bus_device_function = match.groups()
        return f"{domain or '0000'}:{bus_device_function}"

    def kernel_interface(self, node, key):
        text = self.string(node, key)
        if text is None or (KERNEL_IFNAME_RE.fullmatch(text) and text not in (".", "..")):
            return text
        self.error(node, f"{key} must be a Linux interface name "
                         f"(1-15 characters, no '/', ':' or spaces), got {text!r}")
        return None

    def queue_count(self, node, key):
        return self.integer(node, key, QUEUES_RANGE)

    def vhost_mode(self, node, key):
        return self.choice(node, key, ("server", "client"))

    # ---- top level

    def read(self, root):
        if root is None:
            self.issues.append(Issue(self.path, 1, 1, "config is empty; it needs at least 'version: 1'"))
            return
        top = self.mapping(root, "the top level")
        if top is None:
            return
        self.check_keys(top, TOP_KEYS, "", root, required=("version",))
        value = {key: value_node for key, (_, value_node) in top.items()}
        if "version" in value:
            self.read_version(value["version"])
        if "workers" in value:
            self.read_workers(value["workers"])
        if "control_socket" in value:
            self.cfg.control_socket = self.socket_path(value["control_socket"], "control_socket") \
                or DEFAULT_CONTROL_SOCKET
        self.read_interfaces(value)
        self.read_routes(value.get("routes"))
        self.read_route_files(value.get("route_files"))
        self.read_neighbors(value.get("neighbors"))

    def read_version(self, node):
        text = self.scalar(node, "version", "1")
        if text is not None and text != "1":
            self.error(node, f"version must be 1, got {text!r}")

    def read_workers(self, node):
        if not isinstance(node, yaml.SequenceNode):
            self.cfg.workers = self.integer(node, "workers", WORKERS_RANGE) or 1
            return
        if not node.value:
            self.error(node, "workers must not be an empty list")
            return
        cpus = []
        for item in node.value:
            cpu = self.integer(item, "cpu id", CPU_RANGE)
            if cpu in cpus:
                self.error(item, f"cpu {cpu} is listed twice in workers")
            elif cpu is not None:
                cpus.append(cpu)
        self.cfg.worker_cpus = cpus
        self.cfg.workers = len(cpus)

    # ---- ports, vlans, bridges and their addresses

    def read_interfaces(self, value):
        sections = {kind: self.named_entries(value.get(section), section)
                    for kind, section in (("port", "ports"), ("vlan", "vlans"), ("bridge", "bridges"))}
        self.check_unique_names(sections)
        for name, name_node, node in sections["port"]:
            self.cfg.ports[name] = self.read_port(name, name_node, node)
        for name, name_node, node in sections["vlan"]:
            self.cfg.vlans[name] = self.read_vlan(name, name_node, node)
        for name, name_node, node in sections["bridge"]:
            self.cfg.bridges[name] = self.read_bridge(name, name_node, node)
        self.check_members_unaddressed()
        self.check_connected_subnets()

    def named_entries(self, node, section):
        """(name, name node, value node) of a ports/vlans/bridges section, bad names left out."""
        named = []
        for name, (name_node, value_node) in (self.mapping(node, section) or {}).items():
            if NAME_RE.fullmatch(name):
                named.append((name, name_node, value_node))
            else:
                self.error(name_node, f"name {name!r} must be 1-64 letters, digits or '_.:-', "
                                      "not starting with '-', '.' or ':'")
        return named

    def check_unique_names(self, sections):
        """Every name is unique across ports, vlans and bridges; the later definition is the error."""
        definitions = sorted(((name_node.start_mark.index, name, kind, name_node)
                              for kind, entries in sections.items() for name, name_node, _ in entries))
        first_line = {}
        for _, name, kind, name_node in definitions:
            if name in self.kind_of:
                self.error(name_node, f"name '{name}' is already used by "
                                      f"{self.kind_of[name]} '{name}' (line {first_line[name]})")
            else:
                self.kind_of[name] = kind
                first_line[name] = name_node.start_mark.line + 1

    def read_port(self, name, name_node, node):
        what = f"port '{name}'"
        port = Port(name=name, driver="", line=name_node.start_mark.line + 1)
        entries = self.mapping(node, what)
        if entries is None:
            return port
        port.driver = self.read_driver(entries.get("driver"), what, name_node)
        options = DRIVER_OPTIONS.get(port.driver, ALL_OPTIONS)
        hint = f" (driver {port.driver} takes {', '.join(options) or 'no options'})" if port.driver else ""
        self.check_keys(entries, COMMON_PORT_KEYS + options, f" in {what}", name_node,
                        REQUIRED_OPTIONS.get(port.driver, ()), hint)
        self.read_interface_fields(port, entries)
        port.options = self.read_options(entries, options)
        if port.driver == "pcap":
            self.check_pcap_port(port, entries, name_node)
        return port

    def read_options(self, entries, option_keys):
        options = {}
        for key, (_, value_node) in entries.items():
            value = OPTION_READERS[key](self, value_node, key) if key in option_keys else None
            if value is not None:
                options[key] = value
        return options

    def read_driver(self, entry, what, name_node):
        if entry is None:
            self.error(name_node, f"missing key 'driver' in {what}")
            return ""
        text = self.scalar(entry[1], "driver", "a driver name")
        if text is None or text in DRIVER_OPTIONS:
            return text or ""
        self.error(entry[1], f"unknown driver {text!r} (known: {', '.join(DRIVER_OPTIONS)})")
        return ""

    def check_pcap_port(self, port, entries, name_node):
        if "rx_pcap" not in entries and "tx_pcap" not in entries:
            self.error(name_node, f"pcap port '{port.name}' needs rx_pcap or tx_pcap")
        if port.options.get("loop") and "rx_pcap" not in entries:
            self.error(entries["loop"][0], "loop needs rx_pcap")
        tx_pcap = port.options.get("tx_pcap")
        if tx_pcap in self.tx_pcap_owner:
            self.error(entries["tx_pcap"][1], f"tx_pcap {tx_pcap} is already written by "
                                              f"port '{self.tx_pcap_owner[tx_pcap]}'")
        elif tx_pcap:
            self.tx_pcap_owner[tx_pcap] = port.name

    def read_interface_fields(self, interface, entries):
        """mtu, addresses and macaddress, the keys ports, vlans and bridges share."""
        self.read_integer(interface, "mtu", entries, MTU_RANGE)
        if "addresses" in entries:
            key_node, value_node = entries["addresses"]
            interface.addresses = self.read_addresses(value_node, interface.name)
            if isinstance(value_node, yaml.SequenceNode) and value_node.value:
                self.addresses_key[interface.name] = key_node
        if "macaddress" in entries:
            interface.macaddress = self.unicast_mac(entries["macaddress"][1], "macaddress")

    def read_addresses(self, node, owner):
        addresses = []
        for item in self.items(node, "addresses"):
            address = self.interface_address(item)
            if address is None:
                self.addresses_complete = False
                continue
            ip, prefixlen = address
            self.address_entries.append((item, ip, prefixlen, owner))
            addresses.append(netaddr.IPNetwork(f"{_ipv4_text(ip)}/{prefixlen}"))
        return addresses

    def interface_address(self, node):
        """(ip, prefixlen) of an interface address like 10.0.0.1/24."""
        text = self.scalar(node, "address", "an IPv4 address with prefix")
        if text is None:
            return None
        address, _, length = text.partition("/")
        try:
            ip = _ipv4(address)
            prefixlen = PREFIX_LENGTHS[length]
        except (ValueError, KeyError):
            prefixlen = 0
        if prefixlen == 0:
            self.error(node, f"address must be an IPv4 address with a prefix length of 1-32 "
                             f"like 10.0.0.1/24, got {text!r}")
        elif not _is_unicast_ipv4(ip):
            self.error(node, f"address {text} is not a unicast address")
        elif prefixlen <= 30 and ip & ~MASKS[prefixlen] == 0:
            self.error(node, f"address {text} is the network address of its subnet")
        elif prefixlen <= 30 and ip | MASKS[prefixlen] == ALL_ONES:
            self.error(node, f"address {text} is the broadcast address of its subnet")
        else:
            return ip, prefixlen
        return None

    def read_vlan(self, name, name_node, node):
        what = f"vlan '{name}'"
        vlan = Vlan(name=name, link="", id=0, line=name_node.start_mark.line + 1)
        entries = self.fields(node, VLAN_KEYS, what, name_node, required=("link", "id"))
        if entries is None:
            return vlan
        link = self.read_vlan_link(entries["link"][1]) if "link" in entries else None
        vlan.link = link.name if link else ""
        vlan.mtu = link.mtu if link else DEFAULT_MTU
        self.read_interface_fields(vlan, entries)
        if link and "mtu" in entries and vlan.mtu > link.mtu:
            self.error(entries["mtu"][1], f"mtu {vlan.mtu} is larger than the mtu of "
                                          f"port '{link.name}' ({link.mtu})")
        if "id" in entries:
            vlan.id = self.read_vlan_id(entries["id"][1], vlan) or 0
        return vlan

    def read_vlan_link(self, node):
        """The Port a vlan's link names."""
        name = self.string(node, "link")
        if name is None:
            return None
        if name in self.cfg.ports:
            return self.cfg.ports[name]
        if name in self.kind_of:
            self.error(node, f"link '{name}' is a {self.kind_of[name]}, not a port")
        else:
            self.error(node, f"link '{name}' is not a known port")
        return None

    def read_vlan_id(self, node, vlan):
        vlan_id = self.integer(node, "id", (1, 4094))
        twin = next((other for other in self.cfg.vlans.values()
                     if vlan.link and other.link == vlan.link and other.id == vlan_id), None)
        if twin:
            self.error(node, f"vlan id {vlan_id} on port '{vlan.link}' is already used by vlan '{twin.name}'")
        return vlan_id

    def read_bridge(self, name, name_node, node):
        what = f"bridge '{name}'"
        bridge = Bridge(name=name, line=name_node.start_mark.line + 1)
        entries = self.fields(node, BRIDGE_KEYS, what, name_node)
        if entries is None:
            return bridge
        if "interfaces" in entries:
            bridge.interfaces = self.read_bridge_members(entries["interfaces"][1], bridge)
        self.read_interface_fields(bridge, entries)
        self.read_integer(bridge, "mac_aging", entries, MAC_AGING_RANGE)
        self.read_integer(bridge, "mac_limit", entries, MAC_LIMIT_RANGE)
        if "static_macs" in entries:
            bridge.static_macs = self.read_static_macs(entries["static_macs"][1], bridge)
        return bridge

    def read_bridge_members(self, node, bridge):
        members = []
        for item in self.items(node, "interfaces"):
            name = self.string(item, "interface")
            if name is None:
                continue
            kind = self.kind_of.get(name)
            if kind is None:
                self.error(item, f"unknown interface '{name}' in bridge '{bridge.name}'")
            elif kind == "bridge":
                self.error(item, f"bridge '{name}' cannot be a member of bridge '{bridge.name}'")
            elif name in members:
                self.error(item, f"interface '{name}' is listed twice in bridge '{bridge.name}'")
            elif name in self.member_of:
                self.error(item, f"{kind} '{name}' is already in bridge '{self.member_of[name]}'")
            else:
                members.append(name)
                self.member_of[name] = bridge.name
        return members

    def read_static_macs(self, node, bridge):
        static_macs = []
        for item in self.items(node, "static_macs"):
            entries = self.fields(item, STATIC_MAC_KEYS, "static_macs entry", item,
                                  required=STATIC_MAC_KEYS)
            if not entries or len(entries) < len(STATIC_MAC_KEYS):
                continue
            mac = self.unicast_mac(entries["macaddress"][1], "macaddress")
            interface = self.string(entries["interface"][1], "interface")
            if interface is not None and interface not in bridge.interfaces:
                self.error(entries["interface"][1],
                           f"interface '{interface}' is not a member of bridge '{bridge.name}'")
            elif mac in (known for known, _ in static_macs):
                self.error(entries["macaddress"][1],
                           f"macaddress {mac} is already a static mac of bridge '{bridge.name}'")
            elif mac and interface:
                static_macs.append((mac, interface))
        return static_macs

    def check_members_unaddressed(self):
        for name, bridge in self.member_of.items():
            if name in self.addresses_key:
                self.error(self.addresses_key[name],
                           f"{self.label(name)} is in bridge '{bridge}', so it cannot have addresses")

    def check_connected_subnets(self):
        """No two connected subnets overlap; the later address (in the file) is the error."""
        self.address_entries.sort(key=lambda entry: entry[0].start_mark.index)
        for node, ip, prefixlen, owner in self.address_entries:
            mask = MASKS[prefixlen]
            for other in self.subnets:
                if ip & mask & other.mask == other.network & mask:
                    self.error(node, f"address {node.value} overlaps {other.node.value} on "
                                     f"{self.label(other.owner)} (line {other.node.start_mark.line + 1})")
                    break
            self.subnets.append(_Subnet(ip & mask, mask, owner, node))
            self.own_addresses.setdefault(ip, owner)
            # The router installs both as routes of its own; a static route may not replace them.
            self.route_by_prefix.setdefault((ip & mask) << 6 | prefixlen,
                                            f"the connected subnet of {self.label(owner)}")
            self.route_by_prefix.setdefault(ip << 6 | 32, f"the address of {self.label(owner)}")

    # ---- routes

    def read_routes(self, node):
        for item in self.items(node, "routes"):
            entries = self.fields(item, ROUTE_KEYS, "route", item, required=("to",))
            if entries is not None:
                self.read_route(item, entries)

    def read_route(self, item, entries):
        """One routes: entry: `to`, and either `via` or `type: blackhole`."""
        prefix = self.route_prefix(entries["to"][1]) if "to" in entries else None
        if "via" in entries and "type" in entries:
            self.error(entries["type"][0], "route cannot have both via and type")
            return
        if "via" in entries:
            via = self.ipv4(entries["via"][1], "via")
            next_hop_valid = via is not None
        elif "type" in entries:
            via = None
            next_hop_valid = self.choice(entries["type"][1], "type", ("blackhole",)) is not None
        else:
            self.error(item, "route needs via or type: blackhole")
            return
        if prefix is None or not next_hop_valid:
            return
        problem = self.add_route(*prefix, via, self.path, item.start_mark.line + 1)
        if problem:
            field_index, message = problem
            self.error(entries["to" if field_index == 0 else "via"][1], message)

    def route_prefix(self, node):
        text = self.scalar(node, "to", "a prefix")
        if text is None:
            return None
        try:
            return _prefix(text)
        except ValueError as err:
            self.error(node, f"to {err}")
            return None

    def add_route(self, network, prefixlen, via, file, line):
        """Record a parsed route, or return (field index, message): 0 for the prefix, 1 for via."""
        key = network << 6 | prefixlen
        first = self.route_by_prefix.get(key)
        if first is not None:
            return 0, self.duplicate_route_message(network, prefixlen, first)
        if via is not None:
            if via not in self.via_problems:
                self.via_problems[via] = self.via_problem(via)
            if self.via_problems[via] is not None:
                return 1, self.via_problems[via]
        route = Route(network, prefixlen, via, via is None, file, line)
        self.route_by_prefix[key] = route
        self.cfg.routes.append(route)
        return None

    def duplicate_route_message(self, network, prefixlen, first):
        prefix = f"{_ipv4_text(network)}/{prefixlen}"
        if isinstance(first, Route):
            return f"duplicate route to {prefix} (first at {first.file}:{first.line})"
        return f"route to {prefix} duplicates {first}"

    def via_problem(self, via):
        if via in self.own_addresses:
            owner = self.label(self.own_addresses[via])
            return f"via {_ipv4_text(via)} is this router's own address on {owner}"
        # A subnet that failed to parse would make every via into it look wrong.
        if self.addresses_complete and not any(subnet.contains(via) for subnet in self.subnets):
            return f"via {_ipv4_text(via)} is outside every connected subnet"
        return None

    # ---- route files

    def read_route_files(self, node):
        for item in self.items(node, "route_files"):
            shown, path = self.relative_path(item, "route file")
            if path is None:
                continue
            if path in self.cfg.route_files:
                self.error(item, f"route file {shown} is listed twice")
            elif not os.path.isfile(path):
                self.error(item, f"route file {shown} "
                                 f"{'is not a file' if os.path.exists(path) else 'does not exist'}")
            else:
                self.cfg.route_files.append(path)
                self.file_order.setdefault(shown, len(self.file_order))
                self.read_route_file(shown, path)

    def read_route_file(self, shown, path):
        """Lines of "PREFIX NEXTHOP" or "PREFIX blackhole"; '#' starts a comment.

        This loop runs once per line of tables with a million lines: plain
        str and int work only, nothing per line that it can do without.
        """
        issues = 0
        with open(path, encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, 1):
                words = (line[:line.index("#")] if "#" in line else line).split()
                problem = self.route_file_line(words, shown, number) if words else None
                if problem is None:
                    continue
                word_index, message = problem
                self.issues.append(Issue(shown, number, _word_column(line, word_index), message))
                issues += 1
                if issues == MAX_ISSUES_PER_ROUTE_FILE:
                    self.issues.append(Issue(shown, number, 1, "too many errors, stopped reading this file"))
                    return

    def route_file_line(self, words, shown, number):
        """Add the route on one route file line, or return (word index, message)."""
        if len(words) == 1:
            return 0, "missing next hop after the prefix (an IPv4 address or blackhole)"
        if len(words) > 2:
            return 2, f"unexpected {words[2]!r} after the next hop"
        try:
            network, prefixlen = _prefix(words[0])
        except ValueError as err:
            return 0, f"prefix {err}"
        next_hop = words[1]
        if next_hop not in self.next_hops:
            try:
                self.next_hops[next_hop] = _ipv4(next_hop)
            except ValueError:
                return 1, f"next hop must be an IPv4 address or blackhole, got {next_hop!r}"
        return self.add_route(network, prefixlen, self.next_hops[next_hop], shown, number)

    # ---- neighbors

    def read_neighbors(self, node):
        first_line = {}
        for item in self.items(node, "neighbors"):
            entries = self.fields(item, NEIGHBOR_KEYS, "neighbor", item, required=NEIGHBOR_KEYS)
            if not entries or len(entries) < len(NEIGHBOR_KEYS):
                continue
            ip = self.ipv4(entries["ip"][1], "ip")
            mac = self.unicast_mac(entries["macaddress"][1], "macaddress")
            interface = self.neighbor_interface(entries["interface"][1])
            if ip is None or interface is None:
                continue
            line = item.start_mark.line + 1
            if self.check_neighbor_ip(entries["ip"][1], ip, interface, first_line) and mac:
                first_line[ip] = line
                self.cfg.neighbors.append(Neighbor(_ipv4_text(ip), mac, interface, line))

    def neighbor_interface(self, node):
        """The name of a routed interface (one with addresses)."""
        name = self.string(node, "interface")
        if name is None:
            return None
        if name not in self.kind_of:
            self.error(node, f"unknown interface '{name}'")
        elif not any(subnet.owner == name for subnet in self.subnets):
            self.error(node, f"{self.label(name)} has no addresses")
        else:
            return name
        return None

    def check_neighbor_ip(self, node, ip, interface, first_line):
        text = _ipv4_text(ip)
        if ip in first_line:
            self.error(node, f"duplicate neighbor {text} (first at line {first_line[ip]})")
        elif ip in self.own_addresses:
            self.error(node, f"ip {text} is this router's own address")
        elif not any(subnet.contains(ip) for subnet in self.subnets if subnet.owner == interface):
            self.error(node, f"ip {text} is outside the subnets of {self.label(interface)}")
        else:
            return True
        return False


def _word_column(line, word_index):
    """1-based column of the word_index-th whitespace-separated word of line."""
    return list(re.finditer(r"\S+", line))[word_index].start() + 1


# Reader of each driver-specific port key: (loader, value node, key) → value or None.
OPTION_READERS = {
    "pci": _Loader.pci_address,
    "rx_queues": _Loader.queue_count,
    "tx_queues": _Loader.queue_count,
    "queues": _Loader.queue_count,
    "socket": _Loader.socket_path,
    "mode": _Loader.vhost_mode,
    "interface": _Loader.kernel_interface,
    "fix_checksums": _Loader.boolean,
    "rx_pcap": _Loader.existing_file,
    "tx_pcap": _Loader.output_file,
    "loop": _Loader.boolean,
}
