/* af_packet.c — a port on a kernel interface through a packet socket.
 *
 * rx: a TPACKET_V3 ring mmap'd from the socket, following the kernel's
 * Documentation/networking/packet_mmap.rst, sections "TPACKET versions"
 * (TPACKET_V2 --> TPACKET_V3: variable frame sizes in blocks, the block
 * timeout) and "AF_PACKET TPACKET_V3 example": the kernel fills blocks of
 * variable-length frames and hands a whole block to user space by setting
 * TP_STATUS_USER in its block descriptor (when it is full, or when the
 * retire timeout expires); we walk its frames (tp_next_offset), copy each
 * into a pool buffer, and give the block back with TP_STATUS_KERNEL.  No
 * system call per burst: rx_burst only reads the ring.
 *
 * tx: sendmmsg() with one iovec per packet, straight from the pool
 * buffers: one system call per burst, and the kernel has copied every frame
 * into its own skb when the call returns, so the buffers are freed at once.
 * A PACKET_TX_RING would cost the same copy (our buffers are not ring
 * frames) plus ring-slot bookkeeping, status polling and a send() kick.
 *
 * Offloads (PACKET_VNET_HDR): on veth (and with GRO, TSO or checksum
 * offload anywhere) the kernel hands a packet socket GSO super-frames of up
 * to 64 KB and frames whose checksum it left for an offload to fill in.
 * With PACKET_VNET_HDR each ring frame is preceded by a struct
 * virtio_net_hdr saying so (the kernel's tpacket_rcv writes it just before
 * tp_mac): super-frames are cut into gso_size segments and partial
 * checksums completed at rx (gso.c), so the pipeline only ever sees
 * frames as a wire would carry them and TCP through the port works with
 * the hosts' offloads on.  A super-frame whose segments do not all fit the
 * burst keeps its ring frame (and block) until the next rx_burst.  On tx
 * the socket then expects the header too: a zeroed one (no GSO, checksum
 * complete) goes in front of every frame.
 *
 * The socket is bound to the interface (its ifindex, ETH_P_ALL), in
 * promiscuous mode (PACKET_MR_PROMISC membership, dropped by the kernel when
 * the socket closes), and ignores what we send ourselves
 * (PACKET_IGNORE_OUTGOING).  Frames the kernel had no room for in the ring
 * (PACKET_STATISTICS tp_drops) and frames refused here (too long for a pool
 * buffer, cut short by the kernel, offload metadata that does not match the
 * frame) are folded into the port's counters when the control plane reads
 * them.
 */
#define _GNU_SOURCE  /* sendmmsg */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gso.h"

/* The kernel hands a block over when it is full or when the retire timeout
 * expires, so at low rates each block may carry a few frames only: the block
 * count is about how many milliseconds of worker stall the ring absorbs (at
 * high rates, full blocks: 16 MiB of frames).  A block must hold the largest
 * frame, GSO super-frames of up to 64 KB included (with its tpacket3_hdr
 * and virtio_net_hdr: the kernel cuts what does not fit, counted as
 * rx_truncated; BIG TCP's larger super-frames would be), and be a
 * power-of-two multiple of the page size. */
#define AFP_BLOCK_SIZE (1u << 17)     /* 128 KiB */
#define AFP_BLOCK_COUNT 128           /* 16 MiB of ring per port */
#define AFP_FRAME_SIZE 2048           /* only sizes tp_frame_nr in V3 (frames are variable-length) */
#define AFP_RETIRE_TOV_MS 1           /* a partly filled block goes to user space after 1 ms */

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23     /* Linux 4.20 */
#endif

struct afp_port {
    struct vs_port port;
    int fd;
    uint8_t *ring;
    size_t ring_size;
    unsigned block;               /* the block being read */
    bool in_block;                /* its frames are being walked */
    uint32_t pkts_left;           /* frames of it not yet read */
    uint8_t *next_frame;
    struct vs_gso gso;            /* the super-frame at next_frame being cut, when active */
    struct vs_rx_refusals refused;
    char ifname[IFNAMSIZ];
};

static inline struct tpacket_block_desc *afp_block(struct afp_port *ap, unsigned b) {
    return (struct tpacket_block_desc *)(ap->ring + (size_t)b * AFP_BLOCK_SIZE);
}

/* The 802.1Q tag the kernel took off into tp_vlan_tci (VLAN rx offload),
 * TPID << 16 | TCI, or 0: it goes back into the frame so the pipeline sees
 * the frame as it was on the wire. */
static uint32_t afp_vlan_tag(const struct tpacket3_hdr *h) {
    if (!(h->tp_status & TP_STATUS_VLAN_VALID) || h->tp_snaplen < 12) return 0;
    uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) && h->hv1.tp_vlan_tpid ? h->hv1.tp_vlan_tpid
                                                                                      : ETH_P_8021Q;
    return (uint32_t)tpid << 16 | h->hv1.tp_vlan_tci;
}

/* Copy a whole (not GSO) frame into a buffer, its tag put back and its
 * checksum completed when the kernel left it partial; false with *why set
 * when it is dropped instead. */
static bool afp_copy(struct vs_pkt *p, const struct tpacket3_hdr *h, const struct virtio_net_hdr *vh,
                     enum vs_drop_reason *why) {
    const uint8_t *src = (const uint8_t *)h + h->tp_mac;
    uint32_t len = h->tp_snaplen;
    uint32_t tag = afp_vlan_tag(h);
    uint32_t shift = tag ? 4 : 0;
    if (len + shift > VS_PKT_MAX_FRAME) {
        *why = VS_DROP_GIANT;
        return false;
    }
    uint8_t *dst = vs_pkt_bytes(p);
    if (tag) {
        memcpy(dst, src, 12);
        dst[12] = tag >> 24;
        dst[13] = (tag >> 16) & 0xff;
        dst[14] = (tag >> 8) & 0xff;
        dst[15] = tag & 0xff;
        memcpy(dst + 16, src + 12, len - 12);
    } else {
        memcpy(dst, src, len);
    }
    p->len = (uint16_t)(len + shift);
    if ((vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
        !vs_csum_complete(dst, p->len, le16toh(vh->csum_start) + shift, le16toh(vh->csum_offset))) {
        *why = VS_DROP_OFFLOAD_MALFORMED;
        return false;
    }
    return true;
}

/* Hand over what the ring frame h holds: the frame itself, or the next
 * segments of a super-frame.  Returns how many of pkts it filled; *done
 * once nothing of the frame is left (it was handed over or dropped). */
static uint16_t afp_frame(struct afp_port *ap, const struct tpacket3_hdr *h, struct vs_pkt **pkts, uint16_t room,
                          bool *done) {
    struct vs_pool *pool = ap->port.pool;
    *done = true;
    if (!ap->gso.active) {
        /* the kernel writes the header just before the frame (tpacket_rcv: netoff grows by its size) */
        const uint8_t *mac = (const uint8_t *)h + h->tp_mac;
        const struct virtio_net_hdr *vh = (const struct virtio_net_hdr *)(mac - sizeof(*vh));
        enum vs_drop_reason why;
        if (h->tp_snaplen < h->tp_len) {
            vs_rx_refused(&ap->refused, VS_DROP_RX_TRUNCATED, h->tp_len);
            return 0;
        }
        if (vh->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
            struct vs_pkt *p = vs_pool_alloc(pool);
            if (!p) {
                *done = false;  /* pool empty: the frame stays in the ring for the next poll */
                return 0;
            }
            if (!afp_copy(p, h, vh, &why)) {
                vs_pool_free(pool, p);
                vs_rx_refused(&ap->refused, why, h->tp_len);
                return 0;
            }
            pkts[0] = p;
            return 1;
        }
        if (!vs_gso_start(&ap->gso, mac, h->tp_snaplen, vh, afp_vlan_tag(h), &why)) {
            vs_rx_refused(&ap->refused, why, h->tp_len);
            return 0;
        }
    }
    uint16_t k = vs_gso_segments(&ap->gso, pool, pkts, room);
    *done = !ap->gso.active;
    return k;
}

/* The link is down (the interface vanished): the socket and ring may be
 * swapped by vs_port_af_packet_reattach, so neither is touched.  The
 * acquire pairs with the release that publishes a new socket. */
static inline bool afp_link_down(struct vs_port *port) {
    return VS_UNLIKELY(!atomic_load_explicit(&port->oper_up, memory_order_acquire));
}

static uint16_t afp_rx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n) {
    (void)q;
    struct afp_port *ap = (struct afp_port *)port;
    if (afp_link_down(port)) return 0;
    uint64_t now = 0;
    uint16_t got = 0;
    while (got < n) {
        struct tpacket_block_desc *bd = afp_block(ap, ap->block);
        if (!ap->in_block) {
            /* acquire: the block's frames are complete once we see TP_STATUS_USER */
            if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
            ap->in_block = true;
            ap->pkts_left = bd->hdr.bh1.num_pkts;
            ap->next_frame = (uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
        }
        while (ap->pkts_left && got < n) {
            const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)ap->next_frame;
            bool done;
            uint16_t k = afp_frame(ap, h, pkts + got, n - got, &done);
            if (k && !now) now = vs_now_ns();
            for (uint16_t i = 0; i < k; i++) pkts[got + i]->ts_ns = now;
            got += k;
            if (!done) {
                if (!k) return got;  /* pool empty: the rest waits in the ring for the next poll */
                continue;            /* burst full: the super-frame goes on in the next rx_burst */
            }
            ap->next_frame += h->tp_next_offset;
            ap->pkts_left--;
        }
        if (ap->pkts_left) break;  /* burst full inside the block */
        /* release: the kernel may refill the block once it sees TP_STATUS_KERNEL */
        __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        ap->in_block = false;
        ap->block = (ap->block + 1) % AFP_BLOCK_COUNT;
    }
    return got;
}

static uint16_t afp_tx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n) {
    (void)q;
    struct afp_port *ap = (struct afp_port *)port;
    if (afp_link_down(port)) return 0;  /* the caller drops and counts them */
    /* PACKET_VNET_HDR: every frame goes behind a header; zeroed = no GSO, checksum complete */
    static const struct virtio_net_hdr plain;
    struct mmsghdr msgs[VS_TX_BATCH];
    struct iovec iov[VS_TX_BATCH][2];
    uint16_t sent = 0;
    while (sent < n) {
        unsigned k = n - sent < VS_TX_BATCH ? n - sent : VS_TX_BATCH;
        for (unsigned i = 0; i < k; i++) {
            struct vs_pkt *p = pkts[sent + i];
            iov[i][0].iov_base = (void *)&plain;
            iov[i][0].iov_len = sizeof(plain);
            iov[i][1].iov_base = vs_pkt_bytes(p);
            iov[i][1].iov_len = p->len;
            memset(&msgs[i], 0, sizeof(msgs[i]));
            msgs[i].msg_hdr.msg_iov = iov[i];
            msgs[i].msg_hdr.msg_iovlen = 2;
        }
        int r = sendmmsg(ap->fd, msgs, k, MSG_DONTWAIT);
        if (r <= 0) break;  /* EAGAIN/ENOBUFS (queue full), ENETDOWN, ...: the rest is the caller's to drop */
        for (int i = 0; i < r; i++) vs_pool_free(port->pool, pkts[sent + i]);
        sent += (uint16_t)r;
        if ((unsigned)r < k) break;
    }
    return sent;
}

/* Called by the control plane when it reads the port's counters: one
 * getsockopt (which also resets the kernel's counters), no per-packet cost. */
static void afp_read_stats(struct vs_port *port, struct vs_port_stats *slow) {
    struct afp_port *ap = (struct afp_port *)port;
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof(st);
    if (getsockopt(ap->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
        slow->rx_dropped += st.tp_drops;
        slow->drops[VS_DROP_KERNEL_RX_DROPPED] += st.tp_drops;
    }
    vs_rx_refusals_fold(&ap->refused, slow);
}

static void afp_close(struct vs_port *port) {
    struct afp_port *ap = (struct afp_port *)port;
    if (ap->ring && ap->ring != MAP_FAILED) munmap(ap->ring, ap->ring_size);
    if (ap->fd >= 0) close(ap->fd);
    free(ap);
}

static int afp_fail(struct afp_port *ap, const char *what) {
    int err = errno;
    if (err == EPERM || err == EACCES)
        vs_set_error("interface %s: %s: not permitted; run as root or give CAP_NET_RAW", ap->ifname, what);
    else
        vs_set_error("interface %s: %s: %s", ap->ifname, what, strerror(err));
    return -1;
}

static int afp_setup(struct afp_port *ap) {
    /* protocol 0: nothing is received before the ring exists and bind() names the interface */
    ap->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ap->fd < 0) return afp_fail(ap, "packet socket");
    unsigned ifindex = if_nametoindex(ap->ifname);
    if (!ifindex) {
        vs_set_error("interface %s: no such interface (check with: ip link show %s)", ap->ifname, ap->ifname);
        return -1;
    }
    int v = TPACKET_V3;
    if (setsockopt(ap->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v))) return afp_fail(ap, "PACKET_VERSION V3");
    int one = 1;
    if (setsockopt(ap->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)))
        return afp_fail(ap, "PACKET_IGNORE_OUTGOING (Linux 4.20 or later)");
    /* before the ring: the kernel refuses it (EBUSY) once a ring exists */
    if (setsockopt(ap->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)))
        return afp_fail(ap, "PACKET_VNET_HDR");
    struct tpacket_req3 req = {
        .tp_block_size = AFP_BLOCK_SIZE,
        .tp_block_nr = AFP_BLOCK_COUNT,
        .tp_frame_size = AFP_FRAME_SIZE,
        .tp_frame_nr = AFP_BLOCK_SIZE / AFP_FRAME_SIZE * AFP_BLOCK_COUNT,
        .tp_retire_blk_tov = AFP_RETIRE_TOV_MS,
    };
    if (setsockopt(ap->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req))) return afp_fail(ap, "PACKET_RX_RING");
    ap->ring_size = (size_t)AFP_BLOCK_SIZE * AFP_BLOCK_COUNT;
    ap->ring = mmap(NULL, ap->ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ap->fd, 0);
    if (ap->ring == MAP_FAILED) {
        ap->ring = NULL;
        return afp_fail(ap, "mmap of the rx ring");
    }
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)ifindex};
    if (bind(ap->fd, (struct sockaddr *)&sll, sizeof(sll))) {
        if (errno == ENODEV || errno == ENXIO) {
            vs_set_error("interface %s: no such interface (check with: ip link show %s)", ap->ifname, ap->ifname);
            return -1;
        }
        return afp_fail(ap, "bind");
    }
    struct packet_mreq mr = {.mr_ifindex = (int)ifindex, .mr_type = PACKET_MR_PROMISC};
    if (setsockopt(ap->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)))
        return afp_fail(ap, "promiscuous mode");
    /* reset the drop counter: what the kernel counted before we listened is not ours */
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof(st);
    (void)getsockopt(ap->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len);
    return 0;
}

int vs_port_af_packet_open(struct vs_dp *dp, const char *name, const char *ifname, uint16_t mtu) {
    if (!ifname || !ifname[0] || strlen(ifname) >= IFNAMSIZ) {
        vs_set_error("%s: interface name must be 1-%d characters", name, IFNAMSIZ - 1);
        return -1;
    }
    struct afp_port *ap = calloc(1, sizeof(*ap));
    if (!ap) {
        vs_set_error("out of memory");
        return -1;
    }
    ap->fd = -1;
    snprintf(ap->ifname, sizeof(ap->ifname), "%s", ifname);
    struct vs_port *port = &ap->port;
    snprintf(port->name, sizeof(port->name), "%s", name);
    port->n_rxq = 1;
    port->n_txq = VS_MAX_WORKERS;  /* sendmmsg on one socket from several threads is safe: no tx lock */
    port->mtu = mtu;
    port->rx_burst = afp_rx;
    port->tx_burst = afp_tx;
    port->read_stats = afp_read_stats;
    port->close = afp_close;
    if (afp_setup(ap)) {
        afp_close(port);
        return -1;
    }
    int id = vs_port_register(dp, port);
    if (id < 0) afp_close(port);
    return id;
}

/* The interface came back (a new ifindex): build a new socket and ring
 * beside the old ones, take the link down, wait a grace period (after it no
 * worker is inside afp_rx/afp_tx with the old socket: they check oper_up
 * first), swap, close the old ones, and publish the link up again. */
int vs_port_af_packet_reattach(struct vs_dp *dp, int port_id, const char *ifname) {
    struct afp_port *ap = (struct afp_port *)vs_port_for_reattach(dp, port_id, afp_rx, "af_packet", ifname);
    if (!ap) return -1;
    struct afp_port fresh = {.fd = -1};
    snprintf(fresh.ifname, sizeof(fresh.ifname), "%s", ifname);
    if (afp_setup(&fresh)) {
        if (fresh.ring) munmap(fresh.ring, fresh.ring_size);
        if (fresh.fd >= 0) close(fresh.fd);
        return -1;
    }
    atomic_store_explicit(&ap->port.oper_up, 0, memory_order_release);
    vs_rcu_synchronize(dp);
    if (ap->ring) munmap(ap->ring, ap->ring_size);
    if (ap->fd >= 0) close(ap->fd);
    ap->fd = fresh.fd;
    ap->ring = fresh.ring;
    ap->ring_size = fresh.ring_size;
    ap->block = 0;
    ap->in_block = false;
    ap->pkts_left = 0;
    ap->next_frame = NULL;
    ap->gso.active = false;  /* its super-frame was in the old ring */
    memcpy(ap->ifname, fresh.ifname, sizeof(ap->ifname));
    atomic_store_explicit(&ap->port.oper_up, 1, memory_order_release);
    return 0;
}
