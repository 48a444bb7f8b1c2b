/* gso.c — software segmentation and checksum completion for frames a
 * kernel hands over with a virtio_net_hdr (see gso.h).
 *
 * A TCP super-frame (VIRTIO_NET_HDR_GSO_TCPV4/TCPV6) becomes the segments
 * the sender's wire would have carried without the offload: gso_size bytes
 * of payload each behind a copy of the headers, with per segment
 *   IPv4: total length, id + i, header checksum; IPv6: payload length;
 *   TCP: sequence number advanced, FIN and PSH on the last segment only,
 *        CWR on the first only (what VIRTIO_NET_HDR_GSO_ECN asks), the full
 *        checksum over the pseudo-header, header and payload.
 * UDP GSO (VIRTIO_NET_HDR_GSO_UDP_L4, UDP_SEGMENT senders) likewise: one
 * datagram per gso_size bytes, its length and checksum set.  UFO
 * (VIRTIO_NET_HDR_GSO_UDP: one datagram to be cut into IP fragments), IPv6
 * extension headers and unknown types are dropped as gso_unsupported.
 *
 * Checksums are summed in the machine's byte order over the bytes as they
 * lie in memory (the one's-complement sum does not depend on the order,
 * RFC 1071 §2(B)).  Measured on the 2-core AMD EPYC KVM guest (a 64 KB
 * super-frame cut 20000 times, gcc -O2 x86-64-v2): a 1448-byte TCP segment
 * costs ~225 ns (header and payload copy, IPv4 and TCP checksums), of which
 * ~105 ns is the TCP checksum; summing 4 bytes at a time it was ~360 ns.
 */
#include <endian.h>
#include <netinet/in.h>

#include "gso.h"

#define ETH_ADDRS_LEN 12           /* destination and source MAC */
#define ETH_TYPE_8021AD 0x88a8     /* a service tag (QinQ outer) */
#define ETH_TYPE_IPV6 0x86dd
#define GSO_MAX_TAGS 2             /* tags in the frame itself, beyond which it is not parsed */
#define IPV4_MIN_HDR 20
#define IPV6_HDR 40
#define TCP_MIN_HDR 20
#define UDP_HDR 8
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_CWR 0x80

static inline uint16_t rd16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }
static inline uint32_t rd32(const uint8_t *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}
static inline void wr16(uint8_t *b, uint16_t v) {
    b[0] = v >> 8;
    b[1] = v & 0xff;
}
static inline void wr32(uint8_t *b, uint32_t v) {
    wr16(b, v >> 16);
    wr16(b + 2, v & 0xffff);
}

/* The one's-complement sum of n bytes, added to sum (folded to 32 bits,
 * not to 16).  8 bytes at a time in two accumulators with their carries
 * counted apart (end-around carry, RFC 1071 §2(C)), so the two chains
 * overlap. */
static uint64_t csum_add(uint64_t sum, const uint8_t *b, size_t n) {
    uint64_t s0 = sum, s1 = 0, c0 = 0, c1 = 0;
    for (; n >= 16; b += 16, n -= 16) {
        uint64_t w0, w1;
        memcpy(&w0, b, 8);
        memcpy(&w1, b + 8, 8);
        s0 += w0;
        c0 += s0 < w0;
        s1 += w1;
        c1 += s1 < w1;
    }
    if (n >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        s1 += w;
        c1 += s1 < w;
        b += 8;
        n -= 8;
    }
    /* fold the 64-bit sums and their carries into a 32-bit quantity's worth */
    uint64_t folded = (s0 & 0xffffffff) + (s0 >> 32) + (s1 & 0xffffffff) + (s1 >> 32) + c0 + c1;
    if (n >= 4) {
        uint32_t w;
        memcpy(&w, b, 4);
        folded += w;
        b += 4;
        n -= 4;
    }
    if (n >= 2) {
        uint16_t w;
        memcpy(&w, b, 2);
        folded += w;
        b += 2;
        n -= 2;
    }
    if (n) {
        uint16_t w = 0;  /* the odd byte, padded with a zero after it */
        memcpy(&w, b, 1);
        folded += w;
    }
    return (folded & 0xffffffff) + (folded >> 32);
}

/* The final checksum field value of a sum, in memory order. */
static uint16_t csum_fold(uint64_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static inline void csum_store(uint8_t *field, uint16_t c) { memcpy(field, &c, 2); }

/* Sum of the TCP/UDP pseudo-header for an L4 segment of l4_len bytes. */
static uint64_t pseudo_sum(const uint8_t *ip, uint8_t version, uint8_t proto, uint32_t l4_len) {
    uint8_t tail[8] = {0};  /* IPv4: zero, protocol, length; IPv6: 32-bit length, 3 zeros, next header */
    uint64_t sum;
    if (version == 4) {
        sum = csum_add(0, ip + 12, 8);
        tail[1] = proto;
        wr16(tail + 2, (uint16_t)l4_len);
        return csum_add(sum, tail, 4);
    }
    sum = csum_add(0, ip + 8, 32);
    wr32(tail, l4_len);
    tail[7] = proto;
    return csum_add(sum, tail, 8);
}

bool vs_csum_complete(uint8_t *frame, uint32_t len, uint32_t start, uint32_t offset) {
    /* an odd offset would put the field across the summed words (TCP's is 16, UDP's 6) */
    if (start >= len || offset + 2 > len - start || (offset & 1)) return false;
    uint16_t c = csum_fold(csum_add(0, frame + start, len - start));
    csum_store(frame + start + offset, c ? c : 0xffff);  /* as Linux does: 0 means "no checksum" to UDP */
    return true;
}

/* Copy the frame's Ethernet header (the kernel's tag put back) into g->hdr;
 * returns its EtherType and sets *l2_in (its length in the frame), or 0. */
static uint16_t gso_copy_l2(struct vs_gso *g, const uint8_t *frame, uint32_t len, uint32_t vlan_tag,
                            uint32_t *l2_in) {
    if (len < VS_ETH_HLEN) return 0;
    memcpy(g->hdr, frame, ETH_ADDRS_LEN);
    uint16_t out = ETH_ADDRS_LEN, in = ETH_ADDRS_LEN;
    if (vlan_tag) {
        wr32(g->hdr + out, vlan_tag);
        out += 4;
    }
    uint16_t type = rd16(frame + in);
    for (int tags = 0; type == VS_ETHERTYPE_VLAN || type == ETH_TYPE_8021AD; tags++) {
        if (tags == GSO_MAX_TAGS || in + 6u > len) return 0;
        memcpy(g->hdr + out, frame + in, 4);
        out += 4;
        in += 4;
        type = rd16(frame + in);
    }
    wr16(g->hdr + out, type);
    g->l3_off = out + 2;
    *l2_in = in + 2u;
    return type;
}

bool vs_gso_start(struct vs_gso *g, const uint8_t *frame, uint32_t len, const struct virtio_net_hdr *vh,
                  uint32_t vlan_tag, enum vs_drop_reason *why) {
    g->active = false;
    *why = VS_DROP_OFFLOAD_MALFORMED;
    uint8_t kind = vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    if (kind != VIRTIO_NET_HDR_GSO_TCPV4 && kind != VIRTIO_NET_HDR_GSO_TCPV6 && kind != VIRTIO_NET_HDR_GSO_UDP_L4) {
        *why = VS_DROP_GSO_UNSUPPORTED;
        return false;
    }
    g->mss = le16toh(vh->gso_size);
    uint32_t l2_in;
    uint16_t type = gso_copy_l2(g, frame, len, vlan_tag, &l2_in);
    if (!g->mss || !type) return false;
    uint32_t shift = g->l3_off - l2_in;  /* bytes of tag put back in front of L3 */
    const uint8_t *ip = frame + l2_in;
    uint32_t ip_room = len - l2_in;
    uint32_t ip_hdr;
    if (type == VS_ETHERTYPE_IPV4 && kind != VIRTIO_NET_HDR_GSO_TCPV6) {
        if (ip_room < IPV4_MIN_HDR || ip[0] >> 4 != 4) return false;
        ip_hdr = (ip[0] & 0x0f) * 4u;
        if (ip_hdr < IPV4_MIN_HDR || (rd16(ip + 6) & 0x3fff)) return false;  /* short IHL, or a fragment */
        g->ip_version = 4;
        g->l4_proto = ip[9];
    } else if (type == ETH_TYPE_IPV6 && kind != VIRTIO_NET_HDR_GSO_TCPV4) {
        if (ip_room < IPV6_HDR || ip[0] >> 4 != 6) return false;
        ip_hdr = IPV6_HDR;
        g->ip_version = 6;
        g->l4_proto = ip[6];
        if (g->l4_proto != IPPROTO_TCP && g->l4_proto != IPPROTO_UDP) {
            *why = VS_DROP_GSO_UNSUPPORTED;  /* extension headers: not walked */
            return false;
        }
    } else {
        return false;  /* the EtherType does not match the GSO type */
    }
    if (g->l4_proto != (kind == VIRTIO_NET_HDR_GSO_UDP_L4 ? IPPROTO_UDP : IPPROTO_TCP)) return false;
    uint32_t l4_in = l2_in + ip_hdr;
    uint32_t l4_hdr = UDP_HDR;
    if (g->l4_proto == IPPROTO_TCP) {
        if (l4_in + TCP_MIN_HDR > len) return false;
        l4_hdr = (frame[l4_in + 12] >> 4) * 4u;
        if (l4_hdr < TCP_MIN_HDR) return false;
    }
    uint32_t hdr_in = l4_in + l4_hdr;
    if (hdr_in > len || hdr_in + shift > VS_GSO_MAX_HDR) return false;
    g->l4_off = (uint16_t)(l4_in + shift);
    g->hdr_len = (uint16_t)(hdr_in + shift);
    memcpy(g->hdr + g->l3_off, ip, hdr_in - l2_in);
    g->payload = frame + hdr_in;
    g->payload_len = len - hdr_in;
    uint32_t first = g->payload_len < g->mss ? g->payload_len : g->mss;
    if (g->hdr_len + first > VS_PKT_MAX_FRAME) {
        *why = VS_DROP_GIANT;  /* gso_size beyond a pool buffer: an MTU above what the appliance carries */
        return false;
    }
    g->seg = 0;
    g->done = 0;
    g->active = true;
    return true;
}

/* Fill one segment of n payload bytes (the last one when last) into dst. */
static void gso_fill(const struct vs_gso *g, uint8_t *dst, uint32_t n, bool last) {
    memcpy(dst, g->hdr, g->hdr_len);
    memcpy(dst + g->hdr_len, g->payload + g->done, n);
    uint8_t *ip = dst + g->l3_off, *l4 = dst + g->l4_off;
    uint32_t l4_len = g->hdr_len - g->l4_off + n;
    if (g->ip_version == 4) {
        uint32_t ip_hdr = g->l4_off - g->l3_off;
        wr16(ip + 2, (uint16_t)(ip_hdr + l4_len));
        wr16(ip + 4, (uint16_t)(rd16(ip + 4) + g->seg));
        wr16(ip + 10, 0);
        csum_store(ip + 10, csum_fold(csum_add(0, ip, ip_hdr)));
    } else {
        wr16(ip + 4, (uint16_t)l4_len);
    }
    uint8_t *csum;
    if (g->l4_proto == IPPROTO_TCP) {
        wr32(l4 + 4, rd32(l4 + 4) + g->done);
        if (!last) l4[13] &= ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
        if (g->seg) l4[13] &= ~TCP_FLAG_CWR;
        csum = l4 + 16;
    } else {
        wr16(l4 + 4, (uint16_t)l4_len);
        csum = l4 + 6;
    }
    wr16(csum, 0);
    uint16_t c = csum_fold(csum_add(pseudo_sum(ip, g->ip_version, g->l4_proto, l4_len), l4, l4_len));
    csum_store(csum, c || g->l4_proto == IPPROTO_TCP ? c : 0xffff);  /* UDP: 0 would mean "no checksum" */
}

uint16_t vs_gso_segments(struct vs_gso *g, struct vs_pool *pool, struct vs_pkt **pkts, uint16_t n) {
    uint16_t k = 0;
    while (g->active && k < n) {
        struct vs_pkt *p = vs_pool_alloc(pool);
        if (!p) break;
        uint32_t left = g->payload_len - g->done;
        uint32_t seglen = left < g->mss ? left : g->mss;
        bool last = seglen == left;
        gso_fill(g, vs_pkt_bytes(p), seglen, last);
        p->len = (uint16_t)(g->hdr_len + seglen);
        pkts[k++] = p;
        g->done += seglen;
        g->seg++;
        g->active = !last;
    }
    return k;
}
