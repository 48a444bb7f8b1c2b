/* fuzz_target.c — the libFuzzer entry points over harness.c.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined (tests/fuzz/fuzz.mk,
 * `make fuzz-run`).  A finding is an abort() from the harness or a
 * sanitizer report; the input that caused it replays with build/replay.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

/* libFuzzer leaves through exit() when its time is up: say what was checked. */
static void report(void) {
    const struct fz_totals *t = fz_totals();
    printf("%llu inputs, %llu injected frames, %llu punts served\n", (unsigned long long)t->inputs,
           (unsigned long long)t->injected, (unsigned long long)t->punts);
    printf("%llu frames, all accounted for\n", (unsigned long long)t->frames);
    fflush(stdout);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *gap = getenv("FZ_EGRESS_GAP");
    if (fz_setup(gap && gap[0] == '1')) abort();
    atexit(report);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_run_input(data, size);
    return 0;
}
