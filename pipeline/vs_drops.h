/* vs_drops.h — every drop reason, declared once.
 * X(ENUM_SUFFIX, "counter_name", "what it means")
 * The enum, the names shown by `vswitch show ports` and the docs all come
 * from this list.  Counted on the port the frame arrived on.
 */
#ifndef VS_DROPS_H
#define VS_DROPS_H

#define VS_DROP_REASONS(X) \
    X(RUNT,              "runt",                 "shorter than an Ethernet header") \
    X(VLAN_TRUNCATED,    "vlan_truncated",       "802.1Q tag cut short") \
    X(UNKNOWN_VLAN,      "unknown_vlan",         "tagged with a VLAN that has no vlans: entry") \
    X(GIANT,             "giant",                "longer than the port's MTU allows") \
    X(INTERFACE_DOWN,    "interface_down",       "port administratively down") \
    X(NO_INTERFACE,      "no_interface",         "arrived on an interface that is neither bridged nor routed") \
    X(L2_RESERVED_GROUP, "l2_reserved_group",    "802.1D reserved group 01:80:c2:00:00:0x, never forwarded") \
    X(L2_SAME_INTERFACE, "l2_same_interface",    "destination MAC is behind the receiving member") \
    X(L2_NO_MEMBER,      "l2_flood_no_member",   "flood with no other member to send to") \
    X(L3_NOT_FOR_US,     "l3_not_for_us",        "unicast to another MAC on a routed interface") \
    X(L3_MULTICAST,      "l3_multicast",         "multicast on a routed interface (not routed in v1)") \
    X(L3_BROADCAST,      "l3_broadcast",         "broadcast that is not ARP, or to a broadcast IP") \
    X(L3_ETHERTYPE,      "l3_unsupported_ethertype", "routed frame that is neither IPv4 nor ARP") \
    X(IP_TRUNCATED,      "ip_truncated",         "IPv4 header cut short") \
    X(IP_VERSION,        "ip_bad_version",       "IP version is not 4") \
    X(IP_IHL,            "ip_bad_ihl",           "IHL below 5") \
    X(IP_LENGTH,         "ip_bad_length",        "total length below the header or beyond the frame") \
    X(IP_CHECKSUM,       "ip_bad_checksum",      "header checksum wrong") \
    X(TTL_EXPIRED,       "ttl_expired",          "TTL would reach 0 (ICMP time exceeded sent)") \
    X(NO_ROUTE,          "no_route",             "no matching route (ICMP net unreachable sent)") \
    X(BLACKHOLE,         "blackhole",            "blackhole route") \
    X(MTU_EXCEEDED,      "mtu_exceeded",         "longer than the egress MTU, DF clear (no fragmentation in v1)") \
    X(FRAG_NEEDED,       "frag_needed",          "longer than the egress MTU with DF (ICMP frag needed sent)") \
    X(PUNT_POLICED,      "punt_policed",         "control-plane punt over its rate") \
    X(PUNT_QUEUE_FULL,   "punt_queue_full",      "control-plane punt ring full") \
    X(NO_BUFFER,         "no_buffer",            "packet pool empty (flood copy or inject)") \
    X(ARP_MALFORMED,     "arp_malformed",        "ARP that is not Ethernet/IPv4 or is cut short") \
    X(ARP_NOT_FOR_US,    "arp_not_for_us",       "ARP request for an address that is not ours") \
    X(ARP_QUEUE_FULL,    "arp_queue_full",       "more than 3 packets waiting for one neighbour") \
    X(ARP_TIMEOUT,       "arp_timeout",          "neighbour never answered 3 ARP requests") \
    X(LOCAL_UNSUPPORTED, "local_unsupported",    "addressed to us, but not ICMP echo") \
    X(ICMP_MALFORMED,    "icmp_malformed",       "ICMP to us cut short or with a bad checksum") \
    X(PCAP_TRUNCATED,    "pcap_truncated",       "pcap record cut short (caplen < len)") \
    X(TX_QUEUE_FULL,     "tx_queue_full",        "the egress queue could not take it") \
    X(KERNEL_RX_DROPPED, "kernel_rx_dropped",    "the kernel had no room for it in the socket's rx ring") \
    X(XDP_RX_DROPPED,    "xdp_rx_dropped",       "af_xdp: too long for a buffer, or no buffer free") \
    X(XDP_INVALID_DESC,  "xdp_invalid_desc",     "af_xdp: the kernel refused a descriptor (a bug)") \
    X(RX_TRUNCATED,      "rx_truncated",         "cut short by the kernel to fit a packet socket's rx ring block") \
    X(GSO_UNSUPPORTED,   "gso_unsupported",      "GSO super-frame of a kind not segmented here (UFO, IPv6 extension headers, unknown)") \
    X(OFFLOAD_MALFORMED, "offload_malformed",    "GSO or checksum-offload metadata that does not match the frame's headers")

enum vs_drop_reason {
#define VS_DROP_ENUM(name, str, doc) VS_DROP_##name,
    VS_DROP_REASONS(VS_DROP_ENUM)
#undef VS_DROP_ENUM
    VS_DROP_MAX
};

#endif
