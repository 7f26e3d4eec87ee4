/*
 * Clearing a parent's stale mappings from perf's view; the why is in
 * perfview.h.
 */
#include "perfview.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MAP_FIXED_NOREPLACE
#    define MAP_FIXED_NOREPLACE 0x100000
#endif

struct range {
    uintptr_t lo, hi;
};

struct ranges {
    struct range *at;
    size_t n, cap;
};

static int
push(struct ranges *r, uintptr_t lo, uintptr_t hi)
{
    if (r->n > 0 && r->at[r->n - 1].hi == lo) {
        r->at[r->n - 1].hi = hi; /* one library's mappings lie end to end */
        return 0;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        struct range *more = realloc(r->at, cap * sizeof(*more));
        if (more == NULL) {
            return -ENOMEM;
        }
        r->at = more;
        r->cap = cap;
    }
    r->at[r->n++] = (struct range){lo, hi};
    return 0;
}

/* The mappings of /proc/PID/maps (pid 0: self), in address order; with
 * named_only, those perf keeps by name: a file's (a path) and the vDSO,
 * which perf unwinds through like a library (clock_gettime). */
static int
read_maps(pid_t pid, int named_only, struct ranges *out)
{
    char path[64];
    if (pid == 0) {
        snprintf(path, sizeof(path), "/proc/self/maps");
    }
    else {
        snprintf(path, sizeof(path), "/proc/%ld/maps", (long)pid);
    }
    FILE *maps = fopen(path, "re");
    if (maps == NULL) {
        return -errno;
    }
    char line[4096 + 128];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), maps) != NULL) {
        unsigned long lo, hi;
        int name_at = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &name_at) < 2 ||
            lo >= hi) {
            continue;
        }
        const char *name = name_at > 0 ? line + name_at : "";
        if (!named_only || name[0] == '/' || strncmp(name, "[vdso]", 6) == 0) {
            rc = push(out, lo, hi);
        }
        /* a line longer than the buffer: skip its rest */
        while (strchr(line, '\n') == NULL && fgets(line, sizeof(line), maps) != NULL) {
        }
    }
    fclose(maps);
    return rc;
}

/* Maps and unmaps anonymous memory at [lo, hi); 1 when it got that range. */
static int
cover(uintptr_t lo, uintptr_t hi)
{
    void *want = (void *)lo;
    void *got =
        mmap(want, hi - lo, PROT_READ,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (got == MAP_FAILED) {
        return 0;
    }
    munmap(got, hi - lo); /* elsewhere (a kernel before 4.17 takes it as a hint) too */
    return got == want;
}

int
pt_perfview_forget_parent(pid_t parent)
{
    struct ranges own = {0}, stale = {0};
    int rc = read_maps(0, 0, &own);
    if (rc == 0) {
        rc = read_maps(parent, 1, &stale);
    }
    int covered = 0;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < stale.n; i++) {
        /* the parts of the stale range that none of ours overlaps */
        uintptr_t lo = stale.at[i].lo, hi = stale.at[i].hi;
        while (k < own.n && own.at[k].hi <= lo) {
            k++;
        }
        for (size_t j = k; lo < hi && j < own.n && own.at[j].lo < hi; j++) {
            if (own.at[j].lo > lo) {
                covered += cover(lo, own.at[j].lo);
            }
            lo = own.at[j].hi > lo ? own.at[j].hi : lo;
        }
        if (lo < hi) {
            covered += cover(lo, hi);
        }
    }
    free(own.at);
    free(stale.at);
    return rc != 0 ? rc : covered;
}
