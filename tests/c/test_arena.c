/* The arena hands out callable stubs that pass arguments through, return the
 * target's result, build a frame-pointer frame, and are never writable. */
#include "arena.h"
#include "stub.h"
#include "testhelp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *seen_return_address;
static void *seen_caller_of_stub;

/* noinline + frame pointers (the build forces them): the frame record walk
 * below reads exactly the frames the stub made. */
__attribute__((noinline)) static void *
target(void *a, void *b, long c)
{
    void **fp = __builtin_frame_address(0);
    seen_return_address = fp[1]; /* into the stub */
    void **stub_fp = fp[0];
    seen_caller_of_stub = stub_fp[1]; /* into call_through() */
    return (void *)((uintptr_t)a + (uintptr_t)b * 10 + (uintptr_t)c * 100);
}

__attribute__((noinline)) static void *
call_through(void *stub, void *a, void *b, long c)
{
    void *result = ((pt_stub_fn)stub)(a, b, c, target);
    __asm__ volatile("" ::: "memory"); /* keep this frame a real caller */
    return result;
}

static int
mapping_permissions(uintptr_t addr, char perms[5])
{
    FILE *maps = fopen("/proc/self/maps", "r");
    if (maps == NULL) {
        return -1;
    }
    char line[512];
    int found = -1;
    while (fgets(line, sizeof(line), maps)) {
        unsigned long lo, hi;
        char p[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && addr >= lo && addr < hi) {
            memcpy(perms, p, 5);
            found = 0;
            break;
        }
    }
    fclose(maps);
    return found;
}

/* After a fork, a child tells the stubs it inherited from the ones it took
 * itself; those come from a chunk the child mapped, never from the rest of
 * the parent's (perf would name them from the parent's map), and the next
 * one follows in that chunk. */
static void
test_inherited_after_fork(void)
{
    struct pt_arena *arena = NULL;
    CHECK_EQ_INT(pt_arena_new(&arena, 4096, 0), 0);
    void *before[2], *spare;
    size_t size;
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(pt_arena_take_stub(arena, &before[i], &size), 0);
    }
    CHECK(!pt_arena_inherited(arena, (uintptr_t)before[0])); /* never forked */
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        void *mine;
        int bad = pt_arena_take_stub(arena, &mine, &size) != 0;
        bad |= !pt_arena_inherited(arena, (uintptr_t)before[0]) << 1;
        bad |= !pt_arena_inherited(arena, (uintptr_t)before[1]) << 2;
        bad |= pt_arena_inherited(arena, (uintptr_t)mine) << 3;
        bad |= !pt_arena_owns(arena, (uintptr_t)mine) << 4;
        bad |= pt_arena_inherited(arena, (uintptr_t)before[0] + 1) << 5;
        bad |= ((uintptr_t)mine == (uintptr_t)before[1] + size) << 6;
        void *next;
        bad |= (pt_arena_take_stub(arena, &next, &size) != 0) << 7;
        bad |= ((uintptr_t)next != (uintptr_t)mine + size) << 8;
        bad |= (pt_arena_mapped_bytes(arena) != 2 * 4096) << 9;
        _exit(bad);
    }
    /* the parent's next stub: the address the child took too */
    CHECK_EQ_INT(pt_arena_take_stub(arena, &spare, &size), 0);
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), 0);
    CHECK(!pt_arena_inherited(arena, (uintptr_t)spare));
    pt_arena_free(arena);
}

int
main(void)
{
    test_inherited_after_fork();
    struct pt_arena *arena = NULL;
    CHECK_EQ_INT(pt_arena_new(&arena, 4096, 0), 0);
    CHECK(pt_stub_code_size() > 0 && pt_stub_code_size() <= 32);

    void *stub = NULL;
    size_t size = 0;
    CHECK_EQ_INT(pt_arena_take_stub(arena, &stub, &size), 0);
    CHECK(size >= pt_stub_code_size() && size % 8 == 0);
    CHECK(((uintptr_t)stub % 8) == 0);

    void *result = call_through(stub, (void *)1, (void *)2, 3);
    CHECK(result == (void *)321);
    uintptr_t ret = (uintptr_t)seen_return_address;
    CHECK(ret > (uintptr_t)stub && ret < (uintptr_t)stub + pt_stub_code_size());
    /* The stub's own frame record leads back to its caller. */
    uintptr_t caller = (uintptr_t)seen_caller_of_stub;
    uintptr_t call_fn = (uintptr_t)call_through;
    CHECK(caller > call_fn && caller < call_fn + 1024);

    char perms[5] = "";
    CHECK_EQ_INT(mapping_permissions((uintptr_t)stub, perms), 0);
    CHECK(strcmp(perms, "r-xp") == 0);

    /* Enough stubs to fill three chunks (a chunk is at least a page); each
     * is distinct, callable and owned. */
    long page = sysconf(_SC_PAGESIZE);
    size_t chunk = page > 4096 ? (size_t)page : 4096;
    const int MANY = (int)(3 * chunk / size);
    void **stubs = calloc((size_t)MANY, sizeof(void *));
    CHECK(stubs != NULL);
    int distinct = 1, all_work = 1, all_owned = 1;
    for (int i = 0; i < MANY; i++) {
        size_t sz;
        if (pt_arena_take_stub(arena, &stubs[i], &sz) != 0) {
            all_work = 0;
            break;
        }
        if (i > 0 && stubs[i] == stubs[i - 1]) {
            distinct = 0;
        }
        if (call_through(stubs[i], (void *)(uintptr_t)i, 0, 0) != (void *)(uintptr_t)i) {
            all_work = 0;
        }
        all_owned &= pt_arena_owns(arena, (uintptr_t)stubs[i]);
    }
    CHECK(distinct);
    CHECK(all_work);
    CHECK(all_owned);
    CHECK_EQ_INT(pt_arena_stub_count(arena), MANY + 1);
    CHECK(pt_arena_mapped_bytes(arena) >= (MANY + 1) * size);
    CHECK(pt_arena_mapped_bytes(arena) >= 3 * chunk);
    free(stubs);

    CHECK(!pt_arena_owns(arena, (uintptr_t)stub + 1));
    CHECK(!pt_arena_owns(arena, (uintptr_t)&main));
    CHECK_EQ_INT(pt_arena_after_fork(arena), 0);

    pt_arena_free(arena);
    return TEST_REPORT("test_arena");
}
