/*
 * The address spaces of the processes a recording saw, rebuilt from its
 * side-band records as perf does: each executable mapping (PERF_RECORD_MMAP
 * and MMAP2) replaces what it overlaps in its process; a new process
 * (PERF_RECORD_FORK to another pid) starts with a copy of its parent's; an
 * exec (PERF_RECORD_COMM with the exec flag) empties its process's.
 *
 * A mapping names its object by a number the caller chose (readout.c keeps
 * the objects), so that this file knows nothing of files.
 */
#ifndef PERFTRAMP_REPORT_ADDRSPACE_H
#define PERFTRAMP_REPORT_ADDRSPACE_H

#include <stddef.h>
#include <stdint.h>

struct pt_mapping {
    uint64_t start, end, pgoff;
    uint32_t object;
};

struct pt_addrspaces;

int pt_addrspaces_new(struct pt_addrspaces **out);
void pt_addrspaces_free(struct pt_addrspaces *spaces);
/* Adds [start, start+len) of pid, mapping the object from file offset
 * pgoff; what it overlaps goes. 0, -EINVAL (an empty or wrapping range) or
 * -ENOMEM. */
int pt_addrspaces_map(struct pt_addrspaces *spaces, uint32_t pid, uint64_t start,
                      uint64_t len, uint64_t pgoff, uint32_t object);
/* child starts with a copy of parent's mappings. 0 or -ENOMEM. */
int pt_addrspaces_fork(struct pt_addrspaces *spaces, uint32_t parent, uint32_t child);
/* pid's mappings are gone (an exec). */
void pt_addrspaces_clear(struct pt_addrspaces *spaces, uint32_t pid);
/* The mapping of pid holding addr, or NULL. */
const struct pt_mapping *pt_addrspaces_find(const struct pt_addrspaces *spaces,
                                            uint32_t pid, uint64_t addr);

#endif
