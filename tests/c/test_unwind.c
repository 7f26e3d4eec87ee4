/* The process's own unwinder walks through a stub: libgcc's
 * _Unwind_Backtrace, started inside the function a stub called, reaches the
 * stub, the stub's caller and main.  Without the arena's CFI registration it
 * stops at the stub. */
#include "arena.h"
#include "stub.h"
#include "testhelp.h"

#include <stdint.h>
#include <stdio.h>
#include <unwind.h>

#define MAX_FRAMES 64

static uintptr_t frames[MAX_FRAMES];
static int nframes;

static _Unwind_Reason_Code
collect(struct _Unwind_Context *ctx, void *arg)
{
    (void)arg;
    if (nframes < MAX_FRAMES) {
        frames[nframes++] = (uintptr_t)_Unwind_GetIP(ctx);
    }
    return _URC_NO_REASON;
}

__attribute__((noinline)) static void *
target(void *a, void *b, long c)
{
    (void)b;
    (void)c;
    nframes = 0;
    _Unwind_Backtrace(collect, NULL);
    return a;
}

__attribute__((noinline)) static void *
call_through(void *stub)
{
    void *r = ((pt_stub_fn)stub)((void *)7, 0, 0, target);
    __asm__ volatile("" ::: "memory");
    return r;
}

static int
seen_between(uintptr_t lo, uintptr_t hi)
{
    for (int i = 0; i < nframes; i++) {
        if (frames[i] > lo && frames[i] <= hi) {
            return 1;
        }
    }
    return 0;
}

int
main(void)
{
    struct pt_arena *arena = NULL;
    /* Wide slots, as the jitdump backend uses, and two chunks' worth. */
    CHECK_EQ_INT(pt_arena_new(&arena, 4096, 112), 0);
    void *stubs[60];
    size_t size = 0;
    for (int i = 0; i < 60; i++) {
        CHECK_EQ_INT(pt_arena_take_stub(arena, &stubs[i], &size), 0);
    }
    CHECK_EQ_INT(size, 112);

    /* One FDE covers a chunk: its first stub, one inside, the last one of
     * the second chunk. */
    void *stub = NULL;
    int picks[] = {0, 17, 59};
    for (size_t k = 0; k < sizeof(picks) / sizeof(picks[0]); k++) {
        stub = stubs[picks[k]];
        CHECK(call_through(stub) == (void *)7);
        uintptr_t s = (uintptr_t)stub;
        CHECK(seen_between(s, s + pt_stub_code_size()));
        CHECK(seen_between((uintptr_t)call_through, (uintptr_t)call_through + 1024));
        CHECK(seen_between((uintptr_t)main, (uintptr_t)main + 4096));
    }

    if (test_failed) {
        fprintf(stderr, "stub %p call_through %p main %p; frames:\n", stub,
                (void *)call_through, (void *)main);
        for (int i = 0; i < nframes; i++) {
            fprintf(stderr, "  %#lx\n", (unsigned long)frames[i]);
        }
    }
    pt_arena_free(arena);
    return TEST_REPORT("test_unwind");
}
