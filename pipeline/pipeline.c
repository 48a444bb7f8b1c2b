/* pipeline.c — what happens to each packet: classify, bridge or route, send.
 *
 * Run to completion: a worker takes a burst from one rx queue and carries
 * every packet to a tx batch, a drop counter or the punt ring before it
 * polls again.  Nothing here allocates except flood copies, and nothing
 * takes a lock except the tx path of a port with fewer queues than workers.
 *
 * Tracing (`vswitch trace`): every function on the packet path takes `tr`,
 * the packet's trace record or NULL, and is always inlined.  The fast path
 * passes a constant NULL, so its trace steps compile away; the traced copy
 * (trace_some) runs only for packets a trace has claimed.  Off, tracing
 * costs the fast path one load and one predictable branch per burst, and
 * capture one more of each per burst and per tx flush.
 */
#include "vs.h"

#define VS_PATH static inline __attribute__((always_inline))
#define TRACE(tr, kind, a, b, c, d, mac)                                \
    do {                                                                \
        if (VS_UNLIKELY((tr) != NULL)) vs_trace_step(tr, kind, a, b, c, d, mac); \
    } while (0)

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }

static inline struct vs_port_stats *in_stats(struct vs_worker *w, const struct vs_pkt *p) {
    return &w->stats[vs_stats_slot(p->in_port)];
}

VS_PATH void drop(struct vs_worker *w, struct vs_pkt *p, int reason, struct vs_trace_rec *tr) {
    TRACE(tr, VS_TR_DROP, reason, VS_TR_NONE, 0, 0, NULL);
    struct vs_port_stats *s = in_stats(w, p);
    s->drops[reason]++;
    s->rx_dropped++;
    vs_pool_free(&w->dp->pool, p);
}

/* ---- transmit ----------------------------------------------------------- */

static void tx_flush(struct vs_worker *w, uint16_t port_id) {
    struct vs_txq *q = &w->tx[port_id];
    if (!q->n) return;
    struct vs_dp *dp = w->dp;
    struct vs_port *port = dp->ports[port_id];
    uint16_t n = q->n;
    uint16_t lens[VS_TX_BATCH];
    for (uint16_t i = 0; i < n; i++) lens[i] = q->pkts[i]->len;
    uint16_t queue = w->id % port->n_txq;
    bool shared = port->n_txq < dp->n_workers;
    /* copied before the driver owns them; only what it took counts as sent */
    struct vs_capture *cap = atomic_load_explicit(&dp->capture_on[port_id], memory_order_acquire);
    uint16_t copied = VS_UNLIKELY(cap != NULL) ? vs_capture_tx_copy(w, cap, q->pkts, n) : 0;
    if (shared) pthread_mutex_lock(&dp->tx_lock[port_id]);
    uint16_t sent = port->tx_burst(port, queue, q->pkts, n);
    if (shared) pthread_mutex_unlock(&dp->tx_lock[port_id]);
    if (VS_UNLIKELY(cap != NULL)) vs_capture_tx_commit(w, cap, copied, sent);
    struct vs_port_stats *s = &w->stats[port_id];
    for (uint16_t i = 0; i < sent; i++) s->tx_bytes += lens[i];
    s->tx_packets += sent;
    for (uint16_t i = sent; i < n; i++) {
        s->tx_dropped++;
        drop(w, q->pkts[i], VS_DROP_TX_QUEUE_FULL, w->trace_cur);
    }
    q->n = 0;
}

void vs_tx_flush_all(struct vs_worker *w) {
    for (uint16_t p = 0; p < w->dp->n_ports; p++) tx_flush(w, p);
}

static inline void tx_enqueue(struct vs_worker *w, uint16_t port_id, struct vs_pkt *p) {
    struct vs_txq *q = &w->tx[port_id];
    q->pkts[q->n++] = p;
    if (q->n == VS_TX_BATCH) tx_flush(w, port_id);
}

/* Out of a port or VLAN interface: the MTU, the tag, the port's batch.
 * Returns 0 once queued; else the reason it cannot go, the packet untouched
 * and still the caller's (one frame has one fate: the caller counts it). */
VS_PATH int output_l2(struct vs_worker *w, uint16_t iface_id, struct vs_pkt *p, struct vs_trace_rec *tr) {
    struct vs_dp *dp = w->dp;
    const struct vs_iface *ifc = &dp->ifaces[iface_id];
    const struct vs_port *out = dp->ports[ifc->port];
    if (VS_UNLIKELY(!out->admin_up || !atomic_load_explicit(&out->oper_up, memory_order_relaxed)))
        return VS_DROP_INTERFACE_DOWN;
    if (VS_UNLIKELY(p->len - VS_ETH_HLEN > ifc->mtu)) return VS_DROP_MTU_EXCEEDED;
    if (ifc->kind == VS_IF_VLAN) {
        uint8_t *old = vs_pkt_bytes(p);
        p->data_off -= 4;
        p->len += 4;
        uint8_t *eth = vs_pkt_bytes(p);
        memmove(eth, old, 12);
        wr16(eth + 12, VS_ETHERTYPE_VLAN);
        uint16_t pcp = p->arrived_tagged ? p->vlan_pcp : 0;
        wr16(eth + 14, (uint16_t)(pcp << 13 | ifc->vid));
    }
    TRACE(tr, VS_TR_TX, ifc->port, iface_id, ifc->kind == VS_IF_VLAN ? ifc->vid : 0, 0, NULL);
    tx_enqueue(w, ifc->port, p);
    return 0;
}

/* One frame to one interface: forwarded, or dropped for why it could not go. */
VS_PATH void forward_l2(struct vs_worker *w, uint16_t iface_id, struct vs_pkt *p, struct vs_trace_rec *tr) {
    struct vs_port_stats *s = in_stats(w, p);  /* before output: the packet is then the port's */
    int refused = output_l2(w, iface_id, p, tr);
    if (refused) return drop(w, p, refused, tr);
    s->forwarded++;
}

static struct vs_pkt *clone_pkt(struct vs_worker *w, const struct vs_pkt *p) {
    struct vs_pkt *c = vs_pool_alloc(&w->dp->pool);
    if (!c) return NULL;
    c->ts_ns = p->ts_ns;
    c->len = p->len;
    c->in_port = p->in_port;
    c->in_iface = p->in_iface;
    c->arrived_tagged = p->arrived_tagged;
    c->vlan_pcp = p->vlan_pcp;
    memcpy(vs_pkt_bytes(c), vs_pkt_bytes((struct vs_pkt *)p), p->len);
    return c;
}

/* Every member but the one it came from; copies for all but the last.  A
 * copy a member cannot take is that member's tx drop; the frame is flooded
 * if any copy left, else dropped for the last member's reason. */
VS_PATH void flood(struct vs_worker *w, const struct vs_bridge *br, uint16_t from_iface, struct vs_pkt *p,
                  struct vs_trace_rec *tr) {
    struct vs_dp *dp = w->dp;
    int last = -1;
    unsigned others = 0;
    for (int i = 0; i < br->n_members; i++)
        if (br->members[i] != from_iface) last = i, others++;
    TRACE(tr, VS_TR_FLOOD, br->iface, others, 0, 0, NULL);
    if (last < 0) return drop(w, p, VS_DROP_L2_NO_MEMBER, tr);
    struct vs_port_stats *s = in_stats(w, p);
    unsigned sent = 0;
    for (int i = 0; i < last; i++) {
        if (br->members[i] == from_iface) continue;
        struct vs_pkt *c = clone_pkt(w, p);
        if (!c) {
            s->drops[VS_DROP_NO_BUFFER]++;
            TRACE(tr, VS_TR_DROP, VS_DROP_NO_BUFFER, br->members[i], 0, 0, NULL);
            continue;
        }
        int refused = output_l2(w, br->members[i], c, tr);
        if (refused) {
            TRACE(tr, VS_TR_DROP, refused, br->members[i], 0, 0, NULL);
            w->stats[dp->ifaces[br->members[i]].port].tx_dropped++;
            vs_pool_free(&dp->pool, c);
        } else {
            sent++;
        }
    }
    int refused = output_l2(w, br->members[last], p, tr);
    if (refused && !sent) return drop(w, p, refused, tr);
    if (refused) {
        TRACE(tr, VS_TR_DROP, refused, br->members[last], 0, 0, NULL);
        w->stats[dp->ifaces[br->members[last]].port].tx_dropped++;
        vs_pool_free(&dp->pool, p);
    }
    s->flooded++;
}

/* The bridge's forwarding decision, for frames from a member or from the router. */
VS_PATH void bridge_forward(struct vs_worker *w, struct vs_bridge *br, uint16_t from_iface, struct vs_pkt *p,
                           struct vs_trace_rec *tr) {
    const uint8_t *dst = vs_pkt_bytes(p);
    if (dst[0] & 1) {
        TRACE(tr, VS_TR_L2_LOOKUP, br->iface, VS_TR_NONE, 1, 0, dst);
        return flood(w, br, from_iface, p, tr);
    }
    int member = vs_mac_find(br, dst, w->now_ns);
    TRACE(tr, VS_TR_L2_LOOKUP, br->iface, member < 0 ? VS_TR_NONE : (uint32_t)member, 0, 0, dst);
    if (member < 0) return flood(w, br, from_iface, p, tr);
    if (member == from_iface) return drop(w, p, VS_DROP_L2_SAME_INTERFACE, tr);
    forward_l2(w, (uint16_t)member, p, tr);
}

/* L3 egress on a logical interface: a bridge's router interface goes
 * through the bridge's MAC table, anything else straight out. */
VS_PATH void output_iface(struct vs_worker *w, uint16_t iface_id, struct vs_pkt *p, struct vs_trace_rec *tr) {
    const struct vs_iface *ifc = &w->dp->ifaces[iface_id];
    if (ifc->kind == VS_IF_BRIDGE) return bridge_forward(w, &w->dp->bridges[ifc->bridge], iface_id, p, tr);
    forward_l2(w, iface_id, p, tr);
}

/* ---- punt ---------------------------------------------------------------- */

static bool police(struct vs_worker *w, int reason) {
    struct vs_policer *pol = &w->policer[reason];
    if (!pol->rate) return true;
    uint64_t now = w->now_ns;
    if (now > pol->last_ns) {
        uint64_t elapsed = now - pol->last_ns;
        uint64_t cap = pol->burst * 1000000000ull;
        uint64_t add = elapsed >= cap / pol->rate ? cap : elapsed * pol->rate;  /* no 64-bit wrap */
        pol->tokens_x1e9 = pol->tokens_x1e9 + add > cap ? cap : pol->tokens_x1e9 + add;
    }
    pol->last_ns = now;
    if (pol->tokens_x1e9 < 1000000000ull) return false;
    pol->tokens_x1e9 -= 1000000000ull;
    return true;
}

/* Hand a packet to the control plane.  Returns 0 when taken, else the drop
 * reason that kept it out (policer or full ring). */
static int punt_try(struct vs_worker *w, struct vs_pkt *p, int reason) {
    if (!police(w, reason)) {
        w->punt_stats.policed[reason]++;
        return VS_DROP_PUNT_POLICED;
    }
    p->punt_reason = (uint8_t)reason;
    if (!vs_ring_put(&w->punt, p)) {
        w->punt_stats.ring_full[reason]++;
        return VS_DROP_PUNT_QUEUE_FULL;
    }
    w->punt_stats.punted[reason]++;
    return 0;
}

/* The punt is the packet's fate (ARP, for us, awaiting ARP). */
VS_PATH void punt(struct vs_worker *w, struct vs_pkt *p, int reason, struct vs_trace_rec *tr) {
    TRACE(tr, VS_TR_PUNT, reason, reason == VS_PUNT_ARP_PENDING ? p->out_iface : p->in_iface,
          reason == VS_PUNT_ARP_PENDING ? p->nh_ip : 0, 0, NULL);
    struct vs_port_stats *s = in_stats(w, p);
    int refused = punt_try(w, p, reason);
    if (refused) return drop(w, p, refused, tr);
    s->punted++;
}

/* The packet is dropped for `reason`; the control plane gets it to answer
 * with an ICMP error if the punt policer lets it through. */
VS_PATH void drop_and_report(struct vs_worker *w, struct vs_pkt *p, int reason, int punt_reason,
                            struct vs_trace_rec *tr) {
    TRACE(tr, VS_TR_DROP, reason, VS_TR_NONE, 0, 0, NULL);
    struct vs_port_stats *s = in_stats(w, p);
    s->drops[reason]++;
    s->rx_dropped++;
    int refused = punt_try(w, p, punt_reason);
    TRACE(tr, VS_TR_REPORT, punt_reason, refused, 0, 0, NULL);
    if (refused) vs_pool_free(&w->dp->pool, p);
}

/* ---- L3 ------------------------------------------------------------------ */

/* One's-complement sum of an IPv4 header (len a multiple of 4) is all ones
 * when the checksum is right.  Summed as 32-bit words in host order: the
 * one's-complement sum does not care about byte order (RFC 1071 §2(B)), so
 * no byte swaps, and 5 adds instead of 10 (~90 -> ~25 instructions). */
static inline bool ip_checksum_ok(const uint8_t *h, unsigned len) {
    uint64_t sum = 0;
    for (unsigned i = 0; i < len; i += 4) {
        uint32_t word;
        memcpy(&word, h + i, 4);
        sum += word;
    }
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}

/* RFC 1624 incremental update for TTL - 1: the (TTL, protocol) word drops by 0x0100. */
static inline void ttl_decrement(uint8_t *ip) {
    uint16_t old_word = rd16(ip + 8);
    ip[8]--;
    uint16_t new_word = rd16(ip + 8);
    uint32_t sum = (uint16_t)~rd16(ip + 10);
    sum += (uint16_t)~old_word;
    sum += new_word;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    wr16(ip + 10, (uint16_t)~sum);
}

/* Send along an adjacency: rewrite and output, or wait for ARP. */
VS_PATH void adj_output(struct vs_worker *w, uint32_t adj_id, struct vs_pkt *p, struct vs_trace_rec *tr) {
    struct vs_dp *dp = w->dp;
    const struct vs_adj *adj = vs_adj_get(dp->adj, adj_id);
    uint8_t *eth = vs_pkt_bytes(p);
    if (VS_LIKELY(adj->type == VS_ADJ_FORWARD)) {
        memcpy(eth, adj->dmac, 6);
        memcpy(eth + 6, dp->ifaces[adj->iface].mac, 6);
        return output_iface(w, adj->iface, p, tr);
    }
    /* GLEAN or INCOMPLETE: the control plane resolves and queues it */
    p->out_iface = adj->iface;
    p->nh_ip = adj->type == VS_ADJ_GLEAN ? rd32(eth + VS_ETH_HLEN + 16) : adj->nh_ip;
    punt(w, p, VS_PUNT_ARP_PENDING, tr);
}

VS_PATH void l3_input(struct vs_worker *w, struct vs_pkt *p, struct vs_trace_rec *tr) {
    struct vs_dp *dp = w->dp;
    uint8_t *eth = vs_pkt_bytes(p);
    uint16_t etype = rd16(eth + 12);
    if (etype == VS_ETHERTYPE_ARP) return punt(w, p, VS_PUNT_ARP, tr);
    if (etype != VS_ETHERTYPE_IPV4) return drop(w, p, VS_DROP_L3_ETHERTYPE, tr);

    /* RFC 1812 §5.2.2 header checks */
    uint8_t *ip = eth + VS_ETH_HLEN;
    unsigned room = p->len - VS_ETH_HLEN;
    if (room < 20) return drop(w, p, VS_DROP_IP_TRUNCATED, tr);
    if (ip[0] >> 4 != 4) return drop(w, p, VS_DROP_IP_VERSION, tr);
    unsigned hlen = (ip[0] & 0xf) * 4u;
    if (hlen < 20) return drop(w, p, VS_DROP_IP_IHL, tr);
    if (hlen > room) return drop(w, p, VS_DROP_IP_TRUNCATED, tr);
    unsigned total = rd16(ip + 2);
    if (total < hlen || total > room) return drop(w, p, VS_DROP_IP_LENGTH, tr);
    if (!ip_checksum_ok(ip, hlen)) return drop(w, p, VS_DROP_IP_CHECKSUM, tr);
    p->len = (uint16_t)(VS_ETH_HLEN + total);  /* Ethernet padding is not part of the packet */
    TRACE(tr, VS_TR_IPV4, ip[8], rd32(ip + 12), rd32(ip + 16), (uint16_t)total, NULL);

    uint32_t dst = rd32(ip + 16);
    if ((dst >> 28) == 0xe) return drop(w, p, VS_DROP_L3_MULTICAST, tr);
    if (dst == 0xffffffffu) return drop(w, p, VS_DROP_L3_BROADCAST, tr);

    uint32_t adj_id = vs_fib_lookup_inline(&dp->fib, dst);
    if (!adj_id) {
        TRACE(tr, VS_TR_FIB, VS_ADJ_NONE, dst, 0, 0, NULL);
        return drop_and_report(w, p, VS_DROP_NO_ROUTE, VS_PUNT_NO_ROUTE, tr);
    }
    const struct vs_adj *adj = vs_adj_get(dp->adj, adj_id);
    TRACE(tr, VS_TR_FIB, adj->type, dst, adj_id, 0, NULL);
    switch (adj->type) {
    case VS_ADJ_LOCAL: return punt(w, p, VS_PUNT_LOCAL, tr);
    case VS_ADJ_BLACKHOLE: return drop(w, p, VS_DROP_BLACKHOLE, tr);
    case VS_ADJ_BROADCAST: return drop(w, p, VS_DROP_L3_BROADCAST, tr);
    case VS_ADJ_NONE: return drop_and_report(w, p, VS_DROP_NO_ROUTE, VS_PUNT_NO_ROUTE, tr);
    default: break;
    }
    TRACE(tr, VS_TR_ADJ, adj->iface, adj->nh_ip, adj->type, 0, adj->dmac);
    if (ip[8] <= 1) return drop_and_report(w, p, VS_DROP_TTL_EXPIRED, VS_PUNT_TTL, tr);
    uint16_t mtu = dp->ifaces[adj->iface].mtu;
    if (VS_UNLIKELY(total > mtu)) {
        if (!(ip[6] & 0x40)) return drop(w, p, VS_DROP_MTU_EXCEEDED, tr);
        p->mtu = mtu;
        return drop_and_report(w, p, VS_DROP_FRAG_NEEDED, VS_PUNT_FRAG_NEEDED, tr);
    }
    ttl_decrement(ip);
    TRACE(tr, VS_TR_REWRITE, ip[8] + 1, ip[8], adj->iface, 0, adj->type == VS_ADJ_FORWARD ? adj->dmac : NULL);
    adj_output(w, adj_id, p, tr);
}

/* Frames on a routed port or VLAN: only what is addressed to our MAC, or broadcast ARP. */
VS_PATH void routed_input(struct vs_worker *w, const struct vs_iface *ifc, struct vs_pkt *p,
                         struct vs_trace_rec *tr) {
    const uint8_t *eth = vs_pkt_bytes(p);
    if (memcmp(eth, ifc->mac, 6) == 0) {
        TRACE(tr, VS_TR_L3, p->in_iface, VS_TR_L3_ROUTER_MAC, 0, 0, NULL);
        return l3_input(w, p, tr);
    }
    if (!(eth[0] & 1)) return drop(w, p, VS_DROP_L3_NOT_FOR_US, tr);
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    if (memcmp(eth, bcast, 6) != 0) return drop(w, p, VS_DROP_L3_MULTICAST, tr);
    TRACE(tr, VS_TR_L3, p->in_iface, VS_TR_L3_BROADCAST, 0, 0, NULL);
    if (rd16(eth + 12) == VS_ETHERTYPE_ARP) return punt(w, p, VS_PUNT_ARP, tr);
    drop(w, p, VS_DROP_L3_BROADCAST, tr);
}

/* ---- L2 ------------------------------------------------------------------ */

VS_PATH void bridge_input(struct vs_worker *w, struct vs_bridge *br, uint16_t from_iface, struct vs_pkt *p,
                         struct vs_trace_rec *tr) {
    struct vs_dp *dp = w->dp;
    const uint8_t *eth = vs_pkt_bytes(p);
    int learned = VS_LEARN_GROUP_SOURCE;
    if (!(eth[6] & 1)) learned = vs_mac_learn(dp, br, eth + 6, from_iface, w->now_ns, w->mac_refresh_ns);
    TRACE(tr, VS_TR_LEARN, from_iface, (uint32_t)learned, 0, 0, eth + 6);
    static const uint8_t reserved[5] = {0x01, 0x80, 0xc2, 0x00, 0x00};
    if (memcmp(eth, reserved, 5) == 0 && (eth[5] & 0xf0) == 0)
        return drop(w, p, VS_DROP_L2_RESERVED_GROUP, tr);
    const struct vs_iface *router = &dp->ifaces[br->iface];
    if (router->routed) {
        if (memcmp(eth, router->mac, 6) == 0) {
            p->in_iface = br->iface;
            TRACE(tr, VS_TR_L3, br->iface, VS_TR_L3_ROUTER_MAC, 0, 0, NULL);
            return l3_input(w, p, tr);
        }
        static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        if (memcmp(eth, bcast, 6) == 0 && rd16(eth + 12) == VS_ETHERTYPE_ARP) {
            /* the router is one more member: it gets its own copy */
            TRACE(tr, VS_TR_L3, br->iface, VS_TR_L3_ARP_COPY, 0, 0, NULL);
            struct vs_pkt *c = clone_pkt(w, p);
            if (c) {
                c->in_iface = br->iface;
                int refused = punt_try(w, c, VS_PUNT_ARP);
                if (refused) {
                    TRACE(tr, VS_TR_DROP, refused, br->iface, 0, 0, NULL);
                    vs_pool_free(&dp->pool, c);
                } else {
                    TRACE(tr, VS_TR_PUNT, VS_PUNT_ARP, br->iface, 0, 0, NULL);
                }
            } else {
                in_stats(w, p)->drops[VS_DROP_NO_BUFFER]++;
                TRACE(tr, VS_TR_DROP, VS_DROP_NO_BUFFER, br->iface, 0, 0, NULL);
            }
        }
    }
    bridge_forward(w, br, from_iface, p, tr);
}

/* ---- classify ------------------------------------------------------------ */

VS_PATH void classify(struct vs_worker *w, struct vs_pkt *p, struct vs_trace_rec *tr) {
    struct vs_dp *dp = w->dp;
    struct vs_port_stats *s = in_stats(w, p);
    s->rx_packets++;
    s->rx_bytes += p->len;
    if (VS_UNLIKELY(p->len < VS_ETH_HLEN)) return drop(w, p, VS_DROP_RUNT, tr);
    const struct vs_port *port = dp->ports[p->in_port];
    if (VS_UNLIKELY(!port->admin_up)) return drop(w, p, VS_DROP_INTERFACE_DOWN, tr);

    uint8_t *eth = vs_pkt_bytes(p);
    uint16_t iface_id = p->in_port;
    p->arrived_tagged = 0;
    p->vlan_pcp = 0;
    if (rd16(eth + 12) == VS_ETHERTYPE_VLAN) {
        if (p->len < VS_ETH_HLEN + 4) return drop(w, p, VS_DROP_VLAN_TRUNCATED, tr);
        uint16_t tci = rd16(eth + 14);
        uint16_t vid = tci & 0xfff;
        if (vid) {
            int16_t v = port->vlan_iface[vid];
            if (v < 0) return drop(w, p, VS_DROP_UNKNOWN_VLAN, tr);
            iface_id = (uint16_t)v;
        }
        p->arrived_tagged = 1;
        p->vlan_pcp = tci >> 13;
        memmove(eth + 4, eth, 12);  /* internally every frame is untagged */
        p->data_off += 4;
        p->len -= 4;
    }
    const struct vs_iface *ifc = &dp->ifaces[iface_id];
    TRACE(tr, VS_TR_CLASSIFY, iface_id, ifc->vid, p->arrived_tagged, 0, NULL);
    if (VS_UNLIKELY(p->len - VS_ETH_HLEN > ifc->mtu)) return drop(w, p, VS_DROP_GIANT, tr);
    p->in_iface = iface_id;
    if (ifc->bridge >= 0) return bridge_input(w, &dp->bridges[ifc->bridge], iface_id, p, tr);
    if (ifc->routed) return routed_input(w, ifc, p, tr);
    drop(w, p, VS_DROP_NO_INTERFACE, tr);
}

/* Frames from the control plane (pkt->flags = mode, pkt->out_iface = iface).
 * Their fate counts on in_port like any frame's: a packet released after
 * ARP shows as punted, then as forwarded (or dropped). */
void vs_process_inject(struct vs_worker *w, struct vs_pkt *p) {
    struct vs_dp *dp = w->dp;
    struct vs_trace_rec *tr = NULL;  /* frames we made are not traced */
    if (p->flags == VS_INJECT_IFACE) return output_iface(w, p->out_iface, p, tr);
    uint8_t *eth = vs_pkt_bytes(p);
    wr16(eth + 12, VS_ETHERTYPE_IPV4);
    uint32_t adj_id = vs_fib_lookup_inline(&dp->fib, rd32(eth + VS_ETH_HLEN + 16));
    const struct vs_adj *adj = vs_adj_get(dp->adj, adj_id);
    switch (adj->type) {
    case VS_ADJ_GLEAN:
    case VS_ADJ_INCOMPLETE:
    case VS_ADJ_FORWARD:
        if (rd16(eth + VS_ETH_HLEN + 2) > dp->ifaces[adj->iface].mtu) return drop(w, p, VS_DROP_MTU_EXCEEDED, tr);
        return adj_output(w, adj_id, p, tr);
    case VS_ADJ_BLACKHOLE: return drop(w, p, VS_DROP_BLACKHOLE, tr);
    case VS_ADJ_BROADCAST: return drop(w, p, VS_DROP_L3_BROADCAST, tr);
    default: return drop(w, p, VS_DROP_NO_ROUTE, tr);  /* no route, or to ourselves */
    }
}

/* The IPv4 destination a frame would be routed on, or 0 if it has none
 * (looked at before classification, for prefetching only). */
static inline uint32_t peek_dst(struct vs_pkt *p) {
    const uint8_t *eth = vs_pkt_bytes(p);
    unsigned l3 = VS_ETH_HLEN;
    if (p->len >= VS_ETH_HLEN + 4 && rd16(eth + 12) == VS_ETHERTYPE_VLAN) l3 += 4;
    if (p->len < l3 + 20 || rd16(eth + l3 - 2) != VS_ETHERTYPE_IPV4) return 0;
    return rd32(eth + l3 + 16);
}

/* Keep the FIB's cache misses in flight ahead of the work: with a big table
 * every lookup misses, and one after another inside the per-packet work
 * they would not overlap.  While packet i is processed, the tbl24 line of
 * packet i + VS_FIB_AHEAD is fetched, and the tbl8 line of packet
 * i + VS_FIB_AHEAD / 2, whose tbl24 entry has had time to arrive.  (All 32
 * at once overflows the core's miss buffers, and the group step then waits
 * on its own loads.)  A stray prefetch for a frame that is not routed costs
 * next to nothing. */
#define VS_FIB_AHEAD 8
static inline void prefetch_group(const struct vs_fib *fib, uint32_t ip) {
    uint32_t e = __atomic_load_n(&fib->tbl24[ip >> 8], __ATOMIC_RELAXED);
    if (e & VS_FIB_GROUP_FLAG) __builtin_prefetch(&fib->tbl8[((e & ~VS_FIB_GROUP_FLAG) << 8) | (ip & 0xff)]);
}

/* The first packets of a burst, while a trace is armed: claims up to n of
 * the budget (a CAS, so workers and a disarm never race), runs each through
 * the traced copy of the path and flushes its tx at once, so a queue that
 * cannot take it shows in its trace.  Returns how many it took. */
static __attribute__((noinline, cold)) uint16_t trace_some(struct vs_worker *w, uint16_t queue, struct vs_pkt **pkts,
                                                           uint16_t n) {
    _Atomic uint32_t *budget = &w->dp->trace_budget;
    uint32_t left = atomic_load_explicit(budget, memory_order_relaxed);
    uint16_t take;
    do {
        take = left < n ? (uint16_t)left : n;
    } while (take && !atomic_compare_exchange_weak_explicit(budget, &left, left - take, memory_order_relaxed,
                                                            memory_order_relaxed));
    for (uint16_t i = 0; i < take; i++) {
        struct vs_trace_rec *tr = vs_trace_begin(w, queue, pkts[i]);  /* NULL: no room, counted */
        classify(w, pkts[i], tr);
        w->trace_cur = tr;
        vs_tx_flush_all(w);
        w->trace_cur = NULL;
        if (tr) vs_trace_commit(w);
    }
    return take;
}

void vs_process_burst(struct vs_worker *w, struct vs_port *port, uint16_t queue, struct vs_pkt **pkts, uint16_t n) {
    struct vs_capture *cap = atomic_load_explicit(&w->dp->capture_on[port->id], memory_order_acquire);
    if (VS_UNLIKELY(cap != NULL)) vs_capture_rx(w, cap, pkts, n);  /* as received: before any tag is popped */
    if (VS_UNLIKELY(atomic_load_explicit(&w->dp->trace_budget, memory_order_relaxed) != 0)) {
        uint16_t traced = trace_some(w, queue, pkts, n);
        pkts += traced;
        n -= traced;
    }
    const struct vs_fib *fib = &w->dp->fib;
    uint32_t dst[VS_BURST];
    uint16_t m = n < VS_BURST ? n : VS_BURST;
    for (uint16_t i = 0; i < m; i++) dst[i] = peek_dst(pkts[i]);
    for (uint16_t i = 0; i < m && i < VS_FIB_AHEAD; i++) __builtin_prefetch(&fib->tbl24[dst[i] >> 8]);
    for (uint16_t i = 0; i < m && i < VS_FIB_AHEAD / 2; i++) prefetch_group(fib, dst[i]);
    for (uint16_t i = 0; i < n; i++) {
        if (i + VS_FIB_AHEAD < m) __builtin_prefetch(&fib->tbl24[dst[i + VS_FIB_AHEAD] >> 8]);
        if (i + VS_FIB_AHEAD / 2 < m) prefetch_group(fib, dst[i + VS_FIB_AHEAD / 2]);
        classify(w, pkts[i], NULL);
    }
    vs_tx_flush_all(w);
}
