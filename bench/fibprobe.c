/* fibprobe.c — where the cycles of a full-table lookup go (an experiment,
 * not part of `make bench`).
 *
 * Builds a DIR-24-8 first level (2^24 32-bit entries, 64 MiB) from a route
 * file ("PREFIX NEXTHOP" lines; prefixes longer than /24 are counted as
 * their /24 here), then looks up the destinations of a pcap of our fixed
 * 60-byte frames in pcap order, as the forwarding core would, and prints
 * TSC cycles per lookup for: the table on 4 KiB pages; on transparent huge
 * pages (madvise); and each of those with the burst's 32 entries prefetched
 * before they are read.
 *
 *   cc -O2 -o bench/build/fibprobe bench/fibprobe.c
 *   bench/build/fibprobe bench/build/routes-1000000-s1.txt bench/build/l3-r1000000-f1048576-distinct-s1.pcap
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <x86intrin.h>

#define TBL24 (1u << 24)
#define BURST 32

static uint32_t *table(int huge) {
    size_t size = TBL24 * sizeof(uint32_t);
    uint8_t *p = mmap(NULL, size + (2u << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(1); }
    uint32_t *t = (uint32_t *)(((uintptr_t)p + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));
    if (huge && madvise(t, size, MADV_HUGEPAGE)) perror("madvise(MADV_HUGEPAGE)");
    return t;
}

static void fill(uint32_t *t, const char *routes) {
    FILE *f = fopen(routes, "r");
    if (!f) { perror(routes); exit(1); }
    memset(t, 0, TBL24 * sizeof(uint32_t));
    char line[256];
    /* shortest prefixes first would be right for overlaps; the file is sorted
     * by address, which is close enough for a timing probe */
    uint32_t next = 1;
    while (fgets(line, sizeof line, f)) {
        unsigned a, b, c, d, len;
        if (sscanf(line, "%u.%u.%u.%u/%u", &a, &b, &c, &d, &len) != 5) continue;
        uint32_t net = a << 24 | b << 16 | c << 8 | d;
        if (len > 24) len = 24;
        uint32_t first = net >> 8, count = 1u << (24 - len);
        for (uint32_t i = 0; i < count; i++) t[first + i] = next;
        next = next % 4 + 1;
    }
    fclose(f);
}

static uint32_t *destinations(const char *pcap, size_t *n) {
    FILE *f = fopen(pcap, "rb");
    if (!f) { perror(pcap); exit(1); }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 24, SEEK_SET);
    size_t max = (size_t)(size - 24) / (16 + 60);
    uint32_t *d = malloc(max * sizeof(uint32_t));
    uint8_t rec[16 + 60];
    size_t k = 0;
    while (k < max && fread(rec, sizeof rec, 1, f) == 1) {
        const uint8_t *ip = rec + 16 + 14;
        d[k++] = (uint32_t)ip[16] << 24 | ip[17] << 16 | ip[18] << 8 | ip[19];
    }
    fclose(f);
    *n = k;
    return d;
}

static double run(const uint32_t *t, const uint32_t *dst, size_t n, int prefetch, uint64_t *sum) {
    uint64_t s = 0, t0 = __rdtsc();
    for (size_t i = 0; i + BURST <= n; i += BURST) {
        if (prefetch)
            for (int k = 0; k < BURST; k++) __builtin_prefetch(&t[dst[i + k] >> 8]);
        for (int k = 0; k < BURST; k++) s += t[dst[i + k] >> 8];
    }
    *sum += s;
    return (double)(__rdtsc() - t0) / (double)(n - n % BURST);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s ROUTE_FILE PCAP\n", argv[0]);
        return 2;
    }
    size_t n;
    uint32_t *dst = destinations(argv[2], &n);
    uint64_t sum = 0;
    for (int huge = 0; huge <= 1; huge++) {
        uint32_t *t = table(huge);
        fill(t, argv[1]);
        for (int prefetch = 0; prefetch <= 1; prefetch++) {
            double best = 1e9;
            for (int rep = 0; rep < 5; rep++) {
                double c = run(t, dst, n, prefetch, &sum);
                if (c < best) best = c;
            }
            printf("%-28s %-12s %6.1f cycles per lookup (best of 5 passes over %zu destinations)\n",
                   huge ? "tbl24 on THP (madvise)" : "tbl24 on 4 KiB pages", prefetch ? "prefetched" : "plain",
                   best, n);
        }
    }
    fprintf(stderr, "(checksum %llu)\n", (unsigned long long)sum);
    return 0;
}
