/*
 * What inject.c needs from the architecture: the stopped thread's whole
 * register state (saved and written back as it was), and a call set up in
 * it that returns to address 0.
 */
#ifndef PERFTRAMP_CORE_INJECT_ARCH_H
#define PERFTRAMP_CORE_INJECT_ARCH_H

#include <stdint.h>
#include <sys/types.h>

struct pt_arch_state;

/* The thread's registers, vector state included; NULL with errno set
 * (ENOSYS: no injection on this architecture). */
struct pt_arch_state *pt_arch_save(pid_t tid);
int pt_arch_restore(pid_t tid, const struct pt_arch_state *state);
void pt_arch_free(struct pt_arch_state *state);

/* Sets the thread up to call fn(args[0], ..., args[nargs - 1]) (at most 6
 * integer arguments) on the stack below the saved one, returning to 0, with
 * no system call to restart.  0 or -1 with errno. */
int pt_arch_prepare_call(pid_t tid, const struct pt_arch_state *state, uint64_t fn,
                         const uint64_t *args, int nargs);

/* At a SIGSEGV stop: 1 with the call's return value when it is the return
 * to 0 from the frame prepare_call made (for `state`), 0 when it is a fault
 * of the call's own, -1 with errno. */
int pt_arch_returned(pid_t tid, const struct pt_arch_state *state, uint64_t *value);

#endif
