/* tsan_harness.c — the core's concurrency under ThreadSanitizer.
 *
 * Two workers forward a looping capture (routed and bridged frames) while
 * the control thread changes what they read: routes added and deleted
 * (tbl8 groups split, merged and reclaimed), an adjacency's MAC rewritten,
 * MACs flushed and re-added, punts drained, a capture of the input port
 * started, drained and stopped, a trace armed and its records read (and
 * disarmed while workers claim it).  Built with -fsanitize=thread
 * by test_tsan.py; any race report fails the run.
 *
 * usage: tsan_harness CAPTURE.pcap SECONDS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "vs.h"

#define WORKERS 2
#define TRACE_POLLS 1000  /* 10 us apart: a trace armed waits this long for its first record */
#define ROUTER_MAC "\x02\x00\x00\x00\x00\x01"

static struct vs_dp *dp;

static void *worker(void *arg) {
    vs_worker_run(dp, (int)(intptr_t)arg);
    return NULL;
}

static void fail(const char *what) {
    fprintf(stderr, "tsan_harness: %s: %s\n", what, vs_last_error());
    exit(2);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s CAPTURE.pcap SECONDS\n", argv[0]);
        return 2;
    }
    dp = vs_dp_create(8192, WORKERS, 64, 64);
    if (!dp) fail("create");
    int src = vs_port_pcap_open(dp, "src", argv[1], NULL, 1, WORKERS, 1500);
    int out_a = vs_port_null_open(dp, "a", 1500);
    int out_b = vs_port_null_open(dp, "b", 1500);
    int member = vs_port_null_open(dp, "m", 1500);
    if (src < 0 || out_a < 0 || out_b < 0 || member < 0) fail("ports");
    int vlan = vs_iface_add_vlan(dp, src, 10);
    int bridge = vs_iface_add_bridge(dp, 1000000ull, 1024);  /* 1 ms aging: constant sweeps */
    if (vlan < 0 || bridge < 0 || vs_bridge_add_member(dp, bridge, vlan) || vs_bridge_add_member(dp, bridge, member))
        fail("bridge");
    vs_iface_set_l3(dp, src, (const uint8_t *)ROUTER_MAC, 1);
    vs_iface_set_l3(dp, out_a, (const uint8_t *)"\x02\x00\x00\x00\x01\x01", 1);
    vs_iface_set_l3(dp, out_b, (const uint8_t *)"\x02\x00\x00\x00\x02\x01", 1);
    if (vs_adj_set(dp, 1, VS_ADJ_FORWARD, out_a, 0, (const uint8_t *)"\x02\x00\x00\x00\x01\x09") ||
        vs_adj_set(dp, 2, VS_ADJ_FORWARD, out_b, 0, (const uint8_t *)"\x02\x00\x00\x00\x02\x09") ||
        vs_fib_add(dp, 0, 0, 1))
        fail("routes");
    for (int w = 0; w < WORKERS; w++)
        if (vs_worker_assign(dp, w, src, w)) fail("assign");

    pthread_t threads[WORKERS];
    for (int w = 0; w < WORKERS; w++) pthread_create(&threads[w], NULL, worker, (void *)(intptr_t)w);

    struct vs_pkt *punted[64];
    static struct vs_trace_rec traced[16];
    uint64_t captured = 0, traced_total = 0;
    uint64_t end = vs_now_ns() + (uint64_t)(atof(argv[2]) * 1e9);
    unsigned rounds = 0;
    while (vs_now_ns() < end) {
        uint32_t net = 0xC0000200u;  /* 192.0.2.0 */
        if (vs_fib_add(dp, net, 25, 2) || vs_fib_add(dp, net | 0x80, 26, 2) || vs_fib_add(dp, 0xC6336400u, 24, 2))
            fail("add");
        uint8_t mac[6] = {2, 0, 0, 0, 2, (uint8_t)rounds};
        if (vs_adj_set(dp, 2, VS_ADJ_FORWARD, out_b, 0, mac)) fail("adj");
        if (vs_fib_delete(dp, net | 0x80, 26, 2, 25) || vs_fib_delete(dp, net, 25, 1, 0) ||
            vs_fib_delete(dp, 0xC6336400u, 24, 1, 0))
            fail("delete");
        vs_mac_flush(dp, bridge, -1, 0);
        if (vs_mac_add_static(dp, bridge, mac, member)) fail("static mac");
        int n;
        while ((n = vs_punt_poll(dp, punted, 64)) > 0)
            for (int i = 0; i < n; i++) vs_pkt_free(dp, punted[i]);
        if (vs_capture_start(dp, src, "/dev/null", 0)) fail("capture start");
        for (int i = 0; i < 3; i++)
            if (vs_capture_drain(dp, src)) fail("capture drain");
        struct vs_capture_stats cs;
        if (vs_capture_stop(dp, src, &cs)) fail("capture stop");
        captured += cs.written;
        vs_trace_arm(dp, 8);
        for (int i = 0, got = 0; i < TRACE_POLLS && !got; i++) {  /* at least one, then disarm mid-claim */
            nanosleep(&(struct timespec){0, 10000}, NULL);
            traced_total += (uint64_t)(got = vs_trace_poll(dp, traced, 16));
        }
        vs_trace_arm(dp, 0);
        vs_rcu_reclaim(dp);
        rounds++;
    }
    vs_dp_stop(dp);
    for (int w = 0; w < WORKERS; w++) pthread_join(threads[w], NULL);
    struct vs_port_stats s;
    vs_port_stats_get(dp, src, &s);
    traced_total += (uint64_t)vs_trace_poll(dp, traced, 16);
    printf("%u control rounds, %llu frames forwarded by %d workers, %llu captured, %llu traced\n", rounds,
           (unsigned long long)s.rx_packets, WORKERS, (unsigned long long)captured,
           (unsigned long long)traced_total);
    vs_dp_destroy(dp);
    return s.rx_packets > 0 && rounds > 0 && captured > 0 && traced_total > 0 ? 0 : 1;
}
