/* vs_api.h — the interface between the C forwarding core and Python.
 *
 * This file is read twice: by the C compiler, and by cffi's cdef parser in
 * pipeline/build.py (which drops the preprocessor guard lines).  Keep it to
 * plain declarations: integer #defines, structs, prototypes.
 */
#ifndef VS_API_H
#define VS_API_H
#include <stdint.h>

#define VS_BURST 32
#define VS_MAX_PORTS 64
#define VS_MAX_QUEUES 16
#define VS_MAX_WORKERS 16
#define VS_MAX_IFACES 4096
#define VS_MAX_BRIDGES 256
#define VS_MAX_MEMBERS 256
#define VS_NO_PORT 65535
#define VS_AF_XDP_FILL_RING 2048   /* at most this many buffers per af_xdp rx queue lent to the kernel */

/* Interface kinds (logical L2/L3 interfaces). */
#define VS_IF_PORT 0
#define VS_IF_VLAN 1
#define VS_IF_BRIDGE 2

/* Adjacency types: what a FIB hit means. */
#define VS_ADJ_NONE 0        /* unused slot */
#define VS_ADJ_BLACKHOLE 1   /* silent drop */
#define VS_ADJ_LOCAL 2       /* one of our addresses: punt */
#define VS_ADJ_BROADCAST 3   /* a connected subnet's broadcast address: drop */
#define VS_ADJ_GLEAN 4       /* connected subnet: the destination itself needs ARP */
#define VS_ADJ_INCOMPLETE 5  /* gateway known, its MAC not yet */
#define VS_ADJ_FORWARD 6     /* resolved: rewrite and send */

/* Punt reasons: why a packet went to the control plane. */
#define VS_PUNT_ARP 0          /* ARP for a router interface */
#define VS_PUNT_LOCAL 1        /* IPv4 addressed to us */
#define VS_PUNT_TTL 2          /* TTL expired: ICMP time exceeded */
#define VS_PUNT_NO_ROUTE 3     /* ICMP net unreachable */
#define VS_PUNT_FRAG_NEEDED 4  /* DF set, too big: ICMP fragmentation needed */
#define VS_PUNT_ARP_PENDING 5  /* next hop awaiting ARP resolution */
#define VS_PUNT_MAX 6

/* Inject modes: what the core does with a frame from the control plane. */
#define VS_INJECT_IFACE 0  /* Ethernet frame out of a logical interface (bridge: MAC lookup/flood) */
#define VS_INJECT_ROUTE 1  /* IPv4 packet behind a 14-byte placeholder header: route it (no TTL change) */

/* vs_offline_run results */
#define VS_OFFLINE_DONE 0   /* every input consumed, every queue drained */
#define VS_OFFLINE_PUNT 1   /* the control plane has punted packets to read */
#define VS_OFFLINE_TIMER 2  /* the next frame is at or past the deadline */

/* Trace (`vswitch trace`): the next N received packets' path, one step per
 * decision.  Step kinds and what their fields carry (a, b, c, mac): */
#define VS_TRACE_MAX_STEPS 32  /* steps kept per packet; more are counted in lost_steps */
#define VS_TRACE_SNAP 96       /* bytes of the frame as received, for the summary line */
#define VS_TRACE_RING 256      /* records per worker, waiting for the control plane */
#define VS_TR_RX 0             /* a port, b queue, c length */
#define VS_TR_CLASSIFY 1       /* a iface, b VID of the tag (0: untagged), c 1 if it arrived tagged */
#define VS_TR_LEARN 2          /* a iface, b VS_LEARN_*, mac the source */
#define VS_TR_L2_LOOKUP 3      /* a bridge iface, b member iface or VS_TR_NONE (miss), c 1 if group, mac */
#define VS_TR_FLOOD 4          /* a bridge iface, b members it goes to */
#define VS_TR_L3 5             /* a router iface, b VS_TR_L3_* (why it is routed) */
#define VS_TR_IPV4 6           /* a TTL, b source, c destination, d total length: header checks passed */
#define VS_TR_FIB 7            /* a adjacency type, b destination, c adjacency id (0: no route) */
#define VS_TR_ADJ 8            /* a iface, b next hop, c adjacency type, mac destination MAC */
#define VS_TR_REWRITE 9        /* a old TTL, b new TTL, c iface (source MAC), mac destination MAC */
#define VS_TR_TX 10            /* a port, b iface, c VID of the tag pushed (0: none) */
#define VS_TR_PUNT 11          /* a VS_PUNT_*, b iface, c next hop (arp_pending) */
#define VS_TR_REPORT 12        /* a VS_PUNT_* (which ICMP error), b 0 handed over, else the VS_DROP_* that kept it */
#define VS_TR_DROP 13          /* a VS_DROP_*, b iface of the flood copy it was, VS_TR_NONE: the packet itself */
#define VS_TR_NONE 65535
#define VS_TR_L3_ROUTER_MAC 0  /* to the interface's router MAC */
#define VS_TR_L3_BROADCAST 1   /* broadcast on a routed interface */
#define VS_TR_L3_ARP_COPY 2    /* broadcast ARP in a bridge: the router's copy */
/* MAC learning outcomes (vs_mac_learn) */
#define VS_LEARN_NEW 0
#define VS_LEARN_REFRESHED 1
#define VS_LEARN_MOVED 2
#define VS_LEARN_STATIC 3      /* a static entry: left as it is */
#define VS_LEARN_LIMIT 4       /* mac_limit reached: not learned */
#define VS_LEARN_GROUP_SOURCE 5 /* multicast source: never learned */

/* Capture (`vswitch capture`): copies of what a port receives and sends. */
#define VS_CAPTURE_RING 1024   /* frames per (worker, port), waiting for the control plane */
#define VS_CAPTURE_SNAP 2048   /* longer than any frame a buffer holds: nothing is cut */

struct vs_dp;

#ifndef VS_PKT_PRIVATE
#define VS_PKT_PRIVATE uint8_t flags; uint32_t pool_index; struct vs_pkt *next;
#endif

/* A packet buffer: metadata in the first cache line, then headroom + frame. */
struct vs_pkt {
    uint64_t iova;          /* bus address of this buffer (for DMA drivers) */
    uint64_t ts_ns;         /* receive time; the pcap clock in offline mode */
    uint16_t data_off;      /* frame start, from the buffer start */
    uint16_t len;           /* frame length */
    uint16_t in_port;       /* receiving port, VS_NO_PORT for frames we made */
    uint16_t in_iface;      /* logical interface it arrived on */
    uint16_t out_iface;     /* punt: the interface the route chose */
    uint16_t mtu;           /* punt: that interface's MTU */
    uint32_t nh_ip;         /* punt: next hop awaiting ARP (host order) */
    uint8_t punt_reason;
    uint8_t vlan_pcp;       /* PCP of the tag it arrived with */
    uint8_t arrived_tagged; /* 1 if it arrived with an 802.1Q tag */
    VS_PKT_PRIVATE          /* core-only fields; cffi sees "...;" */
};

struct vs_port_stats {
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t rx_dropped, tx_dropped, rx_errors, tx_errors;
    uint64_t forwarded, flooded, punted;
    uint64_t drops[64];
};

struct vs_punt_stats {
    uint64_t punted[VS_PUNT_MAX];
    uint64_t policed[VS_PUNT_MAX];
    uint64_t ring_full[VS_PUNT_MAX];
};

struct vs_worker_stats {
    uint64_t packets;      /* received and processed */
    uint64_t bursts;       /* polls that returned packets */
    uint64_t idle_polls;   /* polls that returned nothing */
    uint64_t busy_cycles;  /* TSC cycles spent on polls that returned packets */
    uint64_t cycles;       /* TSC cycles since the worker started */
};

struct vs_trace_step {
    uint16_t kind;          /* VS_TR_* */
    uint16_t a;
    uint16_t d;
    uint8_t mac[6];
    uint32_t b, c;
};

struct vs_trace_rec {
    uint64_t ts_ns;         /* the worker's clock (monotonic live, the pcap clock offline) */
    uint16_t worker, port, queue, len;
    uint16_t snap_len;      /* bytes of frame[] used */
    uint16_t n_steps;
    uint16_t lost_steps;    /* steps past VS_TRACE_MAX_STEPS */
    uint8_t frame[VS_TRACE_SNAP];
    struct vs_trace_step steps[VS_TRACE_MAX_STEPS];
};

struct vs_capture_stats {
    uint64_t written;       /* frames in the file */
    uint64_t dropped;       /* frames the rings had no room for */
    uint64_t max_frames;    /* 0: no limit */
    int running;            /* 0 once stopped or max_frames written */
};

/* What one rx queue of a port received, and the worker polling it (-1: none). */
struct vs_rxq_stats {
    uint64_t packets, bytes;
    int32_t worker;
};

struct vs_bridge_stats {
    uint64_t learned, moved, limit_refused, aged, entries;
};

struct vs_mac_info {
    uint8_t mac[6];
    uint16_t iface;
    uint8_t is_static;
    uint64_t last_seen_ns;
};

/* Names of the drop reasons (declared once in vs_drops.h). */
int vs_drop_reason_count(void);
const char *vs_drop_reason_name(int reason);
const char *vs_last_error(void);

/* Lifetime. */
struct vs_dp *vs_dp_create(uint32_t pool_buffers, uint32_t n_workers, uint32_t max_adj, uint32_t max_tbl8_groups);
void vs_dp_destroy(struct vs_dp *dp);
uint32_t vs_dp_free_buffers(struct vs_dp *dp);
void vs_dp_set_clock(struct vs_dp *dp, uint64_t now_ns);
uint64_t vs_dp_clock(struct vs_dp *dp);
void vs_dp_set_punt_policer(struct vs_dp *dp, int reason, uint32_t rate_per_s, uint32_t burst);

/* Ports: each returns the port id, or -1 with vs_last_error() set. */
int vs_port_pcap_open(struct vs_dp *dp, const char *name, const char *rx_path, const char *tx_path,
                      int loop, uint16_t n_rxq, uint16_t mtu);
int vs_port_null_open(struct vs_dp *dp, const char *name, uint16_t mtu);
/* Kernel interfaces (need root or CAP_NET_RAW / CAP_NET_ADMIN). */
int vs_port_af_packet_open(struct vs_dp *dp, const char *name, const char *ifname, uint16_t mtu);
int vs_port_tap_open(struct vs_dp *dp, const char *name, const char *ifname, uint16_t mtu);
/* One AF_XDP socket per rx queue and an XDP program redirecting to them;
 * fix_checksums: recompute the TCP/UDP checksums of every received IPv4
 * frame (AF_XDP does not say which ones the sender left partial). */
int vs_port_af_xdp_open(struct vs_dp *dp, const char *name, const char *ifname, uint16_t n_rxq, uint16_t mtu,
                        int fix_checksums);
void vs_port_set_admin(struct vs_dp *dp, int port, int up);
int vs_port_admin_up(struct vs_dp *dp, int port);
/* Link (operational) state, apart from the operator's admin state: a port
 * forwards only when both are up.  Setting it down stops rx and tx at once. */
void vs_port_set_oper(struct vs_dp *dp, int port, int up);
int vs_port_oper_up(struct vs_dp *dp, int port);
/* An af_packet port whose interface was deleted and re-created (a new
 * ifindex): a new packet socket and ring on `ifname`, swapped in once no
 * worker can still be using the old one; the link is up again on success.
 * 0, or -1 with vs_last_error() set (the port stays down). */
int vs_port_af_packet_reattach(struct vs_dp *dp, int port, const char *ifname);
/* The same for an af_xdp port: new sockets and XDP program on the interface. */
int vs_port_af_xdp_reattach(struct vs_dp *dp, int port, const char *ifname);
/* How an af_xdp port runs: VS_AF_XDP_* bits, or -1 if it is not one. */
#define VS_AF_XDP_ZEROCOPY 1   /* the driver fills our buffers (else the kernel copies) */
#define VS_AF_XDP_GENERIC 2    /* the XDP program runs in generic (skb) mode, not in the driver */
int vs_port_af_xdp_modes(struct vs_dp *dp, int port);
void vs_port_stats_get(struct vs_dp *dp, int port, struct vs_port_stats *out);
void vs_port_stats_clear(struct vs_dp *dp, int port);
void vs_rxq_stats_get(struct vs_dp *dp, int port, int queue, struct vs_rxq_stats *out);
int vs_port_flush_files(struct vs_dp *dp);

/* Logical interfaces: a port's own iface id equals its port id. */
int vs_iface_add_vlan(struct vs_dp *dp, int port, uint16_t vid);
int vs_iface_add_bridge(struct vs_dp *dp, uint64_t aging_ns, uint32_t mac_limit);
void vs_iface_set_l3(struct vs_dp *dp, int iface, const uint8_t *mac, int routed);
void vs_iface_set_mtu(struct vs_dp *dp, int iface, uint16_t mtu);
int vs_bridge_add_member(struct vs_dp *dp, int bridge_iface, int member_iface);

/* MAC tables (per bridge, addressed by the bridge's iface id). */
int vs_mac_add_static(struct vs_dp *dp, int bridge_iface, const uint8_t *mac, int member_iface);
int vs_mac_lookup(struct vs_dp *dp, int bridge_iface, const uint8_t *mac, struct vs_mac_info *out);
int vs_mac_dump(struct vs_dp *dp, int bridge_iface, struct vs_mac_info *out, int max);
void vs_mac_flush(struct vs_dp *dp, int bridge_iface, int member_iface, int include_static);
void vs_mac_age(struct vs_dp *dp);
/* Reload: change a bridge's aging time (0 = never) and learned-entry limit; 0 or -1. */
int vs_bridge_set_aging(struct vs_dp *dp, int bridge_iface, uint64_t aging_ns, uint32_t mac_limit);
void vs_bridge_stats_get(struct vs_dp *dp, int bridge_iface, struct vs_bridge_stats *out);

/* FIB (DIR-24-8) and adjacencies. Addresses are host-order. */
int vs_adj_set(struct vs_dp *dp, uint32_t adj, int type, int iface, uint32_t nh_ip, const uint8_t *dmac);
int vs_fib_add(struct vs_dp *dp, uint32_t prefix, int len, uint32_t adj);
int vs_fib_delete(struct vs_dp *dp, uint32_t prefix, int len, uint32_t parent_adj, int parent_len);
uint32_t vs_fib_lookup(struct vs_dp *dp, uint32_t ip);
uint32_t vs_fib_groups_used(struct vs_dp *dp);

/* Slow path. */
int vs_punt_poll(struct vs_dp *dp, struct vs_pkt **out, int max);
const uint8_t *vs_pkt_data(struct vs_pkt *pkt);
void vs_pkt_free(struct vs_dp *dp, struct vs_pkt *pkt);
/* vlan_pcp >= 0: the frame arrived tagged with that PCP (kept if a tag is pushed) */
int vs_inject(struct vs_dp *dp, int mode, int iface, uint16_t in_port, const uint8_t *frame, uint16_t len,
              uint64_t ts_ns, int vlan_pcp);
void vs_slow_drop(struct vs_dp *dp, uint16_t port, int reason);
void vs_punt_stats_get(struct vs_dp *dp, struct vs_punt_stats *out);

/* Trace: arm the next n received packets (across workers); 0 disarms.
 * Records wait in per-worker rings; a packet whose worker's ring is full is
 * not traced and counted (vs_trace_lost). */
void vs_trace_arm(struct vs_dp *dp, uint32_t n);
uint32_t vs_trace_pending(struct vs_dp *dp);
int vs_trace_poll(struct vs_dp *dp, struct vs_trace_rec *out, int max);
uint64_t vs_trace_lost(struct vs_dp *dp);

/* Capture: one per port at a time, into a classic pcap (ns) at path.
 * vs_capture_drain writes what the workers copied (control plane only);
 * at max_frames (0: no limit) it stops copying and closes the file.
 * vs_capture_stop ends it (a grace period, the last frames written) and
 * gives its final counts.  Each 0, or -1 with vs_last_error() set. */
int vs_capture_start(struct vs_dp *dp, int port, const char *path, uint64_t max_frames);
int vs_capture_drain(struct vs_dp *dp, int port);
void vs_capture_stats_get(struct vs_dp *dp, int port, struct vs_capture_stats *out);
int vs_capture_stop(struct vs_dp *dp, int port, struct vs_capture_stats *out);

/* Running. */
int vs_offline_run(struct vs_dp *dp, uint64_t deadline_ns, uint64_t *next_ts);
int vs_worker_assign(struct vs_dp *dp, int worker, int port, int queue);
int vs_port_remove(struct vs_dp *dp, int port);   /* workers running: see dp.c */
void vs_worker_run(struct vs_dp *dp, int worker);
void vs_worker_stats_get(struct vs_dp *dp, int worker, struct vs_worker_stats *out);
void vs_dp_stop(struct vs_dp *dp);
/* Free what workers can no longer see (memory retired by table changes). */
void vs_rcu_reclaim(struct vs_dp *dp);

#endif
