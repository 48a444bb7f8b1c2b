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
    if (!r) {
        /* cannot defer: leak rather than free under a reader */
        return;
    }
    r->ptr = ptr;
    r->release = release;
    snapshot(dp, r->seen);
    pthread_mutex_lock(&dp->retire_lock);
    r->next = dp->retired;
    dp->retired = r;
    pthread_mutex_unlock(&dp->retire_lock);
}

void vs_rcu_reclaim(struct vs_dp *dp) {
    if (!atomic_load_explicit((_Atomic(struct vs_retired *) *)&dp->retired, memory_order_relaxed)) return;
    pthread_mutex_lock(&dp->retire_lock);
    struct vs_retired **link = &dp->retired, *done = NULL;
    while (*link) {
        struct vs_retired *r = *link;
        if (grace_over(dp, r->seen)) {
            *link = r->next;
            r->next = done;
            done = r;
        } else {
            link = &r->next;
        }
    }
    pthread_mutex_unlock(&dp->retire_lock);
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
