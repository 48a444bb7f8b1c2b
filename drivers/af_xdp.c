/* af_xdp.c — a port on a kernel interface through AF_XDP sockets.
 *
 * Following the kernel's Documentation/networking/af_xdp.rst: one AF_XDP
 * socket per rx queue, each with a UMEM, a fill and a completion ring, an
 * rx and a tx ring, all shared with the kernel through mmap.  An XDP
 * program on the interface redirects each rx queue's frames to that queue's
 * socket through an XSKMAP (queues without a socket go to the kernel stack).
 *
 * UMEM: every socket registers the whole packet pool (pool.c: one
 * page-aligned region of 2 KiB buffers) as its UMEM, with 2 KiB chunks, so a
 * UMEM address is a buffer's offset in the pool, the same for every socket
 * and every port: a frame received on any port goes straight onto an
 * af_xdp tx ring, and a received frame is a pool buffer like any other.  The
 * kernel writes received data XDP_PACKET_HEADROOM (256) bytes into a chunk,
 * after our metadata line and with room to push tags; so a buffer holds at
 * most VS_PKT_BUF_SIZE - 256 = 1792 bytes of frame, and the kernel drops
 * longer frames itself (counted in XDP_STATISTICS rx_dropped).
 *
 * Rings: the worker that owns an rx queue reads its rx ring and keeps its
 * fill ring topped up from its pool cache; whoever transmits on a socket
 * (one worker, or several under the core's tx lock) fills its tx ring and
 * gives completed buffers back to the pool.  With XDP_USE_NEED_WAKEUP the
 * kernel is only poked (sendto/recvfrom, MSG_DONTWAIT) when a ring's flag
 * asks for it.  Each socket remembers in two bitmaps which buffers it gave
 * to the kernel (fill→rx, tx→completion), so that a re-attach, which drops
 * the old sockets, gives exactly those back to the pool.
 *
 * Loading: no libbpf.  The bpf(2) system call creates the XSKMAP and loads a
 * six-instruction program; BPF_LINK_CREATE attaches it (driver mode, else
 * generic mode), so it detaches by itself when the link fd closes, at exit
 * or on a crash.  Needs Linux 5.9 or later (XDP links); no netlink
 * (IFLA_XDP) fallback for older kernels.  Sockets are bound asking for
 * neither mode: the kernel gives zero-copy where the driver offers it, else
 * copy mode (veth).
 *
 * AF_XDP carries no checksum metadata and no GSO: a host that leaves TCP/UDP
 * checksums to offload sends us frames with partial checksums, and
 * `fix_checksums` recomputes them all (which ones are partial cannot be
 * known); super-frames do not fit a buffer and are dropped by the kernel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../pipeline/vs.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

/* Ring sizes (powers of two).  Each rx queue lends the kernel at most
 * VS_AF_XDP_FILL_RING (vs_api.h) buffers to receive into, counted from the
 * fill ring until we read them off the rx ring: they are out of the pool
 * while the socket lives (the appliance makes the pool that much bigger),
 * and the rx ring, as big, never overflows.  2048 buffers (4 MiB) absorb a
 * worker stall of 2 ms at 1 Mpps. */
#define XDP_FILL_SIZE VS_AF_XDP_FILL_RING
#define XDP_RX_SIZE VS_AF_XDP_FILL_RING
#define XDP_TX_SIZE 1024
#define XDP_COMP_SIZE 2048
#define XDP_FILL_BATCH 64              /* refill once this many fill slots are free */
#define XDP_CHUNK VS_PKT_BUF_SIZE      /* one UMEM chunk is one pool buffer */
#define XDP_DATA_OFF 256               /* XDP_PACKET_HEADROOM: where the kernel puts rx data */
#define XDP_KICKS_PER_BURST 4          /* copy mode sends at most 32 frames per sendto */
#define XDP_PROG_LICENSE "GPL"         /* the loader wants one; GPL-compatible keeps every helper usable */

_Static_assert(XDP_DATA_OFF >= VS_PKT_META_SIZE + 4, "rx data lands after the metadata, room for a tag");

struct xdp_ring {
    _Atomic uint32_t *prod, *cons;
    uint32_t *flags;
    void *descs;
    uint32_t mask;
    uint32_t cached_prod, cached_cons;   /* our view: the end we own, the other end as last read */
    void *map;
    size_t map_len;
};

struct xdp_sock {
    int fd;
    struct xdp_ring fill, comp, rx, tx;
    uint32_t n_lent_rx;    /* buffers in the fill and rx rings (rx worker) */
    uint64_t *lent_rx;     /* bitmaps over pool buffers: in the fill or rx ring (rx worker) */
    uint64_t *lent_tx;     /* in the tx or completion ring (tx path) */
    struct xdp_statistics folded;   /* what read_stats already counted */
};

struct xdp_attach {
    unsigned ifindex;
    int map_fd, prog_fd, link_fd;
    bool zerocopy, generic;
    uint16_t n_socks;
    struct xdp_sock socks[VS_MAX_QUEUES];
};

struct xdp_port {
    struct vs_port port;
    struct xdp_attach at;
    bool fix_checksums;
    struct xdp_statistics carried;   /* counted on sockets a re-attach closed, not yet folded */
};

/* ---- buffers <-> UMEM addresses -------------------------------------------- */

static inline uint64_t umem_addr(struct vs_pool *pool, struct vs_pkt *p) {
    return (uint64_t)((uint8_t *)p - pool->mem);
}

static inline struct vs_pkt *umem_pkt(struct vs_pool *pool, uint64_t addr) {
    return (struct vs_pkt *)(pool->mem + (addr & ~(uint64_t)(XDP_CHUNK - 1)));
}

static inline void lend(uint64_t *map, uint32_t i) { map[i / 64] |= 1ull << (i % 64); }
static inline void unlend(uint64_t *map, uint32_t i) { map[i / 64] &= ~(1ull << (i % 64)); }

/* ---- rings: we produce fill and tx, consume rx and completion -------------- */

static inline uint32_t ring_free(struct xdp_ring *r, uint32_t want) {
    uint32_t size = r->mask + 1;
    uint32_t free = size - (r->cached_prod - r->cached_cons);
    if (free < want) {
        r->cached_cons = atomic_load_explicit(r->cons, memory_order_acquire);
        free = size - (r->cached_prod - r->cached_cons);
    }
    return free < want ? free : want;
}

static inline void ring_submit(struct xdp_ring *r) {
    atomic_store_explicit(r->prod, r->cached_prod, memory_order_release);
}

static inline uint32_t ring_ready(struct xdp_ring *r, uint32_t want) {
    uint32_t ready = r->cached_prod - r->cached_cons;
    if (!ready) {
        r->cached_prod = atomic_load_explicit(r->prod, memory_order_acquire);
        ready = r->cached_prod - r->cached_cons;
    }
    return ready < want ? ready : want;
}

static inline void ring_release(struct xdp_ring *r) {
    atomic_store_explicit(r->cons, r->cached_cons, memory_order_release);
}

static inline bool ring_needs_wakeup(struct xdp_ring *r) {
    return atomic_load_explicit((_Atomic uint32_t *)r->flags, memory_order_relaxed) & XDP_RING_NEED_WAKEUP;
}

/* ---- the data path ------------------------------------------------------------ */

static inline bool xdp_link_down(struct vs_port *port) {
    return VS_UNLIKELY(!atomic_load_explicit(&port->oper_up, memory_order_acquire));
}

/* Lend buffers to the kernel for receiving, as many as the fill ring takes. */
static void fill_top_up(struct vs_port *port, struct xdp_sock *s) {
    uint32_t n = ring_free(&s->fill, XDP_FILL_SIZE - s->n_lent_rx);
    if (n < XDP_FILL_BATCH && s->n_lent_rx) return;
    uint32_t put = 0;
    uint64_t *slots = s->fill.descs;
    for (; put < n; put++) {
        struct vs_pkt *p = vs_pool_alloc(port->pool);
        if (!p) break;
        lend(s->lent_rx, p->pool_index);
        slots[(s->fill.cached_prod + put) & s->fill.mask] = umem_addr(port->pool, p);
    }
    if (!put) return;
    s->n_lent_rx += put;
    s->fill.cached_prod += put;
    ring_submit(&s->fill);
    if (ring_needs_wakeup(&s->fill)) recvfrom(s->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
}

static inline uint16_t csum_fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *b, uint32_t len) {
    for (; len > 1; len -= 2, b += 2) sum += (uint32_t)(b[0] << 8 | b[1]);
    if (len) sum += (uint32_t)b[0] << 8;
    return sum;
}

/* fix_checksums: the full TCP or UDP checksum of an unfragmented IPv4
 * packet (untagged or with one 802.1Q tag), recomputed over the
 * pseudo-header and the segment.  A UDP checksum of 0 means "none" and is
 * left so.  Measured: about 430 TSC cycles per 1480-byte segment (gcc -O2,
 * x86-64-v2, the 2-core EPYC guest); summing 64-bit words was 335, not
 * worth the byte-order care. */
static void fix_l4_checksum(struct vs_pkt *p) {
    uint8_t *eth = vs_pkt_bytes(p);
    unsigned l2 = VS_ETH_HLEN;
    if (p->len >= VS_ETH_HLEN + 4 && eth[12] == 0x81 && eth[13] == 0x00) l2 += 4;
    if (p->len < l2 + 20 || eth[l2 - 2] != 0x08 || eth[l2 - 1] != 0x00) return;
    uint8_t *ip = eth + l2;
    unsigned hlen = (ip[0] & 0x0f) * 4u;
    unsigned total = (unsigned)(ip[2] << 8 | ip[3]);
    if ((ip[0] >> 4) != 4 || hlen < 20 || total < hlen || total > p->len - l2) return;
    if ((ip[6] & 0x3f) || ip[7]) return;   /* a fragment (MF or an offset): no whole segment here */
    uint8_t proto = ip[9];
    unsigned seg = total - hlen;
    uint8_t *l4 = ip + hlen;
    unsigned at;   /* where the checksum is in the TCP or UDP header */
    if (proto == IPPROTO_TCP && seg >= 20) at = 16;
    else if (proto == IPPROTO_UDP && seg >= 8 && (l4[6] | l4[7])) at = 6;
    else return;
    l4[at] = l4[at + 1] = 0;
    uint32_t sum = csum_add(0, ip + 12, 8) + proto + seg;
    uint16_t c = (uint16_t)~csum_fold(csum_add(sum, l4, seg));
    if (proto == IPPROTO_UDP && !c) c = 0xffff;   /* 0 would say "no checksum" */
    l4[at] = c >> 8;
    l4[at + 1] = c & 0xff;
}

static uint16_t xdp_rx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n) {
    struct xdp_port *xp = (struct xdp_port *)port;
    if (xdp_link_down(port)) return 0;
    struct xdp_sock *s = &xp->at.socks[q];
    uint32_t got = ring_ready(&s->rx, n);
    const struct xdp_desc *descs = s->rx.descs;
    uint64_t now = got ? vs_now_ns() : 0;
    for (uint32_t i = 0; i < got; i++) {
        const struct xdp_desc *d = &descs[(s->rx.cached_cons + i) & s->rx.mask];
        struct vs_pkt *p = umem_pkt(port->pool, d->addr);
        unlend(s->lent_rx, p->pool_index);
        p->data_off = (uint16_t)(d->addr & (XDP_CHUNK - 1));
        p->len = (uint16_t)d->len;
        p->ts_ns = now;
        if (xp->fix_checksums) fix_l4_checksum(p);
        pkts[i] = p;
    }
    if (got) {
        s->n_lent_rx -= got;
        s->rx.cached_cons += got;
        ring_release(&s->rx);
    }
    fill_top_up(port, s);
    return (uint16_t)got;
}

/* Buffers the kernel has sent go back to the pool. */
static void comp_reap(struct vs_port *port, struct xdp_sock *s) {
    uint32_t done = ring_ready(&s->comp, XDP_COMP_SIZE);
    const uint64_t *addrs = s->comp.descs;
    for (uint32_t i = 0; i < done; i++) {
        struct vs_pkt *p = umem_pkt(port->pool, addrs[(s->comp.cached_cons + i) & s->comp.mask]);
        unlend(s->lent_tx, p->pool_index);
        vs_pool_free(port->pool, p);
    }
    if (done) {
        s->comp.cached_cons += done;
        ring_release(&s->comp);
    }
}

static uint16_t xdp_tx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n) {
    struct xdp_port *xp = (struct xdp_port *)port;
    if (xdp_link_down(port)) return 0;  /* the caller drops and counts them */
    struct xdp_sock *s = &xp->at.socks[q];
    comp_reap(port, s);
    uint32_t k = ring_free(&s->tx, n);
    struct xdp_desc *descs = s->tx.descs;
    for (uint32_t i = 0; i < k; i++) {
        struct vs_pkt *p = pkts[i];
        struct xdp_desc *d = &descs[(s->tx.cached_prod + i) & s->tx.mask];
        lend(s->lent_tx, p->pool_index);
        d->addr = umem_addr(port->pool, p) + p->data_off;
        d->len = p->len;
        d->options = 0;
    }
    if (k) {
        s->tx.cached_prod += k;
        ring_submit(&s->tx);
    }
    /* copy mode sends in sendto(), at most 32 frames a call; EAGAIN means more are left */
    for (int kick = 0; kick < XDP_KICKS_PER_BURST && ring_needs_wakeup(&s->tx); kick++) {
        if (atomic_load_explicit(s->tx.cons, memory_order_acquire) == s->tx.cached_prod) break;
        if (sendto(s->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0) continue;
        if (errno != EAGAIN && errno != EBUSY) break;   /* ENOBUFS, ENETDOWN, ...: the next burst kicks again */
    }
    return (uint16_t)k;
}

/* The kernel's counters of every socket, folded as named drop reasons:
 * one getsockopt per socket when the control plane reads the counters. */
static void stats_delta(struct xdp_statistics *acc, const struct xdp_statistics *now,
                        const struct xdp_statistics *before) {
    const uint64_t *a = (const uint64_t *)now, *b = (const uint64_t *)before;
    uint64_t *d = (uint64_t *)acc;
    for (size_t i = 0; i < sizeof(*acc) / sizeof(uint64_t); i++) d[i] += a[i] - b[i];
}

static void sock_stats_collect(struct xdp_sock *s, struct xdp_statistics *acc) {
    struct xdp_statistics st;
    socklen_t len = sizeof(st);
    memset(&st, 0, sizeof(st));
    if (s->fd < 0 || getsockopt(s->fd, SOL_XDP, XDP_STATISTICS, &st, &len)) return;
    stats_delta(acc, &st, &s->folded);
    s->folded = st;
}

static void xdp_read_stats(struct vs_port *port, struct vs_port_stats *slow) {
    struct xdp_port *xp = (struct xdp_port *)port;
    struct xdp_statistics d = xp->carried;
    memset(&xp->carried, 0, sizeof(xp->carried));
    for (uint16_t q = 0; q < xp->at.n_socks; q++) sock_stats_collect(&xp->at.socks[q], &d);
    /* dropped in the kernel before reaching us: count them as received, as giants are */
    uint64_t rx_lost = d.rx_dropped + d.rx_ring_full + d.rx_invalid_descs;
    slow->rx_packets += rx_lost;
    slow->rx_dropped += rx_lost;
    slow->drops[VS_DROP_XDP_RX_DROPPED] += d.rx_dropped;
    slow->drops[VS_DROP_KERNEL_RX_DROPPED] += d.rx_ring_full;
    slow->drops[VS_DROP_XDP_INVALID_DESC] += d.rx_invalid_descs + d.tx_invalid_descs;
    slow->tx_dropped += d.tx_invalid_descs;
    slow->tx_errors += d.tx_invalid_descs;
}

/* ---- setup ------------------------------------------------------------------------ */

static int xdp_fail(const char *ifname, const char *what) {
    int err = errno;
    if (err == EPERM || err == EACCES)
        vs_set_error("interface %s: %s: not permitted; run as root or give CAP_NET_ADMIN, CAP_NET_RAW and "
                     "CAP_BPF", ifname, what);
    else if (err == EAFNOSUPPORT)
        vs_set_error("interface %s: %s: this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS); use driver "
                     "af_packet", ifname, what);
    else
        vs_set_error("interface %s: %s: %s", ifname, what, strerror(err));
    return -1;
}

static long sys_bpf(int cmd, union bpf_attr *attr) {
    return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int ring_map(int fd, struct xdp_ring *r, const struct xdp_ring_offset *off, uint32_t size, size_t desc_size,
                    off_t pgoff) {
    r->map_len = off->desc + size * desc_size;
    r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
    if (r->map == MAP_FAILED) {
        r->map = NULL;
        return -1;
    }
    uint8_t *base = r->map;
    r->prod = (_Atomic uint32_t *)(base + off->producer);
    r->cons = (_Atomic uint32_t *)(base + off->consumer);
    r->flags = (uint32_t *)(base + off->flags);
    r->descs = base + off->desc;
    r->mask = size - 1;
    r->cached_prod = atomic_load(r->prod);
    r->cached_cons = atomic_load(r->cons);
    return 0;
}

static void ring_unmap(struct xdp_ring *r) {
    if (r->map) munmap(r->map, r->map_len);
    r->map = NULL;
}

static void give_back_lent(uint64_t *map, struct vs_pool *pool) {
    if (!map) return;
    for (uint32_t i = 0; i < pool->n; i++)
        if (map[i / 64] & (1ull << (i % 64))) vs_pool_free(pool, (struct vs_pkt *)(pool->mem + (size_t)i * XDP_CHUNK));
    free(map);
}

/* Close a socket and give back every buffer it had lent to the kernel. */
static void sock_close(struct xdp_sock *s, struct vs_pool *pool) {
    if (s->fd >= 0) close(s->fd);   /* first: the kernel lets go of the rings and buffers */
    s->fd = -1;
    ring_unmap(&s->fill);
    ring_unmap(&s->comp);
    ring_unmap(&s->rx);
    ring_unmap(&s->tx);
    give_back_lent(s->lent_rx, pool);
    give_back_lent(s->lent_tx, pool);
    s->lent_rx = s->lent_tx = NULL;
}

/* One socket on (ifindex, queue): UMEM, rings, buffers lent, bound. */
static int sock_open(struct xdp_sock *s, struct vs_port *port, const char *ifname, unsigned ifindex, uint16_t q,
                     bool *zerocopy) {
    struct vs_pool *pool = port->pool;
    /* 1. the socket */
    s->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (s->fd < 0) return xdp_fail(ifname, "AF_XDP socket");
    size_t words = (pool->n + 63) / 64;
    s->lent_rx = calloc(words, sizeof(uint64_t));
    s->lent_tx = calloc(words, sizeof(uint64_t));
    if (!s->lent_rx || !s->lent_tx) {
        vs_set_error("out of memory");
        return -1;
    }
    /* 2. the whole pool as its UMEM: 2 KiB chunks, no extra headroom (the kernel keeps 256 bytes) */
    struct xdp_umem_reg umem = {.addr = (uint64_t)(uintptr_t)pool->mem, .len = pool->mem_size,
                                .chunk_size = XDP_CHUNK, .headroom = 0};
    if (setsockopt(s->fd, SOL_XDP, XDP_UMEM_REG, &umem, sizeof(umem))) return xdp_fail(ifname, "UMEM registration");
    /* 3. ring sizes, then their places in the socket's mmap space */
    int sizes[][2] = {{XDP_UMEM_FILL_RING, XDP_FILL_SIZE}, {XDP_UMEM_COMPLETION_RING, XDP_COMP_SIZE},
                      {XDP_RX_RING, XDP_RX_SIZE}, {XDP_TX_RING, XDP_TX_SIZE}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        if (setsockopt(s->fd, SOL_XDP, sizes[i][0], &sizes[i][1], sizeof(int))) return xdp_fail(ifname, "ring size");
    struct xdp_mmap_offsets off;
    socklen_t len = sizeof(off);
    if (getsockopt(s->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &len)) return xdp_fail(ifname, "XDP_MMAP_OFFSETS");
    if (ring_map(s->fd, &s->fill, &off.fr, XDP_FILL_SIZE, sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING) ||
        ring_map(s->fd, &s->comp, &off.cr, XDP_COMP_SIZE, sizeof(uint64_t), XDP_UMEM_PGOFF_COMPLETION_RING) ||
        ring_map(s->fd, &s->rx, &off.rx, XDP_RX_SIZE, sizeof(struct xdp_desc), XDP_PGOFF_RX_RING) ||
        ring_map(s->fd, &s->tx, &off.tx, XDP_TX_SIZE, sizeof(struct xdp_desc), XDP_PGOFF_TX_RING))
        return xdp_fail(ifname, "mmap of the rings");
    /* 4. buffers for the kernel to receive into, before the first frame arrives */
    fill_top_up(port, s);
    /* 5. bind to the queue; neither XDP_COPY nor XDP_ZEROCOPY: the kernel
     *    takes zero-copy where the driver offers it, else copy (veth) */
    struct sockaddr_xdp sxdp = {.sxdp_family = AF_XDP, .sxdp_ifindex = ifindex, .sxdp_queue_id = q,
                                .sxdp_flags = XDP_USE_NEED_WAKEUP};
    if (bind(s->fd, (struct sockaddr *)&sxdp, sizeof(sxdp))) {
        if (errno == EINVAL)
            vs_set_error("interface %s: cannot bind rx queue %u: has the interface that many queues? "
                         "(ethtool -l %s; rx_queues: must not exceed them)", ifname, q, ifname);
        else if (errno == EBUSY)
            vs_set_error("interface %s: rx queue %u is taken by another AF_XDP socket (another vswitch on %s?)",
                         ifname, q, ifname);
        else
            xdp_fail(ifname, "bind to the rx queue");
        return -1;
    }
    struct xdp_options opts = {0};
    len = sizeof(opts);
    *zerocopy = !getsockopt(s->fd, SOL_XDP, XDP_OPTIONS, &opts, &len) && (opts.flags & XDP_OPTIONS_ZEROCOPY);
    return 0;
}

/* The XSKMAP, the program that redirects to it, and the link attaching it. */
static int program_attach(struct xdp_attach *at, const char *ifname) {
    union bpf_attr attr;
    /* 1. queue index -> socket */
    memset(&attr, 0, sizeof(attr));
    attr.map_type = BPF_MAP_TYPE_XSKMAP;
    attr.key_size = sizeof(uint32_t);
    attr.value_size = sizeof(uint32_t);
    attr.max_entries = at->n_socks;
    at->map_fd = (int)sys_bpf(BPF_MAP_CREATE, &attr);
    if (at->map_fd < 0) return xdp_fail(ifname, "XSKMAP creation (bpf)");
    for (uint32_t q = 0; q < at->n_socks; q++) {
        uint32_t fd = (uint32_t)at->socks[q].fd;
        memset(&attr, 0, sizeof(attr));
        attr.map_fd = (uint32_t)at->map_fd;
        attr.key = (uint64_t)(uintptr_t)&q;
        attr.value = (uint64_t)(uintptr_t)&fd;
        if (sys_bpf(BPF_MAP_UPDATE_ELEM, &attr)) return xdp_fail(ifname, "XSKMAP update");
    }
    /* 2. return bpf_redirect_map(&xskmap, ctx->rx_queue_index, XDP_PASS): XDP_PASS when the queue has no socket */
    struct bpf_insn prog[] = {
        {.code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_1,
         .off = offsetof(struct xdp_md, rx_queue_index)},
        {.code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = at->map_fd},
        {.code = 0},   /* second half of the 64-bit immediate */
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3, .imm = XDP_PASS},
        {.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_redirect_map},
        {.code = BPF_JMP | BPF_EXIT},
    };
    char log[1024] = "";
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_XDP;
    attr.expected_attach_type = BPF_XDP;
    attr.insns = (uint64_t)(uintptr_t)prog;
    attr.insn_cnt = sizeof(prog) / sizeof(prog[0]);
    attr.license = (uint64_t)(uintptr_t)XDP_PROG_LICENSE;
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = sizeof(log);
    attr.log_level = 1;
    at->prog_fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
    if (at->prog_fd < 0) {
        if (!log[0] || errno == EPERM || errno == EACCES) return xdp_fail(ifname, "XDP program load");
        vs_set_error("interface %s: the verifier refused the XDP program: %s", ifname, log);
        return -1;
    }
    /* 3. attach through a link: in the driver if it has XDP, else generic (skb) mode */
    for (int generic = 0; generic < 2; generic++) {
        memset(&attr, 0, sizeof(attr));
        attr.link_create.prog_fd = (uint32_t)at->prog_fd;
        attr.link_create.target_ifindex = at->ifindex;
        attr.link_create.attach_type = BPF_XDP;
        attr.link_create.flags = generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
        at->link_fd = (int)sys_bpf(BPF_LINK_CREATE, &attr);
        at->generic = generic;
        if (at->link_fd >= 0) return 0;
        if (errno == EBUSY || errno == EEXIST) {
            vs_set_error("interface %s: another XDP program is attached (see: ip link show %s; remove it with: "
                         "ip link set dev %s xdp off)", ifname, ifname, ifname);
            return -1;
        }
        if (errno == EPERM || errno == EACCES) return xdp_fail(ifname, "XDP attach");
    }
    vs_set_error("interface %s: XDP cannot be attached to it (%s; needs Linux 5.9 or later); use driver af_packet",
                 ifname, strerror(errno));
    return -1;
}

static void attach_close(struct xdp_attach *at, struct vs_pool *pool) {
    if (at->link_fd >= 0) close(at->link_fd);   /* the program detaches with its last link */
    if (at->prog_fd >= 0) close(at->prog_fd);
    if (at->map_fd >= 0) close(at->map_fd);
    at->link_fd = at->prog_fd = at->map_fd = -1;
    for (uint16_t q = 0; q < at->n_socks; q++) sock_close(&at->socks[q], pool);
    at->n_socks = 0;
}

/* Everything on `ifname` for n_queues rx queues: sockets first (the map
 * needs their fds), then the program.  On failure everything is undone. */
static int attach_open(struct xdp_attach *at, struct vs_port *port, const char *ifname, uint16_t n_queues) {
    memset(at, 0, sizeof(*at));
    at->map_fd = at->prog_fd = at->link_fd = -1;
    at->ifindex = if_nametoindex(ifname);
    if (!at->ifindex) {
        vs_set_error("interface %s: no such interface (check with: ip link show %s)", ifname, ifname);
        return -1;
    }
    for (uint16_t q = 0; q < n_queues; q++) {
        struct xdp_sock *s = &at->socks[q];
        memset(s, 0, sizeof(*s));
        at->n_socks = q + 1;
        bool zc = false;
        if (sock_open(s, port, ifname, at->ifindex, q, &zc)) {
            attach_close(at, port->pool);
            return -1;
        }
        at->zerocopy = zc;
    }
    if (program_attach(at, ifname)) {
        attach_close(at, port->pool);
        return -1;
    }
    return 0;
}

static void xdp_close(struct vs_port *port) {
    struct xdp_port *xp = (struct xdp_port *)port;
    if (port->pool) attach_close(&xp->at, port->pool);
    free(xp);
}

int vs_port_af_xdp_open(struct vs_dp *dp, const char *name, const char *ifname, uint16_t n_rxq, uint16_t mtu,
                        int fix_checksums) {
    if (!ifname || !ifname[0] || strlen(ifname) >= IFNAMSIZ) {
        vs_set_error("%s: interface name must be 1-%d characters", name, IFNAMSIZ - 1);
        return -1;
    }
    if (n_rxq < 1 || n_rxq > VS_MAX_QUEUES) {
        vs_set_error("%s: rx_queues must be 1-%d", name, VS_MAX_QUEUES);
        return -1;
    }
    struct xdp_port *xp = calloc(1, sizeof(*xp));
    if (!xp) {
        vs_set_error("out of memory");
        return -1;
    }
    xp->fix_checksums = fix_checksums != 0;
    struct vs_port *port = &xp->port;
    snprintf(port->name, sizeof(port->name), "%s", name);
    port->n_rxq = n_rxq;
    port->n_txq = n_rxq;  /* one tx ring per socket: more workers than sockets share them under the tx lock */
    port->mtu = mtu;
    port->rx_burst = xdp_rx;
    port->tx_burst = xdp_tx;
    port->read_stats = xdp_read_stats;
    port->close = xdp_close;
    port->pool = &dp->pool;   /* the UMEM; vs_port_register sets the same */
    if (attach_open(&xp->at, port, ifname, n_rxq)) {
        free(xp);
        return -1;
    }
    int id = vs_port_register(dp, port);
    if (id < 0) xdp_close(port);
    return id;
}

/* The interface came back (a new ifindex): new sockets and program beside
 * the old ones, the link down, a grace period (no worker is then inside
 * xdp_rx/xdp_tx: they check oper_up first), the old ones closed (their
 * buffers back to the pool, their last counters kept), the new ones in. */
int vs_port_af_xdp_reattach(struct vs_dp *dp, int port_id, const char *ifname) {
    struct xdp_port *xp = (struct xdp_port *)vs_port_for_reattach(dp, port_id, xdp_rx, "af_xdp", ifname);
    if (!xp) return -1;
    struct xdp_attach *fresh = malloc(sizeof(*fresh));
    if (!fresh) {
        vs_set_error("out of memory");
        return -1;
    }
    if (attach_open(fresh, &xp->port, ifname, xp->port.n_rxq)) {
        free(fresh);
        return -1;
    }
    atomic_store_explicit(&xp->port.oper_up, 0, memory_order_release);
    vs_rcu_synchronize(dp);
    for (uint16_t q = 0; q < xp->at.n_socks; q++) sock_stats_collect(&xp->at.socks[q], &xp->carried);
    attach_close(&xp->at, xp->port.pool);
    xp->at = *fresh;
    free(fresh);
    atomic_store_explicit(&xp->port.oper_up, 1, memory_order_release);
    return 0;
}

int vs_port_af_xdp_modes(struct vs_dp *dp, int port_id) {
    if (port_id < 0 || port_id >= dp->n_ports || dp->ports[port_id]->rx_burst != xdp_rx) return -1;
    const struct xdp_attach *at = &((struct xdp_port *)dp->ports[port_id])->at;
    return (at->zerocopy ? VS_AF_XDP_ZEROCOPY : 0) | (at->generic ? VS_AF_XDP_GENERIC : 0);
}
