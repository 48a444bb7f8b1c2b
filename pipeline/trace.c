/* trace.c — `vswitch trace`: the path of the next N received packets.
 *
 * The control plane arms a budget (dp->trace_budget); workers claim it a
 * burst at a time and run the claimed packets through the traced copy of
 * the path (pipeline.c), which appends one step per decision to a record
 * in the worker's own ring.  The worker never waits: a full ring means the
 * packet goes untraced and is counted (lost).  The control plane copies
 * the records out (vs_trace_poll) and names what the numbers mean.
 */
#include "vs.h"

#define RING_MASK (VS_TRACE_RING - 1)
_Static_assert((VS_TRACE_RING & RING_MASK) == 0, "VS_TRACE_RING is a power of two");

/* ---- worker side ------------------------------------------------------------ */

struct vs_trace_rec *vs_trace_begin(struct vs_worker *w, uint16_t queue, struct vs_pkt *p) {
    struct vs_trace_ring *r = &w->trace;
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (h - atomic_load_explicit(&r->tail, memory_order_acquire) >= VS_TRACE_RING) {
        atomic_fetch_add_explicit(&r->lost, 1, memory_order_relaxed);
        return NULL;
    }
    struct vs_trace_rec *tr = &r->recs[h & RING_MASK];
    tr->ts_ns = w->now_ns;
    tr->worker = w->id;
    tr->port = p->in_port;
    tr->queue = queue;
    tr->len = p->len;
    tr->snap_len = p->len < VS_TRACE_SNAP ? p->len : VS_TRACE_SNAP;
    memcpy(tr->frame, vs_pkt_bytes(p), tr->snap_len);
    tr->n_steps = tr->lost_steps = 0;
    vs_trace_step(tr, VS_TR_RX, p->in_port, queue, p->len, 0, NULL);
    return tr;
}

/* The record begun last is complete: the control plane may read it. */
void vs_trace_commit(struct vs_worker *w) {
    struct vs_trace_ring *r = &w->trace;
    atomic_store_explicit(&r->head, atomic_load_explicit(&r->head, memory_order_relaxed) + 1,
                          memory_order_release);
}

void vs_trace_step(struct vs_trace_rec *tr, uint16_t kind, uint16_t a, uint32_t b, uint32_t c, uint16_t d,
                   const uint8_t *mac) {
    if (tr->n_steps >= VS_TRACE_MAX_STEPS) {
        tr->lost_steps++;
        return;
    }
    struct vs_trace_step *s = &tr->steps[tr->n_steps++];
    s->kind = kind;
    s->a = a;
    s->b = b;
    s->c = c;
    s->d = d;
    if (mac) memcpy(s->mac, mac, 6);
    else memset(s->mac, 0, 6);
}

/* ---- control plane ------------------------------------------------------------ */

void vs_trace_arm(struct vs_dp *dp, uint32_t n) {
    atomic_store_explicit(&dp->trace_budget, n, memory_order_relaxed);
}

uint32_t vs_trace_pending(struct vs_dp *dp) {
    return atomic_load_explicit(&dp->trace_budget, memory_order_relaxed);
}

int vs_trace_poll(struct vs_dp *dp, struct vs_trace_rec *out, int max) {
    int n = 0;
    for (int i = 0; i < dp->n_workers && n < max; i++) {
        struct vs_trace_ring *r = &dp->workers[i].trace;
        uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
        for (; t != h && n < max; t++) out[n++] = r->recs[t & RING_MASK];
        atomic_store_explicit(&r->tail, t, memory_order_release);
    }
    return n;
}

uint64_t vs_trace_lost(struct vs_dp *dp) {
    uint64_t lost = 0;
    for (int i = 0; i < dp->n_workers; i++) lost += atomic_load_explicit(&dp->workers[i].trace.lost, memory_order_relaxed);
    return lost;
}
