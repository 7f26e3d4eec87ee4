/* Off-CPU waits; the contract is in waits.h.  A thread's wait is found by
 * a linear search: a recording has few threads with a wait open at once
 * compared with the samples between two switches. */
#include "waits.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
pt_wait_release(struct pt_wait *wait)
{
    free(wait->keys[0]);
    free(wait->keys[1]);
    wait->keys[0] = wait->keys[1] = NULL;
}

struct pt_wait *
pt_waits_find(struct pt_waits *waits, long tid)
{
    for (size_t i = 0; i < waits->count; i++) {
        if (waits->open[i].tid == tid) {
            return &waits->open[i];
        }
    }
    return NULL;
}

int
pt_waits_open(struct pt_waits *waits, long pid, long tid, uint64_t since_ns, int cut,
              size_t event_len, const char *const keys[2], const size_t lens[2])
{
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
    if (waits->count == waits->cap) {
        size_t cap = waits->cap ? 2 * waits->cap : 16;
        struct pt_wait *grown = realloc(waits->open, cap * sizeof(*grown));
        if (grown == NULL) {
            pt_wait_release(&fresh);
            return -ENOMEM;
        }
        waits->open = grown;
        waits->cap = cap;
    }
    waits->open[waits->count++] = fresh;
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
    *slot = waits->open[--waits->count];
    return 1;
}

void
pt_waits_release(struct pt_waits *waits)
{
    for (size_t i = 0; i < waits->count; i++) {
        pt_wait_release(&waits->open[i]);
    }
    free(waits->open);
    waits->open = NULL;
    waits->count = waits->cap = 0;
}
