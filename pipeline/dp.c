/* dp.c — the data plane object: setup calls from the control plane, the
 * offline (pcap clock) runner and the live worker loop. */
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include "vs.h"

/* ---- errors, names, clock ------------------------------------------------ */

static __thread char last_error[256];

void vs_set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
}

const char *vs_last_error(void) { return last_error; }

static const char *const drop_names[] = {
#define VS_DROP_NAME(name, str, doc) str,
    VS_DROP_REASONS(VS_DROP_NAME)
#undef VS_DROP_NAME
};

int vs_drop_reason_count(void) { return VS_DROP_MAX; }

const char *vs_drop_reason_name(int reason) {
    return reason >= 0 && reason < VS_DROP_MAX ? drop_names[reason] : "?";
}

uint64_t vs_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void vs_dp_set_clock(struct vs_dp *dp, uint64_t now_ns) {
    if (now_ns > dp->clock_ns) dp->clock_ns = now_ns;
    for (int i = 0; i < dp->n_workers; i++) dp->workers[i].now_ns = dp->clock_ns;
}

uint64_t vs_dp_clock(struct vs_dp *dp) { return dp->offline ? dp->clock_ns : vs_now_ns(); }

/* ---- lifetime ------------------------------------------------------------ */

static uint16_t removed_rx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n) {
    (void)port, (void)q, (void)pkts, (void)n;
    return 0;
}

/* What a worker still holding a removed port's frames finds in its slot:
 * nothing to receive, nothing accepted (the caller frees and counts). */
static void removed_port_init(struct vs_dp *dp) {
    struct vs_port *r = &dp->removed;
    snprintf(r->name, sizeof(r->name), "(removed)");
    r->n_rxq = r->n_txq = 1;
    r->rx_burst = r->tx_burst = removed_rx;
    r->pool = &dp->pool;
    for (int v = 0; v < 4096; v++) r->vlan_iface[v] = -1;
}

struct vs_dp *vs_dp_create(uint32_t pool_buffers, uint32_t n_workers, uint32_t max_adj, uint32_t max_tbl8_groups) {
    if (n_workers < 1 || n_workers > VS_MAX_WORKERS) {
        vs_set_error("workers must be 1-%d", VS_MAX_WORKERS);
        return NULL;
    }
    struct vs_dp *dp = calloc(1, sizeof(*dp));
    if (!dp) {
        vs_set_error("out of memory");
        return NULL;
    }
    dp->offline = true;  /* until a live worker starts, the clock is the one we are given */
    dp->max_adj = max_adj;
    dp->n_workers = (uint16_t)n_workers;
    dp->adj = aligned_alloc(64, (size_t)max_adj * sizeof(*dp->adj));
    if (dp->adj) memset(dp->adj, 0, (size_t)max_adj * sizeof(*dp->adj));
    dp->workers = calloc(n_workers, sizeof(*dp->workers));
    if (!dp->adj || !dp->workers || vs_pool_init(&dp->pool, pool_buffers) ||
        vs_fib_init(&dp->fib, dp, max_tbl8_groups)) {
        if (!dp->adj || !dp->workers) vs_set_error("out of memory");
        vs_dp_destroy(dp);
        return NULL;
    }
    for (uint32_t i = 0; i < n_workers; i++) {
        struct vs_worker *w = &dp->workers[i];
        w->dp = dp;
        w->id = (uint16_t)i;
        if (vs_ring_init(&w->punt, VS_PUNT_RING_SIZE) || vs_ring_init(&w->inject, VS_INJECT_RING_SIZE)) {
            vs_set_error("out of memory for rings");
            vs_dp_destroy(dp);
            return NULL;
        }
    }
    for (int p = 0; p < VS_MAX_PORTS; p++) pthread_mutex_init(&dp->tx_lock[p], NULL);
    pthread_mutex_init(&dp->retire_lock, NULL);
    removed_port_init(dp);
    dp->n_ifaces = VS_MAX_PORTS;  /* a port's interface has the port's number: the first ids are theirs */
    return dp;
}

void vs_dp_destroy(struct vs_dp *dp) {
    if (!dp) return;
    vs_rcu_reclaim(dp);  /* no worker runs any more: everything retired goes */
    struct vs_capture_stats last;
    for (int p = 0; p < dp->n_ports; p++)
        if (dp->captures[p]) vs_capture_stop(dp, p, &last);
    vs_port_flush_files(dp);
    for (int p = 0; p < dp->n_ports; p++)
        if (dp->ports[p]->close) dp->ports[p]->close(dp->ports[p]);   /* &dp->removed has none */
    for (int b = 0; b < dp->n_bridges; b++) vs_bridge_table_fini(&dp->bridges[b]);
    if (dp->workers)
        for (int i = 0; i < dp->n_workers; i++) {
            vs_ring_fini(&dp->workers[i].punt);
            vs_ring_fini(&dp->workers[i].inject);
        }
    vs_fib_fini(&dp->fib);
    vs_pool_fini(&dp->pool);
    free(dp->workers);
    free(dp->adj);
    free(dp);
}

uint32_t vs_dp_free_buffers(struct vs_dp *dp) { return vs_pool_available(&dp->pool); }

void vs_dp_set_punt_policer(struct vs_dp *dp, int reason, uint32_t rate_per_s, uint32_t burst) {
    if (reason < 0 || reason >= VS_PUNT_MAX) return;
    for (int i = 0; i < dp->n_workers; i++) {
        struct vs_policer *pol = &dp->workers[i].policer[reason];
        pol->rate = rate_per_s;
        pol->burst = burst;
        pol->tokens_x1e9 = (uint64_t)burst * 1000000000ull;
        pol->last_ns = 0;
    }
}

/* ---- ports and interfaces ------------------------------------------------ */

static int iface_new(struct vs_dp *dp, uint8_t kind) {
    if (dp->n_ifaces >= VS_MAX_IFACES) {
        vs_set_error("too many interfaces (max %d)", VS_MAX_IFACES);
        return -1;
    }
    int id = dp->n_ifaces++;
    struct vs_iface *ifc = &dp->ifaces[id];
    memset(ifc, 0, sizeof(*ifc));
    ifc->kind = kind;
    ifc->bridge = -1;
    ifc->mtu = 1500;
    return id;
}

/* A port's own interface has the port's number (interfaces of VLANs and
 * bridges start at VS_MAX_PORTS).  A port added while workers run takes the
 * first removed slot, or the next one; either is invisible to the workers
 * until a queue of it is assigned or an interface refers to it. */
int vs_port_register(struct vs_dp *dp, struct vs_port *port) {
    uint16_t id = 0;
    while (id < dp->n_ports && dp->ports[id] != &dp->removed) id++;
    if (id >= VS_MAX_PORTS) {
        vs_set_error("too many ports (max %d)", VS_MAX_PORTS);
        return -1;
    }
    port->id = id;
    port->pool = &dp->pool;
    port->admin_up = 1;
    atomic_store_explicit(&port->oper_up, 1, memory_order_relaxed);
    for (int v = 0; v < 4096; v++) port->vlan_iface[v] = -1;
    struct vs_iface *ifc = &dp->ifaces[id];
    memset(ifc, 0, sizeof(*ifc));
    ifc->kind = VS_IF_PORT;
    ifc->bridge = -1;
    ifc->port = id;
    ifc->mtu = port->mtu;
    /* a reused slot starts from zero: nothing of the old port is in flight any more */
    for (int i = 0; i < dp->n_workers; i++) memset(&dp->workers[i].stats[id], 0, sizeof(struct vs_port_stats));
    struct vs_port_stats *s = &dp->slow_stats[id];
    memset(s, 0, sizeof(*s));
    for (int r = 0; r < VS_DROP_MAX; r++) {
        s->drops[r] += port->load_drops[r];
        s->rx_dropped += port->load_drops[r];
        s->rx_packets += port->load_drops[r];
    }
    atomic_thread_fence(memory_order_release);
    dp->ports[id] = port;
    if (id == dp->n_ports) dp->n_ports++;
    return id;
}

static bool valid_port(struct vs_dp *dp, int port) {
    return port >= 0 && port < dp->n_ports && dp->ports[port] != &dp->removed;
}

static bool valid_iface(struct vs_dp *dp, int iface) {
    return valid_port(dp, iface) || (iface >= VS_MAX_PORTS && iface < dp->n_ifaces);
}

/* The port a kernel driver re-attaches to a re-created interface: one of
 * its own (told by its rx function) and a usable interface name; else NULL
 * with the error set. */
struct vs_port *vs_port_for_reattach(struct vs_dp *dp, int port_id, vs_burst_fn rx, const char *kind,
                                     const char *ifname) {
    if (!valid_port(dp, port_id) || dp->ports[port_id]->rx_burst != rx) {
        vs_set_error("port %d is not an %s port", port_id, kind);
        return NULL;
    }
    if (!ifname || !ifname[0] || strlen(ifname) >= IFNAMSIZ) {
        vs_set_error("interface name must be 1-%d characters", IFNAMSIZ - 1);
        return NULL;
    }
    return dp->ports[port_id];
}

void vs_port_set_admin(struct vs_dp *dp, int port, int up) {
    if (valid_port(dp, port)) dp->ports[port]->admin_up = up ? 1 : 0;
}

int vs_port_admin_up(struct vs_dp *dp, int port) {
    return valid_port(dp, port) && dp->ports[port]->admin_up;
}

void vs_port_set_oper(struct vs_dp *dp, int port, int up) {
    if (valid_port(dp, port)) atomic_store_explicit(&dp->ports[port]->oper_up, up ? 1 : 0, memory_order_release);
}

int vs_port_oper_up(struct vs_dp *dp, int port) {
    return valid_port(dp, port) && atomic_load_explicit(&dp->ports[port]->oper_up, memory_order_acquire);
}

int vs_port_flush_files(struct vs_dp *dp) {
    int rc = 0;
    for (int p = 0; p < dp->n_ports; p++)
        if (dp->ports[p]->flush && dp->ports[p]->flush(dp->ports[p])) rc = -1;
    return rc;
}

static void stats_add(struct vs_port_stats *acc, const struct vs_port_stats *s) {
    const uint64_t *src = (const uint64_t *)s;
    uint64_t *dst = (uint64_t *)acc;
    for (size_t i = 0; i < sizeof(*s) / sizeof(uint64_t); i++) dst[i] += src[i];
}

void vs_port_stats_get(struct vs_dp *dp, int port, struct vs_port_stats *out) {
    memset(out, 0, sizeof(*out));
    unsigned slot = port < 0 ? VS_MAX_PORTS : vs_stats_slot((uint16_t)port);
    if (valid_port(dp, port) && dp->ports[port]->read_stats)
        dp->ports[port]->read_stats(dp->ports[port], &dp->slow_stats[slot]);
    for (int i = 0; i < dp->n_workers; i++) stats_add(out, &dp->workers[i].stats[slot]);
    stats_add(out, &dp->slow_stats[slot]);
}

void vs_port_stats_clear(struct vs_dp *dp, int port) {
    unsigned slot = port < 0 ? VS_MAX_PORTS : vs_stats_slot((uint16_t)port);
    for (int i = 0; i < dp->n_workers; i++) {
        struct vs_worker *w = &dp->workers[i];
        memset(&w->stats[slot], 0, sizeof(struct vs_port_stats));
        uint16_t n = atomic_load_explicit(&w->n_rxq, memory_order_acquire);
        for (uint16_t q = 0; q < n; q++)
            if (atomic_load_explicit(&w->rxq[q], memory_order_relaxed) >> 16 == (uint32_t)port)
                w->rxq_stats[q].packets = w->rxq_stats[q].bytes = 0;
    }
    memset(&dp->slow_stats[slot], 0, sizeof(struct vs_port_stats));
}

int vs_iface_add_vlan(struct vs_dp *dp, int port, uint16_t vid) {
    if (!valid_port(dp, port) || vid < 1 || vid > 4094) {
        vs_set_error("bad VLAN %u on port %d", vid, port);
        return -1;
    }
    if (dp->ports[port]->vlan_iface[vid] >= 0) {
        vs_set_error("VLAN %u on port %d exists", vid, port);
        return -1;
    }
    int id = iface_new(dp, VS_IF_VLAN);
    if (id < 0) return -1;
    dp->ifaces[id].port = (uint16_t)port;
    dp->ifaces[id].vid = vid;
    dp->ifaces[id].mtu = dp->ports[port]->mtu;
    dp->ports[port]->vlan_iface[vid] = (int16_t)id;
    return id;
}

int vs_iface_add_bridge(struct vs_dp *dp, uint64_t aging_ns, uint32_t mac_limit) {
    if (dp->n_bridges >= VS_MAX_BRIDGES) {
        vs_set_error("too many bridges (max %d)", VS_MAX_BRIDGES);
        return -1;
    }
    int id = iface_new(dp, VS_IF_BRIDGE);
    if (id < 0) return -1;
    struct vs_bridge *br = &dp->bridges[dp->n_bridges];
    memset(br, 0, sizeof(*br));
    br->iface = (uint16_t)id;
    br->aging_ns = aging_ns;
    br->mac_limit = mac_limit;
    if (vs_bridge_table_init(br)) {
        dp->n_ifaces--;   /* the one iface_new just took */
        return -1;
    }
    dp->ifaces[id].bridge = (int16_t)dp->n_bridges++;
    return id;
}

void vs_iface_set_l3(struct vs_dp *dp, int iface, const uint8_t *mac, int routed) {
    if (!valid_iface(dp, iface)) return;
    memcpy(dp->ifaces[iface].mac, mac, 6);
    dp->ifaces[iface].routed = routed ? 1 : 0;
}

void vs_iface_set_mtu(struct vs_dp *dp, int iface, uint16_t mtu) {
    if (valid_iface(dp, iface)) dp->ifaces[iface].mtu = mtu;
}

int vs_bridge_add_member(struct vs_dp *dp, int bridge_iface, int member_iface) {
    if (!valid_iface(dp, bridge_iface) || dp->ifaces[bridge_iface].kind != VS_IF_BRIDGE ||
        !valid_iface(dp, member_iface) || dp->ifaces[member_iface].kind == VS_IF_BRIDGE ||
        dp->ifaces[member_iface].bridge >= 0) {
        vs_set_error("cannot add iface %d to bridge iface %d", member_iface, bridge_iface);
        return -1;
    }
    struct vs_bridge *br = &dp->bridges[dp->ifaces[bridge_iface].bridge];
    if (br->n_members >= VS_MAX_MEMBERS) {
        vs_set_error("bridge full (max %d members)", VS_MAX_MEMBERS);
        return -1;
    }
    br->members[br->n_members++] = (uint16_t)member_iface;
    dp->ifaces[member_iface].bridge = dp->ifaces[bridge_iface].bridge;
    return 0;
}

/* ---- adjacencies --------------------------------------------------------- */

int vs_adj_set(struct vs_dp *dp, uint32_t adj_id, int type, int iface, uint32_t nh_ip, const uint8_t *dmac) {
    if (adj_id == 0 || adj_id >= dp->max_adj || type < VS_ADJ_NONE || type > VS_ADJ_FORWARD ||
        (type >= VS_ADJ_GLEAN && !valid_iface(dp, iface))) {
        vs_set_error("bad adjacency %u (type %d, iface %d)", adj_id, type, iface);
        return -1;
    }
    struct vs_adj_slot *slot = &dp->adj[adj_id];
    uint8_t next = !atomic_load_explicit(&slot->cur, memory_order_relaxed);
    struct vs_adj *adj = &slot->v[next];
    adj->type = (uint8_t)type;
    adj->iface = (uint16_t)(iface < 0 ? 0 : iface);
    adj->nh_ip = nh_ip;
    if (dmac) memcpy(adj->dmac, dmac, 6);
    atomic_store_explicit(&slot->cur, next, memory_order_release);
    vs_rcu_synchronize(dp);  /* the copy just left is free for the next change only after this */
    return 0;
}

/* ---- slow path ----------------------------------------------------------- */

int vs_punt_poll(struct vs_dp *dp, struct vs_pkt **out, int max) {
    int n = 0;
    for (int i = 0; i < dp->n_workers && n < max; i++) {
        struct vs_pkt *p;
        while (n < max && (p = vs_ring_get(&dp->workers[i].punt))) out[n++] = p;
    }
    return n;
}

const uint8_t *vs_pkt_data(struct vs_pkt *pkt) { return vs_pkt_bytes(pkt); }

void vs_pkt_free(struct vs_dp *dp, struct vs_pkt *pkt) { vs_pool_free(&dp->pool, pkt); }

int vs_inject(struct vs_dp *dp, int mode, int iface, uint16_t in_port, const uint8_t *frame, uint16_t len,
              uint64_t ts_ns, int vlan_pcp) {
    if ((mode != VS_INJECT_IFACE && mode != VS_INJECT_ROUTE) || len > VS_PKT_MAX_FRAME ||
        len < VS_ETH_HLEN + (mode == VS_INJECT_ROUTE ? 20 : 0) ||
        (mode == VS_INJECT_IFACE && !valid_iface(dp, iface))) {
        vs_set_error("bad inject (mode %d, iface %d, %u bytes)", mode, iface, len);
        return -1;
    }
    struct vs_pkt *p = vs_pool_alloc(&dp->pool);
    if (!p) {
        vs_slow_drop(dp, in_port, VS_DROP_NO_BUFFER);
        vs_set_error("packet pool empty");
        return -1;
    }
    memcpy(vs_pkt_bytes(p), frame, len);
    p->len = len;
    p->ts_ns = ts_ns;
    p->in_port = in_port;
    p->out_iface = (uint16_t)(iface < 0 ? 0 : iface);
    p->flags = (uint8_t)mode;
    p->arrived_tagged = vlan_pcp >= 0;
    p->vlan_pcp = (uint8_t)(vlan_pcp >= 0 ? vlan_pcp & 7 : 0);
    if (!vs_ring_put(&dp->workers[0].inject, p)) {
        vs_pool_free(&dp->pool, p);
        vs_slow_drop(dp, in_port, VS_DROP_PUNT_QUEUE_FULL);
        vs_set_error("inject ring full");
        return -1;
    }
    return 0;
}

void vs_slow_drop(struct vs_dp *dp, uint16_t port, int reason) {
    if (reason < 0 || reason >= VS_DROP_MAX) return;
    struct vs_port_stats *s = &dp->slow_stats[vs_stats_slot(port)];
    s->drops[reason]++;
    s->rx_dropped++;
}

void vs_punt_stats_get(struct vs_dp *dp, struct vs_punt_stats *out) {
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < dp->n_workers; i++) {
        const struct vs_punt_stats *s = &dp->workers[i].punt_stats;
        for (int r = 0; r < VS_PUNT_MAX; r++) {
            out->punted[r] += s->punted[r];
            out->policed[r] += s->policed[r];
            out->ring_full[r] += s->ring_full[r];
        }
    }
}

static void drain_inject(struct vs_worker *w) {
    struct vs_pkt *p;
    bool any = false;
    while ((p = vs_ring_get(&w->inject))) {
        if (w->dp->offline && p->ts_ns > w->now_ns) w->now_ns = p->ts_ns;
        vs_process_inject(w, p);
        any = true;
    }
    if (any) vs_tx_flush_all(w);
}

/* MAC aging sweeps run on the thread that learns (worker 0), once a second
 * of its clock, so no table is rebuilt under a concurrent writer. */
static void sweep_if_due(struct vs_dp *dp, uint64_t now_ns) {
    if (now_ns < dp->next_sweep_ns) return;
    for (int b = 0; b < dp->n_bridges; b++) vs_mac_sweep(dp, &dp->bridges[b], now_ns);
    dp->next_sweep_ns = now_ns + VS_MAC_SWEEP_NS;
}

/* ---- offline mode: one frame at a time, in pcap-timestamp order ---------- */

int vs_offline_run(struct vs_dp *dp, uint64_t deadline_ns, uint64_t *next_ts) {
    struct vs_worker *w = &dp->workers[0];
    dp->offline = true;
    w->now_ns = dp->clock_ns;
    drain_inject(w);
    for (;;) {
        if (!vs_ring_empty(&w->punt)) return VS_OFFLINE_PUNT;
        struct vs_port *next = NULL;
        int64_t best = -1;
        for (int i = 0; i < dp->n_ports; i++) {  /* ties: port order */
            struct vs_port *port = dp->ports[i];
            int64_t t = port->next_ts ? port->next_ts(port) : -1;
            if (t >= 0 && (best < 0 || t < best)) {
                best = t;
                next = port;
            }
        }
        if (!next) return VS_OFFLINE_DONE;
        if ((uint64_t)best >= deadline_ns) {
            *next_ts = (uint64_t)best;
            return VS_OFFLINE_TIMER;
        }
        vs_dp_set_clock(dp, (uint64_t)best);
        sweep_if_due(dp, dp->clock_ns);
        vs_rcu_reclaim(dp);
        struct vs_pkt *pkt;
        if (next->rx_burst(next, 0, &pkt, 1) == 1) {
            pkt->in_port = next->id;
            vs_process_burst(w, next, 0, &pkt, 1);
        }
    }
}

/* ---- live mode: each worker thread enters here once ---------------------- */

int vs_worker_assign(struct vs_dp *dp, int worker, int port, int queue) {
    if (worker < 0 || worker >= dp->n_workers || !valid_port(dp, port) || queue < 0 ||
        queue >= dp->ports[port]->n_rxq) {
        vs_set_error("bad queue assignment: worker %d, port %d, queue %d", worker, port, queue);
        return -1;
    }
    struct vs_worker *w = &dp->workers[worker];
    uint16_t n = atomic_load_explicit(&w->n_rxq, memory_order_relaxed);
    if (n >= sizeof(w->rxq) / sizeof(w->rxq[0])) {
        vs_set_error("worker %d has too many rx queues", worker);
        return -1;
    }
    dp->offline = false;  /* a data plane with queues dealt to workers runs on the real clock */
    atomic_store_explicit(&w->rxq[n], (uint32_t)port << 16 | (uint16_t)queue, memory_order_relaxed);
    atomic_store_explicit(&w->n_rxq, n + 1, memory_order_release);   /* the entry first, then the count */
    return 0;
}

/* Every worker stops polling the port's queues: each entry is overwritten by
 * the list's last one, then the list shortens.  A worker reading the list
 * meanwhile may poll one queue twice in a loop, never one of another worker. */
static void worker_unassign_port(struct vs_dp *dp, int port) {
    for (int i = 0; i < dp->n_workers; i++) {
        struct vs_worker *w = &dp->workers[i];
        uint16_t n = atomic_load_explicit(&w->n_rxq, memory_order_relaxed);
        for (uint16_t k = 0; k < n;) {
            if (atomic_load_explicit(&w->rxq[k], memory_order_relaxed) >> 16 != (uint32_t)port) {
                k++;
                continue;
            }
            n--;
            /* the counters follow their queue (a worker's increment racing this move is lost: counters only) */
            w->rxq_stats[k] = w->rxq_stats[n];
            memset(&w->rxq_stats[n], 0, sizeof(w->rxq_stats[n]));
            atomic_store_explicit(&w->rxq[k], atomic_load_explicit(&w->rxq[n], memory_order_relaxed),
                                  memory_order_release);
            atomic_store_explicit(&w->n_rxq, n, memory_order_release);
        }
    }
}

/* Remove a port while the workers run.  The control plane has already taken
 * its routes, neighbours and MACs away; the port must be in no bridge and
 * carry no VLANs.  Its slot then holds &dp->removed, and once every worker
 * has passed a quiescent point nothing can reach the old port: it is closed. */
int vs_port_remove(struct vs_dp *dp, int port) {
    if (!valid_port(dp, port)) {
        vs_set_error("no port %d", port);
        return -1;
    }
    struct vs_port *old = dp->ports[port];
    if (dp->ifaces[port].bridge >= 0) {
        vs_set_error("port %s is a bridge member", old->name);
        return -1;
    }
    for (int v = 0; v < 4096; v++)
        if (old->vlan_iface[v] >= 0) {
            vs_set_error("port %s carries VLAN %d", old->name, v);
            return -1;
        }
    if (dp->captures[port]) {   /* the control plane normally ends it first */
        struct vs_capture_stats last;
        vs_capture_stop(dp, port, &last);
    }
    old->admin_up = 0;
    atomic_store_explicit(&old->oper_up, 0, memory_order_release);
    worker_unassign_port(dp, port);
    dp->ifaces[port].routed = 0;
    atomic_store_explicit((_Atomic(struct vs_port *) *)&dp->ports[port], &dp->removed, memory_order_release);
    vs_rcu_synchronize(dp);
    if (old->flush) old->flush(old);
    if (old->close) old->close(old);
    return 0;
}

void vs_worker_run(struct vs_dp *dp, int worker) {
    struct vs_worker *w = &dp->workers[worker];
    struct vs_pkt *pkts[VS_BURST];
    unsigned idle = 0;
    w->mac_refresh_ns = VS_MAC_REFRESH_NS;
    vs_pool_cache_attach(&w->cache);
    atomic_store_explicit(&w->online, true, memory_order_release);
    uint64_t start = __rdtsc();
    uint64_t loops = atomic_load_explicit(&w->quiescent, memory_order_relaxed);
    while (!atomic_load_explicit(&dp->stop, memory_order_relaxed)) {
        /* nothing from the last loop is held any more: a grace period may end */
        atomic_store_explicit(&w->quiescent, ++loops, memory_order_release);
        uint64_t t0 = __rdtsc();
        w->now_ns = vs_now_ns();
        unsigned got = 0;
        if (worker == 0) {
            drain_inject(w);
            sweep_if_due(dp, w->now_ns);
        }
        uint16_t n_rxq = atomic_load_explicit(&w->n_rxq, memory_order_acquire);
        for (uint16_t i = 0; i < n_rxq; i++) {
            uint32_t rxq = atomic_load_explicit(&w->rxq[i], memory_order_acquire);
            struct vs_port *port = dp->ports[rxq >> 16];
            uint16_t n = port->rx_burst(port, (uint16_t)rxq, pkts, VS_BURST);
            if (!n) continue;
            uint64_t bytes = 0;
            for (uint16_t k = 0; k < n; k++) {
                pkts[k]->in_port = port->id;
                bytes += pkts[k]->len;
            }
            w->rxq_stats[i].packets += n;
            w->rxq_stats[i].bytes += bytes;
            vs_process_burst(w, port, (uint16_t)rxq, pkts, n);
            got += n;
            w->wstats.bursts++;
        }
        uint64_t t1 = __rdtsc();
        w->wstats.cycles = t1 - start;
        if (got) {
            w->wstats.packets += got;
            w->wstats.busy_cycles += t1 - t0;
            idle = 0;
        } else {
            w->wstats.idle_polls++;
            if (++idle > VS_IDLE_SPINS) {
                /* idle: nap so a small machine keeps time for the control plane */
                struct timespec nap = {0, VS_IDLE_SLEEP_NS};
                nanosleep(&nap, NULL);
            }
        }
    }
    vs_tx_flush_all(w);
    vs_pool_cache_detach(&dp->pool);
    atomic_store_explicit(&w->online, false, memory_order_release);
}

void vs_rxq_stats_get(struct vs_dp *dp, int port, int queue, struct vs_rxq_stats *out) {
    memset(out, 0, sizeof(*out));
    out->worker = -1;
    for (int wi = 0; wi < dp->n_workers; wi++) {
        struct vs_worker *w = &dp->workers[wi];
        uint16_t n = atomic_load_explicit(&w->n_rxq, memory_order_acquire);
        for (uint16_t i = 0; i < n; i++) {
            if (atomic_load_explicit(&w->rxq[i], memory_order_relaxed) != ((uint32_t)port << 16 | (uint16_t)queue))
                continue;
            out->packets = w->rxq_stats[i].packets;
            out->bytes = w->rxq_stats[i].bytes;
            out->worker = wi;
        }
    }
}

void vs_worker_stats_get(struct vs_dp *dp, int worker, struct vs_worker_stats *out) {
    memset(out, 0, sizeof(*out));
    if (worker >= 0 && worker < dp->n_workers) *out = dp->workers[worker].wstats;
}

void vs_dp_stop(struct vs_dp *dp) { atomic_store(&dp->stop, true); }
