/*
 * Rounding sizes up to a multiple: stub slots, file windows, DWARF entries
 * and jitdump records all come in aligned units, and one helper keeps them
 * rounding the same way.
 */
#ifndef PERFTRAMP_CORE_ALIGN_H
#define PERFTRAMP_CORE_ALIGN_H

#include <stddef.h>

/* n rounded up to a multiple of `to` (which must not be 0; it need not be a
 * power of two: page sizes and slot sizes are not assumed to be). */
static inline size_t
pt_round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

#endif
