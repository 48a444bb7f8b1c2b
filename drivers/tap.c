/* tap.c — a port that is a TAP interface the appliance creates.
 *
 * /dev/net/tun with IFF_TAP | IFF_NO_PI: every read() is one Ethernet frame
 * the kernel sends out of the interface, every write() one frame it
 * receives.  The interface is created with the configured name, brought up
 * (SIOCSIFFLAGS IFF_UP), and disappears when the fd is closed (not
 * persistent).  No TUNSETOFFLOAD: without it the kernel segments and
 * checksums everything before it reaches us, so frames are at most MTU
 * sized.  The fd is non-blocking; a worker polls it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../pipeline/vs.h"

#define TAP_SCRATCH 65536   /* what does not fit a pool buffer lands here, and the frame is dropped */

struct tap_port {
    struct vs_port port;
    int fd;
    uint8_t *scratch;
    struct vs_rx_refusals refused;
    char ifname[IFNAMSIZ];
};

static uint16_t tap_rx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n) {
    (void)q;
    struct tap_port *tp = (struct tap_port *)port;
    uint64_t now = 0;
    uint16_t got = 0;
    while (got < n) {
        struct vs_pkt *p = vs_pool_alloc(port->pool);
        if (!p) break;
        struct iovec iov[2] = {{vs_pkt_bytes(p), VS_PKT_MAX_FRAME}, {tp->scratch, TAP_SCRATCH}};
        ssize_t r = readv(tp->fd, iov, 2);
        if (r <= 0) {  /* EAGAIN: nothing more; EIO and the like: the interface is down */
            vs_pool_free(port->pool, p);
            break;
        }
        if (r > VS_PKT_MAX_FRAME) {
            vs_pool_free(port->pool, p);
            vs_rx_refused(&tp->refused, VS_DROP_GIANT, (uint64_t)r);
            continue;
        }
        p->len = (uint16_t)r;
        if (!now) now = vs_now_ns();
        p->ts_ns = now;
        pkts[got++] = p;
    }
    return got;
}

static uint16_t tap_tx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n) {
    (void)q;
    struct tap_port *tp = (struct tap_port *)port;
    uint16_t sent = 0;
    for (; sent < n; sent++) {
        struct vs_pkt *p = pkts[sent];
        if (write(tp->fd, vs_pkt_bytes(p), p->len) < 0) break;  /* the rest is the caller's to drop */
        vs_pool_free(port->pool, p);
    }
    return sent;
}

static void tap_read_stats(struct vs_port *port, struct vs_port_stats *slow) {
    vs_rx_refusals_fold(&((struct tap_port *)port)->refused, slow);
}

static void tap_close(struct vs_port *port) {
    struct tap_port *tp = (struct tap_port *)port;
    if (tp->fd >= 0) close(tp->fd);  /* not persistent: the interface goes with the fd */
    free(tp->scratch);
    free(tp);
}

static int tap_fail(struct tap_port *tp, const char *what) {
    int err = errno;
    if (err == EPERM || err == EACCES)
        vs_set_error("tap %s: %s: not permitted; run as root or give CAP_NET_ADMIN", tp->ifname, what);
    else if (err == ENOENT && !strcmp(what, "/dev/net/tun"))
        vs_set_error("tap %s: /dev/net/tun does not exist; load the tun module (modprobe tun)", tp->ifname);
    else if (err == EBUSY)
        vs_set_error("tap %s: %s: the interface exists and is in use (check with: ip link show %s)", tp->ifname,
                     what, tp->ifname);
    else
        vs_set_error("tap %s: %s: %s", tp->ifname, what, strerror(err));
    return -1;
}

static int tap_setup(struct tap_port *tp, uint16_t mtu) {
    tp->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (tp->fd < 0) return tap_fail(tp, "/dev/net/tun");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tp->ifname);
    if (ioctl(tp->fd, TUNSETIFF, &ifr)) return tap_fail(tp, "TUNSETIFF");
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return tap_fail(tp, "control socket");
    int rc = 0;
    if (mtu) {
        ifr.ifr_mtu = mtu;
        if (ioctl(s, SIOCSIFMTU, &ifr)) rc = tap_fail(tp, "set MTU");
    }
    if (!rc && ioctl(s, SIOCGIFFLAGS, &ifr)) rc = tap_fail(tp, "get flags");
    if (!rc) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr)) rc = tap_fail(tp, "bring up");
    }
    close(s);
    return rc;
}

int vs_port_tap_open(struct vs_dp *dp, const char *name, const char *ifname, uint16_t mtu) {
    if (!ifname || !ifname[0] || strlen(ifname) >= IFNAMSIZ) {
        vs_set_error("%s: interface name must be 1-%d characters", name, IFNAMSIZ - 1);
        return -1;
    }
    struct tap_port *tp = calloc(1, sizeof(*tp));
    if (!tp || !(tp->scratch = malloc(TAP_SCRATCH))) {
        free(tp);
        vs_set_error("out of memory");
        return -1;
    }
    tp->fd = -1;
    snprintf(tp->ifname, sizeof(tp->ifname), "%s", ifname);
    struct vs_port *port = &tp->port;
    snprintf(port->name, sizeof(port->name), "%s", name);
    port->n_rxq = 1;
    port->n_txq = VS_MAX_WORKERS;  /* each write() is one whole frame: workers need no tx lock */
    port->mtu = mtu;
    port->rx_burst = tap_rx;
    port->tx_burst = tap_tx;
    port->read_stats = tap_read_stats;
    port->close = tap_close;
    if (tap_setup(tp, mtu)) {
        tap_close(port);
        return -1;
    }
    int id = vs_port_register(dp, port);
    if (id < 0) tap_close(port);
    return id;
}
