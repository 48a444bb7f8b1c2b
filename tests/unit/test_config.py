"""vswitch.config: the config file of SPEC.md "Config file (YAML, version 1)".

Every rejected config is checked down to the exact FILE:LINE:COL: message
lines. Each test runs in its own temporary folder (the cwd), and writes the
config as c.yaml there, so the file part of every issue is "c.yaml".
"""
import glob
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import netaddr
import pytest

from vswitch import config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(text, name="c.yaml"):
    """Write text (dedented, first line is line 1) to name under the cwd."""
    Path(name).parent.mkdir(parents=True, exist_ok=True)
    Path(name).write_text(textwrap.dedent(text).lstrip("\n"))
    return name


def load(text):
    return config.load(write(text))


def issues(text, name="c.yaml"):
    """The str() of every issue of the config text."""
    with pytest.raises(config.ConfigError) as caught:
        config.load(write(text, name))
    return [str(issue) for issue in caught.value.issues]


# ---------------------------------------------------------------- good configs

def test_minimal_config_has_the_defaults():
    cfg = load("version: 1\n")
    assert (cfg.path, cfg.dir, cfg.version) == ("c.yaml", os.getcwd(), 1)
    assert (cfg.workers, cfg.worker_cpus) == (1, None)
    assert cfg.control_socket == "/run/vswitch/vswitch.sock"
    assert cfg.source_text == "version: 1\n"
    assert (cfg.ports, cfg.vlans, cfg.bridges, cfg.routes, cfg.neighbors) == ({}, {}, {}, [], [])


def test_port_vlan_and_bridge_defaults():
    cfg = load("""
        version: 1
        ports:
          p1: {driver: null}
        vlans:
          p1.5: {link: p1, id: 5}
        bridges:
          br0: {interfaces: [p1.5]}
        """)
    assert cfg.ports["p1"] == config.Port(name="p1", driver="null", mtu=1500, addresses=[],
                                          macaddress=None, options={}, line=3)
    assert cfg.vlans["p1.5"] == config.Vlan(name="p1.5", link="p1", id=5, mtu=1500, addresses=[],
                                            macaddress=None, line=5)
    assert cfg.bridges["br0"] == config.Bridge(name="br0", interfaces=["p1.5"], addresses=[],
                                               macaddress=None, mac_aging=300, mac_limit=65536,
                                               static_macs=[], line=7)


def test_yaml_1_1_words_are_names_and_null_is_the_null_driver():
    make_file("in.pcap")
    cfg = load("""
        version: 1
        ports:
          no: {driver: null}
          yes: {driver: "null"}
          on: {driver: pcap, rx_pcap: in.pcap, loop: true}
        bridges:
          off: {interfaces: [no, on]}
        """)
    assert list(cfg.ports) == ["no", "yes", "on"]
    assert cfg.ports["no"].driver == "null"
    assert cfg.ports["on"].options["loop"] is True
    assert cfg.bridges["off"].interfaces == ["no", "on"]


def test_macs_are_strings_normalized_to_lower_case_colons():
    cfg = load("""
        version: 1
        ports:
          a: {driver: null, macaddress: 00:11:22:33:44:55}
          b: {driver: null, macaddress: "02-AA-bb-CC-00-01"}
          c: {driver: null, macaddress: 0A:0B:0C:0D:0E:0F}
        """)
    assert [port.macaddress for port in cfg.ports.values()] == [
        "00:11:22:33:44:55", "02:aa:bb:cc:00:01", "0a:0b:0c:0d:0e:0f"]


def test_addresses_keep_their_host_bits():
    cfg = load("""
        version: 1
        ports:
          p1: {driver: null, addresses: [10.0.0.1/24, 192.168.7.9/30]}
        """)
    assert cfg.ports["p1"].addresses == [netaddr.IPNetwork("10.0.0.1/24"), netaddr.IPNetwork("192.168.7.9/30")]
    assert str(cfg.ports["p1"].addresses[0].ip) == "10.0.0.1"


def test_vlan_inherits_its_links_mtu_unless_given():
    cfg = load("""
        version: 1
        ports:
          trunk: {driver: null, mtu: 1400}
        vlans:
          trunk.10: {link: trunk, id: 10}
          trunk.20: {link: trunk, id: 20, mtu: 1300}
        """)
    assert (cfg.vlans["trunk.10"].mtu, cfg.vlans["trunk.20"].mtu) == (1400, 1300)


def test_port_with_vlans_may_itself_be_a_bridge_member():
    cfg = load("""
        version: 1
        ports:
          trunk: {driver: null}
          access: {driver: null}
        vlans:
          trunk.10: {link: trunk, id: 10}
        bridges:
          untagged: {interfaces: [trunk, access]}
          tagged: {interfaces: [trunk.10]}
        """)
    assert cfg.bridge_of("trunk").name == "untagged"
    assert cfg.bridge_of("trunk.10").name == "tagged"


def test_paths_are_made_absolute_relative_to_the_config_folder(in_tmp_path):
    make_file("sub/in/p1.pcap")
    cfg = config.load(write("""
        version: 1
        control_socket: run/ctl.sock
        ports:
          p1: {driver: pcap, rx_pcap: in/p1.pcap, tx_pcap: out/not-yet/p1.pcap}
          vm: {driver: vhost-user, socket: vm.sock, mode: client, queues: 2}
          abs: {driver: pcap, tx_pcap: /tmp/vswitch-test/abs.pcap}
        """, "sub/c.yaml"))
    sub = in_tmp_path / "sub"
    assert cfg.dir == str(sub)
    assert cfg.control_socket == str(sub / "run/ctl.sock")
    assert cfg.ports["p1"].options == {"rx_pcap": str(sub / "in/p1.pcap"),
                                       "tx_pcap": str(sub / "out/not-yet/p1.pcap")}
    assert cfg.ports["vm"].options == {"socket": str(sub / "vm.sock"), "mode": "client", "queues": 2}
    assert cfg.ports["abs"].options == {"tx_pcap": "/tmp/vswitch-test/abs.pcap"}


def test_driver_options_are_normalized():
    cfg = load("""
        version: 1
        ports:
          nic: {driver: ixgbe, pci: "03:00.1", rx_queues: 4, tx_queues: 2}
          vio: {driver: virtio, pci: 0000:00:0A.0}
          xdp: {driver: af_xdp, interface: veth0, rx_queues: 2, fix_checksums: false}
          raw: {driver: af_packet, interface: eth1}
          tap: {driver: tap, interface: vs-tap0}
        """)
    assert cfg.ports["nic"].options == {"pci": "0000:03:00.1", "rx_queues": 4, "tx_queues": 2}
    assert cfg.ports["vio"].options == {"pci": "0000:00:0a.0"}
    assert cfg.ports["xdp"].options == {"interface": "veth0", "rx_queues": 2, "fix_checksums": False}
    assert cfg.ports["raw"].options == {"interface": "eth1"}
    assert cfg.ports["tap"].options == {"interface": "vs-tap0"}


def test_workers_as_a_cpu_list():
    cfg = load("version: 1\nworkers: [2, 3, 5]\n")
    assert (cfg.workers, cfg.worker_cpus) == (3, [2, 3, 5])
    assert load("version: 1\nworkers: 4\n").workers == 4


def test_bridge_settings_and_static_macs():
    cfg = load("""
        version: 1
        ports:
          a: {driver: null}
          b: {driver: null}
        bridges:
          br0:
            interfaces: [a, b]
            addresses: [10.0.0.1/24]
            macaddress: "02:00:00:00:00:01"
            mac_aging: 0
            mac_limit: 100
            static_macs:
              - {macaddress: "02:00:00:00:00:AA", interface: b}
        """)
    bridge = cfg.bridges["br0"]
    assert (bridge.mac_aging, bridge.mac_limit, bridge.macaddress) == (0, 100, "02:00:00:00:00:01")
    assert bridge.static_macs == [("02:00:00:00:00:aa", "b")]


def test_routes_come_from_routes_then_each_route_file_in_order():
    write("""
        # comment line, then a blank one

        10.1.0.0/16  10.0.0.9   # trailing comment
        \t10.2.0.0/16\tblackhole
        """, "tables/one.txt")
    write("""
        10.3.0.0/24 192.0.2.7
        """, "tables/two.txt")
    cfg = load("""
        version: 1
        ports:
          lan: {driver: null, addresses: [10.0.0.1/24]}
          wan: {driver: null, addresses: [192.0.2.1/24]}
        routes:
          - {to: default, via: 192.0.2.254}
          - {to: 203.0.113.0/24, type: blackhole}
        route_files: [tables/one.txt, tables/two.txt]
        """)
    assert cfg.routes == [
        config.Route(0, 0, 0xC00002FE, False, "c.yaml", 6),
        config.Route(0xCB007100, 24, None, True, "c.yaml", 7),
        config.Route(0x0A010000, 16, 0x0A000009, False, "tables/one.txt", 3),
        config.Route(0x0A020000, 16, None, True, "tables/one.txt", 4),
        config.Route(0x0A030000, 24, 0xC0000207, False, "tables/two.txt", 1),
    ]
    assert cfg.route_files == [os.path.abspath("tables/one.txt"), os.path.abspath("tables/two.txt")]


def test_neighbors():
    cfg = load("""
        version: 1
        ports:
          wan: {driver: null, addresses: [192.0.2.1/24]}
        neighbors:
          - {ip: 192.0.2.254, macaddress: "02:00:00:00:00:FE", interface: wan}
        """)
    assert cfg.neighbors == [config.Neighbor("192.0.2.254", "02:00:00:00:00:fe", "wan", 5)]


def test_interface_helpers():
    cfg = load("""
        version: 1
        ports:
          p1: {driver: null}
        vlans:
          p1.7: {link: p1, id: 7}
        bridges:
          br0: {interfaces: [p1]}
        """)
    assert cfg.iface_names() == ["p1", "p1.7", "br0"]
    assert cfg.interface("p1.7") is cfg.vlans["p1.7"]
    assert cfg.bridge_of("p1") is cfg.bridges["br0"]
    assert cfg.bridge_of("p1.7") is None
    with pytest.raises(KeyError):
        cfg.interface("nope")


def test_derived_mac_is_stable_locally_administered_unicast():
    mac = config.derived_mac("br0")
    assert mac == config.derived_mac("br0") != config.derived_mac("br1")
    assert mac.startswith("02:") and len(mac.split(":")) == 6
    assert mac == mac.lower()


def test_issue_and_config_error():
    issue = config.Issue("c.yaml", 3, 7, "unknown key 'foo'")
    assert str(issue) == "c.yaml:3:7: unknown key 'foo'"
    err = config.ConfigError([issue, config.Issue("c.yaml", 4, 1, "x")])
    assert isinstance(err, Exception)
    assert err.issues[0] is issue
    assert str(err) == "c.yaml:3:7: unknown key 'foo'\nc.yaml:4:1: x"


@pytest.mark.parametrize("path", sorted(glob.glob(str(REPO / "configs" / "*.yaml"))),
                         ids=os.path.basename)
def test_every_example_config_is_valid(path):
    cfg = config.load(path)
    assert cfg.ports


# ---------------------------------------------------------------- rejected configs

def make_file(name, content=b""):
    Path(name).parent.mkdir(parents=True, exist_ok=True)
    Path(name).write_bytes(content)
    return name


BAD_CONFIGS = {
    # --- the file and its YAML
    "empty file": ("", ["c.yaml:1:1: config is empty; it needs at least 'version: 1'"]),
    "yaml syntax": ("version: 1\nports: {p1: [a, b}\n",
                    ["c.yaml:2:18: while parsing a flow sequence, expected ',' or ']', but got '}'"]),
    "tab indent": ("version: 1\nports:\n\tp1: {}\n",
                   ["c.yaml:3:1: while scanning for the next token, "
                    "found character '\\t' that cannot start any token"]),
    "two documents": ("version: 1\n---\nversion: 1\n",
                      ["c.yaml:2:1: expected a single document in the stream, but found another document"]),
    "top level not a mapping": ("- version: 1\n", ["c.yaml:1:1: the top level must be a mapping"]),
    "missing version": ("ports: {}\n", ["c.yaml:1:1: missing key 'version'"]),
    "version 2": ("version: 2\n", ["c.yaml:1:10: version must be 1, got '2'"]),
    "unknown top-level key": ("version: 1\nrouters: []\n", ["c.yaml:2:1: unknown key 'routers'"]),
    "duplicate top-level key": ("version: 1\nports: {}\nports: {}\n", ["c.yaml:3:1: duplicate key 'ports'"]),
    "non-string key": ("version: 1\n[a, b]: 1\n", ["c.yaml:2:1: keys must be strings, got a list"]),
    "section not a mapping": ("version: 1\nports: [p1]\n", ["c.yaml:2:8: ports must be a mapping"]),
    "section not a list": ("version: 1\nroutes: {to: default}\n", ["c.yaml:2:9: routes must be a list"]),

    # --- workers and control_socket
    "workers zero": ("version: 1\nworkers: 0\n", ["c.yaml:2:10: workers must be 1-1024, got 0"]),
    "workers word": ("version: 1\nworkers: two\n", ["c.yaml:2:10: workers must be an integer, got 'two'"]),
    "workers empty list": ("version: 1\nworkers: []\n", ["c.yaml:2:10: workers must not be an empty list"]),
    "workers negative cpu": ("version: 1\nworkers: [1, -1]\n", ["c.yaml:2:14: cpu id must be 0-4095, got -1"]),
    "workers cpu twice": ("version: 1\nworkers: [1, 2, 1]\n", ["c.yaml:2:17: cpu 1 is listed twice in workers"]),
    "control_socket list": ("version: 1\ncontrol_socket: [a]\n",
                            ["c.yaml:2:17: control_socket must be a string, got a list"]),
    "control_socket too long": ("version: 1\ncontrol_socket: /" + "s" * 107 + "\n",
                                ["c.yaml:2:17: control_socket /" + "s" * 107 + " is too long for a "
                                 "UNIX socket (at most 107 bytes)"]),

    # --- names
    "name used twice": ("""
        version: 1
        ports:
          p1: {driver: null}
        bridges:
          p1: {}
        """, ["c.yaml:5:3: name 'p1' is already used by port 'p1' (line 3)"]),
    "later definition of a name is the error": ("""
        version: 1
        vlans:
          x: {link: p1, id: 1}
        ports:
          p1: {driver: null}
          x: {driver: null}
        """, ["c.yaml:6:3: name 'x' is already used by vlan 'x' (line 3)"]),
    "bad name": ("""
        version: 1
        ports:
          "a b": {driver: null}
          -p: {driver: null}
        """, ["c.yaml:3:3: name 'a b' must be 1-64 letters, digits or '_.:-', not starting with '-', '.' or ':'",
              "c.yaml:4:3: name '-p' must be 1-64 letters, digits or '_.:-', not starting with '-', '.' or ':'"]),

    # --- ports
    "port not a mapping": ("version: 1\nports:\n  p1: null\n", ["c.yaml:3:7: port 'p1' must be a mapping"]),
    "missing driver": ("version: 1\nports:\n  p1: {mtu: 1500}\n", ["c.yaml:3:3: missing key 'driver' in port 'p1'"]),
    "unknown driver": ("version: 1\nports:\n  p1: {driver: e1000}\n",
                       ["c.yaml:3:16: unknown driver 'e1000' (known: ixgbe, virtio, vhost-user, af_xdp, "
                        "af_packet, tap, pcap, null)"]),
    "unknown port key": ("version: 1\nports:\n  p1: {driver: null, foo: 1}\n",
                         ["c.yaml:3:22: unknown key 'foo' in port 'p1' (driver null takes no options)"]),
    "key of another driver": ("version: 1\nports:\n  p1: {driver: pcap, tx_pcap: o.pcap, pci: 00:01.0}\n",
                              ["c.yaml:3:39: unknown key 'pci' in port 'p1' "
                               "(driver pcap takes rx_pcap, tx_pcap, loop, rx_queues)"]),
    "duplicate port key": ("version: 1\nports:\n  p1: {driver: null, mtu: 1400, mtu: 1500}\n",
                           ["c.yaml:3:33: duplicate key 'mtu'"]),
    "missing pci": ("version: 1\nports:\n  nic: {driver: virtio}\n",
                    ["c.yaml:3:3: missing key 'pci' in port 'nic'"]),
    "missing socket": ("version: 1\nports:\n  vm: {driver: vhost-user, mode: server}\n",
                       ["c.yaml:3:3: missing key 'socket' in port 'vm'"]),
    "missing interface": ("version: 1\nports:\n  k1: {driver: af_xdp}\n  k2: {driver: af_packet}\n"
                          "  k3: {driver: tap}\n",
                          ["c.yaml:3:3: missing key 'interface' in port 'k1'",
                           "c.yaml:4:3: missing key 'interface' in port 'k2'",
                           "c.yaml:5:3: missing key 'interface' in port 'k3'"]),
    "mtu too big": ("version: 1\nports:\n  p1: {driver: null, mtu: 9000}\n",
                    ["c.yaml:3:27: mtu must be 68-1500, got 9000"]),
    "mtu too small": ("version: 1\nports:\n  p1: {driver: null, mtu: 67}\n",
                      ["c.yaml:3:27: mtu must be 68-1500, got 67"]),
    "mtu not a number": ("version: 1\nports:\n  p1: {driver: null, mtu: 1_500}\n",
                         ["c.yaml:3:27: mtu must be an integer, got '1_500'"]),
    "bad pci": ("version: 1\nports:\n  nic: {driver: ixgbe, pci: 3.0}\n",
                ["c.yaml:3:29: pci must be a PCI address like 0000:03:00.0, got '3.0'"]),
    "bad queue count": ("version: 1\nports:\n  nic: {driver: ixgbe, pci: 03:00.0, rx_queues: 0}\n",
                        ["c.yaml:3:49: rx_queues must be 1-64, got 0"]),
    "bad vhost mode": ("version: 1\nports:\n  vm: {driver: vhost-user, socket: /v.sock, mode: both}\n",
                       ["c.yaml:3:51: mode must be server or client, got 'both'"]),
    "bad kernel interface": ("version: 1\nports:\n  k: {driver: tap, interface: a-very-long-name0}\n",
                             ["c.yaml:3:31: interface must be a Linux interface name (1-15 characters, "
                              "no '/', ':' or spaces), got 'a-very-long-name0'"]),
    "boolean is true or false only": ("version: 1\nports:\n  x: {driver: af_xdp, interface: v0, fix_checksums: on}\n",
                                      ["c.yaml:3:53: fix_checksums must be true or false, got 'on'"]),
    "vhost socket too long": ("version: 1\nports:\n  vm: {driver: vhost-user, socket: /" + "v" * 107 + "}\n",
                              ["c.yaml:3:36: socket /" + "v" * 107 + " is too long for a UNIX socket "
                               "(at most 107 bytes)"]),
    "pcap without files": ("version: 1\nports:\n  p1: {driver: pcap}\n",
                           ["c.yaml:3:3: pcap port 'p1' needs rx_pcap or tx_pcap"]),
    "loop without rx_pcap": ("version: 1\nports:\n  p1: {driver: pcap, tx_pcap: o.pcap, loop: true}\n",
                             ["c.yaml:3:39: loop needs rx_pcap"]),
    "loop not a boolean": ("version: 1\nports:\n  p1: {driver: pcap, tx_pcap: o.pcap, loop: yes}\n",
                           ["c.yaml:3:45: loop must be true or false, got 'yes'"]),
    "rx_pcap missing": ("version: 1\nports:\n  p1: {driver: pcap, rx_pcap: in/none.pcap}\n",
                        ["c.yaml:3:31: rx_pcap in/none.pcap does not exist"]),
    "rx_pcap a folder": ("version: 1\nports:\n  p1: {driver: pcap, rx_pcap: .}\n",
                         ["c.yaml:3:31: rx_pcap . is not a file"]),

    # --- addresses
    "address without prefix": ("version: 1\nports:\n  p1: {driver: null, addresses: [10.0.0.1]}\n",
                               ["c.yaml:3:34: address must be an IPv4 address with a prefix length of 1-32 "
                                "like 10.0.0.1/24, got '10.0.0.1'"]),
    "address not IPv4": ("version: 1\nports:\n  p1: {driver: null, addresses: [10.0.0.256/24, fe80::1/64]}\n",
                         ["c.yaml:3:34: address must be an IPv4 address with a prefix length of 1-32 "
                          "like 10.0.0.1/24, got '10.0.0.256/24'",
                          "c.yaml:3:49: address must be an IPv4 address with a prefix length of 1-32 "
                          "like 10.0.0.1/24, got 'fe80::1/64'"]),
    "addresses not a list": ("version: 1\nports:\n  p1: {driver: null, addresses: 10.0.0.1/24}\n",
                             ["c.yaml:3:33: addresses must be a list"]),
    "address not unicast": ("version: 1\nports:\n  p1: {driver: null, addresses: [224.0.0.1/24, 127.0.0.1/8]}\n",
                            ["c.yaml:3:34: address 224.0.0.1/24 is not a unicast address",
                             "c.yaml:3:48: address 127.0.0.1/8 is not a unicast address"]),
    "network and broadcast address": ("version: 1\nports:\n  p1: {driver: null, addresses: [10.0.0.0/24]}\n"
                                      "  p2: {driver: null, addresses: [10.0.1.255/24]}\n",
                                      ["c.yaml:3:34: address 10.0.0.0/24 is the network address of its subnet",
                                       "c.yaml:4:34: address 10.0.1.255/24 is the broadcast address of its subnet"]),
    "overlapping subnets": ("""
        version: 1
        ports:
          p1: {driver: null, addresses: [10.0.0.1/24]}
        vlans:
          p1.2: {link: p1, id: 2, addresses: [10.0.0.129/25]}
        bridges:
          br0: {addresses: [10.0.0.2/16]}
        """, ["c.yaml:5:39: address 10.0.0.129/25 overlaps 10.0.0.1/24 on port 'p1' (line 3)",
              "c.yaml:7:21: address 10.0.0.2/16 overlaps 10.0.0.1/24 on port 'p1' (line 3)"]),
    "overlap on one interface": ("version: 1\nports:\n  p1: {driver: null, addresses: [10.0.0.1/24, 10.0.0.2/24]}\n",
                                 ["c.yaml:3:47: address 10.0.0.2/24 overlaps 10.0.0.1/24 on port 'p1' (line 3)"]),

    # --- macaddress
    "bad mac": ("version: 1\nports:\n  p1: {driver: null, macaddress: '02:00:00:00:00'}\n",
                ["c.yaml:3:34: macaddress must be six hex pairs like 02:00:00:00:00:01, got '02:00:00:00:00'"]),
    "mixed separators": ("version: 1\nports:\n  p1: {driver: null, macaddress: '02:00-00:00:00:01'}\n",
                         ["c.yaml:3:34: macaddress must be six hex pairs like 02:00:00:00:00:01, "
                          "got '02:00-00:00:00:01'"]),
    "multicast mac": ("version: 1\nbridges:\n  br0: {macaddress: 01:00:5E:00:00:01}\n",
                      ["c.yaml:3:21: macaddress 01:00:5e:00:00:01 is a multicast address"]),
    "zero mac": ("version: 1\nbridges:\n  br0: {macaddress: 00:00:00:00:00:00}\n",
                 ["c.yaml:3:21: macaddress 00:00:00:00:00:00 is the all-zero address"]),

    # --- vlans
    "vlan link unknown": ("version: 1\nvlans:\n  v1: {link: eth0, id: 1}\n",
                          ["c.yaml:3:14: link 'eth0' is not a known port"]),
    "vlan link not a port": ("""
        version: 1
        ports:
          p1: {driver: null}
        vlans:
          v1: {link: p1, id: 1}
          v2: {link: v1, id: 2}
          v3: {link: br0, id: 3}
        bridges:
          br0: {}
        """, ["c.yaml:6:14: link 'v1' is a vlan, not a port",
              "c.yaml:7:14: link 'br0' is a bridge, not a port"]),
    "vlan missing link and id": ("version: 1\nvlans:\n  v1: {}\n",
                                 ["c.yaml:3:3: missing key 'link' in vlan 'v1'",
                                  "c.yaml:3:3: missing key 'id' in vlan 'v1'"]),
    "vlan id range": ("version: 1\nports:\n  p1: {driver: null}\nvlans:\n  v0: {link: p1, id: 0}\n"
                      "  v1: {link: p1, id: 4095}\n",
                      ["c.yaml:5:22: id must be 1-4094, got 0", "c.yaml:6:22: id must be 1-4094, got 4095"]),
    "vlan id twice on a link": ("""
        version: 1
        ports:
          p1: {driver: null}
          p2: {driver: null}
        vlans:
          a: {link: p1, id: 10}
          b: {link: p2, id: 10}
          c: {link: p1, id: 10}
        """, ["c.yaml:8:21: vlan id 10 on port 'p1' is already used by vlan 'a'"]),
    "vlan mtu above its link": ("version: 1\nports:\n  p1: {driver: null, mtu: 1400}\nvlans:\n"
                                "  v1: {link: p1, id: 1, mtu: 1500}\n",
                                ["c.yaml:5:30: mtu 1500 is larger than the mtu of port 'p1' (1400)"]),
    "unknown vlan key": ("version: 1\nports:\n  p1: {driver: null}\nvlans:\n  v1: {link: p1, id: 1, pcp: 3}\n",
                         ["c.yaml:5:25: unknown key 'pcp' in vlan 'v1'"]),

    # --- bridges
    "bridge member unknown": ("version: 1\nbridges:\n  br0: {interfaces: [nope]}\n",
                              ["c.yaml:3:22: unknown interface 'nope' in bridge 'br0'"]),
    "bridge in a bridge": ("version: 1\nbridges:\n  br0: {}\n  br1: {interfaces: [br0]}\n",
                           ["c.yaml:4:22: bridge 'br0' cannot be a member of bridge 'br1'"]),
    "member listed twice": ("version: 1\nports:\n  p1: {driver: null}\nbridges:\n  br0: {interfaces: [p1, p1]}\n",
                            ["c.yaml:5:26: interface 'p1' is listed twice in bridge 'br0'"]),
    "member of two bridges": ("""
        version: 1
        ports:
          p1: {driver: null}
        vlans:
          p1.3: {link: p1, id: 3}
        bridges:
          br0: {interfaces: [p1, p1.3]}
          br1: {interfaces: [p1.3]}
        """, ["c.yaml:8:22: vlan 'p1.3' is already in bridge 'br0'"]),
    "member with addresses": ("""
        version: 1
        ports:
          p1: {driver: null, addresses: [10.0.0.1/24]}
          p2: {driver: null, addresses: []}
        bridges:
          br0: {interfaces: [p1, p2]}
        """, ["c.yaml:3:22: port 'p1' is in bridge 'br0', so it cannot have addresses"]),
    "mac_aging and mac_limit range": ("version: 1\nbridges:\n  br0: {mac_aging: -1, mac_limit: 0}\n",
                                      ["c.yaml:3:20: mac_aging must be 0-1000000, got -1",
                                       "c.yaml:3:35: mac_limit must be 1-16777216, got 0"]),
    "static mac on a non-member": ("""
        version: 1
        ports:
          p1: {driver: null}
          p2: {driver: null}
        bridges:
          br0:
            interfaces: [p1]
            static_macs:
              - {macaddress: "02:00:00:00:00:01", interface: p2}
        """, ["c.yaml:9:54: interface 'p2' is not a member of bridge 'br0'"]),
    "static mac multicast or twice": ("""
        version: 1
        ports:
          p1: {driver: null}
        bridges:
          br0:
            interfaces: [p1]
            static_macs:
              - {macaddress: "ff:ff:ff:ff:ff:ff", interface: p1}
              - {macaddress: "02:00:00:00:00:01", interface: p1}
              - {macaddress: "02:00:00:00:00:01", interface: p1}
              - {interface: p1, vlan: 3}
        """, ["c.yaml:8:22: macaddress ff:ff:ff:ff:ff:ff is a multicast address",
              "c.yaml:10:22: macaddress 02:00:00:00:00:01 is already a static mac of bridge 'br0'",
              "c.yaml:11:9: missing key 'macaddress' in static_macs entry",
              "c.yaml:11:25: unknown key 'vlan' in static_macs entry"]),

    # --- routes
    "route prefix with host bits": ("version: 1\nroutes:\n  - {to: 10.1.0.1/16, type: blackhole}\n",
                                    ["c.yaml:3:10: to 10.1.0.1/16 has host bits set (network is 10.1.0.0/16)"]),
    "route prefix unreadable": ("version: 1\nroutes:\n  - {to: 10.1.0.0, type: blackhole}\n"
                                "  - {to: 10.1.0.0/33, type: blackhole}\n",
                                ["c.yaml:3:10: to must be a prefix like 10.0.0.0/24 or default, got '10.1.0.0'",
                                 "c.yaml:4:10: to must be a prefix like 10.0.0.0/24 or default, got '10.1.0.0/33'"]),
    "route without next hop": ("version: 1\nroutes:\n  - to: default\n",
                               ["c.yaml:3:5: route needs via or type: blackhole"]),
    "route with via and type": ("version: 1\nroutes:\n  - {to: default, via: 10.0.0.1, type: blackhole}\n",
                                ["c.yaml:3:34: route cannot have both via and type"]),
    "route type not blackhole": ("version: 1\nroutes:\n  - {to: default, type: drop}\n",
                                 ["c.yaml:3:25: type must be blackhole, got 'drop'"]),
    "route missing to": ("version: 1\nroutes:\n  - {type: blackhole}\n", ["c.yaml:3:5: missing key 'to' in route"]),
    "route via unreadable": ("version: 1\nroutes:\n  - {to: default, via: 10.0.0.1/32}\n",
                             ["c.yaml:3:24: via must be an IPv4 address, got '10.0.0.1/32'"]),
    "route via outside connected subnets": ("""
        version: 1
        ports:
          p1: {driver: null, addresses: [10.0.0.1/24]}
        routes:
          - {to: default, via: 10.9.9.9}
        """, ["c.yaml:5:24: via 10.9.9.9 is outside every connected subnet"]),
    "route via our own address": ("""
        version: 1
        ports:
          p1: {driver: null, addresses: [10.0.0.1/24]}
        routes:
          - {to: default, via: 10.0.0.1}
        """, ["c.yaml:5:24: via 10.0.0.1 is this router's own address on port 'p1'"]),
    "route given twice": ("""
        version: 1
        routes:
          - {to: default, type: blackhole}
          - {to: 10.0.0.0/8, type: blackhole}
          - {to: 0.0.0.0/0, type: blackhole}
          - to: 10.0.0.0/8
            type: blackhole
        """, ["c.yaml:5:10: duplicate route to 0.0.0.0/0 (first at c.yaml:3)",
              "c.yaml:6:9: duplicate route to 10.0.0.0/8 (first at c.yaml:4)"]),
    "route to a connected subnet or own address": ("""
        version: 1
        ports:
          p1: {driver: null, addresses: [10.0.0.1/24]}
        routes:
          - {to: 10.0.0.0/24, type: blackhole}
          - {to: 10.0.0.1/32, type: blackhole}
        """, ["c.yaml:5:10: route to 10.0.0.0/24 duplicates the connected subnet of port 'p1'",
              "c.yaml:6:10: route to 10.0.0.1/32 duplicates the address of port 'p1'"]),

    # --- route_files (the file's own problems are tested below)
    "route file missing": ("version: 1\nroute_files: [routes/none.txt]\n",
                           ["c.yaml:2:15: route file routes/none.txt does not exist"]),
    "route_files not a list": ("version: 1\nroute_files: routes.txt\n", ["c.yaml:2:14: route_files must be a list"]),

    # --- neighbors
    "neighbor on an unknown interface": ("version: 1\nneighbors:\n"
                                         "  - {ip: 10.0.0.2, macaddress: '02:00:00:00:00:02', interface: eth9}\n",
                                         ["c.yaml:3:64: unknown interface 'eth9'"]),
    "neighbor on an interface without addresses": ("""
        version: 1
        ports:
          p1: {driver: null}
        neighbors:
          - {ip: 10.0.0.2, macaddress: "02:00:00:00:00:02", interface: p1}
        """, ["c.yaml:5:64: port 'p1' has no addresses"]),
    "neighbor outside its interface": ("""
        version: 1
        ports:
          p1: {driver: null, addresses: [10.0.0.1/24]}
          p2: {driver: null, addresses: [10.0.1.1/24]}
        neighbors:
          - {ip: 10.0.1.2, macaddress: "02:00:00:00:00:02", interface: p1}
        """, ["c.yaml:6:10: ip 10.0.1.2 is outside the subnets of port 'p1'"]),
    "neighbor bad values": ("""
        version: 1
        ports:
          p1: {driver: null, addresses: [10.0.0.1/24]}
        neighbors:
          - {ip: 10.0.0.1, macaddress: "02:00:00:00:00:02", interface: p1}
          - {ip: 10.0.0.2, macaddress: "03:00:00:00:00:02", interface: p1}
          - {ip: 10.0.0.3, macaddress: "02:00:00:00:00:03", interface: p1}
          - {ip: 10.0.0.3, macaddress: "02:00:00:00:00:04", interface: p1}
          - {ip: ten, macaddress: "02:00:00:00:00:05", interface: p1}
          - {ip: 10.0.0.6}
        """, ["c.yaml:5:10: ip 10.0.0.1 is this router's own address",
              "c.yaml:6:32: macaddress 03:00:00:00:00:02 is a multicast address",
              "c.yaml:8:10: duplicate neighbor 10.0.0.3 (first at line 7)",
              "c.yaml:9:10: ip must be an IPv4 address, got 'ten'",
              "c.yaml:10:5: missing key 'macaddress' in neighbor",
              "c.yaml:10:5: missing key 'interface' in neighbor"]),
}


@pytest.mark.parametrize("text, expected", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_bad_config(text, expected):
    assert issues(text) == expected


def test_driver_names_are_still_valid_before_their_driver_exists():
    """validate accepts every driver of the schema; `run` refuses the ones not built yet."""
    cfg = load("""
        version: 1
        ports:
          a: {driver: ixgbe, pci: "0000:03:00.0"}
          b: {driver: vhost-user, socket: /run/vswitch/vm1.sock}
        """)
    assert [port.driver for port in cfg.ports.values()] == ["ixgbe", "vhost-user"]


def test_two_ports_writing_one_tx_pcap(in_tmp_path):
    assert issues("""
        version: 1
        ports:
          a: {driver: pcap, tx_pcap: out/x.pcap}
          b: {driver: pcap, tx_pcap: out/../out/x.pcap}
        """) == [f"c.yaml:4:30: tx_pcap {in_tmp_path}/out/x.pcap is already written by port 'a'"]


def test_tx_pcap_may_not_be_a_folder():
    os.mkdir("out")
    assert issues("version: 1\nports:\n  a: {driver: pcap, tx_pcap: out}\n") == [
        "c.yaml:3:30: tx_pcap out is a folder"]


def test_all_independent_errors_are_reported_sorted_by_position():
    assert issues("""
        version: 1
        routes:
          - {to: default, via: 10.9.9.9}
        ports:
          p1: {driver: null, mtu: 9000, addresses: [10.0.0.1/24]}
          p2: {driver: bogus}
        workers: 0
        typo: 1
        """) == [
        "c.yaml:3:24: via 10.9.9.9 is outside every connected subnet",
        "c.yaml:5:27: mtu must be 68-1500, got 9000",
        "c.yaml:6:16: unknown driver 'bogus' (known: ixgbe, virtio, vhost-user, af_xdp, af_packet, tap, pcap, null)",
        "c.yaml:7:10: workers must be 1-1024, got 0",
        "c.yaml:8:1: unknown key 'typo'",
    ]


def test_a_bad_address_does_not_make_every_via_look_wrong():
    assert issues("""
        version: 1
        ports:
          p1: {driver: null, addresses: [10.0.0.1/33]}
        routes:
          - {to: default, via: 10.0.0.254}
        """) == ["c.yaml:3:34: address must be an IPv4 address with a prefix length of 1-32 "
                 "like 10.0.0.1/24, got '10.0.0.1/33'"]


def test_unreadable_config_file():
    assert issues_of_path("missing.yaml") == ["missing.yaml:1:1: cannot read config: No such file or directory"]


def test_config_file_not_utf8():
    Path("c.yaml").write_bytes(b"version: 1\nports:\n  p\xff: {}\n")
    assert issues_of_path("c.yaml") == ["c.yaml:3:4: file is not valid UTF-8"]


def test_control_characters_in_config():
    assert issues("version: 1\nports: {}\x07\n") == ["c.yaml:2:10: character '\\x07' is not allowed"]


def issues_of_path(path):
    with pytest.raises(config.ConfigError) as caught:
        config.load(path)
    return [str(issue) for issue in caught.value.issues]


# ---------------------------------------------------------------- route files

ROUTED_PORTS = """
    version: 1
    ports:
      lan: {driver: null, addresses: [10.0.0.1/24]}
      wan: {driver: null, addresses: [192.0.2.1/24]}
    routes:
      - {to: 10.1.0.0/16, via: 10.0.0.2}
    route_files: [tables/t.txt]
    """


def test_route_file_errors_point_into_the_route_file():
    write("""
        # prefix nexthop
        10.2.0.0/16 10.0.0.2
          10.1.0.0/16   192.0.2.9
        10.3.0.1/16 10.0.0.2
        10.4.0.0/16 bogus
        10.5.0.0/16
        10.6.0.0/16 10.0.0.2 extra
        10.7.0.0/16 10.9.9.9
        10.8.0.0/16 10.0.0.1
        10.2.0.0/16 blackhole
        10.9.0.0/16 blackhole  # fine
        ten/8 blackhole
        10.0.0.0/24 blackhole
        """, "tables/t.txt")
    assert issues(ROUTED_PORTS) == [
        "tables/t.txt:3:3: duplicate route to 10.1.0.0/16 (first at c.yaml:6)",
        "tables/t.txt:4:1: prefix 10.3.0.1/16 has host bits set (network is 10.3.0.0/16)",
        "tables/t.txt:5:13: next hop must be an IPv4 address or blackhole, got 'bogus'",
        "tables/t.txt:6:1: missing next hop after the prefix (an IPv4 address or blackhole)",
        "tables/t.txt:7:22: unexpected 'extra' after the next hop",
        "tables/t.txt:8:13: via 10.9.9.9 is outside every connected subnet",
        "tables/t.txt:9:13: via 10.0.0.1 is this router's own address on port 'lan'",
        "tables/t.txt:10:1: duplicate route to 10.2.0.0/16 (first at tables/t.txt:2)",
        "tables/t.txt:12:1: prefix must be a prefix like 10.0.0.0/24 or default, got 'ten/8'",
        "tables/t.txt:13:1: route to 10.0.0.0/24 duplicates the connected subnet of port 'lan'",
    ]


def test_route_file_is_named_as_the_user_finds_it():
    write("10.1.0.0/16 blackhole\n", "site/tables/t.txt")
    assert issues(ROUTED_PORTS, "site/c.yaml") == [
        "site/tables/t.txt:1:1: duplicate route to 10.1.0.0/16 (first at site/c.yaml:6)"]


def test_config_issues_come_before_route_file_issues():
    write("10.1.0.0/16 blackhole\n", "tables/t.txt")
    text = ROUTED_PORTS + "neighbors: [{ip: 10.0.0.3}]\n"
    assert issues(text) == [
        "c.yaml:8:13: missing key 'macaddress' in neighbor",
        "c.yaml:8:13: missing key 'interface' in neighbor",
        "tables/t.txt:1:1: duplicate route to 10.1.0.0/16 (first at c.yaml:6)",
    ]


def test_route_file_listed_twice():
    write("10.2.0.0/16 blackhole\n", "tables/t.txt")
    assert issues("version: 1\nroute_files: [tables/t.txt, ./tables/t.txt]\n") == [
        "c.yaml:2:29: route file ./tables/t.txt is listed twice"]


def test_a_broken_route_file_stops_after_100_errors():
    write("x y\n" * 500, "tables/t.txt")
    found = issues("version: 1\nroute_files: [tables/t.txt]\n")
    assert len(found) == 101
    assert found[0] == "tables/t.txt:1:1: prefix must be a prefix like 10.0.0.0/24 or default, got 'x'"
    assert found[-1] == "tables/t.txt:100:1: too many errors, stopped reading this file"


def test_a_million_line_route_file_loads_in_seconds():
    with open("big.txt", "w") as table:
        for index in range(1_000_000):
            # Distinct /24s from 11.0.0.0 up, alternating two next hops and blackhole.
            network = (11 << 24) + (index << 8)
            next_hop = ("10.0.0.2", "192.0.2.9", "blackhole")[index % 3]
            table.write(f"{network >> 24}.{network >> 16 & 255}.{network >> 8 & 255}.0/24 {next_hop}\n")
    write("""
        version: 1
        ports:
          lan: {driver: null, addresses: [10.0.0.1/24]}
          wan: {driver: null, addresses: [192.0.2.1/24]}
        route_files: [big.txt]
        """)
    started = time.perf_counter()
    cfg = config.load("c.yaml")
    elapsed = time.perf_counter() - started
    assert len(cfg.routes) == 1_000_000
    assert cfg.routes[-1] == config.Route(((11 << 24) + (999_999 << 8)), 24, 0x0A000002, False,
                                          "big.txt", 1_000_000)
    assert elapsed < 8, f"loading 1,000,000 routes took {elapsed:.1f} s"


# ---------------------------------------------------------------- the CLI

def run_validate(path):
    return subprocess.run([sys.executable, "-m", "vswitch", "validate", path], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=60)


def test_cli_validate_accepts_a_valid_config():
    result = run_validate("configs/full-example.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_cli_validate_lists_every_issue_on_stderr(in_tmp_path):
    path = in_tmp_path / "bad.yaml"
    path.write_text("version: 1\nports:\n  p1: {driver: null, mtu: 9000}\nfoo: 1\n")
    result = run_validate(str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"{path}:3:27: mtu must be 68-1500, got 9000",
                                          f"{path}:4:1: unknown key 'foo'"]
