/*
 * Off-CPU waits, for the folder (fold.h, options.offcpu): the stacks threads
 * left the CPU with, kept until each thread runs again.
 *
 * perf records a sched:sched_switch sample, with its call chain, as a
 * thread leaves the CPU (the sample is the thread's: its pid, tid and
 * stack), and with --switch-events a PERF_RECORD_SWITCH IN record as it
 * comes back.  The folder keeps the first as a wait of its thread and,
 * when the second comes, charges the time between them to the stack.  A
 * thread has at most one wait open: a switch-out without its switch-in
 * (perf lost it) is replaced by the next.
 *
 * Plain C11; as much memory as the threads with a wait open, each found by
 * its tid in constant time.
 */
#ifndef PERFTRAMP_REPORT_WAITS_H
#define PERFTRAMP_REPORT_WAITS_H

#include <stddef.h>
#include <stdint.h>

/* One open wait: its thread, since when, whether its stack is cut, and its
 * stack in each view (as the folder keys it, its event's name first). */
struct pt_wait {
    long pid, tid;
    uint64_t since_ns;
    int cut;
    int preempted; /* it left the CPU runnable (PERF_RECORD_SWITCH OUT preempt) */
    size_t event_len;
    char *keys[2];
    size_t lens[2];
};

/* The open waits: a hash table by tid (waits.c); all zero is empty. */
struct pt_waits {
    struct pt_wait *open;
    size_t count, cap;
};

/* Opens thread tid's wait from since_ns with its two keys (copied); one it
 * had open is forgotten.  0 or -ENOMEM. */
int pt_waits_open(struct pt_waits *waits, long pid, long tid, uint64_t since_ns, int cut,
                  size_t event_len, const char *const keys[2], const size_t lens[2]);

/* Thread tid's open wait, or NULL. */
struct pt_wait *pt_waits_find(struct pt_waits *waits, long tid);

/* Thread tid's open wait, taken out of the set into *out (its keys now the
 * caller's: pt_wait_release), or 0 when it has none. */
int pt_waits_close(struct pt_waits *waits, long tid, struct pt_wait *out);

void pt_wait_release(struct pt_wait *wait);
void pt_waits_release(struct pt_waits *waits);

#endif
