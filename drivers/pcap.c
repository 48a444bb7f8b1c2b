/* pcap.c — a port backed by pcap files.
 *
 * rx: the whole rx_pcap is read into memory at open and its frames dealt to
 * the rx queues by a flow hash, as RSS would (one flow, one queue, in
 * order); each queue copies its frames into pool buffers, as a NIC would
 * DMA them.  With loop, a queue wraps around forever (benchmarks); without,
 * it stops at its end.  Offline mode reads queue 0 one frame at a
 * time in timestamp order (next_ts) and keeps the pcap timestamps.
 * tx: classic microsecond pcap, written through a large stdio buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "../pipeline/vs.h"

#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_LINKTYPE_ETHERNET 1
#define PCAP_FILE_HEADER 24
#define PCAP_RECORD_HEADER 16
#define PCAP_TX_BUFFER (1u << 20)
#define PCAP_PREFETCH 8            /* frames ahead whose bytes rx prefetches */

struct pcap_frame {
    uint64_t ts_ns;
    uint32_t offset;          /* into data */
    uint16_t len;
};

struct pcap_port {
    struct vs_port port;
    uint8_t *data;            /* the rx file */
    struct pcap_frame *frames;
    uint32_t n_frames;
    uint32_t *queue_frames[VS_MAX_QUEUES];  /* indexes into frames, per rx queue */
    uint32_t queue_len[VS_MAX_QUEUES];
    uint32_t cursor[VS_MAX_QUEUES];
    int loop;
    FILE *tx;
    char *tx_buf;
};

static uint32_t rd32_endian(const uint8_t *p, bool swapped) {
    uint32_t v;
    memcpy(&v, p, 4);
    return swapped ? __builtin_bswap32(v) : v;
}

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        vs_set_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        vs_set_error("%s: cannot read", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* Timestamp order; equal timestamps keep file order (offsets grow with it). */
static int by_time(const void *a, const void *b) {
    const struct pcap_frame *x = a, *y = b;
    if (x->ts_ns != y->ts_ns) return x->ts_ns < y->ts_ns ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static void sort_by_time(struct pcap_frame *f, uint32_t n) {
    for (uint32_t i = 1; i < n; i++)
        if (f[i].ts_ns < f[i - 1].ts_ns) {  /* almost every file is in order already */
            qsort(f, n, sizeof(*f), by_time);
            return;
        }
}

/* Index every record; records cut short or too big for a buffer are
 * counted as drops of this port (they were "received" and refused). */
static int load_rx(struct pcap_port *pp, const char *path) {
    size_t size;
    uint8_t *d = read_file(path, &size);
    if (!d) return -1;
    pp->data = d;
    if (size < PCAP_FILE_HEADER) {
        vs_set_error("%s: too short for a pcap file header", path);
        return -1;
    }
    uint32_t magic;
    memcpy(&magic, d, 4);
    bool swapped = magic == __builtin_bswap32(PCAP_MAGIC_US) || magic == __builtin_bswap32(PCAP_MAGIC_NS);
    uint32_t m = swapped ? __builtin_bswap32(magic) : magic;
    if (m != PCAP_MAGIC_US && m != PCAP_MAGIC_NS) {
        vs_set_error("%s: not a classic pcap file (magic 0x%08x; pcapng is not supported)", path, magic);
        return -1;
    }
    uint32_t linktype = rd32_endian(d + 20, swapped) & 0xffff;
    if (linktype != PCAP_LINKTYPE_ETHERNET) {
        vs_set_error("%s: link type %u is not Ethernet (1)", path, linktype);
        return -1;
    }
    uint64_t frac_ns = m == PCAP_MAGIC_NS ? 1 : 1000;
    size_t cap = 1024;
    pp->frames = malloc(cap * sizeof(*pp->frames));
    if (!pp->frames) {
        vs_set_error("out of memory");
        return -1;
    }
    size_t off = PCAP_FILE_HEADER;
    while (off < size) {
        if (size - off < PCAP_RECORD_HEADER) {
            pp->port.load_drops[VS_DROP_PCAP_TRUNCATED]++;
            break;
        }
        const uint8_t *r = d + off;
        uint64_t sec = rd32_endian(r, swapped), frac = rd32_endian(r + 4, swapped);
        uint32_t caplen = rd32_endian(r + 8, swapped), wirelen = rd32_endian(r + 12, swapped);
        off += PCAP_RECORD_HEADER;
        if (caplen > size - off) {  /* the file ends inside this record */
            pp->port.load_drops[VS_DROP_PCAP_TRUNCATED]++;
            break;
        }
        if (caplen < wirelen) {
            pp->port.load_drops[VS_DROP_PCAP_TRUNCATED]++;
        } else if (caplen > VS_PKT_MAX_FRAME) {
            pp->port.load_drops[VS_DROP_GIANT]++;
        } else {
            if (pp->n_frames == cap) {
                cap *= 2;
                struct pcap_frame *bigger = realloc(pp->frames, cap * sizeof(*pp->frames));
                if (!bigger) {
                    vs_set_error("out of memory");
                    return -1;
                }
                pp->frames = bigger;
            }
            pp->frames[pp->n_frames++] = (struct pcap_frame){
                .ts_ns = sec * 1000000000ull + frac * frac_ns, .offset = (uint32_t)off, .len = (uint16_t)caplen};
        }
        off += caplen;
    }
    sort_by_time(pp->frames, pp->n_frames);
    return 0;
}

static uint16_t pcap_rx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n) {
    struct pcap_port *pp = (struct pcap_port *)port;
    uint32_t len = pp->queue_len[q];
    if (!len) return 0;
    const uint32_t *order = pp->queue_frames[q];
    uint32_t *cur = &pp->cursor[q];
    uint64_t now = 0;
    uint16_t got = 0;
    while (got < n) {
        if (*cur == len) {
            if (!pp->loop) break;
            *cur = 0;
        }
        struct vs_pkt *p = vs_pool_alloc(port->pool);
        if (!p) break;
        if (*cur + PCAP_PREFETCH < len)  /* a big capture misses the cache: start on the frames ahead */
            __builtin_prefetch(pp->data + pp->frames[order[*cur + PCAP_PREFETCH]].offset);
        const struct pcap_frame *f = &pp->frames[order[(*cur)++]];
        memcpy(vs_pkt_bytes(p), pp->data + f->offset, f->len);
        p->len = f->len;
        if (port->next_ts) {
            p->ts_ns = f->ts_ns;        /* offline: the pcap clock */
        } else {
            if (!now) now = vs_now_ns();
            p->ts_ns = now;
        }
        pkts[got++] = p;
    }
    return got;
}

/* A flow hash over what RSS would hash: IPv4 addresses (behind one 802.1Q
 * tag at most), else the MAC addresses. */
static uint32_t flow_hash(const uint8_t *f, uint16_t len) {
    uint64_t h = 0xcbf29ce484222325ull;
    unsigned l3 = 14;
    if (len >= 18 && f[12] == 0x81 && f[13] == 0x00) l3 = 18;
    unsigned from = 0, count = 12;
    if (len >= l3 + 20 && f[l3 - 2] == 0x08 && f[l3 - 1] == 0x00) {
        from = l3 + 12;
        count = 8;
    }
    for (unsigned i = from; i < from + count && i < len; i++) h = (h ^ f[i]) * 0x100000001b3ull;
    return (uint32_t)(h ^ (h >> 32));
}

static int deal_to_queues(struct pcap_port *pp, uint16_t n_rxq) {
    for (uint16_t q = 0; q < n_rxq; q++) {
        pp->queue_frames[q] = malloc((pp->n_frames ? pp->n_frames : 1) * sizeof(uint32_t));
        if (!pp->queue_frames[q]) {
            vs_set_error("out of memory");
            return -1;
        }
    }
    for (uint32_t i = 0; i < pp->n_frames; i++) {
        const struct pcap_frame *f = &pp->frames[i];
        uint16_t q = n_rxq == 1 ? 0 : flow_hash(pp->data + f->offset, f->len) % n_rxq;
        pp->queue_frames[q][pp->queue_len[q]++] = i;
    }
    return 0;
}

static int64_t pcap_next_ts(struct vs_port *port) {
    struct pcap_port *pp = (struct pcap_port *)port;
    return pp->cursor[0] < pp->queue_len[0] ? (int64_t)pp->frames[pp->queue_frames[0][pp->cursor[0]]].ts_ns : -1;
}

static uint16_t pcap_tx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n) {
    (void)q;
    struct pcap_port *pp = (struct pcap_port *)port;
    for (uint16_t i = 0; i < n; i++) {
        struct vs_pkt *p = pkts[i];
        if (pp->tx) {
            uint32_t rec[4] = {(uint32_t)(p->ts_ns / 1000000000ull), (uint32_t)(p->ts_ns % 1000000000ull / 1000),
                               p->len, p->len};
            fwrite(rec, sizeof(rec), 1, pp->tx);
            fwrite(vs_pkt_bytes(p), 1, p->len, pp->tx);
        }
        vs_pool_free(port->pool, p);
    }
    return n;
}

static int pcap_flush(struct vs_port *port) {
    struct pcap_port *pp = (struct pcap_port *)port;
    return pp->tx && fflush(pp->tx) ? -1 : 0;
}

static void pcap_close(struct vs_port *port) {
    struct pcap_port *pp = (struct pcap_port *)port;
    if (pp->tx) fclose(pp->tx);
    free(pp->tx_buf);
    for (int q = 0; q < VS_MAX_QUEUES; q++) free(pp->queue_frames[q]);
    free(pp->frames);
    free(pp->data);
    free(pp);
}

static int open_tx(struct pcap_port *pp, const char *path) {
    pp->tx = fopen(path, "wb");
    if (!pp->tx) {
        vs_set_error("%s: %s", path, strerror(errno));
        return -1;
    }
    pp->tx_buf = malloc(PCAP_TX_BUFFER);
    if (pp->tx_buf) setvbuf(pp->tx, pp->tx_buf, _IOFBF, PCAP_TX_BUFFER);
    uint32_t hdr[6] = {PCAP_MAGIC_US, 0x00040002u /* version 2.4 */, 0, 0, 65535, PCAP_LINKTYPE_ETHERNET};
    if (fwrite(hdr, sizeof(hdr), 1, pp->tx) != 1 || fflush(pp->tx)) {
        vs_set_error("%s: cannot write", path);
        return -1;
    }
    return 0;
}

int vs_port_pcap_open(struct vs_dp *dp, const char *name, const char *rx_path, const char *tx_path,
                      int loop, uint16_t n_rxq, uint16_t mtu) {
    if (n_rxq < 1 || n_rxq > VS_MAX_QUEUES) {
        vs_set_error("%s: rx queues must be 1-%d", name, VS_MAX_QUEUES);
        return -1;
    }
    struct pcap_port *pp = calloc(1, sizeof(*pp));
    if (!pp) {
        vs_set_error("out of memory");
        return -1;
    }
    struct vs_port *port = &pp->port;
    snprintf(port->name, sizeof(port->name), "%s", name);
    port->n_rxq = n_rxq;
    port->n_txq = 1;
    port->mtu = mtu;
    port->rx_burst = pcap_rx;
    port->tx_burst = pcap_tx;
    port->flush = pcap_flush;
    port->close = pcap_close;
    /* Offline replay (no loop) follows the pcap clock; a loop is a traffic generator. */
    port->next_ts = loop ? NULL : pcap_next_ts;
    pp->loop = loop;
    if ((rx_path && rx_path[0] && (load_rx(pp, rx_path) || deal_to_queues(pp, n_rxq))) ||
        (tx_path && tx_path[0] && open_tx(pp, tx_path))) {
        pcap_close(port);
        return -1;
    }
    int id = vs_port_register(dp, port);
    if (id < 0) pcap_close(port);
    return id;
}
