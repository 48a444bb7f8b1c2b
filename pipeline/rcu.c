/* rcu.c — deferred freeing for lock-free readers.
 *
 * Workers never lock to read the FIB, adjacencies or MAC tables.  A writer
 * publishes a new version with a release store and hands the old memory to
 * vs_rcu_retire(); it is freed by vs_rcu_reclaim() only once every worker
 * that was forwarding at retire time has gone round its loop (its quiescent
 * counter moved) or stopped — after that no worker can still hold it.
 */
#include <stdlib.h>
#include <time.h>

#include "vs.h"

struct vs_retired {
    struct vs_retired *next;
    void (*release)(struct vs_dp *dp, void *ptr);
    void *ptr;
    uint64_t seen[VS_MAX_WORKERS];  /* quiescent counters at retire time */
};

static void snapshot(struct vs_dp *dp, uint64_t *seen) {
    for (int i = 0; i < dp->n_workers; i++)
        seen[i] = atomic_load_explicit(&dp->workers[i].quiescent, memory_order_acquire);
}

static bool grace_over(struct vs_dp *dp, const uint64_t *seen) {
    for (int i = 0; i < dp->n_workers; i++) {
        struct vs_worker *w = &dp->workers[i];
        if (atomic_load_explicit(&w->online, memory_order_acquire) &&
            atomic_load_explicit(&w->quiescent, memory_order_acquire) == seen[i])
            return false;
    }
    return true;
}

void vs_rcu_retire(struct vs_dp *dp, void *ptr, void (*release)(struct vs_dp *dp, void *ptr)) {
    struct vs_retired *r = malloc(sizeof(*r));
    if (!r) return;  /* cannot defer: leak rather than free under a reader */
    r->ptr = ptr;
    r->release = release;
    snapshot(dp, r->seen);
    pthread_mutex_lock(&dp->retire_lock);
    r->next = atomic_load_explicit(&dp->retired, memory_order_relaxed);
    atomic_store_explicit(&dp->retired, r, memory_order_relaxed);
    pthread_mutex_unlock(&dp->retire_lock);
}

void vs_rcu_reclaim(struct vs_dp *dp) {
    if (!atomic_load_explicit(&dp->retired, memory_order_relaxed)) return;  /* the usual case, no lock */
    pthread_mutex_lock(&dp->retire_lock);
    struct vs_retired *list = atomic_exchange_explicit(&dp->retired, NULL, memory_order_relaxed);
    pthread_mutex_unlock(&dp->retire_lock);
    struct vs_retired *keep = NULL, **keep_tail = &keep, *done = NULL;
    while (list) {
        struct vs_retired *r = list;
        list = r->next;
        if (grace_over(dp, r->seen)) {
            r->next = done;
            done = r;
        } else {
            *keep_tail = r;
            keep_tail = &r->next;
        }
    }
    if (keep) {
        pthread_mutex_lock(&dp->retire_lock);
        *keep_tail = atomic_load_explicit(&dp->retired, memory_order_relaxed);
        atomic_store_explicit(&dp->retired, keep, memory_order_relaxed);
        pthread_mutex_unlock(&dp->retire_lock);
    }
    while (done) {
        struct vs_retired *r = done;
        done = r->next;
        r->release(dp, r->ptr);
        free(r);
    }
}

void vs_rcu_synchronize(struct vs_dp *dp) {
    uint64_t seen[VS_MAX_WORKERS];
    snapshot(dp, seen);
    while (!grace_over(dp, seen)) {
        struct timespec pause = {0, 10000};
        nanosleep(&pause, NULL);
    }
}
