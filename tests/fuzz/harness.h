/* harness.h — drive the C forwarding core with arbitrary frames, no Python.
 *
 * One harness behind two programs: the libFuzzer target (fuzz_target.c)
 * and the sanitizer replay program (replay.c).  It builds a fixed topology
 * through the C API, feeds one input at a time and abort()s with a
 * "FINDING:" message when an invariant breaks, so a fuzzer reports it like a
 * crash:
 *   - every frame fed (and every frame the stand-in control plane injects)
 *     ends in exactly one fate counter on its own port: forwarded, flooded,
 *     punted, or one drop reason (no_buffer and tx_queue_full aside: they
 *     count copies and queues, not fates);
 *   - rx_packets grows by exactly one per frame fed;
 *   - no buffer leaks, none is freed twice, none is touched while free;
 *   - an L2 frame leaves only through other members of its bridge;
 *   - what the core punts keeps the promises the control plane relies on;
 *   - a traced frame (inputs of odd length) has a record that names every
 *     drop counted for it; every port's capture holds each frame in and out
 *     exactly once.
 *
 * Input format, for corpus files and fuzzer inputs alike:
 *   byte 0   bits 0-2: ingress port (FZ_PORT_* below)
 *            bit 3: pressure: no buffer to spare while the frame and its
 *                   punts are handled, and every tx queue refuses the frame
 *            bit 4: answer punts with a frame out of an interface (VS_INJECT_IFACE)
 *            bit 5: answer punts with a routed packet (VS_INJECT_ROUTE)
 *            bit 6: feed the frame FZ_REPEATS times (learning, aging, policers)
 *            bit 7: punt ring full when the frame arrives
 *   byte 1.. the Ethernet frame as received, cut at VS_PKT_MAX_FRAME bytes
 */
#ifndef FZ_HARNESS_H
#define FZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* Ports of the topology, in the order they are opened (see harness.c). */
enum {
    FZ_PORT_TRUNK,  /* vlans 10 (in br0), 20 (routed), 30 (neither), 40 (in br2); untagged: neither */
    FZ_PORT_LAN1,   /* br0 member */
    FZ_PORT_LAN2,   /* br0 member */
    FZ_PORT_WAN,    /* routed 192.0.2.1/24, default route */
    FZ_PORT_SMALL,  /* routed 198.51.100.1/24, IP MTU 576 */
    FZ_PORT_DOWN,   /* routed 203.0.113.1/24, administratively down */
    FZ_PORT_SOLO,   /* the only member of br1 (no aging) */
    FZ_PORT_EDGE,   /* br2 member with trunk.40; br2 learns one MAC, ages in 2 ms */
    FZ_N_PORTS
};

#define FZ_PORT_MASK 0x07
#define FZ_FLAG_PRESSURE 0x08
#define FZ_FLAG_ANSWER_IFACE 0x10
#define FZ_FLAG_ANSWER_ROUTE 0x20
#define FZ_FLAG_REPEAT 0x40
#define FZ_FLAG_RING_FULL 0x80

struct fz_totals {
    uint64_t inputs;
    uint64_t frames;          /* fed to vs_process_burst and checked */
    uint64_t injected;        /* stand-in control plane frames processed and checked */
    uint64_t punts;           /* real punts served */
    uint64_t fates[3 + 64];   /* forwarded, flooded, punted, then drops[] of fed frames */
};

/* Build the topology.  egress_gap adds what the strict accounting cannot
 * hold today (see harness.c, "egress gap").  0, or -1 with a message. */
int fz_setup(int egress_gap);
/* Name shown in findings (a file name); NULL for none. */
void fz_set_label(const char *label);
/* One input in the format above; abort()s on a finding. */
void fz_run_input(const uint8_t *data, size_t size);
const struct fz_totals *fz_totals(void);
/* Name of fates[i]. */
const char *fz_fate_name(int i);
void fz_teardown(void);

#endif
