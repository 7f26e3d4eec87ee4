/* Address spaces rebuilt from mmap, fork and exec records: a mapping
 * replaces what it overlaps (splitting a larger one into head and tail, the
 * tail's file offset moved on), a forked process starts with its parent's,
 * an exec empties its process's. */
#include "addrspace.h"
#include "testhelp.h"

#include <errno.h>

static uint32_t
object_at(const struct pt_addrspaces *s, uint32_t pid, uint64_t addr)
{
    const struct pt_mapping *m = pt_addrspaces_find(s, pid, addr);
    return m ? m->object : UINT32_MAX;
}

static void
test_overlaps(void)
{
    struct pt_addrspaces *s;
    CHECK_EQ_INT(pt_addrspaces_new(&s), 0);
    CHECK_EQ_INT(pt_addrspaces_map(s, 7, 0x1000, 0x9000, 0, 1), 0);
    CHECK_EQ_INT(object_at(s, 7, 0x1000), 1);
    CHECK_EQ_INT(object_at(s, 7, 0x9fff), 1);
    CHECK_EQ_INT(object_at(s, 7, 0xa000), UINT32_MAX);
    CHECK_EQ_INT(object_at(s, 8, 0x1000), UINT32_MAX);
    /* a mapping inside splits it */
    CHECK_EQ_INT(pt_addrspaces_map(s, 7, 0x4000, 0x1000, 0x100000, 2), 0);
    CHECK_EQ_INT(object_at(s, 7, 0x3fff), 1);
    CHECK_EQ_INT(object_at(s, 7, 0x4000), 2);
    CHECK_EQ_INT(object_at(s, 7, 0x5000), 1);
    const struct pt_mapping *tail = pt_addrspaces_find(s, 7, 0x5000);
    CHECK(tail != NULL && tail->start == 0x5000 && tail->pgoff == 0x4000 &&
          tail->end == 0xa000);
    /* one over several replaces them all */
    CHECK_EQ_INT(pt_addrspaces_map(s, 7, 0x2000, 0x6000, 0, 3), 0);
    CHECK_EQ_INT(object_at(s, 7, 0x1fff), 1);
    CHECK_EQ_INT(object_at(s, 7, 0x4000), 3);
    CHECK_EQ_INT(object_at(s, 7, 0x8000), 1);
    CHECK_EQ_INT(pt_addrspaces_map(s, 7, 0x1000, 0, 0, 4), -EINVAL);
    CHECK_EQ_INT(pt_addrspaces_map(s, 7, UINT64_MAX - 10, 0x100, 0, 4), -EINVAL);
    pt_addrspaces_free(s);
}

static void
test_fork_and_exec(void)
{
    struct pt_addrspaces *s;
    CHECK_EQ_INT(pt_addrspaces_new(&s), 0);
    CHECK_EQ_INT(pt_addrspaces_map(s, 100, 0x1000, 0x1000, 0, 5), 0);
    /* many processes: the table grows under the parent */
    for (uint32_t pid = 1000; pid < 1400; pid++) {
        CHECK_EQ_INT(pt_addrspaces_fork(s, 100, pid), 0);
    }
    CHECK_EQ_INT(object_at(s, 1399, 0x1800), 5);
    CHECK_EQ_INT(pt_addrspaces_map(s, 1399, 0x1000, 0x1000, 0, 6), 0);
    CHECK_EQ_INT(object_at(s, 100, 0x1800), 5);
    CHECK_EQ_INT(object_at(s, 1399, 0x1800), 6);
    pt_addrspaces_clear(s, 1399);
    CHECK_EQ_INT(object_at(s, 1399, 0x1800), UINT32_MAX);
    CHECK_EQ_INT(object_at(s, 1398, 0x1800), 5);
    /* a parent never seen: an empty child */
    CHECK_EQ_INT(pt_addrspaces_fork(s, 99999, 5000), 0);
    CHECK_EQ_INT(object_at(s, 5000, 0x1800), UINT32_MAX);
    pt_addrspaces_free(s);
}

int
main(void)
{
    test_overlaps();
    test_fork_and_exec();
    return TEST_REPORT("test_addrspace");
}
