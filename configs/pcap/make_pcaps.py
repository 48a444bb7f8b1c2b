"""Writes the small captures the example configs in configs/ replay.

Run from anywhere: python configs/pcap/make_pcaps.py (needs scapy). The
output is deterministic, so the committed .pcap files are exactly what this
script makes; the addresses and MACs match the configs that use them.
"""
import os

from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, Raw, wrpcap

HERE = os.path.dirname(os.path.abspath(__file__))
START = 1_700_000_000.0  # fixed timestamps keep the files reproducible
BROADCAST = "ff:ff:ff:ff:ff:ff"

# demo-pcap-loop.yaml
BR_LAN_MAC, WAN_MAC = "02:00:00:00:01:01", "02:00:00:00:02:01"
LAN_SERVER = ("10.0.1.10", "02:00:00:00:01:0a")
LAN_HOST_A = ("10.0.1.11", "02:00:00:00:01:0b")
LAN_HOST_B = ("10.0.1.12", "02:00:00:00:01:0c")
BRANCH_HOST = ("192.0.2.10", "02:00:00:00:02:0a")
INTERNET_SERVER = "198.51.100.20"
FAR_AWAY = "203.0.113.50"  # reached through the default route

# offline-router.yaml
OFFLINE_LAN_MAC, OFFLINE_WAN_MAC = "02:00:00:00:01:01", "02:00:00:00:02:01"
OFFLINE_HOST = ("10.0.1.10", "02:00:00:00:01:0a")
OFFLINE_GATEWAY = ("192.0.2.254", "02:00:00:00:02:fe")
OFFLINE_WAN_HOST = ("192.0.2.50", "02:00:00:00:02:32")


def frame(src_mac, dst_mac, payload):
    """An Ethernet frame padded to the 60-byte minimum, as a NIC would send it."""
    packet = Ether(src=src_mac, dst=dst_mac) / payload
    return Ether(bytes(packet).ljust(60, b"\0"))


def udp(src, dst_mac, dst_ip, dport, ttl=64, size=64):
    ip, mac = src
    return frame(mac, dst_mac, IP(src=ip, dst=dst_ip, ttl=ttl) / UDP(sport=40000, dport=dport) / Raw(b"x" * size))


def tcp_syn(src, dst_mac, dst_ip, dport):
    ip, mac = src
    return frame(mac, dst_mac, IP(src=ip, dst=dst_ip) / TCP(sport=50000, dport=dport, flags="S"))


def ping(src, dst_mac, dst_ip, seq):
    ip, mac = src
    return frame(mac, dst_mac, IP(src=ip, dst=dst_ip) / ICMP(id=7, seq=seq) / Raw(b"ping" * 8))


def arp_request(src, target_ip):
    ip, mac = src
    return frame(mac, BROADCAST, ARP(op="who-has", hwsrc=mac, psrc=ip, pdst=target_ip))


def arp_reply(src, dst_mac, dst_ip):
    ip, mac = src
    return frame(mac, dst_mac, ARP(op="is-at", hwsrc=mac, psrc=ip, hwdst=dst_mac, pdst=dst_ip))


def write(name, timed_frames):
    packets = []
    for offset, packet in timed_frames:
        packet.time = START + offset
        packets.append(packet)
    wrpcap(os.path.join(HERE, name), packets)


def demo_lan():
    """LAN hosts on bridge br-lan: switched to the server, routed out through the router."""
    frames = [arp_request(LAN_HOST_A, LAN_SERVER[0]),
              frame(LAN_HOST_B[1], "01:00:5e:00:00:fb", IP(src=LAN_HOST_B[0], dst="224.0.0.251")
                    / UDP(sport=5353, dport=5353) / Raw(b"mdns")),  # multicast: flooded
              frame(LAN_HOST_A[1], "02:00:00:00:01:99", IP(src=LAN_HOST_A[0], dst="10.0.1.99")
                    / UDP(sport=40000, dport=9)),  # unknown unicast: flooded
              ]
    for seq in range(8):
        frames += [udp(LAN_HOST_A, LAN_SERVER[1], LAN_SERVER[0], 5001, size=64 + 100 * seq),
                   tcp_syn(LAN_HOST_B, LAN_SERVER[1], LAN_SERVER[0], 80),
                   udp(LAN_HOST_A, BR_LAN_MAC, FAR_AWAY, 5000),
                   ping(LAN_HOST_B, BR_LAN_MAC, INTERNET_SERVER, seq)]
    write("demo-lan.pcap", [(index * 0.001, packet) for index, packet in enumerate(frames)])


def demo_branch():
    """Hosts behind the routed port wan: every frame is to the router's MAC."""
    frames = []
    for seq in range(6):
        frames += [udp(BRANCH_HOST, WAN_MAC, LAN_SERVER[0], 5002, size=200),
                   tcp_syn(BRANCH_HOST, WAN_MAC, INTERNET_SERVER, 443),
                   ping(BRANCH_HOST, WAN_MAC, FAR_AWAY, seq)]
    write("demo-branch.pcap", [(index * 0.001, packet) for index, packet in enumerate(frames)])


def offline():
    """Both sides of offline-router.yaml, timed so ARP replies follow the router's requests."""
    lan_host, lan_ip = OFFLINE_HOST, OFFLINE_HOST[0]
    write("offline-lan.pcap", [
        (0.000, arp_request(lan_host, "10.0.1.1")),                          # answered; teaches us the host
        (0.010, ping(lan_host, OFFLINE_LAN_MAC, "10.0.1.1", 1)),               # echo to the router
        (0.020, udp(lan_host, OFFLINE_LAN_MAC, "198.51.100.7", 5000)),         # default route: ARP for gateway
        (0.040, udp(lan_host, OFFLINE_LAN_MAC, OFFLINE_WAN_HOST[0], 9)),       # connected: ARP for the host
        (0.060, udp(lan_host, OFFLINE_LAN_MAC, "198.51.100.7", 5000, ttl=1)),  # time exceeded
        (0.080, udp(lan_host, OFFLINE_LAN_MAC, "198.51.100.7", 5000)),         # gateway now resolved
    ])
    write("offline-wan.pcap", [
        (0.030, arp_reply(OFFLINE_GATEWAY, OFFLINE_WAN_MAC, "192.0.2.1")),
        (0.050, arp_reply(OFFLINE_WAN_HOST, OFFLINE_WAN_MAC, "192.0.2.1")),
        (0.070, frame(OFFLINE_GATEWAY[1], OFFLINE_WAN_MAC, IP(src="198.51.100.7", dst=lan_ip)
                      / UDP(sport=5000, dport=40000) / Raw(b"answer"))),       # back to the LAN host
        (0.090, ping(("198.51.100.7", OFFLINE_GATEWAY[1]), OFFLINE_WAN_MAC, "10.0.1.99", 1)),  # never resolved
    ])


if __name__ == "__main__":
    demo_lan()
    demo_branch()
    offline()
