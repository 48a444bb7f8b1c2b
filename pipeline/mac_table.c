/* mac_table.c — one open-addressing hash per bridge, keyed by MAC.
 *
 * Linear probing over a power-of-two table at most half full (sized from
 * mac_limit), so a lookup touches one or two cache lines.  Lookups and
 * refreshes are lock-free, from every worker at once; adding or removing
 * an entry takes the bridge's lock.  Deletes leave tombstones so a reader
 * walking a probe chain never sees it cut short; when tombstones pile up
 * the table is rebuilt beside the old one, published with a release store
 * and the old one freed after a grace period (rcu.c).  An entry older than
 * the bridge's aging time reads as absent at once, so aging is exact to
 * the frame even between sweeps.
 */
#include <stdlib.h>

#include "vs.h"

#define RELAXED memory_order_relaxed

/* The MAC with a marker bit, so even 00:00:00:00:00:00 is not an empty slot. */
static inline uint64_t mac_key(const uint8_t *m) {
    return VS_MAC_PRESENT | ((uint64_t)m[0] << 40) | ((uint64_t)m[1] << 32) | ((uint64_t)m[2] << 24) |
           ((uint64_t)m[3] << 16) | ((uint64_t)m[4] << 8) | m[5];
}

static inline uint32_t mac_hash(uint64_t key) {
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32);
}

/* Time since an entry was last seen.  Workers stamp entries with their own
 * loop-start clocks, so a stamp can be a little ahead of another worker's
 * `now` or of a sweep's: that is age 0, not a wrapped 2^64 (which would age
 * out, or re-learn, an entry that is in active use). */
static inline uint64_t mac_age(uint64_t now, uint64_t seen) { return now > seen ? now - seen : 0; }

static inline bool entry_live(const struct vs_bridge *br, struct vs_mac_entry *e, uint64_t now) {
    return e->is_static || br->aging_ns == 0 ||
           mac_age(now, atomic_load_explicit(&e->last_seen_ns, RELAXED)) <= br->aging_ns;
}

static inline bool slot_used(uint64_t key) { return key != 0 && key != VS_MAC_TOMBSTONE; }

static void lock(struct vs_bridge *br) {
    while (atomic_flag_test_and_set_explicit(&br->lock, memory_order_acquire)) __builtin_ia32_pause();
}

static void unlock(struct vs_bridge *br) { atomic_flag_clear_explicit(&br->lock, memory_order_release); }

static struct vs_mac_table *table_new(uint32_t size) {
    struct vs_mac_table *t = calloc(1, sizeof(*t) + (size_t)size * sizeof(struct vs_mac_entry));
    if (t) t->mask = size - 1;
    return t;
}

static void table_free(struct vs_dp *dp, void *t) {
    (void)dp;
    free(t);
}

static inline struct vs_mac_table *current(struct vs_bridge *br) {
    return atomic_load_explicit(&br->table, memory_order_acquire);
}

int vs_bridge_table_init(struct vs_bridge *br) {
    uint32_t size = 64;
    while (size < 2ull * (br->mac_limit + VS_MAX_MEMBERS)) size <<= 1;
    struct vs_mac_table *t = table_new(size);
    if (!t) {
        vs_set_error("out of memory for a MAC table of %u entries", size);
        return -1;
    }
    atomic_store(&br->table, t);
    atomic_flag_clear(&br->lock);
    br->n_used = br->n_learned = 0;
    return 0;
}

void vs_bridge_table_fini(struct vs_bridge *br) {
    free(atomic_load(&br->table));
    atomic_store(&br->table, NULL);
}

static struct vs_mac_entry *find_slot(struct vs_mac_table *t, uint64_t key) {
    for (uint32_t i = mac_hash(key) & t->mask;; i = (i + 1) & t->mask) {
        struct vs_mac_entry *e = &t->e[i];
        uint64_t k = atomic_load_explicit(&e->key, memory_order_acquire);
        if (k == key) return e;
        if (k == 0) return NULL;
    }
}

int vs_mac_find(struct vs_bridge *br, const uint8_t *mac, uint64_t now_ns) {
    struct vs_mac_entry *e = find_slot(current(br), mac_key(mac));
    return e && entry_live(br, e, now_ns) ? atomic_load_explicit(&e->iface, RELAXED) : -1;
}

/* Copy the live entries into a fresh table of `size` slots and publish it
 * (under the lock); 0 on success. */
static int rebuild_sized(struct vs_dp *dp, struct vs_bridge *br, uint64_t now_ns, uint32_t size) {
    struct vs_mac_table *old = current(br);
    struct vs_mac_table *fresh = table_new(size);
    if (!fresh) return -1;
    uint32_t used = 0, learned = 0;
    for (uint32_t i = 0; i <= old->mask; i++) {
        struct vs_mac_entry *e = &old->e[i];
        uint64_t key = atomic_load_explicit(&e->key, RELAXED);
        if (!slot_used(key)) continue;
        if (!entry_live(br, e, now_ns)) {
            atomic_fetch_add_explicit(&br->stats.aged, 1, RELAXED);
            continue;
        }
        uint32_t j = mac_hash(key) & fresh->mask;
        while (atomic_load_explicit(&fresh->e[j].key, RELAXED)) j = (j + 1) & fresh->mask;
        struct vs_mac_entry *f = &fresh->e[j];
        atomic_store_explicit(&f->iface, atomic_load_explicit(&e->iface, RELAXED), RELAXED);
        atomic_store_explicit(&f->last_seen_ns, atomic_load_explicit(&e->last_seen_ns, RELAXED), RELAXED);
        f->is_static = e->is_static;
        atomic_store_explicit(&f->key, key, RELAXED);
        used++;
        if (!e->is_static) learned++;
    }
    br->n_used = used;
    br->n_learned = learned;
    atomic_store_explicit(&br->table, fresh, memory_order_release);
    vs_rcu_retire(dp, old, table_free);
    return 0;
}

/* Same size; on failure keep the old table: still correct, only slower. */
static void rebuild(struct vs_dp *dp, struct vs_bridge *br, uint64_t now_ns) {
    rebuild_sized(dp, br, now_ns, current(br)->mask + 1);
}

/* Under the lock: a slot for a new key, its fields written before the key
 * is published so a reader that finds the key sees the whole entry.  Only
 * empty slots are taken: a tombstone may still be read as its old entry by
 * a worker, so tombstones go only when a rebuild retires the whole table. */
static void insert_locked(struct vs_dp *dp, struct vs_bridge *br, uint64_t key, uint16_t iface,
                          uint64_t now_ns, uint8_t is_static) {
    struct vs_mac_table *t = current(br);
    if (br->n_used + 1 > (t->mask + 1) / 2) {
        rebuild(dp, br, now_ns);
        t = current(br);
    }
    uint32_t i = mac_hash(key) & t->mask;
    while (atomic_load_explicit(&t->e[i].key, RELAXED)) i = (i + 1) & t->mask;
    struct vs_mac_entry *slot = &t->e[i];
    br->n_used++;
    atomic_store_explicit(&slot->iface, iface, RELAXED);
    atomic_store_explicit(&slot->last_seen_ns, now_ns, RELAXED);
    slot->is_static = is_static;
    atomic_store_explicit(&slot->key, key, memory_order_release);
    if (!is_static) br->n_learned++;
}

/* Under the lock: turn expired entries into tombstones; rebuild when they
 * take more than a quarter of the table. */
static void sweep_locked(struct vs_dp *dp, struct vs_bridge *br, uint64_t now_ns) {
    struct vs_mac_table *t = current(br);
    for (uint32_t i = 0; i <= t->mask; i++) {
        struct vs_mac_entry *e = &t->e[i];
        if (!slot_used(atomic_load_explicit(&e->key, RELAXED)) || entry_live(br, e, now_ns)) continue;
        atomic_store_explicit(&e->key, VS_MAC_TOMBSTONE, memory_order_release);
        br->n_learned--;
        atomic_fetch_add_explicit(&br->stats.aged, 1, RELAXED);
    }
    if (br->n_used - br->n_learned > (t->mask + 1) / 4) rebuild(dp, br, now_ns);
}

int vs_mac_learn(struct vs_dp *dp, struct vs_bridge *br, const uint8_t *mac, uint16_t iface, uint64_t now_ns,
                 uint64_t refresh_ns) {
    uint64_t key = mac_key(mac);
    struct vs_mac_entry *e = find_slot(current(br), key);
    if (VS_LIKELY(e != NULL)) {
        if (e->is_static) return VS_LEARN_STATIC;
        uint64_t seen = atomic_load_explicit(&e->last_seen_ns, RELAXED);
        bool live = br->aging_ns == 0 || mac_age(now_ns, seen) <= br->aging_ns;
        int outcome = VS_LEARN_REFRESHED;
        if (!live) {
            atomic_fetch_add_explicit(&br->stats.aged, 1, RELAXED);
            atomic_fetch_add_explicit(&br->stats.learned, 1, RELAXED);
            outcome = VS_LEARN_NEW;
        } else if (atomic_load_explicit(&e->iface, RELAXED) != iface) {
            atomic_fetch_add_explicit(&br->stats.moved, 1, RELAXED);
            outcome = VS_LEARN_MOVED;
        } else if (mac_age(now_ns, seen) < refresh_ns) {
            return VS_LEARN_REFRESHED;  /* fresh enough: spare the cache line other workers read */
        }
        atomic_store_explicit(&e->iface, iface, RELAXED);
        atomic_store_explicit(&e->last_seen_ns, now_ns, RELAXED);
        return outcome;
    }
    lock(br);
    if (find_slot(current(br), key)) {  /* another worker added it meanwhile */
        unlock(br);
        return VS_LEARN_REFRESHED;
    }
    if (br->n_learned >= br->mac_limit) sweep_locked(dp, br, now_ns);  /* expired entries do not count */
    int outcome = VS_LEARN_NEW;
    if (br->n_learned >= br->mac_limit) {
        atomic_fetch_add_explicit(&br->stats.limit_refused, 1, RELAXED);
        outcome = VS_LEARN_LIMIT;
    } else {
        insert_locked(dp, br, key, iface, now_ns, 0);
        atomic_fetch_add_explicit(&br->stats.learned, 1, RELAXED);
    }
    unlock(br);
    return outcome;
}

void vs_mac_sweep(struct vs_dp *dp, struct vs_bridge *br, uint64_t now_ns) {
    lock(br);
    sweep_locked(dp, br, now_ns);
    unlock(br);
}

/* ---- control-plane API -------------------------------------------------- */

static struct vs_bridge *bridge_of(struct vs_dp *dp, int bridge_iface) {
    if (bridge_iface < 0 || bridge_iface >= dp->n_ifaces) return NULL;
    struct vs_iface *ifc = &dp->ifaces[bridge_iface];
    return ifc->kind == VS_IF_BRIDGE ? &dp->bridges[ifc->bridge] : NULL;
}

int vs_mac_add_static(struct vs_dp *dp, int bridge_iface, const uint8_t *mac, int member_iface) {
    struct vs_bridge *br = bridge_of(dp, bridge_iface);
    if (!br) {
        vs_set_error("iface %d is not a bridge", bridge_iface);
        return -1;
    }
    uint64_t key = mac_key(mac);
    lock(br);
    struct vs_mac_entry *e = find_slot(current(br), key);
    if (!e || !e->is_static) {
        /* One more static: statics plus mac_limit learned entries must fit in
         * half the table, or it could fill and a probe for an absent MAC
         * would never end.  n_used - n_learned counts statics and tombstones;
         * near the cap, rebuild (drops tombstones) and count again. */
        uint32_t room = (current(br)->mask + 1) / 2 - br->mac_limit;  /* >= VS_MAX_MEMBERS */
        if (br->n_used - br->n_learned >= room) {
            rebuild(dp, br, vs_dp_clock(dp));
            e = find_slot(current(br), key);
        }
        if (br->n_used - br->n_learned >= room) {
            unlock(br);
            vs_set_error("MAC table full: at most %u static MACs with mac_limit %u", room, br->mac_limit);
            return -1;
        }
    }
    if (e) {  /* replace: remove, then insert whole, so no reader sees a mix */
        if (!e->is_static) br->n_learned--;
        atomic_store_explicit(&e->key, VS_MAC_TOMBSTONE, memory_order_release);
    }
    insert_locked(dp, br, key, (uint16_t)member_iface, 0, 1);
    unlock(br);
    return 0;
}

static void fill_info(struct vs_mac_info *out, uint64_t key, struct vs_mac_entry *e) {
    for (int b = 0; b < 6; b++) out->mac[b] = (uint8_t)(key >> (40 - 8 * b));
    out->iface = atomic_load_explicit(&e->iface, RELAXED);
    out->is_static = e->is_static;
    out->last_seen_ns = atomic_load_explicit(&e->last_seen_ns, RELAXED);
}

int vs_mac_lookup(struct vs_dp *dp, int bridge_iface, const uint8_t *mac, struct vs_mac_info *out) {
    struct vs_bridge *br = bridge_of(dp, bridge_iface);
    if (!br) return 0;
    uint64_t key = mac_key(mac);
    struct vs_mac_entry *e = find_slot(current(br), key);
    if (!e || !entry_live(br, e, vs_dp_clock(dp))) return 0;
    fill_info(out, key, e);
    return 1;
}

int vs_mac_dump(struct vs_dp *dp, int bridge_iface, struct vs_mac_info *out, int max) {
    struct vs_bridge *br = bridge_of(dp, bridge_iface);
    if (!br) return 0;
    uint64_t now = vs_dp_clock(dp);
    struct vs_mac_table *t = current(br);
    int n = 0;
    for (uint32_t i = 0; i <= t->mask && n < max; i++) {
        struct vs_mac_entry *e = &t->e[i];
        uint64_t key = atomic_load_explicit(&e->key, memory_order_acquire);
        if (!slot_used(key) || !entry_live(br, e, now)) continue;
        fill_info(&out[n++], key, e);
    }
    return n;
}

void vs_mac_flush(struct vs_dp *dp, int bridge_iface, int member_iface, int include_static) {
    struct vs_bridge *br = bridge_of(dp, bridge_iface);
    if (!br) return;
    lock(br);
    struct vs_mac_table *t = current(br);
    for (uint32_t i = 0; i <= t->mask; i++) {
        struct vs_mac_entry *e = &t->e[i];
        if (!slot_used(atomic_load_explicit(&e->key, RELAXED))) continue;
        if (member_iface >= 0 && atomic_load_explicit(&e->iface, RELAXED) != member_iface) continue;
        if (e->is_static && !include_static) continue;
        if (!e->is_static) br->n_learned--;
        atomic_store_explicit(&e->key, VS_MAC_TOMBSTONE, memory_order_release);
    }
    unlock(br);
}

/* Reload: new aging time and limit, with workers running.  Two stores under
 * the bridge's lock; a higher limit than the table was sized for first
 * rebuilds it bigger (readers keep the old one until the grace period). */
int vs_bridge_set_aging(struct vs_dp *dp, int bridge_iface, uint64_t aging_ns, uint32_t mac_limit) {
    struct vs_bridge *br = bridge_of(dp, bridge_iface);
    if (!br || mac_limit == 0) {
        vs_set_error("iface %d is not a bridge (or mac_limit 0)", bridge_iface);
        return -1;
    }
    lock(br);
    /* room for the new limit plus the statics there are (n_used - n_learned
     * also counts tombstones: a little more room than needed) */
    uint32_t statics = br->n_used - br->n_learned;
    uint32_t size = 64;
    while (size < 2ull * (mac_limit + (statics > VS_MAX_MEMBERS ? statics : VS_MAX_MEMBERS))) size <<= 1;
    if (size > current(br)->mask + 1 && rebuild_sized(dp, br, vs_dp_clock(dp), size)) {
        unlock(br);
        vs_set_error("out of memory for a MAC table of %u entries", size);
        return -1;
    }
    __atomic_store_n(&br->aging_ns, aging_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&br->mac_limit, mac_limit, __ATOMIC_RELAXED);
    unlock(br);
    return 0;
}

void vs_mac_age(struct vs_dp *dp) {
    uint64_t now = vs_dp_clock(dp);
    for (int b = 0; b < dp->n_bridges; b++) vs_mac_sweep(dp, &dp->bridges[b], now);
}

void vs_bridge_stats_get(struct vs_dp *dp, int bridge_iface, struct vs_bridge_stats *out) {
    struct vs_bridge *br = bridge_of(dp, bridge_iface);
    memset(out, 0, sizeof(*out));
    if (!br) return;
    out->learned = atomic_load_explicit(&br->stats.learned, RELAXED);
    out->moved = atomic_load_explicit(&br->stats.moved, RELAXED);
    out->limit_refused = atomic_load_explicit(&br->stats.limit_refused, RELAXED);
    out->aged = atomic_load_explicit(&br->stats.aged, RELAXED);
    /* live learned entries, counted now: the table may hold expired ones until the next sweep */
    uint64_t now = vs_dp_clock(dp);
    struct vs_mac_table *t = current(br);
    for (uint32_t i = 0; i <= t->mask; i++) {
        struct vs_mac_entry *e = &t->e[i];
        if (slot_used(atomic_load_explicit(&e->key, memory_order_acquire)) && !e->is_static &&
            entry_live(br, e, now))
            out->entries++;
    }
}
