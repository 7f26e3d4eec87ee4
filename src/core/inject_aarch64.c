/*
 * inject_arch.h on aarch64: not written yet (it needs NT_PRSTATUS,
 * NT_PRFPREG, the SVE state and NT_ARM_SYSTEM_CALL, and a machine to test
 * on: qemu-user has no ptrace).  Every call says ENOSYS, which `attach`
 * turns into its one line.
 */
#include "inject_arch.h"

#include <errno.h>

struct pt_arch_state *
pt_arch_save(pid_t tid)
{
    (void)tid;
    errno = ENOSYS;
    return 0;
}

int
pt_arch_restore(pid_t tid, const struct pt_arch_state *state)
{
    (void)tid;
    (void)state;
    errno = ENOSYS;
    return -1;
}

void
pt_arch_free(struct pt_arch_state *state)
{
    (void)state;
}

int
pt_arch_prepare_call(pid_t tid, const struct pt_arch_state *state, uint64_t fn,
                     const uint64_t *args, int nargs)
{
    (void)tid;
    (void)state;
    (void)fn;
    (void)args;
    (void)nargs;
    errno = ENOSYS;
    return -1;
}

int
pt_arch_returned(pid_t tid, const struct pt_arch_state *state, uint64_t *value)
{
    (void)tid;
    (void)state;
    (void)value;
    errno = ENOSYS;
    return -1;
}
