/* fib.c — IPv4 longest-prefix match, DIR-24-8.
 *
 * tbl24 has one 32-bit entry per /24: an adjacency id (0 = no route), or,
 * with VS_FIB_GROUP_FLAG, the number of a 256-entry group in tbl8 that holds
 * the /25–/32 detail of that /24.  A lookup is one load, two for addresses
 * under a longer prefix.  The writer keeps the prefix length behind every
 * entry (depth24/depth8) so an insert overwrites only what it is more
 * specific than, and a delete restores the covering route the caller names.
 * The tables readers use are mapped zeroed and asked to be backed by 2 MiB
 * pages: a full table spreads lookups over all 64 MiB of tbl24, and with
 * 4 KiB pages nearly every one would also miss the TLB.  Pages never
 * touched cost nothing either way.
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "vs.h"

#define TBL24_ENTRIES (1u << 24)
#define GROUP_ENTRIES 256u

static size_t tbl8_bytes(uint32_t max_groups) { return (size_t)max_groups * GROUP_ENTRIES * sizeof(uint32_t); }

static uint32_t *map_table(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return NULL;
    madvise(p, bytes, MADV_HUGEPAGE);  /* a hint: without transparent huge pages, 4 KiB pages it is */
    return p;
}

static void unmap_table(uint32_t *table, size_t bytes) {
    if (table) munmap(table, bytes);
}

int vs_fib_init(struct vs_fib *fib, struct vs_dp *dp, uint32_t max_groups) {
    memset(fib, 0, sizeof(*fib));
    fib->dp = dp;
    fib->max_groups = max_groups;
    fib->tbl24 = map_table(TBL24_ENTRIES * sizeof(uint32_t));
    fib->depth24 = calloc(TBL24_ENTRIES, 1);
    fib->tbl8 = map_table(tbl8_bytes(max_groups));
    fib->depth8 = calloc((size_t)max_groups * GROUP_ENTRIES, 1);
    fib->free_groups = calloc(max_groups, sizeof(uint32_t));
    if (!fib->tbl24 || !fib->depth24 || !fib->tbl8 || !fib->depth8 || !fib->free_groups) {
        vs_fib_fini(fib);
        vs_set_error("out of memory for the FIB (%u groups)", max_groups);
        return -1;
    }
    for (uint32_t g = 0; g < max_groups; g++) fib->free_groups[g] = max_groups - 1 - g;
    fib->n_free = max_groups;
    return 0;
}

void vs_fib_fini(struct vs_fib *fib) {
    unmap_table(fib->tbl24, TBL24_ENTRIES * sizeof(uint32_t));
    free(fib->depth24);
    unmap_table(fib->tbl8, tbl8_bytes(fib->max_groups));
    free(fib->depth8);
    free(fib->free_groups);
    memset(fib, 0, sizeof(*fib));
}

static void group_release(struct vs_dp *dp, void *group) {
    dp->fib.free_groups[dp->fib.n_free++] = (uint32_t)(uintptr_t)group;
}

/* Store with release order: a reader that sees a group pointer sees the group filled. */
static inline void publish(uint32_t *slot, uint32_t value) {
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
}

/* Give /24 number i a group, filled with what the /24 entry said. */
static int split_24(struct vs_fib *fib, uint32_t i) {
    if (fib->tbl24[i] & VS_FIB_GROUP_FLAG) return 0;
    if (!fib->n_free && fib->groups_used < fib->max_groups) {
        /* the rest were freed by deletes and wait out a grace period: end it */
        vs_rcu_synchronize(fib->dp);
        vs_rcu_reclaim(fib->dp);
    }
    if (!fib->n_free) {
        vs_set_error("FIB: all %u groups for prefixes longer than /24 are used", fib->max_groups);
        return -1;
    }
    uint32_t g = fib->free_groups[--fib->n_free];
    fib->groups_used++;
    size_t base = (size_t)g * GROUP_ENTRIES;
    for (uint32_t j = 0; j < GROUP_ENTRIES; j++) {
        fib->tbl8[base + j] = fib->tbl24[i];
        fib->depth8[base + j] = fib->depth24[i];
    }
    publish(&fib->tbl24[i], VS_FIB_GROUP_FLAG | g);
    return 0;
}

/* Fold a group back into its /24 entry once nothing longer than /24 is left. */
static void try_merge_24(struct vs_fib *fib, uint32_t i) {
    uint32_t e = fib->tbl24[i];
    if (!(e & VS_FIB_GROUP_FLAG)) return;
    uint32_t g = e & ~VS_FIB_GROUP_FLAG;
    size_t base = (size_t)g * GROUP_ENTRIES;
    for (uint32_t j = 0; j < GROUP_ENTRIES; j++)
        if (fib->depth8[base + j] > 24) return;
    fib->depth24[i] = fib->depth8[base];
    publish(&fib->tbl24[i], fib->tbl8[base]);
    fib->groups_used--;
    /* a worker may still be reading the group: reuse it after a grace period */
    vs_rcu_retire(fib->dp, (void *)(uintptr_t)g, group_release);
}

/* Set entries [first, first+count) of a group whose depth passes `take`. */
static void set_range8(struct vs_fib *fib, uint32_t g, uint32_t first, uint32_t count,
                       uint32_t adj, uint8_t depth, int only_depth) {
    size_t base = (size_t)g * GROUP_ENTRIES;
    for (uint32_t j = first; j < first + count; j++) {
        uint8_t d = fib->depth8[base + j];
        if (only_depth >= 0 ? d != only_depth : d > depth) continue;
        fib->depth8[base + j] = depth;
        publish(&fib->tbl8[base + j], adj);
    }
}

/* The one walk behind add and delete.  Add (only_depth < 0): every entry in
 * the prefix's range that is not more specific takes (adj, len).  Delete
 * (only_depth = len): every entry that belongs to this prefix takes the
 * covering route (adj, depth). */
static int fib_update(struct vs_fib *fib, uint32_t prefix, int len, uint32_t adj, uint8_t depth, int only_depth) {
    if (len <= 24) {
        uint32_t first = len ? prefix >> 8 : 0;
        uint32_t count = 1u << (24 - len);
        for (uint32_t i = first; i < first + count; i++) {
            uint32_t e = fib->tbl24[i];
            if (e & VS_FIB_GROUP_FLAG) {
                set_range8(fib, e & ~VS_FIB_GROUP_FLAG, 0, GROUP_ENTRIES, adj, depth, only_depth);
                if (only_depth >= 0) try_merge_24(fib, i);
            } else if (only_depth >= 0 ? fib->depth24[i] == only_depth && e : fib->depth24[i] <= depth) {
                fib->depth24[i] = depth;
                publish(&fib->tbl24[i], adj);
            }
        }
        return 0;
    }
    uint32_t i = prefix >> 8;
    if (only_depth < 0 && split_24(fib, i)) return -1;
    uint32_t e = fib->tbl24[i];
    if (!(e & VS_FIB_GROUP_FLAG)) return 0;  /* deleting something never added */
    set_range8(fib, e & ~VS_FIB_GROUP_FLAG, prefix & 0xff, 1u << (32 - len), adj, depth, only_depth);
    if (only_depth >= 0) try_merge_24(fib, i);
    return 0;
}

static uint32_t mask_of(int len) {
    return len ? 0xffffffffu << (32 - len) : 0;
}

int vs_fib_add(struct vs_dp *dp, uint32_t prefix, int len, uint32_t adj) {
    vs_rcu_reclaim(dp);  /* groups whose grace period is over become usable */
    if (len < 0 || len > 32 || adj == 0 || adj >= dp->max_adj) {
        vs_set_error("bad route /%d -> adjacency %u", len, adj);
        return -1;
    }
    return fib_update(&dp->fib, prefix & mask_of(len), len, adj, (uint8_t)len, -1);
}

int vs_fib_delete(struct vs_dp *dp, uint32_t prefix, int len, uint32_t parent_adj, int parent_len) {
    if (len < 0 || len > 32 || parent_len < 0 || parent_len >= (len ? len : 1)) {
        vs_set_error("bad route delete /%d (covering /%d)", len, parent_len);
        return -1;
    }
    return fib_update(&dp->fib, prefix & mask_of(len), len, parent_adj,
                      (uint8_t)(parent_adj ? parent_len : 0), len);
}

uint32_t vs_fib_lookup(struct vs_dp *dp, uint32_t ip) {
    return vs_fib_lookup_inline(&dp->fib, ip);
}

uint32_t vs_fib_groups_used(struct vs_dp *dp) {
    return dp->fib.groups_used;
}
