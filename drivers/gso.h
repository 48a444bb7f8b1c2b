/* gso.h — frames a kernel hands over with a struct virtio_net_hdr in front
 * (packet sockets with PACKET_VNET_HDR, taps with IFF_VNET_HDR): GSO
 * super-frames cut into wire-sized segments, partial checksums completed.
 */
#ifndef VS_GSO_H
#define VS_GSO_H

#include <linux/virtio_net.h>

#include "../pipeline/vs.h"

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5   /* UDP GSO in the vnet header: Linux 6.2 */
#endif

/* Room for every segment's headers: Ethernet with two tags (22), IPv4
 * with options (60) or IPv6 (40), TCP with options (60). */
#define VS_GSO_MAX_HDR 160

/* One super-frame being cut.  It is read in place (the caller keeps its
 * bytes where they are until `active` goes false), so a super-frame that
 * does not fit one rx burst goes on in the next. */
struct vs_gso {
    bool active;              /* segments are left to hand over */
    uint8_t l4_proto;         /* IPPROTO_TCP or IPPROTO_UDP */
    uint8_t ip_version;       /* 4 or 6 */
    uint16_t hdr_len;         /* bytes of hdr: every segment starts with them */
    uint16_t l3_off, l4_off;  /* in hdr */
    uint16_t mss;             /* payload bytes per segment (the last may be shorter) */
    uint16_t seg;             /* segments handed over so far */
    uint32_t done;            /* payload bytes handed over so far */
    uint32_t payload_len;
    const uint8_t *payload;   /* in the caller's frame */
    uint8_t hdr[VS_GSO_MAX_HDR];
};

/* Begin cutting `frame` (len bytes, as the kernel left it: any 802.1Q tag
 * it took off is `vlan_tag`, TPID << 16 | TCI, or 0 when there was none;
 * it goes back in every segment).  False with *why set when the frame is
 * dropped instead. */
bool vs_gso_start(struct vs_gso *g, const uint8_t *frame, uint32_t len, const struct virtio_net_hdr *vh,
                  uint32_t vlan_tag, enum vs_drop_reason *why);

/* Up to n next segments in buffers from pool; fewer when the pool runs
 * dry.  g->active goes false with the last one. */
uint16_t vs_gso_segments(struct vs_gso *g, struct vs_pool *pool, struct vs_pkt **pkts, uint16_t n);

/* VIRTIO_NET_HDR_F_NEEDS_CSUM: the checksum at start + offset holds the
 * pseudo-header sum only; fold the bytes from start to the end into it.
 * False when the offsets do not fit the frame (or the field is not on a
 * 16-bit boundary from start). */
bool vs_csum_complete(uint8_t *frame, uint32_t len, uint32_t start, uint32_t offset);

#endif
