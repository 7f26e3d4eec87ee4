/*
 * Growing an array by doubling: the one helper the report engine's tables
 * (objects, threads' commands, mappings, symbols, text) share.
 */
#ifndef PERFTRAMP_REPORT_GROW_H
#define PERFTRAMP_REPORT_GROW_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* Makes *items (of *cap elements of `size` bytes) hold at least `want`:
 * capacity doubles from 64.  0, or -ENOMEM with *items untouched. */
static inline int
pt_grow(void **items, size_t *cap, size_t want, size_t size)
{
    if (want <= *cap) {
        return 0;
    }
    size_t more = *cap ? *cap : 64;
    while (more < want) {
        if (more > SIZE_MAX / 2 / size) {
            return -ENOMEM;
        }
        more *= 2;
    }
    void *grown = realloc(*items, more * size);
    if (grown == NULL) {
        return -ENOMEM;
    }
    *items = grown;
    *cap = more;
    return 0;
}

#endif
