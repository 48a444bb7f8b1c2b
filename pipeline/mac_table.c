/* mac_table.c — one open-addressing hash per bridge, keyed by MAC.
 *
 * Linear probing over a power-of-two table at most half full (sized from
 * mac_limit), so a lookup touches one or two cache lines.  Deletes leave
 * tombstones so a reader walking a probe chain never sees it cut short;
 * the table is rebuilt when tombstones pile up.  An entry older than the
 * bridge's aging time reads as absent at once, so aging is exact to the
 * frame even between sweeps.
 */
#include <stdlib.h>

#include "vs.h"

/* Bit 48 marks a key as present: 00:00:00:00:00:00 must not read as the
 * empty slot (key 0).  fill_info's uint8_t casts drop it again. */
static inline uint64_t mac_key(const uint8_t *m) {
    return (1ull << 48) | ((uint64_t)m[0] << 40) | ((uint64_t)m[1] << 32) | ((uint64_t)m[2] << 24) |
           ((uint64_t)m[3] << 16) | ((uint64_t)m[4] << 8) | m[5];
}

static inline uint32_t mac_hash(uint64_t key) {
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32);
}

static inline bool entry_live(const struct vs_bridge *br, const struct vs_mac_entry *e, uint64_t now) {
    return e->is_static || br->aging_ns == 0 || now - e->last_seen_ns <= br->aging_ns;
}

int vs_bridge_table_init(struct vs_bridge *br) {
    uint32_t size = 64;
    while (size < 2ull * (br->mac_limit + VS_MAX_MEMBERS)) size <<= 1;
    br->table = calloc(size, sizeof(*br->table));
    if (!br->table) {
        vs_set_error("out of memory for a MAC table of %u entries", size);
        return -1;
    }
    br->mask = size - 1;
    br->n_used = br->n_learned = 0;
    return 0;
}

void vs_bridge_table_fini(struct vs_bridge *br) {
    free(br->table);
    br->table = NULL;
}

static struct vs_mac_entry *find_slot(struct vs_bridge *br, uint64_t key) {
    for (uint32_t i = mac_hash(key) & br->mask;; i = (i + 1) & br->mask) {
        struct vs_mac_entry *e = &br->table[i];
        if (e->key == key) return e;
        if (e->key == 0) return NULL;
    }
}

struct vs_mac_entry *vs_mac_find(struct vs_bridge *br, const uint8_t *mac, uint64_t now_ns) {
    struct vs_mac_entry *e = find_slot(br, mac_key(mac));
    return e && entry_live(br, e, now_ns) ? e : NULL;
}

/* Reinsert every live entry: drops tombstones and expired entries. */
static void rebuild(struct vs_bridge *br, uint64_t now_ns) {
    uint32_t size = br->mask + 1;
    struct vs_mac_entry *old = br->table;
    struct vs_mac_entry *fresh = calloc(size, sizeof(*fresh));
    if (!fresh) return;  /* keep the old table: still correct, only slower */
    br->n_used = br->n_learned = 0;
    for (uint32_t i = 0; i < size; i++) {
        struct vs_mac_entry *e = &old[i];
        if (e->key == 0 || e->key == VS_MAC_TOMBSTONE) continue;
        if (!entry_live(br, e, now_ns)) {
            br->stats.aged++;
            continue;
        }
        uint32_t j = mac_hash(e->key) & br->mask;
        while (fresh[j].key) j = (j + 1) & br->mask;
        fresh[j] = *e;
        br->n_used++;
        if (!e->is_static) br->n_learned++;
    }
    br->table = fresh;
    free(old);
}

static struct vs_mac_entry *insert_slot(struct vs_bridge *br, uint64_t key, uint64_t now_ns) {
    if (br->n_used + 1 > (br->mask + 1) / 2) rebuild(br, now_ns);
    uint32_t i = mac_hash(key) & br->mask;
    struct vs_mac_entry *tomb = NULL;
    for (;; i = (i + 1) & br->mask) {
        struct vs_mac_entry *e = &br->table[i];
        if (e->key == 0) break;
        if (e->key == VS_MAC_TOMBSTONE && !tomb) tomb = e;
    }
    struct vs_mac_entry *slot = tomb ? tomb : &br->table[i];
    if (!tomb) br->n_used++;
    slot->key = key;
    return slot;
}

void vs_mac_learn(struct vs_bridge *br, const uint8_t *mac, uint16_t iface, uint64_t now_ns) {
    uint64_t key = mac_key(mac);
    struct vs_mac_entry *e = find_slot(br, key);
    if (e) {
        if (e->is_static) return;
        if (!entry_live(br, e, now_ns)) {
            br->stats.aged++;
            br->stats.learned++;
        } else if (e->iface != iface) {
            br->stats.moved++;
        }
        e->iface = iface;
        e->last_seen_ns = now_ns;
        return;
    }
    if (br->n_learned >= br->mac_limit) {
        vs_mac_sweep(br, now_ns);  /* expired entries do not count against the limit */
        if (br->n_learned >= br->mac_limit) {
            br->stats.limit_refused++;
            return;
        }
    }
    e = insert_slot(br, key, now_ns);
    e->iface = iface;
    e->last_seen_ns = now_ns;
    e->is_static = 0;
    br->n_learned++;
    br->stats.learned++;
}

void vs_mac_sweep(struct vs_bridge *br, uint64_t now_ns) {
    for (uint32_t i = 0; i <= br->mask; i++) {
        struct vs_mac_entry *e = &br->table[i];
        if (e->key == 0 || e->key == VS_MAC_TOMBSTONE || entry_live(br, e, now_ns)) continue;
        e->key = VS_MAC_TOMBSTONE;
        br->n_learned--;
        br->stats.aged++;
    }
    if (br->n_used - br->n_learned > (br->mask + 1) / 4) rebuild(br, now_ns);
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
    struct vs_mac_entry *e = find_slot(br, key);
    if (e && !e->is_static) br->n_learned--;
    if (!e) e = insert_slot(br, key, dp->clock_ns);
    e->iface = member_iface;
    e->is_static = 1;
    e->last_seen_ns = 0;
    return 0;
}

static void fill_info(struct vs_mac_info *out, const struct vs_mac_entry *e) {
    for (int b = 0; b < 6; b++) out->mac[b] = (uint8_t)(e->key >> (40 - 8 * b));
    out->iface = e->iface;
    out->is_static = e->is_static;
    out->last_seen_ns = e->last_seen_ns;
}

int vs_mac_lookup(struct vs_dp *dp, int bridge_iface, const uint8_t *mac, struct vs_mac_info *out) {
    struct vs_bridge *br = bridge_of(dp, bridge_iface);
    if (!br) return 0;
    struct vs_mac_entry *e = vs_mac_find(br, mac, vs_dp_clock(dp));
    if (!e) return 0;
    fill_info(out, e);
    return 1;
}

int vs_mac_dump(struct vs_dp *dp, int bridge_iface, struct vs_mac_info *out, int max) {
    struct vs_bridge *br = bridge_of(dp, bridge_iface);
    if (!br) return 0;
    uint64_t now = vs_dp_clock(dp);
    int n = 0;
    for (uint32_t i = 0; i <= br->mask && n < max; i++) {
        struct vs_mac_entry *e = &br->table[i];
        if (e->key == 0 || e->key == VS_MAC_TOMBSTONE || !entry_live(br, e, now)) continue;
        fill_info(&out[n++], e);
    }
    return n;
}

void vs_mac_flush(struct vs_dp *dp, int bridge_iface, int member_iface, int include_static) {
    struct vs_bridge *br = bridge_of(dp, bridge_iface);
    if (!br) return;
    for (uint32_t i = 0; i <= br->mask; i++) {
        struct vs_mac_entry *e = &br->table[i];
        if (e->key == 0 || e->key == VS_MAC_TOMBSTONE) continue;
        if (member_iface >= 0 && e->iface != member_iface) continue;
        if (e->is_static && !include_static) continue;
        if (!e->is_static) br->n_learned--;
        e->key = VS_MAC_TOMBSTONE;
    }
}

void vs_mac_age(struct vs_dp *dp) {
    uint64_t now = vs_dp_clock(dp);
    for (int b = 0; b < dp->n_bridges; b++) vs_mac_sweep(&dp->bridges[b], now);
}

void vs_bridge_stats_get(struct vs_dp *dp, int bridge_iface, struct vs_bridge_stats *out) {
    struct vs_bridge *br = bridge_of(dp, bridge_iface);
    memset(out, 0, sizeof(*out));
    if (!br) return;
    *out = br->stats;
    out->entries = br->n_learned;
}
