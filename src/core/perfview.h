/*
 * perf's view of a process that exec'd: clearing what it keeps of the parent.
 *
 * perf gives a forked child a copy of its parent's mappings, and keeps them
 * when the child execs: perf has no event saying that a mapping went away,
 * and 6.1 drops none at exec.  A library both processes map (libc,
 * libpython, the interpreter) then has two mappings in the exec'd process's
 * view, its own and the parent's stale one.  perf 6.1's DWARF unwinder (the
 * libunwind glue) takes a library's load address from the lowest of its
 * mappings, so where the parent's is lower every unwind through that library
 * reads .eh_frame_hdr at a wrong address and stops: a multiprocessing spawn
 * or forkserver worker (fork + exec of a new interpreter) has every stack cut
 * in the interpreter, 0 of ~400 samples whole, as often as not (ASLR).
 *
 * A new mapping replaces, in perf's view, every mapping it overlaps.  So the
 * exec'd process maps anonymous memory over each range of its parent's file
 * mappings that is free in itself, and unmaps it at once: perf, which records
 * data mappings when it copies stacks for DWARF unwinding, sees the stale
 * ranges replaced by memory of no file.  Nothing of the process's own
 * changes: MAP_FIXED_NOREPLACE never takes an address in use.
 */
#ifndef PERFTRAMP_CORE_PERFVIEW_H
#define PERFTRAMP_CORE_PERFVIEW_H

#include <sys/types.h>

/* Covers, and uncovers at once, every range of `parent`'s file mappings
 * and vDSO (/proc/PARENT/maps, as they are now) that is free in this
 * process.  Returns how many ranges it covered, or a negative errno when the maps
 * cannot be read.  Costs two reads of /proc and two system calls per
 * range; meant for once, at start-up. */
int pt_perfview_forget_parent(pid_t parent);

#endif
