/* gso_target.c — libFuzzer over drivers/gso.c: any virtio_net_hdr in front
 * of any frame (built by tests/fuzz/fuzz.mk `fuzz-gso`, run by
 * tests/fuzz/test_fuzz.py).
 *
 * Input: struct virtio_net_hdr (10 bytes, little-endian), the VLAN tag the
 * kernel took off (4 bytes, TPID << 16 | TCI, 0 = none), then the frame.
 * A finding is a sanitizer report or an abort() below: a segment longer
 * than a buffer, payload lost or invented, or a checksum that does not
 * verify with the plain RFC 1071 sum written here independently of gso.c.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../drivers/gso.h"

#define POOL_BUFFERS 64
#define BURST 32

static struct vs_pool pool;

/* RFC 1071, 16-bit big-endian words, byte by byte: the reference. */
static uint32_t ref_sum(uint32_t sum, const uint8_t *b, size_t n) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(b[i] << 8 | b[i + 1]);
    if (n & 1) sum += (uint32_t)b[n - 1] << 8;
    return sum;
}

static int ref_ok(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "gso fuzz: %s\n", what);
        abort();
    }
}

/* The IPv4 header and the TCP/UDP checksum of one segment verify. */
static void check_segment(const struct vs_gso *g, const uint8_t *s, uint32_t len) {
    const uint8_t *ip = s + g->l3_off, *l4 = s + g->l4_off;
    uint32_t l4_len = len - g->l4_off;
    uint32_t sum = 0;
    if (g->ip_version == 4) {
        check(ref_ok(ref_sum(0, ip, g->l4_off - g->l3_off)), "IPv4 header checksum");
        check((uint32_t)(ip[2] << 8 | ip[3]) == len - g->l3_off, "IPv4 total length");
        sum = ref_sum(sum, ip + 12, 8);
    } else {
        check((uint32_t)(ip[4] << 8 | ip[5]) == l4_len, "IPv6 payload length");
        sum = ref_sum(sum, ip + 8, 32);
        sum += l4_len >> 16;
    }
    sum += g->l4_proto + (l4_len & 0xffff);
    check(ref_ok(ref_sum(sum, l4, l4_len)), "TCP/UDP checksum");
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    if (vs_pool_init(&pool, POOL_BUFFERS)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct virtio_net_hdr vh;
    if (size < sizeof(vh) + 4) return 0;
    memcpy(&vh, data, sizeof(vh));
    uint32_t tag = (uint32_t)data[10] << 24 | (uint32_t)data[11] << 16 | (uint32_t)data[12] << 8 | data[13];
    uint32_t len = (uint32_t)(size - sizeof(vh) - 4);
    uint8_t *frame = malloc(len ? len : 1);   /* its own allocation: ASan sees any read past it */
    memcpy(frame, data + sizeof(vh) + 4, len);

    static struct vs_gso g;
    enum vs_drop_reason why;
    if (vs_gso_start(&g, frame, len, &vh, tag, &why)) {
        uint64_t payload = 0;
        while (g.active) {
            struct vs_pkt *pkts[BURST];
            uint16_t k = vs_gso_segments(&g, &pool, pkts, BURST);
            check(k > 0, "no progress with a full pool");
            for (uint16_t i = 0; i < k; i++) {
                uint8_t *s = vs_pkt_bytes(pkts[i]);
                check(pkts[i]->len <= VS_PKT_MAX_FRAME && pkts[i]->len >= g.hdr_len, "segment length");
                check(pkts[i]->len - g.hdr_len <= g.mss, "segment beyond gso_size");
                payload += pkts[i]->len - g.hdr_len;
                check_segment(&g, s, pkts[i]->len);
                vs_pool_free(&pool, pkts[i]);
            }
        }
        check(payload == g.payload_len, "payload lost or invented");
    } else {
        check(why < VS_DROP_MAX, "drop reason");
    }

    /* the same bytes as a NEEDS_CSUM frame: offsets from the header; the
     * field held the pseudo-header's sum, which the final checksum covers */
    uint32_t start = le16toh(vh.csum_start), offset = le16toh(vh.csum_offset);
    uint32_t pseudo = start + offset + 2 <= len ? ref_sum(0, frame + start + offset, 2) : 0;
    if (vs_csum_complete(frame, len, start, offset))
        check(ref_ok(ref_sum(pseudo, frame + start, len - start)), "completed checksum");
    free(frame);
    return 0;
}
