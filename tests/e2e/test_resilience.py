"""The live appliance under trouble, end to end with Linux hosts in network
namespaces (as test_kernel_ports.py): an interface deleted and re-created
under traffic, reloads under traffic, a port taken down and up.
"""
import re
import subprocess
import time

from test_kernel_ports import ROOT, ROUTER, VSWITCH, appliance, ping, two_hosts  # noqa: F401 (fixtures)


def router(lab, appliance, config=ROUTER):
    two_hosts(lab)
    lab.host("h1", "eth0", "10.1.0.2/24", gateway="10.1.0.1")
    lab.host("h2", "eth0", "10.2.0.2/24", gateway="10.2.0.1")
    return appliance(config)


def cli(app, *args):
    return subprocess.run([*VSWITCH, *args, "--socket", app.socket], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)


def wait_for_event(app, text, timeout=10, times=1):
    deadline = time.monotonic() + timeout
    while True:
        events = app.show("events")
        if sum(text in e["message"] for e in events) >= times:
            return events
        assert time.monotonic() < deadline, f"no event with {text!r}: {events}"
        time.sleep(0.2)


def ping_fails(lab, host, address):
    r = lab.exec(host, "ping", "-c", "2", "-i", "0.2", "-W", "1", address, check=False, timeout=30)
    return r.returncode != 0


def test_interface_deleted_and_recreated_under_traffic(lab, appliance):
    app = router(lab, appliance)
    ping(lab, "h1", "10.2.0.2")
    traffic = lab.popen("h1", ["ping", "-i", "0.05", "-c", "100", "-W", "1", "10.2.0.2"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        lab.exec("h2", "ip", "link", "del", "eth0")   # both ends: lan2 vanishes under the appliance
        wait_for_event(app, "p2: interface lan2 gone")
        assert app.proc.poll() is None, "the appliance survives"
        ports = {p["name"]: p for p in app.show("ports")}
        assert ports["p2"]["link"] == "down" and ports["p1"]["link"] == "up", ports
        assert "10.2.0.0/24" not in {r["to"] for r in app.show("routes")}
        lab.veth("h2", "eth0", "app", "lan2")          # same names, a new ifindex and new MACs
        lab.host("h2", "eth0", "10.2.0.2/24", gateway="10.2.0.1")
        wait_for_event(app, "re-attached")
    finally:
        traffic.kill()
        traffic.wait()
    ping(lab, "h1", "10.2.0.2")
    ping(lab, "h2", "10.1.0.2")
    ports = {p["name"]: p for p in app.show("ports")}
    assert ports["p2"]["link"] == "up" and ports["p2"]["link_losses"] == 1, ports
    neighbors = {n["ip"]: n for n in app.show("neighbors")}
    assert neighbors["10.2.0.2"]["macaddress"] == lab.mac("h2", "eth0"), "the new MAC, not the old one"
    app.stop()


def test_reloads_under_traffic_lose_nothing(lab, appliance):
    app = router(lab, appliance)
    ping(lab, "h1", "10.2.0.2")                      # ARP resolved both ways before the clock starts
    base = app.config.read_text()
    traffic = lab.popen("h1", ["ping", "-i", "0.01", "-c", "300", "-W", "1", "10.2.0.2"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for i in range(6):
            routes = "".join(f"  - {{to: 198.18.{i * 4 + k}.0/24, via: 10.2.0.2}}\n" for k in range(i % 3 + 1))
            app.config.write_text(base + "routes:\n" + routes if i % 2 == 0 else base)
            r = cli(app, "reload")
            assert r.returncode == 0, r.stderr
            time.sleep(0.3)
        out, err = traffic.communicate(timeout=30)
    finally:
        if traffic.poll() is None:
            traffic.kill()
            traffic.wait()
    assert " 0% packet loss" in out, out + err
    # a broken config is refused with where it is broken; forwarding goes on
    app.config.write_text(base + "routes:\n  - {to: 198.18.99.0/24, via: not-an-address}\n")
    r = cli(app, "reload")
    assert r.returncode == 1
    assert re.search(re.escape(str(app.config)) + r":\d+:\d+", r.stderr), r.stderr
    assert app.proc.poll() is None
    ping(lab, "h1", "10.2.0.2")
    app.stop()


def test_port_down_withdraws_its_route_and_up_restores_it(lab, appliance):
    app = router(lab, appliance)
    ping(lab, "h1", "10.2.0.2")
    r = cli(app, "port", "p2", "down")
    assert r.returncode == 0, r.stderr
    assert "10.2.0.0/24" not in {r["to"] for r in app.show("routes")}
    assert ping_fails(lab, "h1", "10.2.0.2")
    assert {p["name"]: p["link"] for p in app.show("ports")}["p2"] == "down"
    r = cli(app, "port", "p2", "up")
    assert r.returncode == 0, r.stderr
    assert "10.2.0.0/24" in {r["to"] for r in app.show("routes")}
    ping(lab, "h1", "10.2.0.2")
    app.stop()


def test_carrier_loss_withdraws_the_route_and_its_return_restores_it(lab, appliance):
    app = router(lab, appliance)
    ping(lab, "h1", "10.2.0.2")
    lab.exec("h2", "ip", "link", "set", "eth0", "down")   # the peer goes down: lan2 loses its carrier
    wait_for_event(app, "p2: interface lan2 down or no carrier: link down")
    assert {p["name"]: p["link"] for p in app.show("ports")}["p2"] == "down"
    assert "10.2.0.0/24" not in {r["to"] for r in app.show("routes")}
    assert "10.2.0.2" not in {n["ip"] for n in app.show("neighbors")}, "neighbours of the port flushed"
    assert ping_fails(lab, "h1", "10.2.0.2")
    lab.exec("h2", "ip", "link", "set", "eth0", "up")
    lab.exec("h2", "ip", "route", "replace", "default", "via", "10.2.0.1")   # went with the link
    wait_for_event(app, "p2: interface lan2 running: link up")
    assert "10.2.0.0/24" in {r["to"] for r in app.show("routes")}
    ping(lab, "h1", "10.2.0.2")
    lab.exec("app", "ip", "link", "set", "lan2", "down")  # and the appliance's own end, administratively
    wait_for_event(app, "p2: interface lan2 down or no carrier: link down", times=2)
    lab.exec("app", "ip", "link", "set", "lan2", "up")
    wait_for_event(app, "p2: interface lan2 running: link up", times=2)
    ping(lab, "h1", "10.2.0.2")
    ports = {p["name"]: p for p in app.show("ports")}
    assert ports["p2"]["link"] == "up" and ports["p2"]["link_losses"] == 2, ports
    assert ports["p1"]["link_losses"] == 0, app.show("events")
    app.stop()


def test_reload_adds_and_removes_ports_under_traffic(lab, appliance):
    app = router(lab, appliance)
    lab.add_ns("h3")
    lab.veth("h3", "eth0", "app", "lan3")
    lab.host("h3", "eth0", "10.3.0.2/24", gateway="10.3.0.1")
    ping(lab, "h1", "10.2.0.2")
    base = app.config.read_text()
    with_p3 = base.replace("ports:\n", "ports:\n  p3: {driver: af_packet, interface: lan3, addresses: [10.3.0.1/24]}\n"
                           "  spare: {driver: null}\n", 1)
    with_p3 += "routes:\n  - {to: 198.18.3.0/24, via: 10.3.0.2}\n"
    traffic = lab.popen("h1", ["ping", "-i", "0.01", "-c", "400", "-W", "1", "10.2.0.2"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(2):
            app.config.write_text(with_p3)
            r = cli(app, "reload")
            assert r.returncode == 0, r.stderr
            assert "port p3 added (af_packet)" in r.stdout and "port spare added (null)" in r.stdout, r.stdout
            ping(lab, "h3", "10.3.0.1")                    # the new router interface answers
            ping(lab, "h3", "10.1.0.2")                    # and routes both ways
            routes = {r["to"]: r for r in app.show("routes")}
            assert routes["198.18.3.0/24"]["interface"] == "p3", routes
            assert any("p3:0" in w["rx_queues"] for w in app.show("workers"))
            app.config.write_text(base)
            r = cli(app, "reload")
            assert r.returncode == 0, r.stderr
            assert "port p3 removed" in r.stdout and "port spare removed" in r.stdout, r.stdout
            assert {p["name"] for p in app.show("ports")} == {"p1", "p2"}
            assert not {"10.3.0.0/24", "198.18.3.0/24"} & {r["to"] for r in app.show("routes")}
            assert not any("p3:0" in w["rx_queues"] for w in app.show("workers"))
            assert ping_fails(lab, "h3", "10.3.0.1"), "the removed port no longer answers"
        out, err = traffic.communicate(timeout=30)
    finally:
        if traffic.poll() is None:
            traffic.kill()
            traffic.wait()
    assert " 0% packet loss" in out, out + err
    # a port whose interface is not there is refused before anything changes
    app.config.write_text(base.replace("ports:\n", "ports:\n  p9: {driver: af_packet, interface: nosuch9}\n", 1))
    r = cli(app, "reload")
    assert r.returncode == 1 and "no interface nosuch9 here" in r.stderr, r.stderr
    assert {p["name"] for p in app.show("ports")} == {"p1", "p2"}
    ping(lab, "h1", "10.2.0.2")
    app.stop()
