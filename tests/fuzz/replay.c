/* replay.c — run corpus files through the harness under ASan + UBSan.
 *
 *   replay [-v] FILE|DIR...
 *
 * Every regular file named (and every file directly inside a named
 * directory, in name order) is one input in the harness format.  Prints
 * "N frames, all accounted for" and exits 0, or stops at the first finding
 * (the harness or a sanitizer aborts; the exit status is non-zero).  -v also
 * prints how many frames ended in each counter.  FZ_EGRESS_GAP=1 builds the
 * topology the strict accounting cannot hold today (harness.c).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

#define REPLAY_MAX_INPUT 65536  /* far above a frame; larger files are cut like the fuzzer's -max_len */

static uint8_t input[REPLAY_MAX_INPUT];

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t n = fread(input, 1, sizeof(input), f);
    fclose(f);
    fz_set_label(path);
    fz_run_input(input, n);
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int run_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return -1;
    }
    size_t n = 0, cap = 256;
    char **names = malloc(cap * sizeof(*names));
    struct dirent *e;
    while (names && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) names = realloc(names, (cap *= 2) * sizeof(*names));
        if (names) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (!names) return -1;
    qsort(names, n, sizeof(*names), by_name);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (!rc && !stat(path, &st) && S_ISREG(st.st_mode)) rc = run_file(path);
        free(names[i]);
    }
    free(names);
    return rc;
}

static void print_fates(const struct fz_totals *t) {
    for (int i = 0; i < (int)(sizeof(t->fates) / sizeof(t->fates[0])); i++)
        if (t->fates[i]) printf("  %-26s %llu\n", fz_fate_name(i), (unsigned long long)t->fates[i]);
}

int main(int argc, char **argv) {
    int verbose = argc > 1 && !strcmp(argv[1], "-v");
    if (argc < 2 + verbose) {
        fprintf(stderr, "usage: %s [-v] FILE|DIR...\n", argv[0]);
        return 2;
    }
    const char *gap = getenv("FZ_EGRESS_GAP");
    if (fz_setup(gap && gap[0] == '1')) return 1;
    for (int i = 1 + verbose; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st)) {
            perror(argv[i]);
            return 1;
        }
        if ((S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i])) != 0) return 1;
    }
    const struct fz_totals *t = fz_totals();
    printf("%llu inputs, %llu injected frames, %llu punts served\n", (unsigned long long)t->inputs,
           (unsigned long long)t->injected, (unsigned long long)t->punts);
    if (verbose) print_fates(t);
    printf("%llu frames, all accounted for\n", (unsigned long long)t->frames);
    fz_teardown();
    return 0;
}
