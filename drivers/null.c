/* null.c — a port that receives nothing and drops what it is sent (counted
 * as transmitted): the sink for benchmarks. */
#include <stdio.h>
#include <stdlib.h>

#include "../pipeline/vs.h"

static uint16_t null_rx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n) {
    (void)port, (void)q, (void)pkts, (void)n;
    return 0;
}

static uint16_t null_tx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n) {
    (void)q;
    for (uint16_t i = 0; i < n; i++) vs_pool_free(port->pool, pkts[i]);
    return n;
}

static void null_close(struct vs_port *port) { free(port); }

int vs_port_null_open(struct vs_dp *dp, const char *name, uint16_t mtu) {
    struct vs_port *port = calloc(1, sizeof(*port));
    if (!port) {
        vs_set_error("out of memory");
        return -1;
    }
    snprintf(port->name, sizeof(port->name), "%s", name);
    port->n_rxq = 1;
    port->n_txq = VS_MAX_WORKERS;  /* stateless: every worker has its own queue */
    port->mtu = mtu;
    port->rx_burst = null_rx;
    port->tx_burst = null_tx;
    port->close = null_close;
    int id = vs_port_register(dp, port);
    if (id < 0) free(port);
    return id;
}
