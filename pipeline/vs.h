/* vs.h — the forwarding core's internal types.  Python sees vs_api.h only. */
#ifndef VS_H
#define VS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vs_api.h"
#include "vs_drops.h"

_Static_assert(VS_DROP_MAX <= 64, "struct vs_port_stats.drops has 64 slots");

/* ---- tunables ---------------------------------------------------------- */
#define VS_PKT_BUF_SIZE 2048          /* one buffer, metadata included */
#define VS_PKT_META_SIZE 64           /* first cache line */
#define VS_PKT_HEADROOM 128           /* room to push VLAN tags */
#define VS_PKT_ROOM (VS_PKT_BUF_SIZE - VS_PKT_META_SIZE)
#define VS_PKT_MAX_FRAME (VS_PKT_ROOM - VS_PKT_HEADROOM)
#define VS_PUNT_RING_SIZE 1024        /* per worker; power of two */
#define VS_INJECT_RING_SIZE 1024      /* per worker; power of two */
#define VS_TX_BATCH 64                /* per worker, per port; flushed when full and per burst */
#define VS_MAC_SWEEP_NS 1000000000ull /* MAC aging sweep period (pcap clock offline) */
#define VS_MAC_REFRESH_NS 10000000ull /* live: a MAC's last-seen time is rewritten at most every 10 ms */
#define VS_IDLE_SPINS 256             /* empty polls before a worker starts sleeping */
#define VS_IDLE_SLEEP_NS 50000        /* then 50 us naps */

#define VS_ETH_HLEN 14
#define VS_ETHERTYPE_IPV4 0x0800
#define VS_ETHERTYPE_ARP 0x0806
#define VS_ETHERTYPE_VLAN 0x8100

#define VS_LIKELY(x) __builtin_expect(!!(x), 1)
#define VS_UNLIKELY(x) __builtin_expect(!!(x), 0)

_Static_assert(sizeof(struct vs_pkt) <= VS_PKT_META_SIZE, "packet metadata fits one cache line");

static inline unsigned vs_stats_slot(uint16_t port) { return port < VS_MAX_PORTS ? port : VS_MAX_PORTS; }
static inline uint8_t *vs_pkt_bytes(struct vs_pkt *p) { return (uint8_t *)p + p->data_off; }

/* ---- buffer pool -------------------------------------------------------- */
struct vs_pool {
    uint8_t *mem;             /* n * VS_PKT_BUF_SIZE bytes, page aligned */
    size_t mem_size;
    uint32_t n;
    uint32_t top;             /* free stack depth */
    struct vs_pkt **stack;
    atomic_flag lock;         /* shared pool; per-worker caches sit in front of it */
};

/* A worker's private stack of buffers in front of the shared pool: the
 * lock is taken once per VS_POOL_CACHE_BULK buffers, not per packet. */
#define VS_POOL_CACHE_SIZE 512
#define VS_POOL_CACHE_BULK 128
struct vs_pool_cache {
    uint32_t n;
    struct vs_pkt *pkts[VS_POOL_CACHE_SIZE];
};

int vs_pool_init(struct vs_pool *pool, uint32_t n);
void vs_pool_cache_attach(struct vs_pool_cache *cache);   /* this thread allocates through cache */
void vs_pool_cache_detach(struct vs_pool *pool);          /* give its buffers back */
void vs_pool_fini(struct vs_pool *pool);
struct vs_pkt *vs_pool_alloc(struct vs_pool *pool);
void vs_pool_free(struct vs_pool *pool, struct vs_pkt *pkt);
uint32_t vs_pool_available(struct vs_pool *pool);

/* ---- ports -------------------------------------------------------------- */
struct vs_port;
typedef uint16_t (*vs_burst_fn)(struct vs_port *port, uint16_t queue, struct vs_pkt **pkts, uint16_t n);

struct vs_port {
    char name[32];
    uint16_t id;
    uint16_t n_rxq, n_txq;
    uint16_t mtu;
    uint8_t admin_up;
    /* link state (the kernel interface is there): cleared by the control
     * plane when the interface vanishes; workers load it with acquire and
     * touch a kernel port's socket only while it is set */
    _Atomic uint8_t oper_up;
    vs_burst_fn rx_burst;     /* fills pkts from the pool; returns how many */
    vs_burst_fn tx_burst;     /* takes ownership of the first k; returns k */
    /* offline mode: pcap time of queue 0's next frame, or -1 when exhausted */
    int64_t (*next_ts)(struct vs_port *port);
    int (*flush)(struct vs_port *port);   /* write buffered output; 0 or -1 */
    /* optional: fold what the driver counted itself (kernel ring drops,
     * giants) into the port's control-plane counters; called by
     * vs_port_stats_get, on the control plane's thread only */
    void (*read_stats)(struct vs_port *port, struct vs_port_stats *slow);
    void (*close)(struct vs_port *port);
    void *priv;
    struct vs_pool *pool;
    uint64_t load_drops[VS_DROP_MAX];     /* counted by the driver while loading (pcap) */
    int16_t vlan_iface[4096]; /* VID -> iface id, -1 where no vlans: entry */
};

/* Frames a driver received but could not hand over (too long for a buffer,
 * cut short by the kernel, offload metadata it cannot act on): counted by
 * the one worker polling that rx queue, folded into the port's
 * control-plane counters (as received and dropped, by reason) by
 * read_stats. */
struct vs_rx_refusals {
    _Atomic uint64_t frames[VS_DROP_MAX], bytes;      /* worker side */
    uint64_t frames_folded[VS_DROP_MAX], bytes_folded; /* control plane only */
};

static inline void vs_rx_refused(struct vs_rx_refusals *r, enum vs_drop_reason why, uint64_t bytes) {
    /* single writer: a plain add, atomic only so the reader never tears it */
    atomic_store_explicit(&r->frames[why], atomic_load_explicit(&r->frames[why], memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&r->bytes, atomic_load_explicit(&r->bytes, memory_order_relaxed) + bytes,
                          memory_order_relaxed);
}

static inline void vs_rx_refusals_fold(struct vs_rx_refusals *r, struct vs_port_stats *slow) {
    for (unsigned why = 0; why < VS_DROP_MAX; why++) {
        uint64_t frames = atomic_load_explicit(&r->frames[why], memory_order_relaxed);
        uint64_t d = frames - r->frames_folded[why];
        slow->rx_packets += d;  /* received, and refused: as the pcap loader counts them */
        slow->rx_dropped += d;
        slow->drops[why] += d;
        r->frames_folded[why] = frames;
    }
    uint64_t bytes = atomic_load_explicit(&r->bytes, memory_order_relaxed);
    slow->rx_bytes += bytes - r->bytes_folded;
    r->bytes_folded = bytes;
}

/* ---- logical interfaces and bridges ------------------------------------- */
struct vs_iface {
    uint8_t kind;             /* VS_IF_* */
    uint8_t routed;           /* has addresses: frames to .mac go to L3 */
    uint16_t port;            /* PORT, VLAN: the physical port */
    uint16_t vid;             /* VLAN */
    int16_t bridge;           /* PORT, VLAN: bridge index it is a member of, or -1;
                                 BRIDGE: its own bridge index */
    uint16_t mtu;             /* IP MTU */
    uint8_t mac[6];           /* router MAC */
};

/* Readers (every worker) never lock; writers that add or remove entries
 * hold the bridge's lock; refreshing an entry (time, moved member) is a
 * plain relaxed store from whichever worker saw the frame. */
struct vs_mac_entry {
    _Atomic uint64_t key;     /* VS_MAC_PRESENT | MAC; 0 = empty slot; published last */
    _Atomic uint64_t last_seen_ns;
    _Atomic uint16_t iface;
    uint8_t is_static;
};
#define VS_MAC_PRESENT (1ull << 48)
#define VS_MAC_TOMBSTONE (1ull << 63)

struct vs_mac_table {
    uint32_t mask;            /* entries - 1 */
    struct vs_mac_entry e[];
};

struct vs_bridge {
    uint16_t iface;           /* the bridge's own iface id */
    uint16_t n_members;
    uint16_t members[VS_MAX_MEMBERS];
    uint64_t aging_ns;        /* 0 = never */
    uint32_t mac_limit;
    atomic_flag lock;         /* adds, removals, rebuilds */
    uint32_t n_learned;       /* dynamic entries in the table (under lock) */
    uint32_t n_used;          /* slots not empty: entries + tombstones (under lock) */
    _Atomic(struct vs_mac_table *) table;   /* RCU: replaced whole on rebuild */
    struct {
        _Atomic uint64_t learned, moved, limit_refused, aged;
    } stats;
};

/* ---- FIB ---------------------------------------------------------------- */
#define VS_FIB_GROUP_FLAG 0x80000000u  /* tbl24 entry points at a 256-entry group */
struct vs_fib {
    struct vs_dp *dp;
    uint32_t *tbl24;          /* 2^24 entries: adjacency id, 0 = no route */
    uint8_t *depth24;         /* writer-only: prefix length behind each entry */
    uint32_t *tbl8;           /* groups of 256 */
    uint8_t *depth8;
    uint32_t max_groups;
    uint32_t groups_used;
    uint32_t n_free;          /* stack of free group numbers */
    uint32_t *free_groups;
};

struct vs_adj {
    uint8_t type;             /* VS_ADJ_* */
    uint16_t iface;
    uint32_t nh_ip;
    uint8_t dmac[6];
};

/* Two copies per adjacency: a writer fills the one readers are not using,
 * flips `cur`, and waits a grace period before it may write again, so a
 * reader never sees half a MAC.  One cache line each. */
struct vs_adj_slot {
    _Atomic uint8_t cur;
    struct vs_adj v[2];
} __attribute__((aligned(64)));

static inline const struct vs_adj *vs_adj_get(const struct vs_adj_slot *slots, uint32_t id) {
    const struct vs_adj_slot *s = &slots[id];
    return &s->v[atomic_load_explicit(&s->cur, memory_order_acquire)];
}

/* ---- rings (single producer, single consumer) --------------------------- */
struct vs_ring {
    _Atomic uint32_t head;    /* producer */
    uint8_t pad0[60];
    _Atomic uint32_t tail;    /* consumer */
    uint8_t pad1[60];
    uint32_t mask;
    struct vs_pkt **slots;
};

int vs_ring_init(struct vs_ring *r, uint32_t size);
void vs_ring_fini(struct vs_ring *r);
static inline bool vs_ring_put(struct vs_ring *r, struct vs_pkt *p) {
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (h - t > r->mask) return false;
    r->slots[h & r->mask] = p;
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return true;
}
static inline struct vs_pkt *vs_ring_get(struct vs_ring *r) {
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    if (t == h) return NULL;
    struct vs_pkt *p = r->slots[t & r->mask];
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    return p;
}
static inline bool vs_ring_empty(struct vs_ring *r) {
    return atomic_load_explicit(&r->head, memory_order_acquire) ==
           atomic_load_explicit(&r->tail, memory_order_acquire);
}

/* ---- capture and trace (capture.c, trace.c) ------------------------------ */
struct vs_capture_slot {
    uint64_t ts_ns;           /* the worker's clock */
    uint16_t len, cap_len;
    uint8_t data[VS_CAPTURE_SNAP];
};

/* One per (worker, port): the worker produces, the control plane drains;
 * full, the worker counts and goes on. */
struct vs_capture_ring {
    _Atomic uint64_t head;    /* frames published since the start: never wraps */
    uint8_t pad0[56];
    _Atomic uint64_t tail;
    uint8_t pad1[56];
    _Atomic uint64_t dropped;
    struct vs_capture_slot slots[VS_CAPTURE_RING];
};

struct vs_capture {
    FILE *file;               /* control plane only, from here to `rings` */
    uint64_t max_frames, written, dropped;
    int64_t wall_offset_ns;   /* added to worker clocks: pcap wants wall-clock time */
    bool running;
    uint16_t n_rings;
    struct vs_capture_ring rings[];  /* one per worker */
};

struct vs_trace_ring {
    _Atomic uint32_t head;    /* the worker */
    uint8_t pad0[60];
    _Atomic uint32_t tail;    /* the control plane */
    uint8_t pad1[60];
    _Atomic uint64_t lost;    /* packets not traced: ring full */
    struct vs_trace_rec recs[VS_TRACE_RING];
};

/* ---- workers ------------------------------------------------------------ */
struct vs_policer {
    uint64_t rate;            /* tokens per second */
    uint64_t burst;
    uint64_t tokens_x1e9;     /* tokens scaled by 1e9 so refill is exact in ns */
    uint64_t last_ns;
};

struct vs_txq {
    uint16_t n;
    struct vs_pkt *pkts[VS_TX_BATCH];
};

struct vs_worker {
    struct vs_dp *dp;
    uint16_t id;
    /* rx queues polled, each (port << 16 | queue); the control plane adds and
     * removes entries while the worker runs (release stores, read with acquire) */
    _Atomic uint16_t n_rxq;
    _Atomic uint32_t rxq[VS_MAX_PORTS * 2];
    struct { uint64_t packets, bytes; } rxq_stats[VS_MAX_PORTS * 2];  /* per rxq[] entry, this worker only */
    struct vs_txq tx[VS_MAX_PORTS];
    struct vs_ring punt;      /* worker -> control plane */
    struct vs_ring inject;    /* control plane -> worker */
    struct vs_policer policer[VS_PUNT_MAX];
    struct vs_punt_stats punt_stats;
    struct vs_port_stats stats[VS_MAX_PORTS + 1]; /* per worker, no atomics; [VS_MAX_PORTS]: frames we made */
    struct vs_worker_stats wstats;
    _Atomic uint64_t quiescent;   /* bumped every loop: RCU grace periods */
    _Atomic bool online;          /* inside vs_worker_run */
    uint64_t mac_refresh_ns;      /* rewrite a MAC's last-seen time at most this often */
    struct vs_pool_cache cache;
    uint64_t now_ns;
    struct vs_trace_rec *trace_cur;   /* the packet being traced, while its tx is flushed */
    struct vs_trace_ring trace;
};

struct vs_dp {
    struct vs_pool pool;
    uint16_t n_ports;         /* slots in use or removed; ports[p] of a removed one is &removed */
    struct vs_port *ports[VS_MAX_PORTS];
    struct vs_port removed;   /* stands in for a removed port: no queues, link down, sends nothing */
    uint16_t n_ifaces;
    struct vs_iface ifaces[VS_MAX_IFACES];
    uint16_t n_bridges;
    struct vs_bridge bridges[VS_MAX_BRIDGES];
    struct vs_fib fib;
    uint32_t max_adj;
    struct vs_adj_slot *adj;
    uint16_t n_workers;
    struct vs_worker *workers;
    struct vs_port_stats slow_stats[VS_MAX_PORTS + 1]; /* drops decided by the control plane */
    uint64_t clock_ns;        /* offline mode: the pcap clock */
    bool offline;
    uint64_t next_sweep_ns;
    pthread_mutex_t tx_lock[VS_MAX_PORTS];  /* ports with fewer tx queues than workers */
    pthread_mutex_t retire_lock;
    _Atomic(struct vs_retired *) retired;   /* RCU: memory waiting for a grace period */
    atomic_bool stop;
    /* received packets still to trace, claimed by workers a burst at a time;
     * 0 (the usual) costs one load and one branch per burst */
    _Atomic uint32_t trace_budget;
    struct vs_capture *captures[VS_MAX_PORTS];  /* the control plane's handles */
    /* what workers see: set while `vswitch capture` runs on a port, loaded
     * once per burst and per tx flush (capture.c) */
    _Atomic(struct vs_capture *) capture_on[VS_MAX_PORTS];
};

/* ---- RCU (rcu.c) ---------------------------------------------------------- */
struct vs_retired;
void vs_rcu_retire(struct vs_dp *dp, void *ptr, void (*release)(struct vs_dp *dp, void *ptr));
void vs_rcu_reclaim(struct vs_dp *dp);
void vs_rcu_synchronize(struct vs_dp *dp);

/* ---- internal entry points ---------------------------------------------- */
void vs_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t vs_now_ns(void);

int vs_fib_init(struct vs_fib *fib, struct vs_dp *dp, uint32_t max_groups);
void vs_fib_fini(struct vs_fib *fib);
/* Acquire loads pair with the writer's release stores (fib.c publish); on
 * x86 they are plain loads. */
static inline uint32_t vs_fib_lookup_inline(const struct vs_fib *fib, uint32_t ip) {
    uint32_t e = __atomic_load_n(&fib->tbl24[ip >> 8], __ATOMIC_ACQUIRE);
    if (VS_UNLIKELY(e & VS_FIB_GROUP_FLAG))
        e = __atomic_load_n(&fib->tbl8[((e & ~VS_FIB_GROUP_FLAG) << 8) | (ip & 0xff)], __ATOMIC_ACQUIRE);
    return e;
}

int vs_bridge_table_init(struct vs_bridge *br);
void vs_bridge_table_fini(struct vs_bridge *br);
/* The member a MAC is behind, or -1; lock-free. */
int vs_mac_find(struct vs_bridge *br, const uint8_t *mac, uint64_t now_ns);
/* Returns what happened, VS_LEARN_* (for the trace). */
int vs_mac_learn(struct vs_dp *dp, struct vs_bridge *br, const uint8_t *mac, uint16_t iface, uint64_t now_ns,
                 uint64_t refresh_ns);
void vs_mac_sweep(struct vs_dp *dp, struct vs_bridge *br, uint64_t now_ns);

/* pipeline.c: a burst received on (port, queue); every pkt's in_port is set */
void vs_process_burst(struct vs_worker *w, struct vs_port *port, uint16_t queue, struct vs_pkt **pkts, uint16_t n);
void vs_process_inject(struct vs_worker *w, struct vs_pkt *pkt);
void vs_tx_flush_all(struct vs_worker *w);

/* capture.c, trace.c: the worker's side */
void vs_capture_rx(struct vs_worker *w, struct vs_capture *cap, struct vs_pkt **pkts, uint16_t n);
uint16_t vs_capture_tx_copy(struct vs_worker *w, struct vs_capture *cap, struct vs_pkt **pkts, uint16_t n);
void vs_capture_tx_commit(struct vs_worker *w, struct vs_capture *cap, uint16_t copied, uint16_t sent);
struct vs_trace_rec *vs_trace_begin(struct vs_worker *w, uint16_t queue, struct vs_pkt *p);
void vs_trace_commit(struct vs_worker *w);
void vs_trace_step(struct vs_trace_rec *tr, uint16_t kind, uint16_t a, uint32_t b, uint32_t c, uint16_t d,
                   const uint8_t *mac);

/* drivers */
int vs_port_register(struct vs_dp *dp, struct vs_port *port);
struct vs_port *vs_port_for_reattach(struct vs_dp *dp, int port_id, vs_burst_fn rx, const char *kind,
                                     const char *ifname);

#endif
