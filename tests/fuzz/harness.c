/* harness.c — a representative vswitch topology built through the C API,
 * fed one frame at a time, with every frame's fate checked.
 *
 * Why these pieces:
 *  - Null ports never receive, so frames are handed to vs_process_burst
 *    directly, as a driver's rx burst would; their tx is wrapped so the
 *    harness sees what leaves (capture_tx) before the null port frees it.
 *  - The pool's alloc/free are wrapped at link time (-Wl,--wrap): free
 *    buffers are poisoned for ASan, and a double free or a foreign pointer
 *    aborts.  The pool is our own allocator, so ASan cannot see this alone.
 *    A fed frame's buffer is poisoned around the frame too (fence_frame),
 *    so reading past the end of a short frame is caught.
 *  - State that outlives a frame (learned MACs, policer buckets) is reset at
 *    the start of every input, so a finding replays from its input alone.
 *  - A small stand-in control plane answers punts with injected frames,
 *    both modes, so vs_inject and vs_offline_run run on fuzzed content.
 *  - Inputs of odd length go through the traced copy of the path (a trace
 *    of one packet armed before the frame), so both copies are fuzzed; the
 *    trace must name every drop counted, a tx for a forward, a punt for a
 *    punt.  Every port is captured (into /dev/null): each frame fed and
 *    each one a port took shows up once, and the copies read only the frame.
 *
 * Egress gap: the core counts "forwarded"/"flooded" before the egress
 * checks in output_l2 (pipeline.c), whose drops (mtu_exceeded,
 * interface_down) then land on the same ingress port, so one frame gets
 * two fates.  The default topology keeps every L2 egress at least as large
 * as its ingress and no egress down, and the stand-in control plane routes
 * at most FZ_ROUTE_QUOTE bytes (vs_process_inject has no MTU check), so the
 * strict check holds; fz_setup(1)
 * (FZ_EGRESS_GAP=1) adds a smaller-MTU bridge member (trunk.10), a down
 * bridge member (lan2) and a route out of a down port, and the check
 * reports the gap.
 */
#include <sanitizer/asan_interface.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "vs.h"
#include "harness.h"

/* ---- sizes and clock --------------------------------------------------------- */
#define FZ_POOL_BUFFERS 1280           /* the punt ring (1024) fills, floods still find copies */
#define FZ_MAX_ADJ 32
#define FZ_TBL8_GROUPS 16
#define FZ_MTU 1500
#define FZ_SMALL_MTU 576               /* the interface where frag-needed / mtu_exceeded happen */
#define FZ_GAP_MTU 1000                /* egress gap: a bridge member smaller than its peers */
#define FZ_FRAME_NS 1000000ull         /* pcap clock step per fed frame: 1 ms */
#define FZ_INPUT_NS 10000000000ull     /* per input: 10 s */
#define FZ_CLOCK_START_NS 1000000000000ull /* 1000 s: past every aging time, so no check depends on
                                              how many inputs ran before */
#define FZ_REPEATS 3
#define FZ_MAX_ANSWERS 16              /* injected answers per input: a re-routed packet may punt again */
#define FZ_ROUTE_QUOTE 576             /* SPEC: ICMP errors quote what fits in 576 bytes */
#define FZ_DUMMY_REASON 0xff           /* punt-ring stuffing, not a real punt */
#define FZ_PUNT_BATCH 64
#define FZ_CAPTURE_MAX 512             /* tx frames remembered per step (floods of a few members) */
#define FZ_CAPTURE_BYTES 64
#define FZ_ALL_PORTS 0xffffffffu
#define FZ_CAPTURE_FILE "/dev/null"   /* the capture rings are what is checked, not the file */
#define FZ_PUSH_ROOM 8                 /* headroom left open before a fed frame: one VLAN tag, in
                                          ASan's 8-byte granules */

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* ---- the topology, as tables ------------------------------------------------- */

/* Logical interfaces by role; ports first, their ids equal their port ids. */
enum {
    IF_TRUNK, IF_LAN1, IF_LAN2, IF_WAN, IF_SMALL, IF_DOWN, IF_SOLO, IF_EDGE,
    IF_V10, IF_V20, IF_V30, IF_V40, IF_BR0, IF_BR1, IF_BR2, IF_N
};
_Static_assert(IF_EDGE + 1 == FZ_N_PORTS, "port roles come first");
_Static_assert(FZ_N_PORTS == FZ_PORT_MASK + 1, "every value of the port bits names a port");

static const char *const port_names[FZ_N_PORTS] = {"trunk", "lan1", "lan2", "wan", "small", "down", "solo", "edge"};

static const uint8_t MAC_WAN[6] = {0x02, 0, 0, 0, 0x01, 0x01};
static const uint8_t MAC_SMALL[6] = {0x02, 0, 0, 0, 0x02, 0x01};
static const uint8_t MAC_DOWN[6] = {0x02, 0, 0, 0, 0x03, 0x01};
static const uint8_t MAC_V20[6] = {0x02, 0, 0, 0, 0x14, 0x01};
static const uint8_t MAC_BR0[6] = {0x02, 0, 0, 0, 0x0a, 0x01};
static const uint8_t MAC_GW[6] = {0x02, 0, 0, 0, 0, 0xfe};     /* 192.0.2.254 on wan */
static const uint8_t MAC_H7[6] = {0x02, 0, 0, 0, 0, 0x07};     /* 198.51.100.7 on small */
static const uint8_t MAC_H20[6] = {0x02, 0, 0, 0, 0x14, 0x09}; /* 10.0.20.64/26 gateway on trunk.20 */
static const uint8_t MAC_B1[6] = {0x02, 0, 0, 0, 0, 0xb1};     /* learned on lan1 (br0) */
static const uint8_t MAC_B2[6] = {0x02, 0, 0, 0, 0, 0xb2};     /* learned on trunk.10 (br0) */
static const uint8_t MAC_AA[6] = {0x02, 0, 0, 0, 0, 0xaa};     /* static on lan2 (br0) */
static const uint8_t MAC_EE[6] = {0x02, 0, 0, 0, 0, 0xee};     /* never learned: routed into br0, flooded */
static const uint8_t MAC_CC[6] = {0x02, 0, 0, 0, 0, 0xcc};     /* static on solo (br1) */
static const uint8_t MAC_D1[6] = {0x02, 0, 0, 0, 0, 0xd1};     /* learned on edge (br2) */

struct routed_def { int role; const uint8_t *mac; };
static const struct routed_def routed[] = {
    {IF_WAN, MAC_WAN}, {IF_SMALL, MAC_SMALL}, {IF_DOWN, MAC_DOWN}, {IF_V20, MAC_V20}, {IF_BR0, MAC_BR0},
};

struct vlan_def { int role; int port; uint16_t vid; };
static const struct vlan_def vlans[] = {
    {IF_V10, IF_TRUNK, 10}, {IF_V20, IF_TRUNK, 20}, {IF_V30, IF_TRUNK, 30}, {IF_V40, IF_TRUNK, 40},
};

struct bridge_def { int role; uint64_t aging_ns; uint32_t mac_limit; int members[3]; };
static const struct bridge_def bridges[] = {
    {IF_BR0, 300000000000ull, 64, {IF_LAN1, IF_LAN2, IF_V10}},
    {IF_BR1, 0, 16, {IF_SOLO, -1, -1}},          /* one member: floods have nowhere to go */
    {IF_BR2, 2000000ull, 1, {IF_EDGE, IF_V40, -1}}, /* full at one MAC; ages within a repeat */
};

struct mac_def { int bridge_role; const uint8_t *mac; int member_role; };
static const struct mac_def static_macs[] = {{IF_BR0, MAC_AA, IF_LAN2}, {IF_BR1, MAC_CC, IF_SOLO}};

/* Learned afresh at every input, from a frame each sends (port, tag). */
struct seed_def { int port; uint16_t vid; const uint8_t *mac; };
static const struct seed_def seeds[] = {
    {FZ_PORT_LAN1, 0, MAC_B1}, {FZ_PORT_TRUNK, 10, MAC_B2}, {FZ_PORT_EDGE, 0, MAC_D1},
};
static const uint8_t MAC_SEED_DST[6] = {0x02, 0, 0, 0, 0x99, 0xfe};  /* nobody: the seed frame floods */
#define FZ_SEED_ETHERTYPE 0x88b5                                      /* IEEE local experimental */
#define FZ_SEED_LEN 60

enum {
    ADJ_LOCAL = 1, ADJ_BCAST, ADJ_BLACKHOLE, ADJ_GLEAN_WAN, ADJ_GLEAN_SMALL, ADJ_GLEAN_BR0, ADJ_GLEAN_V20,
    ADJ_GW_WAN, ADJ_INCOMPLETE_SMALL, ADJ_H7, ADJ_BR0_KNOWN, ADJ_BR0_UNKNOWN, ADJ_BR0_STATIC, ADJ_H20,
    ADJ_UNSET, /* routed to, never set: type NONE */
    ADJ_DOWN,  /* egress gap only */
};
_Static_assert(ADJ_DOWN < FZ_MAX_ADJ, "adjacency ids fit");

struct adj_def { uint32_t id; int type; int role; uint32_t nh_ip; const uint8_t *dmac; };
static const struct adj_def adjs[] = {
    {ADJ_LOCAL, VS_ADJ_LOCAL, -1, 0, NULL},
    {ADJ_BCAST, VS_ADJ_BROADCAST, -1, 0, NULL},
    {ADJ_BLACKHOLE, VS_ADJ_BLACKHOLE, -1, 0, NULL},
    {ADJ_GLEAN_WAN, VS_ADJ_GLEAN, IF_WAN, 0, NULL},
    {ADJ_GLEAN_SMALL, VS_ADJ_GLEAN, IF_SMALL, 0, NULL},
    {ADJ_GLEAN_BR0, VS_ADJ_GLEAN, IF_BR0, 0, NULL},
    {ADJ_GLEAN_V20, VS_ADJ_GLEAN, IF_V20, 0, NULL},
    {ADJ_GW_WAN, VS_ADJ_FORWARD, IF_WAN, IP4(192, 0, 2, 254), MAC_GW},
    {ADJ_INCOMPLETE_SMALL, VS_ADJ_INCOMPLETE, IF_SMALL, IP4(198, 51, 100, 9), NULL},
    {ADJ_H7, VS_ADJ_FORWARD, IF_SMALL, IP4(198, 51, 100, 7), MAC_H7},
    {ADJ_BR0_KNOWN, VS_ADJ_FORWARD, IF_BR0, IP4(10, 0, 10, 9), MAC_B1},
    {ADJ_BR0_UNKNOWN, VS_ADJ_FORWARD, IF_BR0, IP4(10, 0, 10, 10), MAC_EE},
    {ADJ_BR0_STATIC, VS_ADJ_FORWARD, IF_BR0, IP4(10, 0, 10, 170), MAC_AA},
    {ADJ_H20, VS_ADJ_FORWARD, IF_V20, IP4(10, 0, 20, 9), MAC_H20},
};

struct route_def { uint32_t prefix; int len; uint32_t adj; };
static const struct route_def fib_routes[] = {
    {0, 0, ADJ_GW_WAN},
    {IP4(192, 0, 2, 0), 24, ADJ_GLEAN_WAN},
    {IP4(192, 0, 2, 1), 32, ADJ_LOCAL},
    {IP4(192, 0, 2, 255), 32, ADJ_BCAST},
    {IP4(192, 0, 2, 254), 32, ADJ_GW_WAN},
    {IP4(198, 51, 100, 0), 24, ADJ_GLEAN_SMALL},
    {IP4(198, 51, 100, 1), 32, ADJ_LOCAL},
    {IP4(198, 51, 100, 255), 32, ADJ_BCAST},
    {IP4(198, 51, 100, 7), 32, ADJ_H7},
    {IP4(198, 51, 100, 128), 25, ADJ_INCOMPLETE_SMALL},
    {IP4(203, 0, 113, 0), 24, ADJ_INCOMPLETE_SMALL},
    {IP4(10, 0, 10, 0), 24, ADJ_GLEAN_BR0},
    {IP4(10, 0, 10, 1), 32, ADJ_LOCAL},
    {IP4(10, 0, 10, 255), 32, ADJ_BCAST},
    {IP4(10, 0, 10, 9), 32, ADJ_BR0_KNOWN},
    {IP4(10, 0, 10, 10), 32, ADJ_BR0_UNKNOWN},
    {IP4(10, 0, 10, 170), 32, ADJ_BR0_STATIC},
    {IP4(10, 0, 20, 0), 24, ADJ_GLEAN_V20},
    {IP4(10, 0, 20, 1), 32, ADJ_LOCAL},
    {IP4(10, 0, 20, 255), 32, ADJ_BCAST},
    {IP4(10, 0, 20, 64), 26, ADJ_H20},
    {IP4(198, 18, 0, 0), 15, ADJ_BR0_KNOWN},
    {IP4(100, 64, 0, 0), 10, ADJ_BLACKHOLE},
    {IP4(172, 16, 0, 0), 12, ADJ_UNSET},
};

/* Small buckets so FZ_REPEATS frames can exhaust them; rate 0 = unpoliced. */
struct policer_def { int reason; uint32_t rate, burst; };
static const struct policer_def policers[] = {
    {VS_PUNT_ARP, 100, 2}, {VS_PUNT_LOCAL, 100, 2}, {VS_PUNT_TTL, 1, 1},
    {VS_PUNT_NO_ROUTE, 100, 2}, {VS_PUNT_FRAG_NEEDED, 0, 0}, {VS_PUNT_ARP_PENDING, 100, 2},
};

/* ---- harness state ----------------------------------------------------------- */

struct captured { uint16_t port, len; uint8_t head[FZ_CAPTURE_BYTES]; };

struct snap { struct vs_port_stats slot[FZ_N_PORTS + 1]; };  /* last: frames we made (VS_NO_PORT) */

static struct {
    struct vs_dp *dp;
    int iface[IF_N];
    int egress_gap;
    uint64_t now;
    uint8_t live[FZ_POOL_BUFFERS];        /* by buffer number: 1 while allocated */
    uint32_t n_live;
    struct vs_pkt *held[FZ_POOL_BUFFERS];
    uint32_t n_held;
    vs_burst_fn null_tx[FZ_N_PORTS];
    struct captured cap[FZ_CAPTURE_MAX];
    uint32_t n_cap;
    int answers;
    struct snap before, after;            /* static: too big for a fuzzer's stack frame */
    bool seeds_checked;                   /* seed frames never change: check them once */
    bool tx_full;                         /* pressure: every tx queue refuses */
    int port;                             /* where the input's frame arrives */
    const char *label;
    const uint8_t *input;
    size_t input_len;
    struct fz_totals totals;
    struct vs_trace_rec trace;
    uint64_t captured;                    /* frames the captures have written so far */
} fz;

/* ---- findings ---------------------------------------------------------------- */

static void dump_input(void) {
    fprintf(stderr, "  input %s: %zu bytes:", fz.label ? fz.label : "(fuzzer)", fz.input_len);
    for (size_t i = 0; i < fz.input_len && i < 96; i++) fprintf(stderr, "%s%02x", i % 16 ? " " : "\n    ", fz.input[i]);
    fprintf(stderr, "%s\n", fz.input_len > 96 ? " ..." : "");
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FINDING: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    dump_input();
    fflush(stderr);
    abort();
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* ---- pool wrappers (linked with -Wl,--wrap=vs_pool_alloc,--wrap=vs_pool_free) -- */

struct vs_pkt *__real_vs_pool_alloc(struct vs_pool *pool);
void __real_vs_pool_free(struct vs_pool *pool, struct vs_pkt *pkt);

static uint8_t *buf_data(struct vs_pkt *p) { return (uint8_t *)p + VS_PKT_META_SIZE; }

/* The buffer's number, or abort if the pointer is not a buffer of this pool. */
static uint32_t buf_index(struct vs_pool *pool, struct vs_pkt *p) {
    uintptr_t off = (uintptr_t)p - (uintptr_t)pool->mem;
    if ((uintptr_t)p < (uintptr_t)pool->mem || off % VS_PKT_BUF_SIZE || off / VS_PKT_BUF_SIZE >= pool->n ||
        off / VS_PKT_BUF_SIZE >= FZ_POOL_BUFFERS)
        fail("pool: %p is not a packet buffer", (void *)p);
    return (uint32_t)(off / VS_PKT_BUF_SIZE);
}

struct vs_pkt *__wrap_vs_pool_alloc(struct vs_pool *pool) {
    struct vs_pkt *p = __real_vs_pool_alloc(pool);
    if (p && fz.dp && pool == &fz.dp->pool) {
        uint32_t i = buf_index(pool, p);
        if (fz.live[i]) fail("pool: buffer %u handed out twice (freed twice earlier?)", i);
        fz.live[i] = 1;
        fz.n_live++;
        ASAN_UNPOISON_MEMORY_REGION(buf_data(p), VS_PKT_ROOM);
    }
    return p;
}

void __wrap_vs_pool_free(struct vs_pool *pool, struct vs_pkt *pkt) {
    if (fz.dp && pool == &fz.dp->pool) {
        uint32_t i = buf_index(pool, pkt);
        if (!fz.live[i]) fail("pool: buffer %u freed twice", i);
        fz.live[i] = 0;
        fz.n_live--;
        ASAN_POISON_MEMORY_REGION(buf_data(pkt), VS_PKT_ROOM);  /* any later touch of its frame is a finding */
    }
    __real_vs_pool_free(pool, pkt);
}

/* Poison a fed frame's buffer around the frame, as if it were exactly the
 * frame's size: a read past the end of a short frame is a finding even
 * though the 2 KiB buffer goes on.  Room for one pushed tag stays open. */
static void fence_frame(struct vs_pkt *p) {
    uint8_t *room = buf_data(p), *start = vs_pkt_bytes(p), *end = start + p->len;
    ASAN_POISON_MEMORY_REGION(room, (size_t)(start - FZ_PUSH_ROOM - room));
    ASAN_POISON_MEMORY_REGION(end, (size_t)((uint8_t *)p + VS_PKT_BUF_SIZE - end));
}

static void poison_free_buffers(void) {
    struct vs_pool *pool = &fz.dp->pool;
    for (uint32_t i = 0; i < pool->top; i++) ASAN_POISON_MEMORY_REGION(buf_data(pool->stack[i]), VS_PKT_ROOM);
}

/* ---- what leaves: null ports' tx, seen first --------------------------------- */

static uint16_t capture_tx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n) {
    for (uint16_t i = 0; i < n; i++) {
        struct vs_pkt *p = pkts[i];
        /* an IP MTU, a tag and the Ethernet header; no frame may be longer */
        unsigned max = VS_ETH_HLEN + 4u + fz.dp->ifaces[port->id].mtu;
        if (p->len < VS_ETH_HLEN || p->len > max)
            fail("port %s sent a %u-byte frame (limit %u)", port->name, p->len, max);
        if (fz.n_cap < FZ_CAPTURE_MAX) {
            struct captured *c = &fz.cap[fz.n_cap++];
            c->port = port->id;
            c->len = p->len;
            memcpy(c->head, vs_pkt_bytes(p), p->len < FZ_CAPTURE_BYTES ? p->len : FZ_CAPTURE_BYTES);
        }
    }
    if (fz.tx_full) return 0;  /* the core frees what a queue does not take */
    return fz.null_tx[port->id](port, q, pkts, n);
}

/* ---- counters ---------------------------------------------------------------- */

static void take_snap(struct snap *s) {
    for (int i = 0; i < FZ_N_PORTS; i++) vs_port_stats_get(fz.dp, i, &s->slot[i]);
    vs_port_stats_get(fz.dp, -1, &s->slot[FZ_N_PORTS]);
}

/* Counters that name what became of a frame: exactly one moves per frame. */
static bool is_fate_drop(int reason) { return reason != VS_DROP_NO_BUFFER && reason != VS_DROP_TX_QUEUE_FULL; }

static uint64_t fates(const struct vs_port_stats *s) {
    uint64_t n = s->forwarded + s->flooded + s->punted;
    for (int r = 0; r < VS_DROP_MAX; r++)
        if (is_fate_drop(r)) n += s->drops[r];
    return n;
}

static const char *slot_name(int slot) { return slot < FZ_N_PORTS ? port_names[slot] : "(ours)"; }

static int slot_of(uint16_t in_port) { return in_port < FZ_N_PORTS ? in_port : FZ_N_PORTS; }

static void describe_deltas(void) {
    for (int s = 0; s <= FZ_N_PORTS; s++) {
        const struct vs_port_stats *a = &fz.before.slot[s], *b = &fz.after.slot[s];
        if (!memcmp(a, b, sizeof(*a))) continue;
        fprintf(stderr, "  %s: rx %+lld forwarded %+lld flooded %+lld punted %+lld", slot_name(s),
                (long long)(b->rx_packets - a->rx_packets), (long long)(b->forwarded - a->forwarded),
                (long long)(b->flooded - a->flooded), (long long)(b->punted - a->punted));
        for (int r = 0; r < VS_DROP_MAX; r++)
            if (b->drops[r] != a->drops[r])
                fprintf(stderr, " %s %+lld", vs_drop_reason_name(r), (long long)(b->drops[r] - a->drops[r]));
        fprintf(stderr, " tx %+lld\n", (long long)(b->tx_packets - a->tx_packets));
    }
}

/* One frame (`what`) was handled for `slot`: it, and only it, has one fate. */
static void check_accounting(int slot, uint64_t rx_expected, uint64_t fates_expected, const char *what) {
    for (int s = 0; s <= FZ_N_PORTS; s++) {
        const struct vs_port_stats *a = &fz.before.slot[s], *b = &fz.after.slot[s];
        uint64_t rx = b->rx_packets - a->rx_packets, n = fates(b) - fates(a);
        uint64_t want_rx = s == slot ? rx_expected : 0, want_n = s == slot ? fates_expected : 0;
        if (rx != want_rx || n != want_n) {
            describe_deltas();
            fail("%s on %s: port %s counted rx %llu (want %llu) and %llu fates (want %llu)", what,
                 slot_name(slot), slot_name(s), (unsigned long long)rx, (unsigned long long)want_rx,
                 (unsigned long long)n, (unsigned long long)want_n);
        }
    }
}

static void tally_fates(int slot) {
    const struct vs_port_stats *a = &fz.before.slot[slot], *b = &fz.after.slot[slot];
    fz.totals.fates[0] += b->forwarded - a->forwarded;
    fz.totals.fates[1] += b->flooded - a->flooded;
    fz.totals.fates[2] += b->punted - a->punted;
    for (int r = 0; r < VS_DROP_MAX; r++) fz.totals.fates[3 + r] += b->drops[r] - a->drops[r];
}

const char *fz_fate_name(int i) {
    static const char *const first[3] = {"forwarded", "flooded", "punted"};
    return i < 3 ? first[i] : vs_drop_reason_name(i - 3);
}

/* ---- trace and capture -------------------------------------------------------- */

static bool trace_has(const struct vs_trace_rec *tr, uint16_t kind, int a, bool whole_packet) {
    for (int i = 0; i < tr->n_steps; i++) {
        const struct vs_trace_step *st = &tr->steps[i];
        if (st->kind == kind && (a < 0 || st->a == a) && (!whole_packet || st->b == VS_TR_NONE)) return true;
    }
    return false;
}

/* The traced frame's record against its counters (before/after snaps). */
static void check_trace(int port, size_t len) {
    if (vs_trace_poll(fz.dp, &fz.trace, 1) != 1 || vs_trace_pending(fz.dp) != 0)
        fail("trace: the traced frame left no record");
    const struct vs_trace_rec *tr = &fz.trace;
    if (tr->n_steps < 1 || tr->steps[0].kind != VS_TR_RX || tr->steps[0].a != port || tr->steps[0].c != len)
        fail("trace: the record does not start with the frame's rx");
    if (tr->lost_steps) return;  /* cut short: what is missing cannot be checked */
    const struct vs_port_stats *a = &fz.before.slot[port], *b = &fz.after.slot[port];
    for (int r = 0; r < VS_DROP_MAX; r++)
        if (b->drops[r] != a->drops[r] && !trace_has(tr, VS_TR_DROP, r, false)) {
            describe_deltas();
            fail("trace: drop %s counted but not traced", vs_drop_reason_name(r));
        }
    for (int i = 0; i < tr->n_steps; i++) {
        const struct vs_trace_step *st = &tr->steps[i];
        if (st->kind == VS_TR_DROP && st->b == VS_TR_NONE && b->drops[st->a] == a->drops[st->a])
            fail("trace: drop %s traced but not counted", vs_drop_reason_name(st->a));
    }
    if (b->forwarded != a->forwarded && !trace_has(tr, VS_TR_TX, -1, false)) fail("trace: forwarded without a tx");
    if (b->punted != a->punted && !trace_has(tr, VS_TR_PUNT, -1, false)) fail("trace: punted without a punt step");
}

static uint64_t captured_total(void) {
    uint64_t n = 0;
    struct vs_capture_stats st;
    for (int i = 0; i < FZ_N_PORTS; i++) {
        if (vs_capture_drain(fz.dp, i)) fail("capture: drain failed: %s", vs_last_error());
        vs_capture_stats_get(fz.dp, i, &st);
        if (st.dropped) fail("capture: %llu frames dropped with the rings drained every frame",
                             (unsigned long long)st.dropped);
        n += st.written;
    }
    return n;
}

/* The frame fed, as received, and every frame a port took since the last check. */
static void check_capture(void) {
    uint64_t now = captured_total(), sent = fz.tx_full ? 0 : fz.n_cap;
    if (now - fz.captured != 1 + sent)
        fail("capture: %llu frames captured, want the frame and the %llu sent",
             (unsigned long long)(now - fz.captured), (unsigned long long)sent);
    fz.captured = now;
}

/* ---- a model of classify, for the checks ------------------------------------- */

static bool is_router_mac(const uint8_t *mac) {
    for (size_t i = 0; i < sizeof(routed) / sizeof(routed[0]); i++)
        if (!memcmp(mac, routed[i].mac, 6)) return true;
    return false;
}

/* The logical interface a frame belongs to, -1 if it has none. */
static int ingress_iface(int port, const uint8_t *f, size_t len) {
    if (len < VS_ETH_HLEN) return -1;
    if (rd16(f + 12) != VS_ETHERTYPE_VLAN) return port;
    if (len < VS_ETH_HLEN + 4) return -1;
    uint16_t vid = rd16(f + 14) & 0xfff;
    return vid ? fz.dp->ports[port]->vlan_iface[vid] : port;
}

/* Ports a fed frame may leave by.  L2: the other members of its bridge
 * (never back out of the receiving member).  Addressed to a router MAC:
 * anywhere (routing).  Anything else: nowhere. */
static uint32_t allowed_tx(int port, const uint8_t *f, size_t len) {
    int iface = ingress_iface(port, f, len);
    if (iface < 0) return 0;
    if (is_router_mac(f)) return FZ_ALL_PORTS;
    int b = fz.dp->ifaces[iface].bridge;
    if (b < 0) return 0;
    uint32_t mask = 0;
    const struct vs_bridge *br = &fz.dp->bridges[b];
    for (int m = 0; m < br->n_members; m++)
        if (br->members[m] != iface) mask |= 1u << fz.dp->ifaces[br->members[m]].port;
    return mask;
}

/* The router MAC that routes frames arriving on iface, or NULL. */
static const uint8_t *l3_mac_of(int iface) {
    const struct vs_iface *ifc = &fz.dp->ifaces[iface];
    if (ifc->bridge >= 0) ifc = &fz.dp->ifaces[fz.dp->bridges[ifc->bridge].iface];
    return ifc->routed ? ifc->mac : NULL;
}

static uint16_t ip_sum(const uint8_t *h, unsigned len) {
    uint32_t sum = 0;
    for (unsigned i = 0; i + 1 < len; i += 2) sum += rd16(h + i);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* A routed frame leaves with our MAC as source, TTL one less, a checksum that verifies. */
static void check_routed_copy(const struct captured *c, uint8_t ttl_in) {
    unsigned ip = rd16(c->head + 12) == VS_ETHERTYPE_VLAN ? VS_ETH_HLEN + 4 : VS_ETH_HLEN;
    if (c->len < ip + 20 || rd16(c->head + ip - 2) != VS_ETHERTYPE_IPV4)
        fail("routed frame left %s as a %u-byte non-IPv4 frame", port_names[c->port], c->len);
    const uint8_t *h = c->head + ip;
    unsigned hlen = (h[0] & 0xf) * 4u;
    if (!is_router_mac(c->head + 6)) fail("routed frame left %s without a router source MAC", port_names[c->port]);
    if (h[8] != ttl_in - 1) fail("routed frame left %s with TTL %u, arrived with %u", port_names[c->port], h[8], ttl_in);
    if (c->len != ip + rd16(h + 2))  /* Ethernet padding is not part of the packet */
        fail("routed frame left %s as %u bytes for an IPv4 total length of %u", port_names[c->port], c->len, rd16(h + 2));
    if (ip + hlen <= FZ_CAPTURE_BYTES && ip_sum(h, hlen))
        fail("routed frame left %s with a bad header checksum", port_names[c->port]);
}

/* What left while one fed frame was handled is where it may go, and rewritten right. */
static void check_tx(int port, const uint8_t *f, size_t len) {
    uint32_t allowed = allowed_tx(port, f, len);
    for (uint32_t i = 0; i < fz.n_cap; i++)
        if (!(allowed >> fz.cap[i].port & 1))
            fail("frame from %s left by %s: not a member of its bridge, not routed", port_names[port],
                 port_names[fz.cap[i].port]);
    int iface = ingress_iface(port, f, len);
    if (iface < 0 || !fz.n_cap) return;
    const uint8_t *mac = l3_mac_of(iface);
    unsigned ip = rd16(f + 12) == VS_ETHERTYPE_VLAN ? VS_ETH_HLEN + 4 : VS_ETH_HLEN;
    if (mac && !memcmp(f, mac, 6) && len >= ip + 20 && rd16(f + ip - 2) == VS_ETHERTYPE_IPV4)
        for (uint32_t i = 0; i < fz.n_cap; i++) check_routed_copy(&fz.cap[i], f[ip + 8]);
}

/* ---- punts: promises kept, and the stand-in control plane --------------------- */

/* What the slow path relies on (vswitch/slowpath.py parses frame[14:]). */
static void check_punt(const struct vs_pkt *p) {
    if (p->punt_reason >= VS_PUNT_MAX) fail("punt reason %u", p->punt_reason);
    if (p->len < VS_ETH_HLEN || p->len > VS_PKT_MAX_FRAME) fail("punted a %u-byte frame", p->len);
    if (p->in_iface >= fz.dp->n_ifaces) fail("punt from iface %u of %u", p->in_iface, fz.dp->n_ifaces);
    if (p->in_port != VS_NO_PORT && p->in_port != fz.port)  /* only re-routed packets are ours */
        fail("punt says port %u, the frame came in on %s", p->in_port, port_names[fz.port]);
    const uint8_t *f = vs_pkt_data((struct vs_pkt *)p);
    if (p->punt_reason == VS_PUNT_ARP) {
        if (rd16(f + 12) != VS_ETHERTYPE_ARP) fail("ARP punt with ethertype 0x%04x", rd16(f + 12));
        return;
    }
    if (p->punt_reason == VS_PUNT_ARP_PENDING && p->out_iface >= fz.dp->n_ifaces)
        fail("ARP-pending punt towards iface %u", p->out_iface);
    if (p->in_port == VS_NO_PORT) return;  /* re-routed by the control plane: its content, unchecked */
    const uint8_t *h = f + VS_ETH_HLEN;
    if (p->len < VS_ETH_HLEN + 20 || h[0] >> 4 != 4 || (h[0] & 0xf) < 5 ||
        VS_ETH_HLEN + (h[0] & 0xf) * 4u > p->len || VS_ETH_HLEN + rd16(h + 2) != p->len)
        fail("punt %u: IPv4 header not checked or frame not trimmed to its total length", p->punt_reason);
    if (ip_sum(h, (h[0] & 0xf) * 4u)) fail("punt %u: header checksum does not verify", p->punt_reason);
    if (p->punt_reason == VS_PUNT_FRAG_NEEDED && (rd16(h + 2) <= p->mtu || !(h[6] & 0x40)))
        fail("frag-needed punt for %u bytes, MTU %u, flags 0x%02x", rd16(h + 2), p->mtu, h[6]);
}

/* Inject one frame, run it through, check it had one fate on in_port's slot. */
static void inject_checked(int mode, int iface, uint16_t in_port, const uint8_t *frame, uint16_t len, int pcp) {
    int slot = slot_of(in_port);
    take_snap(&fz.before);
    fz.n_cap = 0;
    if (vs_inject(fz.dp, mode, iface, in_port, frame, len, fz.now, pcp)) {
        take_snap(&fz.after);
        check_accounting(slot, 0, 0, "refused inject");  /* no_buffer only, or bad arguments */
        return;
    }
    uint64_t next;
    int rc = vs_offline_run(fz.dp, UINT64_MAX, &next);
    if (rc != VS_OFFLINE_DONE && rc != VS_OFFLINE_PUNT) fail("vs_offline_run returned %d with no pcap ports", rc);
    take_snap(&fz.after);
    check_accounting(slot, 0, 1, mode == VS_INJECT_IFACE ? "injected frame" : "injected packet");
    fz.totals.injected++;
}

/* Like the slow path: a frame back out of an interface (ARP and echo
 * replies, frames released by ARP), and a packet routed back to the sender
 * (ICMP errors, echo replies), both made from the punted bytes. */
static void answer(const struct vs_pkt *p, uint8_t flags) {
    const uint8_t *f = vs_pkt_data((struct vs_pkt *)p);
    static uint8_t out[VS_PKT_MAX_FRAME];
    if ((flags & FZ_FLAG_ANSWER_IFACE) && fz.answers < FZ_MAX_ANSWERS) {
        fz.answers++;
        memcpy(out, f + 6, 6);
        memcpy(out + 6, f, 6);
        memcpy(out + 12, f + 12, p->len - 12u);
        int iface = p->punt_reason == VS_PUNT_ARP_PENDING ? p->out_iface : p->in_iface;
        inject_checked(VS_INJECT_IFACE, iface, p->in_port, out, p->len, p->arrived_tagged ? p->vlan_pcp : -1);
    }
    if ((flags & FZ_FLAG_ANSWER_ROUTE) && fz.answers < FZ_MAX_ANSWERS) {
        fz.answers++;
        uint16_t len = p->len > VS_ETH_HLEN + FZ_ROUTE_QUOTE ? VS_ETH_HLEN + FZ_ROUTE_QUOTE : p->len;
        memset(out, 0, VS_ETH_HLEN);
        memcpy(out + VS_ETH_HLEN, f + VS_ETH_HLEN, len - VS_ETH_HLEN);
        /* back to the sender: IPv4 source, or an ARP sender's address */
        unsigned from = p->punt_reason == VS_PUNT_ARP ? VS_ETH_HLEN + 14 : VS_ETH_HLEN + 12;
        if (len >= VS_ETH_HLEN + 20 && p->len >= from + 4) memcpy(out + VS_ETH_HLEN + 16, f + from, 4);
        inject_checked(VS_INJECT_ROUTE, -1, VS_NO_PORT, out, len, -1);
    }
}

static void serve_punts(uint8_t flags) {
    struct vs_pkt *batch[FZ_PUNT_BATCH];
    int n;
    while ((n = vs_punt_poll(fz.dp, batch, FZ_PUNT_BATCH)) > 0) {
        for (int i = 0; i < n; i++) {
            if (batch[i]->punt_reason != FZ_DUMMY_REASON) {
                check_punt(batch[i]);
                fz.totals.punts++;
                answer(batch[i], flags);
            }
            vs_pkt_free(fz.dp, batch[i]);
        }
    }
}

/* ---- pressure: a full punt ring, an empty pool ------------------------------- */

/* The control plane has fallen behind: every punt of the next frame finds the ring full. */
static void stuff_punt_ring(void) {
    struct vs_ring *r = &fz.dp->workers[0].punt;
    struct vs_pkt *p;
    while ((p = vs_pool_alloc(&fz.dp->pool))) {
        p->punt_reason = FZ_DUMMY_REASON;
        if (!vs_ring_put(r, p)) {
            vs_pkt_free(fz.dp, p);
            return;
        }
    }
}

/* Every buffer the frame does not already have: copies and injects find none. */
static void hold_pool(void) {
    struct vs_pkt *p;
    while (fz.n_held < FZ_POOL_BUFFERS && (p = vs_pool_alloc(&fz.dp->pool))) fz.held[fz.n_held++] = p;
}

static void release_pool(void) {
    while (fz.n_held) vs_pkt_free(fz.dp, fz.held[--fz.n_held]);
}

/* ---- one input ---------------------------------------------------------------- */

/* Nothing may still hold a buffer once a frame and its punts are done. */
static void check_no_leak(const char *after) {
    if (fz.n_live) fail("pool: %u buffers still allocated after %s (leak)", fz.n_live, after);
}

/* One frame through vs_process_burst, as a driver's rx burst would hand it
 * over, then (if check) the accounting and tx checks. */
static void process(int port, const uint8_t *frame, size_t len, uint8_t flags, bool check) {
    struct vs_pkt *p = vs_pool_alloc(&fz.dp->pool);
    if (!p) fail("pool empty before a frame with nothing in flight");
    memcpy(vs_pkt_bytes(p), frame, len);
    p->len = (uint16_t)len;
    p->in_port = (uint16_t)port;
    p->ts_ns = fz.now;
    fence_frame(p);
    if (flags & FZ_FLAG_PRESSURE) hold_pool();
    fz.tx_full = flags & FZ_FLAG_PRESSURE;
    struct vs_port *in = fz.dp->ports[port];
    if (!check) {
        vs_process_burst(&fz.dp->workers[0], in, 0, &p, 1);
        fz.captured = captured_total();
        return;
    }
    bool traced = fz.input_len & 1;
    if (traced) vs_trace_arm(fz.dp, 1);
    take_snap(&fz.before);
    fz.n_cap = 0;
    vs_process_burst(&fz.dp->workers[0], in, 0, &p, 1);
    take_snap(&fz.after);
    check_accounting(port, 1, 1, "frame");
    check_tx(port, frame, len);
    if (traced) check_trace(port, len);
    check_capture();
}

static void seed_macs(void) {
    uint8_t f[FZ_SEED_LEN] = {0};
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        unsigned off = seeds[i].vid ? 4 : 0;
        memcpy(f, MAC_SEED_DST, 6);
        memcpy(f + 6, seeds[i].mac, 6);
        f[12] = VS_ETHERTYPE_VLAN >> 8, f[13] = VS_ETHERTYPE_VLAN & 0xff;
        f[14] = seeds[i].vid >> 8, f[15] = seeds[i].vid & 0xff;
        f[12 + off] = FZ_SEED_ETHERTYPE >> 8, f[13 + off] = FZ_SEED_ETHERTYPE & 0xff;
        /* egress gap: seeds flood to the down member too, and are not what it shows */
        process(seeds[i].port, f, sizeof(f), 0, !fz.seeds_checked && !fz.egress_gap);
        check_no_leak("a seed frame");
    }
    fz.seeds_checked = true;
}

/* Learned MACs and policer buckets back to the same start at every input. */
static void reset_state(void) {
    fz.now += FZ_INPUT_NS;
    vs_dp_set_clock(fz.dp, fz.now);
    for (size_t i = 0; i < sizeof(bridges) / sizeof(bridges[0]); i++)
        vs_mac_flush(fz.dp, fz.iface[bridges[i].role], -1, 0);
    seed_macs();
    vs_rcu_reclaim(fz.dp);  /* as the control plane does: MAC tables retired by rebuilds go */
    for (size_t i = 0; i < sizeof(policers) / sizeof(policers[0]); i++)
        vs_dp_set_punt_policer(fz.dp, policers[i].reason, policers[i].rate, policers[i].burst);
    fz.answers = 0;
}

static void feed(int port, const uint8_t *frame, size_t len, uint8_t flags) {
    if (flags & FZ_FLAG_RING_FULL) stuff_punt_ring();
    fz.now += FZ_FRAME_NS;
    vs_dp_set_clock(fz.dp, fz.now);
    process(port, frame, len, flags, true);
    tally_fates(port);
    fz.totals.frames++;
    fz.tx_full = false;
    serve_punts(flags);
    fz.captured = captured_total();  /* the answers' frames are not the next frame's */
    release_pool();
    check_no_leak("the frame and its punts");
}

void fz_run_input(const uint8_t *data, size_t size) {
    if (!size) return;
    fz.input = data;
    fz.input_len = size;
    uint8_t ctl = data[0];
    int port = fz.port = ctl & FZ_PORT_MASK;
    size_t len = size - 1 > VS_PKT_MAX_FRAME ? VS_PKT_MAX_FRAME : size - 1;
    /* the frame outlives `data` in no buffer, but copy it: the harness and the
     * fuzzer must not share bytes the core could write through */
    static uint8_t frame[VS_PKT_MAX_FRAME];
    memcpy(frame, data + 1, len);
    reset_state();
    int reps = ctl & FZ_FLAG_REPEAT ? FZ_REPEATS : 1;
    for (int r = 0; r < reps; r++) feed(port, frame, len, ctl);
    fz.totals.inputs++;
}

/* ---- setup -------------------------------------------------------------------- */

static int setup_ports(void) {
    for (int i = 0; i < FZ_N_PORTS; i++) {
        int id = vs_port_null_open(fz.dp, port_names[i], FZ_MTU);
        if (id != i) return -1;
        fz.iface[i] = id;
        struct vs_port *port = fz.dp->ports[id];
        fz.null_tx[id] = port->tx_burst;
        port->tx_burst = capture_tx;
    }
    for (size_t i = 0; i < sizeof(vlans) / sizeof(vlans[0]); i++)
        if ((fz.iface[vlans[i].role] = vs_iface_add_vlan(fz.dp, vlans[i].port, vlans[i].vid)) < 0) return -1;
    return 0;
}

static int setup_bridges(void) {
    for (size_t i = 0; i < sizeof(bridges) / sizeof(bridges[0]); i++) {
        const struct bridge_def *b = &bridges[i];
        int br = fz.iface[b->role] = vs_iface_add_bridge(fz.dp, b->aging_ns, b->mac_limit);
        if (br < 0) return -1;
        for (int m = 0; m < 3 && b->members[m] >= 0; m++)
            if (vs_bridge_add_member(fz.dp, br, fz.iface[b->members[m]])) return -1;
    }
    for (size_t i = 0; i < sizeof(static_macs) / sizeof(static_macs[0]); i++) {
        const struct mac_def *m = &static_macs[i];
        if (vs_mac_add_static(fz.dp, fz.iface[m->bridge_role], m->mac, fz.iface[m->member_role])) return -1;
    }
    return 0;
}

static int setup_l3(void) {
    for (size_t i = 0; i < sizeof(routed) / sizeof(routed[0]); i++)
        vs_iface_set_l3(fz.dp, fz.iface[routed[i].role], routed[i].mac, 1);
    vs_iface_set_mtu(fz.dp, fz.iface[IF_SMALL], FZ_SMALL_MTU);
    vs_port_set_admin(fz.dp, FZ_PORT_DOWN, 0);
    for (size_t i = 0; i < sizeof(adjs) / sizeof(adjs[0]); i++) {
        const struct adj_def *a = &adjs[i];
        int iface = a->role < 0 ? -1 : fz.iface[a->role];
        if (vs_adj_set(fz.dp, a->id, a->type, iface, a->nh_ip, a->dmac)) return -1;
    }
    for (size_t i = 0; i < sizeof(fib_routes) / sizeof(fib_routes[0]); i++)
        if (vs_fib_add(fz.dp, fib_routes[i].prefix, fib_routes[i].len, fib_routes[i].adj)) return -1;
    return 0;
}

/* What the strict check cannot hold today (see the top of this file). */
static int setup_egress_gap(void) {
    static const uint8_t gw[6] = {0x02, 0, 0, 0, 0x03, 0xfe};
    vs_iface_set_mtu(fz.dp, fz.iface[IF_V10], FZ_GAP_MTU);   /* br0 floods 1500-byte frames to it */
    vs_port_set_admin(fz.dp, FZ_PORT_LAN2, 0);                /* br0 floods to a down member */
    if (vs_adj_set(fz.dp, ADJ_DOWN, VS_ADJ_FORWARD, fz.iface[IF_DOWN], IP4(192, 168, 99, 254), gw)) return -1;
    return vs_fib_add(fz.dp, IP4(192, 168, 99, 0), 24, ADJ_DOWN);  /* routed out of a down port */
}

int fz_setup(int egress_gap) {
    memset(&fz, 0, sizeof(fz));
    fz.egress_gap = egress_gap;
    fz.dp = vs_dp_create(FZ_POOL_BUFFERS, 1, FZ_MAX_ADJ, FZ_TBL8_GROUPS);
    if (!fz.dp || setup_ports() || setup_bridges() || setup_l3() || (egress_gap && setup_egress_gap())) {
        fprintf(stderr, "fuzz harness setup: %s\n", vs_last_error());
        return -1;
    }
    for (int i = 0; i < FZ_N_PORTS; i++)
        if (vs_capture_start(fz.dp, i, FZ_CAPTURE_FILE, 0)) {
            fprintf(stderr, "fuzz harness setup: %s\n", vs_last_error());
            return -1;
        }
    fz.now = FZ_CLOCK_START_NS;
    poison_free_buffers();
    return 0;
}

void fz_set_label(const char *label) { fz.label = label; }

const struct fz_totals *fz_totals(void) { return &fz.totals; }

void fz_teardown(void) {
    if (!fz.dp) return;
    struct vs_pool *pool = &fz.dp->pool;
    ASAN_UNPOISON_MEMORY_REGION(pool->mem, pool->mem_size);  /* the region goes back to the system */
    vs_dp_destroy(fz.dp);
    fz.dp = NULL;
}
