/*
 * The code arena: executable memory holding one trampoline stub per Python
 * function (see stub.h).
 *
 * Memory comes from the kernel in chunks.  A chunk is mapped writable, filled
 * with copies of the stub template, then switched to read+execute before any
 * of it is handed out; no page is ever writable and executable at once, and
 * handing out a stub costs no system call.  Stubs are never returned: a
 * Python frame may still be running inside one long after the function was
 * forgotten, so memory is only given back by pt_arena_free(), which the owner
 * calls when it knows no frame can return into the arena (process teardown,
 * tests).
 *
 * Each chunk's stubs are also described to the process's own unwinder (see
 * cfi.h), so that backtrace(), C++ exceptions and libgcc/libunwind-based
 * tools walk through Python frames instead of stopping at the first stub.
 *
 * All functions return 0 or a negative errno; none of them touch errno for
 * the caller's benefit.  They are safe to call from several threads.
 */
#ifndef PERFTRAMP_CORE_ARENA_H
#define PERFTRAMP_CORE_ARENA_H

#include <stddef.h>
#include <stdint.h>

struct pt_arena;

/* Creates an empty arena; the first chunk is mapped on the first allocation.
 * chunk_bytes is rounded up to whole pages; 0 picks the default (64 KiB).
 * slot_bytes is the distance between stubs, rounded up to 8 and at least
 * the stub's size; 0 packs them as tightly as that allows.  (A jitdump needs
 * room after each stub for its unwinding data; see jitdump.h.) */
int pt_arena_new(struct pt_arena **out, size_t chunk_bytes, size_t slot_bytes);

/* Where a chunk's code pages come from, when not from anonymous memory: a
 * writer whose file holds the code itself (the perf_elf backend: perf reads
 * symbols and unwinding rules from the file that the code is mapped from).
 * map() returns `bytes` of executable memory holding bytes / stride copies
 * of the stub, `stride` apart, and is called with the arena's lock held;
 * the memory belongs to the source (pt_arena_free() leaves it mapped).  It
 * must hand out chunks at increasing addresses. */
struct pt_code_source {
    int (*map)(void *ctx, size_t bytes, size_t stride, void **base);
    void *ctx;
};

/* Makes every chunk mapped from now on come from `source` (copied).  Only
 * before the first stub is handed out: -EBUSY after. */
int pt_arena_set_source(struct pt_arena *arena, const struct pt_code_source *source);

/* Hands out one stub, ready to call.  *out_size is the size of the stub's
 * address range as a perf map should describe it (the slot, padding
 * included, so that every address in the chunk belongs to exactly one
 * stub). */
int pt_arena_take_stub(struct pt_arena *arena, void **out_stub, size_t *out_size);

/* Whether `addr` is the start of a stub this arena has handed out. */
int pt_arena_owns(const struct pt_arena *arena, uintptr_t addr);

/* In a forked child: whether `addr` is the start of a stub this arena had
 * handed out when the process was forked (the last fork, for a child's
 * child), so inherited from the parent.  Stubs taken since, by this process,
 * are not; nor is anything in a process that was never forked. */
int pt_arena_inherited(const struct pt_arena *arena, uintptr_t addr);

/* Stubs handed out so far, and bytes mapped for chunks. */
size_t pt_arena_stub_count(const struct pt_arena *arena);
size_t pt_arena_mapped_bytes(const struct pt_arena *arena);

/* In a forked child: makes the lock usable again (a thread that held it at
 * the fork did not come along). */
int pt_arena_after_fork(struct pt_arena *arena);

/* Unmaps everything.  Only for when no frame can be inside a stub. */
void pt_arena_free(struct pt_arena *arena);

#endif
