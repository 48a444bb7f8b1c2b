/* capture.c — `vswitch capture`: what a port receives and sends, into a pcap.
 *
 * Workers copy frames into their own ring for the port (rx as received,
 * before any tag is popped; tx as handed to the driver, counted only if the
 * driver took it) and never wait: a full ring is counted (dropped).  The
 * control plane drains the rings into the file in timestamp order
 * (vs_capture_drain, from the appliance's main loop).  Starting publishes
 * the capture with a release store; stopping unpublishes it, waits one
 * grace period (no worker can still be copying), drains the rest and frees.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "vs.h"

#define RING_MASK (VS_CAPTURE_RING - 1)
_Static_assert((VS_CAPTURE_RING & RING_MASK) == 0, "VS_CAPTURE_RING is a power of two");

/* classic pcap, nanosecond timestamps (libpcap's "modified" magic), Ethernet */
#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_LINKTYPE_ETHERNET 1

/* ---- worker side ------------------------------------------------------------ */

static void copy_frame(struct vs_capture_slot *slot, uint64_t ts_ns, struct vs_pkt *p) {
    slot->ts_ns = ts_ns;
    slot->len = p->len;
    slot->cap_len = p->len < VS_CAPTURE_SNAP ? p->len : VS_CAPTURE_SNAP;
    memcpy(slot->data, vs_pkt_bytes(p), slot->cap_len);
}

/* Of n frames crossing now, how many the capture wants: all, until a ring
 * has max_frames (the file cannot need more from one worker; frames after
 * the last one written are not "dropped"). */
static uint16_t wanted(const struct vs_capture *cap, uint64_t head, uint16_t n) {
    if (!cap->max_frames) return n;
    uint64_t left = cap->max_frames > head ? cap->max_frames - head : 0;
    return left < n ? (uint16_t)left : n;
}

/* Copies what the capture wants of pkts and the ring has room for,
 * unpublished; how many. */
static uint16_t copy_burst(struct vs_worker *w, struct vs_capture *cap, struct vs_pkt **pkts, uint16_t n) {
    struct vs_capture_ring *r = &cap->rings[w->id];
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t room = VS_CAPTURE_RING - (h - atomic_load_explicit(&r->tail, memory_order_acquire));
    uint16_t want = wanted(cap, h, n);
    uint16_t k = want < room ? want : (uint16_t)room;
    for (uint16_t i = 0; i < k; i++) copy_frame(&r->slots[(h + i) & RING_MASK], w->now_ns, pkts[i]);
    return k;
}

/* The first `crossed` frames crossed the port and `copied` of them have
 * copies: publish those, count the ones wanted without one. */
static void publish(struct vs_worker *w, struct vs_capture *cap, uint16_t copied, uint16_t crossed) {
    struct vs_capture_ring *r = &cap->rings[w->id];
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint16_t want = wanted(cap, h, crossed);
    uint16_t keep = copied < want ? copied : want;
    atomic_store_explicit(&r->head, h + keep, memory_order_release);
    if (want > keep) atomic_fetch_add_explicit(&r->dropped, want - keep, memory_order_relaxed);
}

void vs_capture_rx(struct vs_worker *w, struct vs_capture *cap, struct vs_pkt **pkts, uint16_t n) {
    publish(w, cap, copy_burst(w, cap, pkts, n), n);
}

uint16_t vs_capture_tx_copy(struct vs_worker *w, struct vs_capture *cap, struct vs_pkt **pkts, uint16_t n) {
    return copy_burst(w, cap, pkts, n);
}

/* The driver took the first `sent`: those are the frames that crossed. */
void vs_capture_tx_commit(struct vs_worker *w, struct vs_capture *cap, uint16_t copied, uint16_t sent) {
    publish(w, cap, copied, sent);
}

/* ---- control plane ------------------------------------------------------------ */

static uint64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct vs_capture *capture_of(struct vs_dp *dp, int port) {
    if (port < 0 || port >= dp->n_ports) {
        vs_set_error("no port %d", port);
        return NULL;
    }
    if (!dp->captures[port]) vs_set_error("no capture on port %s", dp->ports[port]->name);
    return dp->captures[port];
}

int vs_capture_start(struct vs_dp *dp, int port, const char *path, uint64_t max_frames) {
    if (port < 0 || port >= dp->n_ports) {
        vs_set_error("no port %d", port);
        return -1;
    }
    if (dp->captures[port]) {
        vs_set_error("a capture is already running on port %s", dp->ports[port]->name);
        return -1;
    }
    struct vs_capture *cap = calloc(1, sizeof(*cap) + dp->n_workers * sizeof(struct vs_capture_ring));
    if (!cap) {
        vs_set_error("out of memory for capture rings");
        return -1;
    }
    cap->file = fopen(path, "wb");
    if (!cap->file) {
        vs_set_error("cannot write %s: %s", path, strerror(errno));
        free(cap);
        return -1;
    }
    struct {
        uint32_t magic;
        uint16_t major, minor;
        int32_t thiszone;
        uint32_t sigfigs, snaplen, linktype;
    } header = {PCAP_MAGIC_NS, 2, 4, 0, 0, VS_CAPTURE_SNAP, PCAP_LINKTYPE_ETHERNET};
    if (fwrite(&header, sizeof(header), 1, cap->file) != 1 || fflush(cap->file)) {
        vs_set_error("cannot write %s: %s", path, strerror(errno));
        fclose(cap->file);
        free(cap);
        return -1;
    }
    cap->max_frames = max_frames;
    cap->n_rings = dp->n_workers;
    /* live workers stamp the monotonic clock; offline, the pcap clock is already wall time */
    cap->wall_offset_ns = dp->offline ? 0 : (int64_t)(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC));
    cap->running = true;
    dp->captures[port] = cap;
    atomic_store_explicit(&dp->capture_on[port], cap, memory_order_release);
    return 0;
}

static uint64_t ring_dropped(struct vs_capture *cap) {
    uint64_t n = 0;
    for (int i = 0; i < cap->n_rings; i++) n += atomic_load_explicit(&cap->rings[i].dropped, memory_order_relaxed);
    return n;
}

/* Workers stop copying; once none can still be, the rings are the control plane's alone. */
static void detach(struct vs_dp *dp, int port, struct vs_capture *cap) {
    atomic_store_explicit(&dp->capture_on[port], NULL, memory_order_release);
    vs_rcu_synchronize(dp);
    cap->running = false;
}

/* The oldest frame waiting in any ring, or -1. */
static int oldest_ring(struct vs_capture *cap) {
    int best = -1;
    uint64_t best_ts = 0;
    for (int i = 0; i < cap->n_rings; i++) {
        struct vs_capture_ring *r = &cap->rings[i];
        uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        if (t == atomic_load_explicit(&r->head, memory_order_acquire)) continue;
        uint64_t ts = r->slots[t & RING_MASK].ts_ns;
        if (best < 0 || ts < best_ts) best = i, best_ts = ts;
    }
    return best;
}

int vs_capture_drain(struct vs_dp *dp, int port) {
    struct vs_capture *cap = capture_of(dp, port);
    if (!cap) return -1;
    if (!cap->file) return 0;  /* finished: max_frames written */
    int r;
    while ((!cap->max_frames || cap->written < cap->max_frames) && (r = oldest_ring(cap)) >= 0) {
        struct vs_capture_ring *ring = &cap->rings[r];
        uint64_t t = atomic_load_explicit(&ring->tail, memory_order_relaxed);
        struct vs_capture_slot *s = &ring->slots[t & RING_MASK];
        uint64_t ts = s->ts_ns + (uint64_t)cap->wall_offset_ns;
        uint32_t rec[4] = {(uint32_t)(ts / 1000000000ull), (uint32_t)(ts % 1000000000ull), s->cap_len, s->len};
        if (fwrite(rec, sizeof(rec), 1, cap->file) != 1 || fwrite(s->data, 1, s->cap_len, cap->file) != s->cap_len)
            break;
        atomic_store_explicit(&ring->tail, t + 1, memory_order_release);
        cap->written++;
    }
    int failed = fflush(cap->file) != 0 || ferror(cap->file);
    if (failed) vs_set_error("cannot write the capture file: %s", strerror(errno));
    if (failed || (cap->max_frames && cap->written >= cap->max_frames)) {
        /* done (or the disk is full): the count of drops ends here too */
        if (cap->running) detach(dp, port, cap);
        cap->dropped = ring_dropped(cap);
        fclose(cap->file);
        cap->file = NULL;
    }
    return failed ? -1 : 0;
}

void vs_capture_stats_get(struct vs_dp *dp, int port, struct vs_capture_stats *out) {
    memset(out, 0, sizeof(*out));
    if (port < 0 || port >= dp->n_ports || !dp->captures[port]) return;
    struct vs_capture *cap = dp->captures[port];
    out->written = cap->written;
    out->dropped = cap->file ? ring_dropped(cap) : cap->dropped;
    out->max_frames = cap->max_frames;
    out->running = cap->file != NULL;
}

int vs_capture_stop(struct vs_dp *dp, int port, struct vs_capture_stats *out) {
    struct vs_capture *cap = capture_of(dp, port);
    if (!cap) return -1;
    int rc = 0;
    if (cap->running) {
        detach(dp, port, cap);
        rc = vs_capture_drain(dp, port);   /* what was copied before the grace period ended */
    }
    if (cap->file) {
        cap->dropped = ring_dropped(cap);
        if (fclose(cap->file) && !rc) {
            vs_set_error("cannot write the capture file: %s", strerror(errno));
            rc = -1;
        }
        cap->file = NULL;
    }
    vs_capture_stats_get(dp, port, out);
    dp->captures[port] = NULL;
    free(cap);
    return rc;
}
