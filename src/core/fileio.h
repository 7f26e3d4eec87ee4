/*
 * File handling for the files perf reads from /tmp.
 *
 * /tmp is shared with every other user of the machine, and the profiled
 * program is often root.  An attacker can plant /tmp/perf-PID.map (PIDs are
 * predictable) as a symlink to a file we must not clobber, or as a file of
 * their own that we would then fill.  pt_open_private() therefore never
 * follows a symlink, never truncates, and accepts only a regular file that
 * the calling user owns and that has no other name.
 */
#ifndef PERFTRAMP_CORE_FILEIO_H
#define PERFTRAMP_CORE_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Opens `path` for reading and appending, creating it 0600 if missing.
 * Returns the descriptor, or -ELOOP (a symlink), -EPERM (someone else's file,
 * or one with other hard links), -EINVAL (not a regular file) or the open(2)
 * error. */
int pt_open_private(const char *path);

/* The same checks for name in dirfd opened with open(2) flags (O_NOFOLLOW
 * and O_CLOEXEC added; 0600 when created): e.g. O_RDWR | O_CREAT | O_EXCL. */
int pt_openat_private(int dirfd, const char *name, int flags);

/* Writes all `len` bytes of buf at file offset `off` (pwrite, retried after
 * a signal and after a short write; a write of nothing is -ENOSPC).  0 or
 * -errno. */
int pt_pwrite_all(int fd, const void *buf, size_t len, size_t off);

/* Gives [off, off + len) of fd real blocks, so that a store through a shared
 * mapping there cannot SIGBUS: a full filesystem, a quota or RLIMIT_FSIZE is
 * an error return here instead.  The range holds nothing yet (it may be
 * zeroed), and on an O_APPEND descriptor `off` is the file's end (there
 * pwrite appends wherever it is told to write).  0 or -errno; on an error the
 * file may have grown part of the way. */
int pt_allocate(int fd, size_t off, size_t len);

/* Reads the first `len` bytes of fd into a new malloc'd buffer (pread, the
 * descriptor's offset is left alone).  *out_len may be less than len when the
 * file is shorter.  0 or -errno. */
int pt_read_prefix(int fd, size_t len, char **out, size_t *out_len);

/* When this process started, in clock ticks since boot (field 22 of
 * /proc/self/stat); 0 if unknown.  With the pid it names one process for
 * good: a file's owner, across an exec and against PID reuse. */
uint64_t pt_process_start_ticks(void);

#endif
