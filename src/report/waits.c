/* Off-CPU waits; the contract is in waits.h.  The open waits are a hash
 * table keyed by tid (open addressing, linear probing, deletion by
 * backward shift): a whole machine's recording (record -a) has thousands
 * of threads with a wait open, and every switch looks one up. */
#include "waits.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The tid of an empty slot. */
#define EMPTY LONG_MIN

void
pt_wait_release(struct pt_wait *wait)
{
    free(wait->keys[0]);
    free(wait->keys[1]);
    wait->keys[0] = wait->keys[1] = NULL;
}

static size_t
home(const struct pt_waits *waits, long tid)
{
    return (size_t)((unsigned long)tid * 0x9e3779b97f4a7c15ull) & (waits->cap - 1);
}

struct pt_wait *
pt_waits_find(struct pt_waits *waits, long tid)
{
    if (waits->cap == 0) {
        return NULL;
    }
    for (size_t i = home(waits, tid); waits->open[i].tid != EMPTY;
         i = (i + 1) & (waits->cap - 1)) {
        if (waits->open[i].tid == tid) {
            return &waits->open[i];
        }
    }
    return NULL;
}

/* A table of `cap` empty slots in *waits with the waits of the old one. */
static int
resize(struct pt_waits *waits, size_t cap)
{
    struct pt_wait *slots = malloc(cap * sizeof(*slots));
    if (slots == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < cap; i++) {
        slots[i].tid = EMPTY;
    }
    struct pt_waits bigger = {.open = slots, .count = waits->count, .cap = cap};
    for (size_t i = 0; i < waits->cap; i++) {
        if (waits->open[i].tid != EMPTY) {
            size_t j = home(&bigger, waits->open[i].tid);
            while (slots[j].tid != EMPTY) {
                j = (j + 1) & (cap - 1);
            }
            slots[j] = waits->open[i];
        }
    }
    free(waits->open);
    *waits = bigger;
    return 0;
}

int
pt_waits_open(struct pt_waits *waits, long pid, long tid, uint64_t since_ns, int cut,
              size_t event_len, const char *const keys[2], const size_t lens[2])
{
    if (tid == EMPTY) {
        return 0;
    }
    struct pt_wait fresh = {
        .pid = pid, .tid = tid, .since_ns = since_ns, .cut = cut, .event_len = event_len};
    for (int v = 0; v < 2; v++) {
        fresh.keys[v] = malloc(lens[v] ? lens[v] : 1);
        if (fresh.keys[v] == NULL) {
            pt_wait_release(&fresh);
            return -ENOMEM;
        }
        memcpy(fresh.keys[v], keys[v], lens[v]);
        fresh.lens[v] = lens[v];
    }
    struct pt_wait *slot = pt_waits_find(waits, tid);
    if (slot != NULL) {
        pt_wait_release(slot);
        *slot = fresh;
        return 0;
    }
    if ((waits->count + 1) * 4 > waits->cap * 3 &&
        resize(waits, waits->cap ? 2 * waits->cap : 64) != 0) {
        pt_wait_release(&fresh);
        return -ENOMEM;
    }
    size_t i = home(waits, tid);
    while (waits->open[i].tid != EMPTY) {
        i = (i + 1) & (waits->cap - 1);
    }
    waits->open[i] = fresh;
    waits->count++;
    return 0;
}

int
pt_waits_close(struct pt_waits *waits, long tid, struct pt_wait *out)
{
    struct pt_wait *slot = pt_waits_find(waits, tid);
    if (slot == NULL) {
        return 0;
    }
    *out = *slot;
    /* backward-shift deletion: a later wait whose home is at or before the
     * hole moves into it, so that every probe sequence stays unbroken */
    size_t mask = waits->cap - 1, hole = (size_t)(slot - waits->open);
    for (size_t j = (hole + 1) & mask; waits->open[j].tid != EMPTY; j = (j + 1) & mask) {
        size_t want = home(waits, waits->open[j].tid);
        int moves = hole <= j ? (want <= hole || want > j) : (want <= hole && want > j);
        if (moves) {
            waits->open[hole] = waits->open[j];
            hole = j;
        }
    }
    waits->open[hole].tid = EMPTY;
    waits->count--;
    return 1;
}

void
pt_waits_release(struct pt_waits *waits)
{
    for (size_t i = 0; i < waits->cap; i++) {
        if (waits->open[i].tid != EMPTY) {
            pt_wait_release(&waits->open[i]);
        }
    }
    free(waits->open);
    waits->open = NULL;
    waits->count = waits->cap = 0;
}
